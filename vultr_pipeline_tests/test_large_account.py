"""A large account lands whole: 10,000 instances and 24 months of invoices and their items.

The emulator serves the account from the test process. The pipeline runs in a child process,
so that the peak memory it reports (``ru_maxrss``) is that of the collection and the writes
alone, not of the tests that ran before in the same pytest process. The child runs the raw
invoices and invoice items over the 24 invoice months as one run, as a backfill does, and
the raw instances for today, with the default client settings (30 requests per second).
The conftest prints the recorded peak memory and time in pytest's terminal summary.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from vultr_pipeline.emulator import EmulatorServer, SampleAccountConfig
from vultr_pipeline_tests.conftest import EMULATOR_API_KEY, EMULATOR_TODAY
from vultr_pipeline_tests.pipeline_runs import invoice_months

INSTANCES = 10_000
MONTHS = 24
REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
# Generous bound for the child on a slow CI machine: it took 42 s on 2 shared cores.
_CHILD_TIMEOUT_SECONDS = 1200
RESULT_PREFIX = "large-account-result: "
CHILD_SCRIPT = (
    "from vultr_pipeline_tests.test_large_account import collect_in_child; collect_in_child()"
)


def collect_in_child() -> None:
    """Run the raw assets into chDB and print what landed as one JSON line.

    Runs in the child process. It reads the months from argv and the API and ClickHouse
    settings from the environment that the test sets.
    """
    import dagster as dg

    from vultr_pipeline.backfill import RANGE_END_TAG, RANGE_START_TAG
    from vultr_pipeline.clickhouse.engine import ClickHouseSettings, open_engine
    from vultr_pipeline.definitions import build_definitions
    from vultr_pipeline.defs.partitions import daily_key, monthly_key, utc_today
    from vultr_pipeline.defs.schedules import DAILY_JOB_NAME, MONTHLY_JOB_NAME

    first, last = (dt.date.fromisoformat(text) for text in sys.argv[1:3])
    started = time.monotonic()
    definitions = build_definitions()
    monthly = definitions.resolve_job_def(MONTHLY_JOB_NAME).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            RANGE_START_TAG: str(monthly_key("default", first)),
            RANGE_END_TAG: str(monthly_key("default", last)),
        },
        asset_selection=[
            dg.AssetKey([group, table])
            for group in ("vultr_raw", "vultr_rejects")
            for table in ("invoices", "invoice_items")
        ],
    )
    daily = definitions.resolve_job_def(DAILY_JOB_NAME).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=daily_key("default", utc_today()),
        asset_selection=[
            dg.AssetKey([group, "instances"]) for group in ("vultr_raw", "vultr_rejects")
        ],
    )
    seconds = time.monotonic() - started

    engine = open_engine(ClickHouseSettings(path=os.environ["CLICKHOUSE_PATH"]))
    try:
        figures = {
            "invoices": engine.query_arrow(
                "SELECT count() AS n, toString(sum(amount)) AS total FROM vultr_raw.invoices"
            ).to_pylist()[0],
            "invoice_items": engine.query_arrow(
                "SELECT count() AS n, toString(sum(total)) AS total FROM vultr_raw.invoice_items"
            ).to_pylist()[0],
            "mismatched_invoices": engine.query_arrow(
                "SELECT count() AS n FROM (SELECT i.id, any(i.amount) AS amount, "
                "sum(t.total) AS items FROM vultr_raw.invoices AS i "
                "LEFT JOIN vultr_raw.invoice_items AS t ON t.invoice_id = i.id "
                "GROUP BY i.id) WHERE amount != items"
            ).to_pylist()[0]["n"],
            "instances": engine.query_arrow(
                "SELECT count() AS n FROM vultr_raw.instances"
            ).to_pylist()[0]["n"],
        }
    finally:
        engine.close()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "success": [monthly.success, daily.success],
        "seconds": round(seconds, 1),
        "peak_memory_mib": round(peak_kib / 1024),
        **figures,
    }
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_child(emulator: EmulatorServer, data_directory: Path, months: list[dt.date]) -> Any:
    """Run `collect_in_child` against `emulator` and return the result it prints."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("VULTR_", "CLICKHOUSE_", "DAGSTER_"))
    }
    environment.update(
        {
            "VULTR_API_URL": emulator.url,
            "VULTR_API_KEY": EMULATOR_API_KEY,
            "CLICKHOUSE_PATH": str(data_directory),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(REPOSITORY_ROOT), os.environ.get("PYTHONPATH")])
            ),
        }
    )
    completed = subprocess.run(
        [sys.executable, "-c", CHILD_SCRIPT, months[0].isoformat(), months[-1].isoformat()],
        cwd=REPOSITORY_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=_CHILD_TIMEOUT_SECONDS,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert len(lines) == 1, completed.stdout[-3000:]
    return json.loads(lines[0].removeprefix(RESULT_PREFIX))


def test_large_account_lands_whole(tmp_path, record_property):
    config = SampleAccountConfig(
        seed=5,
        instances=INSTANCES,
        gpu_instances=0,
        invoice_months=MONTHS,
        today=EMULATOR_TODAY,
    )
    started = time.monotonic()
    with EmulatorServer(config, api_key=EMULATOR_API_KEY) as emulator:
        account = emulator.account
        months = invoice_months(emulator)
        result = run_child(emulator, tmp_path / "clickhouse", months)
    seconds = time.monotonic() - started
    record_property("large_account_peak_memory_mib", result["peak_memory_mib"])
    record_property("large_account_pipeline_seconds", result["seconds"])
    record_property("large_account_test_seconds", round(seconds, 1))

    items = [item for invoice_items in account.invoice_items.values() for item in invoice_items]
    assert len(months) == MONTHS
    assert result["success"] == [True, True]
    assert result["invoices"]["n"] == MONTHS
    assert Decimal(result["invoices"]["total"]) == sum(
        (invoice["amount"] for invoice in account.invoices), Decimal(0)
    )
    assert result["invoice_items"]["n"] == len(items)
    assert Decimal(result["invoice_items"]["total"]) == sum(
        (item["total"] for item in items), Decimal(0)
    )
    assert result["mismatched_invoices"] == 0
    assert result["instances"] == INSTANCES
    assert len(items) > 200_000, "the account is smaller than the test means it to be"
