/*
 * shardline.server._recordwire: the per-record loops of the record path's wire
 * format, in C: PutRecords' records in (checked and decoded) and its results out, and
 * the records GetRecords and SubscribeToShard return, as JSON.
 *
 * Why C: a PutRecords call carries up to 500 records and a GetRecords page up to
 * 10,000. In Python, checking a put record cost about 0.45 us of server CPU, writing
 * its result about as much again (a formatted sequence number and a dict, then
 * serialised), and writing a read record about 0.8 us (a dict, base64, a float, then
 * serialised). Here each is a few tens of nanoseconds plus the base64 itself.
 * CBOR answers and anything unusual stay in Python: ``server/model.py`` and
 * ``server/handlers/records.py`` say where each function is used, and
 * ``_recordwire.pyi`` gives the types.
 *
 * Memory: every object made here is owned by a list handed back, or released on
 * the error path; borrowed references are only read while the caller's arguments
 * keep them alive.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "../_arguments.h"

/* Sequence numbers on the wire: "49", the key in 24 digits, the shard's tail
 * (storage/sequence.py). */
#define SEQUENCE_HEAD "49"
#define KEY_DIGITS 24
/* A sequence key's low bits count records within a millisecond; the rest is the
 * arrival in epoch milliseconds. */
#define COUNTER_BITS 16

/* base64 alphabet value of each byte, -1 for any byte outside it ('=' included). */
static signed char base64_value[256];

/* The decoded length of canonical, strict base64 text of ``size`` characters (a
 * multiple of 4), and in *pads how many '=' end it; -1 when the padding is not
 * canonical: the encoded character before it must carry no bits the decoded bytes
 * do not use. Characters outside the alphabet are found by decode_base64. */
static Py_ssize_t
decoded_size(const unsigned char *text, Py_ssize_t size, int *pads)
{
    *pads = 0;
    if (size == 0)
        return 0;
    if (text[size - 1] == '=')
        *pads = text[size - 2] == '=' ? 2 : 1;
    /* A character outside the alphabet is -1 here: every bit set, so refused too. */
    if (*pads == 2 && (base64_value[text[size - 3]] & 0x0F) != 0)
        return -1;
    if (*pads == 1 && (base64_value[text[size - 2]] & 0x03) != 0)
        return -1;
    return size / 4 * 3 - *pads;
}

/* Decode ``size`` characters ending in ``pads`` '=' (as decoded_size found) into
 * out; 0, or -1 at a character outside the alphabet ('=' anywhere else included). */
static int
decode_base64(const unsigned char *text, Py_ssize_t size, int pads, unsigned char *out)
{
    if (size == 0)
        return 0;
    Py_ssize_t full = size - 4; /* the last quad may be padded */
    for (Py_ssize_t at = 0; at < full; at += 4) {
        int a = base64_value[text[at]], b = base64_value[text[at + 1]];
        int c = base64_value[text[at + 2]], d = base64_value[text[at + 3]];
        if ((a | b | c | d) < 0)
            return -1;
        unsigned int v = (unsigned int)a << 18 | (unsigned int)b << 12 | (unsigned int)c << 6
                         | (unsigned int)d;
        *out++ = (unsigned char)(v >> 16);
        *out++ = (unsigned char)(v >> 8);
        *out++ = (unsigned char)v;
    }
    const unsigned char *last = text + full;
    int a = base64_value[last[0]], b = base64_value[last[1]];
    int c = pads == 2 ? 0 : base64_value[last[2]];
    int d = pads >= 1 ? 0 : base64_value[last[3]];
    if ((a | b | c | d) < 0)
        return -1;
    *out++ = (unsigned char)((a << 2) | (b >> 4));
    if (pads < 2)
        *out++ = (unsigned char)((b << 4) | (c >> 2));
    if (pads < 1)
        *out = (unsigned char)((c << 6) | d);
    return 0;
}

/* The payload of a record's "Data", or Py_None when it is not canonical strict
 * base64 of at most data_max bytes (a new reference either way; NULL on error). */
