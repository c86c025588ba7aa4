"""Planned faults end to end: each fault kind of the emulator, through the raw assets, into chDB.

Every test runs the real raw assets in Dagster against an emulator on 127.0.0.1 and writes into
one chDB directory, emptied before each test. Three outcomes are expected:

- A transient fault (429, 5xx, a slow response, a dropped connection, truncated JSON) is
  retried, and the tables equal those of a clean run.
- A structural fault (not JSON, a missing list key, a repeated or invalid cursor, or a
  transient fault on every attempt) fails the asset. The error names the endpoint, the page
  and the problem, and the partition keeps the rows of the run before.
- A surprising value is read when its meaning is clear, so the typed columns equal a clean
  run's. Otherwise its record lands in the rejects table and the asset check warns.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from vultr_pipeline.clickhouse.engine import ClickHouseEngine, ClickHouseSettings, open_engine
from vultr_pipeline.clickhouse.io_manager import ClickHouseIOManager
from vultr_pipeline.costs.line_items import invoice_billing_month
from vultr_pipeline.defs.partitions import build_partitions, daily_key, monthly_key, utc_today
from vultr_pipeline.defs.raw_assets import build_raw_assets
from vultr_pipeline.defs.raw_outputs import RAW_GROUP, REJECTS_CHECK, REJECTS_GROUP
from vultr_pipeline.defs.resources import VultrResource
from vultr_pipeline.defs.tables import MONTHLY_TABLES
from vultr_pipeline.emulator import EmulatorServer, SampleAccountConfig
from vultr_pipeline.emulator.server import DROPPED
from vultr_pipeline.vultr.parsing import parse_datetime
from vultr_pipeline_tests.conftest import EMULATOR_API_KEY, EMULATOR_TODAY
from vultr_pipeline_tests.pipeline_runs import invoice_months

ACCOUNT = SampleAccountConfig(
    seed=5, instances=3, gpu_instances=1, bare_metal=1, invoice_months=2, today=EMULATOR_TODAY
)
DAILY_TABLES = ("account", "account_bandwidth", "instances", "pending_charges", "plans")
INVOICE_TABLES = ("invoices", "invoice_items")
# Runs that must fail get two attempts per request, and the fault is planned for both.
ATTEMPTS = 2
SLOW_TIMEOUT = 1.0
DATE_KEYS = ("date_created", "date", "start_date", "end_date")


# Fixtures and helpers


@dataclass
class Store:
    """The chDB directory of this module, held open by `engine` for the whole module."""

    path: Path
    engine: ClickHouseEngine

    def reset(self) -> None:
        """Drop every table the raw assets write."""
        for database in (RAW_GROUP, REJECTS_GROUP):
            self.engine.command(f"DROP DATABASE IF EXISTS {database} SYNC")

    def rows(self, table: str, *, exclude: tuple[str, ...] = ("collected_at",)) -> list[dict]:
        """Return every row of `table` (`database.name`) in a stable order, less `exclude`."""
        columns = f"* EXCEPT ({', '.join(exclude)})" if exclude else "*"
        return self.engine.query_arrow(f"SELECT {columns} FROM {table} ORDER BY ALL").to_pylist()


@pytest.fixture(scope="module")
def environment() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("VULTR_ACCOUNTS_FILE", "VULTR_HISTORY_START", "VULTR_DAILY_START"):
            patch.delenv(name, raising=False)
        patch.setenv("VULTR_API_KEY", EMULATOR_API_KEY)
        yield


@pytest.fixture(scope="module")
def raw_assets(environment: None) -> list[dg.AssetsDefinition]:
    return build_raw_assets(build_partitions())


@pytest.fixture(scope="module")
def shared_emulator(environment: None) -> Iterator[EmulatorServer]:
    with EmulatorServer(ACCOUNT, api_key=EMULATOR_API_KEY) as server:
        yield server


@pytest.fixture
def emulator(shared_emulator: EmulatorServer) -> Iterator[EmulatorServer]:
    shared_emulator.faults.clear()
    shared_emulator.requests.clear()
    yield shared_emulator
    shared_emulator.faults.clear()


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("faults") / "clickhouse"
    # Holding the directory open for the module spares chDB a restart for every run.
    engine = open_engine(ClickHouseSettings(path=str(path)))
    try:
        yield Store(path, engine)
    finally:
        engine.close()


@pytest.fixture
def store(shared_store: Store) -> Store:
    shared_store.reset()
    return shared_store


@pytest.fixture(scope="module")
def month(shared_emulator: EmulatorServer) -> dt.date:
    return invoice_months(shared_emulator)[-1]


@pytest.fixture(scope="module")
def month_invoice(shared_emulator: EmulatorServer, month: dt.date) -> int:
    """Return the id of the only invoice that bills `month`."""
    (invoice,) = [
        invoice
        for invoice in shared_emulator.account.invoices
        if invoice_billing_month(parse_datetime(invoice["date"])) == month
    ]
    return invoice["id"]


def run(
    raw_assets: list[dg.AssetsDefinition],
    emulator: EmulatorServer,
    store: Store,
    tables: tuple[str, ...],
    month: dt.date,
    **vultr_options: Any,
) -> dg.ExecuteInProcessResult:
    """Materialize the raw and rejects assets of `tables`: today's or `month`'s partition."""
    if tables[0] in MONTHLY_TABLES:
        key = monthly_key("default", month)
    else:
        key = daily_key("default", utc_today())
    selection = [
        dg.AssetKey([group, table]) for table in tables for group in (RAW_GROUP, REJECTS_GROUP)
    ]
    return dg.materialize(
        raw_assets,
        selection=selection,
        partition_key=str(key),
        resources={
            "vultr": VultrResource(api_url=emulator.url, **vultr_options),
            "clickhouse": ClickHouseIOManager(path=str(store.path)),
        },
        raise_on_error=False,
    )


@pytest.fixture(scope="module")
def clean(
    raw_assets: list[dg.AssetsDefinition],
    shared_emulator: EmulatorServer,
    shared_store: Store,
    month: dt.date,
) -> dict[str, list[dict]]:
    """Rows of every table of a clean run, without `collected_at`."""
    shared_store.reset()
    assert run(raw_assets, shared_emulator, shared_store, DAILY_TABLES, month).success
    assert run(raw_assets, shared_emulator, shared_store, INVOICE_TABLES, month).success
    tables = {
        table: shared_store.rows(f"{RAW_GROUP}.{table}")
        for table in (*DAILY_TABLES, *INVOICE_TABLES)
    }
    for table in tables:
        assert shared_store.rows(f"{REJECTS_GROUP}.{table}") == [], table
    assert all(tables.values())
    return tables


def typed(rows: list[dict]) -> list[dict]:
    """Drop `raw` from each row and sort the rows, for comparing typed columns only."""
    stripped = [{name: value for name, value in row.items() if name != "raw"} for row in rows]
    return sorted(stripped, key=lambda row: repr(sorted(row.items())))


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    texts = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            texts.append(data.user_failure_data.description)
        if data.error is not None:
            texts.append(data.error.message)
    return "\n".join(texts)


def rejects_check(result: dg.ExecuteInProcessResult, table: str) -> dg.AssetCheckEvaluation:
    (evaluation,) = [
        evaluation
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.asset_key == dg.AssetKey([RAW_GROUP, table])
        and evaluation.check_name == REJECTS_CHECK
    ]
    return evaluation


def rejected_count(result: dg.ExecuteInProcessResult, table: str) -> int:
    (event,) = [
        event
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey([REJECTS_GROUP, table])
    ]
    return event.materialization.metadata["rejected_records"].value


def tables_of(path: str) -> tuple[str, ...]:
    """Return the raw tables whose assets request `path`."""
    if path.startswith("/billing/invoices"):
        return INVOICE_TABLES
    return {
        "/account": ("account",),
        "/account/bandwidth": ("account_bandwidth",),
        "/instances": ("instances",),
        "/billing/pending-charges": ("pending_charges",),
        "/plans": ("plans",),
    }[path]


# Mutations of a response body, for the mutate fault


def records_of(body: dict) -> list[dict]:
    """Return the records of a list response."""
    (records,) = [value for key, value in body.items() if key != "meta"]
    return records


def numbers_as_strings(body: dict) -> None:
    for record in records_of(body):
        for key, value in record.items():
            if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
                record[key] = str(value)


def _rewrite_dates(body: dict, write: Callable[[dt.datetime], str]) -> None:
    for record in records_of(body):
        for key in DATE_KEYS:
            if isinstance(record.get(key), str) and record[key]:
                record[key] = write(dt.datetime.fromisoformat(record[key]).astimezone(dt.UTC))


def dates_without_timezone(body: dict) -> None:
    _rewrite_dates(body, lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S"))


def dates_as_epoch_strings(body: dict) -> None:
    _rewrite_dates(body, lambda moment: str(int(moment.timestamp())))


def unknown_fields(body: dict) -> None:
    for record in records_of(body):
        record["future_field"] = {"nested": [1, "two"], "price": Decimal("0.125")}


def unknown_product(body: dict) -> None:
    for record in records_of(body):
        record["product"] = "Vultr Quantum Compute"


def unknown_plan_type(body: dict) -> None:
    for record in records_of(body):
        record["type"] = "vqc"


OPTIONAL_INSTANCE_FIELDS = {"label": None, "ram": None, "date_created": None, "tags": []}


def without_optional_fields(body: dict) -> None:
    for key in OPTIONAL_INSTANCE_FIELDS:
        del records_of(body)[0][key]


def null_optional_fields(body: dict) -> None:
    records_of(body)[0].update(dict.fromkeys(OPTIONAL_INSTANCE_FIELDS))


def first_record(**values: Any) -> Callable[[dict], None]:
    """Return a mutation that sets `values` on the first record of the response."""

    def mutate(body: dict) -> None:
        records_of(body)[0].update(values)

    return mutate


# Transient faults: retried, then the tables of a clean run


TRANSIENT = [
    pytest.param(
        "/instances",
        {"kind": "status", "status": 429, "retry_after": 0.5},
        [429, 200],
        # The wait is the Retry-After value; a backoff wait would carry random jitter.
        "GET /instances attempt 1 of 6 failed (HTTP 429: rate limit exceeded); retrying in 0.50 s",
        id="429-retry-after",
    ),
    pytest.param(
        "/instances",
        {"kind": "status", "status": 429},
        [429, 200],
        "GET /instances attempt 1 of 6 failed (HTTP 429: rate limit exceeded)",
        id="429-without-retry-after",
    ),
    pytest.param(
        "/billing/invoices/*/items",
        {"kind": "status", "status": 500, "times": 2},
        [500, 500, 200],
        "/items attempt 2 of 6 failed (HTTP 500: Internal server error.)",
        id="500",
    ),
    pytest.param(
        "/account",
        {"kind": "status", "status": 502},
        [502, 200],
        "GET /account attempt 1 of 6 failed (HTTP 502: Bad gateway.)",
        id="502",
    ),
    pytest.param(
        "/billing/invoices",
        {"kind": "status", "status": 503},
        [503, 200],
        "GET /billing/invoices attempt 1 of 6 failed (HTTP 503: Service unavailable.)",
        id="503",
    ),
    pytest.param(
        "/billing/invoices/*/items",
        {"kind": "drop"},
        [DROPPED, 200],
        "/items attempt 1 of 6 failed (connection failed",
        id="dropped-connection",
    ),
    pytest.param(
        "/account/bandwidth",
        {"kind": "truncate"},
        [200, 200],
        "GET /account/bandwidth attempt 1 of 6 failed (body is not valid JSON)",
        id="truncated-json",
    ),
]


@pytest.mark.parametrize(("path", "fault", "statuses", "retry_log"), TRANSIENT)
def test_transient_fault_retried(
    raw_assets, emulator, store, clean, month, caplog, path, fault, statuses, retry_log
):
    emulator.faults.add(path, **fault)

    result = run(raw_assets, emulator, store, tables_of(path), month)

    assert result.success, failure_text(result)
    sent = [
        entry.status
        for entry in emulator.requests.records()
        if fnmatch.fnmatchcase(entry.path, path)
    ]
    assert sent == statuses
    assert retry_log in caplog.text
    for table in tables_of(path):
        assert store.rows(f"{RAW_GROUP}.{table}") == clean[table], table
        assert store.rows(f"{REJECTS_GROUP}.{table}") == [], table


def test_slow_response_retried(raw_assets, emulator, store, clean, month, caplog):
    emulator.faults.add("/instances", "delay", delay=SLOW_TIMEOUT * 2)

    result = run(raw_assets, emulator, store, ("instances",), month, timeout=SLOW_TIMEOUT)

    assert result.success, failure_text(result)
    # The emulator logs the slow request only when it responds, which may be after the run.
    assert f"GET /instances attempt 1 of 6 failed (timed out after {SLOW_TIMEOUT} s)" in caplog.text
    assert store.rows(f"{RAW_GROUP}.instances") == clean["instances"]


# Structural faults: a clean failure, and the previous partition intact


STRUCTURAL = [
    pytest.param(
        "/instances",
        {"kind": "html", "times": ATTEMPTS},
        "instances",
        ["GET /instances (page 1)", "not valid JSON (text/html", "<!DOCTYPE html>"],
        id="html-page-with-200",
    ),
    pytest.param(
        "/account/bandwidth",
        {"kind": "truncate", "times": ATTEMPTS},
        "account_bandwidth",
        ["GET /account/bandwidth (page 1)", "not valid JSON (application/json"],
        id="truncated-json-every-attempt",
    ),
    pytest.param(
        "/billing/invoices/*/items",
        {"kind": "missing_list_key"},
        "invoice_items",
        ["/items (page 1)", "list key 'invoice_items' is missing (keys present: meta)"],
        id="list-key-missing",
    ),
    pytest.param(
        "/instances",
        {"kind": "repeat_cursor"},
        "instances",
        ["GET /instances", "page 2 repeats page 1"],
        id="repeated-cursor",
    ),
    pytest.param(
        "/billing/invoices",
        {"kind": "invalid_cursor"},
        "invoices",
        ["GET /billing/invoices on page 2", "HTTP 400: Invalid cursor"],
        id="invalid-cursor",
    ),
    pytest.param(
        "/instances",
        {"kind": "status", "status": 503, "times": ATTEMPTS},
        "instances",
        ["GET /instances", f"on all {ATTEMPTS} attempts", "HTTP 503"],
        id="503-every-attempt",
    ),
]


@pytest.mark.parametrize(("path", "fault", "failing", "messages"), STRUCTURAL)
def test_structural_fault_keeps_partition(
    raw_assets, emulator, store, clean, month, path, fault, failing, messages
):
    tables = tables_of(path)
    names = [f"{group}.{table}" for table in tables for group in (RAW_GROUP, REJECTS_GROUP)]
    assert run(raw_assets, emulator, store, tables, month).success
    before = {name: store.rows(name, exclude=()) for name in names}
    emulator.faults.add(path, **fault)

    result = run(raw_assets, emulator, store, tables, month, max_attempts=ATTEMPTS)

    assert not result.success
    failed = [event.step_key for event in result.get_step_failure_events()]
    assert failed == [f"{RAW_GROUP}__{failing}"]
    text = failure_text(result)
    assert "Collecting Vultr account default" in text
    for message in messages:
        assert message in text
    assert EMULATOR_API_KEY not in text
    for name in names:
        if name.endswith(f".{failing}"):
            # Not even collected_at changed: the failed run wrote nothing.
            assert store.rows(name, exclude=()) == before[name], name
        else:
            assert store.rows(name) == [drop_collected_at(row) for row in before[name]], name
    for table in tables:
        assert store.rows(f"{RAW_GROUP}.{table}") == clean[table], table


def drop_collected_at(row: dict) -> dict:
    return {name: value for name, value in row.items() if name != "collected_at"}


# Values with a clear meaning: read as in a clean run


LENIENT = [
    pytest.param("/instances", numbers_as_strings, id="numbers-as-strings"),
    pytest.param("/billing/invoices/*/items", numbers_as_strings, id="money-as-strings"),
    pytest.param("/instances", dates_without_timezone, id="dates-without-timezone"),
    pytest.param("/billing/invoices", dates_without_timezone, id="invoice-dates-without-timezone"),
    pytest.param("/instances", dates_as_epoch_strings, id="epoch-second-strings"),
    pytest.param(
        "/billing/invoices/*/items", dates_as_epoch_strings, id="item-dates-as-epoch-strings"
    ),
    pytest.param("/instances", unknown_fields, id="unknown-new-fields"),
]


@pytest.mark.parametrize(("path", "mutate"), LENIENT)
def test_clear_value_read_as_clean(raw_assets, emulator, store, clean, month, path, mutate):
    emulator.faults.add(path, "mutate", mutate=mutate)

    result = run(raw_assets, emulator, store, tables_of(path), month)

    assert result.success, failure_text(result)
    assert emulator.faults.pending() == 0
    for table in tables_of(path):
        assert typed(store.rows(f"{RAW_GROUP}.{table}")) == typed(clean[table]), table
        assert store.rows(f"{REJECTS_GROUP}.{table}") == [], table
        assert rejects_check(result, table).passed
        assert rejected_count(result, table) == 0


def test_unknown_fields_kept_in_raw(raw_assets, emulator, store, clean, month):
    emulator.faults.add("/instances", "mutate", mutate=unknown_fields)

    assert run(raw_assets, emulator, store, ("instances",), month).success

    rows = store.rows(f"{RAW_GROUP}.instances")
    assert len(rows) == len(clean["instances"])
    for row in rows:
        raw = json.loads(row["raw"], parse_float=Decimal)
        assert raw["future_field"] == {"nested": [1, "two"], "price": Decimal("0.125")}


@pytest.mark.parametrize(
    "mutate", [without_optional_fields, null_optional_fields], ids=["missing", "null"]
)
def test_optional_fields_become_null(raw_assets, emulator, store, clean, month, mutate):
    first_id = emulator.account.instances[0]["id"]
    emulator.faults.add("/instances", "mutate", mutate=mutate)

    result = run(raw_assets, emulator, store, ("instances",), month)

    assert result.success, failure_text(result)
    expected = [
        {**row, **OPTIONAL_INSTANCE_FIELDS} if row["id"] == first_id else row
        for row in clean["instances"]
    ]
    assert typed(store.rows(f"{RAW_GROUP}.instances")) == typed(expected)
    assert store.rows(f"{REJECTS_GROUP}.instances") == []
    assert rejects_check(result, "instances").passed


@pytest.mark.parametrize(
    ("path", "mutate", "column", "value"),
    [
        pytest.param(
            "/billing/pending-charges",
            unknown_product,
            "product",
            "Vultr Quantum Compute",
            id="product",
        ),
        pytest.param("/plans", unknown_plan_type, "type", "vqc", id="plan-type"),
    ],
)
def test_unknown_names_stored(
    raw_assets, emulator, store, clean, month, path, mutate, column, value
):
    emulator.faults.add(path, "mutate", mutate=mutate)

    result = run(raw_assets, emulator, store, tables_of(path), month)

    assert result.success, failure_text(result)
    (table,) = tables_of(path)
    expected = [{**row, column: value} for row in clean[table]]
    assert typed(store.rows(f"{RAW_GROUP}.{table}")) == typed(expected)
    assert store.rows(f"{REJECTS_GROUP}.{table}") == []
    assert rejects_check(result, table).passed


# Values without a clear meaning: the record in the rejects table, and the check failing


def test_unreadable_date_rejected(raw_assets, emulator, store, clean, month):
    instance = emulator.account.instances[0]
    emulator.faults.add(
        "/instances",
        "mutate",
        mutate=first_record(date_created="yesterday", default_password="planted-9"),
    )

    result = run(raw_assets, emulator, store, ("instances",), month)

    assert result.success, failure_text(result)
    remaining = [row for row in clean["instances"] if row["id"] != instance["id"]]
    assert store.rows(f"{RAW_GROUP}.instances") == remaining
    (reject,) = store.rows(f"{REJECTS_GROUP}.instances")
    assert reject["account_id"] == "default"
    assert reject["snapshot_date"] == utc_today()
    assert reject["record_id"] == instance["id"]
    assert reject["field"] == "date_created"
    assert "'yesterday'" in reject["reason"]
    assert "expected ISO-8601" in reject["reason"]
    raw = json.loads(reject["raw"])
    assert raw["date_created"] == "yesterday"
    assert raw["id"] == instance["id"]
    assert "default_password" not in raw
    assert "kvm" not in raw
    assert "planted-9" not in reject["raw"]
    assert rejected_count(result, "instances") == 1
    check = rejects_check(result, "instances")
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert check.description.startswith("1 record(s) from GET /instances could not be read")
    assert (
        f"First: record {instance['id']}, field 'date_created': Invalid timestamp 'yesterday'"
        in check.description
    )


def test_unreadable_money_rejected(raw_assets, emulator, store, clean, month, month_invoice):
    emulator.faults.add(
        f"/billing/invoices/{month_invoice}/items", "mutate", mutate=first_record(total="abc")
    )

    result = run(raw_assets, emulator, store, INVOICE_TABLES, month)

    assert result.success, failure_text(result)
    remaining = [row for row in clean["invoice_items"] if row["line_number"] != 1]
    assert store.rows(f"{RAW_GROUP}.invoice_items") == remaining
    (reject,) = store.rows(f"{REJECTS_GROUP}.invoice_items")
    assert reject["billing_month"] == month
    assert reject["record_id"] == f"invoice_id {month_invoice}, line_number 1"
    assert reject["field"] == "total"
    assert reject["reason"] == "Invalid money amount 'abc': expected digits such as '12.34'"
    assert json.loads(reject["raw"])["total"] == "abc"
    assert rejected_count(result, "invoice_items") == 1
    assert not rejects_check(result, "invoice_items").passed
    assert rejects_check(result, "invoices").passed


def test_null_required_field_rejected(raw_assets, emulator, store, clean, month):
    emulator.faults.add("/instances", "mutate", mutate=first_record(id=None))

    result = run(raw_assets, emulator, store, ("instances",), month)

    assert result.success, failure_text(result)
    assert len(store.rows(f"{RAW_GROUP}.instances")) == len(clean["instances"]) - 1
    (reject,) = store.rows(f"{REJECTS_GROUP}.instances")
    assert reject["record_id"] is None
    assert reject["field"] == "id"
    assert reject["reason"] == "required key 'id' is missing"
    assert "record without an id, field 'id'" in rejects_check(result, "instances").description


def test_unreadable_invoice_date_rejected(raw_assets, emulator, store, clean, month, month_invoice):
    def break_date(body: dict) -> None:
        for record in records_of(body):
            if record["id"] == month_invoice:
                record["date"] = "next tuesday"

    emulator.faults.add("/billing/invoices", "mutate", mutate=break_date)

    result = run(raw_assets, emulator, store, INVOICE_TABLES, month)

    assert result.success, failure_text(result)
    assert store.rows(f"{RAW_GROUP}.invoices") == []
    (reject,) = store.rows(f"{REJECTS_GROUP}.invoices")
    assert reject["billing_month"] == month
    assert reject["record_id"] == str(month_invoice)
    assert reject["field"] == "date"
    # The rejected invoice's items are not fetched, because its month is unknown.
    assert store.rows(f"{RAW_GROUP}.invoice_items") == []
    assert not rejects_check(result, "invoices").passed


def test_clean_rerun_clears_rejects(raw_assets, emulator, store, clean, month):
    emulator.faults.add("/instances", "mutate", mutate=first_record(ram="lots"))
    assert run(raw_assets, emulator, store, ("instances",), month).success
    merged = store.engine.query_arrow(
        "SELECT _table AS source, field FROM merge('vultr_rejects', '.*')"
    ).to_pylist()
    assert merged == [{"source": "instances", "field": "ram"}]

    result = run(raw_assets, emulator, store, ("instances",), month)

    assert result.success, failure_text(result)
    assert store.rows(f"{RAW_GROUP}.instances") == clean["instances"]
    assert store.rows(f"{REJECTS_GROUP}.instances") == []
    assert rejects_check(result, "instances").passed
