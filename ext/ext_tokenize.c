/*
 * Tokenizer functions.
 *
 *   embed_tokenize([model,] text)     -> JSON array of token ids, with [CLS] and [SEP]
 *   embed_token_count([model,] text)  -> number of tokens, with [CLS] and [SEP]
 *   SELECT i, id, piece, start, "end" FROM embed_tokens([model,] text)
 *
 * The model comes first, as in embed(model, text). `model` is a registered
 * model name or a GGUF file path (a vocab-only file is enough); without it,
 * or when it is NULL, the default model is used. Nothing is truncated
 * here: these show exactly what the tokenizer makes of the text (embed()
 * truncates to the model's context). start/end are byte offsets into the
 * UTF-8 text; [CLS] and [SEP] have empty spans at its start and end.
 * Literal "[SEP]" or "[CLS]" in the text is plain text, never a special token.
 *
 * NULL text -> NULL (no rows for embed_tokens). Flags: SQLITE_DIRECTONLY,
 * because a path argument opens a file (an untrusted schema must not).
 */
#include "ext_common.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "ext_tokenizer_source.h"
#include "tokenizer.h"

/* Inputs larger than this are refused rather than tokenized (memory is
 * O(input): ~12 bytes per token). */
#define TOKENIZE_MAX_BYTES (64 * 1024 * 1024)

/* Reads the text argument. Returns false (with the result set) when the
 * function must return early: NULL text (result NULL) or an error. */
static bool read_text_arg(sqlite3_context *ctx, const char *fn, sqlite3_value *v,
                          const char **text, size_t *len)
{
    int type = sqlite3_value_type(v);
    if (type == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return false;
    }
    if (type != SQLITE_TEXT) {
        ext_ctx_error(ctx, "%s: text must be TEXT, got %s", fn,
                      type == SQLITE_INTEGER ? "INTEGER" : type == SQLITE_FLOAT ? "REAL" : "BLOB");
        return false;
    }
    *text = (const char *)sqlite3_value_text(v); /* before _bytes, per SQLite docs */
    if (!*text) {
        sqlite3_result_error_nomem(ctx);
        return false;
    }
    *len = (size_t)sqlite3_value_bytes(v);
    if (*len > TOKENIZE_MAX_BYTES) {
        ext_ctx_error(ctx, "%s: input is %llu bytes, maximum %d", fn, (unsigned long long)*len, TOKENIZE_MAX_BYTES);
        return false;
    }
    return true;
}

static void source_destroy(void *p)
{
    tokenizer_source_close(p);
    sqlite3_free(p);
}

/* Argument positions of the scalar functions: (text) or (model, text). */
#define MODEL_ARG 0
static int text_arg(int argc) { return argc - 1; }

/* The tokenizer for this call. A source resolved from a model argument is
 * handed to SQLite as auxdata when the call ends (call_end), so a statement
 * resolves (and, for a path, reads) it once; SQLite forbids touching auxdata
 * after set_auxdata, hence the two steps. Returns NULL with the error set. */
typedef struct call_tokenizer {
    tokenizer_source *src; /* cached auxdata, or fresh (owned)      */
    bool fresh;
    bool named;            /* resolved from a non-NULL model argument */
} call_tokenizer;

