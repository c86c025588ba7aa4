"""FOCUS 1.2 cost and usage rows built from the pipeline's cost line items.

FOCUS (FinOps Open Cost and Usage Specification, version 1.2, tag `v1.2` of the
FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec repository) fixes the column names, types, null rules
and allowed values used here. Every Mandatory column is present. The Conditional columns that
apply to Vultr are present too: regions, per-resource billing, tags, SKUs, unit prices and
metered usage. Commitment discounts, capacity reservations, sub-accounts and several billing
account kinds do not exist in the Vultr API, so those columns are left out. Custom columns start
with `x_` and come after the FOCUS columns.

How Vultr data maps onto FOCUS:

- BilledCost and EffectiveCost are the line's `amount`. Vultr sells no commitments, so nothing
  is amortized.
- ListUnitPrice is the item's `unit_price`, and ListCost is `unit_price × units`, which keeps
  FOCUS's identity ListCost = ListUnitPrice × PricingQuantity. ListCost exceeds BilledCost
  where Vultr's monthly cap cut the hourly total, and differs by under a cent where Vultr rounded
  the total. Vultr has no negotiated prices, so the Contracted columns equal the List columns.
- Discount lines are `Credit` rows (FOCUS: amounts the provider grants, such as promotional
  credits). Like any standalone row without a unit price, their List, Contracted and Effective
  costs equal BilledCost, and their pricing, usage and SKU columns are null.
- ChargeClass is always null, because the API marks no line as a correction of a closed month.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd

FOCUS_VERSION = "1.2"
PROVIDER_NAME = "Vultr"
BILLING_CURRENCY = "USD"
DATA_GENERATOR = "vultr-pipeline"
# Bump DATA_GENERATOR_VERSION and SCHEMA_CREATED together whenever the mapping below changes.
DATA_GENERATOR_VERSION = "1.0.0"
SCHEMA_CREATED = datetime(2026, 12, 1, tzinfo=UTC)
# Vultr defines no tags of its own, so no key prefix is reserved for provider tags.
PROVIDER_TAG_PREFIXES: tuple[str, ...] = ()

# The same types as `vultr_pipeline.defs.tables`, repeated so that this module needs no Dagster.
MONEY_TYPE = "Decimal(38, 10)"
TIMESTAMP_TYPE = "DateTime64(3, 'UTC')"
# Money columns keep ten decimal places, while a product of two such numbers has twenty.
_MONEY_SCALE = Decimal("1e-10")


@dataclass(frozen=True)
class FocusColumn:
    """One column of the FOCUS table.

    Attributes:
        name: Column ID exactly as FOCUS spells it (PascalCase), or `x_` for custom columns.
        clickhouse_type: ClickHouse column type.
        data_type: FOCUS data type for the schema metadata: STRING, DECIMAL, DATETIME or JSON.
        description: What the column contains for Vultr data.
    """

    name: str
    clickhouse_type: str
    data_type: str
    description: str


def _string(name: str, description: str, nullable: bool = False) -> FocusColumn:
    clickhouse_type = "Nullable(String)" if nullable else "String"
    return FocusColumn(name, clickhouse_type, "STRING", description)


def _money(name: str, description: str, nullable: bool = False) -> FocusColumn:
    clickhouse_type = f"Nullable({MONEY_TYPE})" if nullable else MONEY_TYPE
    return FocusColumn(name, clickhouse_type, "DECIMAL", description)


def _time(name: str, description: str) -> FocusColumn:
    return FocusColumn(name, TIMESTAMP_TYPE, "DATETIME", description)


def _json(name: str, description: str) -> FocusColumn:
    return FocusColumn(name, "Nullable(String)", "JSON", description)


FOCUS_COLUMNS: tuple[FocusColumn, ...] = (
    _money("BilledCost", "Amount on the invoice (or pending) for this line, in USD."),
    _string("BillingAccountId", "Pipeline account name whose API key collected the line."),
    _string("BillingAccountName", "Account name from Vultr's /account, else the account id."),
    _string("BillingCurrency", "Always USD."),
    _time("BillingPeriodEnd", "First instant of the month after the billed month (exclusive)."),
    _time("BillingPeriodStart", "First instant of the billed month."),
    _string("ChargeCategory", "Usage, or Credit for discount lines."),
    _string("ChargeClass", "Always null: Vultr marks no line as a correction.", nullable=True),
    _string("ChargeDescription", "Vultr's item description, else its product."),
    _string("ChargeFrequency", "Usage-Based for usage lines, One-Time for credits."),
    _time("ChargePeriodEnd", "First instant after the span the line covers (exclusive)."),
    _time("ChargePeriodStart", "First instant of the span the line covers."),
    _money("ConsumedQuantity", "Units used, on Usage rows with units.", nullable=True),
    _string("ConsumedUnit", "Unit of ConsumedQuantity.", nullable=True),
    _money("ContractedCost", "Equals ListCost: Vultr has no negotiated prices."),
    _money("ContractedUnitPrice", "Equals ListUnitPrice.", nullable=True),
    _money("EffectiveCost", "Equals BilledCost: Vultr sells no commitments to amortize."),
    _string("InvoiceId", "Vultr invoice id; null for the open month.", nullable=True),
    _string("InvoiceIssuerName", "Always Vultr."),
    _money("ListCost", "unit_price × units, or BilledCost for lines without a unit price."),
    _money("ListUnitPrice", "Vultr's unit_price of the item, in USD.", nullable=True),
    _money("PricingQuantity", "Vultr's units of the item.", nullable=True),
    _string("PricingUnit", "Unit of PricingQuantity, e.g. Hours or GB.", nullable=True),
    _string("ProviderName", "Always Vultr."),
    _string("PublisherName", "Always Vultr."),
    _string("RegionId", "Vultr region id of the attributed resource.", nullable=True),
    _string("RegionName", "City of the region from /regions.", nullable=True),
    _string("ResourceId", "Id of the attributed resource; null when unmatched.", nullable=True),
    _string("ResourceName", "Label of the attributed resource.", nullable=True),
    _string("ResourceType", "Kind of the attributed resource.", nullable=True),
    _string("ServiceCategory", "FOCUS service category of the line."),
    _string("ServiceName", "Vultr service name of the line."),
    _string("ServiceSubcategory", "FOCUS service subcategory of the line."),
    _string("SkuId", "Plan id, else Vultr's product name; null on credits.", nullable=True),
    _string("SkuMeter", "What the SKU meters: Runtime, Storage or Data Transfer.", nullable=True),
    _json("SkuPriceDetails", 'JSON object {"InstanceType": <plan>} for plan-priced lines.'),
    _string("SkuPriceId", "<plan>:<region> where both are known, else SkuId.", nullable=True),
    _json("Tags", "JSON object of the resource's tags; null when it has none."),
    _string("x_ChargeSource", "invoice (closed month) or pending (open month)."),
    _string("x_LineId", "Stable id of the cost line item this row comes from."),
    _string("x_MatchConfidence", "How surely the resource was matched: exact, probable, none."),
    _string("x_Product", "Vultr's product name, as the item gives it.", nullable=True),
)
FOCUS_COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in FOCUS_COLUMNS)


@dataclass(frozen=True)
class ServiceMapping:
    """FOCUS service columns for one of the pipeline's service categories."""

    service_name: str
    category: str
    subcategory: str


