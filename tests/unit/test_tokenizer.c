/*
 * Tokenizer tests. Expected ids and spans come from Hugging Face tokenizers:
 *   - llama.cpp's test-tokenizer-0 fixture (.inp/.out, made with HF's
 *     AutoTokenizer for bge-small), parsed the way test-tokenizer-0 does;
 *   - tests/data/tokenizer/goldens.txt, written by
 *     tests/python/gen_tokenizer_goldens.py (tokenizers configured as
 *     bert-base-uncased over the same vocabulary).
 * The remaining cases check properties that need no reference (equivalences,
 * bounds, truncation, errors) or small hand-checked values.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gguf.h"
#include "tokenizer.h"

/* ---- fixtures -------------------------------------------------------------- */

static char *path_in(const char *env, const char *fallback, const char *rel)
{
    const char *dir = getenv(env);
    if (!dir || !*dir)
        dir = fallback;
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, rel);
    return p;
}

static char *source_path(const char *rel)
{
    return path_in("EMBED_SOURCE_DIR", ".", rel);
}

/* Whole file, NUL-terminated (the NUL is not counted in *len). */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

typedef struct vocab_fixture {
    gguf_file *gguf;
    emb_tokenizer *tok;
} vocab_fixture;

static int setup_vocab(void **state)
{
    vocab_fixture *fx = calloc(1, sizeof *fx);
    char *path = source_path("tests/data/bert-vocab/ggml-vocab-bert-bge.gguf");
    emb_error err = {0};
    fx->gguf = gguf_open(path, &err);
    if (!fx->gguf)
        fprintf(stderr, "gguf_open: %s\n", err.msg);
    free(path);
    if (!fx->gguf)
        return -1;
    fx->tok = emb_tokenizer_create_from_gguf(fx->gguf, &err);
    if (!fx->tok) {
        fprintf(stderr, "emb_tokenizer_create_from_gguf: %s\n", err.msg);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown_vocab(void **state)
{
    vocab_fixture *fx = *state;
    if (fx) {
        emb_tokenizer_destroy(fx->tok);
        gguf_close(fx->gguf);
        free(fx);
    }
    return 0;
}

static const emb_tokenizer *TOK(void **state)
{
    return ((vocab_fixture *)*state)->tok;
}

/* Tokenize (no [CLS]/[SEP]) into a fresh list; asserts success. */
static emb_token_list tokenize(const emb_tokenizer *tok, const char *text, size_t len, bool special)
{
    emb_token_list list = {0};
    emb_error err = {0};
    emb_code rc = emb_tokenize(tok, text, len, special, &list, &err);
    if (rc != EMB_OK)
        fail_msg("emb_tokenize failed: %s", err.msg);
    return list;
}

static void print_ids(const char *what, const int32_t *ids, size_t n)
{
    fprintf(stderr, "  %s (%zu):", what, n);
    for (size_t i = 0; i < n && i < 40; i++)
        fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

/* Index of the first difference between got ids and want, or -1. */
static long first_id_diff(const emb_token_list *got, const int32_t *want, size_t n_want)
{
    size_t n = got->n < n_want ? got->n : n_want;
    for (size_t i = 0; i < n; i++)
        if (got->v[i].id != want[i])
            return (long)i;
    return got->n == n_want ? -1 : (long)n;
}

/* ---- llama.cpp fixture ------------------------------------------------------ */

/* test-tokenizer-0: inputs separated by "\n__ggml_vocab_test__\n" (the last
 * one followed by it too); outputs one line each, ids space-separated (leading
 * space stripped), no [CLS]/[SEP]. */
static void test_llama_fixture(void **state)
{
    size_t in_len, out_len;
    char *pin = source_path("tests/data/bert-vocab/ggml-vocab-bert-bge.gguf.inp");
    char *pout = source_path("tests/data/bert-vocab/ggml-vocab-bert-bge.gguf.out");
    char *in = read_file(pin, &in_len);
    char *out = read_file(pout, &out_len);
    const char *sep = "\n__ggml_vocab_test__\n";
    size_t sep_len = strlen(sep);

    size_t pos = 0, out_pos = 0, n_cases = 0, n_bad = 0;
    while (pos < in_len) {
        const char *next = strstr(in + pos, sep); /* the .inp holds no NUL */
        size_t case_len = next ? (size_t)(next - (in + pos)) : in_len - pos;
        const char *text = in + pos;
        pos = next ? pos + case_len + sep_len : in_len;

        /* Matching output line. */
        assert_true(out_pos < out_len);
        char *eol = memchr(out + out_pos, '\n', out_len - out_pos);
        size_t line_len = eol ? (size_t)(eol - (out + out_pos)) : out_len - out_pos;
        int32_t want[512];
        size_t n_want = 0;
        char *p = out + out_pos, *end = out + out_pos + line_len;
        while (p < end) {
            while (p < end && *p == ' ')
                p++;
            if (p >= end)
                break;
            want[n_want++] = (int32_t)strtol(p, &p, 10);
            assert_true(n_want < 512);
        }
        out_pos += line_len + 1;

        emb_token_list got = tokenize(TOK(state), text, case_len, false);
        long d = first_id_diff(&got, want, n_want);
        if (d >= 0) {
            n_bad++;
            fprintf(stderr, "fixture case %zu (%.*s): first difference at token %ld\n", n_cases,
                    (int)(case_len > 60 ? 60 : case_len), text, d);
            print_ids("want", want, n_want);
            int32_t ids[512];
            for (size_t i = 0; i < got.n && i < 512; i++)
                ids[i] = got.v[i].id;
            print_ids("got", ids, got.n < 512 ? got.n : 512);
        }
        emb_token_list_free(&got);
        n_cases++;
    }
    /* Nothing but the final newline may be left in the .out. */
    assert_true(out_pos >= out_len);
    fprintf(stderr, "llama.cpp fixture: %zu/%zu cases agree\n", n_cases - n_bad, n_cases);
    assert_int_equal(n_cases, 46);
    assert_int_equal(n_bad, 0);
    free(in);
    free(out);
    free(pin);
    free(pout);
}

/* ---- HF goldens ------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Undo the generator's escaping (\\xHH, \\\\) into out; returns the length. */
static size_t unescape(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && s[i + 1] == '\\') {
            out[o++] = '\\';
            i++;
        } else if (s[i] == '\\' && i + 3 < n && s[i + 1] == 'x') {
            int hi = hexval(s[i + 2]), lo = hexval(s[i + 3]);
            assert_true(hi >= 0 && lo >= 0);
            out[o++] = (char)(hi * 16 + lo);
            i += 3;
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}

/* Splits line at TABs into exactly 4 fields. */
static void split_fields(char *line, char *f[4], size_t len[4])
{
    char *p = line;
    for (int k = 0; k < 4; k++) {
        char *tab = k < 3 ? strchr(p, '\t') : NULL;
        assert_true(k == 3 || tab != NULL);
        f[k] = p;
        len[k] = tab ? (size_t)(tab - p) : strlen(p);
        if (tab)
            p = tab + 1;
    }
}

static void test_hf_goldens(void **state)
{
    char *path = source_path("tests/data/tokenizer/goldens.txt");
    size_t len;
    char *data = read_file(path, &len);
    size_t n_cases = 0, n_bad_ids = 0, n_bad_spans = 0;
    char *text = malloc(len + 1);
    int32_t *want = malloc(sizeof *want * (len + 1));
    uint32_t *span = malloc(sizeof *span * 2 * (len + 1));
    assert_non_null(text);
    assert_non_null(want);
    assert_non_null(span);

    char *line = data;
    while (line < data + len) {
        char *eol = strchr(line, '\n');
        assert_non_null(eol);
        *eol = '\0';
        if (line[0] == '#') {
            line = eol + 1;
            continue;
        }
        char *f[4];
        size_t fl[4];
        split_fields(line, f, fl);
        size_t text_len = unescape(f[1], fl[1], text);
        size_t n_want = 0, n_span = 0;
        for (char *p = f[2]; p < f[2] + fl[2];) {
            want[n_want++] = (int32_t)strtol(p, &p, 10);
            while (*p == ' ')
                p++;
        }
        for (char *p = f[3]; p < f[3] + fl[3];) {
            span[n_span++] = (uint32_t)strtoul(p, &p, 10);
            assert_true(*p == ':');
            span[n_span++] = (uint32_t)strtoul(p + 1, &p, 10);
            while (*p == ' ')
                p++;
        }
        assert_int_equal(n_span, 2 * n_want);

        emb_token_list got = tokenize(TOK(state), text, text_len, false);
        long d = first_id_diff(&got, want, n_want);
        if (d >= 0) {
            if (n_bad_ids++ < 10) {
                fprintf(stderr, "golden %zu [%.*s] \"%.*s\": ids differ first at token %ld\n", n_cases, (int)fl[0], f[0],
                        (int)(fl[1] > 80 ? 80 : fl[1]), f[1], d);
                print_ids("want", want, n_want);
                int32_t *ids = malloc(sizeof *ids * (got.n + 1));
                for (size_t i = 0; i < got.n; i++)
                    ids[i] = got.v[i].id;
                print_ids("got ", ids, got.n);
                free(ids);
            }
        } else {
            for (size_t i = 0; i < got.n; i++) {
                if (got.v[i].start != span[2 * i] || got.v[i].end != span[2 * i + 1]) {
                    if (n_bad_spans++ < 10)
                        fprintf(stderr, "golden %zu [%.*s] \"%.*s\": token %zu (id %d) span %u:%u, want %u:%u\n",
                                n_cases, (int)fl[0], f[0], (int)(fl[1] > 80 ? 80 : fl[1]), f[1], i, got.v[i].id,
                                got.v[i].start, got.v[i].end, span[2 * i], span[2 * i + 1]);
                    break;
                }
            }
        }
        emb_token_list_free(&got);
        n_cases++;
        line = eol + 1;
    }
    fprintf(stderr, "HF goldens: ids agree on %zu/%zu cases, spans on %zu/%zu\n", n_cases - n_bad_ids, n_cases,
            n_cases - n_bad_ids - n_bad_spans, n_cases - n_bad_ids);
    assert_true(n_cases >= 2000);
    assert_int_equal(n_bad_ids, 0);
    assert_int_equal(n_bad_spans, 0);
    free(text);
    free(want);
    free(span);
    free(data);
    free(path);
}

/* ---- behaviours --------------------------------------------------------------- */

static void assert_tokens(const emb_token_list *got, const int32_t *ids, const uint32_t *spans, size_t n)
{
    long d = first_id_diff(got, ids, n);
    if (d >= 0) {
        int32_t g[64];
        for (size_t i = 0; i < got->n && i < 64; i++)
            g[i] = got->v[i].id;
        print_ids("want", ids, n);
        print_ids("got ", g, got->n < 64 ? got->n : 64);
        fail_msg("ids differ first at token %ld", d);
    }
    for (size_t i = 0; spans && i < n; i++) {
        if (got->v[i].start != spans[2 * i] || got->v[i].end != spans[2 * i + 1])
            fail_msg("token %zu (id %d): span %u:%u, want %u:%u", i, ids[i], got->v[i].start, got->v[i].end,
                     spans[2 * i], spans[2 * i + 1]);
    }
}

static void test_add_special(void **state)
{
    emb_token_list l = tokenize(TOK(state), "Hello world", 11, true);
    const int32_t ids[] = {101, 7592, 2088, 102};
    const uint32_t spans[] = {0, 0, 0, 5, 6, 11, 11, 11};
    assert_tokens(&l, ids, spans, 4);
    emb_token_list_free(&l);

    l = tokenize(TOK(state), "", 0, true);
    const int32_t empty[] = {101, 102};
    const uint32_t empty_spans[] = {0, 0, 0, 0};
    assert_tokens(&l, empty, empty_spans, 2);
    emb_token_list_free(&l);

    l = tokenize(TOK(state), NULL, 0, false);
    assert_int_equal(l.n, 0);
    emb_token_list_free(&l);
}

/* Appends to a non-empty list; earlier tokens stay. */
static void test_append(void **state)
{
    emb_token_list l = tokenize(TOK(state), "hello", 5, false);
    emb_error err = {0};
    assert_int_equal(emb_tokenize(TOK(state), "world", 5, false, &l, &err), EMB_OK);
    const int32_t ids[] = {7592, 2088};
    const uint32_t spans[] = {0, 5, 0, 5};
    assert_tokens(&l, ids, spans, 2);
    emb_token_list_free(&l);
}

/* User text "[SEP]" is text: '[', 'sep', ']' (no injection of id 102). */
static void test_specials_are_plain_text(void **state)
{
    const char *t = "[CLS] a [SEP]";
    emb_token_list l = tokenize(TOK(state), t, strlen(t), false);
    for (size_t i = 0; i < l.n; i++) {
        assert_int_not_equal(l.v[i].id, 101);
        assert_int_not_equal(l.v[i].id, 102);
    }
    const int32_t ids[] = {1031, 18856, 2015, 1033, 1037, 1031, 19802, 1033};
    const uint32_t spans[] = {0, 1, 1, 3, 3, 4, 4, 5, 6, 7, 8, 9, 9, 12, 12, 13};
    assert_tokens(&l, ids, spans, 8);
    emb_token_list_free(&l);
}

/* A continuation piece is never looked up among word-initial pieces: "x▁the"
 * has no "##▁..." continuation in the vocabulary, so HF gives [UNK]. */
static void test_phantom_space_in_text(void **state)
{
    const char *t = "x\xE2\x96\x81the";
    emb_token_list l = tokenize(TOK(state), t, strlen(t), false);
    const int32_t ids[] = {100};
    const uint32_t spans[] = {0, 7};
    assert_tokens(&l, ids, spans, 1);
    emb_token_list_free(&l);
}

static void test_spans(void **state)
{
    /* "Héllo" (é precomposed: 2 bytes), "한" -> 3 jamo pieces sharing bytes 6..9,
     * a zero-width space inside a word is covered by the piece around it. */
    const char *t = "H\xC3\xA9llo \xED\x95\x9C a\xE2\x80\x8B" "b";
    emb_token_list l = tokenize(TOK(state), t, strlen(t), false);
    assert_int_equal(l.n, 5);
    const uint32_t spans[] = {0, 6, 7, 10, 7, 10, 7, 10, 11, 16};
    for (size_t i = 0; i < l.n; i++) {
        if (l.v[i].start != spans[2 * i] || l.v[i].end != spans[2 * i + 1])
            fail_msg("token %zu: span %u:%u, want %u:%u", i, l.v[i].start, l.v[i].end, spans[2 * i], spans[2 * i + 1]);
    }
    emb_token_list_free(&l);
}

/* Same ids as the text with the offending bytes removed. */
static void assert_same_ids(void **state, const char *a, size_t na, const char *b, size_t nb)
{
    emb_token_list la = tokenize(TOK(state), a, na, false);
    emb_token_list lb = tokenize(TOK(state), b, nb, false);
    int32_t want[256];
    assert_true(lb.n < 256);
    for (size_t i = 0; i < lb.n; i++)
        want[i] = lb.v[i].id;
    long d = first_id_diff(&la, want, lb.n);
    if (d >= 0)
        fail_msg("\"%.*s\" vs \"%.*s\": ids differ first at %ld", (int)na, a, (int)nb, b, d);
    for (size_t i = 0; i < la.n; i++) {
        assert_true(la.v[i].start < la.v[i].end);
        assert_true(la.v[i].end <= na);
    }
    emb_token_list_free(&la);
    emb_token_list_free(&lb);
}

static void test_invalid_utf8(void **state)
{
    static const struct {
        const char *bad;
        size_t n;
        const char *good;
    } cases[] = {
        {"hel\xFFlo", 6, "hello"},               /* stray byte: dropped, no split */
        {"hel\x80lo", 6, "hello"},               /* lone continuation             */
        {"\xC3(x", 3, "(x"},                     /* truncated 2-byte sequence     */
        {"a\xC1\x81" "b", 4, "ab"},              /* overlong 'A' is not 'A'       */
        {"a\xC0\x80" "b", 4, "ab"},              /* overlong NUL                  */
        {"a\xED\xA0\x80" "b", 5, "ab"},          /* encoded surrogate             */
        {"a\xF4\x90\x80\x80" "b", 6, "ab"},      /* above U+10FFFF                */
        {"a\xF0\x9F\x98" "b", 5, "ab"},          /* truncated 4-byte sequence     */
        {"caf\xC3\xA9\xE2\x82", 7, "caf\xC3\xA9"}, /* truncated at the end        */
        {"\xF8\x88\x80\x80\x80 x", 7, " x"},     /* 5-byte form                   */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_same_ids(state, cases[i].bad, cases[i].n, cases[i].good, strlen(cases[i].good));
}

static void test_embedded_nul(void **state)
{
    assert_same_ids(state, "hel\0lo wor\0ld", 13, "hello world", 11);
    emb_token_list l = tokenize(TOK(state), "\0\0\0", 3, false);
    assert_int_equal(l.n, 0);
    emb_token_list_free(&l);
    l = tokenize(TOK(state), "hel\0lo", 6, false);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].id, 7592);
    assert_int_equal(l.v[0].start, 0);
    assert_int_equal(l.v[0].end, 6);
    emb_token_list_free(&l);
}

static void test_truncate(void **state)
{
    const char *t = "one two three four five six seven eight nine ten";
    emb_token_list l = tokenize(TOK(state), t, strlen(t), true);
    assert_int_equal(l.n, 12);
    emb_token_list full = {0};
    full.v = malloc(l.n * sizeof *full.v);
    memcpy(full.v, l.v, l.n * sizeof *l.v);
    full.n = full.cap = l.n;

    emb_tokens_truncate(&l, 12); /* no-op at the limit */
    assert_int_equal(l.n, 12);
    emb_tokens_truncate(&l, 100);
    assert_int_equal(l.n, 12);
    emb_tokens_truncate(&l, 5);
    assert_int_equal(l.n, 5);
    assert_memory_equal(l.v, full.v, 4 * sizeof *l.v); /* [CLS] one two three */
    assert_memory_equal(&l.v[4], &full.v[11], sizeof *l.v); /* [SEP] at (len, len) */
    emb_tokens_truncate(&l, 1); /* below 2: [CLS] [SEP] remain */
    assert_int_equal(l.n, 2);
    assert_int_equal(l.v[0].id, 101);
    assert_int_equal(l.v[1].id, 102);
    emb_tokens_truncate(NULL, 4);
    emb_token_list_free(&l);
    emb_token_list_free(&full);
}

static void check_list_invariants(const emb_tokenizer *tok, const emb_token_list *l, size_t len)
{
    uint32_t prev = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].id < 0 || (size_t)l->v[i].id >= emb_tokenizer_vocab_size(tok))
            fail_msg("token %zu: id %d out of range", i, l->v[i].id);
        if (l->v[i].start > l->v[i].end || l->v[i].end > len || l->v[i].start < prev)
            fail_msg("token %zu: span %u:%u (input %zu, previous start %u)", i, l->v[i].start, l->v[i].end, len,
                     prev);
        prev = l->v[i].start;
    }
}

