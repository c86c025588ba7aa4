"""`vultr-pipeline backfill`: load a range of billing months for every account in this process.

For each account, the monthly job runs once over the month range (a single-run partition
range), with the persistent Dagster instance under DAGSTER_HOME, so the runs appear in the UI.
Then one line per month shows the invoices and items that landed, and a summary lists the
reconciliation checks. A failed account does not stop the others; the exit code is 1 when any
run failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

import dagster as dg
from dagster_shared.error import SerializableErrorInfo

from vultr_pipeline.accounts import Account, AccountsConfigError, find_account, load_accounts
from vultr_pipeline.clickhouse.engine import open_engine
from vultr_pipeline.costs.line_items import invoice_billing_month, month_start, next_month
from vultr_pipeline.defs.partitions import (
    MONTH_DIMENSION,
    PartitionConfigError,
    build_partitions,
    history_start,
    month_key,
    monthly_key,
    split_key,
)
from vultr_pipeline.defs.raw_outputs import REJECTS_GROUP
from vultr_pipeline.defs.resources import VultrResource
from vultr_pipeline.defs.schedules import MONTHLY_JOB_NAME
from vultr_pipeline.progress import RunProgress
from vultr_pipeline.settings import clickhouse_settings_from_env
from vultr_pipeline.vultr.collect import invoice_dates
from vultr_pipeline.vultr.errors import VultrError

USAGE_ERROR = 2
RUN_FAILED = 1
_MONTH_PATTERN = re.compile(r"^(\d{4})-(\d{2})$", re.ASCII)
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
ROW_COUNT_KEY = "dagster/partition_row_count"
COUNTED_TABLES = ("invoices", "invoice_items", "cost_line_items")


class BackfillError(Exception):
    """An argument or setting of the backfill is invalid; the message names the value."""


@dataclass
class AccountResult:
    """Outcome of one account's run: rows per month and table, check results and errors."""

    account: str
    months: list[dt.date]
    run_id: str | None = None
    success: bool = False
    rows: dict[tuple[dt.date, str], int] = field(default_factory=dict)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def add_backfill_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `backfill` options to `parser`."""
    parser.add_argument(
        "--from",
        dest="start",
        default=None,
        metavar="YYYY-MM",
        help="First billing month (default: the month of the account's first invoice).",
    )
    parser.add_argument(
        "--to",
        dest="end",
        default=None,
        metavar="YYYY-MM",
        help="Last billing month, included (default: the open month).",
    )
    parser.add_argument(
        "--account",
        default=None,
        help="Name of the one account to load (default: every account of the accounts file).",
    )


def parse_month(text: str, option: str) -> dt.date:
    """Parse `YYYY-MM` into the first day of that month.

    Raises:
        BackfillError: The text is not a valid month.
    """
    match = _MONTH_PATTERN.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise BackfillError(f"invalid {option} {text!r}: use YYYY-MM, e.g. 2024-01")
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def _selected_accounts(name: str | None) -> tuple[Account, ...]:
    accounts = load_accounts()
    if name is None:
        return accounts
    try:
        return (find_account(name, accounts),)
    except AccountsConfigError as error:
        known = ", ".join(account.name for account in accounts)
        raise BackfillError(f"unknown account {name!r}; known accounts: {known}") from error


def check_api_keys(accounts: Sequence[Account]) -> None:
    """Check that every account's API key variable is set, before anything runs.

    Raises:
        BackfillError: A variable is unset or empty; the message names each one.
        AccountsConfigError: A key contains whitespace or a control character.
    """
    missing = [account for account in accounts if account.api_key() is None]
    if not missing:
        return
    unset = ", ".join(f"${account.api_key_env} (account {account.name})" for account in missing)
    raise BackfillError(
        f"no API key: {unset} is not set. Set it to the account's API key (Vultr portal: "
        "Account > API), or run `vultr-pipeline demo` to try the pipeline against the local "
        "emulator"
    )


def check_clickhouse() -> None:
    """Connect to the ClickHouse that the runs will write to, and disconnect.

    A wrong address then fails in one line before any run starts, instead of in every step.

    Raises:
        ClickHouseError: A setting is invalid, or the server or data directory cannot be opened.
    """
    open_engine(clickhouse_settings_from_env()).close()


def first_invoice_month(account: str, vultr: VultrResource | None = None) -> dt.date | None:
    """Ask the API for the billing month of the account's first invoice (None without any)."""
    vultr = vultr or VultrResource()
    with vultr.get_client(account) as client:
        dates = invoice_dates(client)
    return invoice_billing_month(dates[0]) if dates else None


