"""A ClickHouse-HTTP-compatible endpoint backed by chDB, for tests and benchmarks.

No modern ClickHouse server installs on our machines, so clickhouse-connect is run
against this small server, which passes each request to an embedded chDB session. It
supports what clickhouse-connect sends for connecting, ``command``, ``query_arrow``,
``insert_arrow`` and ``query``:

- the query in the ``query`` URL parameter, in the body, or in both (then joined);
- the query and its ``param_<name>`` values as ``multipart/form-data`` fields, which
  clickhouse-connect sends when the parameters would make the URL longer than about 4 KB;
- ``INSERT ... FORMAT <format>`` with the data in the body;
- ``database``, ``param_<name>`` query parameters and ClickHouse settings as URL
  parameters; each setting is applied for one request and then restored;
- gzip, deflate, zstd and lz4 request bodies. Responses are never compressed, which
  clickhouse-connect accepts with either ``compress`` setting;
- HTTP Basic, ``X-ClickHouse-User``/``X-ClickHouse-Key`` and ``user``/``password`` URL
  parameters, checked against one configured user.

Errors come back as ClickHouse sends them: ``Code: N. DB::Exception: ...`` in the body,
the code in the ``X-ClickHouse-Exception-Code`` header, and an HTTP 4xx or 500 status.

Run it as its own process, because chDB allows one process per data directory::

    CHDB_HTTP_PASSWORD=secret python -m vultr_pipeline.clickhouse.chdb_http \\
        --path /tmp/chdb --port 0 --user default

It binds to 127.0.0.1 and prints ``listening on 127.0.0.1:<port>`` once ready.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import email.parser
import email.policy
import gzip
import hmac
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import chdb.session

logger = logging.getLogger("vultr_pipeline.clickhouse.chdb_http")

PASSWORD_ENVIRONMENT_VARIABLE = "CHDB_HTTP_PASSWORD"

# URL parameters that steer the HTTP transport and are not ClickHouse settings.
_TRANSPORT_PARAMETERS = frozenset(
    {
        "query",
        "database",
        "user",
        "password",
        "quota_key",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "compress",
        "decompress",
        "enable_http_compression",
        "wait_end_of_query",
        "default_format",
        "client_protocol_version",
        "role",
        "buffer_size",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "http_response_buffer_size",
    }
)
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INSERT_WITH_FORMAT = re.compile(
    r"^\s*(INSERT\s+INTO\s+.+?)\s+FORMAT\s+([A-Za-z0-9_]+)\s*$", re.IGNORECASE | re.DOTALL
)
_FORMAT_CLAUSE = re.compile(r"\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$", re.IGNORECASE)

_AUTHENTICATION_FAILED = 516
_UNKNOWN_SETTING = 115
_BAD_ARGUMENTS = 36
# HTTP statuses ClickHouse uses for some error codes; every other code maps to 500.
_HTTP_STATUS_BY_CODE = {
    62: HTTPStatus.BAD_REQUEST,  # SYNTAX_ERROR
    _BAD_ARGUMENTS: HTTPStatus.BAD_REQUEST,
    60: HTTPStatus.NOT_FOUND,  # UNKNOWN_TABLE
    81: HTTPStatus.NOT_FOUND,  # UNKNOWN_DATABASE
    _AUTHENTICATION_FAILED: HTTPStatus.UNAUTHORIZED,
}
_CODE_PATTERN = re.compile(r"Code: (\d+)\.")


class RequestError(Exception):
    """A request failed with a ClickHouse error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class ChdbBackend:
    """One chDB session and the per-request state (database, settings) around it.

    chDB settings and the current database belong to the session, so requests run one at
    a time under a lock and restore what they changed.
    """

    def __init__(self, path: str, user: str, password: str) -> None:
        """Open the chDB session on `path` and remember the accepted credentials."""
        self.session = chdb.session.Session(path)
        self.user = user
        self._password = password
        self._lock = threading.Lock()
        self.version = self._scalar("SELECT version()")
        self._defaults = self._setting_defaults()

    def close(self) -> None:
        """Close the chDB session, which releases the data directory."""
        self.session.close()

    def check_credentials(self, user: str, password: str) -> None:
        """Raise the ClickHouse authentication error unless both values match."""
        user_matches = hmac.compare_digest(user.encode(), self.user.encode())
        password_matches = hmac.compare_digest(password.encode(), self._password.encode())
        if not (user_matches and password_matches):
            raise RequestError(
                _AUTHENTICATION_FAILED,
                f"Code: {_AUTHENTICATION_FAILED}. DB::Exception: {user}: Authentication "
                "failed: password is incorrect, or there is no user with such name. "
                "(AUTHENTICATION_FAILED)",
            )

    def execute(
        self,
        query: str,
        data: bytes | None,
        database: str,
        settings: Mapping[str, str],
        parameters: Mapping[str, str],
        default_format: str,
    ) -> tuple[bytes, dict[str, int]]:
        """Run one request's statement and return the response body and its statistics."""
        with self._lock:
            self._use_database(database)
            changed = self._apply_settings(settings)
            try:
                return self._run(query, data, parameters, default_format)
            finally:
                self._restore_settings(changed)

    def _run(
        self,
        query: str,
        data: bytes | None,
        parameters: Mapping[str, str],
        default_format: str,
    ) -> tuple[bytes, dict[str, int]]:
        insert = _INSERT_WITH_FORMAT.match(query)
        if insert and data is not None:
            return b"", self._insert(insert.group(1), insert.group(2), data)
        if data:
            query = f"{query}\n{data.decode()}"

        # chDB uses the query's own FORMAT clause when it has one, like a server does.
        try:
            result = self.session.query(query, default_format, params=dict(parameters) or None)
        except RuntimeError as error:
            raise _request_error(error) from error
        statistics = {
            "read_rows": result.rows_read(),
            "read_bytes": result.bytes_read(),
            "written_rows": result.rows_written(),
            "written_bytes": result.bytes_written(),
        }
        return result.bytes(), statistics

    def _insert(self, statement: str, fmt: str, data: bytes) -> dict[str, int]:
        try:
            with self.session.send_insert(statement, fmt) as inserter:
                inserter.append(data)
                result = inserter.finish()
        except RuntimeError as error:
            raise _request_error(error) from error
        return {
            "read_rows": 0,
            "read_bytes": 0,
            "written_rows": result.rows_written,
            "written_bytes": result.bytes_written,
        }

    def _use_database(self, database: str) -> None:
        if not _SETTING_NAME.match(database):
            raise RequestError(
                _BAD_ARGUMENTS,
                f"Code: {_BAD_ARGUMENTS}. DB::Exception: Invalid database name {database!r}. "
                "(BAD_ARGUMENTS)",
            )
        try:
            self.session.query(f"USE `{database}`")
        except RuntimeError as error:
            raise _request_error(error) from error

    def _apply_settings(self, settings: Mapping[str, str]) -> list[str]:
        changed: list[str] = []
        for name, value in settings.items():
            if not _SETTING_NAME.match(name):
                raise RequestError(
                    _UNKNOWN_SETTING,
                    f"Code: {_UNKNOWN_SETTING}. DB::Exception: Unknown setting {name!r}. "
                    "(UNKNOWN_SETTING)",
                )
            try:
                self.session.query(f"SET {name} = {{value:String}}", params={"value": value})
            except RuntimeError as error:
                self._restore_settings(changed)
                raise _request_error(error) from error
            changed.append(name)
        return changed

    def _restore_settings(self, names: list[str]) -> None:
        for name in names:
            default = self._defaults.get(name)
            if default is not None:
                self.session.query(f"SET {name} = {{value:String}}", params={"value": default})

    def _setting_defaults(self) -> dict[str, str]:
        text = self.session.query("SELECT name, value FROM system.settings", "TSVRaw").bytes()
        rows = (line.split("\t", 1) for line in text.decode().splitlines() if line)
        return {name: value for name, value in rows}

    def _scalar(self, sql: str) -> str:
        return self.session.query(sql, "TSVRaw").bytes().decode().strip()


