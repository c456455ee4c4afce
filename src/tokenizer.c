/*
 * tokenizer: BERT uncased WordPiece as Hugging Face tokenizers runs it
 * (BertNormalizer + BertPreTokenizer + WordPiece), in one streaming pass.
 *
 * HF works in stages over the whole string; here each input code point goes
 * through the same stages at once, which is equivalent because every stage but
 * one is per character:
 *
 *   decode UTF-8      ill-formed bytes are dropped one at a time (they would be
 *                     U+FFFD, which clean_text removes)
 *   clean_text        drop NUL/U+FFFD/controls; whitespace ends the word
 *   chinese chars     a CJK ideograph is a word of its own
 *   strip_accents     full canonical decomposition, canonical reordering of
 *                     combining marks, drop nonspacing marks (Mn)
 *   lowercase         per code point (Rust char::to_lowercase; may expand)
 *   pre-tokenizer     punctuation becomes a word of its own
 *   WordPiece         greedy longest-match-first per word; more than 100 code
 *                     points, or an unmatchable position -> one [UNK]
 *
 * The exception is canonical reordering, which sorts each run of combining
 * marks by combining class. Nonspacing marks are dropped right after it, and a
 * stable sort commutes with dropping elements, so only the marks that survive
 * are buffered ("pending") until the next starter, and of the others only
 * counts are kept (they still decide the spans, see span_rule). The buffer is
 * bounded (PENDING_CAP) and tiny in practice.
 *
 * Vocabulary: the GGUF's phantom-space form (docs/format.md §5.1) is split into two key
 * spaces. A token "▁x" is the word-initial piece "x"; a bracketed token
 * ("[CLS]") is word-initial too (as in HF's vocab, where it has no "##"); any
 * other token "x" is the continuation piece HF writes "##x". Keeping the two
 * apart means a continuation can never match a word-initial token even if the
 * text itself contains U+2581 (llama.cpp's single map does let "x▁the" match
 * "▁the" as a continuation; HF does not).
 *
 * Byte spans: every normalized character remembers the source bytes of the
 * code point it came from. A piece spans from the first byte of its first
 * character's source to the last byte of its last character's source, so
 * removed characters inside a piece are covered and removed characters
 * between pieces are not. When one source code point yields several
 * characters (Hangul syllable -> jamo), pieces that split them share that
 * source span. When canonical reordering permutes a run of marks, the spans
 * do not travel with the marks but are handed out in the new order, as HF's
 * alignment tracking does (span_rule below). An [UNK] for a whole word spans
 * the whole word. Spans never decrease from one token to the next. This is
 * what HF's offsets give, in bytes instead of characters.
 *
 * Memory: a word longer than 100 characters is [UNK] whatever it contains, so
 * only its first 100 characters are stored. The work state is one fixed-size
 * allocation (about 5 KB) per call; the output list is the only thing that
 * grows with the input.
 */
#include "tokenizer.h"

#include "unicode.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define WORD_MAX_CHARS 100 /* HF max_input_chars_per_word */
#define PENDING_CAP (WORD_MAX_CHARS + 1)

enum key_space { KEY_INITIAL = 0, KEY_CONTINUATION = 1 };

typedef struct vocab_entry {
    uint32_t off;     /* piece bytes: arena + off (arena < 4 GiB) */
    uint32_t len;     /* piece length in bytes                    */
    uint8_t key_skip; /* 3 when the piece starts with U+2581      */
    uint8_t space;    /* enum key_space                           */
} vocab_entry;

/* A probe compares the stored hash; only on a match does it read the
 * entry and the key bytes (a 32-bit match of two different keys is rare).
 * 8 bytes a slot: the table of a 30,522-token vocabulary is 512 KiB, not the
 * 1 MiB of slots that also carried the key's place, length and space (the
 * tables were most of a process's baseline memory, docs/engine.md §4a). */
typedef struct hash_slot {
    uint32_t hash; /* low 32 bits of the key hash */
    int32_t id;    /* -1: empty                   */
} hash_slot;

struct emb_tokenizer {
    size_t n_tokens;
    char *arena;
    vocab_entry *entries;
    hash_slot *slots;
    size_t mask; /* slot count - 1 (a power of two minus one)      */
    uint64_t seed; /* random per tokenizer: a vocabulary crafted so that its
                      keys collide (hours of linear probing) cannot be built
                      without knowing it */
    size_t max_key_len[2];
    emb_special_ids special;
};

