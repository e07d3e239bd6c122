/*
 * naming.c - the interpreter naming policy of interpreters.md §3, §5, §6.
 *
 * Pure: no Apache calls, no Python, no file system (the caller says whether
 * r->filename is a directory), so tests can drive it directly.
 */
#include "core/interp_naming.h"

#include <string.h>

#include "apr_strings.h"

/* §5: the directory of the requested file, always with a trailing '/'. */
static const char *per_directory_name(apr_pool_t *p, const naming_input *in)
{
    const char *slash;
    size_t len;

    if (!in->filename)
        return NULL;
    len = strlen(in->filename);
    if (in->filename_is_dir) {
        if (len > 0 && in->filename[len - 1] == '/')
            return in->filename;
        return apr_pstrcat(p, in->filename, "/", NULL);
    }
    slash = strrchr(in->filename, '/');
    if (!slash)
        return "";
    return apr_pstrmemdup(p, in->filename, slash - in->filename + 1);
}

const char *naming_resolve(apr_pool_t *p, const naming_input *in)
{
    const char *name;

    if (in->interpreter)
        name = in->interpreter;
    else if (in->per_directory)
        name = per_directory_name(p, in);
    else if (in->per_directive)
        name = (in->handler_dir && *in->handler_dir) ? in->handler_dir : NULL;
    else
        name = in->server_name;

    /* interpreters.md §5 edge case: upstream keeps "" as a name for a
     * filename without '/'; only NULL means the main interpreter. */
    if (name && strcmp(name, "main_interpreter") == 0)
        return NULL;
    return name;
}
