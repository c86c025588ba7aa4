"""Instance metadata: one row per cloud instance or bare-metal server, with plan and price.

Instances and bare-metal servers carry no price and no GPU details. Both come from the plan
catalogues (`/plans` and `/plans-metal`), joined on the plan id within the same account.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd

from vultr_pipeline.costs.frames import build_frame, frame_rows, text_list, to_utc

INSTANCE = "instance"
BARE_METAL = "bare_metal"
GPU_PLAN_TYPE = "vcg"

PRICE_FROM_LOCATION_COST = "location_cost"
PRICE_FROM_PLAN = "plan"
PRICE_NONE = "none"

# VRAM of one card in GB, keyed by Vultr's `gpu_type`, as the vendors rate each model.
# NOTE: these figures and Vultr's exact `gpu_type` strings are unverified, and the A100 also
# ships with 40 GB. An unlisted type gives a null gpu_count instead of a guess.
GPU_CARD_VRAM_GB: dict[str, int] = {
    "NVIDIA_A16": 16,
    "NVIDIA_A40": 48,
    "NVIDIA_A100": 80,
    "NVIDIA_L40": 48,
    "NVIDIA_L40S": 48,
    "NVIDIA_H100": 80,
    "NVIDIA_H200": 141,
    "NVIDIA_GH200": 96,
    "AMD_MI300X": 192,
    "AMD_MI325X": 256,
}
GPU_COUNT_STEP = Decimal("0.0001")

INSTANCE_METADATA_COLUMNS = (
    "account_id", "resource_id", "resource_type", "label", "region", "plan", "plan_type",
    "status", "power_status", "tags", "features", "auto_backups", "vcpu_count", "ram_mb",
    "main_ip", "date_created", "is_gpu", "gpu_type", "gpu_vram_gb", "gpu_count", "hourly_cost",
    "monthly_cost", "price_source",
)  # fmt: skip

_RAM_TEXT = re.compile(r"^\s*(\d+)\s*MB\s*$", re.IGNORECASE)


@dataclass
class InventoryReport:
    """Figures about an instance-metadata build, for logs and asset metadata.

    Attributes:
        unknown_gpu_types: GPU types missing from `GPU_CARD_VRAM_GB`, with server counts.
        unpriced: Servers whose plan is not in the catalogue, so they have no price.
    """

    unknown_gpu_types: dict[str, int] = field(default_factory=dict)
    unpriced: int = 0


def _money(value: Any) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _location_prices(plan: dict[str, Any], region: str | None) -> dict[str, Any] | None:
    text = plan.get("location_cost")
    if not text or region is None:
        return None
    overrides = json.loads(text, parse_float=Decimal)
    prices = overrides.get(region) if isinstance(overrides, dict) else None
    return prices if isinstance(prices, dict) else None


def plan_prices(plan: dict[str, Any] | None, region: str | None) -> tuple[Any, Any, str]:
    """Return (hourly, monthly, price_source) of a plan in a region.

    A region's entry in the plan's `location_cost` overrides the plan's list price.
    """
    if plan is None:
        return None, None, PRICE_NONE
    override = _location_prices(plan, region)
    if override is not None:
        return (
            _money(override.get("hourly_cost")),
            _money(override.get("monthly_cost")),
            PRICE_FROM_LOCATION_COST,
        )
    if plan.get("monthly_cost") is None and plan.get("hourly_cost") is None:
        return None, None, PRICE_NONE
    return _money(plan.get("hourly_cost")), _money(plan.get("monthly_cost")), PRICE_FROM_PLAN


def gpu_count(gpu_type: str | None, vram_gb: int | None) -> Decimal | None:
    """Return the number of GPUs of a plan: total VRAM over one card's VRAM.

    A fractional-GPU plan gives a value below 1. The result is rounded half up to four
    decimal places. It is None when the type or VRAM is missing or the card is unknown.
    """
    if gpu_type is None or vram_gb is None or gpu_type not in GPU_CARD_VRAM_GB:
        return None
    count = Decimal(vram_gb) / Decimal(GPU_CARD_VRAM_GB[gpu_type])
    return count.quantize(GPU_COUNT_STEP, rounding=ROUND_HALF_UP)


def _bare_metal_ram(text: Any, plan: dict[str, Any] | None) -> int | None:
    match = _RAM_TEXT.match(str(text)) if text is not None else None
    if match:
        return int(match[1])
    return plan.get("ram") if plan else None


def _plans_by_key(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(row["account_id"], row["id"]): row for row in rows}


def _gpu_fields(plan: dict[str, Any] | None, report: InventoryReport) -> dict[str, Any]:
    gpu_type = plan.get("gpu_type") if plan else None
    vram = plan.get("gpu_vram_gb") if plan else None
    is_gpu = bool(plan) and (plan.get("type") == GPU_PLAN_TYPE or gpu_type is not None)
    count = gpu_count(gpu_type, vram)
    if is_gpu and count is None:
        key = gpu_type or "(missing)"
        report.unknown_gpu_types[key] = report.unknown_gpu_types.get(key, 0) + 1
    return {
        "is_gpu": is_gpu,
        "gpu_type": gpu_type,
        "gpu_vram_gb": None if vram is None else int(vram),
        "gpu_count": count,
    }


def _server_row(
    server: dict[str, Any], plan: dict[str, Any] | None, resource_type: str
) -> dict[str, Any]:
    features = text_list(server.get("features"))
    hourly, monthly, source = plan_prices(plan, server.get("region"))
    if resource_type == INSTANCE:
        vcpus, ram = server.get("vcpu_count"), server.get("ram")
    else:
        vcpus, ram = server.get("cpu_count"), _bare_metal_ram(server.get("ram"), plan)
    return {
        "account_id": server["account_id"],
        "resource_id": server["id"],
        "resource_type": resource_type,
        "label": server.get("label"),
        "region": server.get("region"),
        "plan": server.get("plan"),
        "plan_type": plan.get("type") if plan else None,
        "status": server.get("status"),
        "power_status": server.get("power_status") if resource_type == INSTANCE else None,
        "tags": text_list(server.get("tags")),
        "features": features,
        "auto_backups": "auto_backups" in features,
        "vcpu_count": None if vcpus is None else int(vcpus),
        "ram_mb": None if ram is None else int(ram),
        "main_ip": server.get("main_ip"),
        "date_created": to_utc(server.get("date_created")),
        "hourly_cost": hourly,
        "monthly_cost": monthly,
        "price_source": source,
    }


def build_instance_metadata(
    instances: pd.DataFrame,
    bare_metals: pd.DataFrame,
    plans: pd.DataFrame,
    metal_plans: pd.DataFrame,
) -> tuple[pd.DataFrame, InventoryReport]:
    """Build one row per instance and bare-metal server, priced from the plan catalogues.

    Bare-metal servers have no power status (null), and their `plan_type` is the metal
    plan's `type`, which Vultr fills with the disk type (SSD or NVMe).

    Returns:
        The rows with the columns of `INSTANCE_METADATA_COLUMNS`, sorted by account and id,
        and a report of unknown GPU types and unpriced servers.
    """
    report = InventoryReport()
    cloud_plans = _plans_by_key(frame_rows(plans))
    server_plans = _plans_by_key(frame_rows(metal_plans))
    rows = []
    sources = ((instances, INSTANCE, cloud_plans), (bare_metals, BARE_METAL, server_plans))
    for frame, resource_type, catalogue in sources:
        for server in frame_rows(frame):
            plan = catalogue.get((server["account_id"], server.get("plan") or ""))
            row = _server_row(server, plan, resource_type)
            row.update(_gpu_fields(plan, report))
            if row["price_source"] == PRICE_NONE:
                report.unpriced += 1
            rows.append(row)
    rows.sort(key=lambda row: (row["account_id"], row["resource_id"]))
    result = build_frame(
        rows,
        INSTANCE_METADATA_COLUMNS,
        datetimes=("date_created",),
        integers=("vcpu_count", "ram_mb", "gpu_vram_gb"),
    )
    return result, report
