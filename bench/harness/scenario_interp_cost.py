"""Scenario (c): what one more interpreter costs.

One event child, PythonInterpPerDirectory On over docroot/interps/d00..d49:
each folder's first request creates an interpreter. The child's RSS is read
before any, and after 1, 10 and 50; the first request to each folder (which
creates the interpreter) is timed against a second one (warm)."""

import statistics

from .apache import event_mpm
from .stage import INTERP_DIRS
from .stats import rotated, summary

CHECKPOINTS = (1, 10, INTERP_DIRS)
WARM_REPEATS = 3


def measure_once(session, target):
    instance = session.apache(target, f"c-{target.key}", event_mpm(16), target.per_directory(session.stage), 1)
    with instance:
        memory = {0: instance.memory()}  # /ready is a static file: no interpreter yet
        cpu = {0: instance.cpu_seconds()}
        cold, warm, names = [], [], set()
        for i in range(INTERP_DIRS):
            path = f"/interps/d{i:02d}/page"
            seconds, status, body = instance.timed_get(path)
            if status != 200:
                raise RuntimeError(f"GET {path} gave {status} {body[:80]!r}\n{instance.log_tail()}")
            cold.append(seconds * 1000)
            names.add(body)
            warm.append(statistics.median(instance.timed_get(path)[0] * 1000 for _ in range(WARM_REPEATS)))
            if i + 1 in CHECKPOINTS:
                memory[i + 1] = instance.memory()
                cpu[i + 1] = instance.cpu_seconds()
        # The same requests again, into interpreters that exist now: what
        # they cost is taken off, so that what remains is the CPU time of
        # creating the interpreters (and importing the handler in each).
        first, last = CHECKPOINTS[1], CHECKPOINTS[-1]
        again = instance.cpu_seconds()
        for i in range(first, last):
            for _ in range(WARM_REPEATS + 1):
                instance.timed_get(f"/interps/d{i:02d}/page")
        requests_cpu = instance.cpu_seconds() - again
        if len(names) != INTERP_DIRS:
            raise RuntimeError(f"{INTERP_DIRS} folders gave {len(names)} interpreter names, not one each")
        return {
            "rss_kib": {n: m["rss_kib"] for n, m in memory.items()},
            "pss_kib": {n: m["pss_kib"] for n, m in memory.items()},
            "children": max(m["children"] for m in memory.values()),
            "first_ms": cold[0],
            "cold_ms": statistics.median(cold),
            "warm_ms": statistics.median(warm),
            "cold_all_ms": [round(v, 3) for v in cold],
            "cpu_ms_per_interp": ((cpu[last] - cpu[first]) - requests_cpu) * 1000 / (last - first),
        }


def run(session, targets):
    rows = []
    for round_index in range(session.rounds):
        for target in rotated(targets, round_index):
            try:
                row = measure_once(session, target)
            except Exception as exc:
                session.note(f"(c) {target.label}, round {round_index + 1}: {exc}")
                continue
            rss = row["rss_kib"]
            session.log(
                f"(c) {target.key:10} round {round_index + 1}: RSS MiB "
                + " ".join(f"{n}:{rss[n] / 1024:.1f}" for n in sorted(rss))
                + f", new interpreter {row['cold_ms']:.1f} ms vs warm {row['warm_ms']:.2f} ms"
                + f", CPU {row['cpu_ms_per_interp']:.1f} ms per interpreter"
            )
            rows.append(dict(row, target=target.key, round=round_index + 1))
    return {"rows": rows, "summary": summarise(rows, targets)}


def summarise(rows, targets):
    out = []
    for target in targets:
        mine = [r for r in rows if r["target"] == target.key]
        if not mine:
            continue
        entry = {"target": target.key, "label": target.label, "gil": target.gil or "shared"}
        for kind in ("rss", "pss"):
            for n in (0,) + CHECKPOINTS:
                entry[f"{kind}_mib_{n}"] = summary([r[f"{kind}_kib"][n] / 1024 for r in mine])
            first, last = CHECKPOINTS[1], CHECKPOINTS[-1]
            entry[f"{kind}_mib_per_interp"] = summary(
                [(r[f"{kind}_kib"][last] - r[f"{kind}_kib"][first]) / 1024 / (last - first) for r in mine]
            )
        entry["cpu_ms_per_interp"] = summary([r["cpu_ms_per_interp"] for r in mine])
        entry["cold_ms"] = summary([r["cold_ms"] for r in mine])
        entry["warm_ms"] = summary([r["warm_ms"] for r in mine])
        entry["first_ms"] = summary([r["first_ms"] for r in mine])
        out.append(entry)
    return out
