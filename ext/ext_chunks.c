/*
 * embed_chunks: token-aware chunking of long texts (the rule: src/chunk.h).
 *
 *   SELECT i, start, "end", text, tokens FROM embed_chunks(model, text [, options])
 *   options: '{"max_tokens":256,"overlap":32}'
 *
 * One row per chunk: i from 0, byte span [start, end) of the chunk in the
 * UTF-8 text, the chunk's text (exactly those bytes) and its token count with
 * [CLS] and [SEP] (what embed() of that text sees, <= max_tokens).
 * max_tokens defaults to what embed() keeps by default (the file's
 * sentence-transformers max_seq_length, else its context length);
 * overlap (pieces repeated from the previous chunk) defaults to 0.
 *
 * `model` is a registered name, NULL for the default model, or a GGUF path
 * (then max_tokens is required: a vocabulary-only file has no context
 * length). NULL text: no rows. Composes with embed():
 *   SELECT d.id, c.i, embed('m', c.text) FROM docs d, embed_chunks('m', d.body) c
 */
#include "ext_common.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "chunk.h"
#include "ext_tokenizer_source.h"

/* embed() refuses larger inputs too. */
#define CHUNKS_MAX_BYTES (16 * 1024 * 1024)

enum { CKCOL_I, CKCOL_START, CKCOL_END, CKCOL_TEXT, CKCOL_TOKENS, CKCOL_MODEL, CKCOL_INPUT, CKCOL_OPTIONS };
#define CK_N_ARGS 3

typedef struct chunks_vtab {
    sqlite3_vtab base;
    sqlite3 *db; /* for json_each over the options */
} chunks_vtab;

typedef struct chunks_cursor {
    sqlite3_vtab_cursor base;
    emb_chunk_list list;
    char *text; /* sqlite3_malloc'ed copy of the input: row texts point into it */
    size_t i;
} chunks_cursor;

static int ck_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                      sqlite3_vtab **out, char **err)
{
    (void)aux; (void)argc; (void)argv; (void)err;
    int rc = ext_vtab_connect(db,
        "CREATE TABLE x(i INTEGER, start INTEGER, \"end\" INTEGER, text TEXT, tokens INTEGER,"
        " model HIDDEN, input HIDDEN, options HIDDEN)",
        sizeof(chunks_vtab), out);
    if (rc == SQLITE_OK)
        ((chunks_vtab *)*out)->db = db;
    return rc;
}

/* idxNum bit k: argument k (model, input, options) is given, passed in that
 * order in argv. */
static int ck_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    (void)vt;
    int arg_at[CK_N_ARGS] = {-1, -1, -1};
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        int k = c->iColumn - CKCOL_MODEL;
        if (c->op != SQLITE_INDEX_CONSTRAINT_EQ || k < 0 || k >= CK_N_ARGS)
            continue;
        if (!c->usable)
            return SQLITE_CONSTRAINT; /* wait for a plan where the argument is known */
        arg_at[k] = i;
    }
    int argv_i = 1;
    info->idxNum = 0;
    for (int k = 0; k < CK_N_ARGS; k++) {
        if (arg_at[k] < 0)
            continue;
        info->aConstraintUsage[arg_at[k]].argvIndex = argv_i++;
        info->aConstraintUsage[arg_at[k]].omit = 1;
        info->idxNum |= 1 << k;
    }
    info->estimatedCost = arg_at[1] >= 0 ? 100 : 1e12;
    info->estimatedRows = 10;
    return SQLITE_OK;
}

static int ck_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    (void)vt;
    return ext_cursor_alloc(sizeof(chunks_cursor), out);
}

static void ck_reset(chunks_cursor *cur)
{
    emb_chunk_list_free(&cur->list);
    sqlite3_free(cur->text);
    cur->text = NULL;
    cur->i = 0;
}

static int ck_close(sqlite3_vtab_cursor *base)
{
    chunks_cursor *cur = (chunks_cursor *)base;
    ck_reset(cur);
    sqlite3_free(cur);
    return SQLITE_OK;
}

/* Reads {"max_tokens": n, "overlap": n} (0 = not given) with SQLite's JSON
 * parser. Returns SQLITE_OK or an error set on the vtab. */
