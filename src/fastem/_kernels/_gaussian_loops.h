/* The Gaussian mixture's per-component loops over one chunk (``_gaussian.pyx``),
 * specialised per dimension at compile time.
 *
 * Chunks are laid out as ``_simd.h`` says (rows as SIMD lanes). For d <= FE_SMALL_D each template below is instantiated with d as a
 * constant (through the switch in the dispatcher), so the loops over features unroll
 * and FE_W rows are handled at once in one vector register per feature. Sums over rows
 * keep FE_W partial sums, added in a fixed order.
 */
#ifndef FASTEM_GAUSSIAN_H
#define FASTEM_GAUSSIAN_H

#include "_responsibilities.h"

#define FE_SMALL_D 8

/* The precision factor of a component (triangular, diagonal, a multiple of the
 * identity); for sums by feature also FE_FIRST_ONLY: no second moments. */
enum { FE_TRIANGULAR = 0, FE_DIAGONAL = 1, FE_SCALAR = 2, FE_FIRST_ONLY = 3 };

/* Dispatch on d to instantiations with d a compile-time constant. */
#define FE_CASE_D(D, call_with_d) case D: call_with_d(D); return;
#define FE_SMALL_D_SWITCH(d, call_with_d)                                              \
    switch (d) {                                                                       \
        FE_CASE_D(1, call_with_d) FE_CASE_D(2, call_with_d)                            \
        FE_CASE_D(3, call_with_d) FE_CASE_D(4, call_with_d)                            \
        FE_CASE_D(5, call_with_d) FE_CASE_D(6, call_with_d)                            \
        FE_CASE_D(7, call_with_d) FE_CASE_D(8, call_with_d)                            \
    }

/* out[r] = c - ||(x_r - mu) U||^2 / 2 for one component, U upper-triangular d x d. */
FE_ALWAYS_INLINE void fe_logits_tri_t(const double *restrict xt, ptrdiff_t n,
                                      const int d, const double *restrict mu,
                                      const double *restrict prec, double c,
                                      double *restrict out)
{
    for (ptrdiff_t r = 0; r < n; r += FE_W) {
        fe_vec diff[FE_SMALL_D], q = fe_zero();
        FE_UNROLL
        for (int i = 0; i < d; i++)
            diff[i] = fe_load(xt + i * FE_LD + r) - mu[i];
        FE_UNROLL
        for (int j = 0; j < d; j++) {
            fe_vec y = diff[0] * prec[j];
            FE_UNROLL
            for (int i = 1; i <= j; i++)
                y += diff[i] * prec[i * d + j];
            q += y * y;
        }
        fe_store(out + r, c - 0.5 * q);
    }
}

/* out[r] = c - ||(x_r - mu) P||^2 / 2 for one component, P diagonal (FE_DIAGONAL:
 * prec holds its d entries) or a multiple of the identity (FE_SCALAR: one, and
 * sq[r] = ||x_r - mu||^2 where sq is not NULL, for the second moments). Two vectors
 * of rows at a time and two partial sums each, over even and odd features: four
 * chains of FMA instead of one (1.6x faster at d = 8). */
