/*
 * gguf_private: the gguf_file struct and helpers shared by gguf_parse.c
 * (open, validate) and gguf_access.c (lookups, typed accessors). Not part of
 * the public API; nothing outside src/gguf_*.c includes this.
 */
#ifndef EMB_GGUF_PRIVATE_H
#define EMB_GGUF_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "gguf.h"

/* Room for the name as shown in messages: long paths keep their tail. */
#define GGUF_LABEL_MAX 100

struct gguf_file {
    char *name;                 /* owned copy of the path / memory name     */
    char label[GGUF_LABEL_MAX]; /* name shortened for error messages        */
    const uint8_t *base;        /* start of the image                        */
    uint64_t size;              /* bytes in the image                        */
    void *map;                  /* mmap()ed region, NULL for memory images   */
    size_t map_len;
    int fd;                     /* the mapped file, kept open to fstat it; -1 for memory images */
    int guard;                  /* map_guard slot of the mapping, or -1      */
    struct stat st;             /* fstat(fd) when it was mapped: the identity */
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;       /* absolute; may exceed size when there are no tensors */
    size_t n_kv;
    gguf_kv *kvs;               /* owned, n_kv records in file order         */
    const gguf_kv **kv_by_key;  /* owned, pointers into kvs sorted by key    */
    size_t n_tensors;
    gguf_tensor *tensors;       /* owned, file order                         */
    const gguf_tensor **tensor_by_name; /* owned, sorted by name             */
};

/* Little-endian decoding from possibly unaligned bytes (GGUF is little-endian
 * whatever the host is). */
static inline uint16_t gguf_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static inline uint32_t gguf_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t gguf_le64(const uint8_t *p)
{
    return (uint64_t)gguf_le32(p) | (uint64_t)gguf_le32(p + 4) << 32;
}

/* Total order on byte strings (memcmp on the common prefix, then shorter
 * first); the order kv_by_key and tensor_by_name are sorted in. */
int gguf_str_order(emb_str a, emb_str b);

/* Write `s` into out[cap] for an error message: printable ASCII kept,
 * quotes/backslashes and other bytes escaped as \xNN, cut with "..." when
 * longer than about 48 characters. Always NUL-terminates (cap >= 8). */
void gguf_format_name(char *out, size_t cap, emb_str s);

#endif
