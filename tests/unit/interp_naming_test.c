/*
 * interp_naming_test.c - unit test of the pure naming policy
 * (src/core/interp_naming.c)
 * against the rules of interpreters.md §3, §5, §6, without Apache.
 * Built and run by `make test` (make unit-test).
 */
#include <stdio.h>
#include <string.h>

#include "apr_general.h"
#include "apr_pools.h"
#include "core/interp_naming.h"

static int failures;

static void expect(const char *what, const naming_input *in, const char *want)
{
    apr_pool_t *p;
    const char *got;

    apr_pool_create(&p, NULL);
    got = naming_resolve(p, in);
    if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0)) {
        printf("FAIL %s: got %s, want %s\n", what, got ? got : "(main)", want ? want : "(main)");
        failures++;
    } else {
        printf("ok   %s\n", what);
    }
    apr_pool_destroy(p);
}

int main(void)
{
    naming_input in;

    apr_initialize();

    memset(&in, 0, sizeof(in));
    in.server_name = "www.example.com";
    expect("default is the server name", &in, "www.example.com");

    in.server_name = "WWW.Example.COM";
    expect("server name is not case-folded", &in, "WWW.Example.COM");

    memset(&in, 0, sizeof(in));
    in.server_name = "www.example.com";
    in.interpreter = "shared";
    in.per_directory = 1;
    in.filename = "/srv/www/x.py";
    expect("PythonInterpreter beats PerDirectory", &in, "shared");

    in.interpreter = "main_interpreter";
    expect("PythonInterpreter main_interpreter is the main interpreter", &in, NULL);

    memset(&in, 0, sizeof(in));
    in.server_name = "www.example.com";
    in.per_directory = 1;
    in.filename = "/srv/www/sub/page.py";
    expect("per-directory name is the file's directory with slash", &in, "/srv/www/sub/");

    in.filename = "/srv/www/sub";
    in.filename_is_dir = 1;
    expect("per-directory name of a directory gets a trailing slash", &in, "/srv/www/sub/");

    in.filename = "/srv/www/sub/";
    expect("per-directory name keeps an existing trailing slash", &in, "/srv/www/sub/");

    in.filename = NULL;
    in.filename_is_dir = 0;
    expect("per-directory without a filename is main", &in, NULL);

    in.filename = "noslash";
    expect("per-directory of a filename without slash is the empty name", &in, "");

    memset(&in, 0, sizeof(in));
    in.server_name = "www.example.com";
    in.per_directory = 1;
    in.per_directive = 1;
    in.handler_dir = "/srv/www/";
    expect("PerDirectory On shadows PerDirective even when it yields main", &in, NULL);

    memset(&in, 0, sizeof(in));
    in.server_name = "www.example.com";
    in.per_directive = 1;
    in.handler_dir = "/api";
    expect("per-directive name is the handler directory verbatim", &in, "/api");

    in.handler_dir = NULL;
    expect("per-directive without a directory is main", &in, NULL);

    in.handler_dir = "";
    expect("per-directive with an empty directory is main", &in, NULL);

    apr_terminate();
    printf("%s\n", failures ? "FAILED" : "all naming tests passed");
    return failures ? 1 : 0;
}
