"""Scenario (d): ASGI applications, a Starlette JSON endpoint and a FastAPI one.

Three ways to serve the same application, measured in the same run:

  hydra        Hydra's mod_python.asgi in one event child (16 threads)
  uvicorn+proxy  Debian's uvicorn with 2 workers behind Apache mod_proxy
               (event, 16 threads): what an Apache user runs today
  uvicorn      the same uvicorn alone, wrk talking to it directly

Server CPU per request counts every process that serves: Apache's parent
and children, and uvicorn's supervisor and workers. The applications are
written into the stage by this file, so it needs nothing else in bench/.
Per round the targets alternate; each measured run gets a fresh server,
a check of the answer and a warm-up."""

import http.client
import json
import os
import signal
import subprocess
import time

from . import procfs, wrk
from .apache import MODULES, event_mpm, free_port
from .stats import rotated, summary

CONNECTIONS = 8
UVICORN_WORKERS = 2
UVICORN_PYTHON = "/usr/bin/python3"
APPS = {"starlette": "/starlette/json", "fastapi": "/fastapi/json"}
EXPECTED = {"message": "hello", "items": [1, 2, 3], "ok": True}

APP_SOURCE = '''\
"""The applications of bench scenario (d); both answer the same JSON."""
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

PAYLOAD = {"message": "hello", "items": [1, 2, 3], "ok": True}


async def starlette_json(request):
    return JSONResponse(PAYLOAD)


starlette_app = Starlette(routes=[Route("/starlette/json", starlette_json)])

fastapi_app = FastAPI()


@fastapi_app.get("/fastapi/json")
async def fastapi_json():
    return PAYLOAD
'''


# Debian's uvicorn 0.17.6 with --workers hands the listening socket to
# spawned workers, where asyncio no longer sees it as TCP and leaves Nagle on:
# every keep-alive response then waits ~40 ms for a delayed ACK (about 180
# req/s). The launcher sets TCP_NODELAY as asyncio does for ordinary
# sockets, in the supervisor and in every worker (spawn re-imports it).
LAUNCHER_SOURCE = '''\
"""uvicorn's command line, with TCP_NODELAY on the sockets of spawned workers."""
import socket
from asyncio import base_events


def _set_nodelay(sock):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


base_events._set_nodelay = _set_nodelay

if __name__ == "__main__":
    from uvicorn.main import main
    main()
'''


