"""Turn DataFrame output into Arrow chunks of bounded size, converted ahead of the insert.

An asset may return one DataFrame or an iterable of them (a generator that yields one
page of records after another, say). Either way the rows reach ClickHouse as Arrow tables
of about `chunk_rows` rows, so the Arrow copy of the data stays bounded however large the
output grows.

Converting pandas objects to Arrow holds the GIL, while chDB and the HTTP client release
it while they insert. A single worker thread therefore converts the next piece while the
caller inserts the current chunk, and the two overlap.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import pandas as pd
import pyarrow as pa

from vultr_pipeline.clickhouse.column_types import ColumnType, frame_to_arrow

# Rows per insert. 200,000 rows of a 14-column table of invoice lines take about 60 MB
# as Arrow, and larger chunks made inserts no faster in the write benchmark.
DEFAULT_CHUNK_ROWS = 200_000

Frames = pd.DataFrame | Iterable[pd.DataFrame]
"""One DataFrame, or an iterable of DataFrames that together form the output."""


class DataFrameStream:
    """An iterable of DataFrames that an asset returns as one output, read once.

    Dagster 1.13.28 iterates a generator returned by an asset function as a stream of
    events and rejects the DataFrames in it. Wrapping the generator in this class (or in
    ``dg.Output``) passes it to the IO manager untouched:

    .. code-block:: python

        @dg.asset(io_manager_key="clickhouse", metadata={...})
        def invoice_items() -> DataFrameStream:
            return DataFrameStream(frame_per_page())
    """

    def __init__(self, frames: Iterable[pd.DataFrame]) -> None:
        self._frames = frames

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return iter(self._frames)

    def __repr__(self) -> str:
        return f"DataFrameStream({type(self._frames).__name__})"


def arrow_chunks(
    frames: Frames,
    columns: Sequence[tuple[str, ColumnType]],
    table: str,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[pa.Table]:
    """Convert `frames` into Arrow tables of the declared column types, chunk by chunk.

    A DataFrame longer than `chunk_rows` is converted in slices of `chunk_rows` rows.
    Shorter DataFrames are converted one by one and joined until a chunk contains at least
    `chunk_rows` rows, so a chunk has fewer than ``2 * chunk_rows`` rows. One DataFrame
    always yields at least one chunk, empty if it has no rows; an empty iterable yields
    none. Error messages count rows across the whole output.

    `frames` is iterated on the calling thread; only `frame_to_arrow` runs on the worker.

    Raises:
        ValueError: `chunk_rows` is below 1.
        ClickHouseDataError: A value does not fit its column.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows!r}")
    slices = _frame_slices(frames, chunk_rows)
    converted = _converted_ahead(slices, columns, table)
    return _joined(converted, chunk_rows)


def _frame_slices(frames: Frames, chunk_rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """Yield ``(first_row, frame)`` pieces of at most `chunk_rows` rows."""
    if isinstance(frames, pd.DataFrame):
        frames = [frames]
    first_row = 0
    for frame in frames:
        if len(frame) <= chunk_rows:
            yield first_row, frame
        else:
            for start in range(0, len(frame), chunk_rows):
                yield first_row + start, frame.iloc[start : start + chunk_rows]
        first_row += len(frame)


def _converted_ahead(
    slices: Iterator[tuple[int, pd.DataFrame]],
    columns: Sequence[tuple[str, ColumnType]],
    table: str,
) -> Iterator[pa.Table]:
    """Yield each slice as Arrow, with the next slice already converting on the worker."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="arrow-convert")
    pending: Future[pa.Table] | None = None
    try:
        for first_row, frame in slices:
            future = executor.submit(frame_to_arrow, frame, columns, table, first_row=first_row)
            if pending is not None:
                yield pending.result()
            pending = future
        if pending is not None:
            yield pending.result()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _joined(tables: Iterator[pa.Table], chunk_rows: int) -> Iterator[pa.Table]:
    buffered: list[pa.Table] = []
    rows = 0
    for table in tables:
        buffered.append(table)
        rows += table.num_rows
        if rows >= chunk_rows:
            yield _concat(buffered)
            buffered, rows = [], 0
    if buffered:
        yield _concat(buffered)


def _concat(tables: list[pa.Table]) -> pa.Table:
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)
