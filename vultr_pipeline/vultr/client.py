"""HTTP client for the Vultr API v2: authentication, rate limiting, retries and cursor paging.

Bodies are parsed with ``parse_float=Decimal`` so money never passes through a float. The API
key is kept out of ``repr``, logs and exception messages.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

import requests
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from vultr_pipeline.vultr.endpoints import PUBLIC_PATHS
from vultr_pipeline.vultr.errors import (
    API_KEY_VARIABLE,
    VultrAPIError,
    VultrAuthError,
    VultrConfigError,
    VultrConnectionError,
    VultrError,
    VultrMissingAPIKeyError,
    VultrNotFoundError,
    VultrRateLimitError,
    VultrResponseError,
)
from vultr_pipeline.vultr.ratelimit import DEFAULT_RATE, RateLimiter, shared_rate_limiter

DEFAULT_BASE_URL = "https://api.vultr.com/v2"
MAX_PER_PAGE = 500
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_STATUSES = frozenset({429, 503})
BODY_EXCERPT_CHARS = 200
REDACTED = "***"

_LOGGER = logging.getLogger(__name__)


class _SecretText:
    """A string that shows as ``***`` in ``repr`` and ``str``; ``reveal`` returns the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return repr(REDACTED)

    def __str__(self) -> str:
        return REDACTED


