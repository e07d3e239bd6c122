/*
 * glue_venv.c - what PythonVirtualEnv accepts, decided once at
 * configuration time in the Apache parent so that a wrong path fails
 * `apachectl -t` instead of every interpreter creation in every child:
 * a directory holding pyvenv.cfg whose Python X.Y is the one this module
 * embeds (a venv of another X.Y has packages, C extensions above all,
 * that the embedded interpreter cannot load). Touches no Python: the
 * venv is applied inside each interpreter by dispatch_venv.c.
 */
#include "glue/glue_venv.h"

#include "apr_lib.h"
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

/* pyvenv.cfg is a few lines; anything past this is not one. */
#define PYVENV_CFG_MAX_LINES 200

/* The value of `key` in pyvenv.cfg (`key = value` lines, keys compared
 * without case, as site.py does), or NULL. */
static const char *cfg_value(apr_pool_t *p, apr_file_t *f, const char *key)
{
    char line[1024];
    const char *found = NULL;
    int n = 0;

    apr_file_seek(f, APR_SET, &(apr_off_t){0});
    while (n++ < PYVENV_CFG_MAX_LINES && apr_file_gets(line, sizeof(line), f) == APR_SUCCESS) {
        char *eq = strchr(line, '='), *k = line, *end;
        if (!eq)
            continue;
        *eq = '\0';
        while (apr_isspace(*k))
            k++;
        for (end = eq; end > k && apr_isspace(end[-1]); end--)
            ;
        *end = '\0';
        if (strcasecmp(k, key) != 0)
            continue;
        found = eq + 1;
        while (apr_isspace(*found))
            found++;
        found = apr_pstrdup(p, found);
        for (end = (char *)found + strlen(found); end > found && apr_isspace(end[-1]); end--)
            ;
        *end = '\0';
    }
    return found;
}

/* "3.11.2" and virtualenv's "3.11.2.final.0" give 3 and 11. */
static int parse_major_minor(const char *text, long *major, long *minor)
{
    char *end;

    *major = strtol(text, &end, 10);
    if (end == text || *end != '.')
        return -1;
    text = end + 1;
    *minor = strtol(text, &end, 10);
    return end == text ? -1 : 0;
}

const char *venv_check(apr_pool_t *p, const char *arg, const char **canonical)
{
    const char *path = ap_server_root_relative(p, arg);
    char *real;
    const char *cfg_path, *version;
    apr_finfo_t fi;
    apr_file_t *f;
    long major, minor;

    if (!path)
        return apr_psprintf(p, "PythonVirtualEnv: invalid path '%s'", arg);
    real = realpath(path, NULL);
    if (!real)
        return apr_psprintf(p, "PythonVirtualEnv %s: %s", path, strerror(errno));
    path = apr_pstrdup(p, real);
    free(real);
    if (apr_stat(&fi, path, APR_FINFO_TYPE, p) != APR_SUCCESS || fi.filetype != APR_DIR)
        return apr_psprintf(p, "PythonVirtualEnv %s: not a directory", path);

    cfg_path = apr_pstrcat(p, path, "/pyvenv.cfg", NULL);
    if (apr_file_open(&f, cfg_path, APR_FOPEN_READ, APR_FPROT_OS_DEFAULT, p) != APR_SUCCESS)
        return apr_psprintf(p,
                            "PythonVirtualEnv %s: no readable %s, so this is not a virtual "
                            "environment; make one with python%d.%d -m venv %s",
                            path, cfg_path, PY_MAJOR_VERSION, PY_MINOR_VERSION, path);
    /* virtualenv and uv write version_info, the venv module version. */
    version = cfg_value(p, f, "version_info");
    if (!version)
        version = cfg_value(p, f, "version");
    apr_file_close(f);
    if (!version || parse_major_minor(version, &major, &minor) != 0)
        return apr_psprintf(p,
                            "PythonVirtualEnv %s: %s does not say which Python made it (no "
                            "version key); this Hydra embeds Python %s. Recreate it with "
                            "python%d.%d -m venv",
                            path, cfg_path, PY_VERSION, PY_MAJOR_VERSION, PY_MINOR_VERSION);
    if (major != PY_MAJOR_VERSION || minor != PY_MINOR_VERSION)
        return apr_psprintf(p,
                            "PythonVirtualEnv %s was made by Python %ld.%ld (%s: version %s), "
                            "but this Hydra embeds Python %s; recreate it with python%d.%d -m "
                            "venv, or use a Hydra built against Python %ld.%ld",
                            path, major, minor, cfg_path, version, PY_VERSION, PY_MAJOR_VERSION,
                            PY_MINOR_VERSION, major, minor);
    *canonical = path;
    return NULL;
}
