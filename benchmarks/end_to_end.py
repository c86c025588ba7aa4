"""End to end: 24 monthly partitions of one account through Dagster, from the emulator to chDB.

Run from the repository root: ``python benchmarks/end_to_end.py`` (``--quick`` for a run of a
minute or two). Each measurement runs in a fresh process, which:

1. starts the emulator for the account in a child process, with ``rate_limit=30``;
2. points the pipeline at it (``VULTR_API_URL``, ``VULTR_API_KEY``) and at a new Dagster
   instance and chDB directory in a temporary ``DAGSTER_HOME``;
3. finds the months as ``vultr-pipeline backfill`` does (``first_invoice_month`` and
   ``month_range``), from the first invoice's billing month to the last closed month;
4. launches one run over that range with ``backfill.run_account``: a single-run partition
   range, on the code location's executor (in-process with embedded chDB);
5. compares the stored invoices and invoice items with what the emulator served.

The first figure runs the two monthly raw assets (``vultr_raw/invoices`` and
``vultr_raw/invoice_items``) and their asset checks at each account size. The second runs the
whole ``vultr_monthly_job``, cost assets included, at the smallest size. Wall time is the time
of ``run_account``. Peak memory is the process's ``ru_maxrss``: imports, Dagster and chDB
included, the emulator's process excluded. Step times come from the run's step events, and
each step's peak from resident-memory samples taken every ``SAMPLE_SECONDS``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
import threading
import time
from types import TracebackType
from typing import Any

from _common import (
    emulator_process,
    git_revision,
    markdown_table,
    peak_rss_mib,
    run_child,
    section_header,
    write_section,
)

API_KEY = "benchmark-key"
LIMIT = 30
MONTHS = 24
TODAY = dt.date(2026, 12, 1)
# The emulator bills about 25.4 invoice lines per instance over 24 months: 10,000 instances
# give about 254,000 items, and 39,400 instances about a million.
BASE_INSTANCES = 10_000
MILLION_ITEM_INSTANCES = 39_400
TEN_X_INSTANCES = 100_000
QUICK_FACTOR = 0.1
# The 10× account runs only when the two smaller runs project it within these bounds.
TEN_X_MAX_SECONDS = 600
TEN_X_MAX_MIB = 6 * 1024
MEMORY_TARGET_MIB = 2048
# Interval of the resident-memory samples that attribute the peak to a step.
SAMPLE_SECONDS = 0.1
RAW_JOB_NAME = "benchmark_monthly_raw_job"
RAW_ASSET_STEPS = ("vultr_raw__invoices", "vultr_raw__invoice_items")
# Variables that would send the run elsewhere than the emulator, the temporary Dagster
# instance and its embedded chDB, or move the month partitions.
OVERRIDDEN = (
    "VULTR_ACCOUNTS_FILE",
    "VULTR_HISTORY_START",
    "CLICKHOUSE_HOST",
    "CLICKHOUSE_PATH",
    "CLICKHOUSE_DATABASE",
)


def measure_run(instances: int, whole_job: bool, home: str) -> dict[str, Any]:
    """Run the monthly raw assets, or the whole monthly job, over 24 months of one account.

    Runs in a fresh process. `home` is an empty directory for the Dagster instance and chDB.
    """
    from vultr_pipeline.emulator import SampleAccountConfig

    config = SampleAccountConfig(seed=7, instances=instances, invoice_months=MONTHS, today=TODAY)
    # Fork the emulator's process before Dagster and chDB start threads in this one, because a
    # forked copy of a threaded process can deadlock.
    with emulator_process(config, API_KEY, LIMIT) as emulator:
        _use_emulator(emulator.url, home)
        import dagster as dg

        from vultr_pipeline.accounts import DEFAULT_ACCOUNT
        from vultr_pipeline.backfill import run_account

        loading = time.monotonic()
        job, months = _job_and_months(whole_job)
        load_seconds = time.monotonic() - loading
        served = emulator.invoice_totals()
        emulator.clear()

        rss_before = peak_rss_mib()
        with dg.DagsterInstance.get() as instance, MemorySampler() as sampler:
            started = time.monotonic()
            outcome = run_account(job, instance, DEFAULT_ACCOUNT, months)
            seconds = time.monotonic() - started
            windows = _step_windows(instance, outcome.run_id)
        statuses = emulator.statuses()

    return {
        "instances": instances,
        "job": job.name,
        "partitions": len(months),
        "success": outcome.success,
        "errors": outcome.errors,
        "checks": len(outcome.checks),
        "checks_failed": [name for name, passed, _ in outcome.checks if not passed],
        "load_seconds": load_seconds,
        "seconds": seconds,
        "steps": {step: end - start for step, (start, end) in windows.items()},
        "step_peaks": {step: sampler.peak_between(*window) for step, window in windows.items()},
        "requests": statuses.get(200, 0),
        "rejected": statuses.get(429, 0),
        "failed": sum(count for status, count in statuses.items() if status not in (200, 429)),
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak_rss_mib(),
        "served_invoices": served[0],
        "served_items": served[1],
        "served_total": served[2],
        **_stored_totals(),
    }


def _use_emulator(url: str, home: str) -> None:
    for name in OVERRIDDEN:
        os.environ.pop(name, None)
    os.environ["VULTR_API_URL"] = url
    os.environ["VULTR_API_KEY"] = API_KEY
    os.environ["DAGSTER_HOME"] = home


def _job_and_months(whole_job: bool) -> tuple[Any, list[dt.date]]:
    """Load the code location and list the months, as `vultr-pipeline backfill` does."""
    from vultr_pipeline.accounts import DEFAULT_ACCOUNT
    from vultr_pipeline.backfill import first_invoice_month, month_range
    from vultr_pipeline.costs.line_items import month_start
    from vultr_pipeline.definitions import build_definitions
    from vultr_pipeline.defs.partitions import build_partitions, history_start
    from vultr_pipeline.defs.schedules import MONTHLY_JOB_NAME, previous_month
    from vultr_pipeline.home import resolve_dagster_home

    resolve_dagster_home()
    definitions = build_definitions(build_partitions())
    job = definitions.resolve_job_def(MONTHLY_JOB_NAME) if whole_job else _raw_job(definitions)
    first = first_invoice_month(DEFAULT_ACCOUNT)
    if first is None:
        raise RuntimeError(
            "The emulator served no invoices, so there are no months to load; check the "
            "SampleAccountConfig in measure_run"
        )
    open_month = month_start(dt.datetime.now(dt.UTC).date())
    months = month_range(first, previous_month(TODAY), open_month, history_start().date())
    return job, months


def _raw_job(definitions: Any) -> Any:
    """Return a job of the two monthly raw assets and their checks, on the location's executor."""
    import dagster as dg

    from vultr_pipeline.defs.raw_assets import RAW_GROUP

    # Each raw asset is a multi-asset that also writes its `vultr_rejects` table, and Dagster
    # cannot run part of a multi-asset.
    selection = dg.AssetSelection.assets(
        dg.AssetKey([RAW_GROUP, "invoices"]), dg.AssetKey([RAW_GROUP, "invoice_items"])
    ).required_multi_asset_neighbors()
    job = dg.define_asset_job(RAW_JOB_NAME, selection=selection)
    merged = dg.Definitions.merge(definitions, dg.Definitions(jobs=[job]))
    return merged.resolve_job_def(RAW_JOB_NAME)


