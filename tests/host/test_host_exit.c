/*
 * Process exit while another thread is inside embed(): what a Python program
 * does when it returns with a daemon thread still embedding (exit() runs the
 * extension's and OpenBLAS's destructors while that thread multiplies). Issue
 * 9 measured SIGSEGV in cblas_sgemm in 6 of 20 runs and hangs in 3 of 20. Each
 * round starts this program again as a child that embeds a 512-token text on
 * three more threads and calls exit(0) at a different moment of the call; the
 * child must exit with status 0 -- no signal, no hang (alarm in the child).
 * The child's exit keeps the process alive for 50 ms after the libraries'
 * destructors (the extension's, OpenBLAS's) have run, as a host's own exit
 * work does (Python, Node): without that, a crash needs an embedding thread to
 * touch OpenBLAS's freed buffers within the microseconds before the process
 * ends (about 1 round in 100 here).
 * Batch rounds: the child's threads run embed_batch of 120 texts (5 forward
 * calls) at embed_threads(2) instead, so exit() comes while the calls of a
 * batch run side by side -- whole passes on the pool's worker and on the
 * thread holding the lease (forward_many.c), which waits for the worker with
 * a timed wait, asking SQLite every 10 ms -- and while the other thread runs
 * its batch's calls one after another on its own thread.
 */
#include "host.h"

#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define ROUNDS 10
#define BATCH_ROUNDS 8
#define BATCH_EMBEDDERS 2 /* host threads inside embed_batch at exit */
#define BATCH_TEXTS 120
#define EMBEDDERS 3 /* host threads inside embed() at exit */

static atomic_int g_calls_started;
static atomic_bool g_exiting;
static bool g_is_child;

/* exit() runs the exit handlers newest first; the libraries' destructors run
 * in one of them (the dynamic linker's _dl_fini, registered at program start).
 * A handler registered even earlier -- from .preinit_array, which runs before
 * anything else -- runs after every destructor. */
int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);

static void slow_host_exit(void *arg)
{
    (void)arg;
    if (g_is_child)
        usleep(50000);
}

static void register_slow_host_exit(int argc, char **argv, char **envp)
{
    (void)argc;
    (void)argv;
    (void)envp;
    __cxa_atexit(slow_host_exit, NULL, NULL);
}

__attribute__((section(".preinit_array"), used)) static void (*const g_preinit)(int, char **, char **) =
    register_slow_host_exit;
static void *embed_forever(void *arg)
{
    const char *text = arg;
    sqlite3 *db = host_open();
    float v[384];
    for (;;) {
        atomic_fetch_add(&g_calls_started, 1);
        int n = host_embed(db, "m", text, NULL, v, 384, NULL);
        /* Once exit() has begun, a call may fail cleanly (the extension's
         * destructors unregister the models): only a crash or hang is wrong. */
        CHECK(n == 384 || atomic_load(&g_exiting));
    }
    return NULL;
}

/* embed_batch of BATCH_TEXTS numbered texts on tiny-bert, ~2,200 tokens: 5
 * calls of the 512-token budget. */
static void *embed_batch_forever(void *arg)
{
    (void)arg;
    sqlite3 *db = host_open();
    static const char sql[] =
        "SELECT vector FROM embed_batch('tiny', (WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 "
        "FROM c WHERE i < 119) SELECT json_group_array('text ' || i || ' of the batch, ' || "
        "substr('the cat sat on the mat and looked at the rain for a long while', 1, 20 + i % 40)) "
        "FROM c))";
    for (;;) {
        atomic_fetch_add(&g_calls_started, 1);
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL), rows = 0;
        if (rc == SQLITE_OK)
            while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                CHECK(sqlite3_column_bytes(st, 0) == 256 * 4 && ++rows <= BATCH_TEXTS);
        if (rc != SQLITE_DONE && !atomic_load(&g_exiting))
            fprintf(stderr, "embed_batch: %s\n", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        /* as in embed_forever: after exit() has begun, a clean error is fine */
        CHECK((rc == SQLITE_DONE && rows == BATCH_TEXTS) || atomic_load(&g_exiting));
    }
    return NULL;
}

static int child(int delay_ms, bool batch)
{
    g_is_child = true;
    alarm(60); /* a hang at exit ends as SIGALRM: a failure */
    sqlite3 *db = host_open();
    char sql[800];
    snprintf(sql, sizeof sql, "INSERT INTO embed_models(name, path) VALUES ('m', '%s')",
             host_model("all-MiniLM-L6-v2.f32.gguf"));
    host_exec_ok(db, sql);
    snprintf(sql, sizeof sql, "INSERT INTO embed_models(name, path) VALUES ('tiny', '%s')",
             host_model("tiny-bert-F16.gguf"));
    host_exec_ok(db, sql);
    static char text[8192];
    size_t at = 0;
    while (at + 40 < sizeof text)
        at += (size_t)snprintf(text + at, sizeof text - at, "word%zu exits while embedding ", at % 997);
    int n = batch ? BATCH_EMBEDDERS : EMBEDDERS;
    if (batch)
        host_exec_ok(db, "SELECT embed_threads(2)");
    pthread_t t[EMBEDDERS > BATCH_EMBEDDERS ? EMBEDDERS : BATCH_EMBEDDERS];
    for (int i = 0; i < n; i++)
        CHECK(pthread_create(&t[i], NULL, batch ? embed_batch_forever : embed_forever, text) == 0);
    while (atomic_load(&g_calls_started) < n + 1) /* OpenBLAS is warm */
        usleep(1000);
    struct timespec ts = {0, (long)delay_ms * 1000000L};
    nanosleep(&ts, NULL);
    atomic_store(&g_exiting, true);
    exit(0); /* with the other thread inside embed() */
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "child") == 0)
        return child(atoi(argv[2]), strcmp(argv[3], "batch") == 0);
    int failures = 0;
    for (int round = 0; round < ROUNDS + BATCH_ROUNDS; round++) {
        bool batch = round >= ROUNDS;
        char delay[16];
        snprintf(delay, sizeof delay, "%d", (round * 13) % 60);
        char *child_argv[] = {argv[0], "child", delay, batch ? "batch" : "row", NULL};
        pid_t pid;
        fflush(NULL);
        CHECK(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, child_argv, environ) == 0);
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "round %d (%s, exit after %s ms): child %s %d\n", round, child_argv[3], delay,
                    WIFSIGNALED(status) ? "killed by signal" : "exited with",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            failures++;
        }
    }
    printf("%d rounds (%d of them embed_batch side by side), %d failures\n", ROUNDS + BATCH_ROUNDS, BATCH_ROUNDS,
           failures);
    CHECK(failures == 0);
    printf("test_host_exit: ok\n");
    return 0;
}
