"""Tests of `vultr-pipeline backfill` argument errors and of its month range."""

from __future__ import annotations

import datetime as dt

import pytest
from dagster_shared.error import SerializableErrorInfo

from vultr_pipeline import cli
from vultr_pipeline.backfill import BackfillError, _first_message, month_range
from vultr_pipeline.defs.partitions import utc_today


@pytest.fixture(autouse=True)
def _no_accounts_file(monkeypatch, tmp_path):
    monkeypatch.delenv("VULTR_ACCOUNTS_FILE", raising=False)
    monkeypatch.delenv("VULTR_HISTORY_START", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))


def _next_month() -> str:
    today = utc_today()
    return f"{today.year + today.month // 12}-{today.month % 12 + 1:02d}"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        pytest.param(["--from", "2024-13"], "invalid --from '2024-13'", id="month-13"),
        pytest.param(["--from", "24-01"], "invalid --from '24-01'", id="short-year"),
        pytest.param(["--from", "2024-01", "--to", "2024-1"], "invalid --to", id="bad-to"),
        pytest.param(
            ["--from", "2024-05", "--to", "2024-03"],
            "--to 2024-03 is before --from 2024-05",
            id="reversed",
        ),
        pytest.param(["--from", "2019-12"], "before VULTR_HISTORY_START", id="too-early"),
        pytest.param(["--from", ""], "invalid --from ''", id="empty-from"),
        pytest.param(["--from", "２０２４-01"], "invalid --from", id="fullwidth-digits"),
        pytest.param(["--to", "9999-12"], "--to 9999-12 is in the future", id="future-to-only"),
        pytest.param(
            ["--to", "2019-05"], "--to 2019-05 is before VULTR_HISTORY_START", id="early-to-only"
        ),
    ],
)
def test_invalid_arguments_one_line(capsys, arguments, expected):
    code = cli.main(["backfill", *arguments])

    err = capsys.readouterr().err
    assert code == 2
    assert expected in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_future_month_rejected(capsys):
    code = cli.main(["backfill", "--from", _next_month()])

    err = capsys.readouterr().err
    assert code == 2
    assert "is in the future" in err


def test_unknown_account_lists_names(tmp_path, monkeypatch, capsys):
    path = tmp_path / "accounts.yaml"
    path.write_text(
        "accounts:\n  - name: prod\n    api_key_env: K1\n  - name: dev\n    api_key_env: K2\n"
    )
    monkeypatch.setenv("VULTR_ACCOUNTS_FILE", str(path))

    code = cli.main(["backfill", "--from", "2024-01", "--account", "qa"])

    err = capsys.readouterr().err
    assert code == 2
    assert "unknown account 'qa'; known accounts: prod, dev" in err
    assert err.count("\n") == 1


def test_month_range_crosses_years():
    months = month_range(
        dt.date(2024, 11, 1), dt.date(2025, 2, 1), dt.date(2026, 12, 1), dt.date(2020, 1, 1)
    )

    assert months == [dt.date(2024, 11, 1), dt.date(2024, 12, 1), dt.date(2025, 1, 1),
                      dt.date(2025, 2, 1)]  # fmt: skip


def test_month_range_rejects_future_end():
    with pytest.raises(BackfillError, match="--to 2027-01 is in the future"):
        month_range(
            dt.date(2026, 1, 1), dt.date(2027, 1, 1), dt.date(2026, 12, 1), dt.date(2020, 1, 1)
        )


def test_step_error_shows_wrapped_cause():
    # When an IO manager raises, Dagster 1.13.28 reports a wrapper error whose message names
    # only the output. The real error is its cause.
    cause = SerializableErrorInfo(
        message="vultr_pipeline.clickhouse.errors.ClickHouseLockedError: The chDB data "
        "directory /data is in use by another process (PID 42).\n",
        stack=[],
        cls_name="ClickHouseLockedError",
    )
    wrapper = SerializableErrorInfo(
        message="dagster._core.errors.DagsterExecutionHandleOutputError: Error occurred while "
        'handling output "records" of step "vultr_raw__invoices":\n',
        stack=[],
        cls_name="DagsterExecutionHandleOutputError",
        cause=cause,
    )

    message = _first_message(wrapper)

    assert message == "The chDB data directory /data is in use by another process (PID 42)."
