"""Billing history, invoice list and account summary, kept consistent with each other.

Sign conventions follow Vultr's examples: `balance` is positive when money is owed to Vultr and
negative for prepaid credit. An invoice row's `amount` is positive and raises the balance, a
payment row's `amount` is negative (like `last_payment_amount`) and lowers it, and a credit
row's `amount` is positive yet lowers it, as in the documented history example.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from vultr_pipeline.emulator.billing import MonthBill
from vultr_pipeline.emulator.ids import IdSource
from vultr_pipeline.emulator.timeline import iso

_OPENING_CREDIT = Decimal("100")
_REFERRAL_CREDIT = Decimal("25")
_PAYMENT_STEP = Decimal("50")
_ACLS = ["manage_users", "subscriptions_view", "subscriptions", "billing", "support",
         "provisioning", "dns", "abuse", "upgrade", "firewall", "alerts", "objstore",
         "loadbalancer"]  # fmt: skip


@dataclass(frozen=True)
class Ledger:
    """History rows and invoices, newest first as Vultr lists them."""

    history: list[dict[str, Any]]
    invoices: list[dict[str, Any]]
    balance: Decimal
    last_payment: dict[str, Any] | None


class _LedgerBuilder:
    def __init__(self, ids: IdSource) -> None:
        self.ids = ids
        self.next_id = 5_300_000 + ids.rng.randrange(100_000)
        self.balance = Decimal(0)
        self.rows: list[dict[str, Any]] = []

    def add(self, moment: dt.datetime, kind: str, amount: Decimal, description: str = "") -> dict:
        row_id = self.next_id
        self.next_id += self.ids.rng.randint(1_000, 90_000)
        # A credit arrives as a positive amount and still lowers the balance.
        self.balance += -amount if kind == "credit" else amount
        row = {
            "id": row_id,
            "date": iso(moment),
            "type": kind,
            "description": description or f"Invoice #{row_id}",
            "amount": amount,
            "balance": self.balance,
        }
        self.rows.append(row)
        return row


def build_ledger(ids: IdSource, bills: list[MonthBill], now: dt.datetime) -> Ledger:
    """Build history rows and invoices from the closed months, oldest events first."""
    builder = _LedgerBuilder(ids)
    opening = (bills[0].start if bills else now) - dt.timedelta(days=20)
    builder.add(opening, "credit", _OPENING_CREDIT, "Account Credit")

    invoices = []
    last_payment = None
    for index, bill in enumerate(bills):
        row = builder.add(bill.end + dt.timedelta(minutes=30, seconds=5), "invoice", bill.amount)
        invoices.append(
            {key: row[key] for key in ("id", "date", "description", "amount", "balance")}
        )

        paid_at = bill.end + dt.timedelta(days=2, hours=9, minutes=15)
        if builder.balance > 0 and paid_at <= now:
            # Paying in round steps overshoots, so the account often ends in credit.
            steps = -(-builder.balance // _PAYMENT_STEP)
            last_payment = builder.add(paid_at, "payment", -steps * _PAYMENT_STEP, "Payment")
        credited_at = bill.end + dt.timedelta(days=9, hours=14)
        if index == len(bills) // 2 and credited_at <= now:
            builder.add(credited_at, "credit", _REFERRAL_CREDIT, "Referral Credit")

    return Ledger(builder.rows[::-1], invoices[::-1], builder.balance, last_payment)


def account_summary(ledger: Ledger, pending_total: Decimal) -> dict[str, Any]:
    """Build the `/account` object from the ledger and the open month's charges."""
    payment = ledger.last_payment
    return {
        "name": "Sample Account",
        "email": "billing@example.com",
        "acls": list(_ACLS),
        "balance": ledger.balance,
        "pending_charges": pending_total,
        "last_payment_date": payment["date"] if payment else "",
        "last_payment_amount": payment["amount"] if payment else Decimal(0),
    }