def month_range(
    start: dt.date, end: dt.date, open_month: dt.date, first_month: dt.date
) -> list[dt.date]:
    """Return the months from `start` to `end`, both included, after checking the bounds.

    Raises:
        BackfillError: `end` is before `start`, a month is after the open month, or `start`
            is before the first month of the partitions ($VULTR_HISTORY_START).
    """
    for month, option in ((start, "--from"), (end, "--to")):
        if month > open_month:
            raise BackfillError(
                f"{option} {month_key(month)} is in the future; the latest billing month is "
                f"{month_key(open_month)}"
            )
    if end < start:
        raise BackfillError(f"--to {month_key(end)} is before --from {month_key(start)}")
    if start < first_month:
        raise BackfillError(
            f"--from {month_key(start)} is before VULTR_HISTORY_START ({month_key(first_month)}); "
            "set VULTR_HISTORY_START to an earlier month or pick a later --from"
        )
    months = [start]
    while months[-1] < end:
        months.append(next_month(months[-1]))
    return months


def check_end_month(end: dt.date, open_month: dt.date, first_month: dt.date) -> None:
    """Check `--to` when no `--from` is given, before the API names each account's first month.

    Raises:
        BackfillError: `end` is after the open month or before $VULTR_HISTORY_START.
    """
    if end > open_month:
        raise BackfillError(
            f"--to {month_key(end)} is in the future; the latest billing month is "
            f"{month_key(open_month)}"
        )
    if end < first_month:
        raise BackfillError(
            f"--to {month_key(end)} is before VULTR_HISTORY_START ({month_key(first_month)}); "
            "set VULTR_HISTORY_START to an earlier month or pick a later --to"
        )


def _first_message(error: SerializableErrorInfo | None) -> str:
    """Return the message of the step's own error, without its exception class name."""
    if error is None:
        return "unknown error"
    # Dagster wraps an error raised in an IO manager or input manager in an error of its own
    # (such as DagsterExecutionHandleOutputError) whose message only names the step output,
    # and keeps the real error as the cause.
    while error.cause is not None and error.cls_name.startswith("DagsterExecution"):
        error = error.cause
    message = error.message.strip()
    if error.cls_name and ": " in message:
        message = message.split(": ", 1)[1]
    return message


def _collect_events(result: dg.ExecuteInProcessResult, outcome: AccountResult) -> None:
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        table = materialization.asset_key.path[-1]
        # The rejects tables have the names of their raw tables, in another database.
        rejects = materialization.asset_key.path[0] == REJECTS_GROUP
        if rejects or table not in COUNTED_TABLES or materialization.partition is None:
            continue
        _, month = split_key(materialization.partition, MONTH_DIMENSION)
        count = materialization.metadata.get(ROW_COUNT_KEY)
        outcome.rows[(month, table)] = int(count.value) if count is not None else 0
    for evaluation in result.get_asset_check_evaluations():
        where = f" ({evaluation.partition})" if evaluation.partition else ""
        description = (evaluation.description or "").splitlines()[0:1]
        outcome.checks.append(
            (
                f"{evaluation.asset_key.to_user_string()} {evaluation.check_name}{where}",
                evaluation.passed,
                "".join(description),
            )
        )
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            outcome.errors.append(
                f"{event.step_key}: {_first_message(event.step_failure_data.error)}"
            )


def run_account(
    job: dg.JobDefinition, instance: dg.DagsterInstance, account: str, months: list[dt.date]
) -> AccountResult:
    """Run the monthly job once over `months` of `account` and collect what it reports."""
    outcome = AccountResult(account=account, months=months)
    tags = {
        RANGE_START_TAG: str(monthly_key(account, months[0])),
        RANGE_END_TAG: str(monthly_key(account, months[-1])),
    }
    # The summary below reports each failed step in one line, so Dagster's own error events,
    # stack traces included, stay in the run's event log.
    quiet_logs = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    with RunProgress(instance, f"  {account}"):
        result = job.execute_in_process(
            instance=instance, tags=tags, run_config=quiet_logs, raise_on_error=False
        )
    outcome.run_id = result.run_id
    outcome.success = result.success
    _collect_events(result, outcome)
    return outcome


