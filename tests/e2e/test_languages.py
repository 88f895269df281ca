"""Python and Node on `cd`, end to end: real nix (stand-in nixpkgs), real direnv, real pip, uv,
poetry, npm and corepack, offline except where corepack must reach the npm registry.

"Installs" and "does not reinstall" are read from what the .envrc prints and from the stamp and
the installed files, never from timing."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import textwrap
import zipfile
from pathlib import Path

import tomli_w

from testkit import direnv_exec, nixenv, require, run, write_project

INSTALLING = "installing (its inputs changed"


def make_wheel(dest: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A pure-Python wheel built here, so that installs need no index and no build backend."""
    dest.mkdir(parents=True, exist_ok=True)
    dist_info = f"{name}-{version}.dist-info"
    contents = dict(files)
    contents[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    contents[f"{dist_info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: nixenv-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = []
    path = dest / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in contents.items():
            data = text.encode()
            archive.writestr(member, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{member},sha256={digest},{len(data)}")
        record.append(f"{dist_info}/RECORD,,")
        archive.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return path


def project(tmp_path: Path, env: dict, toml: str, name: str = "proj") -> Path:
    require("nix", "direnv", "git")
    root = write_project(tmp_path / name, toml, env=env).resolve()
    return root


def allow(root: Path, env: dict) -> None:
    nixenv("generate", cwd=root, env=env)
    run(["direnv", "allow", root], cwd=root, env=env)


def show(result) -> str:
    return f"\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


PRINT_PREFIX = "import sys; print(sys.prefix)"


# --------------------------------------------------------------------------- Python: pip


def test_pip_venv_installs_on_change_only_and_is_remade_with_a_new_interpreter(tmp_path, env):
    root = project(tmp_path, env, """
        [project]
        name = "pipproj"
        [python]
        version = "3.12"
        manager = "pip"
        requirements = ["requirements/dev.txt"]
    """)
    make_wheel(root / "wheels", "pkgone", "1.0", {"pkgone/__init__.py": "VALUE = 'one'\n"})
    requirements = root / "requirements" / "dev.txt"
    requirements.parent.mkdir()
    requirements.write_text("./wheels/pkgone-1.0-py3-none-any.whl\n")
    allow(root, env)

    code = "import sys, pkgone; print(sys.prefix); print(pkgone.VALUE)"
    first = direnv_exec(root, "python", "-c", code, env=env)
    assert first.stdout.split() == [str(root / ".venv"), "one"], show(first)
    assert "creating .venv from /nix/store/" in first.stderr and INSTALLING in first.stderr, show(first)
    assert "-m pip install -r requirements/dev.txt" in first.stderr
    stamp = root / ".venv" / ".nixenv-installed"
    installed = next((root / ".venv").glob("lib/python*/site-packages/pkgone-1.0.dist-info"))
    seen = (stamp.read_text(), stamp.stat().st_mtime_ns, installed.stat().st_mtime_ns)

    second = direnv_exec(root, "python", "-c", code, env=env)
    assert second.stdout.split() == [str(root / ".venv"), "one"]
    assert "nixenv: python" not in second.stderr, show(second)  # no venv creation, no install
    assert (stamp.read_text(), stamp.stat().st_mtime_ns, installed.stat().st_mtime_ns) == seen

    # touched but not changed: hashed again, not reinstalled
    later = stamp.stat().st_mtime + 5
    os.utime(requirements, (later, later))
    touched = direnv_exec(root, "python", "-c", code, env=env)
    assert INSTALLING not in touched.stderr, show(touched)
    assert installed.stat().st_mtime_ns == seen[2]

    # changed: installs what was added
    make_wheel(root / "wheels", "pkgtwo", "2.0", {"pkgtwo.py": "VALUE = 'two'\n"})
    requirements.write_text(requirements.read_text() + "./wheels/pkgtwo-2.0-py3-none-any.whl\n")
    changed = direnv_exec(root, "python", "-c", "import pkgtwo; print(pkgtwo.VALUE)", env=env)
    assert changed.stdout.strip() == "two" and INSTALLING in changed.stderr, show(changed)
    again = direnv_exec(root, "python", "-c", "import pkgtwo", env=env)
    assert INSTALLING not in again.stderr

    # a new interpreter (python312 -> python313 is another store path): the venv is remade and refilled
    config = root / "nixenv.toml"
    config.write_text(config.read_text().replace('"3.12"', '"3.13"'))
    nixenv("generate", cwd=root, env=env)
    remade = direnv_exec(root, "python", "-c", code, env=env)
    assert remade.stdout.split() == [str(root / ".venv"), "one"], show(remade)
    assert "remaking .venv" in remade.stderr and "python313" in remade.stderr, show(remade)
    assert INSTALLING in remade.stderr
    assert "python313" in (root / ".venv" / ".nixenv-interpreter").read_text()


def test_pip_failure_warns_loudly_and_the_shell_still_loads(tmp_path, env):
    root = project(tmp_path, env, """
        [project]
        name = "broken"
        [python]
        version = "3.12"
        manager = "pip"
    """)
    (root / "requirements.txt").write_text("./wheels/missing-1.0-py3-none-any.whl\n")
    # even under a user's `strict_env` (set -euo pipefail in their direnvrc)
    direnvrc = Path(env["XDG_CONFIG_HOME"]) / "direnv" / "direnvrc"
    direnvrc.parent.mkdir(parents=True)
    direnvrc.write_text("strict_env\n")
    allow(root, env)
    failed = direnv_exec(root, "python", "-c", PRINT_PREFIX, env=env)
    assert failed.stdout.strip() == str(root / ".venv"), show(failed)  # the shell and venv still load
    assert "FAILED (exit 1)" in failed.stderr and "*****" in failed.stderr, show(failed)
    assert not (root / ".venv" / ".nixenv-installed").exists()
    retried = direnv_exec(root, "true", env=env)
    assert "FAILED" in retried.stderr  # retried on the next entry, still failing

    make_wheel(root / "wheels", "missing", "1.0", {"missing.py": ""})
    fixed = direnv_exec(root, "python", "-c", "import missing", env=env)
    assert INSTALLING in fixed.stderr and "FAILED" not in fixed.stderr, show(fixed)


def test_no_venv_from_a_host_python_when_the_devshell_fails(tmp_path, env):
    root = project(tmp_path, env, """
        [project]
        name = "nodevshell"
        [packages]
        include = ["no-such-package"]
        [python]
        version = "3.12"
        manager = "pip"
        [node]
        version = "22"
        manager = "npm"
    """)
    (root / "package.json").write_text('{"name": "x", "version": "1.0.0"}\n')
    allow(root, env)
    result = direnv_exec(root, "true", env=env)
    assert "no-such-package" in result.stderr, show(result)  # the flake's own error
    assert "not the devshell's" in result.stderr, show(result)
    assert not (root / ".venv").exists() and not (root / "node_modules").exists()


def test_an_install_in_progress_elsewhere_is_not_joined_and_a_dead_ones_lock_is_taken_over(tmp_path, env):
    root = project(tmp_path, env, """
        [project]
        name = "locked"
        [python]
        version = "3.12"
        manager = "pip"
    """)
    make_wheel(root / "wheels", "pkgone", "1.0", {"pkgone/__init__.py": ""})
    (root / "requirements.txt").write_text("./wheels/pkgone-1.0-py3-none-any.whl\n")
    allow(root, env)
    # another shell (a live process) holds the lock, as a terminal and an editor entering together
    other = subprocess.Popen(["sleep", "600"])
    try:
        lock = root / ".direnv" / "nixenv" / "python.lock"
        lock.mkdir(parents=True)
        (lock / "pid").write_text(f"{other.pid}\n")
        skipped = direnv_exec(root, "python", "-c", PRINT_PREFIX, env=env)
        assert f"another direnv (pid {other.pid}) is installing here" in skipped.stderr, show(skipped)
        assert not (root / ".venv").exists() and lock.exists()
    finally:
        other.kill()
        other.wait()
    taken = direnv_exec(root, "python", "-c", "import sys, pkgone; print(sys.prefix)", env=env)
    assert taken.stdout.strip() == str(root / ".venv") and INSTALLING in taken.stderr, show(taken)
    assert not lock.exists()


def test_hostile_directory_and_requirements_names(tmp_path, env):
    # The directory keeps to what the tools under nixenv accept: direnv 2.32 cannot load an .envrc
    # whose path holds `$` or `"`; nix 2.8 refuses a flake path with a space or non-ASCII, and its
    # print-dev-env writes a `'` in the path unescaped.
    names = ["reqs/dev 'x' $HOME ${y} \\ ü.txt", "-leading.txt"]
    toml = tomli_w.dumps({"project": {"name": "hostile"},
                          "python": {"version": "3.12", "manager": "pip", "requirements": names}})
    root = project(tmp_path, env, toml, name="my-proj_1.0+x")
    make_wheel(root / "wheels", "pkgone", "1.0", {"pkgone/__init__.py": ""})
    make_wheel(root / "wheels", "pkgtwo", "1.0", {"pkgtwo.py": ""})
    (root / "reqs").mkdir()
    first_file = root / names[0]
    first_file.write_text("./wheels/pkgone-1.0-py3-none-any.whl\n")
    (root / "-leading.txt").write_text("./wheels/pkgtwo-1.0-py3-none-any.whl\n")
    allow(root, env)
    code = "import sys, pkgone, pkgtwo; print(sys.prefix)"
    first = direnv_exec(root, "python", "-c", code, env=env)
    assert first.stdout.strip() == str(root / ".venv") and INSTALLING in first.stderr, show(first)
    assert (root / ".venv" / ".nixenv-interpreter").read_text().startswith("/nix/store/")  # the devshell's
    second = direnv_exec(root, "python", "-c", code, env=env)
    assert INSTALLING not in second.stderr, show(second)
    first_file.write_text(first_file.read_text() + "# changed\n")
    third = direnv_exec(root, "python", "-c", code, env=env)
    assert INSTALLING in third.stderr, show(third)


# --------------------------------------------------------------------------- native libraries


GREETEXT_C = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <greet.h>

static PyObject *hello(PyObject *self, PyObject *args) { return PyUnicode_FromString(greet()); }
static PyMethodDef methods[] = {{"hello", hello, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "greetext", NULL, -1, methods};
PyMODINIT_FUNC PyInit_greetext(void) { return PyModule_Create(&module); }
"""


def test_c_extension_builds_against_a_packages_library(tmp_path, env):
    root = project(tmp_path, env, """
        [project]
        name = "native"
        [packages]
        include = ["libgreet"]
        [python]
        version = "3.12"
        manager = "pip"
    """)
    source = root / "greetext"
    source.mkdir()
    (source / "greetext.c").write_text(GREETEXT_C)
    # No include or library directories: the compiler finds greet.h and libgreet through the
    # devshell's CPATH and LIBRARY_PATH.
    (source / "setup.py").write_text(textwrap.dedent("""
        from setuptools import Extension, setup
        setup(name="greetext", version="1.0", ext_modules=[Extension("greetext", ["greetext.c"], libraries=["greet"])])
    """))
    allow(root, env)

    # pkg-config finds greet.pc (it leaves out -I/-L for directories already on CPATH/LIBRARY_PATH)
    flags = direnv_exec(root, "sh", "-c", "pkg-config --variable=includedir greet; pkg-config --libs greet", env=env)
    includedir, libs = flags.stdout.splitlines()
    assert includedir.startswith("/nix/store/") and (Path(includedir) / "greet.h").exists(), show(flags)
    assert libs.split() == ["-lgreet"]
    # Built by the venv's python (setuptools from the venv; no index, no build isolation) straight
    # into the venv's site-packages.
    build = direnv_exec(root, "sh", "-c", 'cd greetext && python setup.py build_ext --build-lib '
                        '"$(python -c "import sysconfig; print(sysconfig.get_paths()[\'platlib\'])")"', env=env)
    assert "-lgreet" in build.stdout + build.stderr, show(build)
    extension = next((root / ".venv").glob("lib/python*/site-packages/greetext*.so"))

    called = direnv_exec(root, "python", "-c", "import sys, greetext; print(sys.prefix); print(greetext.hello())", env=env)
    assert called.stdout.splitlines() == [str(root / ".venv"), "hello from libgreet"], show(called)

    # The runtime library path is the devshell's: outside it the same module cannot load libgreet.
    outside = {k: v for k, v in env.items() if k not in ("LD_LIBRARY_PATH", "DYLD_FALLBACK_LIBRARY_PATH")}
    bare = run([root / ".venv/bin/python", "-c", "import greetext"], cwd=root, env=outside, check=False)
    assert bare.returncode != 0 and "libgreet" in bare.stderr, show(bare)
    assert extension.exists()


# --------------------------------------------------------------------------- Python: uv, poetry


def test_uv_syncs_a_local_package_into_the_venv_offline(tmp_path, env):
    root = project(tmp_path, env, """
        [project]
        name = "uvproj"
        [python]
        version = "3.12"
        manager = "uv"
    """)
    make_wheel(root / "wheels", "pkgone", "1.0", {"pkgone/__init__.py": "VALUE = 'one'\n"})
    (root / "pyproject.toml").write_text(textwrap.dedent("""
        [project]
        name = "uvproj"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["pkgone"]

        [tool.uv.sources]
        pkgone = { path = "wheels/pkgone-1.0-py3-none-any.whl" }
    """))
    allow(root, env)
    env = {**env, "UV_OFFLINE": "1"}
    code = "import os, sys, pkgone; print(sys.prefix); print(pkgone.VALUE); print(os.environ['UV_PYTHON'])"
    first = direnv_exec(root, "python", "-c", code, env=env)
    prefix, value, uv_python = first.stdout.split()
    assert (prefix, value) == (str(root / ".venv"), "one"), show(first)
    assert uv_python == str(root / ".venv" / "bin" / "python")
    interpreter = (root / ".venv" / ".nixenv-interpreter").read_text().strip()
    assert interpreter.startswith("/nix/store/") and "python312" in interpreter
    assert os.readlink(root / ".venv" / "bin" / "python3") == interpreter  # made from the devshell's python
    assert "python (uv): " + INSTALLING in first.stderr and "uv sync" in first.stderr, show(first)
    assert (root / "uv.lock").exists()
    second = direnv_exec(root, "uv", "pip", "list", env=env)
    assert INSTALLING not in second.stderr, show(second)
    assert second.stdout.split()[-2:] == ["pkgone", "1.0"], show(second)  # `uv pip` works on the venv
    sync = direnv_exec(root, "uv", "sync", env=env)
    assert "Removed virtual environment" not in sync.stderr and "Creating virtual environment" not in sync.stderr, show(sync)


def test_poetry_installs_a_local_package_into_the_venv(tmp_path, env):
    root = project(tmp_path, env, """
        [project]
        name = "poetryproj"
        [python]
        version = "3.12"
        manager = "poetry"
    """)
    make_wheel(root / "wheels", "pkgone", "1.0", {"pkgone/__init__.py": "VALUE = 'one'\n"})
    (root / "pyproject.toml").write_text(textwrap.dedent("""
        [project]
        name = "poetryproj"
        version = "0.1.0"
        requires-python = ">=3.11"

        [tool.poetry]
        package-mode = false

        [tool.poetry.dependencies]
        pkgone = { path = "wheels/pkgone-1.0-py3-none-any.whl" }
    """))
    allow(root, env)
    code = "import sys, pkgone; print(sys.prefix); print(pkgone.VALUE)"
    first = direnv_exec(root, "python", "-c", code, env=env)
    assert first.stdout.split() == [str(root / ".venv"), "one"], show(first)
    assert "python (poetry): " + INSTALLING in first.stderr, show(first)
    assert (root / "poetry.lock").exists()
    second = direnv_exec(root, "poetry", "env", "info", "--path", env=env)
    assert INSTALLING not in second.stderr, show(second)
    assert second.stdout.strip() == str(root / ".venv")


def test_pdm_installs_a_local_package_into_the_venv(tmp_path, env):
    root = project(tmp_path, env, """
        [project]
        name = "pdmproj"
        [python]
        version = "3.12"
        manager = "pdm"
    """)
    make_wheel(root / "wheels", "pkgone", "1.0", {"pkgone/__init__.py": "VALUE = 'one'\n"})
    (root / "pyproject.toml").write_text(textwrap.dedent("""
        [project]
        name = "pdmproj"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["pkgone @ file:///${PROJECT_ROOT}/wheels/pkgone-1.0-py3-none-any.whl"]

        [tool.pdm]
        distribution = false
    """))
    allow(root, env)
    # offline: no index is reachable (the local wheel is all pdm needs)
    env = {**env, "PDM_PYPI_URL": "http://127.0.0.1:9/simple", "PDM_CHECK_UPDATE": "false"}
    code = "import sys, pkgone; print(sys.prefix); print(pkgone.VALUE)"
    first = direnv_exec(root, "python", "-c", code, env=env)
    assert first.stdout.split() == [str(root / ".venv"), "one"], show(first)
    assert "python (pdm): " + INSTALLING in first.stderr and "pdm install" in first.stderr, show(first)
    assert (root / "pdm.lock").exists()
    second = direnv_exec(root, "pdm", "info", "--python", env=env)
    assert INSTALLING not in second.stderr, show(second)
    assert second.stdout.strip().startswith(str(root / ".venv")), show(second)  # PDM_PYTHON: the venv


# --------------------------------------------------------------------------- Node


def test_npm_installs_a_local_dependency_and_its_bin_is_on_path(tmp_path, env):
    root = project(tmp_path, env, """
        [project]
        name = "nodeproj"
        [node]
        version = "22"
        manager = "npm"
    """)
    dep = root / "tools" / "greeter"
    dep.mkdir(parents=True)
    (dep / "package.json").write_text('{"name": "greeter", "version": "1.0.0", "bin": {"greet-me": "./cli.js"}}\n')
    (dep / "cli.js").write_text('#!/usr/bin/env node\nconsole.log("greeted by " + process.version);\n')
    (dep / "cli.js").chmod(0o755)
    (root / "package.json").write_text(
        '{"name": "nodeproj", "version": "1.0.0", "private": true, "dependencies": {"greeter": "file:./tools/greeter"}}\n')
    allow(root, env)
    # No registry is needed for a file: dependency; a closed one proves it.
    env = {**env, "npm_config_registry": f"http://127.0.0.1:{closed_port()}/"}

    first = direnv_exec(root, "greet-me", env=env)
    assert first.stdout.strip().startswith("greeted by v"), show(first)
    assert "node (npm): " + INSTALLING in first.stderr, show(first)
    lock = root / "package-lock.json"
    assert lock.exists()
    stamp = root / ".direnv" / "nixenv" / "node-installed"
    seen = (stamp.read_text(), stamp.stat().st_mtime_ns, lock.stat().st_mtime_ns)
    second = direnv_exec(root, "sh", "-c", 'command -v greet-me', env=env)
    assert second.stdout.strip() == str(root / "node_modules" / ".bin" / "greet-me"), show(second)
    assert "nixenv: node" not in second.stderr
    assert (stamp.read_text(), stamp.stat().st_mtime_ns, lock.stat().st_mtime_ns) == seen

    # a deleted node_modules installs again
    shutil.rmtree(root / "node_modules")
    restored = direnv_exec(root, "greet-me", env=env)
    assert restored.stdout.startswith("greeted by") and INSTALLING in restored.stderr, show(restored)

    # a changed package.json installs again
    other = root / "tools" / "other"
    other.mkdir()
    (other / "package.json").write_text('{"name": "other", "version": "1.0.0", "bin": {"other-tool": "./cli.js"}}\n')
    (other / "cli.js").write_text('#!/usr/bin/env node\nconsole.log("other");\n')
    (other / "cli.js").chmod(0o755)
    (root / "package.json").write_text(
        '{"name": "nodeproj", "version": "1.0.0", "private": true, '
        '"dependencies": {"greeter": "file:./tools/greeter", "other": "file:./tools/other"}}\n')
    changed = direnv_exec(root, "other-tool", env=env)
    assert changed.stdout.strip() == "other" and INSTALLING in changed.stderr, show(changed)


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PNPM = "9.15.0"
# The npm registry this machine reaches is a mirror that strips the package signatures corepack
# checks by default; COREPACK_INTEGRITY_KEYS=0 turns that check off for the test only (the
# generated .envrc keeps it on for users).
COREPACK_TEST_ENV = {"COREPACK_INTEGRITY_KEYS": "0"}


def pnpm_project(tmp_path: Path, env: dict, name: str) -> Path:
    root = project(tmp_path, env, """
        [project]
        name = "pnpmproj"
        [node]
        version = "22"
        manager = "pnpm"
    """, name=name)
    (root / "package.json").write_text(
        f'{{"name": "pnpmproj", "version": "1.0.0", "private": true, "packageManager": "pnpm@{PNPM}"}}\n')
    allow(root, env)
    return root


def test_corepack_pnpm_follows_package_manager_without_global_writes(tmp_path, env):
    require("node")
    env = {**env, **COREPACK_TEST_ENV}
    root = pnpm_project(tmp_path, env, "reachable")
    first = direnv_exec(root, "sh", "-c", "command -v pnpm; pnpm --version", env=env)
    assert len(first.stdout.split()) == 2, show(first)
    where, version = first.stdout.split()
    assert version == PNPM, show(first)
    assert where == str(root / ".direnv" / "nixenv" / "corepack" / "pnpm")  # the project-local shim
    assert f"corepack provides pnpm {PNPM}" in first.stderr, show(first)
    assert "node (pnpm): " + INSTALLING in first.stderr, show(first)
    second = direnv_exec(root, "pnpm", "--version", env=env)
    assert second.stdout.strip() == PNPM and "nixenv: node" not in second.stderr, show(second)


def test_corepack_unreachable_registry_is_a_clear_warning(tmp_path, env):
    require("node")
    registry = f"http://127.0.0.1:{closed_port()}"
    env = {**env, **COREPACK_TEST_ENV, "COREPACK_NPM_REGISTRY": registry}
    root = pnpm_project(tmp_path, env, "unreachable")
    result = direnv_exec(root, "node", "-e", "console.log(process.env.NIXENV_ROOT)", env=env)
    assert result.stdout.strip() == str(root), show(result)  # the shell still loads
    assert f"corepack could not provide pnpm (pnpm@{PNPM}" in result.stderr, show(result)
    assert f"npm registry ({registry})" in result.stderr, show(result)
    said = next(line for line in result.stderr.splitlines() if "corepack said: " in line)
    assert registry in said and "Error" in said, said  # corepack's own error line, not a stack frame
    assert not (root / "node_modules").exists()
