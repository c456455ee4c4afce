/*
 * gguf_builder: in-memory GGUF writer for tests; see gguf_builder.h.
 *
 * Key/value records are serialized when added (one growing byte buffer with
 * the record boundaries remembered); tensors keep their own data until
 * gguf_builder_build lays everything out.
 */
#include "gguf_builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Growing byte buffer; `failed` is set on out of memory and makes every later
 * append a no-op. */
typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
    bool failed;
} bytes;

static bool bytes_append(bytes *b, const void *src, size_t n)
{
    if (b->failed)
        return false;
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 64;
        uint8_t *p;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) {
                b->failed = true;
                return false;
            }
            cap *= 2;
        }
        p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return false;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, src, n);
    b->len += n;
    return true;
}

static bool bytes_zeros(bytes *b, size_t n)
{
    static const uint8_t zeros[64];
    while (n) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        if (!bytes_append(b, zeros, k))
            return false;
        n -= k;
    }
    return true;
}

static bool bytes_u32(bytes *b, uint32_t v)
{
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return bytes_append(b, le, 4);
}

static bool bytes_u64(bytes *b, uint64_t v)
{
    return bytes_u32(b, (uint32_t)v) && bytes_u32(b, (uint32_t)(v >> 32));
}

static bool bytes_str(bytes *b, const char *s, size_t len)
{
    return bytes_u64(b, len) && bytes_append(b, s, len);
}

/* Bytes of one scalar of a GGUF value type (docs/format.md §1.3); 0 for STRING, ARRAY
 * and unknown ids. Kept here rather than taken from the reader under test. */
