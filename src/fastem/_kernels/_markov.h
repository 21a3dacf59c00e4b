/* Forward-backward and Viterbi over one sequence of a hidden Markov chain of K states,
 * from the frames' emission log-probabilities L (T x K, row-major): the loops of the
 * _markov kernel module, which runs them over many sequences on OpenMP threads.
 *
 * Forward-backward runs in scaled probability space: each frame's emission
 * probabilities are taken relative to the frame's largest one, b_t = exp(l_t - m_t)
 * (so no frame underflows whatever its log-density), the forward variables are
 * normalised to sum to 1 (alpha_t = (alpha_{t-1} A) .* b_t / s_t) and
 * log p(x) = sum_t (m_t + log s_t). Where a scale s_t falls below FM_MIN_SCALE (a
 * frame every reachable state all but rules out, under zero or tiny transitions) the
 * sequence is run again in log space, which cannot underflow. Every sum is a loop in
 * a fixed order: the bits depend on the build, never on the thread count.
 */
#ifndef FASTEM_MARKOV_H
#define FASTEM_MARKOV_H

#include <math.h>
#include <string.h>
#include "_simd.h"

/* States are vector lanes: FM_W of them per vector, four with AVX (also in the
 * AVX-512 build: K is often 2-16, and eight lanes would pad K = 10 to 16, 1.2x
 * slower than four), two without; kp, K rounded up to FM_W, is the padded row
 * length. */
#if defined(__GNUC__) || defined(__clang__)
#if defined(__AVX__)
#define FM_W 4
#else
#define FM_W 2
#endif
typedef double fm_vec __attribute__((vector_size(FM_W * sizeof(double))));
static inline fm_vec fm_load(const double *p) { fm_vec v; memcpy(&v, p, sizeof v); return v; }
static inline void fm_store(double *p, fm_vec v) { memcpy(p, &v, sizeof v); }
static inline fm_vec fm_zero(void) { fm_vec v = {0.0}; return v; }
#if FM_W == 4
static inline fm_vec fm_splat(double x) { return (fm_vec){x, x, x, x}; }
static inline double fm_hsum(fm_vec v) { return (v[0] + v[1]) + (v[2] + v[3]); }
#else
static inline fm_vec fm_splat(double x) { return (fm_vec){x, x}; }
static inline double fm_hsum(fm_vec v) { return v[0] + v[1]; }
#endif
#else
/* Compilers without vector extensions: one state at a time, same arithmetic. */
#define FM_W 1
typedef double fm_vec;
static inline fm_vec fm_load(const double *p) { return *p; }
static inline void fm_store(double *p, fm_vec v) { *p = v; }
static inline fm_vec fm_zero(void) { return 0.0; }
static inline fm_vec fm_splat(double x) { return x; }
static inline double fm_hsum(fm_vec v) { return v; }
#endif

/* Scales below this hand the sequence to log space: 1 / s_t must stay finite with
 * room to spare (hmmlearn's scaling implementation stops with an error here). */
#define FM_MIN_SCALE 1e-300
/* The running product of the scales is folded into the log-likelihood below this. */
#define FM_FLUSH 1e-4

/* Vectors of states kept in registers by fm_vec_mat: up to 4 x FM_W states a pass. */
#define FM_KV 4

/* log sum_k exp(v[k]), -inf where every v[k] is -inf. */
static double fm_log_sum_exp(const double *restrict v, ptrdiff_t n)
{
    double top = v[0], acc = 0.0;
    for (ptrdiff_t k = 1; k < n; k++)
        top = v[k] > top ? v[k] : top;
    if (top == -INFINITY)
        return -INFINITY;
    for (ptrdiff_t k = 0; k < n; k++)
        acc += exp(v[k] - top);
    return top + log(acc);
}

