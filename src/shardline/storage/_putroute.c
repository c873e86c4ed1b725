/*
 * shardline.storage._putroute: the per-record loops of a PutRecords call's storage
 * step (routing and sequence-key assignment), in C.
 *
 * Why C: a call carries up to 500 records, and in Python each of these loops cost
 * 0.3-0.4 us of server CPU per record (a hash object per key, a bisect, a named
 * tuple per outcome, list appends), more than a third of what storing a record
 * costs in all. Here the same work is a few tens of nanoseconds per record. The
 * semantics are those of the Python they replaced, documented in
 * ``storage/records.py``; ``_putroute.pyi`` gives the types.
 *
 * Memory: every object made here is owned by a list or tuple handed back, or
 * released on the error path before NULL is returned; borrowed references are
 * only read while the caller's arguments keep them alive.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "../_arguments.h"

/* MD5() is the one-shot, allocation-free digest: the EVP interface costs a context
 * per call. OpenSSL 3 marks it deprecated, not removed; asking for the 1.1 API keeps
 * it declared without the deprecation warning. */
#define OPENSSL_API_COMPAT 0x10100000L
#include <openssl/md5.h>

#define HASH_BYTES 16

/* The index of the route whose start is the greatest one <= digest (bisect_right - 1
 * over the sorted 16-byte big-endian starts), or -1 when digest is below them all. */
static Py_ssize_t
route_of(const unsigned char *digest, const char *const *starts, Py_ssize_t count)
{
    Py_ssize_t lo = 0, hi = count;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (memcmp(digest, starts[mid], HASH_BYTES) < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo - 1;
}

/* The starts as C pointers, after checking each is 16 bytes; NULL with an exception
 * set otherwise. The caller frees the array with PyMem_Free. */
static const char **
start_pointers(PyObject *starts)
{
    Py_ssize_t count = PyList_GET_SIZE(starts);
    if (count == 0) {
        PyErr_SetString(PyExc_ValueError, "no open shard to route to");
        return NULL;
    }
    const char **out = PyMem_New(const char *, count);
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *start = PyList_GET_ITEM(starts, i);
        if (!PyBytes_CheckExact(start) || PyBytes_GET_SIZE(start) != HASH_BYTES) {
            PyMem_Free(out);
            PyErr_SetString(PyExc_ValueError, "route starts must be 16-byte bytes");
            return NULL;
        }
        out[i] = PyBytes_AS_STRING(start);
    }
    return out;
}

PyDoc_STRVAR(hash_route_doc,
"hash_route(keys, datas, starts) -> (encoded, routes, sizes)\n\n"
"For each record: its partition key in UTF-8, the route its key's MD5 falls in\n"
"(the index of the last start <= the digest, ``bisect_right(starts, md5) - 1``),\n"
"and its size (data plus encoded key). A key that is not encodable raises\n"
"UnicodeEncodeError, as ``str.encode`` does.");

