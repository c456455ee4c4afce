/*
 * embed: the text -> vector pipeline the SQL functions call.
 *
 *   prefix + text --tokenize--> [CLS] pieces [SEP] --truncate--> forward (batched)
 *     --pool--> Matryoshka (optional) --> L2 normalize (optional) --> floats
 *
 * Pooling: opts.pooling, or the file's {arch}.pooling_type, or MEAN when the
 * file says NONE / nothing (a one-vector function needs a policy; MEAN is what
 * sentence-transformers uses for the families without a pooling key).
 *
 * Matryoshka (opts.dims > 0; docs/format.md §8.2):
 *   nomic-bert: the model card's procedure exactly: layer_norm over all n_embd
 *     components (no affine, eps 1e-5), keep the first dims, then L2 if
 *     opts.normalize. With normalization this equals "subtract the mean of all
 *     components, truncate, L2". Applied whenever dims is given, also dims ==
 *     n_embd (the card does the same); dims = 0 returns the plain pooled vector.
 *   bert: plain truncation to the first dims, then L2 if opts.normalize (bert
 *     models are not trained for it; allowed but only meaningful for models
 *     that were).
 *
 * Normalization: L2 with a double sum of float squares (docs/format.md §7.2); a zero
 * vector stays zero.
 *
 * Thread-safe: the model is only read; any number of threads may embed with
 * one model at once.
 */
#ifndef EMB_EMBED_H
#define EMB_EMBED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emb_error.h"
#include "forward.h"
#include "gguf.h"
#include "model.h"

typedef struct emb_embed_opts {
    const char *prefix;  /* prepended before tokenizing ("search_query: "); NULL = none    */
    uint32_t dims;       /* 0 = all n_embd; else Matryoshka to dims (<= n_embd)             */
    int pooling;         /* -1 = from the file (NONE -> MEAN); else an emb_pooling != NONE */
    bool normalize;      /* L2-normalize the result (default true)                         */
    uint32_t max_tokens; /* 0 = emb_hparams_default_max_tokens (the file's sentence-transformers
                          * max_seq_length, else context_length); 2 <= max_tokens
                          * (<= context_length for bert) */
    bool truncate;       /* true: keep [CLS] + first max-2 pieces + [SEP]; false: error    */
    size_t batch_tokens; /* tokens per forward call; 0 = EMB_EMBED_BATCH_TOKENS            */
    const emb_forward_cfg *forward; /* forward-pass tuning and the cancel hook (also asked
                                       between texts); NULL = defaults              */
} emb_embed_opts;

#define EMB_EMBED_BATCH_TOKENS ((size_t)512)
/* max_tokens is at most the larger of the context length and this: nomic's
 * RoPE runs past its context, but attention costs O(length^2) per layer. */
#define EMB_EMBED_MAX_TOKENS ((size_t)8192)

/* The defaults: no prefix, full dims, file pooling, normalize, model context,
 * truncate, default batch. */
emb_embed_opts emb_embed_opts_default(void);

/* Length of each output vector for these options (0 if opts.dims > n_embd). */
uint32_t emb_embed_out_dims(const emb_model *m, const emb_embed_opts *opts);

/* The pooling these options resolve to (never NONE), or -1 if opts.pooling is
 * not -1, MEAN, CLS or LAST. */
int emb_embed_pooling(const emb_model *m, const emb_embed_opts *opts);

/*
 * out: (n, emb_embed_out_dims()) floats, written only on success.
 * texts: n byte strings (UTF-8 expected, any bytes accepted). opts NULL =
 * defaults. Texts are tokenized, then grouped into forward batches of about
 * opts.batch_tokens tokens (a longer text runs alone).
 * Errors: EMB_ERR_RANGE for bad options or, with truncate off, a text longer
 * than max_tokens ("embed: text 3 has 700 tokens, maximum 512"), plus those
 * of emb_forward.
 */
emb_code emb_embed_texts(float *out, const emb_model *m, const emb_str *texts, size_t n,
                         const emb_embed_opts *opts, emb_error *err);

/* The post-processing steps on one pooled vector, exposed for tests.
 * v: (n_embd) in place; returns the output length (dims or n_embd). */
size_t emb_embed_finish(float *v, const emb_model *m, const emb_embed_opts *opts);

/* x: (n) in place. L2-normalize with a double sum; zero stays zero. */
void emb_l2_normalize(float *x, size_t n);

#endif
