"""A user's mistakes end the `vultr-pipeline` command with one line on stderr, never a traceback.

Each test runs the real command in a subprocess, as `python -m vultr_pipeline.cli` (the module
of the `vultr-pipeline` console script), with only the settings the test gives it.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vultr_pipeline.accounts import Account, AccountsConfigError
from vultr_pipeline.clickhouse.engine import ClickHouseSettings, open_engine
from vultr_pipeline.defs.resources import VultrResource
from vultr_pipeline.query import count_statements
from vultr_pipeline.report import FORECAST_TABLE, LINE_ITEMS_TABLE, RECOMMENDATIONS_TABLE
from vultr_pipeline.vultr.client import VultrClient
from vultr_pipeline.vultr.errors import VultrConfigError
from vultr_pipeline_tests.conftest import EMULATOR_API_KEY

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
# Generous bound for a cold start of Python, Dagster and chDB on a slow CI machine.
_COMMAND_TIMEOUT_SECONDS = 300


def run_command(
    tmp_path: Path, *arguments: str, **settings: str
) -> subprocess.CompletedProcess[str]:
    """Run `vultr-pipeline ARGUMENTS` with no VULTR_* or CLICKHOUSE_* settings but `settings`.

    DAGSTER_HOME is a fresh directory in `tmp_path`, so nothing of the caller's is used.
    """
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("VULTR_", "CLICKHOUSE_", "DAGSTER_"))
    }
    environment["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPOSITORY_ROOT), os.environ.get("PYTHONPATH")])
    )
    environment.update(settings)
    return subprocess.run(
        [sys.executable, "-m", "vultr_pipeline.cli", *arguments],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=_COMMAND_TIMEOUT_SECONDS,
    )


def assert_usage_error(completed: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Check the exit code and that stderr is one line (or one plus a hint) naming `expected`."""
    stderr = completed.stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert completed.returncode == 2, stderr
    assert "Traceback" not in stderr
    assert 1 <= len(lines) <= 2, stderr
    for text in expected:
        assert text in stderr
    return stderr


