/*
 * gguf_parse: open (mmap or memory image), parse and validate a GGUF v2/v3
 * file. Layout and rules: docs/format.md §1; docs/gguf-reader.md.
 *
 * Every byte is read through a parser cursor that checks the bytes left
 * first; counts are checked against the bytes left before anything is
 * allocated; shapes, byte sizes and offsets are overflow-checked before any
 * pointer into the image is formed. Tensor data is never read.
 */
#include "gguf.h"
#include "gguf_private.h"
#include "ggml_types.h"
#include "map_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAGIC "GGUF"
#define GGUF_HEADER_BYTES 24u
/* Smallest possible records, used to bound counts before allocating:
 * kv     = u64 key length + 1-byte key + i32 type + 1-byte value;
 * tensor = u64 name length + 1-byte name + u32 n_dims (0) + i32 type + u64 offset. */
#define GGUF_MIN_KV_BYTES 14u
#define GGUF_MIN_TENSOR_INFO_BYTES 25u
/* llama.cpp limits tensor names to 63 bytes; we allow longer names but not
 * absurd ones (a name is printed in messages and compared often). */
#define GGUF_MAX_TENSOR_NAME 256u

/* What is being parsed, so that every message says where it happened. */
typedef enum parse_item {
    ITEM_HEADER,
    ITEM_KV,
    ITEM_TENSOR
} parse_item;

typedef struct parser {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;        /* next byte to read                               */
    const char *label;   /* file name for messages                          */
    emb_error *err;
    parse_item item;     /* current record kind, its index and (once read) name */
    uint64_t index;
    emb_str name;
} parser;

/* Set *err to "gguf: <file>: offset <at>: <record>: <message>"; returns false
 * so that checks read `return fail(...)`. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static bool fail(parser *p, uint64_t at, emb_code code, const char *fmt, ...)
{
    char what[EMB_ERROR_MSG_MAX];
    char context[96] = "";
    char name[64];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (p->item != ITEM_HEADER && p->name.ptr) {
        gguf_format_name(name, sizeof name, p->name);
        snprintf(context, sizeof context, "%s '%s': ", p->item == ITEM_KV ? "key" : "tensor", name);
    } else if (p->item != ITEM_HEADER) {
        snprintf(context, sizeof context, "%s %" PRIu64 ": ",
                 p->item == ITEM_KV ? "key/value record" : "tensor info", p->index);
    }
    emb_error_set(p->err, code, "gguf: %s: offset %" PRIu64 ": %s%s", p->label, at, context, what);
    return false;
}

static uint64_t bytes_left(const parser *p)
{
    return p->size - p->pos;
}

static bool need(parser *p, uint64_t n, const char *what)
{
    if (n <= bytes_left(p))
        return true;
    return fail(p, p->pos, EMB_ERR_FORMAT, "%s needs %" PRIu64 " bytes but only %" PRIu64 " are left",
                what, n, bytes_left(p));
}

static bool read_u32(parser *p, const char *what, uint32_t *out)
{
    if (!need(p, 4, what))
        return false;
    *out = gguf_le32(p->base + p->pos);
    p->pos += 4;
    return true;
}

static bool read_i32(parser *p, const char *what, int32_t *out)
{
    uint32_t u;
    if (!read_u32(p, what, &u))
        return false;
    *out = (int32_t)u;
    return true;
}

static bool read_u64(parser *p, const char *what, uint64_t *out)
{
    if (!need(p, 8, what))
        return false;
    *out = gguf_le64(p->base + p->pos);
    p->pos += 8;
    return true;
}

static bool read_i64(parser *p, const char *what, int64_t *out)
{
    uint64_t u;
    if (!read_u64(p, what, &u))
        return false;
    *out = (int64_t)u;
    return true;
}

/* A length-prefixed string as a view into the image. */
static bool read_str(parser *p, const char *what, emb_str *out)
{
    uint64_t at = p->pos;
    uint64_t len;

    if (!need(p, 8, what))
        return false;
    len = gguf_le64(p->base + p->pos);
    p->pos += 8;
    if (len > bytes_left(p)) {
        return fail(p, at, EMB_ERR_FORMAT, "%s length %" PRIu64 " exceeds the %" PRIu64 " bytes left",
                    what, len, bytes_left(p));
    }
    out->ptr = (const char *)(p->base + p->pos);
    out->len = (size_t)len;
    p->pos += len;
    return true;
}

