/*
 * The registry's promises (docs/engine.md §5a), made observable by watching
 * the extension open model files: this program defines open(), and because it
 * is linked with -rdynamic that definition interposes libc's for the
 * dlopen()ed extension. It counts the opens of the test's model copies and
 * can hold one inside open() -- a load that takes as long as the test wants,
 * deterministically, without timing:
 *   - registering loads the file once and the first embed() uses that copy
 *     (no second open);
 *   - while a registration's load is held, other connections embed other
 *     models, list embed_models, register, unload and reload (a load under the
 *     registry lock would deadlock here: alarm);
 *   - callers racing to load the same model load it once;
 *   - two connections deleting the same row at once both succeed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT, O_TMPFILE */
#endif
#include "host.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIMS 256

/* ---- the open() interposer -------------------------------------------------- */

enum { W_KEPT, W_SLOW, W_RACE, W_OTHER, W_COUNT };
static const char *const WATCHED[W_COUNT] = {"/kept.gguf", "/slow.gguf", "/race.gguf", "/other.gguf"};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_opens[W_COUNT]; /* guarded by g_mu */
static int g_hold = -1;      /* the watched file whose opens wait; -1 none */
static int g_held;           /* threads waiting inside open() now */

typedef int (*open_fn)(const char *, int, ...);
static open_fn g_real_open;
static pthread_once_t g_real_once = PTHREAD_ONCE_INIT;

static void find_real_open(void) { g_real_open = (open_fn)dlsym(RTLD_NEXT, "open"); }

static int watched_index(const char *path)
{
    size_t n = strlen(path);
    for (int i = 0; i < W_COUNT; i++) {
        size_t k = strlen(WATCHED[i]);
        if (n >= k && strcmp(path + n - k, WATCHED[i]) == 0)
            return i;
    }
    return -1;
}

__attribute__((visibility("default"))) int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    int w = watched_index(path);
    if (w >= 0 && !(flags & O_CREAT) && (flags & O_ACCMODE) == O_RDONLY) {
        pthread_mutex_lock(&g_mu);
        g_opens[w]++;
        if (g_hold == w) {
            g_held++;
            pthread_cond_broadcast(&g_cv);
            while (g_hold == w)
                pthread_cond_wait(&g_cv, &g_mu);
            g_held--;
        }
        pthread_mutex_unlock(&g_mu);
    }
    pthread_once(&g_real_once, find_real_open);
    return g_real_open(path, flags, mode);
}

static int opens(int w)
{
    pthread_mutex_lock(&g_mu);
    int n = g_opens[w];
    pthread_mutex_unlock(&g_mu);
    return n;
}

static void hold(int w)
{
    pthread_mutex_lock(&g_mu);
    g_hold = w;
    pthread_mutex_unlock(&g_mu);
}

static void release(void)
{
    pthread_mutex_lock(&g_mu);
    g_hold = -1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

/* Waits until `n` threads are held inside open(). */
static void wait_held(int n)
{
    pthread_mutex_lock(&g_mu);
    while (g_held < n)
        pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
}

/* ---- helpers ---------------------------------------------------------------- */

static char g_path[W_COUNT][700];

static void register_model(sqlite3 *db, const char *name, const char *path)
{
    char sql[900];
    snprintf(sql, sizeof sql, "INSERT INTO embed_models(name, path) VALUES ('%s', '%s')", name, path);
    host_exec_ok(db, sql);
}

/* ---- registration's copy serves the first embed() --------------------------------- */

static void test_registration_kept(sqlite3 *db)
{
    float v[DIMS];
    register_model(db, "kept", g_path[W_KEPT]);
    CHECK(opens(W_KEPT) == 1);
    CHECK(host_embed(db, "kept", "first use", NULL, v, DIMS, NULL) == DIMS);
    CHECK(opens(W_KEPT) == 1); /* validated once: the first embed() did not load again */
    host_exec_ok(db, "SELECT embed_unload('kept')");
    CHECK(host_embed(db, "kept", "first use", NULL, v, DIMS, NULL) == DIMS);
    CHECK(opens(W_KEPT) == 2); /* (the counter does see loads) */
    host_exec_ok(db, "DELETE FROM embed_models WHERE name = 'kept'");
}

/* ---- a load in progress blocks nobody else -------------------------------------- */

static void *register_slow(void *arg)
{
    (void)arg;
    sqlite3 *db = host_open();
    register_model(db, "slow", g_path[W_SLOW]);
    sqlite3_close(db);
    return NULL;
}

static void test_load_outside_lock(const float *ref_a)
{
    sqlite3 *db = host_open();
    float v[DIMS];
    hold(W_SLOW);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, register_slow, NULL) == 0);
    wait_held(1); /* the registration is inside its load now, and stays there */

    CHECK(host_embed(db, "a", "hello world", NULL, v, DIMS, NULL) == DIMS);
    CHECK(memcmp(v, ref_a, sizeof v) == 0);
    host_exec_ok(db, "SELECT count(*) FROM embed_models");
    register_model(db, "other", g_path[W_OTHER]);
    CHECK(host_embed(db, "other", "hello world", NULL, v, DIMS, NULL) == DIMS);
    host_exec_ok(db, "SELECT embed_unload('a')"); /* and a load of another model */
    CHECK(host_embed(db, "a", "hello world", NULL, v, DIMS, NULL) == DIMS);
    CHECK(memcmp(v, ref_a, sizeof v) == 0);
    host_exec_ok(db, "DELETE FROM embed_models WHERE name = 'other'");
    pthread_mutex_lock(&g_mu);
    CHECK(g_held == 1); /* all of the above happened during the load */
    pthread_mutex_unlock(&g_mu);

    release();
    pthread_join(t, NULL);
    CHECK(host_embed(db, "slow", "hello world", NULL, v, DIMS, NULL) == DIMS);
    CHECK(opens(W_SLOW) == 1);
    host_exec_ok(db, "DELETE FROM embed_models WHERE name = 'slow'");
    sqlite3_close(db);
}

