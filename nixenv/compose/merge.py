"""Merging compose files (`-f a -f b`) and `extends`, per compose-spec 13-merge.md.

Mappings merge key by key, sequences append, scalars are replaced. Exceptions, from the spec
and from compose-go's override/merge.go (what `docker compose` runs): `command`, `entrypoint`
and `healthcheck.test` are replaced; `environment`, `labels`, `build.args`, `extra_hosts`,
`sysctls` merge as maps whatever syntax each file uses (list `K=V` or mapping); `depends_on`
merges as a map; `ports` and `volumes` are unique resources: `volumes` by target, `ports` by
{ip, target, published, protocol}; `!reset` clears and `!override` replaces.
"""

from __future__ import annotations

import copy
from typing import Any

from nixenv.compose.model import parse_ports, parse_volume
from nixenv.compose.yamlio import Override, Reset

_REPLACED = frozenset({"command", "entrypoint"})
_AS_MAP = frozenset({"environment", "labels", "extra_hosts", "sysctls", "annotations"})


def merge_files(base: dict, override: dict) -> dict:
    """The model of `-f base -f override` (both already interpolated)."""
    return _merge(copy.deepcopy(base), override, ())


def merge_service(base: dict, override: dict) -> dict:
    """`override` extending `base` (extends, or the same service in two files)."""
    return _merge(copy.deepcopy(base), override, ("services", "*"))


def strip_tags(node: Any) -> Any:
    """The model with `!reset` entries removed and `!override` unwrapped (after merging)."""
    if isinstance(node, Override):
        return strip_tags(node.value)
    if isinstance(node, dict):
        return {k: strip_tags(v) for k, v in node.items() if not isinstance(v, Reset)}
    if isinstance(node, list):
        return [strip_tags(v) for v in node if not isinstance(v, Reset)]
    return node


def list_to_map(value: Any, *, separator: str = "=") -> dict:
    """`["A=1", "B"]` -> {"A": "1", "B": None}; a mapping is returned as is."""
    if isinstance(value, dict):
        return dict(value)
    out: dict[str, Any] = {}
    for item in value or []:
        key, sep, val = str(item).partition(separator)
        out[key] = val if sep else None
    return out


def depends_on_map(value: Any) -> dict:
    """depends_on as {name: {condition: ...}} (the short list form means service_started)."""
    if isinstance(value, dict):
        return {name: dict(spec) if isinstance(spec, dict) else {"condition": "service_started"}
                for name, spec in value.items()}
    return {str(name): {"condition": "service_started"} for name in value or []}


def _service_path(path: tuple) -> tuple:
    return ("services", "*") + path[2:] if len(path) >= 2 and path[0] == "services" else path


def _merge(base: Any, override: Any, path: tuple) -> Any:
    if isinstance(override, Reset):
        return Reset()
    if isinstance(override, Override):
        return override.value
    generic = _service_path(path)
    if len(generic) == 3 and generic[:2] == ("services", "*"):
        key = generic[2]
        if key in _REPLACED:
            return override
        if key in _AS_MAP:
            return _merge_maps(list_to_map(base), list_to_map(override))
        if key == "depends_on":
            return _merge_maps(depends_on_map(base), depends_on_map(override), deep=True)
        if key == "build" and (isinstance(base, str) or isinstance(override, str)):
            as_map = lambda b: {"context": b} if isinstance(b, str) else b  # noqa: E731
            return _merge(as_map(base), as_map(override), path)
        if key == "ports" and isinstance(base, list) and isinstance(override, list):
            return _unique(base, override, _port_key)
        if key == "volumes" and isinstance(base, list) and isinstance(override, list):
            return _unique(base, override, _volume_key)
    if generic[:2] == ("services", "*") and generic[2:] == ("healthcheck", "test"):
        return override
    if generic[:2] == ("services", "*") and generic[2:] == ("build", "args"):
        return _merge_maps(list_to_map(base), list_to_map(override))
    if isinstance(base, dict) and isinstance(override, dict):
        for key, value in override.items():
            base[key] = _merge(base[key], value, path + (key,)) if key in base else (
                value.value if isinstance(value, Override) else value)
        return base
    if isinstance(base, list) and isinstance(override, list):
        return base + override
    return override


def _merge_maps(base: dict, override: dict, *, deep: bool = False) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Reset):
            out.pop(key, None)
        elif deep and isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value.value if isinstance(value, Override) else value
    return out


def _unique(base: list, override: list, key) -> list:
    out = list(base)
    for item in override:
        index = next((i for i, old in enumerate(out) if key(old) == key(item)), None)
        if index is None:
            out.append(item)
        else:
            out[index] = item
    return out


def _port_key(item: Any) -> tuple:
    try:
        port = parse_ports(item)[0]
    except (ValueError, IndexError):
        return ("raw", str(item))
    return (port.host_ip, port.target, port.published, port.protocol)


def _volume_key(item: Any) -> str:
    try:
        return parse_volume(item).target
    except ValueError:
        return str(item)
