/* Sizes of the intersections of sorted sets, pair by pair: the duplicate verifier's inner loop
 * (tasks/cross_document/setops.py wraps it; tests/test_dedup.py checks it against Python sets).
 *
 * Also the union of two sorted int64 arrays (candidate pair codes merged band by band).
 *
 * Sets are CSR: `values` (uint32, each row's values sorted and distinct) and `offsets` (int64,
 * rows + 1). Pair k is row a_rows[k] of set a and row b_rows[k] of set b. Buffers come in
 * through the buffer protocol, with the dtypes the wrapper gives them: no numpy headers are
 * needed to build this. Weighted sums add a's weights in a's order, as numpy's bincount does
 * over the same elements, so the floats are the same bit for bit. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

typedef struct {
    const uint32_t *values;
    const int64_t *offsets;
    const int64_t *rows;
} Sets;

static int64_t merge_count(const uint32_t *x, int64_t nx, const uint32_t *y, int64_t ny) {
    int64_t i = 0, j = 0, shared = 0;
    while (i < nx && j < ny) {
        uint32_t u = x[i], v = y[j];
        shared += (u == v);
        i += (u <= v);
        j += (v <= u);
    }
    return shared;
}

static PyObject *counts(PyObject *self, PyObject *args) {
    Py_buffer av, ao, ar, bv, bo, br, out;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*w*", &av, &ao, &ar, &bv, &bo, &br, &out))
        return NULL;
    Sets a = {av.buf, ao.buf, ar.buf}, b = {bv.buf, bo.buf, br.buf};
    int64_t pairs = ar.len / 8, *result = out.buf;
    Py_BEGIN_ALLOW_THREADS
    for (int64_t k = 0; k < pairs; k++) {
        int64_t ra = a.rows[k], rb = b.rows[k];
        result[k] = merge_count(a.values + a.offsets[ra], a.offsets[ra + 1] - a.offsets[ra],
                                b.values + b.offsets[rb], b.offsets[rb + 1] - b.offsets[rb]);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&av); PyBuffer_Release(&ao); PyBuffer_Release(&ar);
    PyBuffer_Release(&bv); PyBuffer_Release(&bo); PyBuffer_Release(&br);
    PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

static PyObject *weighted(PyObject *self, PyObject *args) {
    Py_buffer av, ao, ar, bv, bo, br, aw, out, out_w;
    Py_ssize_t columns;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*nw*w*", &av, &ao, &ar, &bv, &bo, &br, &aw,
                          &columns, &out, &out_w))
        return NULL;
    Sets a = {av.buf, ao.buf, ar.buf}, b = {bv.buf, bo.buf, br.buf};
    const double *weights = aw.buf;
    int64_t pairs = ar.len / 8, *result = out.buf;
    double *sums = out_w.buf;
    Py_BEGIN_ALLOW_THREADS
    for (int64_t k = 0; k < pairs; k++) {
        int64_t ra = a.rows[k], rb = b.rows[k];
        int64_t i = a.offsets[ra], i_end = a.offsets[ra + 1];
        int64_t j = b.offsets[rb], j_end = b.offsets[rb + 1];
        int64_t shared = 0;
        double *sum = sums + k * columns;
        for (Py_ssize_t c = 0; c < columns; c++) sum[c] = 0.0;
        while (i < i_end && j < j_end) {
            uint32_t u = a.values[i], v = b.values[j];
            if (u == v) {
                shared++;
                for (Py_ssize_t c = 0; c < columns; c++) sum[c] += weights[i * columns + c];
            }
            i += (u <= v);
            j += (v <= u);
        }
        result[k] = shared;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&av); PyBuffer_Release(&ao); PyBuffer_Release(&ar);
    PyBuffer_Release(&bv); PyBuffer_Release(&bo); PyBuffer_Release(&br);
    PyBuffer_Release(&aw); PyBuffer_Release(&out); PyBuffer_Release(&out_w);
    Py_RETURN_NONE;
}

/* union(a, b, out): the sorted distinct values of two sorted arrays of distinct int64 (a
 * merge); returns how many were written to `out` (room for len(a) + len(b)). */
static PyObject *union_sorted(PyObject *self, PyObject *args) {
    Py_buffer av, bv, out;
    if (!PyArg_ParseTuple(args, "y*y*w*", &av, &bv, &out))
        return NULL;
    const int64_t *a = av.buf, *b = bv.buf;
    int64_t na = av.len / 8, nb = bv.len / 8, i = 0, j = 0, k = 0, *o = out.buf;
    Py_BEGIN_ALLOW_THREADS
    while (i < na && j < nb) {
        int64_t u = a[i], v = b[j];
        o[k++] = u < v ? u : v;
        i += (u <= v);
        j += (v <= u);
    }
    while (i < na)
        o[k++] = a[i++];
    while (j < nb)
        o[k++] = b[j++];
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&av); PyBuffer_Release(&bv); PyBuffer_Release(&out);
    return PyLong_FromLongLong(k);
}

static PyMethodDef methods[] = {
    {"counts", counts, METH_VARARGS,
     "counts(a_values, a_offsets, a_rows, b_values, b_offsets, b_rows, out)"},
    {"weighted", weighted, METH_VARARGS,
     "weighted(a_values, a_offsets, a_rows, b_values, b_offsets, b_rows, a_weights, columns, "
     "out, out_weights)"},
    {"union", union_sorted, METH_VARARGS, "union(a, b, out) -> n: sorted distinct int64 union"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_setops", NULL, -1, methods};

PyMODINIT_FUNC PyInit__setops(void) { return PyModule_Create(&module); }
