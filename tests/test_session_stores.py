"""
RedisSession and MemcachedSession on one node (python-api.md §15, issue 14):
the Session() factory selects them by option, sessions continue through the
store and expire by its TTL, the session lock lives in the store (waits,
times out with a 503, outlives a dead holder only by lock_expiry, is
refreshed during a long request), a store that is down or refuses a save
gives 503 with one error-log line and service comes back without a restart,
unknown options and bad URLs name the option, one connection pool per
interpreter. Private redis-server and memcached on 127.0.0.1 free ports,
started and stopped by this module.

The several-node behaviour (balancer, killed node, stopped store) is
test_multinode_sessions.py.
"""

import json
import threading
import time

import pytest

import harness
from harness import ApacheServer, location, log_lines
from session_store_servers import MemcachedServer, RedisServer, have_memcached, have_redis

pytestmark = pytest.mark.skipif(not (have_redis() and have_memcached()),
                                reason="redis-server and memcached not installed "
                                       "(scripts/install-deps.sh installs them)")

HANDLER = r'''
import json, os, time
from mod_python import apache, Session, util


def handler(req):
    form = util.FieldStorage(req)
    args = dict((k, form.getfirst(k)) for k in form.keys())
    action = req.uri.rstrip("/").rsplit("/", 1)[-1]
    kw = {}
    if "timeout" in args:
        kw["timeout"] = int(args["timeout"])
    if args.get("lock") == "0":
        kw["lock"] = 0
    started = time.time()
    sess = Session.Session(req, **kw)
    if action == "invalidate":
        sess.invalidate()
        out = {"id": sess.id()}
    else:
        n = sess.get("n", 0) + 1
        sess["n"] = n
        sess.setdefault("trail", []).append(os.getpid())
        if "size" in args:
            sess["blob"] = "x" * int(args["size"])
        time.sleep(float(args.get("hold", 0)))
        ended = time.time()
        sess.save()
        out = {"n": n, "id": sess.id(), "new": sess.is_new(), "type": type(sess).__name__,
               "pid": os.getpid(), "start": started, "end": ended, "trail": sess["trail"]}
    req.content_type = "application/json"
    req.write(json.dumps(out))
    return apache.OK
'''


def _site(locations, python_path):
    return "\n".join(location(path, *(['PythonPath "%s"' % python_path] if python_path else [])
                              + ["PythonOption %s %s" % kv for kv in options],
                              handler="sesstest", interp=interp)
                     for path, interp, options in locations)


def dist_packages_path():
    """Debian's python3-redis and python3-pymemcache are installed for 3.11;
    they are pure Python, so other builds find them on this extra path."""
    if harness.python_version() == (3, 11):
        return None
    return "sys.path + ['/usr/lib/python3/dist-packages']"


@pytest.fixture(scope="module")
def stores():
    redis_main = RedisServer("127.0.0.1", unix_socket=True)
    redis_down = RedisServer("127.0.0.1")
    memcached_main = MemcachedServer("127.0.0.1", extra=["-I", "1m"])
    memcached_down = MemcachedServer("127.0.0.1")
    memcached_second = MemcachedServer("127.0.0.1")
    everything = (redis_main, redis_down, memcached_main, memcached_down, memcached_second)
    started = []
    try:
        for server in everything:
            server.start()
            started.append(server)
        # A user that may write lock keys only: its saves are refused.
        redis_main.client().execute_command("ACL", "SETUSER", "locksonly", "on", ">pw",
                                            "%R~*", "%W~*:lock", "+@all")
        yield {"redis": redis_main, "redis_down": redis_down,
               "memcached": memcached_main, "memcached_down": memcached_down,
               "memcached_second": memcached_second}
    finally:
        for server in everything:
            server.close()


def _redis(store, *more):
    return [("mod_python.session.session_type", "RedisSession"),
            ("mod_python.session.redis_url", store.url)] + list(more)


def _memcached(store, *more):
    return [("mod_python.session.session_type", "MemcachedSession"),
            ("mod_python.session.memcached_servers", store.servers)] + list(more)


