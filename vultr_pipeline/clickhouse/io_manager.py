"""Dagster IO manager that stores pandas DataFrames in ClickHouse tables.

Each asset declares its table in its definition metadata, and the table is created from
that declaration, never from the data:

.. code-block:: python

    @dg.asset(
        key=["vultr_raw", "instances"],
        metadata={
            "dagster/column_schema": dg.TableSchema(
                columns=[
                    dg.TableColumn("id", "String", description="Instance ID"),
                    dg.TableColumn("cost", "Decimal(38, 10)", description="Cost in USD"),
                ]
            ),
            "clickhouse/order_by": ["id"],
        },
    )
    def instances() -> pd.DataFrame: ...

The asset key ``["vultr_raw", "instances"]`` maps to table ``vultr_raw.instances``.

An asset may also return an iterable of DataFrames, such as a generator that yields one
page of API records at a time. The IO manager writes the DataFrames into the staging
table as they arrive, in chunks of `chunk_rows` rows, and swaps the table in only after
the last one, so the asset never keeps the whole table in memory. Dagster treats a generator
returned by an asset as a stream of events, so wrap it: ``return DataFrameStream(pages())``
or ``return dg.Output(pages())``.

A partitioned asset also sets ``partition_expr``. With a time-window, static or dynamic
partitions definition it is the name of the column that contains the partition. With a
`dg.MultiPartitionsDefinition` it maps each dimension name to its column, for example
``{"account": "account_id", "month": "billing_month"}``. Unlike dagster-duckdb's
``partition_expr``, the values are column names, not SQL expressions. The table is then
``PARTITION BY`` those columns (in the order of the sorted dimension names), and each
partition of a run, a single-run backfill range included, is replaced on its own.
A time-window partition's column contains the window start in UTC.

For a multi-partitioned asset with ``BackfillPolicy.single_run()``, Dagster 1.13.28 does
not launch one run for the whole selection. It holds the dimension with fewer selected
keys fixed and, for each of its keys, launches one run per contiguous range of selected
keys of the other dimension. A run's keys are the cross product of the start and end keys' dimension
ranges; the IO manager replaces each of them, so it accepts any such range.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field, PrivateAttr

from vultr_pipeline.clickhouse.chunks import DEFAULT_CHUNK_ROWS, Frames
from vultr_pipeline.clickhouse.column_types import parse_column_type
from vultr_pipeline.clickhouse.engine import (
    ClickHouseEngine,
    ClickHouseSettings,
    open_engine,
    validate_identifier,
)
from vultr_pipeline.clickhouse.errors import ClickHouseConfigError, ClickHouseSchemaError
from vultr_pipeline.clickhouse.partitions import (
    PARTITION_EXPR_KEY,
    PartitionSelection,
    partition_columns,
    select_partitions,
)
from vultr_pipeline.clickhouse.tables import (
    TableSpec,
    quoted_table,
    read_table,
    replace_partitions,
    replace_table,
)

COLUMN_SCHEMA_KEY = "dagster/column_schema"
ORDER_BY_KEY = "clickhouse/order_by"
# Columns of a table that loading it as an input leaves out, such as a raw JSON payload kept
# only to re-derive rows: downstream steps then hold less in memory.
SKIP_ON_LOAD_KEY = "clickhouse/skip_on_load"
PARTITION_ROW_COUNT_KEY = "dagster/partition_row_count"


class ClickHouseIOManager(dg.ConfigurableIOManager):
    """Store DataFrame assets in ClickHouse, embedded through chDB or on a server.

    Without `host`, tables live in an embedded chDB data directory (`path`, by default
    ``$DAGSTER_HOME/clickhouse``). chDB allows one process per data directory, so run
    such jobs with the in-process executor. With `host`, the IO manager connects to a
    ClickHouse server over HTTP(S).
    """

    path: str | None = Field(
        default=None,
        description="chDB data directory used when no host is set. Defaults to "
        "$DAGSTER_HOME/clickhouse.",
    )
    host: str | None = Field(
        default=None,
        description="ClickHouse server host name. When set, the server is used instead of "
        "embedded chDB.",
    )
    port: int | None = Field(
        default=None,
        description="HTTP(S) port of the ClickHouse server. Defaults to 8123, or 8443 when "
        "secure is true.",
    )
    username: str = Field(default="default", description="ClickHouse user name.")
    password: str | None = Field(
        default=None,
        repr=False,
        description="ClickHouse password. Pass it with dg.EnvVar; it is never logged or "
        "stored in metadata.",
    )
    secure: bool = Field(default=False, description="Connect to the server over HTTPS.")
    compress: bool = Field(
        default=True,
        description="Compress data sent to and from the server. Has no effect on chDB.",
    )
    database: str = Field(
        default="default",
        description="Database for assets whose key has a single part.",
    )
    cluster: str | None = Field(
        default=None,
        description="ClickHouse cluster to create tables on (ON CLUSTER DDL and "
        "ReplicatedMergeTree engines). Needs host; None for a single server or chDB.",
    )
    chunk_rows: int = Field(
        default=DEFAULT_CHUNK_ROWS,
        ge=1,
        description="Rows per insert. Larger chunks use more memory for the Arrow copy of "
        "the data being written.",
    )

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        """Write `obj` to the asset's table, replacing this run's rows.

        `obj` is a DataFrame or an iterable of DataFrames with the declared columns.
        """
        spec = self._table_spec(context, context.asset_key, context.definition_metadata)
        frames = _checked_frames(obj, spec, context.asset_key)

        row_counts: dict[str, int] = {}
        with self._engine() as engine:
            if context.has_asset_partitions:
                selection = self._selection(context, spec)
                row_counts = replace_partitions(
                    engine, spec, frames, selection.partitions, self.chunk_rows
                )
                rows = sum(row_counts.values())
                total = _count_rows(engine, spec)
            else:
                rows = total = replace_table(engine, spec, frames, self.chunk_rows)

        if context.has_asset_partitions:
            context.log.info(
                "Wrote %s rows to %s; partitions replaced: %s",
                rows,
                spec.qualified_name,
                len(row_counts),
            )
        else:
            context.log.info("Wrote %s rows to %s", rows, spec.qualified_name)
        metadata: dict[str, Any] = {
            "dagster/row_count": total,
            "dagster/table_name": spec.qualified_name,
        }
        if context.has_asset_partitions:
            metadata.update(_partition_row_count_metadata(context, row_counts))
        schema = _column_schema(context.definition_metadata)
        if schema is not None:
            metadata[COLUMN_SCHEMA_KEY] = dg.MetadataValue.table_schema(schema)
        context.add_output_metadata(metadata)

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        """Read the upstream asset's table, limited to the partitions this step needs.

        Without a declared upstream schema (for example a table made outside Dagster), all
        columns are read, with types taken from the table itself.
        """
        upstream = context.upstream_output
        definition_metadata = (upstream.definition_metadata if upstream else None) or {}
        database, table = self.table_for_key(context.asset_key)
        column_names: list[str] | None = None
        order_by: Sequence[str] = ()
        where = ""
        parameters: dict[str, Any] = {}

        if _column_schema(definition_metadata) is not None:
            spec = self._table_spec(context, context.asset_key, definition_metadata)
            skipped = set(_metadata_value(definition_metadata.get(SKIP_ON_LOAD_KEY)) or ())
            column_names = [name for name in spec.column_names if name not in skipped]
            order_by = spec.order_by
            if context.has_asset_partitions:
                selection = self._selection(context, spec)
                where, parameters = selection.where, selection.parameters

        with self._engine() as engine:
            return read_table(engine, database, table, column_names, where, parameters, order_by)

    def table_for_key(self, asset_key: dg.AssetKey) -> tuple[str, str]:
        """Map an asset key to ``(database, table)``.

        A one-part key goes to the configured database. Longer keys join all parts but
        the last with ``_`` to name the database.

        Raises:
            ClickHouseConfigError: A name is not a plain identifier.
        """
        parts = asset_key.path
        database = "_".join(parts[:-1]) if len(parts) > 1 else self.database
        table = parts[-1]
        for name, kind in ((database, "database name"), (table, "table name")):
            try:
                validate_identifier(name, kind)
            except ClickHouseConfigError as error:
                raise ClickHouseConfigError(
                    f"Asset {asset_key.to_user_string()}: {error} Rename the asset key."
                ) from error
        return database, table

    def settings(self) -> ClickHouseSettings:
        """Return the engine settings, resolving the default chDB directory.

        Raises:
            ClickHouseConfigError: Neither `host` nor `path` is set and DAGSTER_HOME is unset.
        """
        path = self.path
        if self.cluster and not self.host:
            raise ClickHouseConfigError(
                f"ClickHouseIOManager has cluster {self.cluster!r} but no host: a cluster needs "
                "a ClickHouse server. Set host (CLICKHOUSE_HOST), or unset cluster "
                "(CLICKHOUSE_CLUSTER) to use embedded chDB."
            )
        if not self.host and not path:
            dagster_home = os.environ.get("DAGSTER_HOME")
            if not dagster_home:
                raise ClickHouseConfigError(
                    "ClickHouseIOManager has no path and DAGSTER_HOME is not set. Set "
                    "DAGSTER_HOME, set the IO manager's path to a chDB data directory, or set "
                    "host to use a ClickHouse server."
                )
            path = os.path.join(dagster_home, "clickhouse")
        return ClickHouseSettings(
            path=path,
            host=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            secure=self.secure,
            compress=self.compress,
        )

    # chDB 4.4.0 fails with "Error initializing EmbeddedServer" after a few hundred opens of
    # a data directory in one process. So the first load or write of a run or step opens the
    # directory and keeps it open until the run or step ends, instead of once per call.
    _held_engine: ClickHouseEngine | None = PrivateAttr(default=None)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Release the chDB directory held since the first load or write."""
        if self._held_engine is not None:
            self._held_engine.close()
            self._held_engine = None

    def _engine(self) -> _EngineScope:
        settings = self.settings()
        if not settings.host and self._held_engine is None:
            self._held_engine = open_engine(settings)
        return _EngineScope(settings)

    def _table_spec(
        self,
        context: dg.OutputContext | dg.InputContext,
        asset_key: dg.AssetKey,
        definition_metadata: Mapping[str, Any] | None,
    ) -> TableSpec:
        database, table = self.table_for_key(asset_key)
        metadata = definition_metadata or {}
        schema = _column_schema(metadata)
        if schema is None:
            raise ClickHouseSchemaError(
                f"Asset {asset_key.to_user_string()} declares no table schema. Add "
                f'metadata={{"{COLUMN_SCHEMA_KEY}": dg.TableSchema(columns=[...])}} with '
                "ClickHouse types to its definition."
            )
        try:
            columns = tuple(
                (column.name, parse_column_type(column.type)) for column in schema.columns
            )
        except ClickHouseSchemaError as error:
            raise ClickHouseSchemaError(f"Asset {asset_key.to_user_string()}: {error}") from error
        for column in schema.columns:
            validate_identifier(column.name, f"column name in asset {asset_key.to_user_string()}")

        order_by = tuple(_metadata_value(metadata.get(ORDER_BY_KEY)) or ())
        partition_expr = _metadata_value(metadata.get(PARTITION_EXPR_KEY))
        partitioned_by: tuple[str, ...] = ()
        if context.has_asset_partitions and partition_expr is not None:
            partitioned_by = partition_columns(
                asset_key.to_user_string(), context.asset_partitions_def, partition_expr
            )
        names = {column.name for column in schema.columns}
        unknown = [name for name in (*order_by, *partitioned_by) if name not in names]
        if unknown:
            raise ClickHouseSchemaError(
                f"Asset {asset_key.to_user_string()} names columns {unknown} in "
                f"{ORDER_BY_KEY} or {PARTITION_EXPR_KEY} that its schema does not declare."
            )
        return TableSpec(
            database=database,
            table=table,
            columns=columns,
            comments={column.name: column.description or "" for column in schema.columns},
            order_by=order_by,
            partition_columns=partitioned_by,
            cluster=self.cluster or None,
        )

    def _selection(
        self,
        context: dg.OutputContext | dg.InputContext,
        spec: TableSpec,
    ) -> PartitionSelection:
        if not spec.partition_columns:
            raise ClickHouseSchemaError(
                f"Partitioned asset {context.asset_key.to_user_string()} has no "
                f'"{PARTITION_EXPR_KEY}" metadata. Set it to the column that holds the '
                "partition, or for multi-dimensional partitions to a dict from each "
                "dimension name to its column."
            )
        return select_partitions(context, spec)


