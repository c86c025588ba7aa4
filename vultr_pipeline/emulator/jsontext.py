"""JSON text writer that keeps Decimal money exact.

The standard `json` module cannot write a Decimal as a number, and a float detour would turn
`22.09` into `22.090000000000003`. This writer emits Decimal values with exactly their digits,
trailing fractional zeros removed, so `Decimal("10.00")` becomes `10` as in Vultr's examples.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

_encode_string = json.encoder.encode_basestring


def decimal_text(value: Decimal) -> str:
    """Return a Decimal as plain JSON number text, without exponent or trailing zeros."""
    text = format(value.normalize() + 0, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def dumps(value: Any) -> str:
    """Serialize dicts, lists, strings, numbers, booleans and None to compact JSON text.

    Raises:
        TypeError: If a value of another type, or a float, is found.
    """
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: Any, parts: list[str]) -> None:
    if isinstance(value, str):
        parts.append(_encode_string(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        parts.append(str(value))
    elif isinstance(value, Decimal):
        parts.append(decimal_text(value))
    elif isinstance(value, dict):
        _write_object(value, parts)
    elif isinstance(value, list | tuple):
        _write_array(value, parts)
    else:
        raise TypeError(f"cannot write {type(value).__name__} as emulator JSON: {value!r}")


def _write_object(value: dict[str, Any], parts: list[str]) -> None:
    parts.append("{")
    for position, (key, item) in enumerate(value.items()):
        if position:
            parts.append(",")
        parts.append(_encode_string(key))
        parts.append(":")
        _write(item, parts)
    parts.append("}")


def _write_array(value: list[Any] | tuple[Any, ...], parts: list[str]) -> None:
    parts.append("[")
    for position, item in enumerate(value):
        if position:
            parts.append(",")
        _write(item, parts)
    parts.append("]")
