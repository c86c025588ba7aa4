"""Insight assets: cost recommendations, the month-end forecast and daily spend anomalies.

Each asset is partitioned by account × UTC day. It loads that day's snapshots from the cost
tables (`vultr_costs`) and raw tables (`vultr_raw`), and the line items of the months before
(`recent_months_mapping`), calls the plain functions in `vultr_pipeline.costs` once per account
and day, and returns a frame whose partitions the ClickHouse IO manager replaces. Every figure
describes the instant given by `data_as_of`, never the wall clock, so re-running on the same
data writes the same rows.
"""

from collections.abc import Callable
from decimal import Decimal, InvalidOperation

import dagster as dg
import pandas as pd
from pydantic import Field, field_validator

from vultr_pipeline.costs import anomalies, forecast, recommendations
from vultr_pipeline.costs.clock import data_as_of
from vultr_pipeline.defs.cost_assets import (
    DAILY_PARTITION_EXPR,
    LINE_ITEMS_KEY,
    PENDING_LINE_ITEMS_KEY,
    column_names,
    daily_line_items,
    daily_schema,
    history_input,
)
from vultr_pipeline.defs.history import concat, snapshot, with_partition_column
from vultr_pipeline.defs.metadata import markdown_preview
from vultr_pipeline.defs.partitions import (
    DAY_DIMENSION,
    Partitions,
    recent_months_mapping,
    starts_by_account,
)
from vultr_pipeline.defs.tables import MONEY_TYPE, TIMESTAMP_TYPE

COSTS_GROUP = "vultr_costs"
COSTS_KINDS = {"vultr", "clickhouse", "pandas"}
NULLABLE_MONEY = f"Nullable({MONEY_TYPE})"


def _raw(table: str) -> dg.AssetIn:
    return dg.AssetIn(key=dg.AssetKey(["vultr_raw", table]))


def _costs(table: str) -> dg.AssetIn:
    return dg.AssetIn(key=dg.AssetKey([COSTS_GROUP, table]))


def _schema(*columns: tuple[str, str, str]) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name, type_, description=doc) for name, type_, doc in columns]
    )


def _money_total(values: pd.Series) -> str:
    return str(sum(values, Decimal(0)))


RECOMMENDATIONS_SCHEMA = _schema(
    ("account_id", "LowCardinality(String)", "Name of the Vultr account."),
    ("recommendation_id", "String", "Hash of account, kind and resource id; stable per day."),
    ("kind", "LowCardinality(String)", "Finding type, e.g. unattached_block."),
    ("resource_id", "String", "Id of the resource the finding is about."),
    ("resource_type", "LowCardinality(String)", "instance, bare_metal, snapshot, block, ..."),
    ("resource_label", "Nullable(String)", "Label or description of the resource."),
    ("region", "LowCardinality(Nullable(String))", "Region id of the resource."),
    ("evidence", "String", "Sentence with the figures behind the finding."),
    ("estimated_monthly_saving", MONEY_TYPE, "USD a month, rounded half up to the cent."),
    ("confidence", "LowCardinality(String)", "high, medium or low."),
    ("as_of", TIMESTAMP_TYPE, "Instant the data describes (UTC)."),
)

FORECAST_LINES_SCHEMA = _schema(
    ("account_id", "LowCardinality(String)", "Name of the Vultr account."),
    ("line_id", "String", "Pending line in cost_line_items."),
    ("resource_id", "Nullable(String)", "Attributed resource, if any."),
    ("resource_type", "LowCardinality(Nullable(String))", "Type of the attributed resource."),
    ("resource_label", "Nullable(String)", "Label of the attributed resource."),
    ("service_category", "LowCardinality(String)", "Service category of the line."),
    ("product", "Nullable(String)", "Vultr product name of the line."),
    ("region", "LowCardinality(Nullable(String))", "Region of the attributed resource."),
    ("is_gpu", "Bool", "Whether the line bills a GPU server (730-hour cap)."),
    ("is_running", "Bool", "Billed in hours and still accruing at as_of."),
    ("month_to_date", MONEY_TYPE, "Pending amount so far this month, USD."),
    ("hourly_price", NULLABLE_MONEY, "USD an hour, for running lines."),
    ("hour_cap", "Nullable(Int64)", "Billable hours a month: 730 for GPU, else 672."),
    ("monthly_cap", NULLABLE_MONEY, "Most the line can cost this month, USD."),
    ("cap_source", "LowCardinality(Nullable(String))", "catalogue, invoice_history or hour_cap."),
    ("remaining_hours", "Int64", "Whole hours from as_of to the month end."),
    ("projected_additional", MONEY_TYPE, "USD still to be billed this month."),
    ("projected_total", MONEY_TYPE, "Projected month total of the line, USD."),
    ("is_capped", "Bool", "Whether the projection reached the monthly cap."),
    ("as_of", TIMESTAMP_TYPE, "Instant the data describes (UTC)."),
)

