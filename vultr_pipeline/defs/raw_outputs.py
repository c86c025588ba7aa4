"""The outputs of every raw asset: its rows, its rejected records, and the check on them.

A raw asset is a multi-asset. Output `records` goes to table `vultr_raw.<table>` and output
`rejects` to `vultr_rejects.<table>`, with the same partitions, so the IO manager replaces both
in one run. Check `no_rejected_records` warns when the run rejected any record. Which record is
rejected, and why, is decided by `vultr_pipeline.vultr.records.parse_or_reject`. This module
routes the records into frames and reports the rejects.
"""

import dataclasses
import datetime as dt
import itertools
import warnings
from collections.abc import Iterable, Iterator
from datetime import datetime

import dagster as dg
import pandas as pd

from vultr_pipeline.clickhouse.chunks import DataFrameStream
from vultr_pipeline.defs.metadata import markdown_preview
from vultr_pipeline.defs.tables import (
    order_by,
    partition_column,
    rejects_order_by,
    rejects_schema,
    table_schema,
)
from vultr_pipeline.vultr.records import RecordSpec, RejectedRecord, parse_or_reject

RAW_GROUP = "vultr_raw"
REJECTS_GROUP = "vultr_rejects"
RAW_KINDS = {"vultr", "clickhouse", "pandas"}
RECORDS_OUTPUT = "records"
REJECTS_OUTPUT = "rejects"
REJECTS_CHECK = "no_rejected_records"


@dataclasses.dataclass(frozen=True)
class RawFrames:
    """The rows of a raw table and the records rejected on the way, both with their partition.

    Attributes:
        rows: Frame with the columns of the raw table.
        rejects: Frame with the columns of its rejects table.
    """

    rows: pd.DataFrame
    rejects: pd.DataFrame


def split_records(
    spec: RecordSpec,
    records: Iterable[dict],
    account: str,
    collected_at: datetime,
    partition_values: Iterable[dt.date] | dt.date,
) -> RawFrames:
    """Parse API records into the rows of the raw table for `spec` and the rejected records.

    `partition_values` is one date for every record, or one date per record, in order.
    """
    records = list(records)
    if isinstance(partition_values, dt.date):
        values = [partition_values] * len(records)
    else:
        values = list(partition_values)
    rows: list[dict] = []
    row_values: list[dt.date] = []
    rejects: list[dict] = []
    reject_values: list[dt.date] = []
    for record, value in zip(records, values, strict=True):
        parsed = parse_or_reject(spec, record)
        if isinstance(parsed, RejectedRecord):
            rejects.append(dataclasses.asdict(parsed))
            reject_values.append(value)
        else:
            rows.append(parsed)
            row_values.append(value)
    partition = partition_column(spec).name
    return RawFrames(
        _frame(table_schema(spec), rows, account, partition, row_values, collected_at),
        _frame(rejects_schema(spec), rejects, account, partition, reject_values, collected_at),
    )


def _frame(
    schema: dg.TableSchema,
    rows: list[dict],
    account: str,
    partition: str,
    partition_values: list[dt.date],
    collected_at: datetime,
) -> pd.DataFrame:
    columns = [column.name for column in schema.columns]
    own = [c for c in columns if c not in ("account_id", partition, "collected_at")]
    frame = pd.DataFrame(rows, columns=own)
    frame.insert(0, "account_id", account)
    frame.insert(1, partition, pd.Series(partition_values, dtype=object))
    frame["collected_at"] = pd.Timestamp(collected_at)
    return frame[columns]


def concat_frames(parts: list[RawFrames]) -> RawFrames:
    """Join the frames of several accounts, rows with rows and rejects with rejects."""
    if len(parts) == 1:
        return parts[0]
    return RawFrames(
        pd.concat([part.rows for part in parts], ignore_index=True),
        pd.concat([part.rejects for part in parts], ignore_index=True),
    )


def _output_metadata(spec: RecordSpec, frame: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    return {
        "endpoint": dg.MetadataValue.text(spec.endpoint.path),
        "records": dg.MetadataValue.int(len(frame)),
        "preview": dg.MetadataValue.md(markdown_preview(frame.drop(columns=["raw"]))),
    }


def _first_reject(rejects: pd.DataFrame) -> str:
    first = rejects.iloc[0]
    record = "without an id" if pd.isna(first["record_id"]) else first["record_id"]
    return f"record {record}, field '{first['field']}': {first['reason']}"


def _check_result(spec: RecordSpec, rejects: pd.DataFrame) -> dg.AssetCheckResult:
    count = len(rejects)
    metadata: dict[str, dg.MetadataValue] = {"rejected_records": dg.MetadataValue.int(count)}
    if not count:
        return dg.AssetCheckResult(
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description="Every record was read.",
            metadata=metadata,
        )
    first = _first_reject(rejects)
    metadata["first_reason"] = dg.MetadataValue.text(first)
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{count} record(s) from GET {spec.endpoint.path} could not be read, so they are in "
            f"{REJECTS_GROUP}.{spec.table} and not in {RAW_GROUP}.{spec.table}. First: {first}."
        ),
        metadata=metadata,
    )


