"""Entry point: `nixenv` and `python -m nixenv`."""

from nixenv.cli.entry import main

if __name__ == "__main__":
    main()
