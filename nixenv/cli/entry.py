"""The one door into the command line: argv in, exit code out, NixenvError mapped to its exit
code in one place.

The everyday commands (`--version`, `services up|down|status` with plain arguments) run
without typer: importing it and building the command tree costs more than the interpreter's
own start-up, and these run many times a day. Anything else, `--help` included, goes to the
typer app in cli/main.py.
"""

from __future__ import annotations

import sys
from typing import Callable, Sequence

from nixenv.support.errors import NixenvError


def fast_command(argv: Sequence[str]) -> Callable[[], None] | None:
    """The command for plain everyday arguments, or None to let typer parse them."""
    args = list(argv)
    if args == ["--version"]:
        from nixenv import __version__

        return lambda: print(f"nixenv {__version__}")
    if len(args) < 2 or args[0] != "services" or any(a in ("-h", "--help") for a in args):
        return None
    command, rest = args[1], args[2:]
    from nixenv.cli import services_run

    if command == "status" and rest in ([], ["--json"]):
        return lambda: services_run.run_status(rest == ["--json"])
    names: list[str] = []
    timeout = 60.0
    only_names = False
    index = 0
    while index < len(rest):
        arg = rest[index]
        if only_names or not arg.startswith("-"):
            names.append(arg)
        elif arg == "--":
            only_names = True
        elif command == "up" and arg == "--timeout" and index + 1 < len(rest):
            try:
                timeout = float(rest[index + 1])
            except ValueError:
                return None
            index += 1
        else:
            return None  # an option typer knows how to explain
        index += 1
    if command == "up":
        return lambda: services_run.run_up(names, timeout)
    if command == "down":
        return lambda: services_run.run_down(names)
    return None


def main(argv: Sequence[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        command = fast_command(args)
        if command is not None:
            command()
            return
        from nixenv.cli.main import app

        app(args=args, prog_name="nixenv")
    except NixenvError as exc:
        sys.stderr.write(f"nixenv: error: {exc}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("nixenv: interrupted\n")
        sys.exit(130)