/* out[j] = sum_i x[i] M[i, j] for the kp lanes j of each row of M (K x kp, kp a
 * multiple of FM_W), each sum over i in a fixed order: the even i and the odd i
 * apart, then added. The accumulators stay in registers, up to FM_KV vectors at a
 * time, so the K sums of a vector run side by side (kept in memory, each
 * load-add-store waited for the last: the matrix-vector products took 80% of the
 * pass at K = 10). */
static inline void fm_vec_mat(const double *restrict x, const double *restrict M,
                              ptrdiff_t K, ptrdiff_t kp, double *restrict out)
{
    for (ptrdiff_t j0 = 0; j0 < kp; j0 += FM_KV * FM_W) {
        const ptrdiff_t left = (kp - j0) / FM_W;
        const int nv = left < FM_KV ? (int)left : FM_KV;
        fm_vec even[FM_KV], odd[FM_KV];
        for (int v = 0; v < FM_KV; v++) {
            even[v] = fm_zero();
            odd[v] = fm_zero();
        }
        ptrdiff_t i = 0;
        for (; i + 1 < K; i += 2) {
            const fm_vec x0 = fm_splat(x[i]), x1 = fm_splat(x[i + 1]);
            const double *restrict m0 = M + i * kp + j0, *restrict m1 = m0 + kp;
            FE_UNROLL
            for (int v = 0; v < FM_KV; v++) {
                if (v < nv) {
                    even[v] += x0 * fm_load(m0 + v * FM_W);
                    odd[v] += x1 * fm_load(m1 + v * FM_W);
                }
            }
        }
        if (i < K) {
            const fm_vec x0 = fm_splat(x[i]);
            const double *restrict m0 = M + i * kp + j0;
            FE_UNROLL
            for (int v = 0; v < FM_KV; v++)
                if (v < nv)
                    even[v] += x0 * fm_load(m0 + v * FM_W);
        }
        for (int v = 0; v < nv; v++)
            fm_store(out + j0 + v * FM_W, even[v] + odd[v]);
    }
}

/* sum_k v[k] over kp lanes (zeros past the K states), vector by vector in order. */
static inline double fm_sum(const double *restrict v, ptrdiff_t kp)
{
    fm_vec acc = fm_zero();
    for (ptrdiff_t k = 0; k < kp; k += FM_W)
        acc += fm_load(v + k);
    return fm_hsum(acc);
}

/* The scaled forward pass over F consecutive frames of a sequence (all of it, or a
 * block of a sequence too long to hold whole): alpha (F x K) normalised forward
 * variables and scaled (F x kp) the frames' b_t / s_t, b_t = exp(l_t - m_t), which
 * the backward pass reads rather than take the exps again. previous: the normalised
 * alpha (K) of the frame before the block, or NULL where the block starts the
 * sequence (then start, kp lanes, zero past K, is the first frame's prior).
 * transmat: K x kp, zero past column K; pred: scratch of kp doubles. *total and
 * *product carry log p(x) = *total + log(*product) from block to block (0 and 1 at
 * the sequence's start). Returns 0, or 1 where a frame is impossible in every state
 * (m_t = -inf) or a scale underflowed: the caller then runs the sequence in log
 * space. */
