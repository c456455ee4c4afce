/*
 * quant_avx2: AVX2 + FMA + F16C dequantization kernels for the hot types
 * (F16, Q8_0, Q5_0, Q4_K, Q5_K, Q6_K). Compiled with -mavx2 -mfma -mf16c
 * (CMake, by file name) and only called after quant.c has checked CPUID.
 *
 * Bit-identical to quant_ref.c: the quants are unpacked with integer ops,
 * converted to float exactly, per-block scales are computed by the same
 * scalar helpers (quant_internal.h), and every output is the same rounded
 * multiply (then rounded subtract) in the same operand order. No FMA.
 * The only possible difference: F16C quiets a signalling-NaN f16 where the
 * scalar path keeps the payload as is (both are NaN).
 *
 * Loads and stores are unaligned: rows inside a GGUF mapping have no
 * alignment beyond 1 byte for the blocks and 4 for the output.
 *
 * Common shape: dst: (n) f32; src: (n / block_size) blocks of the type.
 */
#include "quant_internal.h"

#if EMB_QUANT_X86
#include <immintrin.h>

#include "quant_q6k_unpack.h"

/* the low 8 bytes of v, unsigned / signed, as 8 floats */
static inline __m256 u8x8_to_ps(__m128i v)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v));
}

static inline __m256 i8x8_to_ps(__m128i v)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v));
}

static inline __m128i load16(const void *p)
{
    return _mm_loadu_si128((const __m128i *)p);
}

static inline __m256i load32(const void *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

/* y[0..16) = d * q - m for 16 unsigned bytes q */
static inline void emit16_u8_dm(float *y, __m128i q, __m256 d, __m256 m)
{
    _mm256_storeu_ps(y, _mm256_sub_ps(_mm256_mul_ps(d, u8x8_to_ps(q)), m));
    _mm256_storeu_ps(y + 8, _mm256_sub_ps(_mm256_mul_ps(d, u8x8_to_ps(_mm_srli_si128(q, 8))), m));
}

/* y[0..32) = d * q - m for 32 unsigned bytes q */
static inline void emit32_u8_dm(float *y, __m256i q, float d, float m)
{
    const __m256 vd = _mm256_set1_ps(d), vm = _mm256_set1_ps(m);
    emit16_u8_dm(y, _mm256_castsi256_si128(q), vd, vm);
    emit16_u8_dm(y + 16, _mm256_extracti128_si256(q, 1), vd, vm);
}

/* y[0..16) = q * d for 16 signed bytes q (operand order as the scalar q * d) */
static inline void emit16_i8_qd(float *y, __m128i q, __m256 d)
{
    _mm256_storeu_ps(y, _mm256_mul_ps(i8x8_to_ps(q), d));
    _mm256_storeu_ps(y + 8, _mm256_mul_ps(i8x8_to_ps(_mm_srli_si128(q, 8)), d));
}

/* y[0..16) = d * q for 16 signed bytes q (operand order as the scalar d * q) */
static inline void emit16_i8_dq(float *y, __m128i q, float d)
{
    const __m256 vd = _mm256_set1_ps(d);
    _mm256_storeu_ps(y, _mm256_mul_ps(vd, i8x8_to_ps(q)));
    _mm256_storeu_ps(y + 8, _mm256_mul_ps(vd, i8x8_to_ps(_mm_srli_si128(q, 8))));
}

/* dst: (n) f32; src: (n) f16 */
void emb_dequant_f16_avx2(float *dst, const void *src, size_t n)
{
    const uint8_t *s = src;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256 a = _mm256_cvtph_ps(load16(s + 2 * i));
        const __m256 b = _mm256_cvtph_ps(load16(s + 2 * i + 16));
        const __m256 c = _mm256_cvtph_ps(load16(s + 2 * i + 32));
        const __m256 d = _mm256_cvtph_ps(load16(s + 2 * i + 48));
        _mm256_storeu_ps(dst + i, a);
        _mm256_storeu_ps(dst + i + 8, b);
        _mm256_storeu_ps(dst + i + 16, c);
        _mm256_storeu_ps(dst + i + 24, d);
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(load16(s + 2 * i)));
    if (i < n) {
        /* the same instruction for the tail, through a padded copy */
        uint8_t in[16] = {0};
        float out[8];
        memcpy(in, s + 2 * i, (n - i) * 2);
        _mm256_storeu_ps(out, _mm256_cvtph_ps(load16(in)));
        memcpy(dst + i, out, (n - i) * sizeof(float));
    }
}

