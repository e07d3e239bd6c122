"""
PSP: python-api.md §16. First the translator alone (§16.1, mod_python._psp
loaded from the package under test, no Apache), then pages served by a real
Apache with `AddHandler mod_python .psp` + `PythonHandler mod_python.psp`
(§16.2-§16.5): code blocks, expressions, includes, an indented if/else, a
form variable, sessions, error pages, the PythonDebug code listing and both
code caches.

The Apache runs one child per MPM, so the in-memory cache is always the
same one.
"""

import glob
import importlib.util
import io
import os
import re
import time

import pytest

import harness


def _load_translator():
    path = os.path.join(harness.MP_PACKAGE, "_psp.py")
    spec = importlib.util.spec_from_file_location("hydra_test_psp", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_psp = _load_translator()


class FakeRequest:
    """Collects what generated code writes, and the flush flags."""

    def __init__(self):
        self.out = io.StringIO()
        self.flush_flags = set()

    def write(self, text, flush=1):
        self.flush_flags.add(flush)
        self.out.write(text)


def run_page(page, **names):
    source = _psp.parsestring(page)
    req = FakeRequest()
    exec(compile(source, "__psp__", "exec"), dict(names, req=req))
    return req


def render(page, **names):
    return run_page(page, **names).out.getvalue()


# -- §16.1: translation ------------------------------------------------------------

def test_spec_page_with_an_indented_block_outputs_test_ok():
    assert render('<%\nif 1:\n    req.write("t")\n%>est<%=" "+"ok"%>\n') == "test ok\n"


def test_text_after_a_trailing_colon_belongs_to_the_block():
    assert render("A<%\nfor i in range(2):\n%>B<%=i%><%\n%>C\n") == "AB0B1C\n"


def test_generated_code_opens_and_closes_one_write_with_no_flush():
    source = _psp.parsestring("hello")
    assert source == 'req.write("""hello""",0)\n'


def test_every_write_passes_no_flush():
    req = run_page("a<%= 1 %>b<% x = 2 %>c<%\nif x:\n%>d<%\n%>e")
    assert req.out.getvalue() == "a1bcde"
    assert req.flush_flags == {0}


def test_quotes_and_backslash_escapes_print_literally():
    page = 'say "hi" \\n \\r \\t """ end'
    assert render(page) == page


def test_crlf_in_text_becomes_lf():
    assert render("a\r\nb\r\n") == "a\nb\n"


def test_comments_are_removed():
    assert render("a<%-- hidden <% x %> --%>b") == "ab"


def test_one_line_code_block_gets_a_semicolon():
    assert render("<% x = 6 * 7 %>x=<%= x %>") == "x=42"


def test_code_block_at_column_zero_ends_the_block():
    page = "<%\nfor i in range(3):\n    pass\n    %>[<%= i %>]<%\n%>end"
    assert render(page) == "[0][1][2]end"


def test_indented_if_else_with_text_in_both_branches():
    page = "<%\nif flag:\n%>yes<%\nelse:\n%>no<%\n%>!"
    assert render(page, flag=True) == "yes!"
    assert render(page, flag=False) == "no!"


def test_bare_cr_counts_as_a_newline_in_code():
    assert render("<%\rfor i in range(2):\r%><%= i %><%\r%>.") == "01."


def test_include_is_translated_in_place(tmp_path):
    (tmp_path / "inc.psp").write_text('[<%= who %> "inc"]')
    (tmp_path / "page.psp").write_text('<% who = "me" %>a<%@ include file="inc.psp" %>b')
    source = _psp.parse("page.psp", str(tmp_path) + "/")
    req = FakeRequest()
    exec(compile(source, "page", "exec"), {"req": req})
    assert req.out.getvalue() == 'a[me "inc"]b'


def test_include_of_a_missing_file_raises_ioerror(tmp_path):
    (tmp_path / "page.psp").write_text('<%@ include file="nothere.psp" %>')
    with pytest.raises(IOError):
        _psp.parse("page.psp", str(tmp_path) + "/")


def test_parse_without_dir_opens_the_path_as_given(tmp_path):
    (tmp_path / "p.psp").write_text("<%= 1 + 1 %>")
    assert "req.write(str( 1 + 1 ),0)" in _psp.parse(str(tmp_path / "p.psp"))


def test_parsestring_accepts_bytes():
    assert _psp.parsestring(b"x") == _psp.parsestring("x")


# -- §16.2-§16.5: pages under Apache -------------------------------------------------

PAGE_PSP = r'''<% title = "Welcome" %><%@ include file="inc/header.psp" %>
<%-- this comment never reaches the client --%>
<%
name = form.getfirst("name", b"nobody").decode("utf-8")
count = int(form.getfirst("count", b"0"))
%>Hello <%= name %>!
<%
if count > 2:
%>many "quoted" \n
<%
else:
%>few
<%
%><%
for i in range(count):
    req.write(str(i))
%>
visits=<%= session.get("visits", 0) %>
<%
session["visits"] = session.get("visits", 0) + 1
%>'''

HEADER_PSP = "<h1><%= title %></h1>"

ERROR_MAIN_PSP = r'''<%
req.write("okay")
psp.set_error_page("error_page.psp")
session["touched"] = 1
raise ValueError("the page fails")
%>'''

ERROR_PAGE_PSP = r'''<%
session["error_seen"] = 1
%>fail:<%= exception[0].__name__ %>'''

REDIRECT_PSP = '''<%
psp.redirect("/elsewhere")
%>'''

PLAIN_PSP = "plain <%= 40 + 2 %>\n"

STRING_PY = r'''
from mod_python import apache, psp

def handler(req):
    req.content_type = "text/plain"
    page = psp.PSP(req, string="<%= 6 * 7 %>;<%= extra %>", vars={"extra": "v"})
    page.run()
    try:
        psp.PSP(req, filename="x.psp", string="y")
    except ValueError:
        req.write(";both=ValueError")
    return apache.OK
'''

CONFIG = r'''
<Directory {root}/htdocs>
    AddHandler mod_python .psp .psp_
    PythonHandler mod_python.psp
    PythonDebug On
    PythonOption mod_python.session.session_type FileSession
    PythonOption mod_python.file_session.database_directory {root}/var
</Directory>
<Directory {root}/htdocs/nodebug>
    PythonDebug Off
</Directory>
<Directory {root}/htdocs/dbmcache>
    PythonOption mod_python.psp.cache_database_filename {root}/var/pspcache.dbm
</Directory>
<Location /fromstring>
    SetHandler mod_python
    PythonHandler psp_string
</Location>
'''

FILES = {
    "htdocs/page.psp": PAGE_PSP,
    "htdocs/inc/header.psp": HEADER_PSP,
    "htdocs/error_main.psp": ERROR_MAIN_PSP,
    "htdocs/error_page.psp": ERROR_PAGE_PSP,
    "htdocs/redirect.psp": REDIRECT_PSP,
    "htdocs/nodebug/plain.psp": PLAIN_PSP,
    "htdocs/dbmcache/plain.psp": PLAIN_PSP,
    "htdocs/memcache/plain.psp": PLAIN_PSP,
    "pylib/psp_string.py": STRING_PY,
}


@pytest.fixture(scope="module")
def server(start_apache, mpm):
    return start_apache(CONFIG, FILES, mpm=mpm, single_child=True)


def _session_cookie(resp):
    match = re.search(r"pysid=([0-9a-f]{32})", resp.headers.get("Set-Cookie") or "")
    assert match, resp.headers
    return "pysid=" + match.group(1)


def test_page_with_code_expressions_include_if_else_form_and_session(server):
    resp = server.get("/page.psp?name=Ada&count=3")
    assert resp.status == 200, resp.body
    assert resp.headers["Content-Type"].startswith("text/html")
    body = resp.body
    assert body.startswith("<h1>Welcome</h1>\n"), body
    assert "comment" not in body
    assert "Hello Ada!\n" in body
    assert 'many "quoted" \\n\n' in body and "few" not in body
    assert "012\n" in body
    assert "visits=0\n" in body

    again = server.get("/page.psp?count=1", headers={"Cookie": _session_cookie(resp)})
    assert again.status == 200, again.body
    assert "Hello nobody!" in again.body
    assert "few\n" in again.body and "many" not in again.body
    assert "visits=1\n" in again.body


def test_error_page_runs_with_the_exception_and_the_same_session(server):
    resp = server.get("/error_main.psp", timeout=20)
    assert resp.status == 200, resp.body
    assert resp.body.startswith("okay")
    assert resp.body.endswith("fail:ValueError")
    # The session was saved by the error page and unlocked at the end: the
    # next request with the cookie gets it without waiting.
    later = server.get("/page.psp", headers={"Cookie": _session_cookie(resp)}, timeout=20)
    assert later.status == 200


def test_psp_redirect_is_not_an_error(server):
    resp = server.get("/redirect.psp")
    assert resp.status == 302
    assert resp.headers["Location"] == "/elsewhere"


def test_missing_page_is_not_found(server):
    assert server.get("/nothere.psp").status == 404


def test_debug_url_ending_in_underscore_lists_code_and_source(server):
    resp = server.get("/page.psp_")
    assert resp.status == 200, resp.body
    assert "<table" in resp.body
    assert "req.write(str(&nbsp;name&nbsp;),0)" in resp.body
    assert "&lt;%&nbsp;title&nbsp;=&nbsp;&quot;Welcome&quot;&nbsp;%&gt;" in resp.body


def test_underscore_url_without_debug_is_not_found(server):
    assert server.get("/nodebug/plain.psp").body == "plain 42\n"
    assert server.get("/nodebug/plain.psp_").status == 404


def test_page_from_a_string_with_vars(server):
    resp = server.get("/fromstring")
    assert resp.status == 200, resp.body
    assert resp.body == "42;v;both=ValueError"


def _rewrite_keeping_mtime(server, relpath, text):
    path = server.path / relpath
    mtime_ns = path.stat().st_mtime_ns
    server.write(relpath, text)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def _rewrite_with_new_mtime(server, relpath, text):
    server.write(relpath, text, mtime=time.time() + 5)


@pytest.mark.parametrize("directory", ["memcache", "dbmcache"])
def test_compiled_pages_are_cached_by_path_and_mtime(server, directory):
    relpath = "htdocs/%s/plain.psp" % directory
    url = "/%s/plain.psp" % directory
    assert server.get(url).body == "plain 42\n"
    _rewrite_keeping_mtime(server, relpath, "changed <%= 1 %>\n")
    assert server.get(url).body == "plain 42\n"  # same mtime: the cached code
    _rewrite_with_new_mtime(server, relpath, "changed <%= 1 %>\n")
    assert server.get(url).body == "changed 1\n"
    if directory == "dbmcache":
        assert glob.glob(str(server.path / "var" / "pspcache.dbm*"))


def test_no_crashes(server):
    assert not server.crash_lines()
