/*
 * test_forward: the fast forward pass against its naive scalar twin, and the
 * embedding pipeline (batching, pooling, Matryoshka, truncation, prefixes,
 * determinism, threads).
 *
 * The twin (forward_ref.c) shares no arithmetic with forward.c; the absolute
 * numbers of both are checked against the independent numpy implementation
 * in test_forward_golden.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "embed.h"
#include "forward.h"
#include "ggml_types.h"
#include "matmul_panel.h"
#include "quant.h"
#include "tiny_model.h"

/* ---- helpers -------------------------------------------------------------------- */

/* Fails with the largest difference and the first values beyond tol, where
 * the tolerance is tol * max(1, max |want|). SHOW_DIFF=1 in the environment
 * prints every comparison's largest difference (to see the margins). */
static void check_close(const char *what, const float *got, const float *want, size_t n, double tol)
{
    double scale = 1.0, worst = 0.0;
    size_t worst_i = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(want[i]) > scale)
            scale = fabs(want[i]);
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= worst)) { /* also catches NaN */
            worst = isnan(d) ? INFINITY : d;
            worst_i = i;
        }
    }
    if (getenv("SHOW_DIFF"))
        print_message("%s: max |diff| %.3g rel %.3g\n", what, worst, worst / scale);
    if (worst <= tol * scale)
        return;
    char first[512] = "";
    size_t len = 0, shown = 0;
    for (size_t i = 0; i < n && shown < 4; i++) {
        if (!(fabs((double)got[i] - (double)want[i]) <= tol * scale)) {
            len += (size_t)snprintf(first + len, sizeof first - len, " [%zu] got %.9g want %.9g;", i,
                                    (double)got[i], (double)want[i]);
            shown++;
        }
    }
    fail_msg("%s: max |diff| %.3g at [%zu] (got %.9g, want %.9g), tolerance %.3g; first:%s", what,
             worst, worst_i, (double)got[worst_i], (double)want[worst_i], tol * scale, first);
}

static emb_model *load(const tiny_model_spec *s, uint8_t **img)
{
    emb_error err;
    emb_error_clear(&err);
    emb_model *m = tiny_model_load(s, img, &err);
    if (!m)
        fail_msg("tiny model: %s", err.msg);
    return m;
}

static void unload(emb_model *m, uint8_t *img)
{
    emb_model_destroy(m);
    free(img);
}

/* Deterministic id sequences: [CLS] x.. [SEP] with lengths lens[]. */
typedef struct batch {
    int32_t ids[8][64];
    emb_seq seqs[8];
    size_t n;
} batch;

static void make_batch(batch *b, const emb_model *m, const size_t *lens, size_t n)
{
    emb_special_ids sp = emb_tokenizer_special(m->tokenizer);
    b->n = n;
    for (size_t s = 0; s < n; s++) {
        for (size_t t = 0; t < lens[s]; t++)
            b->ids[s][t] = (int32_t)(5 + (s * 37 + t * 11) % (m->hp.n_vocab - 5));
        b->ids[s][0] = sp.cls;
        b->ids[s][lens[s] - 1] = sp.sep;
        b->seqs[s].ids = b->ids[s];
        b->seqs[s].n = lens[s];
    }
}

static void forward_ok(float *out, const emb_model *m, const emb_seq *seqs, size_t n, emb_pooling p,
                       const emb_forward_cfg *cfg)
{
    emb_error err;
    emb_error_clear(&err);
    if (emb_forward(out, m, seqs, n, p, cfg, &err) != EMB_OK)
        fail_msg("emb_forward: %s", err.msg);
}

static void forward_ref_ok(float *out, const emb_model *m, const emb_seq *seqs, size_t n, emb_pooling p)
{
    emb_error err;
    emb_error_clear(&err);
    if (emb_forward_ref(out, m, seqs, n, p, &err) != EMB_OK)
        fail_msg("emb_forward_ref: %s", err.msg);
}

/* ---- fast vs naive, every type -------------------------------------------------- */

static const uint32_t TYPES[] = {
    GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1,
    GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K,
    GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS,
};

static void fast_vs_ref_lens(const tiny_model_spec *s, const emb_forward_cfg *cfg, const size_t *lens,
                             size_t n_seqs)
{
    uint8_t *img;
    emb_model *m = load(s, &img);
    batch b;
    make_batch(&b, m, lens, n_seqs);
    size_t E = m->hp.n_embd;
    float *fast = malloc(n_seqs * E * sizeof(float)), *ref = malloc(n_seqs * E * sizeof(float));
    assert_non_null(fast);
    assert_non_null(ref);
    for (int p = EMB_POOLING_MEAN; p <= EMB_POOLING_LAST; p++) {
        forward_ok(fast, m, b.seqs, b.n, (emb_pooling)p, cfg);
        forward_ref_ok(ref, m, b.seqs, b.n, (emb_pooling)p);
        char what[128];
        snprintf(what, sizeof what, "%s %s/%s/%s pooling %s",
                 emb_arch_name(s->arch), ggml_type_name(s->mat_type), ggml_type_name(s->embd_type),
                 ggml_type_name(s->vec_type), emb_pooling_name((emb_pooling)p));
        check_close(what, fast, ref, n_seqs * E, 2e-5);
    }
    free(fast);
    free(ref);
    unload(m, img);
}

