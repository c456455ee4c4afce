/*
 * embed(), embed_json(), embed_unload().
 *
 *   embed(text)                      default model
 *   embed(model, text)               a registered model (NULL = default)
 *   embed(model, text, options)      options: a JSON object, e.g.
 *       '{"prefix":"search_query: ","dims":256,"pooling":"mean",
 *         "normalize":true,"max_tokens":512,"truncate":true}'
 *   -> float32 little-endian BLOB (sqlite-vec's vector format)
 *   embed_json(...)                  the same vector as a JSON array
 *   embed_unload(model)              unmap a registered model now (it is
 *                                    mapped again by the next embed()); 1 if
 *                                    it was loaded, else 0
 *
 * NULL text -> NULL. Non-text text -> error. Only registered names (and the
 * SQLITE_EMBED_MODEL default) are accepted as `model`: embed() never opens a
 * file named by its arguments, so it may be used in triggers and views
 * (INSERT INTO embed_models, which does open files, is DIRECTONLY).
 * Not DETERMINISTIC: the registry can change between calls.
 */
#include "ext_embed.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "ext_interrupt.h"
#include "ext_registry.h"

void parsed_opts_free(void *p)
{
    parsed_opts *po = p;
    if (po)
        sqlite3_free(po->prefix);
    sqlite3_free(po);
}

int embed_model_arg(sqlite3_value *v, const char **name)
{
    *name = NULL;
    if (!v || sqlite3_value_type(v) == SQLITE_NULL)
        return SQLITE_OK;
    if (sqlite3_value_type(v) != SQLITE_TEXT)
        return SQLITE_MISMATCH;
    *name = (const char *)sqlite3_value_text(v);
    if (!*name)
        return SQLITE_NOMEM;
    if (strlen(*name) != (size_t)sqlite3_value_bytes(v)) {
        *name = NULL;
        return SQLITE_RANGE;
    }
    return SQLITE_OK;
}

/* Sets *errmsg to "fn: " + the formatted message (NULL when out of memory). */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void opt_error(char **errmsg, const char *fn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    *errmsg = msg ? sqlite3_mprintf("%s: %s", fn, msg) : NULL;
    sqlite3_free(msg);
}

/* Reads one boolean option: JSON true/false (json_each gives 'true'/'false'
 * types) or the integers 0/1. */
static bool opt_bool(sqlite3_stmt *st, bool *out)
{
    const char *type = (const char *)sqlite3_column_text(st, 2);
    if (type && strcmp(type, "true") == 0) {
        *out = true;
        return true;
    }
    if (type && strcmp(type, "false") == 0) {
        *out = false;
        return true;
    }
    if (type && strcmp(type, "integer") == 0) {
        sqlite3_int64 v = sqlite3_column_int64(st, 1);
        if (v == 0 || v == 1) {
            *out = v == 1;
            return true;
        }
    }
    return false;
}

