/*
 * gguf_builder: a small in-memory GGUF writer for tests.
 *
 * Build a valid GGUF image key by key and tensor by tensor, get its bytes,
 * then (for corruption tests) patch fields at the positions the builder
 * reports. Independent of the reader in src/: it only shares gguf.h's type
 * ids and ggml_types.h's block sizes.
 *
 *   gguf_builder *b = gguf_builder_create();
 *   gguf_builder_add_str(b, "general.architecture", "bert");
 *   gguf_builder_add_u32(b, "bert.block_count", 2);
 *   const char *tokens[] = {"[PAD]", "[UNK]"};
 *   gguf_builder_add_str_array(b, "tokenizer.ggml.tokens", tokens, 2);
 *   int64_t ne[2] = {64, 3};
 *   gguf_builder_add_tensor(b, "token_embd.weight", GGML_TYPE_Q8_0, 2, ne);
 *   size_t size;
 *   uint8_t *img = gguf_builder_build(b, &size);    // caller frees with free()
 *   gguf_patch_u32(img, gguf_builder_tensor_pos_at(b, 0)->n_dims, 5);
 *   gguf_builder_destroy(b);
 *
 * Layout written (docs/format.md §1.1): header, key/value records in the order added,
 * tensor infos in the order added, zero padding to the alignment, tensor data
 * in the same order, each tensor's data padded with zeros to the alignment
 * (the last one too unless gguf_builder_set_trailing_padding(b, false)).
 * Offsets are the running sum of padded sizes, as gguf-py and ggml write them.
 *
 * Error handling: add/set functions return false on invalid arguments or out
 * of memory and make the builder "failed" (sticky); gguf_builder_build then
 * returns NULL. Check gguf_builder_ok() or the build result once.
 *
 * The builder does not check duplicate keys or names, nor that
 * general.alignment matches the layout alignment: tests use that freedom to
 * write invalid files.
 */
#ifndef GGUF_BUILDER_H
#define GGUF_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ggml_types.h"
#include "gguf.h"

typedef struct gguf_builder gguf_builder;

/* Byte positions (from the start of the image) of one key/value record in
 * the last built image. */
typedef struct gguf_builder_kv_pos {
    size_t record; /* the key's u64 length field                                   */
    size_t type;   /* the i32 value-type field                                     */
    size_t value;  /* the value: scalar bytes; a STRING's u64 length field; an
                      ARRAY's i32 element-type field (count at value + 4,
                      first element at value + 12)                                 */
} gguf_builder_kv_pos;

/* Byte positions of one tensor info and its data in the last built image. */
typedef struct gguf_builder_tensor_pos {
    size_t record; /* the name's u64 length field            */
    size_t n_dims; /* the u32 n_dims field                   */
    size_t ne;     /* ne[0] (an i64); ne[d] is at ne + 8 * d */
    size_t type;   /* the i32 ggml type field                */
    size_t offset; /* the u64 data-offset field              */
    size_t data;   /* absolute position of the tensor data   */
    size_t n_bytes;/* bytes of data (without padding)        */
} gguf_builder_tensor_pos;

/* A new builder: version 3, alignment 32, no keys, no tensors. Free with
 * gguf_builder_destroy. NULL on out of memory. */
gguf_builder *gguf_builder_create(void);

/* Accepts NULL. */
void gguf_builder_destroy(gguf_builder *b);

/* Value of the header's version field (default 3); any value, for tests. */
void gguf_builder_set_version(gguf_builder *b, uint32_t version);

/* Alignment used for the layout only (padding, offsets); default 32. Must be
 * a power of two. Does not add a general.alignment key. */
bool gguf_builder_set_layout_alignment(gguf_builder *b, uint32_t alignment);

/* Layout alignment plus a general.alignment UINT32 key appended now. */
bool gguf_builder_set_alignment(gguf_builder *b, uint32_t alignment);

/* Whether the last tensor's data is padded to the alignment (default true). */
void gguf_builder_set_trailing_padding(gguf_builder *b, bool pad);

/* Scalar keys; the key is copied. */
bool gguf_builder_add_u8(gguf_builder *b, const char *key, uint8_t v);
bool gguf_builder_add_i8(gguf_builder *b, const char *key, int8_t v);
bool gguf_builder_add_u16(gguf_builder *b, const char *key, uint16_t v);
bool gguf_builder_add_i16(gguf_builder *b, const char *key, int16_t v);
bool gguf_builder_add_u32(gguf_builder *b, const char *key, uint32_t v);
bool gguf_builder_add_i32(gguf_builder *b, const char *key, int32_t v);
bool gguf_builder_add_f32(gguf_builder *b, const char *key, float v);
bool gguf_builder_add_bool(gguf_builder *b, const char *key, bool v);
bool gguf_builder_add_u64(gguf_builder *b, const char *key, uint64_t v);
bool gguf_builder_add_i64(gguf_builder *b, const char *key, int64_t v);
bool gguf_builder_add_f64(gguf_builder *b, const char *key, double v);

