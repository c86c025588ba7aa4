"""Collection throughput against an emulator that allows 30 requests per second.

Run from the repository root: ``python benchmarks/collection.py`` (``--quick`` for a small
run). For each account size it fetches the invoice list, the items of every invoice and the
inventory endpoints twice, side by side:

- concurrently: ``VultrAPI.invoice_items_many`` and ``VultrAPI.list_endpoints`` on 8
  threads, paced by the default shared limiter for a 30/s limit;
- naively: one request after another with a fixed 0.5 s sleep before each, measured over
  the first requests only, because the whole account would take far longer.

The emulator runs in a child process with ``rate_limit=30`` and responds with 429 above
30 requests in any one-second window. The figures go to ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from _common import emulator_process, markdown_table, section_header, write_section

from vultr_pipeline.emulator import SampleAccountConfig
from vultr_pipeline.vultr import VultrAPI, VultrClient

API_KEY = "benchmark-key"
LIMIT = 30
NAIVE_DELAY = 0.5
INVENTORY = [
    "instances",
    "bare_metals",
    "snapshots",
    "backups",
    "blocks",
    "load_balancers",
    "kubernetes_clusters",
    "object_storage",
    "reserved_ips",
    "databases",
]
TODAY = dt.date(2026, 12, 1)


@dataclass
class Run:
    label: str
    requests: int
    seconds: float
    rejected: int
    items: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


class FixedDelay:
    """Stands in for the rate limiter: sleeps a fixed time before every request."""

    rate = 1 / NAIVE_DELAY

    def acquire(self) -> float:
        time.sleep(NAIVE_DELAY)
        return NAIVE_DELAY


def concurrent_run(url: str) -> int:
    """Fetch everything with 8 threads; return the number of records fetched."""
    client = VultrClient(API_KEY, url, rate_limit=LIMIT)
    api = VultrAPI(client)
    invoices = api.list_endpoint("invoices")
    items = api.invoice_items_many([invoice["id"] for invoice in invoices], max_workers=8)
    inventory = api.list_endpoints(INVENTORY, max_workers=8)
    client.close()
    return sum(len(rows) for rows in items.values()) + sum(map(len, inventory.values()))


def naive_run(url: str, max_requests: int) -> int:
    """Fetch sequentially with a fixed delay until `max_requests` requests; return items."""
    client = VultrClient(API_KEY, url, rate_limiter=FixedDelay())  # type: ignore[arg-type]
    api = VultrAPI(client)
    sent = 0
    items = 0
    invoices: list[dict[str, Any]] = []
    for page in api.iter_endpoint_pages("invoices"):
        invoices.extend(page)
        sent += 1
    for invoice in invoices:
        for page in api.iter_endpoint_pages("invoice_items", invoice_id=invoice["id"]):
            items += len(page)
            sent += 1
            if sent >= max_requests:
                client.close()
                return items
    client.close()
    return items


def measure(instances: int, naive_requests: int) -> tuple[Run, Run, int]:
    config = SampleAccountConfig(seed=7, instances=instances, invoice_months=24, today=TODAY)
    with emulator_process(config, API_KEY, LIMIT) as emulator:
        started = time.monotonic()
        items = concurrent_run(emulator.url)
        seconds = time.monotonic() - started
        statuses = emulator.statuses()
        ok = statuses.get(200, 0)
        concurrent = Run("8 threads, shared limiter", ok, seconds, statuses.get(429, 0), items)
        failed = sum(count for status, count in statuses.items() if status not in (200, 429))

        emulator.clear()
        started = time.monotonic()
        naive_items = naive_run(emulator.url, naive_requests)
        seconds = time.monotonic() - started
        statuses = emulator.statuses()
        naive = Run(
            f"sequential, {NAIVE_DELAY} s sleep per call",
            statuses.get(200, 0),
            seconds,
            statuses.get(429, 0),
            naive_items,
        )
    return concurrent, naive, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 instances")
    args = parser.parse_args()
    started = dt.datetime.now(dt.UTC)
    sizes = [(1_000, "1×"), (10_000, "10×")] if args.quick else [(10_000, "1×"), (100_000, "10×")]
    naive_requests = 20 if args.quick else 100

    rows = []
    notes = []
    for instances, scale in sizes:
        concurrent, naive, failed = measure(instances, naive_requests)
        account_requests = concurrent.requests
        bound = account_requests / LIMIT
        naive_projection = account_requests / naive.rate
        print(
            f"{scale} ({instances} instances): {account_requests} requests in "
            f"{concurrent.seconds:.1f} s = {concurrent.rate:.2f}/s, {concurrent.rejected} 429s, "
            f"{failed} failed; naive {naive.rate:.2f}/s over {naive.requests} requests"
        )
        rows.append(
            [
                f"{scale}: {instances:,} instances, 24 invoices",
                f"{account_requests:,}",
                f"{concurrent.items:,}",
                f"{concurrent.seconds:.1f} s",
                f"**{concurrent.rate:.2f}**",
                concurrent.rejected,
                failed,
                f"{bound:.1f} s",
                f"{naive.rate:.2f} ({naive.requests} requests)",
                f"{naive_projection:,.0f} s (projected)",
            ]
        )
        if concurrent.rate < 27:
            notes.append(
                f"At {scale} the concurrent run reached {concurrent.rate:.2f} requests/s, "
                f"{27 - concurrent.rate:.2f} below the 27/s target."
            )

    table = markdown_table(
        [
            "account",
            "requests (200)",
            "records",
            "concurrent time",
            "concurrent req/s",
            "429s",
            "failed",
            "30/s bound",
            "naive req/s",
            "naive time",
        ],
        rows,
    )
    body = (
        section_header("Collection: requests per second against a 30/s limit", started)
        + "\n"
        + "The emulator ran in a child process with `rate_limit=30`. The concurrent run "
        "fetched the invoice list, the items of all 24 invoices (`invoice_items_many`, 8 "
        "threads, 500 items per page) and 10 inventory endpoints (`list_endpoints`), paced "
        "by the default shared limiter (`VultrClient(rate_limit=30)`: 28.5 requests/s, "
        "burst 1). Requests/s counts the 200 responses over the wall time of the whole run. "
        "A 429 is retried after its `Retry-After`, so it costs time, not data; `failed` "
        "counts other error statuses. The naive run sleeps 0.5 s before every request, "
        f"one at a time; it was measured over its first {naive_requests} requests and its "
        "time for the whole account is projected from that rate.\n\n"
        + table
        + "\n\nTarget: at least 27 requests/s sustained with no failed request. "
        + (" ".join(notes) if notes else "Met at both sizes.")
        + "\n"
    )
    write_section("collection", body)


if __name__ == "__main__":
    main()
