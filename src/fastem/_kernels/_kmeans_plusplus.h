/* The O(n_samples) work of one k-means++ seeding step, one block of rows at a time.
 *
 * A block is read in chunks of KPP_CHUNK rows, converted to float64 and transposed
 * (xt[j * KPP_CHUNK + r] is feature j of row r), so that any dtype and any strides take
 * the same path and rows are SIMD lanes. Squared distances are sum_j (x_j - c_j)^2 in
 * the order j = 0, 1, ..., d - 1 with no fused multiply-add, so every build and the
 * NumPy twin get the same bits. Sums over a block keep KPP_LANES partial sums (lane l
 * adds the rows r = l mod KPP_LANES of the block in order), added in a fixed order at
 * the end: a block's sums do not depend on which thread computes it.
 */
#ifndef FASTEM_KMEANS_PLUSPLUS_H
#define FASTEM_KMEANS_PLUSPLUS_H

#include <stddef.h>
#include <string.h>
#if defined(__SSE2__) || defined(__AVX__)
#include <immintrin.h>
#endif

/* clang would otherwise fuse a * b + c into an FMA where the ISA has one (gcc does
 * not in ISO C mode): the bits must not depend on the build. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define KPP_CHUNK 256                  /* rows per chunk: the transposed chunk in L1/L2 */
#define KPP_LANES 8                    /* partial sums per block */
#define KPP_PREFETCH_ROWS (2 * KPP_CHUNK) /* how far ahead X is prefetched */

#if defined(__GNUC__)
#define KPP_ALWAYS_INLINE static inline __attribute__((always_inline))
#define KPP_UNROLL _Pragma("GCC unroll 16")
#else
#define KPP_ALWAYS_INLINE static inline
#define KPP_UNROLL
#define __builtin_prefetch(address) ((void)0)
#endif

/* --- loading ------------------------------------------------------------------------ */

/* One element of X at p, as float64 (memcpy: rows of a packed record need not be
 * aligned). */
KPP_ALWAYS_INLINE double kpp_value(const char *p, const int itemsize)
{
    if (itemsize == 8) {
        double value;
        memcpy(&value, p, sizeof value);
        return value;
    }
    float single;
    memcpy(&single, p, sizeof single);
    return (double)single;
}

#if defined(__AVX2__)
/* Four rows of contiguous features: xt[j][r..r+3] for the features j of [j0, j0 + 4)
 * (a 4 x 4 transpose in registers), from rows at row0 + i * row_stride. */
KPP_ALWAYS_INLINE void kpp_transpose4(const char *row0, ptrdiff_t row_stride,
                                      const int itemsize, int j0, double *xt)
{
    __m256d a, b, c, e;
    if (itemsize == 8) {
        a = _mm256_loadu_pd((const double *)row0 + j0);
        b = _mm256_loadu_pd((const double *)(row0 + row_stride) + j0);
        c = _mm256_loadu_pd((const double *)(row0 + 2 * row_stride) + j0);
        e = _mm256_loadu_pd((const double *)(row0 + 3 * row_stride) + j0);
    } else {
        a = _mm256_cvtps_pd(_mm_loadu_ps((const float *)row0 + j0));
        b = _mm256_cvtps_pd(_mm_loadu_ps((const float *)(row0 + row_stride) + j0));
        c = _mm256_cvtps_pd(_mm_loadu_ps((const float *)(row0 + 2 * row_stride) + j0));
        e = _mm256_cvtps_pd(_mm_loadu_ps((const float *)(row0 + 3 * row_stride) + j0));
    }
    const __m256d t0 = _mm256_unpacklo_pd(a, b), t1 = _mm256_unpackhi_pd(a, b);
    const __m256d t2 = _mm256_unpacklo_pd(c, e), t3 = _mm256_unpackhi_pd(c, e);
    _mm256_storeu_pd(xt + (ptrdiff_t)j0 * KPP_CHUNK, _mm256_permute2f128_pd(t0, t2, 0x20));
    _mm256_storeu_pd(xt + (ptrdiff_t)(j0 + 1) * KPP_CHUNK, _mm256_permute2f128_pd(t1, t3, 0x20));
    _mm256_storeu_pd(xt + (ptrdiff_t)(j0 + 2) * KPP_CHUNK, _mm256_permute2f128_pd(t0, t2, 0x31));
    _mm256_storeu_pd(xt + (ptrdiff_t)(j0 + 3) * KPP_CHUNK, _mm256_permute2f128_pd(t1, t3, 0x31));
}

