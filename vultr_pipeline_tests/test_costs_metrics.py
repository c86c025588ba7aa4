"""Tests of the daily cost metrics and of the instance metadata they count."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from vultr_pipeline.costs.inventory import build_instance_metadata, gpu_count
from vultr_pipeline.costs.metrics import build_cost_metrics

ACCOUNT = "main"
# Ten days after the month started, so the burn rate is month-to-date spend ÷ 10.
AS_OF = dt.datetime(2026, 11, 11, tzinfo=dt.UTC)
NOVEMBER = dt.date(2026, 11, 1)


def _line(source, month, category, amount, resource_id=None):
    return {
        "account_id": ACCOUNT,
        "source": source,
        "billing_month": month,
        "service_category": category,
        "amount": Decimal(amount),
        "resource_id": resource_id,
    }


def _lines() -> pd.DataFrame:
    september, october = dt.date(2026, 9, 1), dt.date(2026, 10, 1)
    return pd.DataFrame(
        [
            _line("invoice", september, "compute", "100.00"),
            _line("invoice", october, "compute", "110.00"),
            _line("invoice", october, "snapshot", "10.00"),
            _line("pending", NOVEMBER, "compute", "30.00", "i-stopped"),
            _line("pending", NOVEMBER, "compute", "40.00", "i-running"),
            _line("pending", NOVEMBER, "gpu", "50.00", "i-gpu"),
            _line("pending", NOVEMBER, "block_storage", "2.00", "b-loose"),
            _line("pending", NOVEMBER, "block_storage", "3.00", "b-attached"),
            _line("pending", NOVEMBER, "reserved_ip", "1.50", "ip-loose"),
            _line("pending", NOVEMBER, "load_balancer", "5.00", "lb-empty"),
            _line("pending", NOVEMBER, "snapshot", "4.25"),
            _line("pending", NOVEMBER, "backup", "8.00", "i-running"),
            _line("pending", NOVEMBER, "database", "9.00"),
            _line("pending", NOVEMBER, "other", "-2.75"),
        ]
    )


def _servers() -> pd.DataFrame:
    def server(resource_id, resource_type="instance", power="running", gpu=False):
        return {
            "account_id": ACCOUNT,
            "resource_id": resource_id,
            "resource_type": resource_type,
            "power_status": power,
            "is_gpu": gpu,
        }

    return pd.DataFrame(
        [
            server("i-stopped", power="stopped"),
            # Stopped, but nothing was billed for it this month, so it is not idle.
            server("i-new-stopped", power="stopped"),
            server("i-running"),
            server("i-gpu", gpu=True),
            server("m-1", "bare_metal", power=None),
        ]
    )


def _metrics(balance: str, pending: str) -> dict:
    account = pd.DataFrame(
        [{"account_id": ACCOUNT, "balance": Decimal(balance), "pending_charges": Decimal(pending)}]
    )
    blocks = pd.DataFrame(
        [
            {"account_id": ACCOUNT, "id": "b-loose", "attached_to_instance": ""},
            {"account_id": ACCOUNT, "id": "b-attached", "attached_to_instance": "i-running"},
        ]
    )
    reserved_ips = pd.DataFrame([{"account_id": ACCOUNT, "id": "ip-loose", "instance_id": None}])
    balancers = pd.DataFrame(
        [
            {"account_id": ACCOUNT, "id": "lb-empty", "instances": []},
            {"account_id": ACCOUNT, "id": "lb-used", "instances": ["i-running"]},
        ]
    )
    frame = build_cost_metrics(
        _lines(), _servers(), account, blocks, reserved_ips, balancers, {ACCOUNT: AS_OF}
    )
    assert len(frame) == 1
    return frame.iloc[0].to_dict()


def test_month_to_date_spend_by_group():
    metrics = _metrics("-500.00", "150.00")

    # 30 + 40 + 50 + 2 + 3 + 1.50 + 5 + 4.25 + 8 + 9 - 2.75 = 150.00
    assert metrics["month_to_date_spend"] == Decimal("150.00")
    assert metrics["compute_cost"] == Decimal("70.00")  # 30 + 40
    assert metrics["gpu_cost"] == Decimal("50.00")
    assert metrics["storage_cost"] == Decimal("9.25")  # 2 + 3 + 4.25
    assert metrics["network_cost"] == Decimal("6.50")  # 1.50 + 5
    assert metrics["backup_cost"] == Decimal("8.00")
    assert metrics["database_cost"] == Decimal("9.00")
    assert metrics["other_cost"] == Decimal("-2.75")
    assert metrics["snapshot_waste"] == Decimal("4.25")
    assert metrics["metrics_date"] == dt.date(2026, 11, 11)
    assert metrics["month_start"] == NOVEMBER


def test_inventory_counts():
    metrics = _metrics("-500.00", "150.00")

    assert metrics["instance_count"] == 4
    assert metrics["gpu_instance_count"] == 1
    assert metrics["bare_metal_count"] == 1
    assert metrics["idle_instance_count"] == 1
    assert metrics["idle_instance_cost"] == Decimal("30.00")
    # Unattached block b-loose, unattached reserved IP, load balancer without instances.
    assert metrics["underutilized_resource_count"] == 3
    assert metrics["underutilized_resource_cost"] == Decimal("8.50")  # 2 + 1.50 + 5


def test_prepaid_credit_runway():
    metrics = _metrics("-500.00", "150.00")

    # Net credit = -(-500.00) - 150.00 = 350.00. Burn rate = 150.00 ÷ 10 days = 15.00 a day.
    # Days left = 350.00 ÷ 15.00 = 23.333… → 23.33.
    assert metrics["net_credit"] == Decimal("350.00")
    assert metrics["remaining_credit"] == Decimal("350.00")
    assert metrics["burn_rate_per_day"] == Decimal("15.00")
    assert metrics["credit_days_remaining"] == Decimal("23.33")


def test_owed_balance_has_no_credit():
    metrics = _metrics("45.54", "150.00")

    # Net credit = -45.54 - 150.00 = -195.54, floored at 0 for the remaining credit.
    assert metrics["net_credit"] == Decimal("-195.54")
    assert metrics["remaining_credit"] == Decimal("0")
    assert metrics["credit_days_remaining"] == Decimal("0.00")


def test_month_over_month_change():
    metrics = _metrics("-500.00", "150.00")

    # October 110.00 + 10.00 = 120.00 against September 100.00: +20.00, +20.00 %.
    assert metrics["last_month_spend"] == Decimal("120.00")
    assert metrics["previous_month_spend"] == Decimal("100.00")
    assert metrics["month_over_month_change"] == Decimal("20.00")
    assert metrics["month_over_month_change_pct"] == Decimal("20.00")


def _plans() -> pd.DataFrame:
    location_cost = (
        '{"sao":{"hourly_cost":0.0177,"monthly_cost":11.90,'
        '"hourly_cost_preemptible":0.0177,"monthly_cost_preemptible":11.90}}'
    )
    return pd.DataFrame(
        [
            {
                "account_id": ACCOUNT,
                "id": "vc2-1c-2gb",
                "type": "vc2",
                "monthly_cost": Decimal("10"),
                "hourly_cost": Decimal("0.0149"),
                "location_cost": location_cost,
                "gpu_type": None,
                "gpu_vram_gb": None,
            },
            {
                "account_id": ACCOUNT,
                "id": "vcg-a16-3c-32g-8vram",
                "type": "vcg",
                "monthly_cost": Decimal("171.50"),
                "hourly_cost": Decimal("0.2552"),
                "location_cost": "{}",
                "gpu_type": "NVIDIA_A16",
                "gpu_vram_gb": 8,
            },
            {
                "account_id": ACCOUNT,
                "id": "vcg-x9-1c-10g-10vram",
                "type": "vcg",
                "monthly_cost": Decimal("50"),
                "hourly_cost": Decimal("0.0744"),
                "location_cost": "{}",
                "gpu_type": "NVIDIA_X9",
                "gpu_vram_gb": 10,
            },
        ]
    )


def _instance(resource_id, plan, region, features=(), power="running"):
    return {
        "account_id": ACCOUNT,
        "id": resource_id,
        "label": resource_id,
        "region": region,
        "plan": plan,
        "status": "active",
        "power_status": power,
        "tags": [],
        "features": list(features),
        "vcpu_count": 1,
        "ram": 2048,
        "main_ip": "192.0.2.1",
        "date_created": pd.Timestamp("2026-01-01T00:00:00Z"),
    }


def _metadata() -> tuple[pd.DataFrame, object]:
    instances = pd.DataFrame(
        [
            _instance("i-1", "vc2-1c-2gb", "ewr", features=["ipv6", "auto_backups"]),
            _instance("i-2", "vc2-1c-2gb", "sao"),
            _instance("i-3", "vcg-a16-3c-32g-8vram", "ewr"),
            _instance("i-4", "vcg-x9-1c-10g-10vram", "ewr"),
            _instance("i-5", "vc2-gone", "ewr"),
        ]
    )
    bare_metals = pd.DataFrame(
        [
            {
                "account_id": ACCOUNT,
                "id": "m-1",
                "label": "metal",
                "region": "ams",
                "plan": "vbm-4c-32gb",
                "ram": "32768 MB",
                "cpu_count": 4,
                "tags": ["env:prod"],
                "features": [],
            }
        ]
    )
    metal_plans = pd.DataFrame(
        [
            {
                "account_id": ACCOUNT,
                "id": "vbm-4c-32gb",
                "type": "SSD",
                "monthly_cost": Decimal("120"),
                "hourly_cost": Decimal("0.1786"),
                "ram": 32768,
            }
        ]
    )
    return build_instance_metadata(instances, bare_metals, _plans(), metal_plans)


def test_instance_metadata_prices():
    frame, report = _metadata()
    rows = frame.set_index("resource_id")

    assert rows.loc["i-1", "monthly_cost"] == Decimal("10")
    assert rows.loc["i-1", "price_source"] == "plan"
    assert bool(rows.loc["i-1", "auto_backups"]) is True
    # São Paulo has its own price in location_cost.
    assert rows.loc["i-2", "monthly_cost"] == Decimal("11.90")
    assert rows.loc["i-2", "hourly_cost"] == Decimal("0.0177")
    assert rows.loc["i-2", "price_source"] == "location_cost"
    assert rows.loc["i-5", "price_source"] == "none"
    assert report.unpriced == 1


def test_instance_metadata_bare_metal():
    frame, _ = _metadata()
    metal = frame.set_index("resource_id").loc["m-1"]

    assert metal["resource_type"] == "bare_metal"
    assert metal["power_status"] is None
    assert metal["ram_mb"] == 32768
    assert metal["vcpu_count"] == 4
    assert metal["plan_type"] == "SSD"
    assert metal["monthly_cost"] == Decimal("120")


def test_instance_metadata_gpu_count():
    frame, report = _metadata()
    rows = frame.set_index("resource_id")

    # An A16 card has 16 GB, so an 8 GB plan is half a GPU: 8 ÷ 16 = 0.5.
    assert bool(rows.loc["i-3", "is_gpu"]) is True
    assert rows.loc["i-3", "gpu_count"] == Decimal("0.5")
    assert rows.loc["i-3", "gpu_vram_gb"] == 8
    # An unknown card leaves the count null and is reported.
    assert bool(rows.loc["i-4", "is_gpu"]) is True
    assert rows.loc["i-4", "gpu_count"] is None
    assert report.unknown_gpu_types == {"NVIDIA_X9": 1}
    assert bool(rows.loc["i-1", "is_gpu"]) is False


@pytest.mark.parametrize(
    ("gpu_type", "vram", "expected"),
    [
        pytest.param("NVIDIA_A100", 80, Decimal("1"), id="one-card"),
        pytest.param("NVIDIA_A100", 4, Decimal("0.05"), id="fraction"),
        pytest.param("NVIDIA_L40S", 96, Decimal("2"), id="two-cards"),
        pytest.param("NVIDIA_L40S", 10, Decimal("0.2083"), id="rounded"),
        pytest.param(None, 8, None, id="no-type"),
    ],
)
def test_gpu_count(gpu_type, vram, expected):
    assert gpu_count(gpu_type, vram) == expected
