"""`nixenv secrets check`: the pre-commit guard.

Fails when the secrets file is not sops-encrypted (a value in clear, or no sops metadata),
or when a file tracked by git holds one of the secret values (in clear, or in the `\\n`
escaped form `sops -d` prints). Reports file and key names, never values. The value scan
needs a key that can decrypt; without one it is skipped with a note (e.g. in CI).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nixenv.config.load import Config
from nixenv.secrets import dotenv as secrets_dotenv
from nixenv.secrets import sops as secrets_sops
from nixenv.support import proc
from nixenv.support.git import git_toplevel

# Shorter values ("1", "dev", "true") would match everywhere; they are not scanned for.
MIN_SCAN_LENGTH = 4


@dataclass
class CheckResult:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    scanned: int = 0  # tracked files read

    @property
    def ok(self) -> bool:
        return not self.problems


def check(cfg: Config) -> CheckResult:
    result = CheckResult()
    if cfg.secrets is None:
        result.notes.append("no [secrets] in nixenv.toml: nothing to check")
        return result
    root, file = cfg.root, cfg.secrets.file
    target = root / file
    if not target.exists():
        result.notes.append(f"{file} does not exist: nothing to check")
        return result
    try:
        info = secrets_dotenv.read_encrypted(target.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        result.problems.append(f"{file} is not a sops-encrypted dotenv file (not UTF-8 text)")
        return result
    if info.damage:
        result.problems.append(f"{file} is damaged: {info.damage}; restore it from git (`git checkout -- {file}`)")
        return result
    if not info.has_metadata:
        result.problems.append(f"{file} is not encrypted (no sops metadata): encrypt it with "
                               f"`nixenv secrets import {file}` after moving it aside")
    if info.clear:
        result.problems.append(f"{file} holds values in clear: {', '.join(info.clear)} "
                               "(re-set them with `nixenv secrets set`)")
    if not info.has_metadata:
        return result
    try:
        values = secrets_sops.decrypt(root=root, file=file)
    except secrets_sops.SecretsUnavailable:
        result.notes.append(f"none of your keys can decrypt {file}: skipped the scan of tracked files for its values")
        return result
    except secrets_sops.SopsError as exc:  # tampered with (MAC mismatch), ...
        result.problems.append(str(exc))
        return result
    top = git_toplevel(root)
    if top is None:
        result.notes.append("not a git repository: no tracked files to scan")
        return result
    needles = _needles(values)
    for path in _tracked(top):
        if path.resolve() == target.resolve() or not path.is_file() or path.is_symlink():
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        result.scanned += 1
        for key, patterns in needles.items():
            if any(p in data for p in patterns):
                shown = path.relative_to(top) if path.is_relative_to(top) else path
                result.problems.append(f"{shown} holds the value of secret {key}: remove it from that file "
                                       "(and from git history if it was committed), then rotate the secret")
    return result


def _needles(values: dict[str, str]) -> dict[str, tuple[bytes, ...]]:
    out = {}
    for key, value in values.items():
        if len(value) < MIN_SCAN_LENGTH:
            continue
        forms = {value.encode("utf-8"), value.replace("\n", "\\n").encode("utf-8")}
        out[key] = tuple(forms)
    return out


def _tracked(top: Path) -> list[Path]:
    listing = proc.run(["git", "ls-files", "-z"], cwd=top).stdout
    return [top / name for name in listing.split("\0") if name]