def _request_error(error: BaseException) -> RequestError:
    text = str(error)
    match = _CODE_PATTERN.search(text)
    if match:
        return RequestError(int(match.group(1)), text[match.start() :])
    return RequestError(1001, f"Code: 1001. DB::Exception: {text}. (STD_EXCEPTION)")


class ChdbHTTPServer(ThreadingHTTPServer):
    """A `ThreadingHTTPServer` that carries the chDB backend for its handlers."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], backend: ChdbBackend) -> None:
        """Bind to `address` and serve requests with `backend`."""
        super().__init__(address, ChdbRequestHandler)
        self.backend = backend


class ChdbRequestHandler(BaseHTTPRequestHandler):
    """Translate one ClickHouse HTTP request into a chDB call."""

    server: ChdbHTTPServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (name fixed by BaseHTTPRequestHandler)
        """Serve ``/ping`` and queries sent as GET."""
        self._handle(body=b"")

    def do_POST(self) -> None:  # noqa: N802 (name fixed by BaseHTTPRequestHandler)
        """Serve queries and inserts sent as POST."""
        try:
            body = self._read_body()
        except RequestError as error:
            self._send_error(error)
            return
        self._handle(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base signature)
        """Log through `logging`; the request line never carries the password header."""
        logger.debug("%s %s", self.address_string(), format % args)

    def _handle(self, body: bytes) -> None:
        url = urlsplit(self.path)
        if url.path.rstrip("/") == "/ping" or (url.path == "/" and not url.query and not body):
            self._send(HTTPStatus.OK, b"Ok.\n", {})
            return

        parameters = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            content_type = self.headers.get("Content-Type", "")
            if content_type.lower().startswith("multipart/form-data"):
                parameters.update(_form_fields(content_type, body))
                body = b""
            self._authenticate(parameters)
            self._execute(parameters, body)
        except RequestError as error:
            self._send_error(error)

    def _authenticate(self, parameters: Mapping[str, str]) -> None:
        user = self.headers.get("X-ClickHouse-User") or parameters.get("user") or "default"
        password = self.headers.get("X-ClickHouse-Key") or parameters.get("password") or ""
        authorization = self.headers.get("Authorization", "")
        if authorization.startswith("Basic "):
            try:
                decoded = base64.b64decode(authorization[6:], validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            user, _, password = decoded.partition(":")
        self.server.backend.check_credentials(user, password)

    def _execute(self, parameters: Mapping[str, str], body: bytes) -> None:
        query = parameters.get("query")
        data: bytes | None = None
        if query is None:
            query = body.decode()
        elif body:
            data = body

        settings = {
            name: value
            for name, value in parameters.items()
            if name not in _TRANSPORT_PARAMETERS and not name.startswith("param_")
        }
        query_parameters = {
            name.removeprefix("param_"): value
            for name, value in parameters.items()
            if name.startswith("param_")
        }
        started = time.monotonic_ns()
        output, statistics = self.server.backend.execute(
            query,
            data,
            parameters.get("database") or "default",
            settings,
            query_parameters,
            parameters.get("default_format") or "TabSeparated",
        )
        summary = {key: str(value) for key, value in statistics.items()}
        summary["elapsed_ns"] = str(time.monotonic_ns() - started)
        headers = {
            "X-ClickHouse-Summary": json.dumps(summary),
            "X-ClickHouse-Query-Id": parameters.get("query_id") or str(uuid.uuid4()),
            "X-ClickHouse-Timezone": "UTC",
        }
        match = _FORMAT_CLAUSE.search(query)
        if match:
            headers["X-ClickHouse-Format"] = match.group(1)
        self._send(HTTPStatus.OK, output, headers)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = self.rfile.read(length) if length else b""
        return _decode_body(body, self.headers.get("Content-Encoding", ""))

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _send_error(self, error: RequestError) -> None:
        status = _HTTP_STATUS_BY_CODE.get(error.code, HTTPStatus.INTERNAL_SERVER_ERROR)
        logger.info("Request from %s failed: %s", self.address_string(), error)
        version = self.server.backend.version
        body = f"{error} (version {version} (chDB))\n".encode()
        self._send(status, body, {"X-ClickHouse-Exception-Code": str(error.code)})

    def _send(self, status: HTTPStatus, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-ClickHouse-Server-Display-Name", "chdb-http")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """Return the fields of a ``multipart/form-data`` body by name, as text."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise RequestError(
            _BAD_ARGUMENTS,
            f"Code: {_BAD_ARGUMENTS}. DB::Exception: Cannot read the multipart/form-data "
            "body: no boundary or no parts. (BAD_ARGUMENTS)",
        )
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode()
    return fields


