/*
 * model: bind a GGUF file to its architecture (`bert`, `nomic-bert`).
 *
 * Reads the hyper-parameters with the defaults of docs/format.md §3, checks every
 * required tensor's presence, shape and type against a per-architecture table
 * of expectations (docs/format.md §4) and fills a struct of named weight views. Weights are
 * pointers into the mapping: nothing is copied, and no tensor byte is read by
 * binding. Every supported tensor type may appear in any position.
 *
 * Errors name the file and tensor: "model: m.gguf: tensor 'blk.3.ffn_up.weight':
 * got [768, 2048], expected [768, 3072]".
 *
 * An emb_model is immutable after load and may be shared by threads.
 */
#ifndef EMB_MODEL_H
#define EMB_MODEL_H

#include <stdint.h>

#include "emb_error.h"
#include "gguf.h"
#include "tokenizer.h"

typedef enum emb_arch { EMB_ARCH_BERT = 0, EMB_ARCH_NOMIC_BERT = 1 } emb_arch;

/* Values as in llama.h / the GGUF {arch}.pooling_type key. */
typedef enum emb_pooling {
    EMB_POOLING_NONE = 0,
    EMB_POOLING_MEAN = 1,
    EMB_POOLING_CLS = 2,
    EMB_POOLING_LAST = 3
} emb_pooling;

typedef struct emb_hparams {
    emb_arch arch;
    uint32_t n_vocab;       /* rows of token_embd                         */
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_ff;
    uint32_t n_ctx_train;   /* {arch}.context_length                      */
    uint32_t n_token_types; /* rows of token_types                        */
    uint32_t n_rot;         /* nomic: rotary dims (= head dim)            */
    float eps;              /* {arch}.attention.layer_norm_epsilon        */
    float rope_freq_base;   /* nomic: default 10000 if absent             */
    float rope_freq_scale;  /* nomic: 1, or 1/factor for linear rope scaling */
    emb_pooling pooling;    /* from the file; NONE if the key is absent   */
    int pooling_in_file;    /* 1 if {arch}.pooling_type was present       */
    uint32_t max_seq_length; /* EMB_KEY_MAX_SEQ_LENGTH; 0 if absent       */
} emb_hparams;

/* sentence-transformers' sequence limit (docs/format.md §3.5): tokens kept,
 * [CLS] and [SEP] included, when the model was used through
 * sentence-transformers. Optional; 2 <= value (<= context_length for bert). */
#define EMB_KEY_MAX_SEQ_LENGTH "sentence_transformers.max_seq_length"

/* The number of tokens embed() keeps when the caller does not say: the
 * file's max_seq_length when present, else its context length. */
uint32_t emb_hparams_default_max_tokens(const emb_hparams *hp);

/* A view of one tensor in the mapping. */
typedef struct emb_weight {
    const void *data;   /* NULL = tensor absent (optional biases)   */
    uint32_t type;      /* ggml type id                               */
    int64_t ne0, ne1;   /* ne1 = 1 for vectors                        */
    uint64_t row_bytes; /* bytes of one ne0-row                       */
} emb_weight;

typedef struct emb_layer {
    /* bert: separate q/k/v with biases; nomic: fused qkv, no biases */
    emb_weight attn_q, attn_q_b, attn_k, attn_k_b, attn_v, attn_v_b;
    emb_weight attn_qkv;
    emb_weight attn_out, attn_out_b;
    emb_weight attn_out_norm, attn_out_norm_b;
    emb_weight ffn_up, ffn_up_b, ffn_gate, ffn_down, ffn_down_b;
    emb_weight out_norm, out_norm_b;
} emb_layer;

typedef struct emb_model {
    gguf_file *file;          /* owned */
    emb_hparams hp;
    emb_weight tok_embd, tok_types, pos_embd; /* pos_embd: bert only */
    emb_weight embd_norm, embd_norm_b;
    emb_layer *layers;        /* owned, hp.n_layer entries */
    emb_tokenizer *tokenizer; /* owned */
} emb_model;

/* Summary of a model file for listings (embed_models). */
typedef struct emb_model_info {
    emb_hparams hp;
    uint64_t file_size;
    char arch_name[32];
} emb_model_info;

/* Open, validate and bind `path`. Returns a new model owned by the caller
 * (free with emb_model_destroy) or NULL with *err filled. */
emb_model *emb_model_load(const char *path, emb_error *err);

/* Bind an already-open GGUF; takes ownership of `file` on success AND on
 * failure (it is closed on failure). */
emb_model *emb_model_from_gguf(gguf_file *file, emb_error *err);

/* Validate `path` fully (header, hyper-parameters, tensor table, vocab) and
 * fill *info, then release the file: nothing stays mapped. */
emb_code emb_model_probe(const char *path, emb_model_info *info, emb_error *err);

/* Whether the model's file changed since it was loaded (gguf_file_changed:
 * the mapped inode, a page that could not be read, and `path` if given). A
 * changed model's weights cannot be trusted; load the file again. */
bool emb_model_file_changed(const emb_model *m, const char *path);

/* Accepts NULL and half-built models. */
void emb_model_destroy(emb_model *m);

const char *emb_arch_name(emb_arch a);       /* "bert", "nomic-bert" */
const char *emb_pooling_name(emb_pooling p); /* "none", "mean", "cls", "last" */

#endif