static int fm_forward_block(const double *restrict L, ptrdiff_t F, ptrdiff_t K,
                            ptrdiff_t kp, const double *restrict start,
                            const double *restrict previous,
                            const double *restrict transmat, double *restrict alpha,
                            double *restrict scaled, double *restrict pred,
                            double *restrict total, double *restrict product)
{
    /* log p(x) = sum_t (m_t + log s_t): the scales are multiplied together, their
     * log taken once the product falls below FM_FLUSH (one log every few frames,
     * not one a frame), the product always above 1e-304, so normal. */
    for (ptrdiff_t t = 0; t < F; t++) {
        const double *restrict l = L + t * K;
        double *restrict a = alpha + t * K;
        double *restrict e = scaled + t * kp;
        double m = l[0];
        for (ptrdiff_t k = 1; k < K; k++)
            m = l[k] > m ? l[k] : m;
        if (!(m > -INFINITY))
            return 1;
        if (t > 0)
            fm_vec_mat(a - K, transmat, K, kp, pred); /* alpha_{t-1} A */
        else if (previous != NULL)
            fm_vec_mat(previous, transmat, K, kp, pred);
        else
            memcpy(pred, start, (size_t)kp * sizeof(double));
        for (ptrdiff_t k = 0; k < K; k++)
            e[k] = fe_exp(l[k] - m);
        for (ptrdiff_t k = K; k < kp; k++)
            e[k] = 0.0;
        for (ptrdiff_t k = 0; k < kp; k++)
            pred[k] *= e[k];
        const double s = fm_sum(pred, kp);
        if (!(s > FM_MIN_SCALE))
            return 1;
        const double inv = 1.0 / s;
        for (ptrdiff_t k = 0; k < K; k++)
            a[k] = pred[k] * inv;
        for (ptrdiff_t k = 0; k < K; k++)
            e[k] *= inv;
        *total += m;
        if (*product < FM_FLUSH) {
            *total += log(*product);
            *product = 1.0;
        }
        *product *= s;
    }
    return 0;
}

/* The scaled forward pass of one whole sequence (T frames), as fm_forward_block;
 * returns 0, with *log_prob set, or 1 (then run the sequence in log space). */
static int fm_forward_scaled(const double *restrict L, ptrdiff_t T, ptrdiff_t K,
                             ptrdiff_t kp, const double *restrict start,
                             const double *restrict transmat, double *restrict alpha,
                             double *restrict scaled, double *restrict pred,
                             double *restrict log_prob)
{
    double total = 0.0, product = 1.0;
    if (fm_forward_block(L, T, K, kp, start, NULL, transmat, alpha, scaled, pred,
                         &total, &product))
        return 1;
    *log_prob = total + log(product);
    return 0;
}

/* gamma = v / sum(v) (kp lanes, zeros past K) into out (K); returns 0, or 1 where
 * the sum is not a positive finite number. */
static inline int fm_normalised(const double *restrict v, ptrdiff_t K, ptrdiff_t kp,
                                double *restrict out)
{
    const double g = fm_sum(v, kp);
    if (!(g > 0.0 && g < INFINITY))
        return 1;
    const double inv = 1.0 / g;
    for (ptrdiff_t k = 0; k < K; k++)
        out[k] = v[k] * inv;
    return 0;
}

/* One step of the scaled backward pass, from frame f + 1 to frame f: with next =
 * beta_{f+1} (kp lanes), e = b_{f+1} / s_{f+1} (kp), a = alpha_f and a_next =
 * alpha_{f+1}: beta_f = A u into beta, u = e .* beta_{f+1}; outer (K x kp, or NULL)
 * += alpha_f u^T; a_next overwritten with gamma_{f+1}; next = beta_f. Returns 0, or
 * 1 where a backward variable overflowed. */
static inline int fm_backward_step(ptrdiff_t K, ptrdiff_t kp,
                                   const double *restrict transposed,
                                   const double *restrict a, double *restrict a_next,
                                   const double *restrict e, double *restrict outer,
                                   double *restrict beta, double *restrict next,
                                   double *restrict u, double *restrict v)
{
    for (ptrdiff_t j = 0; j < kp; j++)
        u[j] = e[j] * next[j];
    fm_vec_mat(u, transposed, K, kp, beta); /* beta_t = A u */
    if (outer != NULL) {
        for (ptrdiff_t i = 0; i < K; i++) {
            const double ai = a[i];
            double *restrict row = outer + i * kp;
            for (ptrdiff_t j = 0; j < kp; j++)
                row[j] += ai * u[j];
        }
    }
    /* alpha_{t+1} is no longer needed: gamma_{t+1} takes its place. */
    for (ptrdiff_t k = 0; k < K; k++)
        v[k] = a_next[k] * next[k];
    if (fm_normalised(v, K, kp, a_next))
        return 1;
    memcpy(next, beta, (size_t)kp * sizeof(double));
    return 0;
}