#define BIG (10u << 20)

/* 10 MB inputs: prose, one huge word, one mark run, random bytes. */
static void test_10mb_inputs(void **state)
{
    const emb_tokenizer *tok = TOK(state);
    char *buf = malloc(BIG);
    assert_non_null(buf);

    const char *unit = "Hello world, ";
    size_t ul = strlen(unit);
    size_t reps = BIG / ul;
    for (size_t i = 0; i < reps; i++)
        memcpy(buf + i * ul, unit, ul);
    emb_token_list l = tokenize(tok, buf, reps * ul, true);
    assert_int_equal(l.n, reps * 3 + 2);
    check_list_invariants(tok, &l, reps * ul);
    emb_token_list_free(&l);

    memset(buf, 'a', BIG); /* one word of 10M characters -> one [UNK] */
    l = tokenize(tok, buf, BIG, false);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].id, 100);
    assert_int_equal(l.v[0].start, 0);
    assert_int_equal(l.v[0].end, BIG);
    emb_token_list_free(&l);

    /* "a" + U+1D165 (a kept combining mark, class 216) repeated. */
    buf[0] = 'a';
    size_t n = 1;
    while (n + 4 <= BIG) {
        memcpy(buf + n, "\xF0\x9D\x85\xA5", 4);
        n += 4;
    }
    l = tokenize(tok, buf, n, false);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].id, 100);
    assert_int_equal(l.v[0].end, n);
    emb_token_list_free(&l);

    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < BIG; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (char)(x >> 24);
    }
    l = tokenize(tok, buf, BIG, true);
    check_list_invariants(tok, &l, BIG);
    emb_token_list_free(&l);
    free(buf);
}

