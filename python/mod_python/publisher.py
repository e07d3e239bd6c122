"""mod_python.publisher: maps a URL to an object in a Python file and
publishes it: callables are called with the form fields as arguments and
their result is sent, anything else is sent as text (python-api.md §13).

    /dir/page.py/obj/attr  ->  object page.obj.attr of /dir/page.py

Pages are compiled into module objects that never enter sys.modules, cached
per interpreter by path and rebuilt when the file changes. Access control:
names starting with '_' are never traversed, only some types may be
traversed or published, and __auth__ / __access__ / __auth_realm__ found on
the way are enforced (HTTP Basic authentication).
"""

import base64
import dis
import os
import re
import types

from . import apache, cache, util

# ---------------------------------------------------------------------------
# The page cache (§13.3)


class PageCache(cache.ModuleCache):
    """Modules built from published files. With autoreload off an entry,
    once built, is never checked again."""

    def check(self, key, name, entry, req=None, autoreload=True, debug=False):
        built = entry.value is not cache.NOT_INITIALIZED
        if built and not autoreload:
            return None
        opened = cache.ModuleCache.check(self, key, name, entry)
        if opened is not None and debug and req is not None:
            req.log_error("Publisher %s page %s" % ("reloading" if built else "loading", name),
                          apache.APLOG_NOTICE)
        return opened


page_cache = PageCache()

# ---------------------------------------------------------------------------
# Which objects may be traversed and published (§13.2)

# Looked up by exact type. Every public class of the `types` module is
# publishable but not traversable, except those refused outright.
_NEVER = {types.ModuleType, types.BuiltinFunctionType, type}
_NOT_TRAVERSABLE = {value for name, value in vars(types).items()
                    if isinstance(value, type) and not name.startswith("_")}
_NOT_TRAVERSABLE |= _NEVER | {types.GeneratorType}


def _traversable(obj):
    return type(obj) not in _NOT_TRAVERSABLE


def _publishable(obj):
    return type(obj) not in _NEVER


# ---------------------------------------------------------------------------
# Authentication and authorisation (§13.4)

_AUTH_NAMES = ("__auth__", "__access__", "__auth_realm__")
# Instructions that may sit between the constant and the store of a
# nested `def`: the function is made from the code object constant.
_FUNCTION_MAKING = {"MAKE_FUNCTION", "SET_FUNCTION_ATTRIBUTE", "EXTENDED_ARG", "NOP", "CACHE"}


def _local_definitions(function):
    """The values of __auth__, __access__ and __auth_realm__ defined inside
    `function`'s body, without running it: a store to one of those names
    right after a constant (or after a nested `def`, whose code object is a
    constant) gives that constant, or a function made from that code bound
    to `function`'s globals. Any other store gives _UNREADABLE."""
    found = {}
    previous = []
    for instruction in dis.get_instructions(function.__code__):
        if instruction.opname in ("STORE_FAST", "STORE_DEREF", "STORE_NAME") \
                and instruction.argval in _AUTH_NAMES:
            found[instruction.argval] = _stored_constant(previous, function)
        previous.append(instruction)
    return found


_NOTHING = object()     # not defined
_UNREADABLE = object()  # defined, but its value cannot be known without running the code


def _stored_constant(previous, function):
    made_function = False
    for instruction in reversed(previous):
        if instruction.opname in _FUNCTION_MAKING:
            made_function = made_function or instruction.opname == "MAKE_FUNCTION"
            continue
        if instruction.opname != "LOAD_CONST":
            return _UNREADABLE  # e.g. a dict or list display
        value = instruction.argval
        if isinstance(value, types.CodeType):
            if not made_function:
                return _UNREADABLE
            try:
                return types.FunctionType(value, function.__globals__)
            except (TypeError, ValueError):
                return _UNREADABLE  # needs a closure: cannot be rebuilt
        return value
    return _UNREADABLE


def _auth_objects(obj):
    """(realm or None, __auth__ or _NOTHING, __access__ or _NOTHING)."""
    if isinstance(obj, (types.FunctionType, types.MethodType)):
        function = obj.__func__ if isinstance(obj, types.MethodType) else obj
        if not isinstance(function, types.FunctionType):
            return None, _NOTHING, _NOTHING
        found = _local_definitions(function)
        realm = found.get("__auth_realm__")
        return (None if realm is _UNREADABLE else realm, found.get("__auth__", _NOTHING),
                found.get("__access__", _NOTHING))
    return (getattr(obj, "__auth_realm__", None), getattr(obj, "__auth__", _NOTHING),
            getattr(obj, "__access__", _NOTHING))


def _basic_credentials(req):
    """(user, password) from the Authorization header; 400 if unreadable."""
    try:
        encoded = req.headers_in["Authorization"][6:]
        decoded = base64.b64decode(encoded.strip())
        try:
            text = decoded.decode("utf-8")
        except UnicodeDecodeError:
            text = decoded.decode("latin-1")
        user, passwd = text.split(":", 1)
        return user, passwd
    except Exception:
        raise apache.SERVER_RETURN(apache.HTTP_BAD_REQUEST)


def _deny_unreadable(req, obj, name):
    """An __auth__ / __access__ whose value cannot be read from the function
    body (a dict or list display, a nested function with a closure) denies
    access: failing open would publish what it was meant to protect."""
    req.log_error("mod_python.publisher: cannot evaluate %s defined inside %s "
                  "(only constants and plain nested functions can be); access denied"
                  % (name, getattr(obj, "__qualname__", obj)), apache.APLOG_WARNING)
    return False


