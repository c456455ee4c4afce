/*
 * forward: the bert / nomic-bert encoder forward pass (docs/format.md §6, §7.1), batched.
 *
 * Several sequences run at once: their tokens are concatenated for every
 * linear layer (one sgemm per weight chunk for the whole batch) and attention
 * runs per sequence (no cross-sequence mask, no padding). Output: one pooled,
 * NOT normalized, n_embd-vector per sequence (normalization and Matryoshka
 * belong to the pipeline, embed.h).
 *
 * Weights stay in the mapping. F32 matrices are handed to sgemm directly;
 * every other type is dequantized a few rows at a time into a bounded tile
 * (cfg.tile_bytes) and multiplied chunk by chunk: a dequantized model is never
 * materialised. Embedding rows and 1-D tensors of any type are dequantized per
 * use into small scratch vectors.
 *
 * Memory: workspace mappings per call (hidden state, attention/FFN buffer,
 * the small shared parts, one per thread), exactly emb_forward_workspace_bytes() bytes in all
 * (formula in that function's comment and docs/engine.md), plus a few bytes
 * of bookkeeping. O(tokens x n_embd): attention runs one head at a time and
 * the FFN in blocks of tokens and chunks of hidden units, so the O(T x n_ff)
 * intermediates of a long input never exist at once.
 *
 * Numerics (docs/format.md §6.1, project policy): LayerNorm with double sums, softmax
 * with a double sum, exact erf GELU (HF), SiLU gate for nomic, NEOX RoPE with
 * the file's base, mean pooling over all tokens incl. [CLS]/[SEP].
 *
 * Threads: a call leases the engine's worker pool (thread_pool.h) and splits
 * weight rows (linear layers), heads (attention) and token rows (LayerNorm,
 * activations) over it, never one dot product: the output is bit-identical
 * whatever the number of threads. Small work is not split
 * (EMB_FORWARD_SPLIT_WORK). OpenBLAS runs single-threaded (blas.h). Batches
 * of independent calls can instead run whole calls side by side, one thread
 * each (forward_many.h).
 *
 * Thread-safe: the model is only read; all scratch is per call; concurrent
 * calls get the pool one at a time, the others run on their own thread.
 */
#ifndef EMB_FORWARD_H
#define EMB_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emb_error.h"
#include "model.h"

/* One input sequence: token ids including [CLS] and [SEP]. Not owned. */
typedef struct emb_seq {
    const int32_t *ids;
    size_t n;
} emb_seq;

/* Tuning knobs; a zero field means "default". */
typedef struct emb_forward_cfg {
    size_t tile_bytes; /* weight tile budget; 0 = EMB_FORWARD_TILE_BYTES, or
                          EMB_FORWARD_TILE_BYTES_FEW for <= EMB_FORWARD_FEW_TOKENS tokens;
                          at least one row is always used                              */
    size_t attn_rows;  /* query rows per attention block, default EMB_FORWARD_ATTN_ROWS     */
    bool willneed;     /* madvise(MADV_WILLNEED) a layer's weights just before it runs     */
    /* Asked before every layer and, in passes of 1,024 tokens or more, between
     * attention query blocks and token blocks too, always on the thread that
     * called emb_forward (so it may use that thread's SQLite connection); true
     * stops the pass with EMB_ERR_INTERRUPTED. NULL = never. */
    bool (*cancelled)(void *cancel_ctx);
    void *cancel_ctx;
    size_t threads;    /* threads for this call; 0 = the pool's size (emb_pool_threads)   */
    size_t split_work; /* multiply-adds per thread below which a region is not split;
                          0 = EMB_FORWARD_SPLIT_WORK (tests use 1 to split everything)    */
    size_t block_tokens; /* tokens per attention-projection and FFN block; 0 = defaults
                            EMB_FORWARD_WO_BLOCK / EMB_FORWARD_FFN_BLOCK                    */
    size_t ffn_bytes;  /* budget of one FFN block's buffers (floats x 4), replacing the
                          default rule (emb_forward_workspace_bytes); 0 = default          */
} emb_forward_cfg;

#define EMB_FORWARD_TILE_BYTES ((size_t)1 << 20)
#define EMB_FORWARD_ATTN_ROWS ((size_t)64)
/* Measured on OpenBLAS 0.3.21 SkylakeX/Cooperlake kernels (docs/engine.md):
 * up to 14 tokens a 256 KiB tile is 1.5x faster than 1 MiB (the product
 * then reads the tile from L2 right after dequantization); from 15 tokens on
 * 1 MiB is as fast or faster. Haswell kernels do not care. */
#define EMB_FORWARD_TILE_BYTES_FEW ((size_t)256 << 10)
#define EMB_FORWARD_FEW_TOKENS ((size_t)14)
/* Attention projection in blocks of 256 tokens, FFN in blocks of 512: the
 * weights are dequantized once per block, so blocks must be large for the
 * extra dequantization to stay small next to the block's products. */
