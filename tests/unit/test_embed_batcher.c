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
 *     allocations are counted: tests/unit/support/alloc_count.h);
 *   - on several threads, calls running side by side give every text the
 *     vector it gets on one thread, bit for bit; the cancel hook runs on the
 *     calling thread only and stops the run; a workspace that cannot be
 *     allocated on any thread fails the run cleanly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_count.h"
#include "embed.h"
#include "embed_batcher.h"
#include "forward.h"
#include "ggml_types.h"
#include "tiny_model.h"
#include "tokenizer.h"

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
        size_t base = alloc_mark();
        emb_batcher *b = emb_batcher_create(m, NULL, &err);
        assert_non_null(b);
        stream(b, m, counts[r], false);
        emb_batcher_destroy(b);
        peaks[r] = alloc_peak() - base;
        assert_int_equal(alloc_live(), base); /* nothing leaked */
        print_message("%zu texts: peak extra heap %zu bytes\n", counts[r], peaks[r]);
    }
    /* slack: a forward call a few tokens longer (~1.8 KB per token here);
     * growing with the count would cost >= 3,000 x 64 floats */
    assert_true(peaks[1] <= peaks[0] + 64 * 1024);
    unload(m, img);
}

/* One window of texts 0..n-1 of the stream, run; the vectors (n x 64 floats)
 * into out. */
static emb_code run_window(emb_batcher *b, size_t n, float *out, emb_error *err)
{
    char text[1024];
    emb_batcher_clear(b);
    for (size_t k = 0; k < n; k++) {
        size_t len = make_text(text, sizeof text, k);
        emb_code rc = emb_batcher_add(b, (emb_str){text, len}, err);
        if (rc != EMB_OK)
            return rc;
    }
    emb_code rc = emb_batcher_run(b, err);
    for (size_t k = 0; rc == EMB_OK && k < n; k++)
        memcpy(out + k * 64, emb_batcher_vector(b, k), 64 * sizeof *out);
    return rc;
}

/* Options of the side-by-side tests: a 24-token budget packs the 60-text
 * window into a dozen calls (longer texts alone); cfg: threads, hook. */
static emb_embed_opts small_calls(emb_forward_cfg *cfg)
{
    emb_embed_opts o = emb_embed_opts_default();
    o.batch_tokens = 24;
    o.forward = cfg;
    return o;
}

/* run_window on a new batcher. */
static emb_code run_fresh(const emb_model *m, const emb_embed_opts *o, size_t n, float *out)
{
    emb_error err;
    emb_batcher *b = emb_batcher_create(m, o, &err);
    assert_non_null(b);
    emb_code rc = run_window(b, n, out, &err);
    emb_batcher_destroy(b);
    return rc;
}

/* 60 texts, budget 24 tokens: a dozen packed calls run side by side, and
 * the texts longer than the budget (alone, up to the 32-token context) and
 * the calls left over run one at a time split over the threads (split_work
 * 1 splits even the tiny model's products). Every vector equals the one
 * thread result bit for bit: the calls do not depend on where they ran. */
static void test_threads_side_by_side_bit_identical(void **state)
{
    (void)state;
    enum { N = 60 };
    static float one[N * 64], many[N * 64];
    const uint32_t types[] = {GGML_TYPE_F16, GGML_TYPE_Q8_0};
    for (size_t t = 0; t < 2; t++) {
        for (int arch = 0; arch < 2; arch++) {
            tiny_model_spec s = tiny_model_default(arch ? EMB_ARCH_NOMIC_BERT : EMB_ARCH_BERT, types[t]);
            uint8_t *img;
            emb_model *m = load(&s, &img);
            emb_forward_cfg cfg = {.threads = 1, .split_work = 1};
            emb_embed_opts o = small_calls(&cfg);
            assert_int_equal(run_fresh(m, &o, N, one), EMB_OK);
            for (size_t nt = 2; nt <= 4; nt++) {
                cfg.threads = nt;
                assert_int_equal(run_fresh(m, &o, N, many), EMB_OK);
                for (size_t k = 0; k < N; k++)
                    if (memcmp(one + k * 64, many + k * 64, 64 * sizeof(float)) != 0)
                        fail_msg("%s %s, %zu threads: text %zu differs from 1 thread",
                                 emb_arch_name(s.arch), ggml_type_name(types[t]), nt, k);
            }
            unload(m, img);
        }
    }
}

/* The cancel hook of a run on 2 threads: asked on the calling thread only
 * (embed_batch's hook may step a statement of the caller's connection),
 * asked during the passes, and its "stop" ends the run with
 * EMB_ERR_INTERRUPTED and no vectors; the batcher works again after. */
typedef struct hook_log {
    pthread_t caller;
    atomic_int asked, foreign;
    int stop_at; /* answer true from this ask on; 0 = never */
} hook_log;

static bool log_hook(void *ctx)
{
    hook_log *h = ctx;
    if (!pthread_equal(pthread_self(), h->caller))
        atomic_fetch_add(&h->foreign, 1);
    int n = atomic_fetch_add(&h->asked, 1) + 1;
    return h->stop_at && n >= h->stop_at;
}

