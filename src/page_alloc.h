/*
 * page_alloc: large, short-lived working buffers straight from the kernel.
 *
 * Why not malloc: glibc raises its mmap threshold to the size of the last
 * freed mmapped block (up to 32 MiB), so after the first embed() the forward
 * workspace (MBs) comes from the brk heap, which a host process rarely gets
 * back; measured in Node: +47..+123 MiB of private memory kept after a few
 * hundred calls. A private anonymous mapping is returned to the kernel by
 * munmap, whatever the host's allocator does, so the extra private memory of
 * an embed() is bounded by its workspace and gone when it returns.
 *
 * Pages are zero-filled by the kernel and touched only when written.
 * Thread-safe (no state).
 */
#ifndef EMB_PAGE_ALLOC_H
#define EMB_PAGE_ALLOC_H

#include <stddef.h>

/* A page-aligned block of n bytes (n > 0), or NULL. Free with
 * emb_pages_free(p, n) using the same n. */
void *emb_pages_alloc(size_t n);

/* Accepts NULL. */
void emb_pages_free(void *p, size_t n);

#endif
