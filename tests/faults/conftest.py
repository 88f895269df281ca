"""Prints the fault counters at the end of the run (the README quotes them)."""

from __future__ import annotations


def pytest_terminal_summary(terminalreporter):
    from faults.harness import COUNTS

    if COUNTS["scenarios"]:
        terminalreporter.write_line(
            f"faults: {COUNTS['scenarios']} scenarios tried, {COUNTS['data_lost']} data lost, "
            f"{COUNTS['plaintext_found']} plaintext found, {COUNTS['processes_left']} processes left")
