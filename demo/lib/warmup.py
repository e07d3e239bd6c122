"""Imported at child start by `PythonImport warmup shop.localhost`.

Stands for the expensive set-up an application does once per process
(loading templates, opening pools) so that its first request is fast.
"""

import os
import time

from mod_python import apache

loaded_at = time.time()
loaded_in = apache.interpreter
loaded_by_pid = os.getpid()


def describe():
    when = time.strftime("%H:%M:%S", time.localtime(loaded_at))
    return "imported at child start (pid %d, %s) in interpreter %s" % (
        loaded_by_pid,
        when,
        loaded_in,
    )
