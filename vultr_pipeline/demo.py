"""`vultr-pipeline demo`: run the whole pipeline against the local emulator, then summarize it.

The demo starts the emulator on a free loopback port and points this process at it through
VULTR_API_URL and VULTR_API_KEY. It runs the daily job for today's partition and the monthly job
over the sample account's whole invoice history (one run) into the embedded ClickHouse under
DAGSTER_HOME, then prints what landed. With `--ui` it then serves the Dagster UI on the same data.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import errno
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import dagster as dg
from dagster_shared.error import SerializableErrorInfo

from vultr_pipeline.accounts import DEFAULT_ACCOUNT
from vultr_pipeline.backfill import RANGE_END_TAG, RANGE_START_TAG, first_invoice_month
from vultr_pipeline.clickhouse.engine import ClickHouseSettings, open_engine, quote_identifier
from vultr_pipeline.costs.line_items import month_start
from vultr_pipeline.defs.partitions import daily_key, monthly_key, utc_today
from vultr_pipeline.defs.raw_assets import RAW_GROUP
from vultr_pipeline.defs.schedules import DAILY_JOB_NAME, MONTHLY_JOB_NAME
from vultr_pipeline.emulator.config import SampleAccountConfig
from vultr_pipeline.emulator.server import EmulatorServer
from vultr_pipeline.home import resolve_dagster_home
from vultr_pipeline.progress import RunProgress
from vultr_pipeline.report import build_report, load_tables, write_table
from vultr_pipeline.vultr.records import RECORD_SPECS

# Environment variables that would send the demo elsewhere than the emulator and embedded chDB.
_OVERRIDDEN = (
    "VULTR_API_URL",
    "VULTR_API_KEY",
    "VULTR_ACCOUNTS_FILE",
    "CLICKHOUSE_HOST",
    "CLICKHOUSE_PATH",
)


class DemoError(Exception):
    """The demo run failed; the message names each failed step and its error."""


class UIPortError(Exception):
    """The port chosen for the Dagster UI is taken, or is not a valid port number."""


@dataclass(frozen=True)
class DemoSummary:
    """Row counts and spend that the demo run left in ClickHouse."""

    run_id: str
    table_rows: dict[str, int]
    month_to_date: Decimal
    data_directory: Path


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `demo` options to `parser`."""
    parser.add_argument("--ui", action="store_true", help="Serve the Dagster UI after the run.")
    parser.add_argument(
        "--ui-port", type=int, default=3000, help="Port of the Dagster UI (default: 3000)."
    )
    parser.add_argument("--seed", type=int, default=7, help="Seed of the sample account.")
    parser.add_argument(
        "--instances", type=int, default=12, help="Cloud Compute instances in the sample account."
    )
    parser.add_argument(
        "--gpu-instances", type=int, default=3, help="Cloud GPU instances in the sample account."
    )
    parser.add_argument(
        "--months", type=int, default=6, help="Months of closed invoices in the sample account."
    )


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set `values` and unset the other overridden variables, restoring all of them afterwards."""
    saved = {name: os.environ.get(name) for name in (*_OVERRIDDEN, *values)}
    for name in _OVERRIDDEN:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _root_cause(error: SerializableErrorInfo | None) -> str:
    if error is None:
        return "unknown error"
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def _failure_messages(result: dg.ExecuteInProcessResult) -> list[str]:
    messages = []
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            messages.append(f"{event.step_key}: {_root_cause(event.step_failure_data.error)}")
    return messages


def _execute(
    job: dg.JobDefinition, instance: dg.DagsterInstance, tags: dict[str, str], **options: object
) -> dg.ExecuteInProcessResult:
    quiet_logs = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    with RunProgress(instance, f"  {job.name}"):
        result = job.execute_in_process(
            instance=instance, run_config=quiet_logs, raise_on_error=False, tags=tags, **options
        )
    if not result.success:
        details = "\n  ".join(_failure_messages(result)) or "see the run's event log"
        raise DemoError(f"Run {result.run_id} of {job.name} failed:\n  {details}")
    return result


def run_pipeline(instance: dg.DagsterInstance, first_month: dt.date) -> str:
    """Run today's daily partition, the months from `first_month` to the open month, then today.

    The daily figures read the stored monthly history, which the first daily run of a new
    data directory does not have yet, so today's partition runs again after the months.
    Returns the run id of the monthly run.

    Raises:
        DemoError: A step failed; the message lists each failed step with its error.
    """
    # Imported here because loading the code location reads the CLICKHOUSE_* and VULTR_*
    # settings, and the command line must start (and print its help) even when they are invalid.
    from vultr_pipeline.definitions import build_definitions

    definitions = build_definitions()
    today = utc_today()
    _execute(
        definitions.resolve_job_def(DAILY_JOB_NAME),
        instance,
        {},
        partition_key=daily_key(DEFAULT_ACCOUNT, today),
    )
    tags = {
        RANGE_START_TAG: str(monthly_key(DEFAULT_ACCOUNT, first_month)),
        RANGE_END_TAG: str(monthly_key(DEFAULT_ACCOUNT, month_start(today))),
    }
    result = _execute(definitions.resolve_job_def(MONTHLY_JOB_NAME), instance, tags)
    _execute(
        definitions.resolve_job_def(DAILY_JOB_NAME),
        instance,
        {},
        partition_key=daily_key(DEFAULT_ACCOUNT, today),
    )
    return result.run_id


def summarize(data_directory: Path, run_id: str) -> DemoSummary:
    """Count the rows of every raw table and sum the latest day's pending charges."""
    engine = open_engine(ClickHouseSettings(path=str(data_directory)))
    try:
        rows = {}
        for table in RECORD_SPECS:
            name = f"{quote_identifier(RAW_GROUP)}.{quote_identifier(table)}"
            count = engine.query_arrow(f"SELECT count() AS n FROM {name}").column("n")[0]
            rows[f"{RAW_GROUP}.{table}"] = int(count.as_py())
        pending = f"{quote_identifier(RAW_GROUP)}.{quote_identifier('pending_charges')}"
        latest = f"(SELECT max(snapshot_date) FROM {pending})"
        total = engine.query_arrow(
            f"SELECT sum(total) AS total FROM {pending} WHERE snapshot_date = {latest}"
        ).column("total")
        month_to_date = total[0].as_py() or Decimal(0)
    finally:
        engine.close()
    return DemoSummary(run_id, rows, month_to_date, data_directory)


