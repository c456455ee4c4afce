/*
 * model: binding a validated GGUF to the bert / nomic-bert graph.
 *
 * Order of checks (each failure names the file and the key or tensor):
 *   1. general.architecture is "bert" or "nomic-bert"
 *   2. the file has tensors (a vocabulary-only GGUF has none)
 *   3. hyper-parameters (docs/format.md §3.1 defaults), per-layer arrays must be uniform
 *   4. a WordPiece tokenizer is present
 *   5. every tensor of the architecture's table: present, shape, computable type
 *   6. the tokenizer is built and its size equals token_embd's rows
 * No tensor byte is read: weights are views into the mapping.
 */
#include "model.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml_types.h"
#include "quant.h"

#define KEY_MAX 128

/* ---- hyper-parameters ----------------------------------------------------- */

typedef struct binder {
    const gguf_file *f;
    const char *name; /* file name for messages */
    const char *arch; /* "bert" / "nomic-bert"  */
} binder;

static void arch_key(char *buf, const binder *b, const char *suffix)
{
    snprintf(buf, KEY_MAX, "%s.%s", b->arch, suffix);
}

/* A required UINT32-compatible key; missing -> EMB_ERR_MODEL naming the key. */
static emb_code need_u32(const binder *b, const char *key, uint32_t *out, emb_error *err)
{
    emb_code rc = gguf_get_u32(b->f, key, out, err);
    if (rc == EMB_ERR_NOT_FOUND)
        return emb_error_set(err, EMB_ERR_MODEL, "model: %s: missing hyper-parameter '%s'",
                             b->name, key);
    return rc;
}

/* Optional UINT32-compatible key: *out untouched if absent. */
static emb_code opt_u32(const binder *b, const char *key, uint32_t *out, emb_error *err)
{
    if (!gguf_find_kv(b->f, key))
        return EMB_OK;
    return gguf_get_u32(b->f, key, out, err);
}

/* A key that is either one UINT32 or an array of n_layer of them (docs/format.md §3.1).
 * Per-layer sizes must all be equal: the engine runs uniform layers. */
static emb_code per_layer_u32(const binder *b, const char *key, uint32_t n_layer, bool required,
                              uint32_t *out, emb_error *err)
{
    const gguf_kv *kv = gguf_find_kv(b->f, key);
    if (!kv) {
        if (required)
            return emb_error_set(err, EMB_ERR_MODEL, "model: %s: missing hyper-parameter '%s'",
                                 b->name, key);
        return EMB_OK;
    }
    if (kv->type != GGUF_TYPE_ARRAY)
        return gguf_get_u32(b->f, key, out, err);
    if (kv->arr_count != n_layer)
        return emb_error_set(err, EMB_ERR_MODEL,
                             "model: %s: '%s' has %llu per-layer values, expected %u (block_count)",
                             b->name, key, (unsigned long long)kv->arr_count, n_layer);
    uint64_t first = 0;
    for (uint64_t i = 0; i < kv->arr_count; i++) {
        uint64_t v;
        if (gguf_arr_get_u64(kv, i, &v) != EMB_OK || v > UINT32_MAX)
            return emb_error_set(err, EMB_ERR_TYPE,
                                 "model: %s: '%s'[%llu] is not an unsigned 32-bit integer",
                                 b->name, key, (unsigned long long)i);
        if (i == 0)
            first = v;
        else if (v != first)
            return emb_error_set(err, EMB_ERR_UNSUPPORTED,
                                 "model: %s: '%s' differs between layers (%llu at layer 0, %llu "
                                 "at layer %llu); only uniform layers are supported",
                                 b->name, key, (unsigned long long)first, (unsigned long long)v,
                                 (unsigned long long)i);
    }
    *out = (uint32_t)first;
    return EMB_OK;
}

