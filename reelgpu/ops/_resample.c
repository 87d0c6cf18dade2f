/* Compiled passes of the CPU resampler: Pillow's 8-bit fixed-point convolution, vectorised.
 *
 * reelgpu/ops/resample.py builds the tap tables (which source samples feed each output sample
 * and with what weight, copied from Pillow's precompute_coeffs); this file only applies them,
 * with Pillow's own integer arithmetic (libImaging/Resample.c, ImagingResample*_8bpc): weights
 * are Q22 fixed point, each output starts at 1 << 21 (round half up), sums in int32 and is
 * clipped to 0..255 after an arithmetic shift by 22. Same tables and same arithmetic give the
 * same bytes as Image.resize(..., BICUBIC, box=...), which is the oracle of the tests.
 *
 * Why not Pillow itself: it applies the taps one output pixel at a time (~12 ms for a 1080p
 * luma plane). Here both passes run as the *vertical* form, where one weight multiplies a whole
 * contiguous source row, 16 outputs per AVX2 step (exact 16-bit multiply-adds, see
 * vertical_pass_avx2; a portable loop elsewhere); the horizontal pass is that same pass on a
 * transposed copy (two cache-blocked SSE2 byte transposes are far cheaper than per-pixel
 * gathers).
 *
 * Every array is C-contiguous; the Python wrapper (reelgpu/ops/resample_native.py) checks the
 * shapes and dtypes, and this file checks every length and tap index again before touching
 * memory, so a wrong call raises ValueError instead of reading out of bounds. Temporaries live
 * in a scratch buffer the caller keeps per thread. The GIL is released while the passes run.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS 22 /* Pillow: 32 - 8 - 2 */
#define HALF (1 << (PRECISION_BITS - 1))
#define TRANSPOSE_TILE 64

/* gcc/clang on x86-64 with glibc: an AVX2 version of the vertical pass next to the portable
 * one, chosen at run time (__builtin_cpu_supports), so one build serves every x86-64 CPU. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(RG_NO_AVX2)
#define RG_HAVE_AVX2 1
#include <immintrin.h>
#endif

static inline uint8_t clip8(int32_t v) {
    v >>= PRECISION_BITS; /* arithmetic shift, as Pillow's clip8 lookup */
    return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

/* out[i, x] = clip8(HALF + sum_k weight[i, k] * src[index[i, k] - lo, x]) for x in [x0, width):
 * the portable loop (and the AVX2 version's tail). acc is scratch of `width` int32. */
static void vertical_pass_portable(const uint8_t *src, Py_ssize_t width, Py_ssize_t x0, uint8_t *out,
                                   Py_ssize_t out_rows, const int32_t *index, const int32_t *weight, Py_ssize_t taps,
                                   int32_t lo, int32_t *acc) {
    for (Py_ssize_t i = 0; i < out_rows; i++) {
        for (Py_ssize_t x = x0; x < width; x++) acc[x] = HALF;
        for (Py_ssize_t k = 0; k < taps; k++) {
            const int32_t w = weight[i * taps + k];
            if (w == 0) continue; /* padding slots, and exact zeros of the kernel */
            const uint8_t *row = src + (Py_ssize_t)(index[i * taps + k] - lo) * width;
            for (Py_ssize_t x = x0; x < width; x++) acc[x] += (int32_t)row[x] * w;
        }
        uint8_t *dst = out + i * width;
        for (Py_ssize_t x = x0; x < width; x++) dst[x] = clip8(acc[x]);
    }
}

#ifdef RG_HAVE_AVX2
/* The same sums, 16 outputs at a time, still exact: each Q22 weight is split as
 * w = (w >> 11) * 2048 + (w & 2047), both halves fit int16, and _mm256_madd_epi16 multiplies
 * two taps' samples by two weights and adds them in int32 in one instruction, so
 *   sum_k s_k * w_k = (sum_k s_k * hi_k) * 2048 + sum_k s_k * lo_k
 * without rounding (Pillow's int32 sum never overflows, so neither do these parts).
 * ~1.6x faster than int32 multiplies; the in-lane unpack and pack cancel, keeping x in order. */