static void test_cancel_hook_on_calling_thread(void **state)
{
    (void)state;
    enum { N = 60 };
    static float v[N * 64];
    tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_Q8_0);
    uint8_t *img;
    emb_model *m = load(&s, &img);
    emb_error err;
    hook_log h = {.caller = pthread_self()};
    emb_forward_cfg cfg = {.threads = 2, .split_work = 1, .cancelled = log_hook, .cancel_ctx = &h};
    emb_embed_opts o = small_calls(&cfg);
    emb_batcher *b = emb_batcher_create(m, &o, &err);
    assert_non_null(b);

    assert_int_equal(run_window(b, N, v, &err), EMB_OK);
    int asked_full = atomic_load(&h.asked);
    print_message("a whole run asked the hook %d times\n", asked_full);
    assert_int_equal(atomic_load(&h.foreign), 0);
    assert_true(asked_full > N); /* N adds, then every layer of the caller's passes */

    /* How often a run asks depends on which thread runs which pass (the
     * caller's passes and its waits ask): a run that reached stop_at must
     * stop, one that asked fewer times finishes. */
    int stopped = 0;
    for (int stop_at = N + 1; stop_at < asked_full; stop_at += 3) {
        atomic_store(&h.asked, 0);
        h.stop_at = stop_at;
        emb_code rc = run_window(b, N, v, &err);
        if (atomic_load(&h.asked) >= stop_at) {
            assert_int_equal(rc, EMB_ERR_INTERRUPTED);
            assert_null(emb_batcher_vector(b, 0));
            stopped++;
        } else {
            assert_int_equal(rc, EMB_OK);
        }
        assert_int_equal(atomic_load(&h.foreign), 0);
    }
    assert_true(stopped > 0);
    h.stop_at = 0;
    static float again[N * 64];
    assert_int_equal(run_window(b, N, again, &err), EMB_OK);
    assert_int_equal(atomic_load(&h.foreign), 0);
    emb_batcher_destroy(b);
    unload(m, img);
}

/* Workspace mappings that cannot be had, on whichever call and thread asks.
 * For good: the run fails with EMB_ERR_NOMEM naming the workspace, gives no
 * vectors, leaks nothing, and runs again once memory is back. Only one: the
 * run either fails so or succeeds with the exact vectors; when the calls
 * side by side are what failed (the very first mapping is theirs), the
 * calls not done run again one at a time and the run succeeds. */
static void test_workspace_failure_on_any_thread(void **state)
{
    (void)state;
    enum { N = 60 };
    static float v[N * 64], want[N * 64];
    tiny_model_spec s = tiny_model_default(EMB_ARCH_BERT, GGML_TYPE_Q8_0);
    uint8_t *img;
    emb_model *m = load(&s, &img);
    emb_error err;
    emb_forward_cfg cfg = {.threads = 2, .split_work = 1};
    emb_embed_opts o = small_calls(&cfg);
    assert_int_equal(run_fresh(m, &o, N, want), EMB_OK);

    size_t failures = 0, recovered = 0;
    for (size_t after = 0;; after++) {
        size_t base = alloc_mark();
        emb_batcher *b = emb_batcher_create(m, &o, &err);
        assert_non_null(b);
        alloc_fail_pages(after, SIZE_MAX);
        emb_code rc = run_window(b, N, v, &err);
        alloc_fail_pages(0, 0);
        if (rc == EMB_OK) {
            emb_batcher_destroy(b);
            assert_int_equal(alloc_live(), base);
            break;
        }
        failures++;
        assert_int_equal(rc, EMB_ERR_NOMEM);
        assert_non_null(strstr(err.msg, "workspace"));
        assert_null(emb_batcher_vector(b, 0));
        assert_int_equal(run_window(b, N, v, &err), EMB_OK); /* memory is back */
        emb_batcher_destroy(b);
        assert_int_equal(alloc_live(), base);
        assert_true(after < 1000);
    }
    for (size_t nth = 0; nth < 40; nth++) {
        size_t base = alloc_mark();
        alloc_fail_pages(nth, 1);
        emb_code rc = run_fresh(m, &o, N, v);
        alloc_fail_pages(0, 0);
        if (nth == 0)
            assert_int_equal(rc, EMB_OK); /* side by side failed, one at a time did it */
        if (rc == EMB_OK) {
            recovered++;
            assert_memory_equal(v, want, sizeof v);
        } else {
            assert_int_equal(rc, EMB_ERR_NOMEM);
        }
        assert_int_equal(alloc_live(), base);
    }
    print_message("%zu runs failed on a workspace mapping before one had enough; %zu of 40 runs "
                  "with one failed mapping succeeded\n",
                  failures, recovered);
    assert_true(failures > 4); /* several calls, each with several mappings */
    unload(m, img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_matches_naive_twin),
        cmocka_unit_test(test_window_limits),
        cmocka_unit_test(test_errors_name_the_text),
        cmocka_unit_test(test_stream_memory_is_bounded),
        cmocka_unit_test(test_threads_side_by_side_bit_identical),
        cmocka_unit_test(test_cancel_hook_on_calling_thread),
        cmocka_unit_test(test_workspace_failure_on_any_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
