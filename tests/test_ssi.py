"""
The SSI `#python` tag: spec/python-api.md §1.6 (IncludeDispatch, the C-side
checks, output in place of the tag, errors), §1.5 (how a failing tag is
logged), interpreters.md §7 (which interpreter a tag runs in; the naming
rows themselves are in test_interpreter_naming.py).

Pages are served by mod_include's INCLUDES filter; SSIErrorMsg is set so
that mod_include's error text is easy to find in a body.
"""

import pytest

from harness import ApacheServer, get_body

ERR = "[ssi-error]"
DEFAULT_ERR = "[an error occurred while processing this directive]"

CONFIG = r'''
SSIErrorMsg "[ssi-error]"

<Directory {root}/htdocs>
    Options +Includes
    AddType text/html .shtml
    AddOutputFilter INCLUDES .shtml
    PythonDebug On
</Directory>

<Directory {root}/htdocs/noexec>
    Options -Includes +IncludesNOEXEC
</Directory>

<Directory {root}/htdocs/default_msg>
    SSIErrorMsg "[an error occurred while processing this directive]"
</Directory>

<Directory {root}/htdocs/fixup>
    PythonFixupHandler ssifixup
</Directory>

<Directory {root}/htdocs/handler>
    SetHandler mod_python
    PythonHandler ssipage
    SetOutputFilter INCLUDES
</Directory>

<Directory {root}/htdocs/named>
    PythonInterpreter ssi_named
</Directory>
'''

FIXUP_PY = r'''
from mod_python import apache

def fixuphandler(req):
    req.ssi_globals = {"preset": "set by the fixup"}
    return apache.OK
'''

# A content handler whose own output goes through INCLUDES: the tags run
# while the handler is inside req.write() (re-entrant acquire) and share
# the request object, so ssi_globals set here are seen by the tags.
SSIPAGE_PY = r'''
from mod_python import apache

def handler(req):
    req.content_type = "text/html"
    req.ssi_globals = {"who": "handler"}
    req.write('one <!--#python eval="who"--> two\n')
    req.write('<!--#python exec="who = who + \' and tag\'"-->')
    req.write('three <!--#python eval="who"--> four\n')
    req.write("handler sees: %s\n" % req.ssi_globals["who"])
    return apache.OK
'''

BIG = "x" * 20000

