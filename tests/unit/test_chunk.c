/*
 * Chunker tests (src/chunk.h) over a small explicit vocabulary, so that they
 * run under ASan/UBSan with no fixture. What is checked needs no reference:
 * the invariants of the rule (coverage without gaps, spans, chunk sizes,
 * boundaries only at word starts, overlap, progress) and the errors. The
 * rule's choices on real text are checked against Hugging Face tokenizers in
 * tests/python/test_chunks.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chunk.h"
#include "tokenizer.h"

#define P "\xE2\x96\x81" /* U+2581, the GGUF word-initial marker */

static emb_tokenizer *make_tokenizer(void)
{
    static const char *const VOCAB[] = {
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", P "the", P "cat", P "sat", P "on", P "mat",
        P "un", "believ", "ably", "s", P ".", P ",", P "!", P "caf", "\xC3\xA9", P "\xE6\x97\xA5", P "\xE6\x9C\xAC",
    };
    enum { N = sizeof VOCAB / sizeof VOCAB[0] };
    emb_str toks[N];
    for (size_t i = 0; i < N; i++) {
        toks[i].ptr = VOCAB[i];
        toks[i].len = strlen(VOCAB[i]);
    }
    emb_special_ids sp = {2, 3, 1, 0};
    emb_error err;
    emb_error_clear(&err);
    emb_tokenizer *tok = emb_tokenizer_create(toks, N, &sp, &err);
    assert_non_null(tok);
    return tok;
}

/* A pseudo-random text of the vocabulary's words (some of several pieces,
 * some multi-byte, some unknown) and separators. */
static char *make_text(unsigned seed, size_t n_words, size_t *len)
{
    static const char *const WORDS[] = {"the", "cat", "sat", "on", "mat", "unbelievably", "cats",
                                        "café", "日本", "xyz", ",", "!"};
    static const char *const SEPS[] = {" ", " ", " ", "\n", "\n\n", ". ", "  ", "\t"};
    size_t cap = n_words * 24 + 1, n = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    for (size_t i = 0; i < n_words; i++) {
        seed = seed * 1103515245u + 12345u;
        const char *w = WORDS[(seed >> 16) % (sizeof WORDS / sizeof WORDS[0])];
        seed = seed * 1103515245u + 12345u;
        const char *sep = SEPS[(seed >> 16) % (sizeof SEPS / sizeof SEPS[0])];
        n += (size_t)snprintf(s + n, cap - n, "%s%s", w, sep);
    }
    *len = n;
    return s;
}

static size_t count_pieces(const emb_tokenizer *tok, const char *s, size_t len)
{
    emb_token_list l = {0};
    emb_error err;
    assert_int_equal(emb_tokenize(tok, s, len, false, &l, &err), EMB_OK);
    size_t n = l.n;
    emb_token_list_free(&l);
    return n;
}

static void check_invariants(const emb_tokenizer *tok, const char *text, size_t len, size_t max_tokens,
                             size_t overlap)
{
    emb_token_list all = {0};
    emb_chunk_list cl = {0};
    emb_error err;
    emb_error_clear(&err);
    assert_int_equal(emb_tokenize(tok, text, len, false, &all, &err), EMB_OK);
    assert_int_equal(emb_chunk_text(tok, text, len, max_tokens, overlap, &cl, &err), EMB_OK);
    assert_true(cl.n >= 1);
    assert_int_equal(cl.v[0].start, 0);
    assert_int_equal(cl.v[cl.n - 1].end, len);
    assert_int_equal(cl.v[0].first, 0);
    assert_int_equal(cl.v[cl.n - 1].last, all.n);
    for (size_t k = 0; k < cl.n; k++) {
        const emb_chunk *c = &cl.v[k];
        assert_true(c->tokens <= max_tokens);
        assert_int_equal(c->tokens, c->last - c->first + 2);
        /* the chunk's bytes tokenize to exactly its pieces */
        assert_int_equal(count_pieces(tok, text + c->start, c->end - c->start), c->last - c->first);
        if (c->last < all.n)
            assert_true(emb_tokenizer_is_word_start(tok, all.v[c->last].id));
        if (k + 1 < cl.n) {
            const emb_chunk *d = &cl.v[k + 1];
            assert_true(d->first > c->first && d->first <= c->last);
            assert_true(d->start > c->start && d->start <= c->end);
            assert_int_equal(d->start, all.v[d->first].start);
            assert_true(emb_tokenizer_is_word_start(tok, all.v[d->first].id));
            if (overlap == 0)
                assert_int_equal(d->first, c->last);
        }
    }
    emb_chunk_list_free(&cl);
    emb_token_list_free(&all);
}

