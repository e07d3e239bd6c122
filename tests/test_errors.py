"""
Error handling: python-api.md §1.1 (results must be exact ints), §1.2
(missing callables), §1.5 (error log lines and the PythonDebug page),
interpreters.md §12 (PythonImport errors), DESIGN.md conventions (a failing
handler costs one request, never the child) and directives.md (a bad
directive fails `apache2 -t` naming the directive, the file and the line).
"""

import html
import re

import pytest

import harness
from harness import ApacheServer, get_json, location, log_lines

ERRMOD_PY = r'''
import os, sys
from mod_python import apache

NOT_CALLABLE = 42

def ok(req):
    req.content_type = "application/json"
    import json
    req.write(json.dumps({"interp": req.interpreter, "pid": os.getpid(),
                          "imported": sorted(m for m in sys.modules if m.startswith("imp_"))}))
    return apache.OK

def boom(req):
    raise ValueError("boom-" + (req.args or ""))

def boom_html(req):
    raise ValueError('<b>&"escaped"</b>')

def boom_after_write(req):
    req.write("partial output\n")
    raise ValueError("late failure")

def ret_str(req):
    return "0"

def ret_none(req):
    pass

def ret_true(req):
    return True

def ret_float(req):
    return 0.0
'''

BROKEN_PY = '''
raise RuntimeError("hydra-import-failure-marker")
'''


CONFIG = "\n".join([
    "PythonImport imp_good errs",
    "PythonImport imp_broken errs",
    location("/ok", "PythonDebug Off", interp="errs", handler="errmod::ok"),
    location("/boom", "PythonDebug Off", interp="errs", handler="errmod::boom"),
    location("/debug", "PythonDebug On", interp="errs", handler="errmod::boom_html"),
    location("/debug-late", "PythonDebug On", interp="errs", handler="errmod::boom_after_write"),
    location("/ret-str", "PythonDebug Off", interp="errs", handler="errmod::ret_str"),
    location("/ret-none", "PythonDebug Off", interp="errs", handler="errmod::ret_none"),
    location("/ret-true", "PythonDebug Off", interp="errs", handler="errmod::ret_true"),
    location("/ret-float", "PythonDebug Off", interp="errs", handler="errmod::ret_float"),
    location("/missing", "PythonDebug Off", interp="errs", handler="errmod::bad_handler"),
    location("/not-callable", "PythonDebug Off", interp="errs", handler="errmod::NOT_CALLABLE"),
    location("/no-module", "PythonDebug Off", interp="errs",
             handler="hydra_no_such_module::handler"),
    location("/import-fails", "PythonDebug Off", interp="errs", handler="imp_broken_handler"),
])

FILES = {
    "pylib/errmod.py": ERRMOD_PY,
    "pylib/imp_good.py": "VALUE = 1\n",
    "pylib/imp_broken.py": BROKEN_PY,
    "pylib/imp_broken_handler.py": BROKEN_PY,
}


@pytest.fixture(scope="module")
def server(mpm):
    with ApacheServer(CONFIG, FILES, mpm=mpm, single_child=True) as server:
        yield server


# -- a raising handler --------------------------------------------------------

def test_raising_handler_gives_500(server):
    status, _, body = server.get("/boom?x")
    assert status == 500
    assert "boom-x" not in body, "traceback leaked without PythonDebug"


def test_raising_handler_logs_traceback_prefixed_with_phase_and_handler(server):
    mark = server.log_mark()
    server.get("/boom?marker1")
    log = server.wait_for_log(r"boom-marker1", since=mark)
    lines = log_lines(log, "PythonHandler errmod::boom: ")
    assert any("Traceback (most recent call last)" in l for l in lines), log
    assert any("ValueError: boom-marker1" in l for l in lines), log
    assert all(re.search(r"\[[a-z_]*:error\]", l) for l in lines), lines


def test_raising_handler_log_names_the_interpreter(server):
    mark = server.log_mark()
    server.get("/boom?marker2")
    log = server.wait_for_log(r"boom-marker2", since=mark)
    assert "PythonHandler errmod::boom: handler failed in interpreter 'errs'" in log, log


def test_next_request_to_same_interpreter_succeeds_after_error(server):
    before = get_json(server, "/ok")
    assert server.get("/boom?again").status == 500
    after = get_json(server, "/ok")
    assert after["interp"] == before["interp"] == "errs"
    assert after["pid"] == before["pid"], "the child died"


def test_errors_do_not_crash_the_child(server):
    mark = server.log_mark()
    for path in ["/boom", "/ret-str", "/missing", "/no-module", "/import-fails"]:
        server.get(path)
    get_json(server, "/ok")
    assert not server.crash_lines(mark)


# -- PythonDebug On -----------------------------------------------------------

def test_python_debug_sends_html_error_page(server):
    status, headers, body = server.get("/debug")
    assert status == 500
    assert headers.get("Content-Type", "").startswith("text/html")
    assert body.startswith('\n<pre>\nMod_python error: "PythonHandler errmod::boom_html"\n\n'), body[:200]
    assert body.endswith("</pre>\n")
    assert "Traceback (most recent call last)" in body


