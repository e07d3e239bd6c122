"""
asan_plugin.py - runs the integration suite against an AddressSanitizer +
UBSan build of the module (`make asan`): `pytest -p asan_plugin tests`
with tests/reliability on PYTHONPATH.

Debian's apache2 is not instrumented, so an instrumented mod_hydra.so only
loads when libasan is the first library of the process: every apache2 the
harness starts gets it in LD_PRELOAD (through apache_env.install). Reports
go to files in HYDRA_ASAN_LOG_DIR (the children run as www-data, so the
directory is world-writable), and the run fails if any file holds an ASan
error or a UBSan "runtime error", whatever the tests said: a child that
died of an ASan report also fails the test that used it (crash lines).

gcc's libubsan, loaded with the module by dlopen(), ignores log_path and
writes to stderr, which is the server's error log: so every server's error
log is read when the test closes it, and the sanitizer lines found there
are copied to a file in the same directory (errorlog.<n>).

Settings: leak detection off (CPython and APR keep memory until exit by
design; reference leaks are test_refleak.py's job), PYTHONMALLOC=malloc so
ASan sees each Python object instead of pymalloc's arenas.

Environment (set by the Makefile): HYDRA_ASAN_PRELOAD (path of
libasan.so), HYDRA_ASAN_LOG_DIR.
"""

import os
import tempfile
from pathlib import Path

import apache_env
import harness

REPORT_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")

_log_dir = None
_error_logs_kept = 0


def _keep_error_log_reports(server):
    """Copies `server`'s error log to the report directory when it holds
    a sanitizer report (called before the server's files are removed)."""
    global _error_logs_kept
    text = server.error_log()
    if any(marker in text for marker in REPORT_MARKERS):
        _error_logs_kept += 1
        (_log_dir / ("errorlog.%d" % _error_logs_kept)).write_text(
            "error log of %s\n%s" % (server.path, text))


def _install_error_log_check():
    close = harness.ApacheServer.close

    def close_keeping_reports(self):
        self.stop()  # the children write their exit-time reports first
        _keep_error_log_reports(self)
        close(self)  # its own stop() finds the server gone

    harness.ApacheServer.close = close_keeping_reports


def pytest_configure(config):
    global _log_dir
    preload = os.environ.get("HYDRA_ASAN_PRELOAD")
    if not preload or not os.path.exists(preload):
        raise RuntimeError("HYDRA_ASAN_PRELOAD must name libasan.so (make asan sets it)")
    _log_dir = Path(os.environ.get("HYDRA_ASAN_LOG_DIR") or tempfile.mkdtemp(prefix="hydra-asan-"))
    _log_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(_log_dir, 0o1777)
    for old in _log_dir.iterdir():
        old.unlink()
    apache_env.install(
        LD_PRELOAD=preload,
        ASAN_OPTIONS=":".join([
            "detect_leaks=0",
            "log_path=%s/asan" % _log_dir,
            "detect_odr_violation=0",
            "allocator_may_return_null=1",
        ]),
        # log_path for a toolchain that honours it; gcc 12's does not here.
        UBSAN_OPTIONS="print_stacktrace=1:log_path=%s/ubsan" % _log_dir,
        PYTHONMALLOC="malloc",
    )
    _install_error_log_check()


def sanitizer_reports():
    reports = []
    if _log_dir is None:
        return reports
    for path in sorted(_log_dir.iterdir()):
        text = path.read_text(errors="replace")
        if any(marker in text for marker in REPORT_MARKERS):
            reports.append((path, text))
    return reports


def pytest_sessionfinish(session, exitstatus):
    reports = sanitizer_reports()
    if reports:
        session.exitstatus = 1
    session.config._hydra_asan_reports = reports


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    reports = getattr(config, "_hydra_asan_reports", [])
    terminalreporter.write_sep("=", "sanitizer reports (%s)" % _log_dir)
    if not reports:
        terminalreporter.write_line("ASAN: no AddressSanitizer or UBSan report")
        return
    terminalreporter.write_line("ASAN: %d report file(s) with findings" % len(reports))
    for path, text in reports:
        terminalreporter.write_line("---- %s" % path)
        terminalreporter.write_line(text[:6000])
