#include "embed_batcher.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forward_many.h"
#include "tokenizer.h"

/* Tokenizer scratch above this many bytes is given back after each add(), so
 * one huge input does not pin its buffers for the rest of the stream. */
#define SCRATCH_KEEP_BYTES ((size_t)1 << 20)

struct emb_batcher {
    const emb_model *m;
    emb_embed_opts opts; /* opts.prefix points to prefix */
    char *prefix;        /* owned copy, or NULL */
    size_t prefix_len;
    emb_pooling pooling;
    size_t max_tokens;
    size_t budget;       /* tokens per forward call (at most) */
    bool budget_given;   /* opts.batch_tokens was set: no memory budget */
    uint32_t dims;
    size_t n_added;      /* texts added since create: err->item of add() */

    /* the window: text i has len[i] ids at ids + off[i] */
    size_t n, cap;
    size_t *off, *len;
    int32_t *ids;
    size_t n_ids, cap_ids;
    bool ran;            /* run() succeeded since the last clear */

    /* run(), sized for cap texts */
    size_t *order;       /* texts by token count */
    size_t *rank;        /* inverse of order: text i is order[rank[i]] */
    emb_seq *seqs;       /* in `order`: the sequences of every forward call */
    emb_forward_call *calls; /* the window's forward calls (at most one per text) */
    float *pooled;       /* (cap, n_embd) in `order`: pooled vectors, then the
                            results in place (first dims floats of each row) */

    /* add() scratch */
    emb_token_list toks;
    char *joined;        /* prefix + text */
    size_t joined_cap;
};

emb_batcher *emb_batcher_create(const emb_model *m, const emb_embed_opts *opts_in, emb_error *err)
{
    emb_embed_opts opts = opts_in ? *opts_in : emb_embed_opts_default();
    if (emb_embed_check(m, &opts, err) != EMB_OK)
        return NULL;
    emb_batcher *b = calloc(1, sizeof *b);
    if (!b) {
        emb_error_set(err, EMB_ERR_NOMEM, "out of memory for a batcher");
        return NULL;
    }
    b->m = m;
    b->opts = opts;
    if (opts.prefix && opts.prefix[0]) {
        b->prefix_len = strlen(opts.prefix);
        b->prefix = malloc(b->prefix_len + 1);
        if (!b->prefix) {
            free(b);
            emb_error_set(err, EMB_ERR_NOMEM, "out of memory for a prefix of %zu bytes",
                          strlen(opts.prefix));
            return NULL;
        }
        memcpy(b->prefix, opts.prefix, b->prefix_len + 1);
    }
    b->opts.prefix = b->prefix;
    b->pooling = (emb_pooling)emb_embed_pooling(m, &opts);
    b->max_tokens = emb_embed_max_tokens(m, &opts);
    b->budget = opts.batch_tokens ? opts.batch_tokens : EMB_EMBED_BATCH_TOKENS;
    b->budget_given = opts.batch_tokens != 0;
    b->dims = emb_embed_out_dims(m, &opts);
    return b;
}

void emb_batcher_destroy(emb_batcher *b)
{
    if (!b)
        return;
    free(b->prefix);
    free(b->off);
    free(b->len);
    free(b->ids);
    free(b->order);
    free(b->rank);
    free(b->seqs);
    free(b->calls);
    free(b->pooled);
    emb_token_list_free(&b->toks);
    free(b->joined);
    free(b);
}

uint32_t emb_batcher_dims(const emb_batcher *b)
{
    return b->dims;
}

size_t emb_batcher_count(const emb_batcher *b)
{
    return b->n;
}

bool emb_batcher_full(const emb_batcher *b)
{
    size_t tokens = b->budget <= SIZE_MAX / EMB_BATCHER_WINDOW_BATCHES
                        ? b->budget * EMB_BATCHER_WINDOW_BATCHES
                        : SIZE_MAX;
    return b->n >= EMB_BATCHER_WINDOW_TEXTS || b->n_ids >= tokens;
}

void emb_batcher_clear(emb_batcher *b)
{
    b->n = 0;
    b->n_ids = 0;
    b->ran = false;
}

/* Room for one more text in every per-text array. */
static emb_code grow_texts(emb_batcher *b, emb_error *err)
{
    if (b->n < b->cap)
        return EMB_OK;
    size_t E = b->m->hp.n_embd;
    size_t cap = b->cap ? 2 * b->cap : 1; /* one text (embed()) needs no more */
    if (cap > SIZE_MAX / sizeof(float) / E || cap > SIZE_MAX / sizeof(emb_seq) ||
        cap > SIZE_MAX / sizeof(emb_forward_call))
        return emb_error_set(err, EMB_ERR_NOMEM, "%zu texts in one window are too many", cap);
    /* each realloc keeps the old block on failure; cap is raised only when all succeeded */
    size_t *off = realloc(b->off, cap * sizeof *off);
    if (off)
        b->off = off;
    size_t *len = realloc(b->len, cap * sizeof *len);
    if (len)
        b->len = len;
    size_t *order = realloc(b->order, cap * sizeof *order);
    if (order)
        b->order = order;
    size_t *rank = realloc(b->rank, cap * sizeof *rank);
    if (rank)
        b->rank = rank;
    emb_seq *seqs = realloc(b->seqs, cap * sizeof *seqs);
    if (seqs)
        b->seqs = seqs;
    emb_forward_call *calls = realloc(b->calls, cap * sizeof *calls);
    if (calls)
        b->calls = calls;
    float *pooled = realloc(b->pooled, cap * E * sizeof *pooled);
    if (pooled)
        b->pooled = pooled;
    if (!off || !len || !order || !rank || !seqs || !calls || !pooled)
        return emb_error_set(err, EMB_ERR_NOMEM, "out of memory for a window of %zu texts", cap);
    b->cap = cap;
    return EMB_OK;
}

