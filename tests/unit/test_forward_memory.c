/*
 * test_forward_memory: the heap the forward pass really uses stays within
 * the documented formula (emb_forward_workspace_bytes), measured, not
 * assumed.
 *
 * Every allocation made by the engine's code (static library linked in
 * here) is counted by tests/unit/support/alloc_count.h: heap blocks and the
 * forward workspace's page mappings (mmap, so that the host's malloc never
 * keeps it). OpenBLAS allocates through libc directly and is not counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

/* A nomic-geometry model (768 wide, n_ff 3072, 12 heads, F16 weights: tiled
 * dequantization is active). The number of layers does not change the
 * workspace, so one layer keeps the tests fast. */
static emb_model *nomic_geometry(uint8_t **img)
{
    tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_F16);
    s.n_embd = 768;
    s.n_ff = 3072;
    s.n_head = 12;
    s.n_layer = 1;
    s.n_ctx = 2048;
    emb_error err;
    emb_model *m = tiny_model_load(&s, img, &err);
    if (!m)
        fail_msg("%s", err.msg);
    return m;
}

/* One 512-token sequence. */
static void test_peak_heap_512_tokens_nomic_geometry(void **state)
{
    (void)state;
    uint8_t *img = NULL;
    emb_error err;
    emb_model *m = nomic_geometry(&img);

    enum { T = 512 };
    int32_t *ids = malloc(T * sizeof *ids);
    float *out = malloc(768 * sizeof *out);
    assert_non_null(ids);
    assert_non_null(out);
    for (int i = 0; i < T; i++)
        ids[i] = 5 + (i * 7) % 60;
    emb_seq seq = {ids, T};

    size_t formula = emb_forward_workspace_bytes(m, T, T, NULL);
    print_message("workspace formula for 512 tokens: %zu bytes (%.2f MiB)\n", formula,
                  formula / 1048576.0);
    assert_true(formula <= (size_t)32 << 20);

    /* warm up once (OpenBLAS loads on the first call; not our heap anyway) */
    assert_int_equal(emb_forward(out, m, &seq, 1, EMB_POOLING_MEAN, NULL, &err), EMB_OK);

    size_t base = alloc_mark();
    assert_int_equal(emb_forward(out, m, &seq, 1, EMB_POOLING_MEAN, NULL, &err), EMB_OK);
    size_t extra = alloc_peak() - base;
    print_message("measured peak extra heap in emb_forward: %zu bytes\n", extra);
    /* the workspace is three page mappings, counted at their exact size */
    assert_true(extra >= formula);
    assert_true(extra <= formula + 4096);
    assert_int_equal(alloc_live(), base); /* nothing leaked */

    /* The pipeline adds its token lists and per-text vectors: O(tokens + E). */
    char *text = malloc(2 * 600 + 1);
    assert_non_null(text);
    for (int i = 0; i < 600; i++) {
        text[2 * i] = (char)('a' + i % 26);
        text[2 * i + 1] = ' ';
    }
    text[1200] = '\0';
    emb_str t = {text, 1200};
    emb_embed_opts o = emb_embed_opts_default();
    o.max_tokens = T; /* 600 words -> truncated to 512 tokens */
    base = alloc_mark();
    assert_int_equal(emb_embed_texts(out, m, &t, 1, &o, &err), EMB_OK);
    extra = alloc_peak() - base;
    print_message("measured peak extra heap in emb_embed_texts: %zu bytes\n", extra);
    assert_true(extra <= formula + 64 * 1024);
    assert_int_equal(alloc_live(), base);

    free(text);
    free(ids);
    free(out);
    emb_model_destroy(m);
    free(img);
}

/* The longest nomic input, 2048 tokens, on two threads: the workspace is
 * O(T x n_embd) (docs/engine.md §4) and no single mapping exceeds 10 MB. */
