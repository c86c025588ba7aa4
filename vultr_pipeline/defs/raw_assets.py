"""Raw assets: one per Vultr API endpoint, each landing in a ClickHouse table of group vultr_raw.

Each asset fetches its endpoint, parses every record into typed columns (money as Decimal,
timestamps in UTC), keeps the record as JSON with secrets removed, and returns a DataFrame that
the ClickHouse IO manager writes in place of the previous contents.
"""

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from vultr_pipeline.defs.metadata import markdown_preview
from vultr_pipeline.defs.resources import VultrResource
from vultr_pipeline.defs.tables import order_by, table_schema
from vultr_pipeline.vultr.client import VultrClient
from vultr_pipeline.vultr.collect import collect_records
from vultr_pipeline.vultr.records import RECORD_SPECS, RecordSpec, parse_record

RAW_GROUP = "vultr_raw"
RAW_KINDS = {"vultr", "clickhouse", "pandas"}
INVOICES_KEY = dg.AssetKey([RAW_GROUP, "invoices"])


def records_frame(
    spec: RecordSpec, records: Iterable[dict], account: str, collected_at: datetime
) -> pd.DataFrame:
    """Parse API records into a DataFrame with the columns of the raw table for `spec`."""
    rows = [parse_record(spec, record) for record in records]
    columns = [column.name for column in table_schema(spec).columns]
    frame = pd.DataFrame(
        rows, columns=[c for c in columns if c not in ("account_id", "collected_at")]
    )
    frame.insert(0, "account_id", account)
    frame["collected_at"] = pd.Timestamp(collected_at)
    return frame[columns]


def _output_metadata(spec: RecordSpec, frame: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    return {
        "endpoint": dg.MetadataValue.text(spec.endpoint.path),
        "records": dg.MetadataValue.int(len(frame)),
        "preview": dg.MetadataValue.md(markdown_preview(frame.drop(columns=["raw"]))),
    }


def _fetch(
    spec: RecordSpec, vultr: VultrResource, fetch: Callable[[VultrClient], Iterable[dict]]
) -> pd.DataFrame:
    now = datetime.now(UTC)
    # The collected_at column keeps milliseconds, so finer digits are dropped here, not refused.
    collected_at = now.replace(microsecond=now.microsecond // 1000 * 1000)
    with vultr.get_client() as client:
        records = list(fetch(client))
    return records_frame(spec, records, vultr.account, collected_at)


def build_raw_asset(spec: RecordSpec) -> dg.AssetsDefinition:
    """Define the raw asset that stores endpoint `spec.endpoint` in table `spec.table`."""
    metadata = {
        "dagster/column_schema": table_schema(spec),
        "clickhouse/order_by": order_by(spec),
        "endpoint": spec.endpoint.path,
    }

    @dg.asset(
        name=spec.table,
        key_prefix=RAW_GROUP,
        group_name=RAW_GROUP,
        kinds=RAW_KINDS,
        description=spec.doc,
        metadata=metadata,
        io_manager_key="clickhouse",
    )
    def raw_asset(context: dg.AssetExecutionContext, vultr: VultrResource) -> pd.DataFrame:
        frame = _fetch(spec, vultr, lambda client: collect_records(client, spec.table))
        context.add_output_metadata(_output_metadata(spec, frame))
        return frame

    return raw_asset


def build_invoice_items_asset(spec: RecordSpec) -> dg.AssetsDefinition:
    """Define the invoice items asset, which fetches the items of every stored invoice."""
    metadata = {
        "dagster/column_schema": table_schema(spec),
        "clickhouse/order_by": order_by(spec),
        "endpoint": spec.endpoint.path,
    }

    @dg.asset(
        name=spec.table,
        key_prefix=RAW_GROUP,
        group_name=RAW_GROUP,
        kinds=RAW_KINDS,
        description=spec.doc,
        metadata=metadata,
        io_manager_key="clickhouse",
        ins={"invoices": dg.AssetIn(key=INVOICES_KEY)},
    )
    def invoice_items(
        context: dg.AssetExecutionContext, vultr: VultrResource, invoices: pd.DataFrame
    ) -> pd.DataFrame:
        own = invoices[invoices["account_id"] == vultr.account]
        invoice_ids = sorted(int(i) for i in own["id"])
        context.log.info("Fetching the items of %s invoices", len(invoice_ids))
        frame = _fetch(
            spec,
            vultr,
            lambda client: collect_records(client, spec.table, invoice_ids=invoice_ids),
        )
        context.add_output_metadata(
            {**_output_metadata(spec, frame), "invoices": dg.MetadataValue.int(len(invoice_ids))}
        )
        return frame

    return invoice_items


def build_raw_assets() -> list[dg.AssetsDefinition]:
    """Define every raw asset, one per table in the record specs."""
    assets = []
    for spec in RECORD_SPECS.values():
        if spec.table == "invoice_items":
            assets.append(build_invoice_items_asset(spec))
        else:
            assets.append(build_raw_asset(spec))
    return assets
