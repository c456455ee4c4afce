/*
 * Shared declarations of the SQLite glue (ext/). Every ext/ file includes
 * this; it brings <sqlite3ext.h> with SQLITE_EXTENSION_INIT3 (the routine
 * table itself is defined once, in embed_ext.c).
 *
 * Error voice (all ext/ files): lower case, prefixed with the SQL function,
 * naming the value and the limit, e.g.
 *   "embed: input is 9000000 bytes, maximum 1000000"
 */
#ifndef EXT_COMMON_H
#define EXT_COMMON_H

#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Set a printf-style error on a function call. The format is SQLite's
 * printf, not C's: %z means "free this string", so never write %zu (cast
 * sizes to unsigned long long and use %llu). */
void ext_ctx_error(sqlite3_context *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Replace a virtual table's error message (freed by SQLite). Returns
 * SQLITE_ERROR for `return ext_vtab_error(...)`. */
int ext_vtab_error(sqlite3_vtab *vtab, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Finish `s` and make it the function's TEXT result (SQLite frees it); an
 * empty string is the empty text. On out-of-memory (while appending or now)
 * the result is SQLite's no-memory error and SQLITE_NOMEM is returned (an
 * xColumn can return it as is), else SQLITE_OK. Always consumes `s`. */
int ext_result_str(sqlite3_context *ctx, sqlite3_str *s);

/* A growable sqlite3_str-backed JSON writer helper: append `s[0..n)` as a
 * JSON string literal (quotes, escapes, invalid UTF-8 -> U+FFFD). */
void ext_json_append_string(sqlite3_str *out, const char *s, size_t n);

/* Reads a TEXT argument of at most max_bytes into *text / *len. Returns
 * false when the function must return at once, its result set: NULL for
 * NULL text, else an error ("embed: text must be TEXT, got INTEGER"). */
bool ext_read_text_arg(sqlite3_context *ctx, const char *fn, sqlite3_value *v, size_t max_bytes,
                       const char **text, size_t *len);

/* The result is v[0..n) as a float32 little-endian BLOB (sqlite-vec's
 * format), copied. */
void ext_result_vector(sqlite3_context *ctx, const float *v, size_t n);

/* Virtual-table plumbing shared by every table in ext/:
 * ext_vtab_connect declares `schema` and allocates a zeroed vtab of `size`
 * bytes (a struct starting with sqlite3_vtab), SQLITE_VTAB_DIRECTONLY (the
 * tables that open files or show process state); ext_vtab_connect_as takes
 * the sqlite3_vtab_config safety flag (0 = none) instead; ext_vtab_free
 * releases it (xDisconnect / xDestroy); ext_cursor_alloc allocates a zeroed
 * cursor of `size` bytes (a struct starting with sqlite3_vtab_cursor). */
int ext_vtab_connect(sqlite3 *db, const char *schema, size_t size, sqlite3_vtab **out);
int ext_vtab_connect_as(sqlite3 *db, const char *schema, size_t size, int safety, sqlite3_vtab **out);
int ext_vtab_free(sqlite3_vtab *vt);
int ext_cursor_alloc(size_t size, sqlite3_vtab_cursor **out);

/* One row of a file's function table: registered by ext_register_functions
 * with SQLITE_UTF8 | flags. Each table states why each flag set was chosen. */
typedef struct ext_function {
    const char *name;
    int n_arg;
    int flags;
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
} ext_function;

/* Register n functions; stops at and returns the first failure's code. */
int ext_register_functions(sqlite3 *db, const ext_function *fns, size_t n);

/* Registration, one per ext/ file; each returns an SQLite result code. */
int ext_register_info_functions(sqlite3 *db);
int ext_register_gguf_vtabs(sqlite3 *db);
int ext_register_models_vtab(sqlite3 *db);
int ext_register_tokenize_functions(sqlite3 *db);
int ext_register_chunk_functions(sqlite3 *db);
int ext_register_vector_functions(sqlite3 *db);
int ext_register_embed_functions(sqlite3 *db);
int ext_register_embed_batch(sqlite3 *db);

#endif
