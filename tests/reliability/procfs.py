"""
procfs.py - what the reliability tests read about Apache's processes from
/proc: resident memory, the children of a parent, and the slope of a series
of samples. No HTTP, no Apache configuration.
"""

import os


def rss_kib(pid):
    """Resident set size of `pid` in KiB (VmRSS), or None if it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def children(ppid):
    """Pids whose parent is `ppid` (not zombies), sorted."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == ppid and fields[0] != "Z":
            found.append(int(entry))
    return sorted(found)


def slope_per_minute(samples):
    """Least-squares slope of [(seconds, value), ...] in value units per
    minute; 0.0 for fewer than two samples."""
    n = len(samples)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    var_t = sum((t - mean_t) ** 2 for t, _ in samples)
    if var_t == 0:
        return 0.0
    cov = sum((t - mean_t) * (v - mean_v) for t, v in samples)
    return cov / var_t * 60.0
