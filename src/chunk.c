#include "chunk.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void emb_chunk_list_free(emb_chunk_list *list)
{
    if (!list)
        return;
    free(list->v);
    list->v = NULL;
    list->n = list->cap = 0;
}

static emb_code chunk_push(emb_chunk_list *list, emb_chunk c, emb_error *err)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 8;
        if (cap > SIZE_MAX / sizeof *list->v)
            return emb_error_set(err, EMB_ERR_NOMEM, "chunk: too many chunks");
        emb_chunk *v = realloc(list->v, cap * sizeof *v);
        if (!v)
            return emb_error_set(err, EMB_ERR_NOMEM, "chunk: out of memory for %zu chunks", cap);
        list->v = v;
        list->cap = cap;
    }
    list->v[list->n++] = c;
    return EMB_OK;
}

/* How good a place the boundary before piece k is (k > 0, k < n). */
enum boundary { B_WORD = 1, B_SPACE = 2, B_SENTENCE = 3, B_PARAGRAPH = 4 };

static bool span_is(const char *text, const emb_token *t, const char *const *set)
{
    size_t n = t->end - t->start;
    for (; *set; set++)
        if (strlen(*set) == n && memcmp(text + t->start, *set, n) == 0)
            return true;
    return false;
}

static const char *const TERMINATORS[] = {".", "!", "?", "\xE2\x80\xA6" /* … */, NULL};
static const char *const CJK_TERMINATORS[] = {"\xE3\x80\x82" /* 。 */, "\xEF\xBC\x81" /* ！ */,
                                              "\xEF\xBC\x9F" /* ？ */, NULL};
static const char *const CLOSERS[] = {"\"", "'", ")", "]", "\xE2\x80\x9D" /* ” */,
                                      "\xE2\x80\x99" /* ’ */, NULL};

static enum boundary boundary_at(const char *text, const emb_token *p, size_t k)
{
    size_t gap_start = p[k - 1].end, gap_end = p[k].start;
    size_t newlines = 0;
    for (size_t i = gap_start; i < gap_end; i++)
        newlines += text[i] == '\n';
    if (newlines >= 2)
        return B_PARAGRAPH;
    const emb_token *last = &p[k - 1];
    if (span_is(text, last, CJK_TERMINATORS))
        return B_SENTENCE;
    if (gap_end == gap_start)
        return B_WORD;
    if (span_is(text, last, TERMINATORS))
        return B_SENTENCE;
    if (k >= 2 && span_is(text, last, CLOSERS) && p[k - 2].end == last->start &&
        span_is(text, &p[k - 2], TERMINATORS))
        return B_SENTENCE;
    return B_SPACE;
}

/* The end of the chunk that starts at piece s (s + B < n): see chunk.h for
 * the rule. Returns 0 if no word starts in (s, s + B]. */
static size_t choose_end(const emb_tokenizer *tok, const char *text, const emb_token *p, size_t s,
                         size_t B)
{
    size_t hi = s + B;
    size_t lo_paragraph = s + (B + 1) / 2, lo_sentence = s + B - B / 4;
    size_t best[B_PARAGRAPH + 1] = {0};
    for (size_t k = hi; k > s; k--) {
        if (!emb_tokenizer_is_word_start(tok, p[k].id))
            continue;
        enum boundary b = boundary_at(text, p, k);
        /* A better class also counts as every worse one. */
        for (int c = B_WORD; c <= (int)b; c++)
            if (!best[c])
                best[c] = k;
    }
    if (best[B_PARAGRAPH] && best[B_PARAGRAPH] >= lo_paragraph)
        return best[B_PARAGRAPH];
    if (best[B_SENTENCE] && best[B_SENTENCE] >= lo_sentence)
        return best[B_SENTENCE];
    if (best[B_SPACE])
        return best[B_SPACE];
    return best[B_WORD];
}

/* Where the chunk after [s, e) starts (s < e < n, p[e] a word start). */
static size_t next_start(const emb_tokenizer *tok, const emb_token *p, size_t s, size_t e,
                         size_t overlap)
{
    if (overlap == 0)
        return e;
    if (e - s > overlap)
        for (size_t k = e - overlap; k > s; k--)
            if (emb_tokenizer_is_word_start(tok, p[k].id))
                return k;
    size_t k = s + 1;
    while (!emb_tokenizer_is_word_start(tok, p[k].id))
        k++; /* stops at e at the latest */
    return k;
}

emb_code emb_chunk_text(const emb_tokenizer *tok, const char *text, size_t len, size_t max_tokens,
                        size_t overlap, emb_chunk_list *out, emb_error *err)
{
    if (max_tokens < 3)
        return emb_error_set(err, EMB_ERR_RANGE,
                             "chunk: max_tokens %zu, minimum 3 ([CLS], one piece, [SEP])", max_tokens);
    size_t B = max_tokens - 2;
    if (overlap >= B)
        return emb_error_set(err, EMB_ERR_RANGE,
                             "chunk: overlap %zu must be less than max_tokens - 2 = %zu", overlap, B);
    emb_token_list toks = {0};
    emb_code rc = emb_tokenize(tok, text, len, false, &toks, err);
    if (rc != EMB_OK)
        return rc;
    size_t n_before = out->n;
    const emb_token *p = toks.v;
    size_t n = toks.n;
    if (n == 0) {
        rc = chunk_push(out, (emb_chunk){0, 0, 0, len, 2}, err);
        goto end;
    }
    for (size_t s = 0;;) {
        size_t e = n - s <= B ? n : choose_end(tok, text, p, s, B);
        if (e == 0) {
            /* no word starts in (s, s + B]: the word at s is longer than B */
            rc = emb_error_set(err, EMB_ERR_RANGE,
                               "chunk: the word at byte %u has more than %zu pieces; "
                               "max_tokens %zu cannot hold it with [CLS] and [SEP]",
                               p[s].start, B, max_tokens);
            goto end;
        }
        emb_chunk c = {s, e, out->n == n_before ? 0 : p[s].start, e == n ? len : p[e].start, e - s + 2};
        if ((rc = chunk_push(out, c, err)) != EMB_OK)
            goto end;
        if (e == n)
            break;
        s = next_start(tok, p, s, e, overlap);
    }
    rc = EMB_OK;
end:
    if (rc != EMB_OK)
        out->n = n_before;
    emb_token_list_free(&toks);
    return rc;
}