def raw_results(
    spec: RecordSpec, frames: RawFrames, **extra: dg.MetadataValue
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Yield both outputs of a raw asset and the result of its rejects check."""
    rejected = dg.MetadataValue.int(len(frames.rejects))
    yield dg.Output(
        frames.rows,
        output_name=RECORDS_OUTPUT,
        metadata={**_output_metadata(spec, frames.rows), "rejected_records": rejected, **extra},
    )
    yield from _rejects_results(spec, frames.rejects)


def _rejects_results(
    spec: RecordSpec, rejects: pd.DataFrame
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Yield the rejects output of a raw asset and the result of its rejects check."""
    yield dg.Output(
        rejects,
        output_name=REJECTS_OUTPUT,
        metadata={
            "rejected_records": dg.MetadataValue.int(len(rejects)),
            "preview": dg.MetadataValue.md(markdown_preview(rejects.drop(columns=["raw"]))),
        },
    )
    yield _check_result(spec, rejects)


def streamed_raw_results(
    spec: RecordSpec, parts: Iterator[RawFrames], **extra: dg.MetadataValue
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Yield both outputs of a raw asset whose rows arrive in parts, such as one per page.

    The rows go to the IO manager as a `DataFrameStream`, which it writes chunk by chunk while
    `parts` is still being fetched, so the whole table is never in memory. Dagster hands an
    output to its IO manager as soon as the asset yields it, so by the time the rejects are
    yielded, every part has been read and its rejects kept. The records output's row count is
    the IO manager's `dagster/row_count`; its preview shows the first part.
    """
    rejects: list[pd.DataFrame] = []

    def rows() -> Iterator[pd.DataFrame]:
        for part in parts:
            rejects.append(part.rejects)
            yield part.rows

    stream = rows()
    first = next(stream, None)
    if first is None:
        yield from raw_results(spec, split_records(spec, [], "", datetime.now(dt.UTC), []))
        return
    preview = markdown_preview(first.drop(columns=["raw"]))
    yield dg.Output(
        DataFrameStream(itertools.chain([first], stream)),
        output_name=RECORDS_OUTPUT,
        metadata={
            "endpoint": dg.MetadataValue.text(spec.endpoint.path),
            "preview": dg.MetadataValue.md(preview),
            **extra,
        },
    )
    yield from _rejects_results(spec, pd.concat(rejects, ignore_index=True))


def _metadata(spec: RecordSpec, partition_expr: dict[str, str]) -> dict[str, object]:
    return {
        "dagster/column_schema": table_schema(spec),
        "clickhouse/order_by": order_by(spec),
        # No downstream step reads the API payload, which is most of a row's memory.
        "clickhouse/skip_on_load": ["raw"],
        "endpoint": spec.endpoint.path,
        "partition_expr": partition_expr,
    }


def _rejects_metadata(spec: RecordSpec, partition_expr: dict[str, str]) -> dict[str, object]:
    return {
        "dagster/column_schema": rejects_schema(spec),
        "clickhouse/order_by": rejects_order_by(spec),
        "endpoint": spec.endpoint.path,
        "partition_expr": partition_expr,
    }


def raw_outs(spec: RecordSpec, partition_expr: dict[str, str]) -> dict[str, dg.AssetOut]:
    """Define the two outputs of the raw asset for `spec`: its table and its rejects table."""
    return {
        RECORDS_OUTPUT: dg.AssetOut(
            key=dg.AssetKey([RAW_GROUP, spec.table]),
            group_name=RAW_GROUP,
            kinds=RAW_KINDS,
            description=spec.doc,
            metadata=_metadata(spec, partition_expr),
            io_manager_key="clickhouse",
        ),
        REJECTS_OUTPUT: dg.AssetOut(
            key=dg.AssetKey([REJECTS_GROUP, spec.table]),
            group_name=REJECTS_GROUP,
            kinds=RAW_KINDS,
            description=(
                f"Records of GET {spec.endpoint.path} that could not be read into "
                f"{RAW_GROUP}.{spec.table}, with the field, the reason and the raw JSON."
            ),
            metadata=_rejects_metadata(spec, partition_expr),
            io_manager_key="clickhouse",
        ),
    }


def rejects_check_specs(
    spec: RecordSpec, partitions_def: dg.PartitionsDefinition
) -> list[dg.AssetCheckSpec]:
    """Define check `no_rejected_records` of the raw asset for `spec`."""
    # NOTE: a partitions_def on an AssetCheckSpec is a preview feature of Dagster 1.13.28.
    # Without it, an evaluation is not recorded against the partition of its run.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return [
            dg.AssetCheckSpec(
                REJECTS_CHECK,
                asset=dg.AssetKey([RAW_GROUP, spec.table]),
                description=(
                    f"Every record of GET {spec.endpoint.path} was read; the ones that were "
                    f"not are in {REJECTS_GROUP}.{spec.table}."
                ),
                partitions_def=partitions_def,
            )
        ]
