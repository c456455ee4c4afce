/*
 * gguf_access: lookups and typed accessors on an opened (hence validated)
 * gguf_file. Nothing here re-checks bounds the parser already proved; every
 * value is decoded little-endian from possibly unaligned bytes.
 */
#include "gguf.h"
#include "gguf_private.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* --- small helpers --------------------------------------------------------- */

int gguf_str_order(emb_str a, emb_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c != 0)
        return c;
    return (a.len > b.len) - (a.len < b.len);
}

void gguf_format_name(char *out, size_t cap, emb_str s)
{
    static const char hex[] = "0123456789abcdef";
    size_t used = 0, i;

    for (i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        bool plain = c >= 0x20 && c < 0x7f && c != '\'' && c != '\\';
        size_t width = plain ? 1 : 4;
        /* Keep room for "..." and the NUL; stop at ~48 visible characters. */
        if (used + width + 4 > cap || used + width > 48) {
            memcpy(out + used, "...", 3);
            used += 3;
            break;
        }
        if (plain) {
            out[used++] = (char)c;
        } else {
            out[used++] = '\\';
            out[used++] = 'x';
            out[used++] = hex[c >> 4];
            out[used++] = hex[c & 15];
        }
    }
    out[used] = '\0';
}

bool emb_str_eq(emb_str s, const char *cstr)
{
    size_t len;
    if (!cstr)
        return false;
    len = strlen(cstr);
    return len == s.len && (len == 0 || memcmp(s.ptr, cstr, len) == 0);
}

const char *gguf_value_type_name(gguf_value_type t)
{
    static const char *const names[GGUF_TYPE_COUNT] = {
        "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
        "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
    };
    if ((unsigned)t >= GGUF_TYPE_COUNT)
        return "?";
    return names[t];
}

size_t gguf_value_type_size(gguf_value_type t)
{
    switch (t) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64:
    case GGUF_TYPE_INT64:
    case GGUF_TYPE_FLOAT64: return 8;
    case GGUF_TYPE_STRING:
    case GGUF_TYPE_ARRAY:
    case GGUF_TYPE_COUNT: break;
    }
    return 0;
}

/* --- file-level getters ------------------------------------------------------ */

const char *gguf_name(const gguf_file *f) { return f ? f->name : ""; }
uint32_t gguf_version(const gguf_file *f) { return f ? f->version : 0; }
uint64_t gguf_file_size(const gguf_file *f) { return f ? f->size : 0; }
uint32_t gguf_alignment(const gguf_file *f) { return f ? f->alignment : 0; }
uint64_t gguf_data_offset(const gguf_file *f) { return f ? f->data_offset : 0; }
const uint8_t *gguf_base(const gguf_file *f) { return f ? f->base : NULL; }
size_t gguf_n_kv(const gguf_file *f) { return f ? f->n_kv : 0; }
size_t gguf_n_tensors(const gguf_file *f) { return f ? f->n_tensors : 0; }

const gguf_kv *gguf_kv_at(const gguf_file *f, size_t i)
{
    return f && i < f->n_kv ? &f->kvs[i] : NULL;
}

const gguf_tensor *gguf_tensor_at(const gguf_file *f, size_t i)
{
    return f && i < f->n_tensors ? &f->tensors[i] : NULL;
}

/* Binary search in a sorted array of pointers to records whose name is at
 * `name_offset` (kv_by_key / tensor_by_name). */
static const void *find_sorted(const void *const *sorted, size_t n, size_t name_offset, const char *cname)
{
    emb_str want = {cname, strlen(cname)};
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        emb_str have;
        int c;
        memcpy(&have, (const char *)sorted[mid] + name_offset, sizeof have);
        c = gguf_str_order(have, want);
        if (c == 0)
            return sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key)
{
    if (!f || !key)
        return NULL;
    return find_sorted((const void *const *)f->kv_by_key, f->n_kv, offsetof(gguf_kv, key), key);
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
    if (!f || !name)
        return NULL;
    return find_sorted((const void *const *)f->tensor_by_name, f->n_tensors, offsetof(gguf_tensor, name), name);
}

/* --- value decoding ---------------------------------------------------------- */

