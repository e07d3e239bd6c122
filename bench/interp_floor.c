/*
 * interp_floor.c - what a bare sub-interpreter costs in this CPython, with
 * nothing of Hydra in it: the floor under scenario (c). Embeds Python the
 * way Hydra's core does (same PyConfig, same PyInterpreterConfig), creates
 * N interpreters and prints the RSS growth and CPU time per interpreter
 * from the 10th to the last. Build and run (docs/benchmarks.md):
 *
 *   cc -O2 -o /tmp/floor bench/interp_floor.c $(python3-config --includes) \
 *      $(python3-config --ldflags --embed)     [-Wl,-rpath,<prefix>/lib]
 *   /tmp/floor 50 [own]
 */
#include <Python.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long rss_kib(void)
{
    char line[256];
    long kib = 0;
    FILE *f = fopen("/proc/self/status", "r");

    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    }
    if (f)
        fclose(f);
    return kib;
}

static double cpu_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static PyThreadState *new_interpreter(int own_gil)
{
    PyThreadState *ts = NULL;
#if PY_VERSION_HEX >= 0x030C0000
    PyInterpreterConfig config = {
        .use_main_obmalloc = !own_gil,
        .allow_fork = !own_gil,
        .allow_exec = 1,
        .allow_threads = 1,
        .allow_daemon_threads = 1,
        .check_multi_interp_extensions = own_gil,
        .gil = own_gil ? PyInterpreterConfig_OWN_GIL : PyInterpreterConfig_SHARED_GIL,
    };
    if (PyStatus_Exception(Py_NewInterpreterFromConfig(&ts, &config)))
        return NULL;
#else
    (void)own_gil;
    ts = Py_NewInterpreter();
#endif
    return ts;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 50;
    int own_gil = argc > 2 && strcmp(argv[2], "own") == 0;
    PyConfig config;
    PyThreadState *main_ts;
    long rss_at_10 = 0;
    double cpu_at_10 = 0;
    int i;

    if (n <= 10) {
        fprintf(stderr, "usage: %s N (more than 10) [own]\n", argv[0]);
        return 2;
    }
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;
    config.user_site_directory = 0;
    config.parse_argv = 0;
    if (PyStatus_Exception(Py_InitializeFromConfig(&config)))
        return 1;
    PyConfig_Clear(&config);
    main_ts = PyThreadState_Get();
    for (i = 0; i < n; i++) {
        if (i == 10) {
            rss_at_10 = rss_kib();
            cpu_at_10 = cpu_ms();
        }
        if (!new_interpreter(own_gil)) {
            fprintf(stderr, "interpreter %d: creation failed\n", i);
            return 1;
        }
        PyThreadState_Swap(main_ts);
    }
    printf("Python %s, %s GIL: %.2f MiB and %.1f ms CPU per interpreter (10 -> %d)\n", PY_VERSION,
           own_gil ? "own" : "shared", (rss_kib() - rss_at_10) / 1024.0 / (n - 10),
           (cpu_ms() - cpu_at_10) / (n - 10), n);
    return 0;
}