static void test_peak_heap_2048_tokens_two_threads(void **state)
{
    (void)state;
    uint8_t *img = NULL;
    emb_error err;
    emb_model *m = nomic_geometry(&img);
    enum { T = 2048 };
    int32_t *ids = malloc(T * sizeof *ids);
    float *out = malloc(768 * sizeof *out);
    assert_non_null(ids);
    assert_non_null(out);
    for (int i = 0; i < T; i++)
        ids[i] = 5 + (i * 7) % 60;
    emb_seq seq = {ids, T};
    emb_forward_cfg cfg = {.threads = 2};
    size_t formula = emb_forward_workspace_bytes(m, T, T, &cfg);
    print_message("workspace formula for 2048 tokens, 2 threads: %zu bytes (%.2f MiB)\n", formula,
                  formula / 1048576.0);
    /* h and `a` (6 MiB each) + 2 x (tile, k|v, scores) + blocks: ~18.3 MiB;
     * was 68 MiB when the FFN activations existed for all tokens */
    assert_true(formula <= (size_t)19 << 20);
    size_t base = alloc_mark();
    assert_int_equal(emb_forward(out, m, &seq, 1, EMB_POOLING_MEAN, &cfg, &err), EMB_OK);
    size_t extra = alloc_peak() - base;
    print_message("measured peak extra heap: %zu bytes, largest mapping %zu bytes\n", extra,
                  alloc_largest_mapping());
    assert_true(extra >= formula);
    assert_true(extra <= formula + 4096);
    assert_true(alloc_largest_mapping() <= 10 * 1000 * 1000);
    assert_int_equal(alloc_live(), base);
    free(ids);
    free(out);
    emb_model_destroy(m);
    free(img);
}

/* 64 short texts through the streaming batcher (what embed_batch() runs):
 * 12 to 48 words each (14-50 tokens with [CLS]/[SEP], 2,000-odd in all, the
 * benchmark's "64 short texts"), at 1 and 2 threads. The batcher packs them
 * into calls whose one-thread workspace fits EMB_BATCHER_WORKSPACE_BYTES and
 * runs as many calls at once as it has threads (embed_batcher.h); the
 * engine's whole peak (the workspaces of the calls in flight, token ids,
 * pooled vectors, tokenizer scratch) must stay within threads x that budget
 * plus a little: at 1 thread this keeps the whole sqlite3 process under
 * 8 MiB (docs/engine.md §4: process baseline ~2.4 MiB with the real
 * tokenizer, OpenBLAS's touched buffers ~0.3 MiB per thread). */
static void test_peak_heap_64_short_texts_batched(void **state)
{
    (void)state;
    static const char *const words[] = {"hello", "world", "the", "quick", "brown", "fox", "search",
                                        "query", "document", "embed"};
    uint8_t *img = NULL;
    emb_error err;
    emb_model *m = nomic_geometry(&img);
    enum { N = 64 };
    char *texts[N];
    size_t tokens = 0;
    for (size_t i = 0; i < N; i++) {
        size_t n_words = 12 + (i * 13) % 37; /* 12..48 */
        texts[i] = malloc(n_words * 10 + 1);
        assert_non_null(texts[i]);
        size_t len = 0;
        for (size_t w = 0; w < n_words; w++) {
            const char *word = words[(i * 7 + w * 3) % 10];
            if (w)
                texts[i][len++] = ' ';
            memcpy(texts[i] + len, word, strlen(word));
            len += strlen(word);
        }
        texts[i][len] = '\0';
        tokens += n_words + 2;
    }
    for (size_t nt = 1; nt <= 2; nt++) {
        emb_forward_cfg cfg = {.threads = nt};
        emb_embed_opts o = emb_embed_opts_default();
        o.forward = &cfg;
        size_t base = alloc_mark();
        emb_batcher *b = emb_batcher_create(m, &o, &err);
        assert_non_null(b);
        for (size_t i = 0; i < N; i++)
            assert_int_equal(emb_batcher_add(b, (emb_str){texts[i], strlen(texts[i])}, &err), EMB_OK);
        assert_int_equal(emb_batcher_run(b, &err), EMB_OK);
        size_t queued = 0;
        for (size_t i = 0; i < N; i++)
            queued += emb_batcher_tokens(b, i);
        assert_int_equal(queued, tokens); /* every word is one token of the vocabulary */
        size_t extra = alloc_peak() - base;
        print_message("64 short texts (%zu tokens), %zu thread(s): peak extra heap %zu bytes "
                      "(%.2f MiB), largest mapping %zu; budget per call in flight %zu\n",
                      tokens, nt, extra, extra / 1048576.0, alloc_largest_mapping(),
                      EMB_BATCHER_WORKSPACE_BYTES);
        emb_batcher_destroy(b);
        assert_int_equal(alloc_live(), base);
        assert_true(extra <= nt * EMB_BATCHER_WORKSPACE_BYTES + 256 * 1024);
        assert_true(extra <= nt * ((size_t)15 << 18)); /* 3.75 MiB per thread */
    }
    for (size_t i = 0; i < N; i++)
        free(texts[i]);
    emb_model_destroy(m);
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peak_heap_512_tokens_nomic_geometry),
        cmocka_unit_test(test_peak_heap_2048_tokens_two_threads),
        cmocka_unit_test(test_peak_heap_64_short_texts_batched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
