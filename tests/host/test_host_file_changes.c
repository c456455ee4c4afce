/*
 * A model file that changes while the host runs: replaced by cp (same inode),
 * replaced by rename (new inode), overwritten in place, truncated -- between
 * two calls and during one. The host must survive every case; the next call
 * uses the new file or fails with a clear error; every replaced copy is
 * unmapped exactly once (no leak after repeated rename + embed_unload); a model
 * that computes NaN is an error, never a vector (nor "-nan" JSON).
 */
#include "host.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXD 1024

static char g_live[600];

static void register_live(sqlite3 *db)
{
    char sql[800];
    snprintf(sql, sizeof sql, "INSERT INTO embed_models(name, path) VALUES ('live', '%s')", g_live);
    host_exec_ok(db, sql);
}

static bool same(const float *a, const float *b, int n)
{
    return memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

/* Between calls: cp over (smaller and larger), truncate, overwrite in place. */
static void test_between_calls(sqlite3 *db, const char *minilm, const char *tiny)
{
    float ref_big[MAXD], ref_tiny[MAXD], v[MAXD];
    char *err = NULL;
    host_copy(minilm, g_live);
    register_live(db);
    int n_big = host_embed(db, "live", "hello world", NULL, ref_big, MAXD, NULL);
    CHECK(n_big == 384);

    host_copy(tiny, g_live); /* cp over a loaded model: same inode, smaller */
    int n_tiny = host_embed(db, "live", "hello world", NULL, ref_tiny, MAXD, NULL);
    CHECK(n_tiny > 0 && n_tiny != 384);

    host_copy(minilm, g_live); /* and a larger one back */
    CHECK(host_embed(db, "live", "hello world", NULL, v, MAXD, NULL) == 384);
    CHECK(same(v, ref_big, 384));

    char renamed[700]; /* replaced by rename (a new inode), no unload: the next call uses it */
    snprintf(renamed, sizeof renamed, "%s.new", g_live);
    host_copy(tiny, renamed);
    CHECK(rename(renamed, g_live) == 0);
    CHECK(host_embed(db, "live", "hello world", NULL, v, MAXD, NULL) == n_tiny && same(v, ref_tiny, n_tiny));
    host_copy(minilm, renamed);
    CHECK(rename(renamed, g_live) == 0);
    CHECK(host_embed(db, "live", "hello world", NULL, v, MAXD, NULL) == 384 && same(v, ref_big, 384));

    CHECK(truncate(g_live, 4096) == 0); /* truncated: a clear error */
    CHECK(host_embed(db, "live", "hello world", NULL, v, MAXD, &err) < 0);
    CHECK(strstr(err, "model 'live'") && strstr(err, "live.gguf"));
    sqlite3_free(err);
    err = NULL;
    sqlite3_stmt *broken; /* embed_models: not loaded, the last good description kept */
    CHECK(sqlite3_prepare_v2(db, "SELECT n_embd, loaded FROM embed_models WHERE name = 'live'", -1, &broken, NULL) ==
          SQLITE_OK);
    CHECK(sqlite3_step(broken) == SQLITE_ROW);
    CHECK(sqlite3_column_int(broken, 0) == 384 && sqlite3_column_int(broken, 1) == 0);
    sqlite3_finalize(broken);

    host_copy(minilm, g_live);
    CHECK(host_embed(db, "live", "hello world", NULL, v, MAXD, NULL) == 384 && same(v, ref_big, 384));

    /* Overwritten in place with other bytes (the header is kept, the
     * weights are not): the new content is what the next call uses. */
    int fd = open(g_live, O_WRONLY);
    CHECK(fd >= 0);
    static char junk[1 << 20];
    memset(junk, 0x3c, sizeof junk); /* F16 0x3c3c = 1.06: finite, wrong */
    off_t size = lseek(fd, 0, SEEK_END); /* the last layers' weights */
    CHECK(pwrite(fd, junk, sizeof junk, size - (4 << 20)) == (ssize_t)sizeof junk);
    close(fd);
    int n = host_embed(db, "live", "hello world", NULL, v, MAXD, &err);
    CHECK(n == 384 || (n < 0 && strstr(err, "non-finite")));
    if (n == 384)
        CHECK(!same(v, ref_big, 384));
    sqlite3_free(err);
    err = NULL;

    /* embed_models describes the file as it is now. */
    host_copy(tiny, g_live);
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db, "SELECT n_embd, loaded FROM embed_models WHERE name = 'live'", -1, &st, NULL) ==
          SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    CHECK(sqlite3_column_int(st, 0) == n_tiny && sqlite3_column_int(st, 1) == 1);
    sqlite3_finalize(st);
    host_exec_ok(db, "DELETE FROM embed_models WHERE name = 'live'");
}

/* Replaced by rename, then embed_unload: every old copy is unmapped. */
static void test_rename_no_leak(sqlite3 *db, const char *minilm)
{
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.new", g_live);
    host_copy(minilm, g_live);
    register_live(db);
    float v[MAXD];
    for (int i = 0; i < 20; i++) {
        CHECK(host_embed(db, "live", "hello", NULL, v, MAXD, NULL) == 384);
        host_copy(minilm, tmp);
        CHECK(rename(tmp, g_live) == 0);
        host_exec_ok(db, "SELECT embed_unload('live')");
    }
    CHECK(host_embed(db, "live", "hello", NULL, v, MAXD, NULL) == 384);
    /* one copy: the current file, mapped once */
    CHECK(host_count_mappings("live.gguf") == 1);
    host_exec_ok(db, "DELETE FROM embed_models WHERE name = 'live'");
    CHECK(host_count_mappings("live.gguf") == 0);
}