/* The scaled backward pass over a block of F frames after fm_forward_block:
 * overwrites alpha (F x K) with the posteriors gamma_t and, where outer (K x kp) is
 * not NULL, adds to it sum_t alpha_t u_t^T, u_t = b_{t+1} .* beta_{t+1} / s_{t+1}:
 * the expected transitions are A .* outer (xi_t(i, j) = alpha_t(i) A_ij u_t(j)), one
 * product by A for all frames and sequences rather than one per frame. scaled: the
 * forward pass's b_t / s_t (F x kp); transposed: A^T, K x kp, zero past column K.
 * next (kp lanes): on entry beta of the block's last frame (ones, zeros past K, at
 * the sequence's end); on return, where previous (the alpha of the frame before the
 * block) is not NULL, beta of that frame, and the transitions into the block are
 * in outer. beta, u, v: scratch of kp doubles, v zero past K. Returns 0, or 1 where
 * a backward variable overflowed (the caller then runs the sequence in log space,
 * and discards outer). */
static int fm_backward_block(ptrdiff_t F, ptrdiff_t K, ptrdiff_t kp,
                             const double *restrict transposed,
                             double *restrict alpha, const double *restrict previous,
                             const double *restrict scaled, double *restrict outer,
                             double *restrict beta, double *restrict next,
                             double *restrict u, double *restrict v)
{
    for (ptrdiff_t f = F - 1; f >= 1; f--)
        if (fm_backward_step(K, kp, transposed, alpha + (f - 1) * K, alpha + f * K,
                             scaled + f * kp, outer, beta, next, u, v))
            return 1;
    if (previous != NULL)
        return fm_backward_step(K, kp, transposed, previous, alpha, scaled, outer,
                                beta, next, u, v);
    for (ptrdiff_t k = 0; k < K; k++)
        v[k] = alpha[k] * next[k];
    return fm_normalised(v, K, kp, alpha);
}

/* The scaled backward pass of one whole sequence (T frames) after
 * fm_forward_scaled, as fm_backward_block from beta_{T-1} = 1. next: scratch of kp
 * doubles. */
static int fm_backward_scaled(ptrdiff_t T, ptrdiff_t K, ptrdiff_t kp,
                              const double *restrict transposed,
                              double *restrict alpha, const double *restrict scaled,
                              double *restrict outer, double *restrict beta,
                              double *restrict next, double *restrict u,
                              double *restrict v)
{
    for (ptrdiff_t k = 0; k < kp; k++) {
        next[k] = k < K ? 1.0 : 0.0; /* beta_{T-1} */
        v[k] = 0.0;
    }
    return fm_backward_block(T, K, kp, transposed, alpha, NULL, scaled, outer, beta,
                             next, u, v);
}

/* Forward-backward of one sequence in log space (where scaling underflows):
 * post (T x K) holds log alpha, then the posteriors; xi (K x K, or NULL) the expected
 * transitions. A sequence of probability 0 gets zero posteriors and transitions.
 * buf, beta, next: scratch of K doubles. Returns log p(x). */
