/*
 * gguf_tensors(path), gguf_metadata(path): inspect any GGUF file from SQL.
 *
 *   SELECT name, type, ne0, ne1, n_bytes, offset FROM gguf_tensors('m.gguf');
 *   SELECT key, type, value, n_elements FROM gguf_metadata('m.gguf');
 *
 * Both are eponymous table-valued functions (xCreate = 0) with a HIDDEN
 * `path` column that receives the argument. They open files, so they are
 * SQLITE_VTAB_DIRECTONLY: an untrusted schema's views and triggers cannot
 * make them read the file system.
 *
 * Columns of gguf_tensors: name, type ('Q4_K'), n_dims, ne0..ne3 (unused
 * dims = 1), shape (JSON array of the n_dims dims), n_elements, n_bytes,
 * offset (absolute byte offset of the tensor data in the file).
 * Columns of gguf_metadata: key, type ('UINT32', 'STRING', 'ARRAY[STRING]'),
 * value (SQL integer / real / text; arrays as a JSON array of their first
 * 16 elements), n_elements (array length, else 1).
 *
 * The file is opened (mapped) by xFilter and closed when the cursor closes;
 * the reader validates the whole header first, and its error message becomes
 * the SQL error.
 */
#include "ext_common.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ggml_types.h"
#include "gguf.h"

/* Arrays longer than this are listed by their first elements only. */
#define METADATA_ARRAY_PREVIEW 16

enum tensors_col {
    TENSORS_COL_NAME, TENSORS_COL_TYPE, TENSORS_COL_N_DIMS, TENSORS_COL_NE0, TENSORS_COL_NE1, TENSORS_COL_NE2, TENSORS_COL_NE3,
    TENSORS_COL_SHAPE, TENSORS_COL_N_ELEMENTS, TENSORS_COL_N_BYTES, TENSORS_COL_OFFSET, TENSORS_COL_PATH
};
enum metadata_col {
    METADATA_COL_KEY, METADATA_COL_TYPE, METADATA_COL_VALUE, METADATA_COL_N_ELEMENTS, METADATA_COL_PATH
};

/* What distinguishes the two tables; everything else is shared. */
typedef struct gguf_vtab_kind {
    const char *fn_name;
    const char *schema;
    int path_col;
    size_t (*n_rows)(const gguf_file *f);
    int (*column)(sqlite3_context *ctx, const gguf_file *f, size_t row, int col);
} gguf_vtab_kind;

typedef struct gguf_vtab {
    sqlite3_vtab base;
    const gguf_vtab_kind *kind;
} gguf_vtab;

typedef struct gguf_cursor {
    sqlite3_vtab_cursor base;
    gguf_file *file; /* owned; NULL before xFilter */
    size_t row;
    size_t n_rows;
} gguf_cursor;

/* ---- gguf_tensors ------------------------------------------------------- */

static size_t tensors_n_rows(const gguf_file *f) { return gguf_n_tensors(f); }

static int tensors_column(sqlite3_context *ctx, const gguf_file *f, size_t row, int col)
{
    const gguf_tensor *t = gguf_tensor_at(f, row);
    switch (col) {
    case TENSORS_COL_NAME:
        sqlite3_result_text(ctx, t->name.ptr, (int)t->name.len, SQLITE_TRANSIENT);
        break;
    case TENSORS_COL_TYPE:
        sqlite3_result_text(ctx, ggml_type_name(t->type), -1, SQLITE_STATIC);
        break;
    case TENSORS_COL_N_DIMS:
        sqlite3_result_int(ctx, (int)t->n_dims);
        break;
    case TENSORS_COL_NE0: case TENSORS_COL_NE1: case TENSORS_COL_NE2: case TENSORS_COL_NE3:
        sqlite3_result_int64(ctx, t->ne[col - TENSORS_COL_NE0]);
        break;
    case TENSORS_COL_SHAPE: {
        sqlite3_str *s = sqlite3_str_new(NULL);
        sqlite3_str_appendchar(s, 1, '[');
        for (uint32_t d = 0; d < t->n_dims; d++)
            sqlite3_str_appendf(s, d ? ",%lld" : "%lld", (long long)t->ne[d]);
        sqlite3_str_appendchar(s, 1, ']');
        return ext_result_str(ctx, s);
    }
    case TENSORS_COL_N_ELEMENTS:
        sqlite3_result_int64(ctx, (sqlite3_int64)t->n_elements);
        break;
    case TENSORS_COL_N_BYTES:
        sqlite3_result_int64(ctx, (sqlite3_int64)t->n_bytes);
        break;
    case TENSORS_COL_OFFSET:
        sqlite3_result_int64(ctx, (sqlite3_int64)t->abs_offset);
        break;
    }
    return SQLITE_OK;
}