static const char PHANTOM_SPACE[] = "\xE2\x96\x81";

/* ---- hashing ------------------------------------------------------------ */

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* A secret for one table: getrandom, or (no entropy available, e.g. early
 * boot) the clock and addresses, which still differ per process. */
static uint64_t hash_seed(const void *salt)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32 ^ (uint64_t)(uintptr_t)salt ^
            (uint64_t)(uintptr_t)&s;
    }
    return mix64(s);
}

static uint64_t hash_key(uint64_t seed, enum key_space space, const uint8_t *p, size_t n)
{
    uint64_t h = seed ^ (space == KEY_INITIAL ? 0x243f6a8885a308d3ULL : 0x13198a2e03707344ULL)
               ^ ((uint64_t)n * 0x9e3779b97f4a7c15ULL);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0x100000001b3ULL;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, p, n);
    return mix64(h ^ tail);
}

static void key_of(const emb_tokenizer *tok, int32_t id, const uint8_t **key, size_t *len)
{
    const vocab_entry *e = &tok->entries[id];
    *key = (const uint8_t *)tok->arena + e->off + e->key_skip;
    *len = e->len - e->key_skip;
}

static int bytes_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    for (; n >= 8; a += 8, b += 8, n -= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y)
            return 0;
    }
    for (; n > 0; a++, b++, n--)
        if (*a != *b)
            return 0;
    return 1;
}

/* Id of the piece (space, p[0..n)), or -1. */
static int32_t vocab_lookup(const emb_tokenizer *tok, enum key_space space, const uint8_t *p, size_t n)
{
    uint64_t h = hash_key(tok->seed, space, p, n);
    size_t i = (size_t)h & tok->mask;
    for (;;) {
        const hash_slot *s = &tok->slots[i];
        if (s->id < 0)
            return -1;
        if (s->hash == (uint32_t)h && tok->entries[s->id].space == space) {
            const uint8_t *key;
            size_t len;
            key_of(tok, s->id, &key, &len);
            if (len == n && bytes_equal(key, p, n))
                return s->id;
        }
        i = (i + 1) & tok->mask;
    }
}

/* ---- construction --------------------------------------------------------- */

void emb_tokenizer_destroy(emb_tokenizer *tok)
{
    if (!tok)
        return;
    free(tok->arena);
    free(tok->entries);
    free(tok->slots);
    free(tok);
}

static const emb_special_ids DEFAULT_SPECIAL = {101, 102, 100, 0};

static emb_code check_special(const emb_special_ids *sp, size_t n, emb_error *err)
{
    const struct {
        const char *name;
        int32_t id;
    } ids[] = {{"[CLS]", sp->cls}, {"[SEP]", sp->sep}, {"[UNK]", sp->unk}, {"[PAD]", sp->pad}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        if (ids[i].id < 0 || (size_t)ids[i].id >= n)
            return emb_error_set(err, EMB_ERR_RANGE,
                                 "tokenizer: %s id %ld is outside the vocabulary of %zu tokens",
                                 ids[i].name, (long)ids[i].id, n);
    }
    return EMB_OK;
}

/* Classify token i (phantom-space form) into a key space. */
static void classify(vocab_entry *e, const char *s)
{
    e->key_skip = 0;
    e->space = KEY_CONTINUATION;
    if (e->len >= 3 && memcmp(s, PHANTOM_SPACE, 3) == 0) {
        e->key_skip = 3;
        e->space = KEY_INITIAL;
    } else if (e->len >= 2 && s[0] == '[' && s[e->len - 1] == ']') {
        e->space = KEY_INITIAL;
    }
}

emb_tokenizer *emb_tokenizer_create(const emb_str *tokens, size_t n_tokens,
                                    const emb_special_ids *special, emb_error *err)
{
    return emb_tokenizer_create_seeded(tokens, n_tokens, special, hash_seed(tokens), err);
}

