"""Cost assets: line items, breakdowns, daily metrics and instance metadata (group vultr_costs).

Each asset loads raw tables, calls the plain functions of `vultr_pipeline.costs`, and returns
a DataFrame that the ClickHouse IO manager writes in place of the previous contents. Every
figure describes the instant the data was collected (`data_as_of`), never the wall clock, so
materializing the same raw data twice gives identical tables.
"""

from decimal import Decimal

import dagster as dg
import pandas as pd

from vultr_pipeline.costs.attribution import build_indexes
from vultr_pipeline.costs.breakdown import breakdown_mismatches, build_cost_breakdown
from vultr_pipeline.costs.inventory import build_instance_metadata
from vultr_pipeline.costs.line_items import accounts_as_of, build_cost_line_items
from vultr_pipeline.costs.metrics import build_cost_metrics
from vultr_pipeline.defs.metadata import markdown_preview
from vultr_pipeline.defs.tables import MONEY_TYPE, TIMESTAMP_TYPE

COSTS_GROUP = "vultr_costs"
COSTS_KINDS = {"vultr", "clickhouse", "pandas"}
NULLABLE_MONEY = f"Nullable({MONEY_TYPE})"
NULLABLE_TEXT = "Nullable(String)"
CATEGORY = "LowCardinality(String)"
NULLABLE_CATEGORY = "LowCardinality(Nullable(String))"

INSTANCE_METADATA_KEY = dg.AssetKey([COSTS_GROUP, "instance_metadata"])
LINE_ITEMS_KEY = dg.AssetKey([COSTS_GROUP, "cost_line_items"])
BREAKDOWN_KEY = dg.AssetKey([COSTS_GROUP, "cost_breakdown"])


def _raw(table: str) -> dg.AssetIn:
    return dg.AssetIn(key=dg.AssetKey(["vultr_raw", table]))


def _schema(*columns: tuple[str, str, str]) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name, kind, description=doc) for name, kind, doc in columns]
    )


def _table_metadata(schema: dg.TableSchema, order_by: list[str]) -> dict[str, object]:
    return {"dagster/column_schema": schema, "clickhouse/order_by": order_by}


def _money_text(value: Decimal) -> dg.MetadataValue:
    # Text keeps the Decimal exact; a float metadata value would not.
    return dg.MetadataValue.text(str(value))


INSTANCE_METADATA_SCHEMA = _schema(
    ("account_id", CATEGORY, "Name of the Vultr account."),
    ("resource_id", "String", "Instance or bare-metal server id."),
    ("resource_type", CATEGORY, "instance or bare_metal."),
    ("label", NULLABLE_TEXT, "Label."),
    ("region", NULLABLE_CATEGORY, "Region id, lowercase."),
    ("plan", NULLABLE_CATEGORY, "Plan id."),
    ("plan_type", NULLABLE_CATEGORY, "Plan type from the catalogue (bare metal: disk type)."),
    ("status", NULLABLE_CATEGORY, "Subscription status."),
    ("power_status", NULLABLE_CATEGORY, "running or stopped; null for bare metal."),
    ("tags", "Array(String)", "Tags."),
    ("features", "Array(String)", "Enabled features, such as auto_backups."),
    ("auto_backups", "Bool", "Whether automatic backups are on (and billed)."),
    ("vcpu_count", "Nullable(Int64)", "vCPUs (CPU cores for bare metal)."),
    ("ram_mb", "Nullable(Int64)", "RAM in MB."),
    ("main_ip", NULLABLE_TEXT, "Main IPv4 address."),
    ("date_created", f"Nullable({TIMESTAMP_TYPE})", "Creation time (UTC)."),
    ("is_gpu", "Bool", "Whether the plan is a Cloud GPU plan."),
    ("gpu_type", NULLABLE_CATEGORY, "GPU model as Vultr names it, such as NVIDIA_A100."),
    ("gpu_vram_gb", "Nullable(Int64)", "Total VRAM of the plan in GB."),
    ("gpu_count", NULLABLE_MONEY, "GPUs: total VRAM over one card's VRAM; below 1 is a share."),
    ("hourly_cost", NULLABLE_MONEY, "USD per hour in the server's region."),
    ("monthly_cost", NULLABLE_MONEY, "USD per month in the server's region."),
    ("price_source", CATEGORY, "location_cost, plan or none: where the price came from."),
)

