/* Hot loops of the discrete-data kernels (``_discrete.pyx``): reading dense chunks
 * and the O(nnz x K) loops over CSR rows.
 *
 * Chunks of rows follow ``_simd.h``: the K logits of a chunk are stored component by
 * component, logit[k * FE_LD + i] for row i, so that its normalisation, log-sum-exp,
 * responsibilities and labels are ``_responsibilities.h``'s, as the Gaussian kernels'
 * are (rows as SIMD lanes).
 *
 * Inputs keep their own types: values float32 (``single``) or float64, CSR indices
 * int32 (``narrow``) or int64. The templates below take the two flags as
 * compile-time constants through a dispatcher, so each type pair gets its own loops.
 */
#ifndef FASTEM_DISCRETE_H
#define FASTEM_DISCRETE_H

#include <stdint.h>
#include <string.h>
#include "_responsibilities.h"
#include "_typed.h"
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* Vectors of K lanes kept in registers over one row's non-zeros: 4 x FE_W lanes,
 * 16 registers at most with the loads. */
#define FD_KV 4
/* Rows of the first moments are fetched this many stored values ahead: they are
 * spread over megabytes, updated in no order the prefetchers could follow (the
 * CSR loops of a pass 4-7% faster at 10,000 features, K = 20). */
#define FD_AHEAD 8

/* ---- dense chunks ---------------------------------------------------------------- */

/* Rows [start, start + n) of X (first byte X, byte strides rs between rows and cs
 * between columns, any signs) into xc, row-major with leading dimension ld, as
 * float64, missing values (NaN) as 0. Returns the number of NaN. Rows are read along
 * the smaller stride: one row after another for C-ordered data (a vectorised copy
 * where the columns are contiguous), one column after another for Fortran order. */
FE_ALWAYS_INLINE ptrdiff_t fd_load_rows_t(const char *X, ptrdiff_t rs, ptrdiff_t cs,
                                          ptrdiff_t start, ptrdiff_t n, ptrdiff_t d,
                                          ptrdiff_t ld, double *restrict xc,
                                          const int single)
{
    const ptrdiff_t size = single ? 4 : 8;
    ptrdiff_t missing = 0;
    if (cs == size) {
        for (ptrdiff_t i = 0; i < n; i++) {
            const char *row = X + (start + i) * rs;
            double *restrict out = xc + i * ld;
            for (ptrdiff_t j = 0; j < d; j++) {
                const double v = fe_value(row + j * size, single);
                missing += v != v;
                out[j] = v != v ? 0.0 : v;
            }
        }
    } else if ((cs < 0 ? -cs : cs) <= (rs < 0 ? -rs : rs)) {
        for (ptrdiff_t i = 0; i < n; i++) {
            const char *row = X + (start + i) * rs;
            for (ptrdiff_t j = 0; j < d; j++) {
                const double v = fe_value(row + j * cs, single);
                missing += v != v;
                xc[i * ld + j] = v != v ? 0.0 : v;
            }
        }
    } else {
        for (ptrdiff_t j = 0; j < d; j++) {
            const char *column = X + j * cs + start * rs;
            for (ptrdiff_t i = 0; i < n; i++) {
                const double v = fe_value(column + i * rs, single);
                missing += v != v;
                xc[i * ld + j] = v != v ? 0.0 : v;
            }
        }
    }
    return missing;
}

static ptrdiff_t fd_load_rows(const char *X, ptrdiff_t rs, ptrdiff_t cs, int single,
                              ptrdiff_t start, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ld,
                              double *xc)
{
    return single ? fd_load_rows_t(X, rs, cs, start, n, d, ld, xc, 1)
                  : fd_load_rows_t(X, rs, cs, start, n, d, ld, xc, 0);
}

/* The number of NaN in the n rows (d values each, ld apart) of a float64 chunk read
 * in place. */
static ptrdiff_t fd_count_missing(const double *restrict x, ptrdiff_t ld, ptrdiff_t n,
                                  ptrdiff_t d)
{
    ptrdiff_t missing = 0;
    for (ptrdiff_t i = 0; i < n; i++)
        for (ptrdiff_t j = 0; j < d; j++)
            missing += x[i * ld + j] != x[i * ld + j];
    return missing;
}