class MemorySampler:
    """Sample this process's resident memory in a thread, to find the peak within a step.

    Reads ``/proc/self/statm``, so it records nothing on systems without ``/proc``. A peak
    shorter than `SAMPLE_SECONDS` can fall between two samples.
    """

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._page_mib = os.sysconf("SC_PAGE_SIZE") / 2**20

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            try:
                with open("/proc/self/statm", encoding="ascii") as statm:
                    pages = int(statm.read().split()[1])
            except OSError:
                return
            self.samples.append((time.time(), pages * self._page_mib))

    def peak_between(self, start: float, end: float) -> float | None:
        """Return the largest sample, in MiB, taken from `start` to `end` (Unix times)."""
        inside = [mib for moment, mib in self.samples if start <= moment <= end]
        return max(inside) if inside else None


def _step_windows(instance: Any, run_id: str) -> dict[str, tuple[float, float]]:
    """Return each step's Unix times from its start event to its success or failure event."""
    import dagster as dg

    kinds = {
        dg.DagsterEventType.STEP_START,
        dg.DagsterEventType.STEP_SUCCESS,
        dg.DagsterEventType.STEP_FAILURE,
    }
    starts: dict[str, float] = {}
    windows: dict[str, tuple[float, float]] = {}
    for entry in instance.all_logs(run_id, of_type=kinds):
        if entry.dagster_event_type == dg.DagsterEventType.STEP_START:
            starts[entry.step_key] = entry.timestamp
        elif entry.step_key in starts:
            windows[entry.step_key] = (starts[entry.step_key], entry.timestamp)
    return windows


