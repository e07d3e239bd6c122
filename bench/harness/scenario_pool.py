"""Scenario (e): interpreter pools (`PythonInterpPool`), Hydra built for Python >= 3.12.

Three questions, each answered by a few configurations of the same Hydra
build, alternated within every round:

  e1 cpu    one application (the CPU-bound handler of scenario b) in one event
            child: PythonInterpPool 1 against 2 and auto. A pool of 2 should
            use both cores: about x2 on this 2-core machine.
  e2 flask  a Flask page (apps/flaskpage.py, a 5.5 KB Jinja page) through
            mod_python.wsgi: one event child with a pool of 2 against two
            prefork children with one interpreter each, throughput and the
            children's combined RSS; and one event child with one
            interpreter, what the pool replaces.
  e3 hello  the hello-world handler in a pool of 2 (and of 1) against one
            plain interpreter: what choosing a replica costs per request.

Every configuration names its interpreter `bench_pool`, so that the status
page (`/status?json`) tells how many replicas the run made and how the
requests spread over them."""

import json
import os
import subprocess

from .apache import event_mpm, prefork_mpm
from .report import fmt, table
from .scenario_parallel import expected_body
from .stage import BODY
from .stats import rotated, summary
from .targets import CPU_URL, HELLO_URL

INTERP = "bench_pool"
FLASK_URL = "/flask/page"
STATUS_URL = "/status"
# Debian's python3-flask (and its pure-Python dependencies) for a CPython
# that is not Debian's: appended after the build's own sys.path, so its
# standard library always wins. markupsafe's C speedups there are built for
# 3.11 only; on another version markupsafe uses its pure-Python fallback.
DEBIAN_DIST_PACKAGES = "/usr/lib/python3/dist-packages"
EVENT_THREADS = 16
PREFORK_CHILDREN = 2
# Warm-up runs (session.warmup seconds each) until every replica has served
# WARM_REQUESTS requests, at most WARMUP_TRIES of them.
WARMUP_TRIES = 8
WARM_REQUESTS = 20

# (label, wrk connections, Connection: close). Keep-alive at -c8 would starve
# a two-child prefork server (each child keeps its first connection), so the
# comparison with prefork (e2) closes every connection at -c8, for both sides.
LOADS_KEEPALIVE = [("-c2", 2, False), ("-c8", 8, False)]
LOADS_FLASK = [("-c2", 2, False), ("-c8 close", 8, True)]


class Variant:
    """One configuration of a sub-scenario: the MPM, the pool line, the handler block."""

    def __init__(self, key, label, pool, mpm="event", threads=EVENT_THREADS):
        self.key, self.label, self.pool, self.mpm = key, label, pool, mpm
        self.threads = threads

    def mpm_config(self):
        if self.mpm == "prefork":
            return prefork_mpm(PREFORK_CHILDREN), PREFORK_CHILDREN
        return event_mpm(self.threads), 1


SUBSCENARIOS = {
    "e1": {
        "title": "one application, CPU-bound handler, one event child",
        "url": CPU_URL,
        "handler": "cpu",
        "loads": LOADS_KEEPALIVE,
        "variants": [Variant("pool1", "PythonInterpPool 1", "1"),
                     Variant("pool2", "PythonInterpPool 2", "2"),
                     Variant("auto", "PythonInterpPool auto", "auto")],
        "baseline": "pool1",
    },
    "e2": {
        "title": "Flask page (5.5 KB Jinja template) through mod_python.wsgi",
        "url": FLASK_URL,
        "handler": "wsgi",
        "loads": LOADS_FLASK,
        # "single" is the configuration that pools replace: one interpreter,
        # one GIL, all the event child's threads taking turns in it.
        # "pool2-t4": the same pool in a child of 4 threads. With 16 the
        # child kept fewer cores busy (1.5 against 1.85 with 2 or 4 threads,
        # measured at -c2 keep-alive) although both replicas were in use;
        # why idle worker threads cost that is not established
        # (docs/benchmarks.md, "threads per child").
        "variants": [Variant("pool2", "event, 1 child, PythonInterpPool 2", "2"),
                     Variant("pool2-t4", "event, 1 child of 4 threads, PythonInterpPool 2", "2", threads=4),
                     Variant("single", "event, 1 child, one interpreter (no pool)", None),
                     Variant("prefork2", f"prefork, {PREFORK_CHILDREN} children, one interpreter each", None,
                             mpm="prefork")],
        "baseline": "prefork2",
    },
    "e3": {
        "title": "hello world, one event child",
        "url": HELLO_URL,
        "handler": "hello",
        "loads": LOADS_KEEPALIVE,
        "variants": [Variant("single", "one interpreter (no pool)", None),
                     Variant("pool1", "PythonInterpPool 1", "1"),
                     Variant("pool2", "PythonInterpPool 2", "2")],
        "baseline": "single",
    },
}


