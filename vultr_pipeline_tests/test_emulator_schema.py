"""Every emulator response validates against its operation's 200 schema in `openapi.json`.

Validators are built from the OpenAPI document itself: `$ref`s resolve against the whole
document and OpenAPI 3.0 `nullable` becomes a JSON Schema type union. The envelope keys the
schema declares are made required, so a wrong top-level key fails. `QUIRKS` is the only place
where a deviation from the schema is accepted. Each entry gives its reason, and a test checks
that every entry is still needed.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from vultr_pipeline.emulator import EmulatorServer
from vultr_pipeline_tests.conftest import EMULATOR_API_KEY

SPEC_PATH = Path(__file__).parent / "spec" / "openapi.json"
SPEC_URI = "urn:vultr-openapi-2025"

# Spec path templates of the operations the emulator serves; ids are filled in per request.
OPERATIONS = (
    "/account",
    "/account/bandwidth",
    "/billing/history",
    "/billing/invoices",
    "/billing/invoices/{invoice-id}",
    "/billing/invoices/{invoice-id}/items",
    "/billing/pending-charges",
    "/instances",
    "/instances/{instance-id}",
    "/bare-metals",
    "/plans",
    "/plans-metal",
    "/regions",
    "/snapshots",
    "/backups",
    "/blocks",
    "/load-balancers",
    "/kubernetes/clusters",
    "/object-storage",
    "/reserved-ips",
    "/databases",
)

_INVOICE_ITEM_SCHEMA = {
    "type": "object",
    "required": ["description", "product", "start_date", "end_date", "units", "unit_type",
                 "unit_price", "total"],
    "properties": {
        "description": {"type": "string"},
        "product": {"type": "string"},
        "start_date": {"type": "string"},
        "end_date": {"type": "string"},
        "units": {"type": "number"},
        "unit_type": {"type": "string"},
        "unit_price": {"type": "number"},
        "total": {"type": "number"},
    },
}  # fmt: skip


@dataclass(frozen=True)
class Quirk:
    """An accepted deviation of real Vultr responses from the 2025 schema.

    Kinds:
        replace: the schema at `location` is wrong; `schema` replaces it. Needed when the
            original schema rejects the response.
        rename: the envelope key `old` is really called `location`. Needed when responses
            carry `location` and not `old`.
        reshape: the objects at `location` have another shape; `schema` replaces it. Needed
            when each object lacks at least half of the properties the original declares.
        extra: the field at `location` is returned but the schema does not declare it. Needed
            when responses carry it.

    A location is a dotted path of property names, `[]` meaning "each array item".
    """

    operation: str
    kind: str
    location: str
    reason: str
    schema: dict[str, Any] | None = None
    old: str = ""


QUIRKS = (
    Quirk("/plans-metal", "rename", "plans_metal", old="plans",
          reason="The response key is plans_metal in Vultr's example and in govultr, while the "
                 "schema names it plans."),
    Quirk("/plans-metal", "replace", "plans_metal[].disk", schema={"type": "integer"},
          reason="Metal plan disk is an integer in the example and in govultr, while the schema "
                 "types it string."),
    Quirk("/plans-metal", "extra", "plans_metal[].hourly_cost",
          reason="Hourly prices arrived with the 2026 spec."),
    Quirk("/plans-metal", "extra", "plans_metal[].hourly_cost_preemptible",
          reason="Preemptible hourly prices arrived with the 2026 spec."),
    Quirk("/plans-metal", "extra", "plans_metal[].invoice_type",
          reason="invoice_type (hourly or monthly) arrived with the 2026 spec."),
    Quirk("/plans", "replace", "plans[].monthly_cost", schema={"type": "number"},
          reason="monthly_cost can be fractional (regional surcharges, small plans); govultr "
                 "reads it as a float and the 2026 spec types it number."),
    Quirk("/plans", "extra", "plans[].hourly_cost",
          reason="Hourly prices arrived with the 2026 spec and are in real responses."),
    Quirk("/plans", "extra", "plans[].monthly_cost_preemptible",
          reason="Preemptible prices on cloud plans arrived with the 2026 spec."),
    Quirk("/plans", "extra", "plans[].hourly_cost_preemptible",
          reason="Preemptible prices on cloud plans arrived with the 2026 spec."),
    Quirk("/plans", "extra", "plans[].invoice_type",
          reason="invoice_type (hourly or monthly) arrived with the 2026 spec."),
    Quirk("/plans", "extra", "plans[].location_cost",
          reason="Per-region price overrides arrived with the 2026 spec."),
    Quirk("/plans", "extra", "plans[].gpu_vram_gb",
          reason="GPU plans carry their total VRAM, a field in no spec schema (govultr has it)."),
    Quirk("/plans", "extra", "plans[].gpu_type",
          reason="GPU plans carry the GPU model, a field in no spec schema (govultr has it)."),
    Quirk("/regions", "extra", "regions[].connectivity",
          reason="Region connectivity options arrived with the 2026 spec."),
    Quirk("/billing/pending-charges", "reshape", "pending_charges[]",
          schema=_INVOICE_ITEM_SCHEMA,
          reason="Pending charges are invoice-item shaped (Vultr's example, govultr "
                 "[]InvoiceItem) while the schema refers to the billing-history shape."),
    Quirk("/blocks", "replace", "blocks[].cost", schema={"type": "number"},
          reason="Block cost is a float in govultr and fractional for small volumes; the schema "
                 "types it integer."),
    Quirk("/blocks", "extra", "blocks[].pending_charges",
          reason="Blocks carry month-to-date pending_charges in govultr; the 2025 schema omits "
                 "it."),
    Quirk("/load-balancers", "extra", "load_balancers[].forwarding_rules",
          reason="The real key is forwarding_rules with backend_protocol (example and govultr); "
                 "the schema misspells them forward_rules and backend_portocol."),
    Quirk("/kubernetes/clusters", "extra", "meta",
          reason="The cluster list returns meta with links in Vultr's example; the schema omits "
                 "meta."),
    Quirk("/object-storage", "replace", "object_storages[].tier.price", schema={"type": "number"},
          reason="Tier prices are typed 'float', which is not a JSON Schema type; they are "
                 "numbers."),
    Quirk("/object-storage", "replace", "object_storages[].tier.bw_gb_price",
          schema={"type": "number"},
          reason="Tier prices are typed 'float', which is not a JSON Schema type; they are "
                 "numbers."),
    Quirk("/object-storage", "replace", "object_storages[].tier.disk_gb_price",
          schema={"type": "number"},
          reason="Tier prices are typed 'float', which is not a JSON Schema type; they are "
                 "numbers."),
    Quirk("/databases", "extra", "databases[].pending_charges",
          reason="Databases carry pending_charges since the 2026 spec."),
)  # fmt: skip


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return _openapi_to_json_schema(json.loads(SPEC_PATH.read_text()))


def _openapi_to_json_schema(node: Any) -> Any:
    """Turn OpenAPI 3.0 `nullable: true` into a JSON Schema type union, in place.

    The 2025 document has no `nullable` today; the conversion keeps the validators right if a
    newer copy adds it.
    """
    if isinstance(node, dict):
        if node.get("nullable") is True and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        for value in node.values():
            _openapi_to_json_schema(value)
    elif isinstance(node, list):
        for value in node:
            _openapi_to_json_schema(value)
    return node


def _pointer(path: str) -> str:
    escaped = path.replace("~", "~0").replace("/", "~1")
    return f"/paths/{escaped}/get/responses/200/content/application~1json/schema"


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _walk(document: dict[str, Any], root: dict[str, Any], location: str) -> tuple[dict, str]:
    """Return the schema object that declares the last property of `location`, and its name."""
    node = _resolve(document, root)
    segments = location.split(".")
    for segment in segments[:-1]:
        node = _step(document, node, segment)
    last = segments[-1]
    if last.endswith("[]"):
        holder = _resolve(document, node["properties"][last[:-2]])
        return holder, "items"
    return node, last


def _step(document: dict[str, Any], node: dict[str, Any], segment: str) -> dict[str, Any]:
    is_array = segment.endswith("[]")
    node = _resolve(document, node["properties"][segment.removesuffix("[]")])
    if is_array:
        node = _resolve(document, node["items"])
    return node


def _apply(document: dict[str, Any], root: dict[str, Any], quirk: Quirk) -> None:
    holder, name = _walk(document, root, quirk.location)
    if quirk.kind in ("replace", "reshape"):
        if name == "items":
            holder["items"] = copy.deepcopy(quirk.schema)
        else:
            holder["properties"][name] = copy.deepcopy(quirk.schema)
    elif quirk.kind == "rename":
        properties = holder["properties"]
        properties[name] = properties.pop(quirk.old)
        holder["required"] = [name if key == quirk.old else key for key in holder["required"]]


def patched_schema(
    spec: dict[str, Any], operation: str, skip: Quirk | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return a document of the spec's components and the operation, and its response schema.

    Args:
        spec: The OpenAPI document, already converted to JSON Schema types.
        operation: Spec path template, e.g. `/billing/invoices/{invoice-id}`.
        skip: A quirk to leave out, with the quirks that depend on it.
    """
    # Quirks patch shared components, so each validator gets its own copy of them.
    document = {
        "components": copy.deepcopy(spec["components"]),
        "paths": {operation: copy.deepcopy(spec["paths"][operation])},
    }
    root = _resolve(document, _resolve_pointer(document, _pointer(operation)))
    # Envelope keys are required, so a response under a wrong key fails.
    root["required"] = sorted(root.get("properties", {}))
    for quirk in QUIRKS:
        if quirk.operation == operation and not _depends_on(quirk, skip):
            _apply(document, root, quirk)
    return document, root


