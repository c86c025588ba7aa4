"""Shared pytest fixtures: a small sample account served by the local Vultr API emulator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from vultr_pipeline.emulator import EmulatorServer, SampleAccountConfig

EMULATOR_API_KEY = "test-key-planted-0001"
EMULATOR_TODAY = dt.date(2026, 11, 18)


@pytest.fixture
def small_account_config() -> SampleAccountConfig:
    """Config of the account that the `emulator` fixture serves."""
    return SampleAccountConfig(
        seed=7,
        instances=12,
        gpu_instances=3,
        bare_metal=2,
        invoice_months=6,
        today=EMULATOR_TODAY,
    )


@pytest.fixture
def emulator(small_account_config: SampleAccountConfig) -> Iterator[EmulatorServer]:
    """Emulator on a free 127.0.0.1 port that accepts only the key `test-key-planted-0001`."""
    with EmulatorServer(small_account_config, api_key=EMULATOR_API_KEY) as server:
        yield server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures that tests recorded with `record_property`, such as peak memory.

    pytest shows a passing test's output only with `-rA` or `-s`, and `make test` uses
    neither, so measurements go into the summary that every run prints.
    """
    lines = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            for name, value in getattr(report, "user_properties", ()):
                lines.append(f"{report.nodeid}: {name} = {value}")
    if lines:
        terminalreporter.write_sep("-", "recorded measurements")
        for line in lines:
            terminalreporter.write_line(line)
