/* Vectorisable primitives for the EM kernels.
 *
 * Plain C with fixed-width lanes so that gcc/clang vectorise them at -O2/-O3 without
 * -ffast-math: reductions keep LANES independent partial sums added in a fixed order,
 * so results never depend on the thread count, and exp is a branch-free polynomial
 * (glibc's scalar exp is several times slower and manylinux has no vector libm).
 * Every length passed here is a multiple of LANES (callers pad with zeros).
 */
#ifndef FASTEM_FASTMATH_H
#define FASTEM_FASTMATH_H

#include <stdint.h>
#include <string.h>
#include <stddef.h>

/* Partial sums: four independent chains of vector additions, enough to hide the
 * latency of the add (3-4 cycles) behind the loads and multiplies. 16 lanes are four
 * 4-wide vectors (AVX2); with AVX-512, four 8-wide ones. */
#if defined(__AVX512F__)
#define FE_LANES 32
#else
#define FE_LANES 16
#endif

/* exp(x) for x <= 0 to ~1 ulp; 0 below -708 (where exp underflows anyway). */
static inline double fe_exp(double x)
{
    const double log2e = 1.4426950408889634;
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    const double magic = 6755399441055744.0; /* 1.5 * 2^52: rounds to an integer */
    double xc = x < -708.0 ? -708.0 : x;
    double t = xc * log2e + magic;
    double k = t - magic;
    int64_t ti, scale_bits;
    memcpy(&ti, &t, sizeof ti);
    scale_bits = (ti - (int64_t)0x4338000000000000LL + 1023) << 52;
    double scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    double r = (xc - k * ln2_hi) - k * ln2_lo; /* |r| <= ln2 / 2 */
    /* Taylor series to r^13: truncation error below 1e-17 on |r| <= 0.35. */
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    return x < -708.0 ? 0.0 : p * scale;
}

/* out[i] = fe_exp(x[i]): the exp of the E-steps over an array, so that its rate can
 * be measured apart from the arithmetic around it. */
static inline void fe_exp_array(const double *restrict x, double *restrict out,
                                ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++)
        out[i] = fe_exp(x[i]);
}

/* log(x) for positive normal x to 2 ulp, branch-free so that loops over rows
 * vectorise (x86-64-v3: 3.3x faster than glibc's scalar log; v4: 6.7x; SSE2's two
 * lanes: 0.9x, a cost per row, not per row and component). x = 2^k m with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s) with
 * s = (m - 1) / (m + 1), |s| <= 0.172: the odd series to s^23 (truncation below
 * 1e-18). */
static inline double fe_log(double x)
{
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    const double two52 = 4503599627370496.0;
    uint64_t bits, mantissa_bits, exponent_bits;
    memcpy(&bits, &x, sizeof bits);
    /* m in [1, 2) from the mantissa; the biased exponent as the low bits of 2^52 + e */
    mantissa_bits = (bits & 0x000FFFFFFFFFFFFFULL) | 0x3FF0000000000000ULL;
    exponent_bits = ((bits >> 52) & 0x7FF) | 0x4330000000000000ULL;
    double m, biased;
    memcpy(&m, &mantissa_bits, sizeof m);
    memcpy(&biased, &exponent_bits, sizeof biased);
    const int halve = m > 1.4142135623730951;
    m = halve ? 0.5 * m : m;
    const double k = (biased - (two52 + 1023.0)) + (halve ? 1.0 : 0.0);
    const double s = (m - 1.0) / (m + 1.0), z = s * s;
    double p = 1.0 / 23.0;
    p = p * z + 1.0 / 21.0;
    p = p * z + 1.0 / 19.0;
    p = p * z + 1.0 / 17.0;
    p = p * z + 1.0 / 15.0;
    p = p * z + 1.0 / 13.0;
    p = p * z + 1.0 / 11.0;
    p = p * z + 1.0 / 9.0;
    p = p * z + 1.0 / 7.0;
    p = p * z + 1.0 / 5.0;
    p = p * z + 1.0 / 3.0;
    return k * ln2_hi + ((2.0 * s + 2.0 * s * z * p) + k * ln2_lo);
}

/* The sum of the partial sums in a fixed order: neighbours first, then pairs of
 * pairs, and so on ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ... (acc is used up as
 * scratch). */
static inline double fe_reduce_lanes(double *acc)
{
    for (int stride = 1; stride < FE_LANES; stride *= 2)
        for (int l = 0; l < FE_LANES; l += 2 * stride)
            acc[l] += acc[l + stride];
    return acc[0];
}

/* sum_i a[i] * b[i] */
static inline double fe_dot(const double *restrict a, const double *restrict b,
                            ptrdiff_t n)
{
    double acc[FE_LANES] = {0.0};
    for (ptrdiff_t i = 0; i < n; i += FE_LANES)
        for (int l = 0; l < FE_LANES; l++)
            acc[l] += a[i + l] * b[i + l];
    return fe_reduce_lanes(acc);
}

/* sum_i a[i] */
static inline double fe_sum(const double *restrict a, ptrdiff_t n)
{
    double acc[FE_LANES] = {0.0};
    for (ptrdiff_t i = 0; i < n; i += FE_LANES)
        for (int l = 0; l < FE_LANES; l++)
            acc[l] += a[i + l];
    return fe_reduce_lanes(acc);
}

#endif
