"""Parsing of invoice-item descriptions, the only place a billed line names its resource.

Vultr's items carry no resource id and no region. The description follows one of a few
forms per product, for example `"192.0.2.10 (4096 MB) [web-prod-01]"` for a cloud server or
`"Load Balancer (lb-web)"`. This module recognizes those forms and extracts the fields used
to look the resource up in the inventory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SERVER = "server"
BLOCK = "block"
LOAD_BALANCER = "load_balancer"
BACKUP = "backup"
OBJECT_STORAGE = "object_storage"
DATABASE = "database"
KUBERNETES_CONTROL_PLANE = "kubernetes_control_plane"
SNAPSHOT = "snapshot"
RESERVED_IP = "reserved_ip"
UNRECOGNIZED = "unrecognized"

# "<ip> (<ram> MB) [<label>]": instances, GPU instances, bare metal and Kubernetes nodes.
_SERVER = re.compile(r"^(?P<ip>[0-9A-Fa-f.:]+)\s+\(\s*(?P<ram>\d+)\s*MB\s*\)\s*\[(?P<label>.*)\]$")
# "Block Storage <size> GB (<label>)"
_BLOCK = re.compile(r"^Block Storage\s+(?P<size>\d+)\s*GB\s*\((?P<label>.*)\)$", re.IGNORECASE)
_RESERVED_IP = re.compile(r"^Reserved IP\s*\((?P<subnet>[^)]*)\)$", re.IGNORECASE)
_SNAPSHOT = re.compile(r"^Snapshot\s*\((?P<label>.*)\)$", re.IGNORECASE)
# "<prefix> (<label>)", where the label may itself contain parentheses.
_LABELLED: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^Load Balancer\s*\((?P<label>.*)\)$", re.IGNORECASE), LOAD_BALANCER),
    (re.compile(r"^Automatic Backups?\s*\((?P<label>.*)\)$", re.IGNORECASE), BACKUP),
    (re.compile(r"^Object Storage\s*\((?P<label>.*)\)$", re.IGNORECASE), OBJECT_STORAGE),
    (re.compile(r"^Managed Databases?\s*\((?P<label>.*)\)$", re.IGNORECASE), DATABASE),
    (
        re.compile(r"^Kubernetes HA Control Plane\s*\((?P<label>.*)\)$", re.IGNORECASE),
        KUBERNETES_CONTROL_PLANE,
    ),
)


@dataclass(frozen=True)
class ParsedDescription:
    """Fields extracted from one item description.

    Attributes:
        form: Which description form matched, such as `SERVER` or `LOAD_BALANCER`.
        label: Resource label, or the snapshot description for `SNAPSHOT`.
        ip: Main IP of a server, or the subnet of a reserved IP.
        ram_mb: RAM of a server in MB.
        size_gb: Size of a block volume in GB.
    """

    form: str
    label: str | None = None
    ip: str | None = None
    ram_mb: int | None = None
    size_gb: int | None = None


def parse_description(description: str | None) -> ParsedDescription:
    """Recognize the form of an item description and extract its identifying fields."""
    text = (description or "").strip()
    if match := _SERVER.match(text):
        return ParsedDescription(
            SERVER, label=match["label"].strip(), ip=match["ip"], ram_mb=int(match["ram"])
        )
    if match := _BLOCK.match(text):
        return ParsedDescription(BLOCK, label=match["label"].strip(), size_gb=int(match["size"]))
    if match := _RESERVED_IP.match(text):
        return ParsedDescription(RESERVED_IP, ip=match["subnet"].strip())
    if match := _SNAPSHOT.match(text):
        return ParsedDescription(SNAPSHOT, label=match["label"].strip())
    for pattern, form in _LABELLED:
        if match := pattern.match(text):
            return ParsedDescription(form, label=match["label"].strip())
    return ParsedDescription(UNRECOGNIZED)
