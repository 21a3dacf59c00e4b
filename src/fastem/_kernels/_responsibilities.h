/* The rows' log-sum-exp, responsibilities and labels from the K logits of a chunk
 * (K rows of FE_LD, component by component), one exp per (row, component): what every
 * mixture kernel does after its family's log-densities.
 */
#ifndef FASTEM_RESPONSIBILITIES_H
#define FASTEM_RESPONSIBILITIES_H

#include "_simd.h"

/* logit becomes exp(logit - row_max) (one exp per row and component), row_sum their
 * sum over the K components of each row. */
static void fe_exp_shifted(double *restrict logit, ptrdiff_t n, ptrdiff_t n_components,
                           const double *restrict row_max, double *restrict row_sum)
{
    for (ptrdiff_t r = 0; r < n; r++)
        row_sum[r] = 0.0;
    for (ptrdiff_t k = 0; k < n_components; k++) {
        double *restrict lk = logit + k * FE_LD;
        for (ptrdiff_t r = 0; r < n; r++) {
            const double e = fe_exp(lk[r] - row_max[r]);
            lk[r] = e;
            row_sum[r] += e;
        }
    }
}

/* Log-sum-exp over the K logits of each row: row_max = max_k logit, then
 * fe_exp_shifted. */
static void fe_normalise(double *restrict logit, ptrdiff_t n, ptrdiff_t n_components,
                         double *restrict row_max, double *restrict row_sum)
{
    for (ptrdiff_t r = 0; r < n; r++)
        row_max[r] = logit[r];
    for (ptrdiff_t k = 1; k < n_components; k++) {
        const double *restrict lk = logit + k * FE_LD;
        for (ptrdiff_t r = 0; r < n; r++)
            row_max[r] = lk[r] > row_max[r] ? lk[r] : row_max[r];
    }
    fe_exp_shifted(logit, n, n_components, row_max, row_sum);
}

/* out[r] = row_max[r] + log(row_sum[r]): the log-sum-exp of each row's logits. */
static void fe_log_sum_exp(const double *restrict row_max,
                           const double *restrict row_sum, ptrdiff_t n,
                           double *restrict out)
{
    for (ptrdiff_t r = 0; r < n; r++)
        out[r] = row_max[r] + fe_log(row_sum[r]);
}

/* Responsibilities of n rows into out (row-major, n x n_components) from the exp'd
 * logits and their row sums (fe_normalise). One reciprocal per row, not one division
 * per (row, component): divisions would cost more than the exps. */
static void fe_write_resp(const double *restrict expo, ptrdiff_t n,
                          ptrdiff_t n_components, const double *restrict row_sum,
                          double *restrict inverse, double *restrict out)
{
    for (ptrdiff_t r = 0; r < n; r++)
        inverse[r] = 1.0 / row_sum[r];
    for (ptrdiff_t r = 0; r < n; r++) {
        double *restrict out_r = out + r * n_components;
        for (ptrdiff_t k = 0; k < n_components; k++)
            out_r[k] = expo[k * FE_LD + r] * inverse[r];
    }
}

/* best_k[r] = the first k with the largest logit of row r (as a double, so that the
 * selects stay in vector registers), best[r] that logit. Two vectors of rows at a
 * time, each kept in registers over the components: two chains of compare and
 * select. (Written as a loop over components outside, gcc stored the selects with
 * masked stores and read them back, 2x slower than the logits themselves.) */
static void fe_argmax(const double *restrict logit, ptrdiff_t n, ptrdiff_t n_components,
                      double *restrict best, double *restrict best_k)
{
    for (ptrdiff_t r = 0; r < n; r += 2 * FE_W) {
        const fe_vec zero = fe_zero();
        fe_vec best0 = fe_load(logit + r), best1 = fe_load(logit + r + FE_W);
        fe_vec k0 = zero, k1 = zero;
        for (ptrdiff_t k = 1; k < n_components; k++) {
            const fe_vec v0 = fe_load(logit + k * FE_LD + r);
            const fe_vec v1 = fe_load(logit + k * FE_LD + r + FE_W);
            const fe_vec kv = fe_splat((double)k);
            const fe_mask larger0 = v0 > best0, larger1 = v1 > best1;
            best0 = FE_SELECT(larger0, v0, best0);
            best1 = FE_SELECT(larger1, v1, best1);
            k0 = FE_SELECT(larger0, kv, k0);
            k1 = FE_SELECT(larger1, kv, k1);
        }
        fe_store(best + r, best0);
        fe_store(best + r + FE_W, best1);
        fe_store(best_k + r, k0);
        fe_store(best_k + r + FE_W, k1);
    }
}

#endif
