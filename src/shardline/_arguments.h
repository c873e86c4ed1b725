/*
 * What Shardline's C extensions share: the check of a METH_FASTCALL function's
 * argument count (they all take positional arguments only, as their .pyi stubs say).
 */
#ifndef SHARDLINE_ARGUMENTS_H
#define SHARDLINE_ARGUMENTS_H

#include <Python.h>

/* 1 when a function got exactly ``expected`` positional arguments; else 0 with
 * TypeError set. */
static inline int
takes(const char *name, Py_ssize_t nargs, Py_ssize_t expected)
{
    if (nargs == expected)
        return 1;
    PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, expected,
                 nargs);
    return 0;
}

#endif
