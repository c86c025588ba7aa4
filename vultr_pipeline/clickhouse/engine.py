"""Engines that run SQL and move Arrow tables in and out of ClickHouse.

Two engines share one small interface, `ClickHouseEngine`:

- `ChdbEngine` runs ClickHouse embedded in this process through chDB, on a persistent
  data directory.
- `ServerEngine` talks to a ClickHouse server over HTTP through clickhouse-connect.

`open_engine` picks one from a `ClickHouseSettings`. Values always travel as query
parameters (``{name:Type}`` placeholders); identifiers are validated and backquoted with
`quote_identifier`.
"""

from __future__ import annotations

import errno
import fcntl
import io
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import chdb.session
import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.exceptions import ClickHouseError as ConnectError
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from vultr_pipeline.clickhouse.errors import (
    ClickHouseAuthenticationError,
    ClickHouseConfigError,
    ClickHouseConnectionError,
    ClickHouseError,
    ClickHouseLockedError,
    ClickHouseQueryError,
    parse_error_code,
)

logger = logging.getLogger(__name__)

_IDENTIFIER_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_AUTHENTICATION_FAILED = 516
_HTTP_PORT = 8123
_HTTPS_PORT = 8443

# Environment variables a deployment uses to point the IO manager at a server. They
# appear in error messages so that a user sees what to check.
SERVER_ENVIRONMENT_VARIABLES = (
    "CLICKHOUSE_HOST",
    "CLICKHOUSE_PORT",
    "CLICKHOUSE_SECURE",
    "CLICKHOUSE_USER",
    "CLICKHOUSE_PASSWORD",
)


@dataclass(frozen=True)
class ClickHouseSettings:
    """Where ClickHouse runs: an embedded chDB directory (`path`) or a server (`host`).

    Attributes:
        path: chDB data directory, used when `host` is None.
        host: ClickHouse server host name; when set, the server engine is used.
        port: HTTP(S) port of the server. None means 8123, or 8443 when `secure`.
        username: ClickHouse user name.
        password: ClickHouse password, hidden from `repr`.
        secure: Whether to connect over HTTPS.
        compress: Whether clickhouse-connect compresses the data it sends and requests
            compressed responses.
    """

    path: str | None = None
    host: str | None = None
    port: int | None = None
    username: str = "default"
    password: str | None = field(default=None, repr=False)
    secure: bool = False
    compress: bool = True

    @property
    def server_port(self) -> int:
        """Return the configured port, or the ClickHouse default for the protocol."""
        if self.port is not None:
            return self.port
        return _HTTPS_PORT if self.secure else _HTTP_PORT


class ClickHouseEngine(Protocol):
    """The operations the IO manager and reporting code need from ClickHouse."""

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns no rows (DDL, ALTER, INSERT ... SELECT)."""
        ...

    def query_arrow(self, sql: str, parameters: Mapping[str, Any] | None = None) -> pa.Table:
        """Run a SELECT and return its result as an Arrow table."""
        ...

    def insert_arrow(self, database: str, table: str, data: pa.Table) -> None:
        """Insert an Arrow table into the named columns of an existing table."""
        ...

    def close(self) -> None:
        """Release the connection or the shared chDB session."""
        ...


def validate_identifier(name: str, kind: str = "identifier") -> str:
    """Return `name` if it is a plain ClickHouse identifier (letters, digits, underscore).

    Raises:
        ClickHouseConfigError: The name contains other characters or starts with a digit.
    """
    if not _IDENTIFIER_PATTERN.match(name):
        raise ClickHouseConfigError(
            f"Invalid {kind} {name!r}: use only letters, digits and underscores, "
            "starting with a letter or underscore."
        )
    return name


def quote_identifier(name: str) -> str:
    """Return a validated identifier in backquotes."""
    return f"`{validate_identifier(name)}`"


def quote_string(value: str) -> str:
    """Return a ClickHouse string literal, for DDL clauses that take no query parameters."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def open_engine(settings: ClickHouseSettings) -> ClickHouseEngine:
    """Open the server engine when `settings.host` is set, else the chDB engine.

    Raises:
        ClickHouseConfigError: Neither a host nor a path is set.
        ClickHouseLockedError: Another process uses the chDB data directory.
        ClickHouseConnectionError: The server is unreachable or rejected the login.
    """
    if settings.host:
        return ServerEngine(settings)
    if not settings.path:
        raise ClickHouseConfigError(
            "No ClickHouse location configured: set a chDB data directory (path) or a "
            "server host (CLICKHOUSE_HOST)."
        )
    return ChdbEngine(settings.path)


