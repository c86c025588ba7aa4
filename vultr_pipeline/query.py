"""`vultr-pipeline query`: run one SQL statement against the pipeline's ClickHouse."""

from __future__ import annotations

import argparse
import sys

from vultr_pipeline.clickhouse.engine import open_engine
from vultr_pipeline.settings import clickhouse_settings_from_env


def add_query_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `query` options to `parser`."""
    parser.add_argument("sql", help='SQL to run, e.g. "SELECT count() FROM vultr_raw.instances".')
    parser.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="Output format (default: table).",
    )


def run_query(args: argparse.Namespace) -> int:
    """Run `args.sql` and print the result in `args.format`; return the exit code."""
    engine = open_engine(clickhouse_settings_from_env())
    try:
        frame = engine.query_arrow(args.sql).to_pandas()
    finally:
        engine.close()
    if args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        print(frame.to_json(orient="records", date_format="iso", default_handler=str))
    elif frame.empty:
        print(f"(0 rows; columns: {', '.join(map(str, frame.columns)) or 'none'})")
    else:
        print(frame.to_string(index=False))
    return 0
