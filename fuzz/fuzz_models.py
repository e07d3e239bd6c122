"""
fuzz_models.py - the checks the fuzz targets run on every input, each
comparing the C code under test (module _hydra_fuzz, see fuzz_python.c)
with a plain Python model of the documented behaviour:

  check_parse_qs  util_qs.c against python-api.md §12.4 as util_qs.c
                  documents it: split on '&' and ';', skip empty segments,
                  '+' is a space, %XX a byte (a '%' without two hex digits
                  stays), a NUL ends the text, blank values dropped unless
                  keep_blank_values; str mode decodes UTF-8 or raises
                  SystemError
  check_strings   strings.c: UTF-8/surrogateescape and Latin-1 decoding of
                  C strings, and the way back (Latin-1 or surrogate escapes,
                  TypeError for other text, ValueError for NUL)
  check_table     table.c: a program of table operations against a list of
                  (key, value) byte pairs with APR's rules (ASCII
                  case-insensitive keys, set replaces the first entry and
                  drops the others, unset drops all)

Runs inside the fuzzer's embedded Python; a failed assert is a finding.
"""

import re

import _hydra_fuzz as C

# ---- parse_qs --------------------------------------------------------------

HEX = b"0123456789abcdefABCDEF"
SEPARATORS = re.compile(rb"[&;]")


def unescape(data):
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c == 0x2B:
            c = 0x20
        elif c == 0x25 and i + 2 < n and data[i + 1] in HEX and data[i + 2] in HEX:
            c = int(data[i + 1:i + 3], 16)
            i += 2
        if c == 0:
            break
        out.append(c)
        i += 1
    return bytes(out)


def model_qsl(qs, keep_blank):
    pairs = []
    for segment in SEPARATORS.split(qs):
        if not segment:
            continue
        name, _, value = segment.partition(b"=")
        if not value and not keep_blank:
            continue
        pairs.append((unescape(name), unescape(value)))
    return pairs


def grouped(pairs):
    d = {}
    for name, value in pairs:
        d.setdefault(name, []).append(value)
    return d


def decoded(pairs):
    """The str-mode result, or None when C must raise SystemError."""
    try:
        return [(n.decode("utf-8"), v.decode("utf-8")) for n, v in pairs]
    except UnicodeDecodeError:
        return None


def expect_str_mode(text, keep_blank):
    if max(text, default="\0") <= "\xff":
        raw = text.encode("latin-1")
    else:
        raw = text.encode("utf-8", "surrogateescape")
    want = decoded(model_qsl(raw, keep_blank))
    for parse, shape in ((C.parse_qsl, list), (C.parse_qs, grouped)):
        try:
            got = parse(text, keep_blank)
        except SystemError:
            assert want is None, (text, want)
            continue
        assert want is not None, (text, got)
        assert got == shape(want), (text, got, want)


def check_parse_qs(data):
    flags = data[0] if data else 0
    qs = data[1:]
    keep_blank = flags & 1
    want = model_qsl(qs, keep_blank)
    got = C.parse_qsl(qs, keep_blank)
    assert got == want, (qs, got, want)
    assert C.parse_qs(qs, keep_blank) == grouped(want), qs
    expect_str_mode(qs.decode("latin-1"), keep_blank)
    if flags & 2:
        expect_str_mode(qs.decode("utf-8", "surrogateescape"), keep_blank)


# ---- strings ---------------------------------------------------------------

def to_apache_bytes(text):
    """What strings.c must make of a str, or the exception it must raise."""
    if any(ord(ch) > 0xFF and not 0xDC80 <= ord(ch) <= 0xDCFF for ch in text):
        return TypeError
    raw = text.encode("latin-1", "surrogateescape")
    return ValueError if b"\0" in raw else raw


def expect(fn, arg, want):
    if isinstance(want, type):
        try:
            got = fn(arg)
        except want:
            return
        raise AssertionError("%s(%r) gave %r, expected %s" % (fn.__name__, arg, got, want))
    got = fn(arg)
    assert got == want, (fn.__name__, arg, got, want)


def check_strings(data):
    c_string = data.split(b"\0", 1)[0]
    text = C.str_from_apache(data)
    assert text == c_string.decode("utf-8", "surrogateescape"), (data, text)
    latin = C.str_from_latin1(data)
    assert latin == c_string.decode("latin-1"), (data, latin)
    # Every string that came from Apache goes back as the same bytes when
    # it is Latin-1 or surrogate escapes; other text is refused.
    expect(C.str_as_latin1, latin, c_string)
    expect(C.str_to_apache, latin, c_string)
    want = to_apache_bytes(text)
    expect(C.str_as_latin1, text, want)
    expect(C.str_to_apache, text, want)
    expect(C.str_as_latin1, data, ValueError if b"\0" in data else data)
    whole = data.decode("utf-8", "surrogateescape")
    expect(C.str_as_latin1, whole, to_apache_bytes(whole))
    expect(C.str_as_latin1, len(data), TypeError)


# ---- table -----------------------------------------------------------------

KEYS = ["a", "A", "ab", "aB", "Content-Type", "content-type", "\xe9", "\xc9", b"\xc3\xa9",
        "\udcff", b"\xff", "x" * 300, "", " ", "k\u4e2d", "nul\0key", b"bytes", "BYTES"]