/* mask[i * ld + j] = 1 where X[start + i, j] is NaN, else 0 (the layout of
 * fd_load_rows; read again only for the chunks that have a NaN). */
static void fd_missing_mask(const char *X, ptrdiff_t rs, ptrdiff_t cs, int single,
                            ptrdiff_t start, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ld,
                            double *restrict mask)
{
    for (ptrdiff_t i = 0; i < n; i++)
        for (ptrdiff_t j = 0; j < d; j++) {
            const double v = fe_value(X + (start + i) * rs + j * cs, single);
            mask[i * ld + j] = v != v ? 1.0 : 0.0;
        }
}

/* The number of values of rows [0, n) of X that are neither 0, 1 nor NaN (what a
 * Bernoulli mixture's dense rows are checked for): one pass, no copy. */
FE_ALWAYS_INLINE ptrdiff_t fd_count_non_binary_t(const char *X, ptrdiff_t rs,
                                                 ptrdiff_t cs, ptrdiff_t n, ptrdiff_t d,
                                                 const int single)
{
    const ptrdiff_t size = single ? 4 : 8;
    ptrdiff_t count = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        const char *row = X + i * rs;
        if (cs == size)
            for (ptrdiff_t j = 0; j < d; j++) {
                const double x = fe_value(row + j * size, single);
                count += (x != 0.0) & (x != 1.0) & (x == x);
            }
        else
            for (ptrdiff_t j = 0; j < d; j++) {
                const double x = fe_value(row + j * cs, single);
                count += (x != 0.0) & (x != 1.0) & (x == x);
            }
    }
    return count;
}

static ptrdiff_t fd_count_non_binary(const char *X, ptrdiff_t rs, ptrdiff_t cs,
                                     int single, ptrdiff_t n, ptrdiff_t d)
{
    return single ? fd_count_non_binary_t(X, rs, cs, n, d, 1)
                  : fd_count_non_binary_t(X, rs, cs, n, d, 0);
}

/* ---- dense chunks of 0/1 values --------------------------------------------------- */

/* A chunk whose values are all 0 or 1 takes no product: its rows become bits, and
 * each group of FD_GROUP consecutive features (one byte of the bits) indexes a table
 * of the FD_PATTERNS sums of its features' coefficients, one K-vector per pattern.
 * A row's logits are d / FD_GROUP vector additions instead of d fused multiply-adds,
 * and its responsibilities add to one histogram entry per group, turned into the
 * first moments once per block (fd_hist_to_sums: about 2 additions per histogram
 * entry, so blocks are sized to make that small beside their rows' work). */
#define FD_GROUP 8
#define FD_PATTERNS 256

/* Bytes of one chunk row's bits: d rounded up to whole bytes. */
#define FD_ROW_BYTES(d) (((d) + 7) / 8)

/* The bits of one row of d values (byte addresses row + j * cs): bit j % 8 of
 * out[j / 8] set where x_j == 1. Returns nonzero where a value is neither 0 nor 1
 * (NaN included). Contiguous rows compare a vector of values at a time. */
FE_ALWAYS_INLINE unsigned fd_row_bits_t(const char *row, ptrdiff_t cs, ptrdiff_t d,
                                        unsigned char *restrict out, const int single)
{
    unsigned other = 0;
    ptrdiff_t j = 0;
#if defined(__AVX512F__)
    if (single && cs == 4) {
        for (; j + 16 <= d; j += 16) {
            const __m512 v = _mm512_loadu_ps(row + 4 * j);
            const __mmask16 one = _mm512_cmp_ps_mask(v, _mm512_set1_ps(1.0f), _CMP_EQ_OQ);
            const __mmask16 zero = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_EQ_OQ);
            other |= (unsigned)(uint16_t)~(one | zero);
            const uint16_t bits = (uint16_t)one;
            memcpy(out + j / 8, &bits, 2);
        }
    } else if (!single && cs == 8) {
        for (; j + 8 <= d; j += 8) {
            const __m512d v = _mm512_loadu_pd(row + 8 * j);
            const __mmask8 one = _mm512_cmp_pd_mask(v, _mm512_set1_pd(1.0), _CMP_EQ_OQ);
            const __mmask8 zero = _mm512_cmp_pd_mask(v, _mm512_setzero_pd(), _CMP_EQ_OQ);
            other |= (unsigned)(uint8_t)~(one | zero);
            out[j / 8] = (unsigned char)one;
        }
    }
