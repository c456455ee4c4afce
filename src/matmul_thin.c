/*
 * matmul_thin: the driver of the thin-batch products (see matmul_thin.h):
 * picks the micro-kernel for the SIMD level, dequantizes 4 weight rows x one
 * K chunk at a time into a stack tile, and holds the measured crossovers.
 * Also the portable scalar micro-kernel.
 */
#include "matmul_thin.h"
#include "matmul_thin_internal.h"

#include <string.h>

#include "ggml_types.h"
#include "quant.h"

void emb_thin_f32_scalar(float *y, size_t ldy, const float *x, size_t ldx, size_t T,
                         const float *w, size_t ldw, size_t R, size_t K, bool acc,
                         const void *pf, size_t pf_ld, size_t pf_bytes)
{
    (void)pf, (void)pf_ld, (void)pf_bytes;
    for (size_t r = 0; r < R; r++) {
        const float *wr = w + r * ldw;
        for (size_t t = 0; t < T; t++) {
            const float *xt = x + t * ldx;
            /* 4 partial sums: shorter dependency chains, same error class
             * as the SIMD lanes */
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
            size_t k = 0;
            for (; k + 4 <= K; k += 4) {
                s0 += xt[k] * wr[k];
                s1 += xt[k + 1] * wr[k + 1];
                s2 += xt[k + 2] * wr[k + 2];
                s3 += xt[k + 3] * wr[k + 3];
            }
            for (; k < K; k++)
                s0 += xt[k] * wr[k];
            const float s = (s0 + s1) + (s2 + s3);
            float *yo = y + t * ldy + r;
            *yo = acc ? *yo + s : s;
        }
    }
}

static emb_thin_f32_fn pick_kernel(void)
{
#if defined(__x86_64__) || defined(__i386__)
    const char *level = emb_quant_simd_level();
    if (strcmp(level, "avx512") == 0)
        return emb_thin_f32_avx512;
    if (strcmp(level, "avx2") == 0)
        return emb_thin_f32_avx2;
#endif
    return emb_thin_f32_scalar;
}

void emb_matmul_thin_part(float *y, size_t ldy, const float *x, size_t ldx, size_t T,
                          const emb_weight *w, size_t r0, size_t r1, size_t k0, size_t kc,
                          bool accumulate)
{
    if (T == 0 || r0 >= r1 || kc == 0)
        return;
    const size_t rb = (size_t)w->row_bytes;
    const uint8_t *data = (const uint8_t *)w->data;
    const emb_thin_f32_fn mm = pick_kernel();
    if (w->type == GGML_TYPE_F32 && (uintptr_t)data % sizeof(float) == 0 &&
        rb % sizeof(float) == 0) {
        mm(y, ldy, x, ldx, T, (const float *)(const void *)(data + r0 * rb) + k0,
           rb / sizeof(float), r1 - r0, kc, accumulate, NULL, 0, 0);
        return;
    }
    const emb_dequant_fn deq = emb_quant_kernel(w->type);
    const ggml_type_info *info = ggml_type_get(w->type);
    if (!deq || !info || info->block_size == 0) /* excluded when the model was bound */
        return;
    const size_t bs = info->block_size, ts = info->type_size;
    /* K chunk: whole blocks (1, 32 and 256 all divide 1024), at most
     * EMB_THIN_KC floats */
    size_t kch = EMB_THIN_KC / bs * bs;
    if (kch == 0)
        kch = bs;
    if (kch > kc)
        kch = kc;
    const uint8_t *cols = data + k0 / bs * ts; /* column k0 of row 0 */
    _Alignas(64) float tile[4 * EMB_THIN_KC];
    for (size_t r = r0; r < r1; r += 4) {
        const size_t nr = r1 - r < 4 ? r1 - r : 4;
        for (size_t c0 = 0; c0 < kc; c0 += kch) {
            const size_t n = kc - c0 < kch ? kc - c0 : kch;
            const uint8_t *src = cols + r * rb + c0 / bs * ts;
            for (size_t i = 0; i < nr; i++)
                deq(tile + i * n, src + i * rb, n);
            /* while computing, fetch what is dequantized next: the next
             * chunk of these rows, or the first chunk of the next group */
            const uint8_t *next = NULL;
            size_t next_bytes = 0;
            if (c0 + kch < kc) {
                next = src + kch / bs * ts;
                next_bytes = (kc - c0 - kch < kch ? kc - c0 - kch : kch) / bs * ts;
            } else if (r + 8 <= r1) {
                next = cols + (r + 4) * rb;
                next_bytes = kch / bs * ts;
            }
            mm(y + (r - r0), ldy, x + c0, ldx, T, tile, n, nr, n, accumulate || c0 > 0, next, rb,
               next_bytes);
        }
    }
}

void emb_matmul_thin(float *y, size_t ldy, const float *x, size_t ldx, size_t T,
                     const emb_weight *w, size_t r0, size_t r1)
{
    if (r0 >= r1)
        return;
    emb_matmul_thin_part(y + r0, ldy, x, ldx, T, w, r0, r1, 0, (size_t)w->ne0, false);
}

bool emb_matmul_thin_wins(uint32_t type, size_t T)
{
    if (!emb_quant_supported(type) || T == 0)
        return false;
    const char *level = emb_quant_simd_level();
    if (strcmp(level, "scalar") == 0)
        return false; /* the portable loop is no match for a BLAS kernel */
    return T <= EMB_THIN_MAX_TOKENS;
}