def test_python_debug_page_escapes_the_traceback(server):
    _, _, body = server.get("/debug")
    assert html.escape('<b>&"escaped"</b>', quote=True) in body
    assert '<b>&"escaped"</b>' not in body


def test_python_debug_page_is_appended_after_output_started(server):
    status, _, body = server.get("/debug-late")
    assert status == 200          # headers were already sent
    assert body.startswith("partial output\n")
    assert 'Mod_python error: "PythonHandler errmod::boom_after_write"' in body


def test_python_debug_still_logs_the_traceback(server):
    mark = server.log_mark()
    server.get("/debug")
    log = server.wait_for_log(r"PythonHandler errmod::boom_html: ", since=mark)
    assert "ValueError" in log


# -- results that are not exact ints ------------------------------------------

@pytest.mark.parametrize("path", ["/ret-str", "/ret-none", "/ret-true", "/ret-float"])
def test_non_int_result_is_500(server, path):
    status, _, body = server.get(path)
    assert status == 500, body
    get_json(server, "/ok")


# -- handler resolution errors ------------------------------------------------

def test_missing_callable_is_500_and_logged(server):
    mark = server.log_mark()
    status, _, _ = server.get("/missing")
    assert status == 500
    server.wait_for_log(r"contains no 'bad_handler'", since=mark)


def test_not_callable_object_is_500(server):
    assert server.get("/not-callable").status == 500
    get_json(server, "/ok")


def test_missing_module_is_500_and_logged(server):
    mark = server.log_mark()
    assert server.get("/no-module").status == 500
    server.wait_for_log(r"hydra_no_such_module", since=mark)


def test_module_failing_at_import_is_500_each_time(server):
    mark = server.log_mark()
    assert server.get("/import-fails").status == 500
    assert server.get("/import-fails").status == 500
    log = server.wait_for_log(r"hydra-import-failure-marker", since=mark)
    assert len(log_lines(log, "RuntimeError: hydra-import-failure-marker")) >= 2


# -- PythonImport errors ------------------------------------------------------

def test_python_import_error_is_logged(server):
    log = server.error_log()
    assert "directive_PythonImport: error importing imp_broken" in log
    assert "hydra-import-failure-marker" in log


def test_python_import_error_does_not_stop_remaining_imports(server):
    # imp_broken is configured last, so it runs first (reverse order).
    assert "imp_good" in get_json(server, "/ok")["imported"]


# -- configuration errors (apache2 -t) -----------------------------------------

def assert_config_error(result, directive, bad_line):
    rc, output = result
    assert rc != 0, output
    assert directive in output, output
    assert result.conf in output, output
    assert "line %d" % result.line_of(bad_line) in output, output


def test_valid_config_passes_config_check(config_check):
    rc, output = config_check(CONFIG, FILES)
    assert rc == 0, output
    assert "Syntax OK" in output


@pytest.mark.parametrize("directive, bad_line", [
    ("PythonDebug", "PythonDebug maybe"),
    ("PythonAutoReload", "PythonAutoReload sometimes"),
    ("PythonInterpPerDirectory", "PythonInterpPerDirectory yes please"),
    ("PythonImport", "PythonImport onlyonearg"),
    ("PythonTransHandler", "PythonTransHandler a | .py"),
    ("PythonPostReadRequestHandler", "PythonPostReadRequestHandler a | .py"),
])
def test_bad_directive_value_fails_config_check_naming_directive_file_and_line(
        config_check, directive, bad_line):
    snippet = "\n".join(["<Directory {root}/htdocs>", "    SetHandler mod_python", "</Directory>",
                         bad_line, ""])
    assert_config_error(config_check(snippet), directive, bad_line)


def test_handler_directive_not_allowed_in_directory_fails_config_check(config_check):
    bad_line = "    PythonTransHandler mymod"
    snippet = "<Directory {root}/htdocs>\n%s\n</Directory>\n" % bad_line
    assert_config_error(config_check(snippet), "PythonTransHandler", bad_line.strip())


def test_interp_gil_shared_passes_config_check(config_check):
    rc, output = config_check("<Directory {root}/htdocs>\n    PythonInterpGIL shared\n</Directory>\n")
    assert rc == 0, output


def test_interp_gil_bad_value_fails_config_check(config_check):
    bad_line = "PythonInterpGIL sometimes"
    snippet = "<Directory {root}/htdocs>\n    %s\n</Directory>\n" % bad_line
    assert_config_error(config_check(snippet), "PythonInterpGIL", bad_line)


@pytest.mark.skipif(harness.python_version() >= (3, 12),
                    reason="own GIL is available on Python >= 3.12")
def test_interp_gil_own_fails_config_check_before_python_3_12(config_check):
    bad_line = "PythonInterpGIL own"
    snippet = "<Directory {root}/htdocs>\n    %s\n</Directory>\n" % bad_line
    result = config_check(snippet)
    assert_config_error(result, "PythonInterpGIL", bad_line)
    assert "%d.%d" % harness.python_version() in result.output, result.output
