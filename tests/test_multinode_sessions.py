"""
Several Apache nodes share sessions through Redis and memcached (issue 14,
python-api.md §15, docs/scaling.md).

The test builds its own hosts in network namespaces (netns_hosts.py): one
store host running a private redis-server and memcached, three Apache
nodes running Hydra with the same site, and, in the test's own namespace
on 127.0.0.1, a front Apache whose mod_proxy_balancer spreads requests over
the nodes by request count, with no stickiness. Traffic goes only to those
addresses and 127.0.0.1. Scenarios, each bounded in time and count, each
printing one MULTINODE summary line:

1. a user's session (a counter and a list) continues while consecutive
   requests land on different nodes;
2. 8 clients share one session and increment it through the balancer for
   HYDRA_MULTINODE_SECONDS (default 20; 5 under make asan) per store: the
   final counter equals the number of 200s exactly;
3. a node is killed (SIGKILL to its parent and its children) mid-run: the
   balancer fails over, the users' sessions continue, no acknowledged
   increment is lost (each acknowledged request's number is in the list);
4. the store is stopped for 5 s mid-run (Redis: SHUTDOWN SAVE, restarted
   from its dump; memcached: SIGSTOP, then SIGCONT): those requests answer
   503 with one error-log line each, none waits past the lock timeout, and
   service resumes by itself.

Needs root, iproute2, redis-server, memcached and Debian's proxy modules;
skipped otherwise. Everything made is removed at the end, even on failure.
"""

import http.client
import json
import os
import pickle
import signal
import subprocess
import threading
import time

import pytest

import harness
from harness import ApacheServer, location
import netns_hosts
from session_store_servers import MemcachedServer, RedisServer, have_memcached, have_redis

_ok, _why = netns_hosts.available()
_proxy = os.path.exists(str(harness.APACHE_MODULES / "mod_proxy_balancer.so"))
pytestmark = [
    pytest.mark.skipif(not _ok, reason=_why),
    pytest.mark.skipif(not (have_redis() and have_memcached()),
                       reason="redis-server and memcached not installed"),
    pytest.mark.skipif(not _proxy, reason="Apache's mod_proxy_balancer not installed"),
    pytest.mark.skipif(os.environ.get("HYDRA_MULTINODE") == "0", reason="HYDRA_MULTINODE=0"),
]

NODE_PORT = 8080
REDIS_PORT = 6379
MEMCACHED_PORT = 11211
LOCK_EXPIRY = 2      # seconds: a dead holder's lock is gone after this (memcached: + 1)
LOCK_TIMEOUT = 8     # seconds a request waits for the session lock
STORE_TIMEOUT = 1    # seconds per store round trip
# Scenario 2's length per store; the issue's 20 s, or 5 s in the ASan run
# (make asan), where the point is memory errors, not duration.
SHARED_SECONDS = float(os.environ.get("HYDRA_MULTINODE_SECONDS")
                       or (5 if os.environ.get("HYDRA_ASAN_PRELOAD") else 20))
MAX_REQUESTS = 20000  # per scenario, whatever the duration
CLIENT_TIMEOUT = 30
# No request may take longer than waiting out the lock plus one store timeout.
MAX_LATENCY = LOCK_TIMEOUT + STORE_TIMEOUT + 3

SITE_HANDLER = r'''
import json
from mod_python import apache, Session, util


def handler(req):
    form = util.FieldStorage(req)
    seq = form.getfirst("seq")
    sess = Session.Session(req)
    sess["n"] = sess.get("n", 0) + 1
    if seq is not None:
        sess.setdefault("seen", []).append(int(seq))
    sess.save()  # before the body: a failed save still turns into a 503
    req.content_type = "application/json"
    req.write(json.dumps({"n": sess["n"], "node": req.connection.local_ip, "id": sess.id()}))
    return apache.OK
'''

STORES = ("redis", "memcached")


def _site_config(address, store_address):
    path = ("sys.path + ['/usr/lib/python3/dist-packages']"
            if harness.python_version() != (3, 11) else None)
    common = (['PythonPath "%s"' % path] if path else []) + [
        "PythonOption mod_python.session.lock_expiry %d" % LOCK_EXPIRY,
        "PythonOption mod_python.session.lock_timeout %d" % LOCK_TIMEOUT,
        "PythonOption mod_python.session.store_timeout %d" % STORE_TIMEOUT,
    ]
    return "\n".join([
        "Listen %s:%d" % (address, NODE_PORT),
        location("/app/redis/", *common + [
            "PythonOption mod_python.session.session_type RedisSession",
            "PythonOption mod_python.session.redis_url redis://%s:%d/0" % (store_address,
                                                                           REDIS_PORT)],
            handler="shopsite", interp="shop"),
        location("/app/memcached/", *common + [
            "PythonOption mod_python.session.session_type MemcachedSession",
            "PythonOption mod_python.session.memcached_servers %s:%d" % (store_address,
                                                                         MEMCACHED_PORT)],
            handler="shopsite", interp="shop"),
    ])