FORECAST_SCHEMA = _schema(
    ("account_id", "LowCardinality(String)", "Name of the Vultr account."),
    ("as_of", TIMESTAMP_TYPE, "Instant the data describes (UTC)."),
    ("month_start", "Date", "First day of the forecast month."),
    ("month_end", "Date", "Last day of the forecast month (inclusive)."),
    ("month_to_date", MONEY_TYPE, "Pending charges so far this month, USD."),
    ("projected_additional", MONEY_TYPE, "USD still to be billed by the month end."),
    ("projected_total", MONEY_TYPE, "Projected month total, USD."),
    ("running_resources", "Int64", "Resources still accruing hourly charges."),
    ("running_lines", "Int64", "Pending lines still accruing hourly charges."),
    ("capped_lines", "Int64", "Running lines projected to reach their monthly cap."),
)

ANOMALIES_SCHEMA = _schema(
    ("account_id", "LowCardinality(String)", "Name of the Vultr account."),
    ("anomaly_id", "String", "Hash of account, service category and day."),
    ("day", "Date", "UTC day whose spend departs from its baseline."),
    ("service_category", "LowCardinality(String)", "Service category of the spend."),
    ("direction", "LowCardinality(String)", "spike or drop."),
    ("actual", MONEY_TYPE, "Spend on the day, USD (prorated by time)."),
    ("expected", MONEY_TYPE, "Mean daily spend of the trailing window, USD cents."),
    ("change", MONEY_TYPE, "actual - expected, USD."),
    ("change_pct", "Nullable(Decimal(38, 2))", "change / expected × 100; null if expected is 0."),
    ("baseline_std", MONEY_TYPE, "Standard deviation of the window, USD cents."),
    ("window_days", "Int64", "Days in the trailing window."),
    ("as_of", TIMESTAMP_TYPE, "Instant the data describes (UTC)."),
)


def _asset_metadata(schema: dg.TableSchema, order_by: list[str]) -> dict[str, object]:
    return {
        "dagster/column_schema": daily_schema(schema),
        "clickhouse/order_by": [order_by[0], "snapshot_date", *order_by[1:]],
        "partition_expr": DAILY_PARTITION_EXPR,
    }


def _line_item_ins() -> dict[str, dg.AssetIn]:
    return {
        "cost_line_items": history_input(LINE_ITEMS_KEY, recent_months_mapping()),
        "pending_line_items": dg.AssetIn(key=PENDING_LINE_ITEMS_KEY),
    }


def _for_each_day(
    context: dg.AssetExecutionContext,
    schema: dg.TableSchema,
    build: Callable[[str, object], pd.DataFrame],
) -> pd.DataFrame:
    """Call `build(account, day)` for every partition of the run and stack the results."""
    frames = []
    for account, days in starts_by_account(context.partition_keys, DAY_DIMENSION).items():
        for day in days:
            frames.append(with_partition_column(build(account, day), "snapshot_date", day))
    return concat(frames, column_names(daily_schema(schema)))


class RecommendationsConfig(dg.Config):
    """Thresholds of the cost recommendations."""

    snapshot_max_age_days: int = Field(
        default=recommendations.DEFAULT_SNAPSHOT_MAX_AGE_DAYS,
        ge=0,
        description="Snapshots older than this many days are reported.",
    )
    non_production_keywords: list[str] = Field(
        default=list(recommendations.DEFAULT_NON_PRODUCTION_KEYWORDS),
        description="Words in a label or tag that mark a resource as non-production "
        "(case-insensitive, matched against words split at non-alphanumeric characters).",
    )


