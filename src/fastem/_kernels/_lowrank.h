/* Hot loops of the factor-model kernels (``_lowrank.pyx``): a row's posterior from
 * its observed entries and its share of the M-step's per-feature sums.
 *
 * A row observes the set O of features (dense: entries that are not NaN; CSR: its
 * stored entries). With q factors, loadings w_j (row j of W, q doubles), wp_j =
 * w_j / psi_j, the row's precision is M = I + sum_{j in O} wp_j w_j^T (q x q,
 * row-major, full square: the rows of the outer products are contiguous vectors),
 * its projection b = sum_{j in O} r_j wp_j with r_j = x_j - mu_j, and
 * quad = sum_{j in O} r_j^2 / psi_j. A dense row observing at least half the
 * features starts from M_full = I + sum_j wp_j w_j^T instead and takes off the
 * features it misses (fewer of them).
 *
 * Each feature's statistics are one record of L = q + 1 + P + 1 doubles, so that a
 * row's update of a feature touches one contiguous run of memory: r_j z~ (z~ =
 * (E[z], 1)), the packed upper triangle of E[z~ z~^T] (P = (q + 1)(q + 2) / 2) and
 * r_j^2, each times the row's weight.
 *
 * Values are float32 (``single``) or float64, CSR indices int32 (``narrow``) or
 * int64: the templates below take the flags as compile-time constants through a
 * dispatcher, so each type pair gets its own loops.
 */
#ifndef FASTEM_LOWRANK_H
#define FASTEM_LOWRANK_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "_typed.h"

#define FL_LOG_2PI 1.83787706640934548356

/* Stored value p of a CSR data array, float32 or float64. */
FE_ALWAYS_INLINE double fl_data(const void *data, ptrdiff_t p, const int single)
{
    return single ? (double)((const float *)data)[p] : ((const double *)data)[p];
}

/* ---- small dense linear algebra (q x q, row-major) -------------------------------- */

/* M += sign * wp w^T, the full square. */
FE_ALWAYS_INLINE void fl_add_outer(double *restrict M, const double *restrict wp,
                                   const double *restrict w, ptrdiff_t q, double sign)
{
    for (ptrdiff_t a = 0; a < q; a++) {
        const double s = sign * wp[a];
        double *restrict row = M + a * q;
        for (ptrdiff_t c = 0; c < q; c++)
            row[c] += s * w[c];
    }
}

/* The identity, q x q. */
static inline void fl_identity(double *M, ptrdiff_t q)
{
    memset(M, 0, (size_t)(q * q) * sizeof(double));
    for (ptrdiff_t a = 0; a < q; a++)
        M[a * q + a] = 1.0;
}

/* In place: the lower Cholesky factor L of the symmetric positive-definite a (only
 * its lower triangle is read; the upper one is left as it was). Returns log|a| =
 * 2 sum_k log L_kk, or NAN where a is not positive definite. */
FE_ALWAYS_INLINE double fl_cholesky_t(double *a, ptrdiff_t q)
{
    double log_det = 0.0;
    for (ptrdiff_t k = 0; k < q; k++) {
        double *restrict row_k = a + k * q;
        double diagonal = row_k[k];
        for (ptrdiff_t t = 0; t < k; t++)
            diagonal -= row_k[t] * row_k[t];
        if (!(diagonal > 0.0))
            return NAN;
        const double root = sqrt(diagonal);
        row_k[k] = root;
        log_det += log(root);
        const double inverse = 1.0 / root;
        for (ptrdiff_t i = k + 1; i < q; i++) {
            double *restrict row_i = a + i * q;
            double value = row_i[k];
            for (ptrdiff_t t = 0; t < k; t++)
                value -= row_i[t] * row_k[t];
            row_i[k] = value * inverse;
        }
    }
    return 2.0 * log_det;
}

/* x = (L L^T)^-1 b, L lower (x may be b). */
FE_ALWAYS_INLINE void fl_cholesky_solve_t(const double *L, const double *b, double *x,
                                         ptrdiff_t q)
{
    for (ptrdiff_t i = 0; i < q; i++) {
        double value = b[i];
        for (ptrdiff_t t = 0; t < i; t++)
            value -= L[i * q + t] * x[t];
        x[i] = value / L[i * q + i];
    }
    for (ptrdiff_t i = q - 1; i >= 0; i--) {
        double value = x[i];
        for (ptrdiff_t t = i + 1; t < q; t++)
            value -= L[t * q + i] * x[t];
        x[i] = value / L[i * q + i];
    }
}

/* inverse = (L L^T)^-1, full q x q, through V = L^-1 (lower, in work):
 * inverse_ac = sum_{k >= max(a, c)} V_ka V_kc. */
