/*
 * vmath_avx512: the AVX-512 activations of vmath.h (formulas and constants
 * in vmath_internal.h). Compiled with the AVX-512 flags (CMake, by file
 * name); called only when quant.c's dispatcher chose "avx512". Tails use
 * masked loads and stores (lanes past n are neither read nor written).
 */
#include "vmath_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

static inline __m512 vexp(__m512 x)
{
    /* min/max operand order keeps NaN: they return the second operand */
    x = _mm512_min_ps(_mm512_set1_ps(VM_EXP_HI), _mm512_max_ps(_mm512_set1_ps(VM_EXP_LO), x));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(VM_LOG2E)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(VM_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(VM_LN2_LO), r);
    __m512 p = _mm512_set1_ps(VM_EXP_P0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VM_EXP_P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VM_EXP_P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VM_EXP_P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VM_EXP_P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VM_EXP_P5));
    const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(y, n); /* y * 2^n, rounded once: inf / subnormals / 0 */
}

static inline __m512 verf(__m512 x0)
{
    __m512 x = _mm512_min_ps(_mm512_set1_ps(VM_ERF_CLAMP), _mm512_max_ps(_mm512_set1_ps(-VM_ERF_CLAMP), x0));
    const __m512 x2 = _mm512_mul_ps(x, x);
    __m512 p = _mm512_fmadd_ps(x2, _mm512_set1_ps(VM_ERF_A13), _mm512_set1_ps(VM_ERF_A11));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(VM_ERF_A9));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(VM_ERF_A7));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(VM_ERF_A5));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(VM_ERF_A3));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(VM_ERF_A1));
    p = _mm512_mul_ps(x, p);
    __m512 q = _mm512_fmadd_ps(x2, _mm512_set1_ps(VM_ERF_B8), _mm512_set1_ps(VM_ERF_B6));
    q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(VM_ERF_B4));
    q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(VM_ERF_B2));
    q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(VM_ERF_B0));
    __m512 e = _mm512_div_ps(p, q);
    /* exactly +-1 from the clamp on (the rational is a few ulp short of it
     * there); |erf| <= 1 everywhere. NaN compares false and stays NaN. */
    const __mmask16 big = _mm512_cmp_ps_mask(_mm512_abs_ps(x0), _mm512_set1_ps(VM_ERF_CLAMP), _CMP_GE_OQ);
    const __m512 one = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_and_si512(_mm512_castps_si512(x0), _mm512_set1_epi32((int)0x80000000u)),
        _mm512_castps_si512(_mm512_set1_ps(1.0f))));
    e = _mm512_mask_mov_ps(e, big, one);
    return _mm512_min_ps(_mm512_set1_ps(1.0f), _mm512_max_ps(_mm512_set1_ps(-1.0f), e));
}

static inline __m512 gelu(__m512 x)
{
    const __m512 e = verf(_mm512_mul_ps(x, _mm512_set1_ps(VM_INV_SQRT2)));
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

static inline __m512 swiglu(__m512 u, __m512 g)
{
    const __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), vexp(_mm512_sub_ps(_mm512_setzero_ps(), g)));
    return _mm512_mul_ps(_mm512_div_ps(g, d), u);
}

static inline __mmask16 tail(size_t left)
{
    return (__mmask16)((1u << left) - 1u);
}

void emb_vmath_gelu_erf_avx512(float *x, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, gelu(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = tail(n - i);
        _mm512_mask_storeu_ps(x + i, m, gelu(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

void emb_vmath_swiglu_avx512(float *up, const float *gate, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(up + i, swiglu(_mm512_loadu_ps(up + i), _mm512_loadu_ps(gate + i)));
    if (i < n) {
        const __mmask16 m = tail(n - i);
        _mm512_mask_storeu_ps(up + i, m,
                              swiglu(_mm512_maskz_loadu_ps(m, up + i), _mm512_maskz_loadu_ps(m, gate + i)));
    }
}

/* sum of the 16 lanes of e, converted to double first (exact), added in
 * double: the same sum as the scalar loop up to double rounding */
static inline __m512d add_pd(__m512d acc, __m512 e)
{
    acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    return _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1)));
}

double emb_vmath_exp_sum_avx512(float *x, size_t n, float shift)
{
    const __m512 s = _mm512_set1_ps(shift);
    __m512d acc = _mm512_setzero_pd();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 e = vexp(_mm512_sub_ps(_mm512_loadu_ps(x + i), s));
        _mm512_storeu_ps(x + i, e);
        acc = add_pd(acc, e);
    }
    if (i < n) {
        const __mmask16 m = tail(n - i);
        const __m512 e = _mm512_maskz_mov_ps(m, vexp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), s)));
        _mm512_mask_storeu_ps(x + i, m, e);
        acc = add_pd(acc, e);
    }
    return _mm512_reduce_add_pd(acc);
}

void emb_vmath_erf_avx512(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, verf(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = tail(n - i);
        _mm512_mask_storeu_ps(y + i, m, verf(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

void emb_vmath_exp_avx512(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, vexp(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = tail(n - i);
        _mm512_mask_storeu_ps(y + i, m, vexp(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

#endif
