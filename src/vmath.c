/*
 * vmath: the run-time choice of activation kernels (vmath.h) and the scalar
 * level, which is libm's erff / expf: exactly the naive twin's functions.
 */
#include "vmath.h"
#include "vmath_internal.h"

#include <math.h>
#include <string.h>

#include "quant.h"

#define INV_SQRT2 0.70710678118654752440f

enum { LV_SCALAR, LV_AVX2, LV_AVX512 };

static int level(void)
{
#if defined(__x86_64__) || defined(__i386__)
    const char *l = emb_quant_simd_level();
    if (strcmp(l, "avx512") == 0)
        return LV_AVX512;
    if (strcmp(l, "avx2") == 0)
        return LV_AVX2;
#endif
    return LV_SCALAR;
}

#if defined(__x86_64__) || defined(__i386__)
/* Runs the SIMD kernel of the current level and returns, if there is one. */
#define DISPATCH(fn, ...)                                                                        \
    do {                                                                                         \
        const int lv_ = level();                                                                 \
        if (lv_ == LV_AVX512) {                                                                  \
            fn##_avx512(__VA_ARGS__);                                                            \
            return;                                                                              \
        }                                                                                        \
        if (lv_ == LV_AVX2) {                                                                    \
            fn##_avx2(__VA_ARGS__);                                                              \
            return;                                                                              \
        }                                                                                        \
    } while (0)
#else
#define DISPATCH(fn, ...) (void)0
#endif

void emb_vmath_gelu_erf(float *x, size_t n)
{
    DISPATCH(emb_vmath_gelu_erf, x, n);
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * INV_SQRT2));
}

void emb_vmath_swiglu(float *up, const float *gate, size_t n)
{
    DISPATCH(emb_vmath_swiglu, up, gate, n);
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        up[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

double emb_vmath_exp_sum(float *x, size_t n, float shift)
{
#if defined(__x86_64__) || defined(__i386__)
    const int lv = level();
    if (lv == LV_AVX512)
        return emb_vmath_exp_sum_avx512(x, n, shift);
    if (lv == LV_AVX2)
        return emb_vmath_exp_sum_avx2(x, n, shift);
#endif
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - shift);
        sum += x[i];
    }
    return sum;
}

void emb_vmath_erf(float *y, const float *x, size_t n)
{
    DISPATCH(emb_vmath_erf, y, x, n);
    for (size_t i = 0; i < n; i++)
        y[i] = erff(x[i]);
}

void emb_vmath_exp(float *y, const float *x, size_t n)
{
    DISPATCH(emb_vmath_exp, y, x, n);
    for (size_t i = 0; i < n; i++)
        y[i] = expf(x[i]);
}
