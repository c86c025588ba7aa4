"""End to end: 24 monthly partitions of invoice items, from the emulator into chDB.

Run from the repository root: ``python benchmarks/end_to_end.py`` (``--quick`` for a small
run). The emulator serves a 24-month account in a child process with ``rate_limit=30``.
The measured process fetches the invoice list, then the items of every invoice with
``VultrAPI.iter_invoice_items_many`` (4 threads, default limiter). It parses each invoice's
items with the record spec of ``invoice_items`` and writes them, one monthly partition per
invoice, as a stream of 50,000-row frames. The writer is ``replace_partitions``, which
``ClickHouseIOManager.handle_output`` calls for a partitioned asset. The script calls the
client and the IO manager's write path directly, without ``dg.materialize``, so the
figures do not depend on how the asset graph is partitioned.

Each account size runs in a fresh process, whose wall time and peak resident memory
(``getrusage``) are reported. The emulator's own memory is not included.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from _common import (
    emulator_process,
    markdown_table,
    peak_rss_mib,
    run_child,
    section_header,
    write_section,
)

API_KEY = "benchmark-key"
ACCOUNT = "bench"
LIMIT = 30
FRAME_ROWS = 50_000
MONTHS = 24
TODAY = dt.date(2026, 12, 1)
# The emulator bills about 25 invoice lines per instance over 24 months.
INSTANCES_PER_MILLION_ITEMS = 39_400


def run_scale(instances: int, chunk_rows: int) -> dict[str, Any]:
    """Collect and store one account; runs in its own process."""
    import pandas as pd

    from vultr_pipeline.clickhouse.column_types import parse_column_type
    from vultr_pipeline.clickhouse.engine import ChdbEngine
    from vultr_pipeline.clickhouse.tables import TableSpec, replace_partitions
    from vultr_pipeline.defs.tables import order_by, table_schema
    from vultr_pipeline.emulator import SampleAccountConfig
    from vultr_pipeline.vultr import RECORD_SPECS, VultrAPI, VultrClient, number_lines
    from vultr_pipeline.vultr.records import parse_record

    spec = RECORD_SPECS["invoice_items"]
    schema = table_schema(spec)
    names = [column.name for column in schema.columns]
    table = TableSpec(
        database="vultr_raw",
        table="invoice_items",
        columns=tuple((column.name, parse_column_type(column.type)) for column in schema.columns),
        order_by=tuple(order_by(spec)),
        partition_columns=("billing_month",),
    )
    config = SampleAccountConfig(seed=7, instances=instances, invoice_months=MONTHS, today=TODAY)
    workdir = tempfile.mkdtemp(prefix="bench-e2e-")
    engine = ChdbEngine(str(Path(workdir) / "chdb"))
    totals = {"rows": 0, "sum": Decimal(0)}

    def frames(invoice_id: int, items: list[dict], month: dt.date) -> Iterator[pd.DataFrame]:
        lines = number_lines(items, invoice_id=invoice_id)
        collected_at = pd.Timestamp.now(tz="UTC").floor("ms")
        for start in range(0, len(lines), FRAME_ROWS):
            rows = [parse_record(spec, line) for line in lines[start : start + FRAME_ROWS]]
            frame = pd.DataFrame(rows)
            frame.insert(0, "account_id", ACCOUNT)
            frame.insert(1, "billing_month", month)
            frame["collected_at"] = collected_at
            totals["rows"] += len(frame)
            totals["sum"] += sum(
                (value for value in frame["total"] if value is not None), Decimal(0)
            )
            yield frame[names]

    with emulator_process(config, API_KEY, LIMIT) as emulator:
        memory_before = peak_rss_mib()
        started = time.monotonic()
        client = VultrClient(API_KEY, emulator.url, rate_limit=LIMIT)
        api = VultrAPI(client)
        invoices = api.list_endpoint("invoices")
        month_of = {
            invoice["id"]: dt.date.fromisoformat(invoice["date"][:7] + "-01")
            for invoice in invoices
        }
        partitions = 0
        for invoice_id, items in api.iter_invoice_items_many(month_of, max_workers=4):
            month = month_of[invoice_id]
            replace_partitions(
                engine,
                table,
                frames(invoice_id, items, month),
                {month.isoformat(): (month,)},
                chunk_rows,
            )
            partitions += 1
        client.close()
        seconds = time.monotonic() - started
        statuses = emulator.statuses()

    stored = engine.query_arrow(
        "SELECT count() AS n, sum(total) AS total FROM vultr_raw.invoice_items"
    ).to_pylist()[0]
    engine.close()
    return {
        "instances": instances,
        "partitions": partitions,
        "items": totals["rows"],
        "seconds": seconds,
        "requests": statuses.get(200, 0),
        "rejected": statuses.get(429, 0),
        "failed": sum(count for status, count in statuses.items() if status not in (200, 429)),
        "peak_rss_mib": peak_rss_mib(),
        "rss_before_mib": memory_before,
        "stored_rows": stored["n"],
        "sums_match": stored["total"] == totals["sum"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="about 10,000 and 100,000 items, not 0.1M and 1M"
    )
    parser.add_argument("--chunk-rows", type=int, default=200_000, help="IO manager chunk_rows")
    args = parser.parse_args()
    started = dt.datetime.now(dt.UTC)
    factor = 0.01 if args.quick else 0.1
    scales = [
        (factor, round(INSTANCES_PER_MILLION_ITEMS * factor)),
        (factor * 10, round(INSTANCES_PER_MILLION_ITEMS * factor * 10)),
    ]

    results = []
    for scale, instances in scales:
        result = run_child(run_scale, instances, args.chunk_rows)
        print(f"{scale}M items target, {instances} instances: {result}")
        results.append(result)

    rows = []
    for result in results:
        rows.append(
            [
                f"{result['instances']:,}",
                result["partitions"],
                f"{result['items']:,}",
                f"{result['requests']:,}",
                f"{result['seconds']:.1f} s",
                f"{result['requests'] / result['seconds']:.2f}",
                f"{result['requests'] / LIMIT:.1f} s",
                result["rejected"],
                result["failed"],
                f"{result['peak_rss_mib']:,.0f} MiB",
                "yes"
                if result["stored_rows"] == result["items"] and result["sums_match"]
                else "NO",
            ]
        )
    small, large = results
    growth = (
        f"From {small['items']:,} to {large['items']:,} items "
        f"({large['items'] / small['items']:.1f}×) the wall time grew "
        f"{large['seconds'] / small['seconds']:.1f}× and the peak memory "
        f"{large['peak_rss_mib'] / small['peak_rss_mib']:.2f}×."
    )
    memory_target = (
        "met"
        if large["peak_rss_mib"] <= 2048
        else f"missed by {large['peak_rss_mib'] - 2048:.0f} MiB"
    )
    body = (
        section_header("End to end: 24 monthly partitions of invoice items", started)
        + "\n"
        + "Each row is one fresh process: the invoice list, then the items of all 24 invoices "
        "fetched 4 at a time with `iter_invoice_items_many` while the previous invoice is "
        "parsed and written, one monthly partition per invoice, through `replace_partitions`, "
        "the write path of `ClickHouseIOManager.handle_output` for partitioned assets (chDB, "
        f"`chunk_rows` {args.chunk_rows:,}), fed by a generator of {FRAME_ROWS:,}-row "
        "frames. Peak "
        "memory is the process's `ru_maxrss`, imports of dagster, pandas and chDB included, "
        "the emulator's process excluded. *Stored* checks the row count and the sum of "
        "`total` in ClickHouse against the parsed records.\n\n"
        + markdown_table(
            [
                "instances",
                "partitions",
                "items",
                "requests",
                "wall time",
                "req/s",
                "30/s bound",
                "429s",
                "failed",
                "peak memory",
                "stored",
            ],
            rows,
        )
        + "\n\n"
        + growth
        + f" Target for a million items: at most 2 GiB peak memory, {memory_target}."
        + " The emulator bills about 25 lines per instance over 24 months, so the brief's "
        "10,000-instance account has about 254,000 items; the million-item account here has "
        f"{INSTANCES_PER_MILLION_ITEMS:,} instances. A 10-million-item account (10× the "
        "target) was not run: at 500 items per page and 28.5 requests/s its collection "
        "alone takes about 12 minutes, and the emulator would keep all 10 million items in "
        "memory (about 5 GiB, estimated from 138 MiB for 254,000 items); the growth from 0.1× to 1× above stands in for it.\n"
    )
    write_section("end_to_end", body)


if __name__ == "__main__":
    main()
