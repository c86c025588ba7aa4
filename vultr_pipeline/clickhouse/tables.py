"""Table DDL, schema changes and atomic replacement of tables and partitions.

Nothing here imports Dagster: `TableSpec` describes a table, and the functions take a
`ClickHouseEngine`. Every write goes to a staging table first, so a failed insert leaves
the target as it was:

- `replace_table` swaps the staging table in with ``EXCHANGE TABLES``;
- `replace_partitions` moves each written partition in with ``ALTER TABLE ... REPLACE
  PARTITION ... FROM staging`` and drops the partitions that received no rows.

On a cluster (`TableSpec.cluster`), the table is a ``ReplicatedMergeTree`` created with
``ON CLUSTER`` on every replica, and schema changes run ``ON CLUSTER`` too. The staging
table is a plain ``MergeTree`` on the server the write goes to. ``REPLACE PARTITION`` and
``DROP PARTITION`` on a replicated table reach the other replicas through replication, so
they run without ``ON CLUSTER``; an unpartitioned table is replaced the same way, through
its single partition ``ID 'all'``, because ``EXCHANGE TABLES`` would swap one replica only.

Both take one DataFrame or an iterable of DataFrames and insert them in chunks of about
`DEFAULT_CHUNK_ROWS` rows (see `vultr_pipeline.clickhouse.chunks`), so the staging
table fills while the caller still produces rows.

A writer killed between creating its staging table and dropping it leaves the staging
table behind. Each staging table's comment records the partitions it was made for. The
next write of the same table drops a leftover (logged at WARNING) when either write
covers the whole table, when the two share a partition, when the comment is unreadable,
or when the leftover is older than `STALE_STAGING_AGE_SECONDS`. Younger leftovers for
other partitions may belong to a concurrent writer, so they stay.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from vultr_pipeline.clickhouse.chunks import DEFAULT_CHUNK_ROWS, Frames, arrow_chunks
from vultr_pipeline.clickhouse.column_types import (
    ColumnType,
    arrow_to_frame,
    parse_column_type,
)
from vultr_pipeline.clickhouse.engine import ClickHouseEngine, quote_identifier, quote_string
from vultr_pipeline.clickhouse.errors import ClickHouseDataError, ClickHouseSchemaError

logger = logging.getLogger(__name__)

_EXISTING_COLUMNS_SQL = (
    "SELECT name, type, comment FROM system.columns "
    "WHERE database = {database:String} AND table = {table:String} ORDER BY position"
)
_TABLE_KEYS_SQL = (
    "SELECT partition_key, sorting_key FROM system.tables "
    "WHERE database = {database:String} AND name = {table:String}"
)
_STAGING_TABLES_SQL = (
    "SELECT name, comment, dateDiff('second', metadata_modification_time, now()) AS age "
    "FROM system.tables WHERE database = {database:String} "
    "AND startsWith(name, {prefix:String}) ORDER BY name"
)
# How many offending rows, and how many partitions, an error message lists.
_MAX_REPORTED_ROWS = 5
_MAX_REPORTED_PARTITIONS = 10
# Age after which any leftover staging table of a table counts as abandoned.
# NOTE: an estimate, because no write is expected to take this long. A longer write on a
# server can lose its staging table to another writer of the same table, and then fails.
STALE_STAGING_AGE_SECONDS = 6 * 3600


@dataclass(frozen=True)
class TableSpec:
    """A ClickHouse table declared by its owner, not inferred from data.

    Attributes:
        database: Database name.
        table: Table name.
        columns: Column names with their parsed ClickHouse types, in table order.
        comments: Column comments by column name.
        order_by: Columns of the MergeTree sort key; empty means ``tuple()``.
        partition_columns: Columns of the ``PARTITION BY`` key, in key order; empty means
            an unpartitioned table.
        cluster: Name of the ClickHouse cluster whose replicas hold the table, or None for a
            single server or chDB.
    """

    database: str
    table: str
    columns: tuple[tuple[str, ColumnType], ...]
    comments: Mapping[str, str] = field(default_factory=dict)
    order_by: tuple[str, ...] = ()
    partition_columns: tuple[str, ...] = ()
    cluster: str | None = None

    @property
    def qualified_name(self) -> str:
        """Return ``database.table``."""
        return f"{self.database}.{self.table}"

    @property
    def column_names(self) -> list[str]:
        """Return the declared column names in order."""
        return [name for name, _ in self.columns]

    def column_type(self, name: str) -> ColumnType:
        """Return the parsed type of a declared column."""
        return dict(self.columns)[name]


def quoted_table(database: str, table: str) -> str:
    """Return ```database`.`table``` with both names validated."""
    return f"{quote_identifier(database)}.{quote_identifier(table)}"


def create_table_sql(spec: TableSpec) -> str:
    """Build the ``CREATE TABLE IF NOT EXISTS`` statement for `spec`.

    On a cluster the statement runs ``ON CLUSTER`` and the engine is ``ReplicatedMergeTree``
    without arguments, so each server takes the Keeper path and replica name from its
    ``default_replica_path`` and ``default_replica_name`` settings.
    """
    engine = "ReplicatedMergeTree" if spec.cluster else "MergeTree"
    return (
        f"CREATE TABLE IF NOT EXISTS {quoted_table(spec.database, spec.table)}"
        f"{on_cluster(spec)} (\n    "
        + ",\n    ".join(_column_definition(spec, name, column) for name, column in spec.columns)
        + f"\n)\n{_engine_sql(spec, engine)}"
    )


def on_cluster(spec: TableSpec) -> str:
    """Return the ``ON CLUSTER`` clause of the table's DDL, empty off a cluster."""
    return f" ON CLUSTER {quote_identifier(spec.cluster)}" if spec.cluster else ""


