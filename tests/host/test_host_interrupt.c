/*
 * sqlite3_interrupt stops a long embed() promptly with SQLITE_INTERRUPT (the
 * engine asks between layers), on this host's SQLite whatever its version
 * (3.40 has no sqlite3_is_interrupted; see ext/ext_interrupt.h). Leaks are
 * checked by the ASan build of this test. Bulk calls (embed_batch over 3,000
 * texts, embed() over 3,000 rows) stop too. A 100,000-token text at max_tokens
 * 8,192 stops within a fraction of one layer. Work is bounded before it starts:
 * max_tokens beyond max(context, 8192) and a prefix that takes the input
 * over 16 MB are errors. embed_batch whose calls run side by side at 2
 * threads stops too, also when the interrupt comes while the calling thread
 * waits for the worker's pass (test_side_by_side).
 */
#include "host.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct job {
    sqlite3 *db;
    const char *model;
    const char *text;
    const char *options;
    int rc;
    double cpu;
    atomic_bool done;
    const char *sql; /* instead of embed(model, text, options): every row of it */
    /* set by run_job / run: the first sqlite3_interrupt and the statement's
     * end, process CPU and wall (monotonic) time */
    double cpu_at_interrupt, wall_at_interrupt, cpu_at_end, wall_at_end;
} job;

static double process_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *run(void *arg)
{
    job *j = arg;
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(j->db, j->sql ? j->sql : "SELECT length(embed(?1, ?2, ?3))", -1, &st, NULL) ==
          SQLITE_OK);
    if (!j->sql) {
        sqlite3_bind_text(st, 1, j->model, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, j->text, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, j->options, -1, SQLITE_STATIC);
    }
    double t0 = process_cpu();
    while ((j->rc = sqlite3_step(st)) == SQLITE_ROW && j->sql)
        ;
    j->cpu_at_end = process_cpu();
    j->wall_at_end = wall();
    j->cpu = j->cpu_at_end - t0;
    sqlite3_finalize(st);
    atomic_store(&j->done, true);
    return NULL;
}

/* Runs the job; with interrupt_after_cpu >= 0, interrupts once that much
 * process CPU time has been spent (and keeps interrupting until it ends). */
static void run_job(job *j, double interrupt_after_cpu)
{
    pthread_t t;
    atomic_store(&j->done, false);
    j->cpu_at_interrupt = j->wall_at_interrupt = 0;
    double t0 = process_cpu();
    CHECK(pthread_create(&t, NULL, run, j) == 0);
    struct timespec tick = {0, 2000000};
    while (!atomic_load(&j->done)) {
        if (interrupt_after_cpu >= 0 && process_cpu() - t0 >= interrupt_after_cpu) {
            if (j->wall_at_interrupt == 0) {
                j->cpu_at_interrupt = process_cpu();
                j->wall_at_interrupt = wall();
            }
            sqlite3_interrupt(j->db);
        }
        nanosleep(&tick, NULL);
    }
    pthread_join(t, NULL);
}