/* Four packed float64 rows of three features (12 values in three vectors) to xt. */
KPP_ALWAYS_INLINE void kpp_transpose4_d3(const double *rows, double *xt)
{
    const __m256d a = _mm256_loadu_pd(rows);     /* r0f0 r0f1 r0f2 r1f0 */
    const __m256d b = _mm256_loadu_pd(rows + 4); /* r1f1 r1f2 r2f0 r2f1 */
    const __m256d c = _mm256_loadu_pd(rows + 8); /* r2f2 r3f0 r3f1 r3f2 */
    const __m256d f0 = _mm256_blend_pd(_mm256_blend_pd(a, b, 0x4), c, 0x2);
    const __m256d f1 = _mm256_blend_pd(_mm256_blend_pd(a, b, 0x9), c, 0x4);
    const __m256d f2 = _mm256_blend_pd(_mm256_blend_pd(a, b, 0x2), c, 0x9);
    _mm256_storeu_pd(xt, _mm256_permute4x64_pd(f0, 0x6C));                  /* 0 3 2 1 */
    _mm256_storeu_pd(xt + KPP_CHUNK, _mm256_permute4x64_pd(f1, 0xB1));      /* 1 0 3 2 */
    _mm256_storeu_pd(xt + 2 * KPP_CHUNK, _mm256_permute4x64_pd(f2, 0xC6));  /* 2 1 0 3 */
}
#endif

/* Rows [start, start + n_rows) of X (float64 if itemsize is 8, else float32) into xt,
 * transposed and converted to float64; rows n_rows..n_padded-1 are set to zero. Rows
 * are read one after the other, so X streams from memory in order. */
KPP_ALWAYS_INLINE void kpp_load_chunk_t(const char *X, ptrdiff_t row_stride,
                                        ptrdiff_t col_stride, const int itemsize,
                                        ptrdiff_t start, ptrdiff_t n_rows,
                                        ptrdiff_t n_padded, const int d,
                                        double *restrict xt)
{
    const char *row = X + start * row_stride;
    ptrdiff_t r = 0;
#if defined(__AVX2__)
    /* Contiguous features: four rows at a time, transposed in registers. */
    if (col_stride == itemsize && (d >= 4 || (d == 3 && itemsize == 8 &&
                                              row_stride == 3 * 8))) {
        for (; r + 4 <= n_rows; r += 4, row += 4 * row_stride) {
            for (int i = 0; i < 4; i++)
                __builtin_prefetch(row + (KPP_PREFETCH_ROWS + i) * row_stride);
            if (d == 3) {
                kpp_transpose4_d3((const double *)row, xt + r);
                continue;
            }
            int j = 0;
            for (; j + 4 <= d; j += 4)
                kpp_transpose4(row, row_stride, itemsize, j, xt + r);
            for (; j < d; j++)
                for (int i = 0; i < 4; i++)
                    xt[(ptrdiff_t)j * KPP_CHUNK + r + i] =
                        kpp_value(row + i * row_stride + j * itemsize, itemsize);
        }
    }
#endif
    for (; r < n_rows; r++, row += row_stride) {
        /* The chunk after next, so that memory keeps streaming while this one is
         * computed (a hint: it never faults, even past the end of X). */
        __builtin_prefetch(row + KPP_PREFETCH_ROWS * row_stride);
        KPP_UNROLL
        for (int j = 0; j < d; j++)
            xt[(ptrdiff_t)j * KPP_CHUNK + r] = kpp_value(row + j * col_stride, itemsize);
    }
    for (int j = 0; j < d; j++)
        for (ptrdiff_t r = n_rows; r < n_padded; r++)
            xt[(ptrdiff_t)j * KPP_CHUNK + r] = 0.0;
}

