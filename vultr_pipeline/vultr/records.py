"""Declarative specs of the raw tables, one per endpoint, and the parser that applies them.

A ``RecordSpec`` lists the typed columns taken from one Vultr record. ``parse_record`` returns
those typed values plus ``raw``: the whole record as exact JSON text with secrets removed. The
``Kind`` of a field is a logical type; mapping it to ClickHouse types belongs to the storage
layer. ``parse_or_reject`` returns a ``RejectedRecord`` in place of a row when a value cannot be
read, so one bad record does not stop the others.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vultr_pipeline.vultr.endpoints import ENDPOINTS, Endpoint
from vultr_pipeline.vultr.errors import VultrRecordError
from vultr_pipeline.vultr.parsing import (
    excerpt,
    parse_bool,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_money,
    parse_str,
    parse_str_list,
    to_json_text,
)


class Kind(enum.StrEnum):
    """Logical column type of a ``Field``."""

    STRING = "string"
    LOW_CARDINALITY = "low_cardinality"
    """A string with few distinct values, such as a region or a status."""
    INT = "int"
    MONEY = "money"
    """US dollars as an exact Decimal."""
    DECIMAL = "decimal"
    """A non-money exact number, such as invoice-item units."""
    DATETIME = "datetime"
    """A timezone-aware UTC datetime."""
    BOOL = "bool"
    STRING_LIST = "string_list"
    JSON = "json"
    """A nested value kept as compact JSON text."""


_PARSERS: dict[Kind, Callable[[Any], Any]] = {
    Kind.STRING: parse_str,
    Kind.LOW_CARDINALITY: parse_str,
    Kind.INT: parse_int,
    Kind.MONEY: parse_money,
    Kind.DECIMAL: parse_decimal,
    Kind.DATETIME: parse_datetime,
    Kind.BOOL: parse_bool,
    Kind.STRING_LIST: parse_str_list,
    Kind.JSON: to_json_text,
}


@dataclass(frozen=True)
class Field:
    """One typed column of a raw table.

    Attributes:
        name: Column name.
        kind: Logical type.
        source: Key, or path of keys into nested objects, in the Vultr record; "" means
            ``name``.
        required: True when a missing or null value is an error.
        doc: Column description.
        lowercase: True to lowercase the parsed string (database regions are uppercase).
    """

    name: str
    kind: Kind
    source: str | tuple[str, ...] = ""
    required: bool = False
    doc: str = ""
    lowercase: bool = False

    @property
    def source_path(self) -> tuple[str, ...]:
        """The source as a tuple of keys."""
        if isinstance(self.source, tuple):
            return self.source
        return (self.source or self.name,)


@dataclass(frozen=True)
class RecordSpec:
    """Columns of one raw table and the endpoint its records come from.

    Attributes:
        table: Raw table name.
        endpoint: Endpoint that returns the records.
        fields: Typed columns, in table order; the ``raw`` column follows them.
        order_by: Columns that identify a row, for the table's sort key.
        secret_keys: Keys removed, at any depth, before the record is parsed or stored.
        doc: Table description.
    """

    table: str
    endpoint: Endpoint
    fields: tuple[Field, ...]
    order_by: tuple[str, ...]
    secret_keys: frozenset[str]
    doc: str

    @property
    def column_names(self) -> tuple[str, ...]:
        """Names of the columns ``parse_record`` returns, ``raw`` last."""
        return (*(field.name for field in self.fields), "raw")


SECRET_KEYS = frozenset(
    {
        "default_password",
        "password",
        "s3_access_key",
        "s3_secret_key",
        "access_key",
        "kube_config",
        "kubeconfig",
        # The instance console URL carries a session token in its data= query.
        "kvm",
    }
)
"""Keys that hold secrets in Vultr records (passwords, object-storage and Kafka keys,
kubeconfigs, console URLs)."""


def strip_secrets(value: Any, secret_keys: Iterable[str] = SECRET_KEYS) -> Any:
    """Return a copy of a JSON value without the secret keys, at any nesting depth."""
    keys = secret_keys if isinstance(secret_keys, frozenset) else frozenset(secret_keys)
    return _strip(value, keys)


def _strip(value: Any, keys: frozenset[str]) -> Any:
    if isinstance(value, Mapping):
        return {k: _strip(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_strip(item, keys) for item in value]
    return value


_MISSING = object()


def _lookup(record: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = record
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return _MISSING
        value = value[key]
    return value


def _is_key_value(value: object) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def _record_id(record: Mapping[str, Any]) -> str | None:
    """Return the record's `id`, else the keys that the caller added to records without one."""
    if _is_key_value(record.get("id")):
        return f"{record['id']}"
    parts = [
        f"{key} {record[key]}"
        for key in ("invoice_id", "line_number", "period")
        if _is_key_value(record.get(key))
    ]
    return ", ".join(parts) or None


