/* Per-component loops over one chunk, specialised per dimension at compile time.
 *
 * A chunk is stored transposed: xt[i * FE_CHUNK + r] is feature i of row r, so rows
 * are SIMD lanes. For d <= FE_SMALL_D each template below is instantiated with d as a
 * constant (through the switch in the dispatcher), so the loops over features unroll
 * and FE_W rows are handled at once in one vector register per feature. Sums over rows
 * keep FE_W partial sums, added in a fixed order.
 */
#ifndef FASTEM_CHUNK_H
#define FASTEM_CHUNK_H

#include "_fastmath.h"

#define FE_CHUNK 256
#define FE_SMALL_D 8

enum { FE_TRIANGULAR = 0, FE_DIAGONAL = 1, FE_SCALAR = 2 };

#if defined(__GNUC__)
#define FE_ALWAYS_INLINE static inline __attribute__((always_inline))
/* Unroll loops over features completely, so per-row values stay in registers. */
#define FE_UNROLL _Pragma("GCC unroll 64")
#else
#define FE_ALWAYS_INLINE static inline
#define FE_UNROLL
#endif

#if defined(__GNUC__) || defined(__clang__)
/* FE_W rows at a time in one vector (split into halves where the ISA is narrower). */
#define FE_W 4
typedef double fe_vec __attribute__((vector_size(FE_W * sizeof(double))));
static inline fe_vec fe_load(const double *p) { fe_vec v; memcpy(&v, p, sizeof v); return v; }
static inline void fe_store(double *p, fe_vec v) { memcpy(p, &v, sizeof v); }
static inline double fe_hsum(fe_vec v) { return (v[0] + v[1]) + (v[2] + v[3]); }
#else
/* Compilers without vector extensions: one row at a time, same arithmetic. */
#define FE_W 1
typedef double fe_vec;
static inline fe_vec fe_load(const double *p) { return *p; }
static inline void fe_store(double *p, fe_vec v) { *p = v; }
static inline double fe_hsum(fe_vec v) { return v; }
#endif

/* out[r] = c - ||(x_r - mu) P||^2 / 2 for one component. P: upper-triangular d x d
 * (FE_TRIANGULAR), its diagonal (FE_DIAGONAL) or one scale (FE_SCALAR). */
FE_ALWAYS_INLINE void fe_logits_t(const double *restrict xt, ptrdiff_t n, const int d,
                                  const int kind, const double *restrict mu,
                                  const double *restrict prec, double c,
                                  double *restrict out)
{
    for (ptrdiff_t r = 0; r < n; r += FE_W) {
        fe_vec diff[FE_SMALL_D], q = fe_load(xt + r) * 0.0;
        FE_UNROLL
        for (int i = 0; i < d; i++)
            diff[i] = fe_load(xt + i * FE_CHUNK + r) - mu[i];
        if (kind == FE_TRIANGULAR) {
            FE_UNROLL
            for (int j = 0; j < d; j++) {
                fe_vec y = diff[0] * prec[j];
                FE_UNROLL
                for (int i = 1; i <= j; i++)
                    y += diff[i] * prec[i * d + j];
                q += y * y;
            }
        } else if (kind == FE_DIAGONAL) {
            FE_UNROLL
            for (int i = 0; i < d; i++) {
                fe_vec y = diff[i] * prec[i];
                q += y * y;
            }
        } else {
            FE_UNROLL
            for (int i = 0; i < d; i++)
                q += diff[i] * diff[i];
            q *= prec[0] * prec[0];
        }
        fe_store(out + r, c - 0.5 * q);
    }
}

/* Add sum_r w_r, sum_r w_r (x_r - mu) and the second moments (upper triangle of
 * d x d at s2[i * d + j], the diagonal, or the trace) to nk, s1, s2. */
FE_ALWAYS_INLINE void fe_stats_t(const double *restrict xt, ptrdiff_t n, const int d,
                                 const int kind, const double *restrict mu,
                                 const double *restrict w, double *restrict nk,
                                 double *restrict s1, double *restrict s2)
{
    enum { MAX_SUMS = 1 + FE_SMALL_D + FE_SMALL_D * (FE_SMALL_D + 1) / 2 };
    const int n_second = kind == FE_TRIANGULAR ? d * (d + 1) / 2
                         : kind == FE_DIAGONAL ? d : 1;
    const int n_sums = 1 + d + n_second;
    fe_vec acc[MAX_SUMS];
    FE_UNROLL
    for (int p = 0; p < n_sums; p++)
        acc[p] = fe_load(w) * 0.0;
    for (ptrdiff_t r = 0; r < n; r += FE_W) {
        fe_vec diff[FE_SMALL_D];
        const fe_vec wr = fe_load(w + r);
        FE_UNROLL
        for (int i = 0; i < d; i++)
            diff[i] = fe_load(xt + i * FE_CHUNK + r) - mu[i];
        int p = 0;
        acc[p++] += wr;
        FE_UNROLL
        for (int i = 0; i < d; i++)
            acc[p++] += wr * diff[i];
        if (kind == FE_TRIANGULAR) {
            FE_UNROLL
            for (int i = 0; i < d; i++) {
                const fe_vec wd = wr * diff[i];
                FE_UNROLL
                for (int j = i; j < d; j++)
                    acc[p++] += wd * diff[j];
            }
        } else if (kind == FE_DIAGONAL) {
            FE_UNROLL
            for (int i = 0; i < d; i++)
                acc[p++] += wr * diff[i] * diff[i];
        } else {
            fe_vec sq = diff[0] * diff[0];
            FE_UNROLL
            for (int i = 1; i < d; i++)
                sq += diff[i] * diff[i];
            acc[p++] += wr * sq;
        }
    }
    int p = 0;
    nk[0] += fe_hsum(acc[p++]);
    FE_UNROLL
    for (int i = 0; i < d; i++)
        s1[i] += fe_hsum(acc[p++]);
    if (kind == FE_TRIANGULAR) {
        FE_UNROLL
        for (int i = 0; i < d; i++)
            FE_UNROLL
            for (int j = i; j < d; j++)
                s2[i * d + j] += fe_hsum(acc[p++]);
    } else if (kind == FE_DIAGONAL) {
        FE_UNROLL
        for (int i = 0; i < d; i++)
            s2[i] += fe_hsum(acc[p++]);
    } else {
        s2[0] += fe_hsum(acc[p++]);
    }
}

