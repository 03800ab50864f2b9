/* The greedy choice of canonicals over verified pairs, one pair at a time (tasks/cross_document/
 * duplicates.py `assign_sorted` wraps it; tests check it against the same rule in rounds of
 * array operations, tests/reference_dedup.py).
 *
 * Pairs (i, j), i < j, come sorted by (j, i): when a row j comes, every row before it is
 * decided, so j joins its first partner that is no member (and may lead), or leads. A loop:
 * rounds of array operations need as many rounds as the longest chain of rows that wait on
 * each other, which on a drifting chain of copies is its length. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

enum { UNDECIDED = 0, CANONICAL = 1, MEMBER = 2 };

static PyObject *greedy(PyObject *self, PyObject *args) {
    Py_buffer bi, bj, bs, bstatus, bcanon, bsim, blead;
    int canon_bytes;
    if (!PyArg_ParseTuple(args, "y*y*y*w*w*w*y*i", &bi, &bj, &bs, &bstatus, &bcanon, &bsim,
                          &blead, &canon_bytes))
        return NULL;
    const int64_t *i = bi.buf, *j = bj.buf;
    const float *s = bs.buf;
    int8_t *status = bstatus.buf;
    float *sim = bsim.buf;
    const uint8_t *lead = blead.len ? blead.buf : NULL;
    int64_t pairs = bi.len / 8;
    Py_BEGIN_ALLOW_THREADS
    int64_t k = 0;
    while (k < pairs) {
        int64_t row = j[k], chosen = -1;
        float score = 0;
        for (; k < pairs && j[k] == row; k++) {
            int64_t partner = i[k];
            if (chosen < 0 && status[partner] != MEMBER && (!lead || lead[partner])) {
                chosen = partner;
                score = s[k];
            }
        }
        if (chosen >= 0) {
            status[row] = MEMBER;
            sim[row] = score;
            if (canon_bytes == 4)
                ((int32_t *)bcanon.buf)[row] = (int32_t)chosen;
            else
                ((int64_t *)bcanon.buf)[row] = chosen;
        } else {
            status[row] = CANONICAL;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&bi); PyBuffer_Release(&bj); PyBuffer_Release(&bs);
    PyBuffer_Release(&bstatus); PyBuffer_Release(&bcanon); PyBuffer_Release(&bsim);
    PyBuffer_Release(&blead);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"greedy", greedy, METH_VARARGS, "greedy(i, j, s, status, canonical_of, sim_of, lead, "
     "canonical_bytes): the greedy choice over pairs sorted by (j, i), in place"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_assign", NULL, -1, methods};

PyMODINIT_FUNC PyInit__assign(void) { return PyModule_Create(&module); }
