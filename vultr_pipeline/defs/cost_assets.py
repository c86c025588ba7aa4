"""Cost assets: line items, breakdowns, daily metrics and instance metadata (group vultr_costs).

Each asset loads raw tables, calls the plain functions of `vultr_pipeline.costs` once per
account and partition, and returns a DataFrame whose partitions the ClickHouse IO manager
replaces. Line items and breakdowns are partitioned by account × billing month; instance
metadata, the pending lines of a day and the metrics by account × UTC day. Inputs of the
other cadence go through `HistoryInputManager` with the partition mappings of
`defs.partitions`. Every figure describes the instant the data was collected (`data_as_of`),
never the wall clock, so materializing the same raw data twice gives identical tables.
"""

import datetime as dt
from collections import Counter
from decimal import Decimal

import dagster as dg
import pandas as pd

from vultr_pipeline.costs.attribution import Indexes, build_indexes
from vultr_pipeline.costs.breakdown import breakdown_mismatches, build_cost_breakdown
from vultr_pipeline.costs.inventory import build_instance_metadata
from vultr_pipeline.costs.line_items import (
    LINE_ITEM_COLUMNS,
    PENDING,
    LineItemReport,
    accounts_as_of,
    build_cost_line_items,
    next_month,
)
from vultr_pipeline.costs.metrics import build_cost_metrics
from vultr_pipeline.defs.charts import daily_spend_from_breakdown, daily_spend_metadata
from vultr_pipeline.defs.history import (
    account_rows,
    as_dates,
    concat,
    latest_snapshot_day,
    month_rows,
    rows_on,
    snapshot,
    snapshot_for_month,
    with_partition_column,
)
from vultr_pipeline.defs.metadata import markdown_preview
from vultr_pipeline.defs.partitions import (
    ACCOUNT_DIMENSION,
    DAY_DIMENSION,
    MONTH_DIMENSION,
    Partitions,
    all_days_mapping,
    days_of_month_mapping,
    monthly_key,
    recent_months_mapping,
    starts_by_account,
)
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
PENDING_LINE_ITEMS_KEY = dg.AssetKey([COSTS_GROUP, "pending_line_items"])
HISTORY_INPUT_MANAGER = "clickhouse_history"
MONTHLY_PARTITION_EXPR = {ACCOUNT_DIMENSION: "account_id", MONTH_DIMENSION: "billing_month"}
DAILY_PARTITION_EXPR = {ACCOUNT_DIMENSION: "account_id", DAY_DIMENSION: "snapshot_date"}
SNAPSHOT_DATE_COLUMN = dg.TableColumn(
    "snapshot_date", "Date", description="UTC day of the snapshot the row was computed from."
)


def _raw_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["vultr_raw", table])


def _raw(table: str) -> dg.AssetIn:
    return dg.AssetIn(key=_raw_key(table))


def history_input(key: dg.AssetKey, mapping: dg.PartitionMapping) -> dg.AssetIn:
    """Declare an input of the other cadence, loaded by `HistoryInputManager`."""
    return dg.AssetIn(key=key, partition_mapping=mapping, input_manager_key=HISTORY_INPUT_MANAGER)


def daily_schema(schema: dg.TableSchema) -> dg.TableSchema:
    """Return `schema` with the `snapshot_date` partition column after `account_id`."""
    return dg.TableSchema(columns=[schema.columns[0], SNAPSHOT_DATE_COLUMN, *schema.columns[1:]])


def column_names(schema: dg.TableSchema) -> list[str]:
    """Return the column names of `schema` in order."""
    return [column.name for column in schema.columns]


def _schema(*columns: tuple[str, str, str]) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name, kind, description=doc) for name, kind, doc in columns]
    )


def _table_metadata(
    schema: dg.TableSchema, order_by: list[str], partition_expr: dict[str, str]
) -> dict[str, object]:
    return {
        "dagster/column_schema": schema,
        "clickhouse/order_by": order_by,
        "partition_expr": partition_expr,
    }


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


