"""The Vultr accounts the pipeline collects, read from the YAML file at $VULTR_ACCOUNTS_FILE.

The file lists each account's name and the environment variable that holds its API key:

.. code-block:: yaml

    accounts:
      - name: prod
        api_key_env: VULTR_API_KEY_PROD
      - name: staging
        api_key_env: VULTR_API_KEY_STAGING

The name is stored in the `account_id` column of every table and is a partition key, so it is
lower-case letters, digits, `_` or `-`, starting with a letter or digit. Without the variable,
the pipeline collects one account, `default`, whose key is in VULTR_API_KEY.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ACCOUNTS_FILE_ENV = "VULTR_ACCOUNTS_FILE"
DEFAULT_ACCOUNT = "default"
DEFAULT_API_KEY_ENV = "VULTR_API_KEY"
_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_VARIABLE_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXAMPLE = "accounts:\n  - name: prod\n    api_key_env: VULTR_API_KEY_PROD"


class AccountsConfigError(Exception):
    """The accounts file is missing or invalid, or an account name is unknown."""


@dataclass(frozen=True)
class Account:
    """One Vultr account: its name in the tables and the variable that holds its API key."""

    name: str
    api_key_env: str

    def api_key(self) -> str | None:
        """Return the account's API key from the environment, or None when it is unset or blank.

        Whitespace around the key, such as the newline that `echo` or a copied line adds, is
        removed.

        Raises:
            AccountsConfigError: The key contains whitespace or a control character inside
                it. The message names the variable and never the key.
        """
        key = (os.environ.get(self.api_key_env) or "").strip()
        if not key:
            return None
        if any(character.isspace() or not character.isprintable() for character in key):
            raise AccountsConfigError(
                f"The API key in ${self.api_key_env} (account {self.name}) contains whitespace "
                "or a control character. Set the variable to the key exactly as the Vultr "
                "portal shows it (Account > API), with nothing inside it."
            )
        return key


def _invalid(path: Path, problem: str) -> AccountsConfigError:
    return AccountsConfigError(
        f"Invalid accounts file {path} (set by {ACCOUNTS_FILE_ENV}): {problem}. "
        f"The file must look like:\n{_EXAMPLE}"
    )


def _read_document(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise AccountsConfigError(
            f"Accounts file {path} not found. Create it, or unset {ACCOUNTS_FILE_ENV} to "
            f"collect one account with the key in {DEFAULT_API_KEY_ENV}."
        ) from error
    except OSError as error:
        raise AccountsConfigError(f"Cannot read accounts file {path}: {error}.") from error
    except UnicodeDecodeError as error:
        raise _invalid(path, f"not UTF-8 text ({error})") from error
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise _invalid(path, f"not valid YAML ({error})".replace("\n", " ")) from error


def _parse_entry(path: Path, position: int, entry: Any) -> Account:
    where = f"entry {position}"
    if not isinstance(entry, dict):
        raise _invalid(path, f"{where} is {entry!r}, not a mapping with name and api_key_env")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise _invalid(
            path,
            f"{where} has name {name!r}; use 1 to 64 lower-case letters, digits, _ or -, "
            "starting with a letter or digit",
        )
    variable = entry.get("api_key_env")
    if not isinstance(variable, str) or not _VARIABLE_PATTERN.match(variable):
        raise _invalid(
            path,
            f"{where} (account {name}) has api_key_env {variable!r}; set it to the name of the "
            "environment variable that holds the account's API key, such as VULTR_API_KEY_PROD",
        )
    unknown = sorted(set(entry) - {"name", "api_key_env"})
    if unknown:
        raise _invalid(path, f"{where} (account {name}) has unknown keys {unknown}")
    return Account(name=name, api_key_env=variable)


def parse_accounts_file(path: Path) -> tuple[Account, ...]:
    """Read and validate the accounts file at `path`.

    Raises:
        AccountsConfigError: The file is missing, is not YAML, lists no accounts, or has an
            entry without a valid name or api_key_env, or two entries with the same name or
            the same api_key_env.
    """
    document = _read_document(path)
    if not isinstance(document, dict) or not isinstance(document.get("accounts"), list):
        raise _invalid(path, "it has no 'accounts' list at the top level")
    if not document["accounts"]:
        raise _invalid(path, "the 'accounts' list is empty")
    accounts: list[Account] = []
    for position, entry in enumerate(document["accounts"], start=1):
        account = _parse_entry(path, position, entry)
        if any(known.name == account.name for known in accounts):
            raise _invalid(
                path, f"entry {position} repeats the name {account.name!r}; names must be unique"
            )
        same_key = [known.name for known in accounts if known.api_key_env == account.api_key_env]
        if same_key:
            # One key is one Vultr account: collecting it under two names stores every charge
            # twice, and a report over all accounts would double the spend.
            raise _invalid(
                path,
                f"entry {position} (account {account.name}) uses api_key_env "
                f"{account.api_key_env}, as account {same_key[0]} does; give each account its "
                "own key variable",
            )
        accounts.append(account)
    return tuple(accounts)


def load_accounts() -> tuple[Account, ...]:
    """Return the accounts of $VULTR_ACCOUNTS_FILE, or the `default` account when it is unset.

    Raises:
        AccountsConfigError: The file is missing or invalid.
    """
    location = os.environ.get(ACCOUNTS_FILE_ENV, "").strip()
    if not location:
        return (Account(name=DEFAULT_ACCOUNT, api_key_env=DEFAULT_API_KEY_ENV),)
    return parse_accounts_file(Path(location))


def find_account(name: str, accounts: tuple[Account, ...] | None = None) -> Account:
    """Return the account called `name`.

    Raises:
        AccountsConfigError: No account has that name, or the accounts file is invalid.
    """
    known = load_accounts() if accounts is None else accounts
    for account in known:
        if account.name == name:
            return account
    names = ", ".join(account.name for account in known)
    raise AccountsConfigError(
        f"Unknown account {name!r}; the configured accounts are: {names}. Add it to the "
        f"accounts file ({ACCOUNTS_FILE_ENV}) or pick one of those."
    )