def _stored_totals() -> dict[str, Any]:
    """Count the stored invoices and invoice items and sum the items' `total`.

    A failed run may leave no table, which counts as nothing stored.
    """
    from vultr_pipeline.clickhouse.engine import open_engine
    from vultr_pipeline.clickhouse.errors import ClickHouseQueryError
    from vultr_pipeline.settings import clickhouse_settings_from_env

    engine = open_engine(clickhouse_settings_from_env())
    try:
        items = engine.query_arrow(
            "SELECT count() AS n, sum(total) AS total FROM vultr_raw.invoice_items"
        ).to_pylist()[0]
        invoices = engine.query_arrow("SELECT count() AS n FROM vultr_raw.invoices")
    except ClickHouseQueryError as error:
        print(f"Reading the stored invoice items failed: {error}", flush=True)
        return {"stored_invoices": 0, "stored_items": 0, "stored_total": None}
    finally:
        engine.close()
    return {
        "stored_invoices": invoices.to_pylist()[0]["n"],
        "stored_items": items["n"],
        "stored_total": items["total"],
    }


def run_measurement(instances: int, whole_job: bool) -> dict[str, Any]:
    """Measure one run in a fresh process, print a line about it and remove its files."""
    home = tempfile.mkdtemp(prefix="bench-e2e-")
    try:
        result = run_child(measure_run, instances, whole_job, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(
        f"{result['job']}, {result['instances']:,} instances: {result['served_items']:,} items, "
        f"{result['seconds']:.1f} s, peak {result['peak_rss_mib']:,.0f} MiB, "
        f"{result['requests']:,} requests, {_run_state(result)}, "
        f"stored matches: {_stored_matches(result)}",
        flush=True,
    )
    return result


def _stored_matches(result: dict[str, Any]) -> bool:
    return (
        result["stored_invoices"] == result["served_invoices"]
        and result["stored_items"] == result["served_items"]
        and result["stored_total"] == result["served_total"]
    )


def _run_state(result: dict[str, Any]) -> str:
    if not result["success"]:
        return "failed: " + "; ".join(result["errors"])
    if result["checks_failed"]:
        return "succeeded, checks failed: " + ", ".join(result["checks_failed"])
    return f"succeeded, {result['checks']} checks passed"


def _ten_x_projection(small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    """Extrapolate the wall time and peak memory of the 10× account from two measured runs.

    The projection assumes that both grow linearly in the item count, so it is an estimate.
    """
    items = round(large["served_items"] * TEN_X_INSTANCES / large["instances"])
    added = large["served_items"] - small["served_items"]
    projection: dict[str, Any] = {"items": items}
    for key in ("seconds", "peak_rss_mib"):
        slope = (large[key] - small[key]) / added
        projection[key] = large[key] + slope * (items - large["served_items"])
    projection["fits"] = (
        projection["seconds"] <= TEN_X_MAX_SECONDS and projection["peak_rss_mib"] <= TEN_X_MAX_MIB
    )
    return projection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="run 1,000 and 3,940 instances (a tenth of the full sizes) and skip the 10× size",
    )
    args = parser.parse_args()
    started = dt.datetime.now(dt.UTC)
    factor = QUICK_FACTOR if args.quick else 1.0
    sizes = [round(BASE_INSTANCES * factor), round(MILLION_ITEM_INSTANCES * factor)]

    raw_runs = [run_measurement(instances, whole_job=False) for instances in sizes]
    ten_x = None if args.quick else _ten_x_projection(raw_runs[0], raw_runs[1])
    if ten_x is not None and ten_x["fits"]:
        raw_runs.append(run_measurement(TEN_X_INSTANCES, whole_job=False))
    job_run = run_measurement(sizes[0], whole_job=True)

    title = "End to end: 24 monthly partitions through Dagster, emulator to chDB"
    parts = [
        section_header(title, started).strip(),
        _method_paragraph([*raw_runs, job_run]),
        "Monthly raw assets (`vultr_raw/invoices` and `vultr_raw/invoice_items`, with the "
        "`vultr_rejects` tables their steps also write, and their asset checks), one run per "
        "account size. Size 1× is 10,000 instances.",
        _raw_table(raw_runs),
        "Whole `vultr_monthly_job` (cost assets and their checks included) at the smallest "
        "size, beside the raw assets' run at that size, by step:",
        _steps_table(raw_runs[0], job_run),
        _findings(raw_runs, job_run, ten_x),
    ]
    write_section("end_to_end", "\n\n".join(parts))


def _method_paragraph(runs: list[dict[str, Any]]) -> str:
    load_seconds = [result["load_seconds"] for result in runs]
    return (
        f"Code at commit `{git_revision()}` (`+changes` means the working tree differed from "
        "it). Each run is one fresh process. It starts the emulator in a child process "
        f"(`rate_limit={LIMIT}`) and points the pipeline at it and at a new Dagster instance "
        "with its own chDB directory. Then it finds the months with `first_invoice_month` "
        "and `month_range` and launches one run over the 24 billing months with "
        "`run_account`, as `vultr-pipeline backfill` does. That is a single-run partition "
        "range on the in-process executor, with the `VultrResource` at its default 30 "
        "requests/s. *Wall time* is that run, Dagster's own work included. Loading the code "
        f"location and listing the invoices before it took at most {max(load_seconds):.1f} s "
        "and are not included. *Peak memory* is the "
        "process's `ru_maxrss`, imports and chDB included, the emulator's process excluded; "
        "*before the run* is the same figure when the run starts. A step's *peak* is the "
        f"largest resident-memory sample taken every {SAMPLE_SECONDS} s during the step. "
        "Memory that a step frees is not always returned to the system, so that figure can "
        "include what earlier steps left behind. *Stored* compares the "
        "count of invoices, the count of invoice items and the sum of the items' `total` in "
        "ClickHouse with what the emulator served. The 2 cores were shared with other work "
        "(see the load average above), so times vary by tens of percent from run to run."
    )


def _size_label(result: dict[str, Any]) -> str:
    return f"{result['instances'] / BASE_INSTANCES:.3g}×"


def _check_steps(result: dict[str, Any]) -> list[str]:
    """Return the check steps of a raw assets' run, which are all steps but the asset steps."""
    return [step for step in result["steps"] if step not in RAW_ASSET_STEPS]


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} MiB"


