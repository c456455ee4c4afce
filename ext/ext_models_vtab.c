/*
 * embed_models: the model registry as a table.
 *
 *   INSERT INTO embed_models(name, path) VALUES ('minilm', 'models/all-MiniLM-L6-v2.f16.gguf');
 *   SELECT * FROM embed_models;
 *   DELETE FROM embed_models WHERE name = 'minilm';
 *
 * Columns: name, path, arch, n_embd, n_layer, n_ctx (context length),
 * n_vocab, pooling, file_size, loaded (1 once an embed() mapped the model),
 * max_tokens (embed()'s default truncation: the file's sentence-transformers
 * max_seq_length, else n_ctx).
 * Only name and path may be given on INSERT; UPDATE is refused.
 *
 * The registry is process-wide (ext_registry.h), so every connection sees the
 * same rows. INSERT opens and validates a file: the table is
 * SQLITE_VTAB_DIRECTONLY so an untrusted schema cannot register files.
 */
#include "ext_common.h"

#include <stdlib.h>
#include <string.h>

#include "ext_registry.h"

enum models_col {
    MODELS_COL_NAME, MODELS_COL_PATH, MODELS_COL_ARCH, MODELS_COL_N_EMBD, MODELS_COL_N_LAYER,
    MODELS_COL_N_CTX, MODELS_COL_N_VOCAB, MODELS_COL_POOLING, MODELS_COL_FILE_SIZE, MODELS_COL_LOADED,
    MODELS_COL_MAX_TOKENS, MODELS_COL_COUNT
};

typedef struct models_cursor {
    sqlite3_vtab_cursor base;
    registry_row *rows; /* owned snapshot */
    size_t n_rows;
    size_t i;
} models_cursor;

static int models_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                      sqlite3_vtab **out, char **err)
{
    (void)aux; (void)argc; (void)argv; (void)err;
    return ext_vtab_connect(db,
        "CREATE TABLE x(name TEXT, path TEXT, arch TEXT, n_embd INTEGER, n_layer INTEGER,"
        " n_ctx INTEGER, n_vocab INTEGER, pooling TEXT, file_size INTEGER, loaded INTEGER,"
        " max_tokens INTEGER)",
        sizeof(sqlite3_vtab), out);
}

static int models_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    (void)vt;
    info->estimatedCost = 10;
    info->estimatedRows = 10;
    return SQLITE_OK;
}

static int models_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    (void)vt;
    return ext_cursor_alloc(sizeof(models_cursor), out);
}

static int models_close(sqlite3_vtab_cursor *base)
{
    models_cursor *cur = (models_cursor *)base;
    registry_snapshot_free(cur->rows, cur->n_rows);
    sqlite3_free(cur);
    return SQLITE_OK;
}

static int models_filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str, int argc, sqlite3_value **argv)
{
    (void)idx_num; (void)idx_str; (void)argc; (void)argv;
    models_cursor *cur = (models_cursor *)base;
    registry_snapshot_free(cur->rows, cur->n_rows);
    cur->rows = NULL;
    cur->n_rows = cur->i = 0;
    emb_error err;
    emb_error_clear(&err);
    if (registry_snapshot(&cur->rows, &cur->n_rows, &err) != EMB_OK)
        return SQLITE_NOMEM;
    return SQLITE_OK;
}

static int models_next(sqlite3_vtab_cursor *base)
{
    ((models_cursor *)base)->i++;
    return SQLITE_OK;
}

static int models_eof(sqlite3_vtab_cursor *base)
{
    const models_cursor *cur = (const models_cursor *)base;
    return cur->i >= cur->n_rows;
}

