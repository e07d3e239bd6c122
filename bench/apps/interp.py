"""Scenario (c) for the mod_python API: answers the name of the interpreter that ran it.

The harness checks that 50 directories gave 50 different names, so the RSS it
reads really is the cost of 50 interpreters."""

from mod_python import apache


def handler(req):
    body = apache.interpreter.encode("utf-8", "surrogateescape")
    req.content_type = "text/plain"
    req.set_content_length(len(body))
    req.write(body)
    return apache.OK
