/*
 * vmath_avx2: the AVX2 + FMA activations of vmath.h (formulas and constants
 * in vmath_internal.h, the same as vmath_avx512.c). Compiled with the AVX2
 * flags (CMake, by file name); called only when quant.c's dispatcher chose
 * "avx2". Tails go through an 8-float stack buffer (nothing past n is read
 * or written).
 */
#include "vmath_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <string.h>

/* 2^k for integer-valued k in [-75, 64]: a normal float built from bits */
static inline __m256 pow2i(__m256i k)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
}

static inline __m256 vexp(__m256 x)
{
    /* min/max operand order keeps NaN: they return the second operand */
    x = _mm256_min_ps(_mm256_set1_ps(VM_EXP_HI), _mm256_max_ps(_mm256_set1_ps(VM_EXP_LO), x));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(VM_LOG2E)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(VM_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(VM_LN2_LO), r);
    __m256 p = _mm256_set1_ps(VM_EXP_P0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VM_EXP_P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VM_EXP_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VM_EXP_P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VM_EXP_P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VM_EXP_P5));
    const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    /* y * 2^n with n in [-150, 129] as y * 2^a * 2^b, a = n >> 1, b = n - a:
     * the first product is exact, the second rounds once (overflow -> inf,
     * gradual underflow), like _mm512_scalef_ps. NaN x: n is NaN, the
     * integer conversion gives INT_MIN, y stays NaN through the products. */
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i a = _mm256_srai_epi32(ni, 1);
    const __m256i b = _mm256_sub_epi32(ni, a);
    return _mm256_mul_ps(_mm256_mul_ps(y, pow2i(a)), pow2i(b));
}

static inline __m256 verf(__m256 x0)
{
    __m256 x = _mm256_min_ps(_mm256_set1_ps(VM_ERF_CLAMP), _mm256_max_ps(_mm256_set1_ps(-VM_ERF_CLAMP), x0));
    const __m256 x2 = _mm256_mul_ps(x, x);
    __m256 p = _mm256_fmadd_ps(x2, _mm256_set1_ps(VM_ERF_A13), _mm256_set1_ps(VM_ERF_A11));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(VM_ERF_A9));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(VM_ERF_A7));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(VM_ERF_A5));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(VM_ERF_A3));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(VM_ERF_A1));
    p = _mm256_mul_ps(x, p);
    __m256 q = _mm256_fmadd_ps(x2, _mm256_set1_ps(VM_ERF_B8), _mm256_set1_ps(VM_ERF_B6));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(VM_ERF_B4));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(VM_ERF_B2));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(VM_ERF_B0));
    __m256 e = _mm256_div_ps(p, q);
    /* exactly +-1 from the clamp on; NaN compares false and stays NaN */
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 big = _mm256_cmp_ps(_mm256_andnot_ps(sign, x0), _mm256_set1_ps(VM_ERF_CLAMP), _CMP_GE_OQ);
    const __m256 one = _mm256_or_ps(_mm256_and_ps(x0, sign), _mm256_set1_ps(1.0f));
    e = _mm256_blendv_ps(e, one, big);
    return _mm256_min_ps(_mm256_set1_ps(1.0f), _mm256_max_ps(_mm256_set1_ps(-1.0f), e));
}

static inline __m256 gelu(__m256 x)
{
    const __m256 e = verf(_mm256_mul_ps(x, _mm256_set1_ps(VM_INV_SQRT2)));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

static inline __m256 swiglu(__m256 u, __m256 g)
{
    const __m256 d = _mm256_add_ps(_mm256_set1_ps(1.0f), vexp(_mm256_sub_ps(_mm256_setzero_ps(), g)));
    return _mm256_mul_ps(_mm256_div_ps(g, d), u);
}

/* the last n % 8 floats of src in an 8-float vector, zero padded */
static inline __m256 load_tail(const float *src, size_t left)
{
    float buf[8] = {0};
    memcpy(buf, src, left * sizeof(float));
    return _mm256_loadu_ps(buf);
}

static inline void store_tail(float *dst, __m256 v, size_t left)
{
    float buf[8];
    _mm256_storeu_ps(buf, v);
    memcpy(dst, buf, left * sizeof(float));
}

void emb_vmath_gelu_erf_avx2(float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, gelu(_mm256_loadu_ps(x + i)));
    if (i < n)
        store_tail(x + i, gelu(load_tail(x + i, n - i)), n - i);
}

void emb_vmath_swiglu_avx2(float *up, const float *gate, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(up + i, swiglu(_mm256_loadu_ps(up + i), _mm256_loadu_ps(gate + i)));
    if (i < n)
        store_tail(up + i, swiglu(load_tail(up + i, n - i), load_tail(gate + i, n - i)), n - i);
}

static inline __m256d add_pd(__m256d acc, __m256 e)
{
    acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
}

double emb_vmath_exp_sum_avx2(float *x, size_t n, float shift)
{
    const __m256 s = _mm256_set1_ps(shift);
    __m256d acc = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = vexp(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
        _mm256_storeu_ps(x + i, e);
        acc = add_pd(acc, e);
    }
    double sum_tail = 0.0;
    if (i < n) {
        float buf[8];
        _mm256_storeu_ps(buf, vexp(_mm256_sub_ps(load_tail(x + i, n - i), s)));
        for (size_t j = 0; j < n - i; j++) {
            x[i + j] = buf[j];
            sum_tail += buf[j];
        }
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, acc);
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + sum_tail;
}

void emb_vmath_erf_avx2(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, verf(_mm256_loadu_ps(x + i)));
    if (i < n)
        store_tail(y + i, verf(load_tail(x + i, n - i)), n - i);
}

void emb_vmath_exp_avx2(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, vexp(_mm256_loadu_ps(x + i)));
    if (i < n)
        store_tail(y + i, vexp(load_tail(x + i, n - i)), n - i);
}

#endif