static emb_code read_hparams(const binder *b, size_t n_tensors, emb_hparams *hp, emb_error *err)
{
    char key[KEY_MAX];
    emb_code rc;
    emb_hparams h;
    memset(&h, 0, sizeof h);
    h.arch = strcmp(b->arch, "bert") == 0 ? EMB_ARCH_BERT : EMB_ARCH_NOMIC_BERT;

    arch_key(key, b, "context_length");
    if ((rc = need_u32(b, key, &h.n_ctx_train, err)) != EMB_OK)
        return rc;
    arch_key(key, b, "embedding_length");
    if ((rc = need_u32(b, key, &h.n_embd, err)) != EMB_OK)
        return rc;
    arch_key(key, b, "block_count");
    if ((rc = need_u32(b, key, &h.n_layer, err)) != EMB_OK)
        return rc;
    if (h.n_embd == 0 || h.n_layer == 0 || h.n_ctx_train == 0)
        return emb_error_set(err, EMB_ERR_MODEL,
                             "model: %s: embedding_length %u, block_count %u, context_length %u: "
                             "each must be at least 1",
                             b->name, h.n_embd, h.n_layer, h.n_ctx_train);
    /* Every layer owns at least 9 tensors: bound n_layer by the file before
     * anything is allocated from it. */
    if (h.n_layer > n_tensors / 9)
        return emb_error_set(err, EMB_ERR_MODEL,
                             "model: %s: block_count %u needs at least %llu tensors, the file has %zu",
                             b->name, h.n_layer, (unsigned long long)h.n_layer * 9, n_tensors);

    arch_key(key, b, "feed_forward_length");
    if ((rc = per_layer_u32(b, key, h.n_layer, true, &h.n_ff, err)) != EMB_OK)
        return rc;
    arch_key(key, b, "attention.head_count");
    if ((rc = per_layer_u32(b, key, h.n_layer, true, &h.n_head, err)) != EMB_OK)
        return rc;
    if (h.n_ff == 0 || h.n_head == 0 || h.n_embd % h.n_head != 0)
        return emb_error_set(err, EMB_ERR_MODEL,
                             "model: %s: feed_forward_length %u, head_count %u with embedding_length "
                             "%u: need n_ff >= 1 and heads dividing the width",
                             b->name, h.n_ff, h.n_head, h.n_embd);
    uint32_t head_dim = h.n_embd / h.n_head;

    uint32_t n_head_kv = h.n_head;
    arch_key(key, b, "attention.head_count_kv");
    if ((rc = per_layer_u32(b, key, h.n_layer, false, &n_head_kv, err)) != EMB_OK)
        return rc;
    if (n_head_kv != h.n_head)
        return emb_error_set(err, EMB_ERR_UNSUPPORTED,
                             "model: %s: head_count_kv %u differs from head_count %u (grouped-query "
                             "attention is not supported)",
                             b->name, n_head_kv, h.n_head);
    static const char *const head_len_keys[] = {"attention.key_length", "attention.value_length"};
    for (size_t i = 0; i < 2; i++) {
        uint32_t v = head_dim;
        arch_key(key, b, head_len_keys[i]);
        if ((rc = opt_u32(b, key, &v, err)) != EMB_OK)
            return rc;
        if (v != head_dim)
            return emb_error_set(err, EMB_ERR_UNSUPPORTED,
                                 "model: %s: '%s' is %u, only embedding_length / head_count = %u is "
                                 "supported",
                                 b->name, key, v, head_dim);
    }

    arch_key(key, b, "attention.layer_norm_epsilon");
    rc = gguf_get_f32(b->f, key, &h.eps, err);
    if (rc == EMB_ERR_NOT_FOUND)
        return emb_error_set(err, EMB_ERR_MODEL, "model: %s: missing hyper-parameter '%s'", b->name,
                             key);
    if (rc != EMB_OK)
        return rc;
    if (!isfinite(h.eps) || h.eps < 0.0f)
        return emb_error_set(err, EMB_ERR_MODEL, "model: %s: '%s' is %g, expected a finite value >= 0",
                             b->name, key, (double)h.eps);

    bool causal = false;
    arch_key(key, b, "attention.causal");
    if (gguf_find_kv(b->f, key) && (rc = gguf_get_bool(b->f, key, &causal, err)) != EMB_OK)
        return rc;
    if (causal)
        return emb_error_set(err, EMB_ERR_UNSUPPORTED,
                             "model: %s: '%s' is true; only bidirectional encoders are supported",
                             b->name, key);

    /* Pooling: optional for bert (absent = NONE), required for nomic-bert. */
    arch_key(key, b, "pooling_type");
    uint32_t pooling = EMB_POOLING_NONE;
    if (gguf_find_kv(b->f, key)) {
        if ((rc = gguf_get_u32(b->f, key, &pooling, err)) != EMB_OK)
            return rc;
        h.pooling_in_file = 1;
    } else if (h.arch == EMB_ARCH_NOMIC_BERT) {
        return emb_error_set(err, EMB_ERR_MODEL, "model: %s: missing hyper-parameter '%s'", b->name,
                             key);
    }
    if (pooling == 4)
        return emb_error_set(err, EMB_ERR_UNSUPPORTED,
                             "model: %s: '%s' is 4 (rank, a reranker head), which is not supported",
                             b->name, key);
    if (pooling > EMB_POOLING_LAST)
        return emb_error_set(err, EMB_ERR_MODEL,
                             "model: %s: '%s' is %u, expected 0 (none), 1 (mean), 2 (cls) or 3 (last)",
                             b->name, key, pooling);
    h.pooling = (emb_pooling)pooling;

    if ((rc = opt_u32(b, EMB_KEY_MAX_SEQ_LENGTH, &h.max_seq_length, err)) != EMB_OK)
        return rc;
    if (gguf_find_kv(b->f, EMB_KEY_MAX_SEQ_LENGTH) && h.max_seq_length < 2)
        return emb_error_set(err, EMB_ERR_MODEL,
                             "model: %s: '%s' is %u, expected at least 2 ([CLS] and [SEP])",
                             b->name, EMB_KEY_MAX_SEQ_LENGTH, h.max_seq_length);
    if (h.arch == EMB_ARCH_BERT && h.max_seq_length > h.n_ctx_train)
        return emb_error_set(err, EMB_ERR_MODEL,
                             "model: %s: '%s' is %u, more than the %u learned positions of this "
                             "bert model",
                             b->name, EMB_KEY_MAX_SEQ_LENGTH, h.max_seq_length, h.n_ctx_train);

    h.n_rot = head_dim;
    h.rope_freq_base = 10000.0f;
    h.rope_freq_scale = 1.0f;
    if (h.arch == EMB_ARCH_NOMIC_BERT) {
        arch_key(key, b, "rope.freq_base");
        if (gguf_find_kv(b->f, key) && (rc = gguf_get_f32(b->f, key, &h.rope_freq_base, err)) != EMB_OK)
            return rc;
        if (!isfinite(h.rope_freq_base) || h.rope_freq_base <= 0.0f)
            return emb_error_set(err, EMB_ERR_MODEL, "model: %s: '%s' is %g, expected > 0", b->name,
                                 key, (double)h.rope_freq_base);
        arch_key(key, b, "rope.dimension_count");
        if ((rc = opt_u32(b, key, &h.n_rot, err)) != EMB_OK)
            return rc;
        if (h.n_rot == 0 || h.n_rot % 2 != 0 || h.n_rot > head_dim)
            return emb_error_set(err, EMB_ERR_MODEL,
                                 "model: %s: '%s' is %u, expected an even number in [2, %u]",
                                 b->name, key, h.n_rot, head_dim);
        /* Scaling: none, or linear (theta / factor). YaRN is not implemented. */
        emb_str scaling = {"none", 4};
        arch_key(key, b, "rope.scaling.type");
        if (gguf_find_kv(b->f, key) && (rc = gguf_get_str(b->f, key, &scaling, err)) != EMB_OK)
            return rc;
        float factor = 1.0f;
        arch_key(key, b, "rope.scaling.factor");
        if (gguf_find_kv(b->f, key) && (rc = gguf_get_f32(b->f, key, &factor, err)) != EMB_OK)
            return rc;
        if (emb_str_eq(scaling, "linear")) {
            if (!isfinite(factor) || factor < 0.0f)
                return emb_error_set(err, EMB_ERR_MODEL,
                                     "model: %s: rope.scaling.factor is %g, expected >= 0", b->name,
                                     (double)factor);
            if (factor > 0.0f)
                h.rope_freq_scale = 1.0f / factor;
        } else if (!emb_str_eq(scaling, "none")) {
            return emb_error_set(err, EMB_ERR_UNSUPPORTED,
                                 "model: %s: rope scaling '%.*s' is not supported (only none or linear)",
                                 b->name, (int)(scaling.len > 32 ? 32 : scaling.len), scaling.ptr);
        }
    }
    *hp = h;
    return EMB_OK;
}

