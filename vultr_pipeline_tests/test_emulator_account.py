"""Consistency of the emulator's sample account, read over real HTTP with exact Decimals."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import requests

from vultr_pipeline.emulator import EmulatorServer, SampleAccountConfig, generate_account
from vultr_pipeline_tests.conftest import EMULATOR_API_KEY

AUTH = {"Authorization": f"Bearer {EMULATOR_API_KEY}"}
CENT = Decimal("0.01")


def get_json(server: EmulatorServer, path: str, **params: Any) -> Any:
    response = requests.get(server.url + path, headers=AUTH, params=params, timeout=10)
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=Decimal)


def get_all(server: EmulatorServer, path: str, key: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = ""
    while True:
        params: dict[str, Any] = {"per_page": 500}
        if cursor:
            params["cursor"] = cursor
        body = get_json(server, path, **params)
        rows.extend(body[key])
        cursor = body["meta"]["links"]["next"]
        if cursor == "":
            return rows


def test_invoice_items_add_up_to_amount(emulator: EmulatorServer) -> None:
    invoices = get_all(emulator, "/billing/invoices", "billing_invoices")
    assert len(invoices) == 6
    for invoice in invoices:
        items = get_all(emulator, f"/billing/invoices/{invoice['id']}/items", "invoice_items")
        assert items, invoice
        assert sum(item["total"] for item in items) == invoice["amount"]


def test_invoice_item_totals_follow_units_and_price(emulator: EmulatorServer) -> None:
    invoice_id = emulator.account.invoices[0]["id"]
    items = get_all(emulator, f"/billing/invoices/{invoice_id}/items", "invoice_items")
    for item in items:
        rounded = (item["units"] * item["unit_price"]).quantize(CENT, rounding=ROUND_HALF_UP)
        if item["unit_type"] == "discount":
            assert item["total"] == rounded < 0
        else:
            # A total below units x price is the monthly cap of a 672-hour month.
            assert 0 <= item["total"] <= rounded, item


def test_invoice_dates_and_descriptions(emulator: EmulatorServer) -> None:
    for invoice in get_all(emulator, "/billing/invoices", "billing_invoices"):
        issued = dt.datetime.fromisoformat(invoice["date"])
        assert issued.day == 1
        assert issued.tzinfo is not None
        assert invoice["description"] == f"Invoice #{invoice['id']}"


def test_history_balance_adds_up(emulator: EmulatorServer) -> None:
    rows = get_all(emulator, "/billing/history", "billing_history")
    rows.sort(key=lambda row: (row["date"], row["id"]))
    balance = Decimal(0)
    for row in rows:
        # Credits arrive as positive amounts that lower the balance; payments are negative.
        change = -row["amount"] if row["type"] == "credit" else row["amount"]
        balance += change
        assert row["balance"] == balance, row
    assert {row["type"] for row in rows} == {"invoice", "payment", "credit"}


def test_invoices_match_history_rows(emulator: EmulatorServer) -> None:
    history = {row["id"]: row for row in get_all(emulator, "/billing/history", "billing_history")}
    for invoice in get_all(emulator, "/billing/invoices", "billing_invoices"):
        row = history[invoice["id"]]
        assert row["type"] == "invoice"
        assert row["description"] == invoice["description"]
        assert row["amount"] == invoice["amount"]
        assert row["balance"] == invoice["balance"]


def test_account_matches_history(emulator: EmulatorServer) -> None:
    account = get_json(emulator, "/account")["account"]
    rows = get_all(emulator, "/billing/history", "billing_history")
    rows.sort(key=lambda row: (row["date"], row["id"]))
    payments = [row for row in rows if row["type"] == "payment"]
    assert account["balance"] == rows[-1]["balance"]
    assert account["last_payment_date"] == payments[-1]["date"]
    assert account["last_payment_amount"] == payments[-1]["amount"] < 0


def test_pending_charges_add_up(emulator: EmulatorServer) -> None:
    body = get_json(emulator, "/billing/pending-charges")
    account = get_json(emulator, "/account")["account"]
    assert "meta" not in body
    assert body["pending_charges"]
    assert sum(item["total"] for item in body["pending_charges"]) == account["pending_charges"]


def test_instances_use_existing_plans_and_regions(emulator: EmulatorServer) -> None:
    plans = {plan["id"]: plan for plan in get_all(emulator, "/plans", "plans")}
    regions = {region["id"] for region in get_all(emulator, "/regions", "regions")}
    instances = get_all(emulator, "/instances", "instances")
    assert len(instances) == 15
    for instance in instances:
        plan = plans[instance["plan"]]
        assert instance["region"] in regions
        assert instance["region"] in plan["locations"]
        assert instance["ram"] == plan["ram"]
    gpu = [item for item in instances if plans[item["plan"]]["type"] == "vcg"]
    assert len(gpu) == 3
    assert any(item["power_status"] == "stopped" for item in instances)
    assert any("auto_backups" in item["features"] for item in instances)
    assert sum("default_password" in item for item in instances) == 1


def test_bare_metal_quirks(emulator: EmulatorServer) -> None:
    metal_plans = {plan["id"] for plan in get_all(emulator, "/plans-metal", "plans_metal")}
    servers = get_all(emulator, "/bare-metals", "bare_metals")
    assert len(servers) == 2
    for server in servers:
        assert server["plan"] in metal_plans
        assert re.fullmatch(r"\d+ MB", server["ram"])
        assert isinstance(server["disk"], str)
        assert isinstance(server["mac_address"], int)


def test_catalogue_has_gpu_and_regional_prices(emulator: EmulatorServer) -> None:
    plans = get_all(emulator, "/plans", "plans")
    gpu = [plan for plan in plans if plan["type"] == "vcg"]
    assert {plan["gpu_type"] for plan in gpu} >= {"NVIDIA_A100", "NVIDIA_L40S", "NVIDIA_A16"}
    per_card = {"NVIDIA_A100": 80, "NVIDIA_L40S": 48, "NVIDIA_A16": 16}
    assert any(plan["gpu_vram_gb"] < per_card[plan["gpu_type"]] for plan in gpu)
    overrides = [cost for plan in plans for cost in plan["location_cost"].values()]
    assert any(cost["monthly_cost"] != cost["monthly_cost"].to_integral() for cost in overrides)
    assert {plan["type"] for plan in plans} >= {"vc2", "vhf", "voc-g", "vcg"}


def test_catalogue_has_cheaper_equal_plan(emulator: EmulatorServer) -> None:
    plans = get_all(emulator, "/plans", "plans")
    pairs = [
        (first, second)
        for first in plans
        for second in plans
        if first["id"] != second["id"]
        and (first["vcpu_count"], first["ram"], first.get("gpu_vram_gb"))
        == (second["vcpu_count"], second["ram"], second.get("gpu_vram_gb"))
        and set(first["locations"]) & set(second["locations"])
        and first["monthly_cost"] < second["monthly_cost"]
    ]
    assert pairs


def test_inventory_quirks(emulator: EmulatorServer) -> None:
    blocks = get_all(emulator, "/blocks", "blocks")
    assert any(block["attached_to_instance"] == "" for block in blocks)
    balancers = get_all(emulator, "/load-balancers", "load_balancers")
    assert any(balancer["instances"] == [] for balancer in balancers)
    assert all("forwarding_rules" in balancer for balancer in balancers)
    reserved = get_all(emulator, "/reserved-ips", "reserved_ips")
    assert any(address["instance_id"] == "" for address in reserved)
    storages = get_all(emulator, "/object-storage", "object_storages")
    assert all(storage["s3_secret_key"] and storage["tier"]["price"] > 0 for storage in storages)
    clusters = get_all(emulator, "/kubernetes/clusters", "vke_clusters")
    assert clusters[0]["node_pools"][0]["nodes"]
    snapshots = get_all(emulator, "/snapshots", "snapshots")
    assert any(item["date_created"] < "2025-11-18" for item in snapshots)


def test_databases_use_uppercase_regions(emulator: EmulatorServer) -> None:
    body = get_json(emulator, "/databases")
    assert body["meta"] == {"total": 2}
    for database in body["databases"]:
        assert database["region"].isupper()
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", database["date_created"])
        assert database["password"]


def test_bandwidth_uses_epoch_strings(emulator: EmulatorServer) -> None:
    body = get_json(emulator, "/account/bandwidth")
    assert "meta" not in body
    periods = body["bandwidth"]
    for name in ("previous_month", "current_month_to_date", "current_month_projected"):
        assert periods[name]["timestamp_start"].isdigit()
        assert periods[name]["timestamp_end"].isdigit()
    start = dt.datetime.fromtimestamp(int(periods["previous_month"]["timestamp_start"]), dt.UTC)
    assert start == dt.datetime(2026, 10, 1, tzinfo=dt.UTC)


def test_invoice_descriptions_name_resources(emulator: EmulatorServer) -> None:
    items = [item for items in emulator.account.invoice_items.values() for item in items]
    products = {item["product"] for item in items}
    assert products >= {
        "Vultr Cloud Compute", "Cloud GPU", "Bare Metal", "Load Balancer", "Block Storage",
        "Snapshots", "Automatic Backups", "Reserved IP", "Object Storage", "Kubernetes",
        "Managed Databases",
    }  # fmt: skip
    assert any(item["unit_type"] == "discount" and item["total"] < 0 for item in items)
    instance = emulator.account.instances[0]
    description = f"{instance['main_ip']} ({instance['ram']} MB) [{instance['label']}]"
    assert any(item["description"] == description for item in items)
    label = emulator.account.load_balancers[0]["label"]
    assert any(item["description"] == f"Load Balancer ({label})" for item in items)


def test_money_text_has_exact_digits(emulator: EmulatorServer) -> None:
    invoice_id = emulator.account.invoices[0]["id"]
    for path in ("/billing/pending-charges", f"/billing/invoices/{invoice_id}/items", "/plans"):
        response = requests.get(emulator.url + path, headers=AUTH, timeout=10)
        # Float artefacts such as 22.090000000000003 would show as long fractions.
        assert not re.search(r"\d\.\d{5,}", response.text), path
    items = get_json(emulator, f"/billing/invoices/{invoice_id}/items", per_page=500)
    for served, stored in zip(
        items["invoice_items"], emulator.account.invoice_items[invoice_id], strict=True
    ):
        assert served["total"] == stored["total"]
        assert Decimal(served["total"]).as_tuple().exponent >= -2
        assert served["unit_price"] == stored["unit_price"]


def test_cursor_is_base64_of_next_id(emulator: EmulatorServer) -> None:
    body = get_json(emulator, "/instances", per_page=5)
    decoded = base64.b64decode(body["meta"]["links"]["next"]).decode()
    assert decoded == f"next__{body['instances'][-1]['id']}"


def test_generation_is_deterministic(small_account_config: SampleAccountConfig) -> None:
    first = generate_account(small_account_config).to_json()
    second = generate_account(small_account_config).to_json()
    other_seed = SampleAccountConfig(seed=8, today=small_account_config.today)
    assert first == second
    assert generate_account(other_seed).to_json() != first


def test_large_account_generates() -> None:
    config = SampleAccountConfig(instances=10_000, invoice_months=24, today=dt.date(2026, 11, 18))
    account = generate_account(config)
    assert len(account.instances) == 10_000 + config.gpu_instances
    assert len(account.invoices) == 24
    for invoice in account.invoices:
        items = account.invoice_items[invoice["id"]]
        assert sum(item["total"] for item in items) == invoice["amount"]


def test_default_today_is_current_utc_date() -> None:
    assert SampleAccountConfig().resolved_today() == dt.datetime.now(dt.UTC).date()
