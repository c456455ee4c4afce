/*
 * emb_error: the engine's error report.
 *
 * Every fallible engine function takes an `emb_error *err` as its last
 * argument. On failure the callee fills it (code + a complete, human-readable
 * message naming what was wrong, where, and what was expected) and returns
 * NULL / a non-zero code. On success the callee leaves it untouched. `err` may
 * be NULL when the caller does not want the text.
 *
 * Messages are lower case, in one voice, e.g.
 *   "gguf: /m/x.gguf: offset 24: key length 9223372036854775807 exceeds the 40 bytes left"
 * The SQLite glue copies `msg` into sqlite3_result_error() unchanged.
 */
#ifndef EMB_ERROR_H
#define EMB_ERROR_H

#include <stddef.h>

typedef enum emb_code {
    EMB_OK = 0,
    EMB_ERR_IO,          /* open/stat/mmap failed                      */
    EMB_ERR_FORMAT,      /* the file is not a well-formed GGUF         */
    EMB_ERR_UNSUPPORTED, /* well-formed, but a type/arch/version we do not run */
    EMB_ERR_MODEL,       /* missing / mis-shaped tensor or hyper-parameter */
    EMB_ERR_NOT_FOUND,   /* key or tensor asked for is absent          */
    EMB_ERR_TYPE,        /* key present with another type than asked   */
    EMB_ERR_RANGE,       /* argument or input out of the allowed range */
    EMB_ERR_NOMEM,       /* allocation failed                          */
    EMB_ERR_BLAS,        /* OpenBLAS could not be loaded, or cannot run here */
    EMB_ERR_INTERNAL,    /* a broken invariant (a bug), never input    */
    EMB_ERR_INTERRUPTED  /* the caller's cancel hook asked to stop     */
} emb_code;

#define EMB_ERROR_MSG_MAX 256

/* emb_error.item when the error is not about one input of a list. */
#define EMB_ERROR_NO_ITEM ((size_t)-1)

typedef struct emb_error {
    emb_code code;
    char msg[EMB_ERROR_MSG_MAX];
    /* Which input of a list the error is about (emb_embed_texts: the text's
     * index), else EMB_ERROR_NO_ITEM. Messages of such errors describe "the
     * text" without numbering it: the caller names it in its own terms (an
     * SQL array element, a row). */
    size_t item; /* after msg: {EMB_OK, ""} initializers stay valid */
} emb_error;

/* Fill *err (if non-NULL) with code and a printf-style message, item =
 * EMB_ERROR_NO_ITEM; truncates silently at EMB_ERROR_MSG_MAX-1 bytes.
 * Returns `code` so callers can write
 * `return emb_error_set(err, EMB_ERR_RANGE, "...")`. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
emb_code emb_error_set(emb_error *err, emb_code code, const char *fmt, ...);

/* emb_error_set for an error about input number `item` of a list. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
emb_code emb_error_set_item(emb_error *err, size_t item, emb_code code, const char *fmt, ...);

/* Reset to EMB_OK with an empty message and no item. Accepts NULL. */
void emb_error_clear(emb_error *err);

/* Short stable name of a code ("format", "unsupported", ...). Never NULL. */
const char *emb_code_name(emb_code code);

#endif