FE_ALWAYS_INLINE void fe_logits_scaled_t(const double *restrict xt, ptrdiff_t n,
                                         const int d, const int kind,
                                         const double *restrict mu,
                                         const double *restrict prec, double c,
                                         double *restrict out, double *restrict sq)
{
    for (ptrdiff_t r = 0; r < n; r += 2 * FE_W) {
        const fe_vec zero = fe_zero();
        fe_vec even0 = zero, even1 = zero, odd0 = zero, odd1 = zero;
        FE_UNROLL
        for (int i = 0; i < d; i++) {
            const double *x = xt + i * FE_LD + r;
            fe_vec y0 = fe_load(x) - mu[i], y1 = fe_load(x + FE_W) - mu[i];
            if (kind == FE_DIAGONAL) {
                y0 *= prec[i];
                y1 *= prec[i];
            }
            if (i % 2) {
                odd0 += y0 * y0;
                odd1 += y1 * y1;
            } else {
                even0 += y0 * y0;
                even1 += y1 * y1;
            }
        }
        fe_vec q0 = even0 + odd0, q1 = even1 + odd1;
        if (kind == FE_SCALAR) {
            if (sq != NULL) {
                fe_store(sq + r, q0);
                fe_store(sq + r + FE_W, q1);
            }
            q0 *= prec[0] * prec[0];
            q1 *= prec[0] * prec[0];
        }
        fe_store(out + r, c - 0.5 * q0);
        fe_store(out + r + FE_W, c - 0.5 * q1);
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
        acc[p] = fe_zero();
    for (ptrdiff_t r = 0; r < n; r += FE_W) {
        fe_vec diff[FE_SMALL_D];
        const fe_vec wr = fe_load(w + r);
        FE_UNROLL
        for (int i = 0; i < d; i++)
            diff[i] = fe_load(xt + i * FE_LD + r) - mu[i];
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

/* Sums one feature at a time, with t_r = xt[i * FE_LD + r] - mu[i]: nk += sum_r w_r,
 * s1[i] += sum_r w_r t_r and, by kind (a compile-time constant):
 *   FE_DIAGONAL  s2[i] += sum_r w_r t_r^2
 *   FE_FIRST_ONLY  nothing more (spherical second moments come from the logits'
 *                  squared distances)
 *   FE_TRIANGULAR  wd[i * FE_LD + r] = w_r t_r, for fe_gram_upper(wd, xt, mu) to add
 *                  the second moments (whatever the signs of w).
 * Four vectors of partial sums per feature: enough chains to hide the latency of the
 * adds, where fe_stats_t's 1 + 2d vectors spill out of 16 registers from d = 5 on.
 * Any d; n a multiple of 4 * FE_W. */
FE_ALWAYS_INLINE void fe_feature_sums_t(const double *restrict xt, ptrdiff_t n,
                                        ptrdiff_t d, const int kind,
                                        const double *restrict mu,
                                        const double *restrict w, double *restrict nk,
                                        double *restrict s1, double *restrict s2,
                                        double *restrict wd)
{
    const fe_vec zero = fe_zero();
    nk[0] += fe_sum(w, n);
    for (ptrdiff_t i = 0; i < d; i++) {
        const double *restrict x = xt + i * FE_LD;
        const double m = mu[i];
        fe_vec first[4] = {zero, zero, zero, zero}, second[4] = {zero, zero, zero, zero};
        for (ptrdiff_t r = 0; r < n; r += 4 * FE_W)
            FE_UNROLL
            for (int v = 0; v < 4; v++) {
                const fe_vec t = fe_load(x + r + v * FE_W) - m;
                const fe_vec wt = fe_load(w + r + v * FE_W) * t;
                first[v] += wt;
                if (kind == FE_TRIANGULAR)
                    fe_store(wd + i * FE_LD + r + v * FE_W, wt);
                else if (kind == FE_DIAGONAL)
                    second[v] += wt * t;
            }
        s1[i] += fe_hsum4(first);
        if (kind == FE_DIAGONAL)
            s2[i] += fe_hsum4(second);
    }
}

/* Diagonal (FE_DIAGONAL) or no (FE_FIRST_ONLY, s2 unused) second moments, with nk
 * and s1, by fe_feature_sums_t. */
static void fe_stats_by_feature(const double *restrict xt, ptrdiff_t n, ptrdiff_t d,
                                int kind, const double *restrict mu,
                                const double *restrict w, double *restrict nk,
                                double *restrict s1, double *restrict s2)
{
    if (kind == FE_DIAGONAL)
        fe_feature_sums_t(xt, n, d, FE_DIAGONAL, mu, w, nk, s1, s2, NULL);
    else
        fe_feature_sums_t(xt, n, d, FE_FIRST_ONLY, mu, w, nk, s1, NULL, NULL);
}

/* Full covariances above FE_SMALL_D features (the O(d^2) work per row and
 * component: q = ||(x - mu) U||^2 and the second moments, which tied ones share where
 * they are not anchored). Built for x86-64-v3 and x86-64-v4: the
 * register-blocked kernels below. Measured on 256-row chunks (Zen 3, one thread,
 * K = 16-32, CPU time, same build) they beat OpenBLAS's dtrmm + dsyrk by 1.9-2.3x at
 * d = 9-12, 1.6x at d = 16-24 and 1.35-1.45x at d = 32-64 (BLAS pays for packing
 * and for separate passes over each small block), and the column loops they replace
 * by 1.2x at d = 9 up to 2.2x at d = 64. Other builds call BLAS (dtrmm, dsyrk
 * through scipy.linalg.cython_blas): OpenBLAS picks the CPU's widest vectors at run
 * time, where these kernels, compiled for SSE2, spill their 12 accumulators (4-10x
 * slower than BLAS) and the column loops are 1.0x (d = 9) to 2.4x (d = 64) slower.
 * The x86-64-v4 build beats OpenBLAS's AVX-512 code too: accumulate 2.3x at d = 9,
 * 1.85x at d = 16, 1.6x at d = 32, 1.45x at d = 64 (K = 16, one thread, same build
 * with and without BLAS). */
#if defined(__AVX2__) && defined(__FMA__) && FE_W >= 4
#define FE_LARGE_D_BLAS 0
#else
#define FE_LARGE_D_BLAS 1
#endif

/* Where fe_stats_t's sums, all kept in registers (1 + d + d(d + 1)/2 for full and
 * tied, 1 + 2d for diagonal), give way to passes over the chunk that keep a few:
 * diagonal covariances take fe_stats_by_feature from FE_BY_FEATURE_MIN_D features
 * on, full and tied ones the large-d path from FE_GRAM_MIN_D on (fe_centre_weighted +
 * fe_gram_upper where the blocked kernels are built, BLAS above FE_SMALL_D
 * elsewhere). Measured per chunk's E-step (x86-64-v3, K = 32, one thread): diagonal
 * 1.3x faster at d = 5 and 8; full 1.12x at d = 5, 1.2x at d = 6, 1.3x at d = 8,
 * the same at d = 4. Spherical keeps its 2 + d sums up to FE_SMALL_D (the same
 * speed at d = 8, faster below); above, its second moments are sums of the logits'
 * squared distances (1.07x faster at d = 16, 1.15x at d = 32; at d = 3-8 0.9-1.04x,
 * where the squared distances cost as much to store and read as to recompute). */
#define FE_BY_FEATURE_MIN_D 5
#define FE_GRAM_MIN_D (FE_LARGE_D_BLAS ? FE_SMALL_D + 1 : 5)
/* Tied second moments around each row's anchor (fe_tied_second_moments) from this d
 * on, against the per-component sums above. Accumulate at K = 32, one thread, same
 * build: x86-64-v3 0.77x at d = 3, 1.01x at d = 5, 1.2x at d = 8, 1.64x at d = 12;
 * baseline 0.94x at d = 6, 1.2x at d = 8. */
#define FE_ANCHORED_MIN_D (FE_LARGE_D_BLAS ? 8 : 5)

/* Helpers for the O(d) parts of the large-d path. */

/* diff[i * FE_LD + r] = xt[i * FE_LD + r] - mu[i]. */
static inline void fe_centre(const double *restrict xt, ptrdiff_t n, ptrdiff_t d,
                             const double *restrict mu, double *restrict diff)
{
    for (ptrdiff_t i = 0; i < d; i++) {
        const double m = mu[i];
        for (ptrdiff_t r = 0; r < n; r++)
            diff[i * FE_LD + r] = xt[i * FE_LD + r] - m;
    }
}

/* y[j * FE_LD + r] = sum_{i <= j} (xt[i * FE_LD + r] - ref[i]) u[i * d + j]: the rows
 * of a chunk centred on ref and multiplied by the upper-triangular u (C order, lower
 * part unread). Tied covariances share u, so this runs once per chunk and each
 * component's logits are then c_k - ||y_r - (mu_k - ref) u||^2 / 2: O(d) per row and
 * component where (x_r - mu_k) u costs O(d^2). */
static void fe_centre_times_upper(const double *restrict xt, ptrdiff_t n, ptrdiff_t d,
                                  const double *restrict ref, const double *restrict u,
                                  double *restrict y)
{
    for (ptrdiff_t j = 0; j < d; j++) {
        double *restrict yj = y + j * FE_LD;
        for (ptrdiff_t r = 0; r < n; r++)
            yj[r] = 0.0;
        for (ptrdiff_t i = 0; i <= j; i++) {
            const double *restrict x = xt + i * FE_LD;
            const double m = ref[i], uij = u[i * d + j];
            for (ptrdiff_t r = 0; r < n; r++)
                yj[r] += (x[r] - m) * uij;
        }
    }
}

/* out[r] = c - sum_j y[j * FE_LD + r]^2 / 2. */
static inline void fe_half_squares(const double *restrict y, ptrdiff_t n, ptrdiff_t d,
                                   double c, double *restrict out)
{
    for (ptrdiff_t r = 0; r < n; r++)
        out[r] = 0.0;
    for (ptrdiff_t j = 0; j < d; j++)
        for (ptrdiff_t r = 0; r < n; r++)
            out[r] += y[j * FE_LD + r] * y[j * FE_LD + r];
    for (ptrdiff_t r = 0; r < n; r++)
        out[r] = c - 0.5 * out[r];
}

/* For each feature i, with t_r = xt[i * FE_LD + r] - mu[i]: add sum_r w_r t_r to
 * s1[i] (FE_LANES partial sums, as fe_dot) and store a[i * FE_LD + r] = sw_r t_r,
 * so that a^T a = sum_r w_r t t^T when sw_r = sqrt(w_r). */
static inline void fe_centre_scaled(const double *restrict xt, ptrdiff_t n,
                                    ptrdiff_t d, const double *restrict mu,
                                    const double *restrict w,
                                    const double *restrict sw, double *restrict a,
                                    double *restrict s1)
{
    for (ptrdiff_t i = 0; i < d; i++) {
        const double m = mu[i];
        const double *restrict x = xt + i * FE_LD;
        double *restrict ai = a + i * FE_LD;
        double acc[FE_LANES] = {0.0};
        for (ptrdiff_t r = 0; r < n; r += FE_LANES)
            for (int l = 0; l < FE_LANES; l++) {
                const double t = x[r + l] - m;
                acc[l] += w[r + l] * t;
                ai[r + l] = sw[r + l] * t;
            }
        s1[i] += fe_reduce_lanes(acc);
    }
}

/* nk, s1 and wd = w (x - mu) of fe_feature_sums_t, for fe_gram_upper. */
static void fe_centre_weighted(const double *restrict xt, ptrdiff_t n, ptrdiff_t d,
                               const double *restrict mu, const double *restrict w,
                               double *restrict wd, double *restrict nk,
                               double *restrict s1)
{
    fe_feature_sums_t(xt, n, d, FE_TRIANGULAR, mu, w, nk, s1, NULL, wd);
}

/* Register-blocked kernels of the large-d path, for x86-64-v3 and v4 (FMA, at least
 * 16 registers of FE_W doubles). Inputs are centred blocks: column i of a chunk at
 * a + i * FE_LD, rows as lanes, n a multiple of FE_LANES. A block keeps a few columns for a few rows
 * in registers while it streams the shared dimension; the last block of a range ends
 * at the range's end (it starts earlier where the block does not divide the range)
 * and keeps only what no earlier block did, so no slow remainder loop runs. Sums are
 * taken in an order fixed by d and n alone (not by the blocks). fe_tri_logits needs
 * d >= FE_JB, fe_gram_upper d >= FE_IB (FE_WIDE_IB above FE_SMALL_D). */
#define FE_JB 6 /* columns of diff U per block */
/* Vectors of rows per block of fe_tri_logits: 2 x 6 accumulators in 16 registers,
 * 4 x 6 in AVX-512's 32 (1.02-1.06x faster than 2 x 6 there at d = 16-64). */
#if FE_W == 8
#define FE_TRI_V 4
#else
#define FE_TRI_V 2
#endif
/* Rows and columns of a^T a per block: 4 x 3 accumulators in 16 registers (and up
 * to FE_SMALL_D features, where the blocks are unrolled); above it, 6 x 4 in
 * AVX-512's 32 registers (1.11x faster than 4 x 3 at d = 16, 1.15x at d = 32 and 64;
 * 8 x 3: 0.94-1.05x, 4 x 6: 1.0-1.12x). */
#define FE_IB 4
#define FE_GJ 3
#if FE_W == 8
#define FE_WIDE_IB 6
#define FE_WIDE_GJ 4
#else
#define FE_WIDE_IB FE_IB
#define FE_WIDE_GJ FE_GJ
#endif
/* fe_gram_upper_t keeps its accumulators in arrays of the wide size. */
_Static_assert(FE_WIDE_IB >= FE_IB && FE_WIDE_GJ >= FE_GJ, "wide Gram blocks");

/* out[r] = c - ||diff_r U||^2 / 2, U upper triangular (C order, lower part unread).
 * FE_TRI_V vectors of rows at a time. */
static inline void fe_tri_logits(const double *restrict diff, ptrdiff_t n,
                                 ptrdiff_t d, const double *restrict u, double c,
                                 double *restrict out)
{
    for (ptrdiff_t r = 0; r < n; r += FE_TRI_V * FE_W) {
        const fe_vec zero = fe_zero();
        fe_vec q[FE_TRI_V];
        FE_UNROLL
        for (int v = 0; v < FE_TRI_V; v++)
            q[v] = zero;
        for (ptrdiff_t done = 0; done < d; done += FE_JB) {
            const ptrdiff_t j0 = done + FE_JB <= d ? done : d - FE_JB;
            fe_vec y[FE_TRI_V][FE_JB];
            FE_UNROLL
            for (int v = 0; v < FE_TRI_V; v++)
                FE_UNROLL
                for (int jj = 0; jj < FE_JB; jj++)
                    y[v][jj] = zero;
            for (ptrdiff_t i = 0; i < j0; i++) {
                const double *ui = u + i * d + j0;
                fe_vec x[FE_TRI_V];
                FE_UNROLL
                for (int v = 0; v < FE_TRI_V; v++)
                    x[v] = fe_load(diff + i * FE_LD + r + v * FE_W);
                FE_UNROLL
                for (int jj = 0; jj < FE_JB; jj++) {
                    const fe_vec uij = fe_splat(ui[jj]);
                    FE_UNROLL
                    for (int v = 0; v < FE_TRI_V; v++)
                        y[v][jj] = FE_FMA(x[v], uij, y[v][jj]);
                }
            }
            FE_UNROLL
            for (int ii = 0; ii < FE_JB; ii++) { /* the triangle on the diagonal */
                const double *ui = u + (j0 + ii) * d + j0;
                fe_vec x[FE_TRI_V];
                FE_UNROLL
                for (int v = 0; v < FE_TRI_V; v++)
                    x[v] = fe_load(diff + (j0 + ii) * FE_LD + r + v * FE_W);
                FE_UNROLL
                for (int jj = ii; jj < FE_JB; jj++) {
                    const fe_vec uij = fe_splat(ui[jj]);
                    FE_UNROLL
                    for (int v = 0; v < FE_TRI_V; v++)
                        y[v][jj] = FE_FMA(x[v], uij, y[v][jj]);
                }
            }
            FE_UNROLL
            for (int jj = 0; jj < FE_JB; jj++)
                if (j0 + jj >= done)
                    FE_UNROLL
                    for (int v = 0; v < FE_TRI_V; v++)
                        q[v] = FE_FMA(y[v][jj], y[v][jj], q[v]);
        }
        FE_UNROLL
        for (int v = 0; v < FE_TRI_V; v++)
            fe_store(out + r + v * FE_W, c - 0.5 * q[v]);
    }
}

/* s2[i * d + j] += sum_r a_i[r] (xt_j[r] - mu[j]) for j >= i (C order: the upper
 * triangle); a and the chunk xt of leading dimension FE_LD. Columns are centred as
 * they are read: storing them too made the pass before this one store-bound. With
 * live_only (d a compile-time constant, all blocks unrolled), a block updates only
 * the entries it keeps, not those below the diagonal or kept by an earlier block: at
 * d = 8, 36 FMA per row instead of 60. */
FE_ALWAYS_INLINE void fe_gram_upper_t(const double *restrict a,
                                      const double *restrict xt,
                                      const double *restrict mu, ptrdiff_t n,
                                      const ptrdiff_t d, double *restrict s2,
                                      const int live_only, const int ib, const int gj)
{
    FE_UNROLL
    for (ptrdiff_t i_done = 0; i_done < d; i_done += ib) {
        const ptrdiff_t i0 = i_done + ib <= d ? i_done : d - ib;
        FE_UNROLL
        for (ptrdiff_t j_done = i_done; j_done < d; j_done += gj) {
            const ptrdiff_t j0 = j_done + gj <= d ? j_done : d - gj;
            const fe_vec zero = fe_zero();
            fe_vec acc[FE_WIDE_IB][FE_WIDE_GJ];
            FE_UNROLL
            for (int ii = 0; ii < ib; ii++)
                FE_UNROLL
                for (int jj = 0; jj < gj; jj++)
                    acc[ii][jj] = zero;
            for (ptrdiff_t r = 0; r < n; r += FE_W) {
                fe_vec xj[FE_WIDE_GJ];
                FE_UNROLL
                for (int jj = 0; jj < gj; jj++)
                    xj[jj] = fe_load(xt + (j0 + jj) * FE_LD + r) - mu[j0 + jj];
                FE_UNROLL
                for (int ii = 0; ii < ib; ii++) {
                    const fe_vec xi = fe_load(a + (i0 + ii) * FE_LD + r);
                    FE_UNROLL
                    for (int jj = 0; jj < gj; jj++) {
                        const ptrdiff_t i = i0 + ii, j = j0 + jj;
                        if (!live_only || (i >= i_done && j >= j_done && j >= i))
                            acc[ii][jj] = FE_FMA(xi, xj[jj], acc[ii][jj]);
                    }
                }
            }
            FE_UNROLL
            for (int ii = 0; ii < ib; ii++)
                FE_UNROLL
                for (int jj = 0; jj < gj; jj++) {
                    const ptrdiff_t i = i0 + ii, j = j0 + jj;
                    if (i >= i_done && j >= j_done && j >= i)
                        s2[i * d + j] += fe_hsum(acc[ii][jj]);
                }
        }
    }
}

#define FE_GRAM_LIVE(D) fe_gram_upper_t(a, xt, mu, n, D, s2, 1, FE_IB, FE_GJ)

/* fe_gram_upper_t, d >= FE_IB: specialised from FE_GRAM_MIN_D to FE_SMALL_D, in
 * FE_WIDE_IB x FE_WIDE_GJ blocks above. */
static void fe_gram_upper(const double *restrict a, const double *restrict xt,
                          const double *restrict mu, ptrdiff_t n, ptrdiff_t d,
                          double *restrict s2)
{
    switch (d) {
        FE_CASE_D(5, FE_GRAM_LIVE) FE_CASE_D(6, FE_GRAM_LIVE)
        FE_CASE_D(7, FE_GRAM_LIVE) FE_CASE_D(8, FE_GRAM_LIVE)
    }
    fe_gram_upper_t(a, xt, mu, n, d, s2, 0, FE_WIDE_IB, FE_WIDE_GJ);
}

/* Tied covariances share one second moment, sum_r sum_k p_rk (x_r - mu_k)(x_r - mu_k)^T
 * with p_rk = resp[k * FE_LD + r] (row weights included). Taken around each row's
 * anchor c_r (anchor[r], the component of its largest logit) it costs O(d) per row
 * and component instead of O(d^2): with z_r = x_r - mu_{c_r}, delta_rk = mu_{c_r} - mu_k
 * and w_r = sum_k p_rk,
 *   sum_k p_rk (z_r + delta_rk)(z_r + delta_rk)^T
 *     = z_r h_r^T + h_r z_r^T + sum_k p_rk delta_rk delta_rk^T,
 *   h_r = (w_r / 2) z_r + sum_k p_rk delta_rk.
 * Adds the first two terms, summed over rows, to the upper triangle of s2, and p_rk to
 * counts[c_r * K + k]: the caller adds the last term once, as
 * sum_{c, k} counts[c, k] (mu_c - mu_k)(mu_c - mu_k)^T. Every product is one of exact
 * differences, so tight clusters far apart keep their accuracy. z, h: (d, FE_LD)
 * scratch; n a multiple of 4 * FE_W. */
static void fe_tied_second_moments(const double *restrict xt, ptrdiff_t n,
                                   ptrdiff_t d, ptrdiff_t n_components,
                                   const double *restrict mu,
                                   const double *restrict resp,
                                   const double *restrict w,
                                   const double *restrict anchor, double *restrict z,
                                   double *restrict h, double *restrict counts,
                                   double *restrict s2)
{
    /* Four vectors of rows at a time: four chains of FMA over the components. */
    for (ptrdiff_t r = 0; r < n; r += 4 * FE_W) {
        ptrdiff_t c[4 * FE_W];
        FE_UNROLL
        for (int l = 0; l < 4 * FE_W; l++)
            c[l] = (ptrdiff_t)anchor[r + l];
        for (ptrdiff_t j = 0; j < d; j++) {
            fe_vec mu_c[4], a[4];
            FE_UNROLL
            for (int v = 0; v < 4; v++) {
                a[v] = fe_zero();
#if FE_W > 1
                FE_UNROLL
                for (int l = 0; l < FE_W; l++)
                    mu_c[v][l] = mu[c[v * FE_W + l] * d + j];
#else
                mu_c[v] = mu[c[v] * d + j];
#endif
            }
            for (ptrdiff_t k = 0; k < n_components; k++) {
                const double mu_kj = mu[k * d + j];
                const double *restrict p = resp + k * FE_LD + r;
                FE_UNROLL
                for (int v = 0; v < 4; v++)
                    a[v] = FE_FMA(fe_load(p + v * FE_W), mu_c[v] - mu_kj, a[v]);
            }
            FE_UNROLL
            for (int v = 0; v < 4; v++) {
                const ptrdiff_t at = j * FE_LD + r + v * FE_W;
                const fe_vec zj = fe_load(xt + at) - mu_c[v];
                fe_store(z + at, zj);
                fe_store(h + at, FE_FMA(0.5 * fe_load(w + r + v * FE_W), zj, a[v]));
            }
        }
    }
    /* Row by row: the adds of rows that share an anchor are K apart, not chained. */
    for (ptrdiff_t r = 0; r < n; r++) {
        double *restrict counts_c = counts + (ptrdiff_t)anchor[r] * n_components;
        for (ptrdiff_t k = 0; k < n_components; k++)
            counts_c[k] += resp[k * FE_LD + r];
    }
    for (ptrdiff_t i = 0; i < d; i++)
        for (ptrdiff_t j = i; j < d; j++)
            s2[i * d + j] += fe_dot(z + i * FE_LD, h + j * FE_LD, n) +
                             fe_dot(h + i * FE_LD, z + j * FE_LD, n);
}

/* Dispatchers: one instantiation per (kind, d) for 1 <= d <= FE_SMALL_D. */
#define FE_LOGITS_TRI(D) fe_logits_tri_t(xt, n, D, mu, prec, c, out)
#define FE_LOGITS_KIND(KIND, D) fe_logits_scaled_t(xt, n, D, KIND, mu, prec, c, out, sq)
#define FE_LOGITS_DIAG(D) FE_LOGITS_KIND(FE_DIAGONAL, D)
#define FE_LOGITS_SCALAR(D) FE_LOGITS_KIND(FE_SCALAR, D)

/* One component's logits; full covariances up to FE_SMALL_D features only, diagonal
 * and spherical ones at any d (specialised up to FE_SMALL_D). Tied ones take
 * FE_SCALAR with unit precision on rows already multiplied by U. FE_SCALAR also
 * stores the squared distances ||x_r - mu||^2 in sq where sq is not NULL. */
static void fe_logits(const double *xt, ptrdiff_t n, int d, int kind, const double *mu,
                      const double *prec, double c, double *out, double *sq)
{
    if (kind == FE_TRIANGULAR) {
        FE_SMALL_D_SWITCH(d, FE_LOGITS_TRI)
    } else if (kind == FE_DIAGONAL) {
        FE_SMALL_D_SWITCH(d, FE_LOGITS_DIAG)
        fe_logits_scaled_t(xt, n, d, FE_DIAGONAL, mu, prec, c, out, NULL);
    } else {
        FE_SMALL_D_SWITCH(d, FE_LOGITS_SCALAR)
        fe_logits_scaled_t(xt, n, d, FE_SCALAR, mu, prec, c, out, sq);
    }
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
