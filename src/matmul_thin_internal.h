/*
 * matmul_thin_internal: the f32 micro-kernels behind emb_matmul_thin (one
 * per SIMD level) and what the driver (matmul_thin.c) shares with them.
 * Nobody else includes this.
 */
#ifndef EMB_MATMUL_THIN_INTERNAL_H
#define EMB_MATMUL_THIN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * y: (T, R) leading dim ldy; x: (T, K) leading dim ldx; w: (R, K) f32,
 * leading dim ldw.      y = (acc ? y : 0) + x · wᵀ
 * Loops: groups of 4 weight rows outside (each group is read from L1 for
 * every token block), blocks of tokens inside, K innermost.
 * Prefetch hint: while the last group is computed, pf_bytes bytes of each of
 * the 4 rows at pf, pf + pf_ld, ... (the caller's next weights, e.g. still
 * quantized) are requested; pf may be NULL. Earlier groups prefetch the
 * next group of w itself. The scalar kernel ignores the hint.
 */
typedef void (*emb_thin_f32_fn)(float *y, size_t ldy, const float *x, size_t ldx, size_t T,
                                const float *w, size_t ldw, size_t R, size_t K, bool acc,
                       const void *pf, size_t pf_ld, size_t pf_bytes);

void emb_thin_f32_scalar(float *y, size_t ldy, const float *x, size_t ldx, size_t T,
                         const float *w, size_t ldw, size_t R, size_t K, bool acc,
                       const void *pf, size_t pf_ld, size_t pf_bytes);

#if defined(__x86_64__) || defined(__i386__)
void emb_thin_f32_avx2(float *y, size_t ldy, const float *x, size_t ldx, size_t T,
                       const float *w, size_t ldw, size_t R, size_t K, bool acc,
                       const void *pf, size_t pf_ld, size_t pf_bytes);
void emb_thin_f32_avx512(float *y, size_t ldy, const float *x, size_t ldx, size_t T,
                         const float *w, size_t ldw, size_t R, size_t K, bool acc,
                       const void *pf, size_t pf_ld, size_t pf_bytes);
#endif

#endif