def flask_available(target):
    """None when the build's Python imports Debian's Flask, else why not."""
    python = target.python.executable if target.python else None
    if not python or not os.path.exists(python):
        return f"no Python executable found for {target.so}"
    probe = subprocess.run(
        [python, "-c", f"import sys; sys.path.append({DEBIAN_DIST_PACKAGES!r}); import flask"],
        capture_output=True, text=True,
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["import failed"])[-1]
        return f"Flask does not import for Python {target.python.version} (install python3-flask): {last}"
    return None


def handler_block(stage, sub, variant):
    """The <Location> that serves the sub-scenario's URL, plus the status page."""
    lines = ["SetHandler mod_python", f"PythonInterpreter {INTERP}"]
    if variant.pool:
        lines.append(f"PythonInterpPool {variant.pool}")
    if sub["handler"] == "wsgi":
        lines += [
            f"PythonPath \"['{stage.apps}'] + sys.path + ['{DEBIAN_DIST_PACKAGES}']\"",
            "PythonHandler mod_python.wsgi",
            "PythonOption mod_python.wsgi.application flaskpage::app",
        ]
        prefix = FLASK_URL.rsplit("/", 1)[0]
    else:
        lines += [f"PythonPath \"['{stage.apps}'] + sys.path\"", f"PythonHandler {sub['handler']}"]
        prefix = sub["url"]
    inner = "\n".join("    " + line for line in lines)
    return (f"<Location {prefix}>\n{inner}\n</Location>\n"
            f"<Location {STATUS_URL}>\n    SetHandler python-status\n</Location>")


def check_answer(instance, sub, cpu_body):
    status, _, body = instance.get(sub["url"])
    if sub["handler"] == "hello":
        good = body == BODY
    elif sub["handler"] == "cpu":
        good = body == cpu_body
    else:
        good = body.startswith(b"<!DOCTYPE html>") and b"Stock value" in body
    if status != 200 or not good:
        raise RuntimeError(f"GET {sub['url']} gave {status} {body[:120]!r}\n{instance.log_tail()}")
    return len(body)


def replicas(instance):
    """[(replica, requests, gil)] of the benchmark's interpreter in the child that answers."""
    status, _, body = instance.get(STATUS_URL + "?json")
    if status != 200:
        return []
    rows = [r for r in json.loads(body)["interpreters"] if r["name"] == INTERP]
    return sorted((r["replica"], r["requests"], r["gil"]) for r in rows)


def expected_replicas(variant):
    if variant.pool == "auto":
        # What the child counts for auto: the CPUs it may run on.
        return len(os.sched_getaffinity(0))
    return int(variant.pool or 1)