#elif defined(__AVX2__)
    if (single && cs == 4) {
        for (; j + 8 <= d; j += 8) {
            const __m256 v = _mm256_loadu_ps((const float *)(row + 4 * j));
            const int one = _mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_set1_ps(1.0f), _CMP_EQ_OQ));
            const int zero = _mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_EQ_OQ));
            other |= (unsigned)(~(one | zero) & 0xff);
            out[j / 8] = (unsigned char)one;
        }
    } else if (!single && cs == 8) {
        for (; j + 8 <= d; j += 8) {
            const __m256d lo = _mm256_loadu_pd((const double *)(row + 8 * j));
            const __m256d hi = _mm256_loadu_pd((const double *)(row + 8 * j + 32));
            const int one = _mm256_movemask_pd(_mm256_cmp_pd(lo, _mm256_set1_pd(1.0), _CMP_EQ_OQ))
                | _mm256_movemask_pd(_mm256_cmp_pd(hi, _mm256_set1_pd(1.0), _CMP_EQ_OQ)) << 4;
            const int zero = _mm256_movemask_pd(_mm256_cmp_pd(lo, _mm256_setzero_pd(), _CMP_EQ_OQ))
                | _mm256_movemask_pd(_mm256_cmp_pd(hi, _mm256_setzero_pd(), _CMP_EQ_OQ)) << 4;
            other |= (unsigned)(~(one | zero) & 0xff);
            out[j / 8] = (unsigned char)one;
        }
    }
#endif
    for (; j < d; j += 8) {
        unsigned byte = 0;
        for (ptrdiff_t b = 0; b < 8 && j + b < d; b++) {
            const double x = fe_value(row + (j + b) * cs, single);
            byte |= (unsigned)(x == 1.0) << b;
            other |= (x != 0.0) & (x != 1.0);
        }
        out[j / 8] = (unsigned char)byte;
    }
    return other;
}

/* The tables and histograms of patterns hold K lanes rounded up to 4 (kq), in
 * vectors of 4 lanes, whatever the SIMD width: at K = 10, 12 lanes where vectors of 8
 * would take 16 (the look-ups and the histogram's updates are the pass's work: 1.2x
 * faster on AVX-512). At most FD_QV vectors are kept in registers per pass over a
 * row's groups. */
#define FD_QV 4
#if defined(__GNUC__) || defined(__clang__)
typedef double fd_quad __attribute__((vector_size(4 * sizeof(double))));
static inline fd_quad fd_qload(const double *p) { fd_quad v; memcpy(&v, p, sizeof v); return v; }
static inline void fd_qstore(double *p, fd_quad v) { memcpy(p, &v, sizeof v); }
static inline fd_quad fd_qzero(void) { fd_quad v = {0.0, 0.0, 0.0, 0.0}; return v; }
#define FD_QADD(a, b) ((a) + (b))
#else
typedef struct { double v[4]; } fd_quad;
static inline fd_quad fd_qload(const double *p) { fd_quad q; memcpy(q.v, p, sizeof q.v); return q; }
static inline void fd_qstore(double *p, fd_quad q) { memcpy(p, q.v, sizeof q.v); }
static inline fd_quad fd_qzero(void) { fd_quad q = {{0.0, 0.0, 0.0, 0.0}}; return q; }
static inline fd_quad fd_qadd(fd_quad a, fd_quad b)
{
    fd_quad q = {{a.v[0] + b.v[0], a.v[1] + b.v[1], a.v[2] + b.v[2], a.v[3] + b.v[3]}};
    return q;
}
#define FD_QADD(a, b) fd_qadd(a, b)
#endif

/* table[(g * FD_PATTERNS + v) * kq + k] = sum of at[j * kp + k] over the features j
 * of group g whose bit is set in v (features past d, lanes past K add nothing).
 * at: (d, kp). */
