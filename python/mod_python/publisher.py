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
import copy
import dis
import os
import re
import threading
import types
import weakref

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
            req.log_error("HYDRA0508: Publisher %s page %s" % ("reloading" if built else "loading", name),
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

_NOTHING = object()     # not defined
_UNREADABLE = object()  # defined, but its value cannot be known without running the code


class _MadeFunction:
    """On the simulated stack: a function made from a code constant by a
    nested `def` (MAKE_FUNCTION), with the defaults it was given."""

    def __init__(self, code):
        self.code = code
        self.defaults = None
        self.kwdefaults = None
        self.unreadable = False  # a closure, or defaults not known

    def build(self, function):
        if self.unreadable or self.code.co_freevars:
            return _UNREADABLE  # needs cells of the enclosing call: cannot be rebuilt
        try:
            made = types.FunctionType(self.code, function.__globals__, self.code.co_name,
                                      self.defaults)
        except (TypeError, ValueError):
            return _UNREADABLE
        if self.kwdefaults is not None:
            made.__kwdefaults__ = self.kwdefaults
        return made


# MAKE_FUNCTION / SET_FUNCTION_ATTRIBUTE flags
_FN_DEFAULTS, _FN_KWDEFAULTS, _FN_ANNOTATIONS, _FN_CLOSURE = 0x01, 0x02, 0x04, 0x08
_NO_OPS = {"NOP", "RESUME", "CACHE", "EXTENDED_ARG"}
_STORES = {"STORE_FAST", "STORE_DEREF", "STORE_NAME", "STORE_GLOBAL"}


def _known(*values):
    return all(value is not _UNREADABLE and not isinstance(value, _MadeFunction)
               for value in values)


class _StackSimulation:
    """Reads the values a function body stores into __auth__, __access__
    and __auth_realm__ by running its bytecode symbolically, in order, with
    a stack of known values: constants, tuples / lists / sets / dicts built
    from constants, unpacking of those, and functions made by nested `def`s.
    Everything else pushes _UNREADABLE. Where control flow can join (a jump
    or exception target) every value on the stack becomes _UNREADABLE, and
    a name stored more than once is _UNREADABLE: so a value is only
    "known" when every path that reaches its store computes the same one.
    Opcode-independent where it matters: an instruction it does not model
    only costs knowledge, never gives a wrong value."""

    def __init__(self, code):
        self.code = code
        self.stack = []
        self.stores = {}  # name -> [values stored]

    def pop(self):
        return self.stack.pop() if self.stack else _UNREADABLE

    def pop_many(self, count):
        values = [self.pop() for _ in range(count)]
        values.reverse()
        return values

    def forget(self):
        self.stack = [_UNREADABLE] * len(self.stack)

    def store(self, name, value):
        if name in _AUTH_NAMES:
            self.stores.setdefault(name, []).append(value)

    def run(self):
        bytecode = dis.Bytecode(self.code)
        joins = {entry.target for entry in getattr(bytecode, "exception_entries", ())}
        for instruction in bytecode:
            if instruction.is_jump_target or instruction.offset in joins:
                self.forget()
            self.step(instruction)
        return self.stores

    def step(self, ins):
        op, arg, argval = ins.opname, ins.arg, ins.argval
        if op in _NO_OPS:
            return
        if op == "LOAD_CONST":
            self.stack.append(argval)
        elif op in ("BUILD_TUPLE", "BUILD_LIST", "BUILD_SET"):
            items = self.pop_many(arg)
            kind = {"BUILD_TUPLE": tuple, "BUILD_LIST": list, "BUILD_SET": set}[op]
            try:
                self.stack.append(kind(items) if _known(*items) else _UNREADABLE)
            except TypeError:  # an unhashable set member
                self.stack.append(_UNREADABLE)
        elif op in ("LIST_EXTEND", "SET_UPDATE") and arg >= 1:
            items = self.pop()
            target = self.stack[-arg] if len(self.stack) >= arg else _UNREADABLE
            if _known(items, target) and isinstance(target, (list, set)):
                try:
                    (target.extend if isinstance(target, list) else target.update)(items)
                except TypeError:
                    self.stack[-arg] = _UNREADABLE
            elif len(self.stack) >= arg:
                self.stack[-arg] = _UNREADABLE
        elif op == "BUILD_CONST_KEY_MAP":
            keys = self.pop()
            values = self.pop_many(arg)
            ok = _known(keys, *values) and isinstance(keys, tuple) and len(keys) == arg
            self.stack.append(dict(zip(keys, values)) if ok else _UNREADABLE)
        elif op == "BUILD_MAP":
            items = self.pop_many(2 * arg)
            ok = _known(*items)
            try:
                self.stack.append(dict(zip(items[::2], items[1::2])) if ok else _UNREADABLE)
            except TypeError:
                self.stack.append(_UNREADABLE)
        elif op in ("DICT_UPDATE", "DICT_MERGE") and arg >= 1:
            items = self.pop()
            if len(self.stack) >= arg:
                target = self.stack[-arg]
                if _known(items, target) and isinstance(target, dict) and isinstance(items, dict):
                    target.update(items)
                else:
                    self.stack[-arg] = _UNREADABLE
        elif op == "UNPACK_SEQUENCE":
            value = self.pop()
            if _known(value) and isinstance(value, (tuple, list)) and len(value) == arg:
                self.stack.extend(reversed(value))
            else:
                self.stack.extend([_UNREADABLE] * arg)
        elif op == "MAKE_FUNCTION":
            self.make_function(arg)
        elif op == "SET_FUNCTION_ATTRIBUTE":
            made = self.pop()
            value = self.pop()
            if isinstance(made, _MadeFunction):
                self.set_function_attribute(made, arg, value)
                self.stack.append(made)
            else:
                self.stack.append(_UNREADABLE)
        elif op in _STORES:
            self.store(argval, self.pop())
        elif op == "STORE_FAST_STORE_FAST":
            first, second = argval
            self.store(first, self.pop())
            self.store(second, self.pop())
        elif op == "STORE_FAST_LOAD_FAST":
            self.store(argval[0], self.pop())
            self.stack.append(_UNREADABLE)
        elif op == "POP_TOP":
            self.pop()
        else:
            self.unmodelled(ins)

    def make_function(self, flags):
        code = self.pop()
        made = _MadeFunction(code) if isinstance(code, types.CodeType) else None
        # 3.11 / 3.12: the flags say what lies under the code object; 3.13
        # has no argument and uses SET_FUNCTION_ATTRIBUTE instead.
        for flag in (_FN_CLOSURE, _FN_ANNOTATIONS, _FN_KWDEFAULTS, _FN_DEFAULTS):
            if flags and flags & flag:
                value = self.pop()
                if made is not None:
                    self.set_function_attribute(made, flag, value)
        self.stack.append(made if made is not None else _UNREADABLE)

    @staticmethod
    def set_function_attribute(made, flag, value):
        if flag == _FN_CLOSURE:
            made.unreadable = True
        elif flag == _FN_DEFAULTS:
            if _known(value) and isinstance(value, tuple):
                made.defaults = value
            else:
                made.unreadable = True
        elif flag == _FN_KWDEFAULTS:
            if _known(value) and isinstance(value, dict):
                made.kwdefaults = value
            else:
                made.unreadable = True

    def unmodelled(self, ins):
        """Any other instruction: the values it touches are unknown; only
        the stack depth is kept (its net effect when it falls through)."""
        try:
            effect = dis.stack_effect(ins.opcode, ins.arg, jump=False)
        except (ValueError, TypeError):
            effect = 0
        self.forget()
        if effect < 0:
            del self.stack[max(0, len(self.stack) + effect):]
        else:
            self.stack.extend([_UNREADABLE] * effect)


def _defined_names(code):
    """The auth names `code` may assign: its local and cell variables other
    than parameters (the rule does not depend on how the compiler stores)."""
    parameters = code.co_argcount + code.co_kwonlyargcount
    parameters += bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)  # *args, **kw
    params = set(code.co_varnames[:parameters])
    names = set(code.co_varnames) | set(code.co_cellvars)
    return {name for name in _AUTH_NAMES if name in names}, params