@pytest.fixture(scope="module")
def server(mpm, stores):
    r, m = stores["redis"], stores["memcached"]
    short = [("mod_python.session.lock_timeout", "1")]
    fast_expiry = [("mod_python.session.lock_expiry", "2")]
    quick = [("mod_python.session.store_timeout", "1")]
    locations = [
        ("/redis/", None, _redis(r)),
        ("/mc/", None, _memcached(m)),
        ("/redis-short/", None, _redis(r, *short)),
        ("/mc-short/", None, _memcached(m, *short)),
        ("/redis-refresh/", None, _redis(r, *fast_expiry)),
        ("/mc-refresh/", None, _memcached(m, *fast_expiry)),
        ("/redis-unix/", None, [("mod_python.session.session_type", "RedisSession"),
                                ("mod_python.session.redis_url",
                                 "unix://%s?db=2" % r.socket_path)]),
        ("/redis-prefix/", None, _redis(r, ("mod_python.session.redis_prefix", "shop:"))),
        ("/redis-locksonly/", None, [("mod_python.session.session_type", "RedisSession"),
                                     ("mod_python.session.redis_url",
                                      "redis://locksonly:pw@127.0.0.1:%d/0" % r.port)]),
        ("/redis-down/", None, _redis(stores["redis_down"], *quick)),
        ("/mc-down/", None, _memcached(stores["memcached_down"], *quick)),
        ("/redis-typo/", None, _redis(r, ("mod_python.session.redis_ulr", "x"))),
        ("/redis-badurl/", None, [("mod_python.session.session_type", "RedisSession"),
                                  ("mod_python.session.redis_url", "http://127.0.0.1/")]),
        ("/mc-badservers/", None, [("mod_python.session.session_type", "MemcachedSession"),
                                   ("mod_python.session.memcached_servers", "127.0.0.1")]),
        ("/mc-two/", None, [("mod_python.session.session_type", "MemcachedSession"),
                            ("mod_python.session.memcached_servers",
                             "%s,%s" % (m.servers, stores["memcached_second"].servers))]),
        ("/redis-a/", "interp_a", _redis(r)),
        ("/redis-b/", "interp_b", _redis(r)),
    ]
    config = _site(locations, dist_packages_path())
    with ApacheServer(config, {"pylib/sesstest.py": HANDLER}, mpm=mpm) as server:
        yield server


class Client:
    """A browser: keeps the session cookie between requests."""

    def __init__(self, server):
        self.server, self.cookie = server, None

    def get(self, path, **kw):
        headers = {"Cookie": self.cookie} if self.cookie else {}
        resp = self.server.get(path, headers=headers, **kw)
        for value in resp.headers.get_all("Set-Cookie") or ():
            if value.startswith("pysid=") and "expires" not in value.lower():
                self.cookie = value.split(";", 1)[0]
        return resp

    def json(self, path, status=200, **kw):
        resp = self.get(path, **kw)
        assert resp.status == status, "%s -> %d %s" % (path, resp.status, resp.body[:2000])
        return json.loads(resp.body)


def _store_get(stores, kind, key):
    return stores[kind].client().get(key)


def _wait_released(stores, kind, lock_key, timeout=15.0):
    """The lock is released by a request cleanup, which runs just after the
    response has been sent: wait for it."""
    deadline = time.monotonic() + timeout
    while _store_get(stores, kind, lock_key) is not None:
        assert time.monotonic() < deadline, "lock %s still held %.0fs after the response" % (
            lock_key, timeout)
        time.sleep(0.01)


# ---------------------------------------------------------------------------
# The factory, round trips and expiry

@pytest.mark.parametrize("base,kind,cls", [("/redis/", "redis", "RedisSession"),
                                           ("/mc/", "memcached", "MemcachedSession")])
def test_session_continues_through_the_store(server, stores, base, kind, cls):
    client = Client(server)
    seen = [client.json(base + "count") for _ in range(5)]
    assert [s["n"] for s in seen] == [1, 2, 3, 4, 5]
    assert [s["new"] for s in seen] == [True, False, False, False, False]
    assert {s["type"] for s in seen} == {cls}
    assert len({s["id"] for s in seen}) == 1
    sid = seen[0]["id"]
    key = "mp_sess:{%s}" % sid if kind == "redis" else "mp_sess:" + sid
    assert _store_get(stores, kind, key) is not None
    _wait_released(stores, kind, key + ":lock")  # released at request end


