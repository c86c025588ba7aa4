"""FOCUS 1.2 export assets: the cost rows in FOCUS columns and the schema metadata beside them.

The mapping itself lives in `vultr_pipeline.costs.focus`; these assets load the inputs, call it,
and attach counts that show how complete the export is. `focus_costs` is partitioned like the
line items, by account × billing month (columns BillingAccountId and BillingPeriodStart);
`focus_metadata` describes the columns and is not partitioned.
"""

from decimal import Decimal

import dagster as dg
import pandas as pd

from vultr_pipeline.costs import focus
from vultr_pipeline.defs.cost_assets import history_input
from vultr_pipeline.defs.history import (
    concat,
    latest_snapshot_day,
    month_rows,
    snapshot,
)
from vultr_pipeline.defs.metadata import markdown_preview
from vultr_pipeline.defs.partitions import (
    ACCOUNT_DIMENSION,
    MONTH_DIMENSION,
    Partitions,
    all_days_mapping,
    starts_by_account,
)

COSTS_GROUP = "vultr_costs"
COSTS_KINDS = {"vultr", "clickhouse", "pandas"}
COST_LINE_ITEMS_KEY = dg.AssetKey([COSTS_GROUP, "cost_line_items"])
REGIONS_KEY = dg.AssetKey(["vultr_raw", "regions"])
ACCOUNT_KEY = dg.AssetKey(["vultr_raw", "account"])
FOCUS_COSTS_KEY = dg.AssetKey([COSTS_GROUP, "focus_costs"])

FOCUS_COSTS_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn(column.name, column.clickhouse_type, description=column.description)
        for column in focus.FOCUS_COLUMNS
    ]
)
FOCUS_METADATA_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("schema_id", "String", description="FOCUS SchemaId (a UUID)."),
        dg.TableColumn("focus_version", "String", description="FOCUS version of the data."),
        dg.TableColumn("data_generator", "String", description="Who produced the dataset."),
        dg.TableColumn(
            "data_generator_version", "String", description="Version of the FOCUS mapping."
        ),
        dg.TableColumn("provider_name", "String", description="Provider of the costs."),
        dg.TableColumn(
            "creation_date", focus.TIMESTAMP_TYPE, description="When the schema was defined."
        ),
        dg.TableColumn("column_position", "Int64", description="1-based position of the column."),
        dg.TableColumn("column_name", "String", description="FOCUS column ID."),
        dg.TableColumn(
            "data_type", "String", description="FOCUS data type: STRING, DECIMAL, DATETIME, JSON."
        ),
        dg.TableColumn("clickhouse_type", "String", description="ClickHouse column type."),
        dg.TableColumn(
            "numeric_precision", "Nullable(Int64)", description="Digits of a decimal column."
        ),
        dg.TableColumn(
            "number_scale", "Nullable(Int64)", description="Digits after the decimal point."
        ),
        dg.TableColumn(
            "string_encoding", "Nullable(String)", description="Encoding of a text column."
        ),
        dg.TableColumn(
            "provider_tag_prefixes",
            "Array(String)",
            description="Key prefixes reserved for provider tags in Tags (none for Vultr).",
        ),
        dg.TableColumn(
            "description", "String", description="Meaning of the column for Vultr data."
        ),
    ]
)


FOCUS_COLUMN_NAMES = [column.name for column in focus.FOCUS_COLUMNS]


def _latest(frame: pd.DataFrame, account: str) -> pd.DataFrame:
    return snapshot(frame, account, latest_snapshot_day(frame, account))


