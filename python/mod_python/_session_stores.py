"""mod_python._session_stores: sessions in a shared store, Redis
(RedisSession) or memcached (MemcachedSession), so that several Apache
nodes behind a load balancer see the same sessions (docs/scaling.md).

Owns: the store options and their checks, one connection pool per store
and interpreter (this module is imported once per interpreter, so its
globals are per interpreter and per replica), the session lock that lives
in the store, the thread that refreshes held locks, and the rule that a
store failure costs the request a 503 and one error-log line, never a 200
whose session write was dropped. Must not: keep session data anywhere but
the store, or hold a process-wide lock while it talks to the network.

Lock protocol. The lock of session S is the key <prefix>{S}:lock whose
value is a random token of the holder, written only if absent (Redis: SET
NX PX; memcached: add) with an expiry of lock_expiry seconds, so a holder
that dies leaves a lock that disappears by itself. A thread refreshes the
held locks every lock_expiry/3 seconds while a request runs. Only the
owner releases (compare the token and delete atomically: a Lua script on
Redis, gets + cas with an expiry in the past on memcached). A save checks
that the lock is still ours: on Redis in the same script as the write; a
save whose lock was lost (expired while the store was paused, say) fails
with a 503 rather than overwrite a newer session.

The redis and pymemcache packages are imported when a session of that kind
is first made, so sites that use neither need neither.
"""

import math
import pickle
import random
import secrets
import threading
import time
from urllib.parse import parse_qs, urlsplit

from . import apache
from .Session import BaseSession

# ---------------------------------------------------------------------------
# Errors

class SessionConfigError(ValueError):
    """A session store option that is unknown or cannot be used; the text
    names the option. A configuration error: the request gets a 500."""


class SessionStoreUnavailable(apache.SERVER_RETURN):
    """The store could not be reached or refused a write. Raised after the
    one error-log line was written; the request answers 503."""

    def __init__(self, message):
        apache.SERVER_RETURN.__init__(self, apache.HTTP_SERVICE_UNAVAILABLE)
        self.message = message

    def __str__(self):
        return self.message


class SessionLockTimeout(SessionStoreUnavailable):
    """Another request (on this node or another) held the session lock for
    longer than lock_timeout seconds; the request answers 503."""


# ---------------------------------------------------------------------------
# Options

_OPTION = "mod_python.session."

# The keys of the other session classes (python-api.md §15) and ours.
_BASE_KEYS = frozenset(("session_type", "cookie_name", "application_domain",
                        "application_path", "database_directory"))
_STORE_DEFAULTS = {
    "redis_url": "redis://127.0.0.1:6379/0",
    "redis_prefix": "mp_sess:",
    "memcached_servers": "127.0.0.1:11211",
    "memcached_prefix": "mp_sess:",
    "lock_expiry": "5",       # seconds a dead holder's lock outlives it at most
    "lock_timeout": "10",     # seconds a request waits for the session lock
    "store_timeout": "2",     # seconds for one store round trip or connect
}

_config_cache = {}


def _number(key, text, low, high):
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = None
    if value is None or not (low <= value <= high) or math.isnan(value):
        raise SessionConfigError("PythonOption %s%s: %r is not a number of seconds in "
                                 "[%g, %g]" % (_OPTION, key, text, low, high))
    return value


def _check_prefix(key, text):
    if not text or len(text) > 100 or any(c.isspace() or ord(c) < 32 or ord(c) == 127
                                          for c in text):
        raise SessionConfigError("PythonOption %s%s: %r must be 1 to 100 printable "
                                 "characters without blanks" % (_OPTION, key, text))
    return text


def _check_redis_url(text):
    try:
        parts = urlsplit(text)
        if parts.scheme in ("redis", "rediss"):
            ok = bool(parts.hostname)
            parts.port  # raises ValueError on a bad port
            db = parts.path.strip("/")
            ok = ok and (db == "" or db.isdigit())
        elif parts.scheme == "unix":
            ok = bool(parts.path) and not parts.netloc
            db = parse_qs(parts.query).get("db", ["0"])[0]
            ok = ok and db.isdigit()
        else:
            ok = False
    except ValueError:
        ok = False
    if not ok:
        raise SessionConfigError("PythonOption %sredis_url: %r is not a URL of the form "
                                 "redis://host[:port][/db], rediss://... or "
                                 "unix:///path[?db=N]" % (_OPTION, text))
    return text


def _check_servers(text):
    servers = []
    for item in text.split(","):
        item = item.strip()
        host, sep, port = item.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SessionConfigError("PythonOption %smemcached_servers: %r is not a list of "
                                     "host:port separated by commas" % (_OPTION, text))
        servers.append((host, int(port)))
    return tuple(servers)


