/*
 * fork() and the extension: after the extension has run (OpenBLAS loaded),
 * while another thread embeds, and while another thread registers and deletes
 * models -- the child embeds correctly (no deadlock on a lock another thread
 * held at fork time), the parent's in-flight work completes and its vectors
 * are unchanged. Children are bounded by alarm(); a hang is a failure.
 * At embed_threads(2) an embed_batch of 120 texts runs its forward calls side
 * by side (one whole pass on the pool's worker, one on the calling thread,
 * forward_many.c): forks land while it does, and each of those children
 * also runs that batch (its own pool starts a worker), side by side, and must
 * get the parent's vectors.
 */
#include "host.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DIMS 256
#define N_BATCH 120 /* ~2,200 tokens: 5 forward calls, 4 of them side by side */
static float g_ref[DIMS];
static float g_batch_ref[N_BATCH][DIMS];
static const char *g_model;
static atomic_bool g_stop;
static bool g_child_batch; /* children also run the batch (the side-by-side case) */

/* embed_batch of N_BATCH numbered texts into out; returns the rows read,
 * -1 on an error. */
static int batch_vectors(sqlite3 *db, const char *model, float out[N_BATCH][DIMS])
{
    static const char sql[] =
        "SELECT vector FROM embed_batch(?1, (WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 "
        "FROM c WHERE i < ?2 - 1) SELECT json_group_array('text ' || i || ' of the batch, ' || "
        "substr('the cat sat on the mat and looked at the rain for a long while', 1, 20 + i % 40)) "
        "FROM c))";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, N_BATCH);
    int rc, rows = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows >= N_BATCH || sqlite3_column_bytes(st, 0) != (int)(DIMS * sizeof(float))) {
            rc = SQLITE_ERROR;
            break;
        }
        memcpy(out[rows++], sqlite3_column_blob(st, 0), DIMS * sizeof(float));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? rows : -1;
}

/* In the child: a fresh connection, register a new name, embed, compare;
 * then (g_child_batch) the batch, side by side. */
static int child_main(void)
{
    alarm(60);
    sqlite3 *db = host_open();
    char sql[800];
    snprintf(sql, sizeof sql, "INSERT INTO embed_models(name, path) VALUES ('child', '%s')", g_model);
    if (host_exec(db, sql, NULL) != SQLITE_OK)
        return 2;
    float v[DIMS];
    if (host_embed(db, "child", "a forked process", NULL, v, DIMS, NULL) != DIMS)
        return 3;
    if (memcmp(v, g_ref, sizeof v) != 0)
        return 4;
    if (host_embed(db, "m", "a forked process", NULL, v, DIMS, NULL) != DIMS || memcmp(v, g_ref, sizeof v) != 0)
        return 5;
    static float batch[N_BATCH][DIMS];
    if (g_child_batch && batch_vectors(db, "child", batch) != N_BATCH)
        return 6;
    if (g_child_batch && memcmp(batch, g_batch_ref, sizeof batch) != 0)
        return 7;
    sqlite3_close(db);
    return 0;
}

static void fork_and_check(const char *what)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(child_main());
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s: child %s %d\n", what, WIFSIGNALED(status) ? "killed by signal" : "exited with",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        CHECK(!"the child embeds");
    }
}

static void *embed_loop(void *arg)
{
    (void)arg;
    sqlite3 *db = host_open();
    float v[DIMS];
    while (!atomic_load(&g_stop)) {
        CHECK(host_embed(db, "m", "a forked process", NULL, v, DIMS, NULL) == DIMS);
        CHECK(memcmp(v, g_ref, sizeof v) == 0);
    }
    sqlite3_close(db);
    return NULL;
}

static void *batch_loop(void *arg)
{
    (void)arg;
    sqlite3 *db = host_open();
    static float got[N_BATCH][DIMS];
    while (!atomic_load(&g_stop)) {
        CHECK(batch_vectors(db, "m", got) == N_BATCH);
        CHECK(memcmp(got, g_batch_ref, sizeof got) == 0);
    }
    sqlite3_close(db);
    return NULL;
}

static void *register_loop(void *arg)
{
    (void)arg;
    sqlite3 *db = host_open();
    char sql[800];
    snprintf(sql, sizeof sql, "INSERT INTO embed_models(name, path) VALUES ('churn', '%s')", g_model);
    while (!atomic_load(&g_stop)) {
        host_exec_ok(db, sql);
        host_exec_ok(db, "DELETE FROM embed_models WHERE name = 'churn'");
    }
    sqlite3_close(db);
    return NULL;
}

static void with_thread(void *(*fn)(void *), const char *what)
{
    pthread_t t;
    atomic_store(&g_stop, false);
    CHECK(pthread_create(&t, NULL, fn, NULL) == 0);
    for (int i = 0; i < 10; i++) {
        usleep(20000);
        fork_and_check(what);
    }
    atomic_store(&g_stop, true);
    pthread_join(t, NULL);
}

int main(void)
{
    alarm(600);
    /* SQLite's own global mutexes are not fork-safe: with memory statistics
     * on, every sqlite3_malloc takes one, and a fork while the embedding
     * thread holds it leaves the child's SQLite locked (SQLite's limitation,
     * not the extension's, which is what this test is about). */
    CHECK(sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK);
    g_model = host_model("tiny-bert-F16.gguf");
    sqlite3 *db = host_open();
    char sql[800];
    snprintf(sql, sizeof sql, "INSERT INTO embed_models(name, path) VALUES ('m', '%s')", g_model);
    host_exec_ok(db, sql);
    CHECK(host_embed(db, "m", "a forked process", NULL, g_ref, DIMS, NULL) == DIMS);
    /* The batch's reference one call at a time on one thread; every other
     * batch runs at 2 threads, side by side, and must match it bit for bit. */
    host_exec_ok(db, "SELECT embed_threads(1)");
    CHECK(batch_vectors(db, "m", g_batch_ref) == N_BATCH);
    host_exec_ok(db, "SELECT embed_threads(2)");

    fork_and_check("after the extension ran");
    with_thread(embed_loop, "while another thread embeds");
    with_thread(register_loop, "while another thread registers");
    g_child_batch = true;
    with_thread(batch_loop, "while another thread runs embed_batch side by side");

    float v[DIMS];
    CHECK(host_embed(db, "m", "a forked process", NULL, v, DIMS, NULL) == DIMS && memcmp(v, g_ref, sizeof v) == 0);
    sqlite3_close(db);
    printf("test_host_fork: ok\n");
    return 0;
}