/* Keys and tensor names: non-empty, no NUL byte (callers look them up with C
 * strings; "a\0b" would be unreachable or shadow "a" in strcmp-based code). */
static bool check_name(parser *p, uint64_t at, const char *what, emb_str s)
{
    if (s.len == 0)
        return fail(p, at, EMB_ERR_FORMAT, "%s is empty", what);
    if (memchr(s.ptr, '\0', s.len))
        return fail(p, at, EMB_ERR_FORMAT, "%s contains a NUL byte", what);
    return true;
}

/* --- header ------------------------------------------------------------- */

static uint32_t byte_swap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

static bool parse_header(parser *p, gguf_file *f, uint64_t *n_tensors, uint64_t *n_kv)
{
    int64_t tensors = 0, kvs = 0;
    uint64_t left, tensor_bytes;

    if (p->size < GGUF_HEADER_BYTES) {
        if (p->size >= 4 && memcmp(p->base, GGUF_MAGIC, 4) != 0)
            return fail(p, 0, EMB_ERR_FORMAT, "magic is not 'GGUF': not a GGUF file");
        return fail(p, 0, EMB_ERR_FORMAT, "file is %" PRIu64 " bytes, too short for the %u-byte GGUF header",
                    p->size, GGUF_HEADER_BYTES);
    }
    if (memcmp(p->base, GGUF_MAGIC, 4) != 0) {
        const uint8_t *m = p->base;
        return fail(p, 0, EMB_ERR_FORMAT,
                    "magic is %02x %02x %02x %02x, expected 47 47 55 46 ('GGUF'): not a GGUF file",
                    m[0], m[1], m[2], m[3]);
    }
    p->pos = 4;
    read_u32(p, "version", &f->version);
    if (f->version != 2 && f->version != 3) {
        uint32_t swapped = byte_swap32(f->version);
        if (swapped >= 1 && swapped <= 3) {
            return fail(p, 4, EMB_ERR_UNSUPPORTED,
                        "version 0x%08" PRIx32 " is version %" PRIu32 " of a big-endian GGUF file; "
                        "only little-endian files are supported", f->version, swapped);
        }
        if (f->version == 1)
            return fail(p, 4, EMB_ERR_UNSUPPORTED, "version 1 (32-bit counts) is not supported, expected 2 or 3");
        return fail(p, 4, EMB_ERR_UNSUPPORTED, "version %" PRIu32 " is not supported, expected 2 or 3",
                    f->version);
    }
    read_i64(p, "tensor count", &tensors);
    read_i64(p, "key/value count", &kvs);

    /* Both counts are bounded by what the rest of the file can hold before
     * anything is allocated from them. */
    left = p->size - GGUF_HEADER_BYTES;
    if (tensors < 0)
        return fail(p, 8, EMB_ERR_FORMAT, "tensor count %" PRId64 " is negative", tensors);
    if ((uint64_t)tensors > left / GGUF_MIN_TENSOR_INFO_BYTES || (uint64_t)tensors > SIZE_MAX / sizeof(gguf_tensor)) {
        return fail(p, 8, EMB_ERR_FORMAT,
                    "tensor count %" PRId64 " needs at least %u bytes per tensor info but only %" PRIu64
                    " bytes are left", tensors, GGUF_MIN_TENSOR_INFO_BYTES, left);
    }
    tensor_bytes = (uint64_t)tensors * GGUF_MIN_TENSOR_INFO_BYTES;
    if (kvs < 0)
        return fail(p, 16, EMB_ERR_FORMAT, "key/value count %" PRId64 " is negative", kvs);
    if ((uint64_t)kvs > (left - tensor_bytes) / GGUF_MIN_KV_BYTES || (uint64_t)kvs > SIZE_MAX / sizeof(gguf_kv)) {
        return fail(p, 16, EMB_ERR_FORMAT,
                    "key/value count %" PRId64 " needs at least %u bytes per record but only %" PRIu64
                    " bytes are left after the %" PRId64 " tensor infos", kvs, GGUF_MIN_KV_BYTES,
                    left - tensor_bytes, tensors);
    }
    *n_tensors = (uint64_t)tensors;
    *n_kv = (uint64_t)kvs;
    return true;
}

/* --- key/value records -------------------------------------------------- */