FILES = {
    "pylib/ssifixup.py": FIXUP_PY,
    "htdocs/handler/ssipage.py": SSIPAGE_PY,
    "htdocs/eval.shtml": 'before <!--#python eval="1 + 2"--> after\n',
    "htdocs/eval_none.shtml": '[<!--#python eval="None"-->]\n',
    "htdocs/eval_str.shtml": '[<!--#python eval="\'a\' * 3"-->]\n',
    "htdocs/exec.shtml": 'before <!--#python exec="filter.write(\'from exec\')"--> after\n',
    "htdocs/exec_block.shtml": (
        '[<!--#python exec="\n'
        'for i in range(3):\n'
        '    filter.write(str(i))\n'
        '"-->]\n'),
    "htdocs/exec_crlf.shtml": (
        '[<!--#python exec="\r\n'
        'for i in range(3):\r\n'
        '    filter.write(str(i))\r\n'
        '   "-->]\n'),
    "htdocs/entities.shtml": '[<!--#python eval="&quot;&lt;b&gt;&quot;"-->]\n',
    "htdocs/several.shtml": ('A<!--#python eval="1"-->B<!--#python exec="filter.write(\'2\')"-->C'
                             '<!--#python eval="3"-->D\n'),
    "htdocs/big.shtml": (BIG + '<!--#python exec="filter.write(\'MID\' * 5000)"-->' + BIG
                         + '<!--#python eval="\'END\'"-->\n'),
    "htdocs/flush.shtml": ('[<!--#python exec="filter.write(\'a\'); filter.flush(); '
                           'filter.write(\'b\')"-->]\n'),
    "htdocs/globals.shtml": ('<!--#python exec="x = 20"-->'
                             '[<!--#python eval="x + 1"-->]'
                             '[<!--#python exec="x = x * 2"-->]'
                             '[<!--#python eval="x"-->]\n'),
    "htdocs/counter.shtml": ('<!--#python exec="n = globals().get(\'n\', 0) + 1"-->'
                             '[<!--#python eval="n"-->]\n'),
    "htdocs/namespace.shtml": ('[<!--#python eval="filter.req.ssi_globals is globals()"-->]'
                               '[<!--#python eval="__file__"-->]'
                               '[<!--#python eval="filter.name"-->]'
                               '[<!--#python eval="filter.req.filename == __file__"-->]\n'),
    "htdocs/filter_cleared.shtml": ('<!--#python exec="saved = filter"-->'
                                    '[<!--#python eval="saved is filter"-->]'
                                    '[<!--#python eval="filter.req.ssi_globals[\'filter\'] is filter"-->]'
                                    '\n'),
    "htdocs/stale_filter.shtml": ('<!--#python exec="saved = filter"-->'
                                  '[<!--#python exec="\n'
                                  'try:\n'
                                  '    saved.write(\'late\')\n'
                                  'except ValueError as exc:\n'
                                  '    filter.write(\'ValueError\')\n'
                                  '"-->]\n'),
    "htdocs/disable.shtml": ('[<!--#python exec="filter.disable()"-->]'
                             '[<!--#python eval="\'still here\'"-->]\n'),
    "htdocs/read.shtml": '[<!--#python eval="filter.read()"-->]\n',
    "htdocs/raises.shtml": ('before <!--#python exec="filter.write(\'partial\'); '
                            'raise ValueError(\'ssi boom\')"--> after '
                            '<!--#python eval="\'next tag\'"-->\n'),
    "htdocs/syntax.shtml": 'before <!--#python eval="1 +"--> after\n',
    "htdocs/missing.shtml": 'before <!--#python --> after\n',
    "htdocs/empty.shtml": 'before <!--#python eval=""--> after\n',
    "htdocs/duplicate.shtml": 'before <!--#python eval="1" eval="2"--> after\n',
    "htdocs/both.shtml": 'before <!--#python eval="1" exec="x = 2"--> after\n',
    "htdocs/unknown.shtml": 'before <!--#python code="1"--> after\n',
    "htdocs/not_printing.shtml": ('a<!--#if expr="-z \'\'"-->'
                                  '<!--#else-->'
                                  '<!--#python exec="raise ValueError(\'must not run\')"-->'
                                  '<!--#python -->'
                                  '<!--#endif-->b<!--#python eval="\'c\'"-->\n'),
    "htdocs/include.shtml": 'A<!--#include virtual="inner.shtml"-->B\n',
    "htdocs/inner.shtml": '[<!--#python eval="\'inner\'"-->]',
    "htdocs/noexec/page.shtml": 'before <!--#python eval="1 + 2"--> after\n',
    "htdocs/default_msg/page.shtml": 'before <!--#python eval="1 +"--> after\n',
    "htdocs/fixup/page.shtml": '[<!--#python eval="preset"-->]\n',
    "htdocs/named/page.shtml": '[<!--#python eval="__import__(\'mod_python.apache\').apache.interpreter"-->]\n',
}


@pytest.fixture(scope="module")
def server(mpm):
    with ApacheServer(CONFIG, FILES, mpm=mpm, modules=("include",)) as server:
        yield server


# -- eval and exec ------------------------------------------------------------

def test_eval_writes_str_of_the_result_in_place_of_the_tag(server):
    assert get_body(server, "/eval.shtml") == "before 3 after\n"


def test_eval_of_none_writes_nothing(server):
    assert get_body(server, "/eval_none.shtml") == "[]\n"


def test_eval_of_a_str_writes_it_unquoted(server):
    assert get_body(server, "/eval_str.shtml") == "[aaa]\n"


def test_exec_output_written_with_filter_write_replaces_the_tag(server):
    assert get_body(server, "/exec.shtml") == "before from exec after\n"


def test_exec_runs_a_multi_line_block_starting_at_column_0(server):
    assert get_body(server, "/exec_block.shtml") == "[012]\n"


def test_exec_code_with_crlf_and_trailing_blanks_is_normalised(server):
    assert get_body(server, "/exec_crlf.shtml") == "[012]\n"


def test_attribute_value_is_entity_decoded(server):
    assert get_body(server, "/entities.shtml") == "[<b>]\n"


# -- output position ------------------------------------------------------------

def test_several_tags_each_land_between_their_neighbours(server):
    assert get_body(server, "/several.shtml") == "A1B2C3D\n"


def test_output_stays_in_place_around_large_text(server):
    body = get_body(server, "/big.shtml")
    assert body == BIG + "MID" * 5000 + BIG + "END\n"


def test_flush_inside_a_tag_does_not_move_its_output(server):
    assert get_body(server, "/flush.shtml") == "[ab]\n"


def test_tag_in_an_included_document_lands_inside_the_include(server):
    assert get_body(server, "/include.shtml") == "A[inner]B\n"


def test_tags_in_a_python_handlers_output_run_inside_req_write(server):
    assert get_body(server, "/handler/page") == ("one handler two\n"
                                                "three handler and tag four\n"
                                                "handler sees: handler and tag\n")


# -- globals --------------------------------------------------------------------

def test_globals_persist_across_tags_of_one_request(server):
    assert get_body(server, "/globals.shtml") == "[21][][40]\n"


