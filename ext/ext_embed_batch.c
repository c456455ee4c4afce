/*
 * embed_batch(): many texts in one statement, batched through the engine.
 *
 *   SELECT i, id, vector, tokens FROM embed_batch(model, texts [, options])
 *   SELECT ... FROM embed_batch(texts)             the default model
 *
 * texts: a JSON array whose elements are strings, null, or objects
 * {"id": <any JSON scalar>, "text": "..." or null} (mixing allowed). One row
 * per element, in input order (i = 0-based position, ascending):
 *   i       INTEGER  the element's position
 *   id      the object's id (INTEGER, REAL, TEXT; true/false as 1/0; null and
 *           plain-string elements give NULL)
 *   vector  the float32 BLOB embed(model, text, options) returns; NULL for a
 *           null text
 *   tokens  the token count after truncation, with [CLS] and [SEP]; NULL for
 *           a null text
 * model (NULL = default) and options are embed()'s, with the same rules and
 * messages; an error about one element names it ("embed_batch: element 17:
 * ..."). A NULL texts argument gives no rows.
 *
 * Streaming: elements are read one at a time from SQLite's json_each over the
 * argument, in windows of at most EMB_BATCHER_WINDOW_TEXTS elements (fewer
 * when they are long, embed_batcher.h): a window is tokenized, embedded
 * (sorted by length, packed into forward calls of ~512 tokens) and its rows
 * returned before the next window is read. Memory is the argument, its JSON
 * parse (SQLite's) and one window, whatever the number of elements. An error
 * in a later window ends the statement after the earlier windows' rows were
 * returned (an INSERT ... SELECT is rolled back as a whole).
 *
 * Safety flags as embed(): it reads only registered models, so it is neither
 * DIRECTONLY nor INNOCUOUS (usable in triggers and views of a trusted schema).
 */
#include "ext_embed.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "embed_batcher.h"
#include "ext_interrupt.h"
#include "ext_registry.h"

enum {
    BATCH_COL_I,
    BATCH_COL_ID,
    BATCH_COL_VECTOR,
    BATCH_COL_TOKENS,
    BATCH_COL_MODEL,   /* hidden: the arguments, in call order */
    BATCH_COL_TEXTS,
    BATCH_COL_OPTIONS,
};

/* idxNum bits: which arguments xFilter gets, in this order. */
enum { ARG_MODEL = 1, ARG_TEXTS = 2, ARG_OPTIONS = 4 };

#define NO_SLOT ((size_t)-1)

/* One output row of the current window. */
typedef struct batch_row {
    sqlite3_int64 i;
    sqlite3_value *id; /* owned (sqlite3_value_dup), NULL for SQL NULL */
    size_t slot;       /* the text's index in the batcher, NO_SLOT for a null text */
} batch_row;

typedef struct batch_vtab {
    sqlite3_vtab base;
    sqlite3 *db; /* for the option and json_each statements */
} batch_vtab;

typedef struct batch_cursor {
    sqlite3_vtab_cursor base;
    registry_lease *lease;
    parsed_opts *po;
    emb_batcher *b;
    ext_interrupt interrupt; /* sqlite3_interrupt stops a long call (forward cfg hook) */
    emb_forward_cfg fwd_cfg;
    bool interrupt_on;
    sqlite3_stmt *elems;   /* json_each over texts */
    sqlite3_stmt *fields;  /* json_each over one object element */
    bool elems_done;
    batch_row *rows;       /* the current window */
    size_t n_rows, cap_rows, row;
} batch_cursor;

static int batch_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                         char **err)
{
    (void)aux; (void)argc; (void)argv; (void)err;
    int rc = ext_vtab_connect_as(db,
        "CREATE TABLE x(i INTEGER, id, vector BLOB, tokens INTEGER,"
        " model HIDDEN, texts HIDDEN, options HIDDEN)",
        sizeof(batch_vtab), 0 /* as embed(): see the header */, out);
    if (rc == SQLITE_OK)
        ((batch_vtab *)*out)->db = db;
    return rc;
}

