"""A progress bar for a Dagster run that executes in this process, for the long commands.

`vultr-pipeline demo` and `backfill` run their jobs with `execute_in_process`, which returns only
when the run ends. `RunProgress` watches the instance from a background thread meanwhile: it
finds the run created after it started, reads the run's planned steps from its execution plan,
and counts the steps that succeeded, failed or were skipped. On a terminal it redraws one line,
such as ``  default [##########----------] 21/43 steps``. When the output is not a terminal,
such as a pipe or a CI log, it prints nothing, so logs stay free of carriage returns.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
from types import TracebackType
from typing import TextIO

import dagster as dg

BAR_WIDTH = 30
POLL_SECONDS = 0.5
FINISHED_STEP_EVENTS = {
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.STEP_SKIPPED,
}


def render_bar(label: str, done: int, total: int | None, width: int = BAR_WIDTH) -> str:
    """Return one line of progress: the label, a bar and the count of finished steps.

    Before the run's plan is known (`total` None or 0) the bar is empty and the count reads
    ``starting``.
    """
    if not total:
        return f"{label} [{'-' * width}] starting"
    done = min(done, total)
    filled = done * width // total
    return f"{label} [{'#' * filled}{'-' * (width - filled)}] {done}/{total} steps"


class RunProgress:
    """Draw the progress of the next run created in `instance`, while the block runs.

    Use it around one `execute_in_process` call:

        with RunProgress(instance, "  default"):
            job.execute_in_process(instance=instance, ...)
    """

    def __init__(
        self,
        instance: dg.DagsterInstance,
        label: str,
        stream: TextIO | None = None,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._instance = instance
        self._label = label
        self._stream = stream if stream is not None else sys.stderr
        self._poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = dt.datetime.now(dt.UTC)
        self._run_id: str | None = None
        self._total: int | None = None
        self._width = 0

    @property
    def enabled(self) -> bool:
        """Whether the output is a terminal, where a redrawn line reads well."""
        isatty = getattr(self._stream, "isatty", None)
        return bool(isatty and isatty())

    def __enter__(self) -> RunProgress:
        self._started = dt.datetime.now(dt.UTC)
        if self.enabled:
            self._thread = threading.Thread(target=self._watch, name="run-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._draw(final=True)

    def poll(self) -> tuple[int, int | None]:
        """Return the finished steps and the planned steps of the watched run (None if unknown)."""
        if self._run_id is None:
            records = self._instance.get_run_records(
                filters=dg.RunsFilter(created_after=self._started), limit=1
            )
            if not records:
                return 0, None
            run = records[0].dagster_run
            self._run_id = run.run_id
            self._total = self._planned_steps(run)
        finished = self._instance.get_records_for_run(
            self._run_id, of_type=FINISHED_STEP_EVENTS, limit=10_000
        ).records
        return len(finished), self._total

    def _planned_steps(self, run: dg.DagsterRun) -> int | None:
        if run.step_keys_to_execute:
            return len(run.step_keys_to_execute)
        if not run.execution_plan_snapshot_id:
            return None
        plan = self._instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        return len(plan.step_keys_to_execute or plan.steps)

    def _watch(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            self._draw(final=False)

    def _draw(self, *, final: bool) -> None:
        try:
            done, total = self.poll()
        except Exception:  # noqa: BLE001 - a failed read of the event log must not stop the run
            return
        line = render_bar(self._label, done, total)
        padding = " " * max(0, self._width - len(line))
        self._width = len(line)
        self._stream.write(f"\r{line}{padding}" + ("\n" if final else ""))
        self._stream.flush()
