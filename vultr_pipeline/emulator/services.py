"""Block storage, load balancers, Kubernetes, object storage, reserved IPs and databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from vultr_pipeline.emulator.charges import Charge, period_total
from vultr_pipeline.emulator.context import GenerationContext
from vultr_pipeline.emulator.money import hourly_rate
from vultr_pipeline.emulator.timeline import iso, naive_text

_BLOCK_GB_PRICES = {"high_perf": Decimal("0.10"), "storage_opt": Decimal("0.025")}
# Storage-optimized sizes are odd multiples of 10 GB, so their monthly `cost` is fractional.
_BLOCK_SIZES_GB = {"high_perf": (10, 40, 50, 100, 250), "storage_opt": (10, 30, 50, 70, 150)}
_LB_NODE_MONTHLY = Decimal("10")
_HA_CONTROL_PLANE_MONTHLY = Decimal("10")
_RESERVED_IP_MONTHLY = {"v4": Decimal("3"), "v6": Decimal("1.50")}
# OBJSTORETIERID, sales_name, price, bw_gb_price, disk_gb_price, slug
_STORAGE_TIERS = (
    (2, "Standard", Decimal("6"), Decimal("0.01"), Decimal("0.006"), "tier_010k_5000m"),
    (5, "Performance", Decimal("18"), Decimal("0.01"), Decimal("0.018"), "tier_004k_1000m"),
)
# plan, vcpus, ram MB, disk GB, monthly, engine, version
_DATABASE_PLANS = (
    ("vultr-dbaas-hobbyist-cc-1-25-1", 1, 1024, 25, Decimal("15"), "pg", "16"),
    ("vultr-dbaas-startup-cc-1-55-2", 1, 2048, 55, Decimal("30"), "mysql", "8"),
    ("vultr-dbaas-business-cc-2-80-4", 2, 4096, 80, Decimal("120"), "valkey", "7"),
)


def _month_start(ctx: GenerationContext) -> dt.datetime:
    return ctx.now.replace(day=1, hour=0)


def _monthly_charge(
    ctx: GenerationContext,
    description: str,
    product: str,
    monthly: Decimal,
    created: dt.datetime,
    resource_id: str,
) -> Charge:
    charge = Charge(
        description=description,
        product=product,
        unit_price=hourly_rate(monthly),
        start=created,
        monthly_cap=monthly,
        resource_id=resource_id,
    )
    ctx.charges.append(charge)
    return charge


def build_blocks(
    ctx: GenerationContext, count: int, instances: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Build block volumes; every third one is unattached."""
    blocks = []
    for number in range(1, count + 1):
        block_type = "high_perf" if number % 2 else "storage_opt"
        size_gb = ctx.ids.rng.choice(_BLOCK_SIZES_GB[block_type])
        attached = instances[(number * 7) % len(instances)] if instances and number % 3 else None
        region = attached["region"] if attached else ctx.ids.rng.choice(("ewr", "ams", "sgp"))
        created = ctx.created_at()
        label = f"volume-{number:02d}"
        cost = _BLOCK_GB_PRICES[block_type] * size_gb
        block_id = ctx.ids.uuid()
        charge = _monthly_charge(
            ctx, f"Block Storage {size_gb} GB ({label})", "Block Storage", cost, created, block_id
        )
        blocks.append(
            {
                "id": block_id,
                "date_created": iso(created),
                "cost": cost,
                "pending_charges": period_total(charge, _month_start(ctx), ctx.now),
                "status": "active",
                "size_gb": size_gb,
                "region": region,
                "attached_to_instance": attached["id"] if attached else "",
                "attached_to_instance_ip": attached["main_ip"] if attached else "",
                "attached_to_instance_label": attached["label"] if attached else "",
                "label": label,
                "mount_id": f"{region}-{ctx.ids.hex(12)}",
                "block_type": block_type,
                "os_id": 0,
                "snapshot_id": "",
                "bootable": False,
            }
        )
    return blocks