def store_config(options):
    """The store settings from the request's options, checked; cached per
    distinct set of values. Every mod_python.session.* key must be known."""
    items = tuple(sorted((k, v) for k, v in options.items() if k.startswith(_OPTION)))
    config = _config_cache.get(items)
    if config is not None:
        return config
    raw = dict(_STORE_DEFAULTS)
    for key, value in items:
        name = key[len(_OPTION):]
        if name in _STORE_DEFAULTS:
            raw[name] = value
        elif name not in _BASE_KEYS:
            raise SessionConfigError("PythonOption %s: unknown session option (known: %s)"
                                     % (key, ", ".join(_OPTION + k for k in
                                                       sorted(_BASE_KEYS | set(_STORE_DEFAULTS)))))
    config = {
        "redis_url": _check_redis_url(raw["redis_url"]),
        "redis_prefix": _check_prefix("redis_prefix", raw["redis_prefix"]),
        "memcached_servers": _check_servers(raw["memcached_servers"]),
        "memcached_prefix": _check_prefix("memcached_prefix", raw["memcached_prefix"]),
        "lock_expiry": _number("lock_expiry", raw["lock_expiry"], 1, 3600),
        "lock_timeout": _number("lock_timeout", raw["lock_timeout"], 0, 3600),
        "store_timeout": _number("store_timeout", raw["store_timeout"], 0.05, 600),
    }
    if len(_config_cache) > 64:
        _config_cache.clear()
    _config_cache[items] = config
    return config


# ---------------------------------------------------------------------------
# Connection pools: one per store address per interpreter, made on first use

_pools = {}
_pools_lock = threading.Lock()


def _pool(key, make):
    pool = _pools.get(key)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = make()
    return pool


def _redis_client(config):
    import redis

    url, timeout = config["redis_url"], config["store_timeout"]

    def make():
        # ConnectionPool is thread-safe; a connection that the server
        # closed (a restarted Redis) is found at checkout and reopened.
        extra = {} if url.startswith("unix:") else {"socket_connect_timeout": timeout}
        pool = redis.ConnectionPool.from_url(url, socket_timeout=timeout, **extra)
        client = redis.Redis(connection_pool=pool)
        # The scripts run by their SHA1 (loaded again after a Redis restart).
        client.hydra_scripts = tuple(client.register_script(lua)
                                     for lua in (_RELEASE_LUA, _REFRESH_LUA, _SAVE_LUA))
        return client

    return _pool(("redis", url, timeout), make)


def _memcached_client(config):
    from pymemcache.client.base import PooledClient
    from pymemcache.client.hash import HashClient

    servers, timeout = config["memcached_servers"], config["store_timeout"]

    def make():
        common = dict(timeout=timeout, connect_timeout=timeout, default_noreply=False)
        if len(servers) == 1:
            return PooledClient(servers[0], **common)
        return HashClient(list(servers), use_pooling=True, **common)

    return _pool(("memcached", servers, timeout), make)


# ---------------------------------------------------------------------------
# Lock refreshing

class _Refresher:
    """Refreshes the locks this interpreter holds, from one thread that runs
    only while a lock is held (so an interpreter that ends has no thread
    left to wait for)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._held = {}
        self._thread = None

    def add(self, lock):
        with self._cond:
            self._held[id(lock)] = lock
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=False,
                                                name="mod_python session lock refresher")
                self._thread.start()
            self._cond.notify()

    def remove(self, lock):
        with self._cond:
            self._held.pop(id(lock), None)
            self._cond.notify()

    def _run(self):
        while True:
            with self._cond:
                if not self._held:
                    self._thread = None
                    return
                now = time.monotonic()
                due = [lock for lock in self._held.values() if lock.next_refresh <= now]
                if not due:
                    self._cond.wait(min(lock.next_refresh for lock in self._held.values()) - now)
                    continue
            for lock in due:
                lock.refresh()


_refresher = _Refresher()


class _StoreLock:
    """The lock of one session in the store, held by one request."""

    def __init__(self, store, key, expiry):
        self.store, self.key, self.expiry = store, key, expiry
        self.token = secrets.token_hex(16).encode("ascii")
        self.lost = False      # a refresh found the lock gone or taken
        self.error = None      # the last refresh failed (store unreachable)
        self.next_refresh = 0.0

    def acquire(self, timeout):
        """Waits up to `timeout` seconds; False when another holder kept it."""
        deadline = time.monotonic() + timeout
        pause = 0.002
        while not self.store.lock_add(self.key, self.token, self.expiry):
            now = time.monotonic()
            if now >= deadline:
                return False
            time.sleep(min(pause * random.uniform(0.5, 1.5), deadline - now))
            pause = min(pause * 2, 0.025)
        self.next_refresh = time.monotonic() + self.expiry / 3
        _refresher.add(self)
        return True

    def refresh(self):
        self.next_refresh = time.monotonic() + self.expiry / 3
        try:
            if not self.store.lock_refresh(self.key, self.token, self.expiry):
                self.lost = True
            self.error = None
        except Exception as exc:
            self.error = exc

    def release(self):
        _refresher.remove(self)
        self.store.lock_release(self.key, self.token)


# ---------------------------------------------------------------------------
# The stores: the few operations a session needs, each one round trip or a
# script, raising the client library's exceptions

_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_REFRESH_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
# KEYS: data, lock. ARGV: payload, ttl ms, token ('' when unlocked), lock expiry ms
_SAVE_LUA = """
if ARGV[3] ~= '' then
  if redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