typedef struct cutter {
    int delay_ms;
    bool rewrite; /* overwrite weights in place (same size) instead of truncating */
} cutter;

static void *cut_file(void *arg)
{
    const cutter *c = arg;
    struct timespec ts = {0, (long)c->delay_ms * 1000000L};
    nanosleep(&ts, NULL);
    if (!c->rewrite) {
        CHECK(truncate(g_live, 1 << 20) == 0);
        return NULL;
    }
    static char junk[1 << 20];
    memset(junk, 0x3f, sizeof junk); /* F32 0x3f3f3f3f = 0.75: finite, wrong */
    int fd = open(g_live, O_WRONLY);
    CHECK(fd >= 0);
    off_t size = lseek(fd, 0, SEEK_END);
    for (off_t at = size / 2; at + (off_t)sizeof junk <= size; at += (off_t)sizeof junk)
        CHECK(pwrite(fd, junk, sizeof junk, at) == (ssize_t)sizeof junk);
    close(fd);
    return NULL;
}

/* During a call: the file is truncated (or its weights rewritten in place,
 * same size) while the forward pass reads it. The call fails ("changed while
 * it was being read") or, if it finished first, succeeds with the old bits;
 * the host survives; after the file is restored all is as before. */
static void test_change_during_call(sqlite3 *db, const char *minilm_f32, bool rewrite)
{
    static char text[8192];
    size_t at = 0;
    while (at + 40 < sizeof text)
        at += (size_t)snprintf(text + at, sizeof text - at, "word%zu and another sentence here ", at);
    float ref[MAXD], v[MAXD];
    host_copy(minilm_f32, g_live);
    register_live(db);
    CHECK(host_embed(db, "live", text, NULL, ref, MAXD, NULL) == 384);
    int changed_errors = 0;
    for (int round = 0; round < 6 && changed_errors == 0; round++) {
        host_copy(minilm_f32, g_live);
        CHECK(host_embed(db, "live", text, NULL, v, MAXD, NULL) == 384 && same(v, ref, 384));
        cutter c = {2 + round * 3, rewrite};
        pthread_t t;
        CHECK(pthread_create(&t, NULL, cut_file, &c) == 0);
        char *err = NULL;
        int n = host_embed(db, "live", text, NULL, v, MAXD, &err);
        pthread_join(t, NULL);
        if (n < 0) {
            if (strstr(err, "changed while it was being read"))
                changed_errors++;
            else if (!rewrite || !strstr(err, "non-finite"))
                CHECK(strstr(err, "model 'live'")); /* cut before the call: reload error */
        } else if (!same(v, ref, 384)) {
            /* only a rewrite that was complete before the call began: then
             * the call used the whole new file, never a mix of the two */
            CHECK(rewrite && n == 384);
            float again[MAXD];
            CHECK(host_embed(db, "live", text, NULL, again, MAXD, NULL) == 384 && same(v, again, 384));
        }
        sqlite3_free(err);
    }
    fprintf(stderr, "%s during a call reported %d time(s)\n", rewrite ? "rewrite" : "truncation", changed_errors);
    CHECK(changed_errors > 0);
    host_copy(minilm_f32, g_live);
    CHECK(host_embed(db, "live", text, NULL, v, MAXD, NULL) == 384 && same(v, ref, 384));
    host_exec_ok(db, "DELETE FROM embed_models WHERE name = 'live'");
}

/* A model whose weights are NaN: an error from embed and embed_json. */
static void test_non_finite(sqlite3 *db, const char *tiny_f32)
{
    host_copy(tiny_f32, g_live);
    sqlite3_stmt *st;
    char sql[800];
    snprintf(sql, sizeof sql,
             "SELECT offset, n_bytes FROM gguf_tensors('%s') WHERE name = 'token_embd_norm.weight'", g_live);
    CHECK(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    off_t off = (off_t)sqlite3_column_int64(st, 0);
    size_t bytes = (size_t)sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    unsigned char *nan_bytes = malloc(bytes);
    CHECK(nan_bytes);
    memset(nan_bytes, 0xff, bytes); /* every float a NaN */
    int fd = open(g_live, O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, nan_bytes, bytes, off) == (ssize_t)bytes);
    close(fd);
    free(nan_bytes);
    register_live(db);
    float v[MAXD];
    char *err = NULL;
    CHECK(host_embed(db, "live", "hello", NULL, v, MAXD, &err) < 0);
    CHECK(strstr(err, "non-finite value (NaN)"));
    sqlite3_free(err);
    err = NULL;
    CHECK(host_exec(db, "SELECT embed_json('live', 'hello')", &err) == SQLITE_ERROR);
    CHECK(strstr(err, "non-finite"));
    sqlite3_free(err);
    host_exec_ok(db, "DELETE FROM embed_models WHERE name = 'live'");
}

int main(void)
{
    snprintf(g_live, sizeof g_live, "%s/live.gguf", host_tmpdir());
    sqlite3 *db = host_open();
    test_between_calls(db, host_model("all-MiniLM-L6-v2.f16.gguf"), host_model("tiny-bert-F16.gguf"));
    test_rename_no_leak(db, host_model("all-MiniLM-L6-v2.f16.gguf"));
    test_change_during_call(db, host_model("all-MiniLM-L6-v2.f32.gguf"), false);
    test_change_during_call(db, host_model("all-MiniLM-L6-v2.f32.gguf"), true);
    test_non_finite(db, host_model("tiny-bert-F32.gguf"));
    sqlite3_close(db);
    printf("test_host_file_changes: ok\n");
    return 0;
}
