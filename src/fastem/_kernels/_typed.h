/* Reading the data in its own types, shared by the kernels that take dense rows and
 * CSR rows as they are: values float32 (``single``) or float64, CSR indices and row
 * pointers int32 (``narrow``) or int64. The flags are compile-time constants in the
 * templates that call these, so each type pair gets its own loops. */
#ifndef FASTEM_TYPED_H
#define FASTEM_TYPED_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "_simd.h"

/* One value of X, float32 or float64, at any byte address (memcpy: rows of a packed
 * structured array need not be aligned). */
FE_ALWAYS_INLINE double fe_value(const char *p, const int single)
{
    if (single) {
        float v;
        memcpy(&v, p, sizeof v);
        return (double)v;
    }
    double v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Element p of an int32 (narrow) or int64 array. */
FE_ALWAYS_INLINE ptrdiff_t fe_index(const void *a, ptrdiff_t p, const int narrow)
{
    return narrow ? (ptrdiff_t)((const int32_t *)a)[p] : (ptrdiff_t)((const int64_t *)a)[p];
}

#endif
