"""Attribution of billed lines to inventory resources by their parsed description.

Each description form names a resource by a few identifying fields: a server by IP and
label, a block volume by label and size, a reserved IP by its subnet, most other products
by label alone. A line is matched only to resources that existed during its charge period.

Confidence of a match:

- `exact`: exactly one resource matches every identifying field the form carries, and it
  existed during the charge period.
- `probable`: one resource is left only after narrowing. Either several resources match
  every field but only one existed during the charge period, or only some of the fields
  match (a server's label without its IP, a volume's label without its size).
- `none`: nothing matches (for example, a resource deleted before the inventory was
  collected), the form names no resource (bandwidth, discounts), or several resources remain
  equally likely. The last case is reported as ambiguous and never resolved by picking one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from vultr_pipeline.costs import descriptions as forms
from vultr_pipeline.costs.descriptions import ParsedDescription
from vultr_pipeline.costs.frames import frame_rows, text_list, to_utc

EXACT = "exact"
PROBABLE = "probable"
NONE = "none"

# Outcomes, finer than the confidence, for counting in asset metadata.
MATCHED = "matched"
UNMATCHED = "unmatched"
AMBIGUOUS = "ambiguous"
NO_RESOURCE = "no_resource"

# Group of resources each description form is looked up in.
_SERVERS = "servers"
_FORM_POOLS = {
    forms.SERVER: _SERVERS,
    forms.BACKUP: "backup_targets",
    forms.BLOCK: "blocks",
    forms.LOAD_BALANCER: "load_balancers",
    forms.OBJECT_STORAGE: "object_storage",
    forms.DATABASE: "databases",
    forms.KUBERNETES_CONTROL_PLANE: "kubernetes_clusters",
    forms.SNAPSHOT: "snapshots",
    forms.RESERVED_IP: "reserved_ips",
}


@dataclass(frozen=True)
class Candidate:
    """A resource that a description can name.

    Attributes:
        resource_id: Id of the billed resource (the cluster for a Kubernetes node).
        resource_type: One of instance, bare_metal, block, snapshot, load_balancer,
            reserved_ip, object_storage, kubernetes_cluster, database.
        resource_label: Label shown for the resource (a snapshot's description).
        match_label: Label the description uses (a Kubernetes node's own label).
        ip: Main IP of a server, or the subnet of a reserved IP.
        size_gb: Size of a block volume.
        created: Creation time, or None when the API gives none (reserved IPs).
    """

    resource_id: str
    resource_type: str
    resource_label: str | None
    match_label: str | None = None
    ip: str | None = None
    size_gb: int | None = None
    created: dt.datetime | None = None
    region: str | None = None
    plan: str | None = None
    tags: tuple[str, ...] = ()
    is_gpu: bool = False


@dataclass(frozen=True)
class Attribution:
    """The resource a line is attributed to, or why it has none.

    Attributes:
        confidence: `exact`, `probable` or `none`.
        outcome: `matched`, `unmatched`, `ambiguous` or `no_resource`.
        resource: The matched resource, or None.
        candidates: Number of equally likely resources when the outcome is ambiguous.
    """

    confidence: str
    outcome: str
    resource: Candidate | None = None
    candidates: int = 0


@dataclass
class InventoryIndex:
    """Candidates of one account, grouped by the description forms that can name them."""

    pools: dict[str, list[Candidate]] = field(default_factory=dict)

    def add(self, pool: str, candidate: Candidate) -> None:
        """Add a candidate to a pool."""
        self.pools.setdefault(pool, []).append(candidate)

    def pool(self, name: str) -> list[Candidate]:
        """Return the candidates of a pool; servers are instances, bare metal and nodes."""
        if name == _SERVERS:
            return [*self.pools.get("servers", []), *self.pools.get("kubernetes_nodes", [])]
        return self.pools.get(name, [])


Indexes = dict[str, InventoryIndex]


def _index(indexes: Indexes, account: str) -> InventoryIndex:
    return indexes.setdefault(account, InventoryIndex())


def _overlaps(candidate: Candidate, start: dt.datetime, end: dt.datetime) -> bool:
    # Resources in the inventory still exist, so the lifetime ends after any charge period.
    if candidate.created is None:
        return True
    if end > start:
        return candidate.created < end
    return candidate.created <= end


def _unique(candidates: Iterable[Candidate]) -> list[Candidate]:
    # Several Kubernetes nodes of one cluster are one billed resource.
    seen: dict[tuple[str, str], Candidate] = {}
    for candidate in candidates:
        seen.setdefault((candidate.resource_type, candidate.resource_id), candidate)
    return list(seen.values())


def _field_matches(
    parsed: ParsedDescription, pool: list[Candidate]
) -> tuple[list[Candidate], list[Candidate]]:
    """Split a pool into candidates matching every identifying field, and partial matches."""
    label = parsed.label or None
    if parsed.form == forms.RESERVED_IP:
        return [c for c in pool if parsed.ip and c.ip == parsed.ip], []
    if parsed.form == forms.SERVER:
        if label is None:
            return [c for c in pool if c.ip == parsed.ip and not c.match_label], []
        full = [c for c in pool if c.match_label == label and c.ip == parsed.ip]
        return full, [c for c in pool if c.match_label == label and c.ip != parsed.ip]
    if label is None:
        return [], []
    if parsed.form == forms.BLOCK:
        full = [c for c in pool if c.match_label == label and c.size_gb == parsed.size_gb]
        return full, [c for c in pool if c.match_label == label and c.size_gb != parsed.size_gb]
    return [c for c in pool if c.match_label == label], []


def attribute(
    parsed: ParsedDescription, index: InventoryIndex, start: dt.datetime, end: dt.datetime
) -> Attribution:
    """Attribute one line, whose charge period is [start, end), to an inventory resource."""
    pool_name = _FORM_POOLS.get(parsed.form)
    if pool_name is None:
        return Attribution(NONE, NO_RESOURCE)
    full, partial = _field_matches(parsed, index.pool(pool_name))
    full, partial = _unique(full), _unique(partial)

    live = [c for c in full if _overlaps(c, start, end)]
    if len(live) == 1:
        confidence = EXACT if len(full) == 1 else PROBABLE
        return Attribution(confidence, MATCHED, live[0])
    if len(live) > 1:
        return Attribution(NONE, AMBIGUOUS, candidates=len(live))

    live = [c for c in partial if _overlaps(c, start, end)]
    if len(live) == 1:
        return Attribution(PROBABLE, MATCHED, live[0])
    if len(live) > 1:
        return Attribution(NONE, AMBIGUOUS, candidates=len(live))
    return Attribution(NONE, UNMATCHED)


def _server_candidates(instance_metadata: pd.DataFrame, indexes: Indexes) -> None:
    for row in frame_rows(instance_metadata):
        candidate = Candidate(
            resource_id=row["resource_id"],
            resource_type=row["resource_type"],
            resource_label=row.get("label"),
            match_label=row.get("label") or None,
            ip=row.get("main_ip") or None,
            created=to_utc(row.get("date_created")),
            region=row.get("region"),
            plan=row.get("plan"),
            tags=tuple(text_list(row.get("tags"))),
            is_gpu=bool(row.get("is_gpu")),
        )
        index = _index(indexes, row["account_id"])
        index.add("servers", candidate)
        # A backup line names its instance by label; bare metal has no automatic backups.
        if row["resource_type"] == "instance":
            index.add("backup_targets", candidate)


def _kubernetes_candidates(clusters: pd.DataFrame, indexes: Indexes) -> None:
    for row in frame_rows(clusters):
        index = _index(indexes, row["account_id"])
        base = {
            "resource_id": row["id"],
            "resource_type": "kubernetes_cluster",
            "resource_label": row.get("label"),
            "region": row.get("region"),
        }
        created = to_utc(row.get("date_created"))
        cluster = Candidate(**base, match_label=row.get("label") or None, created=created)
        index.add("kubernetes_clusters", cluster)
        pools = json.loads(row["node_pools"]) if row.get("node_pools") else []
        for pool in pools:
            for node in pool.get("nodes") or []:
                node_created = to_utc(node.get("date_created")) or created
                candidate = Candidate(
                    **base,
                    match_label=node.get("label") or None,
                    ip=node.get("ip") or None,
                    created=node_created,
                    plan=pool.get("plan"),
                    tags=(pool["tag"],) if pool.get("tag") else (),
                )
                index.add("kubernetes_nodes", candidate)


def _labelled_candidates(
    frame: pd.DataFrame, pool: str, resource_type: str, label_column: str, indexes: Indexes
) -> None:
    for row in frame_rows(frame):
        label = row.get(label_column)
        tag = row.get("tag")
        candidate = Candidate(
            resource_id=row["id"],
            resource_type=resource_type,
            resource_label=label,
            match_label=label or None,
            ip=row.get("subnet"),
            size_gb=row.get("size_gb"),
            created=to_utc(row.get("date_created")),
            region=row.get("region"),
            plan=row.get("plan"),
            tags=(tag,) if tag else (),
        )
        _index(indexes, row["account_id"]).add(pool, candidate)


def build_indexes(
    instance_metadata: pd.DataFrame,
    blocks: pd.DataFrame | None = None,
    snapshots: pd.DataFrame | None = None,
    load_balancers: pd.DataFrame | None = None,
    reserved_ips: pd.DataFrame | None = None,
    object_storage: pd.DataFrame | None = None,
    kubernetes_clusters: pd.DataFrame | None = None,
    databases: pd.DataFrame | None = None,
) -> Indexes:
    """Build one candidate index per account from the inventory tables.

    Args:
        instance_metadata: Rows of `build_instance_metadata` (instances and bare metal).
        blocks: Raw blocks table, and likewise for the other raw inventory tables.
        snapshots: Raw snapshots; a snapshot line names the snapshot's description.
        load_balancers: Raw load balancers.
        reserved_ips: Raw reserved IPs; a reserved-IP line names the subnet.
        object_storage: Raw object-storage subscriptions.
        kubernetes_clusters: Raw VKE clusters; node lines are matched through node pools.
        databases: Raw managed databases.
    """
    indexes: Indexes = {}
    _server_candidates(instance_metadata, indexes)
    _kubernetes_candidates(_or_empty(kubernetes_clusters), indexes)
    labelled = (
        (blocks, "blocks", "block", "label"),
        (snapshots, "snapshots", "snapshot", "description"),
        (load_balancers, "load_balancers", "load_balancer", "label"),
        (reserved_ips, "reserved_ips", "reserved_ip", "label"),
        (object_storage, "object_storage", "object_storage", "label"),
        (databases, "databases", "database", "label"),
    )
    for frame, pool, resource_type, label_column in labelled:
        _labelled_candidates(_or_empty(frame), pool, resource_type, label_column, indexes)
    return indexes


def _or_empty(frame: pd.DataFrame | None) -> pd.DataFrame:
    return pd.DataFrame() if frame is None else frame
