"""Freshness policy of the daily assets, shown as each asset's freshness state in the UI.

`dg.FreshnessPolicy.time_window` is the current, non-deprecated freshness API of Dagster
1.13.28. `LegacyFreshnessPolicy` and `build_last_update_freshness_checks` are older. The UI
marks an asset WARN, then FAIL, when its latest materialization of any partition is older
than the windows below.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import dagster as dg

# The daily schedule runs once a day, so a healthy asset's latest materialization is up to
# 24 hours old plus the run's duration. WARN means the day's run is an hour late, FAIL two.
DAILY_WARN_WINDOW = dt.timedelta(hours=25)
DAILY_FAIL_WINDOW = dt.timedelta(hours=26)
DAILY_FRESHNESS_POLICY = dg.FreshnessPolicy.time_window(
    fail_window=DAILY_FAIL_WINDOW, warn_window=DAILY_WARN_WINDOW
)


def with_daily_freshness(
    assets: Iterable[dg.AssetsDefinition],
    daily_partitions: dg.PartitionsDefinition,
    policy: dg.FreshnessPolicy = DAILY_FRESHNESS_POLICY,
) -> list[dg.AssetsDefinition]:
    """Give `policy` to every asset partitioned by `daily_partitions`, leave the rest as they are.

    An asset that already has a freshness policy keeps it.
    """

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.partitions_def != daily_partitions or spec.freshness_policy is not None:
            return spec
        return spec.replace_attributes(freshness_policy=policy)

    return [asset.map_asset_specs(apply) for asset in assets]