def available():
    """None when the scenario can run, else the reason it cannot."""
    probe = subprocess.run([UVICORN_PYTHON, "-c", "import fastapi, starlette, uvicorn"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return ("needs Debian's python3-fastapi, python3-starlette and python3-uvicorn: "
                + (probe.stderr.strip().splitlines() or ["import failed"])[-1])
    return None


def stage_apps(stage):
    folder = stage.path("asgi-apps")
    if not os.path.isdir(folder):
        os.makedirs(folder)
        with open(os.path.join(folder, "asgi_bench.py"), "w") as f:
            f.write(APP_SOURCE)
        with open(os.path.join(folder, "uvicorn_nodelay.py"), "w") as f:
            f.write(LAUNCHER_SOURCE)
        subprocess.run([UVICORN_PYTHON, "-m", "compileall", "-q", folder], capture_output=True)
        for dirpath, dirnames, filenames in os.walk(folder):
            os.chmod(dirpath, 0o755)
            for name in filenames:
                os.chmod(os.path.join(dirpath, name), 0o644)
    return folder


# -- the servers -------------------------------------------------------------

def hydra_config(folder):
    blocks = []
    for app, url in APPS.items():
        prefix = url.rsplit("/", 1)[0]
        blocks.append(f"""<Location {prefix}>
    SetHandler mod_python
    PythonPath "['{folder}'] + sys.path"
    PythonOption mod_python.asgi.application asgi_bench::{app}_app
    PythonOption mod_python.asgi.base_uri /
    PythonAutoReload Off
    PythonHandler mod_python.asgi
</Location>""")
    return "\n".join(blocks)


def proxy_config(backend_port):
    lines = [f"LoadModule proxy_module {MODULES}/mod_proxy.so",
             f"LoadModule proxy_http_module {MODULES}/mod_proxy_http.so"]
    for url in APPS.values():
        prefix = url.rsplit("/", 1)[0]
        lines.append(f"ProxyPass {prefix} http://127.0.0.1:{backend_port}{prefix}")
    return "\n".join(lines)


class Uvicorn:
    """uvicorn --workers 2 on 127.0.0.1, stopped by the pid it was started with."""

    def __init__(self, stage, folder, app, port):
        self.port = port
        self.log_path = stage.path(f"uvicorn-{app}-{port}.log")
        self.cmd = [UVICORN_PYTHON, os.path.join(folder, "uvicorn_nodelay.py"),
                    f"asgi_bench:{app}_app", "--app-dir", folder,
                    "--host", "127.0.0.1", "--port", str(port), "--workers", str(UVICORN_WORKERS),
                    "--no-access-log", "--log-level", "warning"]
        self.proc = None
        self.pid = None
        self.probe = APPS[app]

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, timeout=30.0):
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        self.pid = self.proc.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.proc.returncode}: {self.log_tail()}")
            # Every worker must be up before measuring.
            if len(procfs.children(self.pid)) >= UVICORN_WORKERS:
                try:
                    status, _ = get(self.port, self.probe)
                    if status == 200:
                        return self
                except OSError:
                    pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"uvicorn not ready after {timeout:.0f}s: {self.log_tail()}")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            for pid in procfs.children(self.pid) + [self.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            self.proc.wait(5)

    def cpu_seconds(self):
        return procfs.instance_cpu_seconds(self.pid)

    def log_tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return " | ".join(f.read().splitlines()[-5:])
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def check(port, path, log_tail):
    status, body = get(port, path)
    if status != 200 or json.loads(body) != EXPECTED:
        raise RuntimeError(f"GET {path} gave {status} {body[:120]!r}\n{log_tail()}")


def drive(url_of, path, pids):
    """One wrk run; CPU of every serving process tree in `pids`."""
    before = [procfs.instance_cpu_seconds(pid) for pid in pids]
    meter = procfs.LoadMeter(pids[0])
    result = wrk.run(url_of(path), _session.duration, CONNECTIONS)
    cpu = sum(procfs.instance_cpu_seconds(pid) - b for pid, b in zip(pids, before))
    requests = result["requests"]
    return dict(result, cpu_seconds=cpu,
                cpu_us_per_request=cpu * 1e6 / requests if requests else None,
                others_cores=meter.others_cores())


_session = None


def measure_once(session, hydra, target, app):
    path = APPS[app]
    folder = stage_apps(session.stage)
    if target == "hydra":
        instance = session.apache(hydra, f"d-{app}-hydra", event_mpm(16), hydra_config(folder))
        with instance:
            check(instance.port, path, instance.log_tail)
            wrk.run(instance.url(path), session.warmup, CONNECTIONS)
            return drive(instance.url, path, [instance.pid])
    with Uvicorn(session.stage, folder, app, free_port()) as backend:
        if target == "uvicorn":
            check(backend.port, path, backend.log_tail)
            wrk.run(backend.url(path), session.warmup, CONNECTIONS)
            return drive(backend.url, path, [backend.pid])
        instance = session.apache(_Plain(), f"d-{app}-proxy", event_mpm(16), proxy_config(backend.port))
        with instance:
            check(instance.port, path, instance.log_tail)
            wrk.run(instance.url(path), session.warmup, CONNECTIONS)
            return drive(instance.url, path, [instance.pid, backend.pid])


class _Plain:
    """Apache without Python: the mod_proxy front of uvicorn."""

    env = {}

    def load(self, stage):
        return ""


LABELS = {
    "hydra": "Hydra mod_python.asgi (event, 16 threads)",
    "uvicorn+proxy": f"uvicorn {UVICORN_WORKERS} workers behind Apache mod_proxy",
    "uvicorn": f"uvicorn {UVICORN_WORKERS} workers alone",
}


def run(session, hydra):
    """hydra: the Hydra target (ModPythonApi) for the default Python, or None."""
    global _session
    _session = session
    reason = available()
    if reason:
        session.note("(d) skipped: " + reason)
        return {"rows": [], "summary": []}
    targets = (["hydra"] if hydra is not None else []) + ["uvicorn+proxy", "uvicorn"]
    if hydra is None:
        session.note("(d) Hydra skipped: no Hydra build for the default Python")
    rows = []
    for round_index in range(session.rounds):
        for app in APPS:
            for target in rotated(targets, round_index):
                try:
                    result = measure_once(session, hydra, target, app)
                except Exception as exc:  # one failed target must not end the run
                    session.note(f"(d) {target}, {app}, round {round_index + 1}: {exc}")
                    continue
                if result["non_2xx"] or result["socket_errors"]:
                    session.note(f"(d) {target}, {app}, round {round_index + 1}: {result['non_2xx']} "
                                 f"non-2xx, {result['socket_errors']} socket errors")
                session.log(f"(d) {app:9} {target:13} round {round_index + 1}: {result['rps']:8.0f} req/s, "
                            f"{result['cpu_us_per_request'] or 0:7.1f} us CPU/req")
                rows.append(dict(result, app=app, target=target, round=round_index + 1))
    out = []
    for app in APPS:
        for target in targets:
            mine = [r for r in rows if r["app"] == app and r["target"] == target]
            if mine:
                out.append({"app": app, "target": target, "label": LABELS[target],
                            "rps": summary([r["rps"] for r in mine]),
                            "cpu_us_per_request": summary([r["cpu_us_per_request"] for r in mine]),
                            "latency_p50_ms": summary([r.get("latency_p50_ms") for r in mine]),
                            "latency_p99_ms": summary([r.get("latency_p99_ms") for r in mine])})
    return {"rows": rows, "summary": out}


def tables(result):
    """Markdown for the report (bench/run.py appends it)."""
    from .report import fmt, table

    if not result["summary"]:
        return ""
    parts = [f"### (d) ASGI: Starlette and FastAPI JSON endpoints, wrk -t1 -c{CONNECTIONS}\n"]
    parts.append(table(
        ["application", "server", "req/s", "server CPU µs/req", "p50 ms", "p99 ms"],
        [[s["app"], s["label"], fmt(s["rps"]), fmt(s["cpu_us_per_request"], 1),
          fmt(s["latency_p50_ms"], 2), fmt(s["latency_p99_ms"], 2)] for s in result["summary"]],
    ))
    parts.append("")
    return "\n".join(parts)