static int batch_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    (void)vt;
    int where[3] = {-1, -1, -1}; /* constraint index of model, texts, options */
    for (int c = 0; c < info->nConstraint; c++) {
        const struct sqlite3_index_constraint *k = &info->aConstraint[c];
        if (k->iColumn < BATCH_COL_MODEL || k->op != SQLITE_INDEX_CONSTRAINT_EQ)
            continue;
        if (!k->usable)
            return SQLITE_CONSTRAINT; /* wait for a plan that can give the argument */
        where[k->iColumn - BATCH_COL_MODEL] = c;
    }
    int argv_i = 1;
    info->idxNum = 0;
    for (int a = 0; a < 3; a++) {
        if (where[a] < 0)
            continue;
        info->aConstraintUsage[where[a]].argvIndex = argv_i++;
        info->aConstraintUsage[where[a]].omit = 1;
        info->idxNum |= 1 << a;
    }
    bool has_texts = (info->idxNum & ARG_TEXTS) || info->idxNum == ARG_MODEL;
    info->estimatedCost = has_texts ? 1e6 : 1e12;
    info->estimatedRows = 1000;
    /* rows come out in input order */
    if (info->nOrderBy == 1 && info->aOrderBy[0].iColumn == BATCH_COL_I && !info->aOrderBy[0].desc)
        info->orderByConsumed = 1;
    return SQLITE_OK;
}

static int batch_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    (void)vt;
    return ext_cursor_alloc(sizeof(batch_cursor), out);
}

static void rows_clear(batch_cursor *cur)
{
    for (size_t r = 0; r < cur->n_rows; r++)
        sqlite3_value_free(cur->rows[r].id);
    cur->n_rows = 0;
    cur->row = 0;
}

static void batch_reset(batch_cursor *cur)
{
    rows_clear(cur);
    sqlite3_free(cur->rows);
    cur->rows = NULL;
    cur->cap_rows = 0;
    sqlite3_finalize(cur->elems);
    sqlite3_finalize(cur->fields);
    cur->elems = cur->fields = NULL;
    emb_batcher_destroy(cur->b);
    cur->b = NULL;
    if (cur->interrupt_on)
        ext_interrupt_done(&cur->interrupt);
    cur->interrupt_on = false;
    parsed_opts_free(cur->po);
    cur->po = NULL;
    if (cur->lease)
        registry_release(cur->lease);
    cur->lease = NULL;
    cur->elems_done = true;
}

static int batch_close(sqlite3_vtab_cursor *base)
{
    batch_cursor *cur = (batch_cursor *)base;
    batch_reset(cur);
    sqlite3_free(cur);
    return SQLITE_OK;
}

/* An error about element i. */
#define ELEM_ERROR(cur, i, fmt, ...) \
    ext_vtab_error((cur)->base.pVtab, "embed_batch: element %lld: " fmt, (long long)(i), __VA_ARGS__)

static const char *json_kind(const char *type)
{
    /* json_each's type names, as a user reads them */
    if (strcmp(type, "text") == 0)
        return "a string";
    if (strcmp(type, "integer") == 0 || strcmp(type, "real") == 0)
        return "a number";
    if (strcmp(type, "true") == 0 || strcmp(type, "false") == 0)
        return type;
    if (strcmp(type, "array") == 0)
        return "an array";
    if (strcmp(type, "object") == 0)
        return "an object";
    return type;
}

/* Reads "id" and "text" of an object element (its JSON in `json`) into
 * owned copies (the statement frees its values when it finishes); *text is
 * NULL for "text": null. The caller frees both, also on error. */