/* ---- gguf_metadata ------------------------------------------------------ */

static size_t metadata_n_rows(const gguf_file *f) { return gguf_n_kv(f); }

/* Append element i of a numeric array, or a scalar kv (i ignored), as JSON. */
static void json_append_number(sqlite3_str *s, const gguf_kv *kv, uint64_t i, bool is_array)
{
    gguf_value_type t = is_array ? kv->arr_type : kv->type;
    if (t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64) {
        double v = 0;
        if (is_array)
            gguf_arr_get_f64(kv, i, &v);
        else
            gguf_kv_as_f64(kv, &v);
        if (isfinite(v))
            sqlite3_str_appendf(s, t == GGUF_TYPE_FLOAT32 ? "%!.9g" : "%!.17g", v);
        else
            sqlite3_str_appendall(s, "null"); /* JSON has no NaN/Inf */
    } else if (t == GGUF_TYPE_BOOL) {
        /* one byte each; any non-zero byte is true (as llama.cpp reads it) */
        sqlite3_str_appendall(s, kv->data[is_array ? i : 0] ? "true" : "false");
    } else if (t == GGUF_TYPE_UINT64) {
        uint64_t v = 0;
        if (is_array)
            gguf_arr_get_u64(kv, i, &v);
        else
            gguf_kv_as_u64(kv, &v);
        sqlite3_str_appendf(s, "%llu", (unsigned long long)v);
    } else {
        int64_t v = 0;
        if (is_array)
            gguf_arr_get_i64(kv, i, &v);
        else
            gguf_kv_as_i64(kv, &v);
        sqlite3_str_appendf(s, "%lld", (long long)v);
    }
}

typedef struct preview_ctx {
    sqlite3_str *out;
} preview_ctx;

static int preview_string(void *pctx, uint64_t index, emb_str value)
{
    preview_ctx *p = pctx;
    if (index >= METADATA_ARRAY_PREVIEW)
        return 1; /* stop the walk */
    if (index)
        sqlite3_str_appendchar(p->out, 1, ',');
    ext_json_append_string(p->out, value.ptr, value.len);
    return 0;
}

static int metadata_value(sqlite3_context *ctx, const gguf_kv *kv)
{
    switch (kv->type) {
    case GGUF_TYPE_STRING:
        sqlite3_result_text(ctx, kv->str.ptr, (int)kv->str.len, SQLITE_TRANSIENT);
        return SQLITE_OK;
    case GGUF_TYPE_FLOAT32:
    case GGUF_TYPE_FLOAT64: {
        double v = 0;
        gguf_kv_as_f64(kv, &v);
        sqlite3_result_double(ctx, v);
        return SQLITE_OK;
    }
    case GGUF_TYPE_UINT64: {
        uint64_t v = 0;
        gguf_kv_as_u64(kv, &v);
        if (v > (uint64_t)INT64_MAX) {
            /* Not representable as an SQL integer: keep it exact as text. */
            char buf[24];
            snprintf(buf, sizeof buf, "%" PRIu64, v);
            sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
        } else {
            sqlite3_result_int64(ctx, (sqlite3_int64)v);
        }
        return SQLITE_OK;
    }
    case GGUF_TYPE_ARRAY: {
        sqlite3_str *s = sqlite3_str_new(NULL);
        sqlite3_str_appendchar(s, 1, '[');
        if (kv->arr_type == GGUF_TYPE_STRING) {
            preview_ctx p = {s};
            gguf_arr_foreach_str(kv, preview_string, &p);
        } else {
            uint64_t n = kv->arr_count < METADATA_ARRAY_PREVIEW ? kv->arr_count : METADATA_ARRAY_PREVIEW;
            for (uint64_t i = 0; i < n; i++) {
                if (i)
                    sqlite3_str_appendchar(s, 1, ',');
                json_append_number(s, kv, i, true);
            }
        }
        sqlite3_str_appendchar(s, 1, ']');
        return ext_result_str(ctx, s);
    }
    case GGUF_TYPE_BOOL:
        sqlite3_result_int(ctx, kv->data[0] != 0);
        return SQLITE_OK;
    default: { /* every other integer type fits in int64 */
        int64_t v = 0;
        gguf_kv_as_i64(kv, &v);
        sqlite3_result_int64(ctx, v);
        return SQLITE_OK;
    }
    }
}

