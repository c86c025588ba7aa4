"""Daily cost metrics: one row per account describing the day of its `as_of` instant.

Spend figures are month to date: the lines billed in the month of `as_of` (the pending
charges). Rules behind the derived figures:

- Cost groups by service category: compute (`compute`, `bare_metal`, `kubernetes`), GPU
  (`gpu`), storage (`block_storage`, `object_storage`, `snapshot`), network (`bandwidth`,
  `load_balancer`, `reserved_ip`, `ddos_protection`), backup (`backup`), database
  (`database`) and other (`other`). The seven groups add up to the month-to-date spend.
- Idle instances: cloud instances whose power status is `stopped` but that were billed this
  month, because Vultr bills a stopped instance like a running one.
- Underutilized resources: block volumes attached to no instance, reserved IPs attached to
  no instance, and load balancers without instances. Each costs money and serves nothing.
- Snapshot waste: snapshot spend this month.
- Credit: `net_credit = -balance - pending_charges`, since a negative balance is prepaid
  credit; `remaining_credit` is that value floored at zero.
- Burn rate: month-to-date spend divided by the days elapsed since the month started, and
  `credit_days_remaining` is the remaining credit divided by that rate.
- Month over month: spend invoiced for the last closed month against the month before.

Money is exact Decimal. The burn rate and percentages are rounded half up to two decimals,
and so are the days the credit lasts. Each is rounded once, after the exact division.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd

from vultr_pipeline.costs import categories as cat
from vultr_pipeline.costs.frames import build_frame, frame_rows, rows_by_account, text_list
from vultr_pipeline.costs.line_items import INVOICE, month_start

CENT = Decimal("0.01")
SECONDS_PER_DAY = Decimal(86400)

COST_GROUPS: dict[str, frozenset[str]] = {
    "compute_cost": frozenset({cat.COMPUTE, cat.BARE_METAL, cat.KUBERNETES}),
    "gpu_cost": frozenset({cat.GPU}),
    "storage_cost": frozenset({cat.BLOCK_STORAGE, cat.OBJECT_STORAGE, cat.SNAPSHOT}),
    "network_cost": frozenset(
        {cat.BANDWIDTH, cat.LOAD_BALANCER, cat.RESERVED_IP, cat.DDOS_PROTECTION}
    ),
    "backup_cost": frozenset({cat.BACKUP}),
    "database_cost": frozenset({cat.DATABASE}),
    "other_cost": frozenset({cat.OTHER}),
}

METRICS_COLUMNS = (
    "account_id", "as_of", "metrics_date", "month_start", "balance", "pending_charges",
    "month_to_date_spend", *COST_GROUPS, "instance_count", "gpu_instance_count",
    "bare_metal_count", "idle_instance_count", "idle_instance_cost",
    "underutilized_resource_count", "underutilized_resource_cost", "snapshot_waste",
    "net_credit", "remaining_credit", "burn_rate_per_day", "credit_days_remaining",
    "last_month_spend", "previous_month_spend", "month_over_month_change",
    "month_over_month_change_pct",
)  # fmt: skip


def _sum(values: Iterable[Decimal]) -> Decimal:
    return sum(values, Decimal(0))


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def elapsed_days(as_of: dt.datetime) -> Decimal:
    """Return the days from the start of the month of `as_of` to `as_of`, with fractions."""
    start = dt.datetime(as_of.year, as_of.month, 1, tzinfo=dt.UTC)
    return Decimal(int((as_of - start).total_seconds())) / SECONDS_PER_DAY


def credit_figures(
    balance: Decimal | None, pending: Decimal | None, month_to_date: Decimal, as_of: dt.datetime
) -> dict[str, Decimal | None]:
    """Return net and remaining credit, the daily burn rate and the days the credit lasts.

    `credit_days_remaining` is None when nothing is being spent, and zero without credit.
    """
    net = None if balance is None else -balance - (pending or Decimal(0))
    remaining = None if net is None else max(net, Decimal(0))
    days = elapsed_days(as_of)
    rate = month_to_date / days if days > 0 else None
    lasts = None
    if remaining is not None and rate is not None and rate > 0:
        lasts = _cents(remaining / rate)
    return {
        "net_credit": net,
        "remaining_credit": remaining,
        "burn_rate_per_day": None if rate is None else _cents(rate),
        "credit_days_remaining": lasts,
    }


def month_over_month(lines: list[dict[str, Any]], as_of: dt.datetime) -> dict[str, Any]:
    """Compare invoiced spend of the last closed month with the month before it.

    The percentage is relative to the earlier month and None when that month's spend is zero.
    """
    current = month_start(as_of)
    last = month_start(current - dt.timedelta(days=1))
    previous = month_start(last - dt.timedelta(days=1))
    invoiced = [line for line in lines if line["source"] == INVOICE]
    last_spend = _sum(line["amount"] for line in invoiced if line["billing_month"] == last)
    previous_spend = _sum(line["amount"] for line in invoiced if line["billing_month"] == previous)
    change = last_spend - previous_spend
    percent = None if previous_spend == 0 else _cents(change * 100 / previous_spend)
    return {
        "last_month_spend": last_spend,
        "previous_month_spend": previous_spend,
        "month_over_month_change": change,
        "month_over_month_change_pct": percent,
    }


def underutilized_ids(
    blocks: list[dict[str, Any]],
    reserved_ips: list[dict[str, Any]],
    load_balancers: list[dict[str, Any]],
) -> set[str]:
    """Return ids of unattached blocks, unattached reserved IPs and load balancers without
    instances."""
    ids = {row["id"] for row in blocks if not row.get("attached_to_instance")}
    ids |= {row["id"] for row in reserved_ips if not row.get("instance_id")}
    ids |= {row["id"] for row in load_balancers if not text_list(row.get("instances"))}
    return ids


def _spend_by_resource(lines: list[dict[str, Any]]) -> dict[str, Decimal]:
    spend: dict[str, Decimal] = {}
    for line in lines:
        if line.get("resource_id"):
            spend[line["resource_id"]] = spend.get(line["resource_id"], Decimal(0)) + line["amount"]
    return spend


def _inventory_figures(
    servers: list[dict[str, Any]], wasted_ids: set[str], month_lines: list[dict[str, Any]]
) -> dict[str, Any]:
    instances = [row for row in servers if row["resource_type"] == "instance"]
    spend = _spend_by_resource(month_lines)
    idle = [
        row
        for row in instances
        if row.get("power_status") == "stopped" and spend.get(row["resource_id"], 0) > 0
    ]
    return {
        "instance_count": len(instances),
        "gpu_instance_count": sum(1 for row in instances if row.get("is_gpu")),
        "bare_metal_count": sum(1 for row in servers if row["resource_type"] == "bare_metal"),
        "idle_instance_count": len(idle),
        "idle_instance_cost": _sum(spend[row["resource_id"]] for row in idle),
        "underutilized_resource_count": len(wasted_ids),
        "underutilized_resource_cost": _sum(spend.get(i, Decimal(0)) for i in wasted_ids),
    }


def _account_metrics(
    account: dict[str, Any] | None,
    lines: list[dict[str, Any]],
    servers: list[dict[str, Any]],
    wasted_ids: set[str],
    as_of: dt.datetime,
) -> dict[str, Any]:
    current = month_start(as_of)
    month_lines = [line for line in lines if line["billing_month"] == current]
    month_to_date = _sum(line["amount"] for line in month_lines)
    balance = account.get("balance") if account else None
    pending = account.get("pending_charges") if account else None
    row: dict[str, Any] = {
        "as_of": as_of,
        "metrics_date": as_of.date(),
        "month_start": current,
        "balance": balance,
        "pending_charges": pending,
        "month_to_date_spend": month_to_date,
    }
    for column, group in COST_GROUPS.items():
        row[column] = _sum(x["amount"] for x in month_lines if x["service_category"] in group)
    row["snapshot_waste"] = _sum(
        x["amount"] for x in month_lines if x["service_category"] == cat.SNAPSHOT
    )
    row.update(_inventory_figures(servers, wasted_ids, month_lines))
    row.update(credit_figures(balance, pending, month_to_date, as_of))
    row.update(month_over_month(lines, as_of))
    return row


def build_cost_metrics(
    line_items: pd.DataFrame,
    instance_metadata: pd.DataFrame,
    account: pd.DataFrame,
    blocks: pd.DataFrame,
    reserved_ips: pd.DataFrame,
    load_balancers: pd.DataFrame,
    as_of: dict[str, dt.datetime],
) -> pd.DataFrame:
    """Compute one row of metrics per account in `as_of`, with the columns of
    `METRICS_COLUMNS`.

    Args:
        line_items: Cost line items of every account.
        instance_metadata: Instance metadata of every account.
        account: Raw account table (balance and pending charges).
        blocks: Raw blocks, for unattached volumes.
        reserved_ips: Raw reserved IPs, for unattached addresses.
        load_balancers: Raw load balancers, for balancers without instances.
        as_of: Instant each account's figures describe.
    """
    lines = rows_by_account(frame_rows(line_items))
    servers = rows_by_account(frame_rows(instance_metadata))
    accounts = {row["account_id"]: row for row in frame_rows(account)}
    inventory = [rows_by_account(frame_rows(f)) for f in (blocks, reserved_ips, load_balancers)]
    rows = []
    for name, moment in sorted(as_of.items()):
        wasted = underutilized_ids(*(tables.get(name, []) for tables in inventory))
        row = _account_metrics(
            accounts.get(name), lines.get(name, []), servers.get(name, []), wasted, moment
        )
        rows.append({"account_id": name, **row})
    integers = tuple(column for column in METRICS_COLUMNS if column.endswith("_count"))
    return build_frame(rows, METRICS_COLUMNS, datetimes=("as_of",), integers=integers)
