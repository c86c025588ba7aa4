"""The progress bar of the long commands, drawn while a real in-process run executes."""

from __future__ import annotations

import io

import dagster as dg

from vultr_pipeline.progress import RunProgress, render_bar


class Terminal(io.StringIO):
    """Text output that reports itself as a terminal, as a user's shell does."""

    def isatty(self) -> bool:
        return True


@dg.asset
def first() -> int:
    return 1


@dg.asset
def second(first: int) -> int:
    return first + 1


@dg.asset
def third(second: int) -> int:
    return second + 1


def run_three_steps(stream: io.StringIO) -> dg.ExecuteInProcessResult:
    job = dg.Definitions(assets=[first, second, third]).resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.ephemeral() as instance:
        with RunProgress(instance, "  demo", stream=stream, poll_seconds=0.05):
            return job.execute_in_process(instance=instance)


def test_bar_counts_steps():
    assert render_bar("  a", 3, 4, width=8) == "  a [######--] 3/4 steps"


def test_bar_before_plan_is_known():
    assert render_bar("  a", 0, None, width=4) == "  a [----] starting"


def test_bar_never_overflows():
    assert render_bar("  a", 9, 4, width=4) == "  a [####] 4/4 steps"


def test_terminal_gets_final_count():
    terminal = Terminal()

    result = run_three_steps(terminal)

    assert result.success
    assert terminal.getvalue().endswith("  demo [" + "#" * 30 + "] 3/3 steps\n")


def test_pipe_gets_nothing():
    pipe = io.StringIO()

    result = run_three_steps(pipe)

    assert result.success
    assert pipe.getvalue() == ""
