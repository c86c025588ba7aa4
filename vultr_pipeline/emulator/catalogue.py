"""Regions, cloud plans and bare-metal plans of the sample account.

The catalogue is fixed: it does not depend on the seed, only the inventory built on it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from vultr_pipeline.emulator.money import hourly_rate, to_cents

# id, city, country, continent
_REGIONS = (
    ("ewr", "New Jersey", "US", "North America"),
    ("ord", "Chicago", "US", "North America"),
    ("lax", "Los Angeles", "US", "North America"),
    ("sea", "Seattle", "US", "North America"),
    ("ams", "Amsterdam", "NL", "Europe"),
    ("fra", "Frankfurt", "DE", "Europe"),
    ("lhr", "London", "GB", "Europe"),
    ("nrt", "Tokyo", "JP", "Asia"),
    ("sgp", "Singapore", "SG", "Asia"),
    ("syd", "Sydney", "AU", "Australia"),
    ("sao", "São Paulo", "BR", "South America"),
    ("jnb", "Johannesburg", "ZA", "Africa"),
)
_ALL_REGIONS = tuple(row[0] for row in _REGIONS)
_CORE_REGIONS = ("ewr", "ord", "lax", "ams", "fra", "lhr", "nrt", "sgp", "sao")
_GPU_REGIONS = ("ewr", "ord", "lax", "ams", "fra")

# Regional surcharges applied through `location_cost`; Brazil makes monthly prices fractional.
_SURCHARGES = {"sao": Decimal("1.19"), "jnb": Decimal("1.10")}


@dataclass(frozen=True)
class PlanSpec:
    """One row of the cloud plan table, before prices are expanded."""

    id: str
    type: str
    vcpu_count: int
    ram: int
    disk: int
    bandwidth: int
    monthly_cost: Decimal
    locations: tuple[str, ...]
    gpu_vram_gb: int | None = None
    gpu_type: str | None = None


def _plan(
    plan_id: str,
    vcpus: int,
    ram_mb: int,
    disk_gb: int,
    bandwidth_gb: int,
    monthly: str,
    locations: tuple[str, ...] = _ALL_REGIONS,
    gpu: tuple[int, str] | None = None,
) -> PlanSpec:
    plan_type = plan_id.rsplit("-", 3)[0] if plan_id.startswith("voc-") else plan_id[:3]
    vram, gpu_type = gpu if gpu else (None, None)
    return PlanSpec(
        plan_id,
        plan_type,
        vcpus,
        ram_mb,
        disk_gb,
        bandwidth_gb,
        Decimal(monthly),
        locations,
        vram,
        gpu_type,
    )


# vc2-2c-4gb and vhf-2c-4gb have the same vCPUs and RAM, and vc2 is cheaper in every region.
PLAN_SPECS: tuple[PlanSpec, ...] = (
    _plan("vc2-1c-0.5gb", 1, 512, 10, 500, "2.50", ("ewr", "ord", "ams", "sgp")),
    _plan("vc2-1c-1gb", 1, 1024, 25, 1024, "5"),
    _plan("vc2-1c-2gb", 1, 2048, 55, 2048, "10"),
    _plan("vc2-2c-4gb", 2, 4096, 80, 3072, "20"),
    _plan("vc2-4c-8gb", 4, 8192, 160, 4096, "40"),
    _plan("vc2-6c-16gb", 6, 16384, 320, 5120, "80"),
    _plan("vhf-1c-2gb", 1, 2048, 64, 2048, "12", _CORE_REGIONS),
    _plan("vhf-2c-4gb", 2, 4096, 128, 3072, "24", _CORE_REGIONS),
    _plan("vhf-4c-16gb", 4, 16384, 384, 5120, "96", _CORE_REGIONS),
    _plan("voc-g-2c-8gb-50s", 2, 8192, 50, 4096, "60", _CORE_REGIONS),
    _plan("voc-c-4c-8gb-75s", 4, 8192, 75, 5120, "80", _CORE_REGIONS),
    _plan("voc-m-2c-16gb-50s", 2, 16384, 50, 4096, "90", _CORE_REGIONS),
    _plan("vcg-a16-3c-32g-8vram", 3, 32768, 200, 5120, "171.50", _GPU_REGIONS, (8, "NVIDIA_A16")),
    _plan("vcg-a16-6c-64g-16vram", 6, 65536, 350, 6144, "343", _GPU_REGIONS, (16, "NVIDIA_A16")),
    _plan("vcg-a100-1c-6g-4vram", 1, 6144, 70, 1024, "90", _GPU_REGIONS, (4, "NVIDIA_A100")),
    _plan("vcg-a100-12c-120g-80vram", 12, 122880, 1400, 10240, "1750", _GPU_REGIONS[:3],
          (80, "NVIDIA_A100")),
    _plan("vcg-l40s-16c-180g-48vram", 16, 184320, 1200, 10240, "1226.40", _GPU_REGIONS,
          (48, "NVIDIA_L40S")),
)  # fmt: skip

# id, cpu_count, cpu_threads, cpu_model, ram MB, disk GB, disk_count, bandwidth GB, monthly, type
_METAL_PLANS = (
    ("vbm-4c-32gb", 4, 8, "E3-1270v6", 32768, 240, 2, 5120, "120", "SSD"),
    ("vbm-8c-132gb", 8, 16, "E-2288G", 131072, 1920, 2, 10240, "350", "NVMe"),
    ("vbm-24c-256gb-amd", 24, 48, "AMD EPYC 7443P", 262144, 1920, 2, 10240, "725", "NVMe"),
)
_METAL_LOCATIONS = ("ewr", "ord", "ams", "fra", "sao")


@dataclass(frozen=True)
class Catalogue:
    """Regions and plans as the public endpoints return them, plus price look-ups."""

    regions: list[dict[str, Any]]
    plans: list[dict[str, Any]]
    plans_metal: list[dict[str, Any]]

    def plan(self, plan_id: str) -> dict[str, Any]:
        """Return the cloud or bare-metal plan with this id."""
        for plan in self.plans + self.plans_metal:
            if plan["id"] == plan_id:
                return plan
        raise KeyError(plan_id)

    def monthly_cost(self, plan: dict[str, Any], region: str) -> Decimal:
        """Return the monthly price of a plan in a region, regional override included."""
        override = plan.get("location_cost", {}).get(region)
        return override["monthly_cost"] if override else plan["monthly_cost"]


def build_catalogue() -> Catalogue:
    """Build the regions, cloud plans and bare-metal plans."""
    regions = [_region(*row) for row in _REGIONS]
    plans = [_cloud_plan(spec) for spec in PLAN_SPECS]
    plans_metal = [_metal_plan(*row) for row in _METAL_PLANS]
    return Catalogue(regions, plans, plans_metal)


def _region(region_id: str, city: str, country: str, continent: str) -> dict[str, Any]:
    options = ["ddos_protection", "block_storage_storage_opt", "kubernetes", "load_balancers"]
    if region_id in _CORE_REGIONS:
        options.insert(1, "block_storage_high_perf")
    return {
        "id": region_id,
        "city": city,
        "country": country,
        "continent": continent,
        "options": options,
        "connectivity": ["public_ip", "nat_gateway"],
    }


def _prices(monthly: Decimal, preemptible_share: Decimal) -> dict[str, Decimal]:
    preemptible = to_cents(monthly * preemptible_share)
    return {
        "monthly_cost": monthly,
        "hourly_cost": hourly_rate(monthly),
        "monthly_cost_preemptible": preemptible,
        "hourly_cost_preemptible": hourly_rate(preemptible),
    }


def _cloud_plan(spec: PlanSpec) -> dict[str, Any]:
    # Preemptible capacity is sold at half price on GPU plans only.
    share = Decimal("0.5") if spec.gpu_type else Decimal(1)
    plan: dict[str, Any] = {
        "id": spec.id,
        "vcpu_count": spec.vcpu_count,
        "ram": spec.ram,
        "disk": spec.disk,
        "disk_count": 1,
        "bandwidth": spec.bandwidth,
        "type": spec.type,
        "invoice_type": "hourly",
        **_prices(spec.monthly_cost, share),
        "locations": list(spec.locations),
        "location_cost": {
            region: _prices(to_cents(spec.monthly_cost * factor), share)
            for region, factor in _SURCHARGES.items()
            if region in spec.locations
        },
    }
    if spec.gpu_type:
        plan["gpu_vram_gb"] = spec.gpu_vram_gb
        plan["gpu_type"] = spec.gpu_type
    return plan


def _metal_plan(
    plan_id: str,
    cpus: int,
    threads: int,
    model: str,
    ram_mb: int,
    disk_gb: int,
    disk_count: int,
    bandwidth_gb: int,
    monthly: str,
    disk_type: str,
) -> dict[str, Any]:
    return {
        "id": plan_id,
        "cpu_count": cpus,
        "cpu_threads": threads,
        "cpu_model": model,
        "ram": ram_mb,
        "disk": disk_gb,
        "disk_count": disk_count,
        "bandwidth": bandwidth_gb,
        "invoice_type": "monthly",
        **_prices(Decimal(monthly), Decimal(1)),
        "type": disk_type,
        "locations": list(_METAL_LOCATIONS),
    }