/* ||x - c||^2 of one row (feature j at x[j * stride]), summed as the chunk loops do. */
static inline double kpp_row_distance(const char *row, ptrdiff_t col_stride,
                                      int itemsize, int d, const double *centre)
{
    double dist = 0.0;
    for (int j = 0; j < d; j++) {
        const double diff = kpp_value(row + j * col_stride, itemsize) - centre[j];
        dist += diff * diff;
    }
    return dist;
}

/* --- one chunk ---------------------------------------------------------------------- */

#if defined(__AVX__)
/* KPP_W rows at a time in one vector. */
#define KPP_W 4
typedef double kpp_vec __attribute__((vector_size(KPP_W * sizeof(double))));
static inline kpp_vec kpp_load(const double *p) { kpp_vec v; memcpy(&v, p, sizeof v); return v; }
static inline void kpp_store(double *p, kpp_vec v) { memcpy(p, &v, sizeof v); }
/* a < b ? a : b in each lane: exactly what x86's minpd computes. */
static inline kpp_vec kpp_min(kpp_vec a, kpp_vec b)
{
    return (kpp_vec)_mm256_min_pd((__m256d)a, (__m256d)b);
}
#elif defined(__GNUC__) || defined(__clang__)
/* SSE2 (the x86-64 baseline), NEON, ...: two rows per vector. */
#define KPP_W 2
typedef double kpp_vec __attribute__((vector_size(KPP_W * sizeof(double))));
typedef long long kpp_mask __attribute__((vector_size(KPP_W * sizeof(double))));
static inline kpp_vec kpp_load(const double *p) { kpp_vec v; memcpy(&v, p, sizeof v); return v; }
static inline void kpp_store(double *p, kpp_vec v) { memcpy(p, &v, sizeof v); }
static inline kpp_vec kpp_min(kpp_vec a, kpp_vec b)
{
#if defined(__SSE2__)
    return (kpp_vec)_mm_min_pd((__m128d)a, (__m128d)b);
#else
    const kpp_mask less = a < b;
    return (kpp_vec)((less & (kpp_mask)a) | (~less & (kpp_mask)b));
#endif
}
#else
/* Compilers without vector extensions: one row at a time, the same arithmetic. */
#define KPP_W 1
typedef double kpp_vec;
static inline kpp_vec kpp_load(const double *p) { return *p; }
static inline void kpp_store(double *p, kpp_vec v) { *p = v; }
static inline kpp_vec kpp_min(kpp_vec a, kpp_vec b) { return a < b ? a : b; }
#endif
#define KPP_VECS (KPP_LANES / KPP_W) /* vectors of partial sums */
#define KPP_GROUP 16                  /* rows whose distances are computed together */
#define KPP_GROUP_VECS (KPP_GROUP / KPP_W)

/* dist[v] = ||x_r - c||^2 for the KPP_GROUP rows from xt (feature j of row r at
 * xt[j * KPP_CHUNK + r]), KPP_W rows per vector. The vectors' sums over features are
 * independent chains, interleaved so that they overlap. */
KPP_ALWAYS_INLINE void kpp_distances(const double *restrict xt, const int d,
                                     const double *restrict centre,
                                     kpp_vec *restrict dist)
{
    for (int v = 0; v < KPP_GROUP_VECS; v++) {
        const kpp_vec diff = kpp_load(xt + v * KPP_W) - centre[0];
        dist[v] = diff * diff; /* = 0 + diff * diff, as the twin adds */
    }
    KPP_UNROLL
    for (int j = 1; j < d; j++) {
        const double c = centre[j];
        for (int v = 0; v < KPP_GROUP_VECS; v++) {
            const kpp_vec diff = kpp_load(xt + (ptrdiff_t)j * KPP_CHUNK + v * KPP_W) - c;
            dist[v] += diff * diff;
        }
    }
}

