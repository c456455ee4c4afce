/*
 * matmul_panel_avx512: pack and micro-kernel of emb_matmul_panel_part for
 * AVX-512 (contract in matmul_panel_internal.h). Compiled with the AVX-512
 * flags (CMake, by file name); used only when quant.c's dispatcher chose
 * "avx512".
 *
 * Panel: 32 weight rows (2 zmm per k). Register block: up to 12 tokens x 32
 * rows = 24 zmm accumulators + the 2 panel vectors of the current k + the
 * broadcast x[t][k]. Per k: 2 panel loads + 12 broadcasts for 24 FMAs, so
 * the FMA units bound it. 12 rather than 14 tokens (30 zmm) measured a few
 * percent faster: the 12 row addresses of x fit the general registers
 * without spills.
 */
#include "matmul_panel_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <stdint.h>

#define NR 32
#define GR 16
#define MR 12

/* r[i] = row i (16 floats) -> r[j] = column j (16 floats, one per row). */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* u[4q + c], lane l: column 4l + c of rows 4q .. 4q + 3 */
    for (int q = 0; q < 4; q++) {
        u[4 * q + 0] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * q + 1] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[4 * q + 2] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * q + 3] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    /* 4 x 4 transpose of 128-bit lanes among u[c], u[4 + c], u[8 + c], u[12 + c] */
    for (int c = 0; c < 4; c++) {
        const __m512 s0 = _mm512_shuffle_f32x4(u[c], u[4 + c], _MM_SHUFFLE(1, 0, 1, 0));
        const __m512 s1 = _mm512_shuffle_f32x4(u[c], u[4 + c], _MM_SHUFFLE(3, 2, 3, 2));
        const __m512 s2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], _MM_SHUFFLE(1, 0, 1, 0));
        const __m512 s3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], _MM_SHUFFLE(3, 2, 3, 2));
        r[c] = _mm512_shuffle_f32x4(s0, s2, _MM_SHUFFLE(2, 0, 2, 0));
        r[4 + c] = _mm512_shuffle_f32x4(s0, s2, _MM_SHUFFLE(3, 1, 3, 1));
        r[8 + c] = _mm512_shuffle_f32x4(s1, s3, _MM_SHUFFLE(2, 0, 2, 0));
        r[12 + c] = _mm512_shuffle_f32x4(s1, s3, _MM_SHUFFLE(3, 1, 3, 1));
    }
}

static void pack(float *panel, const float *rows, size_t ldr, size_t g, size_t n)
{
    size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512 r[16];
        for (size_t i = 0; i < 16; i++)
            r[i] = i < g ? _mm512_loadu_ps(rows + i * ldr + k) : _mm512_setzero_ps();
        transpose16(r);
        for (size_t j = 0; j < 16; j++)
            _mm512_store_ps(panel + (k + j) * NR, r[j]);
    }
    for (; k < n; k++) {
        float *pk = panel + k * NR;
        for (size_t i = 0; i < GR; i++)
            pk[i] = i < g ? rows[i * ldr + k] : 0.0f;
    }
}

/* TB tokens (a constant after inlining) x 32 rows; m0, m1: the rows stored. */
static inline __attribute__((always_inline)) void tile(const int TB, float *y, size_t ldy,
                                                       const float *x, size_t ldx,
                                                       const float *p, size_t n, __mmask16 m0,
                                                       __mmask16 m1, bool acc)
{
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
    for (int j = 0; j < TB; j++)
        c0[j] = c1[j] = _mm512_setzero_ps();
    for (size_t k = 0; k < n; k++) {
        const __m512 b0 = _mm512_load_ps(p + k * NR), b1 = _mm512_load_ps(p + k * NR + 16);
#pragma GCC unroll 12
        for (int j = 0; j < TB; j++) {
            const __m512 a = _mm512_set1_ps(x[(size_t)j * ldx + k]);
            c0[j] = _mm512_fmadd_ps(a, b0, c0[j]);
            c1[j] = _mm512_fmadd_ps(a, b1, c1[j]);
        }
    }
#pragma GCC unroll 12
    for (int j = 0; j < TB; j++) {
        float *yj = y + (size_t)j * ldy;
        if (acc) {
            c0[j] = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, yj), c0[j]);
            c1[j] = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, yj + 16), c1[j]);
        }
        _mm512_mask_storeu_ps(yj, m0, c0[j]);
        _mm512_mask_storeu_ps(yj + 16, m1, c1[j]);
    }
}

#define TILE_FN(tb)                                                                            \
    static void tile##tb(float *y, size_t ldy, const float *x, size_t ldx, const float *p,    \
                         size_t n, __mmask16 m0, __mmask16 m1, bool acc)                      \
    {                                                                                          \
        tile(tb, y, ldy, x, ldx, p, n, m0, m1, acc);                                           \
    }
TILE_FN(1)
TILE_FN(2)
TILE_FN(3)
TILE_FN(4)
TILE_FN(5)
TILE_FN(6)
TILE_FN(7)
TILE_FN(8)
TILE_FN(9)
TILE_FN(10)
TILE_FN(11)
TILE_FN(12)
#undef TILE_FN

typedef void (*tile_fn)(float *, size_t, const float *, size_t, const float *, size_t, __mmask16,
                        __mmask16, bool);
static const tile_fn TILES[MR + 1] = {NULL,   tile1,  tile2,  tile3,  tile4,
                                      tile5,  tile6,  tile7,  tile8,  tile9,
                                      tile10, tile11, tile12};

static void kernel(float *y, size_t ldy, const float *x, size_t ldx, size_t T, const float *panel,
                   size_t n, size_t nr_used, bool acc)
{
    const uint32_t keep = nr_used >= 32 ? 0xFFFFFFFFu : (1u << nr_used) - 1u;
    const __mmask16 m0 = (__mmask16)keep, m1 = (__mmask16)(keep >> 16);
    /* near-equal blocks of at most MR tokens: no block much smaller than MR */
    const size_t nb = (T + MR - 1) / MR;
    size_t t = 0;
    for (size_t b = 0; b < nb; b++) {
        const size_t tb = (T - t + (nb - b) - 1) / (nb - b);
        TILES[tb](y + t * ldy, ldy, x + t * ldx, ldx, panel, n, m0, m1, acc);
        t += tb;
    }
}

const emb_panel_ops emb_panel_ops_avx512 = {NR, GR, pack, kernel};

#endif
