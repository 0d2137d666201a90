"""A node's attributes, each read as the type cnnctl needs or refused (Unread) at the node."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...errors import shown
from .told import Unread

if TYPE_CHECKING:
    from onnx import NodeProto


# An attribute that is not what the operator's ONNX definition says: the file is broken, not the network
NOT_AS_DEFINED = (
    "the file does not follow the operator's ONNX definition: export it again (onnx.checker.check_model says where)"
)


def attributes_of(node: NodeProto) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def attr_int(a: dict, key: str, default: int | None) -> int:
    value = a.get(key, default)
    if value is None:
        raise Unread(f"needs its attribute `{key}`", NOT_AS_DEFINED)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unread(f"attribute `{key}` is {shown(value, 30)}: not a whole number", NOT_AS_DEFINED)
    return value


def attr_ints(a: dict, key: str, default: list | None, count: int | None = None) -> list[int]:
    value = a.get(key, default)
    if value is None:
        raise Unread(f"needs its attribute `{key}`", NOT_AS_DEFINED)
    if not isinstance(value, list) or not all(isinstance(v, int) for v in value) or count not in (None, len(value)):
        raise Unread(
            f"attribute `{key}` is {shown(value, 30)}: cnnctl reads {count or 'some'} whole numbers", NOT_AS_DEFINED
        )
    return value


def attr_float(a: dict, key: str, default: float) -> float:
    value = a.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Unread(f"attribute `{key}` is {shown(value, 30)}: not a finite number", NOT_AS_DEFINED)
    return float(value)


def attr_text(a: dict, key: str, default: str) -> str:
    value = a.get(key, default)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise Unread(f"attribute `{key}` is {shown(value, 30)}: not a text", NOT_AS_DEFINED)
    return value


def one_number(value: object, what: str) -> float:
    """One number: an attribute's, or a constant's of one value."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if getattr(value, "size", 0) != 1:
        raise Unread(f"{what} is not one number", "cnnctl reads this operator's bounds as one number each")
    return float(value.reshape(-1)[0])


def pair_text(values: Sequence[int]) -> str:
    a, b = int(values[0]), int(values[1])
    return str(a) if a == b else f"{a}x{b}"
