"""
Stopping Apache while a handler runs (interpreters.md §10, DESIGN.md
decision 1): the child must exit at once, not deadlock.

Under prefork, SIGTERM makes the child destroy its pools from the signal
handler, on the very thread that is inside Python. Pool cleanups that
enter Python again (dropping the request object, child-exit callbacks)
would wait for a GIL that thread holds; Apache then kills the child with
SIGKILL after several seconds and logs that it did.

Under event the worker thread finishes its handler first (no module can
interrupt a running handler there), then the main thread destroys the
child pool and runs the child-exit callbacks; that must not hang either.
"""

import threading
import time

import pytest

from harness import ApacheServer

BUSY_PY = '''
from mod_python import apache

def handler(req):
    import time
    req.content_type = "text/plain"
    apache.register_cleanup(lambda data: None)   # a child-exit callback too
    stop = time.time() + float(req.args or "1e9")
    while time.time() < stop:
        sum(range(10000))
    req.write("done")
    return apache.OK
'''

CONFIG = '''
<Location /busy>
    SetHandler mod_python
    PythonPath "sys.path + ['{root}/apps']"
    PythonHandler busy
</Location>
'''


@pytest.mark.parametrize("mpm, seconds", [("prefork", ""), ("event", "1.5")])
def test_stopping_apache_during_a_busy_handler_does_not_hang_the_child(mpm, seconds):
    server = ApacheServer(CONFIG, files={"apps/busy.py": BUSY_PY}, mpm=mpm, single_child=True)
    server.start()
    try:
        threading.Thread(target=lambda: server.get("/busy?" + seconds if seconds else "/busy"), daemon=True).start()
        server.wait_for_log(r"created interpreter", since=0)
        time.sleep(0.5)  # let the handler spin
        server.stop()
        log = server.error_log()
        assert "SIGKILL" not in log, log
        assert "Fatal Python error" not in log, log
    finally:
        server.close()