static PyObject *
hash_route(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!takes("hash_route", nargs, 3))
        return NULL;
    PyObject *keys = args[0], *datas = args[1], *starts = args[2];
    if (!PyList_CheckExact(keys) || !PyList_CheckExact(datas) || !PyList_CheckExact(starts)) {
        PyErr_SetString(PyExc_TypeError, "hash_route takes three lists");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(keys);
    if (PyList_GET_SIZE(datas) != count) {
        PyErr_SetString(PyExc_ValueError, "keys and datas differ in length");
        return NULL;
    }
    const char **start_at = start_pointers(starts);
    if (start_at == NULL)
        return NULL;
    Py_ssize_t start_count = PyList_GET_SIZE(starts);
    PyObject *encoded = PyList_New(count);
    PyObject *routes = PyList_New(count);
    PyObject *sizes = PyList_New(count);
    if (encoded == NULL || routes == NULL || sizes == NULL)
        goto fail;
    unsigned char digest[HASH_BYTES];
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *key = PyList_GET_ITEM(keys, i);
        PyObject *data = PyList_GET_ITEM(datas, i);
        if (!PyUnicode_Check(key) || !PyBytes_Check(data)) {
            PyErr_SetString(PyExc_TypeError, "keys must be str and datas bytes");
            goto fail;
        }
        PyObject *raw = PyUnicode_AsUTF8String(key);
        if (raw == NULL)
            goto fail;
        PyList_SET_ITEM(encoded, i, raw);
        MD5((const unsigned char *)PyBytes_AS_STRING(raw), (size_t)PyBytes_GET_SIZE(raw),
            digest);
        Py_ssize_t route = route_of(digest, start_at, start_count);
        if (route < 0) {
            PyErr_SetString(PyExc_ValueError, "a hash key falls below every route start");
            goto fail;
        }
        PyObject *route_number = PyLong_FromSsize_t(route);
        if (route_number == NULL)
            goto fail;
        PyList_SET_ITEM(routes, i, route_number);
        PyObject *size = PyLong_FromSsize_t(PyBytes_GET_SIZE(raw) + PyBytes_GET_SIZE(data));
        if (size == NULL)
            goto fail;
        PyList_SET_ITEM(sizes, i, size);
    }
    PyMem_Free(start_at);
    return Py_BuildValue("(NNN)", encoded, routes, sizes);
fail:
    PyMem_Free(start_at);
    Py_XDECREF(encoded);
    Py_XDECREF(routes);
    Py_XDECREF(sizes);
    return NULL;
}

/* One shard's share of a call while it is being gathered. */
typedef struct {
    Py_ssize_t count;  /* records routed here */
    Py_ssize_t filled; /* records placed so far */
    PyObject *batch;   /* (route, keys, partition keys, payloads), or NULL */
} Gathering;

/* The route at ``routes[i]`` as a C index below route_count; -1 with an exception. */
static Py_ssize_t
route_at(PyObject *routes, Py_ssize_t i, Py_ssize_t route_count)
{
    Py_ssize_t route = PyLong_AsSsize_t(PyList_GET_ITEM(routes, i));
    if (route == -1 && PyErr_Occurred())
        return -1;
    if (route < 0 || route >= route_count) {
        PyErr_SetString(PyExc_ValueError, "route out of range");
        return -1;
    }
    return route;
}

/* Whether record i is stored: every record when admitted is None; -1 with TypeError
 * for an admission that is not a bool. Only bools, not any truth value: assign reads
 * each admission in three passes, and a truth test of another object runs Python code
 * that could answer differently each time (leaving a batch short, or none to fill) or
 * change the lists between passes. */
static int
is_admitted(PyObject *admitted, Py_ssize_t i)
{
    if (admitted == Py_None)
        return 1;
    PyObject *flag = PyList_GET_ITEM(admitted, i);
    if (flag == Py_True || flag == Py_False)
        return flag == Py_True;
    PyErr_SetString(PyExc_TypeError, "admitted must hold bools");
    return -1;
}

static PyObject *
new_batch(Py_ssize_t route, Py_ssize_t count)
{
    PyObject *batch = PyTuple_New(4);
    if (batch == NULL)
        return NULL;
    PyObject *number = PyLong_FromSsize_t(route);
    if (number == NULL) {
        Py_DECREF(batch);
        return NULL;
    }
    PyTuple_SET_ITEM(batch, 0, number);
    for (int part = 1; part < 4; part++) {
        PyObject *list = PyList_New(count);
        if (list == NULL) {
            Py_DECREF(batch);
            return NULL;
        }
        PyTuple_SET_ITEM(batch, part, list);
    }
    return batch;
}

PyDoc_STRVAR(assign_doc,
"assign(routes, route_count, first_key, encoded, datas, admitted) -> batches\n\n"
"Give the admitted records (those whose bool in ``admitted`` is True; all when it\n"
"is None) consecutive sequence keys from ``first_key``, in call order, and gather\n"
"them per route: a list of ``(route, keys, partition_keys, payloads)``, one per\n"
"route that got a record, in the order of each route's first record.");