static void fd_pattern_table(const double *restrict at, ptrdiff_t d, ptrdiff_t kp,
                             ptrdiff_t n_components, ptrdiff_t kq,
                             double *restrict table)
{
    const ptrdiff_t n_groups = (d + FD_GROUP - 1) / FD_GROUP;
    for (ptrdiff_t g = 0; g < n_groups; g++) {
        double *restrict t = table + g * FD_PATTERNS * kq;
        for (ptrdiff_t k = 0; k < kq; k++)
            t[k] = 0.0;
        for (unsigned v = 1; v < FD_PATTERNS; v++) {
            /* v = its lowest bit + the pattern without it, added before. */
            unsigned low = 0;
            while (!((v >> low) & 1u))
                low++;
            const ptrdiff_t j = g * FD_GROUP + low;
            const double *restrict rest = t + (v & (v - 1)) * kq;
            for (ptrdiff_t k = 0; k < kq; k++)
                t[v * kq + k] = rest[k] + (j < d && k < n_components ? at[j * kp + k] : 0.0);
        }
    }
}

/* One row's nv vectors of sums from lane k0 on: the table entries of its groups'
 * patterns, in two sums (even and odd groups: two chains of additions). */
FE_ALWAYS_INLINE void fd_row_pattern_logits(const unsigned char *restrict row_bits,
                                            ptrdiff_t n_groups,
                                            const double *restrict table, ptrdiff_t kq,
                                            ptrdiff_t k0, fd_quad *acc, const int nv)
{
    fd_quad odd[FD_QV];
    FE_UNROLL
    for (int v = 0; v < nv; v++) {
        acc[v] = fd_qzero();
        odd[v] = fd_qzero();
    }
    const ptrdiff_t stride = FD_PATTERNS * kq;
    ptrdiff_t g = 0;
    for (; g + 1 < n_groups; g += 2) {
        const double *restrict t0 = table + g * stride + row_bits[g] * kq + k0;
        const double *restrict t1 = table + (g + 1) * stride + row_bits[g + 1] * kq + k0;
        FE_UNROLL
        for (int v = 0; v < nv; v++) {
            acc[v] = FD_QADD(acc[v], fd_qload(t0 + 4 * v));
            odd[v] = FD_QADD(odd[v], fd_qload(t1 + 4 * v));
        }
    }
    if (g < n_groups) {
        const double *restrict t = table + g * stride + row_bits[g] * kq + k0;
        FE_UNROLL
        for (int v = 0; v < nv; v++)
            acc[v] = FD_QADD(acc[v], fd_qload(t + 4 * v));
    }
    FE_UNROLL
    for (int v = 0; v < nv; v++)
        acc[v] = FD_QADD(acc[v], odd[v]);
}

/* The logits of one row from its bits: logit[k * FE_LD] = base[k] + its sums, k < K. */
FE_ALWAYS_INLINE void fd_row_pattern_logit_lanes(const unsigned char *restrict row_bits,
                                                 ptrdiff_t n_groups,
                                                 const double *restrict table,
                                                 ptrdiff_t kq, ptrdiff_t n_components,
                                                 const double *restrict base,
                                                 double *restrict logit)
{
    for (ptrdiff_t k0 = 0; k0 < kq; k0 += FD_QV * 4) {
        fd_quad acc[FD_QV];
        double lanes[FD_QV * 4];
        const ptrdiff_t left = (kq - k0) / 4;
        const int nv = left < FD_QV ? (int)left : FD_QV;
        switch (nv) {
#define FD_PATTERN_LOGITS(NV)                                                          \
    case NV:                                                                           \
        fd_row_pattern_logits(row_bits, n_groups, table, kq, k0, acc, NV);             \
        break;
            FD_PATTERN_LOGITS(1) FD_PATTERN_LOGITS(2) FD_PATTERN_LOGITS(3)
            FD_PATTERN_LOGITS(4)
#undef FD_PATTERN_LOGITS
        }
        for (int v = 0; v < nv; v++)
            fd_qstore(lanes + 4 * v, acc[v]);
        const ptrdiff_t k_end = k0 + nv * 4 < n_components ? k0 + nv * 4 : n_components;
        for (ptrdiff_t k = k0; k < k_end; k++)
            logit[k * FE_LD] = base[k] + lanes[k - k0];
    }
}

/* Rows [start, start + n) of X as bits, FD_ROW_BYTES(d) bytes a row. Returns nonzero,
 * and stops, at the first value that is neither 0 nor 1 (NaN included): that chunk
 * takes the general path. */
