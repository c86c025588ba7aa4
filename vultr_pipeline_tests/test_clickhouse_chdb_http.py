"""Tests of the ClickHouse-HTTP-compatible chDB endpoint over raw HTTP."""

import base64
import gzip
import io
from decimal import Decimal

import pyarrow as pa
import requests

from vultr_pipeline.clickhouse.engine import open_engine

pytest_plugins = ["vultr_pipeline_tests.clickhouse_fixtures"]

TIMEOUT_SECONDS = 60


def auth(server) -> dict[str, str]:
    return {"X-ClickHouse-User": server.user, "X-ClickHouse-Key": server.password}


def url(server) -> str:
    return f"http://127.0.0.1:{server.port}/"


def test_ping_needs_no_login(chdb_http_server) -> None:
    response = requests.get(url(chdb_http_server) + "ping", timeout=TIMEOUT_SECONDS)

    assert response.status_code == 200
    assert response.text == "Ok.\n"


def test_query_in_url_with_headers_login(chdb_http_server) -> None:
    response = requests.get(
        url(chdb_http_server),
        params={"query": "SELECT 40 + 2"},
        headers=auth(chdb_http_server),
        timeout=TIMEOUT_SECONDS,
    )

    assert response.status_code == 200
    assert response.text == "42\n"
    assert "X-ClickHouse-Summary" in response.headers


def test_query_in_body_with_basic_login(chdb_http_server) -> None:
    token = base64.b64encode(
        f"{chdb_http_server.user}:{chdb_http_server.password}".encode()
    ).decode()

    response = requests.post(
        url(chdb_http_server),
        data=b"SELECT {x:UInt8} * 2",
        params={"param_x": "21"},
        headers={"Authorization": f"Basic {token}"},
        timeout=TIMEOUT_SECONDS,
    )

    assert response.status_code == 200
    assert response.text == "42\n"


def test_wrong_password_returns_516(chdb_http_server) -> None:
    response = requests.get(
        url(chdb_http_server),
        params={"query": "SELECT 1"},
        headers={"X-ClickHouse-User": chdb_http_server.user, "X-ClickHouse-Key": "wrong"},
        timeout=TIMEOUT_SECONDS,
    )

    assert response.status_code == 401
    assert response.headers["X-ClickHouse-Exception-Code"] == "516"
    assert response.text.startswith("Code: 516. DB::Exception: ")
    assert "AUTHENTICATION_FAILED" in response.text


def test_missing_login_is_rejected(chdb_http_server) -> None:
    response = requests.get(
        url(chdb_http_server), params={"query": "SELECT 1"}, timeout=TIMEOUT_SECONDS
    )

    assert response.status_code == 401
    assert response.headers["X-ClickHouse-Exception-Code"] == "516"


def test_syntax_error_uses_clickhouse_format(chdb_http_server) -> None:
    response = requests.post(
        url(chdb_http_server),
        data=b"SELEC 1",
        headers=auth(chdb_http_server),
        timeout=TIMEOUT_SECONDS,
    )

    assert response.status_code == 400
    assert response.headers["X-ClickHouse-Exception-Code"] == "62"
    assert response.text.startswith("Code: 62. DB::Exception: ")


def test_unknown_table_returns_404(chdb_http_server) -> None:
    response = requests.post(
        url(chdb_http_server),
        data=b"SELECT * FROM default.no_such_table",
        headers=auth(chdb_http_server),
        timeout=TIMEOUT_SECONDS,
    )

    assert response.status_code == 404
    assert response.headers["X-ClickHouse-Exception-Code"] == "60"


def arrow_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def test_insert_arrow_body_then_read_arrow(chdb_http_server) -> None:
    post = requests.Session()
    post.headers.update(auth(chdb_http_server))
    create = post.post(
        url(chdb_http_server),
        data=b"CREATE TABLE default.money (id String, amount Decimal(38, 10)) "
        b"ENGINE = MergeTree ORDER BY id",
        timeout=TIMEOUT_SECONDS,
    )
    assert create.status_code == 200, create.text
    table = pa.table(
        {
            "id": pa.array(["a", "b"]),
            "amount": pa.array([Decimal("0.1"), Decimal("0.2")], pa.decimal128(38, 10)),
        }
    )

    insert = post.post(
        url(chdb_http_server),
        params={"query": "INSERT INTO default.money (id, amount) FORMAT Arrow"},
        data=gzip.compress(arrow_bytes(table)),
        headers={"Content-Encoding": "gzip"},
        timeout=TIMEOUT_SECONDS,
    )
    read = post.post(
        url(chdb_http_server),
        params={"database": "default", "output_format_arrow_string_as_string": "1"},
        data=b"SELECT id, amount FROM money ORDER BY id FORMAT Arrow",
        timeout=TIMEOUT_SECONDS,
    )

    assert insert.status_code == 200, insert.text
    assert '"written_rows": "2"' in insert.headers["X-ClickHouse-Summary"]
    assert read.status_code == 200, read.text
    result = pa.ipc.open_file(read.content).read_all()
    assert result.column("id").to_pylist() == ["a", "b"]
    assert result.column("amount").to_pylist() == [Decimal("0.1"), Decimal("0.2")]


def test_setting_applies_to_one_request(chdb_http_server) -> None:
    sql = "SELECT value FROM system.settings WHERE name = 'max_threads'"
    first = requests.get(
        url(chdb_http_server),
        params={"query": sql, "max_threads": "3"},
        headers=auth(chdb_http_server),
        timeout=TIMEOUT_SECONDS,
    )
    second = requests.get(
        url(chdb_http_server),
        params={"query": sql},
        headers=auth(chdb_http_server),
        timeout=TIMEOUT_SECONDS,
    )

    assert first.text == "3\n"
    assert second.text != "3\n"


def test_unknown_setting_is_an_error(chdb_http_server) -> None:
    response = requests.get(
        url(chdb_http_server),
        params={"query": "SELECT 1", "no_such_setting_here": "1"},
        headers=auth(chdb_http_server),
        timeout=TIMEOUT_SECONDS,
    )

    assert response.status_code == 500
    assert response.text.startswith("Code: 115. DB::Exception: ")


def test_query_and_parameters_as_form_fields(chdb_http_server) -> None:
    response = requests.post(
        url(chdb_http_server),
        files={
            "query": (None, "SELECT {x:UInt8} * 2 AS doubled, length({days:Array(Date)}) AS n"),
            "param_x": (None, "21"),
            "param_days": (None, "['2026-01-01', '2026-01-02']"),
        },
        headers=auth(chdb_http_server),
        timeout=TIMEOUT_SECONDS,
    )

    assert response.status_code == 200
    assert response.text == "42\t2\n"


def test_long_array_parameter_through_client(chdb_http_server) -> None:
    # clickhouse-connect sends parameters longer than about 4 KB as form fields, not in the URL.
    labels = [f"label-{number:04d}" for number in range(400)]
    values = list(range(400))
    engine = open_engine(chdb_http_server.settings())
    try:
        result = engine.query_arrow(
            "SELECT length({labels:Array(String)}) AS n, arraySum({values:Array(Int32)}) AS total",
            {"labels": labels, "values": values},
        )
    finally:
        engine.close()

    assert result.to_pylist() == [{"n": 400, "total": sum(range(400))}]