def _engine_sql(spec: TableSpec, engine: str) -> str:
    if spec.order_by:
        order_by = "(" + ", ".join(quote_identifier(name) for name in spec.order_by) + ")"
    else:
        order_by = "tuple()"
    partition_by = ""
    if spec.partition_columns:
        partition_by = f"\nPARTITION BY {_partition_key_sql(spec.partition_columns)}"
    return f"ENGINE = {engine}{partition_by}\nORDER BY {order_by}"


def _partition_key_sql(columns: Sequence[str]) -> str:
    if len(columns) == 1:
        return quote_identifier(columns[0])
    return "(" + ", ".join(quote_identifier(name) for name in columns) + ")"


def _column_definition(spec: TableSpec, name: str, column: ColumnType) -> str:
    definition = f"{quote_identifier(name)} {column.name}"
    comment = spec.comments.get(name)
    if comment:
        definition += f" COMMENT {quote_string(comment)}"
    return definition


def ensure_table(engine: ClickHouseEngine, spec: TableSpec) -> None:
    """Create the database and table if missing, and add newly declared columns.

    Raises:
        ClickHouseSchemaError: An existing column has another type than declared, or the
            existing table is partitioned by another expression.
    """
    engine.command(
        f"CREATE DATABASE IF NOT EXISTS {quote_identifier(spec.database)}{on_cluster(spec)}"
    )
    existing = _existing_columns(engine, spec.database, spec.table)
    if not existing:
        engine.command(create_table_sql(spec))
        logger.info("Created table %s", spec.qualified_name)
        return

    _check_partition_key(engine, spec)
    for name, column in spec.columns:
        if name not in existing:
            _add_column(engine, spec, name, column)
            continue
        existing_type, existing_comment = existing[name]
        _check_column_type(spec, name, column, existing_type)
        comment = spec.comments.get(name, "")
        if comment and comment != existing_comment:
            engine.command(
                f"ALTER TABLE {quoted_table(spec.database, spec.table)}{on_cluster(spec)} "
                f"COMMENT COLUMN {quote_identifier(name)} {quote_string(comment)}"
            )

    undeclared = sorted(set(existing) - set(spec.column_names))
    if undeclared:
        logger.warning(
            "Table %s has columns that the schema no longer declares: %s. New rows get "
            "their default values; drop the columns if they are no longer needed.",
            spec.qualified_name,
            ", ".join(undeclared),
        )


def _existing_columns(
    engine: ClickHouseEngine, database: str, table: str
) -> dict[str, tuple[str, str]]:
    result = engine.query_arrow(_EXISTING_COLUMNS_SQL, {"database": database, "table": table})
    rows = result.to_pylist()
    return {row["name"]: (row["type"], row["comment"]) for row in rows}