FE_ALWAYS_INLINE int fd_load_bits_t(const char *X, ptrdiff_t rs, ptrdiff_t cs,
                                    ptrdiff_t start, ptrdiff_t n, ptrdiff_t d,
                                    unsigned char *restrict bits, const int single)
{
    const ptrdiff_t nb = FD_ROW_BYTES(d);
    for (ptrdiff_t i = 0; i < n; i++)
        if (fd_row_bits_t(X + (start + i) * rs, cs, d, bits + i * nb, single))
            return 1;
    return 0;
}

/* The chunk's rows [start, start + n) of X as bits (FD_ROW_BYTES(d) bytes a row), and
 * their logits logit[k * FE_LD + i] = base[k] + sum_j x_ij A_kj; base[k] on the
 * padding rows n <= i < n_padded. Returns nonzero, and stops, at the first value
 * that is neither 0 nor 1 (NaN included): that chunk takes the general path. (All
 * the chunk's bits first, then its look-ups: the same loops one row at a time ran
 * 1.3x slower.) */
FE_ALWAYS_INLINE int fd_pattern_chunk_t(const char *X, ptrdiff_t rs, ptrdiff_t cs,
                                        ptrdiff_t start, ptrdiff_t n, ptrdiff_t n_padded,
                                        ptrdiff_t d, const double *restrict table,
                                        ptrdiff_t kq, ptrdiff_t n_components,
                                        const double *restrict base,
                                        unsigned char *restrict bits,
                                        double *restrict logit, const int single)
{
    if (fd_load_bits_t(X, rs, cs, start, n, d, bits, single))
        return 1;
    const ptrdiff_t n_groups = (d + FD_GROUP - 1) / FD_GROUP, nb = FD_ROW_BYTES(d);
    for (ptrdiff_t i = 0; i < n_padded; i++)
        fd_row_pattern_logit_lanes(bits + i * nb, i < n ? n_groups : 0, table, kq,
                                   n_components, base, logit + i);
    return 0;
}

static int fd_pattern_chunk(const char *X, ptrdiff_t rs, ptrdiff_t cs, int single,
                            ptrdiff_t start, ptrdiff_t n, ptrdiff_t n_padded,
                            ptrdiff_t d, const double *table, ptrdiff_t kq,
                            ptrdiff_t n_components, const double *base,
                            unsigned char *bits, double *logit)
{
    return single ? fd_pattern_chunk_t(X, rs, cs, start, n, n_padded, d, table, kq,
                                       n_components, base, bits, logit, 1)
                  : fd_pattern_chunk_t(X, rs, cs, start, n, n_padded, d, table, kq,
                                       n_components, base, bits, logit, 0);
}

/* One row's nv vectors of lanes from k0 on: hist[(g, its pattern)] += wr. */
FE_ALWAYS_INLINE void fd_row_pattern_sums(const unsigned char *restrict row_bits,
                                          ptrdiff_t n_groups,
                                          const double *restrict wr, ptrdiff_t kq,
                                          ptrdiff_t k0, double *restrict hist,
                                          const int nv)
{
    fd_quad r[FD_QV];
    FE_UNROLL
    for (int v = 0; v < nv; v++)
        r[v] = fd_qload(wr + k0 + 4 * v);
    const ptrdiff_t stride = FD_PATTERNS * kq;
    for (ptrdiff_t g = 0; g < n_groups; g++) {
        double *restrict h = hist + g * stride + row_bits[g] * kq + k0;
        FE_UNROLL
        for (int v = 0; v < nv; v++)
            fd_qstore(h + 4 * v, FD_QADD(fd_qload(h + 4 * v), r[v]));
    }
}

/* hist[(g * FD_PATTERNS + v) * kq + k] += w_i r_ik over the chunk's rows i < n of
 * non-zero weight, v the pattern of row i's group g (resp holding w_i r_ik as in
 * fd_csr_sums). wr: (kq,) scratch. */
