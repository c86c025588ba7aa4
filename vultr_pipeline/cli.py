"""The `vultr-pipeline` command: demo, backfill, emulator, query and report.

A user's mistake (a missing key, a locked data directory, a port in use, an invalid setting)
ends with one line on stderr and exit code 2, never a traceback. Failed runs exit with 1.

Building the parser imports no module that reads settings, so `--help` works whatever the
environment contains. The settings are read and checked when a command runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from vultr_pipeline.accounts import AccountsConfigError
from vultr_pipeline.clickhouse.errors import ClickHouseError
from vultr_pipeline.vultr.errors import VultrError

USAGE_ERROR = 2
RUN_FAILED = 1


def _run_demo(args: argparse.Namespace) -> int:
    from vultr_pipeline.demo import DemoError, UIPortError, run_demo

    try:
        return run_demo(args)
    except UIPortError as error:
        print(f"vultr-pipeline demo: {error}", file=sys.stderr)
        return USAGE_ERROR
    except DemoError as error:
        print(f"vultr-pipeline demo: {error}", file=sys.stderr)
        return RUN_FAILED


def _run_backfill(args: argparse.Namespace) -> int:
    from vultr_pipeline.backfill import run_backfill

    return run_backfill(args)


def _run_emulator(args: argparse.Namespace) -> int:
    from vultr_pipeline.emulator.cli import run_from_args

    return run_from_args(args)


def _run_query(args: argparse.Namespace) -> int:
    from vultr_pipeline.query import run_query

    return run_query(args)


def _run_report(args: argparse.Namespace) -> int:
    from vultr_pipeline.report import run_report

    return run_report(args)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with one subcommand per task."""
    from vultr_pipeline.backfill import add_backfill_arguments
    from vultr_pipeline.demo import add_demo_arguments
    from vultr_pipeline.emulator.cli import add_emulator_arguments
    from vultr_pipeline.query import add_query_arguments
    from vultr_pipeline.report import add_report_arguments

    parser = argparse.ArgumentParser(
        prog="vultr-pipeline",
        description="Collect Vultr billing and inventory data into ClickHouse with Dagster.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run every asset against the local emulator into embedded ClickHouse",
        description="Start the emulator, materialize every asset into embedded ClickHouse "
        "under $DAGSTER_HOME (default ./.dagster_home), and print what landed.",
    )
    add_demo_arguments(demo)
    demo.set_defaults(handler=_run_demo)

    backfill = commands.add_parser(
        "backfill",
        help="load a range of billing months into ClickHouse, one run per account",
        description="Run the monthly job over a range of billing months for every account "
        "(or --account), in this process and recorded in $DAGSTER_HOME, and print the rows "
        "of each month and the reconciliation checks.",
    )
    add_backfill_arguments(backfill)
    backfill.set_defaults(handler=_run_backfill)

    emulator = commands.add_parser(
        "emulator",
        help="serve the local Vultr API emulator on 127.0.0.1",
        description="Serve a deterministic sample Vultr account under /v2 on 127.0.0.1.",
    )
    add_emulator_arguments(emulator)
    emulator.set_defaults(handler=_run_emulator)

    query = commands.add_parser(
        "query",
        help="run a SQL query against the pipeline's ClickHouse",
        description="Run one SQL statement against the ClickHouse the pipeline writes to: "
        "$CLICKHOUSE_HOST when set, else the embedded data directory.",
    )
    add_query_arguments(query)
    query.set_defaults(handler=_run_query)

    report = commands.add_parser(
        "report",
        help="print a month's spend, forecast, top costs and savings from ClickHouse",
        description="Summarize one billing month from the vultr_costs tables: spend, last "
        "month's spend, the month-end forecast, top services, regions and resources, and the "
        "largest savings recommendations.",
    )
    add_report_arguments(report)
    report.set_defaults(handler=_run_report)
    return parser


def _usage_errors() -> tuple[type[Exception], ...]:
    """Return the exceptions that a user's setting or argument causes."""
    from vultr_pipeline.defs.partitions import PartitionConfigError
    from vultr_pipeline.defs.schedules import ScheduleConfigError
    from vultr_pipeline.home import DagsterHomeError

    return (
        VultrError,
        ClickHouseError,
        AccountsConfigError,
        PartitionConfigError,
        ScheduleConfigError,
        DagsterHomeError,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code."""
    args = build_parser().parse_args(argv)
    # clickhouse-connect logs a warning, with a traceback for some errors, before it raises;
    # without a logging setup Python prints it on stderr. The exception it raises reaches the
    # handler below, which prints it as one line.
    logging.getLogger("clickhouse_connect").setLevel(logging.CRITICAL)
    try:
        return args.handler(args)
    except _usage_errors() as error:
        print(f"vultr-pipeline {args.command}: {error}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of stdout (such as `head`) closed it early; that is not an error here.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