def _add_column(engine: ClickHouseEngine, spec: TableSpec, name: str, column: ColumnType) -> None:
    engine.command(
        f"ALTER TABLE {quoted_table(spec.database, spec.table)}{on_cluster(spec)} "
        "ADD COLUMN IF NOT EXISTS " + _column_definition(spec, name, column)
    )
    logger.info("Added column %s %s to %s", name, column.name, spec.qualified_name)


def _check_column_type(spec: TableSpec, name: str, column: ColumnType, existing: str) -> None:
    try:
        existing_name = parse_column_type(existing).name
    except ClickHouseSchemaError:
        existing_name = existing
    if existing_name != column.name:
        raise ClickHouseSchemaError(
            f"Column {spec.qualified_name}.{name} has type {existing_name} in ClickHouse, "
            f"but the asset declares {column.name}. ClickHouse tables keep column types: "
            f"drop the table (DROP TABLE {spec.qualified_name}) and materialize again to "
            "rebuild it, or declare the new type under a new column name."
        )


def _check_partition_key(engine: ClickHouseEngine, spec: TableSpec) -> None:
    rows = engine.query_arrow(
        _TABLE_KEYS_SQL, {"database": spec.database, "table": spec.table}
    ).to_pylist()
    if not rows:
        return
    existing = _strip_key(rows[0]["partition_key"])
    expected = ", ".join(spec.partition_columns)
    if existing != expected:
        raise ClickHouseSchemaError(
            f"Table {spec.qualified_name} is partitioned by {existing or 'nothing'!r}, but the "
            f"asset declares {expected or 'no partitions'!r}. Drop the table (DROP TABLE "
            f"{spec.qualified_name}) and materialize again to rebuild it."
        )
    if _strip_key(rows[0]["sorting_key"]) != ", ".join(spec.order_by):
        logger.warning(
            "Table %s keeps its sort key %r; the declared order %r applies only to a new table.",
            spec.qualified_name,
            rows[0]["sorting_key"],
            ", ".join(spec.order_by),
        )


def _strip_key(key: str) -> str:
    key = key.strip()
    if key.startswith("(") and key.endswith(")"):
        key = key[1:-1]
    return key.replace("`", "").strip()


