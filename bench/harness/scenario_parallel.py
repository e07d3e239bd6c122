"""Scenario (b): interpreter parallelism and its memory.

Two virtual hosts map to two interpreters; each answers a few ms of pure-Python
arithmetic. One event child (16 threads) is driven on one vhost alone, then on
both at once: (both at once) / (one alone) is about 1 when the interpreters
share a GIL and about 2 on two cores when they do not. Memory: the RSS of that
one child, against two prefork children doing the same work (the usual way to
use two cores with a shared GIL)."""

import importlib.util
import os

from .apache import event_mpm, prefork_mpm
from .stage import BENCH_DIR
from .stats import rotated, summary
from .targets import CPU_URL, VHOSTS, vhosts_config

CONNECTIONS = 4  # per vhost; two wrk at once stay below the 16 event threads
PREFORK_CHILDREN = 2


def expected_body():
    spec = importlib.util.spec_from_file_location("workload", os.path.join(BENCH_DIR, "apps", "workload.py"))
    workload = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(workload)
    return b"%d\n" % workload.burn()


def check_cpu(instance, body):
    for vhost in VHOSTS:
        status, _, got = instance.get(CPU_URL, host=vhost)
        if status != 200 or got != body:
            raise RuntimeError(f"GET {CPU_URL} on {vhost} gave {status} {got[:80]!r}\n{instance.log_tail()}")


def _run_alone(session, instance):
    result = session.drive(instance, CPU_URL, CONNECTIONS, host=VHOSTS[0])
    result["errors"] = result["non_2xx"] + result["socket_errors"]
    return result


def measure_event(session, target, body, alone_first):
    config = vhosts_config(target, session.stage)
    instance = session.apache(target, f"b-event-{target.key}", event_mpm(16), config, 1)
    with instance:
        check_cpu(instance, body)
        session.drive_together(instance, CPU_URL, CONNECTIONS, VHOSTS, duration=session.warmup)
        if alone_first:
            alone = _run_alone(session, instance)
        both = session.drive_together(instance, CPU_URL, CONNECTIONS, VHOSTS)
        memory = instance.memory()
        if not alone_first:
            alone = _run_alone(session, instance)
    ratio = both["rps"] / alone["rps"] if alone["rps"] else None
    return dict(memory, alone=alone, both=both, ratio=ratio)


def measure_prefork(session, target, body):
    config = vhosts_config(target, session.stage)
    instance = session.apache(
        target, f"b-prefork-{target.key}", prefork_mpm(PREFORK_CHILDREN), config, PREFORK_CHILDREN
    )
    with instance:
        check_cpu(instance, body)
        # Connection: close lets either child take any request, so each child
        # ends up with both interpreters, as in a real prefork deployment.
        per_vhost = CONNECTIONS // 2
        session.drive_together(instance, CPU_URL, per_vhost, VHOSTS, close=True, duration=session.warmup)
        both = session.drive_together(instance, CPU_URL, per_vhost, VHOSTS, close=True)
        return dict(instance.memory(), both=both)


def _failed_requests(row):
    return sum(row[step]["errors"] for step in ("alone", "both") if step in row)


def _record(session, rows, label, target, round_index, measure):
    try:
        row = measure()
    except Exception as exc:  # one failed target must not end the whole run
        session.note(f"{label}: {exc}")
        return None
    if _failed_requests(row):
        session.note(f"{label}: {_failed_requests(row)} failed requests")
    rows.append(dict(row, target=target.key, round=round_index + 1))
    return row


def run(session, event_targets, prefork_targets):
    body = expected_body()
    event_rows, prefork_rows = [], []
    for round_index in range(session.rounds):
        for target in rotated(event_targets, round_index):
            row = _record(
                session, event_rows, f"(b) {target.label}, event, round {round_index + 1}", target, round_index,
                lambda: measure_event(session, target, body, alone_first=round_index % 2 == 0),
            )
            if row:
                session.log(
                    f"(b) event   {target.key:10} round {round_index + 1}: alone {row['alone']['rps']:7.1f}, "
                    f"both {row['both']['rps']:7.1f} req/s, x{row['ratio']:.2f}, "
                    f"Apache {row['both']['apache_cores']:.2f} cores, child RSS {row['rss_kib'] / 1024:.1f} MiB, "
                    f"others {max(row['alone']['others_cores'], row['both']['others_cores']):.2f} cores"
                )
        for target in rotated(prefork_targets, round_index):
            row = _record(
                session, prefork_rows, f"(b) {target.label}, prefork x{PREFORK_CHILDREN}, round {round_index + 1}",
                target, round_index, lambda: measure_prefork(session, target, body),
            )
            if row:
                session.log(
                    f"(b) prefork {target.key:10} round {round_index + 1}: both {row['both']['rps']:7.1f} req/s, "
                    f"Apache {row['both']['apache_cores']:.2f} cores, "
                    f"{row['children']} children RSS {row['rss_kib'] / 1024:.1f} MiB, "
                    f"others {row['both']['others_cores']:.2f} cores"
                )
    return {
        "event_rows": event_rows,
        "prefork_rows": prefork_rows,
        "summary": summarise(event_rows, prefork_rows, event_targets, prefork_targets),
    }


def _mib(rows, field):
    return summary([r[field] / 1024 for r in rows if r.get(field)])


def _step(rows, step, field):
    return summary([r[step][field] for r in rows])


def summarise(event_rows, prefork_rows, event_targets, prefork_targets):
    event, prefork = [], []
    for target in event_targets:
        mine = [r for r in event_rows if r["target"] == target.key]
        if mine:
            event.append({
                "target": target.key, "label": target.label, "gil": target.gil or "shared",
                "alone_rps": _step(mine, "alone", "rps"),
                "both_rps": _step(mine, "both", "rps"),
                "ratio": summary([r["ratio"] for r in mine]),
                "apache_cores_both": _step(mine, "both", "apache_cores"),
                "cpu_us_both": _step(mine, "both", "cpu_us_per_request"),
                "children": max(r["children"] for r in mine),
                "rss_mib": _mib(mine, "rss_kib"), "pss_mib": _mib(mine, "pss_kib"),
            })
    for target in prefork_targets:
        mine = [r for r in prefork_rows if r["target"] == target.key]
        if mine:
            prefork.append({
                "target": target.key, "label": target.label,
                "both_rps": _step(mine, "both", "rps"),
                "apache_cores_both": _step(mine, "both", "apache_cores"),
                "cpu_us_both": _step(mine, "both", "cpu_us_per_request"),
                "children": max(r["children"] for r in mine),
                "rss_mib": _mib(mine, "rss_kib"), "pss_mib": _mib(mine, "pss_kib"),
            })
    return {"event": event, "prefork": prefork}