static void fd_pattern_sums(const unsigned char *restrict bits, ptrdiff_t n,
                            ptrdiff_t d, const double *restrict resp,
                            const double *restrict weight, ptrdiff_t kq,
                            ptrdiff_t n_components, double *restrict wr,
                            double *restrict hist)
{
    const ptrdiff_t n_groups = (d + FD_GROUP - 1) / FD_GROUP, nb = FD_ROW_BYTES(d);
    for (ptrdiff_t k = n_components; k < kq; k++)
        wr[k] = 0.0;
    for (ptrdiff_t i = 0; i < n; i++) {
        if (weight[i] == 0.0)
            continue;
        for (ptrdiff_t k = 0; k < n_components; k++)
            wr[k] = resp[k * FE_LD + i];
        for (ptrdiff_t k0 = 0; k0 < kq; k0 += FD_QV * 4) {
            const ptrdiff_t left = (kq - k0) / 4;
            switch (left < FD_QV ? (int)left : FD_QV) {
#define FD_PATTERN_SUMS(NV)                                                            \
    case NV:                                                                           \
        fd_row_pattern_sums(bits + i * nb, n_groups, wr, kq, k0, hist, NV);            \
        break;
                FD_PATTERN_SUMS(1) FD_PATTERN_SUMS(2) FD_PATTERN_SUMS(3) FD_PATTERN_SUMS(4)
#undef FD_PATTERN_SUMS
            }
        }
    }
}

/* s[k * d + j] += the histogram's mass on the patterns with feature j's bit set,
 * for j < d and k < K; then the histogram is cleared. Bit by bit, each group's
 * patterns are folded in place: at step b the odd entries (bit b set) add to feature
 * FD_GROUP g + b, and each pair becomes one entry of the next step (2 additions per
 * entry in all, where summing each bit's half apart would take FD_GROUP / 2).
 * s: (K, d); wr: (kq,) scratch. */
static void fd_hist_to_sums(double *restrict hist, ptrdiff_t d, ptrdiff_t kq,
                            ptrdiff_t n_components, double *restrict wr,
                            double *restrict s)
{
    const ptrdiff_t n_groups = (d + FD_GROUP - 1) / FD_GROUP;
    for (ptrdiff_t g = 0; g < n_groups; g++) {
        double *h = hist + g * FD_PATTERNS * kq;
        for (ptrdiff_t b = 0; b < FD_GROUP; b++) {
            const ptrdiff_t pairs = (FD_PATTERNS >> b) / 2, j = g * FD_GROUP + b;
            for (ptrdiff_t k = 0; k < kq; k++)
                wr[k] = 0.0;
            for (ptrdiff_t u = 0; u < pairs; u++) {
                const double *even = h + 2 * u * kq, *odd = even + kq;
                double *out = h + u * kq;
                for (ptrdiff_t k = 0; k < kq; k++) {
                    const double e = even[k], o = odd[k];
                    wr[k] += o;
                    out[k] = e + o;
                }
            }
            if (j < d)
                for (ptrdiff_t k = 0; k < n_components; k++)
                    s[k * d + j] += wr[k];
        }
    }
    memset(hist, 0, (size_t)(n_groups * FD_PATTERNS * kq) * sizeof(double));
}

/* ---- CSR rows -------------------------------------------------------------------- */

/* Stored value p of a CSR matrix, float32 (single) or float64. */
FE_ALWAYS_INLINE double fd_csr_value(const void *data, ptrdiff_t p, const int single)
{
    return single ? (double)((const float *)data)[p] : ((const double *)data)[p];
}

/* One row's nv vectors of logits from lane k0 on: base + sum_p x_p at[j_p * kp + ...].
 * A column index outside [0, d) stops the row and counts in *bad (the call fails). */
