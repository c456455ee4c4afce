#include "embed.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "embed_batcher.h"

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

/* ---- validation ------------------------------------------------------------------ */

size_t emb_embed_max_tokens(const emb_model *m, const emb_embed_opts *opts)
{
    return opts && opts->max_tokens ? opts->max_tokens : emb_hparams_default_max_tokens(&m->hp);
}

emb_code emb_embed_check(const emb_model *m, const emb_embed_opts *opts_in, emb_error *err)
{
    emb_embed_opts opts = opts_in ? *opts_in : emb_embed_opts_default();
    const emb_hparams *hp = &m->hp;
    if (emb_embed_out_dims(m, &opts) == 0)
        return emb_error_set(err, EMB_ERR_RANGE, "dims %u exceeds the model's %u dimensions",
                             opts.dims, hp->n_embd);
    if (emb_embed_pooling(m, &opts) < 0)
        return emb_error_set(err, EMB_ERR_RANGE,
                             "pooling %d is not one of -1 (file), 1 (mean), 2 (cls), 3 (last)",
                             opts.pooling);
    size_t max_tokens = emb_embed_max_tokens(m, &opts);
    if (max_tokens < 2)
        return emb_error_set(err, EMB_ERR_RANGE, "max_tokens %zu, minimum 2 ([CLS] and [SEP])",
                             max_tokens);
    if (hp->arch == EMB_ARCH_BERT && max_tokens > hp->n_ctx_train)
        return emb_error_set(err, EMB_ERR_RANGE,
                             "max_tokens %zu exceeds the context length %u of this bert model "
                             "(it has %u learned positions)",
                             max_tokens, hp->n_ctx_train, hp->n_ctx_train);
    size_t longest = hp->n_ctx_train > EMB_EMBED_MAX_TOKENS ? hp->n_ctx_train : EMB_EMBED_MAX_TOKENS;
    if (max_tokens > longest)
        return emb_error_set(err, EMB_ERR_RANGE,
                             "max_tokens %zu exceeds %zu (the larger of the context length %u and "
                             "%zu: attention time grows with the square of the length)",
                             max_tokens, longest, hp->n_ctx_train, EMB_EMBED_MAX_TOKENS);
    return EMB_OK;
}

/* ---- the pipeline: one window of the batcher ------------------------------------- */

emb_code emb_embed_texts(float *out, const emb_model *m, const emb_str *texts, size_t n,
                         const emb_embed_opts *opts, emb_error *err)
{
    emb_code rc;
    emb_error local;
    if (!err)
        err = &local; /* the code of a failed create is read from it */
    emb_batcher *b = emb_batcher_create(m, opts, err);
    if (!b)
        return err->code;
    if (n > 0 && !texts) {
        rc = emb_error_set(err, EMB_ERR_RANGE, "%zu texts but no array", n);
        goto end;
    }
    /* The caller holds all n texts and n vectors already: one window, so
     * *out is written only when everything succeeded. */
    for (size_t i = 0; i < n; i++)
        if ((rc = emb_batcher_add(b, texts[i], err)) != EMB_OK)
            goto end;
    if ((rc = emb_batcher_run(b, err)) != EMB_OK)
        goto end;
    uint32_t dims = emb_batcher_dims(b);
    for (size_t i = 0; i < n; i++)
        memcpy(out + i * dims, emb_batcher_vector(b, i), dims * sizeof *out);
    rc = EMB_OK;
end:
    emb_batcher_destroy(b);
    return rc;
}