def warm_up(session, instance, sub, variant):
    """The widest load, closing connections so that prefork spreads it over its
    children, until every replica the pool will make has served requests.

    A replica is made only when the others are busy, and its first request
    imports the application (Flask takes a while, longer on a busy machine):
    without this the measured run would pay for it, and one replica would
    sit out part of the run importing."""
    widest = max(c for _, c, _ in sub["loads"])
    want = expected_replicas(variant)
    for _ in range(WARMUP_TRIES):
        session.drive(instance, sub["url"], widest, close=True, duration=session.warmup)
        seen = replicas(instance)
        if want == 1 or (len(seen) >= want and all(requests >= WARM_REQUESTS for _, requests, _ in seen)):
            return
    session.note(f"({sub['url']}) {variant.label}: after {WARMUP_TRIES} warm-ups the pool has replicas "
                 f"{[r[:2] for r in seen]}, not {want} warm ones")


def measure(session, target, sub_key, variant, round_index, cpu_body):
    sub = SUBSCENARIOS[sub_key]
    mpm, children = variant.mpm_config()
    config = handler_block(session.stage, sub, variant)
    instance = session.apache(target, f"{sub_key}-{variant.key}", mpm, config, children)
    rows = []
    with instance:
        size = check_answer(instance, sub, cpu_body)
        warm_up(session, instance, sub, variant)
        loads = sub["loads"] if round_index % 2 == 0 else list(reversed(sub["loads"]))
        for load, connections, close in loads:
            result = session.drive(instance, sub["url"], connections, close=close)
            rows.append(dict(result, load=load, connections=connections, close=close))
        memory = instance.memory()
        seen = replicas(instance)
    for row in rows:
        row.update(memory, sub=sub_key, target=variant.key, round=round_index + 1, body_bytes=size,
                   replicas=len(seen), replica_requests=[r[1] for r in seen],
                   gil=seen[0][2] if seen else None)
    return rows


def run(session, target):
    """All three sub-scenarios with `target` (a ModPythonApi for a 3.12+ Hydra)."""
    cpu_body = expected_body()
    skipped = {}
    why = flask_available(target)
    if why:
        skipped["e2"] = why
        session.note(f"(e2) skipped: {why}")
    rows = []
    for round_index in range(session.rounds):
        for sub_key, sub in SUBSCENARIOS.items():
            if sub_key in skipped:
                continue
            for variant in rotated(sub["variants"], round_index):
                label = f"({sub_key}) {variant.label}, round {round_index + 1}"
                try:
                    got = measure(session, target, sub_key, variant, round_index, cpu_body)
                except Exception as exc:  # one failed configuration must not end the whole run
                    session.note(f"{label}: {exc}")
                    continue
                for row in got:
                    errors = row["non_2xx"] + row["socket_errors"]
                    if errors:
                        session.note(f"{label}, {row['load']}: {errors} failed requests")
                    session.log(
                        f"({sub_key}) {variant.key:8} {row['load']:9} round {round_index + 1}: "
                        f"{row['rps']:8.0f} req/s, {row['cpu_us_per_request'] or 0:7.1f} us CPU/req, "
                        f"Apache {row['apache_cores'] or 0:.2f} cores, replicas {row['replicas']} "
                        f"{row['replica_requests']}, RSS {row['rss_kib'] / 1024:.1f} MiB, "
                        f"others {row['others_cores'] or 0:.2f} cores"
                    )
                rows.extend(got)
    return {"rows": rows, "skipped": skipped, "label": target.label, "summary": summarise(rows)}


def _ratio(rows, baseline, field):
    """Each row's field over the same round's and load's baseline row."""
    base = {(r["round"], r["load"]): r[field] for r in baseline}
    return summary([r[field] / base[(r["round"], r["load"])] for r in rows
                    if base.get((r["round"], r["load"])) and r[field] is not None])


