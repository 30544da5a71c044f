/* The records section of a magic-2 batch, walked without making a Python object per record.
 *
 * protocol/validation.py holds the same walk in Python (`scan_records_py`), the reference this
 * must agree with (tests/protocol/test_validation.py and tests/fuzz/fuzz_protocol.py compare them).
 * The walk runs without the GIL: the buffer is held for the call, and nothing Python is touched
 * until the answer is built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

enum { SCAN_MORE = 0, SCAN_DONE = 1, SCAN_CORRUPT = 2, SCAN_INVALID = 3 };
enum { VARINT_OK = 0, VARINT_TRUNCATED = 1, VARINT_BAD = 2 };

typedef struct {
    const uint8_t *data;
    Py_ssize_t end;
} Span;

/* A zigzag varint of at most max_bytes bytes whose value fits `bits` bits, as records.py reads them. */
static int read_zigzag(const uint8_t *data, Py_ssize_t *pos, Py_ssize_t end, int max_bytes, int bits, int64_t *out) {
    uint64_t raw = 0;
    int shift = 0;
    Py_ssize_t at = *pos;
    for (int i = 0; i < max_bytes; i++, at++) {
        if (at >= end)
            return VARINT_TRUNCATED;
        uint8_t byte = data[at];
        uint64_t part = (uint64_t)(byte & 0x7F);
        if (shift > 0 && shift + 7 > bits && (part >> (bits - shift)) != 0)
            return VARINT_BAD; /* value above `bits` bits */
        raw |= part << shift;
        if (byte < 0x80) {
            *out = (int64_t)(raw >> 1) ^ -(int64_t)(raw & 1);
            *pos = at + 1;
            return VARINT_OK;
        }
        shift += 7;
    }
    return VARINT_BAD; /* longer than max_bytes */
}

typedef struct {
    int status;
    const char *message;
    Py_ssize_t pos;
    long long index;
    int64_t min_delta, max_delta;
    long long keyless;
    Py_ssize_t need;
} Scan;

/* One record's body between `pos` and `record_end`: 0 when well-formed, else sets the scan's error. */
static int check_body(const uint8_t *data, Py_ssize_t pos, Py_ssize_t record_end, Scan *scan, int64_t *ts_delta,
                      int *keyless) {
    int64_t value, length, count;
    int rc;
    pos += 1; /* attributes: unused by magic 2 */
    if ((rc = read_zigzag(data, &pos, record_end, 10, 64, ts_delta)) != VARINT_OK)
        goto bad_varint;
    if ((rc = read_zigzag(data, &pos, record_end, 5, 32, &value)) != VARINT_OK)
        goto bad_varint;
    if (value != scan->index) {
        scan->status = SCAN_INVALID;
        scan->message = "offset deltas are not 0, 1, 2... in order";
        return -1;
    }
    for (int field = 0; field < 2; field++) { /* key, then value */
        if ((rc = read_zigzag(data, &pos, record_end, 5, 32, &length)) != VARINT_OK)
            goto bad_varint;
        if (length == -1) {
            if (field == 0)
                *keyless = 1;
            continue;
        }
        if (length < 0 || length > record_end - pos)
            goto bad_length;
        pos += (Py_ssize_t)length;
    }
    if ((rc = read_zigzag(data, &pos, record_end, 5, 32, &count)) != VARINT_OK)
        goto bad_varint;
    if (count < 0) {
        scan->status = SCAN_CORRUPT;
        scan->message = "negative header count";
        return -1;
    }
    for (int64_t header = 0; header < count; header++) {
        if ((rc = read_zigzag(data, &pos, record_end, 5, 32, &length)) != VARINT_OK)
            goto bad_varint;
        if (length < 0 || length > record_end - pos)
            goto bad_length;
        pos += (Py_ssize_t)length;
        if ((rc = read_zigzag(data, &pos, record_end, 5, 32, &length)) != VARINT_OK)
            goto bad_varint;
        if (length == -1)
            continue;
        if (length < 0 || length > record_end - pos)
            goto bad_length;
        pos += (Py_ssize_t)length;
    }
    if (pos != record_end) {
        scan->status = SCAN_CORRUPT;
        scan->message = "bytes left over inside a record";
        return -1;
    }
    return 0;
bad_varint:
    scan->status = SCAN_CORRUPT;
    scan->message = rc == VARINT_TRUNCATED ? "varint runs past its record" : "malformed varint in a record";
    return -1;
bad_length:
    scan->status = SCAN_CORRUPT;
    scan->message = "a key, value or header runs past its record";
    return -1;
}

static void scan_records(const uint8_t *data, Py_ssize_t end, long long count, int final, Scan *scan) {
    while (scan->index < count) {
        Py_ssize_t pos = scan->pos;
        int64_t length;
        if (pos == end && final) {
            scan->status = SCAN_INVALID;
            scan->message = "fewer records than the batch's record count";
            return;
        }
        int rc = read_zigzag(data, &pos, end, 5, 32, &length);
        if (rc == VARINT_TRUNCATED && !final) {
            scan->status = SCAN_MORE;
            scan->need = end - scan->pos + 1;
            return;
        }
        if (rc != VARINT_OK) {
            scan->status = SCAN_CORRUPT;
            scan->message = rc == VARINT_TRUNCATED ? "record length is truncated" : "malformed record length";
            return;
        }
        if (length <= 0) {
            scan->status = SCAN_CORRUPT;
            scan->message = "record length is not positive";
            return;
        }
        if (length > end - pos) {
            if (final) {
                scan->status = SCAN_CORRUPT;
                scan->message = "record length runs past the batch";
            } else {
                scan->status = SCAN_MORE;
                scan->need = (pos - scan->pos) + (Py_ssize_t)length;
            }
            return;
        }
        Py_ssize_t record_end = pos + (Py_ssize_t)length;
        int64_t ts_delta;
        int keyless = 0;
        if (check_body(data, pos, record_end, scan, &ts_delta, &keyless) < 0)
            return;
        if (ts_delta < scan->min_delta)
            scan->min_delta = ts_delta;
        if (ts_delta > scan->max_delta)
            scan->max_delta = ts_delta;
        scan->keyless += keyless;
        scan->index++;
        scan->pos = record_end;
    }
    scan->status = SCAN_DONE;
}

static PyObject *scan(PyObject *module, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos;
    long long index, count;
    int final;
    if (!PyArg_ParseTuple(args, "y*nLLp", &view, &pos, &index, &count, &final))
        return NULL;
    if (pos < 0 || pos > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "pos outside the data");
        return NULL;
    }
    Scan result = {SCAN_DONE, NULL, pos, index, INT64_MAX, INT64_MIN, 0, 0};
    Py_BEGIN_ALLOW_THREADS scan_records((const uint8_t *)view.buf, view.len, count, final, &result);
    Py_END_ALLOW_THREADS PyBuffer_Release(&view);
    return Py_BuildValue("(inLLLLnz)", result.status, result.pos, result.index, (long long)result.min_delta,
                         (long long)result.max_delta, result.keyless, result.need, result.message);
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(data, pos, index, count, final) -> (status, pos, index, min_delta, max_delta, keyless, need, message)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "streamhouse.protocol._recordscan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__recordscan(void) { return PyModule_Create(&module); }
