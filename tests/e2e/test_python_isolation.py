"""The venv wins over what nixpkgs' Python setup hook puts in the shell (issue 8, items 4 and 5).

The stand-in models the hook as nixpkgs has it (tests/standin/flake.nix, after
pkgs/development/interpreters/python/setup-hook.sh and pkgs/stdenv/generic/setup.sh): every
input's lib/pythonX.Y/site-packages on PYTHONPATH (propagated inputs included), PYTHONHASHSEED=0,
DETERMINISTIC_BUILD=1, PYTHONNOUSERSITE=1, SOURCE_DATE_EPOCH=315532800. Real nix, direnv, pip."""

from __future__ import annotations

import textwrap
import zipfile
from pathlib import Path

import pytest

from testkit import direnv_exec, nixenv, require, run, write_project

pytestmark = pytest.mark.e2e

INSTALLING = "installing (its inputs changed"


def show(result) -> str:
    return f"\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def sdist(dest: Path, name: str, version: str, module: str) -> Path:
    """A source tree of a setuptools project (pip builds it here: no index, no network)."""
    src = dest / f"{name}-{version}"
    src.mkdir(parents=True)
    (src / f"{name}.py").write_text(module)
    (src / "setup.py").write_text(f"from setuptools import setup\nsetup(name={name!r}, version={version!r}, py_modules=[{name!r}])\n")
    return src


def wheel(dest: Path, name: str, version: str, module: str) -> Path:
    """A one-module wheel, written directly (setuptools here cannot build wheels without `wheel`)."""
    dest.mkdir(parents=True, exist_ok=True)
    info = f"{name}-{version}.dist-info"
    path = dest / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}.py", module)
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    return path


def python_project(tmp_path: Path, env: dict, include: list[str]) -> Path:
    require("nix", "direnv", "git", "cc")
    listed = ", ".join(f'"{attr}"' for attr in include)
    root = write_project(tmp_path / "iso", f"""
        [project]
        name = "iso"
        [packages]
        include = [{listed}]
        [python]
        version = "3.12"
        manager = "pip"
    """, env=env).resolve()
    return root


def allow(root: Path, env: dict) -> None:
    nixenv("generate", cwd=root, env=env)
    run(["direnv", "allow", root], cwd=root, env=env)