#define RG_MAX_PAIRS 32 /* taps per output handled here: 64 (a 16x downscale); more go portable */

__attribute__((target("avx2"))) static void vertical_pass_avx2(const uint8_t *src, Py_ssize_t width, uint8_t *out,
                                                                Py_ssize_t out_rows, const int32_t *index,
                                                                const int32_t *weight, Py_ssize_t taps, int32_t lo,
                                                                int32_t *acc) {
    const Py_ssize_t vec_end = width & ~(Py_ssize_t)15;
    const __m256i half = _mm256_set1_epi32(HALF);
    const uint8_t *row1[RG_MAX_PAIRS], *row2[RG_MAX_PAIRS];
    __m256i wh[RG_MAX_PAIRS], wl[RG_MAX_PAIRS];
    for (Py_ssize_t i = 0; i < out_rows; i++) {
        /* this output row's taps as pairs: two source rows and their split weights; an odd
         * last tap pairs with itself at weight 0; all-zero pairs are dropped */
        int pairs = 0;
        for (Py_ssize_t k = 0; k < taps; k += 2) {
            const Py_ssize_t k2 = k + 1 < taps ? k + 1 : k;
            const int32_t w1 = weight[i * taps + k], w2 = k + 1 < taps ? weight[i * taps + k + 1] : 0;
            if ((w1 | w2) == 0) continue;
            row1[pairs] = src + (Py_ssize_t)(index[i * taps + k] - lo) * width;
            row2[pairs] = src + (Py_ssize_t)(index[i * taps + k2] - lo) * width;
            wh[pairs] = _mm256_set1_epi32(
                (int32_t)(((uint32_t)(uint16_t)(int16_t)(w2 >> 11) << 16) | (uint16_t)(int16_t)(w1 >> 11)));
            wl[pairs] = _mm256_set1_epi32((int32_t)(((uint32_t)(w2 & 2047) << 16) | (uint32_t)(w1 & 2047)));
            pairs++;
        }
        uint8_t *dst = out + i * width;
        for (Py_ssize_t x = 0; x < vec_end; x += 16) {
            __m256i hi_a = _mm256_setzero_si256(), hi_b = hi_a, lo_a = hi_a, lo_b = hi_a;
            for (int p = 0; p < pairs; p++) {
                const __m256i s1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(row1[p] + x)));
                const __m256i s2 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(row2[p] + x)));
                const __m256i pa = _mm256_unpacklo_epi16(s1, s2), pb = _mm256_unpackhi_epi16(s1, s2);
                hi_a = _mm256_add_epi32(hi_a, _mm256_madd_epi16(pa, wh[p]));
                hi_b = _mm256_add_epi32(hi_b, _mm256_madd_epi16(pb, wh[p]));
                lo_a = _mm256_add_epi32(lo_a, _mm256_madd_epi16(pa, wl[p]));
                lo_b = _mm256_add_epi32(lo_b, _mm256_madd_epi16(pb, wl[p]));
            }
            __m256i sum_a = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(hi_a, 11), lo_a), half);
            __m256i sum_b = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(hi_b, 11), lo_b), half);
            sum_a = _mm256_srai_epi32(sum_a, PRECISION_BITS);
            sum_b = _mm256_srai_epi32(sum_b, PRECISION_BITS);
            const __m256i words = _mm256_packs_epi32(sum_a, sum_b);     /* in order within each lane */
            const __m256i bytes = _mm256_packus_epi16(words, words);    /* clip to 0..255 */
            const __m256i both = _mm256_permute4x64_epi64(bytes, 0x08); /* lane 0 low | lane 1 low */
            _mm_storeu_si128((__m128i *)(dst + x), _mm256_castsi256_si128(both));
        }
    }
    if (vec_end < width) /* the last width % 16 columns */
        vertical_pass_portable(src, width, vec_end, out, out_rows, index, weight, taps, lo, acc);
}
#endif

