"""mod_python.Cookie: cookies as objects, plain, signed (HMAC-MD5) and
marshalled, and helpers to send and read them (python-api.md §14).

(deviation) mod_python 3.5 cannot sign on Python 3; signing here uses
hmac.new(secret, name + value, "md5") on UTF-8 bytes, which keeps the wire
format: the 32 lower-case hex digits of the signature, then the value.
"""

import base64
import binascii
import datetime
import hmac
import marshal
import re
import time


class CookieError(Exception):
    pass


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EXPIRES_FORMAT = re.compile(
    r"^(%s), (\d{1,2})-(%s)-(\d{4}) (\d{1,2}):(\d{2}):(\d{2}) GMT$"
    % ("|".join(_WEEKDAYS), "|".join(_MONTHS)))


def _expires_text(seconds):
    """`seconds` since the epoch as "Wdy, DD-Mon-YYYY HH:MM:SS GMT", with
    English names whatever the locale."""
    t = time.gmtime(seconds)
    return "%s, %02d-%s-%04d %02d:%02d:%02d GMT" % (
        _WEEKDAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon - 1], t.tm_year,
        t.tm_hour, t.tm_min, t.tm_sec)


def _valid_expires(text):
    found = _EXPIRES_FORMAT.match(text)
    if not found:
        return False
    try:
        datetime.datetime(int(found.group(4)), _MONTHS.index(found.group(3)) + 1,
                          int(found.group(2)), int(found.group(5)), int(found.group(6)),
                          int(found.group(7)))
    except ValueError:
        return False
    return True


def _cookie_pairs(header):
    """Splits a Cookie header into (name, value) pairs in order. Pairs are
    separated by ';'; spaces and commas in front of a name are skipped; a
    double-quoted value is kept with its quotes and may contain ';'."""
    i, n = 0, len(header)
    while i < n:
        while i < n and header[i] in " \t,;":
            i += 1
        if i >= n:
            break
        end = i
        while end < n and header[end] not in "=;":
            end += 1
        name = header[i:end].strip()
        value = ""
        i = end
        if i < n and header[i] == "=":
            i += 1
            while i < n and header[i] in " \t":
                i += 1
            if i < n and header[i] == '"':
                close = i + 1
                while close < n and header[close] != '"':
                    close += 2 if header[close] == "\\" else 1
                close = min(close + 1, n)
                value = header[i:close]
                i = close
                while i < n and header[i] != ";":
                    i += 1
            else:
                end = header.find(";", i)
                if end < 0:
                    end = n
                value = header[i:end].strip()
                i = end
        if name:
            yield name, value


def _bytes(text):
    """str as UTF-8; strings from Apache may carry surrogate escapes for
    bytes that were not UTF-8, which go back to those bytes."""
    if isinstance(text, str):
        return text.encode("utf-8", "surrogateescape")
    return bytes(text)


def _sign(secret, name, value):
    if not secret:
        raise CookieError("Cannot sign without a secret")
    message = _bytes("%s%s" % (name, value))
    return hmac.new(_bytes(secret), message, "md5").hexdigest()


def _unsigned(name, value, secret):
    """`value` without its signature, or None if it is not signed with
    `secret` (too short, wrong, not text, or no secret at all)."""
    if not isinstance(value, str) or len(value) < 32 or not secret:
        return None
    signature, text = value[:32], value[32:]
    expected = _sign(secret, name, text)
    return text if hmac.compare_digest(_bytes(signature), expected.encode("ascii")) else None


class Cookie:
    """One cookie. Only the attributes below can be set; str() renders the
    Set-Cookie value with the attributes that were set, in a fixed order."""

    _valid_attr = ("version", "path", "domain", "secure", "comment", "expires",
                   "max_age", "samesite", "commentURL", "discard", "port", "httponly")
    _flags = ("secure", "discard", "httponly")

    __slots__ = ("name", "value", "version", "path", "domain", "secure", "comment",
                 "_expires", "max_age", "samesite", "commentURL", "discard", "port",
                 "httponly", "__data__")

    DOWNGRADE = 0
    IGNORE = 1
    EXCEPTION = 3

    def __init__(self, name, value, **attributes):
        self.name = name
        self.value = value
        self.__data__ = {}  # for subclasses (SignedCookie keeps its secret here)
        for key, attr_value in attributes.items():
            # Upstream quirk kept: keyword names are lower-cased, so
            # commentURL can only be set by assignment.
            setattr(self, key.lower(), attr_value)

    def _get_expires(self):
        return self._expires

    def _set_expires(self, value):
        if isinstance(value, str):
            if not _valid_expires(value):
                raise ValueError("Invalid expires time: %s" % value)
            self._expires = value
        else:
            self._expires = _expires_text(value)

    expires = property(_get_expires, _set_expires)

    def _wire_value(self):
        return "%s" % (self.value,)

    def __str__(self):
        parts = ["%s=%s" % (self.name, self._wire_value())]
        for attr in self._valid_attr:
            if not hasattr(self, attr):
                continue
            if attr in self._flags:
                parts.append(attr)
            else:
                parts.append("%s=%s" % (attr, getattr(self, attr)))
        return "; ".join(parts)

    def __repr__(self):
        return "<%s: %s>" % (self.__class__.__name__, str(self))

    @classmethod
    def parse(cls, str, names=None):
        """Parses a Cookie request header into a dict name -> cookie, each
        made with the class's constructor, `cls(name, value)`. Names
        starting with '$' are skipped; a later duplicate wins."""
        return {name: cls(name, value) for name, value in _wanted_pairs(str, names)}