static emb_code grow_ids(emb_batcher *b, size_t more, emb_error *err)
{
    if (more <= b->cap_ids - b->n_ids)
        return EMB_OK;
    size_t need = b->n_ids + more; /* more <= max_tokens: cannot overflow */
    size_t cap = b->cap_ids ? b->cap_ids : 256;
    while (cap < need)
        cap = cap <= SIZE_MAX / 2 ? 2 * cap : need;
    if (cap > SIZE_MAX / sizeof(int32_t))
        return emb_error_set(err, EMB_ERR_NOMEM, "%zu queued tokens are too many", need);
    int32_t *ids = realloc(b->ids, cap * sizeof *ids);
    if (!ids)
        return emb_error_set(err, EMB_ERR_NOMEM, "out of memory for %zu queued tokens", need);
    b->ids = ids;
    b->cap_ids = cap;
    return EMB_OK;
}

/* prefix + text, in the reused b->joined. */
static emb_code join_prefix(emb_batcher *b, emb_str *text, size_t item, emb_error *err)
{
    size_t len = text->ptr ? text->len : 0;
    if (len > SIZE_MAX - b->prefix_len - 1)
        return emb_error_set_item(err, item, EMB_ERR_RANGE, "the text is too long");
    size_t need = b->prefix_len + len + 1;
    if (need > b->joined_cap) {
        free(b->joined);
        b->joined_cap = 0;
        b->joined = malloc(need);
        if (!b->joined)
            return emb_error_set_item(err, item, EMB_ERR_NOMEM,
                                      "out of memory for the text (%zu bytes with the prefix)",
                                      need - 1);
        b->joined_cap = need;
    }
    memcpy(b->joined, b->prefix, b->prefix_len);
    if (len)
        memcpy(b->joined + b->prefix_len, text->ptr, len);
    b->joined[need - 1] = '\0';
    text->ptr = b->joined;
    text->len = need - 1;
    return EMB_OK;
}

static void trim_scratch(emb_batcher *b)
{
    if (b->joined_cap > SCRATCH_KEEP_BYTES) {
        free(b->joined);
        b->joined = NULL;
        b->joined_cap = 0;
    }
    if (b->toks.cap > SCRATCH_KEEP_BYTES / sizeof(emb_token))
        emb_token_list_free(&b->toks);
    b->toks.n = 0;
}

emb_code emb_batcher_add(emb_batcher *b, emb_str text, emb_error *err)
{
    emb_code rc;
    size_t item = b->n_added++;
    if (b->ran)
        emb_batcher_clear(b);
    const emb_forward_cfg *fc = b->opts.forward;
    if (fc && fc->cancelled && fc->cancelled(fc->cancel_ctx)) /* tokenizing can take long too */
        return emb_error_set(err, EMB_ERR_INTERRUPTED, "interrupted");
    if ((rc = grow_texts(b, err)) != EMB_OK) {
        if (err)
            err->item = item;
        return rc;
    }
    if (b->prefix && (rc = join_prefix(b, &text, item, err)) != EMB_OK)
        goto end;
    b->toks.n = 0;
    if ((rc = emb_tokenize(b->m->tokenizer, text.ptr ? text.ptr : "", text.ptr ? text.len : 0, true,
                           &b->toks, err)) != EMB_OK) {
        if (err)
            err->item = item;
        goto end;
    }
    if (b->toks.n > b->max_tokens) {
        if (!b->opts.truncate) {
            rc = emb_error_set_item(err, item, EMB_ERR_RANGE,
                                    "the text has %zu tokens (with [CLS] and [SEP]), maximum %zu; "
                                    "truncation is off",
                                    b->toks.n, b->max_tokens);
            goto end;
        }
        emb_tokens_truncate(&b->toks, b->max_tokens);
    }
    if ((rc = grow_ids(b, b->toks.n, err)) != EMB_OK) {
        if (err)
            err->item = item;
        goto end;
    }
    b->off[b->n] = b->n_ids;
    b->len[b->n] = b->toks.n;
    for (size_t i = 0; i < b->toks.n; i++)
        b->ids[b->n_ids + i] = b->toks.v[i].id;
    b->n_ids += b->toks.n;
    b->n++;
    rc = EMB_OK;
end:
    trim_scratch(b);
    return rc;
}

/* qsort context: C11 qsort has none, so the keys travel with the indices. */
typedef struct sort_key {
    size_t len, index;
} sort_key;