def parse_record(spec: RecordSpec, record: Mapping[str, Any]) -> dict[str, Any]:
    """Build one typed row from a Vultr record.

    Returns:
        Field name to typed value, plus ``raw``. Missing optional values are None, or an
        empty list for ``STRING_LIST`` fields.

    Raises:
        VultrRecordError: A required field is missing or null, or a value cannot be parsed.
    """
    if not isinstance(record, Mapping):
        raise VultrRecordError(
            spec.table,
            "<record>",
            excerpt(record),
            "expected a JSON object",
            endpoint=spec.endpoint.path,
        )
    clean = strip_secrets(record, spec.secret_keys)
    row = {field.name: _parse_field(spec, field, clean) for field in spec.fields}
    try:
        row["raw"] = to_json_text(clean)
    except (TypeError, ValueError) as exc:
        # A JSON NaN or Infinity outside the typed fields reaches here as a float.
        raise _record_error(spec, Field("raw", Kind.JSON), clean, None, str(exc)) from exc
    return row


@dataclass(frozen=True)
class RejectedRecord:
    """A record that ``parse_or_reject`` could not turn into a row, and why.

    Attributes:
        record_id: The record's ``id``, else its ``invoice_id``, ``line_number`` or ``period``;
            None when it has none of them.
        field: The first column, in table order, whose value could not be read.
        reason: What was wrong with the value, and what was expected.
        raw: The record as JSON text with secrets removed, as the raw tables store it.
    """

    record_id: str | None
    field: str
    reason: str
    raw: str


def parse_or_reject(spec: RecordSpec, record: Any) -> dict[str, Any] | RejectedRecord:
    """Build one typed row from a Vultr record, or reject the record with the reason.

    The parsers already read every value whose meaning is clear: numbers sent as strings,
    epoch seconds, timestamps without an offset (as UTC), and missing or null optional fields
    (as null). Keys the spec does not know stay in ``raw``. So a record is rejected only when
    a required field is missing or null, or a value has no clear reading, such as money
    ``"abc"`` or a date ``"yesterday"``.
    """
    try:
        return parse_record(spec, record)
    except VultrRecordError as error:
        return RejectedRecord(
            record_id=error.record_id,
            field=error.field,
            reason=error.reason,
            raw=_raw_text(strip_secrets(record, spec.secret_keys)),
        )


def _raw_text(value: Any) -> str:
    try:
        return to_json_text(value)
    except (TypeError, ValueError):
        # A JSON NaN or Infinity arrives as a float, which exact JSON text cannot hold, so it
        # is kept as the string "nan" or "inf".
        return to_json_text(_floats_as_text(value))


def _floats_as_text(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Mapping):
        return {key: _floats_as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_floats_as_text(item) for item in value]
    return value


def _parse_field(spec: RecordSpec, field: Field, record: Mapping[str, Any]) -> Any:
    value = _lookup(record, field.source_path)
    if value is _MISSING or value is None:
        if field.required:
            source = ".".join(field.source_path)
            raise _record_error(spec, field, record, None, f"required key {source!r} is missing")
        return [] if field.kind is Kind.STRING_LIST else None
    try:
        parsed = _PARSERS[field.kind](value)
    except (TypeError, ValueError) as exc:
        raise _record_error(spec, field, record, value, str(exc)) from exc
    if parsed is None and field.required:
        raise _record_error(spec, field, record, value, "required value is empty")
    if field.lowercase and isinstance(parsed, str):
        parsed = parsed.lower()
    return parsed