FE_ALWAYS_INLINE void fd_row_logits_t(const void *data, const void *indices,
                                      ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t d,
                                      const double *restrict at, ptrdiff_t kp,
                                      ptrdiff_t k0, const double *restrict base,
                                      fe_vec *acc, ptrdiff_t *bad, const int nv,
                                      const int single, const int narrow)
{
    /* Two sums per vector, over the even and the odd values: two chains of FMA
     * (latency 4) per vector instead of one. */
    fe_vec odd[FD_KV];
    FE_UNROLL
    for (int v = 0; v < nv; v++) {
        acc[v] = fe_zero();
        odd[v] = fe_zero();
    }
    ptrdiff_t p = p0;
    for (; p + 1 < p1; p += 2) {
        const ptrdiff_t j0 = fe_index(indices, p, narrow);
        const ptrdiff_t j1 = fe_index(indices, p + 1, narrow);
        if ((size_t)j0 >= (size_t)d || (size_t)j1 >= (size_t)d) {
            *bad += 1;
            return;
        }
        const double *restrict a0 = at + j0 * kp + k0, *restrict a1 = at + j1 * kp + k0;
        const double x0 = fd_csr_value(data, p, single);
        const double x1 = fd_csr_value(data, p + 1, single);
        FE_UNROLL
        for (int v = 0; v < nv; v++) {
            acc[v] += x0 * fe_load(a0 + v * FE_W);
            odd[v] += x1 * fe_load(a1 + v * FE_W);
        }
    }
    if (p < p1) {
        const ptrdiff_t j = fe_index(indices, p, narrow);
        if ((size_t)j >= (size_t)d) {
            *bad += 1;
            return;
        }
        const double *restrict a = at + j * kp + k0;
        const double x = fd_csr_value(data, p, single);
        FE_UNROLL
        for (int v = 0; v < nv; v++)
            acc[v] += x * fe_load(a + v * FE_W);
    }
    FE_UNROLL
    for (int v = 0; v < nv; v++)
        acc[v] = fe_load(base + k0 + v * FE_W) + (acc[v] + odd[v]);
}

/* logit[k * FE_LD + i] = base[k] + sum_j x_ij at[j * kp + k] for the rows
 * i < n of the chunk (row start + i of X), and base[k] on the rows n <= i < n_padded.
 * at: (d, kp), A transposed, kp = K rounded up to FE_W lanes (zero columns past K).
 * Returns how many rows stopped at a column index outside [0, d) (their logits are
 * not to be used). */
FE_ALWAYS_INLINE ptrdiff_t fd_csr_logits_t(const void *data, const void *indices,
                                           const void *indptr, ptrdiff_t start,
                                           ptrdiff_t n, ptrdiff_t n_padded, ptrdiff_t d,
                                           const double *restrict at, ptrdiff_t kp,
                                           ptrdiff_t n_components,
                                           const double *restrict base,
                                           double *restrict logit, const int single,
                                           const int narrow)
{
    ptrdiff_t bad = 0;
    for (ptrdiff_t i = 0; i < n_padded; i++) {
        ptrdiff_t p0 = 0, p1 = 0;
        if (i < n) {
            p0 = fe_index(indptr, start + i, narrow);
            p1 = fe_index(indptr, start + i + 1, narrow);
        }
        for (ptrdiff_t k0 = 0; k0 < kp; k0 += FD_KV * FE_W) {
            fe_vec acc[FD_KV];
            double lanes[FD_KV * FE_W];
            const ptrdiff_t left = (kp - k0) / FE_W;
            const int nv = left < FD_KV ? (int)left : FD_KV;
            switch (nv) {
#define FD_ROW_LOGITS(NV)                                                              \
    case NV:                                                                           \
        fd_row_logits_t(data, indices, p0, p1, d, at, kp, k0, base, acc, &bad, NV,      \
                        single, narrow);                                               \
        break;
                FD_ROW_LOGITS(1) FD_ROW_LOGITS(2) FD_ROW_LOGITS(3) FD_ROW_LOGITS(4)
#undef FD_ROW_LOGITS
            }
            for (int v = 0; v < nv; v++)
                fe_store(lanes + v * FE_W, acc[v]);
            const ptrdiff_t k_end = k0 + nv * FE_W < n_components ? k0 + nv * FE_W
                                                                 : n_components;
            for (ptrdiff_t k = k0; k < k_end; k++)
                logit[k * FE_LD + i] = lanes[k - k0];
        }
    }
    return bad;
}

/* One row's nv vectors of lanes from k0 on: st[j_p * kp + ...] += x_p wr. */
FE_ALWAYS_INLINE void fd_row_sums_t(const void *data, const void *indices,
                                    ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t d,
                                    const double *restrict wr, ptrdiff_t kp,
                                    ptrdiff_t k0, double *restrict st, ptrdiff_t p_limit,
                                    const int nv, const int single, const int narrow)
{
    fe_vec r[FD_KV];
    FE_UNROLL
    for (int v = 0; v < nv; v++)
        r[v] = fe_load(wr + k0 + v * FE_W);
    for (ptrdiff_t p = p0; p < p1; p++) {
        const ptrdiff_t j = fe_index(indices, p, narrow);
        if (p + FD_AHEAD < p_limit) {
            const ptrdiff_t ahead = fe_index(indices, p + FD_AHEAD, narrow);
            if ((size_t)ahead < (size_t)d)
                FE_UNROLL
                for (int v = 0; v < nv; v++)
                    fe_prefetch(st + ahead * kp + k0 + v * FE_W);
        }
        if ((size_t)j >= (size_t)d)
            continue;
        const double x = fd_csr_value(data, p, single);
        double *restrict s = st + j * kp + k0;
        FE_UNROLL
        for (int v = 0; v < nv; v++)
            fe_store(s + v * FE_W, fe_load(s + v * FE_W) + x * r[v]);
    }
}