static size_t value_size(gguf_value_type t)
{
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

/* Record boundaries of a kv inside `kvs`, relative to the kv section. */
typedef struct kv_entry {
    size_t record, type, value;
} kv_entry;

typedef struct tensor_entry {
    char *name;
    uint32_t type, n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    uint8_t *data;
    size_t n_bytes;
} tensor_entry;

struct gguf_builder {
    uint32_t version;
    uint32_t alignment;
    bool trailing_padding;
    bool failed;
    bytes kvs;                /* serialized kv records */
    kv_entry *kv;
    size_t n_kv, cap_kv;
    tensor_entry *tensors;
    size_t n_tensors, cap_tensors;
    /* positions of the last build */
    gguf_builder_kv_pos *kv_pos;
    gguf_builder_tensor_pos *tensor_pos;
    size_t data_start;
    bool built;
};

gguf_builder *gguf_builder_create(void)
{
    gguf_builder *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->version = 3;
    b->alignment = GGUF_DEFAULT_ALIGNMENT;
    b->trailing_padding = true;
    return b;
}

void gguf_builder_destroy(gguf_builder *b)
{
    size_t i;
    if (!b)
        return;
    for (i = 0; i < b->n_tensors; i++) {
        free(b->tensors[i].name);
        free(b->tensors[i].data);
    }
    free(b->tensors);
    free(b->kv);
    free(b->kvs.p);
    free(b->kv_pos);
    free(b->tensor_pos);
    free(b);
}

void gguf_builder_set_version(gguf_builder *b, uint32_t version)
{
    b->version = version;
}

static bool set_failed(gguf_builder *b)
{
    b->failed = true;
    return false;
}

bool gguf_builder_set_layout_alignment(gguf_builder *b, uint32_t alignment)
{
    if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        return set_failed(b);
    b->alignment = alignment;
    return true;
}

bool gguf_builder_set_alignment(gguf_builder *b, uint32_t alignment)
{
    return gguf_builder_set_layout_alignment(b, alignment) && gguf_builder_add_u32(b, "general.alignment", alignment);
}

void gguf_builder_set_trailing_padding(gguf_builder *b, bool pad)
{
    b->trailing_padding = pad;
}

bool gguf_builder_ok(const gguf_builder *b)
{
    return b && !b->failed && !b->kvs.failed;
}

/* Start a record: key and type; returns false (failed builder) on OOM. */
static bool begin_kv(gguf_builder *b, const char *key, size_t key_len, int32_t type)
{
    kv_entry e;
    if (!gguf_builder_ok(b))
        return false;
    if (b->n_kv == b->cap_kv) {
        size_t cap = b->cap_kv ? 2 * b->cap_kv : 16;
        kv_entry *kv = realloc(b->kv, cap * sizeof *kv);
        if (!kv)
            return set_failed(b);
        b->kv = kv;
        b->cap_kv = cap;
    }
    e.record = b->kvs.len;
    bytes_str(&b->kvs, key, key_len);
    e.type = b->kvs.len;
    bytes_u32(&b->kvs, (uint32_t)type);
    e.value = b->kvs.len;
    if (b->kvs.failed)
        return set_failed(b);
    b->kv[b->n_kv++] = e;
    return true;
}

static bool add_scalar(gguf_builder *b, const char *key, gguf_value_type type, uint64_t bits)
{
    uint8_t le[8];
    size_t size = value_size(type), i;
    for (i = 0; i < size; i++)
        le[i] = (uint8_t)(bits >> (8 * i));
    if (!key || !begin_kv(b, key, strlen(key), (int32_t)type) || !bytes_append(&b->kvs, le, size))
        return set_failed(b);
    return true;
}

bool gguf_builder_add_u8(gguf_builder *b, const char *key, uint8_t v) { return add_scalar(b, key, GGUF_TYPE_UINT8, v); }
bool gguf_builder_add_i8(gguf_builder *b, const char *key, int8_t v) { return add_scalar(b, key, GGUF_TYPE_INT8, (uint8_t)v); }
bool gguf_builder_add_u16(gguf_builder *b, const char *key, uint16_t v) { return add_scalar(b, key, GGUF_TYPE_UINT16, v); }
bool gguf_builder_add_i16(gguf_builder *b, const char *key, int16_t v) { return add_scalar(b, key, GGUF_TYPE_INT16, (uint16_t)v); }
bool gguf_builder_add_u32(gguf_builder *b, const char *key, uint32_t v) { return add_scalar(b, key, GGUF_TYPE_UINT32, v); }
bool gguf_builder_add_i32(gguf_builder *b, const char *key, int32_t v) { return add_scalar(b, key, GGUF_TYPE_INT32, (uint32_t)v); }
bool gguf_builder_add_bool(gguf_builder *b, const char *key, bool v) { return add_scalar(b, key, GGUF_TYPE_BOOL, v ? 1 : 0); }
bool gguf_builder_add_u64(gguf_builder *b, const char *key, uint64_t v) { return add_scalar(b, key, GGUF_TYPE_UINT64, v); }
bool gguf_builder_add_i64(gguf_builder *b, const char *key, int64_t v) { return add_scalar(b, key, GGUF_TYPE_INT64, (uint64_t)v); }

bool gguf_builder_add_f32(gguf_builder *b, const char *key, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    return add_scalar(b, key, GGUF_TYPE_FLOAT32, bits);
}

bool gguf_builder_add_f64(gguf_builder *b, const char *key, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return add_scalar(b, key, GGUF_TYPE_FLOAT64, bits);
}

bool gguf_builder_add_u8_keyn(gguf_builder *b, const char *key, size_t key_len, uint8_t v)
{
    if ((!key && key_len) || !begin_kv(b, key ? key : "", key_len, GGUF_TYPE_UINT8) || !bytes_append(&b->kvs, &v, 1))
        return set_failed(b);
    return true;
}

bool gguf_builder_add_str_n(gguf_builder *b, const char *key, const char *value, size_t len)
{
    if (!key || (!value && len) || !begin_kv(b, key, strlen(key), GGUF_TYPE_STRING) ||
        !bytes_str(&b->kvs, value ? value : "", len))
        return set_failed(b);
    return true;
}

bool gguf_builder_add_str(gguf_builder *b, const char *key, const char *value)
{
    return value ? gguf_builder_add_str_n(b, key, value, strlen(value)) : set_failed(b);
}

/* One host value of a scalar type as little-endian bytes. */
static void scalar_to_le(gguf_value_type type, const uint8_t *host, uint8_t *le)
{
    size_t size = value_size(type), i;
    uint64_t bits = 0;
    switch (size) {
    case 1: bits = host[0]; break;
    case 2: { uint16_t v; memcpy(&v, host, 2); bits = v; break; }
    case 4: { uint32_t v; memcpy(&v, host, 4); bits = v; break; }
    case 8: { uint64_t v; memcpy(&v, host, 8); bits = v; break; }
    default: break;
    }
    for (i = 0; i < size; i++)
        le[i] = (uint8_t)(bits >> (8 * i));
}

bool gguf_builder_add_array(gguf_builder *b, const char *key, gguf_value_type elem_type, const void *elems,
                            uint64_t count)
{
    size_t size = value_size(elem_type);
    const uint8_t *host = elems;
    uint64_t i;

    if (!key || size == 0 || (!elems && count) || !begin_kv(b, key, strlen(key), GGUF_TYPE_ARRAY) ||
        !bytes_u32(&b->kvs, (uint32_t)elem_type) || !bytes_u64(&b->kvs, count))
        return set_failed(b);
    for (i = 0; i < count; i++) {
        uint8_t le[8];
        scalar_to_le(elem_type, host + i * size, le);
        if (!bytes_append(&b->kvs, le, size))
            return set_failed(b);
    }
    return true;
}

bool gguf_builder_add_str_array(gguf_builder *b, const char *key, const char *const *strs, uint64_t count)
{
    uint64_t i;
    if (!key || (!strs && count) || !begin_kv(b, key, strlen(key), GGUF_TYPE_ARRAY) ||
        !bytes_u32(&b->kvs, GGUF_TYPE_STRING) || !bytes_u64(&b->kvs, count))
        return set_failed(b);
    for (i = 0; i < count; i++) {
        if (!strs[i] || !bytes_str(&b->kvs, strs[i], strlen(strs[i])))
            return set_failed(b);
    }
    return true;
}

bool gguf_builder_add_raw_kv(gguf_builder *b, const char *key, int32_t type, const void *payload, size_t len)
{
    if (!key || (!payload && len) || !begin_kv(b, key, strlen(key), type) || !bytes_append(&b->kvs, payload, len))
        return set_failed(b);
    return true;
}

/* Byte size of a tensor into *bytes; false for an invalid type or shape. */
static bool tensor_bytes(uint32_t type, uint32_t n_dims, const int64_t *ne, uint64_t *bytes)
{
    const ggml_type_info *info = ggml_type_get(type);
    uint64_t n;
    uint32_t d;

    if (!info || n_dims > GGUF_MAX_DIMS || (n_dims && !ne))
        return false;
    for (d = 0; d < n_dims; d++) {
        if (ne[d] < 0)
            return false;
    }
    /* A 0-dim tensor is one element: only valid for 1-element blocks. */
    if ((n_dims && ne[0] % info->block_size != 0) || (!n_dims && info->block_size != 1))
        return false;
    n = (uint64_t)(n_dims ? ne[0] : 1) / info->block_size * info->type_size;
    for (d = 1; d < n_dims; d++) {
        if (ne[d] && n > UINT64_MAX / (uint64_t)ne[d])
            return false;
        n *= (uint64_t)ne[d];
    }
    *bytes = n;
    return true;
}

uint64_t gguf_builder_tensor_bytes(uint32_t type, uint32_t n_dims, const int64_t *ne)
{
    uint64_t bytes = 0;
    return tensor_bytes(type, n_dims, ne, &bytes) ? bytes : 0;
}

void gguf_builder_fill(uint32_t seed, uint32_t type, uint8_t *out, size_t n_bytes)
{
    size_t i;
    if (type == GGML_TYPE_F32) {
        for (i = 0; i + 4 <= n_bytes; i += 4) {
            float v = (float)((int)((i / 4 + seed) % 17) - 8) / 4.0f;
            memcpy(out + i, &v, 4);
        }
        for (; i < n_bytes; i++)
            out[i] = 0;
    } else {
        uint32_t x = seed * 2654435761u + 0x9e3779b9u;
        for (i = 0; i < n_bytes; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            out[i] = (uint8_t)(x >> 24);
        }
    }
}

bool gguf_builder_add_tensor_data(gguf_builder *b, const char *name, uint32_t type, uint32_t n_dims,
                                  const int64_t *ne, const void *data, size_t n_bytes)
{
    uint64_t want = 0;
    tensor_entry *t;
    uint32_t d;

    if (!gguf_builder_ok(b) || !name || !tensor_bytes(type, n_dims, ne, &want) || want != n_bytes ||
        (n_bytes && !data))
        return set_failed(b);
    if (b->n_tensors == b->cap_tensors) {
        size_t cap = b->cap_tensors ? 2 * b->cap_tensors : 8;
        tensor_entry *ts = realloc(b->tensors, cap * sizeof *ts);
        if (!ts)
            return set_failed(b);
        b->tensors = ts;
        b->cap_tensors = cap;
    }
    t = &b->tensors[b->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = malloc(strlen(name) + 1);
    t->data = malloc(n_bytes ? n_bytes : 1);
    if (!t->name || !t->data) {
        free(t->name);
        free(t->data);
        return set_failed(b);
    }
    memcpy(t->name, name, strlen(name) + 1);
    if (n_bytes)
        memcpy(t->data, data, n_bytes);
    t->type = type;
    t->n_dims = n_dims;
    for (d = 0; d < GGUF_MAX_DIMS; d++)
        t->ne[d] = d < n_dims ? ne[d] : 1;
    t->n_bytes = n_bytes;
    b->n_tensors++;
    return true;
}

bool gguf_builder_add_tensor(gguf_builder *b, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne)
{
    uint64_t n = 0;
    uint8_t *data;
    bool ok;

    if (!gguf_builder_ok(b) || !tensor_bytes(type, n_dims, ne, &n) || n > SIZE_MAX)
        return set_failed(b);
    data = malloc(n ? (size_t)n : 1);
    if (!data)
        return set_failed(b);
    gguf_builder_fill((uint32_t)b->n_tensors, type, data, (size_t)n);
    ok = gguf_builder_add_tensor_data(b, name, type, n_dims, ne, data, (size_t)n);
    free(data);
    return ok;
}

static size_t pad_to(size_t x, size_t a)
{
    return (x + a - 1) & ~(a - 1);
}

uint8_t *gguf_builder_build(gguf_builder *b, size_t *size)
{
    bytes out = {0};
    gguf_builder_kv_pos *kv_pos = NULL;
    gguf_builder_tensor_pos *tensor_pos = NULL;
    uint8_t *result = NULL;
    size_t kv_base, i, offset = 0, data_start;

    if (!gguf_builder_ok(b) || !size)
        goto end;
    kv_pos = calloc(b->n_kv ? b->n_kv : 1, sizeof *kv_pos);
    tensor_pos = calloc(b->n_tensors ? b->n_tensors : 1, sizeof *tensor_pos);
    if (!kv_pos || !tensor_pos)
        goto end;

    bytes_append(&out, "GGUF", 4);
    bytes_u32(&out, b->version);
    bytes_u64(&out, b->n_tensors);
    bytes_u64(&out, b->n_kv);
    kv_base = out.len;
    bytes_append(&out, b->kvs.p, b->kvs.len);
    for (i = 0; i < b->n_kv; i++) {
        kv_pos[i].record = kv_base + b->kv[i].record;
        kv_pos[i].type = kv_base + b->kv[i].type;
        kv_pos[i].value = kv_base + b->kv[i].value;
    }
    for (i = 0; i < b->n_tensors; i++) {
        const tensor_entry *t = &b->tensors[i];
        uint32_t d;
        tensor_pos[i].record = out.len;
        bytes_str(&out, t->name, strlen(t->name));
        tensor_pos[i].n_dims = out.len;
        bytes_u32(&out, t->n_dims);
        tensor_pos[i].ne = out.len;
        for (d = 0; d < t->n_dims; d++)
            bytes_u64(&out, (uint64_t)t->ne[d]);
        tensor_pos[i].type = out.len;
        bytes_u32(&out, t->type);
        tensor_pos[i].offset = out.len;
        bytes_u64(&out, offset);
        tensor_pos[i].n_bytes = t->n_bytes;
        offset += pad_to(t->n_bytes, b->alignment);
    }
    data_start = pad_to(out.len, b->alignment);
    if (b->n_tensors)
        bytes_zeros(&out, data_start - out.len);
    for (i = 0; i < b->n_tensors; i++) {
        const tensor_entry *t = &b->tensors[i];
        bool last = i + 1 == b->n_tensors;
        tensor_pos[i].data = out.len;
        bytes_append(&out, t->data, t->n_bytes);
        if (!last || b->trailing_padding)
            bytes_zeros(&out, pad_to(t->n_bytes, b->alignment) - t->n_bytes);
    }
    if (out.failed)
        goto end;
    free(b->kv_pos);
    free(b->tensor_pos);
    b->kv_pos = kv_pos;
    b->tensor_pos = tensor_pos;
    kv_pos = NULL;
    tensor_pos = NULL;
    b->data_start = data_start;
    b->built = true;
    /* Shrink to exactly the image size so ASan sees reads past the end. */
    result = gguf_bytes_dup(out.p, out.len);
    if (result)
        *size = out.len;
end:
    free(out.p);
    free(kv_pos);
    free(tensor_pos);
    return result;
}

size_t gguf_builder_n_kv(const gguf_builder *b) { return b ? b->n_kv : 0; }
size_t gguf_builder_n_tensors(const gguf_builder *b) { return b ? b->n_tensors : 0; }

const gguf_builder_kv_pos *gguf_builder_kv_pos_at(const gguf_builder *b, size_t i)
{
    return b && b->built && i < b->n_kv ? &b->kv_pos[i] : NULL;
}

const gguf_builder_tensor_pos *gguf_builder_tensor_pos_at(const gguf_builder *b, size_t i)
{
    return b && b->built && i < b->n_tensors ? &b->tensor_pos[i] : NULL;
}

size_t gguf_builder_data_start(const gguf_builder *b)
{
    return b ? b->data_start : 0;
}

void gguf_patch_u8(uint8_t *img, size_t pos, uint8_t v)
{
    img[pos] = v;
}

void gguf_patch_u32(uint8_t *img, size_t pos, uint32_t v)
{
    size_t i;
    for (i = 0; i < 4; i++)
        img[pos + i] = (uint8_t)(v >> (8 * i));
}

void gguf_patch_i32(uint8_t *img, size_t pos, int32_t v)
{
    gguf_patch_u32(img, pos, (uint32_t)v);
}

void gguf_patch_u64(uint8_t *img, size_t pos, uint64_t v)
{
    size_t i;
    for (i = 0; i < 8; i++)
        img[pos + i] = (uint8_t)(v >> (8 * i));
}

void gguf_patch_i64(uint8_t *img, size_t pos, int64_t v)
{
    gguf_patch_u64(img, pos, (uint64_t)v);
}

uint32_t gguf_peek_u32(const uint8_t *img, size_t pos)
{
    return (uint32_t)img[pos] | (uint32_t)img[pos + 1] << 8 | (uint32_t)img[pos + 2] << 16 |
           (uint32_t)img[pos + 3] << 24;
}

uint64_t gguf_peek_u64(const uint8_t *img, size_t pos)
{
    return (uint64_t)gguf_peek_u32(img, pos) | (uint64_t)gguf_peek_u32(img, pos + 4) << 32;
}

uint8_t *gguf_bytes_dup(const uint8_t *img, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (copy && size)
        memcpy(copy, img, size);
    return copy;
}

bool gguf_write_file(const char *path, const uint8_t *img, size_t size)
{
    FILE *fp = fopen(path, "wb");
    bool ok;
    if (!fp)
        return false;
    ok = fwrite(img, 1, size, fp) == size;
    ok = fclose(fp) == 0 && ok;
    return ok;
}
