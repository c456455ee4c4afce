/*
 * test_embed_batcher: the streaming batcher (src/embed_batcher.c) that
 * embed_batch() and emb_embed_texts() run on.
 *
 *   - a stream of texts of mixed lengths, fed window by window as a streaming
 *     caller does, gives every text the naive twin's vector (emb_forward_ref
 *     on the same tokens, L2 here in double) and the tokenizer's count after
 *     truncation, in add() order, whatever order run() computed them in;
 *   - the window limits hold (texts and tokens);
 *   - an error names the text by err.item, keeps the window usable;
 *   - heap: streaming 4x more texts does not raise the peak (the engine's
 *     allocations are counted through -Wl,--wrap, see tests/cmake/batcher.cmake).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "embed.h"
#include "embed_batcher.h"
#include "forward.h"
#include "ggml_types.h"
#include "tiny_model.h"
#include "tokenizer.h"

/* ---- allocation counters (as in test_forward_memory.c) ------------------------------ */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t k);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__real_emb_pages_alloc(size_t n);
void __real_emb_pages_free(void *p, size_t n);

static size_t g_live, g_peak;

static void count_in(void *p)
{
    if (!p)
        return;
    g_live += malloc_usable_size(p);
    if (g_live > g_peak)
        g_peak = g_live;
}

void *__wrap_malloc(size_t n)
{
    void *p = __real_malloc(n);
    count_in(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t k)
{
    void *p = __real_calloc(n, k);
    count_in(p);
    return p;
}

void *__wrap_realloc(void *old, size_t n)
{
    size_t before = old ? malloc_usable_size(old) : 0;
    void *p = __real_realloc(old, n);
    if (p || n == 0) {
        g_live -= before;
        count_in(p);
    }
    return p;
}

void __wrap_free(void *p)
{
    if (p)
        g_live -= malloc_usable_size(p);
    __real_free(p);
}

void *__wrap_emb_pages_alloc(size_t n)
{
    void *p = __real_emb_pages_alloc(n);
    if (p) {
        g_live += n;
        if (g_live > g_peak)
            g_peak = g_live;
    }
    return p;
}

void __wrap_emb_pages_free(void *p, size_t n)
{
    if (p)
        g_live -= n;
    __real_emb_pages_free(p, n);
}

/* ---- helpers ------------------------------------------------------------------------- */

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

static const char *const WORDS[] = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog",
                                    "hello", "world", "embedding", "cat", "a", "b", "7", "!"};

/* Text k of a stream: 0 to ~50 words (some past the tiny models' 32-token
 * context, so truncation is exercised), every 97th empty. */
static size_t make_text(char *buf, size_t cap, size_t k)
{
    size_t n_words = k % 97 == 0 ? 0 : (k * 7919) % 51;
    size_t len = 0;
    for (size_t w = 0; w < n_words; w++) {
        const char *word = WORDS[(k * 31 + w * 17) % (sizeof WORDS / sizeof WORDS[0])];
        size_t wl = strlen(word);
        assert_true(len + wl + 2 < cap);
        if (w)
            buf[len++] = ' ';
        memcpy(buf + len, word, wl);
        len += wl;
    }
    buf[len] = '\0';
    return len;
}

/* The naive twin's vector of one text: tokenize, truncate, emb_forward_ref,
 * L2 in double. Returns the token count. */
static size_t reference(float *out, const emb_model *m, const char *text, size_t len, size_t max_tokens)
{
    emb_token_list toks = {0};
    emb_error err;
    emb_error_clear(&err);
    assert_int_equal(emb_tokenize(m->tokenizer, text, len, true, &toks, &err), EMB_OK);
    emb_tokens_truncate(&toks, max_tokens);
    int32_t ids[64];
    assert_true(toks.n <= 64);
    for (size_t i = 0; i < toks.n; i++)
        ids[i] = toks.v[i].id;
    emb_seq seq = {ids, toks.n};
    assert_int_equal(emb_forward_ref(out, m, &seq, 1, EMB_POOLING_MEAN, &err), EMB_OK);
    double sum = 0.0;
    for (uint32_t i = 0; i < m->hp.n_embd; i++)
        sum += (double)out[i] * out[i];
    for (uint32_t i = 0; i < m->hp.n_embd; i++)
        out[i] = (float)(out[i] / sqrt(sum));
    size_t n = toks.n;
    emb_token_list_free(&toks);
    return n;
}

