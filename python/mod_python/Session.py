"""mod_python.Session: sessions identified by a cookie, stored in a dbm
file, in one file per session, or in memory (python-api.md §15).

Locking: a session holds a cross-process mutex chosen from its id
(_apache._global_lock) from construction until the request ends. When this
build of _apache has no session mutexes, Session falls back to locks that
serialise only the threads of one process (see _SessionLocks) and says so
once in the error log.

Session ids are the MD5 of the time, the pid, two random numbers and the
client address, as upstream; the random numbers come from the secrets
module rather than a pool of seeded generators.
"""

import hashlib
import os
import pickle
import random
import re
import secrets
import tempfile
import threading
import time

from . import apache, Cookie

try:
    import dbm as _default_dbm
except ImportError:  # pragma: no cover - dbm is part of the stdlib
    _default_dbm = None

import _apache

COOKIE_NAME = "pysid"
DFT_TIMEOUT = 30 * 60  # seconds
DFT_LOCK = True
CLEANUP_CHANCE = 1000  # cleanup runs for about one new session in this many

tempdir = tempfile.gettempdir()

_SID_FORMAT = re.compile(r"^[0-9a-f]{32}$")


def _new_sid(req):
    text = "%d%d%d%d%s" % (int(time.time() * 10000), os.getpid(),
                           secrets.randbelow(1000000000), secrets.randbelow(1000000000),
                           req.connection.client_ip)
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _valid_sid(sid):
    return isinstance(sid, str) and _SID_FORMAT.match(sid) is not None


# ---------------------------------------------------------------------------
# Locks

class _SessionLocks:
    """Stand-in for the cross-process session mutexes when _apache has none:
    the same index arithmetic (index 0 reserved for dbm files, a stable hash
    of the key for the others) over threading locks, so it serialises the
    threads of one process only."""

    COUNT = 8

    def __init__(self):
        self._locks = [threading.Lock() for _ in range(self.COUNT)]
        self._warned = False

    def _index(self, key, index):
        if index >= 0:
            if index >= self.COUNT:
                raise ValueError("Lock index %d out of range" % index)
            return index
        # FNV-1a: the same in every process, unlike hash() on str.
        value = 0x811C9DC5
        for byte in str(key).encode("utf-8"):
            value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
        return value % (self.COUNT - 1) + 1

    def _warn_once(self, server):
        if not self._warned:
            self._warned = True
            apache.log_error("HYDRA0504: mod_python.Session: _apache has no session mutexes; "
                             "sessions are locked per process only", apache.APLOG_WARNING,
                             server)

    def lock(self, server, key, index=-1):
        self._warn_once(server)
        self._locks[self._index(key, index)].acquire()

    def trylock(self, server, key, index=-1):
        self._warn_once(server)
        return self._locks[self._index(key, index)].acquire(blocking=False)

    def unlock(self, server, key, index=-1):
        lock = self._locks[self._index(key, index)]
        if lock.locked():
            lock.release()


_fallback_locks = _SessionLocks()


def _global_lock(server, key, index=-1):
    function = getattr(_apache, "_global_lock", None)
    if function is None:
        return _fallback_locks.lock(server, key, index)
    return function(server, key, index)


def _global_trylock(server, key, index=-1):
    function = getattr(_apache, "_global_trylock", None)
    if function is None:
        return _fallback_locks.trylock(server, key, index)
    return function(server, key, index)


def _global_unlock(server, key, index=-1):
    function = getattr(_apache, "_global_unlock", None)
    if function is None:
        return _fallback_locks.unlock(server, key, index)
    return function(server, key, index)


def unlock_session_cleanup(sess):
    sess.unlock()


# ---------------------------------------------------------------------------
# The session

def _option(options, *keys, default=None):
    """The value of the first of `keys` set in `options`."""
    for key in keys:
        value = options.get(key)
        if value is not None:
            return value
    return default


