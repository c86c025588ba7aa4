"""Daily spend proration and spend anomalies on hand-built line items."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from vultr_pipeline.costs.anomalies import (
    ANOMALY_COLUMNS,
    AnomalySettings,
    anomaly_id,
    daily_service_spend,
    find_anomalies,
    prorate_by_day,
)
from vultr_pipeline.costs.proration import allocate

UTC = dt.UTC


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def _line(category: str, start: str, end: str, amount: str) -> dict[str, object]:
    start_time = pd.Timestamp(start, tz="UTC")
    return {
        "account_id": "main",
        "line_id": f"{category}:{start}",
        "billing_month": start_time.date().replace(day=1),
        "charge_period_start": start_time,
        "charge_period_end": pd.Timestamp(end, tz="UTC"),
        "amount": Decimal(amount),
        "service_category": category,
    }


def test_allocate_gives_remainder_to_first() -> None:
    # 1000 cents / 3 = 333 each with 1 left over; equal remainders go to the first part.
    assert allocate(Decimal("10.00"), [1, 1, 1]) == [
        Decimal("3.34"),
        Decimal("3.33"),
        Decimal("3.33"),
    ]


def test_allocate_negative_amount() -> None:
    assert allocate(Decimal("-0.05"), [1, 1]) == [Decimal("-0.03"), Decimal("-0.02")]


def test_allocate_sub_cent_amount() -> None:
    # 1.005 is not whole cents, so it splits in steps of its last digit, 0.001.
    parts = allocate(Decimal("1.005"), [1, 1])
    assert parts == [Decimal("0.503"), Decimal("0.502")]
    assert sum(parts) == Decimal("1.005")


def test_allocate_rejects_zero_weights() -> None:
    with pytest.raises(ValueError, match="positive sum"):
        allocate(Decimal(1), [0, 0])


def test_prorate_by_hours_across_days() -> None:
    # 12 h on the 30th, 24 h on the 31st and the 1st, 6 h on the 2nd: 66 hours at 0.10.
    parts = prorate_by_day(
        Decimal("6.60"), _at("2026-10-30T12:00"), _at("2026-11-02T06:00"), dt.date(2026, 10, 1)
    )
    assert parts == {
        dt.date(2026, 10, 30): Decimal("1.20"),
        dt.date(2026, 10, 31): Decimal("2.40"),
        dt.date(2026, 11, 1): Decimal("2.40"),
        dt.date(2026, 11, 2): Decimal("0.60"),
    }


def test_prorate_without_period_uses_fallback() -> None:
    fallback = dt.date(2026, 10, 1)
    assert prorate_by_day(Decimal("5.00"), None, None, fallback) == {fallback: Decimal("5.00")}
    moment = _at("2026-10-07T08:00")
    assert prorate_by_day(Decimal("5.00"), moment, moment, fallback) == {
        dt.date(2026, 10, 7): Decimal("5.00")
    }


def test_daily_spend_sums_to_line_totals() -> None:
    lines = pd.DataFrame(
        [
            _line("compute", "2026-10-01", "2026-10-04", "1.00"),
            _line("compute", "2026-10-02T05:00", "2026-10-03T05:00", "0.07"),
            _line("gpu", "2026-10-01", "2026-10-02", "48.00"),
        ]
    )
    daily = daily_service_spend(lines)
    compute_rows = daily[daily["service_category"] == "compute"]
    compute = dict(zip(compute_rows["day"], compute_rows["amount"], strict=True))
    # 1.00 over three days: 0.34, 0.33, 0.33. 0.07 over 19 h on the 2nd and 5 h on the 3rd:
    # 7 × 19 / 24 = 5.54 cents → 5 + 1 (larger remainder), 7 × 5 / 24 = 1.46 → 1.
    assert compute == {
        dt.date(2026, 10, 1): Decimal("0.34"),
        dt.date(2026, 10, 2): Decimal("0.33") + Decimal("0.06"),
        dt.date(2026, 10, 3): Decimal("0.33") + Decimal("0.01"),
    }
    assert sum(daily["amount"], Decimal(0)) == Decimal("49.07")


def _steady_compute() -> list[dict[str, object]]:
    # 3100.00 over August (31 days), 3000.00 over September (30 days): 100.00 a day.
    return [
        _line("compute", "2026-08-01", "2026-09-01", "3100.00"),
        _line("compute", "2026-09-01", "2026-10-01", "3000.00"),
    ]


def test_gpu_spike_is_found() -> None:
    lines = [
        *_steady_compute(),
        _line("compute", "2026-10-01", "2026-11-01", "3100.00"),
        # One day of GPU: 24 h × 2.00 = 48.00 on 2026-10-20, after 80 days of zero GPU spend.
        _line("gpu", "2026-10-20", "2026-10-21", "48.00"),
    ]
    found = find_anomalies(daily_service_spend(pd.DataFrame(lines)), _at("2026-11-01T00:00"))
    assert list(found.columns) == ANOMALY_COLUMNS
    assert len(found) == 1
    row = found.iloc[0]
    assert row["day"] == dt.date(2026, 10, 20)
    assert row["service_category"] == "gpu"
    assert row["direction"] == "spike"
    # The 28 days before are all zero: expected 0.00, std 0.00, change 48.00, no percentage.
    assert row["actual"] == Decimal("48.00")
    assert row["expected"] == Decimal("0.00")
    assert row["change"] == Decimal("48.00")
    assert pd.isna(row["change_pct"])
    # On the 21st the window contains 48.00 once: mean 48 / 28 = 1.71, std
    # sqrt(48² / 28 - 1.714²) = 8.91, and 0.00 departs by 1.71 < 3 × 8.91, so no anomaly.


def test_compute_drop_is_found_for_three_days() -> None:
    lines = [
        *_steady_compute(),
        # The server is deleted on 2026-10-10 00:00: 9 days × 100.00 = 900.00 in October.
        _line("compute", "2026-10-01", "2026-10-10", "900.00"),
    ]
    found = find_anomalies(daily_service_spend(pd.DataFrame(lines)), _at("2026-11-01T00:00"))
    assert list(found["day"]) == [
        dt.date(2026, 10, 10),
        dt.date(2026, 10, 11),
        dt.date(2026, 10, 12),
    ]
    assert set(found["direction"]) == {"drop"}

    first, second = found.iloc[0], found.iloc[1]
    # 10th: the window is 28 × 100.00, std 0; change 0.00 - 100.00 = -100.00, -100 %.
    assert first["expected"] == Decimal("100.00")
    assert first["change"] == Decimal("-100.00")
    assert first["change_pct"] == Decimal("-100.00")
    assert first["baseline_std"] == Decimal("0.00")
    # 11th: 27 × 100.00 and one 0.00. Mean 2700 / 28 = 96.428… → 96.43; std
    # 100 × sqrt(1/28 × 27/28) = 18.5577… → 18.56; |−96.43| > 3 × 18.56 = 55.67.
    assert second["expected"] == Decimal("96.43")
    assert second["baseline_std"] == Decimal("18.56")
    assert second["change"] == Decimal("-96.43")
    # 13th: 3 zero days give mean 89.29 and std 100 × sqrt(3/28 × 25/28) = 30.93, and
    # 89.29 < 3 × 30.93 = 92.79, so the drop stops counting.


def test_steady_series_across_months_finds_none() -> None:
    # 3100.00 a month: 100.00 a day in 31-day months, 103.33 or 103.34 in September. Each
    # boundary moves the day by about 3.3 USD from a flat window (std 0), above the 1 USD
    # minimum but below the 20 % minimum.
    lines = [
        _line("compute", "2026-07-01", "2026-08-01", "3100.00"),
        _line("compute", "2026-08-01", "2026-09-01", "3100.00"),
        _line("compute", "2026-09-01", "2026-10-01", "3100.00"),
        _line("compute", "2026-10-01", "2026-11-01", "3100.00"),
    ]
    found = find_anomalies(daily_service_spend(pd.DataFrame(lines)), _at("2026-11-01T00:00"))
    assert found.empty


def test_month_boundary_found_without_percent_floor() -> None:
    lines = [
        _line("compute", "2026-07-01", "2026-08-01", "3100.00"),
        _line("compute", "2026-08-01", "2026-09-01", "3100.00"),
        _line("compute", "2026-09-01", "2026-10-01", "3100.00"),
    ]
    settings = AnomalySettings(min_change_pct=Decimal(0))
    found = find_anomalies(daily_service_spend(pd.DataFrame(lines)), _at("2026-10-01"), settings)
    # 1 September: 310000 cents / 30 days = 10333 r 10, so the first 10 days get 103.34.
    assert found.iloc[0]["day"] == dt.date(2026, 9, 1)
    assert found.iloc[0]["change"] == Decimal("3.34")


def test_partial_day_of_as_of_is_not_tested() -> None:
    lines = [
        *_steady_compute(),
        # Pending to 2026-10-20 12:00: 19.5 days × 100.00 = 1950.00.
        _line("compute", "2026-10-01", "2026-10-20T12:00", "1950.00"),
    ]
    daily = daily_service_spend(pd.DataFrame(lines))
    last = daily.iloc[-1]
    assert last["day"] == dt.date(2026, 10, 20)
    assert last["amount"] == Decimal("50.00")
    assert find_anomalies(daily, _at("2026-10-20T12:00")).empty


def test_short_history_finds_none() -> None:
    lines = [
        _line("compute", "2026-10-01", "2026-10-15", "10.00"),
        _line("gpu", "2026-10-14", "2026-10-15", "500.00"),
    ]
    # 14 days of data never fill a 28-day window.
    assert find_anomalies(daily_service_spend(pd.DataFrame(lines)), _at("2026-10-20")).empty


def test_anomalies_repeat_identically() -> None:
    lines = pd.DataFrame([*_steady_compute(), _line("gpu", "2026-09-20", "2026-09-21", "48")])
    first = find_anomalies(daily_service_spend(lines), _at("2026-10-01"))
    second = find_anomalies(daily_service_spend(lines), _at("2026-10-01"))
    pd.testing.assert_frame_equal(first, second)
    assert list(first["anomaly_id"]) == [anomaly_id("main", "gpu", dt.date(2026, 9, 20))]


def test_invalid_window_is_rejected() -> None:
    with pytest.raises(ValueError, match="window_days 1"):
        AnomalySettings(window_days=1)