uint32_t emb_hparams_default_max_tokens(const emb_hparams *hp)
{
    return hp->max_seq_length ? hp->max_seq_length : hp->n_ctx_train;
}

/* ---- the tensor tables ---------------------------------------------------- */

typedef enum dim_sym { D_ONE, D_EMBD, D_FF, D_QKV, D_CTX, D_ROWS } dim_sym;

typedef struct tensor_spec {
    const char *pattern; /* printf pattern; "%u" = layer index for layer tables */
    size_t offset;       /* of the emb_weight in emb_model or emb_layer          */
    dim_sym ne0, ne1;    /* D_ROWS: any row count >= 1, read from the file       */
    bool required;
} tensor_spec;

#define MW(field) offsetof(emb_model, field)
#define LW(field) offsetof(emb_layer, field)

static const tensor_spec BERT_GLOBAL[] = {
    {"token_embd.weight", MW(tok_embd), D_EMBD, D_ROWS, true},
    {"token_types.weight", MW(tok_types), D_EMBD, D_ROWS, true},
    {"position_embd.weight", MW(pos_embd), D_EMBD, D_CTX, true},
    {"token_embd_norm.weight", MW(embd_norm), D_EMBD, D_ONE, true},
    {"token_embd_norm.bias", MW(embd_norm_b), D_EMBD, D_ONE, true},
};

