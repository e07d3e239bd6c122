/*
 * table_fuzz.c - libFuzzer target for src/objects/table.c: mp_table, the
 * mapping over APR tables that holds the request headers (client data).
 * fuzz_models.check_table runs the input as a program of table operations
 * (add, set, get, delete, iterate while changing, copy, update, popitem,
 * setdefault, repr) and checks every result against a plain Python
 * model of APR's semantics.
 */
#include "fuzz_python.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return fuzz_python_init("check_table");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_python_check(data, size);
    return 0;
}