# Each ServiceName maps to exactly one ServiceCategory and ServiceSubcategory, as FOCUS requires.
SERVICE_MAPPINGS: dict[str, ServiceMapping] = {
    "compute": ServiceMapping("Cloud Compute", "Compute", "Virtual Machines"),
    "gpu": ServiceMapping("Cloud GPU", "Compute", "Virtual Machines"),
    "bare_metal": ServiceMapping("Bare Metal", "Compute", "Other (Compute)"),
    "kubernetes": ServiceMapping("Kubernetes Engine", "Compute", "Containers"),
    "block_storage": ServiceMapping("Block Storage", "Storage", "Block Storage"),
    "object_storage": ServiceMapping("Object Storage", "Storage", "Object Storage"),
    "snapshot": ServiceMapping("Snapshots", "Storage", "Backup Storage"),
    "backup": ServiceMapping("Automatic Backups", "Storage", "Backup Storage"),
    "bandwidth": ServiceMapping("Bandwidth", "Networking", "Network Connectivity"),
    "load_balancer": ServiceMapping("Load Balancers", "Networking", "Application Networking"),
    "reserved_ip": ServiceMapping("Reserved IPs", "Networking", "Network Infrastructure"),
    "ddos_protection": ServiceMapping("DDoS Protection", "Networking", "Network Security"),
    # Vultr's managed databases span relational engines, Valkey and Kafka, and the items do not
    # name the engine, so no narrower subcategory fits every line.
    "database": ServiceMapping("Managed Databases", "Databases", "Other (Databases)"),
}
OTHER_SERVICE = ServiceMapping("Other", "Other", "Other (Other)")

