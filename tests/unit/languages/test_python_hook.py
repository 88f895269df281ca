"""What the flake and the .envrc do about nixpkgs' Python setup hook (issue 8, items 4 and 5); the
behaviour itself is shown end to end in tests/e2e/test_python_isolation.py."""

from __future__ import annotations

from nixenv.config.load import load
from nixenv.direnv.envrc import envrc_files
from nixenv.nix.flake import flake_files, shell_env


def project(tmp_path, body: str):
    (tmp_path / "nixenv.toml").write_text('[project]\nname = "p"\n' + body)
    return load(tmp_path)


def test_user_values_of_the_hook_variables_are_carried_past_the_hook(tmp_path):
    cfg = project(tmp_path, '[python]\nversion = "3.12"\n[env]\nPYTHONHASHSEED = "42"\nSOURCE_DATE_EPOCH = "1700000000"\n')
    env = shell_env(cfg)
    assert env["NIXENV_USER_PYTHONHASHSEED"] == "42" and env["NIXENV_USER_SOURCE_DATE_EPOCH"] == "1700000000"
    assert "NIXENV_USER_DETERMINISTIC_BUILD" not in env
    without_python = shell_env(project(tmp_path, '[env]\nPYTHONHASHSEED = "42"\n'))
    assert not any(k.startswith("NIXENV_USER_") for k in without_python)


def test_flake_names_the_fallback_and_the_preloaded_libraries_only_with_python(tmp_path):
    text = flake_files(project(tmp_path, '[packages]\ninclude = ["python312Packages.numpy"]\n[python]\nversion = "3.12"\n'))[0].text()
    assert "NIXENV_PYTHON_FALLBACK" in text and "requiredPythonModules" in text
    assert '"${pkgs.stdenv.cc.cc.lib}/lib/libstdc++.so.6"' in text and '"${lib.getLib pkgs.zlib}/lib/libz.so.1"' in text
    assert "pkgs.stdenv.hostPlatform.isLinux" in text
    plain = flake_files(project(tmp_path, '[packages]\ninclude = ["python312Packages.numpy"]\n'))[0].text()
    assert "NIXENV_PYTHON" not in plain


def test_envrc_isolates_before_anything_else_and_never_exports_ld_library_path(tmp_path):
    text = "".join(f.text() for f in envrc_files(project(tmp_path, '[python]\nversion = "3.12"\n')))
    body = text[text.index("_nixenv_python() {"):]
    assert body.index("_nixenv_python_isolate") < body.index("_nixenv_which python3")
    assert "for name in PYTHONHASHSEED DETERMINISTIC_BUILD PYTHONNOUSERSITE SOURCE_DATE_EPOCH; do" in text
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if "LD_LIBRARY_PATH" in line]
    assert "unset SOURCE_DATE_EPOCH NIXENV_PYTHON_FALLBACK" in text  # installs see only the venv
