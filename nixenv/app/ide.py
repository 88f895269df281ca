"""`nixenv ide`: point VS Code at the project's venv interpreter (keeping every other setting)
and print the path for PyCharm."""

from __future__ import annotations

from nixenv.config.load import Config
from nixenv.languages.base import VENV_DIR
from nixenv.support.errors import NixenvError
from nixenv.support.files import write_atomic
from nixenv.support.jsonc import new_settings_text, set_jsonc_member

VSCODE_SETTINGS = ".vscode/settings.json"
VSCODE_KEY = "python.defaultInterpreterPath"
VSCODE_VALUE = "${workspaceFolder}/" + VENV_DIR + "/bin/python"


def write_ide(cfg: Config) -> list[str]:
    """Point VS Code at .venv/bin/python (keeping every other setting) and return lines to print."""
    if cfg.python is None:
        raise NixenvError(f"{cfg.path}: there is no [python] table, so there is no interpreter to point "
                          'an IDE at. Add [python] with version = "3.12" and run `nixenv generate`.')
    settings = cfg.root / VSCODE_SETTINGS
    if settings.is_symlink():  # e.g. shared from a dotfiles repository: edit the file it points to
        settings = settings.resolve()
    try:
        raw = settings.read_bytes()
    except FileNotFoundError:
        raw = None
    except OSError as exc:
        raise NixenvError(f"{settings}: cannot read it: {exc.strerror}") from None
    if raw is None:
        new_text, status = new_settings_text(VSCODE_KEY, VSCODE_VALUE), "created"
        mode = 0o644
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise NixenvError(f"{settings}: not UTF-8 text; nixenv left it untouched. Set "
                              f'"{VSCODE_KEY}": "{VSCODE_VALUE}" in it by hand.') from None
        new_text = set_jsonc_member(text, VSCODE_KEY, VSCODE_VALUE, where=str(settings))
        status = "unchanged" if new_text == text else "updated"
        mode = settings.stat().st_mode & 0o7777
    if status != "unchanged":
        write_atomic(settings, new_text, mode)
    interpreter = cfg.root / VENV_DIR / "bin" / "python"
    lines = [
        f"VS Code: {VSCODE_SETTINGS} {status}: \"{VSCODE_KEY}\": \"{VSCODE_VALUE}\"",
        f"PyCharm: Settings > Project > Python Interpreter > Add Interpreter > Existing: {interpreter}",
        f"Interpreter: {interpreter}",
    ]
    if not interpreter.exists():
        lines.append(f"note: {VENV_DIR} does not exist yet; direnv creates it when you enter the "
                     "directory (run `direnv allow` once).")
    return lines


