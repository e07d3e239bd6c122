"""What every scenario shares: the stage, the port, the settings, progress and notes."""

import sys
import time

from . import procfs, wrk
from .apache import Apache, free_port, port_in_use


class Session:
    def __init__(self, stage, rounds, duration, warmup=1):
        self.stage = stage
        self.rounds = rounds
        self.duration = duration
        self.warmup = warmup
        self.port = free_port()
        self.notes = []
        self.started = time.monotonic()

    def elapsed(self):
        return time.monotonic() - self.started

    def log(self, message):
        print(f"[{self.elapsed():6.1f}s] {message}", file=sys.stderr, flush=True)

    def note(self, message):
        """A remark that belongs in the report (a skipped target, a failed run)."""
        if message not in self.notes:
            self.notes.append(message)
        self.log("note: " + message)

    def apache(self, target, label, mpm, body, children=1):
        """An Apache instance for target (not started), on the session's port."""
        if port_in_use(self.port):
            self.port = free_port()
        config = f"{target.load(self.stage)}\n\n{body}"
        return Apache(self.stage, label, self.port, mpm, config, env=target.env, children=children)

    def drive(self, instance, path, connections, host=None, close=False, duration=None):
        """One wrk run, with the instance's CPU time and the neighbours' load read around it."""
        meter = procfs.LoadMeter(instance.pid)
        result = wrk.run(instance.url(path), duration or self.duration, connections, host=host, close=close)
        return dict(result, **_measured(meter, result["requests"]))

    def drive_together(self, instance, path, connections, hosts, close=False, duration=None):
        """One wrk per host, all at once. Returns the summed req/s, the wrk results,
        and the instance's CPU time and the neighbours' load over the whole run."""
        meter = procfs.LoadMeter(instance.pid)
        procs = [
            wrk.start(instance.url(path), duration or self.duration, connections, host=h, close=close)
            for h in hosts
        ]
        results = [wrk.finish(p) for p in procs]
        combined = {
            "rps": sum(r["rps"] for r in results),
            "rps_each": [r["rps"] for r in results],
            "errors": sum(r["non_2xx"] + r["socket_errors"] for r in results),
        }
        return dict(combined, **_measured(meter, sum(r["requests"] for r in results)))


def _measured(meter, requests):
    cpu = meter.apache_seconds()
    return {
        "cpu_seconds": cpu,
        "cpu_us_per_request": cpu * 1e6 / requests if requests else None,
        "apache_cores": meter.apache_cores(),
        "others_cores": meter.others_cores(),
    }
