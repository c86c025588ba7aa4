"""Raw assets: one per Vultr API endpoint, each landing in a ClickHouse table of group vultr_raw.

Each asset fetches its endpoint for the accounts of its partitions and parses every record into
typed columns (money as Decimal, timestamps in UTC), keeping the record as JSON with secrets
removed. It returns a DataFrame whose partitions the ClickHouse IO manager replaces.

Invoices and invoice items are partitioned by account × billing month: a month's rows are the
invoices that bill that month and their items. Every other table is a daily snapshot,
partitioned by account × UTC day. The API returns only the present state, so a snapshot can
be collected only for the current UTC day.
"""

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from vultr_pipeline.accounts import AccountsConfigError
from vultr_pipeline.costs.line_items import invoice_billing_month
from vultr_pipeline.defs.metadata import markdown_preview
from vultr_pipeline.defs.partitions import (
    ACCOUNT_DIMENSION,
    DAY_DIMENSION,
    MONTH_DIMENSION,
    Partitions,
    build_partitions,
    starts_by_account,
    utc_today,
)
from vultr_pipeline.defs.resources import VultrResource
from vultr_pipeline.defs.tables import order_by, partition_column, table_schema
from vultr_pipeline.vultr.client import VultrClient
from vultr_pipeline.vultr.collect import collect_records
from vultr_pipeline.vultr.errors import VultrError
from vultr_pipeline.vultr.parsing import parse_datetime
from vultr_pipeline.vultr.records import RECORD_SPECS, RecordSpec, parse_record

RAW_GROUP = "vultr_raw"
RAW_KINDS = {"vultr", "clickhouse", "pandas"}
INVOICES_KEY = dg.AssetKey([RAW_GROUP, "invoices"])
MONTHLY_PARTITION_EXPR = {ACCOUNT_DIMENSION: "account_id", MONTH_DIMENSION: "billing_month"}
DAILY_PARTITION_EXPR = {ACCOUNT_DIMENSION: "account_id", DAY_DIMENSION: "snapshot_date"}


class SnapshotDayError(ValueError):
    """A daily snapshot was requested for a day other than the current UTC day."""


def records_frame(
    spec: RecordSpec,
    records: Iterable[dict],
    account: str,
    collected_at: datetime,
    partition_values: Iterable[dt.date] | dt.date,
) -> pd.DataFrame:
    """Parse API records into a DataFrame with the columns of the raw table for `spec`.

    `partition_values` is one date for every row, or one date per record, in order.
    """
    records = list(records)
    rows = [parse_record(spec, record) for record in records]
    columns = [column.name for column in table_schema(spec).columns]
    partition = partition_column(spec).name
    own = [c for c in columns if c not in ("account_id", partition, "collected_at")]
    frame = pd.DataFrame(rows, columns=own)
    frame.insert(0, "account_id", account)
    if isinstance(partition_values, dt.date):
        frame.insert(1, partition, pd.Series([partition_values] * len(frame), dtype=object))
    else:
        frame.insert(1, partition, pd.Series(list(partition_values), dtype=object))
    frame["collected_at"] = pd.Timestamp(collected_at)
    return frame[columns]