def print_account(outcome: AccountResult, out: TextIO) -> None:
    """Print one line per month with its row counts, ✓ when the run succeeded, else ✗."""
    mark = "✓" if outcome.success else "✗"
    for month in outcome.months:
        counts = "  ".join(
            f"{table} {outcome.rows.get((month, table), '-'):>5}" for table in COUNTED_TABLES
        )
        print(f"  {mark} {outcome.account}  {month_key(month)}  {counts}", file=out)
    for error in outcome.errors:
        print(f"  ✗ {outcome.account}: {error}", file=out)


def print_summary(outcomes: list[AccountResult], out: TextIO) -> None:
    """Print the runs, the reconciliation checks and the totals of every account."""
    print("\nReconciliation checks:", file=out)
    for outcome in outcomes:
        if not outcome.checks:
            print(f"  {outcome.account}: no check ran", file=out)
        for name, passed, description in outcome.checks:
            status = "passed" if passed else "FAILED"
            print(f"  {outcome.account}  {name}: {status}  {description}", file=out)
    print("\nSummary:", file=out)
    for outcome in outcomes:
        state = "succeeded" if outcome.success else "failed"
        invoices = sum(n for (_, table), n in outcome.rows.items() if table == "invoices")
        items = sum(n for (_, table), n in outcome.rows.items() if table == "invoice_items")
        run = f"run {outcome.run_id}" if outcome.run_id else "no run"
        print(
            f"  {outcome.account}: {run} {state}, {len(outcome.months)} months, "
            f"{invoices} invoices, {items} invoice items",
            file=out,
        )


def _months_for(
    account: str, start: dt.date | None, end: dt.date, open_month: dt.date, first: dt.date
) -> list[dt.date]:
    if start is None:
        start = max(first_invoice_month(account) or open_month, first)
        if end < start:
            raise BackfillError(
                f"--to {month_key(end)} is before {month_key(start)}, the first month to load "
                f"for account {account} (its first invoice, or VULTR_HISTORY_START); pick a "
                "later --to"
            )
    return month_range(start, end, open_month, first)


def run_backfill(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the backfill that `args` describe and return the exit code.

    Invalid arguments and an account without its API key print one line on stderr and return
    2 before any run starts. A failed run returns 1 after every account was attempted.

    Raises:
        ClickHouseError: ClickHouse cannot be opened, checked before any run starts.
    """
    from vultr_pipeline.definitions import build_definitions
    from vultr_pipeline.home import resolve_dagster_home

    out = out or sys.stdout
    try:
        open_month = month_start(dt.datetime.now(dt.UTC).date())
        start = parse_month(args.start, "--from") if args.start is not None else None
        end = parse_month(args.end, "--to") if args.end is not None else open_month
        if start is not None:
            month_range(start, end, open_month, history_start().date())
        else:
            check_end_month(end, open_month, history_start().date())
        accounts = _selected_accounts(args.account)
        check_api_keys(accounts)
        first = history_start().date()
    except (BackfillError, AccountsConfigError, PartitionConfigError) as error:
        print(f"vultr-pipeline backfill: {error}", file=sys.stderr)
        return USAGE_ERROR

    resolve_dagster_home()
    check_clickhouse()
    job = build_definitions(build_partitions()).resolve_job_def(MONTHLY_JOB_NAME)
    outcomes = []
    with dg.DagsterInstance.get() as instance:
        for account in accounts:
            try:
                months = _months_for(account.name, start, end, open_month, first)
            except (BackfillError, VultrError) as error:
                outcome = AccountResult(account=account.name, months=[])
                if isinstance(error, VultrError):
                    outcome.errors.append(f"cannot list the invoices: {error}")
                else:
                    outcome.errors.append(str(error))
                print_account(outcome, out)
                outcomes.append(outcome)
                continue
            print(
                f"{account.name}: loading {month_key(months[0])} to {month_key(months[-1])} "
                f"({len(months)} months) in one run ...",
                file=out,
                flush=True,
            )
            outcome = run_account(job, instance, account.name, months)
            print_account(outcome, out)
            outcomes.append(outcome)
    print_summary(outcomes, out)
    return 0 if all(outcome.success for outcome in outcomes) else RUN_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` as the backfill options and run it (for tests and `python -m`)."""
    parser = argparse.ArgumentParser(prog="vultr-pipeline backfill")
    add_backfill_arguments(parser)
    return run_backfill(parser.parse_args(argv))