class BaseSession(dict):
    """A dict that is loaded from and saved to a store, keyed by a session
    id that travels in a cookie. Subclasses provide do_load, do_save,
    do_delete and do_cleanup."""

    def __init__(self, req, sid=None, secret=None, lock=1, timeout=0):
        dict.__init__(self)
        self._req, self._sid, self._secret = req, sid, secret
        self._lock = lock
        self._new = 1
        self._created = 0
        self._accessed = 0
        self._timeout = 0
        self._locked = 0
        self._invalid = 0

        options = req.get_options()
        self._cookie_name = _option(options, "mod_python.session.cookie_name",
                                    "session_cookie_name", default=COOKIE_NAME)
        if not self._sid:
            self._sid = self._sid_from_cookie(req, secret)
        if self._sid and not _valid_sid(self._sid):
            if sid:
                raise ValueError("Invalid Session ID: sid=%s" % sid)
            self._sid = None  # forged or damaged cookie: start afresh

        self.init_lock()

        if self._sid:
            self.lock()
            if self.load():
                self._new = 0

        if self._new:
            if self._sid:
                self.unlock()
            self._sid = _new_sid(req)
            self.lock()
            Cookie.add_cookie(req, self.make_cookie())
            self._created = time.time()
            self._timeout = timeout or DFT_TIMEOUT

        self._accessed = time.time()

        if random.randint(1, CLEANUP_CHANCE) == 1:
            self.cleanup()

    def _sid_from_cookie(self, req, secret):
        if secret:
            cookie = Cookie.get_cookie(req, self._cookie_name, Class=Cookie.SignedCookie,
                                       secret=secret, mismatch=Cookie.Cookie.IGNORE)
        else:
            cookie = Cookie.get_cookie(req, self._cookie_name)
        return cookie.value if cookie is not None else None

    def make_cookie(self):
        options = self._req.get_options()
        if self._secret:
            cookie = Cookie.SignedCookie(self._cookie_name, self._sid, secret=self._secret)
        else:
            cookie = Cookie.Cookie(self._cookie_name, self._sid)
        domain = options.get("mod_python.session.application_domain")
        if domain is not None:
            cookie.domain = domain
        cookie.path = _option(options, "mod_python.session.application_path",
                              "ApplicationPath", default=None) or self._default_cookie_path()
        return cookie

    def _default_cookie_path(self):
        """The URL path of the directory whose configuration runs the
        handler; "/" when that cannot be worked out."""
        req = self._req
        directory = req.hlist.directory
        if not directory:
            return "/"
        docroot = req.document_root()
        path = directory[len(docroot):] if directory.startswith(docroot) else directory
        if not path or not (req.uri or "").startswith(path):
            return "/"
        return path

    def invalidate(self):
        cookie = self.make_cookie()
        cookie.expires = 0
        Cookie.add_cookie(self._req, cookie)
        self.delete()
        self._invalid = 1

    def load(self):
        data = self.do_load()
        if data is None:
            return 0
        if time.time() - data["_accessed"] > data["_timeout"]:
            return 0
        self._created = data["_created"]
        self._accessed = data["_accessed"]
        self._timeout = data["_timeout"]
        self.update(data["_data"])
        return 1

    def save(self):
        if not self._invalid:
            self.do_save({"_data": self.copy(),
                          "_created": self._created,
                          "_accessed": self._accessed,
                          "_timeout": self._timeout})

    def delete(self):
        self.do_delete()
        self.clear()

    def init_lock(self):
        pass

    def lock(self):
        if self._lock:
            _global_lock(self._req.server, self._sid)
            self._locked = 1
            self._req.register_cleanup(unlock_session_cleanup, self)

    def unlock(self):
        if self._lock and self._locked:
            _global_unlock(self._req.server, self._sid)
            self._locked = 0

    def is_new(self):
        return not not self._new

    def id(self):
        return self._sid

    def created(self):
        return self._created

    def last_accessed(self):
        return self._accessed

    def timeout(self):
        return self._timeout

    def set_timeout(self, secs):
        self._timeout = secs

    def cleanup(self):
        self.do_cleanup()

    def do_load(self):
        raise NotImplementedError

    def do_save(self, dict):
        raise NotImplementedError

    def do_delete(self):
        raise NotImplementedError

    def do_cleanup(self):
        raise NotImplementedError

    def __del__(self):
        try:
            self.unlock()
        except Exception:
            pass


# ---------------------------------------------------------------------------
# DbmSession: every session in one dbm file

def _dbm_path(options):
    filename = _option(options, "mod_python.dbm_session.database_filename", "session_dbm")
    if filename:
        return filename
    directory = _option(options, "mod_python.dbm_session.database_directory",
                        "mod_python.session.database_directory")
    if directory:
        return os.path.join(directory, "mp_sess.dbm")
    return os.path.join(options.get("session_directory", tempdir), "mp_sess.dbm")