/* STRING keys: NUL-terminated, or `len` bytes (may hold NULs). */
bool gguf_builder_add_str(gguf_builder *b, const char *key, const char *value);
bool gguf_builder_add_str_n(gguf_builder *b, const char *key, const char *value, size_t len);

/* Key with a key of `key_len` bytes (may be empty or hold NULs) and a UINT8
 * value; for tests of invalid keys. */
bool gguf_builder_add_u8_keyn(gguf_builder *b, const char *key, size_t key_len, uint8_t v);

/* ARRAY of a scalar type: `elems` holds `count` host values of the element's
 * C type (uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float,
 * bool (1 byte), uint64_t, int64_t, double). elem_type must be a scalar type. */
bool gguf_builder_add_array(gguf_builder *b, const char *key, gguf_value_type elem_type, const void *elems,
                            uint64_t count);

/* ARRAY of STRING from `count` NUL-terminated strings. */
bool gguf_builder_add_str_array(gguf_builder *b, const char *key, const char *const *strs, uint64_t count);

/* A record with any type id and the value bytes exactly as given (unknown
 * types, arrays of arrays, truncated values...). */
bool gguf_builder_add_raw_kv(gguf_builder *b, const char *key, int32_t type, const void *payload, size_t len);

/* A tensor of a valid ggml type with shape ne[0..n_dims-1] (n_dims <= 4, ne
 * >= 0, ne[0] a multiple of the block size), filled with
 * gguf_builder_fill(index, type, ...) where index is the tensor's position. */
bool gguf_builder_add_tensor(gguf_builder *b, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne);

/* Same with the data given: n_bytes must equal gguf_builder_tensor_bytes(). */
bool gguf_builder_add_tensor_data(gguf_builder *b, const char *name, uint32_t type, uint32_t n_dims,
                                  const int64_t *ne, const void *data, size_t n_bytes);

/* False once any add/set failed. */
bool gguf_builder_ok(const gguf_builder *b);

/* The image: a malloc()ed buffer of exactly *size bytes, owned by the caller
 * (free()). NULL if the builder failed or on out of memory. Positions of this
 * image are then available below (until the next build). */
uint8_t *gguf_builder_build(gguf_builder *b, size_t *size);

size_t gguf_builder_n_kv(const gguf_builder *b);
size_t gguf_builder_n_tensors(const gguf_builder *b);
/* Positions in the last built image; NULL if i is out of range or nothing was built. */
const gguf_builder_kv_pos *gguf_builder_kv_pos_at(const gguf_builder *b, size_t i);
const gguf_builder_tensor_pos *gguf_builder_tensor_pos_at(const gguf_builder *b, size_t i);
/* Absolute start of the data section in the last built image. */
size_t gguf_builder_data_start(const gguf_builder *b);

/* Bytes of a tensor of this type and shape; 0 if the type is invalid, a dim is
 * negative, ne[0] is not a whole number of blocks or the size overflows. */
uint64_t gguf_builder_tensor_bytes(uint32_t type, uint32_t n_dims, const int64_t *ne);

/* The deterministic fill of gguf_builder_add_tensor: for F32, the floats
 * ((i + seed) % 17 - 8) / 4; for every other type, bytes from a xorshift32
 * stream seeded with seed (arbitrary bit patterns, not meaningful values). */
void gguf_builder_fill(uint32_t seed, uint32_t type, uint8_t *out, size_t n_bytes);

/* --- raw patching of an image (little-endian, unaligned) ----------------- */
void gguf_patch_u8(uint8_t *img, size_t pos, uint8_t v);
void gguf_patch_u32(uint8_t *img, size_t pos, uint32_t v);
void gguf_patch_i32(uint8_t *img, size_t pos, int32_t v);
void gguf_patch_u64(uint8_t *img, size_t pos, uint64_t v);
void gguf_patch_i64(uint8_t *img, size_t pos, int64_t v);
uint32_t gguf_peek_u32(const uint8_t *img, size_t pos);
uint64_t gguf_peek_u64(const uint8_t *img, size_t pos);

/* A malloc()ed copy of the first `size` bytes of img, exactly `size` bytes
 * long (so that ASan reports any read past the end); caller frees. NULL on
 * out of memory. Also valid for size 0 (returns a 1-byte allocation). */
uint8_t *gguf_bytes_dup(const uint8_t *img, size_t size);

/* Write the bytes to `path` (created or truncated). Returns false on error. */
bool gguf_write_file(const char *path, const uint8_t *img, size_t size);

#endif
