/*
 * matmul_panel_internal: the per-SIMD-level parts behind emb_matmul_panel_part
 * (pack and micro-kernel) and what the driver (matmul_panel.c) shares with
 * them. Nobody else includes this.
 */
#ifndef EMB_MATMUL_PANEL_INTERNAL_H
#define EMB_MATMUL_PANEL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct emb_panel_ops {
    size_t nr; /* weight rows per panel (columns of the k-major panel)       */
    size_t gr; /* rows the driver dequantizes at a time (divides nr, <= 16) */
    size_t vw; /* panels narrower than nr are cut in multiples of this     */
    /*
     * rows: g <= gr rows of n floats, leading dim ldr (dequantized weights).
     * Writes panel[k * nr + i] = rows[i * ldr + k] for k < n, i < g, and 0
     * for g <= i < gr (a ragged last group): panel points at column i = 0
     * of this group, i.e. the panel's base + the group's first row.
     */
    void (*pack)(float *panel, const float *rows, size_t ldr, size_t g, size_t n);
    /*
     * y: (T, nr_used) leading dim ldy; x: (T, n) leading dim ldx; panel: k-major
     * (n, nr), 64-byte aligned, columns from nr_used up to the next multiple
     * of vw zero (the kernel may read them, never stores them).
     *     y[t][i] = (acc ? y[t][i] : 0) + sum_{k < n} x[t][k] * panel[k][i]
     * for t < T, i < nr_used; nothing else is written. The sum is one chain
     * in k order started from 0 (FMAs on the SIMD levels), then added to y.
     */
    void (*kernel)(float *y, size_t ldy, const float *x, size_t ldx, size_t T,
                   const float *panel, size_t n, size_t nr_used, bool acc);
} emb_panel_ops;

extern const emb_panel_ops emb_panel_ops_scalar;
#if defined(__x86_64__) || defined(__i386__)
extern const emb_panel_ops emb_panel_ops_avx2;
extern const emb_panel_ops emb_panel_ops_avx512;
#endif

#endif