static bool parse_string_array(parser *p, gguf_kv *kv, uint64_t count_at)
{
    uint64_t i;

    /* Every element has at least its 8-byte length. */
    if (kv->arr_count > bytes_left(p) / 8) {
        return fail(p, count_at, EMB_ERR_FORMAT,
                    "array of %" PRIu64 " strings needs at least 8 bytes per string but only %" PRIu64
                    " bytes are left", kv->arr_count, bytes_left(p));
    }
    for (i = 0; i < kv->arr_count; i++) {
        uint64_t at = p->pos;
        uint64_t len;
        if (bytes_left(p) < 8) {
            return fail(p, at, EMB_ERR_FORMAT,
                        "string %" PRIu64 " of %" PRIu64 ": length needs 8 bytes but only %" PRIu64 " are left",
                        i, kv->arr_count, bytes_left(p));
        }
        len = gguf_le64(p->base + p->pos);
        p->pos += 8;
        if (len > bytes_left(p)) {
            return fail(p, at, EMB_ERR_FORMAT,
                        "string %" PRIu64 " of %" PRIu64 ": length %" PRIu64 " exceeds the %" PRIu64 " bytes left",
                        i, kv->arr_count, len, bytes_left(p));
        }
        p->pos += len;
    }
    return true;
}

static bool parse_array(parser *p, gguf_kv *kv)
{
    uint64_t at = p->pos;
    uint64_t count_at;
    int32_t elem;
    size_t elem_size;

    if (!read_i32(p, "array element type", &elem))
        return false;
    if (elem == GGUF_TYPE_ARRAY)
        return fail(p, at, EMB_ERR_UNSUPPORTED, "arrays of arrays are not supported");
    if (elem < 0 || elem >= GGUF_TYPE_COUNT) {
        return fail(p, at, EMB_ERR_FORMAT, "array element type %" PRId32 " is unknown, expected 0..%d",
                    elem, GGUF_TYPE_COUNT - 1);
    }
    kv->arr_type = (gguf_value_type)elem;
    count_at = p->pos;
    if (!read_u64(p, "array count", &kv->arr_count))
        return false;
    kv->data = p->base + p->pos;
    if (kv->arr_type == GGUF_TYPE_STRING)
        return parse_string_array(p, kv, count_at);
    elem_size = gguf_value_type_size(kv->arr_type);
    if (kv->arr_count > bytes_left(p) / elem_size) {
        return fail(p, count_at, EMB_ERR_FORMAT,
                    "array of %" PRIu64 " %s (%zu bytes each) exceeds the %" PRIu64 " bytes left",
                    kv->arr_count, gguf_value_type_name(kv->arr_type), elem_size, bytes_left(p));
    }
    p->pos += kv->arr_count * elem_size;
    return true;
}

static bool parse_kv(parser *p, uint64_t index, gguf_kv *kv)
{
    uint64_t at = p->pos;
    int32_t type;

    p->item = ITEM_KV;
    p->index = index;
    p->name = (emb_str){NULL, 0};
    kv->file_offset = at;
    if (!read_str(p, "key", &kv->key) || !check_name(p, at, "key", kv->key))
        return false;
    p->name = kv->key;

    at = p->pos;
    if (!read_i32(p, "value type", &type))
        return false;
    if (type < 0 || type >= GGUF_TYPE_COUNT)
        return fail(p, at, EMB_ERR_FORMAT, "value type %" PRId32 " is unknown, expected 0..%d", type, GGUF_TYPE_COUNT - 1);
    kv->type = (gguf_value_type)type;

    if (kv->type == GGUF_TYPE_ARRAY)
        return parse_array(p, kv);
    if (kv->type == GGUF_TYPE_STRING) {
        if (!read_str(p, "string value", &kv->str))
            return false;
        kv->data = (const uint8_t *)kv->str.ptr;
        return true;
    }
    if (!need(p, gguf_value_type_size(kv->type), "value"))
        return false;
    kv->data = p->base + p->pos;
    p->pos += gguf_value_type_size(kv->type);
    return true;
}

static int kv_ptr_order(const void *a, const void *b)
{
    const gguf_kv *x = *(const gguf_kv *const *)a;
    const gguf_kv *y = *(const gguf_kv *const *)b;
    return gguf_str_order(x->key, y->key);
}