PENDING_LINE_ITEMS_SCHEMA = daily_schema(LINE_ITEMS_SCHEMA)
DAILY_INSTANCE_METADATA_SCHEMA = daily_schema(INSTANCE_METADATA_SCHEMA)
DAILY_METRICS_SCHEMA = daily_schema(METRICS_SCHEMA)
MONTHLY_BREAKDOWN_SCHEMA = dg.TableSchema(
    columns=[
        BREAKDOWN_SCHEMA.columns[0],
        dg.TableColumn("billing_month", "Date", description="Billing month of the line items."),
        *BREAKDOWN_SCHEMA.columns[1:],
    ]
)
DAILY_INSTANCE_METADATA_SCHEMA_NAMES = column_names(DAILY_INSTANCE_METADATA_SCHEMA)
PENDING_LINE_ITEMS_NAMES = column_names(PENDING_LINE_ITEMS_SCHEMA)
DAILY_METRICS_NAMES = column_names(DAILY_METRICS_SCHEMA)
MONTHLY_BREAKDOWN_NAMES = column_names(MONTHLY_BREAKDOWN_SCHEMA)
INVENTORY_TABLES = (
    "blocks",
    "snapshots",
    "load_balancers",
    "reserved_ips",
    "object_storage",
    "kubernetes_clusters",
    "databases",
)


def _merge_reports(reports: list[LineItemReport]) -> LineItemReport:
    merged = LineItemReport()
    for report in reports:
        merged.unknown_products.update(report.unknown_products)
        merged.outcomes.update(report.outcomes)
        merged.confidences.update(report.confidences)
        merged.ambiguous_lines.update(report.ambiguous_lines)
        merged.invoices_without_header |= report.invoices_without_header
        merged.missing_totals += report.missing_totals
    return merged


def _line_item_metadata(frame: pd.DataFrame, report: LineItemReport) -> dict[str, object]:
    return {
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


def _log_report(context: dg.AssetExecutionContext, report: LineItemReport) -> None:
    if report.unknown_products:
        context.log.warning("Products with no known category: %s", dict(report.unknown_products))
    if report.ambiguous_lines:
        context.log.warning("Lines matching several resources: %s", report.ambiguous_lines)


def _indexes(instance_metadata: pd.DataFrame, inventory: dict[str, pd.DataFrame]) -> Indexes:
    return build_indexes(instance_metadata, **inventory)


def _instance_metadata_asset(partitions: Partitions) -> dg.AssetsDefinition:
    @dg.asset(
        key=INSTANCE_METADATA_KEY,
        group_name=COSTS_GROUP,
        kinds=COSTS_KINDS,
        metadata=_table_metadata(
            DAILY_INSTANCE_METADATA_SCHEMA,
            ["account_id", "snapshot_date", "resource_id"],
            DAILY_PARTITION_EXPR,
        ),
        io_manager_key="clickhouse",
        partitions_def=partitions.daily,
        ins={name: _raw(name) for name in ("instances", "bare_metals", "plans", "metal_plans")},
    )
    def instance_metadata(
        context: dg.AssetExecutionContext,
        instances: pd.DataFrame,
        bare_metals: pd.DataFrame,
        plans: pd.DataFrame,
        metal_plans: pd.DataFrame,
    ) -> pd.DataFrame:
        """Every cloud instance and bare-metal server with its plan, GPU details and list price.

        One snapshot per account and UTC day. The price is the plan's price in the server's
        region (`location_cost` when the region has its own price). For GPU plans,
        `gpu_count` is the plan's total VRAM over one card's VRAM, so a fractional-GPU plan
        shows a value below 1. An unknown card leaves it null.
        """
        frames = []
        unknown: Counter[str] = Counter()
        unpriced = 0
        for account, days in starts_by_account(context.partition_keys, DAY_DIMENSION).items():
            for day in days:
                frame, report = build_instance_metadata(
                    snapshot(instances, account, day),
                    snapshot(bare_metals, account, day),
                    snapshot(plans, account, day),
                    snapshot(metal_plans, account, day),
                )
                unknown.update(report.unknown_gpu_types)
                unpriced += report.unpriced
                frames.append(with_partition_column(frame, "snapshot_date", day))
        frame = concat(frames, DAILY_INSTANCE_METADATA_SCHEMA_NAMES)
        for gpu_type, count in sorted(unknown.items()):
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
                "unknown_gpu_type_servers": sum(unknown.values()),
                "unpriced_servers": unpriced,
                "preview": dg.MetadataValue.md(markdown_preview(frame)),
            }
        )
        return frame

    return instance_metadata


