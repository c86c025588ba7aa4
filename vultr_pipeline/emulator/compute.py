"""Cloud instances, GPU instances, bare metal, snapshots and backups of the sample account."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from vultr_pipeline.emulator.charges import Charge
from vultr_pipeline.emulator.context import GenerationContext
from vultr_pipeline.emulator.money import hourly_rate, to_cents
from vultr_pipeline.emulator.timeline import iso

_ROLES = ("web", "api", "worker", "cache", "ci", "search", "queue", "mail", "vpn", "monitor")
_GPU_ROLES = ("train", "infer", "render")
_ENVIRONMENTS = ("prod", "prod", "dev", "staging")
_TEAMS = ("platform", "data", "growth", "ml")
_OPERATING_SYSTEMS = ((2284, "Ubuntu 24.04 LTS x64"), (2136, "Debian 12 x64 (bookworm)"),
                      (1869, "Rocky Linux 9 x64"))  # fmt: skip
_BACKUP_SHARE = Decimal("0.20")
_SNAPSHOT_GB_PRICE = Decimal("0.05")
_GIB = 1024**3


def build_instances(
    ctx: GenerationContext, count: int, gpu: bool, fresh_last: bool
) -> list[dict[str, Any]]:
    """Build instances on non-GPU or GPU plans, with their compute and backup charges.

    Args:
        ctx: Generation context; charges are appended to it.
        count: Number of instances.
        gpu: Whether to use `vcg` plans instead of `vc2`, `vhf` and `voc-*` plans.
        fresh_last: Whether the last instance was created minutes ago and still shows its
            `default_password`.
    """
    plans = [plan for plan in ctx.catalogue.plans if (plan["type"] == "vcg") == gpu]
    instances = []
    for number in range(1, count + 1):
        plan = ctx.ids.rng.choice(plans)
        created = ctx.created_at()
        if fresh_last and number == count:
            created = ctx.now - dt.timedelta(minutes=4)
        instance = _instance(ctx, plan, number, created, gpu)
        if fresh_last and number == count:
            instance["default_password"] = ctx.ids.secret(16)
        instances.append(instance)
        _add_instance_charges(ctx, instance, created, None)
    return instances


def add_deleted_instances(ctx: GenerationContext, count: int) -> None:
    """Add charges for instances deleted before the current month, absent from `/instances`."""
    plans = [plan for plan in ctx.catalogue.plans if plan["type"] != "vcg"]
    current_month = ctx.now.replace(day=1, hour=0)
    for number in range(1, count + 1):
        plan = ctx.ids.rng.choice(plans)
        created = ctx.ids.moment(ctx.window_start - dt.timedelta(days=30), current_month)
        deleted = ctx.ids.moment(created, current_month)
        instance = _instance(ctx, plan, number, created, gpu=False)
        instance["label"] = f"old-{instance['label']}"
        _add_instance_charges(ctx, instance, created, deleted)


def _instance(
    ctx: GenerationContext, plan: dict[str, Any], number: int, created: dt.datetime, gpu: bool
) -> dict[str, Any]:
    rng = ctx.ids.rng
    region = rng.choice(plan["locations"])
    environment = rng.choice(_ENVIRONMENTS)
    role = rng.choice(_GPU_ROLES if gpu else _ROLES)
    label = f"{'gpu-' if gpu else ''}{role}-{environment}-{number:02d}"
    os_id, os_name = rng.choice(_OPERATING_SYSTEMS)
    v6_network = ctx.ids.ipv6_network()
    stopped = rng.random() < 0.15
    features = ["ipv6"]
    if rng.random() < 0.3:
        features.append("auto_backups")
    if rng.random() < 0.1:
        features.append("ddos_protection")
    main_ip = ctx.ids.ipv4()
    return {
        "id": ctx.ids.uuid(),
        "os": os_name,
        "ram": plan["ram"],
        "disk": plan["disk"],
        "main_ip": main_ip,
        "vcpu_count": plan["vcpu_count"],
        "region": region,
        "plan": plan["id"],
        "date_created": iso(created),
        "status": "active",
        "allowed_bandwidth": plan["bandwidth"],
        "netmask_v4": "255.255.254.0",
        "gateway_v4": main_ip.rsplit(".", 1)[0] + ".1",
        "power_status": "stopped" if stopped else "running",
        "server_status": "ok",
        "v6_network": v6_network,
        "v6_main_ip": v6_network.replace("::", ":5400:4ff:fe00:1"),
        "v6_network_size": 64,
        "v6_networks": [{"network": v6_network, "main_ip": v6_network + "1", "network_size": 64}],
        "label": label,
        "internal_ip": "",
        "kvm": f"https://my.vultr.com/subs/vps/novnc/api.php?data={ctx.ids.secret(48)}",
        "hostname": label,
        "tag": "",
        "tags": _tags(ctx, environment),
        "os_id": os_id,
        "app_id": 0,
        "image_id": "",
        "snapshot_id": "",
        "firewall_group_id": "",
        "features": features,
        "user_scheme": "root",
        "vpcs": [],
    }


def _tags(ctx: GenerationContext, environment: str) -> list[str]:
    variant = ctx.ids.rng.randrange(3)
    if variant == 0:
        return [f"env:{environment}", f"team:{ctx.ids.rng.choice(_TEAMS)}"]
    if variant == 1:
        return [ctx.ids.rng.choice(_TEAMS)]
    return []


def _add_instance_charges(
    ctx: GenerationContext,
    instance: dict[str, Any],
    created: dt.datetime,
    deleted: dt.datetime | None,
) -> None:
    plan = ctx.catalogue.plan(instance["plan"])
    monthly = ctx.catalogue.monthly_cost(plan, instance["region"])
    is_gpu = plan["type"] == "vcg"
    ctx.charges.append(
        Charge(
            description=f"{instance['main_ip']} ({instance['ram']} MB) [{instance['label']}]",
            product="Cloud GPU" if is_gpu else "Vultr Cloud Compute",
            unit_price=hourly_rate(monthly),
            start=created,
            end=deleted,
            monthly_cap=monthly,
            resource_id=instance["id"],
        )
    )
    if "auto_backups" in instance["features"]:
        backup_monthly = to_cents(monthly * _BACKUP_SHARE)
        ctx.charges.append(
            Charge(
                description=f"Automatic Backups ({instance['label']})",
                product="Automatic Backups",
                unit_price=hourly_rate(backup_monthly),
                start=created,
                end=deleted,
                monthly_cap=backup_monthly,
                resource_id=instance["id"],
            )
        )


def build_bare_metals(ctx: GenerationContext, count: int) -> list[dict[str, Any]]:
    """Build bare-metal servers, with `ram`/`disk` as text and `mac_address` as an integer."""
    servers = []
    for number in range(1, count + 1):
        plan = ctx.catalogue.plans_metal[(number - 1) % len(ctx.catalogue.plans_metal)]
        region = ctx.ids.rng.choice(plan["locations"])
        created = ctx.created_at()
        main_ip = ctx.ids.ipv4()
        v6_network = ctx.ids.ipv6_network()
        server = {
            "id": ctx.ids.uuid(),
            "os": "Ubuntu 24.04 LTS x64",
            "ram": f"{plan['ram']} MB",
            "disk": f"{plan['disk_count']}x {plan['disk']}GB {plan['type']}",
            "main_ip": main_ip,
            "cpu_count": plan["cpu_count"],
            "region": region,
            "date_created": iso(created),
            "status": "active",
            "netmask_v4": "255.255.255.0",
            "gateway_v4": main_ip.rsplit(".", 1)[0] + ".1",
            "plan": plan["id"],
            "label": f"metal-db-prod-{number:02d}",
            "tag": "",
            "os_id": 2284,
            "app_id": 0,
            "image_id": "",
            "snapshot_id": "",
            "v6_network": v6_network,
            "v6_main_ip": v6_network + "1",
            "v6_network_size": 64,
            "mac_address": ctx.ids.rng.randrange(0x0000_0000_0000, 0xFFFF_FFFF_FFFF),
            "tags": ["env:prod"],
            "features": ["ipv6"],
            "user_scheme": "root",
            "mdisk_mode": "raid1",
            "vpcs": [],
        }
        servers.append(server)
        monthly = ctx.catalogue.monthly_cost(plan, region)
        ctx.charges.append(
            Charge(
                description=f"{main_ip} ({server['ram']}) [{server['label']}]",
                product="Bare Metal",
                unit_price=hourly_rate(monthly),
                start=created,
                monthly_cap=monthly,
                resource_id=server["id"],
            )
        )
    return servers


def build_snapshots(ctx: GenerationContext, count: int) -> list[dict[str, Any]]:
    """Build instance snapshots, about half of them older than a year."""
    snapshots = []
    for number in range(1, count + 1):
        if number % 2:
            created = ctx.ids.moment(
                ctx.now - dt.timedelta(days=900), ctx.now - dt.timedelta(days=400)
            )
        else:
            created = ctx.ids.moment(
                ctx.now - dt.timedelta(days=120), ctx.now - dt.timedelta(days=2)
            )
        size = ctx.ids.rng.randint(20, 160) * _GIB
        compressed = size * ctx.ids.rng.randint(15, 45) // 100
        description = f"snapshot-{number:02d} before upgrade"
        snapshots.append(
            {
                "id": ctx.ids.uuid(),
                "date_created": iso(created),
                "description": description,
                "size": size,
                "compressed_size": compressed,
                "status": "complete",
                "os_id": 2284,
                "app_id": 0,
            }
        )
        gigabytes = (Decimal(compressed) / _GIB).quantize(Decimal("0.01"))
        ctx.charges.append(
            Charge(
                description=f"Snapshot ({description})",
                product="Snapshots",
                unit_price=_SNAPSHOT_GB_PRICE,
                start=created,
                unit_type="GB",
                units_per_month=gigabytes,
                resource_id=snapshots[-1]["id"],
            )
        )
    return snapshots


def build_backups(ctx: GenerationContext, instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Build two recent automatic backups for every instance with `auto_backups`."""
    backups = []
    for instance in instances:
        if "auto_backups" not in instance["features"]:
            continue
        instance_created = dt.datetime.fromisoformat(instance["date_created"])
        for days_ago in (1, 8):
            created = ctx.now - dt.timedelta(days=days_ago, hours=ctx.ids.rng.randint(1, 6))
            if created < instance_created:
                continue
            backups.append(
                {
                    "id": ctx.ids.uuid(),
                    "date_created": iso(created),
                    "description": f"Automatic Backup of {instance['label']}",
                    "size": instance["disk"] * _GIB * ctx.ids.rng.randint(10, 60) // 100,
                    "status": "complete",
                    "os_id": instance["os_id"],
                    "app_id": 0,
                }
            )
    return backups