/* An input over 4 GiB is refused before a byte is read (spans are 32-bit). */
static void test_input_too_long(void **state)
{
    if (sizeof(size_t) <= 4)
        skip();
    emb_token_list l = {0};
    emb_error err = {0};
    size_t huge = (size_t)UINT32_MAX + 1;
    assert_int_equal(emb_tokenize(TOK(state), "x", huge, true, &l, &err), EMB_ERR_RANGE);
    assert_string_equal(err.msg, "tokenizer: input is 4294967296 bytes, maximum 4294967295");
    assert_int_equal(l.n, 0);
}

/* One tokenizer shared by threads gives each the single-thread result. */
typedef struct thread_job {
    const emb_tokenizer *tok;
    const char *text;
    size_t len;
    emb_token_list out;
    int rc;
} thread_job;

static void *thread_main(void *arg)
{
    thread_job *job = arg;
    for (int i = 0; i < 20 && job->rc == EMB_OK; i++) {
        job->out.n = 0;
        job->rc = emb_tokenize(job->tok, job->text, job->len, true, &job->out, NULL);
    }
    return NULL;
}

static void test_threads(void **state)
{
    const char *text = "Grüße aus München! 한국어 東京 e\xCC\x81t\xC3\xA9 The quick brown fox, [SEP] unaffable.";
    size_t len = strlen(text);
    emb_token_list want = tokenize(TOK(state), text, len, true);
    thread_job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (thread_job){TOK(state), text, len, {0}, EMB_OK};
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(jobs[i].rc, EMB_OK);
        assert_int_equal(jobs[i].out.n, want.n);
        assert_memory_equal(jobs[i].out.v, want.v, want.n * sizeof *want.v);
        emb_token_list_free(&jobs[i].out);
    }
    emb_token_list_free(&want);
}