def build_load_balancers(
    ctx: GenerationContext, count: int, instances: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Build load balancers; the last one has no attached instances."""
    balancers = []
    for number in range(1, count + 1):
        members = [] if number == count else instances[number - 1 :: max(count, 1)][:3]
        region = members[0]["region"] if members else "ewr"
        nodes = ctx.ids.rng.choice((1, 1, 3))
        created = ctx.created_at()
        label = f"lb-web-{number:02d}"
        balancer_id = ctx.ids.uuid()
        _monthly_charge(
            ctx,
            f"Load Balancer ({label})",
            "Load Balancer",
            _LB_NODE_MONTHLY * nodes,
            created,
            balancer_id,
        )
        balancers.append(_load_balancer(ctx, balancer_id, label, region, nodes, created, members))
    return balancers


def _load_balancer(
    ctx: GenerationContext,
    balancer_id: str,
    label: str,
    region: str,
    nodes: int,
    created: dt.datetime,
    members: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "id": balancer_id,
        "date_created": iso(created),
        "region": region,
        "label": label,
        "status": "active",
        "ipv4": ctx.ids.ipv4(),
        "ipv6": ctx.ids.ipv6_network() + "1",
        "nodes": nodes,
        "has_ssl": False,
        "http2": False,
        "http3": False,
        "generic_info": {
            "balancing_algorithm": "roundrobin",
            "ssl_redirect": False,
            "sticky_sessions": {"cookie_name": ""},
            "proxy_protocol": False,
            "timeout": 600,
            "vpc": "",
        },
        "health_check": {
            "protocol": "http",
            "port": 80,
            "path": "/health",
            "check_interval": 10,
            "response_timeout": 5,
            "unhealthy_threshold": 3,
            "healthy_threshold": 3,
        },
        "forwarding_rules": [
            {
                "id": ctx.ids.hex(16),
                "frontend_protocol": "http",
                "frontend_port": 80,
                "backend_protocol": "http",
                "backend_port": 8080,
            }
        ],
        "firewall_rules": [],
        "instances": [member["id"] for member in members],
        "node_ips": {"v4": [ctx.ids.ipv4() for _ in range(nodes)], "v6": []},
        "auto_ssl": {"domain_zone": "", "domain": ""},
        "global_regions": [],
    }


def build_kubernetes_clusters(ctx: GenerationContext, count: int) -> list[dict[str, Any]]:
    """Build VKE clusters with node pools; the first cluster has an HA control plane."""
    clusters = []
    for number in range(1, count + 1):
        created = ctx.created_at()
        cluster_id = ctx.ids.uuid()
        label = f"vke-prod-{number:02d}"
        high_availability = number == 1
        if high_availability:
            _monthly_charge(
                ctx,
                f"Kubernetes HA Control Plane ({label})",
                "Kubernetes",
                _HA_CONTROL_PLANE_MONTHLY,
                created,
                cluster_id,
            )
        pools = [_node_pool(ctx, label, pool, created) for pool in ("default", "batch")]
        clusters.append(
            {
                "id": cluster_id,
                "firewall_group_id": "",
                "label": label,
                "date_created": iso(created),
                "cluster_subnet": "10.244.0.0/16",
                "service_subnet": "10.96.0.0/12",
                "ip": ctx.ids.ipv4(),
                "endpoint": f"{cluster_id}.vultr-k8s.com",
                "version": "v1.33.2+1",
                "region": "ewr",
                "status": "active",
                "ha_controlplanes": high_availability,
                "node_pools": pools,
            }
        )
    return clusters


def _node_pool(
    ctx: GenerationContext, cluster_label: str, pool_label: str, created: dt.datetime
) -> dict[str, Any]:
    plan = ctx.catalogue.plan("vc2-2c-4gb" if pool_label == "default" else "vc2-4c-8gb")
    monthly = ctx.catalogue.monthly_cost(plan, "ewr")
    quantity = ctx.ids.rng.randint(2, 3)
    pool_id = ctx.ids.uuid()
    nodes = []
    for _ in range(quantity):
        node_label = f"{cluster_label}-{pool_label}-{ctx.ids.hex(13)}"
        node_ip = ctx.ids.ipv4()
        node_id = ctx.ids.uuid()
        description = f"{node_ip} ({plan['ram']} MB) [{node_label}]"
        _monthly_charge(ctx, description, "Kubernetes", monthly, created, node_id)
        nodes.append(
            {
                "id": node_id,
                "label": node_label,
                "date_created": iso(created),
                "status": "active",
                "ip": node_ip,
            }
        )
    return {
        "id": pool_id,
        "date_created": iso(created),
        "date_updated": iso(created),
        "label": pool_label,
        "tag": "",
        "plan": plan["id"],
        "status": "active",
        "node_quantity": quantity,
        "min_nodes": quantity,
        "max_nodes": quantity + 2,
        "auto_scaler": pool_label == "batch",
        "labels": {},
        "taints": [],
        "nodes": nodes,
    }


def build_object_storages(ctx: GenerationContext, count: int) -> list[dict[str, Any]]:
    """Build object-storage subscriptions, each with its S3 keys and tier."""
    storages = []
    for number in range(1, count + 1):
        tier_id, name, price, bw_price, disk_price, slug = _STORAGE_TIERS[
            (number - 1) % len(_STORAGE_TIERS)
        ]
        region = ("ewr", "ams", "sgp")[(number - 1) % 3]
        created = ctx.created_at()
        label = f"bucket-store-{number:02d}"
        storage_id = ctx.ids.uuid()
        _monthly_charge(
            ctx, f"Object Storage ({label})", "Object Storage", price, created, storage_id
        )
        storages.append(
            {
                "id": storage_id,
                "date_created": iso(created),
                "cluster_id": 2 + (number - 1) % 3,
                "region": region,
                "label": label,
                "status": "active",
                "s3_hostname": f"{region}1.vultrobjects.com",
                "s3_access_key": ctx.ids.secret(20).upper(),
                "s3_secret_key": ctx.ids.secret(40),
                "tier": {
                    "OBJSTORETIERID": tier_id,
                    "sales_name": name,
                    "sales_desc": f"{name} object storage",
                    "price": price,
                    "bw_gb_price": bw_price,
                    "disk_gb_price": disk_price,
                    "ratelimit_ops_bytes": 1048576000,
                    "ratelimit_ops_secs": 4000,
                    "is_default": "yes" if tier_id == 2 else "no",
                    "slug": slug,
                },
            }
        )
    return storages


def build_reserved_ips(
    ctx: GenerationContext, count: int, instances: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Build reserved IPs; every third one, and every one without instances, is unattached."""
    reserved = []
    for number in range(1, count + 1):
        attached = instances[(number * 5) % len(instances)] if instances and number % 3 else None
        ip_type = "v6" if number % 4 == 0 else "v4"
        subnet = ctx.ids.ipv6_network() if ip_type == "v6" else ctx.ids.ipv4()
        reserved_id = ctx.ids.uuid()
        _monthly_charge(
            ctx,
            f"Reserved IP ({subnet})",
            "Reserved IP",
            _RESERVED_IP_MONTHLY[ip_type],
            ctx.created_at(),
            reserved_id,
        )
        reserved.append(
            {
                "id": reserved_id,
                "region": attached["region"] if attached else "ewr",
                "ip_type": ip_type,
                "subnet": subnet,
                "subnet_size": 64 if ip_type == "v6" else 32,
                "label": f"reserved-{number:02d}",
                "instance_id": attached["id"] if attached else "",
            }
        )
    return reserved


def build_databases(ctx: GenerationContext, count: int) -> list[dict[str, Any]]:
    """Build managed databases with uppercase regions and offset-less dates."""
    databases = []
    for number in range(1, count + 1):
        plan, vcpus, ram, disk, monthly, engine, version = _DATABASE_PLANS[
            (number - 1) % len(_DATABASE_PLANS)
        ]
        created = ctx.created_at()
        label = f"db-{engine}-prod-{number:02d}"
        database_id = ctx.ids.uuid()
        charge = _monthly_charge(
            ctx, f"Managed Database ({label})", "Managed Databases", monthly, created, database_id
        )
        host = f"vultr-prod-{database_id}-vultr-prod-{ctx.ids.hex(4)}.vultrdb.com"
        databases.append(
            {
                "id": database_id,
                "date_created": naive_text(created),
                "plan": plan,
                "plan_disk": disk,
                "plan_ram": ram,
                "plan_vcpus": vcpus,
                "plan_replicas": 0,
                "plan_brokers": 0,
                "region": ("EWR", "AMS", "SGP")[(number - 1) % 3],
                "database_engine": engine,
                "database_engine_version": version,
                "vpc_id": "",
                "status": "Running",
                "label": label,
                "tag": "env:prod",
                "dbname": "defaultdb",
                "host": host,
                "public_host": f"public-{host}",
                "user": "vultradmin",
                "password": ctx.ids.secret(24),
                "port": str(16751 + number),
                "maintenance_dow": "sunday",
                "maintenance_time": "06:00:00",
                "latest_backup": naive_text(
                    ctx.now - dt.timedelta(hours=ctx.ids.rng.randint(1, 20))
                ),
                "trusted_ips": [],
                "cluster_time_zone": "UTC",
                "read_replicas": [],
                "pending_charges": period_total(charge, _month_start(ctx), ctx.now),
            }
        )
    return databases
