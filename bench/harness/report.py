"""Turns the scenario summaries into markdown tables (stdout) and results/latest.json."""

import json
import os

from .stats import summary


def _num(value, digits):
    return f"{value:,.{digits}f}" if abs(value) >= 1000 and digits == 0 else f"{value:.{digits}f}"


def fmt(stat, digits=0, prefix=""):
    """'median (min–max)', or '—' when the target has no sample."""
    if not stat:
        return "—"
    med = prefix + _num(stat["median"], digits)
    if stat["n"] < 2:
        return med
    return f"{med} ({_num(stat['min'], digits)}–{_num(stat['max'], digits)})"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def hello_tables(result):
    out = []
    for mpm in ("event", "prefork"):
        rows = [s for s in result["summary"] if s["mpm"] == mpm]
        if not rows:
            continue
        shape = "one child, 16 threads" if mpm == "event" else "16 children"
        out.append(f"### (a) hello world, {mpm} MPM ({shape}), wrk -t1 -c8\n")
        out.append(table(
            ["target", "req/s", "× ceiling", "Apache CPU µs/req", "CPU × ceiling", "p50 ms", "p99 ms"],
            [[s["label"], fmt(s["rps"]), fmt(s["rps_vs_ceiling"], 2), fmt(s["cpu_us_per_request"], 1),
              fmt(s["cpu_vs_ceiling"], 2), fmt(s["latency_p50_ms"], 2), fmt(s["latency_p99_ms"], 2)]
             for s in rows],
        ))
        out.append("")
    return "\n".join(out)


def parallel_tables(result):
    out = []
    event = result["summary"]["event"]
    if event:
        out.append("### (b) two interpreters in one event child (16 threads), two vhosts, wrk -t1 -c4 per vhost\n")
        out.append(table(
            ["target", "GIL", "one alone req/s", "both at once req/s", "both ÷ alone", "Apache cores (both)",
             "CPU µs/req (both)", "child RSS MiB", "child PSS MiB"],
            [[s["label"], s["gil"], fmt(s["alone_rps"], 1), fmt(s["both_rps"], 1), fmt(s["ratio"], 2, "×"),
              fmt(s["apache_cores_both"], 2), fmt(s["cpu_us_both"]), fmt(s["rss_mib"], 1), fmt(s["pss_mib"], 1)]
             for s in event],
        ))
        out.append("")
    prefork = result["summary"]["prefork"]
    if prefork:
        out.append("### (b) the same two vhosts on two prefork children (the shared-GIL way to use two cores)\n")
        out.append(table(
            ["target", "children", "both at once req/s", "Apache cores", "CPU µs/req", "RSS MiB (all children)",
             "PSS MiB (all children)"],
            [[s["label"], s["children"], fmt(s["both_rps"], 1), fmt(s["apache_cores_both"], 2),
              fmt(s["cpu_us_both"]), fmt(s["rss_mib"], 1), fmt(s["pss_mib"], 1)] for s in prefork],
        ))
        out.append("")
    return "\n".join(out)


def interp_cost_tables(result):
    rows = result["summary"]
    if not rows:
        return ""
    out = ["### (c) interpreter cost: one event child, PythonInterpPerDirectory over 50 folders\n"]
    out.append(table(
        ["target", "GIL", "RSS MiB: none", "1 interp", "10", "50", "MiB per interp (10→50)",
         "PSS MiB per interp", "CPU ms per interp", "new-interpreter request ms", "warm request ms"],
        [[s["label"], s["gil"], fmt(s["rss_mib_0"], 1), fmt(s["rss_mib_1"], 1), fmt(s["rss_mib_10"], 1),
          fmt(s["rss_mib_50"], 1), fmt(s["rss_mib_per_interp"], 2), fmt(s["pss_mib_per_interp"], 2),
          fmt(s["cpu_ms_per_interp"], 1), fmt(s["cold_ms"], 1), fmt(s["warm_ms"], 2)] for s in rows],
    ))
    out.append("")
    return "\n".join(out)


def neighbour_loads(results):
    """Cores kept busy by other processes during each measured run."""
    values = [row.get("others_cores") for row in results.get("a", {}).get("rows", [])]
    for row in results.get("b", {}).get("event_rows", []) + results.get("b", {}).get("prefork_rows", []):
        values += [row[step]["others_cores"] for step in ("alone", "both") if step in row]
    return [v for v in values if v is not None]


def neighbour_line(results, busy=0.25):
    loads = neighbour_loads(results)
    if not loads:
        return ""
    line = f"Other processes kept {fmt(summary(loads), 2)} cores busy during the measured runs"
    disturbed = sum(1 for v in loads if v > busy)
    if disturbed:
        line += f"; {disturbed} of {len(loads)} runs had more than {busy} cores of neighbours, so expect more than 5 % noise"
    return line + ".\n"


def markdown(results, meta, notes):
    parts = [
        "## Hydra benchmark",
        "",
        f"{meta['rounds']} rounds × {meta['duration']} s per run; cells are median (min–max) over rounds. "
        "Differences under about 5 % are noise on this machine.",
        "",
    ]
    if "a" in results:
        parts.append(hello_tables(results["a"]))
    if "b" in results:
        parts.append(parallel_tables(results["b"]))
    if "c" in results:
        parts.append(interp_cost_tables(results["c"]))
    neighbours = neighbour_line(results)
    if neighbours:
        parts.append(neighbours)
    if notes:
        parts.append("Notes:\n")
        parts += [f"- {n.splitlines()[0]}" for n in notes]
        parts.append("")
    return "\n".join(parts)


def write_json(path, results, meta, notes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"meta": meta, "notes": notes, "results": results}, f, indent=1, default=str)
        f.write("\n")