/* ---- construction ------------------------------------------------------------- */

static emb_str S(const char *s)
{
    emb_str v = {s, strlen(s)};
    return v;
}

static void test_create_explicit(void **state)
{
    (void)state;
    emb_str toks[] = {S("[PAD]"), S("[UNK]"), S("[CLS]"), S("[SEP]"), S("\xE2\x96\x81un"), S("aff"),
                      S("able"), S("\xE2\x96\x81un"), S("\xE2\x96\x81!")};
    emb_special_ids sp = {2, 3, 1, 0};
    emb_error err = {0};
    emb_tokenizer *tok = emb_tokenizer_create(toks, 9, &sp, &err);
    assert_non_null(tok);
    assert_int_equal(emb_tokenizer_vocab_size(tok), 9);
    emb_special_ids got = emb_tokenizer_special(tok);
    assert_int_equal(got.cls, 2);
    assert_int_equal(got.unk, 1);
    emb_str p = emb_tokenizer_piece(tok, 5);
    assert_int_equal(p.len, 3);
    assert_memory_equal(p.ptr, "aff", 3);
    assert_null(emb_tokenizer_piece(tok, 9).ptr);
    assert_null(emb_tokenizer_piece(tok, -1).ptr);

    emb_token_list l = tokenize(tok, "Unaffable! unable", 17, true);
    /* duplicate "▁un": the lowest id (4) wins; "unable" = un + able */
    const int32_t ids[] = {2, 4, 5, 6, 8, 4, 6, 3};
    const uint32_t spans[] = {0, 0, 0, 2, 2, 5, 5, 9, 9, 10, 11, 13, 13, 17, 17, 17};
    assert_tokens(&l, ids, spans, 8);
    emb_token_list_free(&l);
    /* "unx": "un" matches, "x" does not -> the whole word is one [UNK] */
    l = tokenize(tok, "unx un", 6, false);
    const int32_t ids2[] = {1, 4};
    const uint32_t spans2[] = {0, 3, 4, 6};
    assert_tokens(&l, ids2, spans2, 2);
    emb_token_list_free(&l);
    emb_tokenizer_destroy(tok);
    emb_tokenizer_destroy(NULL);
}

