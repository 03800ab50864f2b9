/* The boilerplate model's trees, walked row by row (tasks/shard/boilerplate/model.py wraps it;
 * tests/test_boilerplate.py checks it against the numpy walk it replaced).
 *
 * All trees are one flat node array: `feature` (int32; 0 at a leaf), `threshold` (float64),
 * `left`/`right` (int32 global node numbers; a leaf points to itself), `value` (float64) and
 * `roots` (int32, one per tree). A row goes left where its feature value is <= the threshold
 * (NaN goes right, as in numpy), `depth` steps from each root. The row's score is `baseline`
 * plus the sum of its leaves' values, added in numpy's order for a row sum (pairwise, eight
 * running sums), so the floats are the same bit for bit. Buffers come in through the buffer
 * protocol: no numpy headers are needed to build. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>

/* numpy's pairwise summation of a contiguous float64 run (its reductions along a row). */
static double pairwise_sum(const double *a, int64_t n) {
    if (n < 8) {
        double res = 0.;
        for (int64_t i = 0; i < n; i++)
            res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        int64_t i;
        for (int j = 0; j < 8; j++)
            r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++)
                r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += a[i];
        return res;
    }
    int64_t half = n / 2;
    half -= half % 8;
    return pairwise_sum(a, half) + pairwise_sum(a + half, n - half);
}

/* raw_scores(x, n_features, feature, threshold, left, right, value, roots, depth, baseline, out) */
static PyObject *raw_scores(PyObject *self, PyObject *args) {
    Py_buffer xv, fv, tv, lv, rv, vv, rootv, out;
    Py_ssize_t n_features, depth;
    double baseline;
    if (!PyArg_ParseTuple(args, "y*ny*y*y*y*y*y*ndw*", &xv, &n_features, &fv, &tv, &lv, &rv,
                          &vv, &rootv, &depth, &baseline, &out))
        return NULL;
    const double *x = xv.buf, *threshold = tv.buf, *value = vv.buf;
    const int32_t *feature = fv.buf, *left = lv.buf, *right = rv.buf, *roots = rootv.buf;
    int64_t trees = rootv.len / 4, n = n_features ? xv.len / 8 / n_features : 0;
    double *scores = out.buf;
    double *leaves = malloc(sizeof(double) * (trees ? trees : 1));
    if (leaves == NULL) {
        PyBuffer_Release(&xv); PyBuffer_Release(&fv); PyBuffer_Release(&tv);
        PyBuffer_Release(&lv); PyBuffer_Release(&rv); PyBuffer_Release(&vv);
        PyBuffer_Release(&rootv); PyBuffer_Release(&out);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    for (int64_t k = 0; k < n; k++) {
        const double *row = x + k * n_features;
        for (int64_t t = 0; t < trees; t++) {
            int32_t node = roots[t];
            for (Py_ssize_t step = 0; step < depth; step++)
                node = row[feature[node]] <= threshold[node] ? left[node] : right[node];
            leaves[t] = value[node];
        }
        scores[k] = baseline + pairwise_sum(leaves, trees);
    }
    Py_END_ALLOW_THREADS
    free(leaves);
    PyBuffer_Release(&xv); PyBuffer_Release(&fv); PyBuffer_Release(&tv);
    PyBuffer_Release(&lv); PyBuffer_Release(&rv); PyBuffer_Release(&vv);
    PyBuffer_Release(&rootv); PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"raw_scores", raw_scores, METH_VARARGS, "Sum of the trees' leaf values per row"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_trees", NULL, -1, methods};

PyMODINIT_FUNC PyInit__trees(void) { return PyModule_Create(&module); }
