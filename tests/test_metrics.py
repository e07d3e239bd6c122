"""
Server-wide metrics (spec/beyond.md §5, docs/directives.md "The status
page"): counters of every child in shared memory, shown by
`SetHandler python-status` as server sections of the HTML page and of
`?json`, and as Prometheus text with `?prometheus`.

The servers have several children (prefork 4, event 2); requests go on
fresh connections, several at a time, until every child has answered some
(each response names its pid), so that one scrape, whichever child answers
it, must add up what all of them counted. The Prometheus text is read with
Debian's python3-prometheus-client parser.
"""

import concurrent.futures
import html
import json
import os
import re
import signal
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

import harness
from harness import get_ok, location

MT_PY = r'''
import os, time
from mod_python import apache

def handler(req):
    time.sleep(0.005)          # holds the connection a little: spreads them
    req.write(str(os.getpid()))
    return apache.OK

def slow(req):
    time.sleep(0.3)
    req.write(str(os.getpid()))
    return apache.OK

def fail(req):
    raise RuntimeError("counted failure")
'''

OWN = harness.python_version() >= (3, 12)
ODD_NAME = 'odd <"&> caf\u00e9 \\ end'
ODD_NAME_CONF = 'odd <\\"&> caf\u00e9 \\\\ end'   # as written inside quotes in httpd.conf
CHILDREN = {"prefork": 4, "event": 2}

CONFIG = "\n".join(
    [location("/python-status", set_handler="python-status"),
     location("/app", interp="mt_app", handler="mt::handler"),
     location("/slow", interp="mt_slow", handler="mt::slow"),
     location("/fail", interp="mt_fail", handler="mt::fail"),
     location("/main", interp="main_interpreter", handler="mt::handler"),
     location("/odd", interp='"%s"' % ODD_NAME_CONF, handler="mt::handler")]
    + ([location("/own", interp="mt_own", gil="own", handler="mt::handler")] if OWN else []))

FILES = {"pylib/mt.py": MT_PY}

ROW_LABELS = {"pid", "interpreter", "replica"}


@pytest.fixture(scope="module")
def server(start_apache, mpm):
    return start_apache(CONFIG, FILES, mpm=mpm, children=CHILDREN[mpm])


# -- helpers -------------------------------------------------------------------

def spread(server, path, children, at_least=0, status=200):
    """GETs `path` on fresh connections, eight at a time, until every one
    of `children` processes answered and at least `at_least` requests were
    made. Returns {pid: requests it answered}."""
    by_pid = {}
    made = 0
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for _ in range(60):
            for resp in pool.map(lambda _: server.get(path), range(16)):
                assert resp.status == status, resp.body[:500]
                by_pid[int(resp.body)] = by_pid.get(int(resp.body), 0) + 1
                made += 1
            if len(by_pid) >= children and made >= at_least:
                return by_pid
    raise AssertionError("after %d requests only %d of %d children answered: %r"
                         % (made, len(by_pid), children, by_pid))


class Scrape:
    """One `?prometheus` answer, parsed."""

    def __init__(self, server):
        resp = get_ok(server, "/python-status?prometheus")
        self.content_type = resp.headers["Content-Type"]
        self.text = resp.body
        self.families = {f.name: f for f in text_string_to_metric_families(resp.body)}

    def family(self, name):
        assert name in self.families, "no family %r in:\n%s" % (name, self.text[:3000])
        return self.families[name]

    def value(self, name):
        """The one sample of a metric without labels."""
        fam = self.family(re.sub(r"_total$", "", name))
        (sample,) = [s for s in fam.samples if s.name == name]
        return sample.value

    def rows(self, name, **match):
        """[(labels, value)] of samples `name` whose labels include `match`."""
        fam = self.family(re.sub(r"_(total|bucket|sum|count)$", "", name))
        return [(s.labels, s.value) for s in fam.samples if s.name == name
                and all(s.labels.get(k) == str(v) for k, v in match.items())]

    def total(self, name, **match):
        return sum(v for _, v in self.rows(name, **match))

    def pids(self):
        return {int(labels["pid"]) for labels, _ in self.rows("hydra_requests_total")}


