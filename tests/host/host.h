/*
 * host.h: helpers for the host tests (tests/host/test_host_*.c), small C
 * programs that link the system SQLite and load the built extension exactly
 * as an application does. Each test prints what failed and exits non-zero.
 *
 * Environment: EMBED_EXT (the extension, e.g. build/embed.so),
 * EMBED_FIXTURES_DIR (generated models).
 */
#ifndef HOST_H
#define HOST_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#define CHECK(cond)                                                                                    \
    do {                                                                                               \
        if (!(cond))                                                                                   \
            host_fail(__FILE__, __LINE__, #cond);                                                      \
    } while (0)

_Noreturn void host_fail(const char *file, int line, const char *what);

/* A fixture model's path; lives until exit. */
const char *host_model(const char *file_name);

/* A fresh private directory under $TMPDIR (removed at exit). */
const char *host_tmpdir(void);

/* Copy a file (new inode when `dst` does not exist; in place -- same inode,
 * truncated first, like cp -- when it does). */
void host_copy(const char *src, const char *dst);

/* Opens :memory: with the extension loaded. */
sqlite3 *host_open(void);

/* Executes SQL; returns the SQLite result code and keeps the error message
 * in *errmsg (sqlite3_free) if errmsg is given. */
int host_exec(sqlite3 *db, const char *sql, char **errmsg);

/* Executes SQL that must succeed. */
void host_exec_ok(sqlite3 *db, const char *sql);

/* embed(model, text [, options]) into out (n floats max); returns the number
 * of floats, or -1 with the error in *errmsg (sqlite3_free). */
int host_embed(sqlite3 *db, const char *model, const char *text, const char *options, float *out, size_t n,
               char **errmsg);

/* Mappings of files whose path contains `needle` in /proc/self/maps. */
int host_count_mappings(const char *needle);

#endif
