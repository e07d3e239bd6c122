/*
 * fuzz_python.h - what every Hydra fuzz target shares: one embedded CPython
 * in the fuzzing process, the C functions under test exposed to it as the
 * built-in module `_hydra_fuzz`, and a check function from fuzz_models.py
 * that each input is handed to.
 *
 * A target is two lines (see parse_qs_fuzz.c): initialise with the name of
 * its check function, then pass every input on. A check that raises, or a
 * sanitizer report from the C code under test, ends the run with the input
 * saved by libFuzzer.
 */
#ifndef HYDRA_FUZZ_PYTHON_H
#define HYDRA_FUZZ_PYTHON_H

#include <stddef.h>
#include <stdint.h>

/* Starts Python once and looks up fuzz_models.<check_name>. 0 on success;
 * exits the process with a message otherwise. */
int fuzz_python_init(const char *check_name);

/* Calls the check with the input as bytes; aborts on any exception. */
void fuzz_python_check(const uint8_t *data, size_t size);

#endif /* HYDRA_FUZZ_PYTHON_H */