/* An integer of any GGUF width, kept exactly: `neg` set means `s` holds a
 * negative value, otherwise `u` holds the non-negative value. */
typedef struct int_value {
    bool neg;
    int64_t s;
    uint64_t u;
} int_value;

static bool is_integer_type(gguf_value_type t)
{
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16:
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64:
        return true;
    default:
        return false;
    }
}

static bool is_float_type(gguf_value_type t)
{
    return t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64;
}

/* Decode one integer scalar of type t at p (t must be an integer type). */
static int_value decode_int(gguf_value_type t, const uint8_t *p)
{
    int64_t s = 0;
    uint64_t u = 0;
    bool is_signed = true;

    switch (t) {
    case GGUF_TYPE_UINT8: u = p[0]; is_signed = false; break;
    case GGUF_TYPE_INT8: s = (int8_t)p[0]; break;
    case GGUF_TYPE_UINT16: u = gguf_le16(p); is_signed = false; break;
    case GGUF_TYPE_INT16: s = (int16_t)gguf_le16(p); break;
    case GGUF_TYPE_UINT32: u = gguf_le32(p); is_signed = false; break;
    case GGUF_TYPE_INT32: s = (int32_t)gguf_le32(p); break;
    case GGUF_TYPE_UINT64: u = gguf_le64(p); is_signed = false; break;
    case GGUF_TYPE_INT64: s = (int64_t)gguf_le64(p); break;
    default: break;
    }
    if (is_signed && s >= 0)
        return (int_value){false, s, (uint64_t)s};
    if (is_signed)
        return (int_value){true, s, 0};
    return (int_value){false, u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u, u};
}

static double decode_float(gguf_value_type t, const uint8_t *p)
{
    if (t == GGUF_TYPE_FLOAT32) {
        uint32_t bits = gguf_le32(p);
        float v;
        memcpy(&v, &bits, sizeof v);
        return v;
    } else {
        uint64_t bits = gguf_le64(p);
        double v;
        memcpy(&v, &bits, sizeof v);
        return v;
    }
}

static emb_code int_to_i64(int_value v, int64_t *out)
{
    if (!v.neg && v.u > (uint64_t)INT64_MAX)
        return EMB_ERR_RANGE;
    *out = v.neg ? v.s : (int64_t)v.u;
    return EMB_OK;
}

static emb_code int_to_u64(int_value v, uint64_t *out)
{
    if (v.neg)
        return EMB_ERR_RANGE;
    *out = v.u;
    return EMB_OK;
}

/* Element type and first byte of a scalar read: the kv itself, or element i
 * of an array kv. */
static emb_code scalar_i64(gguf_value_type t, const uint8_t *p, int64_t *out)
{
    return is_integer_type(t) ? int_to_i64(decode_int(t, p), out) : EMB_ERR_TYPE;
}

static emb_code scalar_u64(gguf_value_type t, const uint8_t *p, uint64_t *out)
{
    return is_integer_type(t) ? int_to_u64(decode_int(t, p), out) : EMB_ERR_TYPE;
}

static emb_code scalar_f64(gguf_value_type t, const uint8_t *p, double *out)
{
    if (!is_float_type(t))
        return EMB_ERR_TYPE;
    *out = decode_float(t, p);
    return EMB_OK;
}

emb_code gguf_kv_as_i64(const gguf_kv *kv, int64_t *out)
{
    return kv ? scalar_i64(kv->type, kv->data, out) : EMB_ERR_TYPE;
}

emb_code gguf_kv_as_u64(const gguf_kv *kv, uint64_t *out)
{
    return kv ? scalar_u64(kv->type, kv->data, out) : EMB_ERR_TYPE;
}

emb_code gguf_kv_as_f64(const gguf_kv *kv, double *out)
{
    return kv ? scalar_f64(kv->type, kv->data, out) : EMB_ERR_TYPE;
}

