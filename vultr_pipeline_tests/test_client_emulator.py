"""The client and record specs against the local Vultr API emulator over real HTTP."""

from __future__ import annotations

import datetime as dt
import math
import time
from decimal import Decimal

import pytest

from vultr_pipeline.emulator import EmulatorServer, SampleAccountConfig
from vultr_pipeline.vultr import (
    ENDPOINTS,
    RECORD_SPECS,
    RateLimiter,
    VultrAPI,
    VultrAuthError,
    VultrClient,
    VultrResponseError,
    bandwidth_period_records,
    number_lines,
    parse_record,
)

API_KEY = "test-key-planted-0001"

# Attribute of the emulator's SampleAccount that contains each list endpoint's records.
ACCOUNT_LISTS = {
    "billing_history": "billing_history",
    "invoices": "invoices",
    "pending_charges": "pending_charges",
    "instances": "instances",
    "bare_metals": "bare_metals",
    "plans": "plans",
    "metal_plans": "plans_metal",
    "regions": "regions",
    "snapshots": "snapshots",
    "backups": "backups",
    "blocks": "blocks",
    "load_balancers": "load_balancers",
    "kubernetes_clusters": "vke_clusters",
    "object_storage": "object_storages",
    "reserved_ips": "reserved_ips",
    "databases": "databases",
}
SECRET_VALUE_KEYS = ("default_password", "password", "s3_access_key", "s3_secret_key")


def make_client(server: EmulatorServer, api_key: str | None = API_KEY, **options) -> VultrClient:
    settings = {"rate_limiter": RateLimiter(1000.0, burst=50), "backoff": 0.01, "max_wait": 2.0}
    settings.update(options)
    return VultrClient(api_key, server.url, **settings)


def logged_requests(server: EmulatorServer, path: str, expected: int) -> list:
    """Return the logged requests for a path, waiting briefly for the expected count.

    The emulator logs a request after sending its response, so the last entry can lag behind
    the client by a moment.
    """
    deadline = time.monotonic() + 5.0
    records = server.requests.records(path)
    while len(records) < expected and time.monotonic() < deadline:
        time.sleep(0.01)
        records = server.requests.records(path)
    return records


def secret_values(records: list[dict]) -> list[str]:
    found = []
    for record in records:
        for key in SECRET_VALUE_KEYS:
            if isinstance(record.get(key), str) and record[key]:
                found.append(record[key])
    return found


@pytest.mark.parametrize("name", sorted(ACCOUNT_LISTS))
def test_list_endpoint_parses_every_record(emulator: EmulatorServer, name: str) -> None:
    with make_client(emulator, per_page=5) as client:
        records = VultrAPI(client).list_endpoint(name)
    expected = getattr(emulator.account, ACCOUNT_LISTS[name])
    if name == "pending_charges":
        records = number_lines(records)
    rows = [parse_record(RECORD_SPECS[name], record) for record in records]
    assert len(rows) == len(expected)
    for secret in secret_values(expected):
        assert all(secret not in row["raw"] for row in rows), name
    if ENDPOINTS[name].paginated and len(expected) > 5:
        pages = math.ceil(len(expected) / 5)
        requests = logged_requests(emulator, ENDPOINTS[name].path, pages)
        assert len(requests) == pages
        assert {request.query.get("per_page") for request in requests} == {"5"}


def test_invoice_items_add_up_to_invoices(emulator: EmulatorServer) -> None:
    with make_client(emulator) as client:
        api = VultrAPI(client)
        invoices = [
            parse_record(RECORD_SPECS["invoices"], r) for r in api.list_endpoint("invoices")
        ]
        assert invoices
        for invoice in invoices:
            items = number_lines(api.invoice_items(invoice["id"]), invoice_id=invoice["id"])
            rows = [parse_record(RECORD_SPECS["invoice_items"], item) for item in items]
            assert sum((row["total"] for row in rows), Decimal(0)) == invoice["amount"]
            assert [row["line_number"] for row in rows] == list(range(1, len(rows) + 1))


def test_account_and_bandwidth_parse(emulator: EmulatorServer) -> None:
    with make_client(emulator) as client:
        api = VultrAPI(client)
        account = parse_record(RECORD_SPECS["account"], api.account())
        pending = [
            parse_record(RECORD_SPECS["pending_charges"], item)
            for item in number_lines(api.pending_charges())
        ]
        periods = bandwidth_period_records(api.account_bandwidth())
    rows = [parse_record(RECORD_SPECS["account_bandwidth"], period) for period in periods]
    assert sum((row["total"] for row in pending), Decimal(0)) == account["pending_charges"]
    assert [row["period"] for row in rows] == [
        "previous_month",
        "current_month_to_date",
        "current_month_projected",
    ]
    assert all(row["timestamp_start"].tzinfo is dt.UTC for row in rows)


def test_pages_beyond_two_at_500() -> None:
    config = SampleAccountConfig(
        seed=3, instances=1201, invoice_months=1, today=dt.date(2026, 11, 18)
    )
    with EmulatorServer(config, api_key=API_KEY) as server, make_client(server) as client:
        rows = VultrAPI(client).list_endpoint("instances")
        requests = logged_requests(server, "/instances", math.ceil(len(rows) / 500))
    assert len(rows) == len(server.account.instances)
    assert len({row["id"] for row in rows}) == len(rows)
    assert len(requests) == math.ceil(len(rows) / 500)
    assert len(requests) >= 3
    assert {request.query.get("per_page") for request in requests} == {"500"}


def test_status_faults_are_retried(emulator: EmulatorServer) -> None:
    emulator.faults.add("/instances", "status", status=503, times=2)
    emulator.faults.add("/regions", "status", status=429, retry_after=1)
    with make_client(emulator) as client:
        instances = client.list("/instances", "instances")
        regions = client.list("/regions", "regions")
    assert len(instances) == len(emulator.account.instances)
    assert len(regions) == len(emulator.account.regions)
    assert len(logged_requests(emulator, "/instances", 3)) == 3
    assert len(logged_requests(emulator, "/regions", 2)) == 2


@pytest.mark.parametrize("kind", ["drop", "truncate", "html"])
def test_transient_body_faults_are_retried(emulator: EmulatorServer, kind: str) -> None:
    emulator.faults.add("/billing/history", kind)
    with make_client(emulator) as client:
        rows = client.list("/billing/history", "billing_history")
    assert len(rows) == len(emulator.account.billing_history)


def test_persistent_html_raises(emulator: EmulatorServer) -> None:
    emulator.faults.add("/snapshots", "html", times=10)
    with make_client(emulator, max_attempts=2) as client:
        with pytest.raises(VultrResponseError, match=r"GET /snapshots \(page 1\)"):
            client.list("/snapshots", "snapshots")


def test_repeated_cursor_fault_raises(emulator: EmulatorServer) -> None:
    emulator.faults.add("/instances", "repeat_cursor", times=10)
    with make_client(emulator, per_page=2) as client:
        # The fault points page 1 back at the start under a fresh cursor, and page 2 at itself.
        with pytest.raises(VultrResponseError, match="repeated cursor|repeats page"):
            client.list("/instances", "instances")
    assert emulator.requests.count("/instances") <= 3


def test_wrong_key_raises_auth_error(emulator: EmulatorServer) -> None:
    with make_client(emulator, api_key="wrong-key") as client:
        with pytest.raises(VultrAuthError, match="VULTR_API_KEY"):
            client.get("/account")
        assert client.list("/plans", "plans")
