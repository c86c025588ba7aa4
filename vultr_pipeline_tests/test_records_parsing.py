"""Unit tests of the value parsers and of parse_record on hand-written records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vultr_pipeline.vultr import (
    ENDPOINTS,
    RECORD_SPECS,
    Field,
    Kind,
    RecordSpec,
    RejectedRecord,
    VultrRecordError,
    bandwidth_period_records,
    number_lines,
    parse_or_reject,
    parse_record,
    strip_secrets,
)
from vultr_pipeline.vultr.endpoints import format_invoice_id
from vultr_pipeline.vultr.parsing import (
    parse_bool,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_money,
    parse_str,
    parse_str_list,
    to_json_text,
)

# Money


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(5, Decimal("5"), id="int"),
        pytest.param(-3, Decimal("-3"), id="negative-int"),
        pytest.param(Decimal("22.09"), Decimal("22.09"), id="decimal"),
        pytest.param("5", Decimal("5"), id="digit-string"),
        pytest.param("12.34", Decimal("12.34"), id="decimal-string"),
        pytest.param(" -0.0149 ", Decimal("-0.0149"), id="padded-string"),
        pytest.param("1E+2", Decimal("1E+2"), id="exponent-string"),
        pytest.param(None, None, id="none"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_money_accepts(value: object, expected: Decimal | None) -> None:
    assert parse_money(value) == expected


def test_parse_money_keeps_exact_digits() -> None:
    assert str(parse_money("22.090")) == "22.090"
    assert str(parse_money(Decimal("0.0149"))) == "0.0149"


def test_parse_money_rejects_float() -> None:
    with pytest.raises(TypeError, match="float input is not accepted"):
        parse_money(22.09)


def test_parse_money_rejects_bool() -> None:
    with pytest.raises(TypeError, match="bool"):
        parse_money(True)


@pytest.mark.parametrize("value", ["abc", "1,5", "1_000", "12.3.4", "$5", "NaN", "Infinity"])
def test_parse_money_rejects_text(value: str) -> None:
    with pytest.raises(ValueError, match="Invalid money amount") as info:
        parse_money(value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("-Infinity")])
def test_parse_money_rejects_non_finite(value: Decimal) -> None:
    with pytest.raises(ValueError, match="finite"):
        parse_money(value)


def test_parse_money_rejects_other_types() -> None:
    with pytest.raises(TypeError, match="got list"):
        parse_money([1])


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_money_decimal_round_trips(value: Decimal) -> None:
    assert parse_money(value) == value
    assert parse_money(str(value)) == value
    assert str(parse_money(str(value))) == str(value)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=6))
def test_money_survives_json_text(value: Decimal) -> None:
    text = to_json_text({"amount": value})
    parsed = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    assert parse_money(parsed["amount"]) == value


def test_parse_decimal_names_non_money_values() -> None:
    assert parse_decimal("371") == Decimal("371")
    with pytest.raises(ValueError, match="Invalid number"):
        parse_decimal("many")


# Integers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (215, 215),
        ("16751", 16751),
        (Decimal("123456"), 123456),
        (Decimal("2.0"), 2),
        (369967110111, 369967110111),
        (None, None),
        ("", None),
    ],
)
def test_parse_int_accepts(value: object, expected: int | None) -> None:
    assert parse_int(value) == expected


@pytest.mark.parametrize("value", [Decimal("2.5"), "2.5", "x"])
def test_parse_int_rejects_non_whole(value: object) -> None:
    with pytest.raises(ValueError, match="integer"):
        parse_int(value)


@pytest.mark.parametrize("value", [2.0, False])
def test_parse_int_rejects_float_and_bool(value: object) -> None:
    with pytest.raises(TypeError):
        parse_int(value)


# Timestamps


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            "2020-10-10T01:56:20+00:00", datetime(2020, 10, 10, 1, 56, 20, tzinfo=UTC), id="iso"
        ),
        pytest.param("2020-10-10T01:56:20Z", datetime(2020, 10, 10, 1, 56, 20, tzinfo=UTC), id="z"),
        pytest.param(
            "2020-10-10T03:56:20+02:00",
            datetime(2020, 10, 10, 1, 56, 20, tzinfo=UTC),
            id="offset-converted",
        ),
        pytest.param(
            "2020-10-10T01:56:20.250000-05:00",
            datetime(2020, 10, 10, 6, 56, 20, 250000, tzinfo=UTC),
            id="fraction-and-negative-offset",
        ),
        pytest.param(
            "2022-05-09 10:13:31", datetime(2022, 5, 9, 10, 13, 31, tzinfo=UTC), id="no-offset"
        ),
        pytest.param("2020-10-01 00:00", datetime(2020, 10, 1, tzinfo=UTC), id="minutes"),
        pytest.param("2010-11-10", datetime(2010, 11, 10, tzinfo=UTC), id="date-only"),
        pytest.param("1701388800", datetime(2023, 12, 1, tzinfo=UTC), id="epoch-string"),
        pytest.param(1704067200, datetime(2024, 1, 1, tzinfo=UTC), id="epoch-int"),
        pytest.param("0", datetime(1970, 1, 1, tzinfo=UTC), id="epoch-zero"),
        pytest.param(None, None, id="none"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_datetime_accepts(value: object, expected: datetime | None) -> None:
    parsed = parse_datetime(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is UTC


def test_parse_datetime_converts_datetimes() -> None:
    naive = datetime(2021, 1, 1, 12)
    eastern = datetime(2021, 1, 1, 7, tzinfo=timezone(timedelta(hours=-5)))
    assert parse_datetime(naive) == datetime(2021, 1, 1, 12, tzinfo=UTC)
    assert parse_datetime(eastern) == datetime(2021, 1, 1, 12, tzinfo=UTC)
    assert parse_datetime(eastern).tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("09-01-2021T00:00:00+00:00", id="spec-malformed-date"),
        pytest.param('2022-11-02 12:58:18"', id="spec-stray-quote"),
        pytest.param("2021-13-01", id="month-13"),
        pytest.param("2021-02-30 10:00:00", id="february-30"),
        pytest.param("yesterday", id="word"),
        pytest.param("2021/01/01", id="slashes"),
        pytest.param("-5", id="negative-epoch"),
        pytest.param("99999999999999", id="epoch-too-large"),
    ],
)
def test_parse_datetime_rejects(value: str) -> None:
    with pytest.raises(ValueError, match="Invalid timestamp") as info:
        parse_datetime(value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("value", [1.5e9, True, ["2021-01-01"]])
def test_parse_datetime_rejects_types(value: object) -> None:
    with pytest.raises(TypeError):
        parse_datetime(value)


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1)))
def test_datetime_iso_round_trips(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC)
    assert parse_datetime(aware.isoformat()) == aware
    assert parse_datetime(moment.isoformat(sep=" ")) == aware


@given(st.integers(min_value=0, max_value=253_402_300_799))
def test_epoch_round_trips(seconds: int) -> None:
    parsed = parse_datetime(str(seconds))
    assert parsed is not None
    assert int((parsed - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) == seconds


# Booleans, strings and lists


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("yes", True), ("no", False), ("TRUE", True), (0, False)],
)
def test_parse_bool_accepts(value: object, expected: bool) -> None:
    assert parse_bool(value) is expected


@pytest.mark.parametrize("value", ["maybe", 2, Decimal("1")])
def test_parse_bool_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="Invalid boolean"):
        parse_bool(value)


def test_parse_str_writes_numbers_as_digits() -> None:
    assert parse_str(16751) == "16751"
    assert parse_str(Decimal("8.0")) == "8.0"
    assert parse_str("EWR") == "EWR"
    with pytest.raises(ValueError, match="Invalid text"):
        parse_str({"a": 1})
    with pytest.raises(ValueError, match="Invalid text"):
        parse_str(True)


def test_parse_str_list() -> None:
    assert parse_str_list(["a tag", "another"]) == ["a tag", "another"]
    assert parse_str_list(None) == []
    assert parse_str_list([]) == []
    with pytest.raises(ValueError, match="expected a JSON array"):
        parse_str_list("ewr")
    with pytest.raises(ValueError, match="element 5 is not a string"):
        parse_str_list(["ewr", 5])


# Exact JSON text


def test_to_json_text_is_compact_sorted_and_exact() -> None:
    value = {"b": [Decimal("0.0149"), 1, True, None], "a": {"z": Decimal("22.090")}, "c": "é"}
    assert to_json_text(value) == '{"a":{"z":22.090},"b":[0.0149,1,true,null],"c":"é"}'


def test_to_json_text_rejects_float_and_nan() -> None:
    with pytest.raises(TypeError, match="float"):
        to_json_text({"a": 1.5})
    with pytest.raises(ValueError, match="finite"):
        to_json_text([Decimal("NaN")])


# Invoice ids


def test_format_invoice_id() -> None:
    assert format_invoice_id(123456) == "123456"
    assert format_invoice_id("0042") == "42"
    assert format_invoice_id(Decimal("5317720")) == "5317720"
    for bad in [True, -1, "12a", Decimal("1.5"), 1.0]:
        with pytest.raises(ValueError, match="invoice id"):
            format_invoice_id(bad)
    path = ENDPOINTS["invoice_items"].format_path(invoice_id=Decimal("123456"))
    assert path == "/billing/invoices/123456/items"
    with pytest.raises(ValueError, match="needs path parameters"):
        ENDPOINTS["invoice_items"].format_path()


# parse_record


def test_parse_record_removes_nested_secrets() -> None:
    record = {
        "id": "db-1",
        "region": "EWR",
        "password": "top-secret-1",
        "port": 16751,
        "read_replicas": [{"id": "db-2", "password": "top-secret-2", "user": "vultradmin"}],
        "nested": {"deeper": [{"kubeconfig": "top-secret-3", "kube_config": "top-secret-4"}]},
    }
    row = parse_record(RECORD_SPECS["databases"], record)
    assert "top-secret" not in row["raw"]
    assert "top-secret" not in row["read_replicas"]
    assert json.loads(row["read_replicas"]) == [{"id": "db-2", "user": "vultradmin"}]
    assert row["region"] == "ewr"
    assert row["port"] == "16751"
    assert record["password"] == "top-secret-1"


def test_parse_record_drops_instance_console_url() -> None:
    record = {"id": "i-1", "kvm": "https://my.vultr.com/subs/vps/novnc/api.php?data=SESSION"}
    row = parse_record(RECORD_SPECS["instances"], record)
    assert "SESSION" not in row["raw"]
    assert row["tags"] == []
    assert row["pending_charges"] is None


def test_parse_record_missing_required_field() -> None:
    with pytest.raises(VultrRecordError) as info:
        parse_record(RECORD_SPECS["instances"], {"label": "no id"})
    error = info.value
    assert error.table == "instances"
    assert error.field == "id"
    assert error.record_id is None
    assert "required key 'id' is missing" in str(error)
    assert "record without an id" in str(error)


def test_parse_record_null_required_field() -> None:
    with pytest.raises(VultrRecordError, match="required key 'date' is missing"):
        parse_record(RECORD_SPECS["billing_history"], {"id": 1, "date": None})


def test_parse_record_bad_value_names_record_and_field() -> None:
    record = {"id": "blk-9", "cost": "five dollars", "date_created": "2020-10-10T01:56:20+00:00"}
    with pytest.raises(VultrRecordError) as info:
        parse_record(RECORD_SPECS["blocks"], record)
    error = info.value
    message = str(error)
    assert error.field == "cost"
    assert error.record_id == "blk-9"
    assert "id=blk-9" in message
    assert "'five dollars'" in message
    assert "Invalid money amount" in error.reason
    assert isinstance(error.__cause__, ValueError)


def test_parse_or_reject_returns_row() -> None:
    record = {"id": "i-1", "ram": "2048", "date_created": "2022-05-09 10:13:31", "new_key": 1}
    row = parse_or_reject(RECORD_SPECS["instances"], record)
    assert isinstance(row, dict)
    assert row["ram"] == 2048
    assert row["date_created"] == datetime(2022, 5, 9, 10, 13, 31, tzinfo=UTC)
    assert json.loads(row["raw"])["new_key"] == 1


def test_parse_or_reject_keeps_bad_record() -> None:
    record = {"id": "i-1", "date_created": "yesterday", "default_password": "top-secret-5"}
    rejected = parse_or_reject(RECORD_SPECS["instances"], record)
    assert rejected == RejectedRecord(
        record_id="i-1",
        field="date_created",
        reason=rejected.reason,
        raw='{"date_created":"yesterday","id":"i-1"}',
    )
    assert rejected.reason.startswith("Invalid timestamp 'yesterday': expected ISO-8601")


def test_parse_or_reject_names_invoice_line() -> None:
    items = number_lines([{"total": "1.5"}, {"total": "abc"}], invoice_id=77)
    rejected = parse_or_reject(RECORD_SPECS["invoice_items"], items[1])
    assert isinstance(rejected, RejectedRecord)
    assert rejected.record_id == "invoice_id 77, line_number 2"
    assert rejected.field == "total"
    assert rejected.reason == "Invalid money amount 'abc': expected digits such as '12.34'"


def test_parse_or_reject_nan_outside_fields() -> None:
    rejected = parse_or_reject(RECORD_SPECS["regions"], {"id": "ams", "score": float("nan")})
    assert isinstance(rejected, RejectedRecord)
    assert rejected.field == "raw"
    assert json.loads(rejected.raw) == {"id": "ams", "score": "nan"}


def test_parse_record_float_money_is_rejected() -> None:
    with pytest.raises(VultrRecordError, match="float input is not accepted"):
        parse_record(RECORD_SPECS["account"], {"balance": -100.55})


def test_parse_record_long_value_is_shortened() -> None:
    with pytest.raises(VultrRecordError) as info:
        parse_record(RECORD_SPECS["regions"], {"id": "ams", "options": "x" * 500})
    assert len(info.value.value_excerpt) <= 60


def test_parse_record_rejects_non_object() -> None:
    with pytest.raises(VultrRecordError, match="expected a JSON object"):
        parse_record(RECORD_SPECS["regions"], ["ams"])  # type: ignore[arg-type]


def test_parse_record_nested_source_and_absent_parent() -> None:
    spec = RECORD_SPECS["load_balancers"]
    with_info = parse_record(
        spec, {"id": "lb", "generic_info": {"balancing_algorithm": "leastconn"}}
    )
    without_info = parse_record(spec, {"id": "lb"})
    assert with_info["balancing_algorithm"] == "leastconn"
    assert without_info["balancing_algorithm"] is None
    assert without_info["generic_info"] is None


def test_parse_record_gpu_plan_fields() -> None:
    record = json.loads(
        '{"id": "vcg-a100-1c-6g-4vram", "type": "vcg", "monthly_cost": 90.5,'
        ' "hourly_cost": 0.134, "gpu_vram_gb": 4, "gpu_type": "NVIDIA_A100",'
        ' "locations": ["ewr"], "location_cost": {"sao": {"monthly_cost": 99.55}}}',
        parse_float=Decimal,
    )
    row = parse_record(RECORD_SPECS["plans"], record)
    assert row["monthly_cost"] == Decimal("90.5")
    assert row["hourly_cost"] == Decimal("0.134")
    assert row["gpu_vram_gb"] == 4
    assert row["gpu_type"] == "NVIDIA_A100"
    assert row["location_cost"] == '{"sao":{"monthly_cost":99.55}}'
    assert row["raw"].startswith('{"gpu_type":"NVIDIA_A100","gpu_vram_gb":4,"hourly_cost":0.134')


def test_parse_record_typed_values_per_kind() -> None:
    fields = (
        Field("text", Kind.STRING),
        Field("category", Kind.LOW_CARDINALITY, lowercase=True),
        Field("count", Kind.INT, required=True),
        Field("price", Kind.MONEY),
        Field("units", Kind.DECIMAL),
        Field("when", Kind.DATETIME),
        Field("flag", Kind.BOOL),
        Field("names", Kind.STRING_LIST),
        Field("blob", Kind.JSON, source=("outer", "inner")),
    )
    spec = RecordSpec("example", ENDPOINTS["regions"], fields, ("count",), frozenset(), "")
    record = {
        "text": "a",
        "category": "EWR",
        "count": "7",
        "price": Decimal("1.10"),
        "units": 3,
        "when": "2021-01-01",
        "flag": "no",
        "names": ["x"],
        "outer": {"inner": {"k": [Decimal("1.5")]}},
    }
    row = parse_record(spec, record)
    assert row == {
        "text": "a",
        "category": "ewr",
        "count": 7,
        "price": Decimal("1.10"),
        "units": Decimal(3),
        "when": datetime(2021, 1, 1, tzinfo=UTC),
        "flag": False,
        "names": ["x"],
        "blob": '{"k":[1.5]}',
        "raw": to_json_text(record),
    }
    assert spec.column_names == (*(field.name for field in fields), "raw")


def test_record_specs_are_consistent() -> None:
    for table, spec in RECORD_SPECS.items():
        names = [field.name for field in spec.fields]
        assert spec.table == table
        assert len(names) == len(set(names)), table
        assert "raw" not in names, table
        assert set(spec.order_by) <= set(names), table
        required = {field.name for field in spec.fields if field.required}
        assert set(spec.order_by) <= required, table
        assert {"password", "default_password", "kvm"} <= spec.secret_keys, table
        assert not {field.source_path[0] for field in spec.fields} & spec.secret_keys, table


def test_strip_secrets_leaves_input_unchanged() -> None:
    record = {"a": {"password": "p", "b": [{"s3_secret_key": "k", "c": 1}]}}
    assert strip_secrets(record) == {"a": {"b": [{"c": 1}]}}
    assert record["a"]["password"] == "p"


# Record preparation helpers


def test_number_lines_keeps_duplicates_distinct() -> None:
    line = {"description": "Snapshot", "total": Decimal("0.05")}
    items = number_lines([line, line, dict(line)], invoice_id=5317720)
    rows = [parse_record(RECORD_SPECS["invoice_items"], item) for item in items]
    assert [row["line_number"] for row in rows] == [1, 2, 3]
    assert {row["invoice_id"] for row in rows} == {5317720}
    assert len({row["raw"] for row in rows}) == 3
    assert "line_number" not in line


def test_number_lines_for_pending_charges() -> None:
    items = number_lines([{"total": 1}, {"total": 2}])
    assert items == [{"total": 1, "line_number": 1}, {"total": 2, "line_number": 2}]


def test_bandwidth_period_records() -> None:
    bandwidth = {
        "current_month_to_date": {"timestamp_start": "1704067200", "gb_in": 3},
        "previous_month": {"timestamp_start": "1701388800", "gb_in": 1},
    }
    records = bandwidth_period_records(bandwidth)
    assert [record["period"] for record in records] == ["previous_month", "current_month_to_date"]
    row = parse_record(RECORD_SPECS["account_bandwidth"], records[0])
    assert row["timestamp_start"] == datetime(2023, 12, 1, tzinfo=UTC)
    assert row["gb_in"] == Decimal(1)
    assert row["timestamp_end"] is None