static int read_object(batch_cursor *cur, sqlite3_int64 i, sqlite3_value *json, sqlite3_value **id,
                       sqlite3_value **text)
{
    sqlite3 *db = sqlite3_db_handle(cur->elems);
    int rc;
    bool seen_id = false, seen_text = false;
    *id = NULL;
    *text = NULL;
    if (!cur->fields &&
        (rc = sqlite3_prepare_v2(db, "SELECT key, type, value FROM json_each(?1)", -1, &cur->fields, NULL))
            != SQLITE_OK)
        return rc == SQLITE_INTERRUPT ? rc
                                      : ext_vtab_error(cur->base.pVtab, "embed_batch: cannot read texts: %s",
                                                       sqlite3_errmsg(db));
    sqlite3_reset(cur->fields);
    if (sqlite3_bind_value(cur->fields, 1, json) != SQLITE_OK)
        return SQLITE_NOMEM;
    while ((rc = sqlite3_step(cur->fields)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(cur->fields, 0);
        const char *type = (const char *)sqlite3_column_text(cur->fields, 1);
        if (!key || !type)
            return SQLITE_NOMEM;
        bool is_id = strcmp(key, "id") == 0;
        if (!is_id && strcmp(key, "text") != 0)
            return ELEM_ERROR(cur, i, "unknown key \"%s\"; an object has \"id\" and \"text\"", key);
        if (is_id ? seen_id : seen_text)
            return ELEM_ERROR(cur, i, "key \"%s\" appears twice", key);
        if (is_id) {
            seen_id = true;
            if (strcmp(type, "array") == 0 || strcmp(type, "object") == 0)
                return ELEM_ERROR(cur, i, "id must be a number, string, true, false or null, got %s",
                                  json_kind(type));
            if (sqlite3_column_type(cur->fields, 2) != SQLITE_NULL) {
                *id = sqlite3_value_dup(sqlite3_column_value(cur->fields, 2));
                if (!*id)
                    return SQLITE_NOMEM;
            }
        } else {
            seen_text = true;
            if (strcmp(type, "null") == 0)
                continue;
            if (strcmp(type, "text") != 0)
                return ELEM_ERROR(cur, i, "\"text\" must be a string or null, got %s", json_kind(type));
            *text = sqlite3_value_dup(sqlite3_column_value(cur->fields, 2));
            if (!*text)
                return SQLITE_NOMEM;
        }
    }
    if (rc == SQLITE_INTERRUPT) /* sqlite3_interrupt stops the JSON reading too: not a JSON error */
        return rc;
    if (rc != SQLITE_DONE)
        return ext_vtab_error(cur->base.pVtab, "embed_batch: element %lld: %s", (long long)i, sqlite3_errmsg(db));
    if (!seen_text)
        return ELEM_ERROR(cur, i, "%s", "the object has no \"text\"");
    return SQLITE_OK;
}

/* Append a row; takes ownership of id. */
static int push_row(batch_cursor *cur, sqlite3_int64 i, sqlite3_value *id, size_t slot)
{
    if (cur->n_rows == cur->cap_rows) {
        size_t cap = cur->cap_rows ? 2 * cur->cap_rows : 16;
        batch_row *rows = sqlite3_realloc64(cur->rows, cap * sizeof *rows);
        if (!rows) {
            sqlite3_value_free(id);
            return SQLITE_NOMEM;
        }
        cur->rows = rows;
        cur->cap_rows = cap;
    }
    cur->rows[cur->n_rows++] = (batch_row){i, id, slot};
    return SQLITE_OK;
}

/* Tokenizes one element's text into the batcher; *slot = its index there. */
static int queue_text(batch_cursor *cur, sqlite3_int64 i, sqlite3_value *text_v, size_t *slot)
{
    const char *text = (const char *)sqlite3_value_text(text_v);
    if (!text)
        return SQLITE_NOMEM;
    size_t len = (size_t)sqlite3_value_bytes(text_v);
    if (len > EMBED_MAX_INPUT_BYTES)
        return ELEM_ERROR(cur, i, "input is %llu bytes, maximum %d", (unsigned long long)len,
                          EMBED_MAX_INPUT_BYTES);
    emb_error err;
    emb_error_clear(&err);
    *slot = emb_batcher_count(cur->b);
    if (emb_batcher_add(cur->b, (emb_str){text, len}, &err) != EMB_OK)
        return err.code == EMB_ERR_NOMEM         ? SQLITE_NOMEM
               : err.code == EMB_ERR_INTERRUPTED ? SQLITE_INTERRUPT
                   : ELEM_ERROR(cur, i, "model '%s': %s", registry_lease_name(cur->lease), err.msg);
    return SQLITE_OK;
}

/* Reads and embeds the next window of elements. */
static int next_window(batch_cursor *cur)
{
    sqlite3 *db = sqlite3_db_handle(cur->elems);
    emb_error err;
    emb_error_clear(&err);
    rows_clear(cur);
    emb_batcher_clear(cur->b);
    while (!cur->elems_done && cur->n_rows < EMB_BATCHER_WINDOW_TEXTS && !emb_batcher_full(cur->b)) {
        int rc = sqlite3_step(cur->elems);
        if (rc == SQLITE_DONE) {
            cur->elems_done = true;
            break;
        }
        if (rc == SQLITE_INTERRUPT) /* sqlite3_interrupt stops the JSON reading too: not a JSON error */
            return rc;
        if (rc != SQLITE_ROW)
            return ext_vtab_error(cur->base.pVtab, "embed_batch: texts are not valid JSON: %s",
                                  sqlite3_errmsg(db));
        if (sqlite3_column_type(cur->elems, 0) != SQLITE_INTEGER) {
            /* json_each over an object (keys are names) or a scalar (no key):
             * decided on the first row, without a second parse of the input */
            const char *kind = sqlite3_column_type(cur->elems, 0) == SQLITE_TEXT
                                   ? "object"
                                   : (const char *)sqlite3_column_text(cur->elems, 1);
            return ext_vtab_error(cur->base.pVtab, "embed_batch: texts must be a JSON array, got %s",
                                  kind ? json_kind(kind) : "?");
        }
        sqlite3_int64 i = sqlite3_column_int64(cur->elems, 0);
        const char *type = (const char *)sqlite3_column_text(cur->elems, 1);
        if (!type)
            return SQLITE_NOMEM;
        sqlite3_value *id = NULL, *obj_text = NULL;
        rc = SQLITE_OK;
        size_t slot = NO_SLOT;
        if (strcmp(type, "object") == 0)
            rc = read_object(cur, i, sqlite3_column_value(cur->elems, 2), &id, &obj_text);
        else if (strcmp(type, "text") != 0 && strcmp(type, "null") != 0)
            rc = ELEM_ERROR(cur, i, "expected a string, null or an object {\"id\": ..., \"text\": \"...\"}, got %s",
                            json_kind(type));
        sqlite3_value *text_v = strcmp(type, "text") == 0 ? sqlite3_column_value(cur->elems, 2) : obj_text;
        if (rc == SQLITE_OK && text_v)
            rc = queue_text(cur, i, text_v, &slot);
        sqlite3_value_free(obj_text);
        if (rc == SQLITE_OK)
            rc = push_row(cur, i, id, slot); /* takes id */
        else
            sqlite3_value_free(id);
        if (rc != SQLITE_OK)
            return rc;
    }
    if (emb_batcher_run(cur->b, &err) != EMB_OK) {
        if (err.code == EMB_ERR_NOMEM)
            return SQLITE_NOMEM;
        if (err.code == EMB_ERR_INTERRUPTED)
            return SQLITE_INTERRUPT;
        return ext_vtab_error(cur->base.pVtab, "embed_batch: model '%s': %s", registry_lease_name(cur->lease),
                              err.msg);
    }
    return SQLITE_OK;
}

/* texts is a JSON array (else the error). Only for an input without
 * elements: otherwise json_each's first key already told (next_window). */
static int check_array(sqlite3_vtab *vt, sqlite3 *db, sqlite3_value *texts_v)
{
    sqlite3_stmt *top = NULL;
    int rc;
    if ((rc = sqlite3_prepare_v2(db, "SELECT json_type(?1)", -1, &top, NULL)) != SQLITE_OK)
        return rc == SQLITE_INTERRUPT ? rc : ext_vtab_error(vt, "embed_batch: cannot read texts: %s", sqlite3_errmsg(db));
    sqlite3_bind_value(top, 1, texts_v);
    rc = sqlite3_step(top);
    const char *kind = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(top, 0) : NULL;
    if (rc == SQLITE_INTERRUPT)
        ; /* interrupted, not a JSON error */
    else if (rc != SQLITE_ROW)
        rc = ext_vtab_error(vt, "embed_batch: texts are not valid JSON: %s", sqlite3_errmsg(db));
    else if (!kind)
        rc = SQLITE_NOMEM;
    else if (strcmp(kind, "array") != 0)
        rc = ext_vtab_error(vt, "embed_batch: texts must be a JSON array, got %s", json_kind(kind));
    else
        rc = SQLITE_OK;
    sqlite3_finalize(top);
    return rc;
}

static int batch_filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str, int argc,
                        sqlite3_value **argv)
{
    (void)idx_str;
    batch_cursor *cur = (batch_cursor *)base;
    sqlite3_vtab *vt = base->pVtab;
    batch_reset(cur);
    sqlite3_value *model_v = NULL, *texts_v = NULL, *options_v = NULL;
    int a = 0;
    if ((idx_num & ARG_MODEL) && a < argc)
        model_v = argv[a++];
    if ((idx_num & ARG_TEXTS) && a < argc)
        texts_v = argv[a++];
    if ((idx_num & ARG_OPTIONS) && a < argc)
        options_v = argv[a++];
    if (!texts_v && model_v && !options_v) { /* embed_batch(texts): the default model */
        texts_v = model_v;
        model_v = NULL;
    }
    if (!texts_v)
        return ext_vtab_error(vt, "embed_batch: missing texts argument; usage: "
                                  "SELECT * FROM embed_batch('model', '[\"text\", ...]')");
    if (sqlite3_value_type(texts_v) == SQLITE_NULL)
        return SQLITE_OK; /* no rows, like embed(NULL) */
    if (sqlite3_value_type(texts_v) != SQLITE_TEXT)
        return ext_vtab_error(vt, "embed_batch: texts must be a JSON array as TEXT, "
                                  "e.g. '[\"a text\", {\"id\": 7, \"text\": \"another\"}]'");
    const char *model_name;
    int rc = embed_model_arg(model_v, &model_name);
    if (rc != SQLITE_OK)
        return rc == SQLITE_NOMEM ? rc
                                  : ext_vtab_error(vt, "embed_batch: %s",
                                                   rc == SQLITE_RANGE ? EMBED_MODEL_ARG_NUL : EMBED_MODEL_ARG_HINT);

    sqlite3 *db = ((batch_vtab *)vt)->db;
    char *msg = NULL;
    bool interrupted;
    cur->po = parse_options(db, "embed_batch", options_v, &msg, &interrupted);
    if (!cur->po) {
        if (interrupted)
            return SQLITE_INTERRUPT;
        if (!msg)
            return SQLITE_NOMEM;
        sqlite3_free(vt->zErrMsg);
        vt->zErrMsg = msg;
        return SQLITE_ERROR;
    }
    emb_error err;
    emb_error_clear(&err);
    if (registry_acquire(model_name, &cur->lease, &err) != EMB_OK) {
        cur->lease = NULL;
        return ext_vtab_error(vt, "embed_batch: %s", err.msg);
    }
    ext_interrupt_init(&cur->interrupt, db);
    cur->interrupt_on = true;
    emb_embed_opts opts = cur->po->opts;
    cur->fwd_cfg = opts.forward ? *opts.forward : (emb_forward_cfg){0};
    cur->fwd_cfg.cancelled = ext_interrupt_check;
    cur->fwd_cfg.cancel_ctx = &cur->interrupt;
    opts.forward = &cur->fwd_cfg;
    cur->b = emb_batcher_create(registry_lease_model(cur->lease), &opts, &err);
    if (!cur->b)
        return err.code == EMB_ERR_NOMEM
                   ? SQLITE_NOMEM
                   : ext_vtab_error(vt, "embed_batch: model '%s': %s", registry_lease_name(cur->lease), err.msg);

    if ((rc = sqlite3_prepare_v2(db, "SELECT key, type, value FROM json_each(?1)", -1, &cur->elems, NULL)) !=
        SQLITE_OK)
        return rc == SQLITE_INTERRUPT ? rc : ext_vtab_error(vt, "embed_batch: cannot read texts: %s", sqlite3_errmsg(db));
    /* The argument lives only during this call: the statement keeps a copy
     * (and json_each one more, with its parse: memory O(input)). */
    if (sqlite3_bind_value(cur->elems, 1, texts_v) != SQLITE_OK)
        return SQLITE_NOMEM;
    cur->elems_done = false;
    if ((rc = next_window(cur)) != SQLITE_OK || cur->n_rows > 0)
        return rc;
    /* json_each gives no row for [] but also for {}: tell them apart (on an
     * empty input, so this second parse costs nothing) */
    return check_array(vt, db, texts_v);
}

