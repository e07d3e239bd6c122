"""
load.py - a bounded load generator for the reliability tests: client
threads that send requests over keep-alive connections to a harness
ApacheServer and sort every outcome into one of a few kinds.

  ok        the response the request called for
  wrong     any other response (a 5xx, another body, a truncated body)
  closed    the server closed the connection before answering (what a
            graceful restart may do to an idle keep-alive connection); the
            client reconnects and goes on
  timeout   no answer within the client timeout

A request is described by a callable `plan(thread, n)` returning a
`Planned` (method, path, body, headers, check), where `check(response)`
returns None for a right response or a short description of what is wrong.
Only 127.0.0.1 is ever contacted (the harness server's port), and every
run is bounded by `stop()` or by `duration`.
"""

import http.client
import socket
import threading
import time
from collections import namedtuple

Planned = namedtuple("Planned", "method path body headers check")

# Exceptions that mean "the connection was closed under us", not a bad answer.
CLOSED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
          ConnectionRefusedError, ConnectionAbortedError)

MAX_SAMPLES = 5


class Outcomes:
    """Counts per kind, a few samples of each bad kind, latencies."""

    def __init__(self):
        self.ok = self.wrong = self.closed = self.timeout = 0
        self.samples = {"wrong": [], "closed": [], "timeout": []}
        self.status = {}
        self.max_latency = 0.0

    def add_sample(self, kind, text):
        if len(self.samples[kind]) < MAX_SAMPLES:
            self.samples[kind].append(text)

    def merge(self, other):
        self.ok += other.ok
        self.wrong += other.wrong
        self.closed += other.closed
        self.timeout += other.timeout
        for kind, items in other.samples.items():
            for text in items:
                self.add_sample(kind, text)
        for status, n in other.status.items():
            self.status[status] = self.status.get(status, 0) + n
        self.max_latency = max(self.max_latency, other.max_latency)

    @property
    def sent(self):
        return self.ok + self.wrong + self.closed + self.timeout

    def summary(self):
        return "sent=%d ok=%d wrong=%d closed=%d timeout=%d" % (
            self.sent, self.ok, self.wrong, self.closed, self.timeout)

    def explain(self):
        lines = [self.summary()]
        for kind, items in self.samples.items():
            for text in items:
                lines.append("  %s: %s" % (kind, text))
        return "\n".join(lines)


class Response:
    __slots__ = ("status", "headers", "raw", "body")

    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        self.body = raw.decode("utf-8", "replace")


def exchange(conn, host, planned):
    """One request on `conn`; returns a Response or raises."""
    conn.putrequest(planned.method, planned.path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", host)
    body = planned.body
    for name, value in planned.headers or ():
        conn.putheader(name, value)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    resp = conn.getresponse()
    raw = resp.read()
    return Response(resp.status, resp.headers, raw)


class LoadGenerator:
    """`threads` client threads running `plan` until stop(), `duration`
    seconds, or `requests_per_thread` requests each. Use start()/stop()
    around something else (restarts), or run()."""

    def __init__(self, server, plan, threads=8, timeout=30.0, duration=None,
                 requests_per_connection=None, requests_per_thread=None):
        self.server = server
        self.plan = plan
        self.threads = threads
        self.timeout = timeout
        self.duration = duration
        self.requests_per_connection = requests_per_connection
        self.requests_per_thread = requests_per_thread
        self._stop = threading.Event()
        self._workers = []
        self._outcomes = []
        self.started = None
        self.elapsed = None

    def start(self):
        self.started = time.monotonic()
        for i in range(self.threads):
            out = Outcomes()
            self._outcomes.append(out)
            t = threading.Thread(target=self._client, args=(i, out), daemon=True)
            self._workers.append(t)
            t.start()
        return self

    def stop(self, join_timeout=120.0):
        self._stop.set()
        deadline = time.monotonic() + join_timeout
        for t in self._workers:
            t.join(max(0.1, deadline - time.monotonic()))
        hung = sum(t.is_alive() for t in self._workers)
        if hung:
            raise AssertionError("%d client threads did not finish (server hung?)" % hung)
        self.elapsed = time.monotonic() - self.started
        total = Outcomes()
        for out in self._outcomes:
            total.merge(out)
        return total

    def run(self):
        """Runs until `duration` is over or every thread sent
        `requests_per_thread` requests."""
        self.start()
        deadline = None if self.duration is None else time.monotonic() + self.duration
        for t in self._workers:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return self.stop()

    def _should_stop(self):
        if self._stop.is_set():
            return True
        return self.duration is not None and time.monotonic() - self.started >= self.duration

    def _client(self, index, out):
        host = self.server.host_header()
        conn = None
        used = 0
        n = 0
        while not self._should_stop() and (self.requests_per_thread is None
                                           or n < self.requests_per_thread):
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.server.port,
                                                  timeout=self.timeout)
                used = 0
            planned = self.plan(index, n)
            n += 1
            t0 = time.monotonic()
            try:
                resp = exchange(conn, host, planned)
            except CLOSED as exc:
                out.closed += 1
                out.add_sample("closed", "%s %s: %r" % (planned.method, planned.path, exc))
                conn.close()
                conn = None
                continue
            except socket.timeout as exc:
                out.timeout += 1
                out.add_sample("timeout", "%s %s: %r" % (planned.method, planned.path, exc))
                conn.close()
                conn = None
                continue
            except (http.client.HTTPException, OSError) as exc:
                # IncompleteRead, a bad status line: a broken answer, not a close.
                out.wrong += 1
                out.add_sample("wrong", "%s %s: %r" % (planned.method, planned.path, exc))
                conn.close()
                conn = None
                continue
            out.max_latency = max(out.max_latency, time.monotonic() - t0)
            out.status[resp.status] = out.status.get(resp.status, 0) + 1
            problem = planned.check(resp)
            if problem is None:
                out.ok += 1
            else:
                out.wrong += 1
                out.add_sample("wrong", "%s %s: %s" % (planned.method, planned.path, problem))
            used += 1
            if resp.headers.get("Connection", "").lower() == "close" or (
                    self.requests_per_connection and used >= self.requests_per_connection):
                conn.close()
                conn = None
        if conn is not None:
            conn.close()
