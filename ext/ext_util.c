/*
 * Error and JSON helpers shared by the ext/ files.
 */
#include "ext_common.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

void ext_ctx_error(sqlite3_context *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    if (!msg) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    sqlite3_result_error(ctx, msg, -1);
    sqlite3_free(msg);
}

int ext_result_str(sqlite3_context *ctx, sqlite3_str *s)
{
    int rc = sqlite3_str_errcode(s);
    int n = sqlite3_str_length(s);
    char *text = sqlite3_str_finish(s); /* NULL when empty or out of memory */
    if (rc != SQLITE_OK || (!text && n > 0)) {
        sqlite3_free(text);
        sqlite3_result_error_nomem(ctx);
        return SQLITE_NOMEM;
    }
    if (text)
        sqlite3_result_text(ctx, text, n, sqlite3_free);
    else
        sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
    return SQLITE_OK;
}

int ext_vtab_error(sqlite3_vtab *vtab, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    sqlite3_free(vtab->zErrMsg);
    vtab->zErrMsg = msg;
    return msg ? SQLITE_ERROR : SQLITE_NOMEM;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 if invalid.
 * Rejects overlong forms, surrogates and code points above U+10FFFF so that
 * the JSON we emit is always valid UTF-8. */
static size_t utf8_valid_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return 0;
    return len;
}

void ext_json_append_string(sqlite3_str *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    sqlite3_str_appendchar(out, 1, '"');
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            sqlite3_str_appendchar(out, 1, '\\');
            sqlite3_str_appendchar(out, 1, (char)c);
            i++;
        } else if (c < 0x20) {
            switch (c) {
            case '\n': sqlite3_str_appendall(out, "\\n"); break;
            case '\r': sqlite3_str_appendall(out, "\\r"); break;
            case '\t': sqlite3_str_appendall(out, "\\t"); break;
            default: sqlite3_str_appendf(out, "\\u%04x", c); break;
            }
            i++;
        } else if (c < 0x80) {
            sqlite3_str_appendchar(out, 1, (char)c);
            i++;
        } else {
            size_t len = utf8_valid_len(p + i, n - i);
            if (len == 0) {
                sqlite3_str_appendall(out, "\\ufffd");
                i++;
            } else {
                sqlite3_str_append(out, (const char *)p + i, (int)len);
                i += len;
            }
        }
    }
    sqlite3_str_appendchar(out, 1, '"');
}

int ext_register_functions(sqlite3 *db, const ext_function *fns, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = sqlite3_create_function_v2(db, fns[i].name, fns[i].n_arg, SQLITE_UTF8 | fns[i].flags,
                                            NULL, fns[i].fn, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

int ext_vtab_connect(sqlite3 *db, const char *schema, size_t size, sqlite3_vtab **out)
{
    int rc = sqlite3_declare_vtab(db, schema);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_vtab *vt = sqlite3_malloc64(size);
    if (!vt)
        return SQLITE_NOMEM;
    memset(vt, 0, size);
    sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
    *out = vt;
    return SQLITE_OK;
}

int ext_vtab_free(sqlite3_vtab *vt)
{
    sqlite3_free(vt);
    return SQLITE_OK;
}

int ext_cursor_alloc(size_t size, sqlite3_vtab_cursor **out)
{
    sqlite3_vtab_cursor *cur = sqlite3_malloc64(size);
    if (!cur)
        return SQLITE_NOMEM;
    memset(cur, 0, size);
    *out = cur;
    return SQLITE_OK;
}