static PyObject *
payload_of(PyObject *text, Py_ssize_t data_max)
{
    if (!PyUnicode_IS_ASCII(text))
        Py_RETURN_NONE;
    Py_ssize_t size = PyUnicode_GET_LENGTH(text);
    const unsigned char *chars = PyUnicode_1BYTE_DATA(text);
    if (size % 4 != 0)
        Py_RETURN_NONE;
    int pads;
    Py_ssize_t decoded = decoded_size(chars, size, &pads);
    if (decoded < 0 || decoded > data_max)
        Py_RETURN_NONE;
    PyObject *payload = PyBytes_FromStringAndSize(NULL, decoded);
    if (payload == NULL)
        return NULL;
    if (decode_base64(chars, size, pads, (unsigned char *)PyBytes_AS_STRING(payload)) < 0) {
        Py_DECREF(payload);
        Py_RETURN_NONE;
    }
    return payload;
}

/* 1 when record is a dict of exactly "PartitionKey" and "Data", named by exact str,
 * with *key and *text set to their values (borrowed); else 0. The dict is walked,
 * not looked up: a lookup compares the name with every key of equal hash, which runs
 * the key's __eq__ when it is not a str, and Python code run there could change the
 * records (or free the one being read) between this function's reads. A member named
 * by a str subclass makes the record not plain; the model-driven converter takes it. */
static int
plain_members(PyObject *record, PyObject **key, PyObject **text)
{
    if (!PyDict_CheckExact(record) || PyDict_GET_SIZE(record) != 2)
        return 0;
    *key = *text = NULL;
    Py_ssize_t at = 0;
    PyObject *name, *value;
    while (PyDict_Next(record, &at, &name, &value)) {
        if (!PyUnicode_CheckExact(name))
            return 0;
        if (PyUnicode_CompareWithASCIIString(name, "PartitionKey") == 0)
            *key = value;
        else if (PyUnicode_CompareWithASCIIString(name, "Data") == 0)
            *text = value;
    }
    return *key != NULL && *text != NULL;
}

PyDoc_STRVAR(decode_entries_doc,
"decode_entries(records, key_min, key_max, data_max) -> (datas, keys) | None\n\n"
"PutRecords' parsed JSON record list as parallel lists of payloads and partition\n"
"keys, when every record is the plain case: a dict of exactly \"Data\" (canonical,\n"
"strict base64 of at most data_max bytes) and \"PartitionKey\" (a str of key_min to\n"
"key_max characters). None for anything else, so that the model-driven converter\n"
"can find AWS's exact errors.");

static PyObject *
decode_entries(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!takes("decode_entries", nargs, 4))
        return NULL;
    PyObject *records = args[0];
    Py_ssize_t key_min = PyLong_AsSsize_t(args[1]);
    Py_ssize_t key_max = PyLong_AsSsize_t(args[2]);
    Py_ssize_t data_max = PyLong_AsSsize_t(args[3]);
    if (PyErr_Occurred())
        return NULL;
    if (!PyList_CheckExact(records))
        Py_RETURN_NONE;
    Py_ssize_t count = PyList_GET_SIZE(records);
    PyObject *datas = PyList_New(count);
    PyObject *keys = PyList_New(count);
    if (datas == NULL || keys == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *key, *text;
        if (!plain_members(PyList_GET_ITEM(records, i), &key, &text))
            goto plain_case_ends;
        if (!PyUnicode_CheckExact(key) || !PyUnicode_CheckExact(text))
            goto plain_case_ends;
        Py_ssize_t key_length = PyUnicode_GET_LENGTH(key);
        if (key_length < key_min || key_length > key_max)
            goto plain_case_ends;
        PyObject *payload = payload_of(text, data_max);
        if (payload == NULL)
            goto fail;
        if (payload == Py_None) {
            Py_DECREF(payload);
            goto plain_case_ends;
        }
        PyList_SET_ITEM(datas, i, payload);
        Py_INCREF(key);
        PyList_SET_ITEM(keys, i, key);
    }
    return Py_BuildValue("(NN)", datas, keys);
