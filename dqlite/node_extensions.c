/*
 * Auto-extension registration and model registration for embed-dqlite-node
 * (contract in node_extensions.h).
 */
#include "node_extensions.h"

#include <ctype.h>
#include <dlfcn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fills buf with the entry point name for path (rule in node_extensions.h).
 * Returns 0, or -1 when no name can be derived or buf is too small. */
static int extension_entry_name(const char *path, char *buf, size_t size)
{
    static const char PREFIX[] = "sqlite3_";
    static const char SUFFIX[] = "_init";
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strncmp(base, "lib", 3) == 0)
        base += 3;
    size_t n = 0;
    if (size < sizeof PREFIX)
        return -1;
    memcpy(buf, PREFIX, sizeof PREFIX - 1);
    n = sizeof PREFIX - 1;
    size_t letters = 0;
    for (const char *p = base; *p && *p != '.'; p++) {
        if (!isalpha((unsigned char)*p))
            continue;
        if (n + 1 >= size)
            return -1;
        buf[n++] = (char)tolower((unsigned char)*p);
        letters++;
    }
    if (letters == 0 || n + sizeof SUFFIX > size)
        return -1;
    memcpy(buf + n, SUFFIX, sizeof SUFFIX);
    return 0;
}

int node_extensions_register(const char *const *paths, size_t n_paths)
{
    for (size_t i = 0; i < n_paths; i++) {
        char entry[256];
        if (extension_entry_name(paths[i], entry, sizeof entry) != 0) {
            fprintf(stderr, "extension %s: no entry point name can be derived from the file name\n", paths[i]);
            return -1;
        }
        /* RTLD_LOCAL: the extension reaches SQLite only through the routine
         * table its entry point receives, so nothing needs its symbols. */
        void *handle = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
        if (!handle) {
            fprintf(stderr, "extension %s: %s\n", paths[i], dlerror());
            return -1;
        }
        void *sym = dlsym(handle, entry);
        if (!sym) {
            fprintf(stderr, "extension %s: no symbol %s\n", paths[i], entry);
            dlclose(handle);
            return -1;
        }
        /* POSIX guarantees that a dlsym result converts to a function pointer. */
        void (*init)(void);
        memcpy(&init, &sym, sizeof init);
        int rc = sqlite3_auto_extension(init);
        if (rc != SQLITE_OK) {
            fprintf(stderr, "extension %s: sqlite3_auto_extension: %s\n", paths[i], sqlite3_errstr(rc));
            dlclose(handle);
            return -1;
        }
        fprintf(stderr, "extension %s: %s registered for every connection\n", paths[i], entry);
    }
    return 0;
}

/* Runs one statement with up to two text parameters; prints the error. */
static int run(sqlite3 *db, const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK && a)
        rc = sqlite3_bind_text(stmt, 1, a, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && b)
        rc = sqlite3_bind_text(stmt, 2, b, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        }
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        fprintf(stderr, "%s\n", sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    return rc == SQLITE_OK ? 0 : -1;
}

int node_models_register(const node_model *models, size_t n_models)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        /* An auto-extension whose entry point fails makes the open fail. */
        fprintf(stderr, "private connection: %s\n", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return -1;
    }
    int result = 0;
    for (size_t i = 0; result == 0 && i < n_models; i++) {
        fprintf(stderr, "model %s: %s\n", models[i].name, models[i].path);
        result = run(db, "INSERT INTO embed_models(name, path) VALUES (?1, ?2)", models[i].name, models[i].path);
    }
    const char *env = getenv("SQLITE_EMBED_MODEL");
    if (result == 0 && env && env[0]) {
        /* The registry registers SQLITE_EMBED_MODEL lazily and keeps the
         * error for the first use of the default model: use it now, so that
         * a node with a wrong path fails at start, not after a failover. */
        fprintf(stderr, "model default: %s (SQLITE_EMBED_MODEL)\n", env);
        result = run(db, "SELECT length(embed(NULL, 'start-up check'))", NULL, NULL);
    }
    sqlite3_close(db);
    return result;
}
