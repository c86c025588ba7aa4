"""Tests of cost line items: billing months, service categories and resource attribution."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from vultr_pipeline.costs import descriptions
from vultr_pipeline.costs.attribution import build_indexes
from vultr_pipeline.costs.categories import categorize
from vultr_pipeline.costs.descriptions import parse_description
from vultr_pipeline.costs.line_items import build_cost_line_items, invoice_billing_month

ACCOUNT = "main"
AS_OF = dt.datetime(2026, 11, 18, 12, tzinfo=dt.UTC)
OCTOBER = ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z")
INVOICE_ID = 6100001


def _time(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def _item(line: int, description: str, product: str | None, total: str, period=OCTOBER) -> dict:
    return {
        "account_id": ACCOUNT,
        "invoice_id": INVOICE_ID,
        "line_number": line,
        "description": description,
        "product": product,
        "start_date": _time(period[0]),
        "end_date": _time(period[1]),
        "units": Decimal(744),
        "unit_type": "hours",
        "unit_price": Decimal("0.0100"),
        "total": Decimal(total),
    }


def _server(resource_id: str, label: str, ip: str, created: str = "2026-01-01T00:00:00Z", **extra):
    row = {
        "account_id": ACCOUNT,
        "resource_id": resource_id,
        "resource_type": "instance",
        "label": label,
        "main_ip": ip,
        "date_created": _time(created),
        "region": "ewr",
        "plan": "vc2-1c-1gb",
        "tags": ["env:prod"],
        "is_gpu": False,
    }
    row.update(extra)
    return row


def _balancer(resource_id: str, label: str, created: str) -> dict:
    return {
        "account_id": ACCOUNT,
        "id": resource_id,
        "label": label,
        "date_created": _time(created),
        "region": "ams",
        "instances": [],
    }


def _build(items: list[dict], servers: list[dict] = (), balancers: list[dict] = (), **inventory):
    invoices = pd.DataFrame(
        [{"account_id": ACCOUNT, "id": INVOICE_ID, "date": _time("2026-11-01T00:30:05Z")}]
    )
    pending = pd.DataFrame(columns=["account_id", "line_number"])
    indexes = build_indexes(
        pd.DataFrame(list(servers)),
        load_balancers=pd.DataFrame(list(balancers)),
        **{name: pd.DataFrame(rows) for name, rows in inventory.items()},
    )
    return build_cost_line_items(invoices, pd.DataFrame(items), pending, indexes, {ACCOUNT: AS_OF})


def test_invoice_billing_month_is_previous_month():
    first_of_november = dt.datetime(2026, 11, 1, 0, 30, 5, tzinfo=dt.UTC)
    mid_november = dt.datetime(2026, 11, 15, 9, tzinfo=dt.UTC)
    new_year = dt.datetime(2027, 1, 1, 0, 30, tzinfo=dt.UTC)

    assert invoice_billing_month(first_of_november) == dt.date(2026, 10, 1)
    assert invoice_billing_month(mid_november) == dt.date(2026, 11, 1)
    assert invoice_billing_month(new_year) == dt.date(2026, 12, 1)


def test_pending_lines_bill_month_of_as_of():
    invoices = pd.DataFrame(columns=["account_id", "id", "date"])
    pending = pd.DataFrame(
        [
            {
                "account_id": ACCOUNT,
                "line_number": 3,
                "description": "Load Balancer (lb-web)",
                "product": "Load Balancer",
                "start_date": _time("2026-11-01T00:00:00Z"),
                "end_date": None,
                "total": Decimal("6.26"),
            }
        ]
    )
    frame, _ = build_cost_line_items(invoices, pd.DataFrame(), pending, {}, {ACCOUNT: AS_OF})

    line = frame.iloc[0]
    assert line["line_id"] == "pending:2026-11:3"
    assert line["source"] == "pending"
    assert pd.isna(line["invoice_id"])
    assert line["billing_month"] == dt.date(2026, 11, 1)
    # A missing end falls back to as_of for the open month.
    assert line["charge_period_end"] == pd.Timestamp(AS_OF)
    assert line["amount"] == Decimal("6.26")


def test_invoice_line_ids_and_months():
    frame, report = _build([_item(1, "Bandwidth Overage 230 GB", "Bandwidth", "2.30")])

    line = frame.iloc[0]
    assert line["line_id"] == f"invoice:{INVOICE_ID}:1"
    assert line["invoice_id"] == INVOICE_ID
    assert line["billing_month"] == dt.date(2026, 10, 1)
    assert line["service_category"] == "bandwidth"
    assert line["match_confidence"] == "none"
    assert report.outcomes["no_resource"] == 1


@pytest.mark.parametrize(
    ("product", "description", "category", "known"),
    [
        pytest.param("Vultr Cloud Compute", "x", "compute", True, id="compute"),
        pytest.param("Cloud GPU", "x", "gpu", True, id="gpu"),
        pytest.param("  load   BALANCER ", "x", "load_balancer", True, id="spacing-and-case"),
        pytest.param("Managed Databases", "x", "database", True, id="database"),
        pytest.param(None, "Block Storage 40 GB (v1)", "block_storage", True, id="no-product"),
        pytest.param("Other", "Snapshot (before upgrade)", "snapshot", True, id="generic"),
        pytest.param("", "192.0.2.1 (1024 MB) [web]", "compute", True, id="server-form"),
        pytest.param("Discount", "Promotional Discount", "other", True, id="discount"),
        pytest.param("Quantum Annealer", "Load Balancer (x)", "other", False, id="unknown"),
    ],
)
def test_categorize(product, description, category, known):
    found = categorize(product, description)

    assert found.category == category
    assert found.known_product is known


def test_unknown_products_counted_and_kept():
    items = [
        _item(1, "Quantum Annealer (q1)", "Quantum Annealer", "7.00"),
        _item(2, "Quantum Annealer (q2)", "Quantum Annealer", "3.00"),
    ]

    frame, report = _build(items)

    assert list(frame["service_category"]) == ["other", "other"]
    assert list(frame["product"]) == ["Quantum Annealer", "Quantum Annealer"]
    assert report.unknown_products == {"Quantum Annealer": 2}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "192.0.2.10 (4096 MB) [web-prod-01]",
            descriptions.ParsedDescription(
                descriptions.SERVER, label="web-prod-01", ip="192.0.2.10", ram_mb=4096
            ),
            id="server",
        ),
        pytest.param(
            "2001:db8::1 (512 MB) []",
            descriptions.ParsedDescription(
                descriptions.SERVER, label="", ip="2001:db8::1", ram_mb=512
            ),
            id="ipv6-no-label",
        ),
        pytest.param(
            "Block Storage 40 GB (volume-01)",
            descriptions.ParsedDescription(descriptions.BLOCK, label="volume-01", size_gb=40),
            id="block",
        ),
        pytest.param(
            "Load Balancer (lb (blue))",
            descriptions.ParsedDescription(descriptions.LOAD_BALANCER, label="lb (blue)"),
            id="label-with-parentheses",
        ),
        pytest.param(
            "Reserved IP (192.0.2.44)",
            descriptions.ParsedDescription(descriptions.RESERVED_IP, ip="192.0.2.44"),
            id="reserved-ip",
        ),
        pytest.param(
            "Kubernetes HA Control Plane (vke-1)",
            descriptions.ParsedDescription(descriptions.KUBERNETES_CONTROL_PLANE, label="vke-1"),
            id="control-plane",
        ),
        pytest.param(
            "Bandwidth Overage 10 GB",
            descriptions.ParsedDescription(descriptions.UNRECOGNIZED),
            id="bandwidth",
        ),
    ],
)
def test_parse_description(text, expected):
    assert parse_description(text) == expected


def test_attribution_exact_on_ip_and_label():
    servers = [
        _server("i-1", "web-01", "192.0.2.1", tags=["env:prod", "team:web"]),
        _server("i-2", "web-02", "192.0.2.2"),
    ]
    items = [_item(1, "192.0.2.1 (1024 MB) [web-01]", "Vultr Cloud Compute", "5.00")]

    frame, report = _build(items, servers)

    line = frame.iloc[0]
    assert line["resource_id"] == "i-1"
    assert line["resource_type"] == "instance"
    assert line["resource_label"] == "web-01"
    assert line["region"] == "ewr"
    assert line["plan"] == "vc2-1c-1gb"
    assert line["tags"] == ["env:prod", "team:web"]
    assert line["match_confidence"] == "exact"
    assert report.confidences["exact"] == 1


def test_attribution_probable_on_label_only():
    # The instance was rebuilt with a new IP, so only its label matches the item.
    servers = [_server("i-1", "web-01", "192.0.2.99")]
    items = [_item(1, "192.0.2.1 (1024 MB) [web-01]", "Vultr Cloud Compute", "5.00")]

    frame, _ = _build(items, servers)

    assert frame.iloc[0]["resource_id"] == "i-1"
    assert frame.iloc[0]["match_confidence"] == "probable"


def test_attribution_probable_narrowed_by_lifetime():
    # Two balancers share the label; the second was created after October, so only the
    # first existed during the charge period.
    balancers = [
        _balancer("lb-old", "lb-web", "2026-03-01T00:00:00Z"),
        _balancer("lb-new", "lb-web", "2026-11-05T00:00:00Z"),
    ]
    items = [_item(1, "Load Balancer (lb-web)", "Load Balancer", "10.00")]

    frame, _ = _build(items, balancers=balancers)

    assert frame.iloc[0]["resource_id"] == "lb-old"
    assert frame.iloc[0]["region"] == "ams"
    assert frame.iloc[0]["match_confidence"] == "probable"


def test_attribution_none_for_deleted_resource():
    servers = [_server("i-1", "web-01", "192.0.2.1")]
    items = [_item(1, "192.0.2.7 (1024 MB) [old-web-03]", "Vultr Cloud Compute", "4.10")]

    frame, report = _build(items, servers)

    line = frame.iloc[0]
    assert pd.isna(line["resource_id"])
    assert line["tags"] == []
    assert line["match_confidence"] == "none"
    assert line["service_category"] == "compute"
    assert report.outcomes["unmatched"] == 1


def test_attribution_none_when_ambiguous():
    # Both balancers existed all of October and share the label: no arbitrary pick.
    balancers = [
        _balancer("lb-a", "lb-web", "2026-03-01T00:00:00Z"),
        _balancer("lb-b", "lb-web", "2026-04-01T00:00:00Z"),
    ]
    items = [_item(1, "Load Balancer (lb-web)", "Load Balancer", "10.00")]

    frame, report = _build(items, balancers=balancers)

    assert pd.isna(frame.iloc[0]["resource_id"])
    assert frame.iloc[0]["match_confidence"] == "none"
    assert report.outcomes["ambiguous"] == 1
    assert report.ambiguous_lines == {f"invoice:{INVOICE_ID}:1": 2}


def test_attribution_ignores_resource_created_after_period():
    servers = [_server("i-1", "web-01", "192.0.2.1", created="2026-11-03T00:00:00Z")]
    items = [_item(1, "192.0.2.1 (1024 MB) [web-01]", "Vultr Cloud Compute", "5.00")]

    frame, _ = _build(items, servers)

    assert frame.iloc[0]["match_confidence"] == "none"


def test_gpu_lines_flagged():
    gpu = _server("g-1", "gpu-train-01", "192.0.2.5", plan="vcg-a100-1c-6g-4vram", is_gpu=True)
    items = [
        _item(1, "192.0.2.5 (6144 MB) [gpu-train-01]", "Cloud GPU", "90.00"),
        _item(2, "Automatic Backups (gpu-train-01)", "Automatic Backups", "18.00"),
        _item(3, "192.0.2.5 (6144 MB) [gpu-train-01]", "Vultr Cloud Compute", "1.00"),
    ]

    frame, _ = _build(items, [gpu])

    assert list(frame["service_category"]) == ["gpu", "backup", "gpu"]
    assert list(frame["is_gpu"]) == [True, True, True]
    assert list(frame["match_confidence"]) == ["exact", "exact", "exact"]


def test_block_label_and_size():
    blocks = [
        {
            "account_id": ACCOUNT,
            "id": "b-1",
            "label": "volume-01",
            "size_gb": 50,
            "date_created": _time("2026-02-01T00:00:00Z"),
            "region": "fra",
        }
    ]
    items = [
        _item(1, "Block Storage 50 GB (volume-01)", "Block Storage", "5.00"),
        _item(2, "Block Storage 40 GB (volume-01)", "Block Storage", "4.00"),
    ]

    frame, _ = _build(items, blocks=blocks)

    assert list(frame["resource_id"]) == ["b-1", "b-1"]
    assert list(frame["match_confidence"]) == ["exact", "probable"]


def test_kubernetes_node_attributed_to_cluster():
    node_pools = (
        '[{"plan": "vc2-2c-4gb", "tag": "", "nodes": [{"id": "n-1", "label": "vke-1-pool-abc",'
        ' "ip": "192.0.2.30", "date_created": "2026-02-01T00:00:00+00:00"}]}]'
    )
    clusters = [
        {
            "account_id": ACCOUNT,
            "id": "k-1",
            "label": "vke-1",
            "region": "ewr",
            "date_created": _time("2026-02-01T00:00:00Z"),
            "node_pools": node_pools,
        }
    ]
    items = [
        _item(1, "192.0.2.30 (4096 MB) [vke-1-pool-abc]", "Kubernetes", "20.00"),
        _item(2, "Kubernetes HA Control Plane (vke-1)", "Kubernetes", "10.00"),
    ]

    frame, _ = _build(items, kubernetes_clusters=clusters)

    assert list(frame["resource_id"]) == ["k-1", "k-1"]
    assert list(frame["resource_type"]) == ["kubernetes_cluster", "kubernetes_cluster"]
    assert frame.iloc[0]["plan"] == "vc2-2c-4gb"
    assert list(frame["match_confidence"]) == ["exact", "exact"]
