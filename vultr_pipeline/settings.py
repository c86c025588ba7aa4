"""ClickHouse connection settings read from CLICKHOUSE_* environment variables."""

from __future__ import annotations

import os

from vultr_pipeline.clickhouse.engine import ClickHouseSettings
from vultr_pipeline.clickhouse.errors import ClickHouseConfigError
from vultr_pipeline.home import resolve_dagster_home

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
_USE_DAGSTER_HOME = object()


def _port_from_env() -> int | None:
    text = os.environ.get("CLICKHOUSE_PORT", "").strip()
    if not text:
        return None
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ClickHouseConfigError(
            f"Invalid CLICKHOUSE_PORT {text!r}: set it to a port number such as 8123 "
            "(HTTP) or 8443 (HTTPS), or unset it to use the default."
        )
    return int(text)


def _secure_from_env() -> bool:
    text = os.environ.get("CLICKHOUSE_SECURE", "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ClickHouseConfigError(f"Invalid CLICKHOUSE_SECURE {text!r}: set it to true or false.")


def clickhouse_settings_from_env(default_path: object = _USE_DAGSTER_HOME) -> ClickHouseSettings:
    """Return the ClickHouse the pipeline uses: $CLICKHOUSE_HOST when set, else embedded chDB.

    Args:
        default_path: chDB directory when CLICKHOUSE_PATH is unset. By default
            `$DAGSTER_HOME/clickhouse`, creating DAGSTER_HOME as the command line does; None
            leaves the choice to the IO manager.

    Raises:
        ClickHouseConfigError: CLICKHOUSE_PORT or CLICKHOUSE_SECURE is invalid.
    """
    host = os.environ.get("CLICKHOUSE_HOST", "").strip()
    if host:
        return ClickHouseSettings(
            host=host,
            port=_port_from_env(),
            username=os.environ.get("CLICKHOUSE_USER") or "default",
            password=os.environ.get("CLICKHOUSE_PASSWORD") or None,
            secure=_secure_from_env(),
        )
    path = os.environ.get("CLICKHOUSE_PATH", "").strip() or None
    if path is None and default_path is _USE_DAGSTER_HOME:
        path = str(resolve_dagster_home() / "clickhouse")
    elif path is None:
        path = default_path
    return ClickHouseSettings(path=path)