LINE_ITEMS_SCHEMA = _schema(
    ("account_id", CATEGORY, "Name of the Vultr account."),
    ("line_id", "String", "invoice:<invoice_id>:<line_number> or pending:<YYYY-MM>:<line>."),
    ("source", CATEGORY, "invoice or pending."),
    ("invoice_id", "Nullable(Int64)", "Invoice id; null for pending charges."),
    ("line_number", "Int64", "1-based position of the item in its invoice or pending list."),
    ("billing_month", "Date", "First day of the billed month."),
    ("charge_period_start", TIMESTAMP_TYPE, "Start of the charged period (UTC)."),
    ("charge_period_end", TIMESTAMP_TYPE, "End of the charged period (UTC, exclusive)."),
    ("product", NULLABLE_CATEGORY, "Vultr product name as billed."),
    ("description", NULLABLE_TEXT, "Item description as billed."),
    ("units", NULLABLE_MONEY, "Billed units."),
    ("unit_type", NULLABLE_CATEGORY, "Unit, such as hours or GB."),
    ("unit_price", NULLABLE_MONEY, "USD per unit."),
    ("amount", MONEY_TYPE, "Billed USD (the item's total)."),
    ("service_category", CATEGORY, "Service category, such as compute or gpu."),
    ("resource_id", NULLABLE_TEXT, "Attributed resource id."),
    ("resource_type", NULLABLE_CATEGORY, "Attributed resource type."),
    ("resource_label", NULLABLE_TEXT, "Attributed resource label."),
    ("region", NULLABLE_CATEGORY, "Region of the attributed resource."),
    ("plan", NULLABLE_CATEGORY, "Plan of the attributed resource."),
    ("tags", "Array(String)", "Tags of the attributed resource."),
    ("is_gpu", "Bool", "Whether the line bills a GPU server or GPU service."),
    ("match_confidence", CATEGORY, "exact, probable or none."),
)

BREAKDOWN_SCHEMA = _schema(
    ("account_id", CATEGORY, "Name of the Vultr account."),
    ("grain", CATEGORY, "month or day."),
    ("period_start", "Date", "First day of the month, or the day."),
    ("dimension", CATEGORY, "service_category, region, plan, gpu_vs_cpu or tag."),
    ("dimension_value", "String", "Value of the dimension."),
    ("amount", MONEY_TYPE, "USD; day amounts are prorated by hour to the cent."),
    ("line_count", "Int64", "Line items with a share in this row."),
)

_METRIC_MONEY = (
    ("balance", "Account balance; negative is prepaid credit."),
    ("pending_charges", "Unbilled charges of the month, as the account reports them."),
    ("month_to_date_spend", "Sum of this month's line items."),
    ("compute_cost", "Month to date: compute, bare_metal and kubernetes."),
    ("gpu_cost", "Month to date: gpu."),
    ("storage_cost", "Month to date: block_storage, object_storage and snapshot."),
    ("network_cost", "Month to date: bandwidth, load_balancer, reserved_ip, ddos_protection."),
    ("backup_cost", "Month to date: backup."),
    ("database_cost", "Month to date: database."),
    ("other_cost", "Month to date: other (discounts and unknown products)."),
)
METRICS_SCHEMA = _schema(
    ("account_id", CATEGORY, "Name of the Vultr account."),
    ("as_of", TIMESTAMP_TYPE, "Instant the figures describe (UTC)."),
    ("metrics_date", "Date", "Day of as_of."),
    ("month_start", "Date", "First day of the month of as_of."),
    *(
        (name, NULLABLE_MONEY if name in ("balance", "pending_charges") else MONEY_TYPE, doc)
        for name, doc in _METRIC_MONEY
    ),  # fmt: skip
    ("instance_count", "Int64", "Cloud instances, GPU instances included."),
    ("gpu_instance_count", "Int64", "Cloud GPU instances."),
    ("bare_metal_count", "Int64", "Bare-metal servers."),
    ("idle_instance_count", "Int64", "Stopped instances billed this month."),
    ("idle_instance_cost", MONEY_TYPE, "Month-to-date spend of the idle instances."),
    ("underutilized_resource_count", "Int64", "Unattached blocks and IPs, empty LBs."),
    ("underutilized_resource_cost", MONEY_TYPE, "Their month-to-date spend."),
    ("snapshot_waste", MONEY_TYPE, "Snapshot spend this month."),
    ("net_credit", NULLABLE_MONEY, "-balance - pending_charges; negative means owed."),
    ("remaining_credit", NULLABLE_MONEY, "net_credit floored at zero."),
    ("burn_rate_per_day", NULLABLE_MONEY, "Month-to-date spend per elapsed day, in cents."),
    ("credit_days_remaining", NULLABLE_MONEY, "Days the remaining credit lasts at that rate."),
    ("last_month_spend", MONEY_TYPE, "Invoiced spend of the last closed month."),
    ("previous_month_spend", MONEY_TYPE, "Invoiced spend of the month before it."),
    ("month_over_month_change", MONEY_TYPE, "last_month_spend - previous_month_spend."),
    ("month_over_month_change_pct", NULLABLE_MONEY, "Change in percent of the earlier month."),
)


