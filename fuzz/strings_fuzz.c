/*
 * strings_fuzz.c - libFuzzer target for src/objects/strings.c: the
 * conversions every client string goes through on its way into Python
 * (header values, URIs, arguments: UTF-8 with surrogateescape, Latin-1) and
 * back to Apache. fuzz_models.check_strings checks the round trips byte for
 * byte.
 */
#include "fuzz_python.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return fuzz_python_init("check_strings");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_python_check(data, size);
    return 0;
}