static double fm_forward_backward_log(const double *restrict L, ptrdiff_t T,
                                      ptrdiff_t K, const double *restrict log_start,
                                      const double *restrict log_trans,
                                      double *restrict post, double *restrict xi,
                                      double *restrict buf, double *restrict beta,
                                      double *restrict next)
{
    if (xi != NULL)
        memset(xi, 0, (size_t)(K * K) * sizeof(double));
    for (ptrdiff_t k = 0; k < K; k++)
        post[k] = log_start[k] + L[k];
    for (ptrdiff_t t = 1; t < T; t++) {
        for (ptrdiff_t j = 0; j < K; j++) {
            for (ptrdiff_t i = 0; i < K; i++)
                buf[i] = post[(t - 1) * K + i] + log_trans[i * K + j];
            post[t * K + j] = fm_log_sum_exp(buf, K) + L[t * K + j];
        }
    }
    const double log_prob = fm_log_sum_exp(post + (T - 1) * K, K);
    if (log_prob == -INFINITY || !(log_prob < INFINITY)) {
        memset(post, 0, (size_t)(T * K) * sizeof(double));
        return log_prob;
    }
    for (ptrdiff_t k = 0; k < K; k++)
        next[k] = 0.0; /* log beta_{T-1} */
    for (ptrdiff_t t = T - 1; t >= 0; t--) {
        /* post row t: log alpha_t -> gamma_t, once beta_t (in next) is known */
        double *restrict row = post + t * K;
        if (t < T - 1) {
            const double *restrict l = L + (t + 1) * K;
            for (ptrdiff_t i = 0; i < K; i++) {
                for (ptrdiff_t j = 0; j < K; j++)
                    buf[j] = log_trans[i * K + j] + l[j] + next[j];
                beta[i] = fm_log_sum_exp(buf, K);
                if (xi != NULL)
                    for (ptrdiff_t j = 0; j < K; j++)
                        xi[i * K + j] += exp(row[i] + buf[j] - log_prob);
            }
            for (ptrdiff_t k = 0; k < K; k++)
                next[k] = beta[k];
        }
        for (ptrdiff_t k = 0; k < K; k++)
            buf[k] = row[k] + next[k];
        const double norm = fm_log_sum_exp(buf, K);
        for (ptrdiff_t k = 0; k < K; k++)
            row[k] = exp(buf[k] - norm);
    }
    return log_prob;
}

/* Viterbi over one sequence, in log space: L (T x K) is overwritten with the lattice
 * delta_t(i) = max_j (delta_{t-1}(j) + log A_ji) + l_t(i); states (T) gets the most
 * probable path, as hmmlearn chooses it (the first best final state; on ties
 * backwards, the last best predecessor). Returns the path's log-probability. */
static double fm_viterbi(double *restrict L, ptrdiff_t T, ptrdiff_t K,
                         const double *restrict log_start,
                         const double *restrict log_trans, double *restrict buf,
                         long long *restrict states)
{
    for (ptrdiff_t k = 0; k < K; k++)
        L[k] += log_start[k];
    for (ptrdiff_t t = 1; t < T; t++) {
        const double *restrict previous = L + (t - 1) * K;
        double *restrict row = L + t * K;
        for (ptrdiff_t k = 0; k < K; k++)
            buf[k] = -INFINITY;
        for (ptrdiff_t j = 0; j < K; j++) {
            const double dj = previous[j];
            const double *restrict log_row = log_trans + j * K;
            for (ptrdiff_t i = 0; i < K; i++) {
                const double candidate = dj + log_row[i];
                buf[i] = candidate > buf[i] ? candidate : buf[i];
            }
        }
        for (ptrdiff_t k = 0; k < K; k++)
            row[k] += buf[k];
    }
    const double *restrict last = L + (T - 1) * K;
    ptrdiff_t best = 0;
    for (ptrdiff_t k = 1; k < K; k++)
        if (last[k] > last[best])
            best = k;
    const double log_prob = last[best];
    states[T - 1] = best;
    for (ptrdiff_t t = T - 2; t >= 0; t--) {
        const double *restrict row = L + t * K;
        double top = -INFINITY;
        ptrdiff_t arg = 0;
        for (ptrdiff_t i = 0; i < K; i++) {
            const double candidate = row[i] + log_trans[i * K + best];
            if (candidate >= top) {
                top = candidate;
                arg = i;
            }
        }
        best = arg;
        states[t] = best;
    }
    return log_prob;
}

#endif