plain_case_ends:
    Py_DECREF(datas);
    Py_DECREF(keys);
    Py_RETURN_NONE;
fail:
    /* Slots not yet filled are NULL, which list deallocation skips. */
    Py_XDECREF(datas);
    Py_XDECREF(keys);
    return NULL;
}

/* The characters of an ASCII str that JSON holds as they are (no '"', '\\' or
 * control character, which orjson would escape), so that they can be copied into an
 * answer, and their count in *size; NULL with ValueError for any other object. */
static const char *
json_plain_text(PyObject *text, Py_ssize_t *size)
{
    if (!PyUnicode_Check(text) || !PyUnicode_IS_ASCII(text)) {
        PyErr_SetString(PyExc_ValueError, "shard suffixes and ids must be ASCII str");
        return NULL;
    }
    const char *chars = (const char *)PyUnicode_1BYTE_DATA(text);
    *size = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t at = 0; at < *size; at++) {
        if ((unsigned char)chars[at] < 0x20 || chars[at] == '"' || chars[at] == '\\') {
            PyErr_SetString(PyExc_ValueError,
                            "shard suffixes and ids must not need escaping in JSON");
            return NULL;
        }
    }
    return chars;
}

/* 1 when every item of the list table is json_plain_text; else 0 with ValueError set.
 * Checked once per call: the records only index the table. */
static int
json_plain_table(PyObject *table)
{
    Py_ssize_t size;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(table); i++) {
        if (json_plain_text(PyList_GET_ITEM(table, i), &size) == NULL)
            return 0;
    }
    return 1;
}

/* Copy the characters of a str json_plain_text took to out. */
static char *
copy_text(char *out, PyObject *text)
{
    Py_ssize_t size = PyUnicode_GET_LENGTH(text);
    memcpy(out, PyUnicode_1BYTE_DATA(text), (size_t)size);
    return out + size;
}

static const char ENTRY_HEAD[] = "{\"SequenceNumber\":\"" SEQUENCE_HEAD;
static const char ENTRY_MIDDLE[] = "\",\"ShardId\":\"";
static const char ENTRY_TAIL[] = "\"}";
#define LITERAL_SIZE(text) ((Py_ssize_t)sizeof(text) - 1)

/* Write key in exactly KEY_DIGITS decimal digits, zero-padded. */
static char *
write_key(char *out, unsigned long long key)
{
    for (int at = KEY_DIGITS - 1; at >= 0; at--) {
        out[at] = (char)('0' + key % 10);
        key /= 10;
    }
    return out + KEY_DIGITS;
}

PyDoc_STRVAR(render_put_results_doc,
"render_put_results(routes, first_key, suffixes, shard_ids) -> bytes\n\n"
"PutRecords' \"Records\" answer as a JSON array, for a call whose every record was\n"
"stored: record i has sequence key first_key + i on route routes[i], whose\n"
"shard's sequence-number tail and id are suffixes[route] and shard_ids[route].\n"
"The bytes are what orjson writes for the same list of dicts. ValueError for a\n"
"route out of range, or a suffix or id that is not ASCII or that JSON would escape.");