/* Log-sum-exp over the K logits of each row: row_max = max_k logit, logit becomes
 * exp(logit - row_max) (one exp per row and component) and row_sum their sum. */
static void fe_normalise(double *restrict logit, ptrdiff_t n, ptrdiff_t n_components,
                         double *restrict row_max, double *restrict row_sum)
{
    for (ptrdiff_t r = 0; r < n; r++) {
        row_max[r] = logit[r];
        row_sum[r] = 0.0;
    }
    for (ptrdiff_t k = 1; k < n_components; k++) {
        const double *restrict lk = logit + k * FE_CHUNK;
        for (ptrdiff_t r = 0; r < n; r++)
            row_max[r] = lk[r] > row_max[r] ? lk[r] : row_max[r];
    }
    for (ptrdiff_t k = 0; k < n_components; k++) {
        double *restrict lk = logit + k * FE_CHUNK;
        for (ptrdiff_t r = 0; r < n; r++) {
            const double e = fe_exp(lk[r] - row_max[r]);
            lk[r] = e;
            row_sum[r] += e;
        }
    }
}

/* best_k[r] = the first k with the largest logit of row r (as a double, so that the
 * selects vectorise), best[r] that logit. */
static void fe_argmax(const double *restrict logit, ptrdiff_t n, ptrdiff_t n_components,
                      double *restrict best, double *restrict best_k)
{
    for (ptrdiff_t r = 0; r < n; r++) {
        best[r] = logit[r];
        best_k[r] = 0.0;
    }
    for (ptrdiff_t k = 1; k < n_components; k++) {
        const double *restrict lk = logit + k * FE_CHUNK;
        for (ptrdiff_t r = 0; r < n; r++) {
            const int larger = lk[r] > best[r];
            best[r] = larger ? lk[r] : best[r];
            best_k[r] = larger ? (double)k : best_k[r];
        }
    }
}

#define FE_CASE_D(D, call_with_d) case D: call_with_d(D); return;
#define FE_SMALL_D_SWITCH(d, call_with_d)                                              \
    switch (d) {                                                                       \
        FE_CASE_D(1, call_with_d) FE_CASE_D(2, call_with_d)                            \
        FE_CASE_D(3, call_with_d) FE_CASE_D(4, call_with_d)                            \
        FE_CASE_D(5, call_with_d) FE_CASE_D(6, call_with_d)                            \
        FE_CASE_D(7, call_with_d) FE_CASE_D(8, call_with_d)                            \
    }

/* Dispatchers: one instantiation per (kind, d) for 1 <= d <= FE_SMALL_D. */
#define FE_LOGITS_KIND(KIND, D) fe_logits_t(xt, n, D, KIND, mu, prec, c, out)
#define FE_LOGITS_TRI(D) FE_LOGITS_KIND(FE_TRIANGULAR, D)
#define FE_LOGITS_DIAG(D) FE_LOGITS_KIND(FE_DIAGONAL, D)
#define FE_LOGITS_SCALAR(D) FE_LOGITS_KIND(FE_SCALAR, D)

static void fe_small_logits(const double *xt, ptrdiff_t n, int d, int kind,
                            const double *mu, const double *prec, double c, double *out)
{
    if (kind == FE_TRIANGULAR) { FE_SMALL_D_SWITCH(d, FE_LOGITS_TRI) }
    else if (kind == FE_DIAGONAL) { FE_SMALL_D_SWITCH(d, FE_LOGITS_DIAG) }
    else { FE_SMALL_D_SWITCH(d, FE_LOGITS_SCALAR) }
}

#define FE_STATS_KIND(KIND, D) fe_stats_t(xt, n, D, KIND, mu, w, nk, s1, s2)
#define FE_STATS_TRI(D) FE_STATS_KIND(FE_TRIANGULAR, D)
#define FE_STATS_DIAG(D) FE_STATS_KIND(FE_DIAGONAL, D)
#define FE_STATS_SCALAR(D) FE_STATS_KIND(FE_SCALAR, D)

static void fe_small_stats(const double *xt, ptrdiff_t n, int d, int kind,
                           const double *mu, const double *w, double *nk, double *s1,
                           double *s2)
{
    if (kind == FE_TRIANGULAR) { FE_SMALL_D_SWITCH(d, FE_STATS_TRI) }
    else if (kind == FE_DIAGONAL) { FE_SMALL_D_SWITCH(d, FE_STATS_DIAG) }
    else { FE_SMALL_D_SWITCH(d, FE_STATS_SCALAR) }
}

#endif
