/*
 * bench_tokenizer: single-thread tokenizer throughput on English prose.
 *
 * Usage: bench_tokenizer [vocab.gguf] [text-file]
 *   vocab.gguf defaults to $EMBED_SOURCE_DIR/tests/data/bert-vocab/ggml-vocab-bert-bge.gguf
 *   (EMBED_SOURCE_DIR defaults to the working directory). Without a text file, 4 MiB of
 *   English-like prose is generated deterministically (fixed seed, a list of
 *   common English words with a Zipf-like choice, capitals after full stops,
 *   commas, quotes, numbers, paragraphs).
 * Prints the median of 9 timed runs (after one warm-up) in MB/s (10^6 bytes)
 * and tokens per second.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf.h"
#include "tokenizer.h"

#define RUNS 9
#define PROSE_BYTES (4u << 20)

static const char *const WORDS[] = {
    "the", "of", "and", "to", "a", "in", "that", "is", "was", "he", "for", "it", "with", "as", "his", "on",
    "be", "at", "by", "i", "this", "had", "not", "are", "but", "from", "or", "have", "an", "they", "which",
    "one", "you", "were", "her", "all", "she", "there", "would", "their", "we", "him", "been", "has", "when",
    "who", "will", "more", "no", "if", "out", "so", "said", "what", "up", "its", "about", "into", "than",
    "them", "can", "only", "other", "new", "some", "could", "time", "these", "two", "may", "then", "do",
    "first", "any", "my", "now", "such", "like", "our", "over", "man", "me", "even", "most", "made", "after",
    "also", "did", "many", "before", "must", "through", "back", "years", "where", "much", "your", "way",
    "well", "down", "should", "because", "each", "just", "those", "people", "how", "too", "little", "state",
    "good", "very", "make", "world", "still", "own", "see", "men", "work", "long", "get", "here", "between",
    "both", "life", "being", "under", "never", "day", "same", "another", "know", "while", "last", "might",
    "us", "great", "old", "year", "off", "come", "since", "against", "go", "came", "right", "used", "take",
    "three", "himself", "few", "house", "use", "during", "without", "again", "place", "around", "however",
    "home", "small", "found", "thought", "went", "say", "part", "once", "general", "high", "upon", "school",
    "every", "does", "got", "united", "left", "number", "course", "war", "until", "always", "away",
    "something", "fact", "though", "water", "less", "public", "put", "think", "almost", "hand", "enough",
    "far", "took", "head", "yet", "government", "system", "better", "set", "told", "nothing", "night", "end",
    "why", "called", "didn't", "eyes", "find", "going", "look", "asked", "later", "knew", "point", "next",
    "program", "city", "business", "give", "group", "toward", "young", "days", "let", "room", "president",
    "side", "social", "given", "present", "several", "order", "national", "possible", "rather", "second",
    "face", "per", "among", "form", "important", "often", "things", "looked", "early", "white", "case",
    "become", "large", "big", "need", "four", "within", "felt", "along", "children", "saw", "best", "church",
    "ever", "least", "power", "development", "light", "thing", "seemed", "family", "interest", "want",
    "members", "mind", "country", "area", "others", "done", "turned", "although", "open", "problem",
    "certain", "kind", "began", "different", "door", "thus", "help", "sense", "means", "whole", "matter",
    "perhaps", "itself", "york", "times", "law", "human", "line", "above", "name", "example", "action",
    "company", "hands", "local", "show", "whether", "five", "history", "gave", "today", "either", "act",
    "feet", "across", "taken", "past", "quite", "anything", "seen", "having", "death", "experience", "body",
    "word", "half", "really", "field", "am", "car", "words", "already", "themselves", "information",
    "tell", "together", "college", "shall", "money", "period", "held", "keep", "sure", "probably", "free",
    "seems", "political", "real", "behind", "question", "air", "making", "office", "brought", "whose",
    "special", "heard", "major", "problems", "ago", "became", "federal", "moment", "study", "available",
    "known", "result", "street", "economic", "boy", "reason", "change", "position", "society", "understanding",
    "extraordinary", "nevertheless", "circumstances", "unfortunately", "neighbourhood", "remarkable",
};
#define N_WORDS (sizeof WORDS / sizeof WORDS[0])

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Zipf-like: index ~ N * u^3 favours the frequent words at the front. */
static const char *pick_word(void)
{
    double u = (double)(rng() >> 11) / 9007199254740992.0;
    size_t i = (size_t)(u * u * u * (double)N_WORDS);
    return WORDS[i < N_WORDS ? i : N_WORDS - 1];
}

