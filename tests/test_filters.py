"""
Python input and output filters: spec/directives.md §5.8 (PythonInputFilter,
PythonOutputFilter, activation, unregistered names), python-api.md §1.3
(FilterDispatch) and §8 (the mp_filter object), interpreters.md §7 (which
interpreter a filter runs in).
"""

import hashlib
import threading

import pytest

from harness import assert_no_crashes


def same_text(got, want):
    """Equality for big bodies, reported as lengths and a digest, not a diff."""
    return (len(got), hashlib.sha256(got.encode()).hexdigest()) == (
        len(want), hashlib.sha256(want.encode()).hexdigest())


FILTERS_PY = r'''
from mod_python import apache

def outputfilter(f):
    # python-api.md §8: the minimal tested output filter.
    s = f.read()
    while s:
        f.write(s.upper())
        s = f.read()
    if s is None:
        f.close()

def inputfilter(f):
    s = f.read()
    if s:
        f.write(s.upper())
    if s is None:
        f.close()

def describe(f):
    s = f.read()
    while s:
        f.write(s)
        s = f.read()
    if s is None:
        f.write("|name=%s|handler=%s|dir=%s|is_input=%r|closed=%r|uri=%s|interp=%s"
                % (f.name, f.handler, f.dir, f.is_input, f.closed, f.req.uri,
                   apache.interpreter))
        f.close()
        try:
            f.write("too late")
        except ValueError as exc:
            f.req.log_error("after close: ValueError: %s" % exc)
        f.close()  # idempotent

def chunker(f):
    s = f.read(3)
    while s:
        f.write(s + b"|")
        s = f.read(3)
    if s is None:
        f.close()

def numbered(f):
    line = f.readline()
    while line:
        f.req.lineno = getattr(f.req, "lineno", 0) + 1
        f.write(b"%d:" % f.req.lineno + line)
        line = f.readline()
    if line is None:
        f.close()

def passer(f):
    f.pass_on()

def quitter(f):
    f.disable()

def broken(f):
    raise ValueError("filter blew up")

def broken_input(f):
    raise ValueError("input filter blew up")
'''

WRITER_PY = r'''
from mod_python import apache

def handler(req):
    req.content_type = "text/plain"
    args = dict(a.split("=", 1) for a in (req.args or "").split("&") if "=" in a)
    if "size" in args:
        req.write("abcdefghij" * int(args["size"]))
    elif "chunks" in args:
        for i in range(int(args["chunks"])):
            req.write("chunk %d;" % i)
    elif "lines" in args:
        req.write("".join("line %d\n" % i for i in range(int(args["lines"]))))
    else:
        req.write("hello world")
    return apache.OK
'''

ECHO_PY = r'''
from mod_python import apache

def handler(req):
    req.content_type = "application/octet-stream"
    req.write(req.read())
    return apache.OK
'''

DYNAMIC_PY = r'''
from mod_python import apache


def handler(req):
    req.content_type = "text/plain"
    what = req.args
    if what == "registered":
        req.register_output_filter("MyUpper", "filters::outputfilter")
        req.add_output_filter("MyUpper")
    elif what == "describe":
        req.register_output_filter("MyDescribe", "filters::describe", "{root}/htdocs")
        req.add_output_filter("MyDescribe")
    elif what == "configured":
        req.add_output_filter("SERVERUP")
    elif what in ("same_name", "same_name_output_first"):
        # One name, registered once as an input and once as an output filter.
        if what == "same_name":
            req.register_input_filter("Both", "filters::inputfilter")
        req.register_output_filter("Both", "filters::describe")
        if what == "same_name_output_first":
            req.register_input_filter("Both", "filters::inputfilter")
        req.add_input_filter("Both")
        req.add_output_filter("Both")
        req.write(req.read())
        return apache.OK
    req.write("dynamic text")
    return apache.OK
'''