def _pending_line_items_asset(partitions: Partitions) -> dg.AssetsDefinition:
    @dg.asset(
        key=PENDING_LINE_ITEMS_KEY,
        group_name=COSTS_GROUP,
        kinds=COSTS_KINDS,
        metadata=_table_metadata(
            PENDING_LINE_ITEMS_SCHEMA,
            ["account_id", "snapshot_date", "line_id"],
            DAILY_PARTITION_EXPR,
        ),
        io_manager_key="clickhouse",
        partitions_def=partitions.daily,
        ins={
            "pending_charges": _raw("pending_charges"),
            "account": _raw("account"),
            "instance_metadata": dg.AssetIn(key=INSTANCE_METADATA_KEY),
            **{name: _raw(name) for name in INVENTORY_TABLES},
        },
    )
    def pending_line_items(
        context: dg.AssetExecutionContext,
        pending_charges: pd.DataFrame,
        account: pd.DataFrame,
        instance_metadata: pd.DataFrame,
        **inventory: pd.DataFrame,
    ) -> pd.DataFrame:
        """The open month's pending charges of one day, categorized and attributed.

        Same columns as cost_line_items, plus the snapshot day. Pending charges bill the
        month of the instant they describe; the inventory of the same day names the
        resources.
        """
        frames, reports = [], []
        for name, days in starts_by_account(context.partition_keys, DAY_DIMENSION).items():
            for day in days:
                pending = snapshot(pending_charges, name, day)
                as_of = accounts_as_of(pending, snapshot(account, name, day))
                indexes = _indexes(
                    snapshot(instance_metadata, name, day),
                    {table: snapshot(frame, name, day) for table, frame in inventory.items()},
                )
                frame, report = build_cost_line_items(
                    pd.DataFrame(), pd.DataFrame(), pending, indexes, as_of
                )
                frames.append(with_partition_column(frame, "snapshot_date", day))
                reports.append(report)
        frame = concat(frames, PENDING_LINE_ITEMS_NAMES)
        report = _merge_reports(reports)
        _log_report(context, report)
        context.add_output_metadata(_line_item_metadata(frame, report))
        return frame

    return pending_line_items


def month_line_items(
    account: str,
    month: dt.date,
    invoices: pd.DataFrame,
    invoice_items: pd.DataFrame,
    pending_line_items: pd.DataFrame,
    indexes: Indexes,
) -> tuple[pd.DataFrame, LineItemReport]:
    """Build the line items of one account's billing month.

    The month's invoice items when its invoice exists; otherwise the pending lines of the
    last day collected in the month that bill this month (none before the first snapshot).
    """
    month_invoices = month_rows(invoices, account, month)
    items = month_rows(invoice_items, account, month)
    frame, report = build_cost_line_items(
        month_invoices.drop(columns=["billing_month"]),
        items.drop(columns=["billing_month"]),
        pd.DataFrame(),
        indexes,
        {},
    )
    if month_invoices.empty:
        day = latest_snapshot_day(pending_line_items, account, next_month(month))
        pending = snapshot(pending_line_items, account, day)
        pending = rows_on(pending, "billing_month", month)
        frame = concat([frame, pending], list(LINE_ITEM_COLUMNS))
    return frame, report


