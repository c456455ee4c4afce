/*
 * llama_driver: the llama.cpp side of bench/run.sh. It calls libllama the way
 * llama.cpp's own llama-embedding tool does (tokenize with special tokens,
 * sequences packed into batches of at most n_ubatch tokens, one
 * llama_decode per batch, pooled per sequence, L2-normalized) but times each
 * call itself, so that both engines are measured with the same clocks.
 * Built by bench/run.sh against the llama.cpp build tree; never part of the
 * project's build or tests.
 *
 *   llama_driver MODEL THREADS MODE [ARG] < TEXTS   (one text per line)
 *     bulk UBATCH PASSES  a warm-up on the first 16 texts, then PASSES timed passes over all
 *                         texts in batches of <= UBATCH tokens (UBATCH 0:
 *                         every text its own batch)
 *     query REPS          one warm-up call on the first text, then per text REPS timed calls
 *     first               model load + one call on the first text, then exit
 *     tokens              only the "ready" line (token counts)
 *
 * Output, one JSON object per line on stdout:
 *   {"event":"ready","tokens":[...]}            token count of every text
 *   {"event":"pass","wall":s,"cpu":s,"tokens":n,"batches":b}
 *   {"event":"call","text":i,"tokens":n,"wall":s,"cpu":s}
 *   {"event":"first_vector","unix":t}           CLOCK_REALTIME seconds
 * cpu is the process's user+sys time (all threads). Errors go to stderr with
 * exit status 1.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "llama.h"

static double now(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec * 1e-6;
}

static void quiet_log(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR)
        fputs(text, stderr);
}

static int die(const char *what)
{
    fprintf(stderr, "llama_driver: %s\n", what);
    return 1;
}

/* The texts of stdin: one per line, no empty lines. */
typedef struct {
    char *buf; /* the whole input; text[i] point into it */
    char **text;
    int n;
} texts_t;

static int read_texts(texts_t *t)
{
    size_t cap = 0, len = 0;
    char *buf = NULL;
    int c;
    while ((c = getchar()) != EOF) {
        if (len + 2 > cap) {
            cap = cap ? cap * 2 : 1 << 16;
            char *nb = realloc(buf, cap);
            if (!nb)
                return -1;
            buf = nb;
        }
        buf[len++] = (char)c;
    }
    if (!buf)
        return -1;
    buf[len] = '\0';
    t->buf = buf;
    int n = 0;
    for (size_t i = 0; i < len; i++)
        n += buf[i] == '\n';
    t->text = calloc((size_t)n + 1, sizeof *t->text);
    if (!t->text)
        return -1;
    t->n = 0;
    for (char *s = buf, *e; *s; s = e + 1) {
        e = strchr(s, '\n');
        if (!e)
            e = s + strlen(s);
        if (e > s)
            t->text[t->n++] = s;
        if (!*e)
            break;
        *e = '\0';
    }
    return 0;
}

typedef struct {
    struct llama_model *model;
    struct llama_context *ctx;
    const struct llama_vocab *vocab;
    int n_embd;
    struct llama_batch batch;
    int batch_cap;
    llama_token *tok;
    int tok_cap;
    float *vec; /* one normalized output vector (kept so the work is not dead) */
    double checksum;
} engine_t;

static int tokenize(engine_t *e, const char *text)
{
    int n = llama_tokenize(e->vocab, text, (int)strlen(text), e->tok, e->tok_cap, true, false);
    return n; /* < 0: does not fit tok_cap */
}

/* Adds the tokens of e->tok[0..n) as sequence seq. */
static void add_seq(engine_t *e, int n, int seq)
{
    for (int i = 0; i < n; i++) {
        int k = e->batch.n_tokens++;
        e->batch.token[k] = e->tok[i];
        e->batch.pos[k] = i;
        e->batch.n_seq_id[k] = 1;
        e->batch.seq_id[k][0] = seq;
        e->batch.logits[k] = 1;
    }
}

/* Runs the batch of n_seq sequences; pools, normalizes; clears the batch. */
static int run_batch(engine_t *e, int n_seq)
{
    llama_memory_clear(llama_get_memory(e->ctx), true);
    if (llama_decode(e->ctx, e->batch) < 0)
        return -1;
    for (int s = 0; s < n_seq; s++) {
        const float *v = llama_get_embeddings_seq(e->ctx, s);
        if (!v)
            return -1;
        double ss = 0;
        for (int i = 0; i < e->n_embd; i++)
            ss += (double)v[i] * v[i];
        float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.f;
        for (int i = 0; i < e->n_embd; i++)
            e->vec[i] = v[i] * inv;
        e->checksum += e->vec[0];
    }
    e->batch.n_tokens = 0;
    return 0;
}

/* Embeds texts [0, n) in batches of <= ubatch tokens (0: one text per batch).
 * Returns the number of batches, or -1. */