def status_json(server):
    resp = get_ok(server, "/python-status?json")
    return json.loads(resp.body)


def requests_by_pid(scrape, interpreter):
    return {int(labels["pid"]): value
            for labels, value in scrape.rows("hydra_requests_total", interpreter=interpreter)}


# -- one scrape covers every child ---------------------------------------------

def test_one_scrape_sums_the_requests_of_every_child(server):
    children = CHILDREN[server.mpm]
    before = Scrape(server)
    by_pid = spread(server, "/app", children, at_least=40)
    after = Scrape(server)

    assert after.content_type.startswith("text/plain; version=0.0.4")
    n = sum(by_pid.values())
    assert len(by_pid) == children
    assert after.value("hydra_children") == children
    assert after.pids() == set(by_pid)
    assert (after.total("hydra_requests_total", interpreter="mt_app")
            - before.total("hydra_requests_total", interpreter="mt_app")) == n
    assert after.value("hydra_server_requests_total") - before.value(
        "hydra_server_requests_total") == n
    # Per child, exactly what its responses say it served.
    old = requests_by_pid(before, "mt_app")
    new = requests_by_pid(after, "mt_app")
    assert {pid: new[pid] - old.get(pid, 0) for pid in new} == by_pid


def test_scraping_counts_nothing(server):
    spread(server, "/app", CHILDREN[server.mpm])
    first = Scrape(server)
    status_json(server)
    get_ok(server, "/python-status")
    second = Scrape(server)
    assert second.value("hydra_server_requests_total") == first.value(
        "hydra_server_requests_total")
    assert second.value("hydra_server_active_requests") == 0


def test_every_family_has_help_type_and_the_hydra_prefix(server):
    scrape = Scrape(server)
    text = scrape.text
    for name, fam in scrape.families.items():
        assert name.startswith("hydra_"), name
        assert fam.type in ("counter", "gauge", "histogram"), (name, fam.type)
        exposed = name + "_total" if fam.type == "counter" else name
        assert "# HELP %s " % exposed in text
        assert "# TYPE %s %s\n" % (exposed, fam.type) in text
    for name in ("hydra_requests_total", "hydra_active_requests", "hydra_errors_total",
                 "hydra_timeouts_total", "hydra_request_duration_seconds_count"):
        for labels, _ in scrape.rows(name):
            assert ROW_LABELS <= set(labels), (name, labels)
            assert labels["replica"] == "0"
    assert scrape.total("hydra_timeouts_total") == 0
    assert scrape.value("hydra_server_timeouts_total") == 0
    assert scrape.value("hydra_interpreter_rows_limit") == 64
    assert scrape.value("hydra_children_limit") == CHILDREN[server.mpm]


def test_prometheus_as_scrapers_ask_for_it(server):
    """Prometheus's `params: {prometheus: [""]}` sends `?prometheus=`."""
    for query in ("prometheus=", "x=1&prometheus", "prometheus&y"):
        resp = get_ok(server, "/python-status?" + query)
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4"), query
    for query in ("prometheusx", "xprometheus"):
        resp = get_ok(server, "/python-status?" + query)
        assert resp.headers.get_content_type() == "text/html", query


# -- the histogram -------------------------------------------------------------

BOUNDS = ["0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
          "2.5", "5", "10", "+Inf"]