def test_redis_expiry_is_the_store_ttl(server, stores):
    client = Client(server)
    sid = client.json("/redis/count?timeout=60")["id"]
    ttl = stores["redis"].client().ttl("mp_sess:{%s}" % sid)
    assert 50 <= ttl <= 60


def test_memcached_expiry_is_the_store_ttl(server, stores):
    client = Client(server)
    # memcached's clock ticks once a second: the session is stored for
    # timeout + 1 s, so it lives 1 to 2 s here. Present at once (stored for
    # 1 s only it could be gone already), gone a few seconds on.
    sid = client.json("/mc/count?timeout=1")["id"]
    assert _store_get(stores, "memcached", "mp_sess:" + sid) is not None
    deadline = time.monotonic() + 10
    while _store_get(stores, "memcached", "mp_sess:" + sid) is not None:
        assert time.monotonic() < deadline, "still stored 10 s after a 1 s timeout"
        time.sleep(0.2)
    assert client.json("/mc/count")["new"] is True


def test_redis_unix_socket_url_and_database(server, stores):
    client = Client(server)
    assert [client.json("/redis-unix/count")["n"] for _ in range(3)] == [1, 2, 3]
    sid = client.json("/redis-unix/count")["id"]
    import redis
    db2 = redis.Redis(unix_socket_path=stores["redis"].socket_path, db=2)
    assert db2.get("mp_sess:{%s}" % sid) is not None
    assert stores["redis"].client().get("mp_sess:{%s}" % sid) is None  # not in db 0


def test_redis_prefix_option_names_the_keys(server, stores):
    sid = Client(server).json("/redis-prefix/count")["id"]
    assert stores["redis"].client().get("shop:{%s}" % sid) is not None


@pytest.mark.parametrize("base,kind", [("/redis/", "redis"), ("/mc/", "memcached")])
def test_invalidate_removes_the_session_from_the_store(server, stores, base, kind):
    client = Client(server)
    sid = client.json(base + "count")["id"]
    key = "mp_sess:{%s}" % sid if kind == "redis" else "mp_sess:" + sid
    assert _store_get(stores, kind, key) is not None
    client.json(base + "invalidate")
    assert _store_get(stores, kind, key) is None


def test_memcached_servers_list_spreads_sessions(server, stores):
    """Two servers in mod_python.session.memcached_servers: each session
    lives on one of them (consistent hashing), and both get some."""
    ids = []
    for _ in range(40):   # all on one of two servers: 1 in 2**39
        client = Client(server)
        assert [client.json("/mc-two/count")["n"] for _ in range(2)] == [1, 2]
        ids.append(client.json("/mc-two/count")["id"])
    first, second = stores["memcached"].client(), stores["memcached_second"].client()
    where = [(first.get("mp_sess:" + sid) is not None, second.get("mp_sess:" + sid) is not None)
             for sid in ids]
    assert all(a != b for a, b in where), where
    assert 0 < sum(a for a, _ in where) < len(ids), where


# ---------------------------------------------------------------------------
# The lock in the store

def _concurrent(client, path, count):
    results = [None] * count

    def run(i):
        results[i] = client.json(path)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.mark.parametrize("base", ["/redis/", "/mc/"])
def test_lock_serialises_requests_of_one_session(server, base):
    client = Client(server)
    client.json(base + "count")
    results = _concurrent(client, base + "count?hold=0.3", 4)
    assert sorted(r["n"] for r in results) == [2, 3, 4, 5]
    # Each handler's work (load .. save) ran alone: without the lock, requests
    # that loaded the same n would have saved the same n + 1.
    assert client.json(base + "count")["n"] == 6


