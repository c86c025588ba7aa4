"""The job that materializes every asset, and the daily schedule that runs it."""

from __future__ import annotations

import os

import dagster as dg

DAILY_JOB_NAME = "vultr_daily_job"
DEFAULT_CRON = "0 2 * * *"
DEFAULT_TIMEZONE = "UTC"


def build_daily_job(executor: dg.ExecutorDefinition) -> dg.UnresolvedAssetJobDefinition:
    """Define the job that collects every endpoint and refreshes every table."""
    return dg.define_asset_job(
        DAILY_JOB_NAME,
        selection=dg.AssetSelection.all(),
        executor_def=executor,
        description="Collect every Vultr endpoint and replace the ClickHouse tables.",
    )


def build_daily_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    """Schedule `job` daily, at 02:00 UTC unless VULTR_SCHEDULE_CRON/_TIMEZONE say otherwise."""
    return dg.ScheduleDefinition(
        name="vultr_daily_schedule",
        job=job,
        cron_schedule=os.environ.get("VULTR_SCHEDULE_CRON") or DEFAULT_CRON,
        execution_timezone=os.environ.get("VULTR_SCHEDULE_TIMEZONE") or DEFAULT_TIMEZONE,
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
