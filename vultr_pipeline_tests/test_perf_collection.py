"""Concurrent collection through VultrAPI against the emulator and canned servers."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from vultr_pipeline.emulator import EmulatorServer, SampleAccountConfig
from vultr_pipeline.vultr import (
    RateLimiter,
    VultrAPI,
    VultrAuthError,
    VultrClient,
    VultrNotFoundError,
)
from vultr_pipeline.vultr.ratelimit import limit_pacer, shared_rate_limiter
from vultr_pipeline_tests.http_fixtures import CannedResponse, CannedServer

API_KEY = "test-key-planted-0001"
INVENTORY = ["instances", "bare_metals", "snapshots", "blocks", "regions", "plans"]


@pytest.fixture
def paged_account() -> SampleAccountConfig:
    """An account whose invoices span several pages at ``per_page=20``."""
    return SampleAccountConfig(
        seed=11, instances=40, invoice_months=12, today=dt.date(2026, 11, 18)
    )


def page_body(key: str, rows: list[dict[str, object]]) -> dict[str, object]:
    return {key: rows, "meta": {"total": len(rows), "links": {"next": "", "prev": ""}}}


def make_api(server: EmulatorServer, limiter: RateLimiter, **options: object) -> VultrAPI:
    settings: dict[str, object] = {"rate_limiter": limiter, "backoff": 0.01, "max_wait": 2.0}
    settings.update(options)
    return VultrAPI(VultrClient(API_KEY, server.url, **settings))  # type: ignore[arg-type]


def fast_limiter() -> RateLimiter:
    return RateLimiter(1000.0, burst=50)


def test_invoice_items_many_keeps_order(paged_account: SampleAccountConfig) -> None:
    with EmulatorServer(paged_account, api_key=API_KEY) as server:
        api = make_api(server, fast_limiter(), per_page=20)
        invoice_ids = [invoice["id"] for invoice in server.account.invoices]

        items = api.invoice_items_many(invoice_ids, max_workers=4)

        assert list(items) == invoice_ids
        for invoice_id in invoice_ids:
            assert items[invoice_id] == server.account.invoice_items[invoice_id]
        pages = server.requests.count() - len(invoice_ids)
        assert pages > 0, "the account is too small to span several pages per invoice"


def test_invoice_items_many_matches_sequential(paged_account: SampleAccountConfig) -> None:
    with EmulatorServer(paged_account, api_key=API_KEY) as server:
        api = make_api(server, fast_limiter(), per_page=20)
        invoice_ids = [invoice["id"] for invoice in server.account.invoices]

        sequential = {invoice_id: api.invoice_items(invoice_id) for invoice_id in invoice_ids}
        concurrent = api.invoice_items_many(reversed(invoice_ids), max_workers=8)

        assert list(concurrent) == list(reversed(invoice_ids))
        assert concurrent == sequential


def test_invoice_items_many_fetches_repeated_id_once(
    paged_account: SampleAccountConfig,
) -> None:
    with EmulatorServer(paged_account, api_key=API_KEY) as server:
        api = make_api(server, fast_limiter())
        invoice_id = server.account.invoices[0]["id"]

        items = api.invoice_items_many([invoice_id, str(invoice_id), invoice_id])

        assert list(items) == [invoice_id]
        assert server.requests.count() == 1


def test_iter_invoice_items_many_streams_in_order(paged_account: SampleAccountConfig) -> None:
    with EmulatorServer(paged_account, api_key=API_KEY) as server:
        api = make_api(server, fast_limiter(), per_page=50)
        invoice_ids = [invoice["id"] for invoice in server.account.invoices]

        streamed = [key for key, _ in api.iter_invoice_items_many(invoice_ids, max_workers=2)]

        assert streamed == invoice_ids


def test_invalid_invoice_id_sends_nothing(emulator: EmulatorServer) -> None:
    api = make_api(emulator, fast_limiter())

    with pytest.raises(ValueError, match="invoice id"):
        api.invoice_items_many([1, "x2"])

    assert emulator.requests.count() == 0


def test_list_endpoints_returns_every_endpoint(emulator: EmulatorServer) -> None:
    api = make_api(emulator, fast_limiter(), per_page=5)

    listings = api.list_endpoints(INVENTORY, max_workers=3)

    assert list(listings) == INVENTORY
    for name in INVENTORY:
        assert listings[name] == api.list_endpoint(name)


@pytest.mark.parametrize(
    ("name", "error", "match"),
    [
        pytest.param("account", ValueError, "one object", id="single-object"),
        pytest.param("invoice_items", ValueError, "invoice_items_many", id="path-parameter"),
        pytest.param("nope", KeyError, "Unknown Vultr endpoint", id="unknown"),
    ],
)
def test_list_endpoints_rejects_before_sending(
    emulator: EmulatorServer, name: str, error: type[Exception], match: str
) -> None:
    api = make_api(emulator, fast_limiter())

    with pytest.raises(error, match=match):
        api.list_endpoints(["instances", name])

    assert emulator.requests.count() == 0


def test_max_workers_below_one_is_rejected(emulator: EmulatorServer) -> None:
    api = make_api(emulator, fast_limiter())

    with pytest.raises(ValueError, match="max_workers"):
        api.list_endpoints(["instances"], max_workers=0)


def test_failed_invoice_raises_typed_error(paged_account: SampleAccountConfig) -> None:
    with EmulatorServer(paged_account, api_key=API_KEY) as server:
        api = make_api(server, fast_limiter())
        invoice_ids = [invoice["id"] for invoice in server.account.invoices]
        missing = max(invoice_ids) + 1

        with pytest.raises(VultrNotFoundError) as raised:
            api.invoice_items_many([*invoice_ids[:2], missing, *invoice_ids[2:]], max_workers=2)

        assert raised.value.endpoint == f"/billing/invoices/{missing}/items"
        assert str(missing) in str(raised.value)


def test_failure_cancels_remaining_work() -> None:
    """After one endpoint fails, the endpoints not started are never requested."""
    names = ["instances", "snapshots", "blocks", "backups", "reserved_ips", "databases"]
    with CannedServer() as server:
        forbidden = {"error": "Forbidden", "status": 403}
        server.serve("/instances", CannedResponse(status=403, body=forbidden))
        for name in names[1:]:
            server.serve("/" + name.replace("_", "-"), page_body(name, [{"id": "a"}]))
        client = VultrClient(API_KEY, server.url, rate_limiter=fast_limiter(), max_attempts=1)

        with pytest.raises(VultrAuthError) as raised:
            VultrAPI(client).list_endpoints(names, max_workers=1)

        assert raised.value.endpoint == "/instances"
        assert server.requests_for("/instances")
        assert not server.requests_for("/databases")


def test_paced_run_gets_no_429(
    paged_account: SampleAccountConfig,
) -> None:
    """A paced client stays under the emulator's 30 requests in any one-second window.

    The pacer leaves 20 % headroom here, more than the default 5 %, so that a test machine
    busy with other work cannot delay one request long enough to crowd the next window.
    The benchmark in benchmarks/collection.py measures the default headroom.
    """
    with EmulatorServer(paged_account, api_key=API_KEY, rate_limit=30) as server:
        api = make_api(server, limit_pacer(30, headroom=0.2), per_page=10, max_attempts=1)
        invoice_ids = [invoice["id"] for invoice in server.account.invoices]

        items = api.invoice_items_many(invoice_ids, max_workers=8)
        inventory = api.list_endpoints(INVENTORY, max_workers=8)

        statuses = [record.status for record in server.requests.records()]
        assert statuses.count(429) == 0
        assert len(statuses) > 40, "too few requests to fill a one-second window"
        for invoice_id in invoice_ids:
            assert items[invoice_id] == server.account.invoice_items[invoice_id]
        assert len(inventory["instances"]) == len(server.account.instances)


def test_limit_pacer_rate_and_burst() -> None:
    pacer = limit_pacer(30)
    assert pacer.rate == pytest.approx(28.5)
    assert pacer.burst == 1
    assert limit_pacer(30, headroom=0, burst=3).rate == pytest.approx(28)
    with pytest.raises(ValueError, match="headroom"):
        limit_pacer(30, headroom=1)
    with pytest.raises(ValueError, match="no positive rate"):
        limit_pacer(2, burst=3)


def test_shared_limiter_paces_below_limit() -> None:
    limiter = shared_rate_limiter(17.0)
    assert limiter.rate < 17.0
    assert limiter.burst == 1
    assert VultrClient("k", rate_limit=17.0).rate_limiter is limiter


def test_limiter_shared_across_worker_threads() -> None:
    """All workers draw from one bucket: 20 calls at 40/s with one free token take 19 waits."""
    now = [0.0]
    lock = threading.Lock()
    waits: list[float] = []
    limiter = RateLimiter(40.0, burst=1, clock=lambda: now[0], sleep=lambda _: None)

    def draw() -> None:
        for _ in range(5):
            wait = limiter.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(waits) == pytest.approx([index / 40 for index in range(20)])