static int embed_all(engine_t *e, char **text, int n, int ubatch, long *tokens)
{
    int n_seq = 0, batches = 0;
    for (int i = 0; i < n; i++) {
        int nt = tokenize(e, text[i]);
        if (nt < 0 || nt > e->batch_cap)
            return -1;
        *tokens += nt;
        if (n_seq > 0 && (ubatch == 0 || e->batch.n_tokens + nt > ubatch || n_seq >= (int)llama_n_seq_max(e->ctx))) {
            if (run_batch(e, n_seq))
                return -1;
            batches++;
            n_seq = 0;
        }
        add_seq(e, nt, n_seq++);
    }
    if (n_seq > 0) {
        if (run_batch(e, n_seq))
            return -1;
        batches++;
    }
    return batches;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: llama_driver MODEL THREADS bulk UBATCH PASSES | query REPS | first | tokens  < TEXTS\n");
        return 2;
    }
    const char *path = argv[1], *mode = argv[3];
    int threads = atoi(argv[2]);
    int arg1 = argc > 4 ? atoi(argv[4]) : 0, arg2 = argc > 5 ? atoi(argv[5]) : 0;
    if (threads < 1)
        return die("THREADS must be >= 1");
    texts_t t;
    if (read_texts(&t) || t.n == 0)
        return die("no texts on stdin");

    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    engine_t e = {0};
    struct llama_model_params mp = llama_model_default_params();
    e.model = llama_model_load_from_file(path, mp);
    if (!e.model)
        return die("cannot load the model");
    e.vocab = llama_model_get_vocab(e.model);
    e.n_embd = llama_model_n_embd_out(e.model);

    /* longest text decides the smallest possible context */
    e.tok_cap = 1 << 16;
    e.tok = malloc(sizeof *e.tok * (size_t)e.tok_cap);
    e.vec = malloc(sizeof *e.vec * (size_t)e.n_embd);
    if (!e.tok || !e.vec)
        return die("out of memory");
    int longest = 0;
    if (strcmp(mode, "first") != 0) {
        printf("{\"event\":\"ready\",\"tokens\":[");
        for (int i = 0; i < t.n; i++) {
            int nt = tokenize(&e, t.text[i]);
            if (nt < 0)
                return die("text too long");
            longest = nt > longest ? nt : longest;
            printf("%s%d", i ? "," : "", nt);
        }
        printf("]}\n");
        if (strcmp(mode, "tokens") == 0)
            return 0;
    } else {
        longest = tokenize(&e, t.text[0]);
        if (longest < 0)
            return die("text too long");
    }
    int ubatch = strcmp(mode, "bulk") == 0 && arg1 > longest ? arg1 : longest;
    /* llama.cpp reserves its compute graph for n_ubatch; round up like llama-embedding users do */
    ubatch = (ubatch + 31) / 32 * 32;

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)ubatch;
    cp.n_batch = (uint32_t)ubatch;
    cp.n_ubatch = (uint32_t)ubatch;
    cp.n_seq_max = strcmp(mode, "bulk") == 0 && arg1 > 0 ? (uint32_t)llama_max_parallel_sequences() : 1;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.embeddings = true;
    e.ctx = llama_init_from_model(e.model, cp);
    if (!e.ctx)
        return die("cannot create the context");
    e.batch_cap = ubatch;
    e.batch = llama_batch_init(ubatch, 0, 1);
    e.batch.n_tokens = 0;

    long tokens = 0;
    if (strcmp(mode, "first") == 0) {
        if (embed_all(&e, t.text, 1, 0, &tokens) < 0)
            return die("llama_decode failed");
        printf("{\"event\":\"first_vector\",\"unix\":%.6f,\"tokens\":%ld}\n", now(CLOCK_REALTIME), tokens);
    } else if (strcmp(mode, "bulk") == 0) {
        int passes = arg2 > 0 ? arg2 : 1;
        int bsize = arg1 > 0 ? ubatch : 0;
        /* warm-up: the first 16 texts touch every weight and size every buffer */
        if (embed_all(&e, t.text, t.n < 16 ? t.n : 16, bsize, &tokens) < 0)
            return die("llama_decode failed");
        for (int p = 0; p < passes; p++) {
            tokens = 0;
            double w0 = now(CLOCK_MONOTONIC), c0 = cpu_s();
            int b = embed_all(&e, t.text, t.n, bsize, &tokens);
            double w1 = now(CLOCK_MONOTONIC), c1 = cpu_s();
            if (b < 0)
                return die("llama_decode failed");
            printf("{\"event\":\"pass\",\"wall\":%.6f,\"cpu\":%.6f,\"tokens\":%ld,\"batches\":%d}\n", w1 - w0,
                   c1 - c0, tokens, b);
            fflush(stdout);
        }
    } else if (strcmp(mode, "query") == 0) {
        int reps = arg1 > 0 ? arg1 : 1;
        if (embed_all(&e, t.text, 1, 0, &tokens) < 0) /* warm-up: the first text */
            return die("llama_decode failed");
        for (int i = 0; i < t.n; i++) {
            for (int r = 0; r < reps; r++) {
                long nt = 0;
                double w0 = now(CLOCK_MONOTONIC), c0 = cpu_s();
                int b = embed_all(&e, t.text + i, 1, 0, &nt);
                double w1 = now(CLOCK_MONOTONIC), c1 = cpu_s();
                if (b < 0)
                    return die("llama_decode failed");
                printf("{\"event\":\"call\",\"text\":%d,\"tokens\":%ld,\"wall\":%.6f,\"cpu\":%.6f}\n", i, nt,
                       w1 - w0, c1 - c0);
            }
            fflush(stdout);
        }
    } else {
        return die("MODE must be bulk, query or first");
    }
    if (e.checksum != e.checksum)
        return die("NaN in the vectors");
    llama_batch_free(e.batch);
    llama_free(e.ctx);
    llama_model_free(e.model);
    llama_backend_free();
    free(e.tok);
    free(e.vec);
    free(t.buf);
    free(t.text);
    return 0;
}
