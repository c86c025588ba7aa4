"""Generation of a deterministic sample Vultr account, shaped as the API returns it.

`generate_account` is a pure function of its config: the same config gives the same data, byte
for byte, so tests pin `today`. The account's clock reads noon UTC on `today`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from vultr_pipeline.emulator import billing, compute, services
from vultr_pipeline.emulator.bandwidth import build_bandwidth
from vultr_pipeline.emulator.catalogue import build_catalogue
from vultr_pipeline.emulator.config import SampleAccountConfig
from vultr_pipeline.emulator.context import GenerationContext
from vultr_pipeline.emulator.ids import IdSource
from vultr_pipeline.emulator.jsontext import dumps
from vultr_pipeline.emulator.ledger import account_summary, build_ledger
from vultr_pipeline.emulator.timeline import account_now, closed_months, month_start


@dataclass
class SampleAccount:
    """Every object the emulator serves, as API-shaped dicts with Decimal money.

    List attributes keep Vultr's list order. Treat the data as read-only: the server hands out
    references to it.
    """

    config: SampleAccountConfig
    account: dict[str, Any]
    bandwidth: dict[str, Any]
    billing_history: list[dict[str, Any]]
    invoices: list[dict[str, Any]]
    invoice_items: dict[int, list[dict[str, Any]]]
    pending_charges: list[dict[str, Any]]
    regions: list[dict[str, Any]]
    plans: list[dict[str, Any]]
    plans_metal: list[dict[str, Any]]
    instances: list[dict[str, Any]]
    bare_metals: list[dict[str, Any]]
    snapshots: list[dict[str, Any]]
    backups: list[dict[str, Any]]
    blocks: list[dict[str, Any]]
    load_balancers: list[dict[str, Any]]
    vke_clusters: list[dict[str, Any]]
    object_storages: list[dict[str, Any]]
    reserved_ips: list[dict[str, Any]]
    databases: list[dict[str, Any]]
    instance_pending_charges: dict[str, Decimal] = field(default_factory=dict)

    def to_json(self) -> str:
        """Return all data as one JSON text, for byte-for-byte comparisons."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values["config"] = repr(self.config)
        values["invoice_items"] = {str(key): items for key, items in self.invoice_items.items()}
        return dumps(values)


def generate_account(config: SampleAccountConfig) -> SampleAccount:
    """Generate the sample account that a config describes."""
    today = config.resolved_today()
    now = account_now(today)
    months = closed_months(today, config.invoice_months)
    window_start = months[0][0] if months else month_start(today.year, today.month)
    ctx = GenerationContext(
        ids=IdSource(random.Random(config.seed)),
        catalogue=build_catalogue(),
        now=now,
        window_start=window_start,
    )

    instances = compute.build_instances(ctx, config.instances, gpu=False, fresh_last=True)
    instances += compute.build_instances(ctx, config.gpu_instances, gpu=True, fresh_last=False)
    compute.add_deleted_instances(ctx, config.deleted_instances)
    bare_metals = compute.build_bare_metals(ctx, config.bare_metal)
    snapshots = compute.build_snapshots(ctx, config.snapshots)
    backups = compute.build_backups(ctx, instances)
    blocks = services.build_blocks(ctx, config.blocks, instances)
    load_balancers = services.build_load_balancers(ctx, config.load_balancers, instances)
    clusters = services.build_kubernetes_clusters(ctx, config.kubernetes_clusters)
    object_storages = services.build_object_storages(ctx, config.object_storages)
    reserved_ips = services.build_reserved_ips(ctx, config.reserved_ips, instances)
    databases = services.build_databases(ctx, config.databases)

    bills = billing.bill_months(ctx, months)
    pending = billing.pending_items(ctx)
    pending_total = sum((item["total"] for item in pending), Decimal(0))
    ledger = build_ledger(ctx.ids, bills, now)
    items_by_invoice = {
        invoice["id"]: bill.items
        for invoice, bill in zip(ledger.invoices, reversed(bills), strict=True)
    }

    return SampleAccount(
        config=config,
        account=account_summary(ledger, pending_total),
        bandwidth=build_bandwidth(ctx.ids, bills, pending, now),
        billing_history=ledger.history,
        invoices=ledger.invoices,
        invoice_items=items_by_invoice,
        pending_charges=pending,
        regions=ctx.catalogue.regions,
        plans=ctx.catalogue.plans,
        plans_metal=ctx.catalogue.plans_metal,
        instances=instances,
        bare_metals=bare_metals,
        snapshots=snapshots,
        backups=backups,
        blocks=blocks,
        load_balancers=load_balancers,
        vke_clusters=clusters,
        object_storages=object_storages,
        reserved_ips=reserved_ips,
        databases=databases,
        instance_pending_charges=billing.pending_by_resource(ctx),
    )