def test_the_locked_version_wins_over_a_packages_python_module(tmp_path, env):
    """[packages] python312Packages.six (1.16.0 in the stand-in) and requirements pinning a local
    six 1.15.0: the venv's six imports, and the store's stays reachable below it."""
    root = python_project(tmp_path, env, ["python312Packages.six"])
    sdist(root / "vendor", "six", "1.15.0", '__version__ = "1.15.0"\nFROM = "venv"\n')
    (root / "requirements.txt").write_text("./vendor/six-1.15.0\n")
    allow(root, env)

    result = direnv_exec(root, "python", "-c", "import six; print(six.__version__)", env=env)
    assert result.stdout.strip() == "1.15.0", show(result)
    # pip installed it into .venv ("Requirement already satisfied" from the store copy would not)
    assert list((root / ".venv").glob("lib/python*/site-packages/six-1.15.0.dist-info")), show(result)

    seen = direnv_exec(root, "python", "-c", textwrap.dedent("""
        import os, sys, six
        print(six.__file__)
        print(os.environ.get("PYTHONHASHSEED", "<unset>"))
        print(os.environ.get("SOURCE_DATE_EPOCH", "<unset>"))
        print(os.environ.get("DETERMINISTIC_BUILD", "<unset>"))
        print(os.environ.get("PYTHONNOUSERSITE", "<unset>"))
        print(any("/nix/store/" in p and "site-packages" in p for p in os.environ.get("PYTHONPATH", "").split(":")))
        print(hash("nixenv") == int(sys.argv[1]))
    """), str(_hash_with_seed_zero()), env=env)
    module, seed, epoch, deterministic, nousersite, store_on_pythonpath, seed_zero = seen.stdout.split()
    assert module.startswith(str(root / ".venv")), show(seen)
    assert seed == "<unset>" and seed_zero == "False", show(seen)  # hash randomisation is on
    assert (epoch, deterministic, nousersite) == ("<unset>",) * 3, show(seen)
    assert store_on_pythonpath == "False", show(seen)

    # Explicitly listed, so still importable: below the venv's own site-packages.
    order = direnv_exec(root, "python", "-c", textwrap.dedent("""
        import sys
        venv = next(i for i, p in enumerate(sys.path) if p.endswith("site-packages") and ".venv" in p)
        store = next(i for i, p in enumerate(sys.path) if "python3-six-1.16.0" in p)
        print(venv < store)
    """), env=env)
    assert order.stdout.strip() == "True", show(order)

    # Not in the venv: the store copy is what imports (the fallback below it).
    run([root / ".venv/bin/python", "-m", "pip", "uninstall", "-y", "six"], cwd=root, env=env)
    fallback = direnv_exec(root, "python", "-c", "import six; print(six.__version__, six.FROM)", env=env)
    assert fallback.stdout.split() == ["1.16.0", "nixpkgs"], show(fallback)
    # Installs on entry see only the venv: an unpinned `six` is installed into .venv, not
    # "already satisfied" by the store copy.
    (root / "requirements.txt").write_text("six\n")
    wheels = root / "wheels"
    wheel(wheels, "six", "1.15.0", '__version__ = "1.15.0"\nFROM = "venv"\n')
    env = {**env, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}
    reinstalled = direnv_exec(root, "python", "-c", "import six; print(six.__version__, six.FROM)", env=env)
    assert reinstalled.stdout.split() == ["1.15.0", "venv"] and INSTALLING in reinstalled.stderr, show(reinstalled)


def _hash_with_seed_zero() -> int:
    import subprocess
    import sys
    return int(subprocess.run([sys.executable, "-c", "print(hash('nixenv'))"], env={"PYTHONHASHSEED": "0"},
                              capture_output=True, text=True, check=True).stdout)


def test_a_python_application_from_nixpkgs_leaks_nothing(tmp_path, env):
    """pre-commit (an application) propagates nodeenv; the venv must not see it, and pip installs
    a requirement named like it into .venv."""
    root = python_project(tmp_path, env, ["pre-commit"])
    sdist(root / "vendor", "nodeenv", "1.0.0", '__version__ = "1.0.0"\n')
    (root / "requirements.txt").write_text("./vendor/nodeenv-1.0.0\n")
    allow(root, env)
    tool = direnv_exec(root, "pre-commit", env=env)
    assert tool.stdout.strip() == "pre-commit", show(tool)  # the application itself is on PATH
    result = direnv_exec(root, "python", "-c", "import nodeenv, sys; print(nodeenv.__version__); print(sys.path)", env=env)
    version, path = result.stdout.splitlines()
    assert version == "1.0.0", show(result)
    assert "python3-nodeenv-1.9.1" not in path, show(result)
    run([root / ".venv/bin/python", "-m", "pip", "uninstall", "-y", "nodeenv"], cwd=root, env=env)
    gone = direnv_exec(root, "python", "-c", "import nodeenv", env=env, check=False)
    assert gone.returncode != 0 and "No module named 'nodeenv'" in gone.stderr, show(gone)


BACKEND = '''
"""A build backend that stamps archive members with SOURCE_DATE_EPOCH, in local time, as some
real ones do: at 315532800 west of Greenwich that is 1979, which zip cannot store."""
import os, time, zipfile

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = "stamped-1.0-py3-none-any.whl"
    stamp = int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as whl:
        for member, text in [("stamped.py", "X = 1\\n"),
                             ("stamped-1.0.dist-info/METADATA", "Metadata-Version: 2.1\\nName: stamped\\nVersion: 1.0\\n"),
                             ("stamped-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"),
                             ("stamped-1.0.dist-info/RECORD", "")]:
            whl.writestr(zipfile.ZipInfo(member, time.localtime(stamp)[:6]), text)
    return name
'''


