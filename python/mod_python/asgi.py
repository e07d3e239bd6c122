"""mod_python.asgi: runs an ASGI 3.0 application (HTTP spec 2.3, lifespan)
as a mod_python content handler (docs/asgi.md).

    PythonHandler mod_python.asgi
    PythonOption mod_python.asgi.application mypackage.main::app
    PythonOption mod_python.asgi.base_uri /api          (optional)
    PythonOption mod_python.asgi.lifespan off           (optional)

The thread model. Each interpreter has one event loop, run by a thread the
interpreter owns (started by the first request), and every request of that
interpreter runs its application coroutine on it. The Apache worker thread
that owns the request stays in handler(): it waits with the GIL released
for commands from the loop (read a body chunk, write response bytes) and
does every Apache call for its request itself, because request_rec and its
brigades are not thread-safe. The loop never touches `req`. Once the last
body byte is written the worker returns and Apache ends the request; the
coroutine may go on (background tasks) but sees http.disconnect.

Python 3.11: the C `_asyncio` module keeps its running-loop cache in a
process-wide static keyed by a thread-state id that is only unique per
interpreter (CPython #91375, #96336), so loops in several sub-interpreters
confuse each other. In a sub-interpreter on 3.11 this module therefore
makes asyncio use its pure-Python Future, Task and running-loop functions
(it hides `_asyncio` before asyncio is first imported there).
"""

import sys

from . import apache

if (sys.version_info < (3, 12) and "asyncio" not in sys.modules
        and apache.interpreter != "main_interpreter"):
    # The pure-Python implementation keeps the running loop in a
    # threading.local of this interpreter: correct with any number of them.
    sys.modules["_asyncio"] = None

import asyncio  # noqa: E402  (after the 3.11 guard above)
import queue  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from urllib.parse import unquote  # noqa: E402

_APPLICATION = "mod_python.asgi.application"
_BASE_URI = "mod_python.asgi.base_uri"
_LIFESPAN = "mod_python.asgi.lifespan"
_STARTUP_RETRY = "mod_python.asgi.startup_retry"

# Request body bytes asked of Apache per http.request event.
BODY_CHUNK = 65536
# Seconds before a failed lifespan startup is tried again (PythonOption
# mod_python.asgi.startup_retry overrides), and the longest wait for
# startup and shutdown to complete.
STARTUP_RETRY = 10.0
LIFESPAN_TIMEOUT = 60.0
SHUTDOWN_TIMEOUT = 10.0

_ASGI = {"version": "3.0", "spec_version": "2.3"}
_HTTP_VERSIONS = {"HTTP/1.0": "1.0", "HTTP/1.1": "1.1", "HTTP/2.0": "2", "HTTP/2": "2"}
_LIFESPAN_ASGI = {"version": "3.0", "spec_version": "2.0"}


class ClientDisconnected(OSError):
    """Raised by send() once the client has gone away."""


def _c_asyncio_in_subinterpreter():
    if sys.version_info >= (3, 12) or apache.interpreter == "main_interpreter":
        return False
    events = sys.modules["asyncio"].events
    return events._get_running_loop is not getattr(events, "_py__get_running_loop", None)


# ---------------------------------------------------------------------------
# The handler (worker thread)