/* st[j * kp + k] += sum_i x_ij resp[k * FE_LD + i] over the chunk's rows i < n (row
 * start + i of X), resp holding w_i r_ik; st is (d, kp), the first moments
 * transposed so that each non-zero adds one contiguous K-vector. Rows of weight 0
 * are skipped. wr: (kp,) scratch. */
FE_ALWAYS_INLINE void fd_csr_sums_t(const void *data, const void *indices,
                                    const void *indptr, ptrdiff_t start, ptrdiff_t n,
                                    ptrdiff_t d, const double *restrict resp,
                                    const double *restrict weight, ptrdiff_t kp,
                                    ptrdiff_t n_components, double *restrict wr,
                                    double *restrict st, const int single,
                                    const int narrow)
{
    for (ptrdiff_t k = n_components; k < kp; k++)
        wr[k] = 0.0;
    for (ptrdiff_t i = 0; i < n; i++) {
        if (weight[i] == 0.0)
            continue;
        const ptrdiff_t p0 = fe_index(indptr, start + i, narrow);
        const ptrdiff_t p1 = fe_index(indptr, start + i + 1, narrow);
        const ptrdiff_t p_limit = fe_index(indptr, start + n, narrow);
        for (ptrdiff_t k = 0; k < n_components; k++)
            wr[k] = resp[k * FE_LD + i];
        for (ptrdiff_t k0 = 0; k0 < kp; k0 += FD_KV * FE_W) {
            const ptrdiff_t left = (kp - k0) / FE_W;
            switch (left < FD_KV ? (int)left : FD_KV) {
#define FD_ROW_SUMS(NV)                                                                \
    case NV:                                                                           \
        fd_row_sums_t(data, indices, p0, p1, d, wr, kp, k0, st, p_limit, NV, single,    \
                      narrow);                                                         \
        break;
                FD_ROW_SUMS(1) FD_ROW_SUMS(2) FD_ROW_SUMS(3) FD_ROW_SUMS(4)
#undef FD_ROW_SUMS
            }
        }
    }
}

/* Dispatchers: one instantiation per (value type, index type). */
#define FD_DISPATCH(result, call)                                                      \
    if (single && narrow)                                                              \
        result call(1, 1);                                                             \
    else if (single)                                                                   \
        result call(1, 0);                                                             \
    else if (narrow)                                                                   \
        result call(0, 1);                                                             \
    else                                                                               \
        result call(0, 0);

#define FD_CSR_LOGITS(S, N)                                                            \
    fd_csr_logits_t(data, indices, indptr, start, n, n_padded, d, at, kp,              \
                    n_components, base, logit, S, N)
static ptrdiff_t fd_csr_logits(const void *data, const void *indices,
                               const void *indptr, int single, int narrow,
                               ptrdiff_t start, ptrdiff_t n, ptrdiff_t n_padded,
                               ptrdiff_t d, const double *at, ptrdiff_t kp,
                               ptrdiff_t n_components, const double *base,
                               double *logit)
{
    ptrdiff_t bad;
    FD_DISPATCH(bad =, FD_CSR_LOGITS)
    return bad;
}

#define FD_CSR_SUMS(S, N)                                                              \
    fd_csr_sums_t(data, indices, indptr, start, n, d, resp, weight, kp, n_components,  \
                  wr, st, S, N)
static void fd_csr_sums(const void *data, const void *indices, const void *indptr,
                        int single, int narrow, ptrdiff_t start, ptrdiff_t n,
                        ptrdiff_t d, const double *resp, const double *weight,
                        ptrdiff_t kp, ptrdiff_t n_components, double *wr, double *st)
{
    FD_DISPATCH(, FD_CSR_SUMS)
}

#endif