def _cost_line_items_asset(partitions: Partitions) -> dg.AssetsDefinition:
    every_day = all_days_mapping()

    @dg.asset(
        key=LINE_ITEMS_KEY,
        group_name=COSTS_GROUP,
        kinds=COSTS_KINDS,
        metadata=_table_metadata(
            LINE_ITEMS_SCHEMA, ["account_id", "billing_month", "line_id"], MONTHLY_PARTITION_EXPR
        ),
        io_manager_key="clickhouse",
        partitions_def=partitions.monthly,
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={
            "invoices": _raw("invoices"),
            "invoice_items": _raw("invoice_items"),
            "pending_line_items": history_input(PENDING_LINE_ITEMS_KEY, days_of_month_mapping()),
            "instance_metadata": history_input(INSTANCE_METADATA_KEY, every_day),
            **{name: history_input(_raw_key(name), every_day) for name in INVENTORY_TABLES},
        },
    )
    def cost_line_items(
        context: dg.AssetExecutionContext,
        invoices: pd.DataFrame,
        invoice_items: pd.DataFrame,
        pending_line_items: pd.DataFrame,
        instance_metadata: pd.DataFrame,
        **inventory: pd.DataFrame,
    ) -> pd.DataFrame:
        """Every billed line of a billing month, with its service category and resource.

        A closed month holds its invoice's items: an invoice bills the month before its
        date (Vultr invoices a month on the first of the next). A month without an invoice
        yet holds the pending charges of the last day collected in it. Each line gets a
        service category from its product, and the resource its description names, matched
        against the last inventory snapshot of the month (or the first snapshot, for months
        before it) with a confidence of exact, probable or none. Lines naming several
        equally likely resources stay unattributed and are counted as ambiguous.
        """
        frames, reports = [], []
        for name, months in starts_by_account(context.partition_keys, MONTH_DIMENSION).items():
            for month in months:
                indexes = _indexes(
                    snapshot_for_month(instance_metadata, name, month),
                    {t: snapshot_for_month(f, name, month) for t, f in inventory.items()},
                )
                frame, report = month_line_items(
                    name, month, invoices, invoice_items, pending_line_items, indexes
                )
                frames.append(frame)
                reports.append(report)
        frame = concat(frames, list(LINE_ITEM_COLUMNS))
        report = _merge_reports(reports)
        _log_report(context, report)
        context.add_output_metadata(_line_item_metadata(frame, report))
        return frame

    return cost_line_items


def _cost_breakdown_asset(partitions: Partitions) -> dg.AssetsDefinition:
    @dg.asset(
        key=BREAKDOWN_KEY,
        group_name=COSTS_GROUP,
        kinds=COSTS_KINDS,
        metadata=_table_metadata(
            MONTHLY_BREAKDOWN_SCHEMA,
            [
                "account_id",
                "billing_month",
                "grain",
                "dimension",
                "period_start",
                "dimension_value",
            ],
            MONTHLY_PARTITION_EXPR,
        ),
        io_manager_key="clickhouse",
        partitions_def=partitions.monthly,
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={"cost_line_items": dg.AssetIn(key=LINE_ITEMS_KEY)},
    )
    def cost_breakdown(
        context: dg.AssetExecutionContext, cost_line_items: pd.DataFrame
    ) -> pd.DataFrame:
        """Spend per month and per day by service category, region, plan, GPU vs CPU and tag.

        Long format: one row per account, grain, period, dimension and value, computed from
        the line items of one billing month. Day amounts spread each line over its charge
        period by hour, to the cent, so they add up to the line. A line with several tags
        counts in each tag (`untagged` when it has none). The tag rows can therefore add up
        to more than the spend, while every other dimension adds up to it exactly.
        """
        frames = []
        for name, months in starts_by_account(context.partition_keys, MONTH_DIMENSION).items():
            for month in months:
                lines = month_rows(cost_line_items, name, month).reset_index(drop=True)
                frame = with_partition_column(build_cost_breakdown(lines), "billing_month", month)
                frames.append(frame)
                # Each partition of a range run gets the figures and the chart of its own month.
                context.add_asset_metadata(
                    _breakdown_metadata(frame, lines, month),
                    partition_key=monthly_key(name, month),
                )
        return concat(frames, MONTHLY_BREAKDOWN_NAMES)

    return cost_breakdown


def _breakdown_metadata(
    frame: pd.DataFrame, lines: pd.DataFrame, month: dt.date
) -> dict[str, object]:
    return {
        "month_rows": int((frame["grain"] == "month").sum()),
        "day_rows": int((frame["grain"] == "day").sum()),
        "line_total": _money_text(sum(lines["amount"], Decimal(0))),
        **daily_spend_metadata(daily_spend_from_breakdown(frame, month)),
    }