def _output_metadata(spec: RecordSpec, frame: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    return {
        "endpoint": dg.MetadataValue.text(spec.endpoint.path),
        "records": dg.MetadataValue.int(len(frame)),
        "preview": dg.MetadataValue.md(markdown_preview(frame.drop(columns=["raw"]))),
    }


def _collected_at() -> datetime:
    now = datetime.now(UTC)
    # The collected_at column keeps milliseconds, so finer digits are dropped here, not refused.
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@contextlib.contextmanager
def account_client(vultr: VultrResource, account: str) -> Iterator[VultrClient]:
    """Open a client for `account`, and name the account in any error it raises.

    Raises:
        dg.Failure: The account is unknown, its key is missing or rejected, or a request
            failed; the description names the account and its key variable.
    """
    try:
        with vultr.get_client(account) as client:
            yield client
    except AccountsConfigError as error:
        raise dg.Failure(description=f"Account {account}: {error}") from error
    except VultrError as error:
        variable = vultr.api_key_env_of(account)
        raise dg.Failure(
            description=(
                f"Collecting Vultr account {account} (API key from ${variable}) failed: {error}"
            )
        ) from error


def require_today(table: str, day: dt.date, today: dt.date | None = None) -> None:
    """Reject a snapshot of `table` for any day but the current UTC day.

    Raises:
        SnapshotDayError: `day` is not today in UTC.
    """
    today = today or utc_today()
    if day != today:
        raise SnapshotDayError(
            f"Partition {day.isoformat()} of vultr_raw.{table} can only be collected for today "
            f"({today.isoformat()} UTC): the Vultr API returns only the present state, so past "
            "snapshots cannot be collected again. Launch the partition of today instead."
        )


def build_snapshot_asset(spec: RecordSpec, partitions: Partitions) -> dg.AssetsDefinition:
    """Define the daily snapshot asset that stores endpoint `spec.endpoint` in `spec.table`."""

    @dg.asset(
        name=spec.table,
        key_prefix=RAW_GROUP,
        group_name=RAW_GROUP,
        kinds=RAW_KINDS,
        description=spec.doc,
        metadata=_metadata(spec, DAILY_PARTITION_EXPR),
        io_manager_key="clickhouse",
        partitions_def=partitions.daily,
    )
    def raw_asset(context: dg.AssetExecutionContext, vultr: VultrResource) -> pd.DataFrame:
        frames = []
        for account, days in starts_by_account(context.partition_keys, DAY_DIMENSION).items():
            for day in days:
                require_today(spec.table, day)
            collected_at = _collected_at()
            with account_client(vultr, account) as client:
                records = list(collect_records(client, spec.table))
            frames.append(records_frame(spec, records, account, collected_at, days[0]))
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        context.add_output_metadata(_output_metadata(spec, frame))
        return frame

    return raw_asset


def _metadata(spec: RecordSpec, partition_expr: dict[str, str]) -> dict[str, object]:
    return {
        "dagster/column_schema": table_schema(spec),
        "clickhouse/order_by": order_by(spec),
        "endpoint": spec.endpoint.path,
        "partition_expr": partition_expr,
    }


def _billing_months(records: list[dict]) -> list[dt.date]:
    return [invoice_billing_month(parse_datetime(record["date"])) for record in records]


def _collect_invoices(
    spec: RecordSpec, client: VultrClient, account: str, months: list[dt.date]
) -> pd.DataFrame:
    records = list(collect_records(client, spec.table))
    billed = _billing_months(records)
    requested = set(months)
    selected = [
        (record, month) for record, month in zip(records, billed, strict=True) if month in requested
    ]
    return records_frame(
        spec, [record for record, _ in selected], account, _collected_at(), [m for _, m in selected]
    )


def build_invoices_asset(spec: RecordSpec, partitions: Partitions) -> dg.AssetsDefinition:
    """Define the invoices asset: the invoices that bill each month of its partitions."""

    @dg.asset(
        name=spec.table,
        key_prefix=RAW_GROUP,
        group_name=RAW_GROUP,
        kinds=RAW_KINDS,
        description=spec.doc,
        metadata=_metadata(spec, MONTHLY_PARTITION_EXPR),
        io_manager_key="clickhouse",
        partitions_def=partitions.monthly,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def invoices(context: dg.AssetExecutionContext, vultr: VultrResource) -> pd.DataFrame:
        frames = []
        for account, months in starts_by_account(context.partition_keys, MONTH_DIMENSION).items():
            with account_client(vultr, account) as client:
                frames.append(_collect_invoices(spec, client, account, months))
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        context.log.info(
            "Kept %s invoices of %s partitions", len(frame), len(context.partition_keys)
        )
        context.add_output_metadata(_output_metadata(spec, frame))
        return frame

    return invoices


def build_invoice_items_asset(spec: RecordSpec, partitions: Partitions) -> dg.AssetsDefinition:
    """Define the invoice items asset: the items of the invoices of the same partitions."""

    @dg.asset(
        name=spec.table,
        key_prefix=RAW_GROUP,
        group_name=RAW_GROUP,
        kinds=RAW_KINDS,
        description=spec.doc,
        metadata=_metadata(spec, MONTHLY_PARTITION_EXPR),
        io_manager_key="clickhouse",
        partitions_def=partitions.monthly,
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={"invoices": dg.AssetIn(key=INVOICES_KEY)},
    )
    def invoice_items(
        context: dg.AssetExecutionContext, vultr: VultrResource, invoices: pd.DataFrame
    ) -> pd.DataFrame:
        frames = []
        for account in starts_by_account(context.partition_keys, MONTH_DIMENSION):
            own = invoices[invoices["account_id"] == account]
            months = {int(i): m for i, m in zip(own["id"], own["billing_month"], strict=True)}
            context.log.info("Fetching the items of %s invoices of %s", len(months), account)
            with account_client(vultr, account) as client:
                frames.append(_collect_items(spec, client, account, months))
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        context.add_output_metadata(
            {**_output_metadata(spec, frame), "invoices": dg.MetadataValue.int(len(invoices))}
        )
        return frame

    return invoice_items


def _collect_items(
    spec: RecordSpec, client: VultrClient, account: str, months: dict[int, object]
) -> pd.DataFrame:
    invoice_ids = sorted(months)
    records = list(collect_records(client, spec.table, invoice_ids=invoice_ids))
    billed = [_as_date(months[int(record["invoice_id"])]) for record in records]
    return records_frame(spec, records, account, _collected_at(), billed)


def _as_date(value: object) -> dt.date:
    return pd.Timestamp(value).date()


def _builder(spec: RecordSpec) -> Callable[[RecordSpec, Partitions], dg.AssetsDefinition]:
    if spec.table == "invoices":
        return build_invoices_asset
    if spec.table == "invoice_items":
        return build_invoice_items_asset
    return build_snapshot_asset


def build_raw_assets(partitions: Partitions | None = None) -> list[dg.AssetsDefinition]:
    """Define every raw asset, one per table in the record specs.

    Without `partitions`, they come from the accounts file and the environment.
    """
    partitions = partitions or build_partitions()
    return [_builder(spec)(spec, partitions) for spec in RECORD_SPECS.values()]