@dg.asset(
    key=INSTANCE_METADATA_KEY,
    group_name=COSTS_GROUP,
    kinds=COSTS_KINDS,
    metadata=_table_metadata(INSTANCE_METADATA_SCHEMA, ["account_id", "resource_id"]),
    io_manager_key="clickhouse",
    ins={
        "instances": _raw("instances"),
        "bare_metals": _raw("bare_metals"),
        "plans": _raw("plans"),
        "metal_plans": _raw("metal_plans"),
    },
)
def instance_metadata(
    context: dg.AssetExecutionContext,
    instances: pd.DataFrame,
    bare_metals: pd.DataFrame,
    plans: pd.DataFrame,
    metal_plans: pd.DataFrame,
) -> pd.DataFrame:
    """Every cloud instance and bare-metal server with its plan, GPU details and list price.

    The price is the plan's price in the server's region (`location_cost` when the region
    has its own price). For GPU plans, `gpu_count` is the plan's total VRAM over one card's
    VRAM, so a fractional-GPU plan shows a value below 1. An unknown card leaves it null.
    """
    frame, report = build_instance_metadata(instances, bare_metals, plans, metal_plans)
    for gpu_type, count in sorted(report.unknown_gpu_types.items()):
        context.log.warning(
            "GPU type %s has no known per-card VRAM, so gpu_count is null for %s servers; "
            "add it to GPU_CARD_VRAM_GB",
            gpu_type,
            count,
        )
    context.add_output_metadata(
        {
            "instances": int((frame["resource_type"] == "instance").sum()),
            "bare_metal": int((frame["resource_type"] == "bare_metal").sum()),
            "gpu_servers": int(frame["is_gpu"].astype(bool).sum()),
            "unknown_gpu_type_servers": sum(report.unknown_gpu_types.values()),
            "unpriced_servers": report.unpriced,
            "preview": dg.MetadataValue.md(markdown_preview(frame)),
        }
    )
    return frame


@dg.asset(
    key=LINE_ITEMS_KEY,
    group_name=COSTS_GROUP,
    kinds=COSTS_KINDS,
    metadata=_table_metadata(LINE_ITEMS_SCHEMA, ["account_id", "line_id"]),
    io_manager_key="clickhouse",
    ins={
        "invoices": _raw("invoices"),
        "invoice_items": _raw("invoice_items"),
        "pending_charges": _raw("pending_charges"),
        "account": _raw("account"),
        "instance_metadata": dg.AssetIn(key=INSTANCE_METADATA_KEY),
        "blocks": _raw("blocks"),
        "snapshots": _raw("snapshots"),
        "load_balancers": _raw("load_balancers"),
        "reserved_ips": _raw("reserved_ips"),
        "object_storage": _raw("object_storage"),
        "kubernetes_clusters": _raw("kubernetes_clusters"),
        "databases": _raw("databases"),
    },
)
def cost_line_items(
    context: dg.AssetExecutionContext,
    invoices: pd.DataFrame,
    invoice_items: pd.DataFrame,
    pending_charges: pd.DataFrame,
    account: pd.DataFrame,
    instance_metadata: pd.DataFrame,
    blocks: pd.DataFrame,
    snapshots: pd.DataFrame,
    load_balancers: pd.DataFrame,
    reserved_ips: pd.DataFrame,
    object_storage: pd.DataFrame,
    kubernetes_clusters: pd.DataFrame,
    databases: pd.DataFrame,
) -> pd.DataFrame:
    """Every billed line, closed months and the open month, with its service and resource.

    Invoice items bill the month before their invoice's date (Vultr invoices a month on the
    first of the next); pending charges bill the current month. Each line gets a service
    category from its product, and the resource its description names, matched against the
    inventory with a confidence of exact, probable or none. Lines naming several equally
    likely resources stay unattributed and are counted as ambiguous.
    """
    as_of = accounts_as_of(pending_charges, account)
    indexes = build_indexes(
        instance_metadata,
        blocks=blocks,
        snapshots=snapshots,
        load_balancers=load_balancers,
        reserved_ips=reserved_ips,
        object_storage=object_storage,
        kubernetes_clusters=kubernetes_clusters,
        databases=databases,
    )
    frame, report = build_cost_line_items(invoices, invoice_items, pending_charges, indexes, as_of)
    if report.unknown_products:
        context.log.warning("Products with no known category: %s", dict(report.unknown_products))
    if report.ambiguous_lines:
        context.log.warning("Lines matching several resources: %s", report.ambiguous_lines)
    context.add_output_metadata(
        {
            "as_of": dg.MetadataValue.text(", ".join(f"{a}: {t}" for a, t in as_of.items())),
            "total_amount": _money_text(sum(frame["amount"], Decimal(0))),
            "unknown_product_lines": sum(report.unknown_products.values()),
            "unknown_products": dg.MetadataValue.json(dict(report.unknown_products)),
            "exact_matches": report.confidences["exact"],
            "probable_matches": report.confidences["probable"],
            "unmatched_lines": report.outcomes["unmatched"],
            "ambiguous_lines": report.outcomes["ambiguous"],
            "lines_without_resource": report.outcomes["no_resource"],
            "invoices_without_header": len(report.invoices_without_header),
            "preview": dg.MetadataValue.md(markdown_preview(frame)),
        }
    )
    return frame