emb_tokenizer *emb_tokenizer_create_seeded(const emb_str *tokens, size_t n_tokens,
                                           const emb_special_ids *special, uint64_t seed, emb_error *err)
{
    emb_tokenizer *tok = NULL;
    emb_tokenizer *result = NULL;
    const emb_special_ids *sp = special ? special : &DEFAULT_SPECIAL;

    if (n_tokens == 0) {
        emb_error_set(err, EMB_ERR_RANGE, "tokenizer: the vocabulary is empty");
        goto end;
    }
    if (!tokens) {
        emb_error_set(err, EMB_ERR_RANGE, "tokenizer: the token array is NULL");
        goto end;
    }
    /* Ids are int32; the slot count (a power of two >= 2n) must fit size_t. */
    if (n_tokens > (size_t)INT32_MAX || n_tokens > SIZE_MAX / 4 / sizeof(hash_slot)) {
        emb_error_set(err, EMB_ERR_RANGE, "tokenizer: vocabulary of %zu tokens, at most %ld supported",
                      n_tokens, (long)INT32_MAX);
        goto end;
    }
    if (check_special(sp, n_tokens, err) != EMB_OK)
        goto end;

    size_t arena_size = 0;
    for (size_t i = 0; i < n_tokens; i++) {
        if (tokens[i].len > 0 && !tokens[i].ptr) {
            emb_error_set(err, EMB_ERR_RANGE, "tokenizer: token %zu has %zu bytes at NULL", i, tokens[i].len);
            goto end;
        }
        /* Piece offsets in the entries are 32-bit. */
        if (tokens[i].len >= UINT32_MAX - arena_size) {
            emb_error_set(err, EMB_ERR_RANGE, "tokenizer: the vocabulary strings exceed 4 GiB");
            goto end;
        }
        arena_size += tokens[i].len;
    }

    tok = calloc(1, sizeof *tok);
    if (!tok) {
        emb_error_set(err, EMB_ERR_NOMEM, "tokenizer: out of memory for the tokenizer");
        goto end;
    }
    size_t n_slots = 16;
    while (n_slots < 2 * n_tokens)
        n_slots *= 2;
    tok->n_tokens = n_tokens;
    tok->special = *sp;
    tok->mask = n_slots - 1;
    tok->seed = seed;
    tok->arena = malloc(arena_size + 1);
    tok->entries = malloc(n_tokens * sizeof *tok->entries);
    tok->slots = malloc(n_slots * sizeof *tok->slots);
    if (!tok->arena || !tok->entries || !tok->slots) {
        emb_error_set(err, EMB_ERR_NOMEM, "tokenizer: out of memory for a vocabulary of %zu tokens (%zu bytes)",
                      n_tokens, arena_size);
        goto end;
    }
    for (size_t i = 0; i < n_slots; i++)
        tok->slots[i].id = -1;

    size_t off = 0;
    for (size_t i = 0; i < n_tokens; i++) {
        vocab_entry *e = &tok->entries[i];
        if (tokens[i].len)
            memcpy(tok->arena + off, tokens[i].ptr, tokens[i].len);
        e->off = (uint32_t)off;
        e->len = (uint32_t)tokens[i].len;
        classify(e, tok->arena + off);
        off += tokens[i].len;

        const uint8_t *key;
        size_t key_len;
        key_of(tok, (int32_t)i, &key, &key_len);
        if (key_len > tok->max_key_len[e->space])
            tok->max_key_len[e->space] = key_len;
        /* Duplicate keys: the lowest id wins (documented in docs/tokenizer.md).
         * A key this long could never match a word anyway (words hold at
         * most 400 bytes): not stored. */
        if (key_len > UINT16_MAX || vocab_lookup(tok, e->space, key, key_len) >= 0)
            continue;
        uint64_t h = hash_key(tok->seed, e->space, key, key_len);
        size_t j = (size_t)h & tok->mask;
        while (tok->slots[j].id >= 0)
            j = (j + 1) & tok->mask;
        tok->slots[j] = (hash_slot){(uint32_t)h, (int32_t)i};
    }
    tok->arena[arena_size] = '\0';
    result = tok;
    tok = NULL;
end:
    emb_tokenizer_destroy(tok);
    return result;
}

void emb_tokenizer_table_stats(const emb_tokenizer *tok, emb_tokenizer_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!tok)
        return;
    for (size_t j = 0; j <= tok->mask; j++) {
        const hash_slot *s = &tok->slots[j];
        if (s->id < 0)
            continue;
        const uint8_t *key;
        size_t len;
        key_of(tok, s->id, &key, &len);
        enum key_space space = (enum key_space)tok->entries[s->id].space;
        size_t home = (size_t)hash_key(tok->seed, space, key, len) & tok->mask;
        size_t probes = ((j - home) & tok->mask) + 1;
        out->keys++;
        out->probes_total += probes;
        if (probes > out->probes_max)
            out->probes_max = probes;
    }
}