def test_histogram_buckets_are_cumulative_and_count_every_request(server):
    spread(server, "/app", CHILDREN[server.mpm])
    scrape = Scrape(server)
    requests = {(l["pid"], l["interpreter"]): v for l, v in scrape.rows("hydra_requests_total")}
    assert requests
    for (pid, interp), n in requests.items():
        buckets = [(float(l["le"]), v) for l, v in scrape.rows(
            "hydra_request_duration_seconds_bucket", pid=pid, interpreter=interp)]
        assert [le for le, _ in buckets] == [float(b) for b in BOUNDS]
        values = [v for _, v in buckets]
        assert values == sorted(values), (pid, interp, values)
        (count,) = [v for _, v in scrape.rows("hydra_request_duration_seconds_count",
                                              pid=pid, interpreter=interp)]
        assert values[-1] == count == n, (pid, interp)
        (total,) = [v for _, v in scrape.rows("hydra_request_duration_seconds_sum",
                                              pid=pid, interpreter=interp)]
        # The handler sleeps 5 ms per request.
        assert (total >= 0.005 * n) if interp == "mt_app" else total >= 0


def test_slow_requests_land_above_the_quarter_second_bucket(server):
    before = Scrape(server)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        for resp in pool.map(lambda _: server.get("/slow"), range(3)):
            assert resp.status == 200
    after = Scrape(server)

    def bucket(scrape, le):
        return sum(v for l, v in scrape.rows("hydra_request_duration_seconds_bucket",
                                             interpreter="mt_slow") if float(l["le"]) == le)

    def delta(le):
        return bucket(after, float(le)) - bucket(before, float(le))

    assert delta("0.25") == 0
    assert delta("+Inf") == 3
    assert (after.total("hydra_request_duration_seconds_sum", interpreter="mt_slow")
            - before.total("hydra_request_duration_seconds_sum", interpreter="mt_slow")) >= 0.9


# -- errors --------------------------------------------------------------------

def test_handler_errors_are_counted_per_row_and_for_the_server(server):
    before = Scrape(server)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for resp in pool.map(lambda _: server.get("/fail"), range(8)):
            assert resp.status == 500
    after = Scrape(server)
    assert (after.total("hydra_errors_total", interpreter="mt_fail")
            - before.total("hydra_errors_total", interpreter="mt_fail")) == 8
    assert (after.value("hydra_server_errors_total")
            - before.value("hydra_server_errors_total")) == 8
    assert (after.total("hydra_requests_total", interpreter="mt_fail")
            - before.total("hydra_requests_total", interpreter="mt_fail")) == 8
    assert after.total("hydra_errors_total", interpreter="mt_app") == 0


# -- the interpreter kinds ------------------------------------------------------

def gil_of(scrape, interpreter):
    return {l["gil"] for l, _ in scrape.rows("hydra_interpreter_created_seconds",
                                             interpreter=interpreter)}


def test_main_and_shared_interpreters_have_rows(server):
    by_pid = spread(server, "/main", CHILDREN[server.mpm])
    scrape = Scrape(server)
    assert gil_of(scrape, "main_interpreter") == {"main"}
    assert gil_of(scrape, "mt_app") == {"shared"}
    # Every child has its main interpreter (made at child start).
    assert {int(l["pid"]) for l, _ in scrape.rows("hydra_requests_total",
                                                  interpreter="main_interpreter")} == set(by_pid)
    served = requests_by_pid(scrape, "main_interpreter")
    assert all(served[pid] >= n for pid, n in by_pid.items())
    now = time.time()
    for _, created in scrape.rows("hydra_interpreter_created_seconds"):
        assert now - 600 < created <= now + 1


@pytest.mark.own_gil
def test_own_gil_interpreters_have_rows(server):
    before = Scrape(server)
    by_pid = spread(server, "/own", CHILDREN[server.mpm])
    after = Scrape(server)
    assert gil_of(after, "mt_own") == {"own"}
    assert (after.total("hydra_requests_total", interpreter="mt_own")
            - before.total("hydra_requests_total", interpreter="mt_own")) == sum(by_pid.values())