def daily_line_items(
    account: str,
    day: dt.date,
    history: pd.DataFrame,
    pending_line_items: pd.DataFrame,
) -> pd.DataFrame:
    """Return the line items known on `day`: stored months, with that day's pending lines.

    Pending lines of the months the day's pending charges bill (and later ones) come from
    that day's snapshot, so a daily figure never depends on when the monthly job last ran.
    """
    today = snapshot(pending_line_items, account, day)
    history = account_rows(history, account)
    if not today.empty:
        open_months = {month for month in as_dates(today["billing_month"]) if month}
        first_open = min(open_months)
        keep = [
            source != PENDING or (month is not None and month < first_open)
            for source, month in zip(
                history["source"], as_dates(history["billing_month"]), strict=True
            )
        ]
        history = history[keep]
    return concat([history, today], list(LINE_ITEM_COLUMNS))


def _cost_metrics_asset(partitions: Partitions) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey([COSTS_GROUP, "cost_metrics"]),
        group_name=COSTS_GROUP,
        kinds=COSTS_KINDS,
        metadata=_table_metadata(
            DAILY_METRICS_SCHEMA,
            ["account_id", "snapshot_date", "metrics_date"],
            DAILY_PARTITION_EXPR,
        ),
        io_manager_key="clickhouse",
        partitions_def=partitions.daily,
        ins={
            "cost_line_items": history_input(LINE_ITEMS_KEY, recent_months_mapping()),
            "pending_line_items": dg.AssetIn(key=PENDING_LINE_ITEMS_KEY),
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
        pending_line_items: pd.DataFrame,
        instance_metadata: pd.DataFrame,
        account: pd.DataFrame,
        pending_charges: pd.DataFrame,
        blocks: pd.DataFrame,
        reserved_ips: pd.DataFrame,
        load_balancers: pd.DataFrame,
    ) -> pd.DataFrame:
        """Daily account figures: spend by service group, server counts, waste and credit runway.

        One row per account and UTC day of collection. Besides balance and month-to-date
        spend by service group, the row counts servers and compares the last closed month
        with the one before. Idle instances are stopped but billed. Underutilized resources
        are unattached block volumes and reserved IPs, and load balancers without instances.
        Remaining credit is `-balance - pending_charges` floored at zero, and it lasts
        remaining credit ÷ (month-to-date spend ÷ elapsed days) days.
        """
        frames = []
        for name, days in starts_by_account(context.partition_keys, DAY_DIMENSION).items():
            for day in days:
                day_account = snapshot(account, name, day)
                as_of = accounts_as_of(snapshot(pending_charges, name, day), day_account)
                frame = build_cost_metrics(
                    daily_line_items(name, day, cost_line_items, pending_line_items),
                    snapshot(instance_metadata, name, day),
                    day_account,
                    snapshot(blocks, name, day),
                    snapshot(reserved_ips, name, day),
                    snapshot(load_balancers, name, day),
                    as_of,
                )
                frames.append(with_partition_column(frame, "snapshot_date", day))
        frame = concat(frames, DAILY_METRICS_NAMES)
        context.add_output_metadata(
            {"preview": dg.MetadataValue.md(markdown_preview(frame.T.reset_index(), rows=40))}
        )
        return frame

    return cost_metrics


def _breakdown_check(partitions: Partitions) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=BREAKDOWN_KEY,
        additional_ins={"cost_line_items": dg.AssetIn(key=LINE_ITEMS_KEY)},
        partitions_def=partitions.monthly,
    )
    def cost_breakdown_reconciles(
        cost_breakdown: pd.DataFrame, cost_line_items: pd.DataFrame
    ) -> dg.AssetCheckResult:
        """Check that every breakdown dimension but `tag` adds up exactly to the line items."""
        problems = breakdown_mismatches(
            cost_breakdown.drop(columns=["billing_month"]), cost_line_items
        )
        return dg.AssetCheckResult(
            passed=not problems,
            description="; ".join(problems[:10]) if problems else "Every dimension reconciles.",
            metadata={"mismatches": len(problems)},
        )

    return cost_breakdown_reconciles


def build_cost_assets(
    partitions: Partitions,
) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    """Define the cost assets and their reconciliation check for `partitions`."""
    assets = [
        _instance_metadata_asset(partitions),
        _pending_line_items_asset(partitions),
        _cost_line_items_asset(partitions),
        _cost_breakdown_asset(partitions),
        _cost_metrics_asset(partitions),
    ]
    return assets, [_breakdown_check(partitions)]