FE_ALWAYS_INLINE void fl_cholesky_inverse_t(const double *L, double *inverse,
                                           double *work, ptrdiff_t q)
{
    double *V = work;
    for (ptrdiff_t c = 0; c < q; c++) {
        for (ptrdiff_t i = 0; i < c; i++)
            V[i * q + c] = 0.0;
        V[c * q + c] = 1.0 / L[c * q + c];
        for (ptrdiff_t i = c + 1; i < q; i++) {
            double value = 0.0;
            for (ptrdiff_t t = c; t < i; t++)
                value -= L[i * q + t] * V[t * q + c];
            V[i * q + c] = value / L[i * q + i];
        }
    }
    for (ptrdiff_t a = 0; a < q; a++) {
        for (ptrdiff_t c = a; c < q; c++) {
            double value = 0.0;
            for (ptrdiff_t k = c; k < q; k++)
                value += V[k * q + a] * V[k * q + c];
            inverse[a * q + c] = value;
            inverse[c * q + a] = value;
        }
    }
}

/* packed = weight * [cov + m m^T, m; m^T, 1], the upper triangle row by row. */
static inline void fl_second_moments(const double *cov, const double *m, double weight,
                                     ptrdiff_t q, double *packed)
{
    ptrdiff_t e = 0;
    for (ptrdiff_t a = 0; a < q; a++) {
        for (ptrdiff_t c = a; c < q; c++)
            packed[e++] = weight * (cov[a * q + c] + m[a] * m[c]);
        packed[e++] = weight * m[a];
    }
    packed[e] = weight;
}

/* ---- the parts of a row ------------------------------------------------------------ */

/* A CSR row's entries [p0, p1): M += sum wp_j w_j^T, b += sum r_j wp_j, and the
 * returned quad = sum r_j^2 / psi_j and *log_noise = sum log psi_j. Sets *bad where a
 * column index is outside [0, d) (nothing else is then valid). */
FE_ALWAYS_INLINE double fl_csr_precision_t(const void *data, const void *indices,
                                           ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t d,
                                           const double *mu, const double *w,
                                           const double *wp, const double *inv_psi,
                                           const double *log_psi, ptrdiff_t q,
                                           double *M, double *b, double *log_noise,
                                           int *bad, const int single, const int narrow)
{
    double quad = 0.0, noise = 0.0;
    for (ptrdiff_t p = p0; p < p1; p++) {
        const ptrdiff_t j = fe_index(indices, p, narrow);
        if (j < 0 || j >= d) {
            *bad = 1;
            return 0.0;
        }
        const double r = fl_data(data, p, single) - mu[j];
        const double *restrict wpj = wp + j * q;
        fl_add_outer(M, wpj, w + j * q, q, 1.0);
        for (ptrdiff_t a = 0; a < q; a++)
            b[a] += r * wpj[a];
        quad += r * r * inv_psi[j];
        noise += log_psi[j];
    }
    *log_noise = noise;
    return quad;
}

/* A CSR row's share of the per-feature records: for each stored entry, r_j z~ and
 * r_j^2 times weight, and the packed (weighted) second moments. */
FE_ALWAYS_INLINE void fl_csr_stats_t(const void *data, const void *indices, ptrdiff_t p0,
                                     ptrdiff_t p1, const double *mu,
                                     const double *restrict zt, double weight,
                                     const double *restrict packed, ptrdiff_t q,
                                     ptrdiff_t P, ptrdiff_t L, double *records,
                                     const int single, const int narrow)
{
    for (ptrdiff_t p = p0; p < p1; p++) {
        const ptrdiff_t j = fe_index(indices, p, narrow);
        const double r = fl_data(data, p, single) - mu[j];
        const double wr = weight * r;
        double *restrict record = records + j * L;
        for (ptrdiff_t t = 0; t <= q; t++)
            record[t] += wr * zt[t];
        double *restrict moments = record + q + 1;
        for (ptrdiff_t t = 0; t < P; t++)
            moments[t] += packed[t];
        record[L - 1] += wr * r;
    }
}

/* A dense row read into r (r_j = x_j - mu_j where observed) and list: its observed
 * features first, in increasing order, then its missing ones, in decreasing order.
 * Returns the number observed. */
FE_ALWAYS_INLINE ptrdiff_t fl_dense_read_t(const char *row, ptrdiff_t cs, ptrdiff_t d,
                                           const double *mu, double *restrict r,
                                           ptrdiff_t *restrict list, const int single)
{
    ptrdiff_t n_observed = 0, last = d;
    for (ptrdiff_t j = 0; j < d; j++) {
        const double v = fe_value(row + j * cs, single);
        if (v != v) {
            list[--last] = j;
        } else {
            r[j] = v - mu[j];
            list[n_observed++] = j;
        }
    }
    return n_observed;
}

