/*
 * alloc_count: the heap the engine really uses, counted at link time.
 *
 * A test executable linked with the flags of tests/cmake/00_alloc_count.cmake
 * (-Wl,--wrap=malloc,calloc,realloc,aligned_alloc,free,emb_pages_alloc,
 * emb_pages_free) sends every allocation of the engine code linked into it
 * through the wrappers of alloc_count.c: they add malloc_usable_size() of
 * live blocks and the exact size of page mappings (the forward workspace)
 * and keep the peak. OpenBLAS (dlopen()ed) allocates through libc directly
 * and is not counted: its buffers are its own, sized by its thread count,
 * not by our input.
 *
 * The counters are atomic: the pool's workers allocate too (a batcher runs
 * whole forward passes on them). The peak is exact for one thread at a time
 * and never below the true peak with several.
 *
 * Without the wrap flags this object is never linked in (nothing refers to
 * it), so other tests keep the plain allocator.
 */
#ifndef EMB_TEST_ALLOC_COUNT_H
#define EMB_TEST_ALLOC_COUNT_H

#include <stddef.h>

/* Bytes live now (blocks + mappings). */
size_t alloc_live(void);

/* Starts a measurement: the peak becomes the live count, the largest mapping
 * 0. Returns the live count (the base to subtract from alloc_peak()). */
size_t alloc_mark(void);

/* The highest live count since alloc_mark(). */
size_t alloc_peak(void);

/* The largest page mapping (emb_pages_alloc) since alloc_mark(). */
size_t alloc_largest_mapping(void);

/* Makes emb_pages_alloc fail (return NULL) for `count` calls after the next
 * `after` calls, then succeed again; count SIZE_MAX: for good.
 * alloc_fail_pages(0, 0) (the default): never fail. */
void alloc_fail_pages(size_t after, size_t count);

#endif