static PyObject *
render_put_results(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!takes("render_put_results", nargs, 4))
        return NULL;
    PyObject *routes = args[0], *suffixes = args[2], *shard_ids = args[3];
    long long first_key = PyLong_AsLongLong(args[1]);
    if (first_key == -1 && PyErr_Occurred())
        return NULL;
    if (!PyList_CheckExact(routes) || !PyList_CheckExact(suffixes)
        || !PyList_CheckExact(shard_ids)) {
        PyErr_SetString(PyExc_TypeError, "render_put_results takes lists");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(routes);
    Py_ssize_t route_count = PyList_GET_SIZE(suffixes);
    if (PyList_GET_SIZE(shard_ids) != route_count || first_key < 0
        || first_key > LLONG_MAX - count) {
        PyErr_SetString(PyExc_ValueError, "routes and shards disagree, or keys out of range");
        return NULL;
    }
    if (!json_plain_table(suffixes) || !json_plain_table(shard_ids))
        return NULL;
    Py_ssize_t fixed = LITERAL_SIZE(ENTRY_HEAD) + KEY_DIGITS + LITERAL_SIZE(ENTRY_MIDDLE)
                       + LITERAL_SIZE(ENTRY_TAIL) + 1; /* + the comma */
    Py_ssize_t total = 1;                                /* "[" (the last comma is "]") */
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t route = PyLong_AsSsize_t(PyList_GET_ITEM(routes, i));
        if (route == -1 && PyErr_Occurred())
            return NULL;
        if (route < 0 || route >= route_count) {
            PyErr_SetString(PyExc_ValueError, "route out of range");
            return NULL;
        }
        total += fixed + PyUnicode_GET_LENGTH(PyList_GET_ITEM(suffixes, route))
                 + PyUnicode_GET_LENGTH(PyList_GET_ITEM(shard_ids, route));
    }
    if (count == 0)
        return PyBytes_FromStringAndSize("[]", 2);
    PyObject *rendered = PyBytes_FromStringAndSize(NULL, total);
    if (rendered == NULL)
        return NULL;
    char *out = PyBytes_AS_STRING(rendered);
    *out++ = '[';
    for (Py_ssize_t i = 0; i < count; i++) {
        /* Checked above: in range. */
        Py_ssize_t route = PyLong_AsSsize_t(PyList_GET_ITEM(routes, i));
        memcpy(out, ENTRY_HEAD, LITERAL_SIZE(ENTRY_HEAD));
        out = write_key(out + LITERAL_SIZE(ENTRY_HEAD), (unsigned long long)(first_key + i));
        out = copy_text(out, PyList_GET_ITEM(suffixes, route));
        memcpy(out, ENTRY_MIDDLE, LITERAL_SIZE(ENTRY_MIDDLE));
        out += LITERAL_SIZE(ENTRY_MIDDLE);
        out = copy_text(out, PyList_GET_ITEM(shard_ids, route));
        memcpy(out, ENTRY_TAIL, LITERAL_SIZE(ENTRY_TAIL));
        out += LITERAL_SIZE(ENTRY_TAIL);
        *out++ = i + 1 < count ? ',' : ']';
    }
    return rendered;
}