static int parse_options(chunks_vtab *vt, sqlite3_value *v, sqlite3_int64 *max_tokens, sqlite3_int64 *overlap)
{
    *max_tokens = 0;
    *overlap = 0;
    if (!v || sqlite3_value_type(v) == SQLITE_NULL)
        return SQLITE_OK;
    if (sqlite3_value_type(v) != SQLITE_TEXT)
        return ext_vtab_error(&vt->base, "embed_chunks: options must be a JSON object as TEXT, e.g. '{\"max_tokens\":256}'");
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(vt->db, "SELECT json_type(?1)", -1, &st, NULL);
    if (rc == SQLITE_INTERRUPT) { /* sqlite3_interrupt stops the JSON reading: not a JSON error */
        ;
    } else if (rc == SQLITE_OK) {
        sqlite3_bind_value(st, 1, v);
        rc = sqlite3_step(st);
        const char *top = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        if (rc == SQLITE_INTERRUPT)
            ;
        else if (rc != SQLITE_ROW)
            rc = ext_vtab_error(&vt->base, "embed_chunks: options are not valid JSON: %s", sqlite3_errmsg(vt->db));
        else if (!top || strcmp(top, "object") != 0)
            rc = ext_vtab_error(&vt->base, "embed_chunks: options must be a JSON object, got %s", top ? top : "?");
        else
            rc = SQLITE_OK;
    } else {
        rc = ext_vtab_error(&vt->base, "embed_chunks: cannot parse options: %s", sqlite3_errmsg(vt->db));
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc != SQLITE_OK)
        return rc;
    if ((rc = sqlite3_prepare_v2(vt->db, "SELECT key, value, type FROM json_each(?1)", -1, &st, NULL)) != SQLITE_OK)
        return rc == SQLITE_INTERRUPT ? rc : ext_vtab_error(&vt->base, "embed_chunks: cannot parse options: %s", sqlite3_errmsg(vt->db));
    sqlite3_bind_value(st, 1, v);
    bool reported = false; /* an error message is already set */
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        const char *type = (const char *)sqlite3_column_text(st, 2);
        if (!key || !type) {
            rc = SQLITE_NOMEM;
            break;
        }
        bool is_max = strcmp(key, "max_tokens") == 0;
        if (!is_max && strcmp(key, "overlap") != 0) {
            rc = ext_vtab_error(&vt->base, "embed_chunks: unknown option \"%s\"; known: max_tokens, overlap", key);
            reported = true;
            break;
        }
        sqlite3_int64 n = sqlite3_column_int64(st, 1);
        if (strcmp(type, "integer") != 0 || n < (is_max ? 1 : 0) || n > 1000000) {
            rc = ext_vtab_error(&vt->base, "embed_chunks: option %s must be %s integer, got %s", key,
                                is_max ? "a positive" : "a non-negative", (const char *)sqlite3_column_text(st, 1));
            reported = true;
            break;
        }
        *(is_max ? max_tokens : overlap) = n;
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    else if (!reported && rc != SQLITE_NOMEM && rc != SQLITE_INTERRUPT)
        rc = ext_vtab_error(&vt->base, "embed_chunks: options are not valid JSON: %s", sqlite3_errmsg(vt->db));
    sqlite3_finalize(st);
    return rc;
}