def _record_error(
    spec: RecordSpec, field: Field, record: Mapping[str, Any], value: Any, reason: str
) -> VultrRecordError:
    return VultrRecordError(
        spec.table,
        field.name,
        excerpt(value),
        reason.rstrip("."),
        record_id=_record_id(record),
        endpoint=spec.endpoint.path,
    )


BANDWIDTH_PERIODS = ("previous_month", "current_month_to_date", "current_month_projected")
"""Keys of the ``/account/bandwidth`` object, one row each in ``account_bandwidth``."""


def bandwidth_period_records(bandwidth: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Split the ``/account/bandwidth`` object into one record per period, with ``period`` set.

    Periods absent from the object are skipped.
    """
    records = []
    for period in BANDWIDTH_PERIODS:
        values = bandwidth.get(period)
        if isinstance(values, Mapping):
            records.append({**values, "period": period})
    return records


def number_lines(
    items: Iterable[Mapping[str, Any]], *, invoice_id: int | None = None
) -> list[dict[str, Any]]:
    """Add ``line_number`` (1-based position) and, when given, ``invoice_id`` to each item.

    Invoice items have no id, so the position keeps identical lines distinct. Pass all items
    of one invoice (every page, in the order Vultr returned them).
    """
    extra: dict[str, Any] = {} if invoice_id is None else {"invoice_id": invoice_id}
    return [{**item, **extra, "line_number": number} for number, item in enumerate(items, start=1)]


def _spec(
    table: str, endpoint: str, order_by: tuple[str, ...], doc: str, *fields: Field
) -> RecordSpec:
    return RecordSpec(
        table=table,
        endpoint=ENDPOINTS[endpoint],
        fields=tuple(fields),
        order_by=order_by,
        secret_keys=SECRET_KEYS,
        doc=doc,
    )


def _id(doc: str = "Resource id (UUID).") -> Field:
    return Field("id", Kind.STRING, required=True, doc=doc)


def _invoice_item_fields() -> tuple[Field, ...]:
    return (
        Field(
            "line_number", Kind.INT, required=True, doc="1-based position of the line in its list."
        ),
        Field("description", Kind.STRING, doc="Free text; the only place the resource is named."),
        Field("product", Kind.LOW_CARDINALITY, doc="Product name, such as 'Vultr Cloud Compute'."),
        Field("start_date", Kind.DATETIME, doc="Start of the billed period (UTC)."),
        Field("end_date", Kind.DATETIME, doc="End of the billed period (UTC)."),
        Field("units", Kind.DECIMAL, doc="Billed quantity, usually hours."),
        Field(
            "unit_type", Kind.LOW_CARDINALITY, doc="Unit of 'units': hours, overage, discount, ..."
        ),
        Field("unit_price", Kind.MONEY, doc="US dollars per unit."),
        Field(
            "total",
            Kind.MONEY,
            doc="US dollars for the line; the sign of discounts is undocumented.",
        ),
    )


def _text(name: str, doc: str = "", **options: Any) -> Field:
    return Field(name, Kind.STRING, doc=doc, **options)


def _category(name: str, doc: str = "", **options: Any) -> Field:
    return Field(name, Kind.LOW_CARDINALITY, doc=doc, **options)


def _integer(name: str, doc: str = "", **options: Any) -> Field:
    return Field(name, Kind.INT, doc=doc, **options)


def _money(name: str, doc: str = "", **options: Any) -> Field:
    return Field(name, Kind.MONEY, doc=doc, **options)


def _moment(name: str, doc: str = "", **options: Any) -> Field:
    return Field(name, Kind.DATETIME, doc=doc, **options)


def _flag(name: str, doc: str = "", **options: Any) -> Field:
    return Field(name, Kind.BOOL, doc=doc, **options)


def _names(name: str, doc: str = "", **options: Any) -> Field:
    return Field(name, Kind.STRING_LIST, doc=doc, **options)


def _nested(name: str, doc: str = "", **options: Any) -> Field:
    return Field(name, Kind.JSON, doc=doc, **options)


def _plan_price_fields() -> tuple[Field, ...]:
    return (
        _category("invoice_type", "'hourly' or 'monthly'."),
        _money("monthly_cost", "US dollars per month; can be fractional."),
        _money("hourly_cost", "US dollars per hour."),
        _money("monthly_cost_preemptible", "US dollars per month, preemptible."),
        _money("hourly_cost_preemptible", "US dollars per hour, preemptible."),
        _names("locations", "Region ids where the plan can be ordered."),
    )


_TABLES = (
    _spec(
        "account",
        "account",
        (),
        "The account's balance and last payment; one row per fetch.",
        _text("name"),
        _text("email"),
        _names("acls", "Permissions of the key's user."),
        _money("balance", "US dollars; positive is owed to Vultr, negative is prepaid credit."),
        _money("pending_charges", "Unbilled US dollars of the open month."),
        _moment("last_payment_date"),
        _money("last_payment_amount", "US dollars; negative in Vultr's example."),
    ),
    _spec(
        "account_bandwidth",
        "account_bandwidth",
        ("period",),
        "Account bandwidth totals, one row per period.",
        _category(
            "period",
            "previous_month, current_month_to_date or current_month_projected.",
            required=True,
        ),
        _moment("timestamp_start", "Period start; Vultr sends epoch seconds as a string."),
        _moment("timestamp_end", "Period end; Vultr sends epoch seconds as a string."),
        Field("gb_in", Kind.DECIMAL, doc="Inbound GB."),
        Field("gb_out", Kind.DECIMAL, doc="Outbound GB."),
        Field("total_instance_hours", Kind.DECIMAL),
        _integer("total_instance_count"),
        Field("instance_bandwidth_credits", Kind.DECIMAL, doc="GB of allowance from instances."),
        Field("free_bandwidth_credits", Kind.DECIMAL, doc="GB of free allowance."),
        Field("purchased_bandwidth_credits", Kind.DECIMAL, doc="GB of purchased allowance."),
        Field("overage", Kind.DECIMAL, doc="GB over the allowance."),
        _money("overage_unit_cost", "US dollars per GB of overage."),
        _money("overage_cost", "US dollars for the overage."),
    ),
    _spec(
        "billing_history",
        "billing_history",
        ("date", "id"),
        "Billing history rows: invoices, credits and payments with the running balance.",
        _integer("id", "Billing row id; equals the invoice id on invoice rows.", required=True),
        _moment("date", required=True),
        _category("type", "invoice, credit, payment, ...; not a closed set."),
        _text("description"),
        _money("amount", "US dollars; the sign convention for credits is undocumented."),
        _money("balance", "Running account balance after this row, US dollars."),
    ),
    _spec(
        "invoices",
        "invoices",
        ("date", "id"),
        "Closed invoices.",
        _integer("id", "Invoice id.", required=True),
        _moment("date", required=True),
        _text("description"),
        _money("amount", "Amount due, US dollars."),
        _money("balance", "Account balance, US dollars; negative means credit."),
    ),
    _spec(
        "invoice_items",
        "invoice_items",
        ("invoice_id", "line_number"),
        "Lines of closed invoices; 'invoice_id' and 'line_number' are added by the caller.",
        _integer("invoice_id", "Invoice the line belongs to.", required=True),
        *_invoice_item_fields(),
    ),
    _spec(
        "pending_charges",
        "pending_charges",
        ("line_number",),
        "Invoice-item-shaped charges of the open month; 'line_number' is added by the caller.",
        *_invoice_item_fields(),
    ),
    _spec(
        "instances",
        "instances",
        ("id",),
        "Cloud compute instances.",
        _id(),
        _text("label"),
        _text("hostname"),
        _text("os"),
        _integer("os_id"),
        _integer("app_id"),
        _text("image_id"),
        _text("snapshot_id"),
        _integer("ram", "MB."),
        _integer("disk", "GB."),
        _integer("vcpu_count"),
        _category("region", "Region id, lowercase."),
        _category("plan", "Plan id; join to plans for prices."),
        _moment("date_created"),
        _category("status", "active, pending, suspended or resizing."),
        _category("power_status", "running or stopped."),
        _category("server_status"),
        _integer("allowed_bandwidth", "GB per month."),
        _text("main_ip"),
        _text("internal_ip"),
        _flag("vpc_only"),
        _text("netmask_v4"),
        _text("gateway_v4"),
        _text("v6_network"),
        _text("v6_main_ip"),
        _integer("v6_network_size"),
        _nested("v6_networks"),
        _nested("vpcs"),
        _text("tag", "Deprecated single tag."),
        _names("tags"),
        _text("firewall_group_id"),
        _names("features", "auto_backups means backup charges."),
        _category("user_scheme"),
        _money("pending_charges", "US dollars; sent only with show_pending_charges=true."),
    ),
    _spec(
        "bare_metals",
        "bare_metals",
        ("id",),
        "Bare-metal servers.",
        _id(),
        _text("label"),
        _text("os"),
        _integer("os_id"),
        _integer("app_id"),
        _text("image_id"),
        _text("snapshot_id"),
        _text("ram", "A description such as '32768 MB'."),
        _text("disk", "A description such as '2x 240GB SSD'."),
        _integer("cpu_count"),
        _category("region"),
        _category("plan", "Metal plan id; join to metal_plans for prices."),
        _moment("date_created"),
        _category("status"),
        _text("main_ip"),
        _text("internal_ip"),
        _text("netmask_v4"),
        _text("gateway_v4"),
        _text("v6_network"),
        _text("v6_main_ip"),
        _integer("v6_network_size"),
        _integer("mac_address", "MAC address as the integer Vultr sends."),
        _text("tag", "Deprecated single tag."),
        _names("tags"),
        _names("features"),
        _category("user_scheme"),
        _category("mdisk_mode"),
        _nested("vpcs"),
    ),
    _spec(
        "plans",
        "plans",
        ("id",),
        "Cloud compute plan catalogue with prices; GPU plans have type 'vcg'.",
        _id("Plan id such as 'vhf-8c-32gb'; do not parse it."),
        _text("name"),
        _category("type"),
        _integer("vcpu_count"),
        _integer("ram", "MB."),
        _integer("disk", "GB."),
        _integer("disk_count"),
        _integer("bandwidth", "GB per month."),
        *_plan_price_fields(),
        _nested("location_cost", "Per-region price overrides keyed by region id."),
        _integer("gpu_vram_gb", "Total VRAM of the plan in GB, not per GPU."),
        _category("gpu_type", "Such as 'NVIDIA_A100'; exact values are undocumented."),
    ),
    _spec(
        "metal_plans",
        "metal_plans",
        ("id",),
        "Bare-metal plan catalogue with prices.",
        _id("Metal plan id such as 'vbm-4c-32gb'."),
        _category("type", "Disk type: SSD or NVMe."),
        _integer("cpu_count"),
        _integer("cpu_threads"),
        _text("cpu_model"),
        _integer("ram", "MB."),
        _integer("disk", "GB per disk."),
        _integer("disk_count"),
        _integer("bandwidth", "GB per month."),
        *_plan_price_fields(),
    ),
    _spec(
        "regions",
        "regions",
        ("id",),
        "Regions.",
        _id("Region id, lowercase, such as 'ams'."),
        _text("city"),
        _category("country"),
        _category("continent"),
        _names("options"),
        _names("connectivity"),
    ),
    _spec(
        "snapshots",
        "snapshots",
        ("id",),
        "Instance snapshots; storage is billed by size.",
        _id(),
        _moment("date_created"),
        _text("description"),
        _integer("size", "Bytes."),
        _integer("compressed_size", "Bytes."),
        _category("status"),
        _integer("os_id"),
        _integer("app_id"),
    ),
    _spec(
        "backups",
        "backups",
        ("id",),
        "Automatic instance backups.",
        _id(),
        _moment("date_created"),
        _text("description"),
        _integer("size", "Bytes."),
        _category("status"),
        _integer("os_id"),
        _integer("app_id"),
    ),
    _spec(
        "blocks",
        "blocks",
        ("id",),
        "Block storage volumes.",
        _id(),
        _text("label"),
        _moment("date_created"),
        _money("cost", "US dollars per month."),
        _money("pending_charges", "US dollars."),
        _category("status"),
        _integer("size_gb"),
        _category("region"),
        _category("block_type", "high_perf or storage_opt."),
        _text("attached_to_instance", "Instance id, or empty when unattached."),
        _text("attached_to_instance_ip"),
        _text("attached_to_instance_label"),
        _text("mount_id"),
        _integer("os_id"),
        _text("snapshot_id"),
        _flag("bootable"),
    ),
    _spec(
        "load_balancers",
        "load_balancers",
        ("id",),
        "Load balancers; the price depends on 'nodes'.",
        _id(),
        _text("label"),
        _moment("date_created"),
        _category("region"),
        _category("status"),
        _text("ipv4"),
        _text("ipv6"),
        _integer("nodes", "Node count, odd, 1 to 99."),
        _flag("has_ssl"),
        _flag("http2"),
        _flag("http3"),
        _category("balancing_algorithm", source=("generic_info", "balancing_algorithm")),
        _names("instances", "Attached instance ids."),
        _nested("generic_info"),
        _nested("health_check"),
        _nested("forwarding_rules"),
        _nested("firewall_rules"),
        _nested("node_ips"),
        _nested("auto_ssl"),
        _nested("global_regions"),
    ),
    _spec(
        "kubernetes_clusters",
        "kubernetes_clusters",
        ("id",),
        "Kubernetes (VKE) clusters; node pools are kept as JSON.",
        _id(),
        _text("label"),
        _moment("date_created"),
        _text("cluster_subnet"),
        _text("service_subnet"),
        _text("ip"),
        _text("endpoint"),
        _category("version"),
        _category("region"),
        _category("status"),
        _flag("ha_controlplanes"),
        _text("firewall_group_id"),
        _nested("node_pools", "Node pools with plan, node_quantity and nodes."),
    ),
    _spec(
        "object_storage",
        "object_storage",
        ("id",),
        "Object storage subscriptions; tier fields are flattened and absent tiers are null.",
        _id(),
        _text("label"),
        _moment("date_created"),
        _integer("cluster_id"),
        _category("region"),
        _category("status"),
        _text("s3_hostname"),
        _integer("tier_id", source=("tier", "OBJSTORETIERID")),
        _category("tier_slug", source=("tier", "slug")),
        _category("tier_sales_name", source=("tier", "sales_name")),
        _text("tier_sales_desc", source=("tier", "sales_desc")),
        _money("tier_price", "US dollars per month.", source=("tier", "price")),
        _money(
            "tier_bw_gb_price", "US dollars per GB of transfer.", source=("tier", "bw_gb_price")
        ),
        _money("tier_disk_gb_price", "US dollars per GB stored.", source=("tier", "disk_gb_price")),
        _flag("tier_is_default", "Vultr sends 'yes' or 'no'.", source=("tier", "is_default")),
        _integer("tier_ratelimit_ops_bytes", source=("tier", "ratelimit_ops_bytes")),
        _integer("tier_ratelimit_ops_secs", source=("tier", "ratelimit_ops_secs")),
    ),
    _spec(
        "reserved_ips",
        "reserved_ips",
        ("id",),
        "Reserved IP addresses; no cost field.",
        _id(),
        _text("label"),
        _category("region"),
        _category("ip_type", "v4 or v6."),
        _text("subnet"),
        _integer("subnet_size"),
        _text("instance_id", "Attached instance id, or empty."),
    ),
    _spec(
        "databases",
        "databases",
        ("id",),
        "Managed databases; region is lowercased to match the other tables.",
        _id(),
        _text("label"),
        _text("tag"),
        _moment("date_created", "Vultr sends it without an offset; read as UTC."),
        _category("plan"),
        _integer("plan_disk", "GB."),
        _integer("plan_ram", "MB."),
        _integer("plan_vcpus"),
        _integer("plan_replicas"),
        _integer("plan_brokers"),
        _category("region", "Region id, lowercased from Vultr's uppercase.", lowercase=True),
        _category("database_engine"),
        _category("database_engine_version", "Text; the spec example sends a number."),
        _text("vpc_id"),
        _category("status"),
        _text("dbname"),
        _text("host"),
        _text("public_host"),
        _text("user"),
        _text("port", "Text; the spec example sends a number."),
        _category("maintenance_dow"),
        _text("maintenance_time"),
        _text("backup_hour"),
        _text("backup_minute"),
        _moment("latest_backup"),
        _names("trusted_ips"),
        _text("cluster_time_zone"),
        _money("pending_charges", "US dollars."),
        _nested("read_replicas", "Replica database objects, secrets removed."),
    ),
)

RECORD_SPECS: dict[str, RecordSpec] = {spec.table: spec for spec in _TABLES}
"""Raw table specs keyed by table name."""
