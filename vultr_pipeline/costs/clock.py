"""The instant that cost figures are computed for, taken from the data rather than the wall clock.

Deriving it from the collected records keeps derived tables identical when the same data is
processed twice, which a wall-clock reading would not.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd


def data_as_of(pending_charges: pd.DataFrame, account: pd.DataFrame) -> datetime:
    """Return the instant the account's figures describe, in UTC.

    That is the latest `end_date` of the open month's pending charges, because Vultr ends each
    pending line at the moment it was computed. Without pending lines it falls back to the
    latest `collected_at` of the account row.

    Raises:
        ValueError: Both frames are empty, so no instant can be derived.
    """
    ends = pd.to_datetime(pending_charges.get("end_date"), utc=True).dropna()
    if len(ends):
        return ends.max().to_pydatetime().astimezone(UTC)
    collected = pd.to_datetime(account.get("collected_at"), utc=True).dropna()
    if len(collected):
        return collected.max().to_pydatetime().astimezone(UTC)
    raise ValueError(
        "Cannot tell which day the cost figures describe: the pending_charges and account "
        "tables are both empty. Materialize the vultr_raw assets first."
    )
