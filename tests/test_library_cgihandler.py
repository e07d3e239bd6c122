"""
mod_python.cgihandler: python-api.md §17. A CGI-style script (headers
printed to stdout, the body read from stdin, the CGI environment in
os.environ) run by `PythonHandler mod_python.cgihandler`, with a query
string and a POST body; a helper module it imports is re-read after a
change; a missing script is 404.
"""

import pytest

from harness import assert_no_crashes, get_ok

SCRIPT_PY = r'''
import os, sys
import cgihelper

body = sys.stdin.read()
print("Status: 201 Created")
print("Content-Type: text/plain")
print("X-Script: %s" % os.path.basename(os.environ["SCRIPT_FILENAME"]))
print()
print("method=%s" % os.environ["REQUEST_METHOD"])
print("query=%s" % os.environ.get("QUERY_STRING", ""))
print("body=%s" % body)
print("cwd=%s" % os.path.basename(os.getcwd()))
print("helper=%s" % cgihelper.VALUE)
'''

CONFIG = r'''
<Directory {root}/htdocs/cgi>
    SetHandler mod_python
    PythonHandler mod_python.cgihandler
</Directory>
'''

FILES = {
    "htdocs/cgi/script.py": SCRIPT_PY,
    "htdocs/cgi/cgihelper.py": "VALUE = 'one'\n",
}


@pytest.fixture(scope="module")
def server(start_apache, mpm):
    return start_apache(CONFIG, FILES, mpm=mpm, single_child=True)


def test_get_with_a_query_string(server):
    resp = server.get("/cgi/script.py?a=1&b=%C3%A9")
    assert resp.status == 201, resp.body
    assert resp.headers["Content-Type"] == "text/plain"
    assert resp.headers["X-Script"] == "script.py"
    lines = resp.body.splitlines()
    assert lines[:3] == ["method=GET", "query=a=1&b=%C3%A9", "body="]
    assert "cwd=cgi" in lines


def test_post_body_arrives_on_stdin(server):
    resp = server.post("/cgi/script.py", "x=1&text=h\u00e9llo\nsecond line")
    assert resp.status == 201, resp.body
    assert "method=POST" in resp.body
    assert "body=x=1&text=h\u00e9llo\nsecond line\n" in resp.body


def test_changed_helper_module_is_imported_afresh(server):
    assert "helper=one" in server.get("/cgi/script.py").body
    server.write("htdocs/cgi/cgihelper.py", "VALUE = 'two'\n")
    assert "helper=two" in server.get("/cgi/script.py").body


def test_missing_script_is_404(server):
    assert server.get("/cgi/nothere.py").status == 404


def test_no_crashes(server):
    assert_no_crashes(server)