def _decode_body(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    try:
        if encoding in ("", "identity"):
            return body
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
        if encoding == "zstd":
            import zstandard

            return zstandard.ZstdDecompressor().decompressobj().decompress(body)
        if encoding == "lz4":
            import lz4.frame

            return lz4.frame.decompress(body)
    except (OSError, ValueError, RuntimeError, zlib.error) as error:
        raise RequestError(
            _BAD_ARGUMENTS,
            f"Code: {_BAD_ARGUMENTS}. DB::Exception: Cannot decode the {encoding} request "
            f"body: {error}. (BAD_ARGUMENTS)",
        ) from error
    raise RequestError(
        _BAD_ARGUMENTS,
        f"Code: {_BAD_ARGUMENTS}. DB::Exception: Unsupported Content-Encoding {encoding!r}; "
        "send gzip, deflate, zstd, lz4 or an uncompressed body. (BAD_ARGUMENTS)",
    )


def serve(path: str, port: int, user: str, password: str) -> None:
    """Serve the chDB directory `path` on 127.0.0.1:`port` until interrupted."""
    backend = ChdbBackend(path, user, password)
    server = ChdbHTTPServer(("127.0.0.1", port), backend)
    host, bound_port = server.server_address[:2]
    logger.info("Serving chDB directory %s on %s:%s", path, host, bound_port)
    sys.stdout.write(f"listening on {host}:{bound_port}\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        logger.info("Interrupted, stopping")
    finally:
        server.server_close()
        backend.close()
        logger.info("Stopped serving %s", path)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve a chDB directory over the ClickHouse HTTP protocol."""
    parser = argparse.ArgumentParser(
        description="Serve a chDB data directory over the ClickHouse HTTP protocol on "
        f"127.0.0.1. The password is read from ${PASSWORD_ENVIRONMENT_VARIABLE} "
        "(empty when unset)."
    )
    parser.add_argument("--path", required=True, help="chDB data directory to serve")
    parser.add_argument("--port", type=int, default=8123, help="TCP port; 0 picks a free one")
    parser.add_argument("--user", default="default", help="the one accepted user name")
    arguments = parser.parse_args(argv)
    # A shell that starts background jobs can pass SIGTERM on as ignored; restore the default
    # so that whoever started the endpoint can stop it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    password = os.environ.get(PASSWORD_ENVIRONMENT_VARIABLE, "")
    serve(arguments.path, arguments.port, arguments.user, password)


if __name__ == "__main__":
    main()
