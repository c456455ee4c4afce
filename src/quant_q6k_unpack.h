/*
 * quant_q6k_unpack: the Q6_K unpacking shared by the AVX2 and the AVX-512
 * kernels (docs/format.md §2.3). Include only from files compiled with at
 * least -mavx2 (quant_avx2.c, quant_avx512.c): the functions are inline AVX2
 * and must not be emitted into a file that runs on older CPUs.
 *
 * A Q6_K super-block is two halves of 128 outputs. One half reads 64 bytes of
 * ql, 32 of qh and 8 of the 16 signed scales; output k of the block uses
 * scale k / 16, so each run of 16 outputs has one float factor.
 */
#ifndef EMB_QUANT_Q6K_UNPACK_H
#define EMB_QUANT_Q6K_UNPACK_H

#include <immintrin.h>

#include "quant_internal.h"

/* ds[k] = d * scales[k], k = 0..15: the per-16-run factors, computed as the
 * scalar reference does (the same rounded product). */
static inline void q6_K_factors(const block_q6_K *b, float ds[16])
{
    const float d = f16_field(b->d);
    for (int k = 0; k < 16; k++)
        ds[k] = d * (float)b->scales[k];
}

/* The 128 quants of half `half` (0 or 1) of b, minus 32, as signed bytes:
 * q[k] holds outputs 32k .. 32k+31 of the half (factors ds[8 half + 2k] for
 * its low 16 bytes, ds[8 half + 2k + 1] for its high 16). */
static inline void q6_K_unpack_half(const block_q6_K *b, int half, __m256i q[4])
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m3 = _mm256_set1_epi8(0x03);
    const __m256i b32 = _mm256_set1_epi8(32);
    const __m256i l0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * half));
    const __m256i l1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * half + 32));
    const __m256i h = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * half));
    q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m3), 4));
    q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m3), 4));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m3), 4));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m3), 4));
    for (int k = 0; k < 4; k++)
        q[k] = _mm256_sub_epi8(q[k], b32);
}

#endif
