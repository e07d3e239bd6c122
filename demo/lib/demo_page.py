"""What every demo application prints: which interpreter it runs in, and
how many requests this interpreter's copy of the application has seen.

Each interpreter imports its own copy of this module (it is on PYTHONPATH),
so nothing here is shared between applications.
"""

import os
import sys
import threading

from mod_python import apache


class Counter:
    """A module-global request counter. Threads of one Apache child share
    it, so it takes a lock; other interpreters have their own."""

    def __init__(self):
        self._lock = threading.Lock()
        self._value = 0

    def next(self):
        with self._lock:
            self._value += 1
            return self._value


def render(req, app, count, extra=()):
    req.content_type = "text/plain; charset=utf-8"
    lines = [
        "app:         %s" % app,
        "interpreter: %s" % req.interpreter,
        "requests:    %d (counted by this interpreter's copy of the app)" % count,
        "process:     %d, thread %d" % (os.getpid(), threading.get_ident()),
        "python:      %s" % sys.version.split()[0],
    ]
    lines.extend(extra)
    req.write("\n".join(lines) + "\n")
    return apache.OK