# chDB 4.4.0 runs one embedded server per process, bound to one data directory: a
# Session on a second directory fails with "EmbeddedServer already initialized with path
# ...", while any number of Sessions on the same directory share that server. Closing
# the last Session stops the server and releases the directory, after which another
# directory can be opened. The registry below therefore keeps one Session, shared by
# reference count, and closes it when the last engine closes.
_registry_lock = threading.Lock()

# Seconds to wait for another process to release a chDB directory before failing.
LOCK_TIMEOUT_VARIABLE = "CLICKHOUSE_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 60.0
_shared_session: _SharedSession | None = None


@dataclass
class _SharedSession:
    path: str
    session: chdb.session.Session
    references: int = 0


class ChdbEngine:
    """ClickHouse embedded through chDB, on a persistent data directory.

    Engines on the same directory in one process share one chDB Session. Another process
    cannot open the directory while this one has it open.
    """

    def __init__(self, path: str) -> None:
        """Open (or share) the chDB session for `path`, creating the directory if needed.

        Raises:
            ClickHouseLockedError: Another process uses the directory.
            ClickHouseConfigError: This process already has another chDB directory open.
        """
        self.path = os.path.realpath(path)
        self._closed = False
        self._session = _acquire_session(self.path)

    def __repr__(self) -> str:
        return f"ChdbEngine(path={self.path!r})"

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns no rows."""
        self._run(sql, "TabSeparated", parameters)

    def query_arrow(self, sql: str, parameters: Mapping[str, Any] | None = None) -> pa.Table:
        """Run a SELECT and return an Arrow table with ClickHouse's exact types."""
        return self._run(sql, "ArrowTable", parameters)

    def insert_arrow(self, database: str, table: str, data: pa.Table) -> None:
        """Stream `data` in the Arrow IPC format into the named columns of `table`.

        ClickHouse converts each Arrow column to the declared column type, so decimal128
        values land in Decimal columns without passing through float.
        """
        column_list = ", ".join(quote_identifier(name) for name in data.column_names)
        sql = f"INSERT INTO {quote_identifier(database)}.{quote_identifier(table)} ({column_list})"
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, data.schema) as writer:
            writer.write_table(data)
        try:
            with self._session_or_raise().send_insert(sql, "ArrowStream") as inserter:
                inserter.append(sink.getvalue())
                inserter.finish()
        except RuntimeError as error:
            raise ClickHouseQueryError(
                f"Insert into {database}.{table} failed: {error}", parse_error_code(str(error))
            ) from error

    def close(self) -> None:
        """Release this engine's reference to the shared session. Calling it twice is safe."""
        if not self._closed:
            self._closed = True
            _release_session(self.path)

    def _session_or_raise(self) -> chdb.session.Session:
        if self._closed:
            raise ClickHouseConfigError(f"The chDB engine on {self.path} is closed.")
        return self._session

    def _run(self, sql: str, fmt: str, parameters: Mapping[str, Any] | None) -> Any:
        params = {key: _parameter_text(value) for key, value in (parameters or {}).items()}
        try:
            return self._session_or_raise().query(sql, fmt, params=params or None)
        except RuntimeError as error:
            raise ClickHouseQueryError(str(error), parse_error_code(str(error))) from error


