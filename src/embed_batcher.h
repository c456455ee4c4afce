/*
 * embed_batcher: the embed.h pipeline for a stream of texts, in memory bounded
 * by a window instead of by the whole input.
 *
 *   b = emb_batcher_create(m, opts)            validates opts once
 *   loop:  emb_batcher_add(b, text)            tokenized now (prefix, [CLS]/[SEP],
 *                                              length policy), text not kept
 *          ... until emb_batcher_full(b) or the input ends
 *          emb_batcher_run(b)                  the window's vectors
 *          emb_batcher_vector(b, i), emb_batcher_tokens(b, i)   i = order of add
 *          emb_batcher_clear(b)
 *   emb_batcher_destroy(b)
 *
 * run() sorts the window's texts by token count and packs them into forward
 * calls of about opts.batch_tokens tokens each (attention stays per sequence;
 * a text longer than the budget runs alone): similar lengths share a call and
 * the calls of a window come out evenly sized. With the default batch_tokens
 * (0) a call has at most EMB_EMBED_BATCH_TOKENS tokens and fewer when its
 * workspace would exceed EMB_BATCHER_WORKSPACE_BYTES on one thread (nomic
 * 768-wide: 320 tokens; MiniLM: 512). Vectors are identical in value
 * to emb_embed_texts() of the same text up to the rounding of the matrix
 * products, which may depend on the other rows of a call (see docs/engine.md).
 * The packed calls run side by side on the pool's threads, one whole pass
 * per thread, and the rest one at a time (forward_many.h); the packing never
 * depends on the thread count, so neither do the vectors.
 *
 * Memory: the queued token ids (4 bytes per token), texts x n_embd floats
 * for the window, the forward workspaces of the calls in flight (one per
 * thread: each within EMB_BATCHER_WORKSPACE_BYTES unless a text longer than
 * the budget runs alone, and then only one at a time), and tokenizer scratch
 * returned after every add() of a large text. A window is full at
 * EMB_BATCHER_WINDOW_TEXTS texts or EMB_BATCHER_WINDOW_BATCHES x batch_tokens
 * tokens, so a streaming caller's memory does not depend on the stream length.
 *
 * One batcher per thread (it owns mutable state); the model is shared.
 */
#ifndef EMB_EMBED_BATCHER_H
#define EMB_EMBED_BATCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "embed.h"

#define EMB_BATCHER_WINDOW_TEXTS ((size_t)256)
#define EMB_BATCHER_WINDOW_BATCHES ((size_t)8)
/* Forward workspace per call of packed texts, one thread (docs/engine.md §4a:
 * keeps embed_batch of short texts under 8 MiB of private memory for the
 * whole sqlite3 process at 1 thread; with n threads n calls are in flight;
 * calls of ~300 instead of ~420 tokens measured no slower in bulk, half of
 * that 18 % slower). */
#define EMB_BATCHER_WORKSPACE_BYTES ((size_t)7 << 19)

typedef struct emb_batcher emb_batcher;

/* Checks opts against m (emb_embed_check) and copies them (the prefix too).
 * Returns NULL with *err filled. Free with emb_batcher_destroy. */
emb_batcher *emb_batcher_create(const emb_model *m, const emb_embed_opts *opts, emb_error *err);
void emb_batcher_destroy(emb_batcher *b);

/* Floats per vector (emb_embed_out_dims of the options). */
uint32_t emb_batcher_dims(const emb_batcher *b);

/* Tokenize and queue one text (any bytes; {NULL, 0} = empty). After a run
 * the window is cleared first. Errors (err->item = the number of texts added
 * before this one since create): EMB_ERR_RANGE with truncation off and too
 * many tokens, EMB_ERR_NOMEM; the window keeps its other texts. */
emb_code emb_batcher_add(emb_batcher *b, emb_str text, emb_error *err);

/* Texts queued in the window. */
size_t emb_batcher_count(const emb_batcher *b);

/* True when the window should be run before adding more. */
bool emb_batcher_full(const emb_batcher *b);

/* Embed every queued text. Errors: those of emb_forward (no item). */
emb_code emb_batcher_run(emb_batcher *b, emb_error *err);

/* After a successful run: the vector (emb_batcher_dims floats) and the token
 * count (after truncation, with [CLS] and [SEP]) of the i-th queued text;
 * NULL / 0 before a run or for i out of range. Valid until the next add,
 * clear or destroy. */
const float *emb_batcher_vector(const emb_batcher *b, size_t i);
size_t emb_batcher_tokens(const emb_batcher *b, size_t i);

/* Forget the window (keeps its buffers for the next one). */
void emb_batcher_clear(emb_batcher *b);

#endif
