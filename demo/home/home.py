"""The default virtual host's front page: what to try, and the interpreters
this Apache child has created so far."""

from mod_python import apache

import demo_page

counter = demo_page.Counter()

TRY = """
try:
  curl -H 'Host: shop.localhost' http://{host}/
  curl -H 'Host: blog.localhost' http://{host}/
  curl http://{host}/teams/red/
  curl http://{host}/teams/blue/
  curl http://{host}/reports/
  curl http://{host}/fast/            (Python >= 3.12 builds)
  curl http://{host}/pool/            (a pool of 2 replicas on Python >= 3.12 builds)
  curl 'http://{host}/status?json'
"""


def inventory_lines():
    # apache.interpreters() is Hydra's (spec/beyond.md section 2).
    interpreters = getattr(apache, "interpreters", None)
    if interpreters is None:
        return []
    lines = ["", "interpreters in this child:"]
    for info in interpreters():
        line = "  %-45s gil=%-6s requests=%s" % (info.get("name"), info.get("gil"), info.get("requests"))
        # A pool lists one row per replica (PythonInterpPool, see /pool/).
        if info.get("pool", 1) > 1:
            line += " replica=%s of %s" % (info.get("replica"), info.get("pool"))
        lines.append(line)
    return lines


def handler(req):
    # The address the client reached, whatever Host header it sent.
    ip, port = req.connection.local_addr[:2]
    host = "%s:%d" % (ip, port)
    extra = TRY.format(host=host).rstrip("\n").split("\n") + inventory_lines()
    return demo_page.render(req, "home", counter.next(), extra)
