/*
 * quant_avx512: AVX-512 (F/BW/VL/DQ) dequantization kernels for the hot
 * types (F16, Q8_0, Q5_0, Q4_K, Q5_K, Q6_K). Compiled with the AVX-512 flags
 * (CMake, by file name) and only called after quant.c has checked CPUID and
 * that the OS saves the ZMM/opmask state.
 *
 * Same contract as quant_avx2.c: bit-identical to quant_ref.c (same scalar
 * per-block factors, exact int -> float conversions, the same rounded
 * multiply / subtract in the same operand order, no FMA); F16C-style
 * conversion quiets signalling NaNs. Bytes are unpacked in 128-bit registers
 * (16 quants = one 512-bit float vector); 5th bits are applied with opmasks.
 *
 * Common shape: dst: (n) f32; src: (n / block_size) blocks of the type.
 */
#include "quant_internal.h"

#if EMB_QUANT_X86
#include <immintrin.h>

#include "quant_q6k_unpack.h"

static inline __m128i load16(const void *p)
{
    return _mm_loadu_si128((const __m128i *)p);
}

static inline __m512 i8x16_to_ps(__m128i v)
{
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v));
}

/* y[0..16) = d * q - m, q: 16 int32 */
static inline void emit16_i32_dm(float *y, __m512i q, float d, float m)
{
    const __m512 vq = _mm512_cvtepi32_ps(q);
    _mm512_storeu_ps(y, _mm512_sub_ps(_mm512_mul_ps(_mm512_set1_ps(d), vq), _mm512_set1_ps(m)));
}

/* dst: (n) f32; src: (n) f16 */
void emb_dequant_f16_avx512(float *dst, const void *src, size_t n)
{
    const uint8_t *s = src;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        const __m512 a = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(s + 2 * i)));
        const __m512 b = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(s + 2 * i + 32)));
        const __m512 c = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(s + 2 * i + 64)));
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(s + 2 * i + 96)));
        _mm512_storeu_ps(dst + i, a);
        _mm512_storeu_ps(dst + i + 16, b);
        _mm512_storeu_ps(dst + i + 32, c);
        _mm512_storeu_ps(dst + i + 48, d);
    }
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(s + 2 * i))));
    if (i < n) {
        /* masked lanes are neither read nor written (no fault past the end) */
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1u);
        const __m256i h = _mm256_maskz_loadu_epi16(k, s + 2 * i);
        _mm512_mask_storeu_ps(dst + i, k, _mm512_cvtph_ps(h));
    }
}

/* dst: (n) f32; src: (n / 32) block_q8_0. y = q * d */
void emb_dequant_q8_0_avx512(float *dst, const void *src, size_t n)
{
    const block_q8_0 *x = src;
    for (size_t i = 0; i < n / QK8_0; i++, dst += QK8_0) {
        const __m512 d = _mm512_set1_ps(f16_field(x[i].d));
        _mm512_storeu_ps(dst, _mm512_mul_ps(i8x16_to_ps(load16(x[i].qs)), d));
        _mm512_storeu_ps(dst + 16, _mm512_mul_ps(i8x16_to_ps(load16(x[i].qs + 16)), d));
    }
}

/* dst: (n) f32; src: (n / 32) block_q5_0. y = (q5 - 16) * d */
void emb_dequant_q5_0_avx512(float *dst, const void *src, size_t n)
{
    const block_q5_0 *x = src;
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m512i i16 = _mm512_set1_epi32(16);
    for (size_t i = 0; i < n / QK5_0; i++, dst += QK5_0) {
        const __m512 d = _mm512_set1_ps(f16_field(x[i].d));
        const uint32_t qh = le32(x[i].qh);
        const __m128i qs = load16(x[i].qs);
        /* q - 16, plus 16 back where the 5th bit (bit j / j+16 of qh) is set */
        __m512i lo = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(qs, m4)), i16);
        __m512i hi = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(qs, 4), m4)), i16);
        lo = _mm512_mask_add_epi32(lo, (__mmask16)(qh & 0xFFFFu), lo, i16);
        hi = _mm512_mask_add_epi32(hi, (__mmask16)(qh >> 16), hi, i16);
        _mm512_storeu_ps(dst, _mm512_mul_ps(_mm512_cvtepi32_ps(lo), d));
        _mm512_storeu_ps(dst + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(hi), d));
    }
}