_definitions_cache = weakref.WeakKeyDictionary()  # code -> {name: stored value}
_definitions_lock = threading.Lock()


def _code_definitions(code):
    with _definitions_lock:
        cached = _definitions_cache.get(code)
    if cached is not None:
        return cached
    names, params = _defined_names(code)
    found = {}
    if names:
        stores = _StackSimulation(code).run()
        for name in names:
            values = stores.get(name)
            if not values:
                if name not in params:
                    found[name] = _UNREADABLE  # a local never stored plainly (del, for, with ...)
            elif len(values) == 1:
                found[name] = values[0]
            else:
                found[name] = _UNREADABLE  # stored on several paths: depends on the run
    with _definitions_lock:
        _definitions_cache[code] = found
    return found


def _local_definitions(function):
    """The values of __auth__, __access__ and __auth_realm__ defined inside
    `function`'s body, found without running it (python-api.md §13.4): any
    of the three names among the code's local or cell variables counts as
    a definition, and its value is the constant it is assigned (through any
    store instruction, tuple unpacking included), or a function made from a
    nested `def`, bound to `function`'s globals. A value that cannot be
    known is _UNREADABLE, which denies access."""
    found = {}
    for name, value in _code_definitions(function.__code__).items():
        if isinstance(value, _MadeFunction):
            value = value.build(function)
        elif value is not _UNREADABLE:
            value = copy.deepcopy(value)  # the page may not change what the cache holds
        found[name] = value
    return found


