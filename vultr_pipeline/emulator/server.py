"""HTTP server that serves a sample account as the Vultr API v2 does, on 127.0.0.1 only.

Request handling order: path prefix, rate limit, planned fault, method, route, API key, handler.
"""

from __future__ import annotations

import copy
import hmac
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from vultr_pipeline.emulator.account import SampleAccount, generate_account
from vultr_pipeline.emulator.config import SampleAccountConfig
from vultr_pipeline.emulator.faults import API_PREFIX, Fault, FaultKind, FaultPlan
from vultr_pipeline.emulator.jsontext import dumps
from vultr_pipeline.emulator.pagination import BadRequestError, Paginator, encode_cursor
from vultr_pipeline.emulator.routes import PUBLIC_PATHS, NotFoundError, RouteRequest, resolve
from vultr_pipeline.emulator.traffic import RequestLog, RequestRecord, SlidingWindowLimiter

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
_INVALID_TOKEN = {"error": "Invalid API token.", "status": 401}
_HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>Maintenance</title></head><body>Back soon</body></html>"
)
# Status recorded for a request whose connection was closed without a response.
DROPPED = 0
# Item key of the cursor an invalid_cursor fault sends. No list has an item with this key, so
# the paginator rejects the cursor with HTTP 400 and Vultr's error body.
# NOTE: Vultr does not document how it rejects a cursor. The emulator responds with 400 and the
# {"error": ..., "status": 400} body that Vultr's API reference promises for every 4xx.
_UNKNOWN_CURSOR_KEY = "expired"


@dataclass
class _Reply:
    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


