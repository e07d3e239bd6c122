"""
budget.py - how long and how hard the reliability tests run, read from the
environment so that CI and a developer choose the budget without editing
the tests (defaults are CI's). See conftest.py for the list.
"""

import os


def env_int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


RESTARTS = env_int("HYDRA_RESTARTS", 30)
SOAK_SECONDS = env_int("HYDRA_SOAK_SECONDS", 120)
# The allocator tunables of the soak's Apache (docs/memory.md); set it empty
# to soak with glibc's defaults.
SOAK_GLIBC_TUNABLES = os.environ.get("HYDRA_SOAK_GLIBC_TUNABLES", "glibc.malloc.tcache_count=0")
LEAK_REQUESTS = env_int("HYDRA_LEAK_REQUESTS", 10000)