def handler(req):
    options = req.get_options()
    app_spec = options[_APPLICATION]  # unset: KeyError, i.e. a 500
    application = _load_application(req, app_spec)
    if application is None:
        req.log_error("HYDRA0550: ASGI handler: %s (%r) not found, declining."
                      % (_APPLICATION, app_spec), apache.APLOG_WARNING)
        return apache.DECLINED

    runner = _runner()
    if options.get(_LIFESPAN, "on").lower() not in ("off", "0", "no", "false"):
        lifespan = runner.lifespan_of(application, app_spec)
        if not lifespan.ensure_started(_retry_seconds(options)):
            return apache.HTTP_INTERNAL_SERVER_ERROR
        state = lifespan.state
    else:
        state = None

    headers_in = req.headers_in
    upgrade = headers_in.get("Upgrade")
    if upgrade is not None and upgrade.lower() == "websocket":
        req.log_error("HYDRA0554: ASGI handler: WebSocket upgrade for %s refused with 501: "
                      "mod_python.asgi serves HTTP only (application %s)" % (req.uri, app_spec),
                      apache.APLOG_WARNING)
        return apache.HTTP_NOT_IMPLEMENTED

    scope = _http_scope(req, options, state)
    if scope is None:
        req.log_error("HYDRA0555: ASGI handler: req.uri (%r) does not start with %s (%r), declining."
                      % (req.uri, _BASE_URI, options.get(_BASE_URI)), apache.APLOG_WARNING)
        return apache.DECLINED
    exchange = _Exchange(runner, application, app_spec, scope, req)
    runner.active.add(exchange)
    try:
        return exchange.serve()
    finally:
        runner.active.discard(exchange)


# app_spec -> (application, monotonic time of the next module check or None
# with PythonAutoReload Off). Like Hydra's handler cache, the module is
# asked again at most once a second.
_applications = {}
_RECHECK_SECONDS = 1.0


def _load_application(req, app_spec):
    cached = _applications.get(app_spec)
    if cached is not None and (cached[1] is None or time.monotonic() < cached[1]):
        return cached[0]
    config = req.get_config()
    autoreload = config.get("PythonAutoReload", "1") != "0"
    module_name, _, callable_name = app_spec.partition("::")
    module = apache.import_module(module_name, autoreload=autoreload,
                                  log=config.get("PythonDebug") == "1")
    application = module.__dict__.get(callable_name or "app")
    if application is not None:
        _applications[app_spec] = (application,
                                   time.monotonic() + _RECHECK_SECONDS if autoreload else None)
    return application


def _retry_seconds(options):
    value = options.get(_STARTUP_RETRY)
    try:
        return float(value) if value else STARTUP_RETRY
    except ValueError:
        return STARTUP_RETRY


# ---------------------------------------------------------------------------
# The scope

def _root_path(req, options):
    base = options.get(_BASE_URI)
    if base is None:
        hlist = req.hlist
        base = hlist.directory if hlist.is_location and hlist.directory else ""
        return base[:-1] if base.endswith("/") else base
    if base == "/":  # the application sees the whole URL path
        return ""
    if base.endswith("/"):
        raise ValueError("PythonOption '%s' ('%s') must not end with '/'" % (_BASE_URI, base))
    return base


def _raw(text):
    """The original bytes of a string from Apache (decoded UTF-8 with
    surrogateescape)."""
    return text.encode("utf-8", "surrogateescape")


def _http_scope(req, options, state):
    root_path = _root_path(req, options)
    raw_target = req.unparsed_uri or "/"
    raw_path, _, _ = raw_target.partition("?")
    path = unquote(raw_path, errors="surrogateescape")
    if root_path:
        if not path.startswith(root_path):
            return None
        path = path[len(root_path):]
    conn = req.connection
    protocol = req.protocol or "HTTP/1.1"
    args = req.args
    scope = {
        "type": "http",
        "asgi": _ASGI,
        "http_version": _HTTP_VERSIONS.get(protocol, "1.1"),
        "method": req.method,
        "scheme": "https" if req.is_https() else "http",
        "path": path,
        "raw_path": _raw(raw_path),
        "query_string": _raw(args) if args else b"",
        "root_path": root_path,
        "headers": [(_raw(name).lower(), _raw(value)) for name, value in req.headers_in.items()],
        "client": conn.client_addr,
        "server": conn.local_addr,
    }
    if state is not None:
        scope["state"] = dict(state)
    return scope


# ---------------------------------------------------------------------------
# The event loop of this interpreter