static const emb_tokenizer *call_begin(sqlite3_context *ctx, const char *fn, int argc,
                                       sqlite3_value **argv, call_tokenizer *ct)
{
    emb_error err;
    emb_error_clear(&err);
    ct->fresh = false;
    ct->named = false;
    ct->src = argc >= 2 ? sqlite3_get_auxdata(ctx, MODEL_ARG) : NULL;
    if (ct->src)
        return ct->src->tok;
    const char *name = NULL;
    if (argc >= 2 && sqlite3_value_type(argv[MODEL_ARG]) != SQLITE_NULL) {
        if (sqlite3_value_type(argv[MODEL_ARG]) != SQLITE_TEXT) {
            ext_ctx_error(ctx, "%s: model must be a registered model name or a GGUF path (TEXT)", fn);
            return NULL;
        }
        name = (const char *)sqlite3_value_text(argv[MODEL_ARG]);
        if (!name) {
            sqlite3_result_error_nomem(ctx);
            return NULL;
        }
        if (strlen(name) != (size_t)sqlite3_value_bytes(argv[MODEL_ARG])) { /* would name another file */
            ext_ctx_error(ctx, "%s: model contains a NUL byte", fn);
            return NULL;
        }
    }
    tokenizer_source *src = sqlite3_malloc(sizeof *src);
    if (!src) {
        sqlite3_result_error_nomem(ctx);
        return NULL;
    }
    if (tokenizer_source_open(name, src, &err) != EMB_OK) {
        sqlite3_free(src);
        ext_ctx_error(ctx, "%s: %s", fn, err.msg);
        return NULL;
    }
    ct->src = src;
    ct->fresh = true;
    ct->named = name != NULL;
    return src->tok;
}

static void call_end(sqlite3_context *ctx, int argc, call_tokenizer *ct)
{
    if (!ct->fresh)
        return;
    /* Only a named model is cached: the default model can change between rows. */
    if (argc >= 2 && ct->named)
        sqlite3_set_auxdata(ctx, MODEL_ARG, ct->src, source_destroy);
    else
        source_destroy(ct->src);
    ct->src = NULL;
    ct->fresh = false;
}

/* Tokenize the text argument into *list; returns false with the error set (or NULL
 * result for NULL text). */
static bool tokenize_call(sqlite3_context *ctx, const char *fn, int argc, sqlite3_value **argv,
                          emb_token_list *list, call_tokenizer *ct)
{
    const char *text;
    size_t len;
    ct->src = NULL;
    ct->fresh = false;
    ct->named = false;
    if (!read_text_arg(ctx, fn, argv[text_arg(argc)], &text, &len))
        return false;
    const emb_tokenizer *tok = call_begin(ctx, fn, argc, argv, ct);
    if (!tok)
        return false;
    emb_error err;
    emb_error_clear(&err);
    if (emb_tokenize(tok, text, len, true, list, &err) != EMB_OK) {
        if (err.code == EMB_ERR_NOMEM)
            sqlite3_result_error_nomem(ctx);
        else
            ext_ctx_error(ctx, "%s: %s", fn, err.msg);
        return false;
    }
    return true;
}

static void fn_embed_tokenize(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    emb_token_list list = {0};
    call_tokenizer ct;
    if (tokenize_call(ctx, "embed_tokenize", argc, argv, &list, &ct)) {
        sqlite3_str *s = sqlite3_str_new(NULL);
        sqlite3_str_appendchar(s, 1, '[');
        for (size_t i = 0; i < list.n; i++)
            sqlite3_str_appendf(s, i ? ",%d" : "%d", (int)list.v[i].id);
        sqlite3_str_appendchar(s, 1, ']');
        ext_result_str(ctx, s);
    }
    emb_token_list_free(&list);
    call_end(ctx, argc, &ct);
}

static void fn_embed_token_count(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    emb_token_list list = {0};
    call_tokenizer ct;
    if (tokenize_call(ctx, "embed_token_count", argc, argv, &list, &ct))
        sqlite3_result_int64(ctx, (sqlite3_int64)list.n);
    emb_token_list_free(&list);
    call_end(ctx, argc, &ct);
}

/* ---- embed_tokens([model,] text) ----------------------------------------- */

/* The hidden columns are the table-valued function's arguments, in order:
 * embed_tokens(a) constrains only the first one, embed_tokens(a, b) both.
 * So the first hidden column is the model when both are given and the text
 * when it is alone (the one-argument form, default model), as for
 * embed_tokenize. */
enum tokens_col {
    TOKENS_COL_I, TOKENS_COL_ID, TOKENS_COL_PIECE, TOKENS_COL_START, TOKENS_COL_END, TOKENS_COL_MODEL,
    TOKENS_COL_TEXT
};