#define EMB_FORWARD_WO_BLOCK ((size_t)256)
#define EMB_FORWARD_FFN_BLOCK ((size_t)512)
/* One FFN block's buffers (up [+ gate] + output rows) are split into chunks
 * of hidden units (ffn_down then accumulates chunk by chunk) unless they fit
 * within T x n_embd floats (the size of `a` anyway) or this many bytes; the
 * chunks are then the largest that fit, but not below EMB_FORWARD_FFN_MIN_CHUNK
 * hidden units (products of depth >= 384 run at full speed). cfg.ffn_bytes
 * replaces this rule (tests force chunking with it). Why: docs/engine.md §4
 * (a 6 MiB budget made every packed batch of 228-512 short-text tokens carry
 * 5-6 MiB of FFN buffers). */
#define EMB_FORWARD_FFN_SMALL_BYTES ((size_t)1 << 20)
#define EMB_FORWARD_FFN_MIN_CHUNK ((size_t)384)
/* ~0.1-0.3 ms of one core's work: less is not worth waking a worker for. */
#define EMB_FORWARD_SPLIT_WORK ((size_t)1 << 21)

/*
 * Bytes of working memory emb_forward() allocates for a batch of n_tokens
 * tokens in total whose longest sequence has max_len tokens (SIZE_MAX on
 * overflow), for N threads = cfg->threads, else the pool size (a call that
 * gets fewer threads because the pool is busy allocates for those it got).
 * With T = n_tokens, E = n_embd, F = n_ff, D = E / n_head, L = max_len,
 * Bo = min(T, 256), Bf = min(T, 512) (cfg->block_tokens overrides both),
 * w = 2 (nomic: up and gate) or 1, fc = F or the largest divisor of F (whole
 * quantization blocks of ffn_down) with Bf * (w * fc + E) <= budget; if
 * none fits: with cfg->ffn_bytes the smallest divisor, by default the
 * smallest divisor >= EMB_FORWARD_FFN_MIN_CHUNK if any (else F); budget =
 * cfg->ffn_bytes / 4 if set, else max(T * E, EMB_FORWARD_FFN_SMALL_BYTES / 4),
 * Q = min(attn_rows, L), R = n_rot (nomic) or 0, the float counts
 *     hidden   T * E                          (mapping 1)
 *     a        A = max(T * E, Bf * (w * fc + E))  (mapping 2: q / attention
 *                                              output, then up [| gate] | FFN
 *                                              output)
 *   mapping 3:
 *     out      Bo * E                         (attention projection block;
 *                                              0 if it fits in S, below)
 *     rope     L * R
 *     vectors  max(3E, F) + max(E, F)         (1-D tensors, embedding rows)
 *   one mapping per thread, N times:
 *       tile   where the thin / panel kernels compute every product
 *              (AVX2, AVX-512: matmul_thin.h, matmul_panel.h): 0 if T <=
 *              EMB_THIN_MAX_TOKENS, else EMB_PANEL_SCRATCH_FLOATS; else (the
 *              scalar level, dequantize + sgemm) the max over non-F32
 *              matrices: D * E for q/k/v, chunk * fc for ffn_down, chunk * IC
 *              for the others (up / gate: chunk evened out over fc), chunk =
 *              min(OC, max(1, tile_bytes / (4 * cols))) rounded down to a
 *              multiple of 16 when >= 16; tile_bytes as chosen for T
 *              (emb_forward_cfg)
 *       kv     T * 2D                         (one head's k | v; 0 if N of
 *                                              them fit in S)
 *       scores Q * L
 * where S = A - T * E (T * E rounded up to 64 bytes) are the floats of `a`
 * that are free until the FFN runs (the threads' k | v, then the projection
 * block, live there when they fit);
 * each times 4 bytes, plus E doubles for pooling (mapping 3), every part
 * rounded up to 64 bytes; the result is the sum over all mappings.
 */
size_t emb_forward_workspace_bytes(const emb_model *m, size_t n_tokens, size_t max_len,
                                   const emb_forward_cfg *cfg);

/*
 * out: (n_seqs, n_embd) row-major, written only on success.
 * Pooling must be MEAN, CLS or LAST (NONE is the caller's policy to resolve).
 * Every sequence needs >= 1 token, ids < n_vocab, and for bert n <=
 * context_length (learned positions). cfg may be NULL.
 * Errors: EMB_ERR_RANGE (bad input, naming the sequence and token),
 * EMB_ERR_NOMEM, EMB_ERR_BLAS (OpenBLAS cannot be loaded), EMB_ERR_INTERRUPTED
 * (cfg->cancelled said so).
 */
emb_code emb_forward(float *out, const emb_model *m, const emb_seq *seqs, size_t n_seqs,
                     emb_pooling pooling, const emb_forward_cfg *cfg, emb_error *err);

/*
 * The naive scalar twin (forward_ref.c): the same maths in plain loops, one
 * sequence at a time, scalar reference dequantization (emb_quant_kernel_ref),
 * double accumulation in every dot product, no BLAS. Slow; the oracle of the
 * tests. Same contract as emb_forward.
 */
emb_code emb_forward_ref(float *out, const emb_model *m, const emb_seq *seqs, size_t n_seqs,
                         emb_pooling pooling, emb_error *err);

/* Shared input validation of both twins (no allocation). */
emb_code emb_forward_check(const emb_model *m, const emb_seq *seqs, size_t n_seqs,
                           emb_pooling pooling, emb_error *err);

#endif