/* 5 sequences, 63 tokens: the many-token path. */
static void fast_vs_ref(const tiny_model_spec *s, const emb_forward_cfg *cfg)
{
    static const size_t lens[] = {3, 17, 2, 32, 9};
    fast_vs_ref_lens(s, cfg, lens, 5);
}

static void test_fast_vs_ref_bert_all_types(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++) {
        tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, TYPES[i]);
        fast_vs_ref(&s, NULL);
    }
}

static void test_fast_vs_ref_nomic_all_types(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++) {
        tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, TYPES[i]);
        fast_vs_ref(&s, NULL);
    }
}

/* 1-D tensors and embeddings in non-F32 types (any type in any position). */
static void test_fast_vs_ref_mixed(void **state)
{
    (void)state;
    for (int a = 0; a < 2; a++) {
        tiny_model_spec s = tiny_model_default(a ? EMB_ARCH_NOMIC_BERT : EMB_ARCH_BERT, GGML_TYPE_Q8_0);
        s.vec_type = GGML_TYPE_F16;
        s.embd_type = GGML_TYPE_Q5_1;
        fast_vs_ref(&s, NULL);
        s.vec_type = GGML_TYPE_BF16;
        s.embd_type = GGML_TYPE_F32;
        s.mat_type = GGML_TYPE_F16;
        fast_vs_ref(&s, NULL);
    }
}

/* Tiny tiles (chunk remainders: 64-wide rows, 3 rows per tile) and small
 * attention blocks (remainders of 5-row blocks) change nothing. */
static void test_small_tiles_and_blocks(void **state)
{
    (void)state;
    emb_forward_cfg cfg = {.tile_bytes = 3 * 64 * sizeof(float), .attn_rows = 5, .willneed = true};
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_Q4_0);
    fast_vs_ref(&s, &cfg);
    s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_F16);
    fast_vs_ref(&s, &cfg);
    cfg.tile_bytes = 1; /* below one row: still one row per chunk */
    fast_vs_ref(&s, &cfg);
}

/* At most EMB_FORWARD_FEW_TOKENS tokens the products run in smaller row
 * chunks, F32 weights included (read in place chunk by chunk). */
static void test_fast_vs_ref_few_tokens(void **state)
{
    (void)state;
    static const size_t two[] = {3, 9}, one[] = {14};
    emb_forward_cfg tiny_tiles = {.tile_bytes = 3 * 64 * sizeof(float)};
    static const uint32_t types[] = {GGML_TYPE_F32, GGML_TYPE_Q8_0};
    for (int a = 0; a < 2; a++)
        for (size_t t = 0; t < 2; t++) {
            tiny_model_spec s = tiny_model_default(a ? EMB_ARCH_NOMIC_BERT : EMB_ARCH_BERT, types[t]);
            fast_vs_ref_lens(&s, NULL, two, 2);
            fast_vs_ref_lens(&s, NULL, one, 1);
            fast_vs_ref_lens(&s, &tiny_tiles, two, 2);
        }
}

/* nomic rope dims below the head size: NEOX pairs (i, i + n_rot/2) only over
 * the first n_rot dims; and a linear rope scaling. */
static void test_rope_variants(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_F32);
    uint8_t *img;
    emb_model *m = load(&s, &img);
    static const size_t lens[] = {20, 7};
    batch b;
    make_batch(&b, m, lens, 2);
    float fast[2 * 64], ref[2 * 64], base[2 * 64];
    forward_ok(base, m, b.seqs, 2, EMB_POOLING_MEAN, NULL);
    m->hp.n_rot = 8; /* tests may tweak their own model's hparams */
    forward_ok(fast, m, b.seqs, 2, EMB_POOLING_MEAN, NULL);
    forward_ref_ok(ref, m, b.seqs, 2, EMB_POOLING_MEAN);
    check_close("n_rot 8", fast, ref, 128, 2e-5);
    m->hp.n_rot = 16;
    m->hp.rope_freq_scale = 0.25f;
    forward_ok(fast, m, b.seqs, 2, EMB_POOLING_MEAN, NULL);
    forward_ref_ok(ref, m, b.seqs, 2, EMB_POOLING_MEAN);
    check_close("freq scale 0.25", fast, ref, 128, 2e-5);
    /* and the rotation matters at all: the result moved */
    double moved = 0;
    for (int i = 0; i < 128; i++)
        moved += fabs(fast[i] - base[i]);
    assert_true(moved > 1e-3);
    unload(m, img);
}