class _DbmFile:
    """The session dbm file, opened under the global lock index 0 (reserved
    for it) for the duration of a `with` block."""

    def __init__(self, server, filename, dbmtype):
        self.server, self.filename, self.dbmtype = server, filename, dbmtype

    def __enter__(self):
        _global_lock(self.server, None, 0)
        try:
            self.db = self.dbmtype.open(self.filename, "c", 0o600)
        except BaseException:
            _global_unlock(self.server, None, 0)
            raise
        return self.db

    def __exit__(self, *exc):
        try:
            self.db.close()
        finally:
            _global_unlock(self.server, None, 0)


def dbm_cleanup(data):
    """Request cleanup: removes the expired sessions from the dbm file."""
    server, filename, dbmtype = data
    now = time.time()
    with _DbmFile(server, filename, dbmtype) as db:
        for key in list(db.keys()):
            try:
                session = pickle.loads(db[key])
                expired = now - session["_accessed"] > session["_timeout"]
            except Exception:
                expired = True
            if expired:
                del db[key]


class DbmSession(BaseSession):

    def __init__(self, req, dbm=None, sid=0, secret=None, dbmtype=_default_dbm,
                 timeout=0, lock=1):
        self._dbmfile = dbm or _dbm_path(req.get_options())
        self._dbmtype = dbmtype
        BaseSession.__init__(self, req, sid=sid, secret=secret, timeout=timeout, lock=lock)

    def _dbm(self):
        return _DbmFile(self._req.server, self._dbmfile, self._dbmtype)

    def _key(self):
        return self._sid.encode("ascii")

    def do_cleanup(self):
        self._req.register_cleanup(dbm_cleanup,
                                   (self._req.server, self._dbmfile, self._dbmtype))

    def do_load(self):
        with self._dbm() as db:
            try:
                return pickle.loads(db[self._key()])
            except KeyError:
                return None

    def do_save(self, dict):
        with self._dbm() as db:
            db[self._key()] = pickle.dumps(dict)

    def do_delete(self):
        with self._dbm() as db:
            try:
                del db[self._key()]
            except KeyError:
                pass


# ---------------------------------------------------------------------------
# FileSession: one file per session

FS_STAT_VERSION = "MPFS_3.2"
DFT_FAST_CLEANUP = True
DFT_VERIFY_CLEANUP = True
DFT_GRACE_PERIOD = 240
DFT_CLEANUP_TIME_LIMIT = 2

_STALE_CLEANUP_LOCK = 3600  # seconds after which a cleanup lock file is ignored


def true_or_false(item):
    """Reads a boolean option: yes/true/1 or no/false/0, any case."""
    if isinstance(item, bool):
        return item
    text = str(item).strip().lower()
    if text in ("yes", "true", "1"):
        return True
    if text in ("no", "false", "0"):
        return False
    raise ValueError("Value is not a boolean: %r" % (item,))


def make_filesession_dirs(sess_dir):
    """Creates <sess_dir> and its 256 sub-directories 00 .. ff."""
    os.makedirs(sess_dir, 0o700, exist_ok=True)
    for i in range(256):
        os.makedirs(os.path.join(sess_dir, "%02x" % i), 0o700, exist_ok=True)