/* SQLite's own JSON parser (json_each on this connection) reads the object. */
parsed_opts *parse_options(sqlite3 *db, const char *fn, sqlite3_value *v, char **errmsg, bool *interrupted)
{
    parsed_opts *po = sqlite3_malloc(sizeof *po);
    sqlite3_stmt *st = NULL;
    bool ok = false;
    *errmsg = NULL;
    *interrupted = false;
    if (!po)
        return NULL;
    memset(po, 0, sizeof *po);
    po->opts = emb_embed_opts_default();
    if (!v || sqlite3_value_type(v) == SQLITE_NULL) {
        ok = true;
        goto end;
    }
    if (sqlite3_value_type(v) != SQLITE_TEXT) {
        opt_error(errmsg, fn, "options must be a JSON object as TEXT, e.g. '{\"dims\":256}'");
        goto end;
    }
    if (sqlite3_value_bytes(v) > EMBED_MAX_INPUT_BYTES) { /* before json_each copies it */
        opt_error(errmsg, fn, "options are %d bytes, maximum %d", sqlite3_value_bytes(v), EMBED_MAX_INPUT_BYTES);
        goto end;
    }
    int rc = sqlite3_prepare_v2(db,
                                "SELECT key, value, type, json_type(?1) FROM json_each(?1)", -1, &st, NULL);
    if ((*interrupted = rc == SQLITE_INTERRUPT))
        goto end;
    if (rc != SQLITE_OK) {
        opt_error(errmsg, fn, "cannot parse options: %s", sqlite3_errmsg(db));
        goto end;
    }
    sqlite3_bind_value(st, 1, v);
    bool first = true;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *top = (const char *)sqlite3_column_text(st, 3);
        if (first && (!top || strcmp(top, "object") != 0)) {
            opt_error(errmsg, fn, "options must be a JSON object, got %s", top ? top : "?");
            goto end;
        }
        first = false;
        const char *key = (const char *)sqlite3_column_text(st, 0);
        const char *type = (const char *)sqlite3_column_text(st, 2);
        if (!key || !type)
            goto end; /* out of memory: *errmsg stays NULL */
        if (strcmp(key, "prefix") == 0) {
            if (strcmp(type, "text") != 0) {
                opt_error(errmsg, fn, "option prefix must be a string, got %s", type);
                goto end;
            }
            sqlite3_free(po->prefix);
            po->prefix = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(st, 1));
            if (!po->prefix)
                goto end; /* out of memory */
            po->opts.prefix = po->prefix;
        } else if (strcmp(key, "dims") == 0 || strcmp(key, "max_tokens") == 0) {
            sqlite3_int64 n = sqlite3_column_int64(st, 1);
            if (strcmp(type, "integer") != 0 || n < 1 || n > 1000000) {
                opt_error(errmsg, fn, "option %s must be a positive integer, got %s", key,
                      (const char *)sqlite3_column_text(st, 1));
                goto end;
            }
            if (key[0] == 'd')
                po->opts.dims = (uint32_t)n;
            else
                po->opts.max_tokens = (uint32_t)n;
        } else if (strcmp(key, "pooling") == 0) {
            const char *p = (const char *)sqlite3_column_text(st, 1);
            if (strcmp(type, "text") != 0 || !p) {
                opt_error(errmsg, fn, "option pooling must be \"mean\", \"cls\", \"last\" or \"model\"");
                goto end;
            }
            if (strcmp(p, "mean") == 0)
                po->opts.pooling = EMB_POOLING_MEAN;
            else if (strcmp(p, "cls") == 0)
                po->opts.pooling = EMB_POOLING_CLS;
            else if (strcmp(p, "last") == 0)
                po->opts.pooling = EMB_POOLING_LAST;
            else if (strcmp(p, "model") == 0)
                po->opts.pooling = -1;
            else {
                opt_error(errmsg, fn, "option pooling is \"%s\", expected \"mean\", \"cls\", \"last\" or \"model\"",
                      p);
                goto end;
            }
        } else if (strcmp(key, "normalize") == 0 || strcmp(key, "truncate") == 0) {
            bool b;
            if (!opt_bool(st, &b)) {
                opt_error(errmsg, fn, "option %s must be true or false, got %s", key, type);
                goto end;
            }
            if (key[0] == 'n')
                po->opts.normalize = b;
            else
                po->opts.truncate = b;
        } else {
            opt_error(errmsg, fn, "unknown option \"%s\"; known: prefix, dims, pooling, normalize, max_tokens, truncate",
                      key);
            goto end;
        }
    }
    if ((*interrupted = rc == SQLITE_INTERRUPT))
        goto end;
    if (rc != SQLITE_DONE) {
        opt_error(errmsg, fn, "options are not valid JSON: %s", sqlite3_errmsg(db));
        goto end;
    }
    if (first) {
        /* json_each yields no row for an empty object but also for a scalar
         * like '5' (one row, key NULL) ... check the top-level type. */
        sqlite3_finalize(st);
        st = NULL;
        if ((rc = sqlite3_prepare_v2(db, "SELECT json_type(?1)", -1, &st, NULL)) != SQLITE_OK) {
            if (!(*interrupted = rc == SQLITE_INTERRUPT))
                opt_error(errmsg, fn, "cannot parse options: %s", sqlite3_errmsg(db));
            goto end;
        }
        sqlite3_bind_value(st, 1, v);
        if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
            if ((*interrupted = rc == SQLITE_INTERRUPT))
                goto end;
            opt_error(errmsg, fn, "options are not valid JSON: %s", sqlite3_errmsg(db));
            goto end;
        }
        const char *top = (const char *)sqlite3_column_text(st, 0);
        if (!top || strcmp(top, "object") != 0) {
            opt_error(errmsg, fn, "options must be a JSON object, got %s", top ? top : "?");
            goto end;
        }
    }
    ok = true;