class _TransientError(Exception):
    """A failed attempt that may succeed when retried.

    ``give_up`` builds the public error to raise once the attempts are used up.
    """

    def __init__(
        self,
        reason: str,
        give_up: Callable[[int], VultrError],
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.give_up = give_up
        self.retry_after = retry_after


class VultrClient:
    """Thread-safe client for GET requests to the Vultr API v2.

    Args:
        api_key: Vultr API key; whitespace around it is removed, and a key with whitespace
            or a control character inside raises ``VultrConfigError``. None or empty still
            allows the public endpoints (plans, metal plans, regions); any other request
            raises ``VultrMissingAPIKeyError`` before anything is sent.
        base_url: API root, ``https://api.vultr.com/v2`` or an emulator URL.
        rate_limit: Requests per second that the API accepts, used when no ``rate_limiter``
            is given. Clients with the same limit share one process-wide limiter, which paces
            5 % below it (see ``limit_pacer``).
        timeout: Seconds to wait for a connection and for each read.
        max_attempts: Attempts per request, the first included, before a transient failure
            (429, 5xx, connection error, timeout, body that is not JSON) is raised.
        per_page: Page size sent on paginated endpoints, 1 to 500.
        logger: Logger for retry warnings and page lines; defaults to this module's logger.
        rate_limiter: Limiter to use in place of the shared one.
        max_wait: Upper bound in seconds on any one wait between attempts, ``Retry-After``
            included.
        backoff: First backoff in seconds; later waits double it and add up to ``backoff``
            seconds of random jitter.
        pool_size: Connections kept open per host, enough for this many threads at once.
        api_key_variable: Environment variable the key came from, named in the errors that
            ask the user to fix the key.
    """

    def __init__(
        self,
        api_key: str | None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        rate_limit: float = DEFAULT_RATE,
        timeout: float = 30.0,
        max_attempts: int = 6,
        per_page: int = MAX_PER_PAGE,
        logger: logging.Logger | None = None,
        rate_limiter: RateLimiter | None = None,
        max_wait: float = 60.0,
        backoff: float = 0.5,
        pool_size: int = 16,
        api_key_variable: str = API_KEY_VARIABLE,
    ) -> None:
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page!r}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts!r}")
        self.api_key_variable = api_key_variable
        self._api_key = _checked_api_key(api_key, api_key_variable)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.per_page = per_page
        self.max_wait = max_wait
        self.logger = logger or _LOGGER
        self.rate_limiter = rate_limiter or shared_rate_limiter(rate_limit)
        self._backoff = wait_exponential_jitter(initial=backoff, max=max_wait, jitter=backoff)
        # One adapter, and so one urllib3 pool, shared by a Session per thread: the pool is
        # thread-safe, while a Session's cookie jar and settings are not.
        self._adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    def __repr__(self) -> str:
        key = REDACTED if self._api_key else None
        return (
            f"VultrClient(base_url={self.base_url!r}, api_key={key!r}, "
            f"rate_limit={self.rate_limiter.rate}, per_page={self.per_page})"
        )

    @property
    def has_api_key(self) -> bool:
        """True when the client was given a non-empty API key."""
        return self._api_key is not None

    def get(
        self, path: str, params: dict[str, Any] | None = None, *, public: bool | None = None
    ) -> dict[str, Any]:
        """Send one GET request and return the JSON object it returns.

        Args:
            path: Path below the base URL, starting with ``/``.
            params: Query parameters.
            public: Whether the path needs no API key; by default only the plans, metal plans
                and regions paths are public.

        Raises:
            VultrMissingAPIKeyError: The path needs a key and the client has none.
            VultrAuthError: Vultr responded with 401 or 403.
            VultrNotFoundError: Vultr responded with 404.
            VultrRateLimitError: Vultr still responded with 429 after every attempt.
            VultrAPIError: Any other error status, after retries where it is retryable.
            VultrConnectionError: Every attempt failed to connect or timed out.
            VultrResponseError: The body is not a JSON object.
        """
        return self._request(path, dict(params or {}), page=1, public=public)

    def iter_pages(
        self,
        path: str,
        key: str,
        params: dict[str, Any] | None = None,
        *,
        paginated: bool = True,
        public: bool | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the list under ``key`` from each page, following ``meta.links.next``.

        Paging stops when ``next`` is the empty string, when ``meta`` or ``meta.links`` is
        missing, or on an empty page. With ``paginated=False`` one request is sent, without
        ``per_page`` or ``cursor``.

        Raises:
            VultrResponseError: ``key`` is missing or not a list, ``meta`` is malformed, or a
                cursor repeats. Also every error that ``get`` raises.
        """
        query = dict(params or {})
        if paginated:
            query["per_page"] = str(query.get("per_page", self.per_page))
        seen_cursors: set[str] = set()
        repeats = _RepeatDetector(path)
        page = 1
        while True:
            body = self._request(path, query, page=page, public=public)
            rows = _extract_rows(body, key, path, page)
            self.logger.info("GET %s page %d: %d rows", path, page, len(rows))
            repeats.check(rows, page)
            yield rows
            if not paginated or not rows:
                return
            cursor = _next_cursor(body, path, page)
            if not cursor:
                return
            if cursor in seen_cursors or cursor == query.get("cursor"):
                raise VultrResponseError(
                    f"Invalid response from GET {path}: repeated cursor {cursor[:60]!r} on page "
                    f"{page}; the API sent a page it already sent, so paging stopped instead of "
                    f"looping. Retry later, or report the endpoint if it keeps happening.",
                    endpoint=path,
                    page=page,
                )
            seen_cursors.add(cursor)
            query["cursor"] = cursor
            page += 1

    def list(
        self,
        path: str,
        key: str,
        params: dict[str, Any] | None = None,
        *,
        paginated: bool = True,
        public: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Fetch every page of a listing and return all rows in order.

        Raises:
            VultrError: Any error that ``iter_pages`` raises.
        """
        rows: list[dict[str, Any]] = []
        for page_rows in self.iter_pages(path, key, params, paginated=paginated, public=public):
            rows.extend(page_rows)
        return rows

    def close(self) -> None:
        """Close every pooled connection; the client must not be used afterwards."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._adapter.close()

    def __enter__(self) -> VultrClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.mount("https://", self._adapter)
            session.mount("http://", self._adapter)
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def _request(
        self, path: str, params: dict[str, Any], *, page: int, public: bool | None
    ) -> dict[str, Any]:
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        is_public = path in PUBLIC_PATHS if public is None else public
        if not is_public and self._api_key is None:
            raise VultrMissingAPIKeyError(
                f"GET {path} needs a Vultr API key, but none is set. Set "
                f"{self.api_key_variable} to your API key (Vultr portal: Account > API), or "
                "run `vultr-pipeline demo` to try the pipeline against the local emulator.",
                endpoint=path,
            )
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_TransientError),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(self._attempt, path, params, page)
        except _TransientError as exc:
            raise exc.give_up(self.max_attempts) from (exc.__cause__ or exc)

    def _attempt(self, path: str, params: dict[str, Any], page: int) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.reveal()}"
        self.rate_limiter.acquire()
        try:
            response = self._session().get(
                self.base_url + path, params=params, headers=headers, timeout=self.timeout
            )
        except requests.Timeout as exc:
            raise _TransientError(
                f"timed out after {self.timeout} s", self._connection_failure(path, "timed out")
            ) from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            reason = f"connection failed ({type(exc).__name__})"
            raise _TransientError(reason, self._connection_failure(path, reason)) from exc
        except requests.RequestException as exc:
            raise VultrConnectionError(
                f"GET {path} could not be sent ({type(exc).__name__}). Check base_url "
                f"({self.base_url!r}).",
                endpoint=path,
            ) from exc
        if response.status_code >= 400:
            self._raise_for_status(response, path, page)
        return self._decode(response, path, page)

    def _decode(self, response: requests.Response, path: str, page: int) -> dict[str, Any]:
        text = response.text
        try:
            body = json.loads(text, parse_float=Decimal)
        except InvalidOperation as exc:
            raise VultrResponseError(
                f"Invalid response from GET {path} (page {page}): a number in the body has an "
                f"exponent out of the range of Decimal.",
                endpoint=path,
                page=page,
            ) from exc
        except ValueError as exc:
            excerpt = self._excerpt(text)
            content_type = response.headers.get("Content-Type", "no Content-Type")

            def give_up(attempts: int) -> VultrError:
                return VultrResponseError(
                    f"Invalid response from GET {path} (page {page}): the body is not valid "
                    f"JSON ({content_type}, HTTP {response.status_code}) on all {attempts} "
                    f"attempts; it starts with {excerpt!r}. Check that base_url points at the "
                    f"Vultr API v2.",
                    endpoint=path,
                    page=page,
                )

            # A truncated body is usually a dropped connection, so it is retried like one.
            raise _TransientError("body is not valid JSON", give_up) from exc
        if not isinstance(body, dict):
            raise VultrResponseError(
                f"Invalid response from GET {path} (page {page}): expected a JSON object, got "
                f"a JSON {type(body).__name__}.",
                endpoint=path,
                page=page,
            )
        return body

    def _raise_for_status(self, response: requests.Response, path: str, page: int) -> NoReturn:
        status = response.status_code
        error_text = self._error_text(response)
        detail = f"HTTP {status}: {error_text}" if error_text else f"HTTP {status}"
        if status == 401:
            raise VultrAuthError(
                f"Vultr rejected the API key for GET {path} ({detail}). The key is missing or "
                f"invalid, or not allowed from this IP address: set {self.api_key_variable} to a "
                f"valid key and check the key's access control list in the Vultr portal.",
                endpoint=path,
                status=status,
                error_text=error_text,
            )
        if status == 403:
            raise VultrAuthError(
                f"Vultr rejected GET {path} as forbidden ({detail}). The API key lacks "
                f"permission for this endpoint: set {self.api_key_variable} to a key whose user "
                "has the needed access (billing endpoints need the billing permission).",
                endpoint=path,
                status=status,
                error_text=error_text,
            )
        if status == 404:
            raise VultrNotFoundError(
                f"Vultr returned 404 Not Found for GET {path} ({detail}). Check the path and "
                f"any id in it.",
                endpoint=path,
                status=status,
                error_text=error_text,
            )
        if status in RETRY_STATUSES:
            retry_after = None
            if status in RETRY_AFTER_STATUSES:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise _TransientError(
                detail, self._status_failure(path, status, error_text), retry_after
            )
        if page > 1:
            # Page 1 was accepted with the same parameters, so the cursor is what changed.
            raise VultrAPIError(
                f"Vultr returned an error for GET {path} on page {page} ({detail}). The "
                f"request carried the cursor that page {page - 1} returned in meta.links.next, "
                "so the API rejected a cursor it had sent. Retry later, or report the endpoint "
                "if it keeps happening.",
                endpoint=path,
                status=status,
                error_text=error_text,
                page=page,
            )
        raise VultrAPIError(
            f"Vultr returned an error for GET {path} ({detail}). Check the request parameters.",
            endpoint=path,
            status=status,
            error_text=error_text,
            page=page,
        )

    def _status_failure(
        self, path: str, status: int, error_text: str
    ) -> Callable[[int], VultrError]:
        detail = f"HTTP {status}: {error_text}" if error_text else f"HTTP {status}"

        def give_up(attempts: int) -> VultrError:
            if status == 429:
                return VultrRateLimitError(
                    f"Vultr still responded with 429 Too Many Requests for GET {path} after "
                    f"{attempts} attempts ({detail}). Lower the client's rate_limit, or make "
                    f"sure no other program shares this IP address's limit.",
                    endpoint=path,
                    status=status,
                    error_text=error_text,
                )
            return VultrAPIError(
                f"Vultr returned a server error for GET {path} on all {attempts} attempts "
                f"({detail}). Retry later.",
                endpoint=path,
                status=status,
                error_text=error_text,
            )

        return give_up

    def _connection_failure(self, path: str, reason: str) -> Callable[[int], VultrError]:
        def give_up(attempts: int) -> VultrError:
            return VultrConnectionError(
                f"GET {path} failed on all {attempts} attempts: {reason}. Check the network "
                f"and base_url ({self.base_url!r}).",
                endpoint=path,
            )

        return give_up

    def _wait(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, _TransientError) and error.retry_after is not None:
            return min(error.retry_after, self.max_wait)
        return self._backoff(retry_state)

    def _log_retry(self, retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        reason = error.reason if isinstance(error, _TransientError) else type(error).__name__
        path = retry_state.args[0] if retry_state.args else "?"
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        self.logger.warning(
            "GET %s attempt %d of %d failed (%s); retrying in %.2f s",
            path,
            retry_state.attempt_number,
            self.max_attempts,
            self._redact(reason),
            wait,
        )

    def _error_text(self, response: requests.Response) -> str:
        text = response.text
        try:
            body = json.loads(text, parse_float=Decimal)
        except (ValueError, InvalidOperation):
            return self._excerpt(text)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return self._redact(body["error"])[:BODY_EXCERPT_CHARS]
        return self._excerpt(text)

    def _excerpt(self, text: str) -> str:
        collapsed = re.sub(r"\s+", " ", text).strip()
        return self._redact(collapsed)[:BODY_EXCERPT_CHARS]

    def _redact(self, text: str) -> str:
        if self._api_key is None:
            return text
        return text.replace(self._api_key.reveal(), REDACTED)


def _checked_api_key(api_key: str | None, variable: str) -> _SecretText | None:
    """Strip whitespace around the key and reject a key that cannot go into a header.

    Raises:
        VultrConfigError: The key contains whitespace or a control character inside it.
    """
    key = (api_key or "").strip()
    if not key:
        return None
    if any(character.isspace() or not character.isprintable() for character in key):
        raise VultrConfigError(
            "The Vultr API key contains whitespace or a control character. Set "
            f"{variable} to the key exactly as the Vultr portal shows it "
            "(Account > API)."
        )
    return _SecretText(key)


def parse_retry_after(value: str | None) -> float | None:
    """Read a ``Retry-After`` header: delay seconds or an HTTP date; None when absent or invalid.

    Negative delays and dates in the past count as 0 seconds.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class _RepeatDetector:
    """Detect a page that repeats rows of an earlier page under a new cursor.

    A fresh cursor that leads back to rows already sent would otherwise load them twice. Rows
    with an ``id`` must not repeat; rows without one (invoice items) are compared page by page.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._ids: dict[object, int] = {}
        self._pages: dict[str, int] = {}

    def check(self, rows: list[dict[str, Any]], page: int) -> None:
        """Raise `VultrResponseError` if `rows` repeat an earlier page's rows."""
        if not rows:
            return
        fingerprint = json.dumps(rows, sort_keys=True, default=str)
        earlier = self._pages.setdefault(fingerprint, page)
        if earlier != page:
            self._raise(f"page {page} repeats page {earlier}", page)
        for row in rows:
            row_id = row.get("id") if isinstance(row, dict) else None
            if row_id is None or isinstance(row_id, (dict, list)):
                continue
            earlier = self._ids.setdefault(row_id, page)
            if earlier != page:
                self._raise(
                    f"id {str(row_id)[:60]!r} on page {page} was already on page {earlier}", page
                )

    def _raise(self, detail: str, page: int) -> None:
        raise VultrResponseError(
            f"Invalid response from GET {self._path}: {detail}, so the listing would load rows "
            "twice. Nothing was stored; retry later, or report the endpoint if it keeps "
            "happening.",
            endpoint=self._path,
            page=page,
        )


def _extract_rows(body: dict[str, Any], key: str, path: str, page: int) -> list[dict[str, Any]]:
    if key not in body:
        present = ", ".join(sorted(body)) or "none"
        raise VultrResponseError(
            f"Invalid response from GET {path} (page {page}): list key {key!r} is missing "
            f"(keys present: {present}).",
            endpoint=path,
            page=page,
        )
    rows = body[key]
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise VultrResponseError(
            f"Invalid response from GET {path} (page {page}): {key!r} is not a list of objects.",
            endpoint=path,
            page=page,
        )
    return rows


def _next_cursor(body: dict[str, Any], path: str, page: int) -> str:
    """Return ``meta.links.next``, or "" when the body has no cursor paging."""
    meta = body.get("meta")
    if meta is None:
        return ""
    if not isinstance(meta, dict):
        raise _malformed_meta(path, page, "'meta' is not an object")
    links = meta.get("links")
    if links is None:
        return ""
    if not isinstance(links, dict):
        raise _malformed_meta(path, page, "'meta.links' is not an object")
    cursor = links.get("next")
    if cursor is None:
        return ""
    if not isinstance(cursor, str):
        raise _malformed_meta(path, page, "'meta.links.next' is not a string")
    return cursor


def _malformed_meta(path: str, page: int, reason: str) -> VultrResponseError:
    return VultrResponseError(
        f"Invalid response from GET {path} (page {page}): {reason}.", endpoint=path, page=page
    )