/* Element i of a numeric array, or a code saying why there is none. */
static emb_code array_element(const gguf_kv *kv, uint64_t i, const uint8_t **elem)
{
    size_t size;
    if (!kv || kv->type != GGUF_TYPE_ARRAY || kv->arr_type == GGUF_TYPE_STRING)
        return EMB_ERR_TYPE;
    if (i >= kv->arr_count)
        return EMB_ERR_RANGE;
    size = gguf_value_type_size(kv->arr_type);
    /* i * size < arr_count * size, which the parser proved lies in the image. */
    *elem = kv->data + i * size;
    return EMB_OK;
}

emb_code gguf_arr_get_i64(const gguf_kv *kv, uint64_t i, int64_t *out)
{
    const uint8_t *elem = NULL;
    emb_code rc = array_element(kv, i, &elem);
    return rc ? rc : scalar_i64(kv->arr_type, elem, out);
}

emb_code gguf_arr_get_u64(const gguf_kv *kv, uint64_t i, uint64_t *out)
{
    const uint8_t *elem = NULL;
    emb_code rc = array_element(kv, i, &elem);
    return rc ? rc : scalar_u64(kv->arr_type, elem, out);
}

emb_code gguf_arr_get_f64(const gguf_kv *kv, uint64_t i, double *out)
{
    const uint8_t *elem = NULL;
    emb_code rc = array_element(kv, i, &elem);
    return rc ? rc : scalar_f64(kv->arr_type, elem, out);
}

int gguf_arr_foreach_str(const gguf_kv *kv, gguf_str_visitor fn, void *ctx)
{
    const uint8_t *p;
    uint64_t i;

    if (!kv || !fn || kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING)
        return EMB_ERR_TYPE;
    p = kv->data;
    for (i = 0; i < kv->arr_count; i++) {
        emb_str s;
        int rc;
        s.len = (size_t)gguf_le64(p);
        s.ptr = (const char *)p + 8;
        rc = fn(ctx, i, s);
        if (rc != 0)
            return rc;
        p += 8 + s.len;
    }
    return 0;
}

/* --- typed accessors by key ---------------------------------------------------- */

/* "STRING", or "ARRAY of INT32" for arrays. */
static void describe_type(char *out, size_t cap, const gguf_kv *kv)
{
    if (kv->type == GGUF_TYPE_ARRAY)
        snprintf(out, cap, "ARRAY of %s", gguf_value_type_name(kv->arr_type));
    else
        snprintf(out, cap, "%s", gguf_value_type_name(kv->type));
}

/* Look `key` up into *out; on failure fill *err (NOT_FOUND, or INTERNAL for
 * NULL arguments) and return the code. */
static emb_code lookup(const gguf_file *f, const char *key, const gguf_kv **out, emb_error *err)
{
    char name[64];

    if (!f || !key)
        return emb_error_set(err, EMB_ERR_INTERNAL, "gguf: null file or key");
    *out = gguf_find_kv(f, key);
    if (!*out) {
        gguf_format_name(name, sizeof name, (emb_str){key, strlen(key)});
        return emb_error_set(err, EMB_ERR_NOT_FOUND, "gguf: %s: key '%s' not found", f->label, name);
    }
    return EMB_OK;
}

/* Message for a kv that cannot be read as `wanted`. */
static emb_code type_error(const gguf_file *f, const gguf_kv *kv, const char *wanted, emb_error *err)
{
    char name[64], type[32];
    gguf_format_name(name, sizeof name, kv->key);
    describe_type(type, sizeof type, kv);
    return emb_error_set(err, EMB_ERR_TYPE, "gguf: %s: key '%s' is %s, expected %s", f->label, name, type, wanted);
}

/* Message for an integer kv whose value does not fit `target`. */
static emb_code int_range_error(const gguf_file *f, const gguf_kv *kv, const char *target, emb_error *err)
{
    char name[64], value[32];
    int_value v = decode_int(kv->type, kv->data);
    gguf_format_name(name, sizeof name, kv->key);
    if (v.neg)
        snprintf(value, sizeof value, "%" PRId64, v.s);
    else
        snprintf(value, sizeof value, "%" PRIu64, v.u);
    return emb_error_set(err, EMB_ERR_RANGE, "gguf: %s: key '%s' value %s (%s) does not fit in %s", f->label, name,
                         value, gguf_value_type_name(kv->type), target);
}