static int ck_filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str, int argc, sqlite3_value **argv)
{
    (void)idx_str;
    chunks_cursor *cur = (chunks_cursor *)base;
    chunks_vtab *vt = (chunks_vtab *)base->pVtab;
    ck_reset(cur);
    sqlite3_value *args[CK_N_ARGS] = {NULL, NULL, NULL};
    for (int k = 0, a = 0; k < CK_N_ARGS; k++)
        if ((idx_num & (1 << k)) && a < argc)
            args[k] = argv[a++];
    if (!args[0] || !args[1])
        return ext_vtab_error(&vt->base, "embed_chunks: missing arguments; usage: "
                                         "SELECT * FROM embed_chunks('model', text [, '{\"max_tokens\":256,\"overlap\":32}'])");
    sqlite3_int64 max_tokens, overlap;
    int rc = parse_options(vt, args[2], &max_tokens, &overlap);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_value *text_v = args[1];
    if (sqlite3_value_type(text_v) == SQLITE_NULL)
        return SQLITE_OK; /* no rows */
    if (sqlite3_value_type(text_v) != SQLITE_TEXT)
        return ext_vtab_error(&vt->base, "embed_chunks: text must be TEXT");
    const char *model = NULL;
    if (sqlite3_value_type(args[0]) != SQLITE_NULL) {
        if (sqlite3_value_type(args[0]) != SQLITE_TEXT)
            return ext_vtab_error(&vt->base, "embed_chunks: model must be a registered model name or a GGUF path (TEXT)");
        if (!(model = (const char *)sqlite3_value_text(args[0])))
            return SQLITE_NOMEM;
        if (strlen(model) != (size_t)sqlite3_value_bytes(args[0])) /* would name another model or file */
            return ext_vtab_error(&vt->base, "embed_chunks: model contains a NUL byte");
    }
    const char *text = (const char *)sqlite3_value_text(text_v);
    if (!text)
        return SQLITE_NOMEM;
    size_t len = (size_t)sqlite3_value_bytes(text_v);
    if (len > CHUNKS_MAX_BYTES)
        return ext_vtab_error(&vt->base, "embed_chunks: input is %llu bytes, maximum %d",
                              (unsigned long long)len, CHUNKS_MAX_BYTES);
    /* The rows outlive argv's values: keep a copy of the text. */
    if (!(cur->text = sqlite3_malloc64(len + 1)))
        return SQLITE_NOMEM;
    memcpy(cur->text, text, len);
    cur->text[len] = '\0';

    tokenizer_source src;
    emb_error err;
    emb_error_clear(&err);
    if (tokenizer_source_open(model, &src, &err) != EMB_OK)
        return ext_vtab_error(&vt->base, "embed_chunks: %s", err.msg);
    if (src.lease) {
        const emb_hparams *hp = &registry_lease_model(src.lease)->hp;
        if (max_tokens == 0)
            max_tokens = emb_hparams_default_max_tokens(hp);
        else if (hp->arch == EMB_ARCH_BERT && max_tokens > hp->n_ctx_train)
            rc = ext_vtab_error(&vt->base, "embed_chunks: max_tokens %lld exceeds the context length %u of this bert model",
                                (long long)max_tokens, hp->n_ctx_train);
    } else if (max_tokens == 0) {
        rc = ext_vtab_error(&vt->base, "embed_chunks: '%s' is a file, not a registered model: "
                                       "give max_tokens in the options", model);
    }
    if (rc == SQLITE_OK &&
        emb_chunk_text(src.tok, cur->text, len, (size_t)max_tokens, (size_t)overlap, &cur->list, &err) != EMB_OK)
        rc = err.code == EMB_ERR_NOMEM ? SQLITE_NOMEM
                                        : ext_vtab_error(&vt->base, "embed_chunks: %s",
                                                         strncmp(err.msg, "chunk: ", 7) ? err.msg : err.msg + 7);
    tokenizer_source_close(&src);
    return rc;
}

static int ck_next(sqlite3_vtab_cursor *base)
{
    ((chunks_cursor *)base)->i++;
    return SQLITE_OK;
}

static int ck_eof(sqlite3_vtab_cursor *base)
{
    const chunks_cursor *cur = (const chunks_cursor *)base;
    return cur->i >= cur->list.n;
}

static int ck_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col)
{
    const chunks_cursor *cur = (const chunks_cursor *)base;
    const emb_chunk *c = &cur->list.v[cur->i];
    switch (col) {
    case CKCOL_I: sqlite3_result_int64(ctx, (sqlite3_int64)cur->i); break;
    case CKCOL_START: sqlite3_result_int64(ctx, (sqlite3_int64)c->start); break;
    case CKCOL_END: sqlite3_result_int64(ctx, (sqlite3_int64)c->end); break;
    case CKCOL_TEXT:
        sqlite3_result_text64(ctx, cur->text + c->start, c->end - c->start, SQLITE_TRANSIENT, SQLITE_UTF8);
        break;
    case CKCOL_TOKENS: sqlite3_result_int64(ctx, (sqlite3_int64)c->tokens); break;
    default: sqlite3_result_null(ctx); break; /* hidden arguments */
    }
    return SQLITE_OK;
}

static int ck_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid)
{
    *rowid = (sqlite3_int64)((const chunks_cursor *)base)->i;
    return SQLITE_OK;
}

static const sqlite3_module CHUNKS_MODULE = {
    .iVersion = 0,
    .xCreate = NULL,
    .xConnect = ck_connect,
    .xBestIndex = ck_best_index,
    .xDisconnect = ext_vtab_free,
    .xDestroy = ext_vtab_free,
    .xOpen = ck_open,
    .xClose = ck_close,
    .xFilter = ck_filter,
    .xNext = ck_next,
    .xEof = ck_eof,
    .xColumn = ck_column,
    .xRowid = ck_rowid,
};

int ext_register_chunk_functions(sqlite3 *db)
{
    return sqlite3_create_module(db, "embed_chunks", &CHUNKS_MODULE, NULL);
}
