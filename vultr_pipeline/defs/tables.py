"""ClickHouse table layout of the raw Vultr tables, derived from the record specs.

The record specs in `vultr_pipeline.vultr.records` name logical kinds; this module maps each kind
to the ClickHouse column type that the IO manager creates, and adds the columns every raw table
shares (`account_id`, the partition column, `raw`, `collected_at`). Each raw table has a rejects
table with the same partitions, for the records whose values could not be read.
"""

from __future__ import annotations

import dagster as dg

from vultr_pipeline.vultr.records import Field, Kind, RecordSpec

# Money keeps ten decimal places: Vultr prices have up to five (hourly rates), and per-unit
# prices of fractional GPU plans may carry more. Decimal128 leaves 28 integer digits.
MONEY_TYPE = "Decimal(38, 10)"
TIMESTAMP_TYPE = "DateTime64(3, 'UTC')"
# Tables partitioned by billing month; every other raw table is a daily snapshot.
MONTHLY_TABLES = frozenset({"invoices", "invoice_items"})

_BASE_TYPES: dict[Kind, str] = {
    Kind.STRING: "String",
    Kind.LOW_CARDINALITY: "String",
    Kind.INT: "Int64",
    Kind.MONEY: MONEY_TYPE,
    Kind.DECIMAL: MONEY_TYPE,
    Kind.DATETIME: TIMESTAMP_TYPE,
    Kind.BOOL: "Bool",
    Kind.JSON: "String",
}

ACCOUNT_COLUMN = dg.TableColumn(
    "account_id",
    "LowCardinality(String)",
    description="Name of the Vultr account the row was collected from.",
)
RAW_COLUMN = dg.TableColumn(
    "raw",
    "String",
    description="The API record as JSON text, with secret fields removed.",
)
SNAPSHOT_DATE_COLUMN = dg.TableColumn(
    "snapshot_date",
    "Date",
    description="UTC day of the daily snapshot the row belongs to (its partition).",
)
BILLING_MONTH_COLUMN = dg.TableColumn(
    "billing_month",
    "Date",
    description="First day of the billing month the row belongs to (its partition).",
)
COLLECTED_AT_COLUMN = dg.TableColumn(
    "collected_at",
    TIMESTAMP_TYPE,
    description="When the pipeline fetched the record (UTC).",
)


def clickhouse_type(field: Field) -> str:
    """Return the ClickHouse column type that stores `field`."""
    if field.kind is Kind.STRING_LIST:
        return "Array(String)"
    base = _BASE_TYPES[field.kind]
    if not field.required:
        base = f"Nullable({base})"
    if field.kind is Kind.LOW_CARDINALITY:
        base = f"LowCardinality({base})"
    return base


def partition_column(spec: RecordSpec) -> dg.TableColumn:
    """Return the partition column of the raw table for `spec`: billing month or snapshot day."""
    if spec.table in MONTHLY_TABLES:
        return BILLING_MONTH_COLUMN
    return SNAPSHOT_DATE_COLUMN


def table_schema(spec: RecordSpec) -> dg.TableSchema:
    """Build the column schema of the raw table for `spec`, in the order rows are written."""
    columns = [ACCOUNT_COLUMN, partition_column(spec)]
    columns += [dg.TableColumn(f.name, clickhouse_type(f), description=f.doc) for f in spec.fields]
    columns += [RAW_COLUMN, COLLECTED_AT_COLUMN]
    return dg.TableSchema(columns=columns)


def order_by(spec: RecordSpec) -> list[str]:
    """Return the MergeTree sort key of the raw table for `spec`."""
    return ["account_id", partition_column(spec).name, *spec.order_by]


REJECT_COLUMNS = (
    dg.TableColumn(
        "record_id",
        "Nullable(String)",
        description="The record's id, else its invoice_id, line_number or period; null if none.",
    ),
    dg.TableColumn(
        "field",
        "String",
        description="First column, in table order, whose value could not be read.",
    ),
    dg.TableColumn(
        "reason",
        "String",
        description="What was wrong with the value, and what was expected.",
    ),
)


def rejects_schema(spec: RecordSpec) -> dg.TableSchema:
    """Build the column schema of the rejects table of raw table `spec.table`."""
    columns = [ACCOUNT_COLUMN, partition_column(spec), *REJECT_COLUMNS]
    columns += [RAW_COLUMN, COLLECTED_AT_COLUMN]
    return dg.TableSchema(columns=columns)


def rejects_order_by(spec: RecordSpec) -> list[str]:
    """Return the MergeTree sort key of the rejects table of raw table `spec.table`."""
    return ["account_id", partition_column(spec).name, "field"]