RESOURCE_TYPE_NAMES = {
    "instance": "Cloud Compute Instance",
    "bare_metal": "Bare Metal Server",
    "block": "Block Storage Volume",
    "snapshot": "Snapshot",
    "load_balancer": "Load Balancer",
    "reserved_ip": "Reserved IP",
    "object_storage": "Object Storage Subscription",
    "kubernetes_cluster": "Kubernetes Cluster",
    "database": "Managed Database",
}

# Vultr's item unit_type values mapped onto FOCUS Unit Format; "overage" counts bandwidth GB.
PRICING_UNITS = {"hours": "Hours", "hour": "Hours", "gb": "GB", "overage": "GB"}
_DISCOUNT_UNIT_TYPE = "discount"


@dataclass
class FocusStats:
    """Counts worth showing beside the FOCUS table."""

    rows: int = 0
    credit_rows: int = 0
    rows_without_region: int = 0
    regions_without_city: int = 0
    rows_without_quantity: int = 0
    duplicate_tag_keys: int = 0


def is_credit(unit_type: str | None, product: str | None) -> bool:
    """Tell whether an item is a discount or credit, which FOCUS files as a `Credit` row.

    A line counts as one when its `unit_type` is `discount`, or its product names a discount or
    a credit. A negative usage line without those marks stays `Usage`, since FOCUS files
    refunds of usage under Usage.
    """
    if (unit_type or "").strip().lower() == _DISCOUNT_UNIT_TYPE:
        return True
    product_text = (product or "").lower()
    return "discount" in product_text or "credit" in product_text


def focus_tags(tags: list[str] | None) -> tuple[str | None, int]:
    """Convert Vultr tags into a FOCUS Tags JSON object, and count the tags left out.

    A `key:value` tag splits at its first colon. A tag without a colon (or with an empty key)
    becomes a key whose value is JSON `true`, as FOCUS prescribes for valueless tags. Keys
    must be unique in FOCUS, so when two tags share a key the first one in Vultr's order is
    kept and the rest are counted. Values keep their text unchanged.

    Returns:
        The JSON text with sorted keys (None for a resource without tags), and the number of
        tags dropped for a repeated key.
    """
    finalized: dict[str, str | bool] = {}
    dropped = 0
    for tag in tags or []:
        key, separator, value = tag.partition(":")
        if not separator or not key:
            key, parsed = tag, True
        else:
            parsed = value
        if key in finalized:
            dropped += 1
            continue
        finalized[key] = parsed
    if not finalized:
        return None, dropped
    return json.dumps(finalized, sort_keys=True, ensure_ascii=False), dropped


