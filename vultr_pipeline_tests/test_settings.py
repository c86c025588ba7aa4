"""Tests of the ClickHouse settings read from CLICKHOUSE_* environment variables."""

from __future__ import annotations

import pytest

from vultr_pipeline.clickhouse.errors import ClickHouseConfigError
from vultr_pipeline.defs.resources import clickhouse_io_manager_from_env
from vultr_pipeline.settings import clickhouse_settings_from_env


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for name in (
        "CLICKHOUSE_HOST",
        "CLICKHOUSE_PORT",
        "CLICKHOUSE_USER",
        "CLICKHOUSE_PASSWORD",
        "CLICKHOUSE_SECURE",
        "CLICKHOUSE_PATH",
        "CLICKHOUSE_DATABASE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))


def test_embedded_default_under_dagster_home(tmp_path):
    settings = clickhouse_settings_from_env()

    assert settings.host is None
    assert settings.path == str(tmp_path / "home" / "clickhouse")
    assert (tmp_path / "home" / "dagster.yaml").is_file()


def test_server_settings(monkeypatch):
    monkeypatch.setenv("CLICKHOUSE_HOST", "clickhouse.internal")
    monkeypatch.setenv("CLICKHOUSE_PORT", "8443")
    monkeypatch.setenv("CLICKHOUSE_SECURE", "true")
    monkeypatch.setenv("CLICKHOUSE_USER", "loader")
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "planted-password-42")

    settings = clickhouse_settings_from_env()

    assert settings.host == "clickhouse.internal"
    assert settings.port == 8443
    assert settings.secure is True
    assert settings.username == "loader"
    assert "planted-password-42" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [("CLICKHOUSE_PORT", "eighty"), ("CLICKHOUSE_PORT", "70000"), ("CLICKHOUSE_SECURE", "maybe")],
)
def test_invalid_server_setting_names_variable(monkeypatch, name, value):
    monkeypatch.setenv("CLICKHOUSE_HOST", "clickhouse.internal")
    monkeypatch.setenv(name, value)

    with pytest.raises(ClickHouseConfigError) as raised:
        clickhouse_settings_from_env()

    assert name in str(raised.value)
    assert value in str(raised.value)


def test_io_manager_keeps_password_out_of_config(monkeypatch):
    monkeypatch.setenv("CLICKHOUSE_HOST", "clickhouse.internal")
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "planted-password-42")
    monkeypatch.setenv("CLICKHOUSE_DATABASE", "finops")

    io_manager = clickhouse_io_manager_from_env()

    assert io_manager.host == "clickhouse.internal"
    assert io_manager.database == "finops"
    assert "planted-password-42" not in repr(io_manager)
    assert "planted-password-42" not in str(io_manager.model_dump())
