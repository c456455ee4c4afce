/*
 * matmul_thin: matrix products for a few activation rows ("thin" batches:
 * one short text, 1..~32 tokens) against a weight matrix of any computable
 * type, without OpenBLAS.
 *
 *     y[t][r] = sum_k x[t][k] * w[r][k]     t < T, r0 <= r < r1, k < K = ne0
 *
 * Why: for T of a few tokens, dequantize-a-tile-then-sgemm reads every weight
 * three times (dequantize to f32, OpenBLAS packs the tile, the kernel reads
 * the pack) and OpenBLAS runs its micro-kernel at a fraction of its peak.
 * Here every weight block is dequantized once into a small tile that stays
 * in L1 (4 rows x at most EMB_THIN_KC floats) with the SIMD dequantization
 * kernels of quant.h (bit-identical to the scalar reference), and a
 * register-blocked micro-kernel multiplies that tile with the T activation
 * rows: 4 weight rows x 6 tokens of accumulators (AVX-512) or 4 x 3 (AVX2).
 * Aligned F32 weights are read in place. See docs/engine.md "Thin products".
 *
 * Numerics: the weights are exactly the reference dequantization; products
 * are f32 FMAs accumulated in f32 lanes (16 or 8 partial sums per output,
 * added pairwise at the end), K split in chunks of EMB_THIN_KC whose partial
 * sums are added in order: the usual float GEMM error, like sgemm's.
 *
 * SIMD level: the one quant.h picked (emb_quant_simd_level(), forced by
 * emb_quant_force_level in tests), so dequantization and products agree.
 *
 * Thread-safe and reentrant: pure function of its inputs; needs about
 * 4 * EMB_THIN_KC * 4 bytes (16 KiB) of stack for the tile. Disjoint row
 * ranges of one product may run on different threads at once.
 */
#ifndef EMB_MATMUL_THIN_H
#define EMB_MATMUL_THIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* K chunk (floats) of the per-call tile: 4 rows x EMB_THIN_KC floats. */
#define EMB_THIN_KC ((size_t)1024)

/*
 * y: (T, >= r1) leading dim ldy; x: (T, K) leading dim ldx; w: (ne1, K) of a
 * computable type (quant.h), K = w->ne0 a whole number of the type's blocks,
 * rows whole blocks inside the mapping (model.c checks both when binding).
 * Writes y[t][r0..r1) for t < T, nothing else. T == 0 or r0 >= r1: no-op.
 * No bias.
 */
void emb_matmul_thin(float *y, size_t ldy, const float *x, size_t ldx, size_t T,
                     const emb_weight *w, size_t r0, size_t r1);

/*
 * The general form (for callers that split K, e.g. an FFN computed in column
 * slices, or that keep y relative to the first row):
 *     y[t][r - r0] (+)= sum_{k < kc} x[t][k] * w[r][k0 + k]    t < T, r0 <= r < r1
 * y: (T, >= r1 - r0) leading dim ldy, column 0 = weight row r0; x: (T, kc)
 * leading dim ldx, column 0 = weight column k0. k0 must be a multiple of the
 * type's block size and kc too unless k0 + kc == ne0; k0 + kc <= ne0.
 * accumulate: add to y instead of overwriting it. Nothing else is written.
 * emb_matmul_thin(y, ...) is emb_matmul_thin_part(y + r0, ..., 0, ne0, false).
 */
void emb_matmul_thin_part(float *y, size_t ldy, const float *x, size_t ldx, size_t T,
                          const emb_weight *w, size_t r0, size_t r1, size_t k0, size_t kc,
                          bool accumulate);

/* Up to this many tokens the thin path is used on AVX2 / AVX-512 (all types):
 * measured faster than dequantize + OpenBLAS sgemm up to 96-128 tokens on
 * F16, Q8_0 and Q4_K (nomic geometry, docs/engine.md); 64 keeps a margin for
 * CPUs where sgemm does better at mid sizes. */
#define EMB_THIN_MAX_TOKENS ((size_t)64)

/*
 * true if emb_matmul_thin is the faster way to compute a product of T
 * activation rows with a weight of this ggml type on this CPU (else
 * dequantize-then-sgemm is); false for types it cannot compute. The
 * crossovers are measured (bench/bench_thin.c, docs/engine.md).
 */
bool emb_matmul_thin_wins(uint32_t type, size_t T);

#endif
