"""git, as nixenv needs it: a flake in a git repository sees only tracked files, so new
generated files are marked with `git add --intent-to-add`."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from nixenv.support import proc


def git_toplevel(root: Path) -> Path | None:
    """The git work tree holding `root`, or None (no git, or not a repository)."""
    if not proc.have("git"):
        return None
    result = proc.run(["git", "rev-parse", "--show-toplevel"], cwd=root, check=False)
    return Path(result.stdout.strip()) if result.returncode == 0 else None


def untracked(root: Path, paths: Sequence[str]) -> list[str]:
    """Those of `paths` (relative to root) that git does not track yet."""
    if not paths:
        return []
    result = proc.run(["git", "ls-files", "--", *paths], cwd=root, check=False)
    tracked = set(result.stdout.splitlines())
    return [p for p in paths if p not in tracked]


def intent_to_add(root: Path, paths: Sequence[str]) -> tuple[list[str], str | None]:
    """`git add --intent-to-add` new files so that flakes see them.

    Returns (paths added, a warning or None)."""
    if not paths:
        return [], None
    if git_toplevel(root) is None:
        return [], None
    existing = [p for p in paths if (root / p).exists()]
    ignored = proc.run(["git", "check-ignore", "--", *existing], cwd=root, check=False).stdout.split()
    wanted = [p for p in untracked(root, existing) if p not in ignored]
    warning = None
    if ignored:
        warning = (f"git ignores {', '.join(ignored)}: a flake in a git repository cannot see ignored files; "
                   "remove them from .gitignore")
    if wanted:
        result = proc.run(["git", "add", "--intent-to-add", "--", *wanted], cwd=root, check=False)
        if result.returncode != 0:
            return [], f"could not `git add --intent-to-add {' '.join(wanted)}`: {result.stderr.strip()}"
    return wanted, warning