def exclusive_end(moment: pd.Timestamp) -> pd.Timestamp:
    """Return a charge period end as an exclusive instant.

    Vultr writes some inclusive ends as the last second of a day (23:59:59); those move to the
    following midnight. Any other end is already the first instant after the period.
    """
    if moment.hour == 23 and moment.minute == 59 and moment.second == 59:
        return moment.floor("s") + pd.Timedelta(seconds=1)
    return moment


def billing_period(billing_month: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return the first instant of the billed month and of the month after it, in UTC."""
    start = pd.Timestamp(billing_month)
    start = start.tz_localize(UTC) if start.tzinfo is None else start.tz_convert(UTC)
    start = start.normalize().replace(day=1)
    return start, start + pd.DateOffset(months=1)


def pricing_unit(unit_type: str | None) -> str | None:
    """Map a Vultr `unit_type` onto a FOCUS unit, keeping unknown units as Vultr writes them."""
    if unit_type is None or not unit_type.strip():
        return None
    return PRICING_UNITS.get(unit_type.strip().lower(), unit_type.strip())


def sku_meter(unit: str | None, service_category: str) -> str | None:
    """Name what a usage line meters, from its unit and service category."""
    if unit is None:
        return None
    if unit == "Hours":
        return "Runtime"
    if service_category == "bandwidth":
        return "Data Transfer"
    if unit == "GB":
        return "Storage"
    return unit


def list_cost(units: Decimal | None, unit_price: Decimal | None, amount: Decimal) -> Decimal:
    """Return unit_price × units at the stored scale, or `amount` when either is missing."""
    if units is None or unit_price is None:
        return amount
    return (units * unit_price).quantize(_MONEY_SCALE, rounding=ROUND_HALF_UP)


def region_cities(regions: pd.DataFrame) -> dict[str, str]:
    """Map lowercase region ids to their city names, skipping regions without a city."""
    cities: dict[str, str] = {}
    for region_id, city in zip(regions["id"], regions["city"], strict=True):
        if region_id and city:
            cities.setdefault(str(region_id).lower(), str(city))
    return cities


def account_names(account: pd.DataFrame) -> dict[str, str]:
    """Map each account id to the account name Vultr reports, where it reports one."""
    names: dict[str, str] = {}
    for account_id, name in zip(account["account_id"], account["name"], strict=True):
        if name:
            names.setdefault(str(account_id), str(name))
    return names


def _none_if_missing(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, (list, str, Decimal)) and pd.isna(value):
        return None
    return value


def _service(line: dict[str, Any]) -> ServiceMapping:
    mapping = SERVICE_MAPPINGS.get(line["service_category"])
    if mapping is not None:
        return mapping
    return OTHER_SERVICE


def _service_name(line: dict[str, Any], service: ServiceMapping) -> str:
    # Every unmapped product files under ServiceCategory Other, so its own name stays unique.
    if service is OTHER_SERVICE and line["product"]:
        return str(line["product"])
    return service.service_name


def _resource_columns(line: dict[str, Any]) -> dict[str, Any]:
    resource_id = line["resource_id"]
    if not resource_id:
        return {"ResourceId": None, "ResourceName": None, "ResourceType": None}
    resource_type = line["resource_type"]
    label = line["resource_label"]
    return {
        "ResourceId": resource_id,
        # FOCUS requires that ResourceName does not merely repeat ResourceId.
        "ResourceName": label if label and label != resource_id else None,
        "ResourceType": RESOURCE_TYPE_NAMES.get(resource_type or "", resource_type or "Other"),
    }


def _region_columns(
    line: dict[str, Any], cities: dict[str, str], stats: FocusStats
) -> dict[str, Any]:
    region = line["region"]
    if not region:
        stats.rows_without_region += 1
        return {"RegionId": None, "RegionName": None}
    region_id = str(region).lower()
    city = cities.get(region_id)
    if city is None:
        # RegionName may be null only when RegionId is null, so the id replaces the missing city.
        stats.regions_without_city += 1
        city = region_id
    return {"RegionId": region_id, "RegionName": city}


def _price_columns(line: dict[str, Any], credit: bool, stats: FocusStats) -> dict[str, Any]:
    amount: Decimal = line["amount"]
    if credit:
        return {
            "ChargeCategory": "Credit",
            "ChargeFrequency": "One-Time",
            "ListCost": amount,
            "ContractedCost": amount,
            "ListUnitPrice": None,
            "ContractedUnitPrice": None,
            "PricingQuantity": None,
            "PricingUnit": None,
            "ConsumedQuantity": None,
            "ConsumedUnit": None,
        }
    units, unit_price = line["units"], line["unit_price"]
    unit = pricing_unit(line["unit_type"]) if units is not None else None
    if units is None or unit is None:
        # NOTE: FOCUS requires PricingQuantity on Usage rows, but Vultr sent no units for this line.
        stats.rows_without_quantity += 1
        units = unit = None
    cost = list_cost(units, unit_price, amount)
    return {
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "ListCost": cost,
        "ContractedCost": cost,
        "ListUnitPrice": unit_price if units is not None else None,
        "ContractedUnitPrice": unit_price if units is not None else None,
        "PricingQuantity": units,
        "PricingUnit": unit,
        "ConsumedQuantity": units,
        "ConsumedUnit": unit,
    }


def _sku_columns(line: dict[str, Any], credit: bool, region_id: str | None) -> dict[str, Any]:
    plan, product = line["plan"], line["product"]
    sku_id = None if credit else (plan or product)
    if sku_id is None:
        return {"SkuId": None, "SkuMeter": None, "SkuPriceId": None, "SkuPriceDetails": None}
    unit = pricing_unit(line["unit_type"])
    price_id = f"{plan}:{region_id}" if plan and region_id else sku_id
    details = json.dumps({"InstanceType": plan}) if plan else None
    return {
        "SkuId": sku_id,
        "SkuMeter": sku_meter(unit, line["service_category"]),
        "SkuPriceId": price_id,
        "SkuPriceDetails": details,
    }


def _description(line: dict[str, Any], service: ServiceMapping) -> str:
    for text in (line["description"], line["product"]):
        if text and str(text).strip():
            return str(text)
    return f"{service.service_name} charge"


def focus_row(
    line: dict[str, Any],
    cities: dict[str, str],
    names: dict[str, str],
    stats: FocusStats,
) -> dict[str, Any]:
    """Build the FOCUS row of one cost line item (a dict with the contract's columns)."""
    credit = is_credit(line["unit_type"], line["product"])
    service = _service(line)
    period_start, period_end = billing_period(line["billing_month"])
    regions = _region_columns(line, cities, stats)
    tags, dropped = focus_tags(line["tags"])
    stats.duplicate_tag_keys += dropped
    stats.credit_rows += int(credit)
    invoice_id = line["invoice_id"]

    row: dict[str, Any] = {
        "BilledCost": line["amount"],
        "EffectiveCost": line["amount"],
        "BillingAccountId": line["account_id"],
        "BillingAccountName": names.get(line["account_id"], line["account_id"]),
        "BillingCurrency": BILLING_CURRENCY,
        "BillingPeriodStart": period_start,
        "BillingPeriodEnd": period_end,
        "ChargeClass": None,
        "ChargeDescription": _description(line, service),
        "ChargePeriodStart": pd.Timestamp(line["charge_period_start"]).tz_convert(UTC),
        "ChargePeriodEnd": exclusive_end(pd.Timestamp(line["charge_period_end"]).tz_convert(UTC)),
        "InvoiceId": None if invoice_id is None else str(int(invoice_id)),
        "InvoiceIssuerName": PROVIDER_NAME,
        "ProviderName": PROVIDER_NAME,
        "PublisherName": PROVIDER_NAME,
        "ServiceCategory": service.category,
        "ServiceName": _service_name(line, service),
        "ServiceSubcategory": service.subcategory,
        "Tags": tags,
        "x_ChargeSource": line["source"],
        "x_LineId": line["line_id"],
        "x_MatchConfidence": line["match_confidence"],
        "x_Product": line["product"],
        **regions,
        **_resource_columns(line),
        **_price_columns(line, credit, stats),
        **_sku_columns(line, credit, regions["RegionId"]),
    }
    return row


def build_focus_costs(
    line_items: pd.DataFrame, regions: pd.DataFrame, account: pd.DataFrame
) -> tuple[pd.DataFrame, FocusStats]:
    """Build one FOCUS 1.2 row per cost line item.

    Args:
        line_items: The `cost_line_items` table (contract columns).
        regions: The raw `regions` table, for region city names.
        account: The raw `account` table, for the billing account name.

    Returns:
        The FOCUS rows with columns in `FOCUS_COLUMN_NAMES` order, and counts for metadata.
    """
    cities = region_cities(regions)
    names = account_names(account)
    stats = FocusStats()
    rows = []
    for record in line_items.to_dict(orient="records"):
        line = {key: _none_if_missing(value) for key, value in record.items()}
        rows.append(focus_row(line, cities, names, stats))
    stats.rows = len(rows)
    # Object columns keep None and Decimal values as they are, where pandas would infer NaN.
    frame = pd.DataFrame(rows, columns=list(FOCUS_COLUMN_NAMES), dtype=object)
    for name in ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame, stats


def schema_id(columns: tuple[FocusColumn, ...] = FOCUS_COLUMNS) -> str:
    """Derive the FOCUS SchemaId from the column list and the versions.

    The id is a name-based UUID (version 5), so it stays the same while the schema stays the
    same and changes whenever a column, a type or a version changes, as FOCUS requires.
    """
    parts = [FOCUS_VERSION, DATA_GENERATOR_VERSION]
    parts += [f"{column.name}:{column.data_type}:{column.clickhouse_type}" for column in columns]
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "vultr-pipeline/focus/" + "|".join(parts)))