def test_odd_interpreter_names_survive_every_view(server):
    by_pid = spread(server, "/odd", CHILDREN[server.mpm])
    scrape = Scrape(server)
    assert scrape.total("hydra_requests_total", interpreter=ODD_NAME) >= sum(by_pid.values())
    data = status_json(server)
    names = {row["name"] for child in data["children"] for row in child["interpreters"]}
    assert ODD_NAME in names
    page = get_ok(server, "/python-status").body
    assert html.escape(ODD_NAME, quote=False) in page or html.escape(ODD_NAME) in page


# -- ?json and the HTML page ------------------------------------------------------

ROW_KEYS = {"name", "gil", "replica", "created", "requests", "active", "errors", "timeouts",
            "duration"}


def test_json_keeps_its_fields_and_adds_the_server_and_every_child(server):
    spread(server, "/app", CHILDREN[server.mpm])
    data = status_json(server)
    assert {"pid", "python", "interpreters"} <= set(data)
    assert {e["name"] for e in data["interpreters"]} >= {"main_interpreter"}
    srv = data["server"]
    assert srv["children"] == CHILDREN[server.mpm] == len(data["children"])
    assert srv["max_children"] == CHILDREN[server.mpm]
    assert srv["rows_per_child"] == 64
    rows = [row for child in data["children"] for row in child["interpreters"]]
    for row in rows:
        assert set(row) == ROW_KEYS
        assert row["replica"] == 0
    assert srv["interpreters"] == len(rows)
    assert srv["exited_children"] == 0
    assert srv["requests"] == sum(row["requests"] for row in rows)
    assert srv["errors"] == sum(row["errors"] for row in rows)
    assert data["pid"] in {child["pid"] for child in data["children"]}
    # The answering child's own rows agree with its inventory.
    mine = {row["name"]: row for child in data["children"] if child["pid"] == data["pid"]
            for row in child["interpreters"]}
    for entry in data["interpreters"]:
        assert mine[entry["name"]]["requests"] == entry["requests"]
        assert mine[entry["name"]]["gil"] == entry["gil"]


def test_html_shows_the_totals_and_a_section_per_child(server):
    spread(server, "/app", CHILDREN[server.mpm])
    pids = Scrape(server).pids()
    page = get_ok(server, "/python-status").body
    assert "<h2>Server</h2>" in page
    assert re.search(r"<th>children</th>.*<tr><td>%d</td>" % CHILDREN[server.mpm], page, re.S)
    for pid in pids:
        assert "<h3>Child %d</h3>" % pid in page
    assert page.count("<h3>Child ") == len(pids)


# -- restarts and exits -----------------------------------------------------------

def test_a_graceful_restart_starts_the_counters_afresh(start_apache, mpm):
    children = CHILDREN[mpm]
    srv = start_apache(CONFIG, FILES, mpm=mpm, children=children)
    old_pids = set(spread(srv, "/app", children, at_least=20))
    before = Scrape(srv)
    assert before.value("hydra_server_requests_total") >= 20

    mark = srv.log_mark()
    os.kill(srv.pid, signal.SIGUSR1)
    srv.wait_for_log(r"resuming normal operations", since=mark, timeout=20)
    deadline = time.monotonic() + 30
    while True:  # until the old children are gone and the new ones all up
        after = Scrape(srv)
        if (after.value("hydra_start_time_seconds") > before.value("hydra_start_time_seconds")
                and after.value("hydra_children") == children
                and not any(harness._pid_alive(pid) for pid in old_pids)):
            break
        assert time.monotonic() < deadline, after.text[:2000]
        time.sleep(0.1)
    assert after.value("hydra_server_requests_total") == 0
    assert after.total("hydra_requests_total") == 0
    assert after.value("hydra_exited_children_total") == 0
    assert not after.pids() & old_pids

    by_pid = spread(srv, "/app", children)
    again = Scrape(srv)
    assert again.value("hydra_server_requests_total") == sum(by_pid.values())
    harness.assert_no_crashes(srv, since=mark)