class _RedisStore:
    name = "Redis"

    def __init__(self, config):
        self.client = _redis_client(config)
        self.where = config["redis_url"]
        self.prefix = config["redis_prefix"]
        self._release, self._refresh, self._save = self.client.hydra_scripts

    @staticmethod
    def errors():
        import redis
        return (redis.RedisError, OSError)

    def keys(self, sid):
        # The hash tag keeps a session's two keys in one Redis Cluster slot.
        base = "%s{%s}" % (self.prefix, sid)
        return base, base + ":lock"

    def load(self, key):
        return self.client.get(key)

    def save(self, key, payload, ttl, lock_key, token, lock_expiry):
        return self._save(keys=[key, lock_key],
                          args=[payload, max(1, int(ttl * 1000)), token or b"",
                                int(lock_expiry * 1000)]) == 1

    def delete(self, key):
        self.client.delete(key)

    def lock_add(self, key, token, expiry):
        return bool(self.client.set(key, token, nx=True, px=int(expiry * 1000)))

    def lock_refresh(self, key, token, expiry):
        return self._refresh(keys=[key], args=[token, int(expiry * 1000)]) == 1

    def lock_release(self, key, token):
        self._release(keys=[key], args=[token])

    def lock_holder(self, key):
        return self.client.get(key)


_MEMCACHED_RELATIVE_LIMIT = 30 * 24 * 3600  # memcached reads larger expiries as a date


def _memcached_expiry(seconds):
    seconds = max(1, int(math.ceil(seconds)))
    if seconds > _MEMCACHED_RELATIVE_LIMIT:
        return int(time.time()) + seconds
    return seconds


class _MemcachedStore:
    name = "memcached"

    def __init__(self, config):
        self.client = _memcached_client(config)
        self.where = ",".join("%s:%d" % s for s in config["memcached_servers"])
        self.prefix = config["memcached_prefix"]

    @staticmethod
    def errors():
        from pymemcache.exceptions import MemcacheError
        return (MemcacheError, OSError)

    def keys(self, sid):
        base = self.prefix + sid
        return base, base + ":lock"

    def load(self, key):
        return self.client.get(key)

    def save(self, key, payload, ttl, lock_key, token, lock_expiry):
        # Not atomic with the write as on Redis: the lock could still expire
        # between this check and the set, which only a store pause longer
        # than lock_expiry at that very moment can cause.
        if token is not None and self.client.get(lock_key) != token:
            return False
        # + 1 as for locks: memcached's once-a-second clock may otherwise
        # drop the session up to a second before its timeout.
        return bool(self.client.set(key, payload, expire=_memcached_expiry(ttl) + 1))

    def delete(self, key):
        self.client.delete(key)

    # memcached's clock ticks once a second and an item whose expiry is
    # reached at the next tick is gone: a lock lives expiry + 1 seconds at
    # most, and at least expiry.
    def lock_add(self, key, token, expiry):
        return bool(self.client.add(key, token, expire=_memcached_expiry(expiry) + 1))

    def lock_refresh(self, key, token, expiry):
        value, cas = self.client.gets(key)
        return value == token and bool(self.client.cas(key, token, cas,
                                                       expire=_memcached_expiry(expiry) + 1))

    def lock_release(self, key, token):
        value, cas = self.client.gets(key)
        if value == token:
            # cas with an expiry in the past: deleted, unless someone else
            # wrote the key since our gets.
            self.client.cas(key, token, cas, expire=-1)

    def lock_holder(self, key):
        return self.client.get(key)