/* ---- batching ------------------------------------------------------------------- */

static void test_batch_equals_one_by_one(void **state)
{
    (void)state;
    for (int a = 0; a < 2; a++) {
        tiny_model_spec s = tiny_model_default(a ? EMB_ARCH_NOMIC_BERT : EMB_ARCH_BERT, GGML_TYPE_F16);
        uint8_t *img;
        emb_model *m = load(&s, &img);
        static const size_t lens[] = {5, 31, 2, 12, 32, 8};
        batch b;
        make_batch(&b, m, lens, 6);
        float all[6 * 64], one[6 * 64];
        for (int p = EMB_POOLING_MEAN; p <= EMB_POOLING_LAST; p++) {
            forward_ok(all, m, b.seqs, 6, (emb_pooling)p, NULL);
            for (size_t i = 0; i < 6; i++)
                forward_ok(one + i * 64, m, &b.seqs[i], 1, (emb_pooling)p, NULL);
            check_close("batched vs one by one", all, one, 6 * 64, 1e-5);
        }
        unload(m, img);
    }
}

static void test_deterministic(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_Q4_K);
    uint8_t *img;
    emb_model *m = load(&s, &img);
    static const size_t lens[] = {9, 30};
    batch b;
    make_batch(&b, m, lens, 2);
    float x[2 * 256], y[2 * 256];
    forward_ok(x, m, b.seqs, 2, EMB_POOLING_MEAN, NULL);
    forward_ok(y, m, b.seqs, 2, EMB_POOLING_MEAN, NULL);
    assert_memory_equal(x, y, sizeof x);
    unload(m, img);
}

/* ---- pooling ---------------------------------------------------------------------- */

/* cls = first token's state, last = last token's: a one-token sequence makes
 * all three poolings equal; for longer ones they differ. */
static void test_pooling_variants(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    uint8_t *img;
    emb_model *m = load(&s, &img);
    static const size_t lens1[] = {1};
    batch b;
    make_batch(&b, m, lens1, 1);
    float mean[64], cls[64], last[64];
    forward_ok(mean, m, b.seqs, 1, EMB_POOLING_MEAN, NULL);
    forward_ok(cls, m, b.seqs, 1, EMB_POOLING_CLS, NULL);
    forward_ok(last, m, b.seqs, 1, EMB_POOLING_LAST, NULL);
    check_close("1 token mean vs cls", mean, cls, 64, 1e-6);
    check_close("1 token last vs cls", last, cls, 64, 1e-6);
    static const size_t lens2[] = {10};
    make_batch(&b, m, lens2, 1);
    forward_ok(mean, m, b.seqs, 1, EMB_POOLING_MEAN, NULL);
    forward_ok(cls, m, b.seqs, 1, EMB_POOLING_CLS, NULL);
    forward_ok(last, m, b.seqs, 1, EMB_POOLING_LAST, NULL);
    assert_true(memcmp(mean, cls, sizeof mean) != 0);
    assert_true(memcmp(last, cls, sizeof last) != 0);
    unload(m, img);
}

/* Pipeline: pooling from the file, NONE in the file -> MEAN, explicit override. */
static void test_pipeline_pooling_policy(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    s.pooling = -1; /* no key: NONE */
    uint8_t *img;
    emb_model *m = load(&s, &img);
    emb_str text = {"hello world", 11};
    emb_embed_opts o = emb_embed_opts_default();
    emb_error err;
    float def[64], mean[64], cls[64];
    assert_int_equal(emb_embed_pooling(m, &o), EMB_POOLING_MEAN);
    assert_int_equal(emb_embed_texts(def, m, &text, 1, &o, &err), EMB_OK);
    o.pooling = EMB_POOLING_MEAN;
    assert_int_equal(emb_embed_texts(mean, m, &text, 1, &o, &err), EMB_OK);
    assert_memory_equal(def, mean, sizeof def);
    o.pooling = EMB_POOLING_CLS;
    assert_int_equal(emb_embed_texts(cls, m, &text, 1, &o, &err), EMB_OK);
    assert_true(memcmp(cls, mean, sizeof cls) != 0);
    o.pooling = EMB_POOLING_NONE;
    assert_int_equal(emb_embed_texts(cls, m, &text, 1, &o, &err), EMB_ERR_RANGE);
    assert_string_equal(err.msg, "pooling 0 is not one of -1 (file), 1 (mean), 2 (cls), 3 (last)");
    unload(m, img);
}

