"""nixenv.toml parsing and validation: every problem at once, with file:line, key, expected,
found and a suggestion; the CLI exits 2 and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit import nixenv, write_project
from nixenv.config.load import ConfigError, parse, topological_order
from nixenv.support.graph import find_cycle

FULL = '''
[project]
name = "shop"
nixpkgs = "github:NixOS/nixpkgs/nixos-26.05"
systems = ["x86_64-linux", "aarch64-darwin"]
dotenv = [".env"]

[packages]
include = ["gnumake", "libpostal", "postgresql_16", "python312Packages.numpy"]

[python]
version = "3.12"
manager = "pip"
requirements = ["requirements.txt"]

[node]
version = "26"
manager = "yarn"

[env]
DJANGO_SETTINGS_MODULE = "shop.settings.dev"
WORKERS = 4

[secrets]
file = "secrets.env"
age = ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]

[services.db]
command = "postgres -D .nixenv/pg"
port = 5432
ready = { tcp = 5432 }

[services.web]
command = "python manage.py runserver 127.0.0.1:$PORT"
port = 8000
cwd = "."
depends_on = ["db"]
env = { DEBUG = "1" }
ready = { http = "http://127.0.0.1:8000/health" }
restart = "on-failure"
stop_signal = "SIGINT"
stop_timeout = 5

[scripts]
test = "pytest -q"
'''


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, root=Path("/p"))
    return [str(p) for p in info.value.problems]


def test_full_schema_parses_into_dataclasses():
    cfg = parse(FULL, root=Path("/p"))
    assert cfg.project.systems == ("x86_64-linux", "aarch64-darwin")
    assert cfg.packages.include[-1] == "python312Packages.numpy"
    assert cfg.python.attr == "python312" and cfg.python.requirements == ("requirements.txt",)
    assert cfg.node.attr == "nodejs_26" and cfg.node.manager == "yarn"
    assert cfg.env == {"DJANGO_SETTINGS_MODULE": "shop.settings.dev", "WORKERS": "4"}
    web = cfg.services["web"]
    assert web.depends_on == ("db",) and web.ready.kind == "http" and web.stop_signal == "INT"
    assert web.restart == "on-failure" and web.stop_timeout == 5.0 and web.env == {"DEBUG": "1"}
    assert cfg.services["db"].ready.value == 5432
    assert cfg.scripts == {"test": "pytest -q"}
    assert cfg.secrets.file == "secrets.env" and len(cfg.secrets.age) == 1


def test_defaults():
    cfg = parse('[project]\nname = "x"\n', root=Path("/p"))
    assert cfg.project.nixpkgs.startswith("github:NixOS/nixpkgs/")
    assert len(cfg.project.systems) == 4
    assert cfg.python is None and cfg.node is None and cfg.secrets is None and not cfg.services


def test_misspelt_key_names_line_and_suggests():
    found = problems_of('[project]\nname = "x"\n\n[services.web]\ncommand = "x"\ndepend_on = ["db"]\n')
    assert found == ["nixenv.toml:6: services.web.depend_on: unknown key `depend_on` (did you mean `depends_on`?)"]


def test_misspelt_value_suggests():
    found = problems_of('[project]\nname = "x"\n[python]\nmanager = "poety"\n')
    assert found == ["nixenv.toml:4: python.manager: expected one of uv, poetry, pdm, pip, none, "
                     "found 'poety' (did you mean `poetry`?)"]


def test_all_problems_reported_at_once():
    text = '''
[project]
nam = "x"

[pakages]
include = []

[node]
version = 18

[env]
"A B" = "1"
PATH = "/x"

[services.a]
command = "x"
depends_on = ["b"]
port = "80"

[services.b]
command = "y"
depends_on = ["a"]
ready = { tcp = 1, http = "http://x" }
'''
    found = problems_of(text)
    joined = "\n".join(found)
    assert "nixenv.toml:3: project.nam: unknown key `nam` (did you mean `name`?)" in found
    assert "nixenv.toml:2: project: missing required key `name`" in joined
    assert "nixenv.toml:5: pakages: unknown key `pakages` (did you mean `packages`?)" in found
    assert "nixenv.toml:9: node.version: nixpkgs provides nodejs_22, nodejs_24, nodejs_26, found '18'" in found
    assert 'nixenv.toml:12: env."A B": `A B` is not a valid environment variable name' in joined
    assert "nixenv.toml:13: env.PATH: `PATH` is managed" in joined
    assert "nixenv.toml:18: services.a.port: expected a port number from 1 to 65535, found a string ('80') (write it as a number: port = 80)" in found
    assert "services.b.ready: expected exactly one of tcp, http, command, found 2" in joined
    assert len(found) >= 8


def test_graph_problems():
    base = '[project]\nname = "x"\n'
    unknown = problems_of(base + '[services.web]\ncommand = "x"\ndepends_on = ["dbb"]\n[services.db]\ncommand = "y"\n')
    assert unknown == ["nixenv.toml:5: services.web.depends_on[0]: unknown service 'dbb' (did you mean `db`?)"]
    cycle = problems_of(base + '[services.a]\ncommand = "x"\ndepends_on = ["b"]\n'
                               '[services.b]\ncommand = "y"\ndepends_on = ["a"]\n')
    assert len(cycle) == 1 and "dependency cycle: a -> b -> a" in cycle[0]
    ports = problems_of(base + '[services.a]\ncommand = "x"\nport = 80\n[services.b]\ncommand = "y"\nport = 80\n')
    assert ports == ["nixenv.toml:8: services.b.port: port 80 is also used by service 'a'"]


def test_invalid_toml_syntax_has_a_line():
    found = problems_of('[project]\nname = "x\n')
    assert found[0].startswith("nixenv.toml:2: not valid TOML")


def test_hostile_service_names_are_accepted_but_reserved_ones_are_not():
    cfg = parse('[project]\nname = "x"\n[services."my $web \\"1\\""]\ncommand = "x"\n', root=Path("/p"))
    assert list(cfg.services) == ['my $web "1"']
    found = problems_of('[project]\nname = "x"\n[services.log]\ncommand = "x"\n[services.".hidden"]\ncommand = "y"\n')
    assert any("`log` is reserved by s6" in p for p in found)
    assert any("cannot start with `.`" in p for p in found)


def test_scripts_names_must_be_command_names():
    found = problems_of('[project]\nname = "x"\n[scripts]\n"-rf" = "x"\n"a b" = "y"\n')
    assert len(found) == 2 and all("cannot be a command name" in p for p in found)


def test_topological_order_and_cycle_finder():
    cfg = parse('[project]\nname = "x"\n[services.web]\ncommand = "x"\ndepends_on = ["db", "cache"]\n'
                '[services.db]\ncommand = "y"\n[services.cache]\ncommand = "z"\ndepends_on = ["db"]\n',
                root=Path("/p"))
    assert topological_order(cfg.services) == ["db", "cache", "web"]
    assert topological_order(cfg.services, ["cache"]) == ["db", "cache"]
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": []}) is None


def test_cli_invalid_config_exits_2_and_writes_nothing(tmp_path, env):
    project = write_project(tmp_path / "p", '[project]\nname = "x"\n[packages]\nincluded = ["hello"]\n', git=False)
    result = nixenv("generate", cwd=project, env=env, check=False)
    assert result.returncode == 2
    assert "nixenv.toml:4: packages.included: unknown key `included` (did you mean `include`?)" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in project.iterdir()) == ["nixenv.toml"]


def test_control_characters_nix_cannot_carry_are_rejected():
    found = problems_of('[project]\nname = "x"\n[env]\nOK = "tab\\there\\nnew"\nBAD = "esc\\u001b[0m"\n')
    assert found == ["nixenv.toml:5: env.BAD: control character U+001B in the value: `nix print-dev-env` cannot "
                     "pass it through (tab, newline and CR can) (remove it, or store it escaped)"]


# --------------------------------------------------------------------------- issue 12: no traceback, nothing accepted that fails later

BASE = '[project]\nname = "x"\n'


def _problems(text: str) -> str:
    with pytest.raises(ConfigError) as excinfo:
        parse(text, root=Path("/p"))
    return str(excinfo.value)


def test_deep_nesting_is_a_message_not_a_recursion_error():
    text = BASE + "x = " + "[" * 10_000 + "]" * 10_000 + "\n"
    message = _problems(text)
    assert "nixenv.toml:3" in message and "nested too deeply" in message


def test_a_3001_service_chain_loads_and_orders_without_recursion():
    lines = [BASE, '[services.s0]\ncommand = "x"\n']
    lines += [f'[services.s{i}]\ncommand = "x"\ndepends_on = ["s{i - 1}"]\n' for i in range(1, 3001)]
    cfg = parse("".join(lines), root=Path("/p"))
    assert topological_order(cfg.services, ["s3000"])[:3] == ["s0", "s1", "s2"]
    cyclic = "".join(lines) + '[services.s0x]\ncommand = "x"\n'
    cyclic = cyclic.replace('[services.s0]\ncommand = "x"\n', '[services.s0]\ncommand = "x"\ndepends_on = ["s3000"]\n')
    assert "dependency cycle: s0 -> s3000 -> s2999" in _problems(cyclic)


def test_graph_functions_are_iterative():
    chain = {f"n{i}": [f"n{i + 1}"] for i in range(50_000)}
    assert find_cycle(chain) is None
    chain["n50000"] = ["n0"]
    cycle = find_cycle(chain)
    assert cycle is not None and cycle[0] == cycle[-1] and len(cycle) == 50_002
    from nixenv.support.graph import topological_order as order

    assert order({"a": ["b", "c"], "b": ["c"], "c": []}) == ["c", "b", "a"]


@pytest.mark.parametrize("extra, expected", [
    ('[scripts]\nx = "a\\u0000b"\n', "scripts.x: a NUL character"),
    ('[services.w]\ncommand = "a\\u0000b"\n', "services.w.command: a NUL character"),
    ('[services."w\\u001b[31mred"]\ncommand = "x"\n', '"w\\x1b[31mred" (shown escaped)'),
    ('[services."a\\rb"]\ncommand = "x"\n', "control characters"),
    ('[services."a\\tb"]\ncommand = "x"\n', "control characters"),
    ('[services.c]\ncommand = "x"\ncwd = "../../.."\n', "services.c.cwd: '../../..' leaves the project"),
    ('[[services]]\ncommand = "x"\n', "nixenv.toml:3: services: `[[services]]` makes a list"),
    ('[env]\nBIG = "' + "x" * 131_100 + '"\n', "MAX_ARG_STRLEN"),
    ('[services.w]\ncommand = "x"\nenv = { BIG = "' + "x" * 131_100 + '" }\n', "Argument list too long"),
])
def test_values_that_would_fail_later_are_rejected_at_validation(extra, expected):
    message = _problems(BASE + extra)
    assert expected in message
    assert "\x1b" not in message and "\r" not in message, "control characters are printed escaped"


def test_env_value_just_under_the_limit_is_accepted():
    value = "x" * (131_072 - len("OK=") - 1)
    assert parse(BASE + f'[env]\nOK = "{value}"\n', root=Path("/p")).env["OK"] == value


def test_bom_and_long_dotted_keys_are_located():
    assert "nixenv.toml:1: the file starts with a UTF-8 byte order mark" in _problems("\ufeff" + BASE)
    message = _problems(BASE + ".".join(["a"] * 3000) + " = 1\n")
    assert "nixenv.toml:3" in message and "unknown key `a`" in message


@pytest.mark.parametrize("kind", ["directory", "fifo", "loop", "dangling"])
def test_nixenv_toml_that_is_not_a_file_is_named_for_what_it_is(tmp_path, env, kind):
    import os

    path = tmp_path / "nixenv.toml"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "loop":
        path.symlink_to(path)
    else:
        path.symlink_to(tmp_path / "missing.toml")
    result = nixenv("generate", cwd=tmp_path, env=env, check=False, timeout=20)  # a FIFO must not block
    words = {"directory": "is a directory", "fifo": "is a FIFO", "loop": "symlink loop", "dangling": "does not exist"}
    assert result.returncode == 1 and words[kind] in result.stderr, result.stderr
    assert "nixenv init` first" not in result.stderr and "Traceback" not in result.stderr


def test_generated_file_that_is_a_directory_is_a_message(tmp_path, env):
    project = write_project(tmp_path / "p", BASE, env=env)
    (project / "flake.nix").mkdir()
    for args in (("generate",), ("generate", "--force")):
        result = nixenv(*args, cwd=project, env=env, check=False)
        assert result.returncode == 1 and "flake.nix is a directory" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
