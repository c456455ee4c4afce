/*
 * fuzz_tokenizer: libFuzzer target for the tokenizer.
 *
 * Random bytes are tokenized with the real vocabulary (the llama.cpp BERT
 * vocab fixture): path from $EMBED_TOKENIZER_VOCAB, else
 * $EMBED_SOURCE_DIR/tests/data/bert-vocab/ggml-vocab-bert-bge.gguf, with the
 * working directory as the default source directory.
 *
 * Checked on every input (a broken invariant traps):
 *   - every id is inside the vocabulary;
 *   - every span is inside the input, start <= end, and starts and ends never
 *     decrease from one token to the next;
 *   - with add_special the list is [CLS] + the plain list + [SEP], [CLS] at
 *     0:0 and [SEP] at len:len;
 *   - ill-formed UTF-8 is dropped byte by byte: the ids equal those of the
 *     input with every byte that does not start a well-formed sequence removed;
 *   - truncation keeps [CLS], the first pieces and [SEP].
 * Seed corpus suggestion: the inputs of tests/data/tokenizer/goldens.txt
 * (see docs/tokenizer.md).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "tokenizer.h"
#include "unicode.h"

#define CHECK(cond)                                                                                                   \
    do {                                                                                                              \
        if (!(cond)) {                                                                                                \
            fprintf(stderr, "fuzz_tokenizer: invariant broken: %s (line %d)\n", #cond, __LINE__);                     \
            __builtin_trap();                                                                                         \
        }                                                                                                             \
    } while (0)

static gguf_file *g_file;
static emb_tokenizer *g_tok;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char path[4096];
    const char *vocab = getenv("EMBED_TOKENIZER_VOCAB");
    if (!vocab) {
        const char *source = getenv("EMBED_SOURCE_DIR");
        snprintf(path, sizeof path, "%s/tests/data/bert-vocab/ggml-vocab-bert-bge.gguf",
                 source ? source : ".");
        vocab = path;
    }
    emb_error err = {EMB_OK, ""};
    g_file = gguf_open(vocab, &err);
    if (g_file)
        g_tok = emb_tokenizer_create_from_gguf(g_file, &err);
    if (!g_tok) {
        fprintf(stderr, "fuzz_tokenizer: cannot load the vocabulary: %s\n", err.msg);
        exit(1);
    }
    return 0;
}

static void check_list(const emb_token_list *l, size_t begin, size_t end, size_t len)
{
    size_t vocab = emb_tokenizer_vocab_size(g_tok);
    uint32_t prev_start = 0, prev_end = 0;
    for (size_t i = begin; i < end; i++) {
        const emb_token *t = &l->v[i];
        CHECK(t->id >= 0 && (size_t)t->id < vocab);
        CHECK(t->start <= t->end && t->end <= len);
        CHECK(t->start >= prev_start && t->end >= prev_end);
        prev_start = t->start;
        prev_end = t->end;
    }
}

/* The input without the bytes the decoder skips (one at a time). */
static size_t well_formed_only(const uint8_t *data, size_t size, uint8_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < size;) {
        uint32_t cp;
        size_t k = emb_utf8_decode(data + i, size - i, &cp);
        if (cp != EMB_UC_INVALID) {
            memcpy(out + n, data + i, k);
            n += k;
        }
        i += k;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    emb_error err = {EMB_OK, ""};
    emb_token_list plain = {0}, special = {0}, clean = {0};
    uint8_t *filtered = malloc(size ? size : 1);
    CHECK(filtered != NULL);

    CHECK(emb_tokenize(g_tok, (const char *)data, size, false, &plain, &err) == EMB_OK);
    check_list(&plain, 0, plain.n, size);

    CHECK(emb_tokenize(g_tok, (const char *)data, size, true, &special, &err) == EMB_OK);
    emb_special_ids sp = emb_tokenizer_special(g_tok);
    CHECK(special.n == plain.n + 2);
    CHECK(special.v[0].id == sp.cls && special.v[0].start == 0 && special.v[0].end == 0);
    CHECK(special.v[special.n - 1].id == sp.sep && special.v[special.n - 1].start == size
          && special.v[special.n - 1].end == size);
    CHECK(plain.n == 0 || memcmp(special.v + 1, plain.v, plain.n * sizeof *plain.v) == 0);

    size_t fn = well_formed_only(data, size, filtered);
    CHECK(emb_tokenize(g_tok, (const char *)filtered, fn, false, &clean, &err) == EMB_OK);
    CHECK(clean.n == plain.n);
    for (size_t i = 0; i < plain.n; i++)
        CHECK(clean.v[i].id == plain.v[i].id);

    size_t max = 2 + (size ? data[0] % 16 : 0);
    size_t before = special.n;
    emb_token last = special.v[special.n - 1];
    emb_tokens_truncate(&special, max);
    CHECK(special.n == (before < max ? before : max));
    CHECK(special.v[0].id == sp.cls);
    CHECK(memcmp(&special.v[special.n - 1], &last, sizeof last) == 0);
    for (size_t i = 1; i + 1 < special.n; i++)
        CHECK(memcmp(&special.v[i], &plain.v[i - 1], sizeof last) == 0);

    emb_token_list_free(&plain);
    emb_token_list_free(&special);
    emb_token_list_free(&clean);
    free(filtered);
    return 0;
}
