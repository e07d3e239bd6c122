"""
conftest.py - the reliability suite (restarts, soak, faults, bad input,
security, reference leaks): its opt-in guard and the numbers it reports.

The suite takes minutes, not seconds, so `pytest tests` (make check) skips
this directory; `make reliability` runs it with HYDRA_RELIABILITY=1.
Tunables, all from the environment so CI and a developer can pick the
budget without editing code:

  HYDRA_RELIABILITY=1         run this directory at all
  HYDRA_RESTARTS=30           graceful restarts per MPM
  HYDRA_SOAK_SECONDS=120      length of the soak run
  HYDRA_SOAK_GLIBC_TUNABLES=glibc.malloc.tcache_count=0
                              the soak child's GLIBC_TUNABLES; empty: glibc's
                              defaults (docs/memory.md)
  HYDRA_LEAK_REQUESTS=10000   requests of the reference-leak check
  HYDRA_RELIABILITY_LOG=path  append every reported number as a JSON line

Every test that measures something calls the `report` fixture; the numbers
are printed together at the end of the run ("reliability numbers"), one
line per measurement, easy to quote.
"""

import json
import os

import pytest

ENABLED = os.environ.get("HYDRA_RELIABILITY") == "1"

if not ENABLED:
    # Nothing below this directory is collected in a plain `pytest tests`.
    collect_ignore_glob = ["test_*.py"]

_numbers = []


@pytest.fixture(scope="session")
def report():
    """report(name, **numbers): keeps the numbers for the closing summary
    and appends them to $HYDRA_RELIABILITY_LOG when that is set."""
    import harness

    def add(name, **numbers):
        entry = {"name": name, "python": "%d.%d" % harness.python_version()}
        entry.update(numbers)
        _numbers.append(entry)
        path = os.environ.get("HYDRA_RELIABILITY_LOG")
        if path:
            with open(path, "a") as f:
                f.write(json.dumps(entry, sort_keys=True) + "\n")

    return add


def format_entry(entry):
    rest = " ".join("%s=%s" % (k, v) for k, v in entry.items() if k not in ("name", "python"))
    return "%s [py%s]: %s" % (entry["name"], entry["python"], rest)


def pytest_terminal_summary(terminalreporter):
    if not _numbers:
        return
    terminalreporter.write_sep("=", "reliability numbers")
    for entry in _numbers:
        terminalreporter.write_line("RELIABILITY " + format_entry(entry))
