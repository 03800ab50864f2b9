/* MinHash signatures of content-word sets and their LSH band keys, row by row
 * (tasks/shard/minhash.py wraps both; tests/test_minhash.py checks them against datasketch and
 * against numpy's array arithmetic).
 *
 * Sets are CSR: `values` (uint32 word hashes) and `offsets` (int64, rows + 1); `rows` (int64)
 * are the rows that get a signature. The permutations are datasketch's affine32 scheme: each
 * value goes through MurmurHash3's 32-bit finalizer, then h -> a * h + b mod 2^32, and a
 * signature entry is the minimum over the set. A band key folds the band's `rows_per_band`
 * entries by odd 64-bit multipliers (mod 2^64) and mixes the sum with MurmurHash3's 64-bit
 * finalizer. Unsigned arithmetic wraps in C as it does in numpy, so the results are the same
 * bits. Buffers come in through the buffer protocol: no numpy headers are needed to build. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t fmix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    return h ^ (h >> 16);
}

static inline uint64_t fmix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    h *= 0xC4CEB93FE53B6A89ull;
    return h ^ (h >> 33);
}

static void signature(const uint32_t *set, int64_t size, const uint32_t *a, const uint32_t *b,
                      int64_t num_perm, uint32_t *out) {
    for (int64_t p = 0; p < num_perm; p++)
        out[p] = UINT32_MAX;
    for (int64_t i = 0; i < size; i++) {
        uint32_t h = fmix32(set[i]);
        for (int64_t p = 0; p < num_perm; p++) {
            uint32_t v = a[p] * h + b[p];
            out[p] = v < out[p] ? v : out[p];
        }
    }
}

/* signatures(values, offsets, rows, a, b, out): out is len(rows) x num_perm uint32. */
static PyObject *signatures(PyObject *self, PyObject *args) {
    Py_buffer vv, ov, rv, av, bv, out;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*w*", &vv, &ov, &rv, &av, &bv, &out))
        return NULL;
    const uint32_t *values = vv.buf, *a = av.buf, *b = bv.buf;
    const int64_t *offsets = ov.buf, *rows = rv.buf;
    int64_t n = rv.len / 8, num_perm = av.len / 4;
    uint32_t *sigs = out.buf;
    Py_BEGIN_ALLOW_THREADS
    for (int64_t k = 0; k < n; k++) {
        int64_t r = rows[k];
        signature(values + offsets[r], offsets[r + 1] - offsets[r], a, b, num_perm,
                  sigs + k * num_perm);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&vv); PyBuffer_Release(&ov); PyBuffer_Release(&rv);
    PyBuffer_Release(&av); PyBuffer_Release(&bv); PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

/* band_keys(sigs, num_perm, mult, bands, out): sigs is n x num_perm uint32, mult holds the
 * rows_per_band uint64 multipliers, out is n x bands uint64. */
static PyObject *band_keys(PyObject *self, PyObject *args) {
    Py_buffer sv, mv, out;
    Py_ssize_t num_perm, bands;
    if (!PyArg_ParseTuple(args, "y*ny*nw*", &sv, &num_perm, &mv, &bands, &out))
        return NULL;
    const uint32_t *sigs = sv.buf;
    const uint64_t *mult = mv.buf;
    int64_t per_band = mv.len / 8, n = num_perm ? sv.len / 4 / num_perm : 0;
    uint64_t *keys = out.buf;
    Py_BEGIN_ALLOW_THREADS
    for (int64_t k = 0; k < n; k++) {
        const uint32_t *sig = sigs + k * num_perm;
        for (int64_t band = 0; band < bands; band++) {
            uint64_t h = 0;
            for (int64_t r = 0; r < per_band; r++)
                h += (uint64_t)sig[band * per_band + r] * mult[r];
            keys[k * bands + band] = fmix64(h);
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&sv); PyBuffer_Release(&mv); PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"signatures", signatures, METH_VARARGS, "MinHash signatures of CSR sets (affine32)"},
    {"band_keys", band_keys, METH_VARARGS, "LSH band keys of signatures"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_minhash", NULL, -1, methods};

PyMODINIT_FUNC PyInit__minhash(void) { return PyModule_Create(&module); }
