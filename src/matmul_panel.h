/*
 * matmul_panel: matrix products for many activation rows (bulk batches,
 * T > EMB_THIN_MAX_TOKENS tokens) against a weight matrix of any computable
 * type, without OpenBLAS.
 *
 *     y[t][r - r0] (+)= sum_{k < kc} x[t][k] * w[r][k0 + k]    t < T, r0 <= r < r1
 *
 * Why: dequantize-a-tile-then-sgemm hands OpenBLAS a tile of ~96 weight rows
 * at a time, and OpenBLAS repacks the WHOLE activation matrix (T x K) for
 * every tile, repacks the tile it was just given and zeroes the output first
 * (together ~18 % of a bulk run). Here, BLIS-style but vectorized along the
 * weight rows: a panel of NR weight rows x KC columns is dequantized with the
 * SIMD kernels of quant.h (bit-identical to the scalar reference) and
 * transposed to k-major [k][NR] in a scratch buffer that stays in L1/L2;
 * then a register-blocked micro-kernel (MR tokens x NR rows of accumulators:
 * 8 x 48 on AVX-512, 6 x 16 on AVX2) multiplies it with the activations,
 * broadcasting x[t][k] straight from x: x is read in place, never packed, and
 * y is written once per KC columns without a separate zeroing pass.
 * See docs/engine.md "Panel products".
 *
 * Numerics: the weights are exactly the reference dequantization; every
 * output is one f32 FMA chain over k within each KC block, the blocks' sums
 * added to y in order: the usual float GEMM error, like sgemm's. An output
 * does not depend on which panel, token block or row chunk computes it, so
 * any split of the rows (threads) gives bit-identical results.
 *
 * SIMD level: the one quant.h picked (emb_quant_simd_level(), forced by
 * emb_quant_force_level in tests), so dequantization and products agree.
 *
 * Thread-safe and reentrant: pure function of its inputs and the caller's
 * scratch. Disjoint row ranges of one product may run on different threads
 * at once, each with its own scratch.
 */
#ifndef EMB_MATMUL_PANEL_H
#define EMB_MATMUL_PANEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* K blocks (floats) of a panel: at most EMB_PANEL_KC, near-equal multiples
 * of EMB_PANEL_KC_STEP (every block size of quant.h divides it). Longer
 * blocks mean fewer passes over y; measured best from ~768 up
 * (docs/engine.md). */
#define EMB_PANEL_KC ((size_t)768)
#define EMB_PANEL_KC_STEP ((size_t)256)

/* Scratch floats one call needs (any SIMD level): the k-major panel
 * (48 rows x EMB_PANEL_KC) and one group of 16 dequantized rows of
 * EMB_PANEL_KC_STEP columns, 160 KiB. */
#define EMB_PANEL_SCRATCH_FLOATS ((size_t)48 * EMB_PANEL_KC + (size_t)16 * EMB_PANEL_KC_STEP)

/* Weight rows per panel at most, at the current SIMD level (48, 16 or 8). */
size_t emb_matmul_panel_rows(void);

/*
 * y: (T, >= r1 - r0) leading dim ldy, column 0 = weight row r0; x: (T, kc)
 * leading dim ldx, column 0 = weight column k0; w: (ne1, ne0) of a computable
 * type (quant.h), rows whole blocks inside the mapping (model.c checks when
 * binding). k0 must be a multiple of the type's block size and kc too unless
 * k0 + kc == ne0; k0 + kc <= ne0, r1 <= ne1. accumulate: add to y instead of
 * overwriting it. Writes y[t][0 .. r1 - r0) for t < T, nothing else.
 * scratch: EMB_PANEL_SCRATCH_FLOATS floats, 64-byte aligned, owned by the
 * caller (contents clobbered). T == 0, r0 >= r1 or kc == 0: no-op. No bias.
 */
void emb_matmul_panel_part(float *y, size_t ldy, const float *x, size_t ldx, size_t T,
                           const emb_weight *w, size_t r0, size_t r1, size_t k0, size_t kc,
                           bool accumulate, float *scratch);

/*
 * true if emb_matmul_panel_part is the faster way to compute a product of T
 * activation rows with a weight of this ggml type on this CPU (else the thin
 * kernels or dequantize-then-sgemm are): computable types, T above the thin
 * range, AVX2 or AVX-512 (the portable kernel is no match for a BLAS one).
 * Measured in docs/engine.md.
 */
bool emb_matmul_panel_wins(uint32_t type, size_t T);

#endif
