"""Tests of the freshness policy that the daily assets get."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from vultr_pipeline.defs.freshness import (
    DAILY_FAIL_WINDOW,
    DAILY_FRESHNESS_POLICY,
    DAILY_WARN_WINDOW,
    with_daily_freshness,
)

DAILY = dg.DailyPartitionsDefinition(start_date="2026-01-01")
MONTHLY = dg.MonthlyPartitionsDefinition(start_date="2026-01-01")
OWN_POLICY = dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=72))


@dg.asset(partitions_def=DAILY)
def daily_snapshot() -> None:
    """A daily asset."""


@dg.asset(partitions_def=MONTHLY)
def monthly_table() -> None:
    """A monthly asset."""


@dg.asset(partitions_def=DAILY, freshness_policy=OWN_POLICY)
def daily_with_policy() -> None:
    """A daily asset with a policy of its own."""


def _policies(assets: list[dg.AssetsDefinition]) -> dict[str, dg.FreshnessPolicy | None]:
    return {spec.key.to_user_string(): spec.freshness_policy for a in assets for spec in a.specs}


def test_windows_warn_before_fail():
    assert DAILY_WARN_WINDOW < DAILY_FAIL_WINDOW
    assert DAILY_FAIL_WINDOW == dt.timedelta(hours=26)


def test_daily_assets_get_policy():
    policies = _policies(with_daily_freshness([daily_snapshot, monthly_table], DAILY))
    assert policies["daily_snapshot"] == DAILY_FRESHNESS_POLICY
    assert policies["monthly_table"] is None


def test_existing_policy_kept():
    policies = _policies(with_daily_freshness([daily_with_policy], DAILY))
    assert policies["daily_with_policy"] == OWN_POLICY


def test_policy_survives_definitions():
    assets = with_daily_freshness([daily_snapshot, monthly_table], DAILY)
    graph = dg.Definitions(assets=assets).resolve_asset_graph()
    node = graph.get(dg.AssetKey("daily_snapshot"))
    assert node.freshness_policy == DAILY_FRESHNESS_POLICY
