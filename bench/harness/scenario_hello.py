"""Scenario (a): hello world (text/plain, 12 bytes) under the event and prefork MPMs.

Per round, each target gets a fresh Apache, a check that it answers the right
bytes, a warm-up that reaches every child, and one measured wrk run. The ratio
to the C ceiling is taken within a round, then summarised over rounds."""

from . import wrk
from .apache import event_mpm, prefork_mpm
from .stage import BODY
from .stats import rotated, summary
from .targets import HELLO_URL

CONNECTIONS = 8  # fewer than the 16 event threads: more would make event close keep-alives
MPMS = {
    "event": (event_mpm(16), 1),
    "prefork": (prefork_mpm(16), 16),
}


def check_hello(instance):
    status, headers, body = instance.get(HELLO_URL)
    content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    if status != 200 or body != BODY or not content_type.startswith("text/plain"):
        raise RuntimeError(
            f"GET {HELLO_URL} gave {status} {content_type!r} {body[:80]!r}\n{instance.log_tail()}"
        )


def measure_once(session, target, mpm_name):
    mpm, children = MPMS[mpm_name]
    instance = session.apache(target, f"a-{mpm_name}-{target.key}", mpm, target.hello(session.stage), children)
    with instance:
        check_hello(instance)
        # Connection: close spreads the warm-up over every prefork child.
        wrk.run(instance.url(HELLO_URL), session.warmup, CONNECTIONS, close=True)
        return session.drive(instance, HELLO_URL, CONNECTIONS)


def run(session, targets):
    rows = []
    for round_index in range(session.rounds):
        for mpm_name in MPMS:
            for target in rotated(targets, round_index):
                try:
                    result = measure_once(session, target, mpm_name)
                except Exception as exc:  # one failed target must not end the whole run
                    session.note(f"(a) {target.label}, {mpm_name}, round {round_index + 1}: {exc}")
                    continue
                if result["non_2xx"] or result["socket_errors"]:
                    session.note(
                        f"(a) {target.label}, {mpm_name}, round {round_index + 1}: "
                        f"{result['non_2xx']} non-2xx, {result['socket_errors']} socket errors"
                    )
                session.log(
                    f"(a) {mpm_name:7} {target.key:10} round {round_index + 1}: "
                    f"{result['rps']:9.0f} req/s, {result['cpu_us_per_request'] or 0:6.1f} us CPU/req, "
                    f"others {result['others_cores']:.2f} cores"
                )
                rows.append(dict(result, mpm=mpm_name, target=target.key, round=round_index + 1))
    return {"rows": rows, "summary": summarise(rows, targets)}


def summarise(rows, targets):
    out = []
    for mpm_name in MPMS:
        ceiling = {r["round"]: r for r in rows if r["mpm"] == mpm_name and r["target"] == "ceiling"}
        for target in targets:
            mine = [r for r in rows if r["mpm"] == mpm_name and r["target"] == target.key]
            if not mine:
                continue
            rps_ratio = [r["rps"] / ceiling[r["round"]]["rps"] for r in mine if r["round"] in ceiling]
            cpu_ratio = [
                r["cpu_us_per_request"] / ceiling[r["round"]]["cpu_us_per_request"]
                for r in mine
                if r["round"] in ceiling and r["cpu_us_per_request"] and ceiling[r["round"]]["cpu_us_per_request"]
            ]
            out.append(
                {
                    "mpm": mpm_name,
                    "target": target.key,
                    "label": target.label,
                    "rps": summary([r["rps"] for r in mine]),
                    "rps_vs_ceiling": summary(rps_ratio),
                    "cpu_us_per_request": summary([r["cpu_us_per_request"] for r in mine]),
                    "cpu_vs_ceiling": summary(cpu_ratio),
                    "latency_p50_ms": summary([r.get("latency_p50_ms") for r in mine]),
                    "latency_p99_ms": summary([r.get("latency_p99_ms") for r in mine]),
                }
            )
    return out