class EmulatorServer:
    """Local Vultr API v2 emulator serving one generated sample account.

    Use it as a context manager, or call `start()` and `stop()`:

        with EmulatorServer(SampleAccountConfig(seed=7), api_key="k") as server:
            requests.get(server.url + "/account", headers={"Authorization": "Bearer k"})

    Attributes:
        account: The generated data the server returns.
        faults: Planned faults; see `vultr_pipeline.emulator.faults`.
        requests: Log of every request received.
    """

    def __init__(
        self,
        config: SampleAccountConfig | SampleAccount | None = None,
        api_key: str | None = None,
        rate_limit: int | None = None,
        port: int = 0,
        verbose: bool = False,
    ) -> None:
        """Generate the account; the server binds only on `start()`.

        Args:
            config: Account settings, or an already generated account. None uses the defaults.
            api_key: The only Bearer key accepted; None accepts any non-empty key.
            rate_limit: Requests per second before replying 429; None for no limit.
            port: TCP port on 127.0.0.1; 0 picks a free one.
            verbose: Whether to log one line per request at INFO level.
        """
        if isinstance(config, SampleAccount):
            self.account = config
        else:
            self.account = generate_account(config or SampleAccountConfig())
        self._api_key = api_key
        self._limiter = SlidingWindowLimiter(rate_limit) if rate_limit else None
        self._port = port
        self.verbose = verbose
        self.faults = FaultPlan()
        self.requests = RequestLog()
        self._pager = Paginator()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        key = "set" if self._api_key else "any"
        return f"EmulatorServer(port={self._port}, api_key={key}, running={self.running})"

    @property
    def running(self) -> bool:
        """Whether the server is bound to its port."""
        return self._httpd is not None

    @property
    def port(self) -> int:
        """The bound TCP port."""
        if self._httpd is None:
            raise RuntimeError("the emulator is not started; call start() first")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Base URL of the API, e.g. `http://127.0.0.1:8080/v2`."""
        return f"http://{HOST}:{self.port}{API_PREFIX}"

    def bind(self) -> None:
        """Bind the listening socket without serving yet.

        Raises:
            OSError: If the port cannot be bound, e.g. because it is in use (errno EADDRINUSE).
        """
        if self._httpd is None:
            self._httpd = _HTTPServer((HOST, self._port), _Handler)
            self._httpd.emulator = self

    def start(self) -> EmulatorServer:
        """Bind and serve on a daemon thread; return self."""
        self.bind()
        if self._thread is None:
            assert self._httpd is not None
            # A short poll interval lets stop() return quickly.
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"vultr-emulator-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Bind and serve on the calling thread until interrupted, then close the socket."""
        self.bind()
        assert self._httpd is not None
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()
            self._httpd = None

    def stop(self) -> None:
        """Stop serving and close the socket; requests in flight may still finish."""
        if self._httpd is None:
            return
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
        self._httpd = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def handle(self, handler: _Handler, method: str) -> None:
        """Respond to one request and add it to the request log."""
        parts = urlsplit(handler.path)
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        path = parts.path.removeprefix(API_PREFIX)
        if not parts.path.startswith(API_PREFIX + "/"):
            path = parts.path
        # The request is logged before its response is written, so a client that has read the
        # response always finds it in the log.
        handler.before_send = lambda status: self.requests.record(
            RequestRecord(method, path, query, status)
        )
        try:
            self._handle(handler, method, parts.path, path, query)
        except Exception:
            logger.exception("emulator failed on %s %s", method, path)
            _send(handler, _Reply(500, {"error": "Internal emulator error.", "status": 500}))

    def _handle(
        self, handler: _Handler, method: str, full_path: str, path: str, query: dict[str, str]
    ) -> int:
        if not full_path.startswith(API_PREFIX + "/"):
            return _send(handler, _error(404, f"Invalid API path {full_path!r}."))
        if self._limiter is not None:
            wait = self._limiter.admit()
            if wait is not None:
                reply = _error(429, "rate limit exceeded")
                reply.headers["Retry-After"] = str(wait)
                return _send(handler, reply)

        fault = self.faults.take(path)
        if fault is not None and fault.kind is FaultKind.DELAY:
            time.sleep(fault.delay)
            fault = None
        if fault is not None and fault.kind is FaultKind.DROP:
            _drop(handler)
            return DROPPED
        if fault is not None and fault.kind is FaultKind.STATUS:
            return _send(handler, _status_fault_reply(fault))

        reply = self._route(handler, method, path, query)
        if fault is not None and reply.status == 200:
            return _send_with_fault(handler, reply, fault, query)
        return _send(handler, reply)

    def _route(self, handler: _Handler, method: str, path: str, query: dict[str, str]) -> _Reply:
        if method != "GET":
            return _error(405, f"Method {method} is not allowed; the emulator serves GET only.")
        try:
            template, route, params = resolve(path)
        except NotFoundError as error:
            return _error(404, str(error))
        if template not in PUBLIC_PATHS and not self._authorized(handler):
            return _Reply(401, dict(_INVALID_TOKEN))
        try:
            body = route(self.account, self._pager, RouteRequest(path, query, params))
        except BadRequestError as error:
            return _error(400, str(error))
        except NotFoundError as error:
            return _error(404, str(error))
        return _Reply(200, body)

    def _authorized(self, handler: _Handler) -> bool:
        header = handler.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return False
        if self._api_key is None:
            return True
        return hmac.compare_digest(key.encode(), self._api_key.encode())


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    emulator: EmulatorServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    before_send: Callable[[int], None] | None = None

    def log_reply(self, status: int) -> None:
        """Log the reply's status in the request log once, before the reply is written."""
        if self.before_send is not None:
            self.before_send(status)
            self.before_send = None

    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        self.server.emulator.handle(self, "GET")

    def do_POST(self) -> None:  # noqa: N802
        self._reject_with_body("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._reject_with_body("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._reject_with_body("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self.server.emulator.handle(self, "DELETE")

    def _reject_with_body(self, method: str) -> None:
        # Read the request body so the connection stays usable for the next request.
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.emulator.handle(self, method)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class name
        if self.server.emulator.verbose:
            logger.info("%s %s", self.address_string(), format % args)


def _error(status: int, message: str) -> _Reply:
    return _Reply(status, {"error": message, "status": status})


def _status_fault_reply(fault: Fault) -> _Reply:
    assert fault.status is not None
    reply = _Reply(fault.status, fault.error_body())
    if isinstance(reply.body, str):
        reply.content_type = "text/plain"
    if fault.retry_after is not None:
        reply.headers["Retry-After"] = _retry_after_text(fault.retry_after)
    return reply


def _retry_after_text(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def _send_with_fault(handler: _Handler, reply: _Reply, fault: Fault, query: dict[str, str]) -> int:
    assert isinstance(reply.body, dict)
    if fault.kind is FaultKind.HTML:
        return _send(handler, _Reply(200, _HTML_PAGE, content_type="text/html; charset=utf-8"))
    if fault.kind is FaultKind.REPEAT_CURSOR and "links" in reply.body.get("meta", {}):
        cursor = query.get("cursor") or encode_cursor("next", "")
        reply.body = _with_next_cursor(reply.body, cursor)
    if fault.kind is FaultKind.INVALID_CURSOR and "links" in reply.body.get("meta", {}):
        reply.body = _with_next_cursor(reply.body, encode_cursor("next", _UNKNOWN_CURSOR_KEY))
    if fault.kind is FaultKind.MISSING_LIST_KEY:
        reply.body = {key: value for key, value in reply.body.items() if key == "meta"}
    if fault.kind is FaultKind.MUTATE:
        assert fault.mutate is not None
        body = copy.deepcopy(reply.body)
        changed = fault.mutate(body)
        reply.body = body if changed is None else changed
    if fault.kind is FaultKind.TRUNCATE:
        text = dumps(reply.body)
        reply.body = text[: len(text) // 2]
    return _send(handler, reply)


def _with_next_cursor(body: dict[str, Any], cursor: str) -> dict[str, Any]:
    meta = copy.deepcopy(body["meta"])
    meta["links"]["next"] = cursor
    return dict(body, meta=meta)


def _send(handler: _Handler, reply: _Reply) -> int:
    text = reply.body if isinstance(reply.body, str) else dumps(reply.body)
    payload = text.encode("utf-8")
    handler.log_reply(reply.status)
    handler.send_response(reply.status)
    handler.send_header("Content-Type", reply.content_type)
    handler.send_header("Content-Length", str(len(payload)))
    for name, value in reply.headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(payload)
    return reply.status


def _drop(handler: _Handler) -> None:
    handler.log_reply(DROPPED)
    handler.close_connection = True
    try:
        handler.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        logger.debug("connection was already closed before the planned drop")
