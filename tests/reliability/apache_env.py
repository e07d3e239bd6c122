"""
apache_env.py - extra environment variables for the apache2 processes the
harness starts, without changing harness.py: harness.ApacheServer and
harness.config_check look `apache_env` up in the harness module each time
they start a process, so wrapping it there reaches every start.

    with extra_apache_env(GLIBC_TUNABLES="glibc.malloc.tcache_count=0"):
        server = ApacheServer(...).start()

install() makes the addition permanent for the whole run (the ASan
plugin, asan_plugin.py, uses it).
"""

import contextlib

import harness

_original = harness.apache_env
_extra = {}


def _with_extra(root):
    env = _original(root)
    env.update(_extra)
    return env


def install(**variables):
    """Adds `variables` to the environment of every apache2 started from now on."""
    _extra.update(variables)
    harness.apache_env = _with_extra


@contextlib.contextmanager
def extra_apache_env(**variables):
    saved = dict(_extra)
    install(**variables)
    try:
        yield
    finally:
        _extra.clear()
        _extra.update(saved)