class _EngineScope:
    """Open an engine for one IO manager call and close it afterwards."""

    def __init__(self, settings: ClickHouseSettings) -> None:
        self._settings = settings
        self._engine: ClickHouseEngine | None = None

    def __enter__(self) -> ClickHouseEngine:
        self._engine = open_engine(self._settings)
        return self._engine

    def __exit__(self, *exc_info: object) -> None:
        if self._engine is not None:
            self._engine.close()


def _metadata_value(value: Any) -> Any:
    """Unwrap a Dagster `MetadataValue` into its plain value."""
    if isinstance(value, dg.MetadataValue):
        return value.value
    return value


def _column_schema(metadata: Mapping[str, Any]) -> dg.TableSchema | None:
    value = _metadata_value(metadata.get(COLUMN_SCHEMA_KEY))
    return value if isinstance(value, dg.TableSchema) else None


def _checked_frames(obj: Any, spec: TableSpec, asset_key: dg.AssetKey) -> Frames:
    """Check a DataFrame now, or each DataFrame of an iterable as the writer reaches it."""
    if isinstance(obj, pd.DataFrame):
        return _checked_frame(obj, spec, asset_key)
    if isinstance(obj, Iterable) and not isinstance(obj, (str, bytes, Mapping)):
        return _checked_iterable(obj, spec, asset_key)
    raise ClickHouseSchemaError(
        f"Asset {asset_key.to_user_string()} returned {type(obj).__name__}, but "
        "ClickHouseIOManager stores only pandas DataFrames or iterables of them."
    )


