/*
 * cppcheck-python.h - forced into every file by `make lint`: CPython's
 * statement macros, so that cppcheck can parse Hydra without Python.h
 * (whose platform #error checks stop cppcheck's preprocessor).
 */
#define Py_BEGIN_ALLOW_THREADS                                                                     \
    {                                                                                              \
        PyThreadState *_save = PyEval_SaveThread();
#define Py_END_ALLOW_THREADS                                                                       \
    PyEval_RestoreThread(_save);                                                                   \
    }
