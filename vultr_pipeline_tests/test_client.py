"""Tests of VultrClient over real HTTP against a canned server on 127.0.0.1."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

import pytest

from vultr_pipeline.vultr import (
    RateLimiter,
    VultrAPI,
    VultrAPIError,
    VultrAuthError,
    VultrClient,
    VultrConfigError,
    VultrConnectionError,
    VultrMissingAPIKeyError,
    VultrNotFoundError,
    VultrRateLimitError,
    VultrResponseError,
    parse_retry_after,
    shared_rate_limiter,
)
from vultr_pipeline_tests.http_fixtures import (
    CannedResponse,
    CannedServer,
    encode_cursor,
    error_body,
    paged_handler,
)

API_KEY = "test-key-planted-0001"


@pytest.fixture
def server() -> Iterator[CannedServer]:
    with CannedServer() as canned:
        yield canned


def make_client(server: CannedServer, **options: object) -> VultrClient:
    """Build a client with fast retries and its own generous rate limiter."""
    settings: dict[str, object] = {
        "backoff": 0.01,
        "max_wait": 2.0,
        "max_attempts": 4,
        "rate_limiter": RateLimiter(1000.0, burst=50),
    }
    settings.update(options)
    api_key = settings.pop("api_key", API_KEY)
    return VultrClient(api_key, server.url, **settings)  # type: ignore[arg-type]


def instance_rows(count: int, first: int = 0) -> list[dict[str, object]]:
    return [
        {"id": f"inst-{index:05d}", "label": f"web-{index}"}
        for index in range(first, first + count)
    ]


def page_body(key: str, rows: list[dict[str, object]], next_cursor: str) -> dict[str, object]:
    return {key: rows, "meta": {"total": 99, "links": {"next": next_cursor, "prev": ""}}}


# Pagination


def test_pages_through_three_pages_at_500(server: CannedServer) -> None:
    rows = instance_rows(1201)
    server.route("/instances", paged_handler("instances", rows))
    with make_client(server) as client:
        pages = list(client.iter_pages("/instances", "instances"))
    requests = server.requests_for("/instances")
    assert [len(page) for page in pages] == [500, 500, 201]
    assert [row for page in pages for row in page] == rows
    assert len(requests) == 3
    assert [request.param("per_page") for request in requests] == ["500", "500", "500"]
    assert requests[0].param("cursor") is None
    assert requests[1].param("cursor") == encode_cursor(500)
    assert requests[2].param("cursor") == encode_cursor(1000)


def test_cursor_with_reserved_characters_round_trips(server: CannedServer) -> None:
    cursor = "bmV4dF9f+/MjA1NTcwODQ=="
    server.route(
        "/regions",
        lambda request: CannedResponse(
            body=page_body("regions", [{"id": "ams"}], cursor)
            if request.param("cursor") is None
            else page_body("regions", [{"id": "ewr"}], "")
        ),
    )
    with make_client(server) as client:
        rows = client.list("/regions", "regions")
    assert rows == [{"id": "ams"}, {"id": "ewr"}]
    assert server.requests_for("/regions")[1].param("cursor") == cursor


def test_list_with_custom_per_page(server: CannedServer) -> None:
    server.route("/blocks", paged_handler("blocks", instance_rows(25)))
    with make_client(server, per_page=10) as client:
        rows = client.list("/blocks", "blocks")
    assert len(rows) == 25
    assert len(server.requests_for("/blocks")) == 3
    assert server.requests_for("/blocks")[0].param("per_page") == "10"


def test_endpoint_without_meta_returns_one_page(server: CannedServer) -> None:
    charges = [{"description": "Load Balancer (lb)", "total": 10}]
    server.serve("/billing/pending-charges", {"pending_charges": charges})
    with make_client(server) as client:
        pages = list(client.iter_pages("/billing/pending-charges", "pending_charges"))
    assert pages == [charges]
    assert len(server.requests_for("/billing/pending-charges")) == 1


def test_meta_without_links_stops_after_one_page(server: CannedServer) -> None:
    server.serve("/databases", {"databases": [{"id": "db-1"}], "meta": {"total": 1}})
    with make_client(server) as client:
        rows = client.list("/databases", "databases")
    assert rows == [{"id": "db-1"}]
    assert len(server.requests_for("/databases")) == 1


def test_unpaginated_call_sends_no_paging_params(server: CannedServer) -> None:
    server.serve("/databases", {"databases": [{"id": "db-1"}], "meta": {"total": 1}})
    with make_client(server) as client:
        client.list("/databases", "databases", {"region": "ewr"}, paginated=False)
    request = server.requests_for("/databases")[0]
    assert request.param("per_page") is None
    assert request.param("cursor") is None
    assert request.param("region") == "ewr"


def test_empty_page_stops_paging(server: CannedServer) -> None:
    server.serve("/snapshots", page_body("snapshots", [], "c3RpbGwgbW9yZQ=="))
    with make_client(server) as client:
        rows = client.list("/snapshots", "snapshots")
    assert rows == []
    assert len(server.requests_for("/snapshots")) == 1


def test_repeated_cursor_raises(server: CannedServer) -> None:
    server.serve(
        "/instances",
        page_body("instances", instance_rows(2), "c2FtZQ=="),
        page_body("instances", instance_rows(2, first=2), "c2FtZQ=="),
    )
    with make_client(server) as client, pytest.raises(VultrResponseError) as info:
        client.list("/instances", "instances")
    message = str(info.value)
    assert "repeated cursor" in message
    assert "page 2" in message
    assert info.value.endpoint == "/instances"
    assert info.value.page == 2
    assert len(server.requests_for("/instances")) == 2


def test_cursor_cycle_raises(server: CannedServer) -> None:
    server.serve(
        "/instances",
        page_body("instances", instance_rows(1), "YQ=="),
        page_body("instances", instance_rows(1, first=1), "Yg=="),
        page_body("instances", instance_rows(1, first=2), "YQ=="),
    )
    with make_client(server) as client, pytest.raises(VultrResponseError) as info:
        client.list("/instances", "instances")
    assert "repeated cursor 'YQ=='" in str(info.value)
    assert info.value.page == 3


def test_repeated_page_under_new_cursor_raises(server: CannedServer) -> None:
    server.serve(
        "/instances",
        page_body("instances", instance_rows(2), "bmV4dDE="),
        page_body("instances", instance_rows(2), "bmV4dDI="),
    )
    with make_client(server) as client, pytest.raises(VultrResponseError) as info:
        client.list("/instances", "instances")
    message = str(info.value)
    assert "page 2 repeats page 1" in message
    assert info.value.page == 2


def test_id_seen_on_earlier_page_raises(server: CannedServer) -> None:
    server.serve(
        "/instances",
        page_body("instances", instance_rows(2), "bmV4dDE="),
        page_body("instances", instance_rows(2, first=1), ""),
    )
    with make_client(server) as client, pytest.raises(VultrResponseError) as info:
        client.list("/instances", "instances")
    assert "'inst-00001' on page 2 was already on page 1" in str(info.value)


def test_identical_items_on_one_page_allowed(server: CannedServer) -> None:
    item = {"description": "Bandwidth overage", "total": 1}
    server.serve("/billing/invoices/7/items", page_body("invoice_items", [item, item], ""))
    with make_client(server) as client:
        rows = client.list("/billing/invoices/7/items", "invoice_items")
    assert len(rows) == 2


def test_missing_list_key_names_key_endpoint_page(server: CannedServer) -> None:
    server.route(
        "/billing/invoices",
        lambda request: CannedResponse(
            body=page_body("billing_invoices", [{"id": 1}], "bmV4dA==")
            if request.param("cursor") is None
            else {"billing_invoice": [{"id": 2}], "meta": {"links": {"next": ""}}}
        ),
    )
    with make_client(server) as client, pytest.raises(VultrResponseError) as info:
        client.list("/billing/invoices", "billing_invoices")
    message = str(info.value)
    assert "'billing_invoices' is missing" in message
    assert "GET /billing/invoices" in message
    assert "page 2" in message
    assert "billing_invoice" in message


def test_list_key_not_a_list_raises(server: CannedServer) -> None:
    server.serve("/instances", {"instances": {"id": "x"}})
    with make_client(server) as client, pytest.raises(VultrResponseError) as info:
        client.list("/instances", "instances")
    assert "not a list of objects" in str(info.value)


@pytest.mark.parametrize(
    ("meta", "reason"),
    [
        pytest.param([], "'meta' is not an object", id="meta-list"),
        pytest.param({"links": "next"}, "'meta.links' is not an object", id="links-text"),
        pytest.param({"links": {"next": 5}}, "'meta.links.next' is not a string", id="next-int"),
    ],
)
def test_malformed_meta_raises(server: CannedServer, meta: object, reason: str) -> None:
    server.serve("/backups", {"backups": [{"id": "b"}], "meta": meta})
    with make_client(server) as client, pytest.raises(VultrResponseError) as info:
        client.list("/backups", "backups")
    assert reason in str(info.value)
    assert "page 1" in str(info.value)


def test_money_is_parsed_as_decimal(server: CannedServer) -> None:
    server.serve("/account", '{"account": {"balance": -100.55, "pending_charges": 0.1}}')
    with make_client(server) as client:
        account = client.get("/account")["account"]
    assert account["balance"] == Decimal("-100.55")
    assert isinstance(account["pending_charges"], Decimal)
    assert account["pending_charges"] == Decimal("0.1")


# Retries


def test_429_with_retry_after_is_retried(
    server: CannedServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.serve(
        "/account",
        CannedResponse(
            status=429,
            body={"status": 429, "error": "rate limit exceeded"},
            headers={"Retry-After": "1"},
        ),
        {"account": {"name": "Example"}},
    )
    caplog.set_level(logging.WARNING)
    started = time.monotonic()
    with make_client(server) as client:
        body = client.get("/account")
    elapsed = time.monotonic() - started
    assert body == {"account": {"name": "Example"}}
    assert len(server.requests_for("/account")) == 2
    assert elapsed >= 0.9
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "GET /account attempt 1 of 4" in warnings[0]
    assert "HTTP 429" in warnings[0]
    assert "retrying in 1.00 s" in warnings[0]


def test_retry_after_is_capped_by_max_wait(server: CannedServer) -> None:
    server.serve(
        "/account",
        CannedResponse(status=503, body="busy", headers={"Retry-After": "3600"}),
        {"account": {}},
    )
    started = time.monotonic()
    with make_client(server, max_wait=0.2) as client:
        client.get("/account")
    # Generous bound: an uncapped wait would take an hour.
    assert time.monotonic() - started < 60


def test_503_then_success(server: CannedServer) -> None:
    server.serve("/instances", error_body(503, "unavailable"), page_body("instances", [], ""))
    with make_client(server) as client:
        assert client.list("/instances", "instances") == []
    assert len(server.requests_for("/instances")) == 2


@pytest.mark.parametrize("status", [500, 502, 504])
def test_server_error_then_success(server: CannedServer, status: int) -> None:
    server.serve("/account", error_body(status, "oops"), {"account": {"name": "a"}})
    with make_client(server) as client:
        assert client.get("/account") == {"account": {"name": "a"}}


def test_server_error_gives_up_after_max_attempts(server: CannedServer) -> None:
    server.serve("/blocks", error_body(500, "Internal failure"))
    with make_client(server, max_attempts=3) as client, pytest.raises(VultrAPIError) as info:
        client.list("/blocks", "blocks")
    error = info.value
    assert len(server.requests_for("/blocks")) == 3
    assert error.status == 500
    assert error.endpoint == "/blocks"
    assert error.error_text == "Internal failure"
    assert "all 3 attempts" in str(error)


def test_persistent_429_raises_rate_limit_error(server: CannedServer) -> None:
    server.serve("/plans", error_body(429, "rate limit exceeded"))
    with make_client(server, max_attempts=2) as client:
        with pytest.raises(VultrRateLimitError) as info:
            client.list("/plans", "plans")
    assert info.value.status == 429
    assert "rate_limit" in str(info.value)
    assert len(server.requests_for("/plans")) == 2


def test_truncated_body_is_retried(server: CannedServer) -> None:
    server.serve(
        "/account",
        CannedResponse(body={"account": {"name": "long enough"}}, truncate_to=12),
        {"account": {"name": "whole"}},
    )
    with make_client(server) as client:
        assert client.get("/account") == {"account": {"name": "whole"}}
    assert len(server.requests_for("/account")) == 2


def test_dropped_connection_is_retried(server: CannedServer) -> None:
    server.serve("/account", CannedResponse(drop=True), {"account": {"name": "a"}})
    with make_client(server) as client:
        assert client.get("/account") == {"account": {"name": "a"}}
    assert len(server.requests_for("/account")) == 2


def test_dropped_connection_gives_up(server: CannedServer) -> None:
    server.serve("/account", CannedResponse(drop=True))
    with make_client(server, max_attempts=2) as client:
        with pytest.raises(VultrConnectionError) as info:
            client.get("/account")
    assert info.value.endpoint == "/account"
    assert "all 2 attempts" in str(info.value)


def test_html_body_raises_response_error_naming_page(server: CannedServer) -> None:
    html = "<html><body><h1>Maintenance</h1></body></html>"
    server.route(
        "/instances",
        lambda request: CannedResponse(
            body=page_body("instances", instance_rows(1), "cGFnZTI=")
            if request.param("cursor") is None
            else html
        ),
    )
    with make_client(server, max_attempts=2) as client:
        with pytest.raises(VultrResponseError) as info:
            client.list("/instances", "instances")
    message = str(info.value)
    assert "GET /instances (page 2)" in message
    assert "not valid JSON" in message
    assert "<html><body><h1>Maintenance" in message
    assert info.value.page == 2
    assert len(server.requests_for("/instances")) == 3


def test_json_array_body_raises(server: CannedServer) -> None:
    server.serve("/account", CannedResponse(body=[1, 2]))
    with make_client(server) as client, pytest.raises(VultrResponseError) as info:
        client.get("/account")
    assert "expected a JSON object" in str(info.value)
    assert len(server.requests_for("/account")) == 1


# Errors that are not retried


def test_401_raises_auth_error_naming_variable(server: CannedServer) -> None:
    server.serve("/account", error_body(401, "Invalid API token."))
    with make_client(server) as client, pytest.raises(VultrAuthError) as info:
        client.get("/account")
    message = str(info.value)
    assert "VULTR_API_KEY" in message
    assert "Invalid API token." in message
    assert "missing or invalid" in message
    assert info.value.status == 401
    assert len(server.requests_for("/account")) == 1


def test_403_raises_auth_error_about_permission(server: CannedServer) -> None:
    server.serve("/billing/history", error_body(403, "You are not allowed"))
    with make_client(server) as client, pytest.raises(VultrAuthError) as info:
        client.list("/billing/history", "billing_history")
    message = str(info.value)
    assert "lacks permission" in message
    assert "VULTR_API_KEY" in message
    assert info.value.status == 403


def test_404_raises_not_found(server: CannedServer) -> None:
    with make_client(server) as client, pytest.raises(VultrNotFoundError) as info:
        client.get("/instances/no-such-id")
    assert info.value.status == 404
    assert info.value.endpoint == "/instances/no-such-id"
    assert len(server.requests_for("/instances/no-such-id")) == 1


def test_400_with_html_body_keeps_excerpt(server: CannedServer) -> None:
    server.serve("/plans", CannedResponse(status=400, body="<p>bad\n   request</p>"))
    with make_client(server) as client, pytest.raises(VultrAPIError) as info:
        client.list("/plans", "plans")
    assert info.value.status == 400
    assert info.value.error_text == "<p>bad request</p>"
    assert len(server.requests_for("/plans")) == 1


def test_error_endpoint_omits_query_string(server: CannedServer) -> None:
    server.serve("/instances", error_body(422, "Invalid tag"))
    with make_client(server) as client, pytest.raises(VultrAPIError) as info:
        client.list("/instances", "instances", {"tag": "secret-tag-value"})
    assert info.value.endpoint == "/instances"
    assert "secret-tag-value" not in str(info.value)


# API key handling


def test_bearer_header_is_sent(server: CannedServer) -> None:
    server.serve("/account", {"account": {}})
    with make_client(server) as client:
        client.get("/account")
    headers = server.requests_for("/account")[0].headers
    assert headers["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("api_key", [None, ""])
def test_missing_key_allows_public_endpoints(server: CannedServer, api_key: str | None) -> None:
    server.route("/plans", paged_handler("plans", [{"id": "vc2-1c-1gb"}]))
    with make_client(server, api_key=api_key) as client:
        rows = client.list("/plans", "plans")
    assert rows == [{"id": "vc2-1c-1gb"}]
    assert "Authorization" not in server.requests_for("/plans")[0].headers


@pytest.mark.parametrize("api_key", [None, ""])
def test_missing_key_raises_before_sending(server: CannedServer, api_key: str | None) -> None:
    with make_client(server, api_key=api_key) as client:
        with pytest.raises(VultrMissingAPIKeyError) as info:
            client.list("/instances", "instances")
    message = str(info.value)
    assert isinstance(info.value, VultrAuthError)
    assert isinstance(info.value, VultrConfigError)
    assert "VULTR_API_KEY" in message
    assert "vultr-pipeline demo" in message
    assert server.requests == []


def test_key_absent_from_repr_errors_and_logs(
    server: CannedServer, caplog: pytest.LogCaptureFixture
) -> None:
    def echo_headers(request):
        # A hostile error page that repeats the request headers back.
        return CannedResponse(status=401, body={"error": f"bad token {request.headers}"})

    server.serve("/blocks", CannedResponse(status=502, body=f"proxy saw {API_KEY}"))
    server.route("/account", echo_headers)
    server.serve("/instances", page_body("instances", [{"id": "i"}], ""))
    caplog.set_level(logging.DEBUG)
    client = make_client(server, max_attempts=2)
    texts = [repr(client), str(client), repr(vars(client))]
    with pytest.raises(VultrAuthError) as auth_info:
        client.get("/account")
    with pytest.raises(VultrAPIError) as api_info:
        client.get("/blocks")
    client.list("/instances", "instances")
    client.close()
    texts += [str(auth_info.value), repr(auth_info.value), auth_info.value.error_text]
    texts += [str(api_info.value), api_info.value.error_text]
    texts += [record.getMessage() for record in caplog.records]
    assert "***" in repr(client)
    assert "bad token" in auth_info.value.error_text
    assert any("GET /blocks attempt 1 of 2" in text for text in texts)
    for text in texts:
        assert API_KEY not in text


def test_repr_shows_none_without_key(server: CannedServer) -> None:
    client = make_client(server, api_key=None)
    assert "api_key=None" in repr(client)
    assert not client.has_api_key


def test_invalid_settings_raise() -> None:
    with pytest.raises(ValueError, match="per_page"):
        VultrClient("k", per_page=501)
    with pytest.raises(ValueError, match="max_attempts"):
        VultrClient("k", max_attempts=0)
    with pytest.raises(ValueError, match="must start with"):
        VultrClient("k").get("account")


# Rate limiting


def test_rate_limiter_spaces_calls_over_http(server: CannedServer) -> None:
    server.serve("/regions", page_body("regions", [], ""))
    client = make_client(server, rate_limiter=RateLimiter(30.0))
    started = time.monotonic()
    for _ in range(31):
        client.get("/regions")
    elapsed = time.monotonic() - started
    client.close()
    assert len(server.requests_for("/regions")) == 31
    assert elapsed >= 0.9


def test_rate_limiter_bounds_concurrent_threads() -> None:
    limiter = RateLimiter(40.0, burst=2)
    started = time.monotonic()
    threads = [
        threading.Thread(target=lambda: [limiter.acquire() for _ in range(10)]) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 40 calls with 2 free tokens need at least 38 / 40 s.
    assert time.monotonic() - started >= 0.9


def test_rate_limiter_reservations_with_fake_clock() -> None:
    now = [100.0]
    limiter = RateLimiter(10.0, burst=2, clock=lambda: now[0], sleep=lambda _: None)
    waits = [limiter.reserve() for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.0, 0.1, 0.2])
    now[0] += 10.0
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == pytest.approx(0.1)


def test_rate_limiter_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(0)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(5, burst=0)


def test_shared_rate_limiter_is_shared() -> None:
    assert shared_rate_limiter(12.5) is shared_rate_limiter(12.5)
    assert shared_rate_limiter(12.5) is not shared_rate_limiter(13.5)
    assert VultrClient("k", rate_limit=12.5).rate_limiter is shared_rate_limiter(12.5)


# Retry-After parsing


def test_parse_retry_after_forms() -> None:
    later = datetime.now(UTC) + timedelta(seconds=30)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert 20 < parse_retry_after(format_datetime(later, usegmt=True)) <= 31


# Concurrency and the facade


def test_client_is_shared_by_threads(server: CannedServer) -> None:
    rows = instance_rows(1100)
    server.route("/instances", paged_handler("instances", rows))
    results: list[list[dict[str, object]]] = []
    errors: list[BaseException] = []
    client = make_client(server, pool_size=8)

    def fetch() -> None:
        try:
            results.append(client.list("/instances", "instances"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    assert errors == []
    assert len(results) == 8
    assert all(result == rows for result in results)


def test_api_facade_routes_endpoints(server: CannedServer) -> None:
    server.serve("/account", {"account": {"name": "Example"}})
    server.serve("/account/bandwidth", {"bandwidth": {"previous_month": {}}})
    server.route(
        "/billing/invoices/123456/items", paged_handler("invoice_items", [{"total": 1}] * 3)
    )
    server.serve("/databases", {"databases": [{"id": "db"}], "meta": {"total": 1}})
    server.serve("/billing/pending-charges", {"pending_charges": []})
    server.route("/plans-metal", paged_handler("plans_metal", [{"id": "vbm"}]))
    with make_client(server, api_key=None) as public_client:
        assert VultrAPI(public_client).list_endpoint("metal_plans") == [{"id": "vbm"}]
    with make_client(server) as client:
        api = VultrAPI(client)
        assert api.account() == {"name": "Example"}
        assert api.account_bandwidth() == {"previous_month": {}}
        assert len(api.invoice_items(123456)) == 3
        assert len(api.invoice_items("123456")) == 3
        assert api.list_endpoint("databases") == [{"id": "db"}]
        assert api.pending_charges() == []
    database_request = server.requests_for("/databases")[0]
    assert database_request.param("per_page") is None
    assert server.requests_for("/billing/invoices/123456/items")[0].param("per_page")


def test_api_facade_rejects_misuse(server: CannedServer) -> None:
    server.serve("/account", {"wrong": {}})
    with make_client(server) as client:
        api = VultrAPI(client)
        with pytest.raises(VultrResponseError, match="'account' is missing"):
            api.account()
        with pytest.raises(ValueError, match="one object"):
            api.list_endpoint("account")
        with pytest.raises(KeyError, match="known endpoints"):
            api.list_endpoint("droplets")
        with pytest.raises(ValueError, match="invoice id"):
            api.invoice_items(True)