static int metadata_column(sqlite3_context *ctx, const gguf_file *f, size_t row, int col)
{
    const gguf_kv *kv = gguf_kv_at(f, row);
    switch (col) {
    case METADATA_COL_KEY:
        sqlite3_result_text(ctx, kv->key.ptr, (int)kv->key.len, SQLITE_TRANSIENT);
        return SQLITE_OK;
    case METADATA_COL_TYPE:
        if (kv->type == GGUF_TYPE_ARRAY) {
            char *t = sqlite3_mprintf("ARRAY[%s]", gguf_value_type_name(kv->arr_type));
            if (!t)
                return SQLITE_NOMEM;
            sqlite3_result_text(ctx, t, -1, sqlite3_free);
        } else {
            sqlite3_result_text(ctx, gguf_value_type_name(kv->type), -1, SQLITE_STATIC);
        }
        return SQLITE_OK;
    case METADATA_COL_VALUE:
        return metadata_value(ctx, kv);
    case METADATA_COL_N_ELEMENTS:
        sqlite3_result_int64(ctx, kv->type == GGUF_TYPE_ARRAY ? (sqlite3_int64)kv->arr_count : 1);
        return SQLITE_OK;
    }
    return SQLITE_OK;
}

static const gguf_vtab_kind TENSORS_KIND = {
    "gguf_tensors",
    "CREATE TABLE x(name TEXT, type TEXT, n_dims INTEGER, ne0 INTEGER, ne1 INTEGER,"
    " ne2 INTEGER, ne3 INTEGER, shape TEXT, n_elements INTEGER, n_bytes INTEGER,"
    " offset INTEGER, path HIDDEN)",
    TENSORS_COL_PATH, tensors_n_rows, tensors_column};

static const gguf_vtab_kind METADATA_KIND = {
    "gguf_metadata",
    "CREATE TABLE x(key TEXT, type TEXT, value, n_elements INTEGER, path HIDDEN)",
    METADATA_COL_PATH, metadata_n_rows, metadata_column};

/* ---- shared virtual-table plumbing -------------------------------------- */

static int gguf_vtab_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                      sqlite3_vtab **out, char **err)
{
    (void)argc; (void)argv; (void)err;
    const gguf_vtab_kind *kind = aux;
    int rc = ext_vtab_connect(db, kind->schema, sizeof(gguf_vtab), out);
    if (rc == SQLITE_OK)
        ((gguf_vtab *)*out)->kind = kind;
    return rc;
}

/* idxNum 1: the path argument is available to xFilter as argv[0].
 * idxNum 0: no path constraint at all; xFilter reports the usage error.
 * An unusable path constraint (a join order that cannot supply it yet) is
 * refused with SQLITE_CONSTRAINT so the planner picks another order. */
static int gguf_vtab_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info)
{
    const gguf_vtab *vt = (const gguf_vtab *)vtab;
    int path_idx = -1;
    bool unusable = false;
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (c->iColumn != vt->kind->path_col || c->op != SQLITE_INDEX_CONSTRAINT_EQ)
            continue;
        if (!c->usable)
            unusable = true;
        else if (path_idx < 0)
            path_idx = i;
    }
    if (path_idx < 0 && unusable)
        return SQLITE_CONSTRAINT;
    if (path_idx >= 0) {
        info->aConstraintUsage[path_idx].argvIndex = 1;
        info->aConstraintUsage[path_idx].omit = 1;
        info->idxNum = 1;
        info->estimatedCost = 1000;
        info->estimatedRows = 100;
    } else {
        info->idxNum = 0;
        info->estimatedCost = 1e12;
    }
    return SQLITE_OK;
}

