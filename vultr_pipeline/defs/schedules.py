"""Jobs and schedules: daily snapshots, the open month's restatement, and the month close.

`vultr_daily_job` materializes every account × day asset and `vultr_monthly_job` every
account × month asset. Each schedule yields one run per account and partition. Partition keys
come from the scheduled time in UTC, whatever the schedule's `execution_timezone`, because the
partitions are UTC days and months. Every schedule starts STOPPED; switch it on in the UI
under Automation.
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo
from collections.abc import Iterator

import dagster as dg

from vultr_pipeline.costs.line_items import month_start
from vultr_pipeline.defs.partitions import Partitions, daily_key, monthly_key

DAILY_JOB_NAME = "vultr_daily_job"
MONTHLY_JOB_NAME = "vultr_monthly_job"
DAILY_SCHEDULE_NAME = "vultr_daily_schedule"
OPEN_MONTH_SCHEDULE_NAME = "vultr_open_month_schedule"
MONTH_CLOSE_SCHEDULE_NAME = "vultr_month_close_schedule"
DEFAULT_CRON = "0 2 * * *"
DEFAULT_TIMEZONE = "UTC"
CRON_ENV = "VULTR_SCHEDULE_CRON"
TIMEZONE_ENV = "VULTR_SCHEDULE_TIMEZONE"
MONTH_CLOSE_CRON = "0 3 2 * *"
# The previous month is restated with the open month on the first days of a month, because its
# invoice is normally dated the 1st but can arrive later. Restating a month that has its invoice
# writes the same rows again.
# NOTE: an invoice that arrives after this day lands only if the month-close run comes later.
# Otherwise relaunch the month from the UI or with `vultr-pipeline backfill`.
PREVIOUS_MONTH_RESTATED_UNTIL_DAY = 5


def build_daily_job(
    executor: dg.ExecutorDefinition, selection: dg.AssetSelection
) -> dg.UnresolvedAssetJobDefinition:
    """Define the job that collects every daily snapshot and computes the daily figures."""
    return dg.define_asset_job(
        DAILY_JOB_NAME,
        selection=selection,
        executor_def=executor,
        description="Collect today's snapshot of every Vultr endpoint and the daily cost figures.",
    )


def build_monthly_job(
    executor: dg.ExecutorDefinition, selection: dg.AssetSelection
) -> dg.UnresolvedAssetJobDefinition:
    """Define the job that collects a billing month's invoices and computes its line items."""
    return dg.define_asset_job(
        MONTHLY_JOB_NAME,
        selection=selection,
        executor_def=executor,
        description="Collect a billing month's invoices and items and replace its cost tables.",
    )


def utc_instant(context: dg.ScheduleEvaluationContext) -> dt.datetime:
    """Return the scheduled time of the tick in UTC (the current time when it has none)."""
    scheduled = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
    if scheduled.tzinfo is None:
        scheduled = scheduled.replace(tzinfo=dt.UTC)
    return scheduled.astimezone(dt.UTC)


def previous_month(month: dt.date) -> dt.date:
    """Return the first day of the month before `month`."""
    return month_start(month - dt.timedelta(days=1))


def open_months(day: dt.date) -> list[dt.date]:
    """Return the months to restate on `day`: the open one, and early on the previous one."""
    months = [month_start(day)]
    if day.day <= PREVIOUS_MONTH_RESTATED_UNTIL_DAY:
        months.insert(0, previous_month(months[0]))
    return months


def _run_key(schedule: str, key: dg.MultiPartitionKey) -> str:
    return f"{schedule}:{key}"


class ScheduleConfigError(Exception):
    """A schedule setting in the environment is invalid; the message names the variable."""