/* A thread's CPU time, or -1 once it has ended. */
static double thread_cpu(clockid_t cid)
{
    struct timespec ts;
    if (clock_gettime(cid, &ts) != 0)
        return -1;
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Runs the job and interrupts it (and keeps interrupting) once the
 * statement's thread waits: the process has used 3 ms of CPU since that
 * thread last ran (sampled every 1 ms; another thread's CPU time reaches the
 * process clock in scheduler ticks, that thread's own clock is exact) --
 * another thread works and the calling thread sleeps in the pool's wait.
 * Returns whether it interrupted. */
static bool run_job_interrupt_in_wait(job *j)
{
    pthread_t t;
    atomic_store(&j->done, false);
    j->cpu_at_interrupt = j->wall_at_interrupt = 0;
    CHECK(pthread_create(&t, NULL, run, j) == 0);
    clockid_t cid;
    bool have_clock = pthread_getcpuclockid(t, &cid) == 0;
    double last_proc = process_cpu(), last_thr = have_clock ? thread_cpu(cid) : -1;
    double idle_ran = 0; /* process CPU since the statement's thread last ran */
    bool interrupted = false;
    struct timespec tick = {0, 1000000};
    while (!atomic_load(&j->done)) {
        nanosleep(&tick, NULL);
        double proc = process_cpu(), thr = have_clock ? thread_cpu(cid) : -1;
        if (!interrupted && thr >= 0 && last_thr >= 0) {
            idle_ran = thr - last_thr < 0.00005 ? idle_ran + (proc - last_proc) : 0;
            if (idle_ran >= 0.003) {
                interrupted = true;
                j->cpu_at_interrupt = process_cpu();
                j->wall_at_interrupt = wall();
            }
        }
        if (interrupted)
            sqlite3_interrupt(j->db);
        last_proc = proc;
        last_thr = thr;
    }
    pthread_join(t, NULL);
    return interrupted;
}

/* A progress handler that interrupts the statement at its k-th call: with
 * one call per VDBE instruction, every point where an interrupt can land --
 * including inside the statements embed_batch runs on the same connection to
 * read its JSON argument -- is tried, deterministically. */
static int g_progress_calls, g_progress_stop_at;

static int stop_at_call(void *arg)
{
    (void)arg;
    return ++g_progress_calls == g_progress_stop_at;
}

static int step_all(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_finalize(st);
    return rc;
}

/* An interrupt anywhere in these statements is SQLITE_INTERRUPT: before, one
 * that landed in embed_batch's JSON reading was "embed_batch: texts are not
 * valid JSON: interrupted" (SQLITE_ERROR). */
static void test_interrupted_anywhere(sqlite3 *db, const char *sql)
{
    g_progress_calls = 0;
    g_progress_stop_at = -1;
    sqlite3_progress_handler(db, 1, stop_at_call, NULL);
    CHECK(step_all(db, sql) == SQLITE_DONE);
    int total = g_progress_calls;
    for (int k = 1; k <= total; k++) {
        g_progress_calls = 0;
        g_progress_stop_at = k;
        int rc = step_all(db, sql);
        if (rc != SQLITE_INTERRUPT)
            fprintf(stderr, "%s\nstopped at instruction %d of %d: rc %d: %s\n", sql, k, total, rc,
                    sqlite3_errmsg(db));
        CHECK(rc == SQLITE_INTERRUPT);
    }
    sqlite3_progress_handler(db, 0, NULL, NULL);
    printf("interrupted at each of its %d instructions: SQLITE_INTERRUPT every time: %.50s...\n", total, sql);
}

/* 120 numbered texts, ~2,200 tokens on tiny-bert: 5 forward calls of packed
 * texts (the batcher's 512-token budget). */
#define TEXTS_120                                                                                          \
    "(WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < 119) "                      \
    "SELECT json_group_array('text ' || i || ' of the batch, ' || substr('the cat sat on the mat and "     \
    "looked at the rain for a long while', 1, 20 + i % 40)) FROM c)"

/* 15 four-token texts and one of 472 tokens (max_tokens 512): two packed
 * calls, 60 and 472 tokens, so a pass ~9 times as long as the other. */
#define TEXTS_UNEVEN                                                                                       \
    "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 180), s(j) AS (SELECT 1 "   \
    "UNION ALL SELECT j + 1 FROM s WHERE j < 15) SELECT json_group_array(t) FROM (SELECT 'short ' || j AS " \
    "t FROM s UNION ALL SELECT group_concat('w' || i, ' ') FROM n))"

/* Every vector of a statement's rows, hex, concatenated (sqlite3_free). */
static char *all_vectors(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
    sqlite3_str *s = sqlite3_str_new(db);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_blob(st, 0);
        for (int i = 0; i < sqlite3_column_bytes(st, 0); i++)
            sqlite3_str_appendf(s, "%02x", v[i]);
    }
    CHECK(rc == SQLITE_DONE);
    sqlite3_finalize(st);
    return sqlite3_str_finish(s);
}

/* Interrupts `sql` once `at` of its whole CPU time has been spent; it must
 * end with SQLITE_INTERRUPT having spent less than `within` of the whole
 * after the interrupt. Returns that share. */
static double interrupt_at(sqlite3 *db, const char *sql, const char *what, double whole_cpu, double at,
                           double within)
{
    job cut = {db, NULL, NULL, NULL, 0, 0, false, sql, 0, 0, 0, 0};
    run_job(&cut, whole_cpu * at);
    double after_cpu = cut.cpu_at_end - cut.cpu_at_interrupt;
    double after_wall = cut.wall_at_end - cut.wall_at_interrupt;
    printf("  %s interrupted at %.0f %% of %.3f s CPU (sent at %.3f s): ended %.1f ms (wall) later, %.3f s "
           "CPU = %.0f %% of the whole\n",
           what, at * 100, whole_cpu, cut.cpu - after_cpu, after_wall * 1e3, after_cpu, after_cpu / whole_cpu * 100);
    if (cut.rc != SQLITE_INTERRUPT)
        fprintf(stderr, "rc %d: %s\n", cut.rc, sqlite3_errmsg(db));
    CHECK(cut.rc == SQLITE_INTERRUPT);
    CHECK(cut.wall_at_interrupt > 0);
    CHECK(after_cpu < whole_cpu * within + 0.02);
    return after_cpu / whole_cpu;
}

/* embed_batch whose packed calls run side by side (embed_threads(2): one
 * whole pass per thread, forward_many.c) stops promptly. The calling thread
 * asks SQLite before each layer of its own passes and every 10 ms while it
 * waits for the other thread's; that thread's pass stops at its next layer.
 * (1) Two calls, 60 and 472 tokens: the calling thread takes the first
 * (short) one and then waits for most of the long pass on the worker. The
 * test interrupts exactly then (the statement's thread stops using CPU while
 * the process runs), UNEVEN_ROUNDS times. Without the wait's polling the
 * statement then ran the rest of the long pass (~70 % of the whole CPU) after
 * the interrupt; with it about a layer of that pass (1/6) and up to 10 ms:
 * the check is < 40 %. A round where no wait was seen (the worker took the
 * short call: a race) is run again, UNEVEN_TRIES rounds at most; none at all
 * is a failure (the case would test nothing).
 * (2) tiny-bert, 120 texts, 5 calls (4 side by side, the 5th split over
 * both threads), interrupted at 15, 35 and 55 % of its CPU: < 35 % each
 * (+ 20 ms: the whole is ~50 ms CPU in release) where running on would take
 * 85, 65 and 45 %. A tiny-bert pass has few layers: each thread finishing
 * the layer it is in can be most of a call, 1/5 of the whole (16 % measured
 * under ASan). Then the same batch gives exactly the vectors it gave before. */
#define UNEVEN_ROUNDS 3
#define UNEVEN_TRIES 12

static void test_side_by_side(sqlite3 *db)
{
    host_exec_ok(db, "SELECT embed_threads(2)");
    static const char uneven[] =
        "SELECT vector FROM embed_batch('minilm', " TEXTS_UNEVEN ", '{\"max_tokens\": 512}')";
    static const char batch[] = "SELECT vector FROM embed_batch('tiny', " TEXTS_120 ")";

    job whole = {db, NULL, NULL, NULL, 0, 0, false, uneven, 0, 0, 0, 0};
    run_job(&whole, -1);
    CHECK(whole.rc == SQLITE_DONE);
    printf("side by side, 2 calls (60 and 472 tokens) at 2 threads: %.3f s CPU whole\n", whole.cpu);
    double worst = 0;
    int caught = 0, rounds = 0;
    while (caught < UNEVEN_ROUNDS && rounds < UNEVEN_TRIES) {
        rounds++;
        job cut = {db, NULL, NULL, NULL, 0, 0, false, uneven, 0, 0, 0, 0};
        if (!run_job_interrupt_in_wait(&cut)) {
            CHECK(cut.rc == SQLITE_DONE);
            continue;
        }
        caught++;
        double after_cpu = cut.cpu_at_end - cut.cpu_at_interrupt;
        printf("  2 calls interrupted while the calling thread waited, at %.3f s CPU: ended %.1f ms (wall) "
               "later, %.3f s CPU = %.0f %% of the whole\n",
               cut.cpu - after_cpu, (cut.wall_at_end - cut.wall_at_interrupt) * 1e3, after_cpu,
               after_cpu / whole.cpu * 100);
        if (cut.rc != SQLITE_INTERRUPT)
            fprintf(stderr, "rc %d: %s\n", cut.rc, sqlite3_errmsg(db));
        CHECK(cut.rc == SQLITE_INTERRUPT);
        CHECK(after_cpu < whole.cpu * 0.4);
        worst = after_cpu / whole.cpu > worst ? after_cpu / whole.cpu : worst;
    }
    printf("  the calling thread waited in %d of %d rounds\n", caught, rounds);
    CHECK(caught > 0);

    char *before = all_vectors(db, batch);
    job whole120 = {db, NULL, NULL, NULL, 0, 0, false, batch, 0, 0, 0, 0};
    run_job(&whole120, -1);
    CHECK(whole120.rc == SQLITE_DONE);
    printf("side by side, tiny-bert, 120 texts (5 calls) at 2 threads: %.3f s CPU whole\n", whole120.cpu);
    for (int k = 0; k < 3; k++) {
        double share = interrupt_at(db, batch, "120 texts", whole120.cpu, 0.15 + 0.2 * k, 0.35);
        worst = share > worst ? share : worst;
    }
    char *after = all_vectors(db, batch);
    CHECK(strcmp(before, after) == 0);
    sqlite3_free(before);
    sqlite3_free(after);
    printf("side by side: stopped within %.0f %% of the whole CPU after the interrupt, same vectors after\n",
           worst * 100);
}

static char *words(int n)
{
    char *s = malloc((size_t)n * 12 + 1);
    CHECK(s);
    size_t at = 0;
    for (int i = 0; i < n; i++)
        at += (size_t)sprintf(s + at, "word%d ", i % 700);
    return s;
}

int main(void)
{
    sqlite3 *db = host_open();
    char sql[1200];
    snprintf(sql, sizeof sql,
             "INSERT INTO embed_models(name, path) VALUES ('minilm', '%s'), ('nomic', '%s'), ('tiny', '%s')",
             host_model("all-MiniLM-L6-v2.f32.gguf"), host_model("tiny-nomic-F16.gguf"),
             host_model("tiny-bert-F16.gguf"));
    host_exec_ok(db, sql);
    printf("host SQLite %s\n", sqlite3_libversion());

    /* MiniLM, 512 tokens, 6 layers: the whole call, then one interrupted
     * after a sixth of its CPU time must stop well before the end. */
    char *text = words(600);
    job full = {db, "minilm", text, NULL, 0, 0, false, NULL, 0, 0, 0, 0};
    run_job(&full, -1);
    CHECK(full.rc == SQLITE_ROW);
    job cut = {db, "minilm", text, NULL, 0, 0, false, NULL, 0, 0, 0, 0};
    run_job(&cut, full.cpu / 6);
    printf("minilm 512 tokens: %.3f s CPU whole, %.3f s CPU interrupted\n", full.cpu, cut.cpu);
    CHECK(cut.rc == SQLITE_INTERRUPT);
    CHECK(cut.cpu < full.cpu * 0.75);
    CHECK(strstr(sqlite3_errmsg(db), "interrupt"));

    /* nomic, 2048 tokens. */
    free(text);
    text = words(2100);
    job nomic = {db, "nomic", text, NULL, 0, 0, false, NULL, 0, 0, 0, 0};
    run_job(&nomic, 0.01);
    CHECK(nomic.rc == SQLITE_INTERRUPT);
    printf("nomic 2048 tokens interrupted after %.3f s CPU\n", nomic.cpu);

    /* A text of over 100,000 tokens at the largest max_tokens (8,192): the
     * tiny nomic model has 2 layers, so a check once per layer would let
     * half of the call run after the interrupt; the pass asks between
     * attention blocks and token blocks too. */
    free(text);
    text = words(100000);
    job huge = {db, "nomic", text, "{\"max_tokens\":8192}", 0, 0, false, NULL, 0, 0, 0, 0};
    run_job(&huge, -1);
    CHECK(huge.rc == SQLITE_ROW);
    job huge_cut = {db, "nomic", text, "{\"max_tokens\":8192}", 0, 0, false, NULL, 0, 0, 0, 0};
    run_job(&huge_cut, huge.cpu / 10);
    printf("nomic 8192 of 100,000+ tokens: %.3f s CPU whole, %.3f s CPU interrupted after %.3f\n", huge.cpu,
           huge_cut.cpu, huge.cpu / 10);
    CHECK(huge_cut.rc == SQLITE_INTERRUPT);
    CHECK(huge_cut.cpu < huge.cpu * 0.3);

    /* Bulk calls over thousands of rows: embed_batch over 3,000 texts, and a
     * statement calling embed() for each of 3,000 rows. */
    static const char *const BULK[2] = {
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
        "SELECT count(*) FROM embed_batch('tiny', (SELECT json_group_array('text number ' || i || ' of the "
        "batch') FROM n))",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
        "SELECT length(embed('tiny', 'text number ' || i || ' of the rows')) FROM n",
    };
    for (int b = 0; b < 2; b++) {
        job whole = {db, NULL, NULL, NULL, 0, 0, false, BULK[b], 0, 0, 0, 0};
        run_job(&whole, -1);
        CHECK(whole.rc == SQLITE_DONE);
        job bulk_cut = {db, NULL, NULL, NULL, 0, 0, false, BULK[b], 0, 0, 0, 0};
        run_job(&bulk_cut, whole.cpu / 6);
        printf("%s: %.3f s CPU whole, %.3f s CPU interrupted\n", b ? "3,000 rows" : "embed_batch of 3,000",
               whole.cpu, bulk_cut.cpu);
        if (bulk_cut.rc != SQLITE_INTERRUPT)
            fprintf(stderr, "rc %d: %s\n", bulk_cut.rc, sqlite3_errmsg(db));
        CHECK(bulk_cut.rc == SQLITE_INTERRUPT);
        CHECK(bulk_cut.cpu < whole.cpu * 0.5);
    }

    test_side_by_side(db);

    test_interrupted_anywhere(db, "SELECT count(*) FROM embed_batch('tiny', '[null, \"a\", {\"id\": 1, \"text\": "
                                  "\"b c\"}, {\"text\": null}, \"d\", null]', '{\"dims\": 16}')");
    test_interrupted_anywhere(db, "SELECT length(embed('tiny', 'an interrupted text', '{\"dims\": 16}'))");
    test_interrupted_anywhere(db, "SELECT count(*) FROM embed_chunks('tiny', 'one. two. three.', '{\"max_tokens\": 4}')");

    /* Bounded work: refused before any work is done. */
    char *err = NULL;
    float v[384];
    CHECK(host_embed(db, "nomic", "x", "{\"max_tokens\":1000000}", v, 384, &err) < 0);
    CHECK(strstr(err, "max_tokens 1000000 exceeds 8192"));
    sqlite3_free(err);
    err = NULL;
    size_t prefix = (16u << 20) - 64; /* the options stay under 16 MB, prefix + text do not */
    char *opts = malloc(prefix + 32);
    CHECK(opts);
    strcpy(opts, "{\"prefix\":\"");
    memset(opts + 11, 'p', prefix);
    strcpy(opts + 11 + prefix, "\"}");
    char short_text[101];
    memset(short_text, 't', 100);
    short_text[100] = '\0';
    CHECK(host_embed(db, "nomic", short_text, opts, v, 384, &err) < 0);
    CHECK(strstr(err, "prefix 16777152 + text 100), maximum 16777216"));
    sqlite3_free(err);
    free(opts);

    /* The connection works normally afterwards. */
    job again = {db, "minilm", "after the interrupt", NULL, 0, 0, false, NULL, 0, 0, 0, 0};
    run_job(&again, -1);
    CHECK(again.rc == SQLITE_ROW);
    free(text);
    sqlite3_close(db);
    printf("test_host_interrupt: ok\n");
    return 0;
}
