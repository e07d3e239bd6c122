"""Scenario (b) for mod_wsgi: the same work and answer as cpu.py."""

import workload


def application(environ, start_response):
    body = b"%d\n" % workload.burn()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