CONFIG = r'''
PythonOutputFilter filters::outputfilter SERVERUP

<Directory {root}/htdocs/out>
    SetHandler mod_python
    PythonHandler writer
    PythonOutputFilter filters UPPER
    SetOutputFilter UPPER
</Directory>

<Directory {root}/htdocs/static>
    PythonOutputFilter filters::outputfilter StaticUp
    AddOutputFilter StaticUp .txt
</Directory>

<Directory {root}/htdocs/describe>
    SetHandler mod_python
    PythonHandler writer
    PythonInterpreter filter_interp
    PythonOutputFilter filters::describe DescribeMe
    SetOutputFilter DescribeMe
</Directory>

<Directory {root}/htdocs/perdirective>
    SetHandler mod_python
    PythonHandler writer
    PythonInterpPerDirective On
    PythonOutputFilter filters::describe DescribeDir
    SetOutputFilter DescribeDir
</Directory>

<Directory {root}/htdocs/chunker>
    SetHandler mod_python
    PythonHandler writer
    PythonOutputFilter filters::chunker CHUNKER
    SetOutputFilter CHUNKER
</Directory>

<Directory {root}/htdocs/numbered>
    SetHandler mod_python
    PythonHandler writer
    PythonOutputFilter filters::numbered NUMBERED
    SetOutputFilter NUMBERED
</Directory>

<Directory {root}/htdocs/passer>
    SetHandler mod_python
    PythonHandler writer
    PythonOutputFilter filters::passer PASSER
    SetOutputFilter PASSER
</Directory>

<Directory {root}/htdocs/quitter>
    SetHandler mod_python
    PythonHandler writer
    PythonOutputFilter filters::quitter QUITTER
    SetOutputFilter QUITTER
</Directory>

<Directory {root}/htdocs/broken>
    SetHandler mod_python
    PythonHandler writer
    PythonOutputFilter filters::broken BROKEN
    SetOutputFilter BROKEN
</Directory>

<Directory {root}/htdocs/unregistered>
    SetHandler mod_python
    PythonHandler writer
    SetOutputFilter UPPER
</Directory>

<Directory {root}/htdocs/in>
    SetHandler mod_python
    PythonHandler echo
    PythonInputFilter filters::inputfilter UPIN
    SetInputFilter UPIN
</Directory>

<Directory {root}/htdocs/brokenin>
    SetHandler mod_python
    PythonHandler echo
    PythonInputFilter filters::broken_input BROKENIN
    SetInputFilter BROKENIN
</Directory>

<Directory {root}/htdocs/crossinterp>
    SetHandler mod_python
    PythonHandler writer
    PythonInterpPerDirective On
    SetOutputFilter SERVERUP
</Directory>

<Directory {root}/htdocs/dyn>
    SetHandler mod_python
    PythonHandler dynamic
</Directory>
'''

FILES = {
    "pylib/filters.py": FILTERS_PY,
    "pylib/writer.py": WRITER_PY,
    "pylib/echo.py": ECHO_PY,
    "pylib/dynamic.py": DYNAMIC_PY,
    "htdocs/out/": "",
    "htdocs/describe/": "",
    "htdocs/perdirective/": "",
    "htdocs/chunker/": "",
    "htdocs/numbered/": "",
    "htdocs/passer/": "",
    "htdocs/quitter/": "",
    "htdocs/broken/": "",
    "htdocs/unregistered/": "",
    "htdocs/in/": "",
    "htdocs/dyn/": "",
    "htdocs/brokenin/": "",
    "htdocs/crossinterp/": "",
    "htdocs/static/big.txt": "static line\n" * 30000,
    "htdocs/static/page.txt": "static text\n",
    "htdocs/static/page.html": "<p>static html</p>\n",
}


@pytest.fixture(scope="module")
def server(start_apache, mpm):
    return start_apache(CONFIG, FILES, mpm=mpm)


# --- directives.md §5.8: registration and activation --------------------

def test_set_output_filter_runs_the_python_filter(server):
    status, _, body = server.get("/out/x")
    assert status == 200
    assert body == "HELLO WORLD"


def test_add_output_filter_by_extension_on_static_files(server):
    status, _, body = server.get("/static/page.txt")
    assert status == 200
    assert body == "STATIC TEXT\n"
    status, _, body = server.get("/static/page.html")
    assert status == 200
    assert body == "<p>static html</p>\n"


