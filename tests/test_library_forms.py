"""
mod_python.util.FieldStorage: python-api.md §12.1-§12.2 through a real
Apache: query strings, url-encoded and multipart bodies (CRLF and bare-LF
line breaks), a binary upload checked by digest (lines longer than
readBlockSize, embedded CRs, boundary look-alikes), repeated fields,
getfirst/getlist, file_callback/field_callback, the mapping interface,
and the type matrix upstream has on Python 3 (kept: tests and
applications depend on it); §12.3-§12.4 parse_header, parse_qs and
parse_qsl; §12.6 util.redirect from a fixup handler.
"""

import hashlib
import json
import random

import pytest

from harness import assert_no_crashes, get_json, location

FORMS_PY = r'''
import hashlib, io, json, tempfile
from mod_python import apache, util

def describe(req):
    made = []

    def file_callback(filename):
        made.append(["file", filename])
        return tempfile.TemporaryFile("w+b")

    def field_callback():
        made.append(["field"])
        return io.BytesIO()

    callbacks = "callbacks" in (req.args or "")
    fs = util.FieldStorage(req, keep_blank_values=1,
                           file_callback=file_callback if callbacks else None,
                           field_callback=field_callback if callbacks else None)
    fields = []
    for field in fs.list:
        entry = {"name": repr(field.name), "class": type(field).__name__,
                 "value_type": type(field.value).__name__}
        if isinstance(field, util.Field):
            entry.update(filename=field.filename, type=field.type,
                         sha256=hashlib.sha256(field.value).hexdigest(),
                         size=len(field.value), disposition=field.disposition)
        else:
            entry["value"] = repr(field.value)
        fields.append(entry)
    req.content_type = "application/json"
    req.write(json.dumps({
        "fields": fields,
        "list": repr(fs.list),
        "keys": sorted(repr(k) for k in fs.keys()),
        "len": len(fs),
        "getfirst_t": repr(fs.getfirst("t")),
        "getlist_t": [repr(v) for v in fs.getlist("t")],
        "getfirst_missing": fs.getfirst("missing", "dflt"),
        "getlist_missing": fs.getlist("missing"),
        "has_t": "t" in fs,
        "made": made,
    }))
    return apache.OK


def helpers(req):
    """§12.3, §12.4 and the mapping interface of §12.1, as JSON."""
    out = {}
    out["parse_qs_str"] = util.parse_qs("a=1&b=x+y;a=%C3%A9&c=&=d&e")
    out["parse_qs_blank"] = util.parse_qs("a=1&c=&e", keep_blank_values=1)
    out["parse_qsl_str"] = util.parse_qsl("a=1&b=2&a=3")
    out["parse_qsl_bytes"] = repr(util.parse_qsl(b"a=%FF&b=c%3Dd"))
    main, options = util.parse_header(b'form-data; name="up"; filename="a;b.txt"')
    out["parse_header"] = [repr(main), sorted((repr(k), v) for k, v in options.items())]
    try:
        util.parse_header("not bytes")
        out["parse_header_str"] = "no error"
    except TypeError:
        out["parse_header_str"] = "TypeError"
    fs = util.FieldStorage(req, keep_blank_values=1)
    out["item_single"] = repr(fs["one"])
    out["item_many"] = repr(fs["t"])
    out["get_default"] = fs.get("missing", "dflt")
    out["items"] = [[repr(k), repr(v)] for k, v in fs.items()]
    fs.add_field("added", "v")
    out["after_add"] = repr(fs.getlist("added"))
    try:
        fs["x"] = "str value"
        out["setitem_str"] = "no error"
    except TypeError:
        out["setitem_str"] = "TypeError"
    fs[b"t"] = b"replaced"
    out["after_setitem"] = [repr(fs.getlist("t")), repr(fs.getlist(b"t"))]
    del fs["t"]
    out["after_del"] = sorted(repr(k) for k in fs.keys())
    try:
        fs["t"]
        out["missing_key"] = "no error"
    except KeyError:
        out["missing_key"] = "KeyError"
    fs.clear()
    out["after_clear"] = [len(fs), repr(fs)]
    req.content_type = "application/json"
    req.write(json.dumps(out))
    return apache.OK

def redirect_fixup(req):
    util.redirect(req, "/dummy", text="moved along")

def never(req):
    req.write("the content handler must not run after a redirect")
    return apache.OK
'''

CONFIG = "\n".join([
    location("/form", handler="forms::describe"),
    location("/helpers", handler="forms::helpers"),
    location("/redirect", "PythonFixupHandler forms::redirect_fixup", handler="forms::never"),
])


@pytest.fixture(scope="module")
def server(start_apache, mpm):
    return start_apache(CONFIG, {"pylib/forms.py": FORMS_PY}, mpm=mpm)


def binary_payload():
    rng = random.Random(1234)
    data = bytes(rng.randrange(256) for _ in range(150000))
    # a line longer than readBlockSize (65368), CRs at line ends, CR LF pairs,
    # and text that looks like the boundary but is not on a line of its own
    return (data[:1000] + b"\r" + b"x" * 70000 + b"\r\n--B0und\r\n" + b"\r\r\n" + data[1000:]
            + b"--B0undary-not\r\n" + b"\r-")  # (a CR right before a bare-LF
    # delimiter could not be told from a CR LF line break)


