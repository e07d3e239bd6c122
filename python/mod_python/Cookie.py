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


def _sign(secret, name, value):
    if not secret:
        raise CookieError("Cannot sign without a secret")
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    message = ("%s%s" % (name, value)).encode("utf-8")
    return hmac.new(key, message, "md5").hexdigest()


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
    def _from_wire(cls, name, value):
        cookie = cls.__new__(cls)
        cookie.name = name
        cookie.value = value
        return cookie

    @classmethod
    def parse(cls, str, names=None):
        """Parses a Cookie request header into a dict name -> cookie. Names
        starting with '$' are skipped; a later duplicate wins."""
        return {name: cls._from_wire(name, value)
                for name, value in _wanted_pairs(str, names)}


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
        self.__data__ = {"secret": secret}

    def _secret(self):
        data = getattr(self, "__data__", None) or {}
        return data.get("secret")

    def hexdigest(self, text):
        return _sign(self._secret(), self.name, text)

    def _wire_value(self):
        text = "%s" % (self.value,)
        return self.hexdigest(text) + text

    @classmethod
    def _verified(cls, name, value, secret):
        """The value without its signature, or None if the signature is bad."""
        if len(value) < 32:
            return None
        signature, text = value[:32], value[32:]
        expected = _sign(secret, name, text)
        return text if hmac.compare_digest(signature, expected) else None

    @classmethod
    def _decode(cls, name, text):
        return text

    @classmethod
    def parse(cls, str, secret, mismatch=Cookie.DOWNGRADE, names=None):
        result = {}
        for name, value in _wanted_pairs(str, names):
            text = cls._verified(name, value, secret)
            if text is None:
                if mismatch == Cookie.EXCEPTION:
                    raise CookieError("Incorrectly Signed Cookie: %s=%s" % (name, value))
                if mismatch == Cookie.IGNORE:
                    continue
                result[name] = Cookie._from_wire(name, value)
                continue
            cookie = cls._from_wire(name, cls._decode(name, text))
            cookie.__data__ = {"secret": secret}
            result[name] = cookie
        return result


class MarshalCookie(SignedCookie):
    """A signed cookie carrying any marshallable value, as base64 text."""

    __slots__ = ()

    def _wire_value(self):
        text = base64.b64encode(marshal.dumps(self.value)).decode("ascii")
        return self.hexdigest(text) + text

    @classmethod
    def _decode(cls, name, text):
        try:
            data = base64.b64decode(text.encode("ascii"), validate=False)
        except (binascii.Error, ValueError, UnicodeError):
            raise CookieError("Cannot base64 Decode Cookie: %s=%s" % (name, text))
        try:
            return marshal.loads(data)
        except (EOFError, ValueError, TypeError):
            raise CookieError("Cannot Unmarshal Cookie: %s=%s" % (name, text))


def add_cookie(req, cookie, value="", **attributes):
    """Adds a Set-Cookie header; `cookie` is a Cookie or a cookie name."""
    if not isinstance(cookie, Cookie):
        cookie = Cookie(cookie, value, **attributes)
    if "Set-Cookie" not in req.headers_out:
        req.headers_out.add("Cache-Control", 'no-cache="set-cookie"')
    req.headers_out.add("Set-Cookie", str(cookie))


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