/* M += sign * sum wp_j w_j^T over the count features of list; returns sum log psi_j
 * over them. */
FE_ALWAYS_INLINE double fl_dense_precision_t(const ptrdiff_t *list, ptrdiff_t count,
                                             const double *w, const double *wp,
                                             const double *log_psi, ptrdiff_t q,
                                             double sign, double *M)
{
    double noise = 0.0;
    for (ptrdiff_t k = 0; k < count; k++) {
        const ptrdiff_t j = list[k];
        fl_add_outer(M, wp + j * q, w + j * q, q, sign);
        noise += log_psi[j];
    }
    return noise;
}

/* b += sum r_j wp_j over the n_observed features first in list; returns
 * sum r_j^2 / psi_j over them. */
FE_ALWAYS_INLINE double fl_dense_project_t(const double *r, const ptrdiff_t *list,
                                           ptrdiff_t n_observed, const double *wp,
                                           const double *inv_psi, ptrdiff_t q,
                                           double *restrict b)
{
    double quad = 0.0;
    for (ptrdiff_t k = 0; k < n_observed; k++) {
        const ptrdiff_t j = list[k];
        const double rj = r[j];
        const double *restrict wpj = wp + j * q;
        for (ptrdiff_t a = 0; a < q; a++)
            b[a] += rj * wpj[a];
        quad += rj * rj * inv_psi[j];
    }
    return quad;
}

/* A dense row's share of the per-feature records: r_j z~ and r_j^2 (times weight) for
 * each observed feature; the packed (weighted) second moments to each observed
 * feature, or, for a row observing at least half of them (complement), to shared
 * once and off each missing feature. */
FE_ALWAYS_INLINE void fl_dense_stats_t(const double *r, const ptrdiff_t *list,
                                       ptrdiff_t n_observed, ptrdiff_t d, int complement,
                                       const double *restrict zt, double weight,
                                       const double *restrict packed, ptrdiff_t q,
                                       ptrdiff_t P, ptrdiff_t L, double *records,
                                       double *restrict shared)
{
    for (ptrdiff_t k = 0; k < n_observed; k++) {
        const ptrdiff_t j = list[k];
        const double wr = weight * r[j];
        double *restrict record = records + j * L;
        for (ptrdiff_t t = 0; t <= q; t++)
            record[t] += wr * zt[t];
        if (!complement) {
            double *restrict moments = record + q + 1;
            for (ptrdiff_t t = 0; t < P; t++)
                moments[t] += packed[t];
        }
        record[L - 1] += wr * r[j];
    }
    if (!complement)
        return;
    for (ptrdiff_t t = 0; t < P; t++)
        shared[t] += packed[t];
    for (ptrdiff_t k = n_observed; k < d; k++) {
        double *restrict moments = records + list[k] * L + q + 1;
        for (ptrdiff_t t = 0; t < P; t++)
            moments[t] -= packed[t];
    }
}

/* ---- dispatchers: one specialisation per type pair and small q ------------------- */

/* Up to 8 factors, the loops over factors, over a record and of a row's q x q
 * algebra get q as a compile-time constant (unrolled, vectorised: a pass takes
 * 1.3-1.7x less CPU time at q = 1-5 than with q read at run time; none gained at
 * q = 10, where the records' updates dominate); more factors take the general
 * loops. */
#define FL_PACKED(q) (((q) + 1) * ((q) + 2) / 2)
#define FL_RECORD(q) ((q) + 1 + FL_PACKED(q) + 1)

/* CALL(Q) with Q the constant q where specialised, else q itself. */
#define FL_BY_Q(q, CALL) \
    switch (q) { \
    case 1: CALL(1); break; \
    case 2: CALL(2); break; \
    case 3: CALL(3); break; \
    case 4: CALL(4); break; \
    case 5: CALL(5); break; \
    case 6: CALL(6); break; \
    case 7: CALL(7); break; \
    case 8: CALL(8); break; \
    default: CALL(q); break; \
    }

/* The lower Cholesky factor of a in place and log|a| (NAN: not positive definite);
 * see fl_cholesky_t. */
static double fl_cholesky(double *a, ptrdiff_t q)
{
    double log_det = 0.0;
#define FL_CALL(Q) log_det = fl_cholesky_t(a, Q)
    FL_BY_Q(q, FL_CALL)
#undef FL_CALL
    return log_det;
}

