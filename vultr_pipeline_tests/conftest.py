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