/* y[0..32) = d * q - m for 32 unsigned bytes q */
static inline void emit32_u8_dm(float *y, __m256i q, float d, float m)
{
    emit16_i32_dm(y, _mm512_cvtepu8_epi32(_mm256_castsi256_si128(q)), d, m);
    emit16_i32_dm(y + 16, _mm512_cvtepu8_epi32(_mm256_extracti128_si256(q, 1)), d, m);
}

/* dst: (n) f32; src: (n / 256) block_q4_K. y = (d * sc) * q - (dmin * m) */
void emb_dequant_q4_K_avx512(float *dst, const void *src, size_t n)
{
    const block_q4_K *x = src;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (size_t i = 0; i < n / QK_K; i++) {
        float dl[8], ml[8];
        kquant_factors(dl, ml, x[i].d, x[i].dmin, x[i].scales);
        for (int c = 0; c < 4; c++, dst += 64) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            emit32_u8_dm(dst, _mm256_and_si256(q, m4), dl[2 * c], ml[2 * c]);
            emit32_u8_dm(dst + 32, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), dl[2 * c + 1],
                         ml[2 * c + 1]);
        }
    }
}

/* dst: (n) f32; src: (n / 256) block_q5_K. y = (d * sc) * q5 - (dmin * m)
 * The 5th bits become opmasks: 16 added to the lanes whose qh bit is set. */
void emb_dequant_q5_K_avx512(float *dst, const void *src, size_t n)
{
    const block_q5_K *x = src;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i b16 = _mm256_set1_epi8(16);
    for (size_t i = 0; i < n / QK_K; i++) {
        float dl[8], ml[8];
        kquant_factors(dl, ml, x[i].d, x[i].dmin, x[i].scales);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)x[i].qh);
        for (int c = 0; c < 4; c++, dst += 64) {
            const __m256i u1 = _mm256_set1_epi8((char)(1u << (2 * c)));
            const __m256i u2 = _mm256_set1_epi8((char)(2u << (2 * c)));
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            const __m256i lo4 = _mm256_and_si256(q, m4);
            const __m256i hi4 = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            const __m256i lo = _mm256_mask_add_epi8(lo4, _mm256_test_epi8_mask(qh, u1), lo4, b16);
            const __m256i hi = _mm256_mask_add_epi8(hi4, _mm256_test_epi8_mask(qh, u2), hi4, b16);
            emit32_u8_dm(dst, lo, dl[2 * c], ml[2 * c]);
            emit32_u8_dm(dst + 32, hi, dl[2 * c + 1], ml[2 * c + 1]);
        }
    }
}

/* dst: (n) f32; src: (n / 256) block_q6_K. y = (d * sc) * (q6 - 32)
 * Output k of a super-block uses scale k / 16: one factor per 16-lane vector.
 * Bytes are unpacked 32 at a time (256-bit), converted 16 at a time. */
void emb_dequant_q6_K_avx512(float *dst, const void *src, size_t n)
{
    const block_q6_K *x = src;
    for (size_t i = 0; i < n / QK_K; i++) {
        float ds[16];
        q6_K_factors(&x[i], ds);
        for (int half = 0; half < 2; half++, dst += 128) {
            __m256i q[4];
            q6_K_unpack_half(&x[i], half, q);
            const float *f = ds + 8 * half;
            for (int k = 0; k < 4; k++) {
                const __m512 a = i8x16_to_ps(_mm256_castsi256_si128(q[k]));
                const __m512 b = i8x16_to_ps(_mm256_extracti128_si256(q[k], 1));
                _mm512_storeu_ps(dst + 32 * k, _mm512_mul_ps(_mm512_set1_ps(f[2 * k]), a));
                _mm512_storeu_ps(dst + 32 * k + 16, _mm512_mul_ps(_mm512_set1_ps(f[2 * k + 1]), b));
            }
        }
    }
}

#endif