size_t emb_tokenizer_vocab_size(const emb_tokenizer *tok)
{
    return tok ? tok->n_tokens : 0;
}

emb_special_ids emb_tokenizer_special(const emb_tokenizer *tok)
{
    return tok ? tok->special : DEFAULT_SPECIAL;
}

emb_str emb_tokenizer_piece(const emb_tokenizer *tok, int32_t id)
{
    emb_str s = {NULL, 0};
    if (tok && id >= 0 && (size_t)id < tok->n_tokens) {
        s.ptr = tok->arena + tok->entries[id].off;
        s.len = tok->entries[id].len;
    }
    return s;
}

bool emb_tokenizer_is_word_start(const emb_tokenizer *tok, int32_t id)
{
    return tok && id >= 0 && (size_t)id < tok->n_tokens && tok->entries[id].space == KEY_INITIAL;
}

/* ---- token list ------------------------------------------------------------ */

void emb_token_list_free(emb_token_list *list)
{
    if (!list)
        return;
    free(list->v);
    list->v = NULL;
    list->n = 0;
    list->cap = 0;
}

static emb_code list_push(emb_token_list *list, int32_t id, uint32_t start, uint32_t end)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap : 16;
        if (list->cap) {
            if (cap > SIZE_MAX / 2 / sizeof *list->v)
                return EMB_ERR_NOMEM;
            cap *= 2;
        }
        emb_token *v = realloc(list->v, cap * sizeof *v);
        if (!v)
            return EMB_ERR_NOMEM;
        list->v = v;
        list->cap = cap;
    }
    list->v[list->n].id = id;
    list->v[list->n].start = start;
    list->v[list->n].end = end;
    list->n++;
    return EMB_OK;
}

void emb_tokens_truncate(emb_token_list *list, size_t max_tokens)
{
    if (!list)
        return;
    if (max_tokens < 2)
        max_tokens = 2; /* [CLS] and [SEP] always stay */
    if (list->n <= max_tokens)
        return;
    list->v[max_tokens - 1] = list->v[list->n - 1];
    list->n = max_tokens;
}

/* ---- tokenization state ------------------------------------------------------ */

/* The word being built: normalized characters as UTF-8 plus their source spans.
 * Only the first WORD_MAX_CHARS characters are stored; n counts them all. */
typedef struct word_buf {
    size_t n;
    uint32_t first_start; /* source start of character 0              */
    uint32_t last_end;    /* source end of the last character         */
    uint16_t off[WORD_MAX_CHARS + 1]; /* byte offset of each character */
    uint32_t start[WORD_MAX_CHARS];
    uint32_t end[WORD_MAX_CHARS];
    uint8_t bytes[WORD_MAX_CHARS * 4];
} word_buf;

/* A surviving (not Mn) combining mark of the current run. */
typedef struct pending_mark {
    uint32_t cp;
    uint32_t start;     /* source span: its own, until reordering moves it  */
    uint32_t end;
    uint32_t eq_before; /* consumers of the same class earlier in the run   */
    uint8_t ccc;
    uint8_t consumer;   /* first code point of its source's decomposition   */
} pending_mark;

/* The current run of combining marks (nonzero class) since the last starter.
 * All marks are counted (classes of the "consumers", see span_rule below);
 * only surviving marks are stored, at most PENDING_CAP of them, plus the
 * first and last in canonical order for longer runs (whose word is [UNK]). */
typedef struct pending_buf {
    size_t n_marks;     /* all marks of the run, dropped ones included      */
    size_t n;           /* surviving marks                                  */
    size_t n_consumers;
    uint32_t cons_begin; /* source offset of the run's first consumer      */
    uint8_t max_ccc;
    uint8_t reordered;
    uint16_t n_used;
    uint8_t used[256];  /* classes with a nonzero hist entry               */
    uint32_t hist[256]; /* consumers per class                             */
    pending_mark first, last;
    pending_mark v[PENDING_CAP];
} pending_buf;

typedef struct tk_state {
    const emb_tokenizer *tok;
    const uint8_t *text;
    size_t len;
    emb_token_list *out;
    emb_code status;
    word_buf w;
    pending_buf p;
} tk_state;

static void emit_token(tk_state *st, int32_t id, uint32_t start, uint32_t end)
{
    if (st->status == EMB_OK)
        st->status = list_push(st->out, id, start, end);
}