def schedule_cron() -> str:
    """Return the daily cron expression, from $VULTR_SCHEDULE_CRON.

    Raises:
        ScheduleConfigError: The expression is not one that Dagster accepts.
    """
    cron = os.environ.get(CRON_ENV, "").strip() or DEFAULT_CRON
    # NOTE: Dagster 1.13.28 offers no public cron check, so this builds a schedule that is
    # never used, and Dagster's own check decides.
    try:
        dg.ScheduleDefinition(name="cron_check", cron_schedule=cron, job_name="cron_check")
    except dg.DagsterInvalidDefinitionError as error:
        raise ScheduleConfigError(
            f"Invalid {CRON_ENV} {cron!r}: use five cron fields such as {DEFAULT_CRON!r} "
            "(minute, hour, day of month, month, day of week), or unset it for the default."
        ) from error
    return cron


def schedule_timezone() -> str:
    """Return the IANA time zone of the daily cron expression, from $VULTR_SCHEDULE_TIMEZONE.

    Raises:
        ScheduleConfigError: The zone is not in the time zone database.
    """
    timezone = os.environ.get(TIMEZONE_ENV, "").strip() or DEFAULT_TIMEZONE
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ScheduleConfigError(
            f"Invalid {TIMEZONE_ENV} {timezone!r}: use an IANA time zone such as "
            "'Europe/Berlin', or unset it for UTC."
        ) from error
    return timezone


def build_daily_schedule(
    partitions: Partitions, job: dg.UnresolvedAssetJobDefinition
) -> dg.ScheduleDefinition:
    """Schedule the daily job for today's UTC day, one run per account.

    The cron expression and its time zone come from VULTR_SCHEDULE_CRON and
    VULTR_SCHEDULE_TIMEZONE (default: 02:00 UTC).
    """

    @dg.schedule(
        name=DAILY_SCHEDULE_NAME,
        job=job,
        cron_schedule=schedule_cron(),
        execution_timezone=schedule_timezone(),
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Collect today's daily partition (UTC) of every account.",
    )
    def vultr_daily_schedule(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
        day = utc_instant(context).date()
        for account in partitions.account_names:
            key = daily_key(account, day)
            yield dg.RunRequest(run_key=_run_key(DAILY_SCHEDULE_NAME, key), partition_key=key)

    return vultr_daily_schedule


def build_open_month_schedule(
    partitions: Partitions, job: dg.UnresolvedAssetJobDefinition
) -> dg.ScheduleDefinition:
    """Schedule the monthly job for the open month, at the time of the daily schedule.

    On the first days of a month it restates the previous month too, whose invoice may
    not exist yet.
    """

    @dg.schedule(
        name=OPEN_MONTH_SCHEDULE_NAME,
        job=job,
        cron_schedule=schedule_cron(),
        execution_timezone=schedule_timezone(),
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Restate the open billing month (UTC) of every account, and the previous "
        f"month until day {PREVIOUS_MONTH_RESTATED_UNTIL_DAY}.",
    )
    def vultr_open_month_schedule(
        context: dg.ScheduleEvaluationContext,
    ) -> Iterator[dg.RunRequest]:
        instant = utc_instant(context)
        for account in partitions.account_names:
            for month in open_months(instant.date()):
                key = monthly_key(account, month)
                run_key = f"{_run_key(OPEN_MONTH_SCHEDULE_NAME, key)}:{instant.date()}"
                yield dg.RunRequest(run_key=run_key, partition_key=key)

    return vultr_open_month_schedule


def build_month_close_schedule(
    partitions: Partitions, job: dg.UnresolvedAssetJobDefinition
) -> dg.ScheduleDefinition:
    """Schedule the monthly job for the previous billing month, on the 2nd at 03:00 UTC."""

    @dg.schedule(
        name=MONTH_CLOSE_SCHEDULE_NAME,
        job=job,
        cron_schedule=MONTH_CLOSE_CRON,
        execution_timezone=DEFAULT_TIMEZONE,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Close the previous billing month (UTC) of every account.",
    )
    def vultr_month_close_schedule(
        context: dg.ScheduleEvaluationContext,
    ) -> Iterator[dg.RunRequest]:
        month = previous_month(month_start(utc_instant(context).date()))
        for account in partitions.account_names:
            key = monthly_key(account, month)
            yield dg.RunRequest(run_key=_run_key(MONTH_CLOSE_SCHEDULE_NAME, key), partition_key=key)

    return vultr_month_close_schedule