/* ---- normalization and Matryoshka --------------------------------------------------- */

static double norm2(const float *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return sqrt(s);
}

static void test_l2_normalize(void **state)
{
    (void)state;
    float z[5] = {0};
    emb_l2_normalize(z, 5);
    for (int i = 0; i < 5; i++)
        assert_true(z[i] == 0.0f);
    float v[3] = {3, 0, -4};
    emb_l2_normalize(v, 3);
    assert_true(fabsf(v[0] - 0.6f) < 1e-7f && v[1] == 0.0f && fabsf(v[2] + 0.8f) < 1e-7f);
}

/* Expected Matryoshka from the plain pooled vector, computed here with plain
 * loops from docs/format.md §8 (nomic: subtract the mean of all components, truncate,
 * L2; bert: truncate, L2). */
static void expect_matryoshka(float *want, const float *pooled, size_t E, size_t dims, bool nomic)
{
    double mean = 0;
    if (nomic) {
        for (size_t i = 0; i < E; i++)
            mean += pooled[i];
        mean /= (double)E;
    }
    double s = 0;
    for (size_t i = 0; i < dims; i++)
        s += (pooled[i] - mean) * (pooled[i] - mean);
    for (size_t i = 0; i < dims; i++)
        want[i] = (float)((pooled[i] - mean) / sqrt(s));
}

static void test_matryoshka(void **state)
{
    (void)state;
    for (int a = 0; a < 2; a++) {
        bool nomic = a == 1;
        tiny_model_spec s = tiny_model_default(nomic ? EMB_ARCH_NOMIC_BERT : EMB_ARCH_BERT, GGML_TYPE_F16);
        uint8_t *img;
        emb_model *m = load(&s, &img);
        emb_str texts[2] = {{"the quick brown fox", 19}, {"hello", 5}};
        emb_embed_opts o = emb_embed_opts_default();
        o.normalize = false;
        emb_error err;
        float pooled[2 * 64], full[2 * 64], got[2 * 16], want[16];
        assert_int_equal(emb_embed_texts(pooled, m, texts, 2, &o, &err), EMB_OK);
        o.normalize = true;
        assert_int_equal(emb_embed_out_dims(m, &o), 64);
        assert_int_equal(emb_embed_texts(full, m, texts, 2, &o, &err), EMB_OK);
        assert_true(fabs(norm2(full, 64) - 1.0) < 1e-6);
        o.dims = 16;
        assert_int_equal(emb_embed_out_dims(m, &o), 16);
        assert_int_equal(emb_embed_texts(got, m, texts, 2, &o, &err), EMB_OK);
        for (int t = 0; t < 2; t++) {
            expect_matryoshka(want, pooled + t * 64, 64, 16, nomic);
            check_close(nomic ? "nomic matryoshka 16" : "bert truncation 16", got + t * 16, want, 16, 1e-6);
            assert_true(fabs(norm2(got + t * 16, 16) - 1.0) < 1e-6);
        }
        /* nomic without normalization: the card's layer_norm, then truncate */
        if (nomic) {
            o.normalize = false;
            assert_int_equal(emb_embed_texts(got, m, texts, 2, &o, &err), EMB_OK);
            double mean = 0, var = 0;
            for (int i = 0; i < 64; i++)
                mean += pooled[i];
            mean /= 64;
            for (int i = 0; i < 64; i++)
                var += (pooled[i] - mean) * (pooled[i] - mean);
            var /= 64;
            for (int i = 0; i < 16; i++)
                want[i] = (float)((pooled[i] - mean) / sqrt(var + 1e-5));
            check_close("nomic layer_norm truncate", got, want, 16, 1e-6);
        }
        o.dims = 65;
        assert_int_equal(emb_embed_out_dims(m, &o), 0);
        assert_int_equal(emb_embed_texts(got, m, texts, 2, &o, &err), EMB_ERR_RANGE);
        assert_string_equal(err.msg, "dims 65 exceeds the model's 64 dimensions");
        unload(m, img);
    }
}

/* ---- tokens: truncation, prefixes ------------------------------------------------------ */

