"""Exceptions raised by the Vultr API client and the record parsers.

Every exception carries the request path (``endpoint``) and never the full URL, the request
headers or the API key.
"""

from __future__ import annotations

API_KEY_VARIABLE = "VULTR_API_KEY"


class VultrError(Exception):
    """Base class for every error raised by ``vultr_pipeline.vultr``."""

    def __init__(self, message: str, *, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint


class VultrConfigError(VultrError):
    """The client is configured in a way that cannot work, such as a missing API key."""


class VultrAPIError(VultrError):
    """Vultr responded with an error status that retrying did not clear.

    Attributes:
        status: HTTP status code, or None when no response arrived.
        endpoint: Request path, such as ``/billing/invoices``.
        error_text: Vultr's ``error`` text, or a short excerpt of a body that is not JSON.
        page: One-based page number of the request, set for an error status that is not
            retried and is neither 401, 403 nor 404 (such as 400 for a rejected cursor);
            else None.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status: int | None = None,
        error_text: str = "",
        page: int | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.status = status
        self.error_text = error_text
        self.page = page


class VultrAuthError(VultrAPIError):
    """The API key is missing or invalid (401), or lacks the permission an endpoint needs (403)."""


class VultrMissingAPIKeyError(VultrAuthError, VultrConfigError):
    """An authenticated endpoint was requested by a client that has no API key.

    Raised before any request is sent. It is both a ``VultrAuthError`` and a
    ``VultrConfigError``, so callers can catch either.
    """


class VultrNotFoundError(VultrAPIError):
    """Vultr responded with 404 for the path."""


class VultrRateLimitError(VultrAPIError):
    """Vultr still responded with 429 after every retry."""


class VultrConnectionError(VultrError):
    """The connection failed or timed out on every attempt."""


class VultrResponseError(VultrError):
    """A response arrived but is not the envelope the endpoint promises.

    Raised for a body that is not JSON, a missing list key, a malformed ``meta`` object or a
    cursor that repeats.

    Attributes:
        endpoint: Request path.
        page: One-based page number within the listing.
    """

    def __init__(self, message: str, *, endpoint: str, page: int) -> None:
        super().__init__(message, endpoint=endpoint)
        self.page = page


class VultrRecordError(VultrError):
    """A record lacks a required field or contains a value its field cannot parse.

    Attributes:
        table: Raw table name, such as ``instances``.
        field: Field name in the table.
        value_excerpt: Short ``repr`` of the offending value.
        reason: Why parsing failed.
        record_id: The record's ``id`` when it has one.
    """

    def __init__(
        self,
        table: str,
        field: str,
        value_excerpt: str,
        reason: str,
        *,
        record_id: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        which = f"record id={record_id}" if record_id is not None else "record without an id"
        message = (
            f"Invalid {table} {which}: field {field!r} has value {value_excerpt}: {reason}. "
            f"If Vultr changed the format of this field, update its spec in "
            f"vultr_pipeline/vultr/records.py."
        )
        super().__init__(message, endpoint=endpoint)
        self.table = table
        self.field = field
        self.value_excerpt = value_excerpt
        self.reason = reason
        self.record_id = record_id
