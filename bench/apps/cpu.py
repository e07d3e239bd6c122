"""Scenario (b) for the mod_python API: answers the result of workload.burn()."""

from mod_python import apache

import workload


def handler(req):
    body = b"%d\n" % workload.burn()
    req.content_type = "text/plain"
    req.set_content_length(len(body))
    req.write(body)
    return apache.OK