/* Shared body of the integer getters: the value as int_value. */
static emb_code get_int(const gguf_file *f, const char *key, const char *wanted, int_value *out, const gguf_kv **kv_out,
                        emb_error *err)
{
    const gguf_kv *kv = NULL;
    emb_code rc = lookup(f, key, &kv, err);
    if (rc)
        return rc;
    if (!is_integer_type(kv->type))
        return type_error(f, kv, wanted, err);
    *out = decode_int(kv->type, kv->data);
    *kv_out = kv;
    return EMB_OK;
}

emb_code gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, emb_error *err)
{
    const gguf_kv *kv = NULL;
    int_value v;
    emb_code rc = get_int(f, key, "an integer (read as u32)", &v, &kv, err);
    if (rc)
        return rc;
    if (v.neg || v.u > UINT32_MAX)
        return int_range_error(f, kv, "u32", err);
    *out = (uint32_t)v.u;
    return EMB_OK;
}

emb_code gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, emb_error *err)
{
    const gguf_kv *kv = NULL;
    int_value v;
    emb_code rc = get_int(f, key, "an integer (read as u64)", &v, &kv, err);
    if (rc)
        return rc;
    if (int_to_u64(v, out) != EMB_OK)
        return int_range_error(f, kv, "u64", err);
    return EMB_OK;
}

emb_code gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, emb_error *err)
{
    const gguf_kv *kv = NULL;
    int_value v;
    emb_code rc = get_int(f, key, "an integer (read as i64)", &v, &kv, err);
    if (rc)
        return rc;
    if (int_to_i64(v, out) != EMB_OK)
        return int_range_error(f, kv, "i64", err);
    return EMB_OK;
}

emb_code gguf_get_f64(const gguf_file *f, const char *key, double *out, emb_error *err)
{
    const gguf_kv *kv = NULL;
    emb_code rc = lookup(f, key, &kv, err);
    if (rc)
        return rc;
    if (!is_float_type(kv->type))
        return type_error(f, kv, "FLOAT32 or FLOAT64 (read as f64)", err);
    *out = decode_float(kv->type, kv->data);
    return EMB_OK;
}

emb_code gguf_get_f32(const gguf_file *f, const char *key, float *out, emb_error *err)
{
    const gguf_kv *kv = NULL;
    emb_code rc = lookup(f, key, &kv, err);
    double v;
    char name[64];

    if (rc)
        return rc;
    if (!is_float_type(kv->type))
        return type_error(f, kv, "FLOAT32 or FLOAT64 (read as f32)", err);
    v = decode_float(kv->type, kv->data);
    if (isfinite(v) && fabs(v) > FLT_MAX) {
        gguf_format_name(name, sizeof name, kv->key);
        return emb_error_set(err, EMB_ERR_RANGE, "gguf: %s: key '%s' value %g (FLOAT64) does not fit in f32", f->label,
                             name, v);
    }
    *out = (float)v;
    return EMB_OK;
}

emb_code gguf_get_bool(const gguf_file *f, const char *key, bool *out, emb_error *err)
{
    const gguf_kv *kv = NULL;
    emb_code rc = lookup(f, key, &kv, err);
    if (rc)
        return rc;
    if (kv->type != GGUF_TYPE_BOOL)
        return type_error(f, kv, "BOOL", err);
    /* Any non-zero byte is true, as in llama.cpp. */
    *out = kv->data[0] != 0;
    return EMB_OK;
}

emb_code gguf_get_str(const gguf_file *f, const char *key, emb_str *out, emb_error *err)
{
    const gguf_kv *kv = NULL;
    emb_code rc = lookup(f, key, &kv, err);
    if (rc)
        return rc;
    if (kv->type != GGUF_TYPE_STRING)
        return type_error(f, kv, "STRING", err);
    *out = kv->str;
    return EMB_OK;
}

emb_code gguf_get_array(const gguf_file *f, const char *key, const gguf_kv **out, emb_error *err)
{
    const gguf_kv *kv = NULL;
    emb_code rc = lookup(f, key, &kv, err);
    if (rc)
        return rc;
    if (kv->type != GGUF_TYPE_ARRAY)
        return type_error(f, kv, "ARRAY", err);
    *out = kv;
    return EMB_OK;
}