def _wanted_pairs(header, names):
    for name, value in _cookie_pairs(header):
        if name.startswith("$"):
            continue
        if names is not None and name not in names:
            continue
        yield name, value


class SignedCookie(Cookie):
    """A cookie whose value travels prefixed by its HMAC-MD5 signature."""

    __slots__ = ()

    def __init__(self, name, value, secret=None, **attributes):
        Cookie.__init__(self, name, value, **attributes)
        self.__data__["secret"] = secret

    def _secret(self):
        return (getattr(self, "__data__", None) or {}).get("secret")

    def hexdigest(self, text):
        return _sign(self._secret(), self.name, text)

    def _wire_value(self):
        text = "%s" % (self.value,)
        return self.hexdigest(text) + text

    def unsign(self, secret):
        """Checks that self.value (as received: signature, then value) is
        signed with `secret`; if so the value loses its signature and the
        secret is kept for sending the cookie back. CookieError if not."""
        text = _unsigned(self.name, self.value, secret)
        if text is None:
            raise CookieError("Incorrectly Signed Cookie: %s=%s" % (self.name, self.value))
        self.value = text
        self.__data__["secret"] = secret

    @classmethod
    def parse(cls, str, secret, mismatch=Cookie.DOWNGRADE, names=None):
        """Like Cookie.parse, then unsign() with `secret`. A cookie that does
        not verify (or, for MarshalCookie, does not decode) is, by
        `mismatch`: EXCEPTION, CookieError raised; IGNORE, left out;
        DOWNGRADE (default), returned as a plain Cookie with the value as
        received."""
        result = {}
        for name, value in _wanted_pairs(str, names):
            cookie = cls(name, value)
            try:
                cookie.unsign(secret)
            except CookieError:
                if mismatch == Cookie.EXCEPTION:
                    raise
                if mismatch == Cookie.IGNORE:
                    continue
                cookie = Cookie(name, value)
            result[name] = cookie
        return result


class MarshalCookie(SignedCookie):
    """A signed cookie carrying any marshallable value, as base64 text."""

    __slots__ = ()

    def _wire_value(self):
        text = base64.b64encode(marshal.dumps(self.value)).decode("ascii")
        return self.hexdigest(text) + text

    def unsign(self, secret):
        """SignedCookie.unsign, then the value is decoded (base64, marshal);
        CookieError if either fails, with the value left as received."""
        received = self.value
        SignedCookie.unsign(self, secret)
        text = self.value
        try:
            data = base64.b64decode(text.encode("ascii"), validate=False)
        except (binascii.Error, ValueError, UnicodeError):
            self.value = received
            raise CookieError("Cannot base64 Decode Cookie: %s=%s" % (self.name, received))
        try:
            self.value = marshal.loads(data)
        except Exception:  # EOFError, ValueError, TypeError: not marshal data
            self.value = received
            raise CookieError("Cannot Unmarshal Cookie: %s=%s" % (self.name, received))


def add_cookie(req, cookie, value="", **attributes):
    """Adds a Set-Cookie header; `cookie` is a Cookie or a cookie name."""
    if not isinstance(cookie, Cookie):
        cookie = Cookie(cookie, value, **attributes)
    if "Set-Cookie" not in req.headers_out:
        req.headers_out.add("Cache-Control", 'no-cache="set-cookie"')
    text = str(cookie)
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        # Header values must be Latin-1 text or bytes: send such a value as
        # the UTF-8 bytes it arrived as (surrogate escapes included).
        text = _bytes(text)
    req.headers_out.add("Set-Cookie", text)


def get_cookies(req, Class=Cookie, **kw):
    """All cookies of the request, parsed by `Class` (pass secret= for the
    signed classes)."""
    if "cookie" not in req.headers_in:
        return {}
    header = req.headers_in["cookie"]
    if isinstance(header, list):
        header = "; ".join(header)
    return Class.parse(header, **kw)


def get_cookie(req, name, Class=Cookie, **kw):
    return get_cookies(req, Class, names=[name], **kw).get(name)
