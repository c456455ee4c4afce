/*
 * gguf: a read-only, validating reader for GGUF v2/v3 files.
 *
 * The file is memory-mapped (PROT_READ, MAP_PRIVATE); nothing of the tensor
 * data is copied or touched by opening. Parsing allocates O(n_kv + n_tensors)
 * and every string (key, tensor name, string value) is an emb_str view into
 * the mapping, valid until gguf_close().
 *
 * Everything is validated before use (docs/format.md §1): each count and length
 * against the bytes left, overflow-checked shapes and byte sizes, n_dims <= 4,
 * known type ids, rows made of whole blocks, tensor data inside the file,
 * duplicate keys and tensor names, general.alignment a UINT32 power of two,
 * no arrays of arrays, version 2 or 3. After a successful open every pointer
 * the API hands out is inside the mapping, so callers need no re-checks.
 *
 * Keys and tensor names must be non-empty and free of NUL bytes; tensor names
 * are at most 256 bytes (docs/gguf-reader.md lists every rule).
 *
 * Errors (emb_error) name the file, the byte offset, what was found and what
 * was expected, e.g.
 *   "gguf: f.gguf: offset 8: tensor count 4611686018427387904 needs at least 25 bytes per tensor info but only 120 bytes are left"
 *
 * Thread-safety: a gguf_file is immutable after open; any number of threads
 * may read it concurrently. Close it once, when no thread uses it.
 */
#ifndef EMB_GGUF_H
#define EMB_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emb_error.h"

/* A byte-string view (not NUL-terminated). */
typedef struct emb_str {
    const char *ptr;
    size_t len;
} emb_str;

typedef enum gguf_value_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT = 13
} gguf_value_type;

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

/* One key/value record. For scalars `data` points at the value bytes (may be
 * unaligned: read through the accessors). For STRING, `str` is the value.
 * For ARRAY, `arr_type` is the element type, `arr_count` the element count and
 * `data` points at the first element. */
typedef struct gguf_kv {
    emb_str key;
    gguf_value_type type;
    gguf_value_type arr_type; /* meaningful only when type == GGUF_TYPE_ARRAY */
    uint64_t arr_count;       /* ditto                                       */
    emb_str str;              /* meaningful only when type == GGUF_TYPE_STRING */
    const uint8_t *data;
    uint64_t file_offset;     /* absolute offset of the record's key         */
} gguf_kv;

typedef struct gguf_tensor {
    emb_str name;
    uint32_t n_dims;             /* 0..4 as stored                      */
    int64_t ne[GGUF_MAX_DIMS];   /* unused dims are 1; ne[0] contiguous */
    uint32_t type;               /* ggml type id, valid per ggml_types.h */
    uint64_t offset;             /* relative to the data section        */
    uint64_t abs_offset;         /* absolute offset in the file         */
    uint64_t n_elements;
    uint64_t n_bytes;
    uint64_t row_bytes;          /* bytes of one ne[0]-row               */
    const uint8_t *data;         /* into the mapping: n_bytes readable   */
} gguf_tensor;

typedef struct gguf_file gguf_file;

/* Map and parse `path`. Returns a new gguf_file owned by the caller (free with
 * gguf_close), or NULL with *err filled. */
gguf_file *gguf_open(const char *path, emb_error *err);

/* Parse a GGUF image already in memory (tests, fuzzing). Nothing is copied:
 * the caller keeps `data` alive and unchanged until gguf_close(). `name` is
 * used in error messages (copied). */
gguf_file *gguf_open_memory(const void *data, size_t size, const char *name, emb_error *err);

/* Unmap and free. Accepts NULL. */
void gguf_close(gguf_file *f);

/*
 * Whether the file behind a mapped gguf_file changed since gguf_open mapped
 * it: the mapped inode's size, mtime or ctime differ now (fstat on the
 * descriptor that was mapped, kept open for this), or a page of the mapping
 * could not be read because the file shrank under it (map_guard.h), or --
 * when `path` is given -- `path` now names another file or another version of
 * it. A `path` that no longer exists is no change: the mapping still holds the
 * unlinked file, which nobody can modify through that path any more.
 * Memory images never change. A modification that keeps the size and lands in
 * the same timestamp tick as the previous write (the kernel's coarse clock,
 * a few ms) cannot be seen; ctime rules out restored mtimes (cp -p, touch -d).
 */