/* For the n rows of a chunk (n a multiple of KPP_GROUP):
 *   closest = min(closest, ||x - last||^2)              when last is not NULL;
 *   acc[t][l] += w * min(closest, ||x - cand_t||^2)     for each candidate t,
 * lane l adding the rows r = l mod KPP_LANES in order. w is NULL for unit weights;
 * padding rows have closest 0, so they add 0. One candidate at a time, so that its
 * coordinates and its sums stay in registers. */
KPP_ALWAYS_INLINE void kpp_chunk_t(const double *restrict xt, ptrdiff_t n, const int d,
                                   const double *restrict last,
                                   const double *restrict candidates, int n_candidates,
                                   const double *restrict w, double *restrict closest,
                                   double *restrict acc)
{
    kpp_vec dist[KPP_GROUP_VECS];
    if (last != NULL) {
        for (ptrdiff_t r = 0; r < n; r += KPP_GROUP) {
            kpp_distances(xt + r, d, last, dist);
            for (int v = 0; v < KPP_GROUP_VECS; v++) {
                double *p = closest + r + v * KPP_W;
                kpp_store(p, kpp_min(dist[v], kpp_load(p)));
            }
        }
    }
    for (int t = 0; t < n_candidates; t++) {
        const double *restrict centre = candidates + (ptrdiff_t)t * d;
        kpp_vec sums[KPP_VECS];
        for (int v = 0; v < KPP_VECS; v++)
            sums[v] = kpp_load(acc + t * KPP_LANES + v * KPP_W);
        for (ptrdiff_t r = 0; r < n; r += KPP_GROUP) {
            kpp_distances(xt + r, d, centre, dist);
            for (int v = 0; v < KPP_GROUP_VECS; v++) {
                const ptrdiff_t s = r + v * KPP_W;
                kpp_vec term = kpp_min(dist[v], kpp_load(closest + s));
                if (w != NULL)
                    term = kpp_load(w + s) * term;
                sums[v % KPP_VECS] += term; /* rows in order within each lane */
            }
        }
        for (int v = 0; v < KPP_VECS; v++)
            kpp_store(acc + t * KPP_LANES + v * KPP_W, sums[v]);
    }
}

/* Load a chunk and run it, with d (up to 16), the itemsize and, for rows of
 * contiguous features, the column stride as compile-time constants. */
KPP_ALWAYS_INLINE void kpp_load_and_run_t(const char *X, ptrdiff_t row_stride,
                                          ptrdiff_t col_stride, const int itemsize,
                                          ptrdiff_t start, ptrdiff_t n_rows,
                                          ptrdiff_t n_padded, const int d,
                                          double *restrict xt, const double *last,
                                          const double *candidates, int n_candidates,
                                          const double *w, double *cl, double *acc)
{
    if (col_stride == itemsize)
        kpp_load_chunk_t(X, row_stride, itemsize, itemsize, start, n_rows, n_padded, d,
                         xt);
    else
        kpp_load_chunk_t(X, row_stride, col_stride, itemsize, start, n_rows, n_padded,
                         d, xt);
    kpp_chunk_t(xt, n_padded, d, last, candidates, n_candidates, w, cl, acc);
}

static void kpp_load_and_run(const char *X, ptrdiff_t row_stride, ptrdiff_t col_stride,
                             int itemsize, ptrdiff_t start, ptrdiff_t n_rows,
                             ptrdiff_t n_padded, int d, double *xt, const double *last,
                             const double *candidates, int n_candidates,
                             const double *w, double *cl, double *acc)
{
#define KPP_CASE(D)                                                                   \
    case D:                                                                           \
        if (itemsize == 8)                                                            \
            kpp_load_and_run_t(X, row_stride, col_stride, 8, start, n_rows, n_padded, \
                               D, xt, last, candidates, n_candidates, w, cl, acc);    \
        else                                                                          \
            kpp_load_and_run_t(X, row_stride, col_stride, 4, start, n_rows, n_padded, \
                               D, xt, last, candidates, n_candidates, w, cl, acc);    \
        return;
    switch (d) {
        KPP_CASE(1) KPP_CASE(2) KPP_CASE(3) KPP_CASE(4) KPP_CASE(5) KPP_CASE(6)
        KPP_CASE(7) KPP_CASE(8) KPP_CASE(9) KPP_CASE(10) KPP_CASE(11) KPP_CASE(12)
        KPP_CASE(13) KPP_CASE(14) KPP_CASE(15) KPP_CASE(16)
    default:
        kpp_load_and_run_t(X, row_stride, col_stride, itemsize, start, n_rows, n_padded,
                           d, xt, last, candidates, n_candidates, w, cl, acc);
    }
#undef KPP_CASE
}