/* dst: (n) f32; src: (n / 32) block_q8_0. y = q * d */
void emb_dequant_q8_0_avx2(float *dst, const void *src, size_t n)
{
    const block_q8_0 *x = src;
    for (size_t i = 0; i < n / QK8_0; i++, dst += QK8_0) {
        const __m256 d = _mm256_set1_ps(f16_field(x[i].d));
        emit16_i8_qd(dst, load16(x[i].qs), d);
        emit16_i8_qd(dst + 16, load16(x[i].qs + 16), d);
    }
}

/* Per byte k: 0xFF if bit k of the 16 bits (bytes b0, b0+1 of v) is set. */
static inline __m128i bits_to_bytes(__m128i v, __m128i which_byte)
{
    const __m128i bit = _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
    return _mm_cmpeq_epi8(_mm_and_si128(_mm_shuffle_epi8(v, which_byte), bit), bit);
}

/* dst: (n) f32; src: (n / 32) block_q5_0. y = (q5 - 16) * d */
void emb_dequant_q5_0_avx2(float *dst, const void *src, size_t n)
{
    const block_q5_0 *x = src;
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m128i b16 = _mm_set1_epi8(16);
    const __m128i bytes01 = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m128i bytes23 = _mm_setr_epi8(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    for (size_t i = 0; i < n / QK5_0; i++, dst += QK5_0) {
        const __m256 d = _mm256_set1_ps(f16_field(x[i].d));
        const __m128i qh = _mm_cvtsi32_si128((int)le32(x[i].qh));
        const __m128i qs = load16(x[i].qs);
        /* element j: low nibble | bit j of qh; element j+16: high nibble | bit j+16 */
        __m128i lo = _mm_or_si128(_mm_and_si128(qs, m4), _mm_and_si128(bits_to_bytes(qh, bytes01), b16));
        __m128i hi = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(qs, 4), m4),
                                  _mm_and_si128(bits_to_bytes(qh, bytes23), b16));
        lo = _mm_sub_epi8(lo, b16);
        hi = _mm_sub_epi8(hi, b16);
        emit16_i8_qd(dst, lo, d);
        emit16_i8_qd(dst + 16, hi, d);
    }
}

/* dst: (n) f32; src: (n / 256) block_q4_K. y = (d * sc) * q - (dmin * m) */
void emb_dequant_q4_K_avx2(float *dst, const void *src, size_t n)
{
    const block_q4_K *x = src;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (size_t i = 0; i < n / QK_K; i++) {
        float dl[8], ml[8];
        kquant_factors(dl, ml, x[i].d, x[i].dmin, x[i].scales);
        for (int c = 0; c < 4; c++, dst += 64) {
            const __m256i q = load32(x[i].qs + 32 * c);
            emit32_u8_dm(dst, _mm256_and_si256(q, m4), dl[2 * c], ml[2 * c]);
            emit32_u8_dm(dst + 32, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), dl[2 * c + 1],
                         ml[2 * c + 1]);
        }
    }
}

/* dst: (n) f32; src: (n / 256) block_q5_K. y = (d * sc) * q5 - (dmin * m) */
void emb_dequant_q5_K_avx2(float *dst, const void *src, size_t n)
{
    const block_q5_K *x = src;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i b16 = _mm256_set1_epi8(16);
    for (size_t i = 0; i < n / QK_K; i++) {
        float dl[8], ml[8];
        kquant_factors(dl, ml, x[i].d, x[i].dmin, x[i].scales);
        const __m256i qh = load32(x[i].qh);
        for (int c = 0; c < 4; c++, dst += 64) {
            const __m256i u1 = _mm256_set1_epi8((char)(1u << (2 * c)));
            const __m256i u2 = _mm256_set1_epi8((char)(2u << (2 * c)));
            const __m256i h1 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, u1), u1), b16);
            const __m256i h2 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, u2), u2), b16);
            const __m256i q = load32(x[i].qs + 32 * c);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), h1);
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h2);
            emit32_u8_dm(dst, lo, dl[2 * c], ml[2 * c]);
            emit32_u8_dm(dst + 32, hi, dl[2 * c + 1], ml[2 * c + 1]);
        }
    }
}

/* dst: (n) f32; src: (n / 256) block_q6_K. y = (d * sc) * (q6 - 32)
 * Output k of a super-block uses scale k / 16, so each 16-run has one factor. */
void emb_dequant_q6_K_avx2(float *dst, const void *src, size_t n)
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
                emit16_i8_dq(dst + 32 * k, _mm256_castsi256_si128(q[k]), f[2 * k]);
                emit16_i8_dq(dst + 32 * k + 16, _mm256_extracti128_si256(q[k], 1), f[2 * k + 1]);
            }
        }
    }
}

#endif
