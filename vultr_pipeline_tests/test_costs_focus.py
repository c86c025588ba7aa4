"""Tests of the FOCUS 1.2 export: column rules on hand-built line items, and the Dagster assets."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from vultr_pipeline.accounts import Account
from vultr_pipeline.clickhouse.engine import ClickHouseSettings, open_engine
from vultr_pipeline.clickhouse.io_manager import ClickHouseIOManager
from vultr_pipeline.costs import focus
from vultr_pipeline.defs.focus_assets import build_focus_assets
from vultr_pipeline.defs.partitions import build_partitions, daily_key, monthly_key
from vultr_pipeline.defs.resources import HistoryInputManager
from vultr_pipeline.defs.tables import table_schema
from vultr_pipeline.vultr.records import RECORD_SPECS

UTC = dt.UTC

# FOCUS 1.2's 21 Mandatory columns.
MANDATORY_COLUMNS = {
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
}
FOCUS_SERVICE_CATEGORIES = {
    "AI and Machine Learning",
    "Analytics",
    "Business Applications",
    "Compute",
    "Databases",
    "Developer Tools",
    "Multicloud",
    "Identity",
    "Integration",
    "Internet of Things",
    "Management and Governance",
    "Media",
    "Migration",
    "Mobile",
    "Networking",
    "Security",
    "Storage",
    "Web",
    "Other",
}

# Column types of the cost_line_items contract table, for writing it in the asset test.
LINE_ITEM_COLUMNS = [
    ("account_id", "String"),
    ("line_id", "String"),
    ("source", "LowCardinality(String)"),
    ("invoice_id", "Nullable(Int64)"),
    ("line_number", "Int64"),
    ("billing_month", "Date"),
    ("charge_period_start", "DateTime64(3, 'UTC')"),
    ("charge_period_end", "DateTime64(3, 'UTC')"),
    ("product", "Nullable(String)"),
    ("description", "Nullable(String)"),
    ("units", "Nullable(Decimal(38, 10))"),
    ("unit_type", "Nullable(String)"),
    ("unit_price", "Nullable(Decimal(38, 10))"),
    ("amount", "Decimal(38, 10)"),
    ("service_category", "LowCardinality(String)"),
    ("resource_id", "Nullable(String)"),
    ("resource_type", "Nullable(String)"),
    ("resource_label", "Nullable(String)"),
    ("region", "Nullable(String)"),
    ("plan", "Nullable(String)"),
    ("tags", "Array(String)"),
    ("is_gpu", "Bool"),
    ("match_confidence", "LowCardinality(String)"),
]


def _line(**overrides: Any) -> dict[str, Any]:
    line = {
        "account_id": "main",
        "line_id": "invoice:6100001:1",
        "source": "invoice",
        "invoice_id": 6100001,
        "line_number": 1,
        "billing_month": dt.date(2026, 10, 1),
        "charge_period_start": pd.Timestamp("2026-10-01T00:00:00Z"),
        "charge_period_end": pd.Timestamp("2026-11-01T00:00:00Z"),
        "product": "Vultr Cloud Compute",
        "description": "203.0.113.10 (2048 MB) [web-01]",
        "units": Decimal("744"),
        "unit_type": "hours",
        "unit_price": Decimal("0.0149"),
        "amount": Decimal("10.00"),
        "service_category": "compute",
        "resource_id": "a1b2c3d4-0000-4000-8000-000000000001",
        "resource_type": "instance",
        "resource_label": "web-01",
        "region": "ewr",
        "plan": "vc2-1c-2gb",
        "tags": ["env:prod", "team:web"],
        "is_gpu": False,
        "match_confidence": "exact",
    }
    line.update(overrides)
    return line


def _line_items(*lines: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(lines), columns=[name for name, _ in LINE_ITEM_COLUMNS])


def _regions() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"account_id": "main", "id": "ewr", "city": "New Jersey", "country": "US"},
            {"account_id": "main", "id": "ams", "city": "Amsterdam", "country": "NL"},
        ]
    )


def _account() -> pd.DataFrame:
    return pd.DataFrame([{"account_id": "main", "name": "Example Co", "pending_charges": None}])


def _focus(*lines: dict[str, Any]) -> tuple[pd.DataFrame, focus.FocusStats]:
    return focus.build_focus_costs(_line_items(*lines), _regions(), _account())


def _sample_lines() -> list[dict[str, Any]]:
    return [
        _line(),
        _line(
            line_id="pending:2026-11:3",
            source="pending",
            invoice_id=None,
            line_number=3,
            billing_month=dt.date(2026, 11, 1),
            charge_period_start=pd.Timestamp("2026-11-01T00:00:00Z"),
            charge_period_end=pd.Timestamp("2026-11-18T12:00:00Z"),
            product="Cloud GPU",
            description="203.0.113.20 (16384 MB) [gpu-01]",
            units=Decimal("420"),
            unit_price=Decimal("0.6849"),
            amount=Decimal("287.66"),
            service_category="gpu",
            resource_id="a1b2c3d4-0000-4000-8000-000000000002",
            resource_label="gpu-01",
            region="ams",
            plan="vcg-a16-2c-16g-4vram",
            tags=["ml"],
            is_gpu=True,
        ),
        _line(
            line_id="invoice:6100001:2",
            line_number=2,
            product="Discount",
            description="Promotional Discount",
            units=Decimal("1"),
            unit_type="discount",
            unit_price=Decimal("-1.00"),
            amount=Decimal("-1.00"),
            service_category="other",
            resource_id=None,
            resource_type=None,
            resource_label=None,
            region=None,
            plan=None,
            tags=[],
            match_confidence="none",
        ),
    ]


def test_focus_columns_mandatory_present():
    frame, _ = _focus(*_sample_lines())

    assert MANDATORY_COLUMNS <= set(frame.columns)
    assert list(frame.columns) == list(focus.FOCUS_COLUMN_NAMES)
    focus_names = [name for name in frame.columns if not name.startswith("x_")]
    assert focus_names == sorted(focus_names)
    assert all(name.startswith("x_") for name in frame.columns[len(focus_names) :])


def test_focus_never_null_columns_filled():
    frame, _ = _focus(*_sample_lines())

    never_null = MANDATORY_COLUMNS - {"ChargeClass", "PricingQuantity", "PricingUnit"}
    for name in sorted(never_null):
        assert frame[name].notna().all(), name
    assert frame["ChargeClass"].isna().all()
    for name in ("BillingCurrency", "ProviderName", "PublisherName", "InvoiceIssuerName"):
        assert set(frame[name]) == ({"USD"} if name == "BillingCurrency" else {"Vultr"})


def test_focus_usage_row_costs():
    frame, _ = _focus(_line())
    row = frame.iloc[0]

    assert row["ChargeCategory"] == "Usage"
    assert row["ChargeFrequency"] == "Usage-Based"
    assert row["BilledCost"] == Decimal("10.00")
    assert row["EffectiveCost"] == Decimal("10.00")
    # List price: 744 hours × 0.0149 = 11.0856; Vultr's monthly cap billed 10.00.
    assert row["ListCost"] == Decimal("11.0856")
    assert row["ContractedCost"] == Decimal("11.0856")
    assert row["ListUnitPrice"] == Decimal("0.0149")
    assert row["ListUnitPrice"] * row["PricingQuantity"] == row["ListCost"]
    assert row["PricingQuantity"] == Decimal("744")
    assert row["PricingUnit"] == "Hours"
    assert row["ConsumedQuantity"] == Decimal("744")
    assert row["ConsumedUnit"] == "Hours"


def test_focus_usage_row_identity():
    frame, _ = _focus(_line())
    row = frame.iloc[0]

    assert row["BillingAccountId"] == "main"
    assert row["BillingAccountName"] == "Example Co"
    assert row["InvoiceId"] == "6100001"
    assert row["ChargeDescription"] == "203.0.113.10 (2048 MB) [web-01]"
    assert row["ServiceCategory"] == "Compute"
    assert row["ServiceSubcategory"] == "Virtual Machines"
    assert row["ServiceName"] == "Cloud Compute"
    assert row["ResourceId"] == "a1b2c3d4-0000-4000-8000-000000000001"
    assert row["ResourceName"] == "web-01"
    assert row["ResourceType"] == "Cloud Compute Instance"
    assert row["RegionId"] == "ewr"
    assert row["RegionName"] == "New Jersey"
    assert row["SkuId"] == "vc2-1c-2gb"
    assert row["SkuPriceId"] == "vc2-1c-2gb:ewr"
    assert json.loads(row["SkuPriceDetails"]) == {"InstanceType": "vc2-1c-2gb"}
    assert row["SkuMeter"] == "Runtime"
    assert row["x_LineId"] == "invoice:6100001:1"
    assert row["x_ChargeSource"] == "invoice"
    assert row["x_MatchConfidence"] == "exact"


def test_focus_periods_exclusive_ends():
    frame, _ = _focus(
        _line(
            billing_month=dt.date(2026, 12, 1),
            charge_period_start=pd.Timestamp("2026-12-01T00:00:00Z"),
            charge_period_end=pd.Timestamp("2026-12-31T23:59:59Z"),
        )
    )
    row = frame.iloc[0]

    assert row["BillingPeriodStart"] == pd.Timestamp("2026-12-01T00:00:00Z")
    assert row["BillingPeriodEnd"] == pd.Timestamp("2027-01-01T00:00:00Z")
    assert row["ChargePeriodStart"] == pd.Timestamp("2026-12-01T00:00:00Z")
    # Vultr's inclusive 23:59:59 becomes the exclusive next midnight.
    assert row["ChargePeriodEnd"] == pd.Timestamp("2027-01-01T00:00:00Z")


def test_focus_pending_row_has_no_invoice():
    frame, _ = _focus(*_sample_lines())
    pending = frame[frame["x_ChargeSource"] == "pending"].iloc[0]

    assert pending["InvoiceId"] is None
    assert pending["BillingPeriodStart"] == pd.Timestamp("2026-11-01T00:00:00Z")
    assert pending["BillingPeriodEnd"] == pd.Timestamp("2026-12-01T00:00:00Z")
    assert pending["ChargePeriodEnd"] == pd.Timestamp("2026-11-18T12:00:00Z")
    assert pending["ServiceName"] == "Cloud GPU"
    assert pending["RegionName"] == "Amsterdam"
    # 420 hours × 0.6849 = 287.6580, billed 287.66 after rounding to the cent.
    assert pending["ListCost"] == Decimal("287.658")
    assert pending["BilledCost"] == Decimal("287.66")


def test_focus_discount_is_credit():
    frame, stats = _focus(*_sample_lines())
    credit = frame[frame["x_LineId"] == "invoice:6100001:2"].iloc[0]

    assert credit["ChargeCategory"] == "Credit"
    assert credit["ChargeFrequency"] == "One-Time"
    for name in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
        assert credit[name] == Decimal("-1.00"), name
    for name in ("PricingQuantity", "PricingUnit", "ListUnitPrice", "ConsumedQuantity", "SkuId"):
        assert credit[name] is None, name
    assert credit["ResourceId"] is None
    assert credit["ResourceType"] is None
    assert credit["RegionId"] is None
    assert credit["RegionName"] is None
    assert credit["ServiceCategory"] == "Other"
    assert credit["ServiceName"] == "Discount"
    assert credit["Tags"] is None
    assert stats.credit_rows == 1
    assert stats.rows_without_region == 1


def test_focus_billed_cost_reconciles_per_invoice():
    frame, _ = _focus(*_sample_lines())

    invoiced = frame[frame["InvoiceId"] == "6100001"]["BilledCost"]
    # Invoice 6100001: 10.00 compute − 1.00 discount = 9.00.
    assert sum(invoiced, Decimal(0)) == Decimal("9.00")
    assert sum(frame["BilledCost"], Decimal(0)) == Decimal("296.66")


def test_focus_service_categories_allowed():
    lines = [
        _line(line_id=f"invoice:6100001:{number}", service_category=category)
        for number, category in enumerate(sorted(focus.SERVICE_MAPPINGS), start=1)
    ]
    frame, _ = _focus(*lines)

    assert set(frame["ServiceCategory"]) <= FOCUS_SERVICE_CATEGORIES
    names = frame.groupby("ServiceName")["ServiceCategory"].nunique()
    assert (names == 1).all()


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        pytest.param(["env:prod", "team:web"], {"env": "prod", "team": "web"}, id="key-value"),
        pytest.param(["ml"], {"ml": True}, id="bare"),
        pytest.param(["url:http://x:8080"], {"url": "http://x:8080"}, id="first-colon"),
        pytest.param([":odd"], {":odd": True}, id="empty-key"),
        pytest.param(["env:prod", "env:dev"], {"env": "prod"}, id="repeated-key"),
    ],
)
def test_focus_tags_json(tags, expected):
    text, _ = focus.focus_tags(tags)

    assert json.loads(text) == expected


def test_focus_tags_counts_and_empty():
    assert focus.focus_tags([]) == (None, 0)
    assert focus.focus_tags(["env:prod", "env:dev", "env"])[1] == 2


def test_focus_unknown_region_city_falls_back():
    frame, stats = _focus(_line(region="XYZ"))

    assert frame.iloc[0]["RegionId"] == "xyz"
    assert frame.iloc[0]["RegionName"] == "xyz"
    assert stats.regions_without_city == 1


def test_focus_metadata_lists_columns():
    metadata = focus.build_focus_metadata()

    assert list(metadata["column_name"]) == list(focus.FOCUS_COLUMN_NAMES)
    assert set(metadata["focus_version"]) == {"1.2"}
    assert metadata["schema_id"].nunique() == 1
    billed = metadata[metadata["column_name"] == "BilledCost"].iloc[0]
    assert billed["data_type"] == "DECIMAL"
    assert billed["numeric_precision"] == 38
    assert billed["number_scale"] == 10
    tags = metadata[metadata["column_name"] == "Tags"].iloc[0]
    assert tags["data_type"] == "JSON"
    assert tags["provider_tag_prefixes"] == []


def test_focus_schema_id_tracks_columns():
    fewer = focus.FOCUS_COLUMNS[:-1]

    assert focus.schema_id() == focus.schema_id()
    assert focus.schema_id(fewer) != focus.schema_id()


def _stub_asset(
    key: list[str],
    columns: list[tuple[str, str]],
    frame: pd.DataFrame,
    partitions_def: dg.PartitionsDefinition,
    time_column: str,
):
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns])
    time_dimension = "month" if time_column == "billing_month" else "day"

    @dg.asset(
        key=key,
        io_manager_key="clickhouse",
        partitions_def=partitions_def,
        metadata={
            "dagster/column_schema": schema,
            "clickhouse/order_by": [columns[0][0]],
            "partition_expr": {"account": "account_id", time_dimension: time_column},
        },
    )
    def stub() -> pd.DataFrame:
        return frame

    return stub


SNAPSHOT_DAY = dt.date(2026, 11, 18)


def _raw_frame(table: str, rows: list[dict[str, Any]]) -> tuple[list, pd.DataFrame]:
    columns = [(column.name, column.type) for column in table_schema(RECORD_SPECS[table]).columns]
    defaults = {
        "raw": "{}",
        "collected_at": pd.Timestamp("2026-11-18T12:00:00Z"),
        "snapshot_date": SNAPSHOT_DAY,
    }
    full = [{**{name: None for name, _ in columns}, **defaults, **row} for row in rows]
    for row in full:
        for name, kind in columns:
            if kind.startswith("Array") and row[name] is None:
                row[name] = []
    return columns, pd.DataFrame(full, columns=[name for name, _ in columns])


def test_focus_assets_write_clickhouse(tmp_path: Path):
    partitions = build_partitions((Account("main", "UNUSED_KEY_VARIABLE"),))
    region_columns, regions = _raw_frame(
        "regions", [{"account_id": "main", "id": "ewr", "city": "New Jersey"}]
    )
    account_columns, account = _raw_frame("account", [{"account_id": "main", "name": "Example"}])
    daily_stubs = [
        _stub_asset(
            ["vultr_raw", "regions"], region_columns, regions, partitions.daily, "snapshot_date"
        ),
        _stub_asset(
            ["vultr_raw", "account"], account_columns, account, partitions.daily, "snapshot_date"
        ),
    ]
    line_items = _stub_asset(
        ["vultr_costs", "cost_line_items"],
        LINE_ITEM_COLUMNS,
        _line_items(_line()),
        partitions.monthly,
        "billing_month",
    )
    path = str(tmp_path / "clickhouse")
    resources = {
        "clickhouse": ClickHouseIOManager(path=path),
        "clickhouse_history": HistoryInputManager(path=path),
    }

    daily = dg.materialize(
        daily_stubs, resources=resources, partition_key=str(daily_key("main", SNAPSHOT_DAY))
    )
    monthly = dg.materialize(
        [line_items, *build_focus_assets(partitions), *daily_stubs],
        selection=[
            line_items.key,
            dg.AssetKey(["vultr_costs", "focus_costs"]),
        ],
        resources=resources,
        partition_key=str(monthly_key("main", dt.date(2026, 10, 1))),
    )
    metadata_run = dg.materialize(
        [*build_focus_assets(partitions), line_items, *daily_stubs],
        selection=[dg.AssetKey(["vultr_costs", "focus_metadata"])],
        resources=resources,
    )

    assert daily.success
    assert monthly.success
    assert metadata_run.success
    engine = open_engine(ClickHouseSettings(path=path))
    try:
        rows = engine.query_arrow(
            "SELECT BilledCost, ListCost, RegionName, Tags FROM vultr_costs.focus_costs"
        ).to_pylist()
        metadata = engine.query_arrow(
            "SELECT count() AS n FROM vultr_costs.focus_metadata"
        ).to_pylist()
    finally:
        engine.close()
    assert rows == [
        {
            "BilledCost": Decimal("10.0000000000"),
            "ListCost": Decimal("11.0856000000"),
            "RegionName": "New Jersey",
            "Tags": '{"env": "prod", "team": "web"}',
        }
    ]
    assert metadata == [{"n": len(focus.FOCUS_COLUMNS)}]
