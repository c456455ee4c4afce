/*
 * bench_texts: time the engine on the texts of a file, for side-by-side
 * comparisons with other engines on exactly the same inputs
 * (bench/compare_llamacpp.sh).
 *
 *   bench_texts MODEL.gguf TEXTS.txt [options]
 *     -m one|all  one: every text in its own emb_embed_texts call (what the
 *                 SQL function embed() does per row); all: every text in one
 *                 call and one forward pass (default one)
 *     -r N        timed runs over the whole file (default 5)
 *     -t N        engine threads (embed_threads; default: the pool's default)
 *     -B N        with -m batch: tokens per forward call (opts.batch_tokens;
 *                 default the pipeline's); -m batch = all texts in one
 *                 emb_embed_texts call, packed as embed_batch packs them
 *     -T BYTES, -F BYTES, -K N   emb_forward_cfg tile_bytes, ffn_bytes,
 *                 block_tokens (0 = default)
 *
 * Also prints the peak private memory (RssAnon of the whole process, sampled
 * every millisecond by a thread) over the timed runs.
 *
 * TEXTS.txt holds one text per line ('\n' separated, no empty lines). After
 * one untimed warm-up run, every run embeds all texts; the output is one
 * line per run and a summary with medians:
 *   run 3: wall 123.4 ms, cpu 120.1 ms
 *   result: mode one, 64 texts, 1071 tokens, threads 1, runs 5:
 *     median wall 1.93 ms/text (8683 tokens/s), median cpu 1.88 ms/text
 * Wall time includes tokenization, the forward pass, pooling and L2, i.e.
 * everything emb_embed_texts does; CPU time is the process's (all threads).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blas.h"
#include "thread_pool.h"
#include "embed.h"
#include "model.h"
#include "tokenizer.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v). n >= 1. */
static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Reads the whole file into a NUL-terminated heap buffer (caller frees), or
 * NULL. */
static char *read_all(const char *path, size_t *len)
{
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1)
            break;
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

static atomic_long peak_anon_kb;
static atomic_bool sampling;

static long rss_anon_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "RssAnon: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static void *sampler(void *arg)
{
    (void)arg;
    struct timespec ms = {0, 1000000};
    while (atomic_load(&sampling)) {
        long kb = rss_anon_kb();
        if (kb > atomic_load(&peak_anon_kb))
            atomic_store(&peak_anon_kb, kb);
        nanosleep(&ms, NULL);
    }
    return NULL;
}

