"""mod_python.asgi in the demo: a plain ASGI application (no framework, so
it runs with every Python build; FastAPI and Starlette applications are
configured the same way). /asgi/ answers like the other demo pages,
/asgi/stream streams three lines half a second apart. Its interpreter,
"asgi", runs one event loop that serves all its requests."""

import asyncio
import os
import sys
import threading

from mod_python import apache

requests = 0


async def app(scope, receive, send):
    global requests
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["started"] = "lifespan startup ran in process %d" % os.getpid()
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for n in range(3):
            await send({"type": "http.response.body", "body": b"line %d\n" % n, "more_body": True})
            await asyncio.sleep(0.5)
        await send({"type": "http.response.body", "body": b"done\n"})
        return
    requests += 1
    lines = [
        "app:         asgi_demo (ASGI, mod_python.asgi)",
        "interpreter: %s" % apache.interpreter,
        "requests:    %d (counted by this interpreter's copy of the app)" % requests,
        "process:     %d, event loop thread %d" % (os.getpid(), threading.get_ident()),
        "python:      %s" % sys.version.split()[0],
        "lifespan:    %s" % scope.get("state", {}).get("started", "-"),
        "path:        %s (root_path %s)" % (scope["path"], scope["root_path"]),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": ("\n".join(lines) + "\n").encode()})
