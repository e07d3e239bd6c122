"""PythonInterpPool 2 (Hydra, Python >= 3.12): two own-GIL replicas of the
interpreter named "pool" in one Apache child. One request at a time is
always answered by replica 0; a second replica is made only when a request
arrives while replica 0 is busy, and from then on the two serve requests in
parallel, each with its own copy of this module (and of its counter).

On a build before 3.12 the configuration leaves the pool out (pools need
own-GIL interpreters) and this page says so."""

import sys
import time

from mod_python import apache

import demo_page

counter = demo_page.Counter()

NO_POOLS = """
Interpreter pools need Hydra built against Python 3.12 or later: this one
runs Python %s, so /pool/ is served by one ordinary interpreter. Try it with
  make demo-stop; make demo PYTHON=/path/to/python3.13
"""

HOW_TO = """
An idle replica is chosen first and a new one is made only when all are
busy, so one request at a time always lands on replica 0. To see replica 1
answer, keep replica 0 busy and ask meanwhile:
  wrk -c4 -d5s http://{host}/pool/ & sleep 1
  for i in 1 2 3 4 5 6; do curl -s http://{host}/pool/ | grep 'replica:'; done
(while wrk runs, replica 0 and replica 1 both answer). Afterwards
this page, the front page and the status page list both replicas:
  curl 'http://{host}/status?json'
"""


def busy_work(seconds=0.02):
    # CPU-bound, like a page that renders a template: it holds the replica's
    # GIL, so concurrent requests need the second replica to run in parallel.
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def replica_lines(name):
    rows = [info for info in apache.interpreters() if info.get("name") == name]
    lines = ["", "replicas of %r in this child (the status page's rows):" % name]
    for info in sorted(rows, key=lambda info: info.get("replica", 0)):
        lines.append("  replica %s of %s  gil=%-6s requests=%s active=%s"
                     % (info.get("replica"), info.get("pool"), info.get("gil"),
                        info.get("requests"), info.get("active")))
    return lines


def handler(req):
    busy_work()
    ip, port = req.connection.local_addr[:2]
    host = "%s:%d" % (ip, port)
    extra = ["replica:     %d (mod_python.apache.interpreter_replica)" % apache.interpreter_replica]
    extra += replica_lines(req.interpreter)
    if sys.version_info < (3, 12):
        extra += (NO_POOLS % sys.version.split()[0]).rstrip("\n").split("\n")
    else:
        extra += HOW_TO.format(host=host).rstrip("\n").split("\n")
    return demo_page.render(req, "pool", counter.next(), extra)