static void test_truncation(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    uint8_t *img;
    emb_model *m = load(&s, &img);
    const char *long_text = "a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 4 5 6 7 8 9";
    emb_str text = {long_text, strlen(long_text)};
    emb_token_list toks = {0};
    emb_error err;
    assert_int_equal(emb_tokenize(m->tokenizer, text.ptr, text.len, true, &toks, &err), EMB_OK);
    assert_int_equal(toks.n, 38);

    /* max_tokens 8: [CLS] + first 6 pieces + [SEP], same as the forward on those ids */
    emb_embed_opts o = emb_embed_opts_default();
    o.max_tokens = 8;
    o.normalize = false;
    float got[64], want[64];
    assert_int_equal(emb_embed_texts(got, m, &text, 1, &o, &err), EMB_OK);
    int32_t ids[8];
    for (int i = 0; i < 7; i++)
        ids[i] = toks.v[i].id;
    ids[7] = toks.v[37].id;
    assert_int_equal(ids[7], emb_tokenizer_special(m->tokenizer).sep);
    emb_seq seq = {ids, 8};
    forward_ok(want, m, &seq, 1, EMB_POOLING_MEAN, NULL);
    assert_memory_equal(got, want, sizeof got);

    /* default max_tokens = context length 32 for this model */
    o.max_tokens = 0;
    assert_int_equal(emb_embed_texts(got, m, &text, 1, &o, &err), EMB_OK);
    o.max_tokens = 32;
    assert_int_equal(emb_embed_texts(want, m, &text, 1, &o, &err), EMB_OK);
    assert_memory_equal(got, want, sizeof got);

    /* a file with sentence-transformers' max_seq_length: that is the default */
    {
        tiny_model_spec s16 = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
        s16.max_seq_length = 8;
        uint8_t *img16;
        emb_model *m16 = load(&s16, &img16);
        emb_embed_opts d = emb_embed_opts_default();
        d.normalize = false;
        assert_int_equal(emb_embed_texts(got, m16, &text, 1, &d, &err), EMB_OK);
        forward_ok(want, m16, &seq, 1, EMB_POOLING_MEAN, NULL); /* the 8-token ids above */
        assert_memory_equal(got, want, sizeof got);
        d.max_tokens = 32; /* the option overrides it, up to the context length */
        assert_int_equal(emb_embed_texts(got, m16, &text, 1, &d, &err), EMB_OK);
        o.max_tokens = 32;
        o.truncate = true;
        assert_int_equal(emb_embed_texts(want, m, &text, 1, &o, &err), EMB_OK);
        assert_memory_equal(got, want, sizeof got);
        unload(m16, img16);
    }

    /* truncation off: an error naming the count and the limit */
    o.truncate = false;
    emb_str texts[2] = {{"hello", 5}, text};
    float two[2 * 64];
    assert_int_equal(emb_embed_texts(two, m, texts, 2, &o, &err), EMB_ERR_RANGE);
    /* the failing text is named by err.item, not in the message */
    assert_string_equal(err.msg, "the text has 38 tokens (with [CLS] and [SEP]), maximum 32; truncation is off");
    assert_int_equal(err.item, 1);
    /* bert cannot go past its learned positions */
    o.max_tokens = 33;
    assert_int_equal(emb_embed_texts(two, m, texts, 1, &o, &err), EMB_ERR_RANGE);
    assert_int_equal(err.item, EMB_ERROR_NO_ITEM);
    assert_string_equal(err.msg, "max_tokens 33 exceeds the context length 32 of this bert model "
                                 "(it has 32 learned positions)");
    o.max_tokens = 1;
    assert_int_equal(emb_embed_texts(two, m, texts, 1, &o, &err), EMB_ERR_RANGE);
    assert_string_equal(err.msg, "max_tokens 1, minimum 2 ([CLS] and [SEP])");
    emb_token_list_free(&toks);
    unload(m, img);
}

/* nomic may run past its training context (RoPE has no table). */
static void test_nomic_beyond_context(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_F32);
    uint8_t *img;
    emb_model *m = load(&s, &img);
    const char *long_text = "a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 4 5 6 7 8 9";
    emb_str text = {long_text, strlen(long_text)};
    emb_embed_opts o = emb_embed_opts_default();
    o.max_tokens = 40;
    o.truncate = false;
    float got[64];
    emb_error err;
    assert_int_equal(emb_embed_texts(got, m, &text, 1, &o, &err), EMB_OK);
    assert_true(fabs(norm2(got, 64) - 1.0) < 1e-6);
    unload(m, img);
}

static void test_prefix(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_Q8_0);
    uint8_t *img;
    emb_model *m = load(&s, &img);
    emb_str joined = {"search_query: hello world", 25};
    emb_str plain = {"hello world", 11};
    emb_embed_opts o = emb_embed_opts_default();
    emb_error err;
    float a[64], b[64], c[64];
    assert_int_equal(emb_embed_texts(a, m, &joined, 1, &o, &err), EMB_OK);
    o.prefix = "search_query: ";
    assert_int_equal(emb_embed_texts(b, m, &plain, 1, &o, &err), EMB_OK);
    assert_memory_equal(a, b, sizeof a);
    o.prefix = NULL;
    assert_int_equal(emb_embed_texts(c, m, &plain, 1, &o, &err), EMB_OK);
    assert_true(memcmp(a, c, sizeof a) != 0);
    unload(m, img);
}