def _front_config(node_addresses):
    members = "\n".join('    BalancerMember "http://%s:%d" retry=1 connectiontimeout=1 '
                        'timeout=20 disablereuse=On' % (a, NODE_PORT) for a in node_addresses)
    return "\n".join([
        '<Proxy "balancer://nodes">',
        members,
        "    ProxySet lbmethod=byrequests",
        "</Proxy>",
        'ProxyPass "/app/" "balancer://nodes/app/"',
    ])


class NodeServer(ApacheServer):
    """An ApacheServer started inside a test host's namespace, answering on
    the host's address."""

    def __init__(self, net, name, address, config, files):
        self.net, self.name, self.address = net, name, address
        ApacheServer.__init__(self, config, files, mpm="event")

    def start(self):
        harness.check_python_readable_by_children()
        proc = subprocess.run(self.net.run(self.name, [harness.APACHE_BIN, "-f", str(self.conf),
                                                       "-k", "start"]),
                              env=harness.apache_env(self.root), capture_output=True, text=True,
                              timeout=60)
        if proc.returncode != 0:
            raise RuntimeError("apache2 in %s failed: %s" % (self.name, proc.stdout + proc.stderr))
        deadline = time.monotonic() + harness.START_TIMEOUT
        while time.monotonic() < deadline:
            if self.pid is None and self.pidfile.exists() and self.pidfile.read_text().strip():
                self.pid = int(self.pidfile.read_text().strip())
            if self.pid is not None and self._port_answers():
                return self
            time.sleep(0.05)
        raise RuntimeError("node %s did not come up:\n%s" % (self.name, self.error_log_tail()))

    def _port_answers(self):
        import socket
        try:
            with socket.create_connection((self.address, NODE_PORT), timeout=1):
                return True
        except OSError:
            return False

    def kill(self):
        """SIGKILL to the parent and its children at once: the node dies
        with its requests in flight."""
        children = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry) as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == self.pid:
                            children.append(int(entry))
                except (OSError, ValueError, IndexError):
                    pass
        for pid in [self.pid] + children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.pid = None


class Cluster:
    def __init__(self):
        self.net = netns_hosts.Network()
        self.nodes = []
        self.front = None
        self.redis = self.memcached = None

    def start(self):
        net = self.net.start()
        self.store_address = net.host("store", 2)
        self.redis = RedisServer(self.store_address, REDIS_PORT,
                                 netns=net.namespace("store")).start()
        self.memcached = MemcachedServer(self.store_address, MEMCACHED_PORT,
                                         netns=net.namespace("store")).start()
        for i in (1, 2, 3):
            address = net.host("node%d" % i, 10 + i)
            node = NodeServer(net, "node%d" % i, address,
                              _site_config(address, self.store_address),
                              {"pylib/shopsite.py": SITE_HANDLER})
            self.nodes.append(node)
            node.start()
        self.front = ApacheServer(_front_config([n.address for n in self.nodes]), mpm="event",
                                  modules=("proxy", "proxy_http", "proxy_balancer",
                                           "lbmethod_byrequests", "slotmem_shm"))
        self.front.start()
        return self

    def close(self):
        errors = []
        for thing in [self.front] + self.nodes + [self.redis, self.memcached]:
            if thing is not None:
                try:
                    thing.close()
                except Exception as exc:  # keep removing the rest
                    errors.append(repr(exc))
        self.net.close()
        left = self.net.leftovers()
        if left or errors:
            raise RuntimeError("cleanup left %s, errors %s" % (left, errors))

    # -- the store, read directly ---------------------------------------

    def stored_session(self, kind, sid):
        if kind == "redis":
            payload = self.redis.client().get("mp_sess:{%s}" % sid)
        else:
            payload = self.memcached.client().get("mp_sess:" + sid)
        return pickle.loads(payload)["_data"] if payload is not None else None

    def node_log_marks(self):
        return [n.log_mark() if n.pid else None for n in self.nodes]

    def store_error_lines(self, marks):
        lines = []
        for node, mark in zip(self.nodes, marks):
            if mark is not None:
                lines += [l for l in node.error_log(mark).splitlines() if "HYDRA057" in l]
        return lines


def _terminated(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


@pytest.fixture(scope="module")
def cluster():
    # A SIGTERM (timeout(1), CI stopping the run) unwinds through the
    # fixture's cleanup instead of leaving namespaces and servers behind.
    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminated)
    c = Cluster()
    try:
        try:
            c.start()
        except BaseException:
            c.close()
            raise
        yield c
        c.close()
    finally:
        if previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


