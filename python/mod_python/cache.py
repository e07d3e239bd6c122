"""mod_python.cache: thread-safe caches of values that are expensive to
build: file contents, modules compiled from files (the publisher's page
cache), HTTP resources, function results (python-api.md §19).

A cache maps a name to an entry; each entry has its own lock, so building
one value never blocks lookups of another. Subclasses say when an entry is
out of date (check) and how to make its value (build). With max_size > 0
the least recently used entries are dropped beyond that many.
"""

import os
import re
import threading
import types
import weakref
from collections import OrderedDict


class _Sentinel:
    def __init__(self, name):
        self._name = name

    def __repr__(self):
        return self._name


NOT_INITIALIZED = _Sentinel("NOT_INITIALIZED")


class CacheEntry:
    """One cached value and what is needed to tell whether it is current."""

    def __init__(self, key):
        self.key = key
        self.value = NOT_INITIALIZED
        self.timestamp = None
        self.lock = threading.RLock()
        self.hits = 0


class Cache:
    """Base cache: builds a value once per name and keeps it."""

    def __init__(self, max_size=0):
        self._max_size = max_size
        self._entries = OrderedDict()
        self._lock = threading.Lock()

    # -- what subclasses provide -------------------------------------------

    def key(self, name):
        """The key under which `name` is stored."""
        return name

    def check(self, key, name, entry, **context):
        """None if the entry is current; otherwise anything true-ish, which
        is handed to build() (e.g. the opened source)."""
        return True if self._load(entry) is NOT_INITIALIZED else None

    def build(self, key, name, opened, entry, **context):
        """Makes the value for `name`."""
        raise NotImplementedError

    # -- storage of values (WeakCache overrides these) ---------------------

    def _store(self, entry, value):
        entry.value = value

    def _load(self, entry):
        return entry.value

    # -- the mapping -------------------------------------------------------

    def _entry(self, name):
        key = self.key(name)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = CacheEntry(key)
            self._entries.move_to_end(key)
            if self._max_size > 0:
                while len(self._entries) > self._max_size:
                    self._entries.popitem(last=False)
            return key, entry

    def get(self, name, **context):
        """The current value for `name`, (re)built when needed. `context` is
        passed on to check() and build()."""
        key, entry = self._entry(name)
        with entry.lock:
            opened = self.check(key, name, entry, **context)
            if opened is None:
                value = self._load(entry)
                if value is not NOT_INITIALIZED:
                    entry.hits += 1
                    return value
                opened = True
            value = self.build(key, name, opened, entry, **context)
            self._store(entry, value)
            return value

    def __getitem__(self, name):
        return self.get(name)

    def __delitem__(self, name):
        with self._lock:
            del self._entries[self.key(name)]

    def __contains__(self, name):
        with self._lock:
            return self.key(name) in self._entries

    def __len__(self):
        with self._lock:
            return len(self._entries)

    def keys(self):
        with self._lock:
            return list(self._entries.keys())

    def clear(self):
        with self._lock:
            self._entries.clear()


class WeakCache(Cache):
    """A cache that does not keep its values alive: a value nobody else
    references any more is rebuilt on the next lookup. Values that cannot
    be weakly referenced are kept like in Cache."""

    def _store(self, entry, value):
        try:
            entry.value = weakref.ref(value)
        except TypeError:
            entry.value = value

    def _load(self, entry):
        value = entry.value
        if isinstance(value, weakref.ref):
            value = value()
            return NOT_INITIALIZED if value is None else value
        return value


class FileCache(Cache):
    """Values built from files, rebuilt when a file's mtime changes. The
    default value is the file's content, read in `mode`."""

    def __init__(self, max_size=0, mode="rb"):
        Cache.__init__(self, max_size)
        self._mode = mode

    def key(self, name):
        return os.path.abspath(name)

    def check(self, key, name, entry, **context):
        mtime = os.stat(name).st_mtime
        if self._load(entry) is not NOT_INITIALIZED and entry.timestamp == mtime:
            return None
        entry.seen_timestamp = mtime
        return open(name, self._mode)

    def build(self, key, name, opened, entry, **context):
        with opened:
            value = opened.read()
        entry.timestamp = entry.seen_timestamp
        return value


def module_name_for_path(path):
    """The name of a module compiled from `path`: the path with every
    non-word character replaced by '_'."""
    return re.sub(r"\W", "_", path)


def build_module(path, source):
    """A new module object (never in sys.modules) made by executing
    `source` (str or bytes) compiled with `path` as its file name."""
    module = types.ModuleType(module_name_for_path(path))
    module.__file__ = path
    code = compile(source, path, "exec", dont_inherit=True)
    exec(code, module.__dict__)
    return module


class ModuleCache(FileCache):
    """Modules compiled from files, re-executed into a fresh module object
    when the file changes."""

    def __init__(self, max_size=0):
        FileCache.__init__(self, max_size, "rb")

    def build(self, key, name, opened, entry, **context):
        with opened:
            source = opened.read()
        module = build_module(key, source)
        entry.timestamp = entry.seen_timestamp
        return module


class HTTPCache(Cache):
    """Resources fetched by URL, revalidated with If-Modified-Since /
    If-None-Match on every lookup. The value is the response body."""

    def check(self, key, name, entry, **context):
        # Imported here: most users of this module never fetch URLs.
        import urllib.error
        import urllib.request
        request = urllib.request.Request(name)
        if self._load(entry) is not NOT_INITIALIZED:
            validators = entry.timestamp or {}
            if validators.get("etag"):
                request.add_header("If-None-Match", validators["etag"])
            if validators.get("last-modified"):
                request.add_header("If-Modified-Since", validators["last-modified"])
        try:
            return urllib.request.urlopen(request)
        except urllib.error.HTTPError as error:
            if error.code == 304:
                return None
            raise

    def build(self, key, name, opened, entry, **context):
        import email.utils
        with opened:
            body = opened.read()
            headers = opened.headers
            entry.timestamp = {"etag": headers.get("ETag"),
                               "last-modified": headers.get("Last-Modified")
                               or email.utils.formatdate(usegmt=True)}
        return body


class HttpModuleCache(HTTPCache):
    """Modules compiled from Python source fetched by URL."""

    def build(self, key, name, opened, entry, **context):
        source = HTTPCache.build(self, key, name, opened, entry, **context)
        return build_module(name, source)


class FunctionCache(Cache):
    """Memoises function(name)."""

    def __init__(self, function, max_size=0):
        Cache.__init__(self, max_size)
        self._function = function

    def build(self, key, name, opened, entry, **context):
        return self._function(name)
