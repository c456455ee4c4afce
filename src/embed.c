#include "embed.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

emb_embed_opts emb_embed_opts_default(void)
{
    emb_embed_opts o;
    memset(&o, 0, sizeof o);
    o.prefix = NULL;
    o.dims = 0;
    o.pooling = -1;
    o.normalize = true;
    o.max_tokens = 0;
    o.truncate = true;
    o.batch_tokens = 0;
    o.forward = NULL;
    return o;
}

uint32_t emb_embed_out_dims(const emb_model *m, const emb_embed_opts *opts)
{
    uint32_t E = m->hp.n_embd;
    if (!opts || opts->dims == 0)
        return E;
    return opts->dims <= E ? opts->dims : 0;
}

int emb_embed_pooling(const emb_model *m, const emb_embed_opts *opts)
{
    int p = opts ? opts->pooling : -1;
    if (p == -1)
        return m->hp.pooling == EMB_POOLING_NONE ? EMB_POOLING_MEAN : (int)m->hp.pooling;
    if (p == EMB_POOLING_MEAN || p == EMB_POOLING_CLS || p == EMB_POOLING_LAST)
        return p;
    return -1;
}

void emb_l2_normalize(float *x, size_t n)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    if (sum <= 0.0)
        return;
    float norm = (float)(1.0 / sqrt(sum));
    for (size_t i = 0; i < n; i++)
        x[i] *= norm;
}

size_t emb_embed_finish(float *v, const emb_model *m, const emb_embed_opts *opts)
{
    size_t E = m->hp.n_embd;
    size_t dims = emb_embed_out_dims(m, opts);
    bool matryoshka = opts && opts->dims > 0;
    if (matryoshka && m->hp.arch == EMB_ARCH_NOMIC_BERT) {
        /* F.layer_norm(emb, (E,)): population variance, eps 1e-5, no affine. */
        double mean = 0.0;
        for (size_t i = 0; i < E; i++)
            mean += v[i];
        mean /= (double)E;
        double var = 0.0;
        for (size_t i = 0; i < E; i++)
            var += ((double)v[i] - mean) * ((double)v[i] - mean);
        var /= (double)E;
        double inv = 1.0 / sqrt(var + 1e-5);
        for (size_t i = 0; i < E; i++)
            v[i] = (float)(((double)v[i] - mean) * inv);
    }
    if (!opts || opts->normalize)
        emb_l2_normalize(v, dims);
    return dims;
}

/* ---- tokenization ------------------------------------------------------------ */

typedef struct tokenized {
    emb_token_list list;
    int32_t *ids; /* list.n ids */
} tokenized;

static void tokenized_free(tokenized *t, size_t n)
{
    if (!t)
        return;
    for (size_t i = 0; i < n; i++) {
        emb_token_list_free(&t[i].list);
        free(t[i].ids);
    }
    free(t);
}

/* Tokenize prefix + text into *t (ids with [CLS]/[SEP]), apply the length
 * policy. `idx` names the text in messages. */
static emb_code tokenize_one(tokenized *t, const emb_model *m, const char *prefix, emb_str text,
                             size_t max_tokens, bool truncate, size_t idx, emb_error *err)
{
    emb_code rc;
    char *joined = NULL;
    const char *src = text.ptr ? text.ptr : "";
    size_t len = text.ptr ? text.len : 0;
    size_t plen = prefix ? strlen(prefix) : 0;
    if (plen > 0) {
        if (len > SIZE_MAX - plen - 1) {
            rc = emb_error_set(err, EMB_ERR_RANGE, "embed: text %zu is too long", idx);
            goto end;
        }
        joined = malloc(plen + len + 1);
        if (!joined) {
            rc = emb_error_set(err, EMB_ERR_NOMEM, "embed: out of memory for text %zu (%zu bytes)",
                               idx, plen + len);
            goto end;
        }
        memcpy(joined, prefix, plen);
        if (len)
            memcpy(joined + plen, src, len);
        joined[plen + len] = '\0';
        src = joined;
        len += plen;
    }
    if ((rc = emb_tokenize(m->tokenizer, src, len, true, &t->list, err)) != EMB_OK)
        goto end;
    if (t->list.n > max_tokens) {
        if (!truncate) {
            rc = emb_error_set(err, EMB_ERR_RANGE,
                               "embed: text %zu has %zu tokens (with [CLS] and [SEP]), maximum %zu; "
                               "truncation is off", idx, t->list.n, max_tokens);
            goto end;
        }
        emb_tokens_truncate(&t->list, max_tokens);
    }
    t->ids = malloc((t->list.n ? t->list.n : 1) * sizeof *t->ids);
    if (!t->ids) {
        rc = emb_error_set(err, EMB_ERR_NOMEM, "embed: out of memory for text %zu", idx);
        goto end;
    }
    for (size_t i = 0; i < t->list.n; i++)
        t->ids[i] = t->list.v[i].id;
    rc = EMB_OK;
end:
    free(joined);
    return rc;
}

/* ---- the pipeline -------------------------------------------------------------- */