# ---------------------------------------------------------------------------
# Clients

class Result:
    __slots__ = ("status", "n", "node", "seconds", "retry_after", "seq", "at")


class User:
    """A browser on the front: keeps the session cookie, counts requests."""

    def __init__(self, port, kind):
        self.port, self.path = port, "/app/%s/count" % kind
        self.cookie = None
        self.sid = None
        self.results = []
        self.seq = 0
        self.lock = threading.Lock()

    def request(self, with_seq=True):
        with self.lock:
            seq = self.seq
            self.seq += 1
        r = Result()
        r.seq, r.at = seq, time.monotonic()
        r.n = r.node = r.retry_after = None
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=CLIENT_TIMEOUT)
        try:
            headers = {"Host": "hydra.test"}
            if self.cookie:
                headers["Cookie"] = self.cookie
            conn.request("GET", self.path + ("?seq=%d" % seq if with_seq else ""),
                         headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            r.status = resp.status
            r.retry_after = resp.getheader("Retry-After")
            if resp.status == 200:
                data = json.loads(body)
                r.n, r.node = data["n"], data["node"]
                for value in resp.headers.get_all("Set-Cookie") or ():
                    if value.startswith("pysid="):
                        self.cookie = value.split(";", 1)[0]
                        self.sid = self.cookie.split("=", 1)[1]
        except (OSError, http.client.HTTPException):
            r.status = 0  # connection failed or timed out
        finally:
            conn.close()
        r.seconds = time.monotonic() - r.at
        with self.lock:
            self.results.append(r)
        return r


def run_load(users, seconds, threads_per_user=1, events=()):
    """Each user's threads send requests one after the other until
    `seconds` pass or MAX_REQUESTS are sent in all; `events` are
    (delay, function) run on their own thread meanwhile."""
    deadline = time.monotonic() + seconds
    budget = [MAX_REQUESTS]
    budget_lock = threading.Lock()

    def client(user):
        while time.monotonic() < deadline:
            with budget_lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            user.request()

    def event(delay, function):
        time.sleep(delay)
        function()

    threads = [threading.Thread(target=client, args=(u,)) for u in users
               for _ in range(threads_per_user)]
    threads += [threading.Thread(target=event, args=e) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    assert not any(t.is_alive() for t in threads), "a client thread hung"


def summary(capsys, scenario, kind, results, counter, acknowledged, seconds, **more):
    statuses = [r.status for r in results]
    line = ("MULTINODE %s %s [py%d.%d]: requests=%d ok=%d e503=%d other=%d counter=%s "
            "acknowledged=%s max_latency=%.2fs seconds=%.1f"
            % ((scenario, kind) + harness.python_version() +
               (len(statuses), statuses.count(200), statuses.count(503),
                len(statuses) - statuses.count(200) - statuses.count(503), counter, acknowledged,
                max((r.seconds for r in results), default=0), seconds)))
    line += "".join(" %s=%s" % kv for kv in more.items())
    with capsys.disabled():
        print("\n" + line)


def check_user(cluster, kind, user, allow_unacked):
    """The stored session holds every acknowledged increment: counter >=
    acknowledged, every acknowledged seq is in the list; at most
    `allow_unacked` more (requests whose answer was lost but whose write
    landed). Returns (counter, acknowledged)."""
    data = cluster.stored_session(kind, user.sid)
    assert data is not None, "session %s gone from %s" % (user.sid, kind)
    acked = [r for r in user.results if r.status == 200]
    seen = set(data.get("seen", []))
    missing = [r.seq for r in acked if r.seq not in seen]
    assert missing == [], "acknowledged but lost: %s" % missing[:20]
    assert len(acked) <= data["n"] <= len(acked) + allow_unacked, (data["n"], len(acked))
    # The counter each user saw went up by one per acknowledged request.
    ns = [r.n for r in sorted(acked, key=lambda r: r.n)]
    assert len(set(ns)) == len(ns), "two 200s reported the same count"
    return data["n"], len(acked)


# ---------------------------------------------------------------------------
# Scenario 1: consecutive requests land on different nodes

@pytest.mark.parametrize("kind", STORES)
def test_scenario1_session_continues_across_nodes(cluster, capsys, kind):
    started = time.monotonic()
    user = User(cluster.front.port, kind)
    for _ in range(30):
        r = user.request()
        assert r.status == 200, r.status
    results = user.results
    assert [r.n for r in results] == list(range(1, 31))
    nodes = [r.node for r in results]
    assert set(nodes) == {n.address for n in cluster.nodes}, nodes
    assert sum(a != b for a, b in zip(nodes, nodes[1:])) >= 15, nodes  # no stickiness
    data = cluster.stored_session(kind, user.sid)
    assert data["seen"] == list(range(30)) and data["n"] == 30
    summary(capsys, "scenario1", kind, results, data["n"], 30, time.monotonic() - started,
            nodes=len(set(nodes)), node_changes=sum(a != b for a, b in zip(nodes, nodes[1:])))


# ---------------------------------------------------------------------------
# Scenario 2: 8 clients, one session, counter == 200s

@pytest.mark.parametrize("kind", STORES)
def test_scenario2_shared_session_counter_is_exact(cluster, capsys, kind):
    started = time.monotonic()
    user = User(cluster.front.port, kind)
    assert user.request(with_seq=False).status == 200
    run_load([user], SHARED_SECONDS, threads_per_user=8)
    results = user.results
    ok = sum(r.status == 200 for r in results)
    data = cluster.stored_session(kind, user.sid)
    summary(capsys, "scenario2", kind, results, data["n"], ok, time.monotonic() - started,
            clients=8, nodes=len({r.node for r in results if r.node}))
    # A sanity floor, not a speed claim: the lock serialises them all.
    assert ok > 2 * SHARED_SECONDS, "fewer than two requests per second in all"
    assert data["n"] == ok
    assert len({r.node for r in results if r.node}) == 3
    assert max(r.seconds for r in results) < MAX_LATENCY


# ---------------------------------------------------------------------------
# Scenario 3: a node killed mid-run

def test_scenario3_node_killed_mid_run(cluster, capsys):
    started = time.monotonic()
    victim = cluster.nodes[1]
    users = {kind: [User(cluster.front.port, kind) for _ in range(3)] for kind in STORES}
    for group in users.values():
        for user in group:
            assert user.request().status == 200
    killed_at = []

    def kill():
        killed_at.append(time.monotonic())
        victim.kill()

    run_load(users["redis"] + users["memcached"], 9, events=[(3, kill)])
    assert killed_at
    for kind, group in users.items():
        results = [r for u in group for r in u.results]
        errors = sum(r.status not in (200, 503) for r in results)
        counter = acked = 0
        for user in group:
            c, a = check_user(cluster, kind, user, allow_unacked=errors)
            counter += c
            acked += a
        after = [r for r in results if r.at > killed_at[0] + 1]
        summary(capsys, "scenario3", kind, results, counter, acked, time.monotonic() - started,
                users=len(group), killed=victim.address,
                ok_after_kill=sum(r.status == 200 for r in after))
        assert sum(r.status == 200 for r in after) >= 10, "no fail-over"
        assert {r.node for r in after if r.status == 200} <= {cluster.nodes[0].address,
                                                              cluster.nodes[2].address}
        # A lock the dead node held expires within lock_expiry, well
        # inside lock_timeout: nobody gets a 503 for it.
        assert sum(r.status == 503 for r in results) == 0
        assert max(r.seconds for r in results) < MAX_LATENCY


# ---------------------------------------------------------------------------
# Scenario 4: the store stopped for 5 s

@pytest.mark.parametrize("kind", STORES)
def test_scenario4_store_stopped_gives_503_then_resumes(cluster, capsys, kind):
    started = time.monotonic()
    users = [User(cluster.front.port, kind) for _ in range(4)]
    for user in users:
        assert user.request().status == 200
    marks = cluster.node_log_marks()
    window = []
    store = cluster.redis if kind == "redis" else cluster.memcached

    def stop():
        window.append(time.monotonic())
        if kind == "redis":
            store.shutdown_saving()   # the data survives in its dump
        else:
            store.pause()             # SIGSTOP: connections hang, nothing answers

    def restart():
        window.append(time.monotonic())
        if kind == "redis":
            store.start()
        else:
            store.resume()

    run_load(users, 14, events=[(2.5, stop), (7.5, restart)])
    results = [r for u in users for r in u.results]
    e503 = [r for r in results if r.status == 503]
    counter = acked = 0
    for user in users:
        c, a = check_user(cluster, kind, user, allow_unacked=len(e503))
        counter += c
        acked += a
    log = cluster.store_error_lines(marks)
    outage = window[1] - window[0]
    resumed = [r for u in users for r in u.results[-3:]]
    summary(capsys, "scenario4", kind, results, counter, acked, time.monotonic() - started,
            outage="%.1fs" % outage, log_lines=len(log),
            ok_after=sum(r.status == 200 for r in results if r.at > window[1]))
    assert 4.5 <= outage <= 7
    assert len(e503) >= 4, "the outage gave no 503s"
    assert all(r.retry_after == "1" for r in e503), "a 503 that was not the session store's"
    assert len(log) == len(e503), "not one error-log line per 503:\n" + "\n".join(log[:20])
    assert sum(r.status not in (200, 503) for r in results) == 0
    assert max(r.seconds for r in results) < MAX_LATENCY
    # Service came back without a restart: every user's last requests passed.
    assert all(r.status == 200 for r in resumed), [r.status for r in resumed]