def _recommendations_asset(partitions: Partitions) -> dg.AssetsDefinition:
    @dg.asset(
        key_prefix=COSTS_GROUP,
        group_name=COSTS_GROUP,
        kinds=COSTS_KINDS,
        io_manager_key="clickhouse",
        metadata=_asset_metadata(RECOMMENDATIONS_SCHEMA, ["account_id", "kind", "resource_id"]),
        partitions_def=partitions.daily,
        ins={
            **_line_item_ins(),
            "instance_metadata": _costs("instance_metadata"),
            **{
                name: _raw(name)
                for name in (
                    "plans",
                    "snapshots",
                    "blocks",
                    "reserved_ips",
                    "load_balancers",
                    "pending_charges",
                    "account",
                )
            },
        },
    )
    def cost_recommendations(
        context: dg.AssetExecutionContext,
        config: RecommendationsConfig,
        cost_line_items: pd.DataFrame,
        pending_line_items: pd.DataFrame,
        instance_metadata: pd.DataFrame,
        plans: pd.DataFrame,
        snapshots: pd.DataFrame,
        blocks: pd.DataFrame,
        reserved_ips: pd.DataFrame,
        load_balancers: pd.DataFrame,
        pending_charges: pd.DataFrame,
        account: pd.DataFrame,
    ) -> pd.DataFrame:
        """Ways to spend less, one row per finding about a resource, per day of collection.

        Kinds: stopped or idle servers, old snapshots, unattached volumes and reserved IPs,
        idle load balancers, backups on non-production servers and cheaper equivalent plans.
        One row per finding, with the evidence, an estimated monthly saving in USD cents and
        a confidence. The id of a finding stays the same from day to day while it persists.
        """

        def build(name: str, day: object) -> pd.DataFrame:
            as_of = data_as_of(snapshot(pending_charges, name, day), snapshot(account, name, day))
            inventory = recommendations.Inventory(
                snapshot(instance_metadata, name, day),
                daily_line_items(name, day, cost_line_items, pending_line_items),
                snapshot(plans, name, day),
                snapshot(snapshots, name, day),
                snapshot(blocks, name, day),
                snapshot(reserved_ips, name, day),
                snapshot(load_balancers, name, day),
            )
            return recommendations.build_recommendations(
                inventory, as_of, config.snapshot_max_age_days, config.non_production_keywords
            )

        frame = _for_each_day(context, RECOMMENDATIONS_SCHEMA, build)
        context.log.info("Found %s recommendations", len(frame))
        counts = frame["kind"].value_counts().sort_index()
        context.add_output_metadata(
            {
                "total_monthly_saving_usd": _money_total(frame["estimated_monthly_saving"]),
                "findings_by_kind": dg.MetadataValue.json({k: int(v) for k, v in counts.items()}),
                "snapshot_max_age_days": config.snapshot_max_age_days,
                "snapshot_price_per_gb_month_usd": str(recommendations.SNAPSHOT_PRICE_PER_GB_MONTH),
                "backup_share": str(recommendations.BACKUP_SHARE),
                "preview": dg.MetadataValue.md(markdown_preview(frame.drop(columns=["evidence"]))),
            }
        )
        return frame

    return cost_recommendations


