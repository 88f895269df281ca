"""Node: nodejs from nixpkgs (with corepack for yarn and pnpm), `node_modules/.bin` on PATH and
installs when the lock changes (templates/envrc/node.j2)."""

from __future__ import annotations

from dataclasses import dataclass

from nixenv.config.load import Config
from nixenv.languages.base import PkgRef

NODE_MANAGER_LOCKS = {
    "npm": ("package-lock.json", "npm-shrinkwrap.json"),
    "yarn": ("yarn.lock",),
    "pnpm": ("pnpm-lock.yaml",),
}
# yarn and pnpm come from corepack, which follows package.json's `packageManager`. nixpkgs' nodejs
# bundles it below Node 25 only (`bundlesCorepack = !lib.versionAtLeast version "25.0.0"` in
# pkgs/development/web/nodejs/nodejs.nix, as Node itself stopped shipping it); from 25 on it is the
# standalone `corepack` package (pkgs/by-name/co/corepack/package.nix). The `corepack_XX`
# attributes are no help: they hold only the yarn/pnpm shims made by the bundled corepack
# (pkgs/development/web/nodejs/corepack.nix), and there is none for 25 and later.
COREPACK_MANAGERS = ("yarn", "pnpm")
NODE_BUNDLES_COREPACK_BELOW = 25


def packages(cfg: Config) -> list[PkgRef]:
    """Node (with npm, and corepack below Node 25), and corepack on its own from 25 on."""
    if cfg.node is None:
        return []
    refs = [PkgRef(cfg.node.attr, "node.version")]
    if cfg.node.manager in COREPACK_MANAGERS and int(cfg.node.version) >= NODE_BUNDLES_COREPACK_BELOW:
        refs.append(PkgRef("corepack", "node.manager"))
    return refs


def inputs(cfg: Config) -> tuple[str, ...]:
    if cfg.node is None:
        return ()
    return ("package.json", *NODE_MANAGER_LOCKS[cfg.node.manager])


@dataclass(frozen=True)
class NodeEnvrc:
    version: str
    attr: str
    manager: str
    inputs: tuple[str, ...]
    corepack: bool


def envrc(cfg: Config) -> NodeEnvrc | None:
    if cfg.node is None:
        return None
    return NodeEnvrc(version=cfg.node.version, attr=cfg.node.attr, manager=cfg.node.manager, inputs=inputs(cfg),
                     corepack=cfg.node.manager in COREPACK_MANAGERS)