end:
    sqlite3_finalize(st);
    if (!ok) {
        parsed_opts_free(po);
        return NULL;
    }
    return po;
}

/* Computes the vector for one call. Returns a sqlite3_malloc'ed array of
 * *dims floats, or NULL with the result already set (NULL text or error). */
static float *embed_call(sqlite3_context *ctx, const char *fn, int argc, sqlite3_value **argv, uint32_t *dims)
{
    sqlite3_value *text_v = argv[argc == 1 ? 0 : 1];
    sqlite3_value *model_v = argc >= 2 ? argv[0] : NULL;
    registry_lease *lease = NULL;
    parsed_opts *po = NULL;
    bool po_fresh = false;
    float *out = NULL;
    emb_error err;
    emb_error_clear(&err);
    ext_interrupt interrupt;
    ext_interrupt_init(&interrupt, sqlite3_context_db_handle(ctx));

    const char *text;
    size_t len;
    if (!ext_read_text_arg(ctx, fn, text_v, EMBED_MAX_INPUT_BYTES, &text, &len))
        goto end;
    const char *model_name;
    int rc = embed_model_arg(model_v, &model_name);
    if (rc != SQLITE_OK) {
        if (rc == SQLITE_NOMEM)
            sqlite3_result_error_nomem(ctx);
        else
            ext_ctx_error(ctx, "%s: %s", fn, rc == SQLITE_RANGE ? EMBED_MODEL_ARG_NUL : EMBED_MODEL_ARG_HINT);
        goto end;
    }
    if (argc == 3) {
        po = sqlite3_get_auxdata(ctx, 2);
        if (!po) {
            char *msg;
            bool interrupted;
            po = parse_options(sqlite3_context_db_handle(ctx), fn, argv[2], &msg, &interrupted);
            if (!po) {
                if (interrupted)
                    sqlite3_result_error_code(ctx, SQLITE_INTERRUPT);
                else if (msg)
                    sqlite3_result_error(ctx, msg, -1);
                else
                    sqlite3_result_error_nomem(ctx);
                sqlite3_free(msg);
                goto end;
            }
            po_fresh = true;
        }
    }
    size_t prefix_len = po && po->prefix ? strlen(po->prefix) : 0; /* tokenized with the text */
    if (prefix_len > EMBED_MAX_INPUT_BYTES - len) {
        ext_ctx_error(ctx, "%s: input is %llu bytes (prefix %llu + text %llu), maximum %d", fn,
                      (unsigned long long)(len + prefix_len), (unsigned long long)prefix_len,
                      (unsigned long long)len, EMBED_MAX_INPUT_BYTES);
        goto end;
    }
    if (registry_acquire(model_name, &lease, &err) != EMB_OK) {
        ext_ctx_error(ctx, "%s: %s", fn, err.msg);
        goto end;
    }
    const emb_model *m = registry_lease_model(lease);
    emb_embed_opts call_opts = po ? po->opts : emb_embed_opts_default();
    emb_forward_cfg fwd_cfg = call_opts.forward ? *call_opts.forward : (emb_forward_cfg){0};
    fwd_cfg.cancelled = ext_interrupt_check; /* sqlite3_interrupt stops a long call */
    fwd_cfg.cancel_ctx = &interrupt;
    call_opts.forward = &fwd_cfg;
    const emb_embed_opts *opts = &call_opts;
    emb_str s = {text, len};
    if (emb_embed_check(m, opts, &err) == EMB_OK) {
        uint32_t n_out = emb_embed_out_dims(m, opts);
        out = sqlite3_malloc64((sqlite3_uint64)n_out * sizeof *out);
        if (!out) {
            sqlite3_result_error_nomem(ctx);
            goto end;
        }
        if (emb_embed_texts(out, m, &s, 1, opts, &err) == EMB_OK) {
            *dims = n_out;
            goto end;
        }
        sqlite3_free(out);
        out = NULL;
    }
    if (err.code == EMB_ERR_NOMEM)
        sqlite3_result_error_nomem(ctx);
    else if (err.code == EMB_ERR_INTERRUPTED)
        sqlite3_result_error_code(ctx, SQLITE_INTERRUPT);
    else
        ext_ctx_error(ctx, "%s: model '%s': %s", fn, registry_lease_name(lease), err.msg);
end:
    ext_interrupt_done(&interrupt);
    if (lease)
        registry_release(lease);
    if (po_fresh) /* last use of po: SQLite may free it at once */
        sqlite3_set_auxdata(ctx, 2, po, parsed_opts_free);
    return out;
}

