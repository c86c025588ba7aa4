"""IO-manager write time against a raw insert of the same data, on chDB and a server.

Run from the repository root: ``python benchmarks/writes.py`` (``--quick`` for a small run).
The data has the shape of the ``invoice_items`` table: 14 columns, three of them
``Nullable(Decimal(38, 10))`` built from Python ``Decimal`` objects, and a JSON ``raw``
column. For 100,000 and 1,000,000 rows (10,000 and 100,000 with ``--quick``) it times, best
of three:

- raw Arrow insert: the Arrow table, built beforehand, inserted into a plain table with
  the engine's ``insert_arrow`` (chDB ArrowStream; clickhouse-connect ``insert_arrow``);
- raw DataFrame insert: the DataFrame inserted as it is, on chDB only (``INSERT ... SELECT
  FROM Python(df)``), because the chDB HTTP endpoint does not accept the Native format that
  clickhouse-connect's ``insert_df`` sends;
- IO manager: ``ClickHouseIOManager.handle_output`` with the DataFrame, which converts it
  to Arrow in chunks, writes a staging table and swaps it in;
- read back: ``ClickHouseIOManager.load_input``, checking every Decimal against the input.

The server path runs clickhouse-connect against ``vultr_pipeline.clickhouse.chdb_http``, a
ClickHouse HTTP endpoint backed by chDB in a child process, because no ClickHouse server
installs here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
from _common import markdown_table, section_header, write_section

from vultr_pipeline.clickhouse.chdb_http import PASSWORD_ENVIRONMENT_VARIABLE
from vultr_pipeline.clickhouse.column_types import frame_to_arrow, parse_column_type
from vultr_pipeline.clickhouse.engine import ClickHouseSettings, open_engine
from vultr_pipeline.clickhouse.io_manager import ClickHouseIOManager
from vultr_pipeline.clickhouse.tables import TableSpec, create_table_sql

SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("account_id", "LowCardinality(String)"),
        dg.TableColumn("billing_month", "Date"),
        dg.TableColumn("invoice_id", "Int64"),
        dg.TableColumn("line_number", "Int64"),
        dg.TableColumn("description", "Nullable(String)"),
        dg.TableColumn("product", "LowCardinality(Nullable(String))"),
        dg.TableColumn("start_date", "Nullable(DateTime64(3, 'UTC'))"),
        dg.TableColumn("end_date", "Nullable(DateTime64(3, 'UTC'))"),
        dg.TableColumn("units", "Nullable(Decimal(38, 10))"),
        dg.TableColumn("unit_type", "LowCardinality(Nullable(String))"),
        dg.TableColumn("unit_price", "Nullable(Decimal(38, 10))"),
        dg.TableColumn("total", "Nullable(Decimal(38, 10))"),
        dg.TableColumn("raw", "String"),
        dg.TableColumn("collected_at", "DateTime64(3, 'UTC')"),
    ]
)
COLUMNS = tuple((column.name, parse_column_type(column.type)) for column in SCHEMA.columns)
ASSET_KEY = dg.AssetKey(["bench", "items"])
REPEATS = 3
PASSWORD = "benchmark-password"


def invoice_lines(rows: int) -> pd.DataFrame:
    """Build `rows` invoice lines with Decimal money, as the raw assets produce them."""
    generator = np.random.default_rng(7)
    numbers = np.arange(rows)
    units = [Decimal(int(value)) for value in generator.integers(1, 745, rows)]
    prices = [Decimal(int(value)).scaleb(-5) for value in generator.integers(1, 100_000, rows)]
    cent = Decimal("0.01")
    totals = [(unit * price).quantize(cent) for unit, price in zip(units, prices, strict=True)]
    descriptions = [f"Cloud Compute instance-{number % 10_000}" for number in numbers]
    raw = [
        json.dumps({"description": text, "units": str(u), "unit_price": str(p), "total": str(t)})
        for text, u, p, t in zip(descriptions, units, prices, totals, strict=True)
    ]
    months = [dt.date(2025, 1 + month, 1) for month in range(12)]
    start = pd.Timestamp("2025-01-01", tz="UTC")
    return pd.DataFrame(
        {
            "account_id": "main",
            "billing_month": pd.Series([months[n % 12] for n in numbers], dtype=object),
            "invoice_id": 1000 + numbers % 24,
            "line_number": numbers,
            "description": descriptions,
            "product": "Cloud Compute",
            "start_date": start,
            "end_date": start + pd.Timedelta(days=30),
            "units": pd.Series(units, dtype=object),
            "unit_type": "hours",
            "unit_price": pd.Series(prices, dtype=object),
            "total": pd.Series(totals, dtype=object),
            "raw": raw,
            "collected_at": start,
        }
    )


def best_of(repeats: int, action: Callable[[], Any], before: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeats):
        before()
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def start_endpoint(path: Path) -> tuple[subprocess.Popen[str], int]:
    environment = dict(os.environ, **{PASSWORD_ENVIRONMENT_VARIABLE: PASSWORD})
    command = [sys.executable, "-m", "vultr_pipeline.clickhouse.chdb_http"]
    command += ["--path", str(path), "--port", "0", "--user", "default"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, env=environment, text=True, start_new_session=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        raise RuntimeError(f"The chDB HTTP endpoint did not start: {line!r}")
    return process, int(line.rsplit(":", 1)[1])


def measure(settings: ClickHouseSettings, frame: pd.DataFrame, repeats: int) -> dict[str, Any]:
    """Time the raw inserts, the IO manager write and the read-back on one engine."""
    io_manager = (
        ClickHouseIOManager(
            host=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            compress=False,
        )
        if settings.host
        else ClickHouseIOManager(path=settings.path)
    )
    data = frame_to_arrow(frame, COLUMNS, "bench.items")
    engine = open_engine(settings)
    try:
        engine.command("CREATE DATABASE IF NOT EXISTS bench")
        engine.command(create_table_sql(TableSpec("bench", "raw_items", COLUMNS)))
        truncate = lambda: engine.command("TRUNCATE TABLE bench.raw_items")  # noqa: E731
        raw_arrow = best_of(
            repeats, lambda: engine.insert_arrow("bench", "raw_items", data), truncate
        )
        raw_frame = None
        if not settings.host:
            raw_frame = best_of(repeats, lambda: _insert_frame(engine, frame), truncate)
        engine.command("DROP TABLE bench.raw_items SYNC")

        # An output context takes metadata once, so each run gets a new one.
        contexts: list[dg.OutputContext] = []
        io_write = best_of(
            repeats,
            lambda: io_manager.handle_output(contexts[-1], frame),
            lambda: contexts.append(_output_context()),
        )
        loaded: dict[str, pd.DataFrame] = {}
        read = best_of(
            repeats,
            lambda: loaded.update(frame=io_manager.load_input(_input_context())),
            lambda: None,
        )
    finally:
        engine.close()
    exact = all(
        loaded["frame"].sort_values("line_number")[name].reset_index(drop=True).equals(frame[name])
        for name in ("units", "unit_price", "total")
    )
    return {
        "raw_arrow": raw_arrow,
        "raw_frame": raw_frame,
        "io": io_write,
        "read": read,
        "exact": exact,
        "conversion": _conversion_time(frame),
    }


def _output_context() -> dg.OutputContext:
    return dg.build_output_context(
        asset_key=ASSET_KEY, definition_metadata={"dagster/column_schema": SCHEMA}
    )


def _input_context() -> dg.InputContext:
    return dg.build_input_context(asset_key=ASSET_KEY, upstream_output=_output_context())


def _conversion_time(frame: pd.DataFrame) -> float:
    started = time.perf_counter()
    frame_to_arrow(frame, COLUMNS, "bench.items")
    return time.perf_counter() - started


def _insert_frame(engine: Any, frame: pd.DataFrame) -> None:
    names = ", ".join(f"`{name}`" for name, _ in COLUMNS)
    sql = f"INSERT INTO bench.raw_items ({names}) SELECT {names} FROM Python(frame)"
    # chDB's Python() table function finds `frame` among this function's local variables.
    engine._session.query(sql)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 and 100,000 rows")
    args = parser.parse_args()
    started = dt.datetime.now(dt.UTC)
    sizes = [10_000, 100_000] if args.quick else [100_000, 1_000_000]
    repeats = 2 if args.quick else REPEATS

    rows = []
    misses = []
    with tempfile.TemporaryDirectory(prefix="bench-writes-") as workdir:
        process, port = start_endpoint(Path(workdir) / "server")
        try:
            paths = {
                "chDB (embedded)": ClickHouseSettings(path=str(Path(workdir) / "chdb")),
                "server (HTTP)": ClickHouseSettings(
                    host="127.0.0.1", port=port, password=PASSWORD, compress=False
                ),
            }
            for size in sizes:
                frame = invoice_lines(size)
                for label, settings in paths.items():
                    result = measure(settings, frame, repeats)
                    ratio_arrow = result["io"] / result["raw_arrow"]
                    raw_frame = result["raw_frame"]
                    ratio_frame = f"**{result['io'] / raw_frame:.2f}×**" if raw_frame else "n/a"
                    print(f"{label} {size:,} rows: {result}")
                    rows.append(
                        [
                            label,
                            f"{size:,}",
                            f"{result['raw_arrow']:.2f} s",
                            f"{raw_frame:.2f} s" if raw_frame else "n/a",
                            f"{result['io']:.2f} s",
                            f"{result['conversion']:.2f} s",
                            f"**{ratio_arrow:.2f}×**",
                            ratio_frame,
                            f"{result['read']:.2f} s",
                            "yes" if result["exact"] else "NO",
                        ]
                    )
                    if ratio_arrow > 1.25:
                        misses.append(f"{label} at {size:,} rows: {ratio_arrow:.2f}× raw Arrow")
                    if raw_frame and result["io"] / raw_frame > 1.25:
                        misses.append(
                            f"{label} at {size:,} rows: {result['io'] / raw_frame:.2f}× raw "
                            "DataFrame"
                        )
        finally:
            process.terminate()
            process.wait(30)

    table = markdown_table(
        [
            "engine",
            "rows",
            "raw Arrow insert",
            "raw DataFrame insert",
            "IO manager write",
            "of which DataFrame→Arrow",
            "IO / raw Arrow",
            "IO / raw DataFrame",
            "read back",
            "Decimals exact",
        ],
        rows,
    )
    body = (
        section_header("Writes: IO manager against a raw insert", started)
        + "\n"
        + f"Best of {repeats} runs each. Rows have the shape of `invoice_items` (14 columns, "
        "three `Nullable(Decimal(38, 10))` columns of Python `Decimal` objects, a JSON `raw` "
        "column of about 110 bytes). *Raw Arrow insert* inserts an Arrow table built "
        "beforehand; *raw DataFrame insert* inserts the DataFrame as it is (chDB "
        "`Python(df)`; n/a on the server path, because the chDB HTTP endpoint does not accept "
        "the Native format that clickhouse-connect's `insert_df` sends). The IO manager write is "
        "`handle_output` with the DataFrame: conversion to Arrow in chunks of 200,000 rows "
        "on a worker thread, overlapped with the insert of the previous chunk into a staging "
        "table, then `EXCHANGE TABLES`. *Of which DataFrame→Arrow* is `frame_to_arrow` on "
        "the whole frame alone. The read back is `load_input` (Arrow to pandas with "
        "`Decimal` objects); *Decimals exact* compares every value with the input.\n\n"
        + table
        + "\n\nTarget: IO manager write at most 1.25× a raw insert. "
        + _verdict(misses)
        + "\n"
    )
    write_section("writes", body)


def _verdict(misses: list[str]) -> str:
    if not misses:
        return "Met against both raw inserts."
    return (
        "Missed in: " + "; ".join(misses) + ". Two costs explain the misses. First, the "
        "raw Arrow insert gets its data for free, while the IO manager first converts the "
        "DataFrame: pyarrow turns each Python `Decimal` into decimal128 at about 0.3 µs per "
        "value on an idle core, so the three money columns of a million lines take about "
        "1 s before any byte reaches ClickHouse; overlapping that conversion with the "
        "inserts hides only part of it on 2 shared cores. Second, each write creates, fills "
        "and exchanges a staging table and counts the rows, a fixed cost of a few tens of "
        "milliseconds (more over HTTP) that dominates at 10,000 rows. An asset that builds "
        "Arrow arrays in place of `Decimal` objects would avoid the first cost, but the IO "
        "manager accepts only DataFrames today."
    )


if __name__ == "__main__":
    main()
