"""Vultr API v2 client, endpoint registry, value parsers and raw-table record specs.

This package imports nothing from Dagster, ClickHouse or the local emulator.
"""

from vultr_pipeline.vultr.api import VultrAPI
from vultr_pipeline.vultr.client import DEFAULT_BASE_URL, VultrClient, parse_retry_after
from vultr_pipeline.vultr.endpoints import ENDPOINTS, PUBLIC_PATHS, Endpoint, get_endpoint
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
    VultrRecordError,
    VultrResponseError,
)
from vultr_pipeline.vultr.ratelimit import RateLimiter, shared_rate_limiter
from vultr_pipeline.vultr.records import (
    RECORD_SPECS,
    SECRET_KEYS,
    Field,
    Kind,
    RecordSpec,
    RejectedRecord,
    bandwidth_period_records,
    number_lines,
    parse_or_reject,
    parse_record,
    strip_secrets,
)

__all__ = [
    "API_KEY_VARIABLE",
    "DEFAULT_BASE_URL",
    "ENDPOINTS",
    "PUBLIC_PATHS",
    "RECORD_SPECS",
    "SECRET_KEYS",
    "Endpoint",
    "Field",
    "Kind",
    "RateLimiter",
    "RecordSpec",
    "RejectedRecord",
    "VultrAPI",
    "VultrAPIError",
    "VultrAuthError",
    "VultrClient",
    "VultrConfigError",
    "VultrConnectionError",
    "VultrError",
    "VultrMissingAPIKeyError",
    "VultrNotFoundError",
    "VultrRateLimitError",
    "VultrRecordError",
    "VultrResponseError",
    "bandwidth_period_records",
    "get_endpoint",
    "number_lines",
    "parse_or_reject",
    "parse_record",
    "parse_retry_after",
    "shared_rate_limiter",
    "strip_secrets",
]
