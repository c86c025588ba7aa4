"""Vultr's own OpenAPI examples, served over HTTP, fetched by the client and parsed.

Every 200-response example of every endpoint the pipeline reads is taken from both spec files
(``examples``, ``example`` and schema ``x-examples``). Expected values are computed here from
the example itself: ``Decimal(str(number))`` for money, ``datetime.fromisoformat`` or epoch
seconds for timestamps, plain lists for string lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from vultr_pipeline.vultr import (
    ENDPOINTS,
    RECORD_SPECS,
    Kind,
    RateLimiter,
    RecordSpec,
    VultrAPI,
    VultrClient,
    VultrRecordError,
    VultrResponseError,
    bandwidth_period_records,
    number_lines,
    parse_record,
)
from vultr_pipeline_tests.http_fixtures import CannedResponse, CannedServer, RecordedRequest

SPEC_DIR = Path(__file__).parent / "spec"
SPEC_FILES = ("openapi.json", "v0.0.1.json")
INVOICE_ID = 123456

# Spec path of each endpoint; the registry writes the invoice id placeholder differently.
SPEC_PATHS = {name: endpoint.path for name, endpoint in ENDPOINTS.items()}
SPEC_PATHS["invoice_items"] = "/billing/invoices/{invoice-id}/items"

# Endpoints whose 200 response has no example in a spec file, with the reason.
ENDPOINTS_WITHOUT_EXAMPLES = {
    "openapi.json": {},
    "v0.0.1.json": {
        "account_bandwidth": "the 2023 spec has no /account/bandwidth path",
        "pending_charges": "the 2023 spec has no /billing/pending-charges path",
    },
}

# Example keys that are kept only in the raw JSON, not as columns.
RAW_ONLY_KEYS = {
    "databases": {"mysql_sql_modes", "mysql_require_primary_key", "mysql_slow_query_log"},
}

# Secret keys as the brief lists them; the raw JSON must contain none of them.
SECRET_KEYS = {
    "default_password",
    "password",
    "s3_access_key",
    "s3_secret_key",
    "kube_config",
    "kubeconfig",
    "kvm",
}

# Defects in Vultr's examples and the behaviour expected for each.
WRONG_KEY = "wrong-key"
STRAY_QUOTE = "stray-quote"
KNOWN_DEFECTS = {
    # The invoice-list x-example uses key 'billing_invoice' (with 'billing_period') where the
    # API sends 'billing_invoices': the client raises VultrResponseError naming the key.
    ("invoices", "x-examples/example-1"): WRONG_KEY,
    # DB 'latest_backup' is '2022-11-02 12:58:18"' with a stray quote: parse_record raises
    # VultrRecordError on 'latest_backup'; without the quote the record parses.
    ("databases", "examples/database"): STRAY_QUOTE,
}


@dataclass(frozen=True)
class SpecExample:
    """One example response body from a spec file."""

    spec_file: str
    endpoint: str
    label: str
    body: dict[str, Any]

    @property
    def test_id(self) -> str:
        return f"{self.spec_file}:{self.endpoint}:{self.label}"


def load_spec(spec_file: str) -> dict[str, Any]:
    return json.loads((SPEC_DIR / spec_file).read_text())


def examples_of_operation(operation: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    content = operation["responses"]["200"]["content"]["application/json"]
    for name, example in content.get("examples", {}).items():
        yield f"examples/{name}", example["value"]
    if "example" in content:
        yield "example", content["example"]
    for name, example in content.get("schema", {}).get("x-examples", {}).items():
        yield f"x-examples/{name}", example


def collect_examples() -> tuple[list[SpecExample], dict[str, set[str]]]:
    found: list[SpecExample] = []
    missing: dict[str, set[str]] = {spec_file: set() for spec_file in SPEC_FILES}
    for spec_file in SPEC_FILES:
        paths = load_spec(spec_file)["paths"]
        for name, spec_path in SPEC_PATHS.items():
            operation = paths.get(spec_path, {}).get("get")
            examples = list(examples_of_operation(operation)) if operation else []
            if not examples:
                missing[spec_file].add(name)
            for label, body in examples:
                found.append(SpecExample(spec_file, name, label, body))
    return found, missing


EXAMPLES, MISSING_EXAMPLES = collect_examples()


def make_client(server: CannedServer) -> VultrClient:
    return VultrClient(
        "test-key-planted-0001",
        server.url,
        rate_limiter=RateLimiter(1000.0, burst=50),
        backoff=0.01,
        max_attempts=2,
    )


def serve_example(server: CannedServer, example: SpecExample) -> None:
    """Serve the example as page 1 and an empty last page for its example cursor."""
    endpoint = ENDPOINTS[example.endpoint]
    path = endpoint.path.replace("{invoice_id}", str(INVOICE_ID))

    def handle(request: RecordedRequest) -> CannedResponse:
        if request.param("cursor") is None:
            return CannedResponse(body=example.body)
        last_page = {endpoint.key: [], "meta": {"total": 0, "links": {"next": "", "prev": ""}}}
        return CannedResponse(body=last_page)

    server.route(path, handle)


def fetch_records(server: CannedServer, example: SpecExample) -> list[dict[str, Any]]:
    """Fetch the example through the client and prepare records as the asset layer would."""
    serve_example(server, example)
    with make_client(server) as client:
        api = VultrAPI(client)
        if example.endpoint == "account":
            return [api.account()]
        if example.endpoint == "account_bandwidth":
            return bandwidth_period_records(api.account_bandwidth())
        if example.endpoint == "invoice_items":
            return number_lines(api.invoice_items(INVOICE_ID), invoice_id=INVOICE_ID)
        if example.endpoint == "pending_charges":
            return number_lines(api.pending_charges())
        return api.list_endpoint(example.endpoint)


def example_records(example: SpecExample) -> list[dict[str, Any]]:
    """The records of the example body, prepared the same way, for expected values."""
    value = example.body[ENDPOINTS[example.endpoint].key]
    if example.endpoint == "account":
        return [value]
    if example.endpoint == "account_bandwidth":
        return [{**value[period], "period": period} for period in value]
    if example.endpoint == "invoice_items":
        return [
            {**item, "invoice_id": INVOICE_ID, "line_number": number}
            for number, item in enumerate(value, start=1)
        ]
    if example.endpoint == "pending_charges":
        return [{**item, "line_number": number} for number, item in enumerate(value, start=1)]
    return value


def expected_datetime(value: Any) -> datetime:
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(int(value), UTC)
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def expected_value(kind: Kind, value: Any) -> Any:
    if value is None:
        return [] if kind is Kind.STRING_LIST else None
    if kind in (Kind.MONEY, Kind.DECIMAL):
        return Decimal(str(value))
    if kind is Kind.INT:
        return int(value)
    if kind in (Kind.STRING, Kind.LOW_CARDINALITY):
        return str(value)
    if kind is Kind.DATETIME:
        return expected_datetime(value)
    if kind is Kind.BOOL:
        return value if isinstance(value, bool) else {"yes": True, "no": False}[value]
    if kind is Kind.STRING_LIST:
        return list(value)
    raise AssertionError(f"no expected value for kind {kind}")


def lookup(record: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = record
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items() if k not in SECRET_KEYS}
    if isinstance(value, list):
        return [without_secrets(item) for item in value]
    return value


def assert_row_matches(spec: RecordSpec, row: dict[str, Any], record: dict[str, Any]) -> None:
    for field in spec.fields:
        source = lookup(record, field.source_path)
        if field.kind is Kind.JSON:
            actual = None if row[field.name] is None else json.loads(row[field.name])
            assert actual == source, f"{spec.table}.{field.name}"
            continue
        expected = expected_value(field.kind, source)
        if field.lowercase and expected is not None:
            expected = expected.lower()
        assert row[field.name] == expected, f"{spec.table}.{field.name}"
        assert type(row[field.name]) is type(expected), f"{spec.table}.{field.name} type"
    assert json.loads(row["raw"]) == without_secrets(record)
    assert set(row) == {*(field.name for field in spec.fields), "raw"}


def assert_every_key_is_used(spec: RecordSpec, record: dict[str, Any]) -> None:
    used = {field.source_path[0] for field in spec.fields}
    unused = set(record) - used - SECRET_KEYS - RAW_ONLY_KEYS.get(spec.table, set())
    assert unused == set(), f"{spec.table} keys with no column: {sorted(unused)}"


def test_endpoints_without_examples_are_listed() -> None:
    expected = {
        spec_file: set(reasons) for spec_file, reasons in ENDPOINTS_WITHOUT_EXAMPLES.items()
    }
    assert MISSING_EXAMPLES == expected


def test_every_endpoint_has_an_example() -> None:
    covered = {example.endpoint for example in EXAMPLES}
    assert covered == set(ENDPOINTS)
    assert {spec.endpoint.name for spec in RECORD_SPECS.values()} == set(ENDPOINTS)


def test_known_defects_are_present_in_both_specs() -> None:
    seen = {(e.spec_file, e.endpoint, e.label) for e in EXAMPLES}
    for endpoint, label in KNOWN_DEFECTS:
        for spec_file in SPEC_FILES:
            assert (spec_file, endpoint, label) in seen


@pytest.mark.parametrize(
    "example",
    [e for e in EXAMPLES if (e.endpoint, e.label) not in KNOWN_DEFECTS],
    ids=lambda e: e.test_id,
)
def test_spec_example_parses_to_its_values(example: SpecExample) -> None:
    spec = RECORD_SPECS[example.endpoint]
    with CannedServer() as server:
        records = fetch_records(server, example)
    expected_records = json.loads(json.dumps(example_records(example)))
    assert len(records) == len(expected_records)
    assert len(records) > 0
    for record, expected_record in zip(records, expected_records, strict=True):
        row = parse_record(spec, record)
        assert_row_matches(spec, row, expected_record)
        assert_every_key_is_used(spec, expected_record)


def examples_with_defect(defect: str) -> list[SpecExample]:
    return [e for e in EXAMPLES if KNOWN_DEFECTS.get((e.endpoint, e.label)) == defect]


@pytest.mark.parametrize("example", examples_with_defect(WRONG_KEY), ids=lambda e: e.test_id)
def test_invoice_list_x_example_wrong_key_raises(example: SpecExample) -> None:
    assert "billing_invoice" in example.body
    with CannedServer() as server, pytest.raises(VultrResponseError) as info:
        fetch_records(server, example)
    message = str(info.value)
    assert "'billing_invoices' is missing" in message
    assert "GET /billing/invoices (page 1)" in message


@pytest.mark.parametrize("example", examples_with_defect(STRAY_QUOTE), ids=lambda e: e.test_id)
def test_database_stray_quote_raises_record_error(example: SpecExample) -> None:
    spec = RECORD_SPECS["databases"]
    with CannedServer() as server:
        records = fetch_records(server, example)
    assert records[0]["latest_backup"] == '2022-11-02 12:58:18"'
    with pytest.raises(VultrRecordError) as info:
        parse_record(spec, records[0])
    error = info.value
    assert error.field == "latest_backup"
    assert error.record_id == "999c4ed0-f2e4-4f2a-a951-de358ceb9ab5"
    assert "latest_backup" in str(error)
    assert "PASSWORD_GOES_HERE" not in str(error)
    fixed = {**records[0], "latest_backup": "2022-11-02 12:58:18"}
    row = parse_record(spec, fixed)
    expected = json.loads(json.dumps(example.body["databases"][0]))
    assert_row_matches(spec, row, {**expected, "latest_backup": "2022-11-02 12:58:18"})


@pytest.mark.parametrize("spec_file", SPEC_FILES)
def test_single_invoice_malformed_date_raises(spec_file: str) -> None:
    operation = load_spec(spec_file)["paths"]["/billing/invoices/{invoice-id}"]["get"]
    bodies = dict(examples_of_operation(operation))
    invoice = bodies["examples/example-1"]["billing_invoice"]
    assert invoice["date"] == "09-01-2021T00:00:00+00:00"
    with pytest.raises(VultrRecordError) as info:
        parse_record(RECORD_SPECS["invoices"], invoice)
    assert info.value.field == "date"
    assert info.value.record_id == "123456"
    assert "09-01-2021T00:00:00+00:00" in str(info.value)


def find_example(spec_file: str, endpoint: str) -> SpecExample:
    return next(e for e in EXAMPLES if e.spec_file == spec_file and e.endpoint == endpoint)


def fetch_rows(spec_file: str, endpoint: str) -> list[dict[str, Any]]:
    with CannedServer() as server:
        records = fetch_records(server, find_example(spec_file, endpoint))
    return [parse_record(RECORD_SPECS[endpoint], record) for record in records]


def test_invoice_item_values_are_exact() -> None:
    rows = fetch_rows("openapi.json", "invoice_items")
    assert [row["line_number"] for row in rows] == [1, 2]
    assert rows[1]["invoice_id"] == INVOICE_ID
    assert rows[1]["total"] == Decimal("22.09")
    assert rows[1]["unit_price"] == Decimal("0.0595")
    assert rows[1]["units"] == Decimal("371")
    assert rows[1]["start_date"] == datetime(2021, 9, 15, tzinfo=UTC)
    assert rows[0]["unit_price"] == Decimal("0.0149")


def test_bandwidth_epoch_strings_become_datetimes() -> None:
    rows = fetch_rows("openapi.json", "account_bandwidth")
    assert [row["period"] for row in rows] == [
        "previous_month",
        "current_month_to_date",
        "current_month_projected",
    ]
    assert rows[0]["timestamp_start"] == datetime(2023, 12, 1, tzinfo=UTC)
    assert rows[0]["timestamp_end"] == datetime(2024, 1, 1, tzinfo=UTC)
    assert rows[0]["overage_unit_cost"] == Decimal("0.01")


def test_account_money_and_dates() -> None:
    (row,) = fetch_rows("v0.0.1.json", "account")
    assert row["balance"] == Decimal("-100.55")
    assert row["pending_charges"] == Decimal("60.25")
    assert row["last_payment_amount"] == Decimal("-1.25")
    assert row["last_payment_date"] == datetime(2020, 10, 10, 1, 56, 20, tzinfo=UTC)


def test_secrets_absent_from_raw() -> None:
    planted = {
        "bare_metals": "example-password",
        "instances": "00example11223344",
        "object_storage": "00example1122334455667788990011",
    }
    for spec_file in SPEC_FILES:
        for endpoint, secret in planted.items():
            for row in fetch_rows(spec_file, endpoint):
                assert secret not in row["raw"], f"{spec_file}:{endpoint}"
                assert secret not in repr(row), f"{spec_file}:{endpoint}"


def test_object_storage_tier_is_flattened() -> None:
    (row,) = fetch_rows("openapi.json", "object_storage")
    assert row["tier_id"] == 5
    assert row["tier_price"] == Decimal("50")
    assert row["tier_bw_gb_price"] == Decimal("0.01")
    assert row["tier_is_default"] is False
    (old_row,) = fetch_rows("v0.0.1.json", "object_storage")
    assert old_row["tier_id"] is None
    assert old_row["tier_price"] is None


def test_database_text_columns_and_region() -> None:
    example = find_example("openapi.json", "databases")
    record = {**example.body["databases"][0], "latest_backup": "2022-11-02 12:58:18"}
    record = json.loads(json.dumps(record), parse_float=Decimal)
    row = parse_record(RECORD_SPECS["databases"], record)
    assert row["region"] == "ewr"
    assert row["port"] == "16751"
    assert row["database_engine_version"] == "8"
    assert row["date_created"] == datetime(2022, 5, 9, 10, 13, 31, tzinfo=UTC)
    assert row["read_replicas"] == '["..."]'
    assert "PASSWORD_GOES_HERE" not in row["raw"]
