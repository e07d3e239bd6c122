"""
mod_python.Cookie: python-api.md §14. First the classes alone (the module
is pure Python: loaded from the package under test, no Apache), then
through a real Apache: round trips of Cookie, SignedCookie and
MarshalCookie, tampered signatures under each `mismatch`, garbage and
non-ASCII Cookie headers (never a 500).

Defect 4 of the issue: a correctly signed MarshalCookie whose payload is
not marshal data raised CookieError whatever `mismatch` said (a 500 for a
page using the default DOWNGRADE); it now follows `mismatch` like a bad
signature. Also SignedCookie.unsign(), __data__ for subclasses and parse()
through the class's constructor.
"""

import base64
import hmac
import importlib.util
import json
import marshal
import os
import re

import pytest

import harness
from harness import assert_no_crashes, get_json, location


def _load_cookie_module():
    path = os.path.join(harness.MP_PACKAGE, "Cookie.py")
    spec = importlib.util.spec_from_file_location("hydra_test_cookie", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


Cookie = _load_cookie_module()

SECRET = "t0ps3cret"


def sign(name, text, secret=SECRET):
    return hmac.new(secret.encode(), (name + text).encode("utf-8"), "md5").hexdigest()


# -- §14.1: Cookie ------------------------------------------------------------------

def test_attributes_render_in_the_fixed_order_flags_as_bare_words():
    c = Cookie.Cookie("spam", "eggs", path="/p", domain="example.com", secure=False,
                      max_age=60, httponly=True, version=1, samesite="Lax")
    assert str(c) == ("spam=eggs; version=1; path=/p; domain=example.com; secure; "
                      "max_age=60; samesite=Lax; httponly")


def test_unknown_attributes_are_refused():
    with pytest.raises(AttributeError):
        Cookie.Cookie("a", "b", colour="red")


def test_expires_from_a_number_and_from_valid_text():
    c = Cookie.Cookie("a", "b", expires=0)
    assert str(c) == "a=b; expires=Thu, 01-Jan-1970 00:00:00 GMT"
    c.expires = "Sat, 02-Jan-2027 03:04:05 GMT"
    assert c.expires == "Sat, 02-Jan-2027 03:04:05 GMT"
    with pytest.raises(ValueError):
        c.expires = "tomorrow"
    with pytest.raises(ValueError):
        c.expires = "Mon, 31-Feb-2027 00:00:00 GMT"


def test_parse_skips_dollar_names_and_keeps_the_last_duplicate():
    cookies = Cookie.Cookie.parse('$Version=1; a=1; b="x;y"; a=2; ,c=3')
    assert {k: v.value for k, v in cookies.items()} == {"a": "2", "b": '"x;y"', "c": "3"}
    assert set(Cookie.Cookie.parse("a=1; b=2", names=["b"])) == {"b"}


def test_parse_goes_through_the_constructor_and_data_is_there_for_subclasses():
    class Tagged(Cookie.Cookie):
        def __init__(self, name, value, **kw):
            Cookie.Cookie.__init__(self, name, value, **kw)
            self.__data__["tagged"] = True

    cookies = Tagged.parse("a=1")
    assert isinstance(cookies["a"], Tagged)
    assert cookies["a"].__data__ == {"tagged": True}
    assert Cookie.Cookie("x", "y").__data__ == {}


# -- §14.2, §14.3: signed and marshalled ------------------------------------------------

def test_signed_cookie_wire_format_is_hmac_md5_hex_then_value():
    c = Cookie.SignedCookie("s", "value", secret=SECRET)
    assert str(c) == "s=%svalue" % sign("s", "value")
    with pytest.raises(Cookie.CookieError):
        str(Cookie.SignedCookie("s", "value"))


def test_unsign_strips_a_good_signature_and_refuses_a_bad_one():
    c = Cookie.SignedCookie("s", sign("s", "v") + "v")
    c.unsign(SECRET)
    assert c.value == "v"
    assert c.__data__["secret"] == SECRET
    bad = Cookie.SignedCookie("s", "0" * 32 + "v")
    with pytest.raises(Cookie.CookieError):
        bad.unsign(SECRET)
    assert bad.value == "0" * 32 + "v"


@pytest.mark.parametrize("mismatch, expected", [
    (Cookie.Cookie.DOWNGRADE, "Cookie"),
    (Cookie.Cookie.IGNORE, None),
    (Cookie.Cookie.EXCEPTION, "CookieError"),
])
def test_undecodable_marshal_payload_follows_mismatch(mismatch, expected):
    for payload in ("not base64 at all!", base64.b64encode(b"\xff\x00junk").decode()):
        header = "m=%s%s" % (sign("m", payload), payload)
        try:
            found = Cookie.MarshalCookie.parse(header, SECRET, mismatch=mismatch).get("m")
            got = type(found).__name__ if found is not None else None
            if found is not None:
                assert found.value == sign("m", payload) + payload
        except Cookie.CookieError:
            got = "CookieError"
        assert got == expected, payload


def test_marshal_round_trip():
    value = {"list": [1, 2.5, "three"], "tuple": (None, True), "bytes": b"\x00\xff"}
    wire = str(Cookie.MarshalCookie("m", value, secret=SECRET))
    parsed = Cookie.MarshalCookie.parse(wire, SECRET)["m"]
    assert isinstance(parsed, Cookie.MarshalCookie)
    assert parsed.value == value
    text = wire.split("=", 1)[1][32:]
    assert marshal.loads(base64.b64decode(text)) == value


def test_signatures_of_non_ascii_values_verify_and_do_not_raise():
    c = Cookie.SignedCookie("s", "h\u00e9llo \u2603", secret=SECRET)
    parsed = Cookie.SignedCookie.parse(str(c), SECRET)["s"]
    assert parsed.value == "h\u00e9llo \u2603"
    # a non-ASCII "signature" is simply a mismatch
    assert Cookie.SignedCookie.parse("s=" + "\u00e9" * 40, SECRET,
                                     mismatch=Cookie.Cookie.IGNORE) == {}


# -- through Apache -----------------------------------------------------------------

COOKIES_PY = r'''
import json
from mod_python import apache, Cookie

SECRET = "t0ps3cret"

def _describe(cookies):
    return {name: [type(c).__name__, c.value if isinstance(c.value, str) else repr(c.value)]
            for name, c in cookies.items()}

def set_cookies(req):
    Cookie.add_cookie(req, Cookie.Cookie("plain", "p1", path="/", max_age=30, httponly=1))
    Cookie.add_cookie(req, Cookie.SignedCookie("signed", "s\u00e9", secret=SECRET))
    Cookie.add_cookie(req, Cookie.MarshalCookie("marshal", {"a": [1, 2]}, secret=SECRET))
    Cookie.add_cookie(req, "bye", "", expires=0)
    req.write("set")
    return apache.OK

def read(req):
    cls = {"plain": Cookie.Cookie, "signed": Cookie.SignedCookie,
           "marshal": Cookie.MarshalCookie}[req.args.split("&")[0]]
    mismatch = int(req.args.split("&")[1]) if "&" in req.args else Cookie.Cookie.DOWNGRADE
    kw = {} if cls is Cookie.Cookie else {"secret": SECRET, "mismatch": mismatch}
    req.content_type = "application/json"
    try:
        found = Cookie.get_cookies(req, cls, **kw)
    except Cookie.CookieError as e:
        if mismatch != Cookie.Cookie.EXCEPTION:
            raise
        req.write(json.dumps({"error": "CookieError"}))
        return apache.OK
    req.write(json.dumps(_describe(found)))
    return apache.OK

def echo(req):
    for cookie in Cookie.get_cookies(req).values():
        Cookie.add_cookie(req, cookie)
    req.write("echo")
    return apache.OK
'''

CONFIG = "\n".join([
    location("/set", handler="cookies::set_cookies"),
    location("/read", handler="cookies::read"),
    location("/echo", handler="cookies::echo"),
])


@pytest.fixture(scope="module")
def server(start_apache, mpm):
    return start_apache(CONFIG, {"pylib/cookies.py": COOKIES_PY}, mpm=mpm)


def _sent_cookies(resp):
    """name -> wire value of every Set-Cookie."""
    return {v.split(";")[0].split("=", 1)[0]: v.split(";")[0].split("=", 1)[1]
            for v in resp.headers.get_all("Set-Cookie")}


def test_set_cookie_headers_carry_attributes_and_a_no_cache_hint(server):
    resp = server.get("/set")
    assert resp.status == 200
    values = resp.headers.get_all("Set-Cookie")
    assert "plain=p1; path=/; max_age=30; httponly" in values
    assert "bye=; expires=Thu, 01-Jan-1970 00:00:00 GMT" in values
    assert resp.headers["Cache-Control"] == 'no-cache="set-cookie"'


def test_round_trip_of_plain_signed_and_marshal_cookies(server):
    sent = _sent_cookies(server.get("/set"))
    header = "; ".join("%s=%s" % item for item in sent.items())
    headers = {"Cookie": header.encode("utf-8")}
    assert get_json(server, "/read?plain", headers=headers)["plain"] == ["Cookie", "p1"]
    assert get_json(server, "/read?signed", headers=headers)["signed"] == \
        ["SignedCookie", "s\u00e9"]
    assert get_json(server, "/read?marshal", headers=headers)["marshal"] == \
        ["MarshalCookie", repr({"a": [1, 2]})]


@pytest.mark.parametrize("mismatch, expected", [
    (0, ["Cookie", None]),   # DOWNGRADE: the value as received
    (1, "missing"),          # IGNORE
    (3, "CookieError"),      # EXCEPTION
])
def test_tampered_signature_under_each_mismatch(server, mismatch, expected):
    sent = _sent_cookies(server.get("/set"))
    tampered = ("0" if sent["signed"][0] != "0" else "1") + sent["signed"][1:]
    data = get_json(server, "/read?signed&%d" % mismatch,
                    headers={"Cookie": ("signed=" + tampered).encode("utf-8")})
    if expected == "CookieError":
        assert data == {"error": "CookieError"}
    elif expected == "missing":
        assert data == {}
    else:
        assert data["signed"] == ["Cookie", tampered]


@pytest.mark.parametrize("mismatch", [0, 1, 3])
def test_signed_marshal_cookie_with_garbage_payload_follows_mismatch(server, mismatch):
    payload = base64.b64encode(b"\xfe\xfe garbage").decode()
    header = "marshal=%s%s" % (sign("marshal", payload), payload)
    data = get_json(server, "/read?marshal&%d" % mismatch, headers={"Cookie": header})
    assert data == [{"marshal": ["Cookie", sign("marshal", payload) + payload]},
                    {}, {"error": "CookieError"}][[0, 1, 3].index(mismatch)]


GARBAGE = [
    b"=;;;=== ;",
    b"\xff\xfe\xfd=\x80\x81",
    "signed=h\u00e9llo; marshal=\u2603\u2603".encode("utf-8"),
    b"marshal=" + b"a" * 32 + b"%%%%; signed=" + b"z" * 31,
    b'plain="unterminated; signed="' + b"0" * 40,
    b"a" * 3000 + b"=" + b"b" * 3000,
]


@pytest.mark.parametrize("header", GARBAGE)
def test_garbage_and_non_ascii_cookie_headers_are_never_a_500(server, header):
    for kind in ("plain", "signed", "marshal", "signed&1", "marshal&1"):
        resp = server.get("/read?" + kind, headers={"Cookie": header})
        assert resp.status == 200, (kind, header, resp.body[:500])
    assert server.get("/echo", headers={"Cookie": header}).status == 200


def test_spec_example_of_two_cookie_headers(server):
    resp = server.get("/echo", headers=[("Cookie", "spam=foo; path=blah;;eggs=bar;"),
                                        ("Cookie", "bar=foo")])
    values = " ".join(resp.headers.get_all("Set-Cookie"))
    for part in ("spam=foo", "path=blah", "eggs=bar", "bar=foo"):
        assert re.search(r"\b%s\b" % re.escape(part), values), values


def test_no_crashes(server):
    assert_no_crashes(server)
