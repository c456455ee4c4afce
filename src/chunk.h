/*
 * chunk: split a text into windows that each fit a model's token limit, for
 * embedding long documents piece by piece (SQL: embed_chunks).
 *
 * The text is tokenized once (no [CLS]/[SEP]); a chunk is a run of pieces
 * [first, last) with at most max_tokens - 2 pieces, so that the chunk's text
 * plus [CLS] and [SEP] is at most max_tokens tokens.
 *
 * Where a chunk ends (the boundary rule). A chunk may only end just before a
 * piece that starts a WordPiece word (emb_tokenizer_is_word_start): never
 * inside a word, so the chunk's text tokenizes to exactly its pieces. Among
 * those positions, with B = max_tokens - 2 and the window's last possible end
 * s + B, the end is the latest
 *   1. paragraph break (two or more '\n' between the pieces) in the second
 *      half of the window, else
 *   2. sentence end (a piece ". ! ? …" or "。！？", possibly followed by one
 *      closing quote or bracket, then whitespace; "。！？" need none) in the
 *      last quarter, else
 *   3. whitespace boundary anywhere in the window, else
 *   4. word start anywhere in the window (e.g. between CJK ideographs or at
 *      punctuation in a long run without spaces).
 * A single word with more than B pieces cannot be placed: EMB_ERR_RANGE.
 *
 * Spans. Chunks cover the text without gaps: chunk 0 starts at byte 0, the
 * last chunk ends at the text's length, and a chunk ends where the first
 * piece after it starts (whitespace between pieces goes with the earlier
 * chunk). Without overlap chunk k+1 starts where chunk k ends.
 *
 * Overlap: the next chunk starts at the latest word start that repeats at
 * least `overlap` pieces of the previous chunk (more if a word straddles
 * that point); if no such word start exists after the previous chunk's
 * start, at the first word start after it (so every chunk makes progress).
 *
 * A text without any piece (empty, only whitespace) is one chunk of 2 tokens
 * covering the whole text, as embed() embeds it.
 */
#ifndef EMB_CHUNK_H
#define EMB_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "emb_error.h"
#include "tokenizer.h"

typedef struct emb_chunk {
    size_t first, last; /* pieces [first, last) of the untruncated tokenization */
    size_t start, end;  /* bytes [start, end) of the text                      */
    size_t tokens;      /* last - first + 2 ([CLS] and [SEP])                  */
} emb_chunk;

/* Owned by whoever declared it; zero-initialise, free with emb_chunk_list_free. */
typedef struct emb_chunk_list {
    emb_chunk *v;
    size_t n;
    size_t cap;
} emb_chunk_list;

void emb_chunk_list_free(emb_chunk_list *list);

/* Chunk text[0..len) (any bytes) into *out (appended). max_tokens >= 3
 * (counting [CLS] and [SEP]); overlap < max_tokens - 2. Errors: EMB_ERR_RANGE
 * for bad limits, a word too long for the window, or len > UINT32_MAX;
 * EMB_ERR_NOMEM. On error *out keeps its previous chunks. */
emb_code emb_chunk_text(const emb_tokenizer *tok, const char *text, size_t len, size_t max_tokens,
                        size_t overlap, emb_chunk_list *out, emb_error *err);

#endif