/* Whether the AVX2 pass may run (it does when the CPU has AVX2); tests switch it off to check
 * the portable pass on the same machine. */
static int use_simd = 1;

static void vertical_pass(const uint8_t *src, Py_ssize_t width, uint8_t *out, Py_ssize_t out_rows,
                          const int32_t *index, const int32_t *weight, Py_ssize_t taps, int32_t lo, int32_t *acc) {
#ifdef RG_HAVE_AVX2
    if (use_simd && taps <= 2 * RG_MAX_PAIRS && __builtin_cpu_supports("avx2")) {
        vertical_pass_avx2(src, width, out, out_rows, index, weight, taps, lo, acc);
        return;
    }
#endif
    vertical_pass_portable(src, width, 0, out, out_rows, index, weight, taps, lo, acc);
}

#ifdef __SSE2__
#include <emmintrin.h>

/* One 8x8 block: d[c * ds + r] = s[r * ss + c] for r, c < 8 (three rounds of byte/word/dword
 * interleaves, the classic SSE2 transpose). */
static inline void transpose_8x8(const uint8_t *s, Py_ssize_t ss, uint8_t *d, Py_ssize_t ds) {
    __m128i a[8], b[4], c[4], e[4];
    for (int i = 0; i < 8; i++) a[i] = _mm_loadl_epi64((const __m128i *)(s + i * ss));
    for (int i = 0; i < 4; i++) b[i] = _mm_unpacklo_epi8(a[2 * i], a[2 * i + 1]);
    c[0] = _mm_unpacklo_epi16(b[0], b[1]);
    c[1] = _mm_unpackhi_epi16(b[0], b[1]);
    c[2] = _mm_unpacklo_epi16(b[2], b[3]);
    c[3] = _mm_unpackhi_epi16(b[2], b[3]);
    e[0] = _mm_unpacklo_epi32(c[0], c[2]);
    e[1] = _mm_unpackhi_epi32(c[0], c[2]);
    e[2] = _mm_unpacklo_epi32(c[1], c[3]);
    e[3] = _mm_unpackhi_epi32(c[1], c[3]);
    for (int i = 0; i < 4; i++) {
        _mm_storel_epi64((__m128i *)(d + (2 * i) * ds), e[i]);
        _mm_storel_epi64((__m128i *)(d + (2 * i + 1) * ds), _mm_srli_si128(e[i], 8));
    }
}
#endif

/* dst (cols x rows) = transpose of src (rows x cols): 8x8 SSE2 blocks, walked in 64x64 tiles
 * so both sides stay in L1, then the ragged right and bottom edges one byte at a time. */