static void fn_embed(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    uint32_t dims = 0;
    float *v = embed_call(ctx, "embed", argc, argv, &dims);
    if (!v)
        return;
    ext_result_vector(ctx, v, dims);
    sqlite3_free(v);
}

static void fn_embed_json(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    uint32_t dims = 0;
    float *v = embed_call(ctx, "embed_json", argc, argv, &dims);
    if (!v)
        return;
    sqlite3_str *s = sqlite3_str_new(NULL);
    sqlite3_str_appendchar(s, 1, '[');
    for (uint32_t i = 0; i < dims; i++) {
        /* %.9g round-trips every float32 exactly */
        char buf[32];
        snprintf(buf, sizeof buf, i ? ",%.9g" : "%.9g", (double)v[i]);
        sqlite3_str_appendall(s, buf);
    }
    sqlite3_str_appendchar(s, 1, ']');
    sqlite3_free(v);
    int n = sqlite3_str_length(s);
    char *json = sqlite3_str_finish(s);
    if (!json) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    sqlite3_result_text(ctx, json, n, sqlite3_free);
}

static void fn_embed_unload(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) != SQLITE_TEXT) {
        ext_ctx_error(ctx, "embed_unload: model must be a registered model name (TEXT)");
        return;
    }
    const char *name = (const char *)sqlite3_value_text(argv[0]);
    if (!name) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if (strlen(name) != (size_t)sqlite3_value_bytes(argv[0])) { /* would name another model */
        ext_ctx_error(ctx, "embed_unload: " EMBED_MODEL_ARG_NUL);
        return;
    }
    bool was_loaded = false;
    emb_error err;
    emb_error_clear(&err);
    if (registry_unload(name, &was_loaded, &err) != EMB_OK) {
        ext_ctx_error(ctx, "embed_unload: %s", err.msg);
        return;
    }
    sqlite3_result_int(ctx, was_loaded);
}

int ext_register_embed_functions(sqlite3 *db)
{
    static const ext_function FUNCS[] = {
        /* Reads only files registered through DIRECTONLY embed_models or the
         * environment: usable from triggers (auto-embedding on INSERT). */
        {"embed", 1, 0, fn_embed},
        {"embed", 2, 0, fn_embed},
        {"embed", 3, 0, fn_embed},
        {"embed_json", 1, 0, fn_embed_json},
        {"embed_json", 2, 0, fn_embed_json},
        {"embed_json", 3, 0, fn_embed_json},
        /* process-wide side effect */
        {"embed_unload", 1, SQLITE_DIRECTONLY, fn_embed_unload},
    };
    return ext_register_functions(db, FUNCS, sizeof FUNCS / sizeof FUNCS[0]);
}
