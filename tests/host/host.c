#include "host.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void host_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    fflush(stderr);
    _exit(1);
}

static char *g_models[64];
static size_t g_n_models;

static void free_models(void)
{
    for (size_t i = 0; i < g_n_models; i++)
        free(g_models[i]);
}

const char *host_model(const char *file_name)
{
    const char *dir = getenv("EMBED_FIXTURES_DIR");
    CHECK(dir && "EMBED_FIXTURES_DIR is not set");
    size_t n = strlen(dir) + strlen(file_name) + 16;
    char *p = malloc(n);
    CHECK(p);
    snprintf(p, n, "%s/models/%s", dir, file_name);
    CHECK(access(p, R_OK) == 0 && "fixture model missing (run ctest -R gen_models)");
    CHECK(g_n_models < sizeof g_models / sizeof g_models[0]);
    if (g_n_models == 0)
        atexit(free_models);
    g_models[g_n_models++] = p; /* freed at exit (LeakSanitizer) */
    return p;
}

static char g_tmp[512];

static void remove_tmpdir(void)
{
    if (!g_tmp[0])
        return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", g_tmp);
}

const char *host_tmpdir(void)
{
    if (g_tmp[0])
        return g_tmp;
    const char *t = getenv("TMPDIR");
    snprintf(g_tmp, sizeof g_tmp, "%s/embed_host_XXXXXX", t && t[0] ? t : "/tmp");
    CHECK(mkdtemp(g_tmp));
    atexit(remove_tmpdir);
    return g_tmp;
}

void host_copy(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY);
    CHECK(in >= 0);
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(out >= 0);
    char buf[1 << 16];
    ssize_t r;
    while ((r = read(in, buf, sizeof buf)) > 0)
        CHECK(write(out, buf, (size_t)r) == r);
    CHECK(r == 0);
    close(in);
    CHECK(close(out) == 0);
}

sqlite3 *host_open(void)
{
    const char *ext = getenv("EMBED_EXT");
    CHECK(ext && "EMBED_EXT is not set");
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
    CHECK(sqlite3_enable_load_extension(db, 1) == SQLITE_OK);
    char *err = NULL;
    if (sqlite3_load_extension(db, ext, "sqlite3_embed_init", &err) != SQLITE_OK) {
        fprintf(stderr, "load %s: %s\n", ext, err ? err : "?");
        CHECK(!"extension loads");
    }
    return db;
}

int host_exec(sqlite3 *db, const char *sql, char **errmsg)
{
    return sqlite3_exec(db, sql, NULL, NULL, errmsg);
}

void host_exec_ok(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "%s\n  -> %s\n", sql, err ? err : "?");
        CHECK(!"statement succeeds");
    }
}

int host_embed(sqlite3 *db, const char *model, const char *text, const char *options, float *out, size_t n,
               char **errmsg)
{
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(db, "SELECT embed(?1, ?2, ?3)", -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_text(st, 1, model, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, text, -1, SQLITE_TRANSIENT);
    if (options)
        sqlite3_bind_text(st, 3, options, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st), result = -1;
    if (rc == SQLITE_ROW) {
        int bytes = sqlite3_column_bytes(st, 0);
        CHECK(bytes % 4 == 0 && (size_t)bytes / 4 <= n);
        memcpy(out, sqlite3_column_blob(st, 0), (size_t)bytes);
        result = bytes / 4;
    } else if (errmsg) {
        *errmsg = sqlite3_mprintf("%s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return result;
}

int host_count_mappings(const char *needle)
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle))
            n++;
    fclose(f);
    return n;
}