def build_validator(
    spec: dict[str, Any], operation: str, skip: Quirk | None = None
) -> jsonschema.Draft4Validator:
    """Build the validator of an operation's 200 response, with `$ref`s into the document."""
    document, _root = patched_schema(spec, operation, skip)
    registry = Registry().with_resource(SPEC_URI, Resource(document, DRAFT4))
    schema = {"$ref": f"{SPEC_URI}#{_pointer(operation)}"}
    return jsonschema.Draft4Validator(schema, registry=registry)


def _depends_on(quirk: Quirk, skip: Quirk | None) -> bool:
    """Return whether leaving out `skip` also leaves out `quirk`, e.g. fields of a renamed key."""
    if skip is None:
        return False
    if quirk is skip:
        return True
    return skip.kind == "rename" and quirk.location.startswith(skip.location)


def _resolve_pointer(document: dict[str, Any], pointer: str) -> dict[str, Any]:
    return _resolve(document, {"$ref": "#" + pointer})


def _request_path(operation: str, server: EmulatorServer) -> str:
    invoice_id = server.account.invoices[0]["id"]
    instance_id = server.account.instances[0]["id"]
    return operation.replace("{invoice-id}", str(invoice_id)).replace("{instance-id}", instance_id)


def _fetch(server: EmulatorServer, operation: str) -> Any:
    response = requests.get(
        server.url + _request_path(operation, server),
        headers={"Authorization": f"Bearer {EMULATOR_API_KEY}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _values_at(body: Any, location: str) -> list[Any]:
    values = [body]
    for segment in location.split("."):
        name = segment.removesuffix("[]")
        values = [value[name] for value in values if isinstance(value, dict) and name in value]
        if segment.endswith("[]"):
            values = [item for value in values for item in value]
    return values


@pytest.mark.parametrize("operation", OPERATIONS)
def test_response_matches_schema(
    spec: dict[str, Any], emulator: EmulatorServer, operation: str
) -> None:
    body = _fetch(emulator, operation)
    errors = sorted(build_validator(spec, operation).iter_errors(body), key=str)
    assert [f"{list(error.absolute_path)}: {error.message}" for error in errors[:5]] == []


def test_every_operation_is_served(spec: dict[str, Any]) -> None:
    for operation in OPERATIONS:
        assert "get" in spec["paths"][operation], operation


@pytest.mark.parametrize(
    "quirk", QUIRKS, ids=[f"{quirk.operation}:{quirk.location}" for quirk in QUIRKS]
)
def test_quirk_is_needed(spec: dict[str, Any], emulator: EmulatorServer, quirk: Quirk) -> None:
    body = _fetch(emulator, quirk.operation)
    document, root = patched_schema(spec, quirk.operation, skip=quirk)
    if quirk.kind == "rename":
        assert quirk.location in body
        assert quirk.old not in body
        return
    holder, name = _walk(document, root, quirk.location)

    if quirk.kind == "extra":
        assert _values_at(body, quirk.location), "the emulator does not return this field"
        assert name not in holder.get("properties", {}), "the schema declares this field"
    elif quirk.kind == "reshape":
        objects = _values_at(body, quirk.location)
        declared = set(_resolve(document, holder[name]).get("properties", {}))
        assert objects
        for item in objects:
            assert len(declared - set(item)) * 2 >= len(declared), item
    else:
        unpatched = build_validator(spec, quirk.operation, skip=quirk)
        with pytest.raises((jsonschema.ValidationError, jsonschema.exceptions.UnknownType)):
            unpatched.validate(body)


def test_quirk_reasons_are_given() -> None:
    for quirk in QUIRKS:
        assert quirk.kind in ("replace", "rename", "reshape", "extra")
        assert len(quirk.reason) > 20, quirk