/* ---- racing first loads load once --------------------------------------------- */

#define N_RACERS 4

typedef struct racer {
    sqlite3 *db;
    float v[DIMS];
    int n;
    atomic_bool stepping;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    atomic_store(&r->stepping, true);
    r->n = host_embed(r->db, "race", "racing to load", NULL, r->v, DIMS, NULL);
    return NULL;
}

static void test_racing_loads(sqlite3 *db)
{
    float ref[DIMS];
    register_model(db, "race", g_path[W_RACE]);
    CHECK(host_embed(db, "race", "racing to load", NULL, ref, DIMS, NULL) == DIMS);
    host_exec_ok(db, "SELECT embed_unload('race')");
    CHECK(opens(W_RACE) == 1);

    static racer r[N_RACERS];
    pthread_t t[N_RACERS];
    hold(W_RACE);
    for (int i = 0; i < N_RACERS; i++) {
        r[i].db = host_open();
        atomic_store(&r[i].stepping, false);
        CHECK(pthread_create(&t[i], NULL, race, &r[i]) == 0);
    }
    wait_held(1);
    for (int i = 0; i < N_RACERS; i++)
        while (!atomic_load(&r[i].stepping))
            usleep(1000);
    /* Every racer is in embed(); give the others time to reach the registry.
     * A racer that loads on its own would now be held in open() too. */
    usleep(200000);
    CHECK(opens(W_RACE) == 2);
    release();
    for (int i = 0; i < N_RACERS; i++) {
        pthread_join(t[i], NULL);
        CHECK(r[i].n == DIMS && memcmp(r[i].v, ref, sizeof ref) == 0);
        sqlite3_close(r[i].db);
    }
    CHECK(opens(W_RACE) == 2); /* one load for all of them */
    host_exec_ok(db, "DELETE FROM embed_models WHERE name = 'race'");
}

/* ---- two connections delete the same row at once ------------------------------- */

/* delete_elsewhere(): deletes 'dup' on the other connection, i.e. between
 * this DELETE's scan (which found the row) and its removal of it. */
static void fn_delete_elsewhere(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3 *other = sqlite3_user_data(ctx);
    host_exec_ok(other, "DELETE FROM embed_models WHERE name = 'dup'");
    sqlite3_result_int(ctx, 1);
}

static void test_double_delete(sqlite3 *db)
{
    sqlite3 *other = host_open();
    register_model(db, "dup", g_path[W_KEPT]);
    CHECK(sqlite3_create_function(db, "delete_elsewhere", 0, SQLITE_UTF8, other, fn_delete_elsewhere, NULL, NULL) ==
          SQLITE_OK);
    char *err = NULL;
    int rc = host_exec(db, "DELETE FROM embed_models WHERE name = 'dup' AND delete_elsewhere()", &err);
    if (rc != SQLITE_OK)
        fprintf(stderr, "double delete: %s\n", err);
    CHECK(rc == SQLITE_OK);
    sqlite3_free(err);
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db, "SELECT count(*) FROM embed_models WHERE name = 'dup'", -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0);
    sqlite3_finalize(st);
    sqlite3_close(other);
}

int main(void)
{
    alarm(120); /* a load under the registry lock deadlocks test_load_outside_lock */
    const char *src = host_model("tiny-bert-F16.gguf");
    for (int i = 0; i < W_COUNT; i++) {
        snprintf(g_path[i], sizeof g_path[i], "%s%s", host_tmpdir(), WATCHED[i]);
        host_copy(i == W_OTHER ? host_model("tiny-bert-Q8_0.gguf") : src, g_path[i]);
    }
    sqlite3 *db = host_open();
    char sql[900];
    snprintf(sql, sizeof sql, "INSERT INTO embed_models(name, path) VALUES ('a', '%s')",
             host_model("tiny-nomic-Q4_K.gguf"));
    host_exec_ok(db, sql);
    float ref_a[DIMS];
    CHECK(host_embed(db, "a", "hello world", NULL, ref_a, DIMS, NULL) == DIMS);

    test_registration_kept(db);
    test_load_outside_lock(ref_a);
    test_racing_loads(db);
    test_double_delete(db);
    sqlite3_close(db);
    printf("test_host_registry: ok\n");
    return 0;
}
