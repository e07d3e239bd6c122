/*
 * parse_qs_fuzz.c - libFuzzer target for src/objects/util_qs.c:
 * _apache.parse_qs() and parse_qsl(), the C parser of query strings and
 * urlencoded bodies (client data). fuzz_models.check_parse_qs compares both
 * with a reference implementation of the documented rules, in bytes and str
 * mode, with and without keep_blank_values.
 */
#include "fuzz_python.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return fuzz_python_init("check_parse_qs");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_python_check(data, size);
    return 0;
}
