/*
 * matmul_panel_avx2: pack and micro-kernel of emb_matmul_panel_part for
 * AVX2 + FMA (contract in matmul_panel_internal.h). Compiled with the AVX2
 * flags (CMake, by file name); used only when quant.c's dispatcher chose
 * "avx2".
 *
 * Panel: 16 weight rows (2 ymm per k). Register block: up to 6 tokens x 16
 * rows = 12 ymm accumulators + 2 panel vectors + 1 broadcast (15 of 16 ymm).
 * Per k: 2 panel loads + 6 broadcasts for 12 FMAs.
 */
#include "matmul_panel_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define NR 16
#define GR 8
#define MR 6

/* r[i] = row i (8 floats) -> r[j] = column j (8 floats, one per row). */
static inline __attribute__((always_inline)) void transpose8(__m256 r[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* u[4q + c], lane l: column 4l + c of rows 4q .. 4q + 3 */
    for (int q = 0; q < 2; q++) {
        u[4 * q + 0] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * q + 1] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[4 * q + 2] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * q + 3] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
        r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
    }
}

static void pack(float *panel, const float *rows, size_t ldr, size_t g, size_t n)
{
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 r[8];
        for (size_t i = 0; i < 8; i++)
            r[i] = i < g ? _mm256_loadu_ps(rows + i * ldr + k) : _mm256_setzero_ps();
        transpose8(r);
        for (size_t j = 0; j < 8; j++)
            _mm256_store_ps(panel + (k + j) * NR, r[j]);
    }
    for (; k < n; k++) {
        float *pk = panel + k * NR;
        for (size_t i = 0; i < GR; i++)
            pk[i] = i < g ? rows[i * ldr + k] : 0.0f;
    }
}

/* TB tokens (a constant after inlining) x 16 rows; m0, m1: the rows stored. */
static inline __attribute__((always_inline)) void tile(const int TB, float *y, size_t ldy,
                                                       const float *x, size_t ldx,
                                                       const float *p, size_t n, __m256i m0,
                                                       __m256i m1, bool full, bool acc)
{
    __m256 c0[MR], c1[MR];
#pragma GCC unroll 6
    for (int j = 0; j < TB; j++)
        c0[j] = c1[j] = _mm256_setzero_ps();
    for (size_t k = 0; k < n; k++) {
        const __m256 b0 = _mm256_load_ps(p + k * NR), b1 = _mm256_load_ps(p + k * NR + 8);
#pragma GCC unroll 6
        for (int j = 0; j < TB; j++) {
            const __m256 a = _mm256_broadcast_ss(x + (size_t)j * ldx + k);
            c0[j] = _mm256_fmadd_ps(a, b0, c0[j]);
            c1[j] = _mm256_fmadd_ps(a, b1, c1[j]);
        }
    }
#pragma GCC unroll 6
    for (int j = 0; j < TB; j++) {
        float *yj = y + (size_t)j * ldy;
        if (full) {
            if (acc) {
                c0[j] = _mm256_add_ps(_mm256_loadu_ps(yj), c0[j]);
                c1[j] = _mm256_add_ps(_mm256_loadu_ps(yj + 8), c1[j]);
            }
            _mm256_storeu_ps(yj, c0[j]);
            _mm256_storeu_ps(yj + 8, c1[j]);
        } else {
            if (acc) {
                c0[j] = _mm256_add_ps(_mm256_maskload_ps(yj, m0), c0[j]);
                c1[j] = _mm256_add_ps(_mm256_maskload_ps(yj + 8, m1), c1[j]);
            }
            _mm256_maskstore_ps(yj, m0, c0[j]);
            _mm256_maskstore_ps(yj + 8, m1, c1[j]);
        }
    }
}

#define TILE_FN(tb)                                                                            \
    static void tile##tb(float *y, size_t ldy, const float *x, size_t ldx, const float *p,    \
                         size_t n, __m256i m0, __m256i m1, bool full, bool acc)               \
    {                                                                                          \
        tile(tb, y, ldy, x, ldx, p, n, m0, m1, full, acc);                                     \
    }
TILE_FN(1)
TILE_FN(2)
TILE_FN(3)
TILE_FN(4)
TILE_FN(5)
TILE_FN(6)
#undef TILE_FN

typedef void (*tile_fn)(float *, size_t, const float *, size_t, const float *, size_t, __m256i,
                        __m256i, bool, bool);
static const tile_fn TILES[MR + 1] = {NULL, tile1, tile2, tile3, tile4, tile5, tile6};

static void kernel(float *y, size_t ldy, const float *x, size_t ldx, size_t T, const float *panel,
                   size_t n, size_t nr_used, bool acc)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i used = _mm256_set1_epi32((int)(nr_used < NR ? nr_used : NR));
    const __m256i m0 = _mm256_cmpgt_epi32(used, lane);
    const __m256i m1 = _mm256_cmpgt_epi32(used, _mm256_add_epi32(lane, _mm256_set1_epi32(8)));
    const bool full = nr_used >= NR;
    /* near-equal blocks of at most MR tokens: no block much smaller than MR */
    const size_t nb = (T + MR - 1) / MR;
    size_t t = 0;
    for (size_t b = 0; b < nb; b++) {
        const size_t tb = (T - t + (nb - b) - 1) / (nb - b);
        TILES[tb](y + t * ldy, ldy, x + t * ldx, ldx, panel, n, m0, m1, full, acc);
        t += tb;
    }
}

const emb_panel_ops emb_panel_ops_avx2 = {NR, GR, NR, pack, kernel};

#endif