static void test_create_errors(void **state)
{
    (void)state;
    emb_str toks[] = {S("[PAD]"), S("[UNK]")};
    emb_error err = {0};
    assert_null(emb_tokenizer_create(toks, 0, NULL, &err));
    assert_int_equal(err.code, EMB_ERR_RANGE);
    assert_string_equal(err.msg, "tokenizer: the vocabulary is empty");

    emb_special_ids sp = {101, 102, 1, 0};
    assert_null(emb_tokenizer_create(toks, 2, &sp, &err));
    assert_int_equal(err.code, EMB_ERR_RANGE);
    assert_string_equal(err.msg, "tokenizer: [CLS] id 101 is outside the vocabulary of 2 tokens");

    assert_null(emb_tokenizer_create(toks, 2, NULL, &err)); /* defaults 101/102/100/0 */
    assert_int_equal(err.code, EMB_ERR_RANGE);

    emb_str bad[] = {{NULL, 3}};
    emb_special_ids zero = {0, 0, 0, 0};
    assert_null(emb_tokenizer_create(bad, 1, &zero, &err));
    assert_int_equal(err.code, EMB_ERR_RANGE);
    assert_string_equal(err.msg, "tokenizer: token 0 has 3 bytes at NULL");
    assert_null(emb_tokenizer_create(NULL, 1, &zero, &err));
    assert_string_equal(err.msg, "tokenizer: the token array is NULL");

    emb_token_list l = {0};
    assert_int_equal(emb_tokenize(NULL, "x", 1, false, &l, &err), EMB_ERR_RANGE);
    assert_string_equal(err.msg, "tokenizer: emb_tokenize called with a NULL tokenizer");
}

