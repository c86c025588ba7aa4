"""HTTP behaviour of the emulator: pagination, auth, errors, rate limit and planned faults."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Iterator

import pytest
import requests

from vultr_pipeline.emulator import EmulatorServer, SampleAccountConfig
from vultr_pipeline_tests.conftest import EMULATOR_API_KEY, EMULATOR_TODAY

AUTH = {"Authorization": f"Bearer {EMULATOR_API_KEY}"}


def get(server: EmulatorServer, path: str, **params: object) -> requests.Response:
    return requests.get(server.url + path, headers=AUTH, params=params, timeout=10)


@pytest.fixture
def large_emulator() -> Iterator[EmulatorServer]:
    config = SampleAccountConfig(seed=3, instances=1_200, gpu_instances=0, today=EMULATOR_TODAY)
    with EmulatorServer(config, api_key=EMULATOR_API_KEY) as server:
        yield server


def test_pagination_walks_large_list(large_emulator: EmulatorServer) -> None:
    pages = []
    cursor = ""
    while True:
        params = {"per_page": 500, "cursor": cursor} if cursor else {"per_page": 500}
        body = get(large_emulator, "/instances", **params).json()
        pages.append(body["instances"])
        assert body["meta"]["total"] == 1_200
        cursor = body["meta"]["links"]["next"]
        if cursor == "":
            break
    assert [len(page) for page in pages] == [500, 500, 200]
    ids = [item["id"] for page in pages for item in page]
    assert ids == [item["id"] for item in large_emulator.account.instances]
    records = large_emulator.requests.records("/instances")
    assert len(records) == 3
    assert all(record.query["per_page"] == "500" for record in records)


def test_prev_cursor_returns_previous_page(large_emulator: EmulatorServer) -> None:
    first = get(large_emulator, "/instances", per_page=50).json()
    second = get(large_emulator, "/instances", per_page=50, cursor=first["meta"]["links"]["next"])
    back = get(
        large_emulator, "/instances", per_page=50, cursor=second.json()["meta"]["links"]["prev"]
    )
    assert first["meta"]["links"]["prev"] == ""
    assert back.json()["instances"] == first["instances"]


def test_per_page_defaults_and_clamps(large_emulator: EmulatorServer) -> None:
    assert len(get(large_emulator, "/instances").json()["instances"]) == 100
    assert len(get(large_emulator, "/instances", per_page=1000).json()["instances"]) == 500


@pytest.mark.parametrize("value", ["abc", "1.5", "0", "-3"])
def test_invalid_per_page_is_400(emulator: EmulatorServer, value: str) -> None:
    response = get(emulator, "/instances", per_page=value)
    assert response.status_code == 400
    assert response.json()["status"] == 400
    assert "per_page" in response.json()["error"]


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64!",
        base64.b64encode(b"next__no-such-id").decode(),
        base64.b64encode(b"sideways__x").decode(),
    ],
)
def test_invalid_cursor_is_400(emulator: EmulatorServer, cursor: str) -> None:
    response = get(emulator, "/instances", cursor=cursor)
    assert response.status_code == 400
    assert response.json()["status"] == 400
    assert "cursor" in response.json()["error"]


def test_invoice_items_paginate_by_position(emulator: EmulatorServer) -> None:
    invoice_id = emulator.account.invoices[0]["id"]
    path = f"/billing/invoices/{invoice_id}/items"
    rows = []
    cursor = ""
    while True:
        params = {"per_page": 7, "cursor": cursor} if cursor else {"per_page": 7}
        body = get(emulator, path, **params).json()
        rows.extend(body["invoice_items"])
        cursor = body["meta"]["links"]["next"]
        if not cursor:
            break
    assert len(rows) == len(emulator.account.invoice_items[invoice_id])


def test_envelopes_without_paging(emulator: EmulatorServer) -> None:
    assert set(get(emulator, "/account").json()) == {"account"}
    assert set(get(emulator, "/account/bandwidth").json()) == {"bandwidth"}
    assert set(get(emulator, "/billing/pending-charges").json()) == {"pending_charges"}
    assert get(emulator, "/databases").json()["meta"] == {"total": 2}


def test_unknown_ids_are_404(emulator: EmulatorServer) -> None:
    for path in ("/billing/invoices/999", "/billing/invoices/abc/items", "/instances/nope"):
        response = get(emulator, path)
        assert response.status_code == 404, path
        assert response.json()["status"] == 404


def test_single_objects(emulator: EmulatorServer) -> None:
    instance = emulator.account.instances[0]
    invoice = emulator.account.invoices[0]
    assert get(emulator, f"/instances/{instance['id']}").json()["instance"]["id"] == instance["id"]
    served = get(emulator, f"/billing/invoices/{invoice['id']}").json()["billing_invoice"]
    assert served["id"] == invoice["id"]


def test_filters(emulator: EmulatorServer) -> None:
    gpu = get(emulator, "/plans", type="vcg").json()["plans"]
    optimized = get(emulator, "/plans", type="voc").json()["plans"]
    region = emulator.account.instances[0]["region"]
    in_region = get(emulator, "/instances", region=region).json()["instances"]
    assert gpu
    assert all(plan["type"] == "vcg" for plan in gpu)
    assert {plan["type"] for plan in optimized} == {"voc-g", "voc-c", "voc-m"}
    assert in_region
    assert all(instance["region"] == region for instance in in_region)


def test_show_pending_charges(emulator: EmulatorServer) -> None:
    plain = get(emulator, "/instances").json()["instances"]
    priced = get(emulator, "/instances", show_pending_charges="true").json()["instances"]
    assert all("pending_charges" not in instance for instance in plain)
    assert all(instance["pending_charges"] >= 0 for instance in priced)
    assert any(instance["pending_charges"] > 0 for instance in priced)


def test_unknown_path_is_404(emulator: EmulatorServer) -> None:
    for path in (emulator.url + "/nothing-here", emulator.url.removesuffix("/v2") + "/v1/account"):
        response = requests.get(path, headers=AUTH, timeout=10)
        assert response.status_code == 404
        assert response.json()["status"] == 404
        assert response.json()["error"]


def test_non_get_is_405(emulator: EmulatorServer) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = requests.request(
            method, emulator.url + "/instances", headers=AUTH, json={}, timeout=10
        )
        assert response.status_code == 405, method
        assert response.json()["status"] == 405


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": EMULATOR_API_KEY}],
    ids=["missing", "wrong key", "no scheme"],
)
def test_bad_key_is_401(emulator: EmulatorServer, headers: dict[str, str]) -> None:
    response = requests.get(emulator.url + "/account", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid API token.", "status": 401}


def test_public_endpoints_need_no_key(emulator: EmulatorServer) -> None:
    for path in ("/plans", "/plans-metal", "/regions"):
        assert requests.get(emulator.url + path, timeout=10).status_code == 200, path


def test_any_key_without_configured_key(small_account_config: SampleAccountConfig) -> None:
    with EmulatorServer(small_account_config) as server:
        with_key = requests.get(
            server.url + "/account", headers={"Authorization": "Bearer anything"}, timeout=10
        )
        without = requests.get(server.url + "/account", timeout=10)
        empty = requests.get(
            server.url + "/account", headers={"Authorization": "Bearer "}, timeout=10
        )
    assert with_key.status_code == 200
    assert without.status_code == 401
    assert empty.status_code == 401


def test_key_is_not_in_repr(emulator: EmulatorServer) -> None:
    assert EMULATOR_API_KEY not in repr(emulator)


def test_rate_limit_replies_429(small_account_config: SampleAccountConfig) -> None:
    with EmulatorServer(small_account_config, rate_limit=1) as server:
        statuses = []
        for _ in range(20):
            response = requests.get(server.url + "/regions", timeout=10)
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
    assert statuses[0] == 200
    assert statuses[-1] == 429
    assert response.json() == {"status": 429, "error": "rate limit exceeded"}
    assert int(response.headers["Retry-After"]) >= 1


def test_status_fault_repeats_then_clears(emulator: EmulatorServer) -> None:
    emulator.faults.add("/billing/invoices", "status", status=503, times=2)
    statuses = [get(emulator, "/billing/invoices").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert emulator.faults.pending() == 0


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_status_fault_body(emulator: EmulatorServer, status: int) -> None:
    emulator.faults.add("/account", "status", status=status)
    response = get(emulator, "/account")
    assert response.status_code == status
    assert response.json()["status"] == status
    assert response.json()["error"]
    assert "Retry-After" not in response.headers


def test_status_fault_retry_after(emulator: EmulatorServer) -> None:
    emulator.faults.add("/account", "status", status=429, retry_after=3)
    response = get(emulator, "/account")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.json() == {"error": "rate limit exceeded", "status": 429}


def test_fault_only_hits_matching_path(emulator: EmulatorServer) -> None:
    invoice_id = emulator.account.invoices[0]["id"]
    emulator.faults.add("/v2/billing/invoices/*/items", "status", status=500)
    assert get(emulator, "/billing/invoices").status_code == 200
    assert get(emulator, f"/billing/invoices/{invoice_id}/items").status_code == 500


def test_delay_fault(emulator: EmulatorServer) -> None:
    emulator.faults.add("/regions", "delay", delay=0.3)
    started = time.monotonic()
    response = get(emulator, "/regions")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_drop_fault(emulator: EmulatorServer) -> None:
    emulator.faults.add("/account", "drop")
    with pytest.raises(requests.ConnectionError):
        get(emulator, "/account")
    assert get(emulator, "/account").status_code == 200


def test_truncate_fault(emulator: EmulatorServer) -> None:
    whole = get(emulator, "/account").text
    emulator.faults.add("/account", "truncate")
    response = get(emulator, "/account")
    assert response.status_code == 200
    assert whole.startswith(response.text)
    assert len(response.text) < len(whole)
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_html_fault(emulator: EmulatorServer) -> None:
    emulator.faults.add("/instances", "html")
    response = get(emulator, "/instances")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.startswith("<!DOCTYPE html>")


def test_repeat_cursor_fault(emulator: EmulatorServer) -> None:
    first = get(emulator, "/instances", per_page=5).json()
    cursor = first["meta"]["links"]["next"]
    emulator.faults.add("/instances", "repeat_cursor", times=2)
    second = get(emulator, "/instances", per_page=5, cursor=cursor).json()
    assert second["meta"]["links"]["next"] == cursor
    looped = get(emulator, "/instances", per_page=5).json()
    restart = get(emulator, "/instances", per_page=5, cursor=looped["meta"]["links"]["next"])
    assert restart.json()["instances"] == first["instances"]


def test_invalid_cursor_fault(emulator: EmulatorServer) -> None:
    emulator.faults.add("/instances", "invalid_cursor")
    first = get(emulator, "/instances", per_page=5).json()
    cursor = first["meta"]["links"]["next"]
    assert len(first["instances"]) == 5
    rejected = get(emulator, "/instances", per_page=5, cursor=cursor)
    assert rejected.status_code == 400
    assert rejected.json() == {
        "error": "Invalid cursor: it does not point into this list.",
        "status": 400,
    }


def test_missing_list_key_fault(emulator: EmulatorServer) -> None:
    emulator.faults.add("/instances", "missing_list_key")
    emulator.faults.add("/account", "missing_list_key")
    listing = get(emulator, "/instances", per_page=5)
    assert listing.status_code == 200
    assert set(listing.json()) == {"meta"}
    assert get(emulator, "/account").json() == {}
    assert "instances" in get(emulator, "/instances").json()


def test_mutate_fault_leaves_account_intact(emulator: EmulatorServer) -> None:
    def drop_key(body: dict) -> None:
        del body["instances"]

    emulator.faults.add("/instances", "mutate", mutate=drop_key)
    assert "instances" not in get(emulator, "/instances").json()
    assert len(get(emulator, "/instances").json()["instances"]) == 15

    emulator.faults.add("/account", "mutate", mutate=lambda body: {"account": None})
    assert get(emulator, "/account").json() == {"account": None}


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("explode", {}, "unknown fault kind"),
        ("status", {}, "HTTP status"),
        ("delay", {}, "delay > 0"),
        ("mutate", {}, "callable"),
        ("drop", {"times": 0}, "at least 1"),
    ],
)
def test_fault_plan_rejects_bad_faults(
    emulator: EmulatorServer, kind: str, options: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        emulator.faults.add("/account", kind, **options)


def test_request_log_counts_paths(emulator: EmulatorServer) -> None:
    get(emulator, "/account")
    get(emulator, "/account")
    get(emulator, "/regions", per_page=500)
    assert emulator.requests.count("/account") == 2
    assert emulator.requests.count("/v2/account") == 2
    assert emulator.requests.counts()["/regions"] == 1
    assert emulator.requests.records("/regions")[0].query == {"per_page": "500"}
    emulator.requests.clear()
    assert emulator.requests.count() == 0


def test_server_binds_loopback_only(emulator: EmulatorServer) -> None:
    assert emulator.url.startswith("http://127.0.0.1:")
    assert emulator.url.endswith("/v2")


def test_account_is_generated_before_start() -> None:
    server = EmulatorServer(SampleAccountConfig(today=dt.date(2026, 1, 5)))
    assert not server.running
    assert server.account.invoices
    with pytest.raises(RuntimeError, match="start"):
        _ = server.url