@dg.asset(
    key=BREAKDOWN_KEY,
    group_name=COSTS_GROUP,
    kinds=COSTS_KINDS,
    metadata=_table_metadata(
        BREAKDOWN_SCHEMA, ["account_id", "grain", "dimension", "period_start", "dimension_value"]
    ),
    io_manager_key="clickhouse",
    ins={"cost_line_items": dg.AssetIn(key=LINE_ITEMS_KEY)},
)
def cost_breakdown(
    context: dg.AssetExecutionContext, cost_line_items: pd.DataFrame
) -> pd.DataFrame:
    """Spend per month and per day by service category, region, plan, GPU vs CPU and tag.

    Long format: one row per account, grain, period, dimension and value. Day amounts spread
    each line over its charge period by hour, to the cent, so they add up to the line. A
    line with several tags counts in each tag (`untagged` when it has none). The tag rows
    can therefore add up to more than the spend, while every other dimension adds up to it
    exactly.
    """
    frame = build_cost_breakdown(cost_line_items)
    context.add_output_metadata(
        {
            "month_rows": int((frame["grain"] == "month").sum()),
            "day_rows": int((frame["grain"] == "day").sum()),
            "line_total": _money_text(sum(cost_line_items["amount"], Decimal(0))),
        }
    )
    return frame


@dg.asset(
    key=dg.AssetKey([COSTS_GROUP, "cost_metrics"]),
    group_name=COSTS_GROUP,
    kinds=COSTS_KINDS,
    metadata=_table_metadata(METRICS_SCHEMA, ["account_id", "metrics_date"]),
    io_manager_key="clickhouse",
    ins={
        "cost_line_items": dg.AssetIn(key=LINE_ITEMS_KEY),
        "instance_metadata": dg.AssetIn(key=INSTANCE_METADATA_KEY),
        "account": _raw("account"),
        "pending_charges": _raw("pending_charges"),
        "blocks": _raw("blocks"),
        "reserved_ips": _raw("reserved_ips"),
        "load_balancers": _raw("load_balancers"),
    },
)
def cost_metrics(
    context: dg.AssetExecutionContext,
    cost_line_items: pd.DataFrame,
    instance_metadata: pd.DataFrame,
    account: pd.DataFrame,
    pending_charges: pd.DataFrame,
    blocks: pd.DataFrame,
    reserved_ips: pd.DataFrame,
    load_balancers: pd.DataFrame,
) -> pd.DataFrame:
    """Daily account figures: spend by service group, server counts, waste and credit runway.

    Besides balance and month-to-date spend by service group, the row counts servers and
    compares the last closed month with the one before. Idle instances are stopped but
    billed. Underutilized resources are unattached block volumes and reserved IPs, and load
    balancers without instances. Remaining credit is `-balance - pending_charges` floored at
    zero, and it lasts remaining credit ÷ (month-to-date spend ÷ elapsed days) days.
    """
    as_of = accounts_as_of(pending_charges, account)
    frame = build_cost_metrics(
        cost_line_items, instance_metadata, account, blocks, reserved_ips, load_balancers, as_of
    )
    context.add_output_metadata(
        {"preview": dg.MetadataValue.md(markdown_preview(frame.T.reset_index(), rows=40))}
    )
    return frame


@dg.asset_check(
    asset=BREAKDOWN_KEY,
    additional_ins={"cost_line_items": dg.AssetIn(key=LINE_ITEMS_KEY)},
)
def cost_breakdown_reconciles(
    cost_breakdown: pd.DataFrame, cost_line_items: pd.DataFrame
) -> dg.AssetCheckResult:
    """Check that every breakdown dimension but `tag` adds up exactly to the line items."""
    problems = breakdown_mismatches(cost_breakdown, cost_line_items)
    return dg.AssetCheckResult(
        passed=not problems,
        description="; ".join(problems[:10]) if problems else "Every dimension reconciles.",
        metadata={"mismatches": len(problems)},
    )


ASSETS = [instance_metadata, cost_line_items, cost_breakdown, cost_metrics]
CHECKS = [cost_breakdown_reconciles]