/* Batching in the pipeline: a budget of a few tokens (one text per forward)
 * and a big one (all in one forward) agree; empty text -> [CLS][SEP]. */
static void test_pipeline_batches(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_Q5_0);
    uint8_t *img;
    emb_model *m = load(&s, &img);
    emb_str texts[5] = {{"hello world", 11}, {"", 0}, {"the quick brown fox!", 20}, {NULL, 0}, {"embedding", 9}};
    emb_embed_opts o = emb_embed_opts_default();
    emb_error err;
    float small[5 * 64], big[5 * 64];
    o.batch_tokens = 1;
    assert_int_equal(emb_embed_texts(small, m, texts, 5, &o, &err), EMB_OK);
    o.batch_tokens = 10000;
    assert_int_equal(emb_embed_texts(big, m, texts, 5, &o, &err), EMB_OK);
    check_close("pipeline batch budget", big, small, 5 * 64, 1e-5);
    /* same ids at another row of the batch: BLAS kernels may round rows at
     * different positions differently (seen under valgrind's CPU), so close,
     * not bitwise */
    check_close("empty == NULL text", big + 64, big + 3 * 64, 64, 1e-6);
    for (int i = 0; i < 5; i++)
        assert_true(fabs(norm2(big + i * 64, 64) - 1.0) < 1e-6);
    /* n = 0 is a no-op that touches nothing */
    assert_int_equal(emb_embed_texts(NULL, m, NULL, 0, &o, &err), EMB_OK);
    unload(m, img);
}

/* ---- input checks ------------------------------------------------------------------- */

static void test_forward_rejects_bad_input(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    uint8_t *img;
    emb_model *m = load(&s, &img);
    float out[64];
    float sentinel[64];
    memset(out, 0x5a, sizeof out);
    memcpy(sentinel, out, sizeof out);
    emb_error err;
    int32_t ids[40] = {2, 7, 3};
    emb_seq seq = {ids, 3};
    ids[1] = (int32_t)m->hp.n_vocab;
    assert_int_equal(emb_forward(out, m, &seq, 1, EMB_POOLING_MEAN, NULL, &err), EMB_ERR_RANGE);
    char want[160];
    snprintf(want, sizeof want, "forward: sequence 0 token 1: id %u outside the vocabulary [0, %u)",
             m->hp.n_vocab, m->hp.n_vocab);
    assert_string_equal(err.msg, want);
    ids[1] = -1;
    assert_int_equal(emb_forward_ref(out, m, &seq, 1, EMB_POOLING_MEAN, &err), EMB_ERR_RANGE);
    ids[1] = 7;
    seq.n = 0;
    assert_int_equal(emb_forward(out, m, &seq, 1, EMB_POOLING_MEAN, NULL, &err), EMB_ERR_RANGE);
    assert_string_equal(err.msg, "forward: sequence 0 has no tokens");
    seq.n = 33;
    assert_int_equal(emb_forward(out, m, &seq, 1, EMB_POOLING_MEAN, NULL, &err), EMB_ERR_RANGE);
    assert_string_equal(err.msg, "forward: sequence 0 has 33 tokens, the model's context length is 32");
    seq.n = 3;
    assert_int_equal(emb_forward(out, m, &seq, 1, EMB_POOLING_NONE, NULL, &err), EMB_ERR_RANGE);
    assert_string_equal(err.msg, "forward: pooling 'none' does not give one vector per sequence (use "
                                 "mean, cls or last)");
    assert_memory_equal(out, sentinel, sizeof out); /* out untouched on error */
    unload(m, img);
}

