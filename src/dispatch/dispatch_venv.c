/*
 * dispatch_venv.c - applies PythonVirtualEnv inside a new interpreter,
 * before the mod_python package is set up there.
 *
 * Every interpreter of a child gets its sys.path from the one path
 * configuration the process started with (the base installation), so a
 * venv cannot be chosen through PyConfig: it is applied per interpreter,
 * by Python code run in it, doing what site.py does for a venv's own
 * python executable. The directive was checked at configuration time
 * (glue_directives.c); pyvenv.cfg is read again here because its
 * include-system-site-packages key matters only now and the file may have
 * changed since. Must not touch an interpreter without a virtualenv: a
 * configuration that does not use the directive runs exactly as before.
 */
#include "dispatch/dispatch_venv.h"

/* Run in the interpreter; activate(venv) returns (site_dir, system).
 *
 * mod_python is imported first, from wherever the base installation finds
 * it (PYTHONPATH or the base site-packages, where `make install` and the
 * Debian package put it): the package must match this module's C side,
 * and once imported its submodules are found through the package itself,
 * so removing the base site-packages below does not lose it. Only when
 * the base installation has no mod_python is it imported later from the
 * venv's site-packages. Should it fail otherwise, the error says so,
 * rather than blaming the venv.
 *
 * Entries of sys.path at or below a base site-packages directory go
 * (which also drops what base .pth files added there); with
 * include-system-site-packages = true they stay, after the venv's, as in
 * a venv's own python. sys.prefix is set last, as the mark that all is
 * done: a second run in the same interpreter (the main interpreter's
 * initialisation is retried after a failure) then changes nothing, and
 * one after a half-done run finishes the work. */
static const char venv_source[] =
    "import os, site, sys\n"
    "\n"
    "def activate(venv):\n"
    "    system = False\n"
    "    with open(os.path.join(venv, 'pyvenv.cfg'), encoding='utf-8') as f:\n"
    "        for line in f:\n"
    "            key, sep, value = line.partition('=')\n"
    "            if sep and key.strip().lower() == 'include-system-site-packages':\n"
    "                system = value.strip().lower() == 'true'\n"
    "    site_dir = os.path.join(venv, 'lib', 'python%d.%d' % sys.version_info[:2],\n"
    "                            'site-packages')\n"
    "    if sys.prefix == venv:\n"
    "        return site_dir, system\n"
    "    try:\n"
    "        import mod_python\n"
    "    except ModuleNotFoundError as exc:\n"
    "        if exc.name != 'mod_python':\n"
    "            raise RuntimeError('importing mod_python before the venv failed: %r' % exc)\n"
    "    except Exception as exc:\n"
    "        raise RuntimeError('importing mod_python before the venv failed: %r' % exc)\n"
    "    base = [os.path.normpath(d) for d in site.getsitepackages()]\n"
    "\n"
    "    def is_base(entry):\n"
    "        entry = os.path.normpath(entry) if entry else ''\n"
    "        return any(entry == d or entry.startswith(d + os.sep) for d in base)\n"
    "\n"
    "    if not system:\n"
    "        sys.path[:] = [p for p in sys.path if not is_base(p)]\n"
    "    site.PREFIXES[:] = [venv] + (site.PREFIXES if system else [])\n"
    "    site.ENABLE_USER_SITE = False\n"
    "    before = set(sys.path)\n"
    "    site.addsitedir(site_dir)\n"
    "    added = [p for p in sys.path if p not in before]\n"
    "    if system and added:\n"
    "        rest = [p for p in sys.path if p in before]\n"
    "        at = next((i for i, p in enumerate(rest) if is_base(p)), len(rest))\n"
    "        sys.path[:] = rest[:at] + added + rest[at:]\n"
    "    sys.prefix = sys.exec_prefix = venv\n"
    "    return site_dir, system\n";

static void log_failure(server_rec *s, const char *venv, const char *name)
{
    PyObject *type, *value, *tb, *text = NULL;

    PyErr_Fetch(&type, &value, &tb);
    if (value)
        text = PyObject_Str(value);
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                 "HYDRA0240: cannot use PythonVirtualEnv %s in interpreter '%s': %s: %s", venv,
                 name, type ? ((PyTypeObject *)type)->tp_name : "?",
                 text && PyUnicode_Check(text) ? PyUnicode_AsUTF8(text) : "?");
    PyErr_Clear();
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

/* Runs activate(venv) in a namespace of its own, so nothing of it stays
 * visible in __main__ or elsewhere. New reference, or NULL with an
 * exception set. */
static PyObject *run_activate(const char *venv)
{
    PyObject *globals = PyDict_New(), *builtins = PyImport_ImportModule("builtins");
    PyObject *ran = NULL, *fn, *path = NULL, *result = NULL;

    if (globals && builtins && PyDict_SetItemString(globals, "__builtins__", builtins) == 0)
        ran = PyRun_String(venv_source, Py_file_input, globals, globals);
    fn = ran ? PyDict_GetItemString(globals, "activate") : NULL; /* borrowed */
    if (fn)
        path = PyUnicode_DecodeFSDefault(venv);
    if (path)
        result = PyObject_CallOneArg(fn, path);
    Py_XDECREF(path);
    Py_XDECREF(ran);
    Py_XDECREF(builtins);
    Py_XDECREF(globals);
    if (!result && !PyErr_Occurred())
        PyErr_SetString(PyExc_RuntimeError, "the virtualenv set-up code did not run");
    return result;
}

int venv_apply(hydra_interp *interp, server_rec *s)
{
    const char *venv = interp_venv(interp);
    PyObject *result;
    PyObject *site_dir;
    const char *site_text;
    int system;

    if (!venv)
        return 0;
    result = run_activate(venv);
    if (!result || !PyTuple_Check(result) || PyTuple_GET_SIZE(result) != 2) {
        if (result && !PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "the virtualenv set-up returned no (dir, flag) pair");
        Py_XDECREF(result);
        log_failure(s, venv, interp_name(interp));
        return -1;
    }
    site_dir = PyTuple_GET_ITEM(result, 0);
    site_text = PyUnicode_Check(site_dir) ? PyUnicode_AsUTF8(site_dir) : NULL;
    system = PyObject_IsTrue(PyTuple_GET_ITEM(result, 1)) == 1;
    PyErr_Clear(); /* a path that is not UTF-8 is only logged as "?" */
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                 "HYDRA0241: interpreter '%s' uses the virtualenv %s (site-packages %s, %s)",
                 interp_name(interp), venv, site_text ? site_text : "?",
                 system ? "with the base installation's site-packages after it"
                        : "without the base installation's site-packages");
    Py_DECREF(result);
    return 0;
}
