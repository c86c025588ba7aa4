"""Secrets planted in the API, the settings and the responses are stored and logged nowhere.

The test gives every secret field of the emulator's records, the API key and the ClickHouse
password a unique value. It runs the whole pipeline through Dagster on the ClickHouse server
path, with a persistent DAGSTER_HOME in `tmp_path`, and adds two failing runs (a wrong API key
and a wrong ClickHouse password) whose errors go into the event log. Then it searches for every
planted value in the captured logs and output, in every file under DAGSTER_HOME (with SQLite
databases opened and their compressed values expanded), and in every table of ClickHouse.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from vultr_pipeline.backfill import RANGE_END_TAG, RANGE_START_TAG
from vultr_pipeline.clickhouse.engine import ClickHouseEngine, open_engine, quote_identifier
from vultr_pipeline.definitions import build_definitions
from vultr_pipeline.defs.partitions import daily_key, monthly_key, utc_today
from vultr_pipeline.defs.schedules import DAILY_JOB_NAME, MONTHLY_JOB_NAME
from vultr_pipeline.emulator import EmulatorServer, SampleAccount, generate_account
from vultr_pipeline.home import resolve_dagster_home
from vultr_pipeline_tests.clickhouse_fixtures import ChdbHttpServer, start_chdb_http, stop_process
from vultr_pipeline_tests.pipeline_runs import configure, invoice_months

pytest_plugins = ["vultr_pipeline_tests.pipeline_runs"]

_SQLITE_HEADER = b"SQLite format 3\x00"
_USER_DATABASES_SQL = (
    "SELECT database, name FROM system.tables "
    "WHERE database NOT IN ('system', 'INFORMATION_SCHEMA', 'information_schema') "
    "OR (database = 'system' AND endsWith(name, '_log')) ORDER BY database, name"
)


def planted_values(token: str) -> dict[str, str]:
    """Return one unique value per secret, named after where it is planted."""
    names = (
        "instance_default_password",
        "instance_kvm_token",
        "bare_metal_default_password",
        "s3_access_key",
        "s3_secret_key",
        "database_password",
        "database_kafka_access_key",
        "replica_password",
        "kubeconfig",
        "api_key",
        "wrong_api_key",
        "clickhouse_password",
        "wrong_clickhouse_password",
    )
    return {name: f"planted-{name.replace('_', '-')}-{token}" for name in names}


def planted_account(config: object, planted: dict[str, str]) -> SampleAccount:
    """Generate the sample account and put a planted value in each of its secret fields.

    The emulator serves `default_password` on new instances, the console URL `kvm` with its
    session token, object-storage keys and database passwords. Vultr also sends a
    `default_password` for new bare-metal servers, and passwords and Kafka access keys in
    database and replica records. A kubeconfig comes only from an endpoint the pipeline never
    calls, so it is planted in the cluster records to check that it would not be kept either.
    """
    account = generate_account(config)
    for instance in account.instances:
        instance["default_password"] = planted["instance_default_password"]
        instance["kvm"] = (
            "https://my.vultr.com/subs/vps/novnc/api.php?data=" + planted["instance_kvm_token"]
        )
    account.bare_metals[0]["default_password"] = planted["bare_metal_default_password"]
    for storage in account.object_storages:
        storage["s3_access_key"] = planted["s3_access_key"]
        storage["s3_secret_key"] = planted["s3_secret_key"]
    for database in account.databases:
        database["password"] = planted["database_password"]
    database = account.databases[0]
    database["access_key"] = planted["database_kafka_access_key"]
    database["read_replicas"] = [
        {**database, "id": str(uuid.uuid4()), "password": planted["replica_password"]}
    ]
    account.vke_clusters[0]["kube_config"] = planted["kubeconfig"]
    return account


@pytest.fixture
def planted() -> dict[str, str]:
    """Planted values that no other run of the test suite uses."""
    return planted_values(uuid.uuid4().hex[:16])


@pytest.fixture
def clickhouse_server(tmp_path: Path, planted: dict[str, str]) -> Iterator[ChdbHttpServer]:
    """The chDB HTTP endpoint with the planted password; its data directory is in `tmp_path`."""
    server = start_chdb_http(
        tmp_path / "clickhouse_server", password=planted["clickhouse_password"]
    )
    try:
        yield server
    finally:
        stop_process(server.process)


def run_pipeline(instance: dg.DagsterInstance, emulator: EmulatorServer) -> list[bool]:
    """Run today's daily partition, every invoice month in one run, then today again."""
    definitions = build_definitions()
    daily = definitions.resolve_job_def(DAILY_JOB_NAME)
    monthly = definitions.resolve_job_def(MONTHLY_JOB_NAME)
    today = daily_key("default", utc_today())
    months = invoice_months(emulator)
    tags = {
        RANGE_START_TAG: str(monthly_key("default", months[0])),
        RANGE_END_TAG: str(monthly_key("default", months[-1])),
    }
    results = [
        daily.execute_in_process(instance=instance, partition_key=today),
        monthly.execute_in_process(instance=instance, tags=tags),
        daily.execute_in_process(instance=instance, partition_key=today),
    ]
    return [result.success for result in results]


