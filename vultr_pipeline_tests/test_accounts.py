"""Tests of the accounts file: the default account, valid files and each kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from vultr_pipeline.accounts import (
    Account,
    AccountsConfigError,
    find_account,
    load_accounts,
    parse_accounts_file,
)
from vultr_pipeline.defs.partitions import PartitionConfigError, build_partitions


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "accounts.yaml"
    path.write_text(text)
    return path


def test_default_account_without_file(monkeypatch):
    monkeypatch.delenv("VULTR_ACCOUNTS_FILE", raising=False)

    assert load_accounts() == (Account("default", "VULTR_API_KEY"),)


def test_accounts_file_read_in_order(tmp_path, monkeypatch):
    path = _write(
        tmp_path,
        "accounts:\n  - name: prod\n    api_key_env: KEY_PROD\n"
        "  - name: staging-2\n    api_key_env: KEY_STAGING\n",
    )
    monkeypatch.setenv("VULTR_ACCOUNTS_FILE", str(path))

    accounts = load_accounts()

    assert accounts == (Account("prod", "KEY_PROD"), Account("staging-2", "KEY_STAGING"))
    assert build_partitions().account_names == ["prod", "staging-2"]


def test_account_key_read_from_its_variable(monkeypatch):
    monkeypatch.setenv("KEY_PROD", "secret-value")

    assert Account("prod", "KEY_PROD").api_key() == "secret-value"
    assert Account("prod", "KEY_UNSET_FOR_TEST").api_key() is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("accounts: [\n", "not valid YAML", id="not-yaml"),
        pytest.param("prod: KEY\n", "no 'accounts' list", id="no-list"),
        pytest.param("accounts: []\n", "list is empty", id="empty"),
        pytest.param(
            "accounts:\n  - name: Prod\n    api_key_env: KEY\n",
            "entry 1 has name 'Prod'",
            id="upper",
        ),
        pytest.param(
            "accounts:\n  - name: a|b\n    api_key_env: KEY\n", "entry 1 has name 'a|b'", id="pipe"
        ),
        pytest.param(
            "accounts:\n  - name: prod\n", "entry 1 (account prod) has api_key_env None", id="key"
        ),
        pytest.param(
            "accounts:\n  - name: prod\n    api_key_env: KEY\n"
            "  - name: prod\n    api_key_env: OTHER\n",
            "entry 2 repeats the name 'prod'",
            id="duplicate",
        ),
        pytest.param(
            "accounts:\n  - name: prod\n    api_key_env: KEY\n"
            "  - name: prod2\n    api_key_env: KEY\n",
            "entry 2 (account prod2) uses api_key_env KEY, as account prod does",
            id="same-key",
        ),
        pytest.param(
            "accounts:\n  - name: prod\n    api_key_env: KEY\n    api_key: abc\n",
            "unknown keys ['api_key']",
            id="unknown-key",
        ),
        pytest.param("accounts:\n  - prod\n", "entry 1 is 'prod'", id="not-mapping"),
    ],
)
def test_invalid_accounts_file(tmp_path, text, expected):
    path = _write(tmp_path, text)

    with pytest.raises(AccountsConfigError) as raised:
        parse_accounts_file(path)

    message = str(raised.value)
    assert expected in message
    assert str(path) in message
    assert "api_key_env: VULTR_API_KEY_PROD" in message


def test_missing_accounts_file(tmp_path, monkeypatch):
    monkeypatch.setenv("VULTR_ACCOUNTS_FILE", str(tmp_path / "absent.yaml"))

    with pytest.raises(AccountsConfigError, match="absent.yaml not found"):
        load_accounts()


def test_unknown_account_lists_names():
    accounts = (Account("prod", "KEY_PROD"), Account("dev", "KEY_DEV"))

    with pytest.raises(AccountsConfigError, match="configured accounts are: prod, dev"):
        find_account("qa", accounts)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("VULTR_HISTORY_START", "2024-13"), ("VULTR_DAILY_START", "2026/01/01")],
)
def test_invalid_partition_start(monkeypatch, variable, value):
    monkeypatch.delenv("VULTR_ACCOUNTS_FILE", raising=False)
    monkeypatch.setenv(variable, value)

    with pytest.raises(PartitionConfigError, match=f"Invalid {variable} '{value}'"):
        build_partitions()