/* Sort the lookup index and reject duplicate keys (reported at the later one). */
static bool index_kvs(parser *p, gguf_file *f)
{
    size_t i;

    for (i = 0; i < f->n_kv; i++)
        f->kv_by_key[i] = &f->kvs[i];
    if (f->n_kv > 1)
        qsort(f->kv_by_key, f->n_kv, sizeof *f->kv_by_key, kv_ptr_order);
    for (i = 1; i < f->n_kv; i++) {
        const gguf_kv *a = f->kv_by_key[i - 1];
        const gguf_kv *b = f->kv_by_key[i];
        if (gguf_str_order(a->key, b->key) == 0) {
            const gguf_kv *first = a < b ? a : b;
            const gguf_kv *later = a < b ? b : a;
            p->item = ITEM_KV;
            p->name = later->key;
            return fail(p, later->file_offset, EMB_ERR_FORMAT, "duplicate key (first at offset %" PRIu64 ")",
                        first->file_offset);
        }
    }
    return true;
}

static bool parse_alignment(parser *p, gguf_file *f)
{
    const gguf_kv *kv = gguf_find_kv(f, "general.alignment");
    uint32_t a;

    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (!kv)
        return true;
    p->item = ITEM_KV;
    p->name = kv->key;
    if (kv->type != GGUF_TYPE_UINT32) {
        return fail(p, kv->file_offset, EMB_ERR_FORMAT, "value is %s, expected UINT32",
                    gguf_value_type_name(kv->type));
    }
    a = gguf_le32(kv->data);
    if (a == 0 || (a & (a - 1)) != 0) {
        return fail(p, kv->file_offset, EMB_ERR_FORMAT, "alignment %" PRIu32 " is not a non-zero power of two", a);
    }
    f->alignment = a;
    return true;
}

/* --- tensor infos ------------------------------------------------------- */

/* Where each tensor info was read, for messages of the later checks. */
typedef struct tensor_pos {
    uint64_t record;       /* offset of the name length          */
    uint64_t offset_field; /* offset of the data-offset field    */
} tensor_pos;

/* "[4, 3, 1, 1]" from the stored dims, for messages. */
static void format_shape(char *out, size_t cap, const int64_t *ne, uint32_t n_dims)
{
    size_t used = 0;
    uint32_t d;

    out[0] = '\0';
    used += (size_t)snprintf(out, cap, "[");
    for (d = 0; d < n_dims && used < cap; d++)
        used += (size_t)snprintf(out + used, cap - used, "%s%" PRId64, d ? ", " : "", ne[d]);
    if (used < cap)
        snprintf(out + used, cap - used, "]");
}

static bool tensor_sizes(parser *p, gguf_tensor *t, const ggml_type_info *info, uint64_t ne_at)
{
    char shape[128];
    uint64_t n = 1, blocks, bytes;
    uint32_t d;
    bool empty = false;

    for (d = 0; d < GGUF_MAX_DIMS; d++)
        empty = empty || t->ne[d] == 0;
    format_shape(shape, sizeof shape, t->ne, t->n_dims);
    if (!empty) {
        for (d = 0; d < GGUF_MAX_DIMS; d++) {
            if (n > (uint64_t)INT64_MAX / (uint64_t)t->ne[d])
                return fail(p, ne_at, EMB_ERR_FORMAT, "shape %s has more than INT64_MAX elements", shape);
            n *= (uint64_t)t->ne[d];
        }
    } else {
        n = 0;
    }
    if (t->ne[0] % info->block_size != 0) {
        return fail(p, ne_at, EMB_ERR_FORMAT,
                    "ne[0] = %" PRId64 " is not a multiple of the %s block size %" PRIu32
                    " (rows must be whole blocks)", t->ne[0], info->name, info->block_size);
    }
    blocks = (uint64_t)t->ne[0] / info->block_size;
    if (blocks > UINT64_MAX / info->type_size)
        return fail(p, ne_at, EMB_ERR_FORMAT, "row of shape %s as %s overflows 64 bits", shape, info->name);
    t->row_bytes = blocks * info->type_size;
    bytes = empty ? 0 : t->row_bytes;
    for (d = 1; d < GGUF_MAX_DIMS && !empty; d++) {
        if (bytes > UINT64_MAX / (uint64_t)t->ne[d])
            return fail(p, ne_at, EMB_ERR_FORMAT, "byte size of shape %s as %s overflows 64 bits", shape, info->name);
        bytes *= (uint64_t)t->ne[d];
    }
    t->n_elements = n;
    t->n_bytes = bytes;
    return true;
}

