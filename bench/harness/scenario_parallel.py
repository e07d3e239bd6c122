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


def measure_event(session, target, body, alone_first):
    config = vhosts_config(target, session.stage)
    instance = session.apache(target, f"b-event-{target.key}", event_mpm(16), config, 1)
    with instance:
        check_cpu(instance, body)
        session.drive_together(instance, CPU_URL, CONNECTIONS, VHOSTS, duration=session.warmup)
        steps = ["alone", "both"] if alone_first else ["both", "alone"]
        row = {}
        for step in steps:
            if step == "alone":
                alone = session.drive(instance, CPU_URL, CONNECTIONS, host=VHOSTS[0])
                row.update(alone_rps=alone["rps"], cpu_us_alone=alone["cpu_us_per_request"],
                           errors_alone=alone["non_2xx"] + alone["socket_errors"],
                           others_cores_alone=alone["others_cores"])
            else:
                both, cpu_per_request, others = session.drive_together(instance, CPU_URL, CONNECTIONS, VHOSTS)
                row.update(both_rps=sum(r["rps"] for r in both), both_rps_each=[r["rps"] for r in both],
                           cpu_us_both=cpu_per_request, others_cores_both=others,
                           errors_both=sum(r["non_2xx"] + r["socket_errors"] for r in both))
                row.update(instance.memory())
        row["ratio"] = row["both_rps"] / row["alone_rps"] if row["alone_rps"] else None
        return row


def measure_prefork(session, target, body):
    config = vhosts_config(target, session.stage)
    instance = session.apache(
        target, f"b-prefork-{target.key}", prefork_mpm(PREFORK_CHILDREN), config, PREFORK_CHILDREN
    )
    with instance:
        check_cpu(instance, body)
        # Connection: close lets either child take any request, so each child
        # ends up with both interpreters, as in a real prefork deployment.
        session.drive_together(instance, CPU_URL, CONNECTIONS // 2, VHOSTS, close=True, duration=session.warmup)
        both, cpu_per_request, others = session.drive_together(
            instance, CPU_URL, CONNECTIONS // 2, VHOSTS, close=True
        )
        row = {"both_rps": sum(r["rps"] for r in both), "cpu_us_both": cpu_per_request, "others_cores_both": others,
               "errors_both": sum(r["non_2xx"] + r["socket_errors"] for r in both)}
        row.update(instance.memory())
        return row


def run(session, event_targets, prefork_targets):
    body = expected_body()
    event_rows, prefork_rows = [], []
    for round_index in range(session.rounds):
        for target in rotated(event_targets, round_index):
            label = f"(b) {target.label}, event, round {round_index + 1}"
            try:
                row = measure_event(session, target, body, alone_first=round_index % 2 == 0)
            except Exception as exc:
                session.note(f"{label}: {exc}")
                continue
            if row["errors_alone"] or row["errors_both"]:
                session.note(f"{label}: {row['errors_alone'] + row['errors_both']} failed requests")
            session.log(
                f"(b) event   {target.key:10} round {round_index + 1}: alone {row['alone_rps']:7.1f}, "
                f"both {row['both_rps']:7.1f} req/s, x{row['ratio']:.2f}, child RSS {row['rss_kib'] / 1024:.1f} MiB, "
                f"others {max(row['others_cores_alone'], row['others_cores_both']):.2f} cores"
            )
            event_rows.append(dict(row, target=target.key, round=round_index + 1))
        for target in rotated(prefork_targets, round_index):
            label = f"(b) {target.label}, prefork x{PREFORK_CHILDREN}, round {round_index + 1}"
            try:
                row = measure_prefork(session, target, body)
            except Exception as exc:
                session.note(f"{label}: {exc}")
                continue
            if row["errors_both"]:
                session.note(f"{label}: {row['errors_both']} failed requests")
            session.log(
                f"(b) prefork {target.key:10} round {round_index + 1}: both {row['both_rps']:7.1f} req/s, "
                f"{row['children']} children RSS {row['rss_kib'] / 1024:.1f} MiB, others {row['others_cores_both']:.2f} cores"
            )
            prefork_rows.append(dict(row, target=target.key, round=round_index + 1))
    return {
        "event_rows": event_rows,
        "prefork_rows": prefork_rows,
        "summary": summarise(event_rows, prefork_rows, event_targets, prefork_targets),
    }


def _mib(rows, field):
    return summary([r[field] / 1024 for r in rows if r.get(field)])


def summarise(event_rows, prefork_rows, event_targets, prefork_targets):
    event, prefork = [], []
    for target in event_targets:
        mine = [r for r in event_rows if r["target"] == target.key]
        if mine:
            event.append({
                "target": target.key, "label": target.label, "gil": target.gil or "shared",
                "alone_rps": summary([r["alone_rps"] for r in mine]),
                "both_rps": summary([r["both_rps"] for r in mine]),
                "ratio": summary([r["ratio"] for r in mine]),
                "cpu_us_both": summary([r["cpu_us_both"] for r in mine]),
                "children": max(r["children"] for r in mine),
                "rss_mib": _mib(mine, "rss_kib"), "pss_mib": _mib(mine, "pss_kib"),
            })
    for target in prefork_targets:
        mine = [r for r in prefork_rows if r["target"] == target.key]
        if mine:
            prefork.append({
                "target": target.key, "label": target.label,
                "both_rps": summary([r["both_rps"] for r in mine]),
                "cpu_us_both": summary([r["cpu_us_both"] for r in mine]),
                "children": max(r["children"] for r in mine),
                "rss_mib": _mib(mine, "rss_kib"), "pss_mib": _mib(mine, "pss_kib"),
            })
    return {"event": event, "prefork": prefork}