def print_cost_report(data_directory: Path) -> None:
    """Print the month's spend, forecast, top services and recommendations from the cost tables."""
    engine = open_engine(ClickHouseSettings(path=str(data_directory)))
    try:
        line_items, forecast, recommendations = load_tables(engine)
    finally:
        engine.close()
    print()
    write_table(build_report(line_items, forecast, recommendations, top=3), sys.stdout)


def print_summary(summary: DemoSummary, ui_port: int) -> None:
    """Print the tables, the month-to-date spend and where to go next."""
    print_cost_report(summary.data_directory)
    width = max(len(name) for name in summary.table_rows)
    print(f"\n{'table'.ljust(width)}  rows")
    for name, count in summary.table_rows.items():
        print(f"{name.ljust(width)}  {count:>6}")
    print(f"\nMonth-to-date spend (pending charges): ${summary.month_to_date:,.2f}")
    print(f"ClickHouse data directory: {summary.data_directory}")
    print("Cost report: vultr-pipeline report [--format table|json|csv]")
    print('Query it:    vultr-pipeline query "SELECT * FROM vultr_raw.instances LIMIT 5"')
    print(f"Open the UI: vultr-pipeline demo --ui   (then http://127.0.0.1:{ui_port})")


def check_ui_port(port: int) -> None:
    """Check that the Dagster UI can listen on `port` of 127.0.0.1.

    The check runs before the pipeline, so a taken port fails in a second, not after the run.

    Raises:
        UIPortError: The port is outside 1 to 65535, or another process listens on it.
    """
    if not 0 < port < 65536:
        raise UIPortError(f"invalid --ui-port {port}: use a port number from 1 to 65535")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # asyncio's servers, which the UI runs on, set SO_REUSEADDR on Unix by default, so a
        # port left in TIME_WAIT by an earlier UI counts as free here too.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
            reason = "already in use" if error.errno == errno.EADDRINUSE else "not allowed"
            raise UIPortError(
                f"port {port} on 127.0.0.1 is {reason}, so the Dagster UI cannot start there; "
                "pick another with --ui-port"
            ) from error


def serve_ui(home: Path, port: int) -> int:
    """Run `dagster dev` on 127.0.0.1 with this process's environment until Ctrl-C."""
    command = [
        sys.executable, "-m", "dagster", "dev",
        "-m", "vultr_pipeline.definitions",
        "-h", "127.0.0.1", "-p", str(port),
    ]  # fmt: skip
    print(f"Dagster UI: http://127.0.0.1:{port} (DAGSTER_HOME={home}); Ctrl-C stops it.")
    # dagster dev ignores signals sent to it alone when started from a script; its own process
    # group lets Ctrl-C stop it and its children together.
    # A background job of a non-interactive shell starts with SIGINT ignored, and dagster dev
    # would inherit that. With a handler here, Ctrl-C reaches this process, and the child
    # starts with the default disposition.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    process = subprocess.Popen(command, start_new_session=True)
    try:
        return process.wait()
    except KeyboardInterrupt:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        return 0


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo as `vultr-pipeline demo` does and return the exit code.

    Raises:
        UIPortError: `--ui` is set and the UI port is taken; nothing ran.
        DemoError: A step of the pipeline failed.
    """
    if args.ui:
        check_ui_port(args.ui_port)
    home = resolve_dagster_home()
    data_directory = home / "clickhouse"
    config = SampleAccountConfig(
        seed=args.seed,
        instances=args.instances,
        gpu_instances=args.gpu_instances,
        invoice_months=args.months,
    )
    # The emulator accepts only this key, made fresh for each demo and never printed.
    api_key = secrets.token_urlsafe(24)
    with EmulatorServer(config, api_key=api_key) as emulator:
        print(f"Vultr API emulator: {emulator.url} (sample account, seed {args.seed})")
        with _environment({"VULTR_API_URL": emulator.url, "VULTR_API_KEY": api_key}):
            print(f"Materializing every asset into embedded ClickHouse at {data_directory} ...")
            started = time.monotonic()
            first_month = first_invoice_month(DEFAULT_ACCOUNT) or month_start(utc_today())
            with dg.DagsterInstance.get() as instance:
                run_id = run_pipeline(instance, first_month)
            print(f"Run {run_id} succeeded in {time.monotonic() - started:.1f} s.")
            summary = summarize(data_directory, run_id)
            print_summary(summary, args.ui_port)
            if args.ui:
                return serve_ui(home, args.ui_port)
    return 0
