"""Cursor pagination as Vultr does it: `per_page`, opaque base64 cursors and `meta.links`.

A cursor is the standard base64 of `next__<key>` (the page starts after that item) or
`prev__<key>` (the page ends before it). The key is the item's `id`, or its 1-based position
for lists without ids such as invoice items. `next__` with an empty key means the first page.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 500


class BadRequestError(ValueError):
    """A query parameter the emulator rejects with HTTP 400; the message is the error text."""


@dataclass(frozen=True)
class Page:
    """One page of a list and its `meta` object."""

    items: list[Any]
    meta: dict[str, Any]


def encode_cursor(direction: str, key: str) -> str:
    """Return the cursor text for `next` or `prev` relative to an item key."""
    return base64.b64encode(f"{direction}__{key}".encode()).decode("ascii")


def parse_per_page(raw: str | None) -> int:
    """Return the page size for a raw `per_page` value, clamped to 500.

    Raises:
        BadRequestError: If the value is not a positive integer.
    """
    if raw is None or raw == "":
        return DEFAULT_PER_PAGE
    try:
        value = int(raw)
    except ValueError as error:
        raise BadRequestError(f"Invalid per_page value {raw!r}: must be an integer.") from error
    if value < 1:
        raise BadRequestError(f"Invalid per_page value {raw!r}: must be at least 1.")
    return min(value, MAX_PER_PAGE)


class Paginator:
    """Cuts lists into pages; caches each unfiltered list's key index by the list's identity."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indexes: dict[int, tuple[list[Any], dict[str, int]]] = {}

    def page(
        self,
        items: list[Any],
        key_of: Callable[[int, Any], str],
        per_page_raw: str | None,
        cursor: str | None,
        cache: bool = True,
    ) -> Page:
        """Return the page that `per_page` and `cursor` select.

        Args:
            items: The whole list.
            key_of: Maps (0-based position, item) to the key written into cursors.
            per_page_raw: The raw `per_page` query value, or None.
            cursor: The URL-decoded `cursor` query value, or None.
            cache: Whether `items` is a long-lived list whose key index may be cached.

        Raises:
            BadRequestError: If `per_page` or `cursor` is invalid.
        """
        per_page = parse_per_page(per_page_raw)
        start, end = 0, per_page
        if cursor:
            direction, key = _decode_cursor(cursor)
            if key:
                position = self._position(items, key_of, key, cache)
                if direction == "next":
                    start, end = position + 1, position + 1 + per_page
                else:
                    start, end = max(position - per_page, 0), position
        end = min(end, len(items))
        page = items[start:end]
        next_cursor = encode_cursor("next", key_of(end - 1, page[-1])) if end < len(items) else ""
        prev_cursor = encode_cursor("prev", key_of(start, page[0])) if start > 0 and page else ""
        meta = {"total": len(items), "links": {"next": next_cursor, "prev": prev_cursor}}
        return Page(page, meta)

    def _position(
        self, items: list[Any], key_of: Callable[[int, Any], str], key: str, cache: bool
    ) -> int:
        index = self._index(items, key_of) if cache else _build_index(items, key_of)
        if key not in index:
            raise BadRequestError("Invalid cursor: it does not point into this list.")
        return index[key]

    def _index(self, items: list[Any], key_of: Callable[[int, Any], str]) -> dict[str, int]:
        with self._lock:
            cached = self._indexes.get(id(items))
            # The stored list reference keeps the id from being reused by another list.
            if cached is not None and cached[0] is items:
                return cached[1]
            index = _build_index(items, key_of)
            self._indexes[id(items)] = (items, index)
            return index


def _build_index(items: list[Any], key_of: Callable[[int, Any], str]) -> dict[str, int]:
    return {key_of(position, item): position for position, item in enumerate(items)}


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        text = base64.b64decode(cursor.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as error:
        raise BadRequestError("Invalid cursor: not a cursor returned by this API.") from error
    direction, separator, key = text.partition("__")
    if not separator or direction not in ("next", "prev"):
        raise BadRequestError("Invalid cursor: not a cursor returned by this API.")
    if direction == "prev" and not key:
        raise BadRequestError("Invalid cursor: not a cursor returned by this API.")
    return direction, key