static void fl_cholesky_solve(const double *L, const double *b, double *x, ptrdiff_t q)
{
#define FL_CALL(Q) fl_cholesky_solve_t(L, b, x, Q)
    FL_BY_Q(q, FL_CALL)
#undef FL_CALL
}

static void fl_cholesky_inverse(const double *L, double *inverse, double *work,
                                ptrdiff_t q)
{
#define FL_CALL(Q) fl_cholesky_inverse_t(L, inverse, work, Q)
    FL_BY_Q(q, FL_CALL)
#undef FL_CALL
}

static double fl_csr_precision(const void *data, const void *indices, ptrdiff_t p0,
                               ptrdiff_t p1, ptrdiff_t d, const double *mu,
                               const double *w, const double *wp, const double *inv_psi,
                               const double *log_psi, ptrdiff_t q, double *M, double *b,
                               double *log_noise, int *bad, int single, int narrow)
{
    double quad = 0.0;
#define FL_CALL(s, n, Q) \
    quad = fl_csr_precision_t(data, indices, p0, p1, d, mu, w, wp, inv_psi, log_psi, Q, \
                              M, b, log_noise, bad, s, n)
#define FL_11(Q) FL_CALL(1, 1, Q)
#define FL_10(Q) FL_CALL(1, 0, Q)
#define FL_01(Q) FL_CALL(0, 1, Q)
#define FL_00(Q) FL_CALL(0, 0, Q)
    if (single) {
        if (narrow)
            FL_BY_Q(q, FL_11)
        else
            FL_BY_Q(q, FL_10)
    } else if (narrow) {
        FL_BY_Q(q, FL_01)
    } else {
        FL_BY_Q(q, FL_00)
    }
    return quad;
#undef FL_CALL
}

/* (P and L follow from q; the arguments keep the kernels' one signature.) */
static void fl_csr_stats(const void *data, const void *indices, ptrdiff_t p0,
                         ptrdiff_t p1, const double *mu, const double *zt, double weight,
                         const double *packed, ptrdiff_t q, ptrdiff_t P, ptrdiff_t L,
                         double *records, int single, int narrow)
{
    (void)P;
    (void)L;
#define FL_CALL(s, n, Q) \
    fl_csr_stats_t(data, indices, p0, p1, mu, zt, weight, packed, Q, FL_PACKED(Q), \
                   FL_RECORD(Q), records, s, n)
    if (single) {
        if (narrow)
            FL_BY_Q(q, FL_11)
        else
            FL_BY_Q(q, FL_10)
    } else if (narrow) {
        FL_BY_Q(q, FL_01)
    } else {
        FL_BY_Q(q, FL_00)
    }
#undef FL_CALL
#undef FL_11
#undef FL_10
#undef FL_01
#undef FL_00
}

static double fl_dense_precision(const ptrdiff_t *list, ptrdiff_t count,
                                 const double *w, const double *wp,
                                 const double *log_psi, ptrdiff_t q, double sign,
                                 double *M)
{
    double noise = 0.0;
#define FL_CALL(Q) noise = fl_dense_precision_t(list, count, w, wp, log_psi, Q, sign, M)
    FL_BY_Q(q, FL_CALL)
#undef FL_CALL
    return noise;
}

static double fl_dense_project(const double *r, const ptrdiff_t *list,
                               ptrdiff_t n_observed, const double *wp,
                               const double *inv_psi, ptrdiff_t q, double *b)
{
    double quad = 0.0;
#define FL_CALL(Q) quad = fl_dense_project_t(r, list, n_observed, wp, inv_psi, Q, b)
    FL_BY_Q(q, FL_CALL)
#undef FL_CALL
    return quad;
}

static void fl_dense_stats(const double *r, const ptrdiff_t *list, ptrdiff_t n_observed,
                           ptrdiff_t d, int complement, const double *zt, double weight,
                           const double *packed, ptrdiff_t q, ptrdiff_t P, ptrdiff_t L,
                           double *records, double *shared)
{
    (void)P;
    (void)L;
#define FL_CALL(Q) \
    fl_dense_stats_t(r, list, n_observed, d, complement, zt, weight, packed, Q, \
                     FL_PACKED(Q), FL_RECORD(Q), records, shared)
    FL_BY_Q(q, FL_CALL)
#undef FL_CALL
}

static ptrdiff_t fl_dense_read(const char *row, ptrdiff_t cs, ptrdiff_t d,
                               const double *mu, double *r, ptrdiff_t *list, int single)
{
    return single ? fl_dense_read_t(row, cs, d, mu, r, list, 1)
                  : fl_dense_read_t(row, cs, d, mu, r, list, 0);
}

#endif
