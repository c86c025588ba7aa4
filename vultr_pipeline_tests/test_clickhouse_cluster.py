"""Cluster DDL: ON CLUSTER statements and replicated tables, run through embedded chDB.

No ClickHouse cluster (servers with Keeper) runs on these machines, and chDB refuses
``ON CLUSTER`` and ``ReplicatedMergeTree``. `SingleNodeCluster` therefore wraps a real chDB
engine, records each statement as the pipeline sent it, and runs it with those two cluster
words taken out. The writes then run for real, and the recorded statements show what a
cluster receives.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from vultr_pipeline.clickhouse.column_types import parse_column_type
from vultr_pipeline.clickhouse.engine import ChdbEngine
from vultr_pipeline.clickhouse.errors import ClickHouseConfigError
from vultr_pipeline.clickhouse.io_manager import ClickHouseIOManager
from vultr_pipeline.clickhouse.tables import (
    TableSpec,
    create_table_sql,
    replace_partitions,
    replace_table,
)

CLUSTER = "vultr_cluster"
ON_CLUSTER = re.compile(r" ON CLUSTER `[A-Za-z0-9_]+`")


class SingleNodeCluster:
    """A chDB engine that accepts cluster DDL by dropping the cluster-only words."""

    def __init__(self, engine: ChdbEngine) -> None:
        self.engine = engine
        self.statements: list[str] = []

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        self.statements.append(sql)
        local = ON_CLUSTER.sub("", sql).replace("ReplicatedMergeTree", "MergeTree")
        self.engine.command(local, parameters)

    def query_arrow(self, sql: str, parameters: Mapping[str, Any] | None = None) -> pa.Table:
        return self.engine.query_arrow(sql, parameters)

    def insert_arrow(self, database: str, table: str, data: pa.Table) -> None:
        self.engine.insert_arrow(database, table, data)

    def close(self) -> None:
        self.engine.close()

    def ddl(self, verb: str) -> list[str]:
        """Return the recorded statements that start with `verb`."""
        return [sql for sql in self.statements if sql.startswith(verb)]


def spec(*, partitioned: bool, with_note: bool = False) -> TableSpec:
    columns = [
        ("account_id", parse_column_type("String")),
        ("billing_month", parse_column_type("Date")),
        ("amount", parse_column_type("Decimal(38, 10)")),
    ]
    if with_note:
        columns.append(("note", parse_column_type("Nullable(String)")))
    return TableSpec(
        database="cluster_test",
        table="charges",
        columns=tuple(columns),
        order_by=("account_id",),
        partition_columns=("account_id", "billing_month") if partitioned else (),
        cluster=CLUSTER,
    )


def frame(month: dt.date, amounts: list[str], *, note: str | None = None) -> pd.DataFrame:
    data: dict[str, list[Any]] = {
        "account_id": ["prod"] * len(amounts),
        "billing_month": [month] * len(amounts),
        "amount": [Decimal(amount) for amount in amounts],
    }
    if note is not None:
        data["note"] = [note] * len(amounts)
    return pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in data.items()})


def rows(cluster: SingleNodeCluster) -> list[tuple[Any, ...]]:
    table = cluster.query_arrow(
        "SELECT billing_month, amount FROM cluster_test.charges ORDER BY billing_month, amount"
    )
    return [tuple(row.values()) for row in table.to_pylist()]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SingleNodeCluster]:
    engine = SingleNodeCluster(ChdbEngine(str(tmp_path / "chdb")))
    yield engine
    engine.close()


JANUARY = dt.date(2026, 1, 1)
FEBRUARY = dt.date(2026, 2, 1)


def test_create_table_runs_on_cluster_with_replicated_engine():
    sql = create_table_sql(spec(partitioned=True))

    assert sql.startswith(
        f"CREATE TABLE IF NOT EXISTS `cluster_test`.`charges` ON CLUSTER `{CLUSTER}`"
    )
    assert "ENGINE = ReplicatedMergeTree\nPARTITION BY (`account_id`, `billing_month`)" in sql


def test_single_server_ddl_has_no_cluster_words():
    plain = TableSpec(
        database="d", table="t", columns=(("a", parse_column_type("String")),), cluster=None
    )

    sql = create_table_sql(plain)

    assert "ON CLUSTER" not in sql
    assert "ENGINE = MergeTree\n" in sql


def test_partition_rewrite_on_cluster(cluster: SingleNodeCluster):
    partitioned = spec(partitioned=True)
    january = {"prod|2026-01": ("prod", JANUARY)}
    february = {"prod|2026-02": ("prod", FEBRUARY)}

    replace_partitions(cluster, partitioned, frame(JANUARY, ["1.10", "2.20"]), january)
    replace_partitions(cluster, partitioned, frame(FEBRUARY, ["5.00"]), february)
    replace_partitions(cluster, partitioned, frame(JANUARY, ["3.30"]), january)

    assert rows(cluster) == [(JANUARY, Decimal("3.3")), (FEBRUARY, Decimal("5"))]
    assert all("ON CLUSTER" in sql for sql in cluster.ddl("CREATE DATABASE"))
    target_creates = [sql for sql in cluster.ddl("CREATE TABLE") if "__staging_" not in sql]
    assert len(target_creates) == 1
    assert "ReplicatedMergeTree" in target_creates[0]
    # The staging table is local and unreplicated, and REPLACE PARTITION reaches the other
    # replicas through replication, not through ON CLUSTER.
    staging_creates = [sql for sql in cluster.ddl("CREATE TABLE") if "__staging_" in sql]
    assert staging_creates
    assert all("ON CLUSTER" not in sql and "ENGINE = MergeTree" in sql for sql in staging_creates)
    replaces = [sql for sql in cluster.statements if "REPLACE PARTITION" in sql]
    assert len(replaces) == 3
    assert all("ON CLUSTER" not in sql for sql in replaces)


def test_unpartitioned_replace_on_cluster_uses_partition_all(cluster: SingleNodeCluster):
    table = spec(partitioned=False)

    replace_table(cluster, table, frame(JANUARY, ["1.00", "2.00"]))
    replace_table(cluster, table, frame(FEBRUARY, ["7.25"]))

    assert rows(cluster) == [(FEBRUARY, Decimal("7.25"))]
    assert not [sql for sql in cluster.statements if sql.startswith("EXCHANGE")]
    assert any("REPLACE PARTITION ID 'all'" in sql for sql in cluster.statements)

    replace_table(cluster, table, frame(JANUARY, []))

    assert rows(cluster) == []
    assert any("DROP PARTITION ID 'all'" in sql for sql in cluster.statements)


def test_new_column_on_cluster_keeps_rows(cluster: SingleNodeCluster):
    january = {"prod|2026-01": ("prod", JANUARY)}
    february = {"prod|2026-02": ("prod", FEBRUARY)}
    replace_partitions(cluster, spec(partitioned=True), frame(JANUARY, ["4.00"]), january)

    replace_partitions(
        cluster,
        spec(partitioned=True, with_note=True),
        frame(FEBRUARY, ["6.00"], note="new"),
        february,
    )

    assert rows(cluster) == [(JANUARY, Decimal("4")), (FEBRUARY, Decimal("6"))]
    added = [sql for sql in cluster.statements if "ADD COLUMN" in sql]
    assert len(added) == 1
    assert f"ON CLUSTER `{CLUSTER}`" in added[0]


def test_cluster_without_host_is_refused(tmp_path: Path):
    manager = ClickHouseIOManager(path=str(tmp_path / "chdb"), cluster=CLUSTER)

    with pytest.raises(ClickHouseConfigError, match="CLICKHOUSE_HOST"):
        manager.settings()
