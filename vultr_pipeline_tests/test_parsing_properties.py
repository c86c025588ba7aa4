"""Property-based tests of the money, integer and timestamp parsers and the description parser.

Each property holds for every value hypothesis generates: exact round trips, no float on any
path, agreement between the forms of one moment, and no exception but the documented ones.
"""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from vultr_pipeline.costs import descriptions
from vultr_pipeline.costs.categories import SERVICE_CATEGORIES, categorize
from vultr_pipeline.costs.descriptions import parse_description
from vultr_pipeline.vultr.client import VultrClient
from vultr_pipeline.vultr.errors import VultrResponseError
from vultr_pipeline.vultr.parsing import parse_datetime, parse_int, parse_money, to_json_text
from vultr_pipeline_tests.http_fixtures import CannedResponse, CannedServer

FINITE_DECIMALS = st.decimals(allow_nan=False, allow_infinity=False)
EPOCH_SECONDS = st.integers(min_value=0, max_value=253_402_300_799)
# Anything a JSON body can contain, and a few Python values that it cannot.
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.text(),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.datetimes(),
    st.datetimes(
        timezones=st.builds(
            timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
        )
    ),
)
# Text close to the accepted forms, so that hypothesis explores the edges of each pattern.
NUMBER_LIKE_TEXT = st.one_of(
    st.text(),
    st.text(alphabet="0123456789+-.eE _", max_size=12),
    st.from_regex(r"\A[+-]?\d{0,4}(\.\d{0,4})?([eE][+-]?\d{1,25})?\Z"),
)
TIMESTAMP_LIKE_TEXT = st.one_of(
    st.text(),
    st.text(alphabet="0123456789-:+TZ .", max_size=30),
    st.from_regex(
        r"\A\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:?\d{2})?)?\Z"
    ),
)


def json_number(value: Decimal) -> Any:
    """Write `value` as a JSON number and parse it back as the client does."""
    return json.loads(to_json_text(value), parse_float=Decimal)


# Money


@given(FINITE_DECIMALS)
def test_money_json_number_round_trips(value: Decimal) -> None:
    parsed = parse_money(json_number(value))

    assert isinstance(parsed, Decimal)
    assert parsed == value


@given(FINITE_DECIMALS)
def test_money_json_string_round_trips(value: Decimal) -> None:
    text = json.loads(json.dumps(str(value)))

    parsed = parse_money(text)

    assert isinstance(parsed, Decimal)
    assert parsed == value
    assert str(parsed) == str(value)


@given(FINITE_DECIMALS, st.sampled_from(["", " ", "\t", "\n "]))
def test_money_ignores_surrounding_whitespace(value: Decimal, padding: str) -> None:
    assert parse_money(f"{padding}{value}{padding}") == value


@given(NUMBER_LIKE_TEXT)
@example("1e9999999999999999999")
@example("١٢")
@example("1_000")
def test_money_text_parses_or_raises_value_error(text: str) -> None:
    try:
        parsed = parse_money(text)
    except ValueError as error:
        assert "Invalid money amount" in str(error)
        return

    if text.strip():
        assert isinstance(parsed, Decimal)
        assert parsed.is_finite()
        assert parsed == Decimal(text.strip())
    else:
        assert parsed is None


@given(ANY_VALUE)
def test_money_never_returns_float(value: object) -> None:
    try:
        parsed = parse_money(value)
    except (TypeError, ValueError):
        return

    assert parsed is None or type(parsed) is Decimal


@given(st.floats())
def test_money_rejects_every_float(value: float) -> None:
    with pytest.raises(TypeError, match="float"):
        parse_money(value)


# Integers


@given(st.integers(min_value=-(2**64) + 1, max_value=2**64 - 1))
def test_integer_forms_agree(value: int) -> None:
    assert parse_int(value) == value
    assert parse_int(str(value)) == value
    assert parse_int(json_number(Decimal(value))) == value
    assert parse_int(Decimal(value).scaleb(-2).scaleb(2)) == value


@given(NUMBER_LIKE_TEXT)
@example("1e999999999999")
@example("18446744073709551616")
def test_integer_text_parses_or_raises_value_error(text: str) -> None:
    try:
        parsed = parse_int(text)
    except ValueError as error:
        assert "Invalid integer" in str(error)
        return

    assert parsed is None or type(parsed) is int


# Timestamps


@given(EPOCH_SECONDS, st.integers(min_value=-23 * 60 + 1, max_value=23 * 60 + 59))
def test_epoch_and_iso_forms_agree(seconds: int, offset_minutes: int) -> None:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    zone = timezone(timedelta(minutes=offset_minutes))
    try:
        local = moment.astimezone(zone)
    except OverflowError:
        assume(False)
    forms = [
        seconds,
        str(seconds),
        moment.isoformat(),
        moment.isoformat().replace("+00:00", "Z"),
        moment.isoformat(sep=" "),
        moment.replace(tzinfo=None).isoformat(sep=" "),
        local.isoformat(),
        local,
    ]

    for form in forms:
        parsed = parse_datetime(form)
        assert parsed == moment, form
        assert parsed.tzinfo is UTC, form