/* ---- GetRecords and SubscribeToShard: stored records out as JSON ---- */

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding, as binascii.b2a_base64 writes it (no newline). */
static char *
write_base64(char *out, const unsigned char *data, Py_ssize_t size)
{
    Py_ssize_t at = 0;
    for (; at + 3 <= size; at += 3) {
        unsigned int v = (unsigned int)data[at] << 16 | (unsigned int)data[at + 1] << 8
                         | data[at + 2];
        *out++ = base64_alphabet[v >> 18];
        *out++ = base64_alphabet[(v >> 12) & 63];
        *out++ = base64_alphabet[(v >> 6) & 63];
        *out++ = base64_alphabet[v & 63];
    }
    if (at < size) {
        unsigned int v = (unsigned int)data[at] << 16;
        if (at + 1 < size)
            v |= (unsigned int)data[at + 1] << 8;
        *out++ = base64_alphabet[v >> 18];
        *out++ = base64_alphabet[(v >> 12) & 63];
        *out++ = at + 1 < size ? base64_alphabet[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
    return out;
}

/* UTF-8 text as the inside of a JSON string: '"', '\\' and control characters
 * escaped (the short forms where JSON has them), everything else as is. */
static char *
write_json_text(char *out, const char *text, Py_ssize_t size)
{
    static const char hex[] = "0123456789abcdef";
    for (Py_ssize_t at = 0; at < size; at++) {
        unsigned char c = (unsigned char)text[at];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *out++ = (char)c;
            continue;
        }
        *out++ = '\\';
        switch (c) {
        case '"': *out++ = '"'; break;
        case '\\': *out++ = '\\'; break;
        case '\b': *out++ = 'b'; break;
        case '\f': *out++ = 'f'; break;
        case '\n': *out++ = 'n'; break;
        case '\r': *out++ = 'r'; break;
        case '\t': *out++ = 't'; break;
        default:
            memcpy(out, "u00", 3);
            out[3] = hex[c >> 4];
            out[4] = hex[c & 15];
            out += 5;
        }
    }
    return out;
}

/* Epoch milliseconds as seconds, the shortest decimal of the same double:
 * "1700000000.123", "1700000000.12", "1700000000.0". */
static char *
write_seconds(char *out, unsigned long long millis)
{
    int written = sprintf(out, "%llu.", millis / 1000);
    out += written;
    unsigned int fraction = (unsigned int)(millis % 1000);
    char digits[3] = {(char)('0' + fraction / 100), (char)('0' + fraction / 10 % 10),
                      (char)('0' + fraction % 10)};
    int kept = 3;
    while (kept > 1 && digits[kept - 1] == '0')
        kept--;
    memcpy(out, digits, (size_t)kept);
    return out + kept;
}

/* One stored record's parts, checked: (key, partition key, data, encrypted). */
typedef struct {
    unsigned long long key;
    const char *partition_key;
    Py_ssize_t partition_key_size; /* UTF-8 bytes */
    const unsigned char *data;
    Py_ssize_t data_size;
    int encrypted;
} StoredParts;

/* 0 with *parts set from record, or -1 with an exception. No Python code runs here
 * (encrypted must be a bool: a truth test could run some), so the records cannot
 * change between render_records' two passes. */
static int
stored_parts(PyObject *record, StoredParts *parts)
{
    if (!PyTuple_CheckExact(record) || PyTuple_GET_SIZE(record) != 4
        || !PyLong_Check(PyTuple_GET_ITEM(record, 0))
        || !PyUnicode_Check(PyTuple_GET_ITEM(record, 1))
        || !PyBytes_Check(PyTuple_GET_ITEM(record, 2))
        || !PyBool_Check(PyTuple_GET_ITEM(record, 3))) {
        PyErr_SetString(PyExc_TypeError, "records must be (int, str, bytes, bool) tuples");
        return -1;
    }
    parts->key = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(record, 0));
    if (parts->key == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    parts->partition_key =
        PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(record, 1), &parts->partition_key_size);
    if (parts->partition_key == NULL)
        return -1;
    parts->data = (const unsigned char *)PyBytes_AS_STRING(PyTuple_GET_ITEM(record, 2));
    parts->data_size = PyBytes_GET_SIZE(PyTuple_GET_ITEM(record, 2));
    parts->encrypted = PyTuple_GET_ITEM(record, 3) == Py_True;
    return 0;
}

static const char RECORD_HEAD[] = "{\"SequenceNumber\":\"" SEQUENCE_HEAD;
static const char RECORD_ARRIVAL[] = "\",\"ApproximateArrivalTimestamp\":";
static const char RECORD_DATA[] = ",\"Data\":\"";
static const char RECORD_KEY[] = "\",\"PartitionKey\":\"";
static const char RECORD_ENCRYPTED[] = "\",\"EncryptionType\":\"KMS";
static const char RECORD_TAIL[] = "\"}";
/* The most one record's fixed parts take: the literals, the key, the seconds (at
 * most 20 digits, a point and 3 decimals) and the comma. */
#define RECORD_FIXED                                                                      \
    (LITERAL_SIZE(RECORD_HEAD) + KEY_DIGITS + LITERAL_SIZE(RECORD_ARRIVAL) + 24            \
     + LITERAL_SIZE(RECORD_DATA) + LITERAL_SIZE(RECORD_KEY) + LITERAL_SIZE(RECORD_ENCRYPTED) \
     + LITERAL_SIZE(RECORD_TAIL) + 1)