def _focus_costs_asset(partitions: Partitions) -> dg.AssetsDefinition:
    @dg.asset(
        key_prefix=COSTS_GROUP,
        group_name=COSTS_GROUP,
        kinds=COSTS_KINDS,
        io_manager_key="clickhouse",
        partitions_def=partitions.monthly,
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={
            "cost_line_items": dg.AssetIn(key=COST_LINE_ITEMS_KEY),
            "regions": history_input(REGIONS_KEY, all_days_mapping()),
            "account": history_input(ACCOUNT_KEY, all_days_mapping()),
        },
        metadata={
            "dagster/column_schema": FOCUS_COSTS_SCHEMA,
            "clickhouse/order_by": ["BillingAccountId", "BillingPeriodStart", "x_LineId"],
            "partition_expr": {
                ACCOUNT_DIMENSION: "BillingAccountId",
                MONTH_DIMENSION: "BillingPeriodStart",
            },
            "focus_version": focus.FOCUS_VERSION,
        },
    )
    def focus_costs(
        context: dg.AssetExecutionContext,
        cost_line_items: pd.DataFrame,
        regions: pd.DataFrame,
        account: pd.DataFrame,
    ) -> pd.DataFrame:
        """Every invoiced and pending Vultr charge as a FOCUS 1.2 cost and usage row.

        FOCUS is the FinOps Foundation's common billing format, so these rows load into
        FinOps tools next to other clouds' exports. BilledCost summed per InvoiceId equals
        the invoice amount, and the open month's rows have no InvoiceId. Discount lines are
        Credit rows. Region cities and the account name come from the latest snapshot.
        """
        frames = []
        stats_rows = 0
        totals: dict[str, int] = {}
        for name, months in starts_by_account(context.partition_keys, MONTH_DIMENSION).items():
            lines = pd.concat(
                [month_rows(cost_line_items, name, month) for month in months], ignore_index=True
            )
            frame, stats = focus.build_focus_costs(
                lines, _latest(regions, name), _latest(account, name)
            )
            frames.append(frame)
            stats_rows += stats.rows
            for field in (
                "credit_rows",
                "rows_without_region",
                "regions_without_city",
                "rows_without_quantity",
                "duplicate_tag_keys",
            ):
                totals[field] = totals.get(field, 0) + getattr(stats, field)
        frame = concat(frames, FOCUS_COLUMN_NAMES)
        context.log.info("Built %s FOCUS rows from %s line items", stats_rows, len(cost_line_items))
        billed = sum(frame["BilledCost"], start=Decimal(0))
        context.add_output_metadata(
            {
                "focus_version": focus.FOCUS_VERSION,
                "schema_id": focus.schema_id(),
                "billed_cost_total": dg.MetadataValue.text(str(billed)),
                "credit_rows": totals.get("credit_rows", 0),
                "rows_without_region": totals.get("rows_without_region", 0),
                "regions_without_city": totals.get("regions_without_city", 0),
                "usage_rows_without_quantity": totals.get("rows_without_quantity", 0),
                "tags_dropped_for_repeated_key": totals.get("duplicate_tag_keys", 0),
                "preview": dg.MetadataValue.md(
                    markdown_preview(
                        frame[["x_LineId", "ServiceName", "ResourceName", "RegionId", "BilledCost"]]
                    )
                ),
            }
        )
        return frame

    return focus_costs


@dg.asset(
    key_prefix=COSTS_GROUP,
    group_name=COSTS_GROUP,
    kinds=COSTS_KINDS,
    io_manager_key="clickhouse",
    deps=[FOCUS_COSTS_KEY],
    metadata={
        "dagster/column_schema": FOCUS_METADATA_SCHEMA,
        "clickhouse/order_by": ["schema_id", "column_position"],
    },
)
def focus_metadata(context: dg.AssetExecutionContext) -> pd.DataFrame:
    """The FOCUS schema metadata of `focus_costs`: one row per column with its FOCUS data type.

    FOCUS requires every dataset to name its schema (SchemaId), FOCUS version and producer, and to
    list its columns with their types. The SchemaId changes whenever a column or version
    changes, so readers can tell two layouts apart.
    """
    frame = focus.build_focus_metadata()
    context.add_output_metadata(
        {
            "schema_id": focus.schema_id(),
            "columns": len(frame),
            "focus_version": focus.FOCUS_VERSION,
        }
    )
    return frame


def build_focus_assets(partitions: Partitions) -> list[dg.AssetsDefinition]:
    """Define the FOCUS export assets for `partitions`."""
    return [_focus_costs_asset(partitions), focus_metadata]
