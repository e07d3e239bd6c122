"""
conftest.py - pytest fixtures over harness.py: the MPM parameter, a
factory that starts Apache for a test module, `apache2 -t` checks, the
own-GIL skip marker, and the error-log tail in every failure report.

Typical test module (one Apache per MPM, shared by the module's tests):

    CONFIG = '''
    <Directory {root}/htdocs>
        SetHandler mod_python
        PythonHandler hello
    </Directory>
    '''
    FILES = {"htdocs/hello.py": "..."}

    @pytest.fixture(scope="module")
    def server(mpm):
        with ApacheServer(CONFIG, FILES, mpm=mpm) as server:
            yield server

    def test_something(server):
        status, headers, body = server.get("/x")

A module that needs several servers uses the `start_apache` factory.
"""

import pytest

import harness
from harness import ApacheServer

MPMS = ["event", "prefork"]


def pytest_report_header(config):
    return ["hydra: HYDRA_SO=%s" % harness.HYDRA_SO,
            "hydra: HYDRA_PYTHON=%s (%d.%d)" % ((harness.HYDRA_PYTHON,) + harness.python_version()),
            "hydra: mod_python package from %s" % harness.MP_PACKAGE]


def pytest_collection_modifyitems(config, items):
    if harness.python_version() >= (3, 12):
        return
    skip = pytest.mark.skip(reason="PythonInterpGIL own needs Python >= 3.12; module built "
                                   "against %d.%d" % harness.python_version())
    for item in items:
        if "own_gil" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module", params=MPMS)
def mpm(request):
    """The MPM a module-scoped server runs with: every test runs on both."""
    return request.param


class ApacheFactory:
    """start_apache(config, files=None, mpm="event", **kw) -> a started
    ApacheServer (see harness.ApacheServer for the keywords)."""

    def __init__(self):
        self.servers = []

    def __call__(self, config, files=None, **kw):
        server = ApacheServer(config, files, **kw)
        self.servers.append(server)   # closed at module end even if start fails
        server.start()
        return server

    def close(self):
        for server in self.servers:
            server.close()


@pytest.fixture(scope="module")
def start_apache():
    """Factory for servers that are stopped (and their roots removed) at the
    end of the test module."""
    factory = ApacheFactory()
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def config_check():
    """config_check(snippet, files=None) -> CheckResult (unpacks as (rc, output))."""
    return harness.config_check


@pytest.fixture(scope="session")
def python_version():
    return harness.python_version()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Adds the error-log tail of every server a failed test used."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    seen = set()
    for name, value in getattr(item, "funcargs", {}).items():
        servers = value.servers if isinstance(value, ApacheFactory) else [value]
        for server in servers:
            if isinstance(server, ApacheServer) and id(server) not in seen:
                seen.add(id(server))
                report.sections.append(("error_log of %s (%s, %s)" % (name, server.mpm, server.path),
                                        server.error_log_tail(80)))