def _forecast_lines_asset(partitions: Partitions) -> dg.AssetsDefinition:
    @dg.asset(
        key_prefix=COSTS_GROUP,
        group_name=COSTS_GROUP,
        kinds=COSTS_KINDS,
        io_manager_key="clickhouse",
        metadata=_asset_metadata(FORECAST_LINES_SCHEMA, ["account_id", "line_id"]),
        partitions_def=partitions.daily,
        ins={
            **_line_item_ins(),
            "instance_metadata": _costs("instance_metadata"),
            "blocks": _raw("blocks"),
            "object_storage": _raw("object_storage"),
            "pending_charges": _raw("pending_charges"),
            "account": _raw("account"),
        },
    )
    def month_end_forecast_lines(
        context: dg.AssetExecutionContext,
        cost_line_items: pd.DataFrame,
        pending_line_items: pd.DataFrame,
        instance_metadata: pd.DataFrame,
        blocks: pd.DataFrame,
        object_storage: pd.DataFrame,
        pending_charges: pd.DataFrame,
        account: pd.DataFrame,
    ) -> pd.DataFrame:
        """Per-resource breakdown of the month-end forecast: one row per pending charge line.

        A line billed by the hour that is still accruing is projected to the month end at its
        hourly price, capped at its monthly price (Cloud GPU bills at most 730 hours a month,
        other servers 672). Other lines keep their month-to-date amount.
        """

        def build(name: str, day: object) -> pd.DataFrame:
            as_of = data_as_of(snapshot(pending_charges, name, day), snapshot(account, name, day))
            prices = forecast.catalogue_monthly_prices(
                snapshot(instance_metadata, name, day),
                snapshot(blocks, name, day),
                snapshot(object_storage, name, day),
            )
            lines = daily_line_items(name, day, cost_line_items, pending_line_items)
            return forecast.forecast_lines(lines, prices, as_of)

        frame = _for_each_day(context, FORECAST_LINES_SCHEMA, build)
        context.log.info("Projected %s pending lines to the month end", len(frame))
        context.add_output_metadata(
            {
                "running_lines": int(frame["is_running"].astype(bool).sum()),
                "capped_lines": int(frame["is_capped"].astype(bool).sum()),
                "projected_total_usd": _money_total(frame["projected_total"]),
                "preview": dg.MetadataValue.md(markdown_preview(frame)),
            }
        )
        return frame

    return month_end_forecast_lines


def _forecast_asset(partitions: Partitions) -> dg.AssetsDefinition:
    @dg.asset(
        key_prefix=COSTS_GROUP,
        group_name=COSTS_GROUP,
        kinds=COSTS_KINDS,
        io_manager_key="clickhouse",
        metadata=_asset_metadata(FORECAST_SCHEMA, ["account_id"]),
        partitions_def=partitions.daily,
        ins={
            "month_end_forecast_lines": _costs("month_end_forecast_lines"),
            "pending_charges": _raw("pending_charges"),
            "account": _raw("account"),
        },
    )
    def month_end_forecast(
        context: dg.AssetExecutionContext,
        month_end_forecast_lines: pd.DataFrame,
        pending_charges: pd.DataFrame,
        account: pd.DataFrame,
    ) -> pd.DataFrame:
        """What the open month will cost per account if every running resource keeps running.

        Month-to-date is the pending charges; the projection adds each running resource's
        hourly price until the month end, capped at its monthly price. The per-line figures
        are in month_end_forecast_lines.
        """

        def build(name: str, day: object) -> pd.DataFrame:
            day_account = snapshot(account, name, day)
            as_of = data_as_of(snapshot(pending_charges, name, day), day_account)
            lines = snapshot(month_end_forecast_lines, name, day)
            return forecast.summarize_forecast(lines, [name], as_of)

        frame = _for_each_day(context, FORECAST_SCHEMA, build)
        context.add_output_metadata(
            {
                "projected_total_usd": _money_total(frame["projected_total"]),
                "assumptions": dg.MetadataValue.md(FORECAST_ASSUMPTIONS),
                "preview": dg.MetadataValue.md(markdown_preview(frame)),
            }
        )
        return frame

    return month_end_forecast


FORECAST_ASSUMPTIONS = """\
- Every resource billed by the hour and still accruing at `as_of` keeps running to the month end.
- Hours left are whole hours; the hour in progress is already billed as a started hour.
- A line's month total is capped at its monthly price: the catalogue price, else the latest
  full month billed at the same hourly price, else the hourly price × cap hours (730 for Cloud
  GPU, 672 for other servers), an estimate a few cents off because hourly prices are rounded.
- Snapshots, bandwidth overage and credits keep their month-to-date amount.
- Resources created after `as_of` are not foreseen.
"""


