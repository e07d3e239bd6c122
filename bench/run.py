#!/usr/bin/python3
"""Hydra benchmark harness: `make bench`, or /usr/bin/python3 bench/run.py --help.

Starts its own Apache instances on 127.0.0.1 (one at a time, generated config,
temporary ServerRoot), drives them with wrk, prints markdown tables and writes
bench/results/latest.json. See bench/README.md for what each scenario measures."""

import argparse
import datetime
import os
import platform
import signal
import subprocess
import sys

from harness import report, scenario_asgi, scenario_hello, scenario_interp_cost, scenario_parallel, scenario_pool
from harness.apache import APACHE, stop_all
from harness.session import Session
from harness.stage import BENCH_DIR, REPO_DIR, Stage, linked_python
from harness.targets import Ceiling, ModPythonApi, ModWsgi, StaticFile

MOD_PYTHON_SO = "/usr/lib/apache2/modules/mod_python.so"
MOD_WSGI_SO = "/usr/lib/apache2/modules/mod_wsgi.so"
DEFAULT_HYDRA_SO = os.path.join(REPO_DIR, "build", "py3.11", "mod_hydra.so")
DEFAULT_HYDRA_SO_OWN = os.path.join(REPO_DIR, "build", "py3.13", "mod_hydra.so")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds per scenario; the targets alternate within each (default 3)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per measured wrk run (default 5)")
    parser.add_argument("--scenario", choices=["a", "b", "c", "d", "e", "all"], default="all",
                        help="a: hello world, b: interpreter parallelism, c: interpreter cost, "
                             "d: ASGI (Starlette, FastAPI) against uvicorn, e: interpreter pools "
                             "(needs --hydra-so-own) (default all)")
    parser.add_argument("--hydra-so", default=os.environ.get("HYDRA_SO") or DEFAULT_HYDRA_SO,
                        help="Hydra built for the default Python (default: $HYDRA_SO, which `make bench` "
                             "sets, else build/py3.11/mod_hydra.so)")
    parser.add_argument("--hydra-so-own", default=DEFAULT_HYDRA_SO_OWN,
                        help="Hydra built for Python >= 3.12, for the own-GIL runs and the "
                             "interpreter pools of scenario e (default build/py3.13/mod_hydra.so)")
    parser.add_argument("--hydra-so-baseline", default="",
                        help="another Hydra build for the default Python (e.g. one built from the "
                             "commit before a change) measured in the same run as target "
                             "hydra-baseline, so that a change is compared in one run")
    parser.add_argument("--targets", default="",
                        help="comma-separated targets to run (default: all available): ceiling, static, "
                             "hydra, hydra-controls, hydra-baseline, hydra-own, hydra-shared-own-build, hydra-pool, "
                             "mod_python, mod_wsgi")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="stage the Hydra package and the handlers without byte-compiling them "
                             "(the children cannot write __pycache__ there)")
    parser.add_argument("--hydra-package", default="",
                        help="the mod_python package the Hydra targets use (default python/mod_python; "
                             "e.g. an older tree's, with --hydra-so of that tree's build)")
    parser.add_argument("--hydra-directives", default="",
                        help="server-level directives for every Hydra target, lines separated by ';' "
                             "(e.g. 'PythonBytecodeCache On')")
    parser.add_argument("--json", default=os.path.join(BENCH_DIR, "results", "latest.json"),
                        help="where to write the results (default bench/results/latest.json)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the staging directory (generated configs, error logs)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.duration < 1:
        parser.error("--rounds and --duration must be at least 1")
    # Apache resolves a relative LoadModule path against its ServerRoot, not our directory.
    for name in ("hydra_so", "hydra_so_own", "hydra_so_baseline"):
        if getattr(args, name):
            setattr(args, name, os.path.abspath(getattr(args, name)))
    return args


def hydra_targets(args, session):
    """Hydra for the default Python, and (from a 3.12+ build) own-GIL and shared-GIL variants."""
    found = []
    directives = "\n".join(d.strip() for d in args.hydra_directives.split(";") if d.strip())
    if not os.path.exists(args.hydra_so):
        session.note(f"Hydra skipped: {args.hydra_so} does not exist (run `make` first)")
    elif linked_python(args.hydra_so) is None:
        session.note(f"Hydra skipped: ldd finds no libpython for {args.hydra_so}")
    else:
        python = linked_python(args.hydra_so)
        found.append(ModPythonApi("hydra", f"Hydra (py{python.version})", args.hydra_so, python=python,
                                  directives=directives))
        # The same module with the production controls armed for every
        # request (issue 12: the watchdog's slot on every call must cost
        # under 3 %); the server-wide metrics are always on.
        controls = "\n".join(filter(None, [directives, "PythonRequestTimeout 30",
                                            "PythonSlowRequestLog 10000"]))
        found.append(ModPythonApi("hydra-controls", f"Hydra (py{python.version}), timeout + slow log",
                                  args.hydra_so, python=python, directives=controls))
    if args.hydra_so_baseline:
        python = linked_python(args.hydra_so_baseline) if os.path.exists(args.hydra_so_baseline) else None
        if python is None:
            session.note(f"Hydra baseline skipped: {args.hydra_so_baseline} is missing or has no libpython")
        else:
            found.append(ModPythonApi("hydra-baseline", f"Hydra baseline (py{python.version})",
                                      args.hydra_so_baseline, python=python, directives=directives))
    if not os.path.exists(args.hydra_so_own):
        session.note(f"Hydra own-GIL skipped: {args.hydra_so_own} does not exist "
                     "(build it with `make PYTHON=/path/to/python3.13`)")
        return found
    python = linked_python(args.hydra_so_own)
    if python is None or python.version_tuple < (3, 12):
        session.note(f"Hydra own-GIL skipped: {args.hydra_so_own} is not linked to a Python 3.12 or later")
        return found
    found.append(ModPythonApi("hydra-own", f"Hydra (py{python.version}, own GIL)", args.hydra_so_own,
                              gil="own", python=python, directives=directives))
    found.append(ModPythonApi("hydra-shared-own-build", f"Hydra (py{python.version}, shared GIL)",
                              args.hydra_so_own, python=python, directives=directives))
    # Scenario (e) writes its own PythonInterpPool and GIL lines.
    found.append(ModPythonApi("hydra-pool", f"Hydra py{python.version}", args.hydra_so_own, python=python,
                              directives=directives))
    return found


def discover_targets(args, session):
    targets = [Ceiling(session.stage.build_ceiling()), StaticFile()]
    targets += hydra_targets(args, session)
    if os.path.exists(MOD_PYTHON_SO):
        targets.append(ModPythonApi("mod_python", "mod_python 3.5", MOD_PYTHON_SO, hydra=False))
    else:
        session.note("mod_python skipped: libapache2-mod-python is not installed")
    if os.path.exists(MOD_WSGI_SO):
        targets.append(ModWsgi(MOD_WSGI_SO))
    else:
        session.note("mod_wsgi skipped: libapache2-mod-wsgi-py3 is not installed")
    if args.targets:
        wanted = set(args.targets.split(","))
        unknown = wanted - {t.key for t in targets}
        if unknown:
            session.note("unknown or unavailable targets ignored: " + ", ".join(sorted(unknown)))
        targets = [t for t in targets if t.key in wanted]
    for target in targets:
        target.prepare(session.stage)
    return {t.key: t for t in targets}


def pick(targets, keys):
    return [targets[k] for k in keys if k in targets]


def run_scenarios(args, session, targets):
    results = {}
    if args.scenario in ("a", "all"):
        hello = pick(targets, ["ceiling", "static", "hydra", "hydra-controls", "hydra-baseline", "mod_python",
                               "mod_wsgi"])
        if "ceiling" not in targets:
            session.note("(a) ratios need the C ceiling: add ceiling to --targets")
        results["a"] = scenario_hello.run(session, hello)
    if args.scenario in ("b", "all"):
        event = pick(targets, ["hydra", "hydra-shared-own-build", "hydra-own", "mod_python", "mod_wsgi"])
        prefork = pick(targets, ["hydra", "hydra-shared-own-build", "mod_python", "mod_wsgi"])
        results["b"] = scenario_parallel.run(session, event, prefork)
    if args.scenario in ("c", "all"):
        results["c"] = scenario_interp_cost.run(
            session, pick(targets, ["hydra", "hydra-shared-own-build", "hydra-own", "mod_python"])
        )
    if args.scenario in ("d", "all"):
        results["d"] = scenario_asgi.run(session, targets.get("hydra"))
    if args.scenario in ("e", "all"):
        if "hydra-pool" in targets:
            results["e"] = scenario_pool.run(session, targets["hydra-pool"])
        elif args.targets and os.path.exists(args.hydra_so_own):
            session.note("(e) skipped: it runs target hydra-pool, which --targets leaves out")
        else:
            session.note("(e) skipped: interpreter pools need Hydra built for Python >= 3.12 "
                         f"(--hydra-so-own, now {args.hydra_so_own}; make PYTHON=/path/to/python3.13)")
    return results


def _first_line(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True).stdout
        return out.splitlines()[0].strip() if out else ""
    except OSError:
        return ""


def describe(args, targets):
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}",
        "load_average_at_start": os.getloadavg(),
        "apache": _first_line([APACHE, "-v"]),
        "wrk": _first_line(["wrk", "--version"]),
        "rounds": args.rounds,
        "duration": args.duration,
        "scenario": args.scenario,
        "bytecode": not args.no_bytecode,
        "hydra_directives": args.hydra_directives,
        "hydra_package": args.hydra_package or "python/mod_python",
        "targets": {
            key: {"label": t.label, "module": getattr(t, "so", None),
                  "python": getattr(getattr(t, "python", None), "version", None), "gil": t.gil or None}
            for key, t in targets.items()
        },
    }


def _shown_path(path):
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _interrupted(signum, frame):
    """SIGTERM unwinds like Ctrl-C, so main's finally stops the servers this run started."""
    raise KeyboardInterrupt


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    stage = Stage(keep=args.keep, bytecode=not args.no_bytecode, hydra_package=args.hydra_package or None)
    session = Session(stage, args.rounds, args.duration)
    try:
        session.log(f"staging in {stage.root}, port {session.port}")
        targets = discover_targets(args, session)
        meta = describe(args, targets)
        results = run_scenarios(args, session, targets)
        text = report.markdown(results, meta, session.notes)
        if "d" in results:
            text += "\n" + scenario_asgi.tables(results["d"])
        if "e" in results:
            text += "\n" + scenario_pool.tables(results["e"])
        meta["elapsed_seconds"] = round(session.elapsed(), 1)
        report.write_json(args.json, results, meta, session.notes)
        print(text)
        print(f"(results: {_shown_path(args.json)}, {meta['elapsed_seconds']:.0f} s)")
    except KeyboardInterrupt:
        print("interrupted: stopping the servers this run started", file=sys.stderr)
        return 130
    finally:
        stop_all()
        stage.remove()
        if args.keep:
            print(f"(staging kept in {stage.root})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
