/*
 * bench_embed: embedding throughput and memory of the engine on a model file.
 *
 *   bench_embed MODEL.gguf [options]
 *     -b LIST     batch sizes (texts per emb_embed_texts call), default 1,8,32
 *     -w N        words per text (default 12; ~N+2 tokens for English words)
 *     -s SECONDS  time per batch size (default 3)
 *     -t N        engine threads (embed_threads; default: the pool's default)
 *     --tile B    weight tile bytes (default 256 KiB up to 14 tokens, else 1 MiB)
 *     --willneed  madvise(MADV_WILLNEED) each layer's weights before use
 *     --prefix S  prepend S to every text
 *
 * Prints the OpenBLAS core in use, then per batch size: embeddings/s,
 * ms per text, ms per call, tokens/s (wall clock) and CPU ms per text (all
 * threads; with -t 1 a contention-proof measure of work); at the end peak RSS (VmHWM) and the
 * peak of private anonymous memory (RssAnon, sampled every millisecond by a
 * helper thread), i.e. memory that is not the file's page cache.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blas.h"
#include "thread_pool.h"
#include "embed.h"
#include "forward.h"
#include "model.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

/* CPU time of the process (all threads): with one OpenBLAS thread this is
 * the work itself, much less sensitive than wall time to other jobs on a
 * shared machine. */
static double cpu_now(void)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

/* kB value of a /proc/self/status field, or -1. */
static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = atol(line + n + 1);
            break;
        }
    fclose(f);
    return v;
}

static volatile int g_sampling = 1;
static long g_peak_anon_kb;

static void *sampler(void *arg)
{
    (void)arg;
    while (g_sampling) {
        long a = status_kb("RssAnon");
        if (a > g_peak_anon_kb)
            g_peak_anon_kb = a;
        usleep(1000);
    }
    return NULL;
}

static const char *const WORDS[] = {
    "the", "model", "turns", "text", "into", "vectors", "inside", "sql", "queries", "and",
    "search", "finds", "similar", "documents", "quickly", "with", "cosine", "distance", "over",
    "embeddings", "of", "many", "different", "sentences", "written", "in", "plain", "english",
};
#define N_WORDS (sizeof WORDS / sizeof WORDS[0])

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [-b 1,8,32] [-w words] [-s seconds] [-t threads] "
                        "[--tile bytes] [--willneed] [--prefix S]\n",
                argv[0]);
        return 2;
    }
    const char *path = argv[1];
    const char *batches = "1,8,32";
    int words = 12, threads = 0;
    double seconds = 3.0;
    emb_embed_opts opts = emb_embed_opts_default();
    emb_forward_cfg cfg = {.tile_bytes = 0};
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-b") && i + 1 < argc)
            batches = argv[++i];
        else if (!strcmp(argv[i], "-w") && i + 1 < argc)
            words = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-s") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tile") && i + 1 < argc)
            cfg.tile_bytes = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--willneed"))
            cfg.willneed = true;
        else if (!strcmp(argv[i], "--prefix") && i + 1 < argc)
            opts.prefix = argv[++i];
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    opts.forward = &cfg;

    pthread_t th;
    pthread_create(&th, NULL, sampler, NULL);

    emb_error err;
    emb_error_clear(&err);
    double t0 = now();
    emb_model *m = emb_model_load(path, &err);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double t_load = now() - t0;
    long anon_model = status_kb("RssAnon");
    if (threads > 0 && emb_pool_set_threads((size_t)threads, &err) != EMB_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    emb_blas_status bs;
    if (emb_blas_status_get(&bs, &err) != EMB_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    long anon_blas = status_kb("RssAnon");
    printf("model %s: %s, %u layers, n_embd %u, n_ff %u, vocab %u; load %.1f ms\n", path,
           emb_arch_name(m->hp.arch), m->hp.n_layer, m->hp.n_embd, m->hp.n_ff, m->hp.n_vocab,
           t_load * 1e3);
    printf("openblas: core %s, OPENBLAS_CORETYPE=%s (%s), %d threads; engine threads %zu\n",
           bs.core_name, bs.coretype[0] ? bs.coretype : "(unset)",
           bs.already_loaded ? "already loaded" : bs.coretype_set_by_us ? "set by us" : "user/none",
           bs.n_threads, emb_pool_threads());

    printf("private anonymous memory: %.1f MiB after loading the model (tokenizer, tables), "
           "%.1f MiB after loading OpenBLAS\n",
           (double)anon_model / 1024.0, (double)anon_blas / 1024.0);
    size_t E = m->hp.n_embd;
    char batch_list[256];
    snprintf(batch_list, sizeof batch_list, "%s", batches);
    for (char *tok = strtok(batch_list, ","); tok; tok = strtok(NULL, ",")) {
        size_t B = (size_t)atol(tok);
        if (B == 0)
            continue;
        char **bufs = calloc(B, sizeof *bufs);
        emb_str *texts = calloc(B, sizeof *texts);
        float *out = malloc(B * E * sizeof *out);
        size_t n_tokens = 0;
        for (size_t i = 0; i < B; i++) {
            bufs[i] = malloc((size_t)words * 16 + 1);
            size_t len = 0;
            for (int w = 0; w < words; w++)
                len += (size_t)sprintf(bufs[i] + len, "%s%s", w ? " " : "",
                                       WORDS[(i * 7 + (size_t)w * 3) % N_WORDS]);
            texts[i].ptr = bufs[i];
            texts[i].len = len;
            emb_token_list tl = {0};
            emb_tokenize(m->tokenizer, bufs[i], len, true, &tl, &err);
            n_tokens += tl.n;
            emb_token_list_free(&tl);
        }
        opts.batch_tokens = n_tokens; /* one forward per call */
        if (emb_embed_texts(out, m, texts, B, &opts, &err) != EMB_OK) { /* warm-up */
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        size_t calls = 0;
        double start = now(), cpu_start = cpu_now(), el;
        do {
            emb_embed_texts(out, m, texts, B, &opts, &err);
            calls++;
            el = now() - start;
        } while (el < seconds);
        double per_call = el / (double)calls;
        double cpu_per_call = (cpu_now() - cpu_start) / (double)calls;
        printf("batch %4zu (%5zu tokens): %8.1f embeddings/s  %8.2f ms/text  %9.2f ms/call  %9.0f "
               "tokens/s  cpu %8.2f ms/text\n",
               B, n_tokens, (double)B / per_call, per_call * 1e3 / (double)B, per_call * 1e3,
               (double)n_tokens / per_call, cpu_per_call * 1e3 / (double)B);
        for (size_t i = 0; i < B; i++)
            free(bufs[i]);
        free(bufs);
        free(texts);
        free(out);
    }
    g_sampling = 0;
    pthread_join(th, NULL);
    printf("memory: peak RSS (VmHWM) %.1f MiB, peak private anonymous (RssAnon) %.1f MiB, file "
           "%.1f MiB\n",
           (double)status_kb("VmHWM") / 1024.0, (double)g_peak_anon_kb / 1024.0,
           (double)gguf_file_size(m->file) / 1048576.0);
    emb_model_destroy(m);
    return 0;
}
