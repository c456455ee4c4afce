/*
 * matmul_panel: the driver of the panel products (see matmul_panel.h): picks
 * pack and micro-kernel for the SIMD level and walks K blocks, panels of
 * weight rows and dequantization groups. Also the portable scalar parts.
 */
#include "matmul_panel.h"
#include "matmul_panel_internal.h"

#include <string.h>

#include "ggml_types.h"
#include "matmul_thin.h"
#include "quant.h"

#define SCALAR_NR 8
/* rows per group: a multiple of every level's panel (48, 16, 8) */
#define EMB_PANEL_GROUP_ROWS ((size_t)96)

static void pack_scalar(float *panel, const float *rows, size_t ldr, size_t g, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        float *pk = panel + k * SCALAR_NR;
        for (size_t i = 0; i < g; i++)
            pk[i] = rows[i * ldr + k];
        for (size_t i = g; i < SCALAR_NR; i++)
            pk[i] = 0.0f;
    }
}

static void kernel_scalar(float *y, size_t ldy, const float *x, size_t ldx, size_t T,
                          const float *panel, size_t n, size_t nr_used, bool acc)
{
    for (size_t t = 0; t < T; t++) {
        const float *xt = x + t * ldx;
        float s[SCALAR_NR] = {0};
        for (size_t k = 0; k < n; k++)
            for (size_t i = 0; i < SCALAR_NR; i++)
                s[i] += xt[k] * panel[k * SCALAR_NR + i];
        float *yt = y + t * ldy;
        for (size_t i = 0; i < nr_used; i++)
            yt[i] = acc ? yt[i] + s[i] : s[i];
    }
}

const emb_panel_ops emb_panel_ops_scalar = {SCALAR_NR, SCALAR_NR, SCALAR_NR, pack_scalar,
                                             kernel_scalar};

static const emb_panel_ops *pick_ops(void)
{
#if defined(__x86_64__) || defined(__i386__)
    const char *level = emb_quant_simd_level();
    if (strcmp(level, "avx512") == 0)
        return &emb_panel_ops_avx512;
    if (strcmp(level, "avx2") == 0)
        return &emb_panel_ops_avx2;
#endif
    return &emb_panel_ops_scalar;
}

size_t emb_matmul_panel_rows(void)
{
    return pick_ops()->nr;
}

void emb_matmul_panel_part(float *y, size_t ldy, const float *x, size_t ldx, size_t T,
                           const emb_weight *w, size_t r0, size_t r1, size_t k0, size_t kc,
                           bool accumulate, float *scratch)
{
    if (T == 0 || r0 >= r1 || kc == 0)
        return;
    const emb_dequant_fn deq = emb_quant_kernel(w->type);
    const ggml_type_info *info = ggml_type_get(w->type);
    if (!deq || !info || info->block_size == 0) /* excluded when the model was bound */
        return;
    const emb_panel_ops *ops = pick_ops();
    const size_t bs = info->block_size, ts = info->type_size, rb = (size_t)w->row_bytes;
    const size_t NR = ops->nr, GR = ops->gr;
    /* scratch: the k-major panel (NR x KC), then GR rows of one step */
    float *panel = scratch, *rows = scratch + EMB_PANEL_SCRATCH_FLOATS - 16 * EMB_PANEL_KC_STEP;
    const uint8_t *cols = (const uint8_t *)w->data + k0 / bs * ts; /* column k0 of row 0 */
    /* K blocks of at most EMB_PANEL_KC columns, near-equal in whole
     * EMB_PANEL_KC_STEP (every block size divides it): 1024 -> 512 + 512 */
    const size_t n_blocks = (kc + EMB_PANEL_KC - 1) / EMB_PANEL_KC;
    const size_t step = ((kc + n_blocks - 1) / n_blocks + EMB_PANEL_KC_STEP - 1) /
                        EMB_PANEL_KC_STEP * EMB_PANEL_KC_STEP;
    /* Row groups of EMB_PANEL_GROUP_ROWS, K blocks inside them: the group's
     * outputs (T x 96 floats) and the block's columns of x (T x step
     * floats) stay in L2 while every panel of the group reads them. */
    for (size_t g_lo = r0; g_lo < r1; g_lo += EMB_PANEL_GROUP_ROWS) {
        const size_t g_hi = r1 - g_lo < EMB_PANEL_GROUP_ROWS ? r1 : g_lo + EMB_PANEL_GROUP_ROWS;
        for (size_t kb = 0; kb < kc; kb += step) {
            const size_t n = kc - kb < step ? kc - kb : step;
            const size_t src_off = kb / bs * ts;
            /* near-equal panels of whole vectors: 64 rows -> 32 + 32 at
             * NR 48, not 48 + 16 */
            const size_t n_pan = (g_hi - g_lo + NR - 1) / NR;
            const size_t width = ((g_hi - g_lo + n_pan - 1) / n_pan + ops->vw - 1) / ops->vw * ops->vw;
            for (size_t p = g_lo; p < g_hi; p += width) {
                const size_t np = g_hi - p < width ? g_hi - p : width;
                /* GR rows x EMB_PANEL_KC_STEP columns at a time: the
                 * dequantized rows (16 KiB) stay in L1 until packed */
                for (size_t c0 = 0; c0 < n; c0 += EMB_PANEL_KC_STEP) {
                    const size_t nc = n - c0 < EMB_PANEL_KC_STEP ? n - c0 : EMB_PANEL_KC_STEP;
                    const uint8_t *src = cols + src_off + c0 / bs * ts;
                    for (size_t g0 = 0; g0 < width; g0 += GR) {
                        const size_t g = g0 < np ? (np - g0 < GR ? np - g0 : GR) : 0;
                        for (size_t i = 0; i < g; i++)
                            deq(rows + i * nc, src + (p + g0 + i) * rb, nc);
                        ops->pack(panel + c0 * NR + g0, rows, nc, g, nc);
                    }
                }
                ops->kernel(y + (p - r0), ldy, x + kb, ldx, T, panel, n, np,
                            accumulate || kb > 0);
            }
        }
    }
}

bool emb_matmul_panel_wins(uint32_t type, size_t T)
{
    if (!emb_quant_supported(type) || T <= EMB_THIN_MAX_TOKENS)
        return false;
    return strcmp(emb_quant_simd_level(), "scalar") != 0;
}
