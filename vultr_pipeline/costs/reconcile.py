"""Reconciliation of the billing tables with each other, as plain functions returning findings.

Each function returns one `Finding` per discrepancy and an empty list when the data agree.
Money comparisons are exact to the cent: both sides are rounded half up to cents before they
are compared, and the figures in messages are shown in cents.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd

CENT = Decimal("0.01")

# Billing-history types whose positive `amount` raises the balance (money owed to Vultr).
DEBIT_TYPES = frozenset({"invoice", "charge"})
# Billing-history types that lower the balance whatever the sign of `amount`.
CREDIT_TYPES = frozenset({"credit", "payment"})

SERVICE_CATEGORIES = frozenset(
    {
        "compute",
        "gpu",
        "bare_metal",
        "block_storage",
        "object_storage",
        "snapshot",
        "backup",
        "bandwidth",
        "load_balancer",
        "reserved_ip",
        "kubernetes",
        "database",
        "ddos_protection",
        "other",
    }
)


@dataclass(frozen=True)
class Finding:
    """One discrepancy found by a reconciliation.

    Attributes:
        check: Name of the reconciliation, e.g. `invoice_totals`.
        id: What the finding is about, e.g. `invoice 123456` or a duplicated key.
        expected: The figure the data should show (money, or a count), if there is one.
        actual: The figure the data show.
        difference: `actual - expected`, if both are figures.
        message: A sentence with the figures, ready to show to a user.
    """

    check: str
    id: str
    expected: Decimal | int | None
    actual: Decimal | int | None
    difference: Decimal | int | None
    message: str


def to_cents(value: Decimal) -> Decimal:
    """Round `value` half up to whole cents."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _decimal_sum(values: Iterable[Any]) -> Decimal:
    return sum((value for value in values if value is not None), Decimal(0))


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, Decimal) and pd.isna(value))


def findings_frame(findings: Sequence[Finding]) -> pd.DataFrame:
    """Return findings as a DataFrame, one row per finding, for logs and metadata."""
    columns = ["check", "id", "expected", "actual", "difference", "message"]
    return pd.DataFrame([finding.__dict__ for finding in findings], columns=columns)


def check_invoice_totals(invoices: pd.DataFrame, invoice_items: pd.DataFrame) -> list[Finding]:
    """Check that each invoice's item totals add up to the invoice amount, to the cent.

    Invoices without items compare against 0, and items whose invoice is not in `invoices`
    are reported too, since no amount covers them.

    Args:
        invoices: Raw `invoices` rows (`account_id`, `id`, `amount`).
        invoice_items: Raw `invoice_items` rows (`account_id`, `invoice_id`, `total`).
    """
    items_total: dict[tuple[str, int], Decimal] = {}
    for account_id, invoice_id, total in zip(
        invoice_items["account_id"],
        invoice_items["invoice_id"],
        invoice_items["total"],
        strict=True,
    ):
        key = (str(account_id), int(invoice_id))
        items_total[key] = items_total.get(key, Decimal(0)) + (total or Decimal(0))

    findings = []
    known = set()
    for account_id, invoice_id, amount in zip(
        invoices["account_id"], invoices["id"], invoices["amount"], strict=True
    ):
        key = (str(account_id), int(invoice_id))
        known.add(key)
        expected = to_cents(amount or Decimal(0))
        actual = to_cents(items_total.get(key, Decimal(0)))
        if actual != expected:
            difference = actual - expected
            findings.append(
                Finding(
                    "invoice_totals",
                    f"invoice {invoice_id}",
                    expected,
                    actual,
                    difference,
                    f"invoice {invoice_id}: items add up to {actual}, invoice amount "
                    f"{expected}, difference {difference}",
                )
            )
    for account_id, invoice_id in sorted(set(items_total) - known):
        actual = to_cents(items_total[(account_id, invoice_id)])
        findings.append(
            Finding(
                "invoice_totals",
                f"invoice {invoice_id}",
                None,
                actual,
                None,
                f"invoice {invoice_id}: items add up to {actual}, but account {account_id} has "
                "no such invoice in the invoices table",
            )
        )
    return findings


def check_pending_total(pending_charges: pd.DataFrame, account: pd.DataFrame) -> list[Finding]:
    """Check that the open month's pending items add up to the account's `pending_charges`.

    Args:
        pending_charges: Raw `pending_charges` rows (`account_id`, `total`).
        account: Raw `account` rows (`account_id`, `pending_charges`).
    """
    findings = []
    for account_id, reported in zip(account["account_id"], account["pending_charges"], strict=True):
        own = pending_charges[pending_charges["account_id"] == account_id]
        actual = to_cents(_decimal_sum(own["total"]))
        if _missing(reported):
            findings.append(
                Finding(
                    "pending_total",
                    f"account {account_id}",
                    None,
                    actual,
                    None,
                    f"account {account_id}: pending items add up to {actual}, but the account "
                    "reports no pending_charges",
                )
            )
            continue
        expected = to_cents(reported)
        if actual != expected:
            difference = actual - expected
            findings.append(
                Finding(
                    "pending_total",
                    f"account {account_id}",
                    expected,
                    actual,
                    difference,
                    f"account {account_id}: pending items add up to {actual}, account "
                    f"pending_charges {expected}, difference {difference}",
                )
            )
    return findings