static int batch_next(sqlite3_vtab_cursor *base)
{
    batch_cursor *cur = (batch_cursor *)base;
    if (++cur->row < cur->n_rows || cur->elems_done)
        return SQLITE_OK;
    return next_window(cur);
}

static int batch_eof(sqlite3_vtab_cursor *base)
{
    const batch_cursor *cur = (const batch_cursor *)base;
    return cur->row >= cur->n_rows;
}

static int batch_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col)
{
    const batch_cursor *cur = (const batch_cursor *)base;
    const batch_row *r = &cur->rows[cur->row];
    switch (col) {
    case BATCH_COL_I:
        sqlite3_result_int64(ctx, r->i);
        break;
    case BATCH_COL_ID:
        if (r->id)
            sqlite3_result_value(ctx, r->id);
        break;
    case BATCH_COL_VECTOR:
        if (r->slot != NO_SLOT)
            ext_result_vector(ctx, emb_batcher_vector(cur->b, r->slot), emb_batcher_dims(cur->b));
        break;
    case BATCH_COL_TOKENS:
        if (r->slot != NO_SLOT)
            sqlite3_result_int64(ctx, (sqlite3_int64)emb_batcher_tokens(cur->b, r->slot));
        break;
    default:
        break; /* hidden arguments: NULL */
    }
    return SQLITE_OK;
}

static int batch_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid)
{
    const batch_cursor *cur = (const batch_cursor *)base;
    *rowid = cur->rows[cur->row].i;
    return SQLITE_OK;
}

/* Eponymous only (no xCreate): `embed_batch(...)` in FROM, never CREATE VIRTUAL TABLE. */
static const sqlite3_module BATCH_MODULE = {
    .iVersion = 0,
    .xCreate = NULL,
    .xConnect = batch_connect,
    .xBestIndex = batch_best_index,
    .xDisconnect = ext_vtab_free,
    .xDestroy = ext_vtab_free,
    .xOpen = batch_open,
    .xClose = batch_close,
    .xFilter = batch_filter,
    .xNext = batch_next,
    .xEof = batch_eof,
    .xColumn = batch_column,
    .xRowid = batch_rowid,
};

int ext_register_embed_batch(sqlite3 *db)
{
    return sqlite3_create_module(db, "embed_batch", &BATCH_MODULE, NULL);
}