def test_a_child_that_exits_takes_its_rows_away(start_apache):
    """Prefork children that reach MaxConnectionsPerChild exit and are
    replaced: their rows leave the scrape, the server totals keep what
    they counted."""
    srv = start_apache(CONFIG + "\nMaxConnectionsPerChild 4", FILES, mpm="prefork", children=2)
    served = []
    for _ in range(30):
        served.append(int(get_ok(srv, "/app").body))
    deadline = time.monotonic() + 20
    while True:
        gone = {pid for pid in served if not harness._pid_alive(pid)}
        scrape = Scrape(srv)
        live = scrape.pids()
        counted = requests_by_pid(scrape, "mt_app")
        # A replacement child is in hydra_children from its start but
        # has rows (a pid) only once its Python is up: wait for both.
        ok = (gone and not live & gone
              and scrape.value("hydra_server_requests_total") == len(served)
              and scrape.value("hydra_exited_children_total") >= len(gone)
              and scrape.value("hydra_children") == len(live)
              and all(counted.get(pid, 0) == served.count(pid) for pid in live))
        if ok or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert gone, "no child exited: %r" % set(served)
    assert not live & gone, (live, gone)
    assert scrape.value("hydra_server_requests_total") == len(served)
    assert scrape.value("hydra_exited_children_total") >= len(gone)
    for pid in live:
        assert counted.get(pid, 0) == served.count(pid), (pid, counted, served)
    # Prefork replaces an exited child only when it runs short of idle ones.
    assert 1 <= scrape.value("hydra_children") == len(live) <= 2


def test_a_child_that_dies_is_dropped_and_its_counts_kept(start_apache):
    """A child killed outright runs no exit code: the next scrape notices
    it is gone, shows none of its rows and keeps what it counted."""
    srv = start_apache(CONFIG, FILES, mpm="prefork", children=2)
    by_pid = spread(srv, "/app", 2, at_least=20)
    victim = min(by_pid)
    os.kill(victim, signal.SIGKILL)
    # Gone once the parent has reaped it (the MPM does within a second).
    deadline = time.monotonic() + 10
    while True:
        try:
            scrape = Scrape(srv)
        except (ConnectionResetError, BrokenPipeError):
            # A connection the killed child had taken from the listen queue
            # is reset, as for any client: ask again.
            assert time.monotonic() < deadline, "every scrape was reset"
            time.sleep(0.1)
            continue
        if victim not in scrape.pids():
            break
        assert time.monotonic() < deadline, "pid %d still in the scrape" % victim
        time.sleep(0.1)
    assert scrape.value("hydra_server_requests_total") == sum(by_pid.values())
    assert scrape.value("hydra_exited_children_total") >= 1
    for pid, n in requests_by_pid(scrape, "mt_app").items():
        assert n == by_pid.get(pid, 0)


MANY = 70   # more interpreters than the 64 rows a child has


def test_interpreters_beyond_the_rows_are_counted_as_other(start_apache):
    config = "\n".join([location("/python-status", set_handler="python-status")]
                       + [location("/i%d" % i, interp="many_%d" % i, handler="mt::handler")
                          for i in range(MANY)])
    srv = start_apache(config, FILES, mpm="event")   # one child
    for i in range(MANY):
        get_ok(srv, "/i%d" % i)
    scrape = Scrape(srv)
    rows = scrape.rows("hydra_requests_total")
    # main_interpreter and many_0 .. many_62 have rows, the other 7 share one.
    assert len(rows) == 64 + 1
    assert scrape.value("hydra_interpreters") == MANY + 1
    (other,) = [v for l, v in rows if l["interpreter"] == "(other)"]
    assert other == MANY + 1 - 64
    assert gil_of(scrape, "(other)") == {"other"}
    assert scrape.value("hydra_server_requests_total") == MANY
    assert len(harness.log_lines(srv.error_log(), "HYDRA0229")) == 1