def test_globals_do_not_persist_across_requests(server):
    for _ in range(3):
        assert get_body(server, "/counter.shtml") == "[1]\n"


def test_namespace_is_req_ssi_globals_with_file_and_filter(server):
    body = get_body(server, "/namespace.shtml")
    expected = "[True][%s/htdocs/namespace.shtml][includes][True]\n" % server.path
    assert body == expected


def test_ssi_globals_prepared_by_a_fixup_handler_are_used(server):
    assert get_body(server, "/fixup/page.shtml") == "[set by the fixup]\n"


def test_each_tag_gets_its_own_filter_and_the_global_is_reset_after(server):
    # A new filter object per tag; between tags globals["filter"] is None.
    assert get_body(server, "/filter_cleared.shtml") == "[False][True]\n"


def test_filter_kept_from_an_earlier_tag_refuses_to_write(server):
    assert get_body(server, "/stale_filter.shtml") == "[ValueError]\n"


def test_filter_disable_leaves_mod_include_working(server):
    assert get_body(server, "/disable.shtml") == "[][still here]\n"


def test_filter_read_in_a_tag_finds_no_input(server):
    assert get_body(server, "/read.shtml") == "[]\n"


def test_tag_uses_the_configured_interpreter(server):
    assert get_body(server, "/named/page.shtml") == "[ssi_named]\n"


# -- errors -----------------------------------------------------------------------

def test_raising_tag_is_replaced_by_the_error_text_and_logged(server):
    mark = server.log_mark()
    body = get_body(server, "/raises.shtml")
    # what the tag wrote before it raised goes too; later tags still run;
    # no traceback in the page although PythonDebug is On
    assert body == "before %s after next tag\n" % ERR
    log = server.wait_for_log(r"ValueError: ssi boom", since=mark)
    prefix = "includes %s/htdocs/raises.shtml: " % server.path
    assert prefix + "Traceback (most recent call last):" in log
    assert prefix + "ValueError: ssi boom" in log
    assert not server.crash_lines(since=mark)


def test_syntax_error_in_eval_gives_the_error_text(server):
    mark = server.log_mark()
    assert get_body(server, "/syntax.shtml") == "before %s after\n" % ERR
    server.wait_for_log(r"includes %s/htdocs/syntax\.shtml: .*SyntaxError" % server.path,
                        since=mark)


def test_error_text_is_mod_includes_configured_message(server):
    mark = server.log_mark()
    assert get_body(server, "/default_msg/page.shtml") == "before %s after\n" % DEFAULT_ERR
    server.wait_for_log(r"SyntaxError", since=mark)


def test_includes_noexec_refuses_the_tag(server):
    mark = server.log_mark()
    assert get_body(server, "/noexec/page.shtml") == "before %s after\n" % ERR
    server.wait_for_log(r"#python used but not allowed in %s/htdocs/noexec/page\.shtml"
                        % server.path, since=mark)


@pytest.mark.parametrize("page, problem", [
    ("missing", "missing eval or exec attribute"),
    ("empty", 'empty value for attribute "eval"'),
    ("duplicate", "more than one eval or exec attribute"),
    ("both", "more than one eval or exec attribute"),
    ("unknown", 'unknown attribute "code"'),
])
def test_tag_needs_exactly_one_non_empty_eval_or_exec(server, page, problem):
    mark = server.log_mark()
    assert get_body(server, "/%s.shtml" % page) == "before %s after\n" % ERR
    server.wait_for_log(r"#python: %s in %s/htdocs/%s\.shtml" % (problem, server.path, page),
                        since=mark)


def test_tags_are_ignored_where_mod_include_is_not_printing(server):
    mark = server.log_mark()
    assert get_body(server, "/not_printing.shtml") == "abc\n"
    log = server.error_log(since=mark)
    assert "must not run" not in log and "#python" not in log


# -- own GIL --------------------------------------------------------------------

OWN_GIL_CONFIG = r'''
<Directory {root}/htdocs>
    Options +Includes
    AddType text/html .shtml
    AddOutputFilter INCLUDES .shtml
    PythonInterpreter ssi_own
    PythonInterpGIL own
</Directory>
'''


@pytest.mark.own_gil
def test_tag_runs_in_an_own_gil_interpreter(start_apache):
    server = start_apache(OWN_GIL_CONFIG, {
        "htdocs/page.shtml": ('<!--#python exec="import mod_python.apache as a"-->'
                              '[<!--#python eval="a.interpreter"-->]'
                              '[<!--#python eval="len(filter.req.ssi_globals) > 0"-->]\n'),
    }, modules=("include",))
    status, _, body = server.get("/page.shtml")
    assert (status, body) == (200, "[ssi_own][True]\n")