/* Feeds n_texts stream texts window by window, as a streaming caller does;
 * checks every vector against the twin when `check` (else only the peak). */
static void stream(emb_batcher *b, const emb_model *m, size_t n_texts, bool check)
{
    emb_error err;
    emb_error_clear(&err);
    char text[1024];
    float want[64];
    size_t first = 0; /* stream index of the window's first text */
    size_t windows = 0;
    for (size_t k = 0; k <= n_texts; k++) {
        if (k == n_texts || emb_batcher_full(b)) {
            size_t n = emb_batcher_count(b);
            assert_int_equal(emb_batcher_run(b, &err), EMB_OK);
            for (size_t i = 0; check && i < n; i++) {
                size_t len = make_text(text, sizeof text, first + i);
                size_t tokens = reference(want, m, text, len, m->hp.n_ctx_train);
                assert_int_equal(emb_batcher_tokens(b, i), tokens);
                const float *got = emb_batcher_vector(b, i);
                assert_non_null(got);
                for (uint32_t d = 0; d < m->hp.n_embd; d++)
                    if (!(fabs((double)got[d] - want[d]) <= 2e-5))
                        fail_msg("text %zu (%zu tokens) [%u]: got %.9g want %.9g", first + i, tokens, d,
                                 (double)got[d], (double)want[d]);
            }
            assert_null(emb_batcher_vector(b, n));
            emb_batcher_clear(b);
            first = k;
            windows++;
            if (k == n_texts)
                break;
        }
        size_t len = make_text(text, sizeof text, k);
        assert_int_equal(emb_batcher_add(b, (emb_str){text, len}, &err), EMB_OK);
        assert_true(emb_batcher_count(b) <= EMB_BATCHER_WINDOW_TEXTS);
    }
    assert_true(windows > 1);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_stream_matches_naive_twin(void **state)
{
    (void)state;
    const uint32_t types[] = {GGML_TYPE_F32, GGML_TYPE_Q8_0};
    for (size_t t = 0; t < 2; t++) {
        for (int arch = 0; arch < 2; arch++) {
            tiny_model_spec s = tiny_model_default(arch ? EMB_ARCH_NOMIC_BERT : EMB_ARCH_BERT, types[t]);
            uint8_t *img;
            emb_model *m = load(&s, &img);
            emb_error err;
            emb_embed_opts o = emb_embed_opts_default();
            o.batch_tokens = 100; /* several forward calls per window, uneven lengths */
            emb_batcher *b = emb_batcher_create(m, &o, &err);
            assert_non_null(b);
            assert_int_equal(emb_batcher_dims(b), 64);
            assert_null(emb_batcher_vector(b, 0)); /* nothing run yet */
            stream(b, m, 700, true);
            emb_batcher_destroy(b);
            unload(m, img);
        }
    }
}

/* A window is full at EMB_BATCHER_WINDOW_TEXTS texts or WINDOW_BATCHES x
 * batch_tokens tokens, whichever first. */
static void test_window_limits(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    uint8_t *img;
    emb_model *m = load(&s, &img);
    emb_error err;
    emb_embed_opts o = emb_embed_opts_default();
    emb_batcher *b = emb_batcher_create(m, &o, &err);
    assert_non_null(b);
    for (size_t i = 0; i < EMB_BATCHER_WINDOW_TEXTS; i++) {
        assert_false(emb_batcher_full(b));
        assert_int_equal(emb_batcher_add(b, (emb_str){"a", 1}, &err), EMB_OK); /* 3 tokens */
    }
    assert_true(emb_batcher_full(b));
    emb_batcher_destroy(b);

    o.batch_tokens = 16; /* full at 8 x 16 = 128 tokens: 4 texts of 32 */
    b = emb_batcher_create(m, &o, &err);
    assert_non_null(b);
    /* 36 words: truncated to the 32-token context */
    const char *longer = "the quick brown fox jumps over the lazy dog the quick brown fox jumps over the lazy dog "
                         "the quick brown fox jumps over the lazy dog the quick brown fox jumps over the lazy dog";
    for (int i = 0; i < 4; i++) {
        assert_false(emb_batcher_full(b));
        assert_int_equal(emb_batcher_add(b, (emb_str){longer, strlen(longer)}, &err), EMB_OK);
    }
    assert_true(emb_batcher_full(b));
    /* each text is longer than the budget: four calls of one text */
    assert_int_equal(emb_batcher_run(b, &err), EMB_OK);
    assert_int_equal(emb_batcher_tokens(b, 3), 32);
    emb_batcher_destroy(b);
    unload(m, img);
}

static void test_errors_name_the_text(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_F32);
    uint8_t *img;
    emb_model *m = load(&s, &img);
    emb_error err;
    emb_error_clear(&err);
    emb_embed_opts o = emb_embed_opts_default();
    o.dims = 65;
    assert_null(emb_batcher_create(m, &o, &err));
    assert_int_equal(err.code, EMB_ERR_RANGE);
    assert_string_equal(err.msg, "dims 65 exceeds the model's 64 dimensions");
    assert_int_equal(err.item, EMB_ERROR_NO_ITEM);

    o = emb_embed_opts_default();
    o.truncate = false;
    o.max_tokens = 8;
    emb_batcher *b = emb_batcher_create(m, &o, &err);
    assert_non_null(b);
    assert_int_equal(emb_batcher_add(b, (emb_str){"hello", 5}, &err), EMB_OK);
    assert_int_equal(emb_batcher_add(b, (emb_str){"a b", 3}, &err), EMB_OK);
    assert_int_equal(emb_batcher_add(b, (emb_str){"a b c d e f g h", 15}, &err), EMB_ERR_RANGE);
    assert_int_equal(err.item, 2);
    assert_string_equal(err.msg, "the text has 10 tokens (with [CLS] and [SEP]), maximum 8; truncation is off");
    /* the window keeps the other texts and still runs */
    assert_int_equal(emb_batcher_count(b), 2);
    assert_int_equal(emb_batcher_add(b, (emb_str){NULL, 0}, &err), EMB_OK); /* empty text */
    assert_int_equal(emb_batcher_run(b, &err), EMB_OK);
    assert_int_equal(emb_batcher_tokens(b, 1), 4);
    assert_int_equal(emb_batcher_tokens(b, 2), 2);
    /* add() after a run starts the next window; items keep counting */
    assert_int_equal(emb_batcher_add(b, (emb_str){"x y z w v u t s r", 17}, &err), EMB_ERR_RANGE);
    assert_int_equal(err.item, 4);
    assert_int_equal(emb_batcher_count(b), 0);
    emb_batcher_destroy(b);

    /* emb_embed_texts: err.item is the index in its array */
    emb_str texts[3] = {{"a", 1}, {"b", 1}, {"a b c d e f g h", 15}};
    float out[3 * 64];
    assert_int_equal(emb_embed_texts(out, m, texts, 3, &o, &err), EMB_ERR_RANGE);
    assert_int_equal(err.item, 2);
    unload(m, img);
}

/* Streaming memory does not depend on the stream's length: the peak of
 * 4,000 texts is the peak of 1,000 (the windows are alike). */
static void test_stream_memory_is_bounded(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_Q8_0);
    uint8_t *img;
    emb_model *m = load(&s, &img);
    emb_error err;
    size_t peaks[2];
    const size_t counts[2] = {1000, 4000};
    for (int r = 0; r < 2; r++) {
        size_t base = g_live;
        g_peak = g_live;
        emb_batcher *b = emb_batcher_create(m, NULL, &err);
        assert_non_null(b);
        stream(b, m, counts[r], false);
        emb_batcher_destroy(b);
        peaks[r] = g_peak - base;
        assert_int_equal(g_live, base); /* nothing leaked */
        print_message("%zu texts: peak extra heap %zu bytes\n", counts[r], peaks[r]);
    }
    /* slack: a forward call a few tokens longer (~1.8 KB per token here);
     * growing with the count would cost >= 3,000 x 64 floats */
    assert_true(peaks[1] <= peaks[0] + 64 * 1024);
    unload(m, img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_matches_naive_twin),
        cmocka_unit_test(test_window_limits),
        cmocka_unit_test(test_errors_name_the_text),
        cmocka_unit_test(test_stream_memory_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
