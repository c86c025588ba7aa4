"""Dagster resources: the Vultr API connection and the ClickHouse IO manager settings."""

from __future__ import annotations

import os

import dagster as dg
from pydantic import Field

from vultr_pipeline.clickhouse.io_manager import ClickHouseIOManager
from vultr_pipeline.settings import clickhouse_settings_from_env
from vultr_pipeline.vultr.client import VultrClient

DEFAULT_API_URL = "https://api.vultr.com/v2"


class VultrResource(dg.ConfigurableResource):
    """Connection settings for one Vultr account.

    The API key is read from the environment variable named by `api_key_env` when a run starts,
    so the key itself never enters run config, the event log or metadata.
    """

    account: str = Field(
        default="default",
        description="Name stored in the account_id column of every table.",
    )
    api_key_env: str = Field(
        default="VULTR_API_KEY",
        description="Name of the environment variable that holds the account's API key.",
    )
    api_url: str | None = Field(
        default=None,
        description=(
            "Base URL of the Vultr API v2. Unset: $VULTR_API_URL, else " + DEFAULT_API_URL + "."
        ),
    )
    rate_limit: float = Field(
        default=30.0,
        description="Maximum requests per second, shared by every call in the process.",
    )
    timeout: float = Field(default=30.0, description="Timeout of one HTTP request, in seconds.")
    max_attempts: int = Field(
        default=6,
        description="Attempts per request, counting the first, before a transient error fails.",
    )

    def resolved_api_url(self) -> str:
        """Return the configured API URL, else $VULTR_API_URL, else Vultr's public URL."""
        return self.api_url or os.environ.get("VULTR_API_URL") or DEFAULT_API_URL

    def get_client(self) -> VultrClient:
        """Create a client for this account; the caller closes it."""
        return VultrClient(
            os.environ.get(self.api_key_env) or None,
            self.resolved_api_url(),
            rate_limit=self.rate_limit,
            timeout=self.timeout,
            max_attempts=self.max_attempts,
        )


def clickhouse_io_manager_from_env() -> ClickHouseIOManager:
    """Build the ClickHouse IO manager: a server when CLICKHOUSE_HOST is set, else embedded chDB.

    The password enters the resource config as `dg.EnvVar`, so Dagster stores only its name.
    """
    settings = clickhouse_settings_from_env(default_path=None)
    if not settings.host:
        return ClickHouseIOManager(path=settings.path)
    password = dg.EnvVar("CLICKHOUSE_PASSWORD") if settings.password else None
    return ClickHouseIOManager(
        host=settings.host,
        port=settings.port,
        username=settings.username,
        password=password,
        secure=settings.secure,
        database=os.environ.get("CLICKHOUSE_DATABASE") or "default",
    )