bool gguf_file_changed(const gguf_file *f, const char *path);

const char *gguf_name(const gguf_file *f);       /* path or memory name */
uint32_t gguf_version(const gguf_file *f);
uint64_t gguf_file_size(const gguf_file *f);
uint32_t gguf_alignment(const gguf_file *f);
uint64_t gguf_data_offset(const gguf_file *f);   /* absolute start of data */
const uint8_t *gguf_base(const gguf_file *f);    /* start of the mapping   */

size_t gguf_n_kv(const gguf_file *f);
const gguf_kv *gguf_kv_at(const gguf_file *f, size_t i);          /* NULL if i out of range */
const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key); /* NULL if absent */

size_t gguf_n_tensors(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, size_t i);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Name of a value type ("UINT32", "STRING", "ARRAY", ...); "?" if invalid. */
const char *gguf_value_type_name(gguf_value_type t);

/* Size in bytes of one scalar of type t (0 for STRING/ARRAY/invalid). */
size_t gguf_value_type_size(gguf_value_type t);

/*
 * Typed accessors by key. Each returns EMB_OK and writes *out on success;
 * EMB_ERR_NOT_FOUND if the key is absent; EMB_ERR_TYPE if the stored type
 * cannot be read as asked (a string asked as u32, an array asked as scalar);
 * EMB_ERR_RANGE if an integer does not fit (negative as unsigned, > UINT32_MAX
 * as u32). Integer accessors accept any integer type (not BOOL); float
 * accessors accept FLOAT32/FLOAT64; bool accepts BOOL only. *err names the
 * file, the key, the stored type and the wanted type. *out is written only on
 * success.
 */
emb_code gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, emb_error *err);
emb_code gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, emb_error *err);
emb_code gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, emb_error *err);
emb_code gguf_get_f32(const gguf_file *f, const char *key, float *out, emb_error *err);
emb_code gguf_get_f64(const gguf_file *f, const char *key, double *out, emb_error *err);
emb_code gguf_get_bool(const gguf_file *f, const char *key, bool *out, emb_error *err);
emb_code gguf_get_str(const gguf_file *f, const char *key, emb_str *out, emb_error *err);
/* The kv must be an ARRAY (any element type); writes it to *out. */
emb_code gguf_get_array(const gguf_file *f, const char *key, const gguf_kv **out, emb_error *err);

/* Scalar readers for a kv already in hand (same rules as above, no key lookup). */
emb_code gguf_kv_as_i64(const gguf_kv *kv, int64_t *out);   /* any integer type; BOOL and others -> EMB_ERR_TYPE */
emb_code gguf_kv_as_u64(const gguf_kv *kv, uint64_t *out);  /* EMB_ERR_RANGE if negative */
emb_code gguf_kv_as_f64(const gguf_kv *kv, double *out);    /* FLOAT32/FLOAT64 only */

/* Element i of a numeric ARRAY kv (i < arr_count), converted like above.
 * EMB_ERR_TYPE if the elements are strings (or the kv is no array),
 * EMB_ERR_RANGE if i is out of range or the value does not fit. */
emb_code gguf_arr_get_i64(const gguf_kv *kv, uint64_t i, int64_t *out);
emb_code gguf_arr_get_u64(const gguf_kv *kv, uint64_t i, uint64_t *out);
emb_code gguf_arr_get_f64(const gguf_kv *kv, uint64_t i, double *out);

/* Walk an ARRAY of STRING: calls fn(ctx, index, value) for each element in
 * order; stops early and returns fn's non-zero return. Returns EMB_ERR_TYPE if
 * kv is not an array of strings. The array was validated at open, so this
 * cannot read outside the mapping. O(1) memory; each call re-walks from the
 * start (O(total string bytes)). */
typedef int (*gguf_str_visitor)(void *ctx, uint64_t index, emb_str value);
int gguf_arr_foreach_str(const gguf_kv *kv, gguf_str_visitor fn, void *ctx);

/* Compare a view with a NUL-terminated string. */
bool emb_str_eq(emb_str s, const char *cstr);

#endif
