"""Cost recommendations on a hand-built inventory, with every saving worked out by hand."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pandas as pd
import pytest

from vultr_pipeline.costs.recommendations import (
    COLUMNS,
    Inventory,
    build_recommendations,
    is_non_production,
    recommendation_id,
)

UTC = dt.UTC
AS_OF = dt.datetime(2026, 11, 18, 12, tzinfo=UTC)
ACCOUNT = "main"
GIB = 1024**3


def _instance(
    resource_id: str,
    label: str,
    plan: str,
    region: str,
    monthly: str | None,
    *,
    power: str = "running",
    backups: bool = False,
    gpu: bool = False,
    tags: tuple[str, ...] = (),
    vcpus: int = 2,
    ram_mb: int = 4096,
) -> dict[str, object]:
    return {
        "account_id": ACCOUNT,
        "resource_id": resource_id,
        "resource_type": "instance",
        "label": label,
        "region": region,
        "plan": plan,
        "plan_type": plan.split("-")[0],
        "status": "active",
        "power_status": power,
        "tags": list(tags),
        "features": ["ipv6", "auto_backups"] if backups else ["ipv6"],
        "auto_backups": backups,
        "vcpu_count": vcpus,
        "ram_mb": ram_mb,
        "main_ip": "192.0.2.10",
        "date_created": pd.Timestamp("2026-01-05T00:00:00Z"),
        "is_gpu": gpu,
        "gpu_type": None,
        "gpu_vram_gb": None,
        "gpu_count": None,
        "hourly_cost": None,
        "monthly_cost": Decimal(monthly) if monthly is not None else None,
        "price_source": "plan" if monthly is not None else "none",
    }


def _plan(
    plan_id: str,
    vcpus: int,
    ram_mb: int,
    monthly: str,
    locations: list[str],
    location_cost: str | None = None,
    gpu: tuple[str, int] | None = None,
) -> dict[str, object]:
    return {
        "account_id": ACCOUNT,
        "id": plan_id,
        "vcpu_count": vcpus,
        "ram": ram_mb,
        "type": plan_id.split("-")[0],
        "monthly_cost": Decimal(monthly),
        "locations": locations,
        "location_cost": location_cost,
        "gpu_type": gpu[0] if gpu else None,
        "gpu_vram_gb": gpu[1] if gpu else None,
    }


def _line(
    line_id: str,
    resource_id: str,
    source: str,
    billing_month: dt.date,
    amount: str,
    units: str,
    unit_price: str,
) -> dict[str, object]:
    start = pd.Timestamp(billing_month).tz_localize("UTC")
    return {
        "account_id": ACCOUNT,
        "line_id": line_id,
        "source": source,
        "billing_month": billing_month,
        "charge_period_start": start,
        "charge_period_end": start + pd.Timedelta(hours=float(units)),
        "units": Decimal(units),
        "unit_type": "hours",
        "unit_price": Decimal(unit_price),
        "amount": Decimal(amount),
        "resource_id": resource_id,
    }


def _inventory() -> Inventory:
    instances = [
        _instance("i-stopped", "web-dev-01", "vc2-2c-4gb", "ewr", "20", power="stopped",
                  backups=True),
        _instance("i-gpu-stopped", "gpu-train-prod-01", "vcg-a16-3c-32g-8vram", "ewr",
                  "171.50", power="stopped", gpu=True),
        _instance("i-gpu-dev", "gpu-infer-02", "vcg-a100-1c-6g-4vram", "ewr", "90", gpu=True,
                  tags=("env:dev",)),
        _instance("i-staging", "api-staging-03", "vhf-2c-4gb", "sao", "28.56", backups=True),
        _instance("i-prod", "web-prod-04", "vc2-1c-1gb", "ewr", "5", backups=True,
                  tags=("env:prod",), vcpus=1, ram_mb=1024),
    ]  # fmt: skip
    sao_vc2 = '{"sao": {"monthly_cost": 23.80, "hourly_cost": 0.0354}}'
    sao_vhf = '{"sao": {"monthly_cost": 28.56, "hourly_cost": 0.0425}}'
    plans = [
        _plan("vc2-2c-4gb", 2, 4096, "20", ["ewr", "sao"], sao_vc2),
        _plan("vhf-2c-4gb", 2, 4096, "24", ["ewr", "sao"], sao_vhf),
        # Same size and cheaper still, but not sold in sao, so it is no alternative there.
        _plan("vdc-2c-4gb", 2, 4096, "10", ["sgp"]),
        _plan("vc2-1c-1gb", 1, 1024, "5", ["ewr", "sao"]),
    ]
    snapshots = [
        {"account_id": ACCOUNT, "id": "s-old", "description": "before upgrade",
         "date_created": pd.Timestamp("2026-09-01T00:00:00Z"), "size": 80 * GIB,
         "compressed_size": 27380416512, "status": "complete"},
        {"account_id": ACCOUNT, "id": "s-new", "description": "last week",
         "date_created": pd.Timestamp("2026-11-01T00:00:00Z"), "size": 80 * GIB,
         "compressed_size": 10 * GIB, "status": "complete"},
        {"account_id": ACCOUNT, "id": "s-30-days", "description": "exactly 30 days",
         "date_created": pd.Timestamp("2026-10-19T12:00:00Z"), "size": 80 * GIB,
         "compressed_size": 10 * GIB, "status": "complete"},
    ]  # fmt: skip
    blocks = [
        {"account_id": ACCOUNT, "id": "b-free", "label": "volume-01", "size_gb": 100,
         "region": "ams", "cost": Decimal("2.5"), "attached_to_instance": ""},
        {"account_id": ACCOUNT, "id": "b-used", "label": "volume-02", "size_gb": 40,
         "region": "ewr", "cost": Decimal("4"), "attached_to_instance": "i-prod"},
    ]  # fmt: skip
    reserved_ips = [
        {"account_id": ACCOUNT, "id": "r-billed", "label": "reserved-01", "region": "ewr",
         "subnet": "203.0.113.7", "instance_id": ""},
        {"account_id": ACCOUNT, "id": "r-new", "label": "reserved-02", "region": "ewr",
         "subnet": "203.0.113.8", "instance_id": None},
        {"account_id": ACCOUNT, "id": "r-used", "label": "reserved-03", "region": "ewr",
         "subnet": "203.0.113.9", "instance_id": "i-prod"},
    ]  # fmt: skip
    load_balancers = [
        {"account_id": ACCOUNT, "id": "lb-idle", "label": "lb-web-01", "region": "ewr",
         "instances": []},
        {"account_id": ACCOUNT, "id": "lb-busy", "label": "lb-web-02", "region": "ewr",
         "instances": ["i-prod"]},
        {"account_id": ACCOUNT, "id": "lb-unbilled", "label": "lb-web-03", "region": "ewr",
         "instances": []},
    ]  # fmt: skip
    september, october, november = dt.date(2026, 9, 1), dt.date(2026, 10, 1), dt.date(2026, 11, 1)
    lines = [
        _line("invoice:1:1", "r-billed", "invoice", september, "2.90", "720", "0.0045"),
        _line("invoice:2:1", "r-billed", "invoice", october, "3.00", "744", "0.0045"),
        _line("pending:2026-11:1", "r-billed", "pending", november, "1.85", "412", "0.0045"),
        _line("pending:2026-11:2", "r-new", "pending", november, "0.45", "100", "0.0045"),
        _line("invoice:2:2", "lb-idle", "invoice", october, "10.00", "744", "0.0149"),
        # A month with fewer than 672 hours is not a full month's price.
        _line("invoice:2:3", "lb-busy", "invoice", october, "5.00", "336", "0.0149"),
        _line("pending:2026-11:3", "i-stopped", "pending", november, "12.28", "412", "0.0298"),
    ]
    return Inventory(
        instance_metadata=pd.DataFrame(instances),
        line_items=pd.DataFrame(lines),
        plans=pd.DataFrame(plans),
        snapshots=pd.DataFrame(snapshots),
        blocks=pd.DataFrame(blocks),
        reserved_ips=pd.DataFrame(reserved_ips),
        load_balancers=pd.DataFrame(load_balancers),
    )


@pytest.fixture
def findings() -> pd.DataFrame:
    return build_recommendations(_inventory(), AS_OF)


def _finding(findings: pd.DataFrame, kind: str, resource_id: str) -> dict[str, object]:
    rows = findings[(findings["kind"] == kind) & (findings["resource_id"] == resource_id)]
    assert len(rows) == 1, f"expected one {kind} finding for {resource_id}, got {len(rows)}"
    return rows.iloc[0].to_dict()


def test_recommendations_columns_and_count(findings: pd.DataFrame) -> None:
    assert list(findings.columns) == COLUMNS
    assert sorted(zip(findings["kind"], findings["resource_id"], strict=True)) == [
        ("backups_on_non_production", "i-staging"),
        ("cheaper_equivalent_plan", "i-staging"),
        ("gpu_instance_idle", "i-gpu-dev"),
        ("gpu_instance_idle", "i-gpu-stopped"),
        ("idle_load_balancer", "lb-idle"),
        ("idle_load_balancer", "lb-unbilled"),
        ("old_snapshot", "s-old"),
        ("stopped_instance_billed", "i-stopped"),
        ("unattached_block", "b-free"),
        ("unattached_reserved_ip", "r-billed"),
        ("unattached_reserved_ip", "r-new"),
    ]


def test_stopped_instance_saves_plan_and_backups(findings: pd.DataFrame) -> None:
    row = _finding(findings, "stopped_instance_billed", "i-stopped")
    # Plan 20.00 a month, plus backups at 20 %: 20.00 + 0.20 × 20.00 = 24.00.
    assert row["estimated_monthly_saving"] == Decimal("24.00")
    assert row["confidence"] == "high"
    assert "12.28 USD so far this month" in row["evidence"]
    assert row["resource_label"] == "web-dev-01"
    assert row["region"] == "ewr"


def test_stopped_instance_gets_no_other_findings(findings: pd.DataFrame) -> None:
    assert set(findings.loc[findings["resource_id"] == "i-stopped", "kind"]) == {
        "stopped_instance_billed"
    }


def test_gpu_stopped_is_idle_with_high_confidence(findings: pd.DataFrame) -> None:
    row = _finding(findings, "gpu_instance_idle", "i-gpu-stopped")
    assert row["estimated_monthly_saving"] == Decimal("171.50")
    assert row["confidence"] == "high"


def test_gpu_running_non_production_is_idle_low(findings: pd.DataFrame) -> None:
    row = _finding(findings, "gpu_instance_idle", "i-gpu-dev")
    # Tag env:dev marks it non-production; the saving is its monthly price, 90.00.
    assert row["estimated_monthly_saving"] == Decimal("90.00")
    assert row["confidence"] == "low"


def test_old_snapshot_saving_from_compressed_size(findings: pd.DataFrame) -> None:
    row = _finding(findings, "old_snapshot", "s-old")
    # 27380416512 bytes / 1024³ = 25.5 GiB; 25.5 × 0.05 = 1.275, half up to 1.28.
    assert row["estimated_monthly_saving"] == Decimal("1.28")
    # From 2026-09-01 00:00 to 2026-11-18 12:00 is 78 whole days.
    assert "78 days old" in row["evidence"]
    assert row["resource_type"] == "snapshot"


def test_snapshot_age_threshold_is_configurable() -> None:
    findings = build_recommendations(_inventory(), AS_OF, snapshot_max_age_days=10)
    snapshots = set(findings.loc[findings["kind"] == "old_snapshot", "resource_id"])
    # s-new is 17 days old and s-30-days 30 days, both above 10; at the default of 30
    # neither is reported, because a snapshot must be older than the limit.
    assert snapshots == {"s-old", "s-new", "s-30-days"}


def test_unattached_block_saves_its_cost(findings: pd.DataFrame) -> None:
    row = _finding(findings, "unattached_block", "b-free")
    # 100 GB × 0.025 USD = 2.50 USD a month, the block's `cost`.
    assert row["estimated_monthly_saving"] == Decimal("2.50")
    assert row["region"] == "ams"


def test_reserved_ip_saving_from_full_month(findings: pd.DataFrame) -> None:
    row = _finding(findings, "unattached_reserved_ip", "r-billed")
    # The latest invoice line with at least 672 hours is October's: 3.00 (September's 2.90
    # is older).
    assert row["estimated_monthly_saving"] == Decimal("3.00")
    assert row["confidence"] == "medium"
    assert "2026-10" in row["evidence"]


def test_reserved_ip_saving_from_hourly_price(findings: pd.DataFrame) -> None:
    row = _finding(findings, "unattached_reserved_ip", "r-new")
    # No full month yet: 0.0045 USD an hour × 672 hours = 3.024, half up to 3.02.
    assert row["estimated_monthly_saving"] == Decimal("3.02")


def test_idle_load_balancer_saving(findings: pd.DataFrame) -> None:
    row = _finding(findings, "idle_load_balancer", "lb-idle")
    # October billed 744 hours, capped at the monthly price of 10.00.
    assert row["estimated_monthly_saving"] == Decimal("10.00")
    assert row["confidence"] == "high"


def test_unbilled_load_balancer_has_zero_saving(findings: pd.DataFrame) -> None:
    row = _finding(findings, "idle_load_balancer", "lb-unbilled")
    assert row["estimated_monthly_saving"] == Decimal("0.00")
    assert row["confidence"] == "low"


def test_backups_on_staging_save_a_fifth(findings: pd.DataFrame) -> None:
    row = _finding(findings, "backups_on_non_production", "i-staging")
    # vhf-2c-4gb in sao: 24 × 1.19 = 28.56; 20 % of it is 5.712, half up to 5.71.
    assert row["estimated_monthly_saving"] == Decimal("5.71")
    assert row["confidence"] == "medium"


def test_production_backups_are_not_reported(findings: pd.DataFrame) -> None:
    assert "i-prod" not in set(findings["resource_id"])


def test_cheaper_equivalent_plan_in_region(findings: pd.DataFrame) -> None:
    row = _finding(findings, "cheaper_equivalent_plan", "i-staging")
    # In sao vhf-2c-4gb costs 28.56 and vc2-2c-4gb 23.80 (location_cost); vdc-2c-4gb is
    # cheaper but not sold in sao. Saving 28.56 - 23.80 = 4.76.
    assert row["estimated_monthly_saving"] == Decimal("4.76")
    assert "vc2-2c-4gb" in row["evidence"]


def test_recommendations_repeat_identically() -> None:
    first = build_recommendations(_inventory(), AS_OF)
    second = build_recommendations(_inventory(), AS_OF)
    pd.testing.assert_frame_equal(first, second)
    assert first["recommendation_id"].is_unique


def test_recommendation_ids_survive_next_day() -> None:
    today = build_recommendations(_inventory(), AS_OF)
    next_day = build_recommendations(_inventory(), AS_OF + dt.timedelta(days=1))
    today_ids = dict(zip(today["recommendation_id"], today["resource_id"], strict=True))
    next_ids = dict(zip(next_day["recommendation_id"], next_day["resource_id"], strict=True))
    # Every finding keeps its id; s-30-days turns 31 days old and is the one new finding.
    assert today_ids.items() <= next_ids.items()
    assert set(next_ids.values()) - set(today_ids.values()) == {"s-30-days"}


def test_recommendation_id_hashes_account_kind_resource() -> None:
    expected = hashlib.sha256(b"main\x1fold_snapshot\x1fs-old").hexdigest()[:24]
    assert recommendation_id("main", "old_snapshot", "s-old") == expected
    assert recommendation_id("other", "old_snapshot", "s-old") != expected


@pytest.mark.parametrize(
    ("label", "tags", "expected"),
    [
        pytest.param("api-staging-03", [], True, id="label-word"),
        pytest.param("web-01", ["env:dev"], True, id="tag-value"),
        pytest.param("web-01", ["Test"], True, id="case-insensitive"),
        pytest.param("contest-01", [], False, id="word-inside-word"),
        pytest.param("web-prod-04", ["env:prod"], False, id="production"),
        pytest.param(None, [], False, id="no-label"),
    ],
)
def test_non_production_detection(label: str | None, tags: list[str], expected: bool) -> None:
    keywords = frozenset({"dev", "test", "staging"})
    assert is_non_production(label, tags, keywords) is expected


def test_custom_keywords_replace_defaults() -> None:
    findings = build_recommendations(_inventory(), AS_OF, non_production_keywords=["qa"])
    kinds = set(findings["kind"])
    assert "backups_on_non_production" not in kinds
    assert ("gpu_instance_idle", "i-gpu-dev") not in set(
        zip(findings["kind"], findings["resource_id"], strict=True)
    )


def test_negative_snapshot_age_is_rejected() -> None:
    with pytest.raises(ValueError, match="snapshot_max_age_days -1"):
        build_recommendations(_inventory(), AS_OF, snapshot_max_age_days=-1)