emb_code emb_embed_texts(float *out, const emb_model *m, const emb_str *texts, size_t n,
                         const emb_embed_opts *opts_in, emb_error *err)
{
    emb_code rc;
    tokenized *tok = NULL;
    emb_seq *seqs = NULL;
    float *pooled = NULL;
    emb_embed_opts opts = opts_in ? *opts_in : emb_embed_opts_default();
    const emb_hparams *hp = &m->hp;
    size_t E = hp->n_embd;

    uint32_t dims = emb_embed_out_dims(m, &opts);
    if (dims == 0) {
        rc = emb_error_set(err, EMB_ERR_RANGE, "embed: dims %u exceeds the model's %u dimensions",
                           opts.dims, hp->n_embd);
        goto end;
    }
    int pooling = emb_embed_pooling(m, &opts);
    if (pooling < 0) {
        rc = emb_error_set(err, EMB_ERR_RANGE,
                           "embed: pooling %d is not one of -1 (file), 1 (mean), 2 (cls), 3 (last)",
                           opts.pooling);
        goto end;
    }
    size_t max_tokens = opts.max_tokens ? opts.max_tokens : emb_hparams_default_max_tokens(hp);
    if (max_tokens < 2) {
        rc = emb_error_set(err, EMB_ERR_RANGE, "embed: max_tokens %zu, minimum 2 ([CLS] and [SEP])",
                           max_tokens);
        goto end;
    }
    if (hp->arch == EMB_ARCH_BERT && max_tokens > hp->n_ctx_train) {
        rc = emb_error_set(err, EMB_ERR_RANGE,
                           "embed: max_tokens %zu exceeds the context length %u of this bert model "
                           "(it has %u learned positions)",
                           max_tokens, hp->n_ctx_train, hp->n_ctx_train);
        goto end;
    }
    size_t longest = hp->n_ctx_train > EMB_EMBED_MAX_TOKENS ? hp->n_ctx_train : EMB_EMBED_MAX_TOKENS;
    if (max_tokens > longest) {
        rc = emb_error_set(err, EMB_ERR_RANGE,
                           "embed: max_tokens %zu exceeds %zu (the larger of the context length %u and "
                           "%zu: attention time grows with the square of the length)",
                           max_tokens, longest, hp->n_ctx_train, EMB_EMBED_MAX_TOKENS);
        goto end;
    }
    if (n == 0) {
        rc = EMB_OK;
        goto end;
    }
    if (!texts) {
        rc = emb_error_set(err, EMB_ERR_RANGE, "embed: %zu texts but no array", n);
        goto end;
    }
    size_t budget = opts.batch_tokens ? opts.batch_tokens : EMB_EMBED_BATCH_TOKENS;

    if (n > SIZE_MAX / sizeof(float) / E) {
        rc = emb_error_set(err, EMB_ERR_RANGE, "embed: %zu texts are too many", n);
        goto end;
    }
    tok = calloc(n, sizeof *tok);
    seqs = calloc(n, sizeof *seqs);
    pooled = malloc(n * E * sizeof *pooled);
    if (!tok || !seqs || !pooled) {
        rc = emb_error_set(err, EMB_ERR_NOMEM, "embed: out of memory for %zu texts", n);
        goto end;
    }
    for (size_t i = 0; i < n; i++) {
        if (opts.forward && opts.forward->cancelled && opts.forward->cancelled(opts.forward->cancel_ctx)) {
            rc = emb_error_set(err, EMB_ERR_INTERRUPTED, "embed: interrupted");
            goto end;
        }
        if ((rc = tokenize_one(&tok[i], m, opts.prefix, texts[i], max_tokens, opts.truncate, i,
                               err)) != EMB_OK)
            goto end;
        seqs[i].ids = tok[i].ids;
        seqs[i].n = tok[i].list.n;
    }

    /* Consecutive texts up to `budget` tokens per forward call: one weight
     * pass serves the whole group. */
    for (size_t first = 0; first < n;) {
        size_t last = first + 1, tokens = seqs[first].n;
        while (last < n && tokens + seqs[last].n <= budget)
            tokens += seqs[last++].n;
        if ((rc = emb_forward(pooled + first * E, m, seqs + first, last - first,
                              (emb_pooling)pooling, opts.forward, err)) != EMB_OK)
            goto end;
        first = last;
    }
    /* The weights were read from the file's mapping: if the file changed
     * while they were (overwritten in place, or cut short: map_guard.h), the
     * numbers are a mix of two files and must not be returned. */
    if (emb_model_file_changed(m, NULL)) {
        rc = emb_error_set(err, EMB_ERR_IO,
                           "embed: the model file %s changed while it was being read; try again (the "
                           "new file is loaded by the next call)",
                           gguf_name(m->file));
        goto end;
    }
    for (size_t i = 0; i < n; i++) {
        emb_embed_finish(pooled + i * E, m, &opts);
        /* A damaged model (weights of NaN or huge values) computes NaN or Inf:
         * an error, never a vector (and never "-nan" in embed_json). */
        for (size_t j = 0; j < dims; j++)
            if (!isfinite(pooled[i * E + j])) {
                rc = emb_error_set(err, EMB_ERR_MODEL,
                                   "embed: the model %s computed a non-finite value (%s) for text %zu at "
                                   "component %zu: its weights are damaged",
                                   gguf_name(m->file), isnan(pooled[i * E + j]) ? "NaN" : "infinity", i, j);
                goto end;
            }
    }
    /* nothing can fail from here on: *out is written only on success */
    for (size_t i = 0; i < n; i++)
        memcpy(out + i * dims, pooled + i * E, dims * sizeof *out);
    rc = EMB_OK;
end:
    tokenized_free(tok, n);
    free(seqs);
    free(pooled);
    return rc;
}
