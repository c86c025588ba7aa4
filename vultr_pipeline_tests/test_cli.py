"""Tests of the `vultr-pipeline` command line: demo, query, and the code location it loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vultr_pipeline import cli

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def dagster_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for name in ("CLICKHOUSE_HOST", "CLICKHOUSE_PATH", "VULTR_API_KEY", "VULTR_API_URL"):
        monkeypatch.delenv(name, raising=False)
    return home


def test_demo_twice_then_query(dagster_home, capsys):
    assert cli.main(["demo", "--instances", "4", "--gpu-instances", "1", "--months", "2"]) == 0
    first = capsys.readouterr().out
    assert cli.main(["demo", "--instances", "4", "--gpu-instances", "1", "--months", "2"]) == 0
    second = capsys.readouterr().out

    assert "vultr_raw.invoice_items" in first
    assert "Month-to-date spend" in first
    assert str(dagster_home / "clickhouse") in first
    # The sample account is deterministic, so equal counts mean the rerun replaced the rows.
    assert (
        first.split("table", 1)[1].split("Month")[0]
        == second.split("table", 1)[1].split("Month")[0]
    )
    assert (dagster_home / "dagster.yaml").is_file()

    sql = "SELECT count() AS n FROM vultr_raw.instances"
    assert cli.main(["query", sql, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 5}]


def test_query_error_is_one_line(dagster_home, capsys):
    code = cli.main(["query", "SELECT * FROM no_such_database.no_such_table"])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("vultr-pipeline query: ")
    assert "Traceback" not in err


def test_definitions_validate():
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CLICKHOUSE_", "VULTR_"))
    }
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "definitions",
            "validate",
            "-m",
            "vultr_pipeline.definitions",
        ],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert completed.returncode == 0, completed.stderr[-2000:]


def test_query_empty_result_says_zero_rows(dagster_home, capsys):
    code = cli.main(["query", "SELECT 1 AS n WHERE 0"])

    assert code == 0
    assert capsys.readouterr().out.strip() == "(0 rows; columns: n)"
