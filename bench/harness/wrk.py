"""Runs wrk against a local Apache and parses what it prints.

start() returns a running wrk so that two can drive two virtual hosts at the
same moment (scenario b); finish() waits for it and parses the summary."""

import re
import shutil
import subprocess

WRK = shutil.which("wrk") or "/usr/bin/wrk"

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def start(url, duration, connections, host=None, close=False, threads=1):
    """Start wrk in the background (it is never given a non-loopback URL)."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("the benchmark only drives servers on 127.0.0.1: " + url)
    cmd = [WRK, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if host:
        cmd += ["-H", f"Host: {host}"]
    if close:
        cmd += ["-H", "Connection: close"]
    cmd.append(url)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc):
    """Wait for a wrk started by start() and return its parsed numbers."""
    try:
        out, _ = proc.communicate()
    except BaseException:  # interrupted: do not leave wrk running against a server being stopped
        proc.kill()
        proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {out.strip()}")
    return parse(out)


def run(url, duration, connections, host=None, close=False):
    return finish(start(url, duration, connections, host=host, close=close))


def _ms(number, unit):
    return float(number) * _UNIT_MS[unit]


def parse(text):
    """Requests, seconds, req/s, errors and latency percentiles from wrk's summary."""
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", text)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not done or not rps:
        raise RuntimeError("cannot parse wrk output:\n" + text)
    result = {
        "requests": int(done.group(1)),
        "seconds": _ms(done.group(2), done.group(3)) / 1000.0,
        "rps": float(rps.group(1)),
        "non_2xx": 0,
        "socket_errors": 0,
    }
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx:
        result["non_2xx"] = int(non2xx.group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if errors:
        result["socket_errors"] = sum(int(v) for v in errors.groups())
    for pct in ("50", "99"):
        latency = re.search(rf"^\s+{pct}(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        if latency:
            result[f"latency_p{pct}_ms"] = round(_ms(*latency.groups()), 3)
    return result