/* ---- a vocabulary crafted to collide ---------------------------------------------- */

/* The key hash as it was before the per-table seed (commit cb9bc99^): public,
 * so anyone could craft a vocabulary whose keys all land in one slot and make
 * building the table quadratic (a 45 s INSERT INTO embed_models). Only the
 * 8-byte continuation-key case is needed here. */
#define OLD_HASH_CONT 0x13198a2e03707344ULL
#define OLD_HASH_LEN 0x9e3779b97f4a7c15ULL
#define OLD_HASH_MUL 0x100000001b3ULL
#define MIX_C1 0xff51afd7ed558ccdULL
#define MIX_C2 0xc4ceb9fe1a85ec53ULL

static uint64_t old_mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= MIX_C1;
    h ^= h >> 33;
    h *= MIX_C2;
    h ^= h >> 33;
    return h;
}

static uint64_t old_hash8(const uint8_t key[8])
{
    uint64_t v, h = OLD_HASH_CONT ^ (8 * OLD_HASH_LEN);
    memcpy(&v, key, 8);
    h = (h ^ v) * OLD_HASH_MUL;
    h ^= h >> 29;
    return old_mix64(h); /* no tail bytes */
}

static uint64_t inverse_odd(uint64_t c) /* c * inverse = 1 mod 2^64 (Newton) */
{
    uint64_t x = c;
    for (int i = 0; i < 6; i++)
        x *= 2 - c * x;
    return x;
}

