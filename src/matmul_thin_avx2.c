/*
 * matmul_thin_avx2: the AVX2 + FMA f32 micro-kernel of emb_matmul_thin
 * (contract in matmul_thin_internal.h). Compiled with the AVX2 flags (CMake,
 * by file name); called only when quant.c's dispatcher chose "avx2".
 *
 * Register block: 4 weight rows x up to 3 tokens = 12 ymm accumulators, the
 * 3 token vectors of the current k-step and 1 weight vector (16 of 16 ymm).
 * The K tail uses vmaskmovps (lanes past K are neither read nor counted).
 */
#include "matmul_thin_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define TB_MAX 3

/* [sum(a), sum(b), sum(c), sum(d)] */
static inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d)
{
    const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
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
    __m256 a0[TB_MAX], a1[TB_MAX], a2[TB_MAX], a3[TB_MAX], xv[TB_MAX];
#pragma GCC unroll 3
    for (int j = 0; j < TB; j++)
        a0[j] = a1[j] = a2[j] = a3[j] = _mm256_setzero_ps();
    size_t k = 0;
    for (; k + 8 <= K; k += 8) {
        /* one line of each of the next group's 4 rows per step: the whole
         * next group is in flight long before this one is done */
        const size_t off = k / 8 * 64;
        if (pf && off < pf_bytes) {
            _mm_prefetch(pf + off, _MM_HINT_T1);
            _mm_prefetch(pf + pf_ld + off, _MM_HINT_T1);
            _mm_prefetch(pf + 2 * pf_ld + off, _MM_HINT_T1);
            _mm_prefetch(pf + 3 * pf_ld + off, _MM_HINT_T1);
        }
#pragma GCC unroll 3
        for (int j = 0; j < TB; j++)
            xv[j] = _mm256_loadu_ps(x + (size_t)j * ldx + k);
        __m256 wv = _mm256_loadu_ps(w0 + k);
#pragma GCC unroll 3
        for (int j = 0; j < TB; j++)
            a0[j] = _mm256_fmadd_ps(wv, xv[j], a0[j]);
        wv = _mm256_loadu_ps(w1 + k);
#pragma GCC unroll 3
        for (int j = 0; j < TB; j++)
            a1[j] = _mm256_fmadd_ps(wv, xv[j], a1[j]);
        wv = _mm256_loadu_ps(w2 + k);
#pragma GCC unroll 3
        for (int j = 0; j < TB; j++)
            a2[j] = _mm256_fmadd_ps(wv, xv[j], a2[j]);
        wv = _mm256_loadu_ps(w3 + k);
#pragma GCC unroll 3
        for (int j = 0; j < TB; j++)
            a3[j] = _mm256_fmadd_ps(wv, xv[j], a3[j]);
    }
    if (k < K) {
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(K - k)),
                                             _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#pragma GCC unroll 3
        for (int j = 0; j < TB; j++)
            xv[j] = _mm256_maskload_ps(x + (size_t)j * ldx + k, m);
        __m256 wv = _mm256_maskload_ps(w0 + k, m);
#pragma GCC unroll 3
        for (int j = 0; j < TB; j++)
            a0[j] = _mm256_fmadd_ps(wv, xv[j], a0[j]);
        wv = _mm256_maskload_ps(w1 + k, m);
#pragma GCC unroll 3
        for (int j = 0; j < TB; j++)
            a1[j] = _mm256_fmadd_ps(wv, xv[j], a1[j]);
        wv = _mm256_maskload_ps(w2 + k, m);
#pragma GCC unroll 3
        for (int j = 0; j < TB; j++)
            a2[j] = _mm256_fmadd_ps(wv, xv[j], a2[j]);
        wv = _mm256_maskload_ps(w3 + k, m);
#pragma GCC unroll 3
        for (int j = 0; j < TB; j++)
            a3[j] = _mm256_fmadd_ps(wv, xv[j], a3[j]);
    }
#pragma GCC unroll 3
    for (int j = 0; j < TB; j++) {
        float s[4];
        _mm_storeu_ps(s, hsum4(a0[j], a1[j], a2[j], a3[j]));
        float *yj = y + (size_t)j * ldy;
        for (size_t i = 0; i < nr; i++)
            yj[i] = acc ? yj[i] + s[i] : s[i];
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
#undef BLOCK_FN

typedef void (*block_fn)(float *, size_t, const float *, size_t, const float *, size_t, size_t,
                         size_t, bool, const char *, size_t, size_t);
static const block_fn BLOCKS[TB_MAX + 1] = {NULL, block1, block2, block3};

void emb_thin_f32_avx2(float *y, size_t ldy, const float *x, size_t ldx, size_t T,
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
