"""The Dagster code location: every asset, the resources, the jobs and their schedules.

Load it with `dagster dev -m vultr_pipeline.definitions` (or through workspace.yaml). Settings come
from environment variables and the accounts file, read when the definitions load; see the
README's configuration table.
"""

from __future__ import annotations

import os
import warnings

import dagster as dg

from vultr_pipeline.defs.checks import build_checks
from vultr_pipeline.defs.cost_assets import HISTORY_INPUT_MANAGER, build_cost_assets
from vultr_pipeline.defs.focus_assets import build_focus_assets
from vultr_pipeline.defs.freshness import with_daily_freshness
from vultr_pipeline.defs.insight_assets import build_insight_assets
from vultr_pipeline.defs.partitions import Partitions, build_partitions
from vultr_pipeline.defs.raw_assets import build_raw_assets
from vultr_pipeline.defs.resources import (
    HistoryInputManager,
    VultrResource,
    clickhouse_io_manager_from_env,
)
from vultr_pipeline.defs.schedules import (
    build_daily_job,
    build_daily_schedule,
    build_month_close_schedule,
    build_monthly_job,
    build_open_month_schedule,
)


def build_assets_and_checks(
    partitions: Partitions,
) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    """Define every asset and asset check for `partitions`."""
    # NOTE: backfill_policy and partitioned asset checks are beta and preview features of
    # Dagster 1.13.28; the warnings would repeat on every load of the code location.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        cost_assets, cost_checks = build_cost_assets(partitions)
        assets = [
            *build_raw_assets(partitions),
            *cost_assets,
            *build_insight_assets(partitions),
            *build_focus_assets(partitions),
        ]
        checks = [*cost_checks, *build_checks(partitions)]
    return assets, checks


def _selection(
    assets: list[dg.AssetsDefinition], partitions_def: dg.PartitionsDefinition
) -> dg.AssetSelection:
    keys = [key for asset in assets if asset.partitions_def == partitions_def for key in asset.keys]
    return dg.AssetSelection.assets(*keys)


MONTHLY_EXTRAS = (dg.AssetKey(["vultr_costs", "focus_metadata"]),)


def build_definitions(partitions: Partitions | None = None) -> dg.Definitions:
    """Assemble the code location from the current environment.

    Raises:
        AccountsConfigError: The accounts file is missing or invalid.
        PartitionConfigError: A partition start in the environment is invalid.
    """
    partitions = partitions or build_partitions()
    # Embedded chDB lets one process at a time open its data directory, so steps run in the run's
    # own process; a ClickHouse server takes writes from many step processes at once.
    if os.environ.get("CLICKHOUSE_HOST", "").strip():
        executor = dg.multiprocess_executor
    else:
        executor = dg.in_process_executor
    assets, checks = build_assets_and_checks(partitions)
    assets = with_daily_freshness(assets, partitions.daily)
    daily_job = build_daily_job(executor, _selection(assets, partitions.daily))
    monthly_selection = _selection(assets, partitions.monthly) | dg.AssetSelection.assets(
        *MONTHLY_EXTRAS
    )
    monthly_job = build_monthly_job(executor, monthly_selection)
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[daily_job, monthly_job],
        # The default executor serves runs launched outside the jobs, such as the UI's
        # "Materialize all"; it must queue steps on embedded chDB as the jobs do.
        executor=executor,
        schedules=[
            build_daily_schedule(partitions, daily_job),
            build_open_month_schedule(partitions, monthly_job),
            build_month_close_schedule(partitions, monthly_job),
        ],
        resources={
            "vultr": VultrResource(),
            "clickhouse": clickhouse_io_manager_from_env(),
            HISTORY_INPUT_MANAGER: clickhouse_io_manager_from_env(HistoryInputManager),
        },
    )


defs = build_definitions()