#define APPEND(out, literal)                                                              \
    (memcpy((out), (literal), (size_t)LITERAL_SIZE(literal)), (out) + LITERAL_SIZE(literal))

static char *
write_record(char *out, const StoredParts *parts, const char *suffix, Py_ssize_t suffix_size)
{
    out = APPEND(out, RECORD_HEAD);
    out = write_key(out, parts->key);
    memcpy(out, suffix, (size_t)suffix_size);
    out = APPEND(out + suffix_size, RECORD_ARRIVAL);
    out = write_seconds(out, parts->key >> COUNTER_BITS);
    out = APPEND(out, RECORD_DATA);
    out = write_base64(out, parts->data, parts->data_size);
    out = APPEND(out, RECORD_KEY);
    out = write_json_text(out, parts->partition_key, parts->partition_key_size);
    if (parts->encrypted)
        out = APPEND(out, RECORD_ENCRYPTED);
    return APPEND(out, RECORD_TAIL);
}

PyDoc_STRVAR(render_records_doc,
"render_records(records, suffix) -> bytes\n\n"
"Stored records of one shard, ``(sequence key, partition key, data, encrypted)``\n"
"tuples, as the JSON array of GetRecords and SubscribeToShard: each record's\n"
"sequence number (its key and the shard's tail ``suffix``), its arrival in epoch\n"
"seconds (the key's high bits, milliseconds), its data in base64, its partition\n"
"key, and EncryptionType KMS when encrypted.");

static PyObject *
render_records(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!takes("render_records", nargs, 2))
        return NULL;
    PyObject *records = args[0];
    Py_ssize_t suffix_size;
    const char *suffix = json_plain_text(args[1], &suffix_size);
    if (suffix == NULL)
        return NULL;
    if (!PyList_CheckExact(records)) {
        PyErr_SetString(PyExc_TypeError, "render_records takes a list");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(records);
    if (count == 0)
        return PyBytes_FromStringAndSize("[]", 2);
    /* An upper bound: every key character escaped as \u00XX at worst. */
    Py_ssize_t bound = 1;
    StoredParts parts;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (stored_parts(PyList_GET_ITEM(records, i), &parts) < 0)
            return NULL;
        bound += RECORD_FIXED + suffix_size + (parts.data_size + 2) / 3 * 4
                 + 6 * parts.partition_key_size;
    }
    PyObject *rendered = PyBytes_FromStringAndSize(NULL, bound);
    if (rendered == NULL)
        return NULL;
    char *start = PyBytes_AS_STRING(rendered), *out = start;
    *out++ = '[';
    for (Py_ssize_t i = 0; i < count; i++) {
        /* Checked above; the list cannot change meanwhile (no Python code runs). */
        stored_parts(PyList_GET_ITEM(records, i), &parts);
        out = write_record(out, &parts, suffix, suffix_size);
        *out++ = i + 1 < count ? ',' : ']';
    }
    if (_PyBytes_Resize(&rendered, out - start) < 0)
        return NULL;
    return rendered;
}

static PyMethodDef methods[] = {
    {"decode_entries", (PyCFunction)(void (*)(void))decode_entries, METH_FASTCALL,
     decode_entries_doc},
    {"render_put_results", (PyCFunction)(void (*)(void))render_put_results, METH_FASTCALL,
     render_put_results_doc},
    {"render_records", (PyCFunction)(void (*)(void))render_records, METH_FASTCALL,
     render_records_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "shardline.server._recordwire",
    .m_doc = "The per-record loops of the record path's wire format (PutRecords in and out, "
    "records read out as JSON), in C.",
    .m_size = -1,
    .m_methods = methods,
};

static void
fill_base64_values(void)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    memset(base64_value, -1, sizeof base64_value);
    for (int value = 0; value < 64; value++)
        base64_value[(unsigned char)alphabet[value]] = (signed char)value;
}

PyMODINIT_FUNC
PyInit__recordwire(void)
{
    fill_base64_values();
    return PyModule_Create(&module_def);
}