def _numeric_size(column: FocusColumn) -> tuple[int | None, int | None]:
    if column.data_type != "DECIMAL":
        return None, None
    precision, scale = MONEY_TYPE.removeprefix("Decimal(").removesuffix(")").split(",")
    return int(precision), int(scale)


def build_focus_metadata(columns: tuple[FocusColumn, ...] = FOCUS_COLUMNS) -> pd.DataFrame:
    """Build the FOCUS schema metadata: one row per column, with the schema fields repeated."""
    identifier = schema_id(columns)
    rows = []
    for position, column in enumerate(columns, start=1):
        precision, scale = _numeric_size(column)
        rows.append(
            {
                "schema_id": identifier,
                "focus_version": FOCUS_VERSION,
                "data_generator": DATA_GENERATOR,
                "data_generator_version": DATA_GENERATOR_VERSION,
                "provider_name": PROVIDER_NAME,
                "creation_date": pd.Timestamp(SCHEMA_CREATED),
                "column_position": position,
                "column_name": column.name,
                "data_type": column.data_type,
                "clickhouse_type": column.clickhouse_type,
                "numeric_precision": precision,
                "number_scale": scale,
                "string_encoding": "UTF-8" if column.data_type in ("STRING", "JSON") else None,
                "provider_tag_prefixes": list(PROVIDER_TAG_PREFIXES),
                "description": column.description,
            }
        )
    frame = pd.DataFrame(rows)
    frame["creation_date"] = pd.to_datetime(frame["creation_date"], utc=True)
    frame["numeric_precision"] = frame["numeric_precision"].astype("Int64")
    frame["number_scale"] = frame["number_scale"].astype("Int64")
    return frame
