"""
session_store_servers.py - private redis-server and memcached processes for
the session store tests (test_session_stores.py, test_multinode_sessions.py).

Owns: starting Debian's /usr/bin/redis-server and /usr/bin/memcached on a
given address (127.0.0.1, or a namespace address when `netns` names a
network namespace the test made), waiting until they answer, stopping,
pausing and restarting them by their own pid. Never touches a system
service: every process here is a child of the test.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REDIS_BIN = "/usr/bin/redis-server"
MEMCACHED_BIN = "/usr/bin/memcached"


def have_redis():
    return os.path.exists(REDIS_BIN)


def have_memcached():
    return os.path.exists(MEMCACHED_BIN)


class PortTaken(RuntimeError):
    """Another process answers on the port (it took it between free_port()
    and our server's bind: other test runs start servers too)."""


def _free_port(host):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class _StoreProcess:
    """One store process; subclasses say how to start it."""

    def __init__(self, host, port=None, netns=None):
        """port None: a free port, chosen again if another process takes it."""
        self.host, self.netns = host, netns
        self.fixed_port = port is not None
        self.port = port if port is not None else _free_port(host)
        self.dir = tempfile.mkdtemp(prefix="hydra-store-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.proc = None
        self.paused = False

    def _prefix(self):
        return ["ip", "netns", "exec", self.netns] if self.netns else []

    def command(self):
        raise NotImplementedError

    def server_pid(self):
        """The pid the server on our port reports about itself."""
        raise NotImplementedError

    def _wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PortTaken("%s exited with %s during start-up (port %d)"
                                % (self.proc.args[-1], self.proc.returncode, self.port))
            try:
                pid = self.server_pid()
            except Exception:
                time.sleep(0.05)
                continue
            if pid != self.proc.pid:
                raise PortTaken("port %d answers for pid %s, not ours" % (self.port, pid))
            return
        raise RuntimeError("nothing answers on %s:%d after %.0fs" % (self.host, self.port, timeout))

    def start(self):
        for attempt in range(5):
            log = open(os.path.join(self.dir, "server.log"), "ab")
            try:
                self.proc = subprocess.Popen(self._prefix() + self.command(), stdout=log,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             cwd=self.dir)
            finally:
                log.close()
            try:
                self._wait_ready()
                self.fixed_port = True  # a restart must come back where clients look
                return self
            except PortTaken:
                self.stop()
                if self.fixed_port or attempt == 4:
                    raise
                self.port = _free_port(self.host)
            except BaseException:
                self.stop()
                raise

    def pause(self):
        """SIGSTOP: the port still accepts connections but nothing answers."""
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def kill(self):
        """Stops the process at once (SIGKILL), waits for it."""
        if self.proc is not None and self.proc.poll() is None:
            if self.paused:
                self.resume()
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            if self.paused:
                self.resume()
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


class RedisServer(_StoreProcess):
    """redis-server without persistence except an explicit SHUTDOWN SAVE
    (see shutdown_saving), so a restart keeps the sessions."""

    def __init__(self, host, port=None, netns=None, unix_socket=False, extra=()):
        _StoreProcess.__init__(self, host, port, netns)
        self.socket_path = os.path.join(self.dir, "redis.sock") if unix_socket else None
        self.extra = list(extra)

    def command(self):
        cmd = [REDIS_BIN, "--bind", self.host, "--port", str(self.port), "--save", "",
               "--appendonly", "no", "--dir", self.dir, "--dbfilename", "dump.rdb",
               "--daemonize", "no", "--protected-mode", "no", "--databases", "4"]
        if self.socket_path:
            cmd += ["--unixsocket", self.socket_path, "--unixsocketperm", "777"]
        return cmd + self.extra

    @property
    def url(self):
        return "redis://%s:%d/0" % (self.host, self.port)

    def client(self):
        import redis
        return redis.Redis(host=self.host, port=self.port, socket_timeout=5)

    def server_pid(self):
        import redis
        return int(redis.Redis(host=self.host, port=self.port, socket_timeout=1,
                               socket_connect_timeout=1).info("server")["process_id"])

    def shutdown_saving(self):
        """SHUTDOWN SAVE: the data goes to dump.rdb, which start() loads."""
        try:
            self.client().shutdown(save=True)
        except Exception:
            pass
        self.proc.wait(timeout=10)


class MemcachedServer(_StoreProcess):

    def __init__(self, host, port=None, netns=None, extra=()):
        _StoreProcess.__init__(self, host, port, netns)
        self.extra = list(extra)

    def command(self):
        return [MEMCACHED_BIN, "-l", self.host, "-p", str(self.port), "-U", "0", "-u", "nobody",
                "-m", "64", "-t", "2"] + self.extra

    def server_pid(self):
        from pymemcache.client.base import Client
        client = Client((self.host, self.port), timeout=1, connect_timeout=1)
        try:
            return int(client.stats()[b"pid"])
        finally:
            client.close()

    @property
    def servers(self):
        return "%s:%d" % (self.host, self.port)

    def client(self):
        from pymemcache.client.base import Client
        return Client((self.host, self.port), timeout=5, connect_timeout=5,
                      default_noreply=False)