def test_filter_name_is_lower_case_and_registration_is_visible(server):
    status, _, body = server.get("/describe/x")
    assert status == 200
    text, _, facts = body.partition("|")
    assert text == "hello world"
    facts = dict(item.split("=", 1) for item in facts.split("|"))
    assert facts["name"] == "describeme"
    assert facts["handler"] == "filters::describe"
    assert facts["dir"] == "%s/htdocs/describe/" % server.path
    assert facts["is_input"] == "0"
    assert facts["closed"] == "0"
    assert facts["uri"] == "/describe/x"


def test_filter_runs_in_the_configured_interpreter(server):
    body = server.get("/describe/x").body
    assert body.endswith("|interp=filter_interp")


def test_per_directive_filter_interpreter_is_the_registration_directory(server):
    body = server.get("/perdirective/x").body
    assert body.endswith("|interp=%s/htdocs/perdirective/" % server.path)


def test_request_without_a_mapping_for_the_name_fails(server):
    mark = server.log_mark()
    status, _, _ = server.get("/unregistered/x")
    assert status == 500
    server.wait_for_log(r"python_filter: Could not find registered filter\.", since=mark)
    assert_no_crashes(server, mark)


def test_static_file_buckets_are_read_through_the_filter(server):
    status, _, body = server.get("/static/big.txt")
    assert status == 200
    # Compare digests: pytest's diff of two 360 KB strings takes minutes.
    assert same_text(body, "STATIC LINE\n" * 30000)


def test_filter_and_handler_may_run_in_different_interpreters(server):
    # PerDirective: the handler's interpreter is its directory, the
    # server-level filter registration has none, so the filter runs in
    # the main interpreter while the handler waits in req.write().
    status, _, body = server.get("/crossinterp/x?chunks=20")
    assert status == 200
    assert body == "".join("CHUNK %d;" % i for i in range(20))


def test_head_request_through_an_output_filter(server):
    mark = server.log_mark()
    status, _, body = server.request("HEAD", "/out/x")
    assert status == 200
    assert body == ""
    assert_no_crashes(server, mark)


# --- python-api.md §8: the filter object -------------------------------

def test_output_filter_sees_every_chunk_of_a_streamed_response(server):
    status, _, body = server.get("/out/x?chunks=50")
    assert status == 200
    assert body == "".join("CHUNK %d;" % i for i in range(50))


def test_output_filter_handles_a_large_body(server):
    status, _, body = server.get("/out/x?size=100000")
    assert status == 200
    assert same_text(body, "ABCDEFGHIJ" * 100000)


def test_read_with_a_length_returns_at_most_that_many_bytes(server):
    assert server.get("/chunker/x").body == "hel|lo |wor|ld|"


def test_readline_stops_after_each_newline(server):
    body = server.get("/numbered/x?lines=3").body
    assert body == "1:line 0\n2:line 1\n3:line 2\n"


def test_pass_on_passes_everything_unchanged(server):
    assert server.get("/passer/x?chunks=5").body == "".join("chunk %d;" % i for i in range(5))


def test_disable_makes_the_filter_a_pass_through(server):
    assert server.get("/quitter/x?chunks=5").body == "".join("chunk %d;" % i for i in range(5))


def test_write_after_close_raises_value_error(server):
    mark = server.log_mark()
    server.get("/describe/x")
    server.wait_for_log(r"after close: ValueError: I/O operation on closed filter", since=mark)


# --- python-api.md §1.3: errors --------------------------------------------

def test_filter_error_is_logged_and_the_filter_disabled(server):
    mark = server.log_mark()
    status, _, body = server.get("/broken/x")
    assert status == 200
    assert body == "hello world"
    server.wait_for_log(r"broken filters::broken: ValueError: filter blew up", since=mark)
    assert_no_crashes(server, mark)


# --- input filters -------------------------------------------------------

def test_input_filter_transforms_the_request_body(server):
    status, _, body = server.post("/in/x", "some request body")
    assert status == 200
    assert body == "SOME REQUEST BODY"


def test_input_filter_handles_a_large_body(server):
    payload = "0123456789abcdef" * 20000
    status, _, body = server.post("/in/x", payload)
    assert status == 200
    assert body == payload.upper()


