"""
conftest.py - pytest fixtures over harness.py: the MPM parameter, a
factory that starts Apache for a test module, `apache2 -t` checks, the
own-GIL skip marker, and the error-log tail in every failure report.

Typical test module:

    CONFIG = '''
    <Directory {root}/htdocs>
        SetHandler mod_python
        PythonHandler hello
    </Directory>
    '''
    FILES = {"htdocs/hello.py": "..."}

    @pytest.fixture(scope="module")
    def server(start_apache, mpm):
        return start_apache(CONFIG, FILES, mpm=mpm)

    def test_something(server):
        status, headers, body = server.get("/x")
"""

import pytest

import harness
from harness import ApacheServer

MPMS = ["event", "prefork"]


def pytest_report_header(config):
    return ["hydra: HYDRA_SO=%s" % harness.HYDRA_SO,
            "hydra: HYDRA_PYTHON=%s (%d.%d)" % ((harness.HYDRA_PYTHON,) + harness.python_version()),
            "hydra: mod_python package from %s" % harness.MP_PACKAGE]


def pytest_configure(config):
    config.addinivalue_line("markers", "own_gil: needs PythonInterpGIL own (Python >= 3.12)")


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


@pytest.fixture(scope="module")
def start_apache():
    """Factory: start_apache(config, files=None, mpm="event", **kw) starts an
    ApacheServer that is stopped (and its root removed) at module end."""
    servers = []

    def start(config, files=None, **kw):
        server = ApacheServer(config, files, **kw)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


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
        if isinstance(value, ApacheServer) and id(value) not in seen:
            seen.add(id(value))
            report.sections.append(("error_log of %s (%s, %s)" % (name, value.mpm, value.path),
                                    value.error_log_tail(80)))