def multipart(eol, upload):
    boundary = "B0undary"
    parts = [
        ('Content-Disposition: form-data; name="t"', b"first"),
        ('Content-Disposition: form-data; name="t"', b"second"),
        ('Content-Disposition: form-data; name="empty"', b""),
        ('Content-Disposition: form-data; name="f"; filename="blob.bin"' + eol
         + "Content-Type: application/octet-stream", upload),
    ]
    body = b""
    for headers, content in parts:
        body += ("--%s%s%s%s%s" % (boundary, eol, headers, eol, eol)).encode() + content \
            + eol.encode()
    body += ("--%s--%s" % (boundary, eol)).encode()
    return body, {"Content-Type": 'multipart/form-data; boundary="%s"' % boundary}


def test_query_string_fields_are_str(server):
    data = get_json(server, "/form?t=1&t=2&blank=&u=%C3%A9")
    assert data["list"] == "[Field('t', '1'), Field('t', '2'), Field('blank', ''), " \
                           "Field('u', '\u00e9')]"
    assert data["getlist_t"] == ["Field('t', '1')", "Field('t', '2')"]
    assert data["getfirst_missing"] == "dflt" and data["getlist_missing"] == []
    assert data["has_t"] is True and data["len"] == 3


def test_urlencoded_body_fields_are_bytes_as_upstream(server):
    resp = server.post("/form", "spam=1&spam=2&eggs=3&bacon=4",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    data = json.loads(resp.body)
    assert data["list"] == ("[Field(b'spam', b'1'), Field(b'spam', b'2'), "
                            "Field(b'eggs', b'3'), Field(b'bacon', b'4')]")
    assert data["keys"] == ["b'bacon'", "b'eggs'", "b'spam'"]


def test_query_string_and_body_fields_are_combined(server):
    resp = server.post("/form?t=q", "t=b",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert json.loads(resp.body)["list"] == "[Field('t', 'q'), Field(b't', b'b')]"


@pytest.mark.parametrize("eol", ["\r\n", "\n"], ids=["crlf", "bare-lf"])
def test_multipart_text_fields_and_binary_upload(server, eol):
    upload = binary_payload()
    body, headers = multipart(eol, upload)
    resp = server.post("/form", body, headers=headers)
    assert resp.status == 200, resp.body[:2000]
    data = json.loads(resp.body)
    text = [f for f in data["fields"] if f["class"] == "StringField"]
    assert [(f["name"], f["value"]) for f in text] == \
        [("'t'", "b'first'"), ("'t'", "b'second'"), ("'empty'", "b''")]
    assert data["getlist_t"] == ["Field('t', b'first')", "Field('t', b'second')"]
    assert data["getfirst_t"] == "Field('t', b'first')"
    (up,) = [f for f in data["fields"] if f["class"] == "Field"]
    assert up["filename"] == "blob.bin"
    assert up["type"] == "application/octet-stream"
    assert up["disposition"] == "form-data"
    assert up["value_type"] == "bytes"
    assert up["size"] == len(upload)
    assert up["sha256"] == hashlib.sha256(upload).hexdigest()


def test_file_and_field_callbacks_make_the_storage(server):
    body, headers = multipart("\r\n", b"small upload")
    data = json.loads(server.post("/form?callbacks", body, headers=headers).body)
    assert data["made"] == [["field"], ["field"], ["field"], ["file", "blob.bin"]]
    (up,) = [f for f in data["fields"] if f["class"] == "Field"]
    assert up["sha256"] == hashlib.sha256(b"small upload").hexdigest()


def test_unknown_body_type_is_501_and_multipart_without_boundary_400(server):
    assert server.post("/form", "x", headers={"Content-Type": "text/plain"}).status == 501
    assert server.post("/form", "x", headers={"Content-Type": "multipart/form-data"}).status \
        == 400


def test_parse_qs_parse_qsl_parse_header_and_the_mapping_interface(server):
    data = get_json(server, "/helpers?one=1&t=a&t=b&blank=")
    # `;` separates too, `+` is a space, "=d" has an empty name, blank
    # values ("c=", "e") are dropped without keep_blank_values
    assert data["parse_qs_str"] == {"a": ["1", "\u00e9"], "b": ["x y"], "": ["d"]}
    assert data["parse_qs_blank"] == {"a": ["1"], "c": [""], "e": [""]}
    assert data["parse_qsl_str"] == [["a", "1"], ["b", "2"], ["a", "3"]]
    assert data["parse_qsl_bytes"] == "[(b'a', b'\\xff'), (b'b', b'c=d')]"
    assert data["parse_header"] == ["b'form-data'", [["b'filename'", "a;b.txt"],
                                                      ["b'name'", "up"]]]
    assert data["parse_header_str"] == "TypeError"
    assert data["item_single"] == "Field('one', '1')"
    assert data["item_many"] == "[Field('t', 'a'), Field('t', 'b')]"
    assert data["get_default"] == "dflt"
    assert data["items"] == [["'one'", "Field('one', '1')"], ["'t'", "Field('t', 'a')"],
                             ["'t'", "Field('t', 'b')"], ["'blank'", "Field('blank', '')"]]
    assert data["after_add"] == "[Field('added', 'v')]"
    assert data["setitem_str"] == "TypeError"
    assert data["after_setitem"] == ["[Field('t', 'a'), Field('t', 'b')]",
                                     "[Field(b't', b'replaced')]"]
    assert data["after_del"] == ["'added'", "'blank'", "'one'", "b't'"]
    assert data["missing_key"] == "KeyError"
    assert data["after_clear"] == [0, "{}"]


def test_redirect_from_a_fixup_handler_ends_the_request(server):
    resp = server.get("/redirect")
    assert resp.status == 302
    assert resp.headers["Location"] == "/dummy"
    assert resp.body == "moved along"


def test_no_crashes(server):
    assert_no_crashes(server)
