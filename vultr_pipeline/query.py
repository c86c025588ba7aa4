"""`vultr-pipeline query`: run one SQL statement against the pipeline's ClickHouse."""

from __future__ import annotations

import argparse
import sys

from vultr_pipeline.clickhouse.engine import open_engine
from vultr_pipeline.settings import clickhouse_settings_from_env

USAGE_ERROR = 2
_QUOTES = "'\"`"


def add_query_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `query` options to `parser`."""
    parser.add_argument("sql", help='SQL to run, e.g. "SELECT count() FROM vultr_raw.instances".')
    parser.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="Output format (default: table).",
    )


def _skip_quoted(sql: str, start: int) -> int:
    """Return the index after the string or identifier that opens at `start`.

    A backslash escapes the next character, and a doubled quote stands for one quote, as in
    ClickHouse. An unclosed quote runs to the end of the text.
    """
    quote = sql[start]
    index = start + 1
    while index < len(sql):
        character = sql[index]
        if character == "\\":
            index += 2
        elif character == quote and sql.startswith(quote * 2, index):
            index += 2
        elif character == quote:
            return index + 1
        else:
            index += 1
    return len(sql)


def _skip_block_comment(sql: str, start: int) -> int:
    """Return the index after the `/* ... */` comment at `start`, which may nest others."""
    depth = 0
    index = start
    while index < len(sql):
        if sql.startswith("/*", index):
            depth += 1
            index += 2
        elif sql.startswith("*/", index):
            depth -= 1
            index += 2
            if depth == 0:
                return index
        else:
            index += 1
    return len(sql)


def count_statements(sql: str) -> int:
    """Count the statements in `sql` that contain more than comments and whitespace.

    Semicolons inside strings, quoted identifiers and comments do not separate statements,
    and a semicolon after the last statement adds none.
    """
    count = 0
    has_content = False
    index = 0
    while index < len(sql):
        character = sql[index]
        if character in _QUOTES:
            has_content = True
            index = _skip_quoted(sql, index)
        elif sql.startswith(("--", "# ", "#!"), index):
            newline = sql.find("\n", index)
            index = len(sql) if newline < 0 else newline + 1
        elif sql.startswith("/*", index):
            index = _skip_block_comment(sql, index)
        elif character == ";":
            count += has_content
            has_content = False
            index += 1
        else:
            has_content = has_content or not character.isspace()
            index += 1
    return count + has_content


def run_query(args: argparse.Namespace) -> int:
    """Run `args.sql` and print the result in `args.format`; return the exit code.

    SQL with no statement or with several statements prints one line on stderr and returns 2.
    Embedded ClickHouse would run every statement but print only part of the output, and a
    ClickHouse server rejects several statements in one request.
    """
    statements = count_statements(args.sql)
    if statements != 1:
        problem = "contains no statement" if not statements else f"has {statements} statements"
        print(
            f"vultr-pipeline query: the SQL {problem}; pass exactly one statement, and run "
            "several statements with one call each",
            file=sys.stderr,
        )
        return USAGE_ERROR
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