def _acquire_session(path: str) -> chdb.session.Session:
    global _shared_session
    with _registry_lock:
        if _shared_session is not None:
            if _shared_session.path != path:
                raise ClickHouseConfigError(
                    f"This process already uses the chDB data directory {_shared_session.path}"
                    f", so it cannot open {path}: chDB runs one data directory per process. "
                    "Close the engines on the first directory, or use one directory."
                )
            _shared_session.references += 1
            return _shared_session.session

        try:
            os.makedirs(path, exist_ok=True)
        except OSError as error:
            reason = "a file, not a directory" if os.path.isfile(path) else error.strerror
            raise ClickHouseConfigError(
                f"Invalid chDB data directory {path}: {reason}. Point the ClickHouse path "
                "(CLICKHOUSE_PATH) at a directory that this process can create and write."
            ) from error
        session = _open_when_unlocked(path, _lock_timeout())
        _shared_session = _SharedSession(path, session, references=1)
        logger.debug("Opened chDB session on %s", path)
        return session


def _lock_timeout() -> float:
    text = os.environ.get(LOCK_TIMEOUT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_LOCK_TIMEOUT
    try:
        return max(0.0, float(text))
    except ValueError as error:
        raise ClickHouseConfigError(
            f"Invalid {LOCK_TIMEOUT_VARIABLE} {text!r}: set it to a number of seconds."
        ) from error


def _open_session(path: str) -> chdb.session.Session:
    _raise_if_locked(path)
    try:
        return chdb.session.Session(path)
    except RuntimeError as error:
        # chDB reports a held lock as "Error initializing EmbeddedServer" and prints
        # the real cause only to stderr, so check the lock again to name it.
        _raise_if_locked(path)
        raise ClickHouseConfigError(f"Opening chDB on {path} failed: {error}") from error


def _open_when_unlocked(path: str, timeout: float) -> chdb.session.Session:
    """Open the directory, waiting up to `timeout` seconds while another process holds it.

    A run keeps the directory open from its first read or write to its end, and a query
    keeps it open while it runs. A wait therefore lets a query and a run, or two queued
    runs, take turns instead of failing.
    """
    deadline = time.monotonic() + timeout
    delay = 0.05
    waiting_logged = False
    while True:
        try:
            return _open_session(path)
        except ClickHouseLockedError:
            if time.monotonic() + delay > deadline:
                raise
            if not waiting_logged:
                logger.info("Waiting up to %.0f s for another process to release %s", timeout, path)
                waiting_logged = True
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def _release_session(path: str) -> None:
    global _shared_session
    with _registry_lock:
        if _shared_session is None or _shared_session.path != path:
            return
        _shared_session.references -= 1
        if _shared_session.references == 0:
            _shared_session.session.close()
            _shared_session = None
            logger.debug("Closed chDB session on %s", path)


def _raise_if_locked(path: str) -> None:
    """Raise `ClickHouseLockedError` if another process has locked the directory.

    A running ClickHouse (chDB included) takes an exclusive ``flock`` on ``<path>/status``
    and writes its PID into the file.
    """
    status_path = os.path.join(path, "status")
    try:
        descriptor = os.open(status_path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        owner = _read_lock_owner(status_path)
        raise ClickHouseLockedError(
            f"The chDB data directory {path} is in use by another process{owner}. chDB "
            "allows one process per data directory. Stop the other process (for example a "
            "running `dagster dev` or `vultr-pipeline demo`), or point the ClickHouse path "
            "to another directory."
        ) from error
    finally:
        os.close(descriptor)


def _read_lock_owner(status_path: str) -> str:
    try:
        with open(status_path, encoding="utf-8", errors="replace") as status_file:
            for line in status_file:
                if line.startswith("PID:"):
                    return f" (PID {line.split(':', 1)[1].strip()})"
    except OSError:
        pass
    return ""


def _parameter_text(value: Any) -> str:
    """Render a query parameter value the way ClickHouse parses ``{name:Type}`` values."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_array_element(item) for item in value) + "]"
    return str(value)


def _array_element(value: Any) -> str:
    if isinstance(value, str):
        return quote_string(value)
    return _parameter_text(value)


class ServerEngine:
    """A ClickHouse server reached over HTTP(S) through clickhouse-connect."""

    def __init__(self, settings: ClickHouseSettings) -> None:
        """Connect to the server in `settings`.

        Raises:
            ClickHouseAuthenticationError: The server rejected the user or password.
            ClickHouseConnectionError: The server is unreachable.
        """
        self.host = settings.host or ""
        self.port = settings.server_port
        self._password = settings.password or ""
        try:
            self._client = clickhouse_connect.get_client(
                host=self.host,
                port=self.port,
                username=settings.username,
                password=self._password,
                secure=settings.secure,
                compress=settings.compress,
                autogenerate_session_id=False,
            )
        except DatabaseError as error:
            if parse_error_code(str(error)) == _AUTHENTICATION_FAILED:
                raise ClickHouseAuthenticationError(
                    f"ClickHouse at {self.host}:{self.port} rejected user "
                    f"{settings.username!r} ({self._scrub(error)}). Check CLICKHOUSE_USER and "
                    "CLICKHOUSE_PASSWORD."
                ) from error
            raise self._connection_error(error) from error
        except (OperationalError, ConnectError, OSError) as error:
            raise self._connection_error(error) from error

    def __repr__(self) -> str:
        return f"ServerEngine(host={self.host!r}, port={self.port})"

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns no rows."""
        try:
            self._client.command(sql, parameters=dict(parameters or {}))
        except ConnectError as error:
            raise self._query_error(error) from error

    def query_arrow(self, sql: str, parameters: Mapping[str, Any] | None = None) -> pa.Table:
        """Run a SELECT and return an Arrow table, with String columns as Arrow strings."""
        try:
            return self._client.query_arrow(
                sql, parameters=dict(parameters or {}), use_strings=True
            )
        except ConnectError as error:
            raise self._query_error(error) from error

    def insert_arrow(self, database: str, table: str, data: pa.Table) -> None:
        """Insert `data` in the Arrow format into the named columns of `table`."""
        validate_identifier(database, "database name")
        validate_identifier(table, "table name")
        try:
            self._client.insert_arrow(table, data, database=database)
        except ConnectError as error:
            raise self._query_error(error) from error

    def close(self) -> None:
        """Close the HTTP connection pool of this client."""
        self._client.close()

    def _scrub(self, error: BaseException) -> str:
        text = str(error)
        if self._password:
            text = text.replace(self._password, "***")
        return text

    def _connection_error(self, error: BaseException) -> ClickHouseConnectionError:
        variables = ", ".join(SERVER_ENVIRONMENT_VARIABLES[:3])
        reason = _socket_error_reason(error) or self._scrub(error)
        return ClickHouseConnectionError(
            f"Cannot connect to ClickHouse at {self.host}:{self.port} ({reason}). "
            f"Check that the server is running, and check {variables}."
        )

    def _query_error(self, error: BaseException) -> ClickHouseError:
        text = self._scrub(error)
        if isinstance(error, OperationalError) and parse_error_code(text) is None:
            return self._connection_error(error)
        return ClickHouseQueryError(text, parse_error_code(text))


def _socket_error_reason(error: BaseException) -> str | None:
    """Return the socket error text deepest in the causes of `error`, such as "Connection refused".

    Returns None when no cause carries one. clickhouse-connect wraps a refused or unresolvable
    connection in several layers of urllib3 text, and the socket's own reason is what a user
    can act on.
    """
    reason = None
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            reason = current.strerror
        current = current.__cause__ or current.__context__
    return reason