class AnomaliesConfig(dg.Config):
    """Window and thresholds of the spend anomaly rule."""

    window_days: int = Field(
        default=anomalies.DEFAULT_WINDOW_DAYS,
        ge=2,
        description="Days of history before each tested day that form its baseline.",
    )
    threshold_std: str = Field(
        default=str(anomalies.DEFAULT_THRESHOLD_STD),
        description="A day is unusual when it departs from the baseline mean by more than "
        "this many standard deviations (decimal text).",
    )
    min_abs_change: str = Field(
        default=str(anomalies.DEFAULT_MIN_ABS_CHANGE),
        description="Smallest departure from the mean that counts, in USD (decimal text).",
    )
    min_change_pct: str = Field(
        default=str(anomalies.DEFAULT_MIN_CHANGE_PCT),
        description="Smallest departure from the mean that counts, in percent of the mean "
        "(decimal text).",
    )

    @field_validator("threshold_std", "min_abs_change", "min_change_pct")
    @classmethod
    def _decimal_text(cls, value: str) -> str:
        try:
            number = Decimal(value)
        except InvalidOperation as error:
            raise ValueError(f"{value!r} is not a decimal number, e.g. '1.50'.") from error
        if not number.is_finite() or number < 0:
            raise ValueError(f"{value!r} must be a finite number of 0 or more.")
        return value

    def settings(self) -> anomalies.AnomalySettings:
        """Return the settings as Decimals for `find_anomalies`."""
        return anomalies.AnomalySettings(
            window_days=self.window_days,
            threshold_std=Decimal(self.threshold_std),
            min_abs_change=Decimal(self.min_abs_change),
            min_change_pct=Decimal(self.min_change_pct),
        )


def _anomalies_asset(partitions: Partitions) -> dg.AssetsDefinition:
    @dg.asset(
        key_prefix=COSTS_GROUP,
        group_name=COSTS_GROUP,
        kinds=COSTS_KINDS,
        io_manager_key="clickhouse",
        metadata=_asset_metadata(ANOMALIES_SCHEMA, ["account_id", "day", "service_category"]),
        partitions_def=partitions.daily,
        ins={
            **_line_item_ins(),
            "pending_charges": _raw("pending_charges"),
            "account": _raw("account"),
        },
    )
    def cost_anomalies(
        context: dg.AssetExecutionContext,
        config: AnomaliesConfig,
        cost_line_items: pd.DataFrame,
        pending_line_items: pd.DataFrame,
        pending_charges: pd.DataFrame,
        account: pd.DataFrame,
    ) -> pd.DataFrame:
        """Days on which a service category's spend departed from its trailing window.

        Daily spend is each line's amount spread over its charge period by time, exact to the
        cent. A complete day is unusual when it differs from the mean of the days before it
        by more than the configured number of standard deviations, a minimum USD amount and
        a minimum percentage. The window reads the line items of the months that
        `recent_months_mapping` loads.
        """
        settings = config.settings()
        category_days = 0

        def build(name: str, day: object) -> pd.DataFrame:
            nonlocal category_days
            as_of = data_as_of(snapshot(pending_charges, name, day), snapshot(account, name, day))
            lines = daily_line_items(name, day, cost_line_items, pending_line_items)
            daily = anomalies.daily_service_spend(lines)
            category_days += len(daily)
            return anomalies.find_anomalies(daily, as_of, settings)

        frame = _for_each_day(context, ANOMALIES_SCHEMA, build)
        context.log.info("Found %s anomalies in %s category-days", len(frame), category_days)
        context.add_output_metadata(
            {
                "category_days": category_days,
                "spikes": int((frame["direction"] == "spike").sum()),
                "drops": int((frame["direction"] == "drop").sum()),
                "rule": (
                    f"|actual - mean| > {settings.threshold_std} × std of the "
                    f"{settings.window_days} days before, and >= {settings.min_abs_change} USD, "
                    f"and >= {settings.min_change_pct} % of the mean"
                ),
                "preview": dg.MetadataValue.md(markdown_preview(frame)),
            }
        )
        return frame

    return cost_anomalies


def build_insight_assets(partitions: Partitions) -> list[dg.AssetsDefinition]:
    """Define the recommendation, forecast and anomaly assets for `partitions`."""
    return [
        _recommendations_asset(partitions),
        _forecast_lines_asset(partitions),
        _forecast_asset(partitions),
        _anomalies_asset(partitions),
    ]
