"""Seeded sources of ids, addresses and secrets for the generated account."""

from __future__ import annotations

import datetime as dt
import ipaddress
import random
import string
import uuid

# 198.18.0.0/15 is reserved for benchmarking (RFC 2544), so the sample never shows real hosts.
_IPV4_BASE = int(ipaddress.IPv4Address("198.18.0.10"))
_IPV4_LAST = int(ipaddress.IPv4Address("198.19.255.250"))
# 2001:db8::/32 is the IPv6 documentation prefix.
_IPV6_BASE = int(ipaddress.IPv6Address("2001:db8:4000::"))
_SECRET_ALPHABET = string.ascii_letters + string.digits


class IdSource:
    """Seeded generator of UUIDs, unique addresses, secrets and timestamps."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._next_ipv4 = _IPV4_BASE
        self._next_ipv6 = 0

    def uuid(self) -> str:
        """Return a random version-4 UUID string."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def ipv4(self) -> str:
        """Return the next unused IPv4 address of the sample range."""
        if self._next_ipv4 > _IPV4_LAST:
            raise ValueError("the sample account ran out of IPv4 addresses; generate fewer")
        address = str(ipaddress.IPv4Address(self._next_ipv4))
        self._next_ipv4 += 1
        return address

    def ipv6_network(self) -> str:
        """Return the next unused /64 network, written compressed with a trailing `::`."""
        network = _IPV6_BASE + (self._next_ipv6 << 64)
        self._next_ipv6 += 1
        return str(ipaddress.IPv6Address(network))

    def secret(self, length: int) -> str:
        """Return a random letters-and-digits string, used for passwords and keys."""
        return "".join(self.rng.choices(_SECRET_ALPHABET, k=length))

    def hex(self, length: int) -> str:
        """Return a random lowercase hex string."""
        return f"{self.rng.getrandbits(4 * length):0{length}x}"

    def moment(self, earliest: dt.datetime, latest: dt.datetime) -> dt.datetime:
        """Return a random whole second in [earliest, latest]."""
        span = int((latest - earliest).total_seconds())
        return earliest + dt.timedelta(seconds=self.rng.randint(0, max(span, 0)))
