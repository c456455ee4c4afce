/*
 * What embed() (ext_embed.c) and embed_batch() (ext_embed_batch.c) share:
 * the options object, the model argument and the input size limit, so that
 * both accept and refuse exactly the same things with the same messages.
 */
#ifndef EXT_EMBED_H
#define EXT_EMBED_H

#include "ext_common.h"

#include "embed.h"

/* Inputs larger than this are refused before tokenizing (the model reads at
 * most its context length anyway). */
#define EMBED_MAX_INPUT_BYTES (16 * 1024 * 1024)

/* Parsed options. */
typedef struct parsed_opts {
    emb_embed_opts opts;
    char *prefix; /* owned copy; opts.prefix points here */
} parsed_opts;

/* Parses a JSON options object (SQL NULL or no value = defaults) with SQLite's JSON on db.
 * Returns a new parsed_opts (free with parsed_opts_free), or NULL with
 * *errmsg set to a sqlite3_malloc'ed message prefixed with fn ("embed:
 * unknown option ..."), or *errmsg NULL when out of memory. The JSON is read
 * by statements on db: if sqlite3_interrupt stops them, NULL with
 * *interrupted true (the caller fails with SQLITE_INTERRUPT, not a JSON
 * error). */
parsed_opts *parse_options(sqlite3 *db, const char *fn, sqlite3_value *v, char **errmsg, bool *interrupted);
void parsed_opts_free(void *p);

/* The model argument: NULL (*name = NULL, the default model) or TEXT.
 * Returns SQLITE_OK, SQLITE_MISMATCH (then say EMBED_MODEL_ARG_HINT),
 * SQLITE_RANGE for a NUL byte inside the text (as a C string it would name
 * another model: say EMBED_MODEL_ARG_NUL) or SQLITE_NOMEM. */
int embed_model_arg(sqlite3_value *v, const char **name);
#define EMBED_MODEL_ARG_HINT "model must be a registered model name (TEXT) or NULL for the default"
#define EMBED_MODEL_ARG_NUL "model contains a NUL byte"

#endif