static PyObject *
assign(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!takes("assign", nargs, 6))
        return NULL;
    PyObject *routes = args[0], *encoded = args[3], *datas = args[4], *admitted = args[5];
    Py_ssize_t route_count = PyLong_AsSsize_t(args[1]);
    if (route_count == -1 && PyErr_Occurred())
        return NULL;
    long long first_key = PyLong_AsLongLong(args[2]);
    if (first_key == -1 && PyErr_Occurred())
        return NULL;
    if (!PyList_CheckExact(routes) || !PyList_CheckExact(encoded) || !PyList_CheckExact(datas)
        || (admitted != Py_None && !PyList_CheckExact(admitted))) {
        PyErr_SetString(PyExc_TypeError, "assign takes lists (admitted may be None)");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(routes);
    if (PyList_GET_SIZE(encoded) != count || PyList_GET_SIZE(datas) != count
        || (admitted != Py_None && PyList_GET_SIZE(admitted) != count)) {
        PyErr_SetString(PyExc_ValueError, "assign's lists differ in length");
        return NULL;
    }
    if (route_count <= 0 || first_key < 0 || first_key > LLONG_MAX - count) {
        PyErr_SetString(PyExc_ValueError, "no route, or sequence keys out of range");
        return NULL;
    }
    Gathering *shares = PyMem_Calloc((size_t)route_count, sizeof(Gathering));
    if (shares == NULL)
        return PyErr_NoMemory();
    PyObject *batches = PyList_New(0);
    if (batches == NULL)
        goto fail;
    /* First pass: how many records each route gets, and the routes' order. */
    for (Py_ssize_t i = 0; i < count; i++) {
        int stored = is_admitted(admitted, i);
        if (stored < 0)
            goto fail;
        if (!stored)
            continue;
        Py_ssize_t route = route_at(routes, i, route_count);
        if (route < 0)
            goto fail;
        shares[route].count++;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        if (is_admitted(admitted, i) != 1)
            continue;
        Py_ssize_t route = route_at(routes, i, route_count);
        if (shares[route].batch != NULL)
            continue;
        PyObject *batch = new_batch(route, shares[route].count);
        if (batch == NULL)
            goto fail;
        if (PyList_Append(batches, batch) < 0) {
            Py_DECREF(batch);
            goto fail;
        }
        Py_DECREF(batch); /* the list holds it */
        shares[route].batch = batch;
    }
    /* Second pass: the records themselves, keys consecutive in call order. */
    long long key = first_key;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (is_admitted(admitted, i) != 1)
            continue;
        Gathering *share = &shares[route_at(routes, i, route_count)];
        PyObject *key_number = PyLong_FromLongLong(key++);
        if (key_number == NULL)
            goto fail;
        Py_ssize_t at = share->filled++;
        PyList_SET_ITEM(PyTuple_GET_ITEM(share->batch, 1), at, key_number);
        PyObject *partition_key = PyList_GET_ITEM(encoded, i);
        PyObject *payload = PyList_GET_ITEM(datas, i);
        Py_INCREF(partition_key);
        PyList_SET_ITEM(PyTuple_GET_ITEM(share->batch, 2), at, partition_key);
        Py_INCREF(payload);
        PyList_SET_ITEM(PyTuple_GET_ITEM(share->batch, 3), at, payload);
    }
    PyMem_Free(shares);
    return batches;
fail:
    /* Lists not yet filled hold NULL slots, which list deallocation skips. */
    PyMem_Free(shares);
    Py_XDECREF(batches);
    return NULL;
}

static PyMethodDef methods[] = {
    {"hash_route", (PyCFunction)(void (*)(void))hash_route, METH_FASTCALL, hash_route_doc},
    {"assign", (PyCFunction)(void (*)(void))assign, METH_FASTCALL, assign_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "shardline.storage._putroute",
    .m_doc = "The per-record loops of PutRecords' storage step (routing, sequence keys), in C.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__putroute(void)
{
    return PyModule_Create(&module_def);
}
