"""The content handler of the package test's site (install-test.sh).

It names the module that runs it: `_apache.hydra_version` exists only in
Hydra's built-in module, so mod_python 3.5 answers "hydra none".
"""

import _apache
from mod_python import apache


def handler(req):
    req.content_type = "text/plain"
    req.write("handler ok, hydra %s, interpreter %s\n"
              % (getattr(_apache, "hydra_version", "none"), req.interpreter))
    return apache.OK
