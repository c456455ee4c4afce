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
 * Memory: one workspace allocation per call, exactly
 * emb_forward_workspace_bytes() bytes (formula in that function's comment and
 * docs/engine.md), plus a few bytes of bookkeeping. O(tokens x n_ff).
 *
 * Numerics (docs/format.md §6.1, project policy): LayerNorm with double sums, softmax
 * with a double sum, exact erf GELU (HF), SiLU gate for nomic, NEOX RoPE with
 * the file's base, mean pooling over all tokens incl. [CLS]/[SEP].
 *
 * Thread-safe: the model is only read; all scratch is per call. Our code is
 * single-threaded inside a call; OpenBLAS may use its own threads.
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
} emb_forward_cfg;

#define EMB_FORWARD_TILE_BYTES ((size_t)1 << 20)
#define EMB_FORWARD_ATTN_ROWS ((size_t)64)
/* Measured on OpenBLAS 0.3.21 SkylakeX/Cooperlake kernels (docs/engine.md):
 * up to 14 tokens a 256 KiB tile is 1.5x faster than 1 MiB (the product
 * then reads the tile from L2 right after dequantization); from 15 tokens on
 * 1 MiB is as fast or faster. Haswell kernels do not care. */
#define EMB_FORWARD_TILE_BYTES_FEW ((size_t)256 << 10)
#define EMB_FORWARD_FEW_TOKENS ((size_t)14)

/*
 * Bytes of working memory emb_forward() allocates for a batch of n_tokens
 * tokens in total whose longest sequence has max_len tokens (SIZE_MAX on
 * overflow). With E = n_embd, F = n_ff, W = max(3E, F) for bert and
 * max(3E, 2F) for nomic, Q = min(attn_rows, max_len), R = n_rot (nomic) or 0,
 * the float counts
 *     hidden   3 * T * E            (h, h1, attention output)
 *     wide     T * W                (q|k|v, later the FFN activations)
 *     scores   Q * max_len
 *     rope     max_len * R          (cos/sin table, nomic only)
 *     tile     max over non-F32 matrices of min(OC, max(1, tile_bytes / (4 * IC))) * IC,
 *              tile_bytes as chosen for T (see emb_forward_cfg)
 *     vectors  2 * max(E, F)        (1-D tensors of non-F32 types, embedding rows)
 * each times 4 bytes, plus E doubles for pooling, every part rounded up to
 * 64 bytes.
 */
size_t emb_forward_workspace_bytes(const emb_model *m, size_t n_tokens, size_t max_len,
                                   const emb_forward_cfg *cfg);

/*
 * out: (n_seqs, n_embd) row-major, written only on success.
 * Pooling must be MEAN, CLS or LAST (NONE is the caller's policy to resolve).
 * Every sequence needs >= 1 token, ids < n_vocab, and for bert n <=
 * context_length (learned positions). cfg may be NULL.
 * Errors: EMB_ERR_RANGE (bad input, naming the sequence and token),
 * EMB_ERR_NOMEM, EMB_ERR_BLAS (OpenBLAS cannot be loaded).
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
