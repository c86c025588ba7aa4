"""`vultr-pipeline query`: run one SQL statement against the pipeline's ClickHouse."""

from __future__ import annotations

import argparse
import os
import sys

from vultr_pipeline.clickhouse.engine import ClickHouseSettings, open_engine
from vultr_pipeline.home import resolve_dagster_home


def add_query_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `query` options to `parser`."""
    parser.add_argument("sql", help='SQL to run, e.g. "SELECT count() FROM vultr_raw.instances".')
    parser.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="Output format (default: table).",
    )


def settings_from_env() -> ClickHouseSettings:
    """Return the ClickHouse the pipeline uses: $CLICKHOUSE_HOST, else the embedded directory.

    Raises:
        ValueError: CLICKHOUSE_PORT is not a whole number.
    """
    host = os.environ.get("CLICKHOUSE_HOST")
    if not host:
        path = os.environ.get("CLICKHOUSE_PATH") or str(resolve_dagster_home() / "clickhouse")
        return ClickHouseSettings(path=path)
    port = os.environ.get("CLICKHOUSE_PORT")
    return ClickHouseSettings(
        host=host,
        port=int(port) if port else None,
        username=os.environ.get("CLICKHOUSE_USER") or "default",
        password=os.environ.get("CLICKHOUSE_PASSWORD") or None,
        secure=os.environ.get("CLICKHOUSE_SECURE", "").lower() in {"1", "true", "yes"},
    )


def run_query(args: argparse.Namespace) -> int:
    """Run `args.sql` and print the result in `args.format`; return the exit code."""
    engine = open_engine(settings_from_env())
    try:
        frame = engine.query_arrow(args.sql).to_pandas()
    finally:
        engine.close()
    if args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        print(frame.to_json(orient="records", date_format="iso", default_handler=str))
    else:
        print(frame.to_string(index=False))
    return 0