/* WordPiece over the finished word, then reset it. */
static void word_finish(tk_state *st)
{
    word_buf *w = &st->w;
    const emb_tokenizer *tok = st->tok;
    if (w->n == 0)
        return;
    if (w->n > WORD_MAX_CHARS) {
        emit_token(st, tok->special.unk, w->first_start, w->last_end);
        w->n = 0;
        return;
    }
    size_t mark = st->out->n;
    size_t begin = 0;
    while (begin < w->n) {
        enum key_space space = begin == 0 ? KEY_INITIAL : KEY_CONTINUATION;
        size_t limit = tok->max_key_len[space];
        size_t end = w->n;
        while (end > begin && (size_t)(w->off[end] - w->off[begin]) > limit)
            end--;
        int32_t id = -1;
        for (; end > begin; end--) {
            id = vocab_lookup(tok, space, w->bytes + w->off[begin], (size_t)(w->off[end] - w->off[begin]));
            if (id >= 0)
                break;
        }
        if (id < 0) {
            if (st->status == EMB_OK)
                st->out->n = mark;
            emit_token(st, tok->special.unk, w->first_start, w->last_end);
            break;
        }
        emit_token(st, id, w->start[begin], w->end[end - 1]);
        begin = end;
    }
    w->n = 0;
}

/* Append one normalized (non-punctuation) character to the word. */
static void word_push(word_buf *w, uint32_t cp, uint32_t start, uint32_t end)
{
    if (w->n == 0) {
        w->first_start = start;
        w->off[0] = 0;
    }
    w->last_end = end;
    if (w->n < WORD_MAX_CHARS) {
        uint16_t at = w->off[w->n];
        w->off[w->n + 1] = (uint16_t)(at + emb_utf8_encode(cp, w->bytes + at));
        w->start[w->n] = start;
        w->end[w->n] = end;
    }
    w->n++;
}

/* A normalized character after mark stripping: lowercase, then punctuation
 * becomes a word of its own. */
static void emit_char(tk_state *st, uint32_t cp, uint8_t flags, uint32_t start, uint32_t end)
{
    uint32_t low[EMB_UC_MAX_LOWER];
    size_t n = 1;
    low[0] = cp;
    if (flags & EMB_UC_LOWER)
        n = emb_uc_lower(cp, low);
    for (size_t i = 0; i < n; i++) {
        uint8_t f = low[i] == cp ? flags : emb_uc_flags(low[i]);
        if (f & EMB_UC_PUNCT) {
            word_finish(st);
            word_push(&st->w, low[i], start, end);
            word_finish(st);
        } else {
            word_push(&st->w, low[i], start, end);
        }
    }
}

/*
 * span_rule: the spans HF gives reordered marks. HF's NFD emits each source
 * code point's decomposition as a "consumer" (its first code point, which
 * takes the next source character's alignment) followed by "inserted" code
 * points (which copy the alignment of whatever precedes them). Canonical
 * reordering sorts the code points but the alignments are then handed out in
 * the new order: the k-th consumer in canonical order gets the span of the
 * k-th consumer in source order, and an inserted code point the span of the
 * code point now before it. For a surviving mark m (class c):
 *   consumer:                  rank = less(c) + eq_before
 *   inserted, eq_before > 0:   rank = less(c) + eq_before - 1  (last equal consumer before it)
 *   inserted, less(c) > 0:     rank = less(c) - 1              (last consumer of a lower class)
 *   otherwise:                 its own span (it follows its own starter)
 * where less(c) counts the run's consumers of a lower class. The span of a
 * rank is found by walking the run's source again: each code point there
 * (after the first consumer, skipping removed bytes) is one consumer.
 */
typedef struct rank_ref {
    size_t rank;
    pending_mark *mark;
} rank_ref;

static size_t less_than(const pending_buf *p, uint8_t ccc)
{
    size_t n = 0;
    for (uint16_t i = 0; i < p->n_used; i++)
        if (p->used[i] < ccc)
            n += p->hist[p->used[i]];
    return n;
}

/* Adds m's rank to refs unless m keeps its own span. */
static void rank_of(const pending_buf *p, pending_mark *m, rank_ref *refs, size_t *n_refs)
{
    size_t less = less_than(p, m->ccc);
    size_t rank;
    if (m->consumer)
        rank = less + m->eq_before;
    else if (m->eq_before > 0)
        rank = less + m->eq_before - 1;
    else if (less > 0)
        rank = less - 1;
    else
        return;
    refs[*n_refs].rank = rank;
    refs[*n_refs].mark = m;
    (*n_refs)++;
}