def signed_amount(kind: str | None, amount: Decimal) -> Decimal | None:
    """Return the change a billing-history row makes to the balance, or None if unknown.

    Vultr's balance is positive when money is owed and negative for prepaid credit. Invoices
    and charges raise it by their amount. Credits come with a positive amount yet lower it, as
    in Vultr's own history example, and payments lower it too (Vultr reports them negative, as
    in `last_payment_amount`). So credit and payment rows lower the balance by the absolute
    amount whatever its sign. For any other type the direction is unknown, and None is returned.
    """
    normalized = (kind or "").strip().lower()
    if normalized in DEBIT_TYPES:
        return amount
    if normalized in CREDIT_TYPES:
        return -abs(amount)
    return None


def check_balance_continuity(billing_history: pd.DataFrame) -> list[Finding]:
    """Check that each billing-history balance equals the previous balance plus the row's amount.

    Rows are sorted by (`date`, `id`) per account, because the API's order is not guaranteed.
    The sign of each amount follows `signed_amount`. A row of another type passes when the
    balance moved by the amount in either direction. The oldest row has no predecessor and
    is not checked. Rows without an amount or balance are reported.

    Args:
        billing_history: Raw `billing_history` rows (`account_id`, `id`, `date`, `type`,
            `amount`, `balance`).
    """
    findings = []
    ordered = billing_history.sort_values(["account_id", "date", "id"], kind="stable")
    previous: dict[str, Decimal | None] = {}
    for row in ordered.itertuples(index=False):
        account_id = str(row.account_id)
        balance = None if _missing(row.balance) else row.balance
        amount = None if _missing(row.amount) else row.amount
        if balance is None or amount is None:
            findings.append(_incomplete_history_row(row.id, amount, balance))
        elif previous.get(account_id) is not None:
            finding = _balance_step(row.id, row.type, amount, balance, previous[account_id])
            if finding is not None:
                findings.append(finding)
        previous[account_id] = balance
    return findings


def _incomplete_history_row(
    row_id: int, amount: Decimal | None, balance: Decimal | None
) -> Finding:
    missing = "amount" if amount is None else "balance"
    return Finding(
        "balance_continuity",
        f"billing history {row_id}",
        None,
        None,
        None,
        f"billing history {row_id}: no {missing}, so the running balance cannot be checked",
    )


def _balance_step(
    row_id: int, kind: str | None, amount: Decimal, balance: Decimal, previous: Decimal
) -> Finding | None:
    change = signed_amount(kind, amount)
    moved = to_cents(balance) - to_cents(previous)
    if change is None:
        if abs(moved) == to_cents(abs(amount)):
            return None
        expected = to_cents(previous) + to_cents(abs(amount))
        rule = f"{to_cents(previous)} ± {to_cents(abs(amount))}"
    else:
        expected = to_cents(previous + change)
        if to_cents(balance) == expected:
            return None
        rule = f"{to_cents(previous)} {'+' if change >= 0 else '-'} {to_cents(abs(change))}"
    actual = to_cents(balance)
    return Finding(
        "balance_continuity",
        f"billing history {row_id}",
        expected,
        actual,
        actual - expected,
        f"billing history {row_id} ({kind}): balance {actual}, expected {rule} from the "
        f"previous balance, difference {actual - expected}",
    )


def check_unique_keys(frame: pd.DataFrame, keys: Sequence[str], table: str) -> list[Finding]:
    """Report every key that occurs in more than one row of `frame`.

    Args:
        frame: Rows to check.
        keys: Columns that together identify a row.
        table: Table name for the messages.
    """
    if frame.empty:
        return []
    counts = frame.groupby(list(keys), dropna=False, sort=True).size()
    findings = []
    for key, count in counts[counts > 1].items():
        values = key if isinstance(key, tuple) else (key,)
        text = ", ".join(f"{name}={value}" for name, value in zip(keys, values, strict=True))
        findings.append(
            Finding(
                "unique_keys",
                f"{table} ({text})",
                1,
                int(count),
                int(count) - 1,
                f"{table}: key ({text}) occurs in {count} rows, expected 1",
            )
        )
    return findings


def check_service_categories(
    line_items: pd.DataFrame, allowed: frozenset[str] = SERVICE_CATEGORIES
) -> list[Finding]:
    """Report cost line items whose service category is missing or not an allowed value."""
    findings = []
    for line_id, category in zip(
        line_items["line_id"], line_items["service_category"], strict=True
    ):
        if _missing(category) or not str(category).strip():
            problem = "has no service category"
        elif category not in allowed:
            problem = f"has the unknown service category {category!r}"
        else:
            continue
        findings.append(
            Finding(
                "service_category",
                f"line {line_id}",
                None,
                None,
                None,
                f"line {line_id} {problem}; expected one of {', '.join(sorted(allowed))}",
            )
        )
    return findings