def test_input_filter_error_is_logged_and_the_body_passes_unchanged(server):
    mark = server.log_mark()
    status, _, body = server.post("/brokenin/x", "untouched body")
    assert status == 200
    assert body == "untouched body"
    server.wait_for_log(r"brokenin filters::broken_input: ValueError: input filter blew up",
                        since=mark)


def test_filters_under_concurrent_requests(server):
    mark = server.log_mark()
    failures = []

    def worker(n):
        try:
            for i in range(8):
                if (n + i) % 2:
                    r = server.get("/out/x?chunks=%d" % (10 + i))
                    expected = "".join("CHUNK %d;" % j for j in range(10 + i))
                else:
                    payload = "body %d %d " % (n, i) * 500
                    r = server.post("/in/x", payload)
                    expected = payload.upper()
                if r.status != 200 or r.body != expected:
                    failures.append((n, i, r.status, r.body[:80]))
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append((n, repr(exc)))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert_no_crashes(server, mark)


# --- python-api.md §5.1: req.register_*_filter / req.add_*_filter ---------

def test_register_output_filter_and_add_output_filter(server):
    status, _, body = server.get("/dyn/x?registered")
    assert status == 200
    assert body == "DYNAMIC TEXT"


def test_per_request_filter_runs_as_the_generic_filter(server):
    body = server.get("/dyn/x?describe").body
    text, _, facts = body.partition("|")
    facts = dict(item.split("=", 1) for item in facts.split("|"))
    assert text == "dynamic text"
    assert facts["name"] == "mod_python"
    assert facts["handler"] == "filters::describe"
    assert facts["dir"] == "%s/htdocs/" % server.path


def test_add_output_filter_accepts_a_configured_python_filter_name(server):
    assert server.get("/dyn/x?configured").body == "DYNAMIC TEXT"


def test_no_filter_without_activation(server):
    assert server.get("/dyn/x").body == "dynamic text"


@pytest.mark.parametrize("order", ["same_name", "same_name_output_first"])
def test_same_name_registered_as_input_and_output_filter_keeps_both(server, order):
    mark = server.log_mark()
    status, _, body = server.post("/dyn/x?" + order, "request body")
    text, _, facts = body.partition("|")
    facts = dict(item.split("=", 1) for item in facts.split("|"))
    assert status == 200
    assert text == "REQUEST BODY"  # the input registration ran
    assert facts["handler"] == "filters::describe"  # and the output one
    assert_no_crashes(server, mark)


# --- beyond.md §1: filters in own-GIL interpreters ------------------------

OWN_GIL_CONFIG = r'''
PythonOutputFilter filters::outputfilter SERVERUP

<Directory {root}/htdocs/handler_own>
    SetHandler mod_python
    PythonHandler writer
    PythonInterpPerDirective On
    PythonInterpGIL own
    SetOutputFilter SERVERUP
</Directory>

<Directory {root}/htdocs/filter_own>
    PythonInterpPerDirective On
    PythonInterpGIL own
    PythonOutputFilter filters::outputfilter OWNUP
    AddOutputFilter OWNUP .txt
</Directory>
'''


@pytest.mark.own_gil
def test_filters_across_own_gil_interpreters(start_apache, mpm):
    files = dict(FILES)
    files["htdocs/handler_own/"] = ""
    files["htdocs/filter_own/page.txt"] = "own gil text\n"
    server = start_apache(OWN_GIL_CONFIG, files, mpm=mpm)
    mark = server.log_mark()
    # Handler in an own-GIL interpreter, filter in the main interpreter.
    status, _, body = server.get("/handler_own/x?chunks=20")
    assert (status, body) == (200, "".join("CHUNK %d;" % i for i in range(20)))
    # Static file, filter in an own-GIL interpreter.
    status, _, body = server.get("/filter_own/page.txt")
    assert (status, body) == (200, "OWN GIL TEXT\n")
    server.wait_for_log(r"created interpreter '%s/htdocs/filter_own/' \(own GIL\)" % server.path,
                        since=0)
    assert_no_crashes(server, mark)