static void test_workspace_formula(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_F16);
    uint8_t *img;
    emb_model *m = load(&s, &img);
    /* E 64, F 128, 4 heads of D 16, T 100, L 40, F16 (1 MiB tile budget):
     *   h      100*64 = 6400
     *   a      max(6400, Bf (100) * (2*128 + 64)) = 32000 (fc = F: fits 1 MiB)
     *   out    Bo (100) * 64 = 6400, in the free 32000 - 6400 = 25600 floats of a
     *   rope   40 * 16 = 640
     *   vecs   max(3*64, 128) + max(64, 128) = 192 + 128
     *   pool   64 doubles
     *   per thread: tile max(q/k/v per head 16*64, Wo 64*64, up/gate 128*64,
     *               down 64*128) = 8192 for dequantize + sgemm (the scalar
     *               level), EMB_PANEL_SCRATCH_FLOATS where the thin and panel
     *               kernels compute every product (AVX2, AVX-512);
     *               kv 100 * 32 = 3200 (in a while threads * 3200 <= 25600);
     *               scores 40 * 40 = 1600
     * every part is a multiple of 64 bytes already */
    const bool simd = strcmp(emb_quant_simd_level(), "scalar") != 0;
    const size_t tile = simd ? EMB_PANEL_SCRATCH_FLOATS : 8192;
    size_t shared = (6400 + 32000 + 640 + 192 + 128) * 4 + 64 * 8;
    size_t per_thread = (tile + 1600) * 4;
    emb_forward_cfg cfg = {.threads = 1};
    assert_int_equal(emb_forward_workspace_bytes(m, 100, 40, &cfg), shared + per_thread);
    cfg.threads = 3;
    assert_int_equal(emb_forward_workspace_bytes(m, 100, 40, &cfg), shared + 3 * per_thread);
    cfg.threads = 8; /* 8 * 3200 = 25600 still fit */
    assert_int_equal(emb_forward_workspace_bytes(m, 100, 40, &cfg), shared + 8 * per_thread);
    cfg.threads = 9; /* 9 k|v do not: each thread's in its own mapping */
    assert_int_equal(emb_forward_workspace_bytes(m, 100, 40, &cfg),
                     shared + 9 * (per_thread + 3200 * 4));
    /* blocks of 32 tokens and a 4-byte FFN budget (1 float: nothing fits, so
     * the smallest chunk, fc = 1 for F16): Bf = Bo = 32; a = max(6400,
     * 32 * (2 + 64)); out 32 * 64; the down tile becomes 64 rows * 1 column
     * (the up/gate tile 8192 stays the largest at the scalar level); a has no
     * free floats, so out and kv get their own */
    per_thread = (tile + 3200 + 1600) * 4;
    cfg.threads = 1;
    cfg.block_tokens = 32;
    cfg.ffn_bytes = 4;
    shared = (6400 + 6400 + 2048 + 640 + 192 + 128) * 4 + 64 * 8;
    assert_int_equal(emb_forward_workspace_bytes(m, 100, 40, &cfg), shared + per_thread);
    assert_int_equal(emb_forward_workspace_bytes(m, SIZE_MAX / 8, 40, NULL), SIZE_MAX);
    if (simd) {
        /* dequantize + sgemm sizing (the 8192-float tile) at the scalar level */
        cfg.block_tokens = 0;
        cfg.ffn_bytes = 0;
        shared = (6400 + 32000 + 640 + 192 + 128) * 4 + 64 * 8;
        const char *level = emb_quant_simd_level();
        assert_true(emb_quant_force_level("scalar"));
        assert_int_equal(emb_forward_workspace_bytes(m, 100, 40, &cfg), shared + (8192 + 1600) * 4);
        /* thin kernels only (T <= EMB_THIN_MAX_TOKENS): no tile at all;
         * T 40: h 2560, a max(2560, 40 * 320) = 12800 holding out (40 * 64)
         * and kv (40 * 32) in its free rows */
        assert_true(emb_quant_force_level(level));
        shared = (2560 + 12800 + 640 + 192 + 128) * 4 + 64 * 8;
        assert_int_equal(emb_forward_workspace_bytes(m, 40, 40, &cfg), shared + 1600 * 4);
    }
    unload(m, img);
}

/* The thread count changes nothing, bit for bit: the regions split weight
 * rows in fixed chunks, heads and token rows, never one sum. split_work = 1
 * splits even the tiny model's work; small blocks and FFN chunks combine the
 * block structure with the splits. */
static void test_threads_bit_identical(void **state)
{
    (void)state;
    static const size_t lens[] = {3, 17, 2, 32, 9, 21};
    static const uint32_t types[] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K};
    for (int a = 0; a < 2; a++) {
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            tiny_model_spec s = tiny_model_default(a ? EMB_ARCH_NOMIC_BERT : EMB_ARCH_BERT, types[t]);
            uint8_t *img;
            emb_model *m = load(&s, &img);
            batch b;
            make_batch(&b, m, lens, 6);
            size_t n = 6 * m->hp.n_embd;
            float *one = malloc(n * sizeof(float)), *many = malloc(n * sizeof(float));
            assert_non_null(one);
            assert_non_null(many);
            for (int blocks = 0; blocks < 2; blocks++) {
                emb_forward_cfg cfg = {.threads = 1, .split_work = 1};
                if (blocks) {
                    cfg.block_tokens = 11;
                    cfg.ffn_bytes = 4;
                }
                forward_ok(one, m, b.seqs, b.n, EMB_POOLING_MEAN, &cfg);
                for (size_t nt = 2; nt <= 4; nt++) {
                    cfg.threads = nt;
                    forward_ok(many, m, b.seqs, b.n, EMB_POOLING_MEAN, &cfg);
                    if (memcmp(one, many, n * sizeof(float)) != 0)
                        fail_msg("%s %s, %zu threads, blocks %d: not bit-identical to 1 thread",
                                 emb_arch_name(s.arch), ggml_type_name(types[t]), nt, blocks);
                }
            }
            free(one);
            free(many);
            unload(m, img);
        }
    }
}