@given(st.dates(min_value=datetime(1970, 1, 1).date()))
def test_date_only_is_utc_midnight(day: Any) -> None:
    parsed = parse_datetime(day.isoformat())

    assert parsed == datetime(day.year, day.month, day.day, tzinfo=UTC)


@given(TIMESTAMP_LIKE_TEXT)
@example("9999-12-31T23:59:59-01:00")
@example("0001-01-01T00:30:00+01:00")
@example("2020-01-01T00:00:00+24:00")
@example("١٢٣")
@example("9" * 5000)
def test_timestamp_text_parses_or_raises_value_error(text: str) -> None:
    try:
        parsed = parse_datetime(text)
    except ValueError as error:
        assert "Invalid timestamp" in str(error)
        return

    if text.strip():
        assert isinstance(parsed, datetime)
        assert parsed.utcoffset() == timedelta(0)
    else:
        assert parsed is None


@given(ANY_VALUE)
@example(datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))))
@example(datetime(1, 1, 1, 1, tzinfo=timezone(timedelta(hours=5))))
def test_timestamp_raises_only_documented_errors(value: object) -> None:
    try:
        parsed = parse_datetime(value)
    except (TypeError, ValueError):
        return

    assert parsed is None or parsed.utcoffset() == timedelta(0)


# Invoice item descriptions

LABELS = (
    st.text(
        alphabet=st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"]),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)
IPS = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
SUBNETS = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.builds(
        lambda address, prefix: str(ipaddress.ip_network(f"{address}/{prefix}", strict=False)),
        st.ip_addresses(v=6),
        st.integers(min_value=32, max_value=128),
    ),
)
CASINGS = st.sampled_from([str, str.lower, str.upper])
LABELLED_FORMS = [
    ("Load Balancer", descriptions.LOAD_BALANCER),
    ("Automatic Backup", descriptions.BACKUP),
    ("Automatic Backups", descriptions.BACKUP),
    ("Object Storage", descriptions.OBJECT_STORAGE),
    ("Managed Database", descriptions.DATABASE),
    ("Managed Databases", descriptions.DATABASE),
    ("Kubernetes HA Control Plane", descriptions.KUBERNETES_CONTROL_PLANE),
    ("Snapshot", descriptions.SNAPSHOT),
]
FORMS = {
    descriptions.SERVER,
    descriptions.BLOCK,
    descriptions.RESERVED_IP,
    descriptions.UNRECOGNIZED,
    *(form for _, form in LABELLED_FORMS),
}


@given(IPS, st.integers(min_value=0, max_value=10**7), LABELS)
def test_server_description_round_trips(ip: str, ram_mb: int, label: str) -> None:
    parsed = parse_description(f"{ip} ({ram_mb} MB) [{label}]")

    assert parsed.form == descriptions.SERVER
    assert parsed.ip == ip
    assert parsed.ram_mb == ram_mb
    assert parsed.label == label


@given(st.integers(min_value=1, max_value=10**6), LABELS, CASINGS)
def test_block_description_round_trips(size_gb: int, label: str, casing: Any) -> None:
    parsed = parse_description(f"{casing('Block Storage')} {size_gb} GB ({label})")

    assert parsed.form == descriptions.BLOCK
    assert parsed.size_gb == size_gb
    assert parsed.label == label


@given(SUBNETS, CASINGS)
def test_reserved_ip_description_round_trips(subnet: str, casing: Any) -> None:
    parsed = parse_description(f"{casing('Reserved IP')} ({subnet})")

    assert parsed.form == descriptions.RESERVED_IP
    assert parsed.ip == subnet


@given(st.sampled_from(LABELLED_FORMS), LABELS, CASINGS)
def test_labelled_description_round_trips(form: tuple[str, str], label: str, casing: Any) -> None:
    prefix, expected = form

    parsed = parse_description(f"{casing(prefix)} ({label})")

    assert parsed.form == expected
    assert parsed.label == label


@given(st.one_of(st.none(), st.text()))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_any_description_parses(text: str | None) -> None:
    parsed = parse_description(text)

    assert parsed.form in FORMS
    if parsed.form == descriptions.UNRECOGNIZED:
        assert parsed.label is None
        assert parsed.ip is None


@given(st.one_of(st.none(), st.text()), st.one_of(st.none(), st.text()))
def test_any_line_gets_a_category(product: str | None, description: str | None) -> None:
    assert categorize(product, description).category in SERVICE_CATEGORIES


# The client parses JSON numbers with parse_float=Decimal, which raises decimal.InvalidOperation
# (not ValueError) for an exponent out of Decimal's range.


def test_client_rejects_out_of_range_number() -> None:
    body = '{"account": {"balance": 1e9999999999999999999}}'
    with CannedServer() as server:
        server.serve("/account", CannedResponse(body=body))
        client = VultrClient("key", server.url, max_attempts=1)

        with pytest.raises(VultrResponseError, match="out of the range of Decimal"):
            client.get("/account")