def replace_table(
    engine: ClickHouseEngine,
    spec: TableSpec,
    frame: Frames,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> int:
    """Replace all rows of the table with `frame`, atomically; return the rows written.

    The rows go into a staging table with the target's structure, chunk by chunk, and the
    staging table then trades places with the target in one ``EXCHANGE TABLES``. The old
    rows are dropped with the staging table. A failed conversion or insert, in any chunk,
    drops the staging table and leaves the target as it was. The first chunk is converted
    before the table is created, so invalid values there leave no trace at all.

    Args:
        engine: Engine to write with.
        spec: The target table.
        frame: One DataFrame, or an iterable of DataFrames consumed once.
        chunk_rows: Rows per insert.

    ``EXCHANGE TABLES`` needs an Atomic database (the server default). In chDB 4.4.0 the
    ``default`` database uses the Overlay engine and new databases are Atomic; the exchange
    works in both, which the IO manager tests check.
    """
    chunks = arrow_chunks(frame, spec.columns, spec.qualified_name, chunk_rows)
    with contextlib.closing(chunks):
        first = next(chunks, None)
        ensure_table(engine, spec)
        target = quoted_table(spec.database, spec.table)
        rows = 0
        with _staging_table(engine, spec, None) as staging_name:
            staging = quoted_table(spec.database, staging_name)
            for data in _with_first(first, chunks):
                if data.num_rows:
                    engine.insert_arrow(spec.database, staging_name, data)
                rows += data.num_rows
            if not spec.cluster:
                engine.command(f"EXCHANGE TABLES {staging} AND {target}")
            elif rows:
                engine.command(f"ALTER TABLE {target} REPLACE PARTITION ID 'all' FROM {staging}")
            else:
                engine.command(f"ALTER TABLE {target} DROP PARTITION ID 'all'")
    return rows


def _with_first(first: pa.Table | None, rest: Iterator[pa.Table]) -> Iterator[pa.Table]:
    if first is not None:
        yield first
        yield from rest


def replace_partitions(
    engine: ClickHouseEngine,
    spec: TableSpec,
    frame: Frames,
    partitions: Mapping[str, tuple[Any, ...]],
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> dict[str, int]:
    """Replace the given partitions with the rows of `frame`; return the rows per partition.

    Each partition is moved in with one ``REPLACE PARTITION`` from a staging table, which
    is atomic for that partition, or dropped when `frame` has no rows for it. Other
    partitions stay untouched.

    Args:
        engine: Engine to write with.
        spec: The target table; its `partition_columns` must be set.
        frame: Rows of all the given partitions: one DataFrame, or an iterable of
            DataFrames consumed once.
        partitions: Partition values by partition name (for example a Dagster partition
            key), one value per partition column, in the order of `spec.partition_columns`.
        chunk_rows: Rows per insert.

    Raises:
        ClickHouseDataError: A row's partition columns match none of `partitions`. No
            partition changes then, whichever chunk the row is in.
    """
    if not spec.partition_columns:
        raise ClickHouseSchemaError(f"Table {spec.qualified_name} declares no partition column.")
    matcher = _PartitionMatcher(spec, partitions)
    chunks = arrow_chunks(frame, spec.columns, spec.qualified_name, chunk_rows)
    with contextlib.closing(chunks):
        first = next(chunks, None)
        if first is not None:
            matcher.count(first, first_row=0)
        ensure_table(engine, spec)
        _write_partitions(engine, spec, partitions, matcher, _with_first(first, chunks))
    return matcher.counts


def _write_partitions(
    engine: ClickHouseEngine,
    spec: TableSpec,
    partitions: Mapping[str, tuple[Any, ...]],
    matcher: _PartitionMatcher,
    chunks: Iterator[pa.Table],
) -> None:
    """Insert the chunks into a staging table, then move each partition into the target."""
    target = quoted_table(spec.database, spec.table)
    partition_sql = _partition_value_sql(spec)
    scope = [_partition_texts(values) for values in partitions.values()]
    row_counts = matcher.counts
    with _staging_table(engine, spec, scope) as staging_name:
        staging = quoted_table(spec.database, staging_name)
        first_row = 0
        for index, data in enumerate(chunks):
            if index:
                # The caller counted the first chunk before it created the table.
                matcher.count(data, first_row=first_row)
            if data.num_rows:
                engine.insert_arrow(spec.database, staging_name, data)
            first_row += data.num_rows
        for name, values in partitions.items():
            parameters = _partition_parameters(values)
            if row_counts[name]:
                sql = f"ALTER TABLE {target} REPLACE PARTITION {partition_sql} FROM {staging}"
            else:
                sql = f"ALTER TABLE {target} DROP PARTITION {partition_sql}"
            engine.command(sql, parameters)


def _partition_value_sql(spec: TableSpec) -> str:
    """Build the partition expression of ``REPLACE PARTITION``, one placeholder per column."""
    placeholders = [
        f"{{partition_{index}:{spec.column_type(name).partition_type}}}"
        for index, name in enumerate(spec.partition_columns)
    ]
    if len(placeholders) == 1:
        return placeholders[0]
    return "tuple(" + ", ".join(placeholders) + ")"


def _partition_parameters(values: Sequence[Any]) -> dict[str, str]:
    return {
        f"partition_{index}": partition_parameter_text(value) for index, value in enumerate(values)
    }


def _partition_texts(values: Sequence[Any]) -> list[str]:
    return [partition_parameter_text(value) for value in values]


class _PartitionMatcher:
    """Count the rows of each partition, chunk by chunk, rejecting rows outside them all."""

    def __init__(self, spec: TableSpec, partitions: Mapping[str, tuple[Any, ...]]) -> None:
        self.spec = spec
        self.partitions = partitions
        self.columns = list(spec.partition_columns)
        self.counts = dict.fromkeys(partitions, 0)
        types = [spec.column_type(name).arrow_type for name in self.columns]
        # Round-trip the expected values through Arrow so that they compare equal to the
        # values read from the data (for example time zone objects of timestamps).
        self._by_values: dict[tuple[Any, ...], str] = {}
        for name, values in partitions.items():
            if len(values) != len(self.columns):
                raise ClickHouseSchemaError(
                    f"Partition {name} of {spec.qualified_name} has {len(values)} values, but "
                    f"the table is partitioned by {len(self.columns)} columns {self.columns}."
                )
            normalized = tuple(
                pa.array([value], type=arrow_type)[0].as_py()
                for value, arrow_type in zip(values, types, strict=True)
            )
            self._by_values[normalized] = name

    def count(self, data: pa.Table, first_row: int) -> None:
        """Add the rows of one chunk, whose first row is row `first_row` of the output.

        Raises:
            ClickHouseDataError: Rows of the chunk belong to none of the partitions.
        """
        outside: dict[tuple[Any, ...], int] = {}
        grouped = data.select(self.columns).group_by(self.columns).aggregate([([], "count_all")])
        for row in grouped.to_pylist():
            values = tuple(row[name] for name in self.columns)
            name = self._by_values.get(values)
            if name is None:
                outside[values] = row["count_all"]
            else:
                self.counts[name] += row["count_all"]
        if outside:
            raise _outside_partitions_error(data, self.spec, self.partitions, outside, first_row)


def _outside_partitions_error(
    data: pa.Table,
    spec: TableSpec,
    partitions: Mapping[str, tuple[Any, ...]],
    outside: Mapping[tuple[Any, ...], int],
    first_row: int,
) -> ClickHouseDataError:
    columns = list(spec.partition_columns)
    mask = None
    for values in list(outside)[:_MAX_REPORTED_ROWS]:
        match = None
        for name, value in zip(columns, values, strict=True):
            column = data.column(name)
            equal = (
                pc.is_null(column)
                if value is None
                else pc.fill_null(pc.equal(column, value), False)
            )
            match = equal if match is None else pc.and_(match, equal)
        mask = match if mask is None else pc.or_(mask, match)
    assert mask is not None
    positions = pc.indices_nonzero(mask).to_pylist()[:_MAX_REPORTED_ROWS]
    examples = "; ".join(
        f"row {first_row + position}: "
        + _describe_values(columns, [data.column(name)[position].as_py() for name in columns])
        for position in positions
    )
    names = list(partitions)
    written = ", ".join(
        f"{name} ({_describe_values(columns, partitions[name])})"
        for name in names[:_MAX_REPORTED_PARTITIONS]
    )
    if len(names) > _MAX_REPORTED_PARTITIONS:
        written += f" and {len(names) - _MAX_REPORTED_PARTITIONS} more"
    column_list = ", ".join(columns)
    return ClickHouseDataError(
        f"{sum(outside.values())} rows of {spec.qualified_name} have a {column_list} outside "
        f"the partitions of this run ({examples}). This run writes partitions {written}. "
        f"Set {column_list} to the values of the row's partition (for time windows, the "
        "window start in UTC), or drop the rows."
    )


def _describe_values(columns: Sequence[str], values: Sequence[Any]) -> str:
    if len(columns) == 1:
        return _describe_value(values[0])
    return ", ".join(
        f"{name}={_describe_value(value)}" for name, value in zip(columns, values, strict=True)
    )


def _describe_value(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return repr(value)


def partition_parameter_text(value: Any) -> str:
    """Render a partition value as text for a ``{partition:Type}`` query parameter."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


@contextlib.contextmanager
def _staging_table(
    engine: ClickHouseEngine, spec: TableSpec, scope: list[list[str]] | None
) -> Iterator[str]:
    """Create a staging table shaped like the target, yield its name, then drop it.

    Args:
        engine: Engine to write with.
        spec: The target table.
        scope: The partitions this write replaces, as partition values rendered as text,
            or None when it replaces the whole table. The staging table's comment records
            it, so that a later write can tell whether a leftover staging table is stale.
    """
    _drop_stale_staging_tables(engine, spec, scope)
    name = f"{spec.table}__staging_{uuid.uuid4().hex[:12]}"
    staging = quoted_table(spec.database, name)
    comment = quote_string(json.dumps({"partitions": scope}))
    if spec.cluster:
        # A local, unreplicated copy of the replicated target: same columns, partition
        # key and sort key, as REPLACE PARTITION requires.
        engine.command(
            f"CREATE TABLE {staging} AS {quoted_table(spec.database, spec.table)} "
            f"{_engine_sql(spec, 'MergeTree')} COMMENT {comment}"
        )
    else:
        engine.command(
            f"CREATE TABLE {staging} AS {quoted_table(spec.database, spec.table)} COMMENT {comment}"
        )
    try:
        yield name
    finally:
        # SYNC frees the name and the disk space now, not after the Atomic database's delay.
        engine.command(f"DROP TABLE IF EXISTS {staging} SYNC")


def _drop_stale_staging_tables(
    engine: ClickHouseEngine, spec: TableSpec, scope: list[list[str]] | None
) -> None:
    """Drop staging tables that an interrupted write of this table left behind."""
    for leftover in _staging_table_rows(engine, spec.database, spec.table):
        if not _is_stale(leftover, scope):
            logger.info(
                "Keeping staging table %s.%s: it may belong to a concurrent write of other "
                "partitions of %s.",
                spec.database,
                leftover["name"],
                spec.qualified_name,
            )
            continue
        logger.warning(
            "Dropping staging table %s.%s, left %s s ago by an interrupted write of %s.",
            spec.database,
            leftover["name"],
            leftover["age"],
            spec.qualified_name,
        )
        engine.command(f"DROP TABLE IF EXISTS {quoted_table(spec.database, leftover['name'])} SYNC")


def _is_stale(leftover: Mapping[str, Any], scope: list[list[str]] | None) -> bool:
    if leftover["age"] >= STALE_STAGING_AGE_SECONDS or scope is None:
        return True
    try:
        leftover_scope = json.loads(leftover["comment"])["partitions"]
    except (ValueError, TypeError, KeyError):
        # Staging tables without a readable scope predate scoped comments, so they count
        # as abandoned.
        return True
    if leftover_scope is None:
        return True
    written = {tuple(values) for values in scope}
    return any(tuple(values) in written for values in leftover_scope)


def _staging_table_rows(
    engine: ClickHouseEngine, database: str, table: str
) -> list[dict[str, Any]]:
    result = engine.query_arrow(
        _STAGING_TABLES_SQL, {"database": database, "prefix": f"{table}__staging_"}
    )
    return result.to_pylist()


def staging_tables(engine: ClickHouseEngine, database: str, table: str) -> list[str]:
    """Return the names of staging tables left for `table`, for checks and cleanup."""
    return [row["name"] for row in _staging_table_rows(engine, database, table)]


def read_table(
    engine: ClickHouseEngine,
    database: str,
    table: str,
    column_names: Sequence[str] | None = None,
    where: str = "",
    parameters: Mapping[str, Any] | None = None,
    order_by: Sequence[str] = (),
) -> pd.DataFrame:
    """Read a table into a DataFrame with exact types taken from the table's columns.

    Args:
        engine: Engine to read with.
        database: Database name.
        table: Table name.
        column_names: Columns to read, in order; None reads all columns.
        where: Optional SQL condition with ``{name:Type}`` placeholders.
        parameters: Values for the placeholders in `where`.
        order_by: Columns to sort the rows by.

    Raises:
        ClickHouseSchemaError: The table does not exist, lacks a requested column, or has a
            column type the IO manager cannot convert exactly.
    """
    existing = _existing_columns(engine, database, table)
    if not existing:
        raise ClickHouseSchemaError(
            f"Table {database}.{table} does not exist. Materialize its asset first."
        )
    names = list(column_names) if column_names is not None else list(existing)
    missing = [name for name in names if name not in existing]
    if missing:
        raise ClickHouseSchemaError(
            f"Table {database}.{table} has no columns {missing}. Materialize its asset again "
            "to add them."
        )
    columns = [(name, parse_column_type(existing[name][0])) for name in names]

    select = ", ".join(quote_identifier(name) for name in names)
    sql = f"SELECT {select} FROM {quoted_table(database, table)}"
    if where:
        sql += f" WHERE {where}"
    if order_by:
        sql += " ORDER BY " + ", ".join(quote_identifier(name) for name in order_by)
    return arrow_to_frame(engine.query_arrow(sql, parameters), columns)