typedef struct tokens_cursor {
    sqlite3_vtab_cursor base;
    emb_token_list list;
    tokenizer_source src;
    size_t i;
} tokens_cursor;

static int tokens_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                      sqlite3_vtab **out, char **err)
{
    (void)aux; (void)argc; (void)argv; (void)err;
    return ext_vtab_connect(db,
        "CREATE TABLE x(i INTEGER, id INTEGER, piece TEXT, start INTEGER, \"end\" INTEGER,"
        " model HIDDEN, text HIDDEN)",
        sizeof(sqlite3_vtab), out);
}

/* idxNum bit 1: first argument given (argv[0]); bit 2: second argument
 * given (next argv). */
static int tokens_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    (void)vt;
    int first_i = -1, second_i = -1;
    bool unusable = false;
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (c->op != SQLITE_INDEX_CONSTRAINT_EQ || (c->iColumn != TOKENS_COL_MODEL && c->iColumn != TOKENS_COL_TEXT))
            continue;
        if (!c->usable) {
            unusable = true;
            continue;
        }
        if (c->iColumn == TOKENS_COL_MODEL)
            first_i = i;
        else
            second_i = i;
    }
    if (unusable)
        return SQLITE_CONSTRAINT;
    int argv_i = 1;
    info->idxNum = 0;
    if (first_i >= 0) {
        info->aConstraintUsage[first_i].argvIndex = argv_i++;
        info->aConstraintUsage[first_i].omit = 1;
        info->idxNum |= 1;
    }
    if (second_i >= 0) {
        info->aConstraintUsage[second_i].argvIndex = argv_i++;
        info->aConstraintUsage[second_i].omit = 1;
        info->idxNum |= 2;
    }
    info->estimatedCost = first_i >= 0 ? 100 : 1e12;
    info->estimatedRows = 50;
    return SQLITE_OK;
}

static int tokens_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    (void)vt;
    return ext_cursor_alloc(sizeof(tokens_cursor), out);
}

static void tokens_reset(tokens_cursor *cur)
{
    emb_token_list_free(&cur->list);
    tokenizer_source_close(&cur->src);
    cur->i = 0;
}

static int tokens_close(sqlite3_vtab_cursor *base)
{
    tokens_cursor *cur = (tokens_cursor *)base;
    tokens_reset(cur);
    sqlite3_free(cur);
    return SQLITE_OK;
}

static int tokens_filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str, int argc, sqlite3_value **argv)
{
    (void)idx_str;
    tokens_cursor *cur = (tokens_cursor *)base;
    sqlite3_vtab *vt = base->pVtab;
    tokens_reset(cur);
    if (idx_num == 0 || argc < 1)
        return ext_vtab_error(vt, "embed_tokens: missing text argument; usage: SELECT * FROM embed_tokens('model', 'some text')");
    /* Bits 1 and 2: (model, text). Bit 1 alone: embed_tokens(text). Bit 2
     * alone: only `text = ...` was written (a WHERE clause). */
    bool two_args = idx_num == 3 && argc >= 2;
    sqlite3_value *model_v = two_args ? argv[0] : NULL;
    sqlite3_value *text_v = two_args ? argv[1] : argv[0];
    if (sqlite3_value_type(text_v) == SQLITE_NULL)
        return SQLITE_OK; /* no rows */
    if (sqlite3_value_type(text_v) != SQLITE_TEXT)
        return ext_vtab_error(vt, "embed_tokens: text must be TEXT");
    const char *text = (const char *)sqlite3_value_text(text_v);
    if (!text)
        return SQLITE_NOMEM;
    size_t len = (size_t)sqlite3_value_bytes(text_v);
    if (len > TOKENIZE_MAX_BYTES)
        return ext_vtab_error(vt, "embed_tokens: input is %llu bytes, maximum %d", (unsigned long long)len, TOKENIZE_MAX_BYTES);
    const char *model = NULL;
    if (model_v && sqlite3_value_type(model_v) != SQLITE_NULL) {
        if (sqlite3_value_type(model_v) != SQLITE_TEXT)
            return ext_vtab_error(vt, "embed_tokens: model must be a registered model name or a GGUF path (TEXT)");
        model = (const char *)sqlite3_value_text(model_v);
        if (!model)
            return SQLITE_NOMEM;
        if (strlen(model) != (size_t)sqlite3_value_bytes(model_v)) /* would name another file */
            return ext_vtab_error(vt, "embed_tokens: model contains a NUL byte");
    }
    emb_error err;
    emb_error_clear(&err);
    if (tokenizer_source_open(model, &cur->src, &err) != EMB_OK)
        return ext_vtab_error(vt, "embed_tokens: %s", err.msg);
    if (emb_tokenize(cur->src.tok, text, len, true, &cur->list, &err) != EMB_OK)
        return err.code == EMB_ERR_NOMEM ? SQLITE_NOMEM : ext_vtab_error(vt, "embed_tokens: %s", err.msg);
    return SQLITE_OK;
}

