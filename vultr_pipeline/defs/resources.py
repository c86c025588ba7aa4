"""Dagster resources: the Vultr API connection and the ClickHouse IO and input managers."""

from __future__ import annotations

import os

import dagster as dg
import pandas as pd
from pydantic import Field

from vultr_pipeline.accounts import DEFAULT_ACCOUNT, find_account
from vultr_pipeline.clickhouse.engine import open_engine
from vultr_pipeline.clickhouse.io_manager import ClickHouseIOManager
from vultr_pipeline.settings import clickhouse_settings_from_env
from vultr_pipeline.vultr.client import VultrClient

DEFAULT_API_URL = "https://api.vultr.com/v2"


class VultrResource(dg.ConfigurableResource):
    """Connection settings for the Vultr accounts of the accounts file.

    Each account's API key is read from the environment variable the accounts file names for
    it, when a run starts, so the key itself never enters run config, the event log or
    metadata.
    """

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

    def api_key_env_of(self, account: str) -> str:
        """Return the name of the variable that holds the API key of `account`.

        Raises:
            AccountsConfigError: The accounts file is invalid or does not list `account`.
        """
        return find_account(account).api_key_env

    def get_client(self, account: str = DEFAULT_ACCOUNT) -> VultrClient:
        """Create a client with the API key of `account`; the caller closes it.

        A client without a key still reads the public endpoints (plans, regions); any other
        request raises `VultrMissingAPIKeyError`.

        Raises:
            AccountsConfigError: The accounts file is invalid or does not list `account`.
        """
        declared = find_account(account)
        return VultrClient(
            declared.api_key(),
            self.resolved_api_url(),
            api_key_variable=declared.api_key_env,
            rate_limit=self.rate_limit,
            timeout=self.timeout,
            max_attempts=self.max_attempts,
        )


class HistoryInputManager(ClickHouseIOManager):
    """Load an input of another cadence, such as daily snapshots into a monthly asset.

    The monthly and daily assets run in separate jobs, so the first run of one can come
    before any run of the other. A table that does not exist yet then loads as an empty
    frame with the declared columns, and so does an input whose mapped partitions are all
    outside the upstream partitions definition.
    """

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        """Read the upstream rows, or an empty frame when there are none to read."""
        if context.has_asset_partitions and not context.asset_partition_keys:
            return _empty_frame(context)
        database, table = self.table_for_key(context.asset_key)
        engine = open_engine(self.settings())
        try:
            found = engine.query_arrow(
                "SELECT count() AS n FROM system.tables "
                "WHERE database = {database:String} AND name = {table:String}",
                {"database": database, "table": table},
            )
        finally:
            engine.close()
        if not found.column("n")[0].as_py():
            context.log.info("Table %s.%s does not exist yet; reading no rows", database, table)
            return _empty_frame(context)
        return super().load_input(context)


def _empty_frame(context: dg.InputContext) -> pd.DataFrame:
    upstream = context.upstream_output
    metadata = (upstream.definition_metadata if upstream else None) or {}
    schema = metadata.get("dagster/column_schema")
    if isinstance(schema, dg.MetadataValue):
        schema = schema.value
    names = [column.name for column in schema.columns] if schema is not None else []
    return pd.DataFrame({name: pd.Series([], dtype=object) for name in names})


def clickhouse_io_manager_from_env(
    manager: type[ClickHouseIOManager] = ClickHouseIOManager,
) -> ClickHouseIOManager:
    """Build the ClickHouse IO manager: a server when CLICKHOUSE_HOST is set, else embedded chDB.

    The password enters the resource config as `dg.EnvVar`, so Dagster stores only its name.
    `manager` is the class to build, `ClickHouseIOManager` or `HistoryInputManager`.
    """
    settings = clickhouse_settings_from_env(default_path=None)
    # Without a host the IO manager refuses a cluster when a run starts, naming both variables.
    cluster = os.environ.get("CLICKHOUSE_CLUSTER", "").strip() or None
    if not settings.host:
        return manager(path=settings.path, cluster=cluster)
    password = dg.EnvVar("CLICKHOUSE_PASSWORD") if settings.password else None
    return manager(
        host=settings.host,
        port=settings.port,
        username=settings.username,
        password=password,
        secure=settings.secure,
        database=os.environ.get("CLICKHOUSE_DATABASE") or "default",
        cluster=cluster,
    )