def run_failing(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """Run today's daily partition, expecting it to fail, and return the result."""
    job = build_definitions().resolve_job_def(DAILY_JOB_NAME)
    return job.execute_in_process(
        instance=instance,
        partition_key=daily_key("default", utc_today()),
        raise_on_error=False,
    )


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """Return the messages of every step failure of `result` and of their causes."""
    messages = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            messages.append(error.message)
            error = error.cause
    return "\n".join(messages)


def sqlite_texts(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield every value stored in the SQLite database at `path`, zlib blobs also expanded.

    Each value comes with its kind: "value", or "expanded" for a decompressed blob (Dagster
    stores job snapshots compressed).
    """
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master")]
        for table in tables:
            try:
                rows = connection.execute(f'SELECT * FROM "{table}"').fetchall()
            except sqlite3.OperationalError:
                continue  # An index, or a view over a dropped table.
            for row in rows:
                for value in row:
                    if isinstance(value, str):
                        yield "value", value.encode()
                    elif isinstance(value, bytes):
                        yield "value", value
                        try:
                            yield "expanded", zlib.decompress(value)
                        except zlib.error:
                            pass
    finally:
        connection.close()


def file_texts(directory: Path) -> Iterator[tuple[Path, str, bytes]]:
    """Yield every file under `directory` as bytes ("file"), then each SQLite value."""
    for path in sorted(directory.rglob("*")):
        if not path.is_file():
            continue
        content = path.read_bytes()
        yield path, "file", content
        if content.startswith(_SQLITE_HEADER):
            for kind, value in sqlite_texts(path):
                yield path, kind, value


def clickhouse_texts(engine: ClickHouseEngine) -> Iterator[tuple[str, str]]:
    """Yield the rows of every table in ClickHouse as text, and the tables' DDL."""
    for row in engine.query_arrow(
        "SELECT database, name, create_table_query FROM system.tables"
    ).to_pylist():
        yield f"{row['database']}.{row['name']} DDL", row["create_table_query"]
    for row in engine.query_arrow(_USER_DATABASES_SQL).to_pylist():
        name = f"{quote_identifier(row['database'])}.{quote_identifier(row['name'])}"
        rows = engine.query_arrow(f"SELECT toString(tuple(*)) AS row FROM {name}")
        yield name, "\n".join(rows.column("row").to_pylist())


def test_secrets_stored_nowhere(
    small_account_config, planted, clickhouse_server, monkeypatch, tmp_path, caplog, capfd
):
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    resolve_dagster_home()
    caplog.set_level(logging.DEBUG)
    account = planted_account(small_account_config, planted)

    with EmulatorServer(account, api_key=planted["api_key"]) as emulator:
        configure(monkeypatch, emulator, planted["api_key"], clickhouse_server.settings())
        with dg.DagsterInstance.get() as instance:
            successes = run_pipeline(instance, emulator)
            monkeypatch.setenv("VULTR_API_KEY", planted["wrong_api_key"])
            rejected_key = run_failing(instance)
            monkeypatch.setenv("VULTR_API_KEY", planted["api_key"])
            monkeypatch.setenv("CLICKHOUSE_PASSWORD", planted["wrong_clickhouse_password"])
            rejected_password = run_failing(instance)

    assert successes == [True, True, True]
    assert not rejected_key.success
    assert "Vultr rejected the API key" in failure_text(rejected_key)
    assert not rejected_password.success
    assert "CLICKHOUSE_PASSWORD" in failure_text(rejected_password)
    needles = {name: value.encode() for name, value in planted.items()}
    # A value that is no secret and must be found, so the scans are known to see the data.
    control = account.instances[0]["label"].encode()

    captured = capfd.readouterr()
    logs = "\n".join([caplog.text, captured.out, captured.err]).encode()
    assert b"GET /instances page 1" in logs
    for name, needle in needles.items():
        assert needle not in logs, f"{name} appears in the captured logs"

    kinds: dict[str, int] = {}
    control_files = set()
    for path, kind, content in file_texts(home):
        kinds[kind] = kinds.get(kind, 0) + 1
        if control in content:
            control_files.add(path.name)
        for name, needle in needles.items():
            assert needle not in content, f"{name} appears in {path} ({kind})"
    assert (home / "history" / "runs.db").is_file()
    assert kinds["expanded"] > 0
    assert control_files

    engine = open_engine(clickhouse_server.settings())
    try:
        tables = dict(clickhouse_texts(engine))
    finally:
        engine.close()
    for table, text in tables.items():
        for name, needle in needles.items():
            assert needle.decode() not in text, f"{name} appears in {table}"
    assert control.decode() in tables["`vultr_raw`.`instances`"]
    assert "`vultr_raw`.`databases`" in tables
    assert "`vultr_raw`.`object_storage`" in tables
    assert "`vultr_raw`.`kubernetes_clusters`" in tables
    assert "`vultr_costs`.`cost_line_items`" in tables

    for path, kind, content in file_texts(tmp_path / "clickhouse_server"):
        for name, needle in needles.items():
            assert needle not in content, f"{name} appears in {path} ({kind})"


def test_planted_values_reach_the_emulator(small_account_config):
    planted = planted_values("check")
    account = planted_account(small_account_config, planted)

    text = account.to_json()

    for name in planted:
        if name.endswith(("api_key", "clickhouse_password")):
            continue
        assert planted[name] in text, name