# ---------------------------------------------------------------------------
# The sessions

class _StoreSession(BaseSession):
    """BaseSession over a _RedisStore or _MemcachedStore; every failure of
    the store becomes SessionStoreUnavailable (503) after one log line."""

    store_class = None

    def __init__(self, req, sid=0, secret=None, timeout=0, lock=1):
        config = store_config(req.get_options())
        self._config = config
        self._store = self._call("connect", lambda: self.store_class(config), req)
        self._store_lock = None
        self._cleanup_registered = False
        BaseSession.__init__(self, req, sid=sid, secret=secret, timeout=timeout, lock=lock)

    # -- failures --------------------------------------------------------

    def _fail(self, message, cls=SessionStoreUnavailable, req=None):
        """The one error-log line of this request, then a 503."""
        req = req or self._req
        req.log_error(message, apache.APLOG_ERR)
        req.err_headers_out["Retry-After"] = "1"
        raise cls(message)

    def _call(self, what, function, req=None):
        store = getattr(self, "_store", None)
        errors = store.errors() if store is not None else self.store_class.errors()
        try:
            return function()
        except errors as exc:
            where = store.where if store is not None else ""
            self._fail("HYDRA0570: %s: store %s unreachable or failing during %s: %s: %s"
                       % (type(self).__name__, where, what, type(exc).__name__, exc), req=req)

    # -- locking ---------------------------------------------------------

    def lock(self):
        if not self._lock or self._store_lock is not None:
            return
        data_key, lock_key = self._store.keys(self._sid)
        lock = _StoreLock(self._store, lock_key, self._config["lock_expiry"])
        if not self._call("lock", lambda: lock.acquire(self._config["lock_timeout"])):
            holder = None
            try:
                holder = self._store.lock_holder(lock_key)
            except Exception:
                pass
            self._fail("HYDRA0571: %s: session %s: lock not obtained within lock_timeout %gs "
                       "(held by another request%s); the holder may be slow, or dead and its "
                       "lock expires within lock_expiry %gs"
                       % (type(self).__name__, self._sid, self._config["lock_timeout"],
                          "" if holder is not None else ", since released",
                          self._config["lock_expiry"]), cls=SessionLockTimeout)
        self._store_lock = lock
        self._locked = 1
        if not self._cleanup_registered:
            self._cleanup_registered = True
            self._req.register_cleanup(_unlock_cleanup, self)

    def unlock(self):
        lock, self._store_lock = self._store_lock, None
        if lock is None:
            return
        self._locked = 0
        try:
            lock.release()
        except Exception:
            # A lock we cannot release expires by itself within lock_expiry.
            pass

    # -- storage ---------------------------------------------------------

    def do_load(self):
        data_key = self._store.keys(self._sid)[0]
        payload = self._call("load", lambda: self._store.load(data_key))
        if payload is None:
            return None
        try:
            return pickle.loads(payload)
        except Exception:
            return None  # damaged or foreign data is a missing session

    def do_save(self, dict):
        data_key, lock_key = self._store.keys(self._sid)
        lock = self._store_lock
        if lock is not None and lock.lost:
            self._lost_lock(lock)
        payload = pickle.dumps(dict, pickle.HIGHEST_PROTOCOL)
        token = lock.token if lock is not None else None
        ttl = dict["_timeout"]
        saved = self._call("save", lambda: self._store.save(
            data_key, payload, ttl, lock_key, token, self._config["lock_expiry"]))
        if not saved:
            if lock is not None:
                self._lost_lock(lock)
            self._fail("HYDRA0573: %s: session %s: store %s did not keep the write"
                       % (type(self).__name__, self._sid, self._store.where))

    def _lost_lock(self, lock):
        self._fail("HYDRA0572: %s: session %s: the session lock expired before the save "
                   "(held longer than lock_expiry %gs without a refresh: store paused or "
                   "unreachable%s); the write was not made"
                   % (type(self).__name__, self._sid, lock.expiry,
                      ", last refresh error: %s" % lock.error if lock.error else ""))

    def do_delete(self):
        data_key = self._store.keys(self._sid)[0]
        self._call("delete", lambda: self._store.delete(data_key))

    def do_cleanup(self):
        pass  # the store's TTL expires sessions


def _unlock_cleanup(session):
    session.unlock()


class RedisSession(_StoreSession):
    """Sessions in Redis (option mod_python.session.redis_url)."""
    store_class = _RedisStore


class MemcachedSession(_StoreSession):
    """Sessions in memcached (option mod_python.session.memcached_servers)."""
    store_class = _MemcachedStore
