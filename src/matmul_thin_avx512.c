/*
 * matmul_thin_avx512: the AVX-512 f32 micro-kernel of emb_matmul_thin
 * (contract in matmul_thin_internal.h). Compiled with the AVX-512 flags (CMake,
 * by file name); called only when quant.c's dispatcher chose "avx512".
 *
 * Register block: 4 weight rows x up to 6 tokens = 24 zmm accumulators, the
 * 6 token vectors of the current k-step and 1 weight vector (31 of 32 zmm).
 * Per 16-wide k-step: 6 + 4 loads for 24 FMAs, so the FMA units, not the
 * loads, bound it. The K tail is handled with masked loads (lanes past K are
 * neither read nor counted).
 */
#include "matmul_thin_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define TB_MAX 6

/* [sum(a), sum(b), sum(c), sum(d)] */
static inline __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d)
{
    const __m256 a8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    const __m256 b8 = _mm256_add_ps(_mm512_castps512_ps256(b), _mm512_extractf32x8_ps(b, 1));
    const __m256 c8 = _mm256_add_ps(_mm512_castps512_ps256(c), _mm512_extractf32x8_ps(c, 1));
    const __m256 d8 = _mm256_add_ps(_mm512_castps512_ps256(d), _mm512_extractf32x8_ps(d, 1));
    const __m256 ab = _mm256_hadd_ps(a8, b8); /* a01 a23 b01 b23 | a45 a67 b45 b67 */
    const __m256 cd = _mm256_hadd_ps(c8, d8);
    const __m256 abcd = _mm256_hadd_ps(ab, cd); /* a b c d (low half) | a b c d (high) */
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/* One block: y[0..TB)[0..nr) from TB token rows and 4 weight rows (rows past
 * nr alias row 0 and are not stored). TB is a constant after inlining. */
static inline __attribute__((always_inline)) void block(const int TB, float *y, size_t ldy,
                                                        const float *x, size_t ldx,
                                                        const float *w, size_t ldw, size_t nr,
                                                        size_t K, bool acc, const char *pf,
                                                        size_t pf_ld, size_t pf_bytes)
{
    const float *w0 = w, *w1 = nr > 1 ? w + ldw : w, *w2 = nr > 2 ? w + 2 * ldw : w,
                *w3 = nr > 3 ? w + 3 * ldw : w;
    __m512 a0[TB_MAX], a1[TB_MAX], a2[TB_MAX], a3[TB_MAX], xv[TB_MAX];
#pragma GCC unroll 6
    for (int j = 0; j < TB; j++)
        a0[j] = a1[j] = a2[j] = a3[j] = _mm512_setzero_ps();
    size_t k = 0;
    for (; k + 16 <= K; k += 16) {
        /* one line of each of the next group's 4 rows per step: the whole
         * next group is in flight long before this one is done */
        const size_t off = k / 16 * 64;
        if (pf && off < pf_bytes) {
            _mm_prefetch(pf + off, _MM_HINT_T1);
            _mm_prefetch(pf + pf_ld + off, _MM_HINT_T1);
            _mm_prefetch(pf + 2 * pf_ld + off, _MM_HINT_T1);
            _mm_prefetch(pf + 3 * pf_ld + off, _MM_HINT_T1);
        }
#pragma GCC unroll 6
        for (int j = 0; j < TB; j++)
            xv[j] = _mm512_loadu_ps(x + (size_t)j * ldx + k);
        __m512 wv = _mm512_loadu_ps(w0 + k);
#pragma GCC unroll 6
        for (int j = 0; j < TB; j++)
            a0[j] = _mm512_fmadd_ps(wv, xv[j], a0[j]);
        wv = _mm512_loadu_ps(w1 + k);
#pragma GCC unroll 6
        for (int j = 0; j < TB; j++)
            a1[j] = _mm512_fmadd_ps(wv, xv[j], a1[j]);
        wv = _mm512_loadu_ps(w2 + k);
#pragma GCC unroll 6
        for (int j = 0; j < TB; j++)
            a2[j] = _mm512_fmadd_ps(wv, xv[j], a2[j]);
        wv = _mm512_loadu_ps(w3 + k);
#pragma GCC unroll 6
        for (int j = 0; j < TB; j++)
            a3[j] = _mm512_fmadd_ps(wv, xv[j], a3[j]);
    }
    if (k < K) {
        const __mmask16 m = (__mmask16)((1u << (K - k)) - 1u);
#pragma GCC unroll 6
        for (int j = 0; j < TB; j++)
            xv[j] = _mm512_maskz_loadu_ps(m, x + (size_t)j * ldx + k);
        __m512 wv = _mm512_maskz_loadu_ps(m, w0 + k);
#pragma GCC unroll 6
        for (int j = 0; j < TB; j++)
            a0[j] = _mm512_fmadd_ps(wv, xv[j], a0[j]);
        wv = _mm512_maskz_loadu_ps(m, w1 + k);
#pragma GCC unroll 6
        for (int j = 0; j < TB; j++)
            a1[j] = _mm512_fmadd_ps(wv, xv[j], a1[j]);
        wv = _mm512_maskz_loadu_ps(m, w2 + k);
#pragma GCC unroll 6
        for (int j = 0; j < TB; j++)
            a2[j] = _mm512_fmadd_ps(wv, xv[j], a2[j]);
        wv = _mm512_maskz_loadu_ps(m, w3 + k);
#pragma GCC unroll 6
        for (int j = 0; j < TB; j++)
            a3[j] = _mm512_fmadd_ps(wv, xv[j], a3[j]);
    }
    const __mmask8 keep = (__mmask8)((1u << nr) - 1u);
#pragma GCC unroll 6
    for (int j = 0; j < TB; j++) {
        __m128 s = hsum4(a0[j], a1[j], a2[j], a3[j]);
        float *yj = y + (size_t)j * ldy;
        if (acc)
            s = _mm_add_ps(s, _mm_maskz_loadu_ps(keep, yj));
        _mm_mask_storeu_ps(yj, keep, s);
    }
}

#define BLOCK_FN(tb)                                                                          \
    static void block##tb(float *y, size_t ldy, const float *x, size_t ldx, const float *w,  \
                          size_t ldw, size_t nr, size_t K, bool acc, const char *pf,          \
                          size_t pf_ld, size_t pf_bytes)                                      \
    {                                                                                         \
        block(tb, y, ldy, x, ldx, w, ldw, nr, K, acc, pf, pf_ld, pf_bytes);                   \
    }