VALUES = ["", "v", "V", "\xe9t\xe9", b"\xff\xfe", "\udcc3(", "y" * 1000, "\u20ac", "n\0l",
          b"raw", "a, b", 12]


class Model:
    """APR table semantics over (key bytes, value bytes) pairs."""

    def __init__(self):
        self.entries = []

    @staticmethod
    def fold(key):
        return key.lower()  # bytes.lower(): ASCII only, like strcasecmp in C

    def find(self, key):
        k = self.fold(key)
        return [i for i, (ek, _) in enumerate(self.entries) if self.fold(ek) == k]

    def add(self, key, value):
        self.entries.append((key, value))

    def set(self, key, value):
        hits = self.find(key)
        if not hits:
            self.entries.append((key, value))
            return
        first = hits[0]
        self.entries[first] = (self.entries[first][0], value)
        for i in reversed(hits[1:]):
            del self.entries[i]

    def unset(self, key):
        for i in reversed(self.find(key)):
            del self.entries[i]


def as_bytes(obj):
    """Key or value bytes as table.c stores them, or the exception type."""
    if isinstance(obj, bytes):
        return ValueError if b"\0" in obj else obj
    if isinstance(obj, str):
        return to_apache_bytes(obj)
    return TypeError  # add() and t[k] = v take str or bytes only


def text(raw):
    return raw.decode("utf-8", "surrogateescape")


def raises(exc, fn, *args):
    try:
        fn(*args)
    except exc:
        return
    raise AssertionError("%s%r did not raise %s" % (getattr(fn, "__name__", fn), args, exc))


def lookup_all(model, key):
    values = [text(v) for _, v in (model.entries[i] for i in model.find(key))]
    return None if not values else values[0] if len(values) == 1 else values


def run_op(t, m, op, key, value):
    kb = as_bytes(key)
    vb = as_bytes(value)
    if op in (0, 1, 8) and isinstance(kb, type):
        fn = {0: t.add, 1: t.__setitem__, 8: t.setdefault}[op]
        raises(kb, fn, key, value if op != 8 else "")
        return
    if op == 0:
        if isinstance(vb, type):
            raises(vb, t.add, key, value)
        else:
            t.add(key, value)
            m.add(kb, vb)
    elif op == 1:
        if isinstance(vb, type):
            raises(vb, t.__setitem__, key, value)
        else:
            t[key] = value
            m.set(kb, vb)
    elif op == 2:
        if isinstance(kb, type):
            raises(kb, t.__delitem__, key)
        else:
            del t[key]
            m.unset(kb)
    elif op == 3:
        if isinstance(kb, type):
            raises(kb, t.get, key)
            return
        hits = m.find(kb)
        assert t.get(key, "dflt") == (text(m.entries[hits[0]][1]) if hits else "dflt")
    elif op == 4:
        if isinstance(kb, type):
            raises(kb, t.__getitem__, key)
            return
        want = lookup_all(m, kb)
        if want is None:
            raises(KeyError, t.__getitem__, key)
        else:
            assert t[key] == want, (key, t[key], want)
        assert (key in t) == (want is not None)
        assert t.has_key(key) == (1 if want is not None else 0)
    elif op == 5:
        if m.entries:
            k, v = m.entries.pop(0)
            assert t.popitem() == (text(k), text(v))
        else:
            raises(KeyError, t.popitem)
    elif op == 6:
        # Iterate while changing the table: any clean outcome is fine, the
        # point is that nothing reads freed or moved memory.
        try:
            for i, k in enumerate(t):
                if i == 1:
                    t.add("during", "iteration")
                    m.add(b"during", b"iteration")
                if i > 3:
                    break
        except RuntimeError:
            pass
    elif op == 7:
        copy = t.copy()
        assert copy.items() == t.items()
        copy.clear()
        assert len(t) == len(m.entries)
    elif op == 8:
        hits = m.find(kb)
        if hits:
            assert t.setdefault(key, "x") == text(m.entries[hits[0]][1])
        else:
            assert t.setdefault(key) == ""
            m.set(kb, b"")
    elif op == 9:
        # update() stores str(value) for values that are not str or bytes.
        vb = as_bytes(value if isinstance(value, (str, bytes)) else str(value))
        if isinstance(kb, type) or isinstance(vb, type):
            try:
                t.update({key: value})
            except (TypeError, ValueError):
                return
            raise AssertionError("update(%r) accepted" % ({key: value},))
        t.update({key: value})
        m.set(kb, vb)
    elif op == 10:
        want = "{%s}" % ", ".join("%r: %r" % (text(k), text(v)) for k, v in reversed(m.entries))
        assert repr(t) == want, (repr(t), want)
    elif op == 11:
        t.clear()
        m.entries.clear()


def check_table(data):
    t = C.table()
    m = Model()
    for i in range(0, len(data) - 2, 3):
        op = data[i] % 12
        key = KEYS[data[i + 1] % len(KEYS)]
        value = VALUES[data[i + 2] % len(VALUES)]
        run_op(t, m, op, key, value)
        want = [(text(k), text(v)) for k, v in m.entries]
        assert t.items() == want, (op, key, value, t.items(), want)
        assert len(t) == len(want)
        assert t.keys() == [k for k, _ in want] and t.values() == [v for _, v in want]
