"""Reads CPU time and memory of an Apache instance from /proc.

An instance is its parent process and the children whose parent it is. The
parent's own time includes the time of children it already reaped (cutime,
cstime), so a child that exits during a run is still counted."""

import os
import resource

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid):
    """Fields of /proc/PID/stat after the command name, or None if gone.

    Index 0 is field 3 (state) of proc(5), so field N is at index N - 3."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw[raw.rindex(b")") + 2 :].split()


def children(parent_pid):
    """Pids whose parent is parent_pid (the MPM's children)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(entry)
        if fields is not None and int(fields[1]) == parent_pid:
            found.append(int(entry))
    return sorted(found)


def instance_cpu_seconds(parent_pid):
    """User + system CPU seconds used so far by the instance (parent, children, reaped children)."""
    parent = _stat_fields(parent_pid)
    if parent is None:
        return 0.0
    utime, stime, cutime, cstime = (int(v) for v in parent[11:15])
    ticks = utime + stime + cutime + cstime
    for pid in children(parent_pid):
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def _kib_field(path, name):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory_kib(pid):
    """(RSS, PSS) of one process in KiB. PSS splits pages shared with other processes fairly."""
    rss = _kib_field(f"/proc/{pid}/status", "VmRSS")
    pss = _kib_field(f"/proc/{pid}/smaps_rollup", "Pss")
    return rss, pss


def children_memory_kib(parent_pid):
    """Sum of (RSS, PSS) over the instance's children, and how many there were."""
    pids = children(parent_pid)
    rss = pss = 0
    for pid in pids:
        r, p = memory_kib(pid)
        rss += r
        pss += p
    return rss, pss, len(pids)


def machine_busy_seconds():
    """CPU seconds all cores have spent running processes since boot (from /proc/stat).

    Interrupt time is left out: on loopback most of it is the benchmark's own
    traffic, and no process is charged for it. Steal time (the hypervisor
    running someone else) is kept: it is noise like a busy neighbour."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + steal) / CLOCK_TICKS


def own_and_waited_seconds():
    """CPU seconds of this process plus the children it has waited for (wrk)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class LoadMeter:
    """How many cores something other than the measured Apache, wrk and this
    harness kept busy during a run: the noise the neighbours add."""

    def __init__(self, apache_pid):
        self.apache_pid = apache_pid
        self.wall = os.times().elapsed
        self.busy = machine_busy_seconds()
        self.apache = instance_cpu_seconds(apache_pid)
        self.ours = own_and_waited_seconds()

    def apache_seconds(self):
        return instance_cpu_seconds(self.apache_pid) - self.apache

    def wall_seconds(self):
        return os.times().elapsed - self.wall

    def apache_cores(self):
        """How many cores the instance kept busy on average: at most about 1
        while its Python work holds one shared GIL."""
        wall = self.wall_seconds()
        return self.apache_seconds() / wall if wall > 0 else None

    def others_cores(self):
        """Call after the run, once wrk has been waited for."""
        wall = self.wall_seconds()
        busy = machine_busy_seconds() - self.busy
        mine = self.apache_seconds() + own_and_waited_seconds() - self.ours
        return max(0.0, busy - mine) / wall if wall > 0 else None
