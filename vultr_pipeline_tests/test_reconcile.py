"""Tests of the reconciliation functions and of the Dagster asset checks that wrap them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import dagster as dg
import pandas as pd
import pytest

from vultr_pipeline.clickhouse.io_manager import ClickHouseIOManager
from vultr_pipeline.costs import reconcile
from vultr_pipeline.costs.line_items import invoice_billing_month
from vultr_pipeline.defs.checks import build_raw_checks
from vultr_pipeline.defs.partitions import build_partitions, monthly_key
from vultr_pipeline.defs.raw_assets import build_raw_assets
from vultr_pipeline.defs.resources import VultrResource
from vultr_pipeline.emulator import EmulatorServer, generate_account
from vultr_pipeline.vultr.parsing import parse_datetime
from vultr_pipeline_tests.conftest import EMULATOR_API_KEY


def _when(day: int, hour: int = 0) -> pd.Timestamp:
    return pd.Timestamp(dt.datetime(2026, 10, day, hour, tzinfo=dt.UTC))


def test_invoice_totals_match():
    invoices = pd.DataFrame([{"account_id": "main", "id": 123456, "amount": Decimal("10.25")}])
    items = pd.DataFrame(
        [
            {"account_id": "main", "invoice_id": 123456, "total": Decimal("7.20")},
            {"account_id": "main", "invoice_id": 123456, "total": Decimal("3.05")},
        ]
    )

    assert reconcile.check_invoice_totals(invoices, items) == []


def test_invoice_totals_off_by_cent():
    invoices = pd.DataFrame([{"account_id": "main", "id": 123456, "amount": Decimal("10.25")}])
    # 7.20 + 3.04 = 10.24, one cent short of 10.25.
    items = pd.DataFrame(
        [
            {"account_id": "main", "invoice_id": 123456, "total": Decimal("7.20")},
            {"account_id": "main", "invoice_id": 123456, "total": Decimal("3.04")},
        ]
    )

    [finding] = reconcile.check_invoice_totals(invoices, items)

    assert finding.id == "invoice 123456"
    assert finding.expected == Decimal("10.25")
    assert finding.actual == Decimal("10.24")
    assert finding.difference == Decimal("-0.01")
    assert finding.message == (
        "invoice 123456: items add up to 10.24, invoice amount 10.25, difference -0.01"
    )


def test_invoice_totals_missing_sides():
    invoices = pd.DataFrame([{"account_id": "main", "id": 1, "amount": Decimal("5.00")}])
    items = pd.DataFrame([{"account_id": "main", "invoice_id": 2, "total": Decimal("1.50")}])

    findings = reconcile.check_invoice_totals(invoices, items)

    assert [finding.id for finding in findings] == ["invoice 1", "invoice 2"]
    # Invoice 1 has no items: 0.00 against 5.00.
    assert findings[0].difference == Decimal("-5.00")
    assert "no such invoice" in findings[1].message


def test_pending_total_matches_account():
    pending = pd.DataFrame(
        [
            {"account_id": "main", "total": Decimal("40.10")},
            {"account_id": "main", "total": Decimal("20.15")},
        ]
    )
    account = pd.DataFrame([{"account_id": "main", "pending_charges": Decimal("60.25")}])

    assert reconcile.check_pending_total(pending, account) == []


def test_pending_total_mismatch():
    pending = pd.DataFrame([{"account_id": "main", "total": Decimal("60.20")}])
    account = pd.DataFrame([{"account_id": "main", "pending_charges": Decimal("60.25")}])

    [finding] = reconcile.check_pending_total(pending, account)

    # 60.20 − 60.25 = −0.05.
    assert finding.difference == Decimal("-0.05")
    assert finding.message == (
        "account main: pending items add up to 60.20, account pending_charges 60.25, "
        "difference -0.05"
    )


def _history(rows: list[tuple[int, int, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "account_id": "main",
                "id": row_id,
                "date": _when(day),
                "type": kind,
                "amount": Decimal(amount),
                "balance": Decimal(balance),
            }
            for row_id, day, kind, amount, balance in rows
        ]
    )


def test_balance_continuity_documented_signs():
    # Listed newest first, as Vultr does; the check sorts by date and id.
    history = _history(
        [
            (5, 9, "payment", "-50.00", "-29.97"),
            (4, 8, "invoice", "100.03", "20.03"),
            (3, 5, "credit", "50.55", "-80.00"),
            (2, 5, "invoice", "0.00", "-29.45"),
            (1, 1, "credit", "29.45", "-29.45"),
        ]
    )
    # -29.45 + 0.00 = -29.45; -29.45 - 50.55 = -80.00; -80.00 + 100.03 = 20.03;
    # 20.03 - 50.00 = -29.97.

    assert reconcile.check_balance_continuity(history) == []


def test_balance_continuity_break():
    history = _history(
        [
            (1, 1, "invoice", "10.00", "10.00"),
            (2, 2, "invoice", "5.25", "15.26"),
        ]
    )

    [finding] = reconcile.check_balance_continuity(history)

    # 10.00 + 5.25 = 15.25, but the row shows 15.26.
    assert finding.id == "billing history 2"
    assert finding.expected == Decimal("15.25")
    assert finding.actual == Decimal("15.26")
    assert finding.difference == Decimal("0.01")
    assert "expected 10.00 + 5.25" in finding.message


def test_balance_continuity_unknown_type_either_sign():
    history = _history(
        [
            (1, 1, "invoice", "10.00", "10.00"),
            (2, 2, "refund", "4.00", "6.00"),
            (3, 3, "refund", "4.00", "9.00"),
        ]
    )

    [finding] = reconcile.check_balance_continuity(history)

    # Row 2 moved by 4.00 and passes; row 3 moved by 3.00, not 4.00.
    assert finding.id == "billing history 3"


@pytest.mark.parametrize(
    ("kind", "amount", "expected"),
    [
        pytest.param("invoice", "10.00", "10.00", id="invoice"),
        pytest.param("credit", "50.55", "-50.55", id="credit-positive"),
        pytest.param("payment", "-50.00", "-50.00", id="payment-negative"),
        pytest.param("payment", "50.00", "-50.00", id="payment-positive"),
        pytest.param("Charge", "1.00", "1.00", id="charge-case"),
    ],
)
def test_signed_amount_rule(kind, amount, expected):
    assert reconcile.signed_amount(kind, Decimal(amount)) == Decimal(expected)


def test_signed_amount_unknown_type():
    assert reconcile.signed_amount("adjustment", Decimal("1")) is None


def test_unique_keys_duplicate():
    frame = pd.DataFrame(
        [
            {"account_id": "main", "invoice_id": 1, "line_number": 1},
            {"account_id": "main", "invoice_id": 1, "line_number": 1},
            {"account_id": "main", "invoice_id": 1, "line_number": 2},
        ]
    )

    [finding] = reconcile.check_unique_keys(
        frame, ["account_id", "invoice_id", "line_number"], "vultr_raw.invoice_items"
    )

    assert finding.actual == 2
    assert finding.message == (
        "vultr_raw.invoice_items: key (account_id=main, invoice_id=1, line_number=1) occurs in "
        "2 rows, expected 1"
    )


def test_unique_keys_clean_and_empty():
    frame = pd.DataFrame([{"id": "a"}, {"id": "b"}])

    assert reconcile.check_unique_keys(frame, ["id"], "t") == []
    assert reconcile.check_unique_keys(frame.iloc[0:0], ["id"], "t") == []


def test_service_categories_checked():
    lines = pd.DataFrame(
        [
            {"line_id": "invoice:1:1", "service_category": "compute"},
            {"line_id": "invoice:1:2", "service_category": None},
            {"line_id": "invoice:1:3", "service_category": "spaceships"},
            {"line_id": "invoice:1:4", "service_category": ""},
        ]
    )

    findings = reconcile.check_service_categories(lines)

    assert [finding.id for finding in findings] == [
        "line invoice:1:2",
        "line invoice:1:3",
        "line invoice:1:4",
    ]
    assert "unknown service category 'spaceships'" in findings[1].message


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("VULTR_ACCOUNTS_FILE", raising=False)
    monkeypatch.setenv("VULTR_API_KEY", EMULATOR_API_KEY)
    return EMULATOR_API_KEY


def test_off_by_cent_blocks_downstream(small_account_config, api_key, tmp_path):
    account = generate_account(small_account_config)
    invoice = account.invoices[0]
    items = account.invoice_items[invoice["id"]]
    items[0]["total"] -= Decimal("0.01")
    items_total = reconcile.to_cents(sum((item["total"] for item in items), Decimal(0)))
    amount = reconcile.to_cents(invoice["amount"])

    partitions = build_partitions()
    month = invoice_billing_month(parse_datetime(invoice["date"]))

    @dg.asset(
        key=["test_costs", "downstream"],
        ins={"items": dg.AssetIn(["vultr_raw", "invoice_items"])},
        partitions_def=partitions.monthly,
    )
    def downstream(items: pd.DataFrame) -> None:
        return None

    raw_assets = build_raw_assets(partitions)
    monthly = [asset for asset in raw_assets if asset.partitions_def == partitions.monthly]
    keys = {key for asset in monthly for key in asset.keys}
    checks = [
        check
        for check in build_raw_checks(partitions)
        if {key.asset_key for key in check.check_keys} <= keys
    ]
    with EmulatorServer(account, api_key=EMULATOR_API_KEY) as emulator:
        result = dg.materialize(
            [*monthly, *checks, downstream],
            partition_key=str(monthly_key("default", month)),
            resources={
                "vultr": VultrResource(api_url=emulator.url),
                "clickhouse": ClickHouseIOManager(path=str(tmp_path / "clickhouse")),
            },
            raise_on_error=False,
        )

    assert not result.success
    evaluations = {
        evaluation.asset_check_key.name: evaluation
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.asset_key == dg.AssetKey(["vultr_raw", "invoice_items"])
    }
    failed = evaluations["invoice_items_match_invoices"]
    assert not failed.passed
    assert failed.description == (
        f"invoice {invoice['id']}: items add up to {items_total}, invoice amount {amount}, "
        "difference -0.01"
    )
    assert evaluations["unique_keys"].passed
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert dg.AssetKey(["vultr_raw", "invoice_items"]) in materialized
    assert dg.AssetKey(["test_costs", "downstream"]) not in materialized
    started = {event.step_key for event in result.all_events if event.is_step_start}
    assert "test_costs__downstream" not in started
    others = [
        evaluation
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.asset_check_key.name != "invoice_items_match_invoices"
    ]
    assert all(evaluation.passed for evaluation in others)