def process_auth(req, obj, realm="unknown", user=None, passwd=None):
    """Enforces the __auth__ / __access__ of `obj`; returns the (realm, user,
    passwd) to carry on to the next object of the traversal."""
    found_realm, auth, access = _auth_objects(obj)
    if auth is _UNREADABLE:
        auth = _deny_unreadable(req, obj, "__auth__")
    if access is _UNREADABLE:
        access = _deny_unreadable(req, obj, "__access__")
    if found_realm is not None:
        realm = found_realm
    if auth is _NOTHING and access is _NOTHING:
        return realm, user, passwd

    if user is None and "Authorization" in req.headers_in:
        user, passwd = _basic_credentials(req)

    if auth is not _NOTHING:
        if not user:
            req.err_headers_out["WWW-Authenticate"] = 'Basic realm="%s"' % realm
            raise apache.SERVER_RETURN(apache.HTTP_UNAUTHORIZED)
        if callable(auth):
            allowed = auth(req, user, passwd)
        elif isinstance(auth, dict):
            allowed = user in auth and auth[user] == passwd
        else:
            allowed = auth
        if not allowed:
            # The spaces around '=' are upstream's.
            req.err_headers_out["WWW-Authenticate"] = 'Basic realm = "%s"' % realm
            raise apache.SERVER_RETURN(apache.HTTP_UNAUTHORIZED)

    if access is not _NOTHING:
        if callable(access):
            allowed = access(req, user)
        elif isinstance(access, (list, tuple)):
            allowed = user in access
        else:
            allowed = access
        if not allowed:
            raise apache.SERVER_RETURN(apache.HTTP_FORBIDDEN)

    return realm, user, passwd


# ---------------------------------------------------------------------------
# Traversal and publishing (§13.2, §13.5)

def resolve_object(req, obj, object_str, realm=None, user=None, passwd=None):
    """Walks the dotted `object_str` from `obj` (the page module), enforcing
    the traversal rules and authentication at every step."""
    for position, name in enumerate(object_str.split(".")):
        if name.startswith("_"):
            req.log_error("Cannot traverse %s in %s because it starts with an underscore"
                          % (name, req.unparsed_uri), apache.APLOG_WARNING)
            raise apache.SERVER_RETURN(apache.HTTP_FORBIDDEN)
        if position > 0 and not _traversable(obj):
            raise apache.SERVER_RETURN(apache.HTTP_FORBIDDEN)
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise apache.SERVER_RETURN(apache.HTTP_NOT_FOUND)
        realm, user, passwd = process_auth(req, obj, realm, user, passwd)
    if not _publishable(obj):
        raise apache.SERVER_RETURN(apache.HTTP_FORBIDDEN)
    return obj


_HTML_END = re.compile(r"</html\s*>\s*$", re.IGNORECASE)


def publish_object(req, obj):
    """Sends `obj` (calling it first if callable). True if something was
    published."""
    if callable(obj):
        # One FieldStorage per request: the body can be read only once.
        if not hasattr(req, "form"):
            req.form = util.FieldStorage(req, keep_blank_values=1)
        return publish_object(req, util.apply_fs_data(obj, req.form, req=req))
    if obj is None:
        return False
    if isinstance(obj, (bytes, bytearray)):
        data, tail = bytes(obj), bytes(obj[-100:]).decode("latin-1")
    else:
        data = tail = str(obj)
        tail = tail[-100:]
    if not req._content_type_set:
        req.content_type = "text/html" if _HTML_END.search(tail) else "text/plain"
    # No flush, so that the CONTENT_LENGTH filter can still set the length.
    req.write(data, 0)
    return True


# ---------------------------------------------------------------------------
# The handler (§13.1)

def _strip_handler_suffix(req, base):
    """`base` without one trailing extension that routes to mod_python."""
    suffixes = {"py"}
    suffixes.update(ext.lstrip(".") for ext in (req.get_addhandler_exts() or "").split())
    if req.extension:
        suffixes.add(req.extension.lstrip("."))
    stem, dot, ext = base.rpartition(".")
    if dot and stem and ext in suffixes:
        return stem
    return base


def _page_and_function(req):
    """(path of the page file, dotted object path) for the request."""
    directory, base = os.path.split(req.filename)
    base = _strip_handler_suffix(req, base) if base else "index"
    function = req.path_info or ""
    if function.startswith("/"):
        function = function[1:]
    if function.endswith("/"):
        function = function[:-1]
    page = os.path.join(directory, base + ".py")
    if not os.path.isfile(page):
        function = base + ("/" + function if function else "")
        page = os.path.join(directory, "index.py")
        if not os.path.isfile(page):
            raise apache.SERVER_RETURN(apache.HTTP_NOT_FOUND)
    return os.path.normpath(page), (function or "index").replace("/", ".")


def handler(req):
    req.allow_methods(["GET", "POST", "HEAD"])
    if req.method not in ("GET", "POST", "HEAD"):
        raise apache.SERVER_RETURN(apache.HTTP_METHOD_NOT_ALLOWED)

    page, function = _page_and_function(req)
    req.filename = page

    config = req.get_config()
    autoreload = config.get("PythonAutoReload", "1") != "0"
    debug = config.get("PythonDebug") == "1"
    module = page_cache.get(page, req=req, autoreload=autoreload, debug=debug)

    realm, user, passwd = process_auth(req, module)
    obj = resolve_object(req, module, function, realm, user, passwd)
    published = publish_object(req, obj)

    if not published and req._bytes_queued == 0 and req.next is None and debug:
        req.log_error("mod_python.publisher: nothing to publish.")
    return apache.OK
