"""Size and seed settings for the generated sample account."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class SampleAccountConfig:
    """Settings that fully determine a sample account.

    The same config always generates the same account, byte for byte, so `today` must be pinned
    wherever output is compared across runs.

    Attributes:
        seed: Seed of the pseudo-random generator.
        instances: Cloud Compute instances on `vc2`, `vhf` and `voc-*` plans.
        gpu_instances: Cloud GPU instances on `vcg` plans, listed in addition to `instances`.
        bare_metal: Bare-metal servers.
        invoice_months: Closed monthly invoices before the current month.
        today: Current UTC date of the account; None means the real current UTC date.
        deleted_instances: Instances that appear in invoices but no longer in `/instances`.
        snapshots: Instance snapshots.
        blocks: Block-storage volumes.
        load_balancers: Load balancers; the last one has no attached instances.
        kubernetes_clusters: VKE clusters.
        object_storages: Object-storage subscriptions.
        reserved_ips: Reserved IPs; every third one is not attached.
        databases: Managed databases.
    """

    seed: int = 7
    instances: int = 12
    gpu_instances: int = 3
    bare_metal: int = 2
    invoice_months: int = 6
    today: dt.date | None = None
    deleted_instances: int = 2
    snapshots: int = 5
    blocks: int = 4
    load_balancers: int = 2
    kubernetes_clusters: int = 1
    object_storages: int = 2
    reserved_ips: int = 3
    databases: int = 2

    def resolved_today(self) -> dt.date:
        """Return `today`, or the current UTC date when it is not pinned."""
        if self.today is not None:
            return self.today
        return dt.datetime.now(dt.UTC).date()