class FileSession(BaseSession):

    def __init__(self, req, sid=0, secret=None, timeout=0, lock=1,
                 fast_cleanup=-1, verify_cleanup=-1):
        options = req.get_options()
        if fast_cleanup == -1:
            fast_cleanup = _option(options, "mod_python.file_session.enable_fast_cleanup",
                                   "session_fast_cleanup", default=DFT_FAST_CLEANUP)
        if verify_cleanup == -1:
            verify_cleanup = _option(options, "mod_python.file_session.verify_session_timeout",
                                     "session_verify_cleanup", default=DFT_VERIFY_CLEANUP)
        self._fast_cleanup = true_or_false(fast_cleanup)
        self._verify_cleanup = true_or_false(verify_cleanup)
        self._grace_period = int(_option(options, "mod_python.file_session.cleanup_grace_period",
                                         "session_grace_period", default=DFT_GRACE_PERIOD))
        self._cleanup_time_limit = int(_option(
            options, "mod_python.file_session.cleanup_time_limit",
            "session_cleanup_time_limit", default=DFT_CLEANUP_TIME_LIMIT))
        directory = _option(options, "mod_python.file_session.database_directory",
                            "mod_python.session.database_directory", "session_directory",
                            default=tempdir)
        self._sessdir = os.path.join(directory, "mp_sess")
        BaseSession.__init__(self, req, sid=sid, secret=secret, timeout=timeout, lock=lock)

    def _path(self):
        return os.path.join(self._sessdir, self._sid[:2], self._sid)

    def _own_lock(self):
        """Without session locking, each file operation locks the id itself."""
        if not self._lock:
            _global_lock(self._req.server, self._sid)
            return True
        return False

    def _own_unlock(self, taken):
        if taken:
            _global_unlock(self._req.server, self._sid)

    def do_cleanup(self):
        data = {"sessdir": self._sessdir,
                "server": self._req.server,
                "fast_cleanup": self._fast_cleanup,
                "verify_cleanup": self._verify_cleanup,
                "timeout": self._timeout,
                "grace_period": self._grace_period,
                "cleanup_time_limit": self._cleanup_time_limit}
        self._req.register_cleanup(filesession_cleanup, data)
        self._req.log_error("HYDRA0505: FileSession: registered filesession cleanup.", apache.APLOG_NOTICE)

    def do_load(self):
        taken = self._own_lock()
        try:
            path = self._path()
            try:
                with open(path, "rb") as file:
                    data = pickle.load(file)
            except (FileNotFoundError, NotADirectoryError):
                return None
            except (EOFError, pickle.UnpicklingError, ValueError):
                return None  # a damaged file is a missing session
            # The mtime tells the fast cleanup when the session was last used;
            # an expired session is not being used (upstream touches only
            # live ones too), so the cleanup may still delete it.
            try:
                live = time.time() - data["_accessed"] <= data["_timeout"]
            except (KeyError, TypeError):
                live = False
            if live:
                os.utime(path, None)
            return data
        finally:
            self._own_unlock(taken)

    def do_save(self, dict):
        taken = self._own_lock()
        try:
            path = self._path()
            if not os.path.isdir(os.path.dirname(path)):
                make_filesession_dirs(self._sessdir)
            # Write then rename, so a reader never sees half a file.
            temp = "%s.%d.%d.tmp" % (path, os.getpid(), threading.get_ident())
            with open(temp, "wb") as file:
                os.chmod(temp, 0o600)
                pickle.dump(dict, file, 2)
            os.replace(temp, path)
        finally:
            self._own_unlock(taken)

    def do_delete(self):
        taken = self._own_lock()
        try:
            try:
                os.unlink(self._path())
            except FileNotFoundError:
                pass
        finally:
            self._own_unlock(taken)


class _CleanupStatus:
    """fs_status.txt: "MPFS_3.2 next_index expired total seconds", where
    the next cleanup resumes scanning sub-directories at next_index."""

    def __init__(self, sess_dir):
        self.path = os.path.join(sess_dir, "fs_status.txt")

    def next_index(self):
        try:
            with open(self.path) as file:
                fields = file.read().split()
            if fields and fields[0] == FS_STAT_VERSION:
                return int(fields[1]) % 256
        except (OSError, ValueError, IndexError):
            pass
        return 0

    def write(self, next_index, expired, total, seconds):
        with open(self.path, "w") as file:
            file.write("%s %d %d %d %f\n" % (FS_STAT_VERSION, next_index, expired, total, seconds))