BLOCK_FN(1)
BLOCK_FN(2)
BLOCK_FN(3)
BLOCK_FN(4)
BLOCK_FN(5)
BLOCK_FN(6)
#undef BLOCK_FN

typedef void (*block_fn)(float *, size_t, const float *, size_t, const float *, size_t, size_t,
                         size_t, bool, const char *, size_t, size_t);
static const block_fn BLOCKS[TB_MAX + 1] = {NULL, block1, block2, block3, block4, block5, block6};

void emb_thin_f32_avx512(float *y, size_t ldy, const float *x, size_t ldx, size_t T,
                         const float *w, size_t ldw, size_t R, size_t K, bool acc, const void *pf,
                       size_t pf_ld, size_t pf_bytes)
{
    for (size_t r = 0; r < R; r += 4) {
        const size_t nr = R - r < 4 ? R - r : 4;
        /* prefetch the next group: ours if there is one, else the caller's */
        const char *next = (const char *)pf;
        size_t next_ld = pf_ld, next_bytes = pf_bytes;
        if (r + 8 <= R) {
            next = (const char *)(w + (r + 4) * ldw);
            next_ld = ldw * sizeof(float);
            next_bytes = K * sizeof(float);
        } else if (r + 4 < R) {
            next = NULL; /* a partial last group: not worth it */
        }
        /* split T into near-equal blocks of at most TB_MAX tokens */
        const size_t nb = (T + TB_MAX - 1) / TB_MAX;
        size_t t = 0;
        for (size_t b = 0; b < nb; b++) {
            const size_t tb = (T - t + (nb - b) - 1) / (nb - b);
            BLOCKS[tb](y + t * ldy + r, ldy, x + t * ldx, ldx, w + r * ldw, ldw, nr, K, acc,
                      b == 0 ? next : NULL, next_ld, next_bytes);
            t += tb;
        }
    }
}

#endif
