"""The `/v2` endpoints the emulator serves and the response bodies they build."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vultr_pipeline.emulator.account import SampleAccount
from vultr_pipeline.emulator.pagination import Paginator

PUBLIC_PATHS = frozenset({"/plans", "/plans-metal", "/regions"})


class NotFoundError(LookupError):
    """A path or resource id that does not exist; the message is the error text."""


@dataclass(frozen=True)
class RouteRequest:
    """The parts of a GET request a route reads."""

    path: str
    query: dict[str, str]
    params: dict[str, str]


Handler = Callable[[SampleAccount, Paginator, RouteRequest], dict[str, Any]]


def _by_id(_position: int, item: dict[str, Any]) -> str:
    return str(item["id"])


def _by_line(position: int, _item: Any) -> str:
    return str(position + 1)


def _listing(attribute: str, key: str) -> Handler:
    def handle(account: SampleAccount, pager: Paginator, request: RouteRequest) -> dict[str, Any]:
        items = getattr(account, attribute)
        page = pager.page(items, _by_id, request.query.get("per_page"), request.query.get("cursor"))
        return {key: page.items, "meta": page.meta}

    return handle


def _single(attribute: str, key: str) -> Handler:
    def handle(account: SampleAccount, _pager: Paginator, _request: RouteRequest) -> dict[str, Any]:
        return {key: getattr(account, attribute)}

    return handle


def _plans(account: SampleAccount, pager: Paginator, request: RouteRequest) -> dict[str, Any]:
    plan_type = request.query.get("type", "all")
    items = account.plans
    if plan_type != "all":
        items = [
            plan
            for plan in items
            if plan["type"].split("-")[0] == plan_type or plan["type"] == plan_type
        ]
    page = pager.page(
        items,
        _by_id,
        request.query.get("per_page"),
        request.query.get("cursor"),
        cache=plan_type == "all",
    )
    return {"plans": page.items, "meta": page.meta}


def _instances(account: SampleAccount, pager: Paginator, request: RouteRequest) -> dict[str, Any]:
    query = request.query
    items = account.instances
    filtered = any(name in query for name in ("tag", "label", "region", "main_ip"))
    if filtered:
        items = [item for item in items if _instance_matches(item, query)]
    page = pager.page(items, _by_id, query.get("per_page"), query.get("cursor"), cache=not filtered)
    rows = page.items
    if query.get("show_pending_charges") == "true":
        pending = account.instance_pending_charges
        rows = [dict(row, pending_charges=pending.get(row["id"], 0)) for row in rows]
    return {"instances": rows, "meta": page.meta}


def _instance_matches(instance: dict[str, Any], query: dict[str, str]) -> bool:
    if "tag" in query and query["tag"] not in instance["tags"]:
        return False
    if "label" in query and query["label"] != instance["label"]:
        return False
    if "region" in query and query["region"].lower() != instance["region"]:
        return False
    return "main_ip" not in query or query["main_ip"] == instance["main_ip"]


def _instance(account: SampleAccount, _pager: Paginator, request: RouteRequest) -> dict[str, Any]:
    instance_id = request.params["id"]
    for instance in account.instances:
        if instance["id"] == instance_id:
            return {"instance": instance}
    raise NotFoundError(f"Instance {instance_id} not found.")


def _invoice_id(account: SampleAccount, raw: str) -> int:
    if raw.isdigit() and int(raw) in account.invoice_items:
        return int(raw)
    raise NotFoundError(f"Invoice {raw} not found.")


def _invoice(account: SampleAccount, _pager: Paginator, request: RouteRequest) -> dict[str, Any]:
    invoice_id = _invoice_id(account, request.params["id"])
    invoice = next(row for row in account.invoices if row["id"] == invoice_id)
    return {"billing_invoice": invoice}


def _invoice_items(
    account: SampleAccount, pager: Paginator, request: RouteRequest
) -> dict[str, Any]:
    items = account.invoice_items[_invoice_id(account, request.params["id"])]
    page = pager.page(items, _by_line, request.query.get("per_page"), request.query.get("cursor"))
    return {"invoice_items": page.items, "meta": page.meta}


def _databases(account: SampleAccount, _pager: Paginator, request: RouteRequest) -> dict[str, Any]:
    query = request.query
    items = account.databases
    if "label" in query:
        items = [item for item in items if item["label"] == query["label"]]
    if "tag" in query:
        items = [item for item in items if item["tag"] == query["tag"]]
    if "region" in query:
        items = [item for item in items if item["region"].lower() == query["region"].lower()]
    return {"databases": items, "meta": {"total": len(items)}}


def _pending(account: SampleAccount, _pager: Paginator, _request: RouteRequest) -> dict[str, Any]:
    return {"pending_charges": account.pending_charges}


_ROUTES: tuple[tuple[str, Handler], ...] = (
    ("/account", _single("account", "account")),
    ("/account/bandwidth", _single("bandwidth", "bandwidth")),
    ("/billing/history", _listing("billing_history", "billing_history")),
    ("/billing/invoices", _listing("invoices", "billing_invoices")),
    ("/billing/invoices/{id}", _invoice),
    ("/billing/invoices/{id}/items", _invoice_items),
    ("/billing/pending-charges", _pending),
    ("/instances", _instances),
    ("/instances/{id}", _instance),
    ("/bare-metals", _listing("bare_metals", "bare_metals")),
    ("/plans", _plans),
    ("/plans-metal", _listing("plans_metal", "plans_metal")),
    ("/regions", _listing("regions", "regions")),
    ("/snapshots", _listing("snapshots", "snapshots")),
    ("/backups", _listing("backups", "backups")),
    ("/blocks", _listing("blocks", "blocks")),
    ("/load-balancers", _listing("load_balancers", "load_balancers")),
    ("/kubernetes/clusters", _listing("vke_clusters", "vke_clusters")),
    ("/object-storage", _listing("object_storages", "object_storages")),
    ("/reserved-ips", _listing("reserved_ips", "reserved_ips")),
    ("/databases", _databases),
)
_COMPILED = tuple(
    (re.compile("^" + template.replace("{id}", "(?P<id>[^/]+)") + "$"), template, handler)
    for template, handler in _ROUTES
)


def resolve(path: str) -> tuple[str, Handler, dict[str, str]]:
    """Return the route template, handler and path parameters for a path under `/v2`.

    Raises:
        NotFoundError: If no route matches.
    """
    for pattern, template, handler in _COMPILED:
        match = pattern.match(path)
        if match:
            return template, handler, match.groupdict()
    raise NotFoundError(f"Invalid API path {path!r}.")