def _take_cleanup_lock(lock_path):
    """Creates the cleanup lock file; False if another cleanup holds it.
    A lock file older than an hour is left over from a crash: replaced."""
    for _ in range(2):
        try:
            os.close(os.open(lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            return True
        except FileExistsError:
            try:
                if time.time() - os.stat(lock_path).st_mtime < _STALE_CLEANUP_LOCK:
                    return False
                os.unlink(lock_path)
            except FileNotFoundError:
                pass
    return False


def _session_expired(path, now, data):
    """Whether the session file `path` has expired (data: cleanup options)."""
    grace = data["grace_period"]
    if data["fast_cleanup"]:
        if os.stat(path).st_mtime + data["timeout"] + grace >= now:
            return False
        if not data["verify_cleanup"]:
            return True
    try:
        with open(path, "rb") as file:
            session = pickle.load(file)
    except (EOFError, pickle.UnpicklingError, ValueError):
        return True
    return session["_accessed"] + session["_timeout"] + grace < now


def _clean_subdir(sub_dir, now, data, server):
    """Deletes the expired sessions of one sub-directory; (expired, total)."""
    expired = total = 0
    for sid in os.listdir(sub_dir):
        if not _valid_sid(sid):
            continue
        total += 1
        path = os.path.join(sub_dir, sid)
        if not _global_trylock(server, sid):
            continue  # in use by a request right now
        try:
            if _session_expired(path, now, data):
                os.unlink(path)
                expired += 1
        except OSError:
            pass
        finally:
            _global_unlock(server, sid)
    return expired, total


def filesession_cleanup(data):
    """Request cleanup: scans the session directories for expired sessions,
    resuming where the previous run stopped, for at most cleanup_time_limit
    seconds (0: no limit)."""
    sess_dir = data["sessdir"]
    server = data["server"]
    if not os.path.isdir(sess_dir):
        return
    lock_path = os.path.join(sess_dir, ".mp_sess.lck")
    if not _take_cleanup_lock(lock_path):
        apache.log_error("HYDRA0506: FileSession cleanup: another cleanup is running, skipped.",
                         apache.APLOG_NOTICE, server)
        return
    started = time.time()
    try:
        status = _CleanupStatus(sess_dir)
        index = status.next_index()
        expired = total = scanned = 0
        limit = data["cleanup_time_limit"]
        while scanned < 256:
            sub_dir = os.path.join(sess_dir, "%02x" % index)
            if os.path.isdir(sub_dir):
                sub_expired, sub_total = _clean_subdir(sub_dir, time.time(), data, server)
                expired += sub_expired
                total += sub_total
            index = (index + 1) % 256
            scanned += 1
            if limit and time.time() - started > limit:
                break
        elapsed = time.time() - started
        status.write(index if scanned < 256 else 0, expired, total, elapsed)
        apache.log_error("HYDRA0507: FileSession cleanup: %d of %d sessions expired, %.3f seconds"
                         % (expired, total, elapsed), apache.APLOG_NOTICE, server)
    finally:
        try:
            os.unlink(lock_path)
        except OSError:
            pass


# ---------------------------------------------------------------------------
# MemorySession: a dict in this interpreter of this process

def mem_cleanup(sdict):
    now = time.time()
    for sid, data in list(sdict.items()):
        try:
            if now - data["_accessed"] > data["_timeout"]:
                del sdict[sid]
        except (KeyError, TypeError):
            pass


class MemorySession(BaseSession):

    sdict = {}

    def __init__(self, req, sid=0, secret=None, timeout=0, lock=1):
        BaseSession.__init__(self, req, sid=sid, secret=secret, timeout=timeout, lock=lock)

    def do_cleanup(self):
        self._req.register_cleanup(mem_cleanup, MemorySession.sdict)

    def do_load(self):
        return MemorySession.sdict.get(self._sid)

    def do_save(self, dict):
        MemorySession.sdict[self._sid] = dict

    def do_delete(self):
        MemorySession.sdict.pop(self._sid, None)


# ---------------------------------------------------------------------------
# The factory

def _automatic_session_type():
    """MemorySession when all requests are served by threads of a single
    process, DbmSession otherwise."""
    threaded = apache.mpm_query(apache.AP_MPMQ_IS_THREADED)
    forked = apache.mpm_query(apache.AP_MPMQ_IS_FORKED)
    if threaded and (not forked or apache.mpm_query(apache.AP_MPMQ_MAX_DAEMONS) == 1):
        return "MemorySession"
    return "DbmSession"


def Session(req, sid=0, secret=None, timeout=0, lock=1):
    options = req.get_options()
    session_type = _option(options, "mod_python.session.session_type", "session")
    if session_type is None:
        session_type = _automatic_session_type()
    if session_type == "FileSession":
        return FileSession(req, sid=sid, secret=secret, timeout=timeout, lock=lock)
    if session_type == "DbmSession":
        return DbmSession(req, sid=sid, secret=secret, timeout=timeout, lock=lock)
    if session_type == "MemorySession":
        return MemorySession(req, sid=sid, secret=secret, timeout=timeout, lock=lock)
    if session_type in ("RedisSession", "MemcachedSession"):
        # Shared stores for several nodes: mod_python/_session_stores.py.
        from . import _session_stores
        return getattr(_session_stores, session_type)(req, sid=sid, secret=secret,
                                                      timeout=timeout, lock=lock)
    raise Exception("Unknown session type %s" % session_type)