static int cmp_key(const void *pa, const void *pb)
{
    const sort_key *a = pa, *b = pb;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* order[] = texts by (token count, index). `keys` is scratch of n entries. */
static void sort_by_length(emb_batcher *b, sort_key *keys)
{
    for (size_t i = 0; i < b->n; i++) {
        keys[i].len = b->len[i];
        keys[i].index = i;
    }
    qsort(keys, b->n, sizeof *keys, cmp_key);
    for (size_t i = 0; i < b->n; i++) {
        b->order[i] = keys[i].index;
        b->rank[keys[i].index] = i;
    }
}

/* Tokens per forward call: the largest count up to the token budget whose
 * workspace (on one thread, so that the packing, and with it the rounding of
 * every vector, does not depend on the thread count) fits
 * EMB_BATCHER_WORKSPACE_BYTES, in steps of 16; at least 16. An explicit
 * opts.batch_tokens is used as given. */
static size_t call_tokens(const emb_batcher *b, size_t max_len)
{
    if (b->budget_given || b->n == 1) /* one text runs alone whatever the budget */
        return b->budget;
    emb_forward_cfg one = b->opts.forward ? *b->opts.forward : (emb_forward_cfg){0};
    one.threads = 1;
    size_t t = b->n_ids < b->budget ? b->n_ids : b->budget; /* a small window: one check */
    while (t > 16) {
        size_t len = max_len < t ? max_len : t;
        if (emb_forward_workspace_bytes(b->m, t, len, &one) <= EMB_BATCHER_WORKSPACE_BYTES)
            break;
        t = t > 32 ? (t - 1) / 16 * 16 : 16;
    }
    return t;
}

emb_code emb_batcher_run(emb_batcher *b, emb_error *err)
{
    emb_code rc;
    size_t E = b->m->hp.n_embd;
    if (b->n == 0) {
        b->ran = true;
        return EMB_OK;
    }
    sort_key *keys = malloc(b->n * sizeof *keys);
    if (!keys)
        return emb_error_set(err, EMB_ERR_NOMEM, "out of memory for sorting %zu texts", b->n);
    sort_by_length(b, keys);
    free(keys);
    size_t budget = call_tokens(b, b->len[b->order[b->n - 1]]);

    /* As few calls as the budget allows, evened out: a window of 4,200 tokens
     * with a budget of 512 becomes 9 calls of ~467 tokens, not 8 full ones
     * and a 104-token straggler (thin products are slow per token). Texts
     * longer than the budget run alone, last (the order is by length): the
     * calls before them are the packed ones, of bounded size, which may run
     * side by side (forward_many.h). */
    size_t n_calls = b->n_ids / budget + (b->n_ids % budget != 0);
    size_t target = b->n_ids / n_calls + (b->n_ids % n_calls != 0);
    size_t built = 0, packed = 0;
    for (size_t first = 0; first < b->n; built++) {
        size_t last = first, tokens = 0;
        do {
            size_t t = b->order[last];
            b->seqs[last].ids = b->ids + b->off[t];
            b->seqs[last].n = b->len[t];
            tokens += b->len[t];
            last++;
        } while (last < b->n && tokens < target && tokens + b->len[b->order[last]] <= budget);
        b->calls[built] = (emb_forward_call){b->pooled + first * E, b->seqs + first, last - first};
        if (tokens <= budget)
            packed = built + 1;
        first = last;
    }
    if ((rc = emb_forward_many(b->m, b->calls, built, packed, b->pooling, b->opts.forward, err)) !=
        EMB_OK)
        return rc;
    /* The weights were read from the file's mapping: if the file changed
     * while they were (overwritten in place, or cut short: map_guard.h), the
     * numbers are a mix of two files and must not be returned. */
    if (emb_model_file_changed(b->m, NULL))
        return emb_error_set(err, EMB_ERR_IO,
                             "the model file %s changed while it was being read; try again (the new "
                             "file is loaded by the next call)",
                             gguf_name(b->m->file));
    for (size_t k = 0; k < b->n; k++) {
        float *v = b->pooled + k * E;
        emb_embed_finish(v, b->m, &b->opts);
        /* A damaged model (weights of NaN or huge values) computes NaN or Inf:
         * an error, never a vector (and never "-nan" in embed_json). */
        for (size_t j = 0; j < b->dims; j++)
            if (!isfinite(v[j]))
                return emb_error_set_item(err, b->n_added - b->n + b->order[k], EMB_ERR_MODEL,
                                          "the model %s computed a non-finite value (%s) for the text "
                                          "at component %zu: its weights are damaged",
                                          gguf_name(b->m->file), isnan(v[j]) ? "NaN" : "infinity", j);
    }
    b->ran = true;
    return EMB_OK;
}

const float *emb_batcher_vector(const emb_batcher *b, size_t i)
{
    if (!b->ran || i >= b->n)
        return NULL;
    return b->pooled + b->rank[i] * (size_t)b->m->hp.n_embd;
}

size_t emb_batcher_tokens(const emb_batcher *b, size_t i)
{
    if (!b->ran || i >= b->n)
        return 0;
    return b->len[i];
}
