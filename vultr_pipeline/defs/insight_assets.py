"""Insight assets: cost recommendations, the month-end forecast and daily spend anomalies.

Each asset loads the cost tables (`vultr_costs`) and raw tables (`vultr_raw`) it needs, calls
the plain functions in `vultr_pipeline.costs`, and returns a frame that the ClickHouse IO
manager writes in place of the previous contents. Every figure describes the instant given by
`data_as_of`, never the wall clock, so re-running on the same data writes the same rows.
"""

from decimal import Decimal, InvalidOperation

import dagster as dg
import pandas as pd
from pydantic import Field, field_validator

from vultr_pipeline.costs import anomalies, forecast, recommendations
from vultr_pipeline.costs.clock import data_as_of
from vultr_pipeline.defs.metadata import markdown_preview
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
    return {"dagster/column_schema": schema, "clickhouse/order_by": order_by}


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


@dg.asset(
    key_prefix=COSTS_GROUP,
    group_name=COSTS_GROUP,
    kinds=COSTS_KINDS,
    io_manager_key="clickhouse",
    metadata=_asset_metadata(RECOMMENDATIONS_SCHEMA, ["account_id", "kind", "resource_id"]),
    ins={
        "cost_line_items": _costs("cost_line_items"),
        "instance_metadata": _costs("instance_metadata"),
        "plans": _raw("plans"),
        "snapshots": _raw("snapshots"),
        "blocks": _raw("blocks"),
        "reserved_ips": _raw("reserved_ips"),
        "load_balancers": _raw("load_balancers"),
        "pending_charges": _raw("pending_charges"),
        "account": _raw("account"),
    },
)
def cost_recommendations(
    context: dg.AssetExecutionContext,
    config: RecommendationsConfig,
    cost_line_items: pd.DataFrame,
    instance_metadata: pd.DataFrame,
    plans: pd.DataFrame,
    snapshots: pd.DataFrame,
    blocks: pd.DataFrame,
    reserved_ips: pd.DataFrame,
    load_balancers: pd.DataFrame,
    pending_charges: pd.DataFrame,
    account: pd.DataFrame,
) -> pd.DataFrame:
    """Ways to spend less, one row per finding about a resource.

    Kinds: stopped or idle servers, old snapshots, unattached volumes and reserved IPs, idle
    load balancers, backups on non-production servers and cheaper equivalent plans. One row per
    finding, with the evidence, an estimated monthly saving in USD cents and a
    confidence. The id of a finding stays the same from day to day while it persists.
    """
    as_of = data_as_of(pending_charges, account)
    inventory = recommendations.Inventory(
        instance_metadata, cost_line_items, plans, snapshots, blocks, reserved_ips, load_balancers
    )
    frame = recommendations.build_recommendations(
        inventory, as_of, config.snapshot_max_age_days, config.non_production_keywords
    )
    context.log.info("Found %s recommendations as of %s", len(frame), as_of.isoformat())
    counts = frame["kind"].value_counts().sort_index()
    context.add_output_metadata(
        {
            "as_of": dg.MetadataValue.timestamp(as_of),
            "total_monthly_saving_usd": _money_total(frame["estimated_monthly_saving"]),
            "findings_by_kind": dg.MetadataValue.json({k: int(v) for k, v in counts.items()}),
            "snapshot_max_age_days": config.snapshot_max_age_days,
            "snapshot_price_per_gb_month_usd": str(recommendations.SNAPSHOT_PRICE_PER_GB_MONTH),
            "backup_share": str(recommendations.BACKUP_SHARE),
            "preview": dg.MetadataValue.md(markdown_preview(frame.drop(columns=["evidence"]))),
        }
    )
    return frame


@dg.asset(
    key_prefix=COSTS_GROUP,
    group_name=COSTS_GROUP,
    kinds=COSTS_KINDS,
    io_manager_key="clickhouse",
    metadata=_asset_metadata(FORECAST_LINES_SCHEMA, ["account_id", "line_id"]),
    ins={
        "cost_line_items": _costs("cost_line_items"),
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
    as_of = data_as_of(pending_charges, account)
    prices = forecast.catalogue_monthly_prices(instance_metadata, blocks, object_storage)
    frame = forecast.forecast_lines(cost_line_items, prices, as_of)
    context.log.info("Projected %s pending lines to the month end", len(frame))
    context.add_output_metadata(
        {
            "as_of": dg.MetadataValue.timestamp(as_of),
            "running_lines": int(frame["is_running"].sum()),
            "capped_lines": int(frame["is_capped"].sum()),
            "projected_total_usd": _money_total(frame["projected_total"]),
            "preview": dg.MetadataValue.md(markdown_preview(frame)),
        }
    )
    return frame


@dg.asset(
    key_prefix=COSTS_GROUP,
    group_name=COSTS_GROUP,
    kinds=COSTS_KINDS,
    io_manager_key="clickhouse",
    metadata=_asset_metadata(FORECAST_SCHEMA, ["account_id"]),
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

    Month-to-date is the pending charges; the projection adds each running resource's hourly
    price until the month end, capped at its monthly price. The per-line figures are in
    month_end_forecast_lines.
    """
    as_of = data_as_of(pending_charges, account)
    accounts = sorted(set(account["account_id"]))
    frame = forecast.summarize_forecast(month_end_forecast_lines, accounts, as_of)
    context.add_output_metadata(
        {
            "as_of": dg.MetadataValue.timestamp(as_of),
            "projected_total_usd": _money_total(frame["projected_total"]),
            "assumptions": dg.MetadataValue.md(FORECAST_ASSUMPTIONS),
            "preview": dg.MetadataValue.md(markdown_preview(frame)),
        }
    )
    return frame


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


@dg.asset(
    key_prefix=COSTS_GROUP,
    group_name=COSTS_GROUP,
    kinds=COSTS_KINDS,
    io_manager_key="clickhouse",
    metadata=_asset_metadata(ANOMALIES_SCHEMA, ["account_id", "day", "service_category"]),
    ins={
        "cost_line_items": _costs("cost_line_items"),
        "pending_charges": _raw("pending_charges"),
        "account": _raw("account"),
    },
)
def cost_anomalies(
    context: dg.AssetExecutionContext,
    config: AnomaliesConfig,
    cost_line_items: pd.DataFrame,
    pending_charges: pd.DataFrame,
    account: pd.DataFrame,
) -> pd.DataFrame:
    """Days on which a service category's spend departed from its trailing window.

    Daily spend is each line's amount spread over its charge period by time, exact to the
    cent. A complete day is unusual when it differs from the mean of the days before it by
    more than the configured number of standard deviations, a minimum USD amount and a
    minimum percentage.
    """
    as_of = data_as_of(pending_charges, account)
    settings = config.settings()
    daily = anomalies.daily_service_spend(cost_line_items)
    frame = anomalies.find_anomalies(daily, as_of, settings)
    context.log.info("Found %s anomalies in %s category-days", len(frame), len(daily))
    context.add_output_metadata(
        {
            "as_of": dg.MetadataValue.timestamp(as_of),
            "category_days": len(daily),
            "spikes": int((frame["direction"] == "spike").sum()),
            "drops": int((frame["direction"] == "drop").sum()),
            "rule": (
                f"|actual - mean| > {settings.threshold_std} × std of the {settings.window_days}"
                f" days before, and >= {settings.min_abs_change} USD, and >= "
                f"{settings.min_change_pct} % of the mean"
            ),
            "preview": dg.MetadataValue.md(markdown_preview(frame)),
        }
    )
    return frame


ASSETS = [cost_recommendations, month_end_forecast_lines, month_end_forecast, cost_anomalies]