/* Token blocks and FFN chunks against the naive twin: blocks of 7 tokens
 * (sequences longer than a block, a batch whose sequences straddle block
 * boundaries, a last partial block) and the FFN split into hidden-unit
 * chunks (ffn_down accumulated chunk by chunk), on several threads. */
static void test_blocks_and_chunks(void **state)
{
    (void)state;
    static const size_t lens[] = {5, 13, 9, 30, 2};
    emb_forward_cfg cfg = {.block_tokens = 7, .ffn_bytes = 4, .threads = 2, .split_work = 1};
    for (int a = 0; a < 2; a++) {
        tiny_model_spec s = tiny_model_default(a ? EMB_ARCH_NOMIC_BERT : EMB_ARCH_BERT, GGML_TYPE_Q8_0);
        fast_vs_ref_lens(&s, &cfg, lens, 5);
        s = tiny_model_default(a ? EMB_ARCH_NOMIC_BERT : EMB_ARCH_BERT, GGML_TYPE_F32);
        fast_vs_ref_lens(&s, &cfg, lens, 5);
        s = tiny_model_default(a ? EMB_ARCH_NOMIC_BERT : EMB_ARCH_BERT, GGML_TYPE_Q5_K);
        fast_vs_ref_lens(&s, &cfg, lens, 5); /* 256-element blocks: fc stays whole blocks */
    }
    /* the chunking really happened: with a 4-byte budget the FFN buffers
     * shrink (one hidden unit per chunk and the type's block) */
    tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_Q8_0);
    uint8_t *img;
    emb_model *m = load(&s, &img);
    emb_forward_cfg chunked = cfg, whole = cfg;
    chunked.block_tokens = whole.block_tokens = 64; /* one block: `a` holds the FFN */
    whole.ffn_bytes = (size_t)1 << 30;
    assert_true(emb_forward_workspace_bytes(m, 59, 30, &chunked) <
                emb_forward_workspace_bytes(m, 59, 30, &whole));
    unload(m, img);
}

/* ---- threads -------------------------------------------------------------------------- */

#define N_THREADS 4
#define N_TEXTS 6

typedef struct thread_job {
    const emb_model *m;
    const emb_str *texts;
    float out[N_TEXTS * 256];
    emb_code rc;
} thread_job;

static void *embed_job(void *arg)
{
    thread_job *j = arg;
    emb_error err;
    for (int round = 0; round < 3 && j->rc == EMB_OK; round++)
        j->rc = emb_embed_texts(j->out, j->m, j->texts, N_TEXTS, NULL, &err);
    return NULL;
}

static void test_threads_share_one_model(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_Q6_K);
    uint8_t *img;
    emb_model *m = load(&s, &img);
    static const emb_str texts[N_TEXTS] = {{"hello world", 11}, {"the quick brown fox", 19},
                                           {"search_query: embed", 19}, {"a", 1},
                                           {"x y z 1 2 3", 11}, {"document", 8}};
    thread_job *jobs = calloc(N_THREADS + 1, sizeof *jobs);
    assert_non_null(jobs);
    emb_error err;
    assert_int_equal(emb_embed_texts(jobs[N_THREADS].out, m, texts, N_TEXTS, NULL, &err), EMB_OK);
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        jobs[i].m = m;
        jobs[i].texts = texts;
        assert_int_equal(pthread_create(&th[i], NULL, embed_job, &jobs[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N_THREADS; i++) {
        assert_int_equal(jobs[i].rc, EMB_OK);
        check_close("thread vs single", jobs[i].out, jobs[N_THREADS].out, N_TEXTS * 256, 0);
    }
    free(jobs);
    unload(m, img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_vs_ref_bert_all_types),
        cmocka_unit_test(test_fast_vs_ref_nomic_all_types),
        cmocka_unit_test(test_fast_vs_ref_mixed),
        cmocka_unit_test(test_small_tiles_and_blocks),
        cmocka_unit_test(test_fast_vs_ref_few_tokens),
        cmocka_unit_test(test_rope_variants),
        cmocka_unit_test(test_batch_equals_one_by_one),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_pooling_variants),
        cmocka_unit_test(test_pipeline_pooling_policy),
        cmocka_unit_test(test_l2_normalize),
        cmocka_unit_test(test_matryoshka),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_nomic_beyond_context),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_pipeline_batches),
        cmocka_unit_test(test_forward_rejects_bad_input),
        cmocka_unit_test(test_workspace_formula),
        cmocka_unit_test(test_threads_bit_identical),
        cmocka_unit_test(test_blocks_and_chunks),
        cmocka_unit_test(test_threads_share_one_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
