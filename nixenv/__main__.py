"""Entry point. `--version` is answered before typer and the command tree are imported."""

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from nixenv import __version__

        print(f"nixenv {__version__}")
        return
    from nixenv.cli.main import run_app

    run_app()


if __name__ == "__main__":
    main()