/* The 8-byte key whose old hash is exactly h: every step is invertible. */
static void old_hash8_preimage(uint64_t h, uint8_t key[8])
{
    h ^= h >> 33;
    h *= inverse_odd(MIX_C2);
    h ^= h >> 33;
    h *= inverse_odd(MIX_C1);
    h ^= h >> 33;
    h ^= (h >> 29) ^ (h >> 58); /* undo h ^= h >> 29 */
    h *= inverse_odd(OLD_HASH_MUL);
    uint64_t v = h ^ OLD_HASH_CONT ^ (8 * OLD_HASH_LEN);
    memcpy(key, &v, 8);
}

/* 4,096 distinct keys whose old hashes are multiples of 2^20: under the old
 * function every key has the same home slot in any table of up to 2^20
 * slots. With the seed a key is found in about one probe; the same keys with
 * the old (zero) seed show the attack: the k-th key needs k probes. */
static void test_crafted_collisions(void **state)
{
    (void)state;
    enum { N = 4096 };
    static uint8_t keys[N][8];
    static emb_str toks[N];
    size_t n = 0;
    for (uint64_t i = 1; n < N; i++) {
        uint8_t *k = keys[n];
        old_hash8_preimage(i << 20, k);
        assert_true(old_hash8(k) == i << 20);
        /* continuation keys only (not "▁..." nor "[...]"), as the test assumes */
        if ((k[0] == 0xE2 && k[1] == 0x96 && k[2] == 0x81) || (k[0] == '[' && k[7] == ']'))
            continue;
        toks[n].ptr = (const char *)k;
        toks[n].len = 8;
        n++;
    }
    emb_special_ids sp = {0, 1, 2, 3};
    emb_error err = {0};
    emb_tokenizer_stats st;

    emb_tokenizer *known = emb_tokenizer_create_seeded(toks, N, &sp, 0, &err);
    assert_non_null(known);
    emb_tokenizer_table_stats(known, &st);
    assert_int_equal(st.keys, N);
    assert_int_equal(st.probes_max, N); /* one chain: the keys do collide */
    emb_tokenizer_destroy(known);

    for (int round = 0; round < 4; round++) {
        emb_tokenizer *tok = emb_tokenizer_create(toks, N, &sp, &err);
        assert_non_null(tok);
        emb_tokenizer_table_stats(tok, &st);
        print_message("random seed: %zu keys, %zu probes in all, %zu at most\n", st.keys, st.probes_total,
                      st.probes_max);
        assert_int_equal(st.keys, N);
        /* linear probing at load 1/2 averages 1.5 probes per key */
        assert_true(st.probes_total <= 3 * (size_t)N);
        assert_true(st.probes_max <= 64);
        emb_tokenizer_destroy(tok);
    }
}

/* ---- GGUF metadata errors, from a valid in-memory baseline --------------------- */

typedef struct gbuf {
    uint8_t b[4096];
    size_t n;
} gbuf;

static void put(gbuf *g, const void *p, size_t n)
{
    assert_true(g->n + n <= sizeof g->b);
    memcpy(g->b + g->n, p, n);
    g->n += n;
}
static void put_u32(gbuf *g, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(g, b, 4);
}
static void put_u64(gbuf *g, uint64_t v)
{
    put_u32(g, (uint32_t)v);
    put_u32(g, (uint32_t)(v >> 32));
}
static void put_str(gbuf *g, const char *s)
{
    put_u64(g, strlen(s));
    put(g, s, strlen(s));
}

enum variant { V_OK, V_NO_MODEL, V_GPT2, V_MODEL_INT, V_NO_TOKENS, V_TOKENS_INT, V_UNK_BIG, V_UNK_STR };

/* A GGUF v3 with no tensors: tokenizer.ggml.model, tokenizer.ggml.tokens
 * (5 tokens) and tokenizer.ggml.unknown_token_id = 1, then one change. */
static gbuf make_gguf(enum variant v)
{
    gbuf g = {.n = 0};
    put(&g, "GGUF", 4);
    put_u32(&g, 3);
    put_u64(&g, 0);
    put_u64(&g, v == V_NO_MODEL || v == V_NO_TOKENS ? 2 : 3);
    if (v != V_NO_MODEL) {
        put_str(&g, "tokenizer.ggml.model");
        if (v == V_MODEL_INT) {
            put_u32(&g, 4);
            put_u32(&g, 7);
        } else {
            put_u32(&g, 8);
            put_str(&g, v == V_GPT2 ? "gpt2" : "bert");
        }
    }
    if (v != V_NO_TOKENS) {
        put_str(&g, "tokenizer.ggml.tokens");
        put_u32(&g, 9);
        if (v == V_TOKENS_INT) {
            put_u32(&g, 5);
            put_u64(&g, 2);
            put_u32(&g, 1);
            put_u32(&g, 2);
        } else {
            put_u32(&g, 8);
            put_u64(&g, 5);
            put_str(&g, "[PAD]");
            put_str(&g, "[UNK]");
            put_str(&g, "[CLS]");
            put_str(&g, "[SEP]");
            put_str(&g, "\xE2\x96\x81hi");
        }
    }
    put_str(&g, "tokenizer.ggml.unknown_token_id");
    if (v == V_UNK_STR) {
        put_u32(&g, 8);
        put_str(&g, "1");
    } else {
        put_u32(&g, 4);
        put_u32(&g, v == V_UNK_BIG ? 99 : 1);
    }
    return g;
}

