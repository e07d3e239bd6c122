"""Scenario (a) for the mod_python API (Hydra and mod_python 3.5): 12 bytes of text/plain."""

from mod_python import apache

BODY = b"Hello world!"


def handler(req):
    req.content_type = "text/plain"
    req.set_content_length(len(BODY))
    req.write(BODY)
    return apache.OK