static char *make_prose(size_t size, size_t *len)
{
    char *buf = malloc(size + 64);
    if (!buf)
        return NULL;
    size_t n = 0;
    int capital = 1, in_sentence = 0;
    while (n < size) {
        const char *w = pick_word();
        size_t wl = strlen(w);
        if (rng() % 40 == 0) {
            n += (size_t)snprintf(buf + n, 32, "%u", (unsigned)(rng() % 2000));
        } else {
            memcpy(buf + n, w, wl);
            if (capital)
                buf[n] = (char)(buf[n] - ('a' <= buf[n] && buf[n] <= 'z' ? 'a' - 'A' : 0));
            n += wl;
        }
        capital = 0;
        in_sentence++;
        uint64_t r = rng() % 100;
        if (in_sentence > 4 && r < 8) {
            buf[n++] = '.';
            capital = 1;
            in_sentence = 0;
            if (rng() % 6 == 0) {
                buf[n++] = '\n';
                buf[n++] = '\n';
                continue;
            }
        } else if (r < 14) {
            buf[n++] = ',';
        } else if (r == 14) {
            buf[n++] = ';';
        }
        buf[n++] = ' ';
    }
    *len = n;
    return buf;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int rc = 1;
    char path[4096];
    const char *source = getenv("EMBED_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/data/bert-vocab/ggml-vocab-bert-bge.gguf", source ? source : ".");
    const char *vocab = argc > 1 ? argv[1] : path;
    char *text = NULL;
    size_t len = 0;
    emb_error err = {0};
    gguf_file *f = NULL;
    emb_tokenizer *tok = NULL;
    emb_token_list list = {0};

    f = gguf_open(vocab, &err);
    if (!f) {
        fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
        goto end;
    }
    tok = emb_tokenizer_create_from_gguf(f, &err);
    if (!tok) {
        fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
        goto end;
    }
    if (argc > 2) {
        FILE *in = fopen(argv[2], "rb");
        if (!in) {
            fprintf(stderr, "bench_tokenizer: cannot open %s\n", argv[2]);
            goto end;
        }
        fseek(in, 0, SEEK_END);
        long sz = ftell(in);
        fseek(in, 0, SEEK_SET);
        text = malloc(sz > 0 ? (size_t)sz : 1);
        len = text ? fread(text, 1, (size_t)(sz > 0 ? sz : 0), in) : 0;
        fclose(in);
    } else {
        text = make_prose(PROSE_BYTES, &len);
    }
    if (!text) {
        fprintf(stderr, "bench_tokenizer: out of memory\n");
        goto end;
    }

    double t[RUNS];
    size_t n_tokens = 0;
    for (int r = -1; r < RUNS; r++) {
        list.n = 0;
        double t0 = now_s();
        if (emb_tokenize(tok, text, len, true, &list, &err) != EMB_OK) {
            fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
            goto end;
        }
        double dt = now_s() - t0;
        if (r >= 0)
            t[r] = dt;
        n_tokens = list.n;
    }
    qsort(t, RUNS, sizeof t[0], cmp_double);
    double med = t[RUNS / 2];
    printf("input: %s, %zu bytes, %zu tokens\n", argc > 2 ? argv[2] : "generated English prose", len, n_tokens);
    printf("median of %d runs: %.1f ms, %.1f MB/s, %.2f M tokens/s (min %.1f ms, max %.1f ms)\n", RUNS,
           med * 1e3, (double)len / med / 1e6, (double)n_tokens / med / 1e6, t[0] * 1e3, t[RUNS - 1] * 1e3);
    rc = 0;
end:
    emb_token_list_free(&list);
    emb_tokenizer_destroy(tok);
    gguf_close(f);
    free(text);
    return rc;
}
