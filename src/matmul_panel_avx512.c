/*
 * matmul_panel_avx512: pack and micro-kernel of emb_matmul_panel_part for
 * AVX-512 (contract in matmul_panel_internal.h). Compiled with the AVX-512
 * flags (CMake, by file name); used only when quant.c's dispatcher chose
 * "avx512".
 *
 * Panel: up to 48 weight rows (NV = 1..3 zmm per k). Register block: up to
 * 8 tokens x 48 rows = 24 zmm accumulators + the 3 panel vectors of the
 * current k + the broadcast x[t][k]: per k 3 panel loads + 8 broadcasts for
 * 24 FMAs. Narrower panels (the driver cuts 64-row heads into 32 + 32) use
 * 12 tokens x 32 or 16 rows. 48 x 8 measured ≈ 8 % faster than 32 x 12
 * (fewer loads and fewer x streams per FMA), 32 x 12 a few % faster than
 * 32 x 14 (whose 14 row addresses of x spill general registers).
 */
#include "matmul_panel_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <stdint.h>

#define NR 48
#define GR 16
#define MR_MAX 12

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

/* TB tokens x NV * 16 rows (both constants after inlining); m: the rows
 * stored of the last vector (the others are whole). */
static inline __attribute__((always_inline)) void tile(const int TB, const int NV, float *y,
                                                       size_t ldy, const float *x, size_t ldx,
                                                       const float *p, size_t n, __mmask16 m,
                                                       bool acc)
{
    __m512 c[3][MR_MAX];
#pragma GCC unroll 3
    for (int v = 0; v < NV; v++)
#pragma GCC unroll 12
        for (int j = 0; j < TB; j++)
            c[v][j] = _mm512_setzero_ps();
    for (size_t k = 0; k < n; k++) {
        __m512 b[3];
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++)
            b[v] = _mm512_load_ps(p + k * NR + 16 * v);
#pragma GCC unroll 12
        for (int j = 0; j < TB; j++) {
            const __m512 a = _mm512_set1_ps(x[(size_t)j * ldx + k]);
#pragma GCC unroll 3
            for (int v = 0; v < NV; v++)
                c[v][j] = _mm512_fmadd_ps(a, b[v], c[v][j]);
        }
    }
#pragma GCC unroll 12
    for (int j = 0; j < TB; j++) {
        float *yj = y + (size_t)j * ldy;
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) {
            const __mmask16 mv = v == NV - 1 ? m : (__mmask16)0xFFFF;
            if (acc)
                c[v][j] = _mm512_add_ps(_mm512_maskz_loadu_ps(mv, yj + 16 * v), c[v][j]);
            _mm512_mask_storeu_ps(yj + 16 * v, mv, c[v][j]);
        }
    }
}

typedef void (*tile_fn)(float *, size_t, const float *, size_t, const float *, size_t, __mmask16,
                        bool);

#define TILE_FN(tb, nv)                                                                        \
    static void tile##tb##_##nv(float *y, size_t ldy, const float *x, size_t ldx,             \
                                const float *p, size_t n, __mmask16 m, bool acc)              \
    {                                                                                          \
        tile(tb, nv, y, ldy, x, ldx, p, n, m, acc);                                            \
    }
#define TILE_ROW(nv)                                                                           \
    TILE_FN(1, nv) TILE_FN(2, nv) TILE_FN(3, nv) TILE_FN(4, nv) TILE_FN(5, nv) TILE_FN(6, nv)  \
    TILE_FN(7, nv) TILE_FN(8, nv) TILE_FN(9, nv) TILE_FN(10, nv) TILE_FN(11, nv)              \
    TILE_FN(12, nv)
TILE_ROW(1)
TILE_ROW(2)
TILE_FN(1, 3)
TILE_FN(2, 3)
TILE_FN(3, 3)
TILE_FN(4, 3)
TILE_FN(5, 3)
TILE_FN(6, 3)
TILE_FN(7, 3)
TILE_FN(8, 3)
#undef TILE_ROW
#undef TILE_FN

/* [NV - 1][TB]: tokens per block at most MR[NV - 1] */
static const size_t MR[3] = {12, 12, 8};
static const tile_fn TILES[3][MR_MAX + 1] = {
    {NULL, tile1_1, tile2_1, tile3_1, tile4_1, tile5_1, tile6_1, tile7_1, tile8_1, tile9_1,
     tile10_1, tile11_1, tile12_1},
    {NULL, tile1_2, tile2_2, tile3_2, tile4_2, tile5_2, tile6_2, tile7_2, tile8_2, tile9_2,
     tile10_2, tile11_2, tile12_2},
    {NULL, tile1_3, tile2_3, tile3_3, tile4_3, tile5_3, tile6_3, tile7_3, tile8_3},
};

static void kernel(float *y, size_t ldy, const float *x, size_t ldx, size_t T, const float *panel,
                   size_t n, size_t nr_used, bool acc)
{
    if (nr_used > NR)
        nr_used = NR;
    const size_t nv = (nr_used + 15) / 16, last = nr_used - 16 * (nv - 1);
    const __mmask16 m = (__mmask16)(last >= 16 ? 0xFFFFu : (1u << last) - 1u);
    const size_t mr = MR[nv - 1];
    /* near-equal blocks of at most mr tokens: no block much smaller than mr */
    const size_t nb = (T + mr - 1) / mr;
    size_t t = 0;
    for (size_t b = 0; b < nb; b++) {
        const size_t tb = (T - t + (nb - b) - 1) / (nb - b);
        TILES[nv - 1][tb](y + t * ldy, ldy, x + t * ldx, ldx, panel, n, m, acc);
        t += tb;
    }
}

const emb_panel_ops emb_panel_ops_avx512 = {NR, GR, 16, pack, kernel};

#endif
