#include "alloc_count.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t k);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
void __real_free(void *p);
void *__real_emb_pages_alloc(size_t n);
void __real_emb_pages_free(void *p, size_t n);

static atomic_size_t g_live, g_peak, g_largest_mapping;
static atomic_size_t g_pages_calls, g_fail_from, g_fail_count;

static void raise_to(atomic_size_t *max, size_t v)
{
    size_t cur = atomic_load(max);
    while (v > cur && !atomic_compare_exchange_weak(max, &cur, v))
        ;
}

static void add_live(size_t n)
{
    raise_to(&g_peak, atomic_fetch_add(&g_live, n) + n);
}

static void count_in(void *p)
{
    if (p)
        add_live(malloc_usable_size(p));
}

size_t alloc_live(void)
{
    return atomic_load(&g_live);
}

size_t alloc_mark(void)
{
    size_t live = atomic_load(&g_live);
    atomic_store(&g_peak, live);
    atomic_store(&g_largest_mapping, 0);
    return live;
}

size_t alloc_peak(void)
{
    return atomic_load(&g_peak);
}

size_t alloc_largest_mapping(void)
{
    return atomic_load(&g_largest_mapping);
}

void alloc_fail_pages(size_t after, size_t count)
{
    atomic_store(&g_fail_count, 0);
    atomic_store(&g_pages_calls, 0);
    atomic_store(&g_fail_from, after);
    atomic_store(&g_fail_count, count);
}

void *__wrap_malloc(size_t n)
{
    void *p = __real_malloc(n);
    count_in(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t k)
{
    void *p = __real_calloc(n, k);
    count_in(p);
    return p;
}

void *__wrap_aligned_alloc(size_t a, size_t n)
{
    void *p = __real_aligned_alloc(a, n);
    count_in(p);
    return p;
}

void *__wrap_realloc(void *old, size_t n)
{
    size_t before = old ? malloc_usable_size(old) : 0;
    void *p = __real_realloc(old, n);
    if (p || n == 0) {
        atomic_fetch_sub(&g_live, before);
        count_in(p);
    }
    return p;
}

void __wrap_free(void *p)
{
    if (p)
        atomic_fetch_sub(&g_live, malloc_usable_size(p));
    __real_free(p);
}

/* Whether this call falls in the failing window alloc_fail_pages() set. */
static int pages_fail_now(void)
{
    size_t i = atomic_fetch_add(&g_pages_calls, 1);
    size_t from = atomic_load(&g_fail_from), count = atomic_load(&g_fail_count);
    return i >= from && i - from < count;
}

void *__wrap_emb_pages_alloc(size_t n)
{
    if (pages_fail_now())
        return NULL;
    void *p = __real_emb_pages_alloc(n);
    if (p) {
        raise_to(&g_largest_mapping, n);
        add_live(n);
    }
    return p;
}

void __wrap_emb_pages_free(void *p, size_t n)
{
    if (p)
        atomic_fetch_sub(&g_live, n);
    __real_emb_pages_free(p, n);
}