/* Rewrites the spans of the stored marks after a reordering (span_rule). */
static void resolve_spans(tk_state *st)
{
    pending_buf *p = &st->p;
    rank_ref refs[PENDING_CAP + 2];
    size_t n_refs = 0;
    size_t stored = p->n < PENDING_CAP ? p->n : PENDING_CAP;
    for (size_t i = 0; i < stored; i++)
        rank_of(p, &p->v[i], refs, &n_refs);
    if (p->n > PENDING_CAP) {
        rank_of(p, &p->first, refs, &n_refs);
        rank_of(p, &p->last, refs, &n_refs);
    }
    for (size_t i = 1; i < n_refs; i++) {
        rank_ref r = refs[i];
        size_t j = i;
        for (; j > 0 && refs[j - 1].rank > r.rank; j--)
            refs[j] = refs[j - 1];
        refs[j] = r;
    }
    size_t at = p->cons_begin, k = 0, next = 0;
    while (next < n_refs && at < st->len) {
        uint32_t cp;
        size_t n = emb_utf8_decode(st->text + at, st->len - at, &cp);
        if (cp != EMB_UC_INVALID && !(emb_uc_flags(cp) & EMB_UC_DROP)) {
            for (; next < n_refs && refs[next].rank == k; next++) {
                refs[next].mark->start = (uint32_t)at;
                refs[next].mark->end = (uint32_t)(at + n);
            }
            k++;
        }
        at += n;
    }
}

/* Ends the run: canonical order (stable by class), spans per span_rule,
 * surviving marks into the word. */
static void pending_flush(tk_state *st)
{
    pending_buf *p = &st->p;
    if (p->n_marks == 0)
        return;
    if (p->reordered)
        resolve_spans(st);
    if (p->n > PENDING_CAP) {
        /* More marks than a word may hold: the word becomes [UNK] anyway. */
        word_buf *w = &st->w;
        if (w->n == 0)
            w->first_start = p->first.start;
        w->last_end = p->last.end;
        w->n += p->n;
    } else {
        for (size_t i = 1; i < p->n; i++) {
            pending_mark m = p->v[i];
            size_t j = i;
            for (; j > 0 && p->v[j - 1].ccc > m.ccc; j--)
                p->v[j] = p->v[j - 1];
            p->v[j] = m;
        }
        for (size_t i = 0; i < p->n; i++)
            emit_char(st, p->v[i].cp, emb_uc_flags(p->v[i].cp), p->v[i].start, p->v[i].end);
    }
    for (uint16_t i = 0; i < p->n_used; i++)
        p->hist[p->used[i]] = 0;
    p->n_used = 0;
    p->n_marks = p->n = p->n_consumers = 0;
    p->max_ccc = 0;
    p->reordered = 0;
}

/* One code point of class ccc > 0 joins the run; consumer: it is the first
 * of its source code point's decomposition. */
static void pending_add(pending_buf *p, uint32_t cp, uint8_t flags, uint8_t ccc, int consumer,
                        uint32_t start, uint32_t end)
{
    if (ccc < p->max_ccc)
        p->reordered = 1;
    else
        p->max_ccc = ccc;
    p->n_marks++;
    if (!(flags & EMB_UC_MN)) {
        pending_mark m = {cp, start, end, p->hist[ccc], ccc, (uint8_t)(consumer != 0)};
        if (p->n < PENDING_CAP)
            p->v[p->n] = m;
        if (p->n == 0 || ccc < p->first.ccc)
            p->first = m;
        if (p->n == 0 || ccc >= p->last.ccc)
            p->last = m;
        p->n++;
    }
    if (consumer) {
        if (p->n_consumers == 0)
            p->cons_begin = start;
        if (p->hist[ccc] == 0)
            p->used[p->n_used++] = ccc;
        p->hist[ccc]++;
        p->n_consumers++;
    }
}