static int tokens_next(sqlite3_vtab_cursor *base)
{
    ((tokens_cursor *)base)->i++;
    return SQLITE_OK;
}

static int tokens_eof(sqlite3_vtab_cursor *base)
{
    const tokens_cursor *cur = (const tokens_cursor *)base;
    return cur->i >= cur->list.n;
}

static int tokens_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col)
{
    const tokens_cursor *cur = (const tokens_cursor *)base;
    const emb_token *t = &cur->list.v[cur->i];
    switch (col) {
    case TOKENS_COL_I: sqlite3_result_int64(ctx, (sqlite3_int64)cur->i); break;
    case TOKENS_COL_ID: sqlite3_result_int(ctx, t->id); break;
    case TOKENS_COL_PIECE: {
        emb_str p = emb_tokenizer_piece(cur->src.tok, t->id);
        sqlite3_result_text(ctx, p.ptr ? p.ptr : "", (int)p.len, SQLITE_TRANSIENT);
        break;
    }
    case TOKENS_COL_START: sqlite3_result_int64(ctx, t->start); break;
    case TOKENS_COL_END: sqlite3_result_int64(ctx, t->end); break;
    default: sqlite3_result_null(ctx); break; /* hidden arguments */
    }
    return SQLITE_OK;
}

static int tokens_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid)
{
    *rowid = (sqlite3_int64)((const tokens_cursor *)base)->i;
    return SQLITE_OK;
}

static const sqlite3_module TOKENS_MODULE = {
    .iVersion = 0,
    .xCreate = NULL,
    .xConnect = tokens_connect,
    .xBestIndex = tokens_best_index,
    .xDisconnect = ext_vtab_free,
    .xDestroy = ext_vtab_free,
    .xOpen = tokens_open,
    .xClose = tokens_close,
    .xFilter = tokens_filter,
    .xNext = tokens_next,
    .xEof = tokens_eof,
    .xColumn = tokens_column,
    .xRowid = tokens_rowid,
};

int ext_register_tokenize_functions(sqlite3 *db)
{
    /* DIRECTONLY: a path argument opens a file. Not DETERMINISTIC: the
     * registry (and the default model) can change between calls. */
    static const ext_function FUNCS[] = {
        {"embed_tokenize", 1, SQLITE_DIRECTONLY, fn_embed_tokenize},
        {"embed_tokenize", 2, SQLITE_DIRECTONLY, fn_embed_tokenize},
        {"embed_token_count", 1, SQLITE_DIRECTONLY, fn_embed_token_count},
        {"embed_token_count", 2, SQLITE_DIRECTONLY, fn_embed_token_count},
    };
    int rc = ext_register_functions(db, FUNCS, sizeof FUNCS / sizeof FUNCS[0]);
    if (rc != SQLITE_OK)
        return rc;
    return sqlite3_create_module(db, "embed_tokens", &TOKENS_MODULE, NULL);
}
