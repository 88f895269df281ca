"""YAML as compose reads it: YAML 1.2 scalars, anchors and merge keys, `!reset`/`!override`.

Compose parses with go-yaml v3, i.e. the YAML 1.2 core schema: `yes`, `no`, `on`, `off` are
strings and `8000:80` is a string, not the YAML 1.1 sexagesimal 480080 PyYAML's SafeLoader
would give. Merge keys (`<<: *x`) are kept (go-yaml supports them; compose-spec 10-fragments.md).
Duplicate keys are an error, as in go-yaml v3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nixenv.support.errors import NixenvError


@dataclass(frozen=True)
class Reset:
    """`!reset` (compose-spec 13-merge.md "Reset value"): clears what earlier files set."""


@dataclass(frozen=True)
class Override:
    """`!override` (13-merge.md "Replace value"): replaces, bypassing the merge rules."""
    value: Any


class _Loader(yaml.SafeLoader):
    pass


# YAML 1.2 core schema resolvers instead of SafeLoader's YAML 1.1 ones
_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers
          if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                         "tag:yaml.org,2002:timestamp")]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
                              list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+.0123456789"))


def _int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text, 0) if text.startswith("0x") else int(text)


def _float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = loader.construct_scalar(node).lower()
    return {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf"), ".nan": float("nan")}.get(
        text, None) or float(text)


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # keys merged in with `<<` may be overridden; only written keys must be unique
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"mapping key {key!r} already defined at line {seen[key] + 1}", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    loader.flatten_mapping(node)
    return loader.construct_mapping(node, deep=True)


def _reset(loader: yaml.SafeLoader, node: yaml.Node) -> Reset:
    return Reset()


def _override(loader: yaml.SafeLoader, node: yaml.Node) -> Override:
    if isinstance(node, yaml.MappingNode):
        return Override(_mapping(loader, node))
    if isinstance(node, yaml.SequenceNode):
        return Override(loader.construct_sequence(node, deep=True))
    return Override(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:int", _int)
_Loader.add_constructor("tag:yaml.org,2002:float", _float)
_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)
_Loader.add_constructor("!reset", _reset)
_Loader.add_constructor("!override", _override)


def parse_yaml(text: str, *, file: Path | str) -> Any:
    """One YAML document; a syntax error is a NixenvError naming the file and line."""
    try:
        documents = list(yaml.load_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else str(file)
        raise NixenvError(f"{where}: not valid YAML: {exc.problem or exc.context}; fix the file "
                          f"(`docker compose -f {file} config` shows the same error)") from None
    except yaml.YAMLError as exc:
        raise NixenvError(f"{file}: not valid YAML: {exc}") from None
    if len(documents) > 1:
        raise NixenvError(f"{file}: holds {len(documents)} YAML documents; a compose file is one (remove the `---`)")
    return documents[0] if documents else None
