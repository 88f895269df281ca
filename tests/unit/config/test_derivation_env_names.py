"""[env] names nixpkgs' mkDerivation refuses in mkShell's `env` are refused when the config is
loaded, with the reason, not when nix evaluates the flake (issue 8, item 7)."""

from __future__ import annotations

import pytest

from nixenv.config.load import DERIVATION_ATTRS, load
from nixenv.support.errors import ConfigError


def write(tmp_path, env_lines: str):
    (tmp_path / "nixenv.toml").write_text(f'[project]\nname = "p"\n\n[env]\n{env_lines}\n')
    return tmp_path / "nixenv.toml"


# each one is an attribute makeDerivationArgument or mkDerivationSimple always passes to
# `derivation` (pkgs/stdenv/generic/make-derivation.nix), so `checkedEnv` throws on it
@pytest.mark.parametrize("name", ["patches", "doCheck", "configureFlags", "cmakeFlags", "mesonFlags",
                                  "strictDeps", "doInstallCheck", "depsBuildBuild", "userHook"])
def test_a_derivation_attribute_is_refused_with_the_reason(tmp_path, name):
    assert name in DERIVATION_ATTRS
    with pytest.raises(ConfigError) as raised:
        write(tmp_path, f'{name} = "x"')
        load(tmp_path)
    text = str(raised.value)
    assert f"nixenv.toml:5: env.{name}:" in text, text
    assert "checkedEnv" in text and "make-derivation.nix" in text and "rename the variable" in text


@pytest.mark.parametrize("name", ["NIXENV_PYTHON_FALLBACK", "NIXENV_PYTHON_PRELOAD", "NIXENV_USER_PYTHONHASHSEED"])
def test_nixenvs_own_python_variables_are_reserved(tmp_path, name):
    with pytest.raises(ConfigError, match=f"`{name}` is managed by the shell, nix or nixenv"):
        write(tmp_path, f'{name} = "x"')
        load(tmp_path)


def test_similar_names_that_nix_accepts_still_pass(tmp_path):
    write(tmp_path, 'PATCHES = "x"\ndoCheckLater = "1"\nCMAKE_FLAGS = "-G Ninja"')
    cfg = load(tmp_path)
    assert cfg.env == {"PATCHES": "x", "doCheckLater": "1", "CMAKE_FLAGS": "-G Ninja"}