@pytest.mark.parametrize("base,kind", [("/redis-short/", "redis"), ("/mc-short/", "memcached")])
def test_lock_held_elsewhere_times_out_with_503(server, stores, base, kind):
    client = Client(server)
    sid = client.json(base + "count")["id"]
    lock_key = ("mp_sess:{%s}:lock" if kind == "redis" else "mp_sess:%s:lock") % sid
    _wait_released(stores, kind, lock_key)
    store = stores[kind].client()
    if kind == "redis":
        assert store.set(lock_key, b"another-node", nx=True, ex=30)
    else:
        assert store.add(lock_key, b"another-node", expire=30)
    mark = server.log_mark()
    started = time.monotonic()
    resp = client.get(base + "count")
    waited = time.monotonic() - started
    assert resp.status == 503
    assert resp.headers.get("Retry-After") == "1"
    assert 0.9 <= waited < 4, waited
    log = server.error_log(mark)
    assert len(log_lines(log, "HYDRA0571", sid, "lock_timeout 1s")) == 1, log
    assert len([l for l in log.splitlines() if ":error]" in l]) == 1, log
    store.delete(lock_key)
    assert client.json(base + "count")["n"] == 2


@pytest.mark.parametrize("base,kind", [("/redis/", "redis"), ("/mc/", "memcached")])
def test_dead_holders_lock_expires(server, stores, base, kind):
    client = Client(server)
    sid = client.json(base + "count")["id"]
    lock_key = ("mp_sess:{%s}:lock" if kind == "redis" else "mp_sess:%s:lock") % sid
    _wait_released(stores, kind, lock_key)
    store = stores[kind].client()
    if kind == "redis":
        assert store.set(lock_key, b"died-holding-it", nx=True, px=2000)
    else:
        assert store.add(lock_key, b"died-holding-it", expire=2)
    started = time.monotonic()
    assert client.json(base + "count")["n"] == 2
    assert 1.0 <= time.monotonic() - started < 5


@pytest.mark.parametrize("base,kind", [("/redis-refresh/", "redis"), ("/mc-refresh/", "memcached")])
def test_holder_refreshes_its_lock_during_a_long_request(server, stores, base, kind):
    """lock_expiry is 2 s; a request holding the lock for 7 s keeps it
    (refreshed every 2/3 s: a stall of over a second must not lose it)."""
    client = Client(server)
    sid = client.json(base + "count")["id"]
    lock_key = ("mp_sess:{%s}:lock" if kind == "redis" else "mp_sess:%s:lock") % sid
    results = {}
    first = threading.Thread(target=lambda: results.update(a=client.json(base + "count?hold=7")))
    first.start()
    time.sleep(5)
    assert stores[kind].client().get(lock_key) is not None  # still held after 2.5 expiries
    results["b"] = client.json(base + "count")
    first.join(30)
    # Had the lock expired after 2 s, b would have loaded n=1 as a did.
    assert results["a"]["n"] == 2 and results["b"]["n"] == 3


@pytest.mark.parametrize("base", ["/redis/", "/mc/"])
def test_lock_off_needs_no_lock_key(server, stores, base):
    client = Client(server)
    assert client.json(base + "count?lock=0")["n"] == 1
    assert client.json(base + "count?lock=0")["n"] == 2


# ---------------------------------------------------------------------------
# Nothing silently lost

def _one_error_line(server, mark, code):
    log = server.error_log(mark)
    errors = [l for l in log.splitlines() if ":error]" in l or "Traceback" in l]
    assert len(errors) == 1 and code in errors[0], log
    return errors[0]


def test_redis_down_gives_503_then_recovers_without_restart(server, stores):
    store = stores["redis_down"]
    client = Client(server)
    assert client.json("/redis-down/count")["n"] == 1
    store.shutdown_saving()
    try:
        mark = server.log_mark()
        started = time.monotonic()
        resp = client.get("/redis-down/count")
        assert resp.status == 503
        assert time.monotonic() - started < 3
        line = _one_error_line(server, mark, "HYDRA0570")
        assert "unreachable" in line
    finally:
        store.start()
    # The first requests after the restart work (stale pooled connections
    # are found at checkout) and the session survived (SHUTDOWN SAVE).
    assert [client.json("/redis-down/count")["n"] for _ in range(3)] == [2, 3, 4]