/* Returns the tokenizer (or NULL with *err filled). */
static emb_tokenizer *from_variant(enum variant v, emb_error *err, gguf_file **gf)
{
    gbuf g = make_gguf(v);
    static gbuf keep; /* the reader does not copy */
    keep = g;
    *gf = gguf_open_memory(keep.b, keep.n, "mem.gguf", err);
    if (!*gf)
        fail_msg("baseline gguf rejected by the reader: %s", err->msg);
    return emb_tokenizer_create_from_gguf(*gf, err);
}

static void expect_gguf_error(enum variant v, emb_code code, const char *msg)
{
    emb_error err = {0};
    gguf_file *gf;
    emb_tokenizer *tok = from_variant(v, &err, &gf);
    assert_null(tok);
    assert_int_equal(err.code, code);
    assert_string_equal(err.msg, msg);
    gguf_close(gf);
}

static void test_gguf_metadata(void **state)
{
    (void)state;
    emb_error err = {0};
    gguf_file *gf;
    /* Baseline: [CLS]/[SEP] defaults 101/102 are outside 5 tokens -> error. */
    expect_gguf_error(V_OK, EMB_ERR_MODEL,
                      "tokenizer: [CLS] id 101 is outside the vocabulary of 5 tokens (in mem.gguf)");
    expect_gguf_error(V_NO_MODEL, EMB_ERR_MODEL,
                      "tokenizer: mem.gguf: key tokenizer.ggml.model is missing, expected \"bert\"");
    expect_gguf_error(V_GPT2, EMB_ERR_UNSUPPORTED,
                      "tokenizer: mem.gguf: tokenizer.ggml.model is \"gpt2\", only \"bert\" (WordPiece) is supported");
    expect_gguf_error(V_MODEL_INT, EMB_ERR_MODEL,
                      "tokenizer: mem.gguf: key tokenizer.ggml.model is UINT32, expected STRING \"bert\"");
    expect_gguf_error(V_NO_TOKENS, EMB_ERR_MODEL, "tokenizer: mem.gguf: key tokenizer.ggml.tokens is missing");
    expect_gguf_error(V_TOKENS_INT, EMB_ERR_MODEL,
                      "tokenizer: mem.gguf: key tokenizer.ggml.tokens is ARRAY of INT32, expected ARRAY of STRING");
    expect_gguf_error(V_UNK_STR, EMB_ERR_MODEL,
                      "tokenizer: mem.gguf: key tokenizer.ggml.unknown_token_id is STRING, expected an integer token id");
    /* An id outside the vocabulary is ignored: the default 100 is kept. */
    expect_gguf_error(V_UNK_BIG, EMB_ERR_MODEL,
                      "tokenizer: [CLS] id 101 is outside the vocabulary of 5 tokens (in mem.gguf)");
    (void)from_variant;
    (void)err;
    (void)gf;
}

/* The real fixture: special ids as the spec says (bos absent -> 101). */
static void test_gguf_fixture_specials(void **state)
{
    emb_special_ids sp = emb_tokenizer_special(TOK(state));
    assert_int_equal(sp.cls, 101);
    assert_int_equal(sp.sep, 102);
    assert_int_equal(sp.unk, 100);
    assert_int_equal(sp.pad, 0);
    assert_int_equal(emb_tokenizer_vocab_size(TOK(state)), 30522);
    emb_str p = emb_tokenizer_piece(TOK(state), 7592);
    assert_int_equal(p.len, 8);
    assert_memory_equal(p.ptr, "\xE2\x96\x81hello", 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_fixture),
        cmocka_unit_test(test_hf_goldens),
        cmocka_unit_test(test_add_special),
        cmocka_unit_test(test_append),
        cmocka_unit_test(test_specials_are_plain_text),
        cmocka_unit_test(test_phantom_space_in_text),
        cmocka_unit_test(test_spans),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_10mb_inputs),
        cmocka_unit_test(test_input_too_long),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_gguf_fixture_specials),
    };
    const struct CMUnitTest plain[] = {
        cmocka_unit_test(test_create_explicit),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_crafted_collisions),
        cmocka_unit_test(test_gguf_metadata),
    };
    int failed = cmocka_run_group_tests_name("tokenizer", tests, setup_vocab, teardown_vocab);
    failed += cmocka_run_group_tests_name("tokenizer construction", plain, NULL, NULL);
    return failed;
}
