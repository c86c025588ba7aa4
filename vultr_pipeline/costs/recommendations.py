"""Cost recommendations: findings about resources that cost money without apparent use.

Each finding names one resource, a sentence of evidence with the figures, an estimated monthly
saving in USD cents (rounded half up), and a confidence. The kinds and their rules:

- `stopped_instance_billed`: a non-GPU instance whose `power_status` is `stopped`. Vultr bills
  stopped servers in full, so destroying it saves its monthly price plus its backup surcharge.
- `gpu_instance_idle`: a GPU instance that is stopped (high confidence, same saving), or
  running and marked non-production by tag or label (low confidence). The Vultr API exposes no
  GPU utilisation, so "idle" here means GPU capacity kept for development or testing, which is
  commonly unused outside working hours. The saving assumes the instance is destroyed.
- `old_snapshot`: a snapshot older than `snapshot_max_age_days`, saving its compressed size in
  GiB × `SNAPSHOT_PRICE_PER_GB_MONTH`.
- `unattached_block`: a block volume not attached to an instance, saving its monthly `cost`.
- `unattached_reserved_ip`: a reserved IP not attached to an instance.
- `idle_load_balancer`: a load balancer with no attached instances.
- `backups_on_non_production`: automatic backups on a resource marked non-production, saving
  `BACKUP_SHARE` of the plan's monthly price.
- `cheaper_equivalent_plan`: a cloud instance whose region offers a plan with the same vCPU
  count, RAM, GPU type and GPU VRAM at a lower monthly price (regional price from the plan's
  `location_cost`); the saving is the price difference.

Reserved IPs and load balancers have no price field, so their saving is the monthly price
billed for them: the latest invoice line of the resource that reached the 672-hour cap, else
its hourly price × 672 (an estimate, because hourly prices are rounded to four decimals).

A resource found stopped gets no backup or plan finding as well, so that the savings of all
findings add up without counting one instance twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd

CENT = Decimal("0.01")

# Vultr charges 0.05 USD per GB per month for stored snapshots (Vultr docs, "Does Vultr Charge
# for Stored Snapshots?", updated 15 September 2025). Sizes are read as GiB of compressed size,
# which is what the account's invoices bill.
SNAPSHOT_PRICE_PER_GB_MONTH = Decimal("0.05")
# Automatic backups add 20 % to the instance's monthly price.
# NOTE: 20 % is the commonly quoted Vultr surcharge and what the emulator bills; no Vultr pricing
# page was checked for it.
BACKUP_SHARE = Decimal("0.20")
# Hours after which Vultr stops billing a non-GPU resource for the month (a 28-day month).
MONTHLY_CAP_HOURS = 672
_GIB = 1024**3

DEFAULT_SNAPSHOT_MAX_AGE_DAYS = 30
DEFAULT_NON_PRODUCTION_KEYWORDS: tuple[str, ...] = (
    "dev",
    "development",
    "test",
    "testing",
    "staging",
    "stage",
    "qa",
    "sandbox",
    "nonprod",
)

COLUMNS = [
    "account_id",
    "recommendation_id",
    "kind",
    "resource_id",
    "resource_type",
    "resource_label",
    "region",
    "evidence",
    "estimated_monthly_saving",
    "confidence",
    "as_of",
]


def to_cents(value: Decimal) -> Decimal:
    """Round a USD amount to the cent, halves away from zero."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def recommendation_id(account_id: str, kind: str, resource_id: str) -> str:
    """Return a stable id for a finding: a hash of account, kind and resource id."""
    key = "\x1f".join((account_id, kind, resource_id))
    return hashlib.sha256(key.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Finding:
    """One recommendation before it becomes a row."""

    account_id: str
    kind: str
    resource_id: str
    resource_type: str
    resource_label: str | None
    region: str | None
    evidence: str
    saving: Decimal
    confidence: str


@dataclass(frozen=True)
class Inventory:
    """The input tables, as loaded from `vultr_costs` and `vultr_raw`.

    Attributes:
        instance_metadata: `vultr_costs.instance_metadata`.
        line_items: `vultr_costs.cost_line_items`.
        plans: `vultr_raw.plans`.
        snapshots: `vultr_raw.snapshots`.
        blocks: `vultr_raw.blocks`.
        reserved_ips: `vultr_raw.reserved_ips`.
        load_balancers: `vultr_raw.load_balancers`.
    """

    instance_metadata: pd.DataFrame
    line_items: pd.DataFrame
    plans: pd.DataFrame
    snapshots: pd.DataFrame
    blocks: pd.DataFrame
    reserved_ips: pd.DataFrame
    load_balancers: pd.DataFrame


def build_recommendations(
    inventory: Inventory,
    as_of: datetime,
    snapshot_max_age_days: int = DEFAULT_SNAPSHOT_MAX_AGE_DAYS,
    non_production_keywords: Sequence[str] = DEFAULT_NON_PRODUCTION_KEYWORDS,
) -> pd.DataFrame:
    """Find every recommendation for the accounts in `inventory`.

    Args:
        inventory: Input tables.
        as_of: The instant the data describes; ages are measured to it.
        snapshot_max_age_days: Age in days above which a snapshot is reported (default 30).
        non_production_keywords: Words that mark a resource as non-production when they
            appear in its label or tags, compared case-insensitively with the words of the
            label or tag split at non-alphanumeric characters (default: dev, development, test,
            testing, staging, stage, qa, sandbox, nonprod).

    Returns:
        One row per finding with the columns `COLUMNS`, sorted by account, kind and resource.

    Raises:
        ValueError: `snapshot_max_age_days` is negative.
    """
    if snapshot_max_age_days < 0:
        raise ValueError(
            f"Invalid snapshot_max_age_days {snapshot_max_age_days}: it must be 0 or more."
        )
    keywords = frozenset(word.lower() for word in non_production_keywords)
    stopped = _stopped_instances(inventory.instance_metadata)
    findings = [
        *_stopped_findings(inventory, stopped),
        *_gpu_non_production_findings(inventory, keywords),
        *_old_snapshot_findings(inventory, as_of, snapshot_max_age_days),
        *_unattached_block_findings(inventory),
        *_unattached_reserved_ip_findings(inventory),
        *_idle_load_balancer_findings(inventory),
        *_backup_findings(inventory, stopped, keywords),
        *_cheaper_plan_findings(inventory, stopped),
    ]
    rows = [_row(finding, as_of) for finding in findings]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values(["account_id", "kind", "resource_id"], kind="stable").reset_index(
        drop=True
    )


def is_non_production(label: str | None, tags: Iterable[str], keywords: frozenset[str]) -> bool:
    """Return whether any word of the label or of a tag is one of `keywords`."""
    texts = [label or "", *tags]
    words = {word for text in texts for word in re.split(r"[^0-9a-z]+", text.lower()) if word}
    return bool(words & keywords)


def _row(finding: Finding, as_of: datetime) -> dict[str, Any]:
    return {
        "account_id": finding.account_id,
        "recommendation_id": recommendation_id(
            finding.account_id, finding.kind, finding.resource_id
        ),
        "kind": finding.kind,
        "resource_id": finding.resource_id,
        "resource_type": finding.resource_type,
        "resource_label": finding.resource_label,
        "region": finding.region,
        "evidence": finding.evidence,
        "estimated_monthly_saving": to_cents(finding.saving),
        "confidence": finding.confidence,
        "as_of": as_of,
    }


def _stopped_instances(instance_metadata: pd.DataFrame) -> set[tuple[str, str]]:
    return {
        (row["account_id"], row["resource_id"])
        for row in instance_metadata.to_dict("records")
        if row["resource_type"] == "instance" and row["power_status"] == "stopped"
    }


def _instance_rows(inventory: Inventory) -> list[dict[str, Any]]:
    rows = inventory.instance_metadata.to_dict("records")
    return [row for row in rows if row["resource_type"] == "instance"]


def _month_to_date(line_items: pd.DataFrame, account_id: str, resource_id: str) -> Decimal:
    if line_items.empty:
        return Decimal(0)
    mask = (
        (line_items["source"] == "pending")
        & (line_items["account_id"] == account_id)
        & (line_items["resource_id"] == resource_id)
    )
    return sum(line_items.loc[mask, "amount"], Decimal(0))


def _money(value: Decimal) -> str:
    return f"{to_cents(value):,.2f} USD"


def _plan_price_text(row: dict[str, Any]) -> str:
    if not _present(row["monthly_cost"]):
        return f"plan {row['plan']} has no known price in {row['region']}, so no saving is given"
    return f"plan {row['plan']} costs {_money(row['monthly_cost'])} a month in {row['region']}"


def _price_confidence(row: dict[str, Any], confidence: str) -> str:
    return confidence if _present(row["monthly_cost"]) else "low"


def _stopped_findings(inventory: Inventory, stopped: set[tuple[str, str]]) -> list[Finding]:
    findings = []
    for row in _instance_rows(inventory):
        if (row["account_id"], row["resource_id"]) not in stopped:
            continue
        monthly = _known(row["monthly_cost"])
        saving = monthly
        backup_text = ""
        if row["auto_backups"]:
            saving += to_cents(monthly * BACKUP_SHARE)
            backup_text = ", plus 20 % for automatic backups"
        billed = _month_to_date(inventory.line_items, row["account_id"], row["resource_id"])
        gpu = bool(row["is_gpu"])
        evidence = (
            f"{'GPU instance' if gpu else 'Instance'} {row['label']} is stopped but still "
            f"billed: {_money(billed)} so far this month; its {_plan_price_text(row)}"
            f"{backup_text}. Destroy it (after a snapshot, if the disk is needed)."
        )
        findings.append(
            _resource_finding(
                row,
                "gpu_instance_idle" if gpu else "stopped_instance_billed",
                evidence,
                saving,
                _price_confidence(row, "high"),
            )
        )
    return findings


def _gpu_non_production_findings(inventory: Inventory, keywords: frozenset[str]) -> list[Finding]:
    findings = []
    for row in _instance_rows(inventory):
        if not row["is_gpu"] or row["power_status"] == "stopped":
            continue
        if not is_non_production(row["label"], row["tags"] or [], keywords):
            continue
        monthly = _known(row["monthly_cost"])
        evidence = (
            f"GPU instance {row['label']} runs all month although its label or tags mark it "
            f"non-production; its {_plan_price_text(row)}. The Vultr API reports no GPU "
            "utilisation, so check whether it is used, and destroy it between uses."
        )
        findings.append(_resource_finding(row, "gpu_instance_idle", evidence, monthly, "low"))
    return findings


def _old_snapshot_findings(
    inventory: Inventory, as_of: datetime, max_age_days: int
) -> list[Finding]:
    findings = []
    for row in inventory.snapshots.to_dict("records"):
        created = row["date_created"]
        if created is None or pd.isna(created) or row["status"] == "deleted":
            continue
        age_days = (pd.Timestamp(as_of) - pd.Timestamp(created)).days
        if age_days <= max_age_days:
            continue
        size = row["compressed_size"] if _present(row["compressed_size"]) else row["size"]
        gigabytes = Decimal(int(size or 0)) / _GIB
        saving = gigabytes * SNAPSHOT_PRICE_PER_GB_MONTH
        evidence = (
            f"Snapshot {_text(row['description']) or row['id']} is {age_days} days old (created "
            f"{pd.Timestamp(created).date()}, more than {max_age_days}) and stores "
            f"{gigabytes:.2f} GiB; at {SNAPSHOT_PRICE_PER_GB_MONTH} USD per GB-month it costs "
            f"about {_money(saving)} a month. Delete it if it is no longer needed."
        )
        findings.append(
            Finding(
                row["account_id"],
                "old_snapshot",
                row["id"],
                "snapshot",
                row["description"],
                None,
                evidence,
                saving,
                "medium",
            )
        )
    return findings


def _unattached_block_findings(inventory: Inventory) -> list[Finding]:
    findings = []
    for row in inventory.blocks.to_dict("records"):
        if _text(row["attached_to_instance"]):
            continue
        cost = _known(row["cost"])
        evidence = (
            f"Block volume {_text(row['label']) or row['id']} ({row['size_gb']} GB, "
            f"{row['region']}) is not attached to any instance and costs {_money(cost)} a "
            "month. Delete it, or snapshot its data first."
        )
        findings.append(
            Finding(
                row["account_id"],
                "unattached_block",
                row["id"],
                "block",
                row["label"],
                row["region"],
                evidence,
                cost,
                "medium",
            )
        )
    return findings


def _unattached_reserved_ip_findings(inventory: Inventory) -> list[Finding]:
    findings = []
    for row in inventory.reserved_ips.to_dict("records"):
        if _text(row["instance_id"]):
            continue
        price, price_text, confidence = _billed_monthly_price(
            inventory.line_items, row["account_id"], row["id"]
        )
        evidence = (
            f"Reserved IP {row['subnet']} ({_text(row['label']) or row['id']}, {row['region']}) is "
            f"not attached to any instance; {price_text}. Release it if no DNS record or "
            "allow-list depends on it."
        )
        findings.append(
            Finding(
                row["account_id"],
                "unattached_reserved_ip",
                row["id"],
                "reserved_ip",
                row["label"],
                row["region"],
                evidence,
                price,
                confidence,
            )
        )
    return findings


def _idle_load_balancer_findings(inventory: Inventory) -> list[Finding]:
    findings = []
    for row in inventory.load_balancers.to_dict("records"):
        if list(row["instances"] or []):
            continue
        price, price_text, confidence = _billed_monthly_price(
            inventory.line_items, row["account_id"], row["id"]
        )
        if confidence == "medium":
            confidence = "high"
        evidence = (
            f"Load balancer {_text(row['label']) or row['id']} ({row['region']}) has no attached "
            f"instances, so it forwards no traffic; {price_text}. Delete it."
        )
        findings.append(
            Finding(
                row["account_id"],
                "idle_load_balancer",
                row["id"],
                "load_balancer",
                row["label"],
                row["region"],
                evidence,
                price,
                confidence,
            )
        )
    return findings


def _backup_findings(
    inventory: Inventory, stopped: set[tuple[str, str]], keywords: frozenset[str]
) -> list[Finding]:
    findings = []
    for row in inventory.instance_metadata.to_dict("records"):
        if not row["auto_backups"] or (row["account_id"], row["resource_id"]) in stopped:
            continue
        if not is_non_production(row["label"], row["tags"] or [], keywords):
            continue
        monthly = _known(row["monthly_cost"])
        saving = to_cents(monthly * BACKUP_SHARE)
        tags = ", ".join(row["tags"] or []) or "no tags"
        evidence = (
            f"{row['label']} ({tags}) is marked non-production by its label or tags but has "
            f"automatic backups, which add 20 % to the price: {_plan_price_text(row)}, so "
            f"backups cost {_money(saving)} a month. Turn them off, or take snapshots when "
            "needed."
        )
        findings.append(
            _resource_finding(
                row,
                "backups_on_non_production",
                evidence,
                saving,
                _price_confidence(row, "medium"),
            )
        )
    return findings


def _cheaper_plan_findings(inventory: Inventory, stopped: set[tuple[str, str]]) -> list[Finding]:
    catalogue = _plan_catalogue(inventory.plans)
    findings = []
    for row in _instance_rows(inventory):
        if (row["account_id"], row["resource_id"]) in stopped or not row["region"]:
            continue
        plans = catalogue.get(row["account_id"]) or catalogue.get(None) or {}
        current = plans.get(row["plan"])
        if current is None:
            continue
        current_price = current.price_in(row["region"])
        alternative = _cheapest_equivalent(current, plans.values(), row["region"])
        if current_price is None or alternative is None:
            continue
        new_price = alternative.price_in(row["region"])
        if new_price is None or new_price >= current_price:
            continue
        evidence = (
            f"Instance {row['label']} runs plan {current.id} at {_money(current_price)} a "
            f"month in {row['region']}; plan {alternative.id} has the same {current.vcpu_count}"
            f" vCPUs, {current.ram} MB RAM and GPU ({current.gpu_type or 'none'}) for "
            f"{_money(new_price)} there. Check disk size and CPU type before resizing."
        )
        saving = current_price - new_price
        findings.append(
            _resource_finding(row, "cheaper_equivalent_plan", evidence, saving, "medium")
        )
    return findings


def _resource_finding(
    row: dict[str, Any], kind: str, evidence: str, saving: Decimal, confidence: str
) -> Finding:
    return Finding(
        row["account_id"],
        kind,
        row["resource_id"],
        row["resource_type"],
        row["label"],
        row["region"],
        evidence,
        saving,
        confidence,
    )


@dataclass(frozen=True)
class _Plan:
    id: str
    vcpu_count: int | None
    ram: int | None
    gpu_type: str | None
    gpu_vram_gb: int | None
    locations: frozenset[str]
    monthly_cost: Decimal | None
    regional_cost: dict[str, Decimal]

    def price_in(self, region: str) -> Decimal | None:
        """Return the monthly price in `region`, the regional override first."""
        return self.regional_cost.get(region, self.monthly_cost)

    def is_equivalent(self, other: _Plan) -> bool:
        return (self.vcpu_count, self.ram, self.gpu_type, self.gpu_vram_gb) == (
            other.vcpu_count,
            other.ram,
            other.gpu_type,
            other.gpu_vram_gb,
        )


def _plan_catalogue(plans: pd.DataFrame) -> dict[str | None, dict[str, _Plan]]:
    """Index the plans by account and plan id; key None contains every account's plans."""
    catalogue: dict[str | None, dict[str, _Plan]] = {None: {}}
    for row in plans.to_dict("records"):
        plan = _Plan(
            id=row["id"],
            vcpu_count=_optional_int(row["vcpu_count"]),
            ram=_optional_int(row["ram"]),
            gpu_type=_text(row["gpu_type"]),
            gpu_vram_gb=_optional_int(row["gpu_vram_gb"]),
            locations=frozenset(row["locations"] or []),
            monthly_cost=row["monthly_cost"] if _present(row["monthly_cost"]) else None,
            regional_cost=_regional_costs(_text(row["location_cost"]), row["id"]),
        )
        catalogue.setdefault(row["account_id"], {})[plan.id] = plan
        catalogue[None].setdefault(plan.id, plan)
    return catalogue


def _regional_costs(location_cost: str | None, plan_id: str) -> dict[str, Decimal]:
    """Parse the `location_cost` JSON text into monthly prices keyed by region id."""
    if not location_cost:
        return {}
    try:
        overrides = json.loads(location_cost, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"Invalid location_cost of plan {plan_id}: {error}. Re-collect vultr_raw.plans."
        ) from error
    costs = {}
    for region, prices in (overrides or {}).items():
        monthly = (prices or {}).get("monthly_cost")
        if monthly is not None:
            costs[region] = Decimal(monthly)
    return costs


def _cheapest_equivalent(current: _Plan, plans: Iterable[_Plan], region: str) -> _Plan | None:
    candidates = [
        plan
        for plan in plans
        if plan.id != current.id
        and region in plan.locations
        and plan.is_equivalent(current)
        and plan.price_in(region) is not None
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda plan: (plan.price_in(region), plan.id))


def _billed_monthly_price(
    line_items: pd.DataFrame, account_id: str, resource_id: str
) -> tuple[Decimal, str, str]:
    """Return the monthly price billed for a resource, a phrase giving its source, and a confidence.

    The latest invoice line that billed at least 672 hours is the monthly price. Without one,
    the hourly price of the latest line × 672 is an estimate. Without any line, the saving is
    unknown and set to zero.
    """
    if line_items.empty:
        return Decimal(0), "no charge for it was found in the line items", "low"
    own = line_items[
        (line_items["account_id"] == account_id) & (line_items["resource_id"] == resource_id)
    ]
    own = own.sort_values(["charge_period_start", "line_id"], kind="stable")
    hourly = own[own["unit_type"].fillna("").str.lower().isin(["hour", "hours"])]
    full_months = hourly[
        (hourly["source"] == "invoice")
        & hourly["units"].map(lambda units: _present(units) and units >= MONTHLY_CAP_HOURS)
    ]
    if not full_months.empty:
        latest = full_months.iloc[-1]
        price = latest["amount"]
        month = pd.Timestamp(latest["billing_month"]).strftime("%Y-%m")
        return price, f"it was billed {_money(price)} for the full month {month}", "medium"
    if not hourly.empty and _present(hourly.iloc[-1]["unit_price"]):
        price = to_cents(hourly.iloc[-1]["unit_price"] * MONTHLY_CAP_HOURS)
        text = (
            f"at {hourly.iloc[-1]['unit_price']} USD an hour it costs about {_money(price)} "
            f"a month ({MONTHLY_CAP_HOURS} billed hours)"
        )
        return price, text, "medium"
    return Decimal(0), "no charge for it was found in the line items", "low"


def _text(value: object) -> str | None:
    """Return a non-empty string, or None for a null, NaN or empty value."""
    if not _present(value) or value == "":
        return None
    return str(value)


def _known(value: Decimal | None) -> Decimal:
    return value if _present(value) else Decimal(0)


def _present(value: object) -> bool:
    return value is not None and not pd.isna(value)


def _optional_int(value: object) -> int | None:
    return int(value) if _present(value) else None