static void transpose_u8(const uint8_t *src, Py_ssize_t rows, Py_ssize_t cols, uint8_t *dst) {
    Py_ssize_t full_rows = 0, full_cols = 0;
#ifdef __SSE2__
    full_rows = rows & ~(Py_ssize_t)7;
    full_cols = cols & ~(Py_ssize_t)7;
    for (Py_ssize_t r0 = 0; r0 < full_rows; r0 += TRANSPOSE_TILE) {
        const Py_ssize_t r1 = r0 + TRANSPOSE_TILE < full_rows ? r0 + TRANSPOSE_TILE : full_rows;
        for (Py_ssize_t c0 = 0; c0 < full_cols; c0 += TRANSPOSE_TILE) {
            const Py_ssize_t c1 = c0 + TRANSPOSE_TILE < full_cols ? c0 + TRANSPOSE_TILE : full_cols;
            for (Py_ssize_t r = r0; r < r1; r += 8)
                for (Py_ssize_t c = c0; c < c1; c += 8) transpose_8x8(src + r * cols + c, cols, dst + c * rows + r, rows);
        }
    }
#endif
    for (Py_ssize_t r = 0; r < rows; r++)
        for (Py_ssize_t c = r < full_rows ? full_cols : 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
}

/* Checks shared by both passes: buffer sizes against the stated shape, and every tap index
 * inside [lo, lo + src_len). Sets a Python error and returns -1 on failure. */
static int check_taps(const Py_buffer *index, const Py_buffer *weight, Py_ssize_t out_len, Py_ssize_t taps,
                      int32_t lo, Py_ssize_t src_len) {
    if (taps < 1 || out_len < 1) {
        PyErr_Format(PyExc_ValueError, "need at least one tap and one output sample (taps=%zd, out=%zd)", taps,
                     out_len);
        return -1;
    }
    if (index->len != out_len * taps * 4 || weight->len != out_len * taps * 4) {
        PyErr_Format(PyExc_ValueError, "index and weight must hold %zd x %zd int32 values", out_len, taps);
        return -1;
    }
    const int32_t *idx = (const int32_t *)index->buf;
    for (Py_ssize_t j = 0; j < out_len * taps; j++) {
        if (idx[j] < lo || (Py_ssize_t)idx[j] - lo >= src_len) {
            PyErr_Format(PyExc_ValueError, "tap index %d outside the source span [%d, %zd)", idx[j], lo,
                         (Py_ssize_t)lo + src_len);
            return -1;
        }
    }
    return 0;
}

/* The caller's scratch buffer (reused across calls: fresh multi-megabyte mallocs cost a page
 * fault per 4 KiB, measured ~0.6 ms per 1080p pass) must hold `need` bytes, int32-aligned. */
static int check_scratch(const Py_buffer *scratch, Py_ssize_t need) {
    if (scratch->len < need || ((uintptr_t)scratch->buf % sizeof(int32_t)) != 0) {
        PyErr_Format(PyExc_ValueError, "scratch must be an int32-aligned buffer of at least %zd bytes (got %zd)",
                     need, scratch->len);
        return -1;
    }
    return 0;
}

/* The arguments both passes take: buffers are released by release_pass on every path. */
typedef struct {
    Py_buffer src, out, index, weight, scratch;
    Py_ssize_t rows, cols, taps, out_len; /* out_len: output rows (vertical) or columns (horizontal) */
    int lo;
} PassArgs;

static void release_pass(PassArgs *a) {
    PyBuffer_Release(&a->src);
    PyBuffer_Release(&a->out);
    PyBuffer_Release(&a->index);
    PyBuffer_Release(&a->weight);
    PyBuffer_Release(&a->scratch);
}

/* Parse (src, rows, cols, out, index, weight, taps, lo, scratch) and check every size and tap
 * index for a pass along rows (vertical) or columns; scratch_need(a) bytes of scratch. Returns 0,
 * or -1 with a Python error set (buffers already released). */
static int parse_pass(PyObject *args, int vertical, PassArgs *a, Py_ssize_t (*scratch_need)(const PassArgs *)) {
    if (!PyArg_ParseTuple(args, "y*nnw*y*y*niw*", &a->src, &a->rows, &a->cols, &a->out, &a->index, &a->weight,
                          &a->taps, &a->lo, &a->scratch))
        return -1;
    a->out_len = a->taps > 0 ? a->index.len / 4 / a->taps : 0;
    const Py_ssize_t out_rows = vertical ? a->out_len : a->rows, out_cols = vertical ? a->cols : a->out_len;
    int bad = 0;
    if (a->rows < 1 || a->cols < 1 || a->src.len != a->rows * a->cols || a->out.len != out_rows * out_cols) {
        PyErr_Format(PyExc_ValueError, "%s: src must be %zd x %zd bytes and out %zd x %zd",
                     vertical ? "vertical" : "horizontal", a->rows, a->cols, out_rows, out_cols);
        bad = 1;
    } else {
        bad = check_taps(&a->index, &a->weight, a->out_len, a->taps, a->lo, vertical ? a->rows : a->cols) < 0 ||
              check_scratch(&a->scratch, scratch_need(a)) < 0;
    }
    if (bad) {
        release_pass(a);
        return -1;
    }
    return 0;
}

/* vertical: acc, one int32 per column. */
static Py_ssize_t vertical_scratch(const PassArgs *a) { return a->cols * (Py_ssize_t)sizeof(int32_t); }

/* horizontal: acc (rows int32) | src^T (cols x rows) | result^T (out_cols x rows). */
static Py_ssize_t horizontal_scratch(const PassArgs *a) {
    return a->rows * (Py_ssize_t)sizeof(int32_t) + (a->cols + a->out_len) * a->rows;
}

PyDoc_STRVAR(vertical_doc,
             "vertical(src, rows, cols, out, index, weight, taps, lo, scratch)\n\n"
             "Resample the rows of the uint8 (rows x cols) plane ``src`` into ``out`` "
             "(len(index) / taps rows x cols): out[i] = sum_k weight[i, k] * src[index[i, k] - lo], "
             "weights int32 Q22, Pillow's rounding and clipping. scratch: >= 4 * cols writable bytes.");

static PyObject *vertical(PyObject *self, PyObject *args) {
    PassArgs a;
    (void)self;
    if (parse_pass(args, 1, &a, vertical_scratch) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS;
    vertical_pass(a.src.buf, a.cols, a.out.buf, a.out_len, a.index.buf, a.weight.buf, a.taps, a.lo, a.scratch.buf);
    Py_END_ALLOW_THREADS;
    release_pass(&a);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(horizontal_doc,
             "horizontal(src, rows, cols, out, index, weight, taps, lo, scratch)\n\n"
             "Resample the columns of the uint8 (rows x cols) plane ``src`` into ``out`` "
             "(rows x len(index) / taps): out[:, i] = sum_k weight[i, k] * src[:, index[i, k] - lo]. "
             "scratch: >= 4 * rows + (cols + out_cols) * rows writable bytes.");

static PyObject *horizontal(PyObject *self, PyObject *args) {
    PassArgs a;
    (void)self;
    if (parse_pass(args, 0, &a, horizontal_scratch) < 0) return NULL;
    /* transpose, vertical pass, transpose back into out (layout: horizontal_scratch) */
    int32_t *acc = a.scratch.buf;
    uint8_t *src_t = (uint8_t *)a.scratch.buf + a.rows * sizeof(int32_t);
    uint8_t *out_t = src_t + a.cols * a.rows;
    Py_BEGIN_ALLOW_THREADS;
    transpose_u8(a.src.buf, a.rows, a.cols, src_t);
    vertical_pass(src_t, a.rows, out_t, a.out_len, a.index.buf, a.weight.buf, a.taps, a.lo, acc);
    transpose_u8(out_t, a.out_len, a.rows, a.out.buf);
    Py_END_ALLOW_THREADS;
    release_pass(&a);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(simd_doc,
             "simd(enabled=None) -> bool\n\n"
             "Whether the vectorised (AVX2) pass is in use; with a bool, allow or forbid it first. "
             "False where the CPU or the build has no AVX2.");

static PyObject *simd(PyObject *self, PyObject *args) {
    PyObject *enabled = Py_None;
    (void)self;
    if (!PyArg_ParseTuple(args, "|O", &enabled)) return NULL;
    if (enabled != Py_None) {
        const int flag = PyObject_IsTrue(enabled);
        if (flag < 0) return NULL;
        use_simd = flag;
    }
#ifdef RG_HAVE_AVX2
    return PyBool_FromLong(use_simd && __builtin_cpu_supports("avx2"));
#else
    return PyBool_FromLong(0);
#endif
}

static PyMethodDef methods[] = {
    {"simd", simd, METH_VARARGS, simd_doc},
    {"vertical", vertical, METH_VARARGS, vertical_doc},
    {"horizontal", horizontal, METH_VARARGS, horizontal_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_resample", "Compiled passes of reelgpu's CPU resampler (see _resample.c).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__resample(void) { return PyModule_Create(&module); }
