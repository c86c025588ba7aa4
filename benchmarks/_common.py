"""Helpers shared by the benchmark scripts: machine facts, child processes, the results page.

Each script owns one section of ``docs/benchmarks.md``, between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->`` markers, and rewrites only that section.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import platform
import resource
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS_PAGE = REPO / "docs" / "benchmarks.md"
PACKAGES = ("chdb", "clickhouse-connect", "dagster", "pandas", "pyarrow", "requests")

_PAGE_HEADER = """# Benchmarks

Figures measured by the scripts in `benchmarks/`. Each script rewrites its own section below;
run it again to refresh the figures. The machine and the command come with every section.
"""


def machine_summary() -> str:
    """Describe the CPU, memory, Python and package versions, and the load at the start."""
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in PACKAGES)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{os.cpu_count()} CPU cores ({_cpu_model()}), {memory_gib:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
        f"{versions}. Load average at the start (1, 5, 15 min): {load}."
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def command_line() -> str:
    """Return the command that started this script, relative to the repository root."""
    script = Path(sys.argv[0]).resolve().relative_to(REPO)
    return " ".join(["python", str(script), *sys.argv[1:]])


def peak_rss_mib() -> float:
    """Return the peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_section(name: str, body: str) -> None:
    """Replace the section `name` of the results page with `body`, creating what is missing."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = RESULTS_PAGE.read_text(encoding="utf-8") if RESULTS_PAGE.exists() else _PAGE_HEADER
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS_PAGE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PAGE.write_text(text, encoding="utf-8")


def section_header(title: str, started: dt.datetime) -> str:
    """Return the heading, date, command and machine lines that open a section."""
    return (
        f"## {title}\n\n"
        f"Measured {started:%Y-%m-%d %H:%M} UTC with `{command_line()}` on: {machine_summary()}\n"
    )


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _serve_emulator(config: Any, api_key: str, rate_limit: int, pipe: Any) -> None:
    from vultr_pipeline.emulator import EmulatorServer

    with EmulatorServer(config, api_key=api_key, rate_limit=rate_limit) as server:
        pipe.send(server.url)
        while True:
            message = pipe.recv()
            if message == "stop":
                return
            if message == "clear":
                server.requests.clear()
                pipe.send(None)
            elif message == "statuses":
                statuses: dict[int, int] = {}
                for record in server.requests.records():
                    statuses[record.status] = statuses.get(record.status, 0) + 1
                pipe.send(statuses)
            elif message == "invoice_items":
                items = [item for lines in server.account.invoice_items.values() for item in lines]
                total = sum((item["total"] for item in items), Decimal(0))
                pipe.send((len(server.account.invoices), len(items), total))


class EmulatorProcess:
    """The emulator in a child process, so its work does not share this process's GIL."""

    def __init__(self, url: str, pipe: Any) -> None:
        self.url = url
        self._pipe = pipe

    def clear(self) -> None:
        """Forget the requests logged so far."""
        self._pipe.send("clear")
        self._pipe.recv()

    def statuses(self) -> dict[int, int]:
        """Return how many requests got each HTTP status since the last `clear`."""
        self._pipe.send("statuses")
        return self._pipe.recv()

    def invoice_totals(self) -> tuple[int, int, Decimal]:
        """Return the count of invoices, the count of invoice items and the sum of their `total`."""
        self._pipe.send("invoice_items")
        return self._pipe.recv()


@contextmanager
def emulator_process(config: Any, api_key: str, rate_limit: int) -> Iterator[EmulatorProcess]:
    """Start the emulator for `config` in a child process and stop it afterwards."""
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(
        target=_serve_emulator, args=(config, api_key, rate_limit, child), daemon=True
    )
    process.start()
    try:
        if not parent.poll(600):
            raise RuntimeError("The emulator did not start within 600 s")
        yield EmulatorProcess(parent.recv(), parent)
    finally:
        if process.is_alive():
            parent.send("stop")
            process.join(30)
        if process.is_alive():
            process.terminate()


def _call_and_send(function: Callable[..., Any], args: tuple[Any, ...], pipe: Any) -> None:
    pipe.send(function(*args))


def run_child(function: Callable[..., Any], *args: Any) -> Any:
    """Run `function(*args)` in a fresh child process and return its result.

    Each measurement gets its own process, so that its peak resident memory is its own.
    The child may start processes of its own, which a multiprocessing pool would forbid.
    """
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_call_and_send, args=(function, args, child))
    process.start()
    try:
        while not parent.poll(1):
            if not process.is_alive():
                raise RuntimeError(f"The benchmark process exited with {process.exitcode}")
        return parent.recv()
    finally:
        process.join(60)


def git_revision() -> str:
    """Return the short commit of the working tree, with ``+changes`` when it differs."""
    try:
        revision = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return revision + ("+changes" if dirty else "")