/* --- one block ---------------------------------------------------------------------- */

/* Rows [start, stop) of X: update closest[start:stop] with last (if not NULL) and
 * write sums[t] = sum_r w_r min(closest_r, ||x_r - cand_t||^2) for each candidate.
 * xt (d * KPP_CHUNK), cl and w_chunk (KPP_CHUNK each), acc (n_candidates * KPP_LANES)
 * are the calling thread's scratch. sample_weight is NULL for unit weights. */
static void kpp_block(const char *X, ptrdiff_t row_stride, ptrdiff_t col_stride,
                      int itemsize, int d, ptrdiff_t start, ptrdiff_t stop,
                      const double *last, const double *candidates, int n_candidates,
                      const double *sample_weight, double *closest, double *xt,
                      double *cl, double *w_chunk, double *acc, double *sums)
{
    memset(acc, 0, (size_t)n_candidates * KPP_LANES * sizeof(double));
    for (ptrdiff_t c = start; c < stop; c += KPP_CHUNK) {
        const ptrdiff_t n_rows = stop - c < KPP_CHUNK ? stop - c : KPP_CHUNK;
        const ptrdiff_t n_padded = (n_rows + KPP_GROUP - 1) / KPP_GROUP * KPP_GROUP;
        double *chunk_closest = closest + c;
        const double *w = sample_weight == NULL ? NULL : sample_weight + c;
        if (n_padded > n_rows) {
            /* A short chunk: padded copies, the padding rows adding 0. */
            memcpy(cl, closest + c, (size_t)n_rows * sizeof(double));
            for (ptrdiff_t r = n_rows; r < n_padded; r++)
                cl[r] = 0.0;
            chunk_closest = cl;
            if (sample_weight != NULL) {
                memcpy(w_chunk, sample_weight + c, (size_t)n_rows * sizeof(double));
                for (ptrdiff_t r = n_rows; r < n_padded; r++)
                    w_chunk[r] = 0.0;
                w = w_chunk;
            }
        }
        kpp_load_and_run(X, row_stride, col_stride, itemsize, c, n_rows, n_padded, d,
                         xt, last, candidates, n_candidates, w, chunk_closest, acc);
        if (chunk_closest == cl && last != NULL)
            memcpy(closest + c, cl, (size_t)n_rows * sizeof(double));
    }
    for (int t = 0; t < n_candidates; t++) {
        const double *a = acc + t * KPP_LANES;
        sums[t] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    }
}

/* The first row i in [start, stop) with offset + sum_{start <= s <= i} term_s >=
 * target (summed in order), where term_s = w_s min(closest_s, ||x_s - last||^2) (just
 * w_s closest_s when last is NULL); stop - 1 if none. */
static ptrdiff_t kpp_scan(const char *X, ptrdiff_t row_stride, ptrdiff_t col_stride,
                          int itemsize, int d, ptrdiff_t start, ptrdiff_t stop,
                          const double *last, const double *sample_weight,
                          const double *closest, double offset, double target)
{
    double running = offset;
    for (ptrdiff_t i = start; i < stop; i++) {
        double term = closest[i];
        if (last != NULL) {
            const double dist =
                kpp_row_distance(X + i * row_stride, col_stride, itemsize, d, last);
            term = dist < term ? dist : term;
        }
        if (sample_weight != NULL)
            term = sample_weight[i] * term;
        running += term;
        if (running >= target)
            return i;
    }
    return stop - 1;
}

#endif