def _auth_objects(obj):
    """(realm or None, __auth__ or _NOTHING, __access__ or _NOTHING).

    For a function or method the definitions inside its body come first
    (upstream's rule); (deviation) attributes set on the function object
    (page.__auth__ = ...) count too, as mod_python's documentation says."""
    if isinstance(obj, (types.FunctionType, types.MethodType)):
        function = obj.__func__ if isinstance(obj, types.MethodType) else obj
        if not isinstance(function, types.FunctionType):
            return None, _NOTHING, _NOTHING
        found = _local_definitions(function)
        attributes = getattr(function, "__dict__", {})
        for name in _AUTH_NAMES:
            if name not in found and name in attributes:
                found[name] = attributes[name]
        return (found.get("__auth_realm__"), found.get("__auth__", _NOTHING),
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
    """An __auth__ / __access__ / __auth_realm__ whose value cannot be read
    from the function body (computed, stored on several paths, a nested
    function with a closure) denies access: failing open would publish
    what it was meant to protect."""
    req.log_error("HYDRA0509: mod_python.publisher: cannot evaluate %s defined inside %s "
                  "(its value is only known by running the function); access denied"
                  % (name, getattr(obj, "__qualname__", obj)), apache.APLOG_WARNING)
    return False


def process_auth(req, obj, realm="unknown", user=None, passwd=None):
    """Enforces the __auth__ / __access__ of `obj`; returns the (realm, user,
    passwd) to carry on to the next object of the traversal."""
    found_realm, auth, access = _auth_objects(obj)
    if found_realm is _UNREADABLE:
        _deny_unreadable(req, obj, "__auth_realm__")
        raise apache.SERVER_RETURN(apache.HTTP_FORBIDDEN)
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
            req.log_error("HYDRA0510: Cannot traverse %s in %s because it starts with an underscore"
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
        req.log_error("HYDRA0511: mod_python.publisher: nothing to publish.")
    return apache.OK