def summarise(rows):
    out = []
    for sub_key, sub in SUBSCENARIOS.items():
        for load, _, _ in sub["loads"]:
            here = [r for r in rows if r["sub"] == sub_key and r["load"] == load]
            baseline = [r for r in here if r["target"] == sub["baseline"]]
            for variant in sub["variants"]:
                mine = [r for r in here if r["target"] == variant.key]
                if not mine:
                    continue
                out.append({
                    "sub": sub_key, "load": load, "target": variant.key, "label": variant.label,
                    "rps": summary([r["rps"] for r in mine]),
                    "rps_ratio": _ratio(mine, baseline, "rps"),
                    "cpu_us": summary([r["cpu_us_per_request"] for r in mine]),
                    "cpu_ratio": _ratio(mine, baseline, "cpu_us_per_request"),
                    "apache_cores": summary([r["apache_cores"] for r in mine]),
                    "p50_ms": summary([r.get("latency_p50_ms") for r in mine]),
                    "p99_ms": summary([r.get("latency_p99_ms") for r in mine]),
                    "rss_mib": summary([r["rss_kib"] / 1024 for r in mine]),
                    "rss_ratio": _ratio(mine, baseline, "rss_kib"),
                    "pss_mib": summary([r["pss_kib"] / 1024 for r in mine]),
                    "children": max(r["children"] for r in mine),
                    "replicas": max(r["replicas"] for r in mine),
                    "gil": next((r["gil"] for r in mine if r["gil"]), None),
                })
    return out


def _rows(result, sub_key):
    return [s for s in result["summary"] if s["sub"] == sub_key]


def tables(result):
    """Markdown for scenario (e); cells are median (min-max) over rounds."""
    label = result["label"]
    out = []
    e1 = _rows(result, "e1")
    if e1:
        out.append(f"### (e1) {SUBSCENARIOS['e1']['title']} ({label}, {EVENT_THREADS} threads)\n")
        out.append(table(
            ["configuration", "wrk", "req/s", "× pool 1", "Apache cores", "CPU µs/req", "replicas",
             "child RSS MiB"],
            [[s["label"], s["load"], fmt(s["rps"], 1), fmt(s["rps_ratio"], 2, "×"), fmt(s["apache_cores"], 2),
              fmt(s["cpu_us"]), s["replicas"], fmt(s["rss_mib"], 1)] for s in e1],
        ))
        out.append("")
    e2 = _rows(result, "e2")
    if e2:
        out.append(f"### (e2) {SUBSCENARIOS['e2']['title']} ({label})\n")
        out.append(table(
            ["configuration", "wrk", "req/s", "× prefork", "Apache cores", "CPU µs/req", "p99 ms",
             "RSS MiB (children)", "RSS × prefork", "PSS MiB (children)"],
            [[s["label"], s["load"], fmt(s["rps"]), fmt(s["rps_ratio"], 2, "×"), fmt(s["apache_cores"], 2),
              fmt(s["cpu_us"]), fmt(s["p99_ms"], 1), fmt(s["rss_mib"], 1), fmt(s["rss_ratio"], 2, "×"),
              fmt(s["pss_mib"], 1)] for s in e2],
        ))
        out.append("")
    elif "e2" in result["skipped"]:
        out.append(f"(e2) skipped: {result['skipped']['e2']}\n")
    e3 = _rows(result, "e3")
    if e3:
        out.append(f"### (e3) {SUBSCENARIOS['e3']['title']} ({label}, {EVENT_THREADS} threads)\n")
        out.append(table(
            ["configuration", "wrk", "req/s", "req/s × one", "CPU µs/req", "CPU × one", "p50 ms", "replicas",
             "GIL"],
            [[s["label"], s["load"], fmt(s["rps"]), fmt(s["rps_ratio"], 3, "×"), fmt(s["cpu_us"], 1),
              fmt(s["cpu_ratio"], 3, "×"), fmt(s["p50_ms"], 2), s["replicas"], s["gil"] or "—"] for s in e3],
        ))
        out.append("")
    loads = [r["others_cores"] for r in result["rows"] if r.get("others_cores") is not None]
    if loads:
        busy = sum(1 for v in loads if v > 0.25)
        out.append(f"(e) other processes kept {fmt(summary(loads), 2)} cores busy during the measured runs"
                   + (f"; {busy} of {len(loads)} runs had more than 0.25 cores of neighbours" if busy else "")
                   + ".\n")
    return "\n".join(out)
