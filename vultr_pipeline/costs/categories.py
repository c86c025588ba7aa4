"""Service categories of billed lines, derived from Vultr's `product` and `description`.

Invoice and pending-charge items name their product in free text (for example
`"Vultr Cloud Compute"` or `"Load Balancer"`). Known products map to a fixed category. A
generic or missing product falls back to keywords in the description. Any other product is
`other`, and the caller keeps the product text and counts such lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMPUTE = "compute"
GPU = "gpu"
BARE_METAL = "bare_metal"
BLOCK_STORAGE = "block_storage"
OBJECT_STORAGE = "object_storage"
SNAPSHOT = "snapshot"
BACKUP = "backup"
BANDWIDTH = "bandwidth"
LOAD_BALANCER = "load_balancer"
RESERVED_IP = "reserved_ip"
KUBERNETES = "kubernetes"
DATABASE = "database"
DDOS_PROTECTION = "ddos_protection"
OTHER = "other"

SERVICE_CATEGORIES = (
    COMPUTE, GPU, BARE_METAL, BLOCK_STORAGE, OBJECT_STORAGE, SNAPSHOT, BACKUP, BANDWIDTH,
    LOAD_BALANCER, RESERVED_IP, KUBERNETES, DATABASE, DDOS_PROTECTION, OTHER,
)  # fmt: skip

# Keys are lowercase product names with single spaces. Names beyond those in Vultr's API
# examples ("Vultr Cloud Compute", "Load Balancer") are expected spellings, unverified
# against a live invoice.
PRODUCT_CATEGORIES: dict[str, str] = {
    "vultr cloud compute": COMPUTE,
    "cloud compute": COMPUTE,
    "compute instance": COMPUTE,
    "high frequency compute": COMPUTE,
    "vultr high frequency": COMPUTE,
    "high performance compute": COMPUTE,
    "optimized cloud compute": COMPUTE,
    "vultr dedicated cloud": COMPUTE,
    "dedicated cloud": COMPUTE,
    "cloud gpu": GPU,
    "vultr cloud gpu": GPU,
    "bare metal": BARE_METAL,
    "vultr bare metal": BARE_METAL,
    "block storage": BLOCK_STORAGE,
    "object storage": OBJECT_STORAGE,
    "snapshots": SNAPSHOT,
    "snapshot": SNAPSHOT,
    "automatic backups": BACKUP,
    "backups": BACKUP,
    "bandwidth": BANDWIDTH,
    "load balancer": LOAD_BALANCER,
    "load balancers": LOAD_BALANCER,
    "reserved ip": RESERVED_IP,
    "reserved ips": RESERVED_IP,
    "kubernetes": KUBERNETES,
    "vultr kubernetes engine": KUBERNETES,
    "managed databases": DATABASE,
    "managed database": DATABASE,
    "ddos protection": DDOS_PROTECTION,
    # Discounts and credits are billed lines of no service; they are known, not unknown.
    "discount": OTHER,
    "credit": OTHER,
}

# Products too generic to name a service, so the description decides the category.
GENERIC_PRODUCTS = frozenset({"", "other", "misc", "miscellaneous", "vultr", "charge", "charges"})

# Checked in order against the description; the first match wins.
DESCRIPTION_KEYWORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bload balancer\b", re.IGNORECASE), LOAD_BALANCER),
    (re.compile(r"\bblock storage\b", re.IGNORECASE), BLOCK_STORAGE),
    (re.compile(r"\bobject storage\b", re.IGNORECASE), OBJECT_STORAGE),
    (re.compile(r"\bsnapshot", re.IGNORECASE), SNAPSHOT),
    (re.compile(r"\bbackup", re.IGNORECASE), BACKUP),
    (re.compile(r"\breserved ip", re.IGNORECASE), RESERVED_IP),
    (re.compile(r"\bkubernetes\b", re.IGNORECASE), KUBERNETES),
    (re.compile(r"\bmanaged database", re.IGNORECASE), DATABASE),
    (re.compile(r"\bddos\b", re.IGNORECASE), DDOS_PROTECTION),
    (re.compile(r"\bbandwidth\b", re.IGNORECASE), BANDWIDTH),
    (re.compile(r"\bgpu\b", re.IGNORECASE), GPU),
    (re.compile(r"\bbare metal\b", re.IGNORECASE), BARE_METAL),
    # The server form "<ip> (<ram> MB) [<label>]" names a cloud instance.
    (re.compile(r"^\s*[0-9a-f.:]+\s+\(\s*\d+\s*MB\s*\)\s*\[", re.IGNORECASE), COMPUTE),
)


@dataclass(frozen=True)
class Categorization:
    """The service category of one line and how it was found.

    Attributes:
        category: One of `SERVICE_CATEGORIES`.
        known_product: False when the product is neither mapped nor generic, so the category
            is `other` because the product is unknown.
    """

    category: str
    known_product: bool


def normalize_product(product: str | None) -> str:
    """Return the product in lowercase with runs of whitespace collapsed."""
    return " ".join((product or "").lower().split())


def categorize(product: str | None, description: str | None) -> Categorization:
    """Return the service category of a line from its product and description."""
    key = normalize_product(product)
    if key in PRODUCT_CATEGORIES:
        return Categorization(PRODUCT_CATEGORIES[key], known_product=True)
    if key not in GENERIC_PRODUCTS:
        return Categorization(OTHER, known_product=False)
    text = description or ""
    for pattern, category in DESCRIPTION_KEYWORDS:
        if pattern.search(text):
            return Categorization(category, known_product=True)
    return Categorization(OTHER, known_product=True)