static void test_invariants(void **state)
{
    (void)state;
    emb_tokenizer *tok = make_tokenizer();
    static const size_t LIMITS[][2] = {{3, 0}, {4, 0}, {6, 2}, {10, 0}, {10, 5}, {32, 8}, {64, 0}};
    for (unsigned seed = 1; seed <= 20; seed++) {
        size_t len;
        char *text = make_text(seed, 5 + seed * 17, &len);
        for (size_t i = 0; i < sizeof LIMITS / sizeof LIMITS[0]; i++) {
            /* "unbelievably" is 3 pieces: too long for max_tokens 3 and 4 */
            if (LIMITS[i][0] < 5 && strstr(text, "unbeliev"))
                continue;
            check_invariants(tok, text, len, LIMITS[i][0], LIMITS[i][1]);
        }
        free(text);
    }
    emb_tokenizer_destroy(tok);
}

static void test_empty_and_blank(void **state)
{
    (void)state;
    emb_tokenizer *tok = make_tokenizer();
    emb_chunk_list cl = {0};
    emb_error err;
    assert_int_equal(emb_chunk_text(tok, "", 0, 8, 0, &cl, &err), EMB_OK);
    assert_int_equal(cl.n, 1);
    assert_int_equal(cl.v[0].end, 0);
    assert_int_equal(cl.v[0].tokens, 2);
    assert_int_equal(emb_chunk_text(tok, " \n ", 3, 8, 0, &cl, &err), EMB_OK);
    assert_int_equal(cl.n, 2);
    assert_int_equal(cl.v[1].end, 3);
    emb_chunk_list_free(&cl);
    emb_tokenizer_destroy(tok);
}

static void test_errors(void **state)
{
    (void)state;
    emb_tokenizer *tok = make_tokenizer();
    emb_chunk_list cl = {0};
    emb_error err;
    assert_int_equal(emb_chunk_text(tok, "the cat", 7, 8, 0, &cl, &err), EMB_OK);
    assert_int_equal(cl.n, 1);
    emb_error_clear(&err);
    assert_int_equal(emb_chunk_text(tok, "the", 3, 2, 0, &cl, &err), EMB_ERR_RANGE);
    assert_non_null(strstr(err.msg, "max_tokens 2, minimum 3"));
    assert_int_equal(emb_chunk_text(tok, "the", 3, 6, 4, &cl, &err), EMB_ERR_RANGE);
    assert_non_null(strstr(err.msg, "overlap 4 must be less than max_tokens - 2 = 4"));
    /* "unbelievably" = un ##believ ##ably: no place to cut it in 2 pieces;
     * the chunks already made for this text are taken back */
    const char *t = "the cat sat unbelievably";
    assert_int_equal(emb_chunk_text(tok, t, strlen(t), 4, 0, &cl, &err), EMB_ERR_RANGE);
    assert_non_null(strstr(err.msg, "the word at byte 12 has more than 2 pieces"));
    assert_int_equal(cl.n, 1); /* the earlier call's chunk only */
    emb_chunk_list_free(&cl);
    emb_tokenizer_destroy(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invariants),
        cmocka_unit_test(test_empty_and_blank),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
