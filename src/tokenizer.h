/*
 * tokenizer: BERT uncased WordPiece, exactly as Hugging Face BertTokenizer
 * (docs/format.md §5, docs/tokenizer.md: Hugging Face wins where llama.cpp differs).
 *
 * Pipeline per input: clean (drop NUL, U+FFFD, Cc/Cf controls; whitespace ->
 * space), CJK ideographs become words of their own, whitespace split,
 * lowercase, NFD + drop Mn marks, punctuation split (Unicode P* + ASCII
 * symbols), WordPiece greedy longest-match-first; words over 100 code points
 * or unmatchable -> one [UNK]. Invalid UTF-8 bytes are dropped (each bad byte
 * becomes U+FFFD which cleaning removes). Literal "[SEP]" etc. in user text is
 * plain text (no special-token injection).
 *
 * An emb_tokenizer owns a private copy of the vocabulary (O(vocab) memory) and
 * its hash table; it is immutable after creation and safe to share between
 * threads.
 */
#ifndef EMB_TOKENIZER_H
#define EMB_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emb_error.h"
#include "gguf.h"

typedef struct emb_tokenizer emb_tokenizer;

/* One token with its byte span [start, end) in the input text. The added
 * [CLS]/[SEP] have start == end (at 0 and at the text length). */
typedef struct emb_token {
    int32_t id;
    uint32_t start;
    uint32_t end;
} emb_token;

/* A growable list of tokens, owned by whoever declared it; free with
 * emb_token_list_free(). Zero-initialise before first use. */
typedef struct emb_token_list {
    emb_token *v;
    size_t n;
    size_t cap;
} emb_token_list;

void emb_token_list_free(emb_token_list *list);

typedef struct emb_special_ids {
    int32_t cls; /* tokenizer.ggml.bos_token_id, default 101        */
    int32_t sep; /* tokenizer.ggml.seperator_token_id, default 102  */
    int32_t unk; /* tokenizer.ggml.unknown_token_id, default 100    */
    int32_t pad; /* tokenizer.ggml.padding_token_id, default 0      */
} emb_special_ids;

/* Whether the GGUF carries a tokenizer this engine builds: tokenizer.ggml.model
 * is the STRING "bert" (WordPiece) and tokenizer.ggml.tokens an ARRAY of 1 to
 * INT32_MAX STRINGs. The one place these keys are validated (the model binder
 * calls it before binding tensors, emb_tokenizer_create_from_gguf before
 * building). No allocation. */
emb_code emb_tokenizer_gguf_check(const gguf_file *f, emb_error *err);

/* Build from a GGUF's metadata: requires tokenizer.ggml.model == "bert" and
 * tokenizer.ggml.tokens (array of strings, phantom-space form, docs/format.md §5.1).
 * Special ids from the file with the fallbacks of docs/format.md §3.2 (ids >= vocab size are
 * ignored). Returns a new tokenizer (caller frees with emb_tokenizer_destroy)
 * or NULL with *err filled. The gguf_file may be closed afterwards. */
emb_tokenizer *emb_tokenizer_create_from_gguf(const gguf_file *f, emb_error *err);

/* Build from an explicit vocabulary (copied). The key hash gets a random
 * seed per tokenizer, so a vocabulary crafted to make its keys collide
 * (quadratic construction: a 45 s registration that stalled other
 * connections) cannot be built without knowing the seed. */
emb_tokenizer *emb_tokenizer_create(const emb_str *tokens, size_t n_tokens,
                                    const emb_special_ids *special, emb_error *err);

/* The same with a fixed hash seed. For tests only: with a known seed a
 * crafted vocabulary collides, which is what the tests demonstrate and what
 * emb_tokenizer_create's random seed prevents. Never for untrusted input. */
emb_tokenizer *emb_tokenizer_create_seeded(const emb_str *tokens, size_t n_tokens,
                                           const emb_special_ids *special, uint64_t seed, emb_error *err);

/* The hash table's shape: stored keys, and the probes a lookup of each
 * stored key takes (1 = found in its home slot), summed and at most. Building
 * the table costs about probes_total; colliding keys make it keys^2 / 2. */
typedef struct emb_tokenizer_stats {
    size_t keys;
    size_t probes_total;
    size_t probes_max;
} emb_tokenizer_stats;

void emb_tokenizer_table_stats(const emb_tokenizer *tok, emb_tokenizer_stats *out);

void emb_tokenizer_destroy(emb_tokenizer *tok);

size_t emb_tokenizer_vocab_size(const emb_tokenizer *tok);
emb_special_ids emb_tokenizer_special(const emb_tokenizer *tok);
/* The stored piece for an id (phantom-space form); {NULL,0} if out of range. */
emb_str emb_tokenizer_piece(const emb_tokenizer *tok, int32_t id);

/* True if `id` begins a WordPiece word (HF's pieces without "##", and the
 * bracketed specials such as [UNK]); false for continuation pieces and for
 * ids out of range. A text may be cut just before such a token without
 * changing how either side tokenizes (the chunker relies on this). */
bool emb_tokenizer_is_word_start(const emb_tokenizer *tok, int32_t id);

/* Tokenize text[0..len) and append to *out (which the caller owns). With
 * add_special, [CLS] is appended first and [SEP] last. Any byte sequence is
 * accepted. Returns EMB_OK, or EMB_ERR_NOMEM / EMB_ERR_RANGE (len > UINT32_MAX)
 * with *err filled; on error *out keeps its previous tokens. */
emb_code emb_tokenize(const emb_tokenizer *tok, const char *text, size_t len,
                      bool add_special, emb_token_list *out, emb_error *err);

/* Keep [CLS] + the first (max_tokens - 2) pieces + [SEP] of a list produced
 * with add_special. No-op when list->n <= max_tokens. max_tokens >= 2. */
void emb_tokens_truncate(emb_token_list *list, size_t max_tokens);

#endif
