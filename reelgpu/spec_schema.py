"""The JSON Schema of an export's params, accepting every spelling the models accept.

Pydantic writes a schema for one spelling of the keys: snake_case (``by_alias=False``) or
camelCase (``by_alias=True``). The models accept both (``populate_by_name``), the editor sends
camelCase, and a schema of either spelling alone rejected the docs' own examples. So the schema
here lists both spellings of each property, requires one of them where the field is required,
and refuses both together (pydantic then reports the second as an unknown key). It also takes
the two inputs the models reshape before validating: ``trimRange`` as ``[start, end]`` and
the framing export's one-clip shorthand (clip fields at top level, no ``clips``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

__all__ = ["both_spellings", "with_shorthand", "with_trim_range_list"]


def both_spellings(snake: dict[str, Any], camel: dict[str, Any]) -> dict[str, Any]:
    """Merge the snake_case and camelCase schemas of one model (pydantic lists the same fields
    in the same order in both) into one that accepts either spelling of each key."""
    merged = copy.deepcopy(snake)
    for name, node in [(None, merged), *merged.get("$defs", {}).items()]:
        other = camel if name is None else camel["$defs"][name]
        _merge_object(node, other)
    return merged


def _merge_object(node: dict[str, Any], camel: dict[str, Any]) -> None:
    props = node.get("properties")
    if not props:
        return
    pairs = [(s, c) for s, c in zip(list(props), camel["properties"]) if s != c]
    required = node.get("required", [])
    conditions: list[dict[str, Any]] = []
    for snake_key, camel_key in pairs:
        props[camel_key] = copy.deepcopy(props[snake_key])
        if snake_key in required:
            required.remove(snake_key)
            conditions.append({"anyOf": [{"required": [snake_key]}, {"required": [camel_key]}]})
        conditions.append({"not": {"required": [snake_key, camel_key]}})
    if "required" in node and not required:
        del node["required"]
    if conditions:
        node["allOf"] = node.get("allOf", []) + conditions


def with_trim_range_list(schema: dict[str, Any]) -> None:
    """``trimRange`` may be ``[start, end]`` as well as ``{start, end}``."""
    segment = schema.get("$defs", {}).get("SegmentData")
    if not segment:
        return
    pair = {"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 2, "maxItems": 2}
    for key in ("trim_range", "trimRange"):
        segment["properties"][key]["anyOf"].insert(1, pair)


def with_shorthand(schema: dict[str, Any], clip_def: str, clip_keys: Iterable[str]) -> dict[str, Any]:
    """The framing schema, or the same job with one clip's ``clip_keys`` at top level instead
    of ``clips``."""
    clip = schema["$defs"][clip_def]
    keys = set(clip_keys)
    full = {k: v for k, v in schema.items() if k not in ("$defs", "title", "description")}
    short_props = {k: v for k, v in full["properties"].items() if k != "clips"}
    short_props.update({k: v for k, v in clip["properties"].items() if k in keys})
    shorthand = {"type": "object", "additionalProperties": False, "properties": short_props}
    conditions = [c for c in full.get("allOf", []) if _names_only(c, short_props)]
    conditions += [c for c in clip.get("allOf", []) if _names_only(c, keys)]
    if conditions:
        shorthand["allOf"] = conditions
    out = {k: schema[k] for k in ("$defs", "title", "description") if k in schema}
    out["type"] = "object"
    out["anyOf"] = [full, shorthand]
    return out


def _names_only(condition: dict[str, Any], names: Iterable[str]) -> bool:
    """Whether a both-spellings condition speaks of keys among ``names`` only."""
    allowed = set(names)
    inner = condition.get("not") or {}
    options = condition.get("anyOf") or [inner]
    return all(set(o.get("required", [])) <= allowed for o in options)
