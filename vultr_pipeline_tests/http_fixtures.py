"""A canned-response HTTP server on 127.0.0.1 for client tests.

``CannedServer`` serves fixed responses per path under ``/v2``, records every request, and can
drop a connection or truncate a body to imitate network faults.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_PREFIX = "/v2"


@dataclass
class CannedResponse:
    """One response the server sends.

    Attributes:
        status: HTTP status code.
        body: A dict or list (sent as JSON), a str or bytes (sent as is), or None for no body.
        headers: Extra response headers.
        drop: Close the connection without sending a response.
        truncate_to: Announce the full Content-Length but send only this many bytes, then close.
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    truncate_to: int | None = None

    def body_bytes(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()

    def content_type(self) -> str:
        if isinstance(self.body, (dict, list)):
            return "application/json"
        return "text/html; charset=utf-8"


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server received it; ``path`` is below ``/v2``."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]

    def param(self, name: str) -> str | None:
        """Return the single value of a query parameter, or None when absent."""
        values = self.query.get(name)
        return values[0] if values else None


Handler = Callable[[RecordedRequest], CannedResponse]


def error_body(status: int, message: str) -> CannedResponse:
    """Build a response with Vultr's error body ``{"error": ..., "status": ...}``."""
    return CannedResponse(status=status, body={"error": message, "status": status})


class CannedServer:
    """Threaded HTTP server on 127.0.0.1 with per-path canned responses.

    Unknown paths get 404 with Vultr's error body. Use as a context manager.
    """

    def __init__(self) -> None:
        self._routes: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL to give the client, such as ``http://127.0.0.1:PORT/v2``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{API_PREFIX}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """Requests received for one path below ``/v2``."""
        return [request for request in self.requests if request.path == path]

    def route(self, path: str, handler: Handler) -> None:
        """Respond to requests for ``path`` with ``handler(request)``."""
        with self._lock:
            self._routes[path] = handler

    def serve(self, path: str, *responses: CannedResponse | dict[str, Any]) -> None:
        """Respond to ``path`` with these responses in order, repeating the last one.

        A dict is shorthand for a 200 response with that JSON body.
        """
        queue = [r if isinstance(r, CannedResponse) else CannedResponse(body=r) for r in responses]
        queue_lock = threading.Lock()

        def next_response(_: RecordedRequest) -> CannedResponse:
            with queue_lock:
                return queue.pop(0) if len(queue) > 1 else queue[0]

        self.route(path, next_response)

    def start(self) -> CannedServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> CannedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _dispatch(self, request: RecordedRequest) -> CannedResponse:
        with self._lock:
            self._requests.append(request)
            handler = self._routes.get(request.path)
        if handler is None:
            return error_body(404, f"Unknown path {request.path}")
        return handler(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
                parts = urlsplit(self.path)
                path = parts.path
                if path.startswith(API_PREFIX):
                    path = path[len(API_PREFIX) :] or "/"
                request = RecordedRequest(
                    path=path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers=dict(self.headers.items()),
                )
                self._send(server._dispatch(request))

            def _send(self, response: CannedResponse) -> None:
                if response.drop:
                    self.close_connection = True
                    return
                payload = response.body_bytes()
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type())
                self.send_header("Content-Length", str(len(payload)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if response.truncate_to is not None:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                    payload = payload[: response.truncate_to]
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Keep test output quiet."""

        return _Handler


def encode_cursor(index: int) -> str:
    """Build an opaque cursor like Vultr's (base64 with ``=`` padding)."""
    return base64.b64encode(f"next__{index}".encode()).decode()


def paged_handler(key: str, rows: list[dict[str, Any]], *, total: int | None = None) -> Handler:
    """Serve ``rows`` under ``key`` with cursor paging driven by the request's ``per_page``."""

    def handle(request: RecordedRequest) -> CannedResponse:
        per_page = int(request.param("per_page") or 100)
        cursor = request.param("cursor")
        start = 0
        if cursor:
            start = int(base64.b64decode(cursor).decode().removeprefix("next__"))
        end = start + per_page
        next_cursor = encode_cursor(end) if end < len(rows) else ""
        previous = encode_cursor(max(0, start - per_page)) if start else ""
        meta = {
            "total": len(rows) if total is None else total,
            "links": {"next": next_cursor, "prev": previous},
        }
        return CannedResponse(body={key: rows[start:end], "meta": meta})

    return handle
