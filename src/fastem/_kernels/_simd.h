/* SIMD over rows, shared by every kernel module: FE_W rows per vector register
 * (eight with AVX-512, four with AVX, two with SSE2, one without vector extensions),
 * loads, stores and horizontal sums in a fixed order, masks, fused multiply-add, and
 * the layout of a chunk of rows.
 *
 * A chunk is stored transposed: xt[i * FE_LD + r] is feature i of row r, so rows are
 * SIMD lanes; the K logits of a chunk are stored component by component, K rows of
 * FE_LD.
 */
#ifndef FASTEM_SIMD_H
#define FASTEM_SIMD_H

#include "_fastmath.h"

#define FE_CHUNK 256
/* Leading dimension of chunks, centred blocks and the K rows of logits: one cache
 * line more than a chunk, so that the columns a row block reads fall in different L1
 * sets (a 2 KiB stride would map them all to two: fe_gram_upper, reading three
 * columns of the chunk and four of a block, ran 1.3x slower at d = 8, and
 * fe_write_resp, reading K rows of logits, 1.2x slower at K = 32). */
#ifndef FE_LD
#define FE_LD (FE_CHUNK + 8)
#endif

/* The fixed blocks every kernel's pass is cut into (their number depends on the
 * problem, never on the thread count; their partial sums add in block order): their
 * partial sums take at most FE_PARTIALS_BYTES in all, and there are at most
 * FE_MAX_BLOCKS of them. Per-thread scratch starts on a cache line (FE_ALIGN bytes):
 * every thread then hands BLAS buffers of the same alignment (BLAS results could
 * depend on it; the bits must not). */
#define FE_PARTIALS_BYTES (32 * 1024 * 1024)
#define FE_MAX_BLOCKS 256
#define FE_ALIGN 64

#if defined(__GNUC__)
#define FE_ALWAYS_INLINE static inline __attribute__((always_inline))
/* Unroll loops over features completely, so per-row values stay in registers. */
#define FE_UNROLL _Pragma("GCC unroll 64")
#else
#define FE_ALWAYS_INLINE static inline
#define FE_UNROLL
#endif

#if defined(__GNUC__) || defined(__clang__)
/* FE_W rows at a time in one vector register: eight with AVX-512, four with AVX,
 * two with SSE2. (Four on SSE2, split into halves by gcc, went through the stack
 * wherever a scalar met a vector: the baseline build's E-step was 2.5-3.3x slower for
 * diagonal and spherical covariances at d = 8, 1.4x for full.) */
#if defined(__AVX512F__)
#define FE_W 8
#elif defined(__AVX__)
#define FE_W 4
#else
#define FE_W 2
#endif
typedef double fe_vec __attribute__((vector_size(FE_W * sizeof(double))));
static inline fe_vec fe_load(const double *p) { fe_vec v; memcpy(&v, p, sizeof v); return v; }
static inline void fe_store(double *p, fe_vec v) { memcpy(p, &v, sizeof v); }
#if FE_W == 8
static inline double fe_hsum(fe_vec v)
{
    return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}
#elif FE_W == 4
static inline double fe_hsum(fe_vec v) { return (v[0] + v[1]) + (v[2] + v[3]); }
#else
static inline double fe_hsum(fe_vec v) { return v[0] + v[1]; }
#endif
static inline fe_vec fe_zero(void) { fe_vec v = {0.0}; return v; }
/* Every lane x: one broadcast (zero + x would add 0.0 first, to turn -0.0 into +0.0;
 * a loop over the lanes became masked broadcasts). */
#if FE_W == 8
static inline fe_vec fe_splat(double x) { return (fe_vec){x, x, x, x, x, x, x, x}; }
#elif FE_W == 4
static inline fe_vec fe_splat(double x) { return (fe_vec){x, x, x, x}; }
#else
static inline fe_vec fe_splat(double x) { return (fe_vec){x, x}; }
#endif
/* Comparisons give masks (all bits set where true); FE_SELECT picks a where set. */
typedef long long fe_mask __attribute__((vector_size(FE_W * sizeof(long long))));
#define FE_SELECT(mask, a, b) \
    ((fe_vec)(((fe_mask)(a) & (mask)) | ((fe_mask)(b) & ~(mask))))
#else
/* Compilers without vector extensions: one row at a time, same arithmetic. */
#define FE_W 1
typedef double fe_vec;
static inline fe_vec fe_load(const double *p) { return *p; }
static inline void fe_store(double *p, fe_vec v) { *p = v; }
static inline double fe_hsum(fe_vec v) { return v; }
static inline fe_vec fe_zero(void) { return 0.0; }
static inline fe_vec fe_splat(double x) { return x; }
typedef int fe_mask;
#define FE_SELECT(mask, a, b) ((mask) ? (a) : (b))
#endif

/* The sum of four vectors of partial sums, in a fixed order. */
static inline double fe_hsum4(const fe_vec *v)
{
    return fe_hsum((v[0] + v[1]) + (v[2] + v[3]));
}

/* A hint to fetch the cache line at p (never faults; nothing without GCC builtins). */
#if defined(__GNUC__)
#define fe_prefetch(p) __builtin_prefetch(p)
#else
#define fe_prefetch(p) ((void)(p))
#endif

/* a * b + c in one rounding (1.15-1.2x faster here than two). Written out so that
 * these kernels fuse whatever -ffp-contract says; meson.build has the v3 and v4
 * builds contract the rest of the arithmetic too. */
#if defined(__AVX512F__) && FE_W == 8
#include <immintrin.h>
#define FE_FMA(a, b, c) ((fe_vec)_mm512_fmadd_pd((__m512d)(a), (__m512d)(b), (__m512d)(c)))
#elif defined(__FMA__) && FE_W == 4
#include <immintrin.h>
#define FE_FMA(a, b, c) ((fe_vec)_mm256_fmadd_pd((__m256d)(a), (__m256d)(b), (__m256d)(c)))
#else
#define FE_FMA(a, b, c) ((a) * (b) + (c))
#endif
#endif
