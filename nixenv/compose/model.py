"""The compose application model after loading: the parts the mapping reads.

Short and long syntaxes are normalised here (compose-spec 05-services.md: `ports`, `volumes`,
`environment`, `depends_on`, `healthcheck`, `build`), so the mapping sees one form of each.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping


@dataclass(frozen=True)
class Port:
    target: int  # the container port
    published: str | None = None  # the host port (or range) as written; None: a random one
    host_ip: str | None = None
    protocol: str = "tcp"
    range_size: int = 1  # "8000-8002:8000-8002" -> 3


@dataclass(frozen=True)
class Volume:
    type: str  # bind | volume | tmpfs | npipe | cluster | image
    source: str | None  # a host path (bind), a volume name, or None (anonymous)
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class Healthcheck:
    test: str | None  # as a shell command line; None: disabled (NONE, disable: true)
    raw: Any = None


@dataclass(frozen=True)
class Build:
    context: Path  # absolute
    dockerfile: Path | None  # absolute; None when dockerfile_inline is used
    dockerfile_inline: str | None = None
    target: str | None = None


@dataclass(frozen=True)
class ComposeService:
    name: str
    file: Path  # the compose file it was defined in (the last one that touched it)
    image: str | None = None
    build: Build | None = None
    command: str | list[str] | None = None
    entrypoint: str | list[str] | None = None
    environment: Mapping[str, str | None] = field(default_factory=dict)  # env_file, then environment
    env_sources: Mapping[str, str] = field(default_factory=dict)  # variable -> "env_file PATH" | "environment"
    ports: tuple[Port, ...] = ()
    expose: tuple[int, ...] = ()
    depends_on: Mapping[str, str] = field(default_factory=dict)  # name -> condition
    healthcheck: Healthcheck | None = None
    volumes: tuple[Volume, ...] = ()
    profiles: tuple[str, ...] = ()
    restart: str | None = None
    stop_signal: str | None = None
    stop_grace_period: str | None = None
    working_dir: str | None = None
    hostnames: tuple[str, ...] = ()  # container_name, hostname, network aliases, links aliases
    raw: Mapping[str, Any] = field(default_factory=dict)  # the whole merged entry, for the report


@dataclass(frozen=True)
class Project:
    root: Path  # the project directory: the first file's directory
    files: tuple[Path, ...]
    services: Mapping[str, ComposeService]
    inactive: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # left out: name -> its profiles
    warnings: tuple[str, ...] = ()  # unset variables and the like


# --------------------------------------------------------------------------- short syntaxes

_PORT = re.compile(
    r"^(?:(?P<ip>\[[0-9a-fA-F:.]+\]|[0-9.]+|[A-Za-z0-9_.-]+):)??"
    r"(?:(?P<published>\d+(?:-\d+)?)?:)?(?P<target>\d+(?:-\d+)?)(?:/(?P<protocol>[a-z]+))?$")


def parse_ports(item: Any) -> list[Port]:
    """One `ports` entry, short ("[IP:][HOST:]CONTAINER[/PROTO]", ranges) or long syntax."""
    if isinstance(item, bool):
        raise ValueError(f"not a port: {item!r}")
    if isinstance(item, int):
        return [Port(item)]
    if isinstance(item, dict):
        target = item.get("target")
        if isinstance(target, str) and target.isdigit():
            target = int(target)
        if not isinstance(target, int):
            raise ValueError(f"a long-syntax port needs a numeric `target`, found {item!r}")
        published = item.get("published")
        return [Port(target, None if published in (None, "") else str(published), item.get("host_ip"),
                     str(item.get("protocol") or "tcp"))]
    match = _PORT.match(str(item).strip())
    if not match:
        raise ValueError(f"not a port mapping: {item!r}")
    target = match.group("target")
    start, _, stop = target.partition("-")
    size = int(stop) - int(start) + 1 if stop else 1
    ip = match.group("ip")
    return [Port(int(start), match.group("published"), ip.strip("[]") if ip else None,
                 match.group("protocol") or "tcp", size)]


def parse_volume(item: Any) -> Volume:
    """One service `volumes` entry, short ("SRC:DST[:MODE]", "DST") or long syntax."""
    if isinstance(item, dict):
        target = item.get("target")
        if not target:
            raise ValueError(f"a long-syntax volume needs a `target`, found {item!r}")
        kind = str(item.get("type") or ("bind" if _is_path(item.get("source")) else "volume"))
        return Volume(kind, item.get("source"), str(target), bool(item.get("read_only")))
    text = str(item)
    parts = text.split(":")
    if len(parts) >= 2 and len(parts[0]) == 1 and parts[0].isalpha():  # C:\path on Windows
        parts = [parts[0] + ":" + parts[1], *parts[2:]]
    if len(parts) == 1:
        return Volume("volume", None, parts[0])
    source, target, *mode = parts
    read_only = bool(mode) and "ro" in mode[0].split(",")
    return Volume("bind" if _is_path(source) else "volume", source, target, read_only)


def _is_path(source: Any) -> bool:
    return isinstance(source, str) and (source.startswith((".", "/", "~")) or "\\" in source or source == "")


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: Any) -> float:
    """A compose duration ("1m30s", "10s", "500ms", Go's time.ParseDuration units) in seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)  # compose-go also accepts a bare number of seconds
    value = str(text).strip()
    if not value or _DURATION.sub("", value):
        raise ValueError(f"not a duration: {text!r} (expected e.g. 1m30s, 10s, 500ms)")
    return sum(float(number) * _UNITS[unit] for number, unit in _DURATION.findall(value))


def healthcheck_command(test: Any) -> str | None:
    """healthcheck.test as a shell command: string form, CMD, CMD-SHELL; None for NONE."""
    if test is None:
        return None
    if isinstance(test, str):
        return test  # the string form is CMD-SHELL
    if not isinstance(test, list) or not test:
        raise ValueError(f"healthcheck.test must be a string or a list, found {test!r}")
    kind, *rest = [str(part) for part in test]
    if kind == "NONE":
        return None
    if kind == "CMD":
        return shlex.join(rest)
    if kind == "CMD-SHELL":
        return " ".join(rest)
    raise ValueError(f"healthcheck.test must start with CMD, CMD-SHELL or NONE, found {kind!r}")