def unused_port() -> int:
    """Return a 127.0.0.1 port that nothing listens on: bound once, then closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A 127.0.0.1 port that this test listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def this_month() -> str:
    return f"{dt.datetime.now(dt.UTC):%Y-%m}"


def test_help_with_invalid_clickhouse_port(tmp_path):
    completed = run_command(
        tmp_path, "--help", CLICKHOUSE_HOST="127.0.0.1", CLICKHOUSE_PORT="eighty"
    )

    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    assert "usage: vultr-pipeline" in completed.stdout


def test_invalid_clickhouse_port(tmp_path):
    completed = run_command(
        tmp_path, "query", "SELECT 1", CLICKHOUSE_HOST="127.0.0.1", CLICKHOUSE_PORT="eighty"
    )

    stderr = assert_usage_error(completed, "CLICKHOUSE_PORT", "'eighty'", "8123")
    assert stderr.startswith("vultr-pipeline query: ")


def test_unreachable_clickhouse_query(tmp_path):
    port = unused_port()

    completed = run_command(
        tmp_path, "query", "SELECT 1", CLICKHOUSE_HOST="127.0.0.1", CLICKHOUSE_PORT=str(port)
    )

    assert_usage_error(
        completed, f"127.0.0.1:{port}", "Connection refused", "CLICKHOUSE_HOST", "CLICKHOUSE_PORT"
    )


def test_unreachable_clickhouse_backfill(tmp_path):
    port = unused_port()
    month = this_month()

    completed = run_command(
        tmp_path,
        "backfill",
        "--from",
        month,
        "--to",
        month,
        VULTR_API_KEY="any-key",
        CLICKHOUSE_HOST="127.0.0.1",
        CLICKHOUSE_PORT=str(port),
    )

    stderr = assert_usage_error(completed, f"127.0.0.1:{port}", "Check that the server is running")
    assert stderr.startswith("vultr-pipeline backfill: ")
    assert completed.stdout == ""


def test_missing_api_key(tmp_path):
    month = this_month()

    completed = run_command(tmp_path, "backfill", "--from", month, "--to", month)

    assert_usage_error(completed, "$VULTR_API_KEY (account default) is not set", "demo")
    assert completed.stdout == ""


def test_api_key_with_inner_whitespace(tmp_path):
    month = this_month()
    key = "planted-key-part-one planted-key-part-two"

    completed = run_command(tmp_path, "backfill", "--from", month, "--to", month, VULTR_API_KEY=key)

    stderr = assert_usage_error(completed, "$VULTR_API_KEY", "whitespace or a control character")
    assert "planted-key-part" not in stderr


def test_api_key_newline_is_stripped(emulator, monkeypatch):
    monkeypatch.delenv("VULTR_ACCOUNTS_FILE", raising=False)
    monkeypatch.setenv("VULTR_API_KEY", f"  {EMULATOR_API_KEY}\n")
    resource = VultrResource(api_url=emulator.url)

    with resource.get_client() as client:
        account = client.get("/account")

    assert "account" in account


@pytest.mark.parametrize("key", ["two words", "tab\there", "bell\x07key", "line\nbreak"])
def test_api_key_control_characters_rejected(key, monkeypatch):
    monkeypatch.setenv("TEST_VULTR_KEY", key)

    with pytest.raises(AccountsConfigError, match=r"\$TEST_VULTR_KEY") as raised:
        Account(name="prod", api_key_env="TEST_VULTR_KEY").api_key()
    with pytest.raises(VultrConfigError) as client_raised:
        VultrClient(key, "http://127.0.0.1:1/v2")

    assert key not in str(raised.value)
    assert key not in str(client_raised.value)


def test_unknown_account(tmp_path):
    completed = run_command(
        tmp_path, "backfill", "--from", this_month(), "--account", "nosuch", VULTR_API_KEY="k"
    )

    assert_usage_error(completed, "unknown account 'nosuch'", "known accounts: default")


def _next_month() -> str:
    today = dt.datetime.now(dt.UTC).date()
    return f"{today.year + today.month // 12}-{today.month % 12 + 1:02d}"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        pytest.param(["--from", "2025-13"], ["invalid --from '2025-13'", "YYYY-MM"], id="month-13"),
        pytest.param(["--from", "March"], ["invalid --from 'March'", "YYYY-MM"], id="not-a-month"),
        pytest.param(
            ["--from", "2025-06", "--to", "2025-02"],
            ["--to 2025-02 is before --from 2025-06"],
            id="reversed",
        ),
        pytest.param(["--from", "2019-12"], ["before VULTR_HISTORY_START"], id="too-early"),
        pytest.param(["--from", "future"], ["is in the future"], id="future"),
    ],
)
def test_invalid_backfill_dates(tmp_path, arguments, expected):
    arguments = [_next_month() if value == "future" else value for value in arguments]

    completed = run_command(tmp_path, "backfill", *arguments, VULTR_API_KEY="k")

    assert_usage_error(completed, *expected)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        pytest.param(
            "VULTR_SCHEDULE_CRON",
            "not a cron",
            "Invalid VULTR_SCHEDULE_CRON 'not a cron'",
            id="cron",
        ),
        pytest.param(
            "VULTR_SCHEDULE_CRON", "0 2 * *", "Invalid VULTR_SCHEDULE_CRON '0 2 * *'", id="cron-4"
        ),
        pytest.param(
            "VULTR_SCHEDULE_TIMEZONE",
            "Mars/Base",
            "Invalid VULTR_SCHEDULE_TIMEZONE 'Mars/Base'",
            id="timezone",
        ),
    ],
)
def test_invalid_schedule_setting(tmp_path, variable, value, expected):
    completed = run_command(
        tmp_path, "backfill", "--from", this_month(), VULTR_API_KEY="k", **{variable: value}
    )

    assert_usage_error(completed, expected)


def test_dagster_home_is_file(tmp_path):
    home = tmp_path / "home_file"
    home.write_text("")

    completed = run_command(tmp_path, "query", "SELECT 1", DAGSTER_HOME=str(home))

    assert_usage_error(completed, f"Invalid DAGSTER_HOME {home}: a file, not a directory")


def test_clickhouse_path_is_file(tmp_path):
    path = tmp_path / "chdb_file"
    path.write_text("")

    completed = run_command(tmp_path, "query", "SELECT 1", CLICKHOUSE_PATH=str(path))

    assert_usage_error(completed, f"Invalid chDB data directory {path}: a file, not a directory")


def test_accounts_file_not_utf8(tmp_path):
    path = tmp_path / "accounts.yaml"
    path.write_bytes(b"\xff\xfe accounts")

    completed = run_command(
        tmp_path, "backfill", "--from", this_month(), VULTR_ACCOUNTS_FILE=str(path)
    )

    stderr = completed.stderr
    assert completed.returncode == 2, stderr
    assert "Traceback" not in stderr
    assert "not UTF-8 text" in stderr


def test_emulator_port_in_use(tmp_path, busy_port):
    completed = run_command(tmp_path, "emulator", "--port", str(busy_port))

    assert_usage_error(completed, f"port {busy_port}", "already in use", "--port")


def test_demo_ui_port_in_use(tmp_path, busy_port):
    completed = run_command(tmp_path, "demo", "--ui", "--ui-port", str(busy_port))

    assert_usage_error(completed, f"port {busy_port}", "already in use", "--ui-port")
    assert completed.stdout == ""
    assert not (tmp_path / "dagster_home").exists()


REPORT_TABLES = {
    LINE_ITEMS_TABLE: "account_id String, billing_month Date, amount Decimal(38, 10), "
    "service_category String, region Nullable(String), resource_id Nullable(String), "
    "resource_type Nullable(String), resource_label Nullable(String)",
    FORECAST_TABLE: "account_id String, snapshot_date Date, as_of DateTime64(3, 'UTC'), "
    "month_start Date, month_to_date Decimal(38, 10), projected_additional Decimal(38, 10), "
    "projected_total Decimal(38, 10), running_resources Int64",
    RECOMMENDATIONS_TABLE: "account_id String, snapshot_date Date, kind String, "
    "resource_id String, resource_type String, resource_label Nullable(String), "
    "region Nullable(String), evidence String, estimated_monthly_saving Decimal(38, 10), "
    "confidence String",
}


@pytest.fixture
def report_data(tmp_path) -> Path:
    """A chDB directory whose cost tables hold one line in 2026-09 and one in 2026-10."""
    path = tmp_path / "clickhouse"
    engine = open_engine(ClickHouseSettings(path=str(path)))
    try:
        engine.command("CREATE DATABASE vultr_costs")
        for table, columns in REPORT_TABLES.items():
            engine.command(
                f"CREATE TABLE vultr_costs.{table} ({columns}) ENGINE = MergeTree ORDER BY tuple()"
            )
        engine.command(
            f"INSERT INTO vultr_costs.{LINE_ITEMS_TABLE} VALUES "
            "('default', '2026-09-01', 12.5, 'compute', 'ewr', NULL, NULL, NULL), "
            "('default', '2026-10-01', 7.25, 'compute', 'ewr', NULL, NULL, NULL)"
        )
    finally:
        engine.close()
    return path


def test_report_month_without_data(tmp_path, report_data):
    completed = run_command(
        tmp_path, "report", "--month", "2025-01", CLICKHOUSE_PATH=str(report_data)
    )

    assert_usage_error(
        completed, "no cost lines for 2025-01", "2026-09 to 2026-10", "--month", "backfill"
    )
    assert completed.stdout == ""


def test_report_month_with_data(tmp_path, report_data):
    completed = run_command(
        tmp_path, "report", "--month", "2026-09", CLICKHOUSE_PATH=str(report_data)
    )

    assert completed.returncode == 0, completed.stderr
    assert "Spend in 2026-09:" in completed.stdout
    assert "12.50" in completed.stdout


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        pytest.param("SELECT 1; SELECT 2", "has 2 statements", id="two"),
        pytest.param("CREATE DATABASE d; DROP DATABASE d;", "has 2 statements", id="ddl"),
        pytest.param(" ; -- nothing", "contains no statement", id="empty"),
    ],
)
def test_query_needs_one_statement(tmp_path, sql, expected):
    completed = run_command(tmp_path, "query", sql, CLICKHOUSE_PATH=str(tmp_path / "clickhouse"))

    assert_usage_error(completed, expected, "one statement")
    assert completed.stdout == ""
    assert not (tmp_path / "clickhouse").exists()


@pytest.mark.parametrize(
    ("sql", "statements"),
    [
        ("SELECT 1", 1),
        ("SELECT 1;", 1),
        ("SELECT 1 ;  -- the end; really\n", 1),
        ("SELECT 'a;b' AS s", 1),
        ("SELECT 'it''s; fine', 'back\\'slash;' AS s", 1),
        ('SELECT 1 AS "x;y", 2 AS `z;w`', 1),
        ("SELECT 1 /* one; /* nested; */ still; */", 1),
        ("SELECT 1 # comment; here\n", 1),
        ("SELECT 1; SELECT 2", 2),
        ("SELECT 1;\n\nSELECT 2;\nSELECT 3", 3),
        ("", 0),
        ("  ;; -- only a comment", 0),
    ],
)
def test_count_statements(sql, statements):
    assert count_statements(sql) == statements