def test_wheels_build_in_the_shell_and_pip_installs_into_the_venv(tmp_path, env):
    root = python_project(tmp_path, env, [])
    pkg = root / "stamped"
    (pkg / "backend").mkdir(parents=True)
    (pkg / "backend" / "stampbackend.py").write_text(BACKEND)
    (pkg / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = []
        build-backend = "stampbackend"
        backend-path = ["backend"]
    """))
    allow(root, env)
    built = direnv_exec(root, "env", "TZ=EST5", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "-w", "dist", "./stamped", env=env, check=False)
    assert built.returncode == 0 and (root / "dist" / "stamped-1.0-py3-none-any.whl").exists(), show(built)
    installed = direnv_exec(root, "pip", "install", "--no-index", "dist/stamped-1.0-py3-none-any.whl", env=env)
    assert list((root / ".venv").glob("lib/python*/site-packages/stamped.py")), show(installed)


CXXPROBE_C = r"""
#include <Python.h>
const char *nixenv_standin_cxx(void);
static PyObject *probe(PyObject *self, PyObject *args) { return PyUnicode_FromString(nixenv_standin_cxx()); }
static PyMethodDef methods[] = {{"probe", probe, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "cxxprobe", NULL, -1, methods};
PyMODINIT_FUNC PyInit_cxxprobe(void) { return PyModule_Create(&module); }
"""


def test_wheels_find_the_cxx_runtime_without_ld_library_path(tmp_path, env):
    """A module linked against libstdc++.so.6 (the stand-in's stdenv.cc.cc.lib holds one the host
    loader never finds) imports in the venv, in and out of the shell; LD_LIBRARY_PATH stays clean."""
    root = python_project(tmp_path, env, [])
    (root / "cxxprobe.c").write_text(CXXPROBE_C)
    allow(root, env)
    build = direnv_exec(root, "sh", "-c", textwrap.dedent("""
        set -e
        lib=; IFS=:; for f in $NIXENV_PYTHON_PRELOAD; do case $f in */libstdc++.so.6) lib=${f%/*} ;; esac; done
        test -n "$lib"
        site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
        inc=$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
        cc -shared -fPIC -I"$inc" cxxprobe.c -L"$lib" -l:libstdc++.so.6 -o "$site/cxxprobe.so"
        printf '%s\n' "$lib"
    """), env=env)
    cxx_lib = build.stdout.strip()
    assert cxx_lib.startswith("/nix/store/"), show(build)

    inside = direnv_exec(root, "python", "-c", "import cxxprobe; print(cxxprobe.probe())", env=env)
    assert inside.stdout.strip() == "stand-in libstdc++", show(inside)
    clean = direnv_exec(root, "sh", "-c", 'printf "%s\\n" "${LD_LIBRARY_PATH-}"', env=env)
    assert cxx_lib not in clean.stdout, show(clean)
    # outside the shell too (an IDE running .venv/bin/python), and the control: without site
    # processing nothing preloads the library and the host's loader picks another libstdc++.so.6
    outside = run([root / ".venv/bin/python", "-c", "import cxxprobe; print(cxxprobe.probe())"], cwd=root, env=env)
    assert outside.stdout.strip() == "stand-in libstdc++", show(outside)
    site = run([root / ".venv/bin/python", "-c", "import sysconfig; print(sysconfig.get_paths()['platlib'])"],
               cwd=root, env=env).stdout.strip()
    control = run([root / ".venv/bin/python", "-S", "-c", f"import sys; sys.path.insert(0, {site!r}); import cxxprobe"],
                  cwd=root, env=env, check=False)
    assert control.returncode != 0 and "nixenv_standin_cxx" in control.stderr, show(control)