static bool parse_tensor_info(parser *p, uint64_t index, gguf_tensor *t, tensor_pos *pos)
{
    uint64_t at = p->pos, ne_at, type_at;
    const ggml_type_info *info;
    int32_t type;
    uint32_t d;

    p->item = ITEM_TENSOR;
    p->index = index;
    p->name = (emb_str){NULL, 0};
    pos->record = at;
    if (!read_str(p, "tensor name", &t->name) || !check_name(p, at, "tensor name", t->name))
        return false;
    if (t->name.len > GGUF_MAX_TENSOR_NAME) {
        return fail(p, at, EMB_ERR_FORMAT, "tensor name is %zu bytes, maximum %u", t->name.len,
                    GGUF_MAX_TENSOR_NAME);
    }
    p->name = t->name;

    at = p->pos;
    if (!read_u32(p, "n_dims", &t->n_dims))
        return false;
    if (t->n_dims > GGUF_MAX_DIMS)
        return fail(p, at, EMB_ERR_FORMAT, "n_dims %" PRIu32 " exceeds the maximum %d", t->n_dims, GGUF_MAX_DIMS);
    ne_at = p->pos;
    for (d = 0; d < GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (d = 0; d < t->n_dims; d++) {
        at = p->pos;
        if (!read_i64(p, "ne", &t->ne[d]))
            return false;
        if (t->ne[d] < 0)
            return fail(p, at, EMB_ERR_FORMAT, "ne[%" PRIu32 "] = %" PRId64 " is negative", d, t->ne[d]);
    }

    type_at = p->pos;
    if (!read_i32(p, "tensor type", &type))
        return false;
    info = ggml_type_get((uint32_t)type);
    if (!info) {
        if (type >= 0 && type < GGML_TYPE_COUNT) {
            return fail(p, type_at, EMB_ERR_UNSUPPORTED,
                        "type id %" PRId32 " is a ggml type removed from GGUF files", type);
        }
        return fail(p, type_at, EMB_ERR_UNSUPPORTED, "type id %" PRId32 " is unknown, expected a ggml type below %d",
                    type, GGML_TYPE_COUNT);
    }
    t->type = (uint32_t)type;
    if (!tensor_sizes(p, t, info, ne_at))
        return false;

    pos->offset_field = p->pos;
    return read_u64(p, "data offset", &t->offset);
}

static int tensor_ptr_order(const void *a, const void *b)
{
    const gguf_tensor *x = *(const gguf_tensor *const *)a;
    const gguf_tensor *y = *(const gguf_tensor *const *)b;
    return gguf_str_order(x->name, y->name);
}

static bool index_tensors(parser *p, gguf_file *f, const tensor_pos *pos)
{
    size_t i;

    for (i = 0; i < f->n_tensors; i++)
        f->tensor_by_name[i] = &f->tensors[i];
    if (f->n_tensors > 1)
        qsort(f->tensor_by_name, f->n_tensors, sizeof *f->tensor_by_name, tensor_ptr_order);
    for (i = 1; i < f->n_tensors; i++) {
        const gguf_tensor *a = f->tensor_by_name[i - 1];
        const gguf_tensor *b = f->tensor_by_name[i];
        if (gguf_str_order(a->name, b->name) == 0) {
            size_t first = (size_t)((a < b ? a : b) - f->tensors);
            size_t later = (size_t)((a < b ? b : a) - f->tensors);
            p->item = ITEM_TENSOR;
            p->name = f->tensors[later].name;
            return fail(p, pos[later].record, EMB_ERR_FORMAT,
                        "duplicate tensor name (tensor %zu; first as tensor %zu at offset %" PRIu64 ")",
                        later, first, pos[first].record);
        }
    }
    return true;
}

/* Data section start, then every tensor's data: aligned and inside the file. */
static bool place_tensor_data(parser *p, gguf_file *f, const tensor_pos *pos)
{
    uint64_t end_of_infos = p->pos;
    uint64_t rem = end_of_infos % f->alignment;
    size_t i;

    p->item = ITEM_HEADER;
    if (rem && end_of_infos > UINT64_MAX - (f->alignment - rem))
        return fail(p, end_of_infos, EMB_ERR_FORMAT, "data section start overflows 64 bits");
    f->data_offset = rem ? end_of_infos + (f->alignment - rem) : end_of_infos;

    for (i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        uint64_t at = pos[i].offset_field;
        p->item = ITEM_TENSOR;
        p->name = t->name;
        if (t->offset % f->alignment != 0) {
            return fail(p, at, EMB_ERR_FORMAT, "data offset %" PRIu64 " is not a multiple of the alignment %" PRIu32,
                        t->offset, f->alignment);
        }
        if (t->offset > UINT64_MAX - f->data_offset || t->n_bytes > UINT64_MAX - (f->data_offset + t->offset)) {
            return fail(p, at, EMB_ERR_FORMAT,
                        "data offset %" PRIu64 " + %" PRIu64 " bytes after the data start %" PRIu64 " overflows 64 bits",
                        t->offset, t->n_bytes, f->data_offset);
        }
        t->abs_offset = f->data_offset + t->offset;
        if (t->abs_offset + t->n_bytes > p->size) {
            return fail(p, at, EMB_ERR_FORMAT,
                        "data [%" PRIu64 ", %" PRIu64 ") (%" PRIu64 " bytes of %s) ends past the end of the file (%" PRIu64
                        " bytes)", t->abs_offset, t->abs_offset + t->n_bytes, t->n_bytes, ggml_type_name(t->type),
                        p->size);
        }
        t->data = f->base + t->abs_offset;
    }
    return true;
}

/* --- open / close ------------------------------------------------------- */

static bool parse(gguf_file *f, emb_error *err)
{
    parser p = {f->base, f->size, 0, f->label, err, ITEM_HEADER, 0, {NULL, 0}};
    tensor_pos *pos = NULL;
    uint64_t n_tensors = 0, n_kv = 0, i;
    bool ok = false;

    if (!parse_header(&p, f, &n_tensors, &n_kv))
        goto end;

    if (n_kv) {
        f->kvs = calloc((size_t)n_kv, sizeof *f->kvs);
        f->kv_by_key = calloc((size_t)n_kv, sizeof *f->kv_by_key);
        if (!f->kvs || !f->kv_by_key) {
            emb_error_set(err, EMB_ERR_NOMEM, "gguf: %s: out of memory for %" PRIu64 " key/value records", f->label, n_kv);
            goto end;
        }
    }
    f->n_kv = (size_t)n_kv;
    for (i = 0; i < n_kv; i++) {
        if (!parse_kv(&p, i, &f->kvs[i]))
            goto end;
    }
    if (!index_kvs(&p, f) || !parse_alignment(&p, f))
        goto end;

    if (n_tensors) {
        f->tensors = calloc((size_t)n_tensors, sizeof *f->tensors);
        f->tensor_by_name = calloc((size_t)n_tensors, sizeof *f->tensor_by_name);
        pos = calloc((size_t)n_tensors, sizeof *pos);
        if (!f->tensors || !f->tensor_by_name || !pos) {
            emb_error_set(err, EMB_ERR_NOMEM, "gguf: %s: out of memory for %" PRIu64 " tensor infos", f->label, n_tensors);
            goto end;
        }
    }
    f->n_tensors = (size_t)n_tensors;
    for (i = 0; i < n_tensors; i++) {
        if (!parse_tensor_info(&p, i, &f->tensors[i], &pos[i]))
            goto end;
    }
    ok = index_tensors(&p, f, pos) && place_tensor_data(&p, f, pos);
end:
    free(pos);
    return ok;
}

static void set_label(gguf_file *f)
{
    size_t len = strlen(f->name);
    if (len < sizeof f->label)
        memcpy(f->label, f->name, len + 1);
    else
        snprintf(f->label, sizeof f->label, "...%s", f->name + len - (sizeof f->label - 4));
}

/* A zeroed gguf_file owning a copy of `name`; NULL on out of memory. */
static gguf_file *file_new(const char *name, emb_error *err)
{
    gguf_file *f = calloc(1, sizeof *f);
    size_t len = strlen(name);

    if (f)
        f->name = malloc(len + 1);
    if (!f || !f->name) {
        free(f);
        emb_error_set(err, EMB_ERR_NOMEM, "gguf: out of memory opening %s", name);
        return NULL;
    }
    memcpy(f->name, name, len + 1);
    f->fd = -1;
    f->guard = -1;
    set_label(f);
    return f;
}

void gguf_close(gguf_file *f)
{
    if (!f)
        return;
    free(f->kvs);
    free(f->kv_by_key);
    free(f->tensors);
    free(f->tensor_by_name);
    emb_map_guard_remove(f->guard);
    if (f->map)
        munmap(f->map, f->map_len);
    if (f->fd >= 0)
        close(f->fd);
    free(f->name);
    free(f);
}

gguf_file *gguf_open_memory(const void *data, size_t size, const char *name, emb_error *err)
{
    gguf_file *f = file_new(name ? name : "memory", err);
    gguf_file *result = NULL;

    if (!f)
        goto end;
    if (!data && size) {
        emb_error_set(err, EMB_ERR_INTERNAL, "gguf: %s: null image of %zu bytes", f->label, size);
        goto end;
    }
    /* An empty image still gets a non-NULL base so pointer arithmetic stays defined. */
    f->base = data ? data : (const uint8_t *)"";
    f->size = size;
    if (parse(f, err)) {
        result = f;
        f = NULL;
    }
end:
    gguf_close(f);
    return result;
}

gguf_file *gguf_open(const char *path, emb_error *err)
{
    gguf_file *f = NULL, *result = NULL;
    struct stat st;
    int fd = -1;
    void *map;

    if (!path) {
        emb_error_set(err, EMB_ERR_IO, "gguf: no path given");
        goto end;
    }
    f = file_new(path, err);
    if (!f)
        goto end;
    /* O_NONBLOCK: opening a FIFO must not hang the host; no effect on regular files. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        emb_error_set(err, EMB_ERR_IO, "gguf: %s: cannot open: %s", f->label, strerror(errno));
        goto end;
    }
    if (fstat(fd, &st) != 0) {
        emb_error_set(err, EMB_ERR_IO, "gguf: %s: cannot stat: %s", f->label, strerror(errno));
        goto end;
    }
    if (S_ISDIR(st.st_mode)) {
        emb_error_set(err, EMB_ERR_IO, "gguf: %s: is a directory, expected a GGUF file", f->label);
        goto end;
    }
    if (!S_ISREG(st.st_mode)) {
        emb_error_set(err, EMB_ERR_IO, "gguf: %s: is not a regular file, expected a GGUF file", f->label);
        goto end;
    }
    if (st.st_size == 0) {
        emb_error_set(err, EMB_ERR_FORMAT, "gguf: %s: file is empty (0 bytes), expected a GGUF file", f->label);
        goto end;
    }
#if SIZE_MAX < UINT64_MAX
    if ((uint64_t)st.st_size > SIZE_MAX) {
        emb_error_set(err, EMB_ERR_IO, "gguf: %s: file of %" PRIu64 " bytes cannot be mapped", f->label,
                      (uint64_t)st.st_size);
        goto end;
    }
#endif
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        emb_error_set(err, EMB_ERR_IO, "gguf: %s: cannot map %" PRIu64 " bytes: %s", f->label, (uint64_t)st.st_size,
                      strerror(errno));
        goto end;
    }
    f->map = map;
    f->map_len = (size_t)st.st_size;
    f->guard = emb_map_guard_add(map, f->map_len);
    f->fd = fd; /* closed by gguf_close from here on */
    fd = -1;
    f->st = st;
    f->base = map;
    f->size = (uint64_t)st.st_size;
    bool parsed = parse(f, err);
    /* A file cut short under the parser reads as zeros (map_guard): whatever
     * parse() concluded, the reason is the change. */
    if (gguf_file_changed(f, NULL)) {
        emb_error_set(err, EMB_ERR_IO, "gguf: %s: the file changed while it was being read", f->label);
        goto end;
    }
    if (!parsed)
        goto end;
    result = f;
    f = NULL;
end:
    if (fd >= 0)
        close(fd);
    gguf_close(f);
    return result;
}

static bool same_version(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

bool gguf_file_changed(const gguf_file *f, const char *path)
{
    if (!f || f->fd < 0)
        return false;
    if (emb_map_guard_faulted(f->guard))
        return true;
    struct stat now;
    if (fstat(f->fd, &now) != 0 || !same_version(&f->st, &now))
        return true;
    if (path && stat(path, &now) == 0 && !same_version(&f->st, &now))
        return true;
    return false;
}
