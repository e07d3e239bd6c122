"""
netns_hosts.py - test hosts in network namespaces, for the several-node
session test (test_multinode_sessions.py).

Owns: one bridge in the test's own namespace and, per host, a namespace
joined to it by a veth pair, all on one /24 the test picks among addresses
no route of this machine uses; running a command inside a host; and
removing every namespace, veth, bridge and process it made, even when the
test failed (also from atexit). Needs root and iproute2 (`ip`).
Traffic stays on the bridge: no forwarding, no route to anywhere else.
"""

import atexit
import os
import re
import shutil
import signal
import subprocess
import time

IP = shutil.which("ip") or "/usr/sbin/ip"


def available():
    """(True, "") when this process may make namespaces, else (False, why)."""
    if os.geteuid() != 0:
        return False, "network namespaces need root"
    if not os.path.exists(IP):
        return False, "iproute2 (ip) not installed"
    return True, ""


def _ip(*args, check=True):
    proc = subprocess.run([IP] + list(args), capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), (proc.stderr or proc.stdout).strip()))
    return proc


def _subnet_in_use(prefix):
    routes = _ip("-4", "route", "show", "table", "all").stdout
    addrs = _ip("-4", "addr", "show").stdout
    return (prefix + ".") in routes or (prefix + ".") in addrs


class Network:
    """A bridge and the hosts on it. host(name) makes one and returns its
    address; run(name, argv) gives the argv that runs inside it."""

    def __init__(self):
        self.tag = "h%d" % os.getpid()   # names stay <= 15 chars: pids have <= 7 digits
        self.bridge = self.tag + "br"
        self.namespaces = {}   # host name -> namespace name
        self.addresses = {}    # host name -> address
        self.prefix = None
        self._closed = False
        atexit.register(self.close)

    def start(self):
        remove_stale()
        for third in range(14, 250):
            prefix = "10.214.%d" % third
            if not _subnet_in_use(prefix):
                self.prefix = prefix
                break
        else:
            raise RuntimeError("no free 10.214.x.0/24 for the test hosts")
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", self.prefix + ".1/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        return self

    @property
    def gateway(self):
        """This namespace's own address on the bridge (where the front runs)."""
        return self.prefix + ".1"

    def host(self, name, number):
        ns = "hydra-%s-%s" % (self.tag, name)
        inner, outer = "%s%si" % (self.tag, number), "%s%so" % (self.tag, number)
        address = "%s.%d" % (self.prefix, number)
        _ip("netns", "add", ns)
        self.namespaces[name] = ns
        _ip("link", "add", inner, "type", "veth", "peer", "name", outer)
        _ip("link", "set", inner, "netns", ns)
        _ip("link", "set", outer, "master", self.bridge)
        _ip("link", "set", outer, "up")
        _ip("-n", ns, "addr", "add", address + "/24", "dev", inner)
        _ip("-n", ns, "link", "set", inner, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        self.addresses[name] = address
        return address

    def namespace(self, name):
        return self.namespaces[name]

    def run(self, name, argv):
        return [IP, "netns", "exec", self.namespaces[name]] + list(argv)

    def _pids(self, ns):
        out = _ip("netns", "pids", ns, check=False).stdout.split()
        return [int(p) for p in out if p.isdigit()]

    def close(self):
        """Kills what still runs in our namespaces (all of it started by the
        test), then removes the namespaces, their veths and the bridge."""
        if self._closed:
            return
        self._closed = True
        for ns in self.namespaces.values():
            for pid in self._pids(ns):
                try:
                    os.kill(pid, signal.SIGCONT)
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(self._pids(ns) for ns in self.namespaces.values()):
            time.sleep(0.05)
        for ns in self.namespaces.values():
            _ip("netns", "del", ns, check=False)
        # Deleting a namespace deletes the veth in it and so its peer here,
        # a moment later.
        _ip("link", "del", self.bridge, check=False)
        deadline = time.monotonic() + 10
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.1)

    def leftovers(self):
        """Namespaces and links of ours that still exist (for the test's own check)."""
        names = _ip("netns", "list", check=False).stdout
        links = _ip("-o", "link", "show", check=False).stdout
        left = [ns for ns in self.namespaces.values() if ns in names]
        left += [line.split(":")[1].strip().split("@")[0] for line in links.splitlines()
                 if line.split(":")[1].strip().startswith(self.tag)]
        return left


def remove_stale():
    """Removes the namespaces and bridges of earlier runs whose test process
    is gone (killed before it could clean up); runs of other live test
    processes are left alone. Only names this module makes are touched."""
    names = _ip("netns", "list", check=False).stdout.split("\n")
    for line in names:
        match = re.match(r"^(hydra-h(\d+)-\S+)", line)
        if not match or os.path.exists("/proc/%s" % match.group(2)):
            continue
        ns = match.group(1)
        for pid in _ip("netns", "pids", ns, check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGCONT)
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        _ip("netns", "del", ns, check=False)
        _ip("link", "del", "h%sbr" % match.group(2), check=False)