class _Runner:
    """This interpreter's event loop and the thread that runs it."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.lifespans = {}
        self.lock = threading.Lock()
        self.active = set()  # exchanges whose worker is waiting
        self.dead = False
        self.thread = threading.Thread(target=self._run, name="mod_python.asgi loop (%s)"
                                       % apache.interpreter, daemon=True)
        self.thread.start()
        apache.register_cleanup(self.close)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
            return
        except BaseException as exc:  # the loop itself broke: never leave a worker waiting
            error = exc
        apache.log_error("HYDRA0560: mod_python.asgi: the event loop of interpreter %r stopped "
                         "(%s: %s); its requests answer 500 and the next request starts a new "
                         "loop" % (apache.interpreter, type(error).__name__, error),
                         apache.APLOG_ERR)
        self.dead = True
        self.loop.close()  # later call_soon_threadsafe() raise at once
        for exchange in list(self.active):
            exchange.commands.put((_DONE, RuntimeError("the event loop stopped")))

    def lifespan_of(self, application, app_spec):
        lifespan = self.lifespans.get(id(application))
        if lifespan is None or lifespan.application is not application:
            with self.lock:
                lifespan = self.lifespans.get(id(application))
                if lifespan is None or lifespan.application is not application:
                    lifespan = _Lifespan(self.loop, application, app_spec)
                    self.lifespans[id(application)] = lifespan
        return lifespan

    def close(self, data=None):
        """At child exit: lifespan.shutdown for every started application,
        then the loop stops."""
        if self.dead:
            return
        for lifespan in list(self.lifespans.values()):
            lifespan.shutdown()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(SHUTDOWN_TIMEOUT)


_the_runner = None
_runner_lock = threading.Lock()


def _runner():
    global _the_runner
    runner = _the_runner
    if runner is None or runner.dead:
        with _runner_lock:
            if _the_runner is None or _the_runner.dead:
                if _c_asyncio_in_subinterpreter():
                    apache.log_error("HYDRA0558: mod_python.asgi: asyncio was imported with its C "
                                     "accelerator before mod_python.asgi in interpreter %r on "
                                     "Python 3.11; event loops of several interpreters can hang. "
                                     "Import mod_python.asgi first (PythonImport mod_python.asgi %s)."
                                     % (apache.interpreter, apache.interpreter),
                                     apache.APLOG_WARNING)
                _the_runner = _Runner()
            runner = _the_runner
    return runner


def _log_traceback(prefix, exc):
    for chunk in traceback.format_exception(type(exc), exc, exc.__traceback__):
        for line in chunk.rstrip("\n").split("\n"):
            apache.log_error(prefix + line, apache.APLOG_ERR)


# ---------------------------------------------------------------------------
# Lifespan

class _Lifespan:
    """The lifespan protocol of one application in this interpreter."""

    def __init__(self, loop, application, app_spec):
        self.loop = loop
        self.application = application
        self.app_spec = app_spec
        self.lock = threading.Lock()
        self.started = False     # startup complete, or lifespan unsupported
        self.supported = False
        self.retry_at = 0.0
        self.state = {}
        self.events = None       # asyncio.Queue of messages for the app
        self.replies = None      # the future send() settles
        self.task = None

    def ensure_started(self, retry_seconds):
        """Worker thread: True once startup completed (runs it first if need
        be, waiting with the GIL released); False while it failed."""
        if self.started:
            return True
        with self.lock:
            if self.started:
                return True
            if time.monotonic() < self.retry_at:
                return False
            future = asyncio.run_coroutine_threadsafe(self._startup(), self.loop)
            try:
                outcome, message = future.result(LIFESPAN_TIMEOUT)
            except Exception as exc:  # timeout
                future.cancel()
                outcome, message = "failed", "no answer within %ds (%s)" % (LIFESPAN_TIMEOUT,
                                                                         type(exc).__name__)
            if outcome == "failed":
                self.retry_at = time.monotonic() + retry_seconds
                apache.log_error("HYDRA0556: ASGI lifespan startup of %s failed in interpreter %r: "
                                 "%s; answering 500 and retrying in %gs"
                                 % (self.app_spec, apache.interpreter, message or "(no message)",
                                    retry_seconds), apache.APLOG_ERR)
                return False
            self.supported = outcome == "complete"
            self.started = True
            return True

    async def _startup(self):
        self.state = {}
        self.events = asyncio.Queue()
        self.replies = self.loop.create_future()
        self.events.put_nowait({"type": "lifespan.startup"})
        scope = {"type": "lifespan", "asgi": _LIFESPAN_ASGI, "state": self.state}
        self.task = self.loop.create_task(self._main(scope, self.replies))
        return await self.replies

    async def _main(self, scope, replies):
        try:
            await self.application(scope, self.events.get, self._send)
        except BaseException as exc:
            if not self.replies.done():
                if replies is self.replies and not self.supported:
                    # Raised before answering startup: lifespan unsupported.
                    apache.log_error("HYDRA0557: ASGI application %s does not support lifespan "
                                     "(%s: %s); running it without" % (self.app_spec,
                                                                      type(exc).__name__, exc),
                                     apache.APLOG_INFO)
                    self.replies.set_result(("unsupported", None))
                else:
                    self.replies.set_result(("failed", "%s: %s" % (type(exc).__name__, exc)))
            if not isinstance(exc, Exception):
                raise
        else:
            if not self.replies.done():
                self.replies.set_result(("unsupported", None))

    async def _send(self, message):
        kind = message.get("type")
        replies = self.replies
        if kind in ("lifespan.startup.complete", "lifespan.shutdown.complete"):
            if not replies.done():
                replies.set_result(("complete", None))
        elif kind in ("lifespan.startup.failed", "lifespan.shutdown.failed"):
            if not replies.done():
                replies.set_result(("failed", message.get("message", "")))
        else:
            raise RuntimeError("unexpected lifespan message %r" % (kind,))

    def shutdown(self):
        """Child exit (any thread of this interpreter): lifespan.shutdown
        and a bounded wait for its answer."""
        if not (self.started and self.supported):
            return

        async def ask():
            self.replies = self.loop.create_future()
            self.events.put_nowait({"type": "lifespan.shutdown"})
            return await self.replies

        try:
            outcome, message = asyncio.run_coroutine_threadsafe(ask(), self.loop).result(
                SHUTDOWN_TIMEOUT)
        except Exception as exc:
            outcome, message = "failed", "%s: %s" % (type(exc).__name__, exc)
        if outcome == "failed":
            apache.log_error("HYDRA0559: ASGI lifespan shutdown of %s failed in interpreter %r: %s"
                             % (self.app_spec, apache.interpreter, message),
                             apache.APLOG_WARNING)


# ---------------------------------------------------------------------------
# One request: the loop side (receive, send) and the worker side (serve)

_READ, _SEND, _DONE = range(3)

# Seconds between the checks a waiting worker makes that its loop is alive.
_DEAD_LOOP_CHECK = 5.0

# Response states (loop side).
_INIT, _STARTED, _COMPLETE = range(3)


def _settle(future, result, exc):
    if not future.done():
        if exc is None:
            future.set_result(result)
        else:
            future.set_exception(exc)


def _check_headers(headers):
    checked = []
    for item in headers:
        name, value = item
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            raise TypeError("ASGI header names and values must be bytes, got %r" % (item,))
        checked.append((name.decode("latin-1"), value.decode("latin-1")))
    return checked


class _Exchange:
    """One request between its worker thread and the interpreter's loop."""

    def __init__(self, runner, application, app_spec, scope, req):
        self.runner = runner
        self.loop = runner.loop
        self.application = application
        self.app_spec = app_spec
        self.scope = scope
        self.req = req
        self.commands = queue.SimpleQueue()  # loop -> worker
        headers_in = req.headers_in
        length = headers_in.get("Content-Length")
        chunked = "chunked" in headers_in.get("Transfer-Encoding", "").lower()
        # Worker side: bytes still expected (None: chunked, read ahead).
        self.remaining = None if chunked else int(length) if length else 0
        self.has_body = self.remaining != 0
        self.ahead = None
        # Loop side.
        self.response = _INIT
        self.body_done = False
        self.detached = False    # the worker has left (or is leaving)
        self.client_gone = False
        self.disconnected = None  # future: the response is over or the client left
        self.waiting = {}         # futures the worker has yet to settle -> command
        self.leave_error = ClientDisconnected("the request is over")  # for pending sends

    # -- worker thread ---------------------------------------------------

    def serve(self):
        self.loop.call_soon_threadsafe(self._start)
        commands = self.commands
        try:
            while True:
                try:
                    command = commands.get(timeout=_DEAD_LOOP_CHECK)  # GIL released
                except queue.Empty:
                    if self.runner.dead:
                        raise RuntimeError("the event loop of this interpreter stopped")
                    continue
                op = command[0]
                if op == _READ:
                    self._read(command[1])
                elif op == _SEND:
                    if self._write(*command[1:]):
                        self.req = None
                        return apache.OK
                else:
                    return self._finish(command[1])
        finally:
            # However the worker leaves (an exception such as SERVER_RETURN
            # from a body read included), the coroutine must not wait for it.
            if not self.runner.dead:
                self.loop.call_soon_threadsafe(self._worker_gone, self.leave_error)

    def _read_block(self, size):
        try:
            return self.req.read_body_chunk(size)
        except OSError:
            return None

    def _read(self, future):
        req_read = self._read_block
        if self.remaining is None:  # chunked: one block ahead tells more_body
            data = self.ahead if self.ahead is not None else req_read(BODY_CHUNK)
            following = req_read(BODY_CHUNK) if data else b""
            self.ahead = following
            result = None if data is None else (data, bool(following))
        else:
            data = req_read(min(BODY_CHUNK, self.remaining)) if self.remaining > 0 else b""
            if data is None:
                result = None
            else:
                self.remaining -= len(data)
                result = (data, bool(data) and self.remaining > 0)
        self.loop.call_soon_threadsafe(_settle, future, result, None)

    def _write(self, start, body, more, future):
        """Writes; True when the response is complete."""
        req = self.req
        error = None
        try:
            if start is not None:
                status, headers = start
                req.status = status
                headers_out = req.headers_out
                for name, value in headers:
                    lower = name.lower()
                    if lower == "content-type":
                        req.content_type = value
                    elif lower == "content-length":
                        req.set_content_length(int(value))
                    else:
                        headers_out.add(name, value)
            if body:
                req.write(body, 1 if more else 0)
            elif more and start is not None:
                req.flush()  # the headers go out now
        except OSError as exc:
            error = ClientDisconnected(str(exc))
            req.connection.keepalive = apache.AP_CONN_CLOSE
        if not more or error is not None:
            # The worker leaves now: _worker_gone settles the future with
            # this outcome (one wake-up of the loop instead of two).
            self.leave_error = error
            return True
        if future is not None:
            self.loop.call_soon_threadsafe(_settle, future, None, error)
        return False

    def _finish(self, exc):
        """The application returned (exc None) or raised before the response
        was complete."""
        req = self.req
        self.req = None
        where = "ASGI application %s in interpreter %r" % (self.app_spec, apache.interpreter)
        if self.response == _INIT:
            if exc is not None:
                req.log_error("HYDRA0551: %s raised %s before http.response.start; answering 500 "
                              "(traceback follows)" % (where, type(exc).__name__),
                              apache.APLOG_ERR)
                raise exc
            req.log_error("HYDRA0553: %s returned without sending http.response.start; "
                          "answering 500" % where, apache.APLOG_ERR)
            return apache.HTTP_INTERNAL_SERVER_ERROR
        if exc is not None:
            _log_traceback("HYDRA0552: %s raised after http.response.start, closing the "
                           "connection: " % where, exc)
            if self.pending_start is not None:
                self._write(self.pending_start, b"", True, None)
            req.abort_connection()
        elif self.response == _STARTED and self.pending_start is not None:
            # Started, never sent a body: the headers alone.
            self._write(self.pending_start, b"", False, None)
        return apache.OK

    # -- loop thread -----------------------------------------------------

    pending_start = None

    def _start(self):
        self.loop.create_task(self._run())

    async def _run(self):
        try:
            await self.application(self.scope, self.receive, self.send)
        except BaseException as exc:
            self._exit(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            self._exit(None)

    def _exit(self, exc):
        if not self.detached:
            self.detached = True
            self.commands.put((_DONE, exc))
        elif exc is not None and not isinstance(exc, ClientDisconnected):
            _log_traceback("HYDRA0552: ASGI application %s in interpreter %r raised after its "
                           "response was complete: " % (self.app_spec, apache.interpreter), exc)
        self._disconnect()

    def _worker_gone(self, send_error):
        self.detached = True
        for future, kind in list(self.waiting.items()):
            if future.done():
                continue
            if kind == _READ:
                future.set_result(None)
            elif send_error is None:
                future.set_result(None)
            else:
                future.set_exception(send_error)
        self.waiting.clear()
        self._disconnect()

    def _post(self, command):
        """Loop side: a command for the worker; the future it settles."""
        future = self.loop.create_future()
        self.waiting[future] = command[0]
        future.add_done_callback(self._settled)
        self.commands.put(command + (future,))
        return future

    def _settled(self, future):
        self.waiting.pop(future, None)

    def _disconnect(self):
        if self.disconnected is None:
            self.disconnected = self.loop.create_future()
        if not self.disconnected.done():
            self.disconnected.set_result(None)

    async def receive(self):
        if self.body_done or self.detached:
            if self.disconnected is None:
                self.disconnected = self.loop.create_future()
            await asyncio.shield(self.disconnected)
            return {"type": "http.disconnect"}
        if not self.has_body:
            result = (b"", False)
        else:
            result = await self._post((_READ,))
        if result is None:  # the client went away
            self.body_done = self.client_gone = True
            self._disconnect()
            return {"type": "http.disconnect"}
        data, more = result
        if not more:
            self.body_done = True
        return {"type": "http.request", "body": data, "more_body": more}

    async def send(self, message):
        kind = message["type"]
        if kind == "http.response.start":
            if self.response != _INIT:
                raise RuntimeError("ASGI: http.response.start sent twice")
            status = message["status"]
            if type(status) is not int or not 100 <= status <= 999:
                raise TypeError("ASGI: http.response.start status must be an int, got %r"
                                % (status,))
            self.pending_start = (status, _check_headers(message.get("headers", ())))
            self.response = _STARTED
            return
        if kind == "http.response.body":
            if self.response == _INIT:
                raise RuntimeError("ASGI: http.response.body before http.response.start")
            if self.response == _COMPLETE:
                if self.client_gone:
                    raise ClientDisconnected("the client went away")
                raise RuntimeError("ASGI: http.response.body after the response was complete")
            body = message.get("body", b"")
            if not isinstance(body, (bytes, bytearray, memoryview)):
                raise TypeError("ASGI: http.response.body body must be bytes, got %s"
                                % type(body).__name__)
            more = bool(message.get("more_body", False))
            if self.detached:
                self.client_gone = True
                raise ClientDisconnected("the request is over")
            start, self.pending_start = self.pending_start, None
            future = self._post((_SEND, start, bytes(body), more))
            if not more:
                self.response = _COMPLETE
                self.detached = True
            try:
                await future
            except ClientDisconnected:
                self.client_gone = True
                self.response = _COMPLETE
                self.detached = True
                self._disconnect()
                raise
            if not more:
                self._disconnect()
            return
        raise RuntimeError("ASGI: unknown message type %r for an http scope" % (kind,))