static const tensor_spec BERT_LAYER[] = {
    {"blk.%u.attn_q.weight", LW(attn_q), D_EMBD, D_EMBD, true},
    {"blk.%u.attn_q.bias", LW(attn_q_b), D_EMBD, D_ONE, true},
    {"blk.%u.attn_k.weight", LW(attn_k), D_EMBD, D_EMBD, true},
    {"blk.%u.attn_k.bias", LW(attn_k_b), D_EMBD, D_ONE, true},
    {"blk.%u.attn_v.weight", LW(attn_v), D_EMBD, D_EMBD, true},
    {"blk.%u.attn_v.bias", LW(attn_v_b), D_EMBD, D_ONE, true},
    {"blk.%u.attn_output.weight", LW(attn_out), D_EMBD, D_EMBD, true},
    {"blk.%u.attn_output.bias", LW(attn_out_b), D_EMBD, D_ONE, true},
    {"blk.%u.attn_output_norm.weight", LW(attn_out_norm), D_EMBD, D_ONE, true},
    {"blk.%u.attn_output_norm.bias", LW(attn_out_norm_b), D_EMBD, D_ONE, true},
    {"blk.%u.ffn_up.weight", LW(ffn_up), D_EMBD, D_FF, true},
    {"blk.%u.ffn_up.bias", LW(ffn_up_b), D_FF, D_ONE, true},
    {"blk.%u.ffn_down.weight", LW(ffn_down), D_FF, D_EMBD, true},
    {"blk.%u.ffn_down.bias", LW(ffn_down_b), D_EMBD, D_ONE, true},
    {"blk.%u.layer_output_norm.weight", LW(out_norm), D_EMBD, D_ONE, true},
    {"blk.%u.layer_output_norm.bias", LW(out_norm_b), D_EMBD, D_ONE, true},
};