def test_memcached_paused_gives_503_within_store_timeout_then_recovers(server, stores):
    store = stores["memcached_down"]
    client = Client(server)
    assert client.json("/mc-down/count")["n"] == 1
    store.pause()
    try:
        mark = server.log_mark()
        started = time.monotonic()
        resp = client.get("/mc-down/count")
        assert resp.status == 503
        assert time.monotonic() - started < 3.5  # store_timeout 1 s, no hang
        _one_error_line(server, mark, "HYDRA0570")
    finally:
        store.resume()
    time.sleep(1.2)  # a lock the paused server took late expires (lock_expiry 5 s: wait it out)
    deadline = time.monotonic() + 20
    while True:
        resp = client.get("/mc-down/count")
        if resp.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert resp.status == 200, resp.body
    assert json.loads(resp.body)["n"] >= 2


def test_memcached_refused_save_gives_503(server, stores):
    client = Client(server)
    assert client.json("/mc/count")["n"] == 1
    mark = server.log_mark()
    resp = client.get("/mc/count?size=2000000")  # over memcached's 1 MB item limit
    assert resp.status == 503
    line = _one_error_line(server, mark, "HYDRA0570")
    assert "during save" in line
    # Not counted; memcached also drops the old value when it refuses a
    # write that is too large, so the session may start afresh.
    assert client.json("/mc/count")["n"] in (1, 2)


def test_redis_refused_save_gives_503(server, stores):
    """User locksonly may write lock keys only: locking works, the save is
    refused by Redis (NOPERM) and the request must not answer 200."""
    client = Client(server)
    mark = server.log_mark()
    resp = client.get("/redis-locksonly/count")
    assert resp.status == 503, resp.body
    line = _one_error_line(server, mark, "HYDRA0570")
    assert "during save" in line and ("NOPERM" in line or "permission" in line.lower()), line


# ---------------------------------------------------------------------------
# Options

@pytest.mark.parametrize("path,option", [
    ("/redis-typo/count", "mod_python.session.redis_ulr"),
    ("/redis-badurl/count", "mod_python.session.redis_url"),
    ("/mc-badservers/count", "mod_python.session.memcached_servers"),
])
def test_bad_option_fails_naming_the_option(server, path, option):
    mark = server.log_mark()
    resp = server.get(path)
    assert resp.status == 500
    assert log_lines(server.error_log(mark), "SessionConfigError", option), \
        server.error_log(mark)


# ---------------------------------------------------------------------------
# Pools

def test_one_connection_pool_per_interpreter(server, stores):
    """200 requests over two interpreters open only a few connections: each
    interpreter keeps its pool (without one, every request would connect)."""
    info = stores["redis"].client().info("stats")
    before = info["total_connections_received"]
    client = Client(server)
    for i in range(100):
        client.json("/redis-a/count")
        client.json("/redis-b/count")
    after = stores["redis"].client().info("stats")["total_connections_received"]
    # per process (1 event child or 3 prefork children) x 2 interpreters,
    # a connection or two each, plus this test's own INFO connections
    assert after - before <= 16, after - before


# ---------------------------------------------------------------------------
# Own-GIL interpreters (beyond.md §1): the client libraries are pure Python

@pytest.mark.own_gil
@pytest.mark.parametrize("kind", ["redis", "memcached"])
def test_store_session_in_an_own_gil_interpreter(start_apache, stores, kind):
    options = _redis(stores["redis"]) if kind == "redis" else _memcached(stores["memcached"])
    path = dist_packages_path()
    lines = (['PythonPath "%s"' % path] if path else []) + \
        ["PythonOption %s %s" % kv for kv in options]
    server = start_apache(location("/own/", *lines, handler="sesstest", interp="own_" + kind,
                                   gil="own"),
                          {"pylib/sesstest.py": HANDLER})
    client = Client(server)
    assert [client.json("/own/count")["n"] for _ in range(3)] == [1, 2, 3]
    harness.assert_no_crashes(server)