/* Embeds every text once: one call per text (one_by_one) or one call for all. */
static int embed_all(float *out, const emb_model *m, const emb_str *texts, size_t n, bool one_by_one,
                     const emb_embed_opts *opts, size_t dims, emb_error *err)
{
    if (!one_by_one)
        return emb_embed_texts(out, m, texts, n, opts, err) == EMB_OK ? 0 : -1;
    for (size_t i = 0; i < n; i++)
        if (emb_embed_texts(out + i * dims, m, &texts[i], 1, opts, err) != EMB_OK)
            return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf TEXTS.txt [-m one|all] [-r runs] [-t threads]\n", argv[0]);
        return 2;
    }
    const char *model_path = argv[1], *texts_path = argv[2];
    bool one_by_one = true, batch_mode = false;
    int runs = 5, threads = 0;
    size_t batch_tokens = 0;
    emb_forward_cfg fcfg = {0};
    pthread_t sampler_thread;
    bool sampler_on = false;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "one") && strcmp(v, "all") && strcmp(v, "batch")) {
                fprintf(stderr, "-m takes one, all or batch, got '%s'\n", v);
                return 2;
            }
            one_by_one = !strcmp(v, "one");
            batch_mode = !strcmp(v, "batch");
        } else if (!strcmp(argv[i], "-r") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-B") && i + 1 < argc)
            batch_tokens = (size_t)strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-T") && i + 1 < argc)
            fcfg.tile_bytes = (size_t)strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-F") && i + 1 < argc)
            fcfg.ffn_bytes = (size_t)strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-K") && i + 1 < argc)
            fcfg.block_tokens = (size_t)strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (runs < 1) {
        fprintf(stderr, "-r must be at least 1\n");
        return 2;
    }

    int rc = 1;
    emb_error err;
    emb_error_clear(&err);
    emb_model *m = NULL;
    emb_str *texts = NULL;
    float *out = NULL;
    double *wall = NULL, *cpu = NULL;
    size_t len = 0;
    char *buf = read_all(texts_path, &len);
    if (!buf) {
        fprintf(stderr, "cannot read %s\n", texts_path);
        goto end;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += buf[i] == '\n';
    n += len > 0 && buf[len - 1] != '\n';
    texts = calloc(n ? n : 1, sizeof *texts);
    if (!texts)
        goto end;
    n = 0;
    for (char *p = buf, *e; p < buf + len; p = e + 1) {
        e = memchr(p, '\n', (size_t)(buf + len - p));
        if (!e)
            e = buf + len;
        if (e > p) {
            texts[n].ptr = p;
            texts[n].len = (size_t)(e - p);
            n++;
        }
    }
    if (n == 0) {
        fprintf(stderr, "%s has no texts\n", texts_path);
        goto end;
    }

    m = emb_model_load(model_path, &err);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        goto end;
    }
    if (threads > 0 && emb_pool_set_threads((size_t)threads, &err) != EMB_OK) {
        fprintf(stderr, "%s\n", err.msg);
        goto end;
    }
    emb_blas_status bs;
    if (emb_blas_status_get(&bs, &err) != EMB_OK) {
        fprintf(stderr, "%s\n", err.msg);
        goto end;
    }

    emb_embed_opts opts = emb_embed_opts_default();
    size_t n_tokens = 0;
    for (size_t i = 0; i < n; i++) {
        emb_token_list tl = {0};
        if (emb_tokenize(m->tokenizer, texts[i].ptr, texts[i].len, true, &tl, &err) != EMB_OK) {
            fprintf(stderr, "%s\n", err.msg);
            goto end;
        }
        n_tokens += tl.n;
        emb_token_list_free(&tl);
    }
    opts.forward = &fcfg;
    if (batch_mode)
        opts.batch_tokens = batch_tokens;
    else if (!one_by_one)
        opts.batch_tokens = n_tokens; /* one forward pass for all texts */
    size_t dims = emb_embed_out_dims(m, &opts);
    out = malloc(n * dims * sizeof *out);
    wall = malloc((size_t)runs * sizeof *wall);
    cpu = malloc((size_t)runs * sizeof *cpu);
    if (!out || !wall || !cpu)
        goto end;
    printf("model %s (%u layers, n_embd %u); openblas core %s, %d openblas threads, %zu engine "
           "threads\n",
           model_path, m->hp.n_layer, m->hp.n_embd, bs.core_name, bs.n_threads, emb_pool_threads());
    if (embed_all(out, m, texts, n, one_by_one, &opts, dims, &err) != 0) { /* warm-up */
        fprintf(stderr, "%s\n", err.msg);
        goto end;
    }
    long base_kb = rss_anon_kb();
    atomic_store(&peak_anon_kb, base_kb);
    atomic_store(&sampling, true);
    sampler_on = pthread_create(&sampler_thread, NULL, sampler, NULL) == 0;
    for (int r = 0; r < runs; r++) {
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if (embed_all(out, m, texts, n, one_by_one, &opts, dims, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            goto end;
        }
        wall[r] = clock_s(CLOCK_MONOTONIC) - w0;
        cpu[r] = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        printf("run %d: wall %.1f ms, cpu %.1f ms\n", r + 1, wall[r] * 1e3, cpu[r] * 1e3);
    }
    atomic_store(&sampling, false);
    if (sampler_on)
        pthread_join(sampler_thread, NULL);
    sampler_on = false;
    printf("RssAnon after the warm-up %.2f MiB, peak over the timed runs %.2f MiB\n", (double)base_kb / 1024.0,
           (double)atomic_load(&peak_anon_kb) / 1024.0);
    double w = median(wall, (size_t)runs), c = median(cpu, (size_t)runs);
    printf("result: mode %s, %zu texts, %zu tokens, threads %zu, runs %d: median wall %.3f ms/text "
           "(%.0f tokens/s), median cpu %.3f ms/text\n",
           batch_mode ? "batch" : one_by_one ? "one" : "all", n, n_tokens, emb_pool_threads(), runs, w * 1e3 / (double)n,
           (double)n_tokens / w, c * 1e3 / (double)n);
    rc = 0;
end:
    atomic_store(&sampling, false);
    if (sampler_on)
        pthread_join(sampler_thread, NULL);
    emb_model_destroy(m);
    free(out);
    free(wall);
    free(cpu);
    free(texts);
    free(buf);
    return rc;
}