static const tensor_spec NOMIC_GLOBAL[] = {
    {"token_embd.weight", MW(tok_embd), D_EMBD, D_ROWS, true},
    {"token_types.weight", MW(tok_types), D_EMBD, D_ROWS, true},
    {"token_embd_norm.weight", MW(embd_norm), D_EMBD, D_ONE, true},
    {"token_embd_norm.bias", MW(embd_norm_b), D_EMBD, D_ONE, true},
};

static const tensor_spec NOMIC_LAYER[] = {
    {"blk.%u.attn_qkv.weight", LW(attn_qkv), D_EMBD, D_QKV, true},
    {"blk.%u.attn_output.weight", LW(attn_out), D_EMBD, D_EMBD, true},
    {"blk.%u.attn_output_norm.weight", LW(attn_out_norm), D_EMBD, D_ONE, true},
    {"blk.%u.attn_output_norm.bias", LW(attn_out_norm_b), D_EMBD, D_ONE, true},
    {"blk.%u.ffn_up.weight", LW(ffn_up), D_EMBD, D_FF, true},
    {"blk.%u.ffn_gate.weight", LW(ffn_gate), D_EMBD, D_FF, true},
    {"blk.%u.ffn_down.weight", LW(ffn_down), D_FF, D_EMBD, true},
    {"blk.%u.layer_output_norm.weight", LW(out_norm), D_EMBD, D_ONE, true},
    {"blk.%u.layer_output_norm.bias", LW(out_norm_b), D_EMBD, D_ONE, true},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int64_t dim_value(dim_sym d, const emb_hparams *hp)
{
    switch (d) {
    case D_ONE: return 1;
    case D_EMBD: return hp->n_embd;
    case D_FF: return hp->n_ff;
    case D_QKV: return 3 * (int64_t)hp->n_embd;
    case D_CTX: return hp->n_ctx_train;
    case D_ROWS: return -1;
    }
    return -1;
}

/* "[768, 3072]" or "[768]" (a trailing 1 of a vector is not shown). */
static void shape_str(char *buf, size_t cap, int64_t ne0, int64_t ne1, bool vector)
{
    if (vector)
        snprintf(buf, cap, "[%lld]", (long long)ne0);
    else if (ne1 < 0)
        snprintf(buf, cap, "[%lld, n]", (long long)ne0);
    else
        snprintf(buf, cap, "[%lld, %lld]", (long long)ne0, (long long)ne1);
}

static emb_code bind_tensor(const binder *b, const tensor_spec *spec, const char *name,
                            const emb_hparams *hp, emb_weight *w, emb_error *err)
{
    const gguf_tensor *t = gguf_find_tensor(b->f, name);
    if (!t) {
        if (!spec->required)
            return EMB_OK;
        return emb_error_set(err, EMB_ERR_MODEL, "model: %s: missing tensor '%s'", b->name, name);
    }
    int64_t want0 = dim_value(spec->ne0, hp), want1 = dim_value(spec->ne1, hp);
    bool vector = spec->ne1 == D_ONE;
    bool ok = t->ne[0] == want0 && t->ne[2] == 1 && t->ne[3] == 1 &&
              (want1 < 0 ? t->ne[1] >= 1 : t->ne[1] == want1) && (!vector || t->n_dims <= 2);
    if (!ok) {
        char got[96], want[64];
        if (t->n_dims <= 1)
            snprintf(got, sizeof got, "[%lld]", (long long)t->ne[0]);
        else if (t->n_dims == 2)
            snprintf(got, sizeof got, "[%lld, %lld]", (long long)t->ne[0], (long long)t->ne[1]);
        else
            snprintf(got, sizeof got, "[%lld, %lld, %lld, %lld]", (long long)t->ne[0],
                     (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
        shape_str(want, sizeof want, want0, want1, vector);
        return emb_error_set(err, EMB_ERR_MODEL, "model: %s: tensor '%s': got %s, expected %s",
                             b->name, name, got, want);
    }
    if (!emb_quant_supported(t->type))
        return emb_error_set(err, EMB_ERR_UNSUPPORTED,
                             "model: %s: tensor '%s' has type %s, which cannot be computed (supported: "
                             "F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K..Q6_K IQ4_NL IQ4_XS)",
                             b->name, name, ggml_type_name(t->type));
    w->data = t->data;
    w->type = t->type;
    w->ne0 = t->ne[0];
    w->ne1 = t->ne[1];
    w->row_bytes = t->row_bytes;
    return EMB_OK;
}

static emb_code bind_table(const binder *b, const tensor_spec *table, size_t n, unsigned layer,
                           void *base, const emb_hparams *hp, emb_error *err)
{
    for (size_t i = 0; i < n; i++) {
        char name[KEY_MAX];
        snprintf(name, sizeof name, table[i].pattern, layer);
        emb_weight *w = (emb_weight *)((char *)base + table[i].offset);
        emb_code rc = bind_tensor(b, &table[i], name, hp, w, err);
        if (rc != EMB_OK)
            return rc;
    }
    return EMB_OK;
}

/* ---- load ------------------------------------------------------------------ */

emb_model *emb_model_from_gguf(gguf_file *file, emb_error *err)
{
    emb_model *m = NULL, *result = NULL;
    if (!file) {
        emb_error_set(err, EMB_ERR_INTERNAL, "model: no file given");
        goto end;
    }
    m = calloc(1, sizeof *m);
    if (!m) {
        emb_error_set(err, EMB_ERR_NOMEM, "model: %s: out of memory", gguf_name(file));
        gguf_close(file);
        goto end;
    }
    m->file = file;
    binder b = {file, gguf_name(file), NULL};

    emb_str arch;
    emb_code rc = gguf_get_str(file, "general.architecture", &arch, err);
    if (rc == EMB_ERR_NOT_FOUND) {
        emb_error_set(err, EMB_ERR_MODEL, "model: %s: missing key 'general.architecture'", b.name);
        goto end;
    }
    if (rc != EMB_OK)
        goto end;
    if (emb_str_eq(arch, "bert")) {
        b.arch = "bert";
    } else if (emb_str_eq(arch, "nomic-bert")) {
        b.arch = "nomic-bert";
    } else {
        emb_error_set(err, EMB_ERR_UNSUPPORTED,
                      "model: %s: architecture '%.*s' is not supported (expected 'bert' or "
                      "'nomic-bert')",
                      b.name, (int)(arch.len > 48 ? 48 : arch.len), arch.ptr);
        goto end;
    }

    size_t n_tensors = gguf_n_tensors(file);
    if (n_tensors == 0) {
        emb_error_set(err, EMB_ERR_MODEL,
                      "model: %s: the file has no tensors (a vocabulary-only gguf?): it cannot "
                      "compute embeddings",
                      b.name);
        goto end;
    }
    if (read_hparams(&b, n_tensors, &m->hp, err) != EMB_OK)
        goto end;
    if (emb_tokenizer_gguf_check(file, err) != EMB_OK) /* before any tensor is bound */
        goto end;

    bool bert = m->hp.arch == EMB_ARCH_BERT;
    if (bind_table(&b, bert ? BERT_GLOBAL : NOMIC_GLOBAL, bert ? COUNT(BERT_GLOBAL) : COUNT(NOMIC_GLOBAL),
                   0, m, &m->hp, err) != EMB_OK)
        goto end;
    m->layers = calloc(m->hp.n_layer, sizeof *m->layers);
    if (!m->layers) {
        emb_error_set(err, EMB_ERR_NOMEM, "model: %s: out of memory for %u layers", b.name,
                      m->hp.n_layer);
        goto end;
    }
    for (uint32_t l = 0; l < m->hp.n_layer; l++)
        if (bind_table(&b, bert ? BERT_LAYER : NOMIC_LAYER, bert ? COUNT(BERT_LAYER) : COUNT(NOMIC_LAYER),
                       l, &m->layers[l], &m->hp, err) != EMB_OK)
            goto end;

    if (m->tok_embd.ne1 > UINT32_MAX || m->tok_types.ne1 > UINT32_MAX) {
        emb_error_set(err, EMB_ERR_MODEL, "model: %s: token_embd.weight has %lld rows, too many",
                      b.name, (long long)m->tok_embd.ne1);
        goto end;
    }
    m->hp.n_vocab = (uint32_t)m->tok_embd.ne1;
    m->hp.n_token_types = (uint32_t)m->tok_types.ne1;
    uint32_t type_count = m->hp.n_token_types;
    if (opt_u32(&b, "tokenizer.ggml.token_type_count", &type_count, err) != EMB_OK)
        goto end;
    if (type_count != m->hp.n_token_types) {
        emb_error_set(err, EMB_ERR_MODEL,
                      "model: %s: tensor 'token_types.weight' has %u rows but "
                      "tokenizer.ggml.token_type_count is %u",
                      b.name, m->hp.n_token_types, type_count);
        goto end;
    }

    m->tokenizer = emb_tokenizer_create_from_gguf(file, err);
    if (!m->tokenizer)
        goto end;
    size_t n_tok = emb_tokenizer_vocab_size(m->tokenizer);
    if (n_tok != m->hp.n_vocab) {
        emb_error_set(err, EMB_ERR_MODEL,
                      "model: %s: tensor 'token_embd.weight' has %u rows but the tokenizer has %zu "
                      "tokens",
                      b.name, m->hp.n_vocab, n_tok);
        goto end;
    }
    emb_special_ids sp = emb_tokenizer_special(m->tokenizer);
    if (sp.cls < 0 || (uint32_t)sp.cls >= m->hp.n_vocab || sp.sep < 0 ||
        (uint32_t)sp.sep >= m->hp.n_vocab) {
        emb_error_set(err, EMB_ERR_MODEL,
                      "model: %s: [CLS] id %d / [SEP] id %d outside the %u-token vocabulary", b.name,
                      sp.cls, sp.sep, m->hp.n_vocab);
        goto end;
    }
    result = m;
    m = NULL;
end:
    emb_model_destroy(m);
    return result;
}

emb_model *emb_model_load(const char *path, emb_error *err)
{
    gguf_file *f = gguf_open(path, err);
    if (!f)
        return NULL;
    return emb_model_from_gguf(f, err);
}

emb_code emb_model_probe(const char *path, emb_model_info *info, emb_error *err)
{
    emb_error e;
    emb_error_clear(&e);
    emb_model *m = emb_model_load(path, &e);
    if (!m) {
        if (err)
            *err = e;
        return e.code;
    }
    emb_model_info out;
    memset(&out, 0, sizeof out);
    out.hp = m->hp;
    out.file_size = gguf_file_size(m->file);
    snprintf(out.arch_name, sizeof out.arch_name, "%s", emb_arch_name(m->hp.arch));
    emb_model_destroy(m);
    *info = out;
    return EMB_OK;
}

void emb_model_destroy(emb_model *m)
{
    if (!m)
        return;
    emb_tokenizer_destroy(m->tokenizer);
    free(m->layers);
    gguf_close(m->file);
    free(m);
}

const char *emb_arch_name(emb_arch a)
{
    switch (a) {
    case EMB_ARCH_BERT: return "bert";
    case EMB_ARCH_NOMIC_BERT: return "nomic-bert";
    }
    return "?";
}

const char *emb_pooling_name(emb_pooling p)
{
    switch (p) {
    case EMB_POOLING_NONE: return "none";
    case EMB_POOLING_MEAN: return "mean";
    case EMB_POOLING_CLS: return "cls";
    case EMB_POOLING_LAST: return "last";
    }
    return "?";
}

bool emb_model_file_changed(const emb_model *m, const char *path)
{
    return m && gguf_file_changed(m->file, path);
}