def _checked_iterable(
    frames: Iterable[Any], spec: TableSpec, asset_key: dg.AssetKey
) -> Iterator[pd.DataFrame]:
    for position, frame in enumerate(frames):
        if not isinstance(frame, pd.DataFrame):
            raise ClickHouseSchemaError(
                f"Asset {asset_key.to_user_string()} returned an iterable whose item "
                f"{position} is {type(frame).__name__}, but ClickHouseIOManager stores only "
                "pandas DataFrames."
            )
        yield _checked_frame(frame, spec, asset_key)


def _checked_frame(obj: pd.DataFrame, spec: TableSpec, asset_key: dg.AssetKey) -> pd.DataFrame:
    declared = spec.column_names
    missing = [name for name in declared if name not in obj.columns]
    extra = [str(name) for name in obj.columns if name not in declared]
    if missing or extra:
        raise ClickHouseSchemaError(
            f"Asset {asset_key.to_user_string()} returned a DataFrame whose columns do not "
            f"match table {spec.qualified_name}: missing {missing}, extra {extra}. Return "
            f"exactly the columns declared in {COLUMN_SCHEMA_KEY}, or change the schema."
        )
    return obj


def _partition_row_count_metadata(
    context: dg.OutputContext, row_counts: Mapping[str, int]
) -> dict[str, Any]:
    """Attach each partition's row count to that partition's materialization.

    Returns the output metadata to add: the count itself for a single partition, nothing
    when every partition of a range received its own count.
    """
    if len(row_counts) == 1:
        return {PARTITION_ROW_COUNT_KEY: next(iter(row_counts.values()))}
    try:
        # NOTE: Dagster 1.13.28 has no per-partition metadata on OutputContext. The step
        # context's add_asset_metadata (what AssetExecutionContext.add_asset_metadata
        # calls) scopes metadata to one partition, and the materialization events
        # built after handle_output merge it over the output metadata.
        step_context = context.step_context
        for partition_key, count in row_counts.items():
            step_context.add_asset_metadata(
                {PARTITION_ROW_COUNT_KEY: count},
                asset_key=context.asset_key,
                partition_key=partition_key,
            )
    except dg.DagsterInvariantViolationError:
        # Without a step (an OutputContext built for a test), only one metadata dict
        # exists for the whole range, so it gets the rows of the whole range.
        return {PARTITION_ROW_COUNT_KEY: sum(row_counts.values())}
    return {}


def _count_rows(engine: ClickHouseEngine, spec: TableSpec) -> int:
    result = engine.query_arrow(
        f"SELECT count() AS rows FROM {quoted_table(spec.database, spec.table)}"
    )
    return int(result.column("rows")[0].as_py())
