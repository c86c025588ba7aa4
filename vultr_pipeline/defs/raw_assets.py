"""Raw assets: one per Vultr API endpoint, each landing in a ClickHouse table of group vultr_raw.

Each asset fetches its endpoint for the accounts of its partitions and parses every record into
typed columns (money as Decimal, timestamps in UTC), keeping the record as JSON with secrets
removed. A record whose values cannot be read goes to `vultr_rejects/<table>` instead, so each
asset is a multi-asset with two outputs (see `vultr_pipeline.defs.raw_outputs`), whose
partitions the ClickHouse IO manager replaces.

Invoices and invoice items are partitioned by account × billing month: a month's rows are the
invoices that bill that month and their items. Every other table is a daily snapshot,
partitioned by account × UTC day. The API returns only the present state, so a snapshot can
be collected only for the current UTC day.
"""

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from vultr_pipeline.accounts import AccountsConfigError
from vultr_pipeline.costs.line_items import invoice_billing_month
from vultr_pipeline.defs.partitions import (
    ACCOUNT_DIMENSION,
    DAY_DIMENSION,
    MONTH_DIMENSION,
    Partitions,
    build_partitions,
    starts_by_account,
    utc_today,
)
from vultr_pipeline.defs.raw_outputs import (
    RAW_GROUP,
    RawFrames,
    concat_frames,
    raw_outs,
    raw_results,
    rejects_check_specs,
    split_records,
    streamed_raw_results,
)
from vultr_pipeline.defs.resources import VultrResource
from vultr_pipeline.vultr.client import VultrClient
from vultr_pipeline.vultr.collect import collect_records
from vultr_pipeline.vultr.errors import VultrError
from vultr_pipeline.vultr.parsing import parse_datetime
from vultr_pipeline.vultr.records import RECORD_SPECS, RecordSpec

INVOICES_KEY = dg.AssetKey([RAW_GROUP, "invoices"])
MONTHLY_PARTITION_EXPR = {ACCOUNT_DIMENSION: "account_id", MONTH_DIMENSION: "billing_month"}
DAILY_PARTITION_EXPR = {ACCOUNT_DIMENSION: "account_id", DAY_DIMENSION: "snapshot_date"}


class SnapshotDayError(ValueError):
    """A daily snapshot was requested for a day other than the current UTC day."""


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

    @dg.multi_asset(
        name=f"{RAW_GROUP}__{spec.table}",
        outs=raw_outs(spec, DAILY_PARTITION_EXPR),
        partitions_def=partitions.daily,
        check_specs=rejects_check_specs(spec, partitions.daily),
    )
    def raw_asset(
        context: dg.AssetExecutionContext, vultr: VultrResource
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        parts = []
        for account, days in starts_by_account(context.partition_keys, DAY_DIMENSION).items():
            for day in days:
                require_today(spec.table, day)
            collected_at = _collected_at()
            with account_client(vultr, account) as client:
                records = list(collect_records(client, spec.table))
            parts.append(split_records(spec, records, account, collected_at, days[0]))
        yield from raw_results(spec, concat_frames(parts))

    return raw_asset


def _billing_month(record: dict) -> dt.date | None:
    """Return the billing month of an invoice record, or None when its date cannot be read."""
    try:
        moment = parse_datetime(record.get("date"))
    except (TypeError, ValueError):
        return None
    return None if moment is None else invoice_billing_month(moment)


def _collect_invoices(
    spec: RecordSpec, client: VultrClient, account: str, months: list[dt.date]
) -> RawFrames:
    records = list(collect_records(client, spec.table))
    requested = set(months)
    selected: list[tuple[dict, dt.date]] = []
    for record in records:
        month = _billing_month(record)
        if month is None:
            # An invoice without a readable date is rejected, and it could belong to any of
            # the months, so each month of the run records it.
            selected += [(record, each) for each in months]
        elif month in requested:
            selected.append((record, month))
    return split_records(
        spec, [record for record, _ in selected], account, _collected_at(), [m for _, m in selected]
    )


def build_invoices_asset(spec: RecordSpec, partitions: Partitions) -> dg.AssetsDefinition:
    """Define the invoices asset: the invoices that bill each month of its partitions."""

    @dg.multi_asset(
        name=f"{RAW_GROUP}__{spec.table}",
        outs=raw_outs(spec, MONTHLY_PARTITION_EXPR),
        partitions_def=partitions.monthly,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=rejects_check_specs(spec, partitions.monthly),
    )
    def invoices(
        context: dg.AssetExecutionContext, vultr: VultrResource
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        parts = []
        for account, months in starts_by_account(context.partition_keys, MONTH_DIMENSION).items():
            with account_client(vultr, account) as client:
                parts.append(_collect_invoices(spec, client, account, months))
        frames = concat_frames(parts)
        context.log.info(
            "Kept %s invoices of %s partitions", len(frames.rows), len(context.partition_keys)
        )
        yield from raw_results(spec, frames)

    return invoices


def build_invoice_items_asset(spec: RecordSpec, partitions: Partitions) -> dg.AssetsDefinition:
    """Define the invoice items asset: the items of the invoices of the same partitions."""

    @dg.multi_asset(
        name=f"{RAW_GROUP}__{spec.table}",
        outs=raw_outs(spec, MONTHLY_PARTITION_EXPR),
        partitions_def=partitions.monthly,
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={"invoices": dg.AssetIn(key=INVOICES_KEY)},
        check_specs=rejects_check_specs(spec, partitions.monthly),
    )
    def invoice_items(
        context: dg.AssetExecutionContext, vultr: VultrResource, invoices: pd.DataFrame
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        """Stream the items of the invoices into the table, a part at a time."""

        def parts() -> Iterator[RawFrames]:
            collected_at = _collected_at()
            for account in starts_by_account(context.partition_keys, MONTH_DIMENSION):
                own = invoices[invoices["account_id"] == account]
                months = {int(i): m for i, m in zip(own["id"], own["billing_month"], strict=True)}
                context.log.info("Fetching the items of %s invoices of %s", len(months), account)
                with account_client(vultr, account) as client:
                    yield from _item_parts(spec, client, account, months, collected_at)

        yield from streamed_raw_results(spec, parts(), invoices=dg.MetadataValue.int(len(invoices)))

    return invoice_items


# Records parsed into one frame of a streamed write; bounds the memory of the parse.
RECORDS_PER_PART = 50_000


def _item_parts(
    spec: RecordSpec,
    client: VultrClient,
    account: str,
    months: dict[int, object],
    collected_at: datetime,
) -> Iterator[RawFrames]:
    """Fetch the items of the invoices in `months` and parse them a part at a time."""
    records: list[dict] = []
    billed: list[dt.date] = []
    for record in collect_records(client, spec.table, invoice_ids=sorted(months)):
        records.append(record)
        billed.append(_as_date(months[int(record["invoice_id"])]))
        if len(records) >= RECORDS_PER_PART:
            yield split_records(spec, records, account, collected_at, billed)
            records, billed = [], []
    if records:
        yield split_records(spec, records, account, collected_at, billed)


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