/* One decoded non-ASCII code point from source bytes [start, end). */
static void process_code_point(tk_state *st, uint32_t cp, uint32_t start, uint32_t end)
{
    uint8_t f = emb_uc_flags(cp);
    if (f & EMB_UC_DROP)
        return;
    if (f & EMB_UC_SPACE) {
        pending_flush(st);
        word_finish(st);
        return;
    }
    if (f & EMB_UC_CJK) {
        pending_flush(st);
        word_finish(st);
    }
    uint32_t d[EMB_UC_MAX_NFD];
    size_t n = 1;
    d[0] = cp;
    if (f & EMB_UC_NFD)
        n = emb_uc_nfd(cp, d);
    for (size_t i = 0; i < n; i++) {
        uint8_t fd = d[i] == cp ? f : emb_uc_flags(d[i]);
        uint8_t ccc = (fd & EMB_UC_CCC) ? emb_uc_ccc(d[i]) : 0;
        if (ccc == 0) {
            pending_flush(st);
            if (!(fd & EMB_UC_MN))
                emit_char(st, d[i], fd, start, end);
        } else {
            pending_add(&st->p, d[i], fd, ccc, i == 0, start, end);
        }
    }
    if (f & EMB_UC_CJK) {
        pending_flush(st);
        word_finish(st);
    }
}

/* ASCII classes: the whole normalizer for bytes < 0x80. Space = TAB LF CR
 * and ' '; drop = the other C0 controls and DEL; punctuation = 33-47, 58-64,
 * 91-96, 123-126; upper = A-Z (lowercased); the rest are word characters. */
enum { W = 0, U, S, D, P };
static const uint8_t ASCII_CLASS[128] = {
    D, D, D, D, D, D, D, D, D, S, S, D, D, S, D, D,
    D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D,
    S, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P,
    W, W, W, W, W, W, W, W, W, W, P, P, P, P, P, P,
    P, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U,
    U, U, U, U, U, U, U, U, U, U, U, P, P, P, P, P,
    P, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W,
    W, W, W, W, W, W, W, W, W, W, W, P, P, P, P, D,
};

emb_code emb_tokenize(const emb_tokenizer *tok, const char *text, size_t len,
                      bool add_special, emb_token_list *out, emb_error *err)
{
    if (!tok || !out || (!text && len > 0))
        return emb_error_set(err, EMB_ERR_RANGE, "tokenizer: emb_tokenize called with a NULL %s",
                             !tok ? "tokenizer" : !out ? "output list" : "text");
    if (len > UINT32_MAX)
        return emb_error_set(err, EMB_ERR_RANGE, "tokenizer: input is %zu bytes, maximum %lu", len,
                             (unsigned long)UINT32_MAX);

    tk_state *st = NULL;
    size_t n0 = out->n;
    emb_code rc = EMB_OK;
    /* ~5 KB of work state: heap, so that small host thread stacks are safe. */
    st = malloc(sizeof *st);
    if (!st) {
        rc = emb_error_set(err, EMB_ERR_NOMEM, "tokenizer: out of memory for the work state");
        goto end;
    }
    st->tok = tok;
    st->text = (const uint8_t *)text;
    st->len = len;
    st->out = out;
    st->status = EMB_OK;
    st->w.n = 0;
    memset(&st->p, 0, sizeof st->p);

    if (add_special)
        emit_token(st, tok->special.cls, 0, 0);

    const uint8_t *s = (const uint8_t *)text;
    size_t i = 0;
    while (i < len && st->status == EMB_OK) {
        uint8_t b = s[i];
        if (b < 0x80) {
            uint8_t c = ASCII_CLASS[b];
            uint32_t at = (uint32_t)i;
            i++;
            if (c == D)
                continue;
            pending_flush(st); /* every ASCII character is a starter */
            switch (c) {
            case S:
                word_finish(st);
                break;
            case P:
                word_finish(st);
                word_push(&st->w, b, at, at + 1);
                word_finish(st);
                break;
            case U:
                b = (uint8_t)(b + ('a' - 'A'));
                /* fall through */
            default:
                word_push(&st->w, b, at, at + 1);
                break;
            }
            continue;
        }
        uint32_t cp;
        size_t n = emb_utf8_decode(s + i, len - i, &cp);
        if (cp != EMB_UC_INVALID)
            process_code_point(st, cp, (uint32_t)i, (uint32_t)(i + n));
        i += n;
    }
    pending_flush(st);
    word_finish(st);
    if (add_special)
        emit_token(st, tok->special.sep, (uint32_t)len, (uint32_t)len);

    if (st->status != EMB_OK) {
        out->n = n0;
        rc = emb_error_set(err, st->status, "tokenizer: out of memory for the tokens of a %zu-byte input", len);
    }
end:
    free(st);
    return rc;
}