static int gguf_vtab_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out)
{
    (void)vtab;
    return ext_cursor_alloc(sizeof(gguf_cursor), out);
}

static int gguf_vtab_close(sqlite3_vtab_cursor *base)
{
    gguf_cursor *cur = (gguf_cursor *)base;
    gguf_close(cur->file);
    sqlite3_free(cur);
    return SQLITE_OK;
}

static int gguf_vtab_filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str,
                     int argc, sqlite3_value **argv)
{
    (void)idx_str;
    gguf_cursor *cur = (gguf_cursor *)base;
    const gguf_vtab *vt = (const gguf_vtab *)base->pVtab;
    const char *fn = vt->kind->fn_name;
    gguf_close(cur->file);
    cur->file = NULL;
    cur->row = cur->n_rows = 0;
    if (idx_num != 1 || argc < 1)
        return ext_vtab_error(base->pVtab, "%s: missing path argument; usage: SELECT * FROM %s('model.gguf')",
                              fn, fn);
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
        return ext_vtab_error(base->pVtab, "%s: path is NULL; expected a file name", fn);
    const char *path = (const char *)sqlite3_value_text(argv[0]);
    if (!path)
        return SQLITE_NOMEM;
    if ((size_t)sqlite3_value_bytes(argv[0]) != strlen(path))
        return ext_vtab_error(base->pVtab, "%s: path contains a NUL byte", fn);
    emb_error err;
    emb_error_clear(&err);
    cur->file = gguf_open(path, &err);
    if (!cur->file) {
        if (err.code == EMB_ERR_NOMEM)
            return SQLITE_NOMEM;
        return ext_vtab_error(base->pVtab, "%s: %s", fn, err.msg);
    }
    cur->n_rows = vt->kind->n_rows(cur->file);
    return SQLITE_OK;
}

static int gguf_vtab_next(sqlite3_vtab_cursor *base)
{
    ((gguf_cursor *)base)->row++;
    return SQLITE_OK;
}

static int gguf_vtab_eof(sqlite3_vtab_cursor *base)
{
    const gguf_cursor *cur = (const gguf_cursor *)base;
    return cur->file == NULL || cur->row >= cur->n_rows;
}

static int gguf_vtab_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col)
{
    const gguf_cursor *cur = (const gguf_cursor *)base;
    const gguf_vtab *vt = (const gguf_vtab *)base->pVtab;
    if (col == vt->kind->path_col) {
        sqlite3_result_text(ctx, gguf_name(cur->file), -1, SQLITE_TRANSIENT);
        return SQLITE_OK;
    }
    return vt->kind->column(ctx, cur->file, cur->row, col);
}

static int gguf_vtab_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid)
{
    *rowid = (sqlite3_int64)((const gguf_cursor *)base)->row;
    return SQLITE_OK;
}

static const sqlite3_module GGUF_MODULE = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only */
    .xConnect = gguf_vtab_connect,
    .xBestIndex = gguf_vtab_best_index,
    .xDisconnect = ext_vtab_free,
    .xDestroy = ext_vtab_free,
    .xOpen = gguf_vtab_open,
    .xClose = gguf_vtab_close,
    .xFilter = gguf_vtab_filter,
    .xNext = gguf_vtab_next,
    .xEof = gguf_vtab_eof,
    .xColumn = gguf_vtab_column,
    .xRowid = gguf_vtab_rowid,
};

int ext_register_gguf_vtabs(sqlite3 *db)
{
    int rc = sqlite3_create_module(db, TENSORS_KIND.fn_name, &GGUF_MODULE, (void *)&TENSORS_KIND);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_module(db, METADATA_KIND.fn_name, &GGUF_MODULE, (void *)&METADATA_KIND);
    return rc;
}