def _max_peak(result: dict[str, Any], steps: list[str]) -> float | None:
    peaks = [result["step_peaks"][step] for step in steps if result["step_peaks"].get(step)]
    return max(peaks) if peaks else None


def _raw_table(runs: list[dict[str, Any]]) -> str:
    header = [
        "size",
        "instances",
        "partitions",
        "invoice items",
        "requests (200)",
        "30/s bound",
        "wall time",
        "`invoice_items` step",
        "check steps",
        "429s",
        "failed",
        "before the run",
        "peak in `invoice_items` step",
        "peak in check steps",
        "peak memory",
        "stored",
        "run",
    ]
    rows = []
    for result in runs:
        rows.append(
            [
                _size_label(result),
                f"{result['instances']:,}",
                result["partitions"],
                f"{result['served_items']:,}",
                f"{result['requests']:,}",
                f"{result['requests'] / LIMIT:.1f} s",
                f"**{result['seconds']:.1f} s**",
                f"{result['steps'].get(RAW_ASSET_STEPS[1], 0.0):.1f} s",
                f"{sum(result['steps'][step] for step in _check_steps(result)):.1f} s",
                result["rejected"],
                result["failed"],
                _mib(result["rss_before_mib"]),
                _mib(result["step_peaks"].get(RAW_ASSET_STEPS[1])),
                _mib(_max_peak(result, _check_steps(result))),
                f"**{result['peak_rss_mib']:,.0f} MiB**",
                "yes" if _stored_matches(result) else "NO",
                _run_state(result),
            ]
        )
    return markdown_table(header, rows)


def _steps_table(raw_run: dict[str, Any], job_run: dict[str, Any]) -> str:
    rows = []
    for step in dict.fromkeys([*job_run["steps"], *raw_run["steps"]]):
        cells = [f"`{step}`"]
        for result in (raw_run, job_run):
            if step in result["steps"]:
                cells += [f"{result['steps'][step]:.1f} s", _mib(result["step_peaks"][step])]
            else:
                cells += ["", ""]
        job_seconds = job_run["steps"].get(step)
        cells.append("" if job_seconds is None else f"{job_seconds / job_run['seconds']:.0%}")
        rows.append(cells)
    outside = [result["seconds"] - sum(result["steps"].values()) for result in (raw_run, job_run)]
    rows.append(
        [
            "outside the steps (Dagster's run overhead)",
            f"{outside[0]:.1f} s",
            "",
            f"{outside[1]:.1f} s",
            "",
            f"{outside[1] / job_run['seconds']:.0%}",
        ]
    )
    rows.append(
        [
            "whole run (wall time, `ru_maxrss`)",
            f"{raw_run['seconds']:.1f} s",
            _mib(raw_run["peak_rss_mib"]),
            f"{job_run['seconds']:.1f} s",
            _mib(job_run["peak_rss_mib"]),
            "",
        ]
    )
    header = [
        f"step ({job_run['instances']:,} instances)",
        "raw assets' run",
        "peak in step",
        "`vultr_monthly_job`",
        "peak in step",
        "share of the job's wall time",
    ]
    return markdown_table(header, rows)


