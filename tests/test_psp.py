"""
PSP: python-api.md §16. First the translator alone (§16.1, mod_python._psp
loaded from the package under test, no Apache), then pages served by a real
Apache with `AddHandler mod_python .psp` + `PythonHandler mod_python.psp`
(§16.2-§16.5): code blocks, expressions, includes, an indented if/else, a
form variable, sessions, error pages, the PythonDebug code listing and error
page, both code caches, and the examples of mod_python's documentation
(the indentation rule, python-api.md §16.1: the indent of a block's last
code line, even a comment, persists into the text that follows).

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


def test_end_marker_on_its_own_line_keeps_the_last_code_lines_indent():
    # Upstream's rule: `%>` at the start of a line does not reset the
    # indent, so the text belongs to the loop (it used to render once).
    page = "<%\nfor i in range(3):\n    x = i * 2\n%>[<%= x %>]<%\n%>end"
    assert render(page) == "[0][2][4]end"


def test_a_one_line_block_inside_a_loop_stays_in_the_loop():
    page = "<%\nfor i in range(2):\n%>a<% y = i %>b<%= y %><%\n%>."
    assert render(page) == "ab0ab1."


def test_an_empty_line_before_the_end_marker_ends_the_block():
    page = "<%\nfor i in range(2):\n    pass\n\n%>once"
    assert render(page) == "once"


def test_a_one_line_compound_statement_before_the_end_marker():
    assert render("<%\nfor i in range(3):%><%= i %><%\n%>!") == "012!"


# The examples of mod_python's documentation (the psp module, "Python code
# can be used to output parts of the page conditionally or in loops").

DOC_PRIMITIVE = """<html>
<%
import time
%>
Hello world, the time is: <%=time.strftime("%Y-%m-%d, %H:%M:%S")%>
</html>
"""

DOC_INDENT_PERSISTS = """<html>
<%
for n in range(3):
    # This indent will persist
%>
<p>This paragraph will be
repeated 3 times.</p>
<%
# This line will cause the block to end
%>
This line will only be shown once.<br>
</html>
"""

DOC_COLON = """<html>
<%
for n in range(3):
%>
<p>This paragraph will be
repeated 3 times.</p>
<%
%>
This line will only be shown once.<br>
</html>
"""

DOC_OUTPUT = ("<html>\n" + "\n<p>This paragraph will be\nrepeated 3 times.</p>\n" * 3
              + "\nThis line will only be shown once.<br>\n</html>\n")


def test_documentation_primitive_page():
    out = render(DOC_PRIMITIVE)
    assert re.fullmatch(r"<html>\n\nHello world, the time is: "
                        r"\d{4}-\d\d-\d\d, \d\d:\d\d:\d\d\n</html>\n", out), out


def test_documentation_example_the_indent_of_a_comment_line_persists():
    assert render(DOC_INDENT_PERSISTS) == DOC_OUTPUT


def test_documentation_example_a_trailing_colon_and_an_empty_block():
    assert render(DOC_COLON) == DOC_OUTPUT


def test_documentation_translation_of_the_comment_example():
    source = _psp.parsestring(DOC_INDENT_PERSISTS)
    assert ('for n in range(3):\n    # This indent will persist\n    req.write("""\n<p>'
            in source)
    assert '# This line will cause the block to end\nreq.write("""\nThis line' in source


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

APPLY_PSP = """<%
def pick(a, b="none", req=None):
    return "%s|%s|%s|%s" % (a, type(a).__name__, b, req is not None)
# (a line at column 0 ends the def: otherwise the text would be its body)
%><%= psp.apply_data(pick) %>"""

FAILING_PSP = """before<%
raise KeyError("psp page failure")
%>after"""

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
    "htdocs/doc_indent.psp": DOC_INDENT_PERSISTS,
    "htdocs/doc_colon.psp": DOC_COLON,
    "htdocs/failing.psp": FAILING_PSP,
    "htdocs/apply.psp": APPLY_PSP,
    "htdocs/nodebug/failing.psp": FAILING_PSP,
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
    # The loop's last code line is indented and `%>` starts a line, so the
    # text after it is the loop's body (upstream's rule): it repeats.
    assert body.endswith("0\nvisits=0\n1\nvisits=0\n2\nvisits=0\n"), body

    again = server.get("/page.psp?count=1", headers={"Cookie": _session_cookie(resp)})
    assert again.status == 200, again.body
    assert "Hello nobody!" in again.body
    assert "few\n" in again.body and "many" not in again.body
    assert again.body.endswith("0\nvisits=1\n"), again.body


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


@pytest.mark.parametrize("page", ["doc_indent", "doc_colon"])
def test_documentation_examples_served_by_apache(server, page):
    resp = server.get("/%s.psp" % page)
    assert resp.status == 200, resp.body
    assert resp.body == DOC_OUTPUT


def test_apply_data_calls_with_form_fields_and_req(server):
    assert server.get("/apply.psp?a=%C3%A9").body == "\u00e9|str|none|True"
    resp = server.post("/apply.psp", "a=x&b=y",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.body == "x|str|y|True"


def test_failing_page_with_python_debug_shows_the_error_page(server):
    resp = server.get("/failing.psp")
    assert resp.status == 500
    assert resp.headers["Content-Type"].startswith("text/html")
    assert 'Mod_python error: &quot;PythonHandler mod_python.psp&quot;' in resp.body \
        or 'Mod_python error: "PythonHandler mod_python.psp"' in resp.body
    assert "KeyError" in resp.body and "psp page failure" in resp.body
    assert "failing.psp" in resp.body


def test_failing_page_without_python_debug_is_a_plain_500(server):
    resp = server.get("/nodebug/failing.psp")
    assert resp.status == 500
    assert "psp page failure" not in resp.body
    assert "KeyError" in server.error_log()


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
