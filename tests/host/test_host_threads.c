/*
 * 8 threads, each with its own connection, embed with two shared models while
 * two more threads register, embed, unload and delete models (also the ones
 * the embedders use) and race to delete the same name. After its rounds each
 * embedder also runs one embed_batch of N_BATCH texts (~2,000 tokens: 5
 * forward calls): whichever holds the pool runs them side by side on the
 * pool's threads (embed_threads(2)), the others on their own thread. Every vector must be
 * bit-identical to the one computed alone; nothing may deadlock (alarm). The
 * ThreadSanitizer stage of tests/run.sh runs this same program.
 */
#include "host.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_EMBEDDERS 8
#define N_CHURNERS 2
#define N_TEXTS 6
#define DIMS 256
#define N_BATCH 120

static const char *const TEXTS[N_TEXTS] = {
    "the cat sat on the mat", "stocks fell sharply today", "a recipe for bread",
    "sqlite is a small database", "hello world", "threads and forks and interrupts",
};
static const char *const MODELS[2] = {"a", "b"};
static float g_ref[2][N_TEXTS][DIMS];
static float g_batch_ref[2][N_BATCH][DIMS];
static int g_rounds = 12;
static atomic_int g_embedders_left = N_EMBEDDERS;
static atomic_int g_mismatches, g_errors;
static const char *g_churn_model;

/* embed_batch of N_BATCH numbered texts (several forward calls of packed
 * texts) into out; returns the rows read, -1 on an error (printed). */
static int batch_vectors(sqlite3 *db, const char *model, float out[N_BATCH][DIMS])
{
    static const char sql[] =
        "SELECT vector FROM embed_batch(?1, (WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 "
        "FROM c WHERE i < ?2 - 1) SELECT json_group_array('text ' || i || ' of the batch, ' || "
        "substr('the cat sat on the mat and looked at the rain for a long while', 1, 20 + i % 40)) "
        "FROM c))";
    sqlite3_stmt *st = NULL;
    int rows = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, N_BATCH);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows >= N_BATCH || sqlite3_column_bytes(st, 0) != (int)(DIMS * sizeof(float)))
            goto fail;
        memcpy(out[rows++], sqlite3_column_blob(st, 0), DIMS * sizeof(float));
    }
    if (rc != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);
    return rows;
fail:
    fprintf(stderr, "embed_batch on %s: %s\n", model, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return -1;
}

static void *embedder(void *arg)
{
    int id = (int)(intptr_t)arg;
    sqlite3 *db = host_open();
    float v[DIMS];
    for (int r = 0; r < g_rounds; r++)
        for (int i = 0; i < N_TEXTS; i++) {
            int m = (i + id + r) % 2, t = (i + id) % N_TEXTS;
            char *err = NULL;
            int n = host_embed(db, MODELS[m], TEXTS[t], NULL, v, DIMS, &err);
            if (n != DIMS) {
                fprintf(stderr, "embedder %d: %s\n", id, err ? err : "wrong size");
                atomic_fetch_add(&g_errors, 1);
            } else if (memcmp(v, g_ref[m][t], sizeof v) != 0) {
                atomic_fetch_add(&g_mismatches, 1);
            }
            sqlite3_free(err);
        }
    static float got[N_EMBEDDERS][N_BATCH][DIMS];
    int m = id % 2;
    if (batch_vectors(db, MODELS[m], got[id]) != N_BATCH)
        atomic_fetch_add(&g_errors, 1);
    else if (memcmp(got[id], g_batch_ref[m], sizeof got[id]) != 0)
        atomic_fetch_add(&g_mismatches, 1);
    sqlite3_close(db);
    atomic_fetch_sub(&g_embedders_left, 1);
    return NULL;
}

static void *churner(void *arg)
{
    int id = (int)(intptr_t)arg;
    sqlite3 *db = host_open();
    char sql[1024];
    float v[DIMS];
    for (int k = 0; atomic_load(&g_embedders_left) > 0; k++) {
        snprintf(sql, sizeof sql, "INSERT INTO embed_models(name, path) VALUES ('churn%d', '%s')", id, g_churn_model);
        host_exec_ok(db, sql);
        snprintf(sql, sizeof sql, "churn%d", id);
        CHECK(host_embed(db, sql, "churning", NULL, v, DIMS, NULL) == DIMS);
        /* the embedders' models: unmapped under them, reloaded by them */
        host_exec_ok(db, k % 2 ? "SELECT embed_unload('a')" : "SELECT embed_unload('b')");
        snprintf(sql, sizeof sql, "DELETE FROM embed_models WHERE name = 'churn%d'", id);
        host_exec_ok(db, sql);
        /* both churners register 'shared' (one wins) and both delete it */
        char *err = NULL;
        snprintf(sql, sizeof sql, "INSERT INTO embed_models(name, path) VALUES ('shared', '%s')", g_churn_model);
        if (host_exec(db, sql, &err) != SQLITE_OK)
            CHECK(strstr(err, "already registered"));
        sqlite3_free(err);
        host_exec_ok(db, "DELETE FROM embed_models WHERE name = 'shared'");
        host_exec_ok(db, "SELECT count(*) FROM embed_models");
    }
    sqlite3_close(db);
    return NULL;
}

int main(void)
{
    alarm(600); /* a deadlock ends the test (SIGALRM) instead of hanging ctest */
    if (getenv("HOST_TEST_ROUNDS"))
        g_rounds = atoi(getenv("HOST_TEST_ROUNDS"));
    g_churn_model = host_model("tiny-bert-F16.gguf");
    sqlite3 *db = host_open();
    char sql[1200];
    snprintf(sql, sizeof sql, "INSERT INTO embed_models(name, path) VALUES ('a', '%s'), ('b', '%s')",
             host_model("tiny-bert-Q8_0.gguf"), host_model("tiny-nomic-Q4_K.gguf"));
    host_exec_ok(db, sql);
    host_exec_ok(db, "SELECT embed_threads(2)");
    for (int m = 0; m < 2; m++) {
        for (int t = 0; t < N_TEXTS; t++)
            CHECK(host_embed(db, MODELS[m], TEXTS[t], NULL, g_ref[m][t], DIMS, NULL) == DIMS);
        CHECK(batch_vectors(db, MODELS[m], g_batch_ref[m]) == N_BATCH);
    }

    pthread_t th[N_EMBEDDERS + N_CHURNERS];
    for (int i = 0; i < N_EMBEDDERS; i++)
        CHECK(pthread_create(&th[i], NULL, embedder, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < N_CHURNERS; i++)
        CHECK(pthread_create(&th[N_EMBEDDERS + i], NULL, churner, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < N_EMBEDDERS + N_CHURNERS; i++)
        pthread_join(th[i], NULL);
    printf("%d embeds, %d embed_batch runs of %d texts, %d errors, %d mismatches\n",
           N_EMBEDDERS * g_rounds * N_TEXTS, N_EMBEDDERS, N_BATCH, atomic_load(&g_errors),
           atomic_load(&g_mismatches));
    CHECK(atomic_load(&g_errors) == 0 && atomic_load(&g_mismatches) == 0);
    host_exec_ok(db, "DELETE FROM embed_models");
    CHECK(host_count_mappings("tiny-") == 0);
    sqlite3_close(db);
    printf("test_host_threads: ok\n");
    return 0;
}