static int models_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col)
{
    const models_cursor *cur = (const models_cursor *)base;
    const registry_row *r = &cur->rows[cur->i];
    const emb_hparams *hp = &r->info.hp;
    switch (col) {
    case MODELS_COL_NAME: sqlite3_result_text(ctx, r->name, -1, SQLITE_TRANSIENT); break;
    case MODELS_COL_PATH: sqlite3_result_text(ctx, r->path, -1, SQLITE_TRANSIENT); break;
    case MODELS_COL_ARCH: sqlite3_result_text(ctx, emb_arch_name(hp->arch), -1, SQLITE_STATIC); break;
    case MODELS_COL_N_EMBD: sqlite3_result_int64(ctx, hp->n_embd); break;
    case MODELS_COL_N_LAYER: sqlite3_result_int64(ctx, hp->n_layer); break;
    case MODELS_COL_N_CTX: sqlite3_result_int64(ctx, hp->n_ctx_train); break;
    case MODELS_COL_N_VOCAB: sqlite3_result_int64(ctx, hp->n_vocab); break;
    case MODELS_COL_POOLING: sqlite3_result_text(ctx, emb_pooling_name(hp->pooling), -1, SQLITE_STATIC); break;
    case MODELS_COL_FILE_SIZE: sqlite3_result_int64(ctx, (sqlite3_int64)r->info.file_size); break;
    case MODELS_COL_LOADED: sqlite3_result_int(ctx, r->loaded); break;
    case MODELS_COL_MAX_TOKENS: sqlite3_result_int64(ctx, emb_hparams_default_max_tokens(hp)); break;
    }
    return SQLITE_OK;
}

static int models_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid)
{
    const models_cursor *cur = (const models_cursor *)base;
    *rowid = cur->rows[cur->i].id;
    return SQLITE_OK;
}

/* argv[0]: old rowid (NULL on INSERT); argv[1]: new rowid; argv[2..]: columns. */
static int models_update(sqlite3_vtab *vt, int argc, sqlite3_value **argv, sqlite3_int64 *rowid)
{
    emb_error err;
    emb_error_clear(&err);
    if (argc == 1) { /* DELETE */
        /* A row another connection deleted first is gone, as asked. */
        if (registry_remove(sqlite3_value_int64(argv[0]), &err) != EMB_OK)
            return ext_vtab_error(vt, "embed_models: %s", err.msg);
        return SQLITE_OK;
    }
    if (sqlite3_value_type(argv[0]) != SQLITE_NULL)
        return ext_vtab_error(vt, "embed_models: UPDATE is not supported; DELETE the model and INSERT it again");
    if (sqlite3_value_type(argv[1]) != SQLITE_NULL)
        return ext_vtab_error(vt, "embed_models: rowid cannot be set on INSERT");
    for (int c = MODELS_COL_ARCH; c < MODELS_COL_COUNT; c++)
        if (sqlite3_value_type(argv[2 + c]) != SQLITE_NULL)
            return ext_vtab_error(vt, "embed_models: only name and path can be inserted; the other columns are read from the file");
    sqlite3_value *name_v = argv[2 + MODELS_COL_NAME], *path_v = argv[2 + MODELS_COL_PATH];
    if (sqlite3_value_type(name_v) != SQLITE_TEXT)
        return ext_vtab_error(vt, "embed_models: name must be text, e.g. INSERT INTO embed_models(name, path) VALUES ('minilm', 'model.gguf')");
    if (sqlite3_value_type(path_v) != SQLITE_TEXT)
        return ext_vtab_error(vt, "embed_models: path must be text (a GGUF file name)");
    const char *name = (const char *)sqlite3_value_text(name_v);
    const char *path = (const char *)sqlite3_value_text(path_v);
    if (!name || !path)
        return SQLITE_NOMEM;
    /* A C string ends at the first NUL: a value with one inside would name
     * another file (or model) than the one written. */
    if (strlen(name) != (size_t)sqlite3_value_bytes(name_v))
        return ext_vtab_error(vt, "embed_models: name contains a NUL byte");
    if (strlen(path) != (size_t)sqlite3_value_bytes(path_v))
        return ext_vtab_error(vt, "embed_models: path contains a NUL byte");
    int64_t id = 0;
    if (registry_add(name, path, &id, &err) != EMB_OK) {
        if (err.code == EMB_ERR_NOMEM)
            return SQLITE_NOMEM;
        return ext_vtab_error(vt, "embed_models: %s", err.msg);
    }
    *rowid = id;
    return SQLITE_OK;
}

static const sqlite3_module MODELS_MODULE = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only */
    .xConnect = models_connect,
    .xBestIndex = models_best_index,
    .xDisconnect = ext_vtab_free,
    .xDestroy = ext_vtab_free,
    .xOpen = models_open,
    .xClose = models_close,
    .xFilter = models_filter,
    .xNext = models_next,
    .xEof = models_eof,
    .xColumn = models_column,
    .xRowid = models_rowid,
    .xUpdate = models_update,
};

int ext_register_models_vtab(sqlite3 *db)
{
    return sqlite3_create_module(db, "embed_models", &MODELS_MODULE, NULL);
}
