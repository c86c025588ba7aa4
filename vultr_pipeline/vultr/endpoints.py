"""Registry of the Vultr API v2 endpoints the pipeline reads.

Paths, response keys and paging behaviour follow Vultr's OpenAPI specs and the responses the API
really sends where the two differ (``plans_metal``, ``billing_invoices``, cursor paging on
billing and Kubernetes lists, no cursor paging on ``/databases``).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Endpoint:
    """One GET endpoint of the Vultr API.

    Attributes:
        name: Registry name, such as ``metal_plans``.
        path: Path below the base URL; may contain ``{placeholders}``.
        key: Response key that contains the list (or the single object).
        paginated: True when the endpoint pages with ``per_page`` and ``cursor``.
        public: True when the endpoint needs no API key.
        single_object: True when ``key`` holds one object rather than a list.
    """

    name: str
    path: str
    key: str
    paginated: bool
    public: bool = False
    single_object: bool = False

    @property
    def placeholders(self) -> tuple[str, ...]:
        """Names of the ``{placeholders}`` in ``path``, in order."""
        return tuple(
            name for _, name, _, _ in string.Formatter().parse(self.path) if name is not None
        )

    def format_path(self, **path_params: object) -> str:
        """Fill the path placeholders, such as ``invoice_id``.

        Raises:
            ValueError: A placeholder is missing, unknown or has an invalid value.
        """
        expected = set(self.placeholders)
        if set(path_params) != expected:
            raise ValueError(
                f"Endpoint {self.name} ({self.path}) needs path parameters "
                f"{sorted(expected)}, got {sorted(path_params)}."
            )
        values = {name: _format_path_value(name, value) for name, value in path_params.items()}
        return self.path.format(**values)


def _format_path_value(name: str, value: object) -> str:
    if name == "invoice_id":
        return format_invoice_id(value)
    text = str(value)
    if not text or "/" in text:
        raise ValueError(f"Invalid path parameter {name}={value!r}: expected a non-empty id.")
    return text


def format_invoice_id(invoice_id: object) -> str:
    """Write an invoice id in decimal digits for use in a URL path.

    Accepts an int, an integral Decimal or a string of digits.

    Raises:
        ValueError: The value is not a non-negative whole number.
    """
    if isinstance(invoice_id, bool):
        raise ValueError(f"Invalid invoice id {invoice_id!r}: expected a whole number.")
    if isinstance(invoice_id, int):
        number = invoice_id
    elif isinstance(invoice_id, Decimal) and invoice_id.is_finite() and invoice_id % 1 == 0:
        number = int(invoice_id)
    elif isinstance(invoice_id, str) and invoice_id.isascii() and invoice_id.isdigit():
        number = int(invoice_id)
    else:
        raise ValueError(f"Invalid invoice id {invoice_id!r}: expected a whole number.")
    if number < 0:
        raise ValueError(f"Invalid invoice id {invoice_id!r}: expected a non-negative number.")
    return str(number)


_ENDPOINT_LIST = (
    Endpoint("account", "/account", "account", paginated=False, single_object=True),
    Endpoint(
        "account_bandwidth", "/account/bandwidth", "bandwidth", paginated=False, single_object=True
    ),
    Endpoint("billing_history", "/billing/history", "billing_history", paginated=True),
    Endpoint("invoices", "/billing/invoices", "billing_invoices", paginated=True),
    Endpoint(
        "invoice_items", "/billing/invoices/{invoice_id}/items", "invoice_items", paginated=True
    ),
    Endpoint("pending_charges", "/billing/pending-charges", "pending_charges", paginated=False),
    Endpoint("instances", "/instances", "instances", paginated=True),
    Endpoint("bare_metals", "/bare-metals", "bare_metals", paginated=True),
    Endpoint("plans", "/plans", "plans", paginated=True, public=True),
    Endpoint("metal_plans", "/plans-metal", "plans_metal", paginated=True, public=True),
    Endpoint("regions", "/regions", "regions", paginated=True, public=True),
    Endpoint("snapshots", "/snapshots", "snapshots", paginated=True),
    Endpoint("backups", "/backups", "backups", paginated=True),
    Endpoint("blocks", "/blocks", "blocks", paginated=True),
    Endpoint("load_balancers", "/load-balancers", "load_balancers", paginated=True),
    Endpoint("kubernetes_clusters", "/kubernetes/clusters", "vke_clusters", paginated=True),
    Endpoint("object_storage", "/object-storage", "object_storages", paginated=True),
    Endpoint("reserved_ips", "/reserved-ips", "reserved_ips", paginated=True),
    Endpoint("databases", "/databases", "databases", paginated=False),
)

ENDPOINTS: dict[str, Endpoint] = {endpoint.name: endpoint for endpoint in _ENDPOINT_LIST}
"""Endpoints keyed by registry name."""

PUBLIC_PATHS: frozenset[str] = frozenset(e.path for e in _ENDPOINT_LIST if e.public)
"""Paths that Vultr serves without an API key (``"security": []`` in the spec)."""


def get_endpoint(name: str) -> Endpoint:
    """Look up an endpoint by registry name.

    Raises:
        KeyError: The name is not registered; the message lists the known names.
    """
    try:
        return ENDPOINTS[name]
    except KeyError:
        known = ", ".join(sorted(ENDPOINTS))
        raise KeyError(f"Unknown Vultr endpoint {name!r}; known endpoints: {known}.") from None
