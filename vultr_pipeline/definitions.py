"""The Dagster code location: every asset, the resources, the daily job and its schedule.

Load it with `dagster dev -m vultr_pipeline.definitions` (or through workspace.yaml). Settings come
from environment variables, read when the definitions load; see the README's configuration table.
"""

from __future__ import annotations

import os

import dagster as dg

from vultr_pipeline.defs import checks, cost_assets, focus_assets, insight_assets
from vultr_pipeline.defs.raw_assets import build_raw_assets
from vultr_pipeline.defs.resources import VultrResource, clickhouse_io_manager_from_env
from vultr_pipeline.defs.schedules import build_daily_job, build_daily_schedule


def build_definitions() -> dg.Definitions:
    """Assemble the code location from the current environment."""
    # Embedded chDB lets one process at a time open its data directory, so steps run in the run's
    # own process; a ClickHouse server takes writes from many step processes at once.
    if os.environ.get("CLICKHOUSE_HOST"):
        executor = dg.multiprocess_executor
    else:
        executor = dg.in_process_executor
    job = build_daily_job(executor)
    return dg.Definitions(
        assets=[
            *build_raw_assets(),
            *cost_assets.ASSETS,
            *insight_assets.ASSETS,
            *focus_assets.ASSETS,
        ],
        asset_checks=[*cost_assets.CHECKS, *checks.CHECKS],
        jobs=[job],
        schedules=[build_daily_schedule(job)],
        resources={
            "vultr": VultrResource(),
            "clickhouse": clickhouse_io_manager_from_env(),
        },
    )


defs = build_definitions()