def _findings(
    raw_runs: list[dict[str, Any]], job_run: dict[str, Any], ten_x: dict[str, Any] | None
) -> str:
    text = " ".join(
        _growth_text(small, large) for small, large in zip(raw_runs, raw_runs[1:], strict=False)
    )
    text += _peak_step_text(raw_runs[-1])
    text += _memory_target_text(raw_runs[1]) + _ten_x_text(ten_x, raw_runs)
    return text + _job_text(raw_runs, job_run)


def _growth_text(small: dict[str, Any], large: dict[str, Any]) -> str:
    growth = large["peak_rss_mib"] - small["peak_rss_mib"]
    added = large["served_items"] - small["served_items"]
    return (
        f"From {_size_label(small)} to {_size_label(large)} ({small['served_items']:,} to "
        f"{large['served_items']:,} items, {large['served_items'] / small['served_items']:.1f}×), "
        f"the wall time grew {large['seconds'] / small['seconds']:.1f}× and the peak memory "
        f"{large['peak_rss_mib'] / small['peak_rss_mib']:.1f}×, "
        f"{growth / added * 100_000:,.0f} MiB more per 100,000 items."
    )


def _peak_step_text(result: dict[str, Any]) -> str:
    peaks = {step: mib for step, mib in result["step_peaks"].items() if mib is not None}
    if not peaks:
        return ""
    step = max(peaks, key=lambda key: peaks[key])
    return (
        f" In the {_size_label(result)} run the highest sample, {peaks[step]:,.0f} MiB, came "
        f"in step `{step}`."
    )


def _memory_target_text(large: dict[str, Any]) -> str:
    if large["served_items"] < 900_000:
        return " This run stays below a million items, so it does not test the 2 GiB target."
    peak = large["peak_rss_mib"]
    if peak <= MEMORY_TARGET_MIB:
        verdict = f"met, {MEMORY_TARGET_MIB - peak:,.0f} MiB below it"
    else:
        verdict = (
            f"missed by {peak - MEMORY_TARGET_MIB:,.0f} MiB "
            f"({(peak - MEMORY_TARGET_MIB) / MEMORY_TARGET_MIB:.0%} over)"
        )
    return (
        f" Target, a million line items in at most 2 GiB: {verdict}, with {peak:,.0f} MiB "
        f"peak for {large['served_items']:,} items."
    )


def _ten_x_text(ten_x: dict[str, Any] | None, raw_runs: list[dict[str, Any]]) -> str:
    if ten_x is None:
        return " The `--quick` run never runs the 10× account."
    projected = (
        f" Extrapolating the {_size_label(raw_runs[0])} and {_size_label(raw_runs[1])} runs "
        f"linearly in the item count projected {ten_x['seconds']:,.0f} s and "
        f"{ten_x['peak_rss_mib']:,.0f} MiB for the 10× account ({TEN_X_INSTANCES:,} "
        f"instances, about {ten_x['items']:,} items)"
    )
    bounds = f"{TEN_X_MAX_SECONDS} s and {TEN_X_MAX_MIB:,} MiB"
    if not ten_x["fits"]:
        return (
            f"{projected}, beyond the {bounds} this script allows, so it was not run. The "
            "projection is an estimate, not a measurement."
        )
    measured = raw_runs[-1]
    return (
        f"{projected}, within the {bounds} this script allows, so it ran. It took "
        f"{measured['seconds']:,.0f} s and {measured['peak_rss_mib']:,.0f} MiB."
    )


def _job_text(raw_runs: list[dict[str, Any]], job_run: dict[str, Any]) -> str:
    slowest, seconds = max(job_run["steps"].items(), key=lambda pair: pair[1])
    raw_run = raw_runs[0]
    return (
        f" At {job_run['instances']:,} instances the whole monthly job took "
        f"{job_run['seconds']:.1f} s against {raw_run['seconds']:.1f} s for the raw assets "
        f"alone, and its peak memory was {job_run['peak_rss_mib']:,.0f} MiB. Its slowest "
        f"step was `{slowest}`, {seconds:.1f} s or {seconds / job_run['seconds']:.0%} of the "
        "run."
    )


if __name__ == "__main__":
    main()
