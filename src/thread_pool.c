#include "thread_pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define MAX_WORKERS (EMB_POOL_MAX_THREADS - 1)

/*
 * One process-wide pool. Everything below is guarded by g.mu except the item
 * counter of the running region (atomic) and the region description, which
 * the leaseholder writes before waking the workers and does not change until
 * they have all reported back.
 *
 * Worker w (0-based; thread number w + 1 in a region) sleeps on its own
 * condition variable until the region generation moves past the last one it
 * saw; only the workers a region needs are signalled.
 */
static struct {
    pthread_mutex_t mu;
    size_t size;        /* threads wanted, caller included; 0 = default (not yet computed) */
    size_t n_workers;   /* started and not yet joined                                       */
    size_t retire_from; /* workers with index >= this exit (shrinking); MAX_WORKERS = none  */
    bool leased;        /* a lease owns the workers                                         */
    bool shutdown;      /* the destructor ran: no workers any more, regions run inline      */

    /* the current region */
    unsigned long gen;
    size_t region_workers; /* workers taking part: indices [0, region_workers)          */
    size_t pending;        /* of those, not finished yet                                 */
    emb_pool_task fn;
    void *ctx;
    size_t n_items;
    atomic_size_t next;
    pthread_cond_t done_cv; /* leaseholder waits for pending == 0 */

    pthread_t tid[MAX_WORKERS];
    pthread_cond_t wake[MAX_WORKERS];
    unsigned long seen[MAX_WORKERS]; /* last generation worker w looked at */
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .retire_from = MAX_WORKERS};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* done_cv's timed waits (emb_pool_run_polled) count on the monotonic clock:
 * a change of the wall clock must not stop the polling. */
static void init_done_cv(void)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) == 0) {
        (void)pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&g.done_cv, &attr);
        pthread_condattr_destroy(&attr);
    } else {
        pthread_cond_init(&g.done_cv, NULL);
    }
}

static void run_items(emb_pool_task fn, void *ctx, size_t n_items, size_t thread)
{
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&g.next, 1, memory_order_relaxed);
        if (i >= n_items)
            return;
        fn(ctx, i, thread);
    }
}

static void *worker_main(void *arg)
{
    size_t w = (size_t)(uintptr_t)arg;
    pthread_mutex_lock(&g.mu);
    for (;;) {
        if (g.gen != g.seen[w]) {
            g.seen[w] = g.gen;
            if (w < g.region_workers) {
                emb_pool_task fn = g.fn;
                void *ctx = g.ctx;
                size_t n = g.n_items;
                pthread_mutex_unlock(&g.mu);
                run_items(fn, ctx, n, w + 1);
                pthread_mutex_lock(&g.mu);
                if (--g.pending == 0)
                    pthread_cond_signal(&g.done_cv);
            }
            continue;
        }
        if (g.shutdown || w >= g.retire_from)
            break;
        pthread_cond_wait(&g.wake[w], &g.mu);
    }
    pthread_mutex_unlock(&g.mu);
    return NULL;
}

/* ---- process events -------------------------------------------------------------- */

static void atfork_prepare(void)
{
    pthread_mutex_lock(&g.mu);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&g.mu);
}

/* The child has only the forking thread: no workers, and no lease (the thread
 * that held one is not here). Condition variables may hold state of threads
 * that do not exist: make them new. */
static void atfork_child(void)
{
    g.n_workers = 0;
    g.retire_from = MAX_WORKERS;
    g.leased = false;
    g.region_workers = 0;
    g.pending = 0;
    init_done_cv();
    for (size_t w = 0; w < MAX_WORKERS; w++)
        pthread_cond_init(&g.wake[w], NULL);
    pthread_mutex_unlock(&g.mu);
}

static void init_once(void)
{
    init_done_cv();
    for (size_t w = 0; w < MAX_WORKERS; w++)
        pthread_cond_init(&g.wake[w], NULL);
    /* Registered by this shared object: glibc drops the handlers when it is
     * unloaded. Failure (ENOMEM) only loses fork safety of the pool; the
     * engine still works, so it is not an error. */
    (void)pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* Joins workers [from, n_workers). Called with g.mu held by the leaseholder
 * or the destructor (no region runs); returns with it held. */
static void stop_workers_from(size_t from)
{
    size_t n = g.n_workers;
    if (from >= n)
        return;
    g.retire_from = from;
    for (size_t w = from; w < n; w++)
        pthread_cond_signal(&g.wake[w]);
    pthread_mutex_unlock(&g.mu);
    for (size_t w = from; w < n; w++)
        pthread_join(g.tid[w], NULL);
    pthread_mutex_lock(&g.mu);
    g.n_workers = from;
    g.retire_from = MAX_WORKERS;
}

/* Stop every worker when the library is unloaded or the process exits: a
 * sleeping thread must not outlive the code it would wake up in. A lease
 * still held means a call is in flight, which can only be process exit with
 * another thread embedding (unloading the code under a running call is the
 * host's error): its workers may be blocked for good at their next sgemm
 * (blas.c keeps calls out once exit has begun), so they are not joined; the
 * code stays mapped and exit_group ends them. */
__attribute__((destructor)) static void pool_shutdown(void)
{
    pthread_mutex_lock(&g.mu);
    g.shutdown = true;
    size_t n = g.n_workers;
    for (size_t w = 0; w < n; w++)
        pthread_cond_signal(&g.wake[w]);
    bool in_flight = g.leased;
    pthread_mutex_unlock(&g.mu);
    if (in_flight)
        return;
    for (size_t w = 0; w < n; w++)
        pthread_join(g.tid[w], NULL);
    pthread_mutex_lock(&g.mu);
    g.n_workers = 0;
    pthread_mutex_unlock(&g.mu);
}

/* ---- size ---------------------------------------------------------------------------- */

size_t emb_pool_default_threads(void)
{
    size_t n = 1;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int c = CPU_COUNT(&set);
        if (c > 1)
            n = (size_t)c;
    }
    return n < EMB_POOL_DEFAULT_MAX ? n : EMB_POOL_DEFAULT_MAX;
}

/* g.mu held. */
static size_t size_locked(void)
{
    if (g.size == 0)
        g.size = emb_pool_default_threads();
    return g.size;
}

size_t emb_pool_threads(void)
{
    pthread_mutex_lock(&g.mu);
    size_t n = size_locked();
    pthread_mutex_unlock(&g.mu);
    return n;
}

emb_code emb_pool_set_threads(size_t n, emb_error *err)
{
    if (n < 1 || n > EMB_POOL_MAX_THREADS)
        return emb_error_set(err, EMB_ERR_RANGE, "threads: %zu threads, expected 1 to %d", n,
                             EMB_POOL_MAX_THREADS);
    pthread_mutex_lock(&g.mu);
    g.size = n;
    pthread_mutex_unlock(&g.mu);
    return EMB_OK;
}

size_t emb_pool_workers_running(void)
{
    pthread_mutex_lock(&g.mu);
    size_t n = g.n_workers;
    pthread_mutex_unlock(&g.mu);
    return n;
}

/* ---- leases and regions ------------------------------------------------------------------ */

/* Start worker w with every signal blocked: the host's handlers (Node's,
 * Python's) must run on the host's threads, never on ours. g.mu held. */
static bool start_worker(size_t w)
{
    sigset_t all, old;
    sigfillset(&all);
    /* Faults are delivered to the thread that faults, and a blocked fault
     * signal kills the process: keep them deliverable (map_guard's SIGBUS
     * handler turns a model file cut short under a worker into an error). */
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    g.seen[w] = g.gen;
    int rc = pthread_create(&g.tid[w], NULL, worker_main, (void *)(uintptr_t)w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0;
}

emb_pool_lease emb_pool_acquire(size_t want)
{
    emb_pool_lease lease = {1, 0};
    pthread_once(&g_once, init_once);
    pthread_mutex_lock(&g.mu);
    size_t size = size_locked();
    if (want == 0 || want > size)
        want = size;
    if (g.leased || g.shutdown) {
        pthread_mutex_unlock(&g.mu);
        return lease;
    }
    if (g.n_workers > size - 1)
        stop_workers_from(size - 1); /* the size shrank since the last lease */
    if (want <= 1) {
        pthread_mutex_unlock(&g.mu);
        return lease;
    }
    g.leased = true;
    while (g.n_workers < want - 1 && start_worker(g.n_workers))
        g.n_workers++;
    lease.n = g.n_workers + 1 < want ? g.n_workers + 1 : want;
    lease.owns_pool = 1;
    if (lease.n == 1) {
        g.leased = false;
        lease.owns_pool = 0;
    }
    pthread_mutex_unlock(&g.mu);
    return lease;
}

void emb_pool_release(emb_pool_lease *lease)
{
    if (lease->owns_pool) {
        pthread_mutex_lock(&g.mu);
        g.leased = false;
        pthread_mutex_unlock(&g.mu);
    }
    lease->owns_pool = 0;
    lease->n = 1;
}

/* Waits (g.mu held) until the region's workers are done, calling poll every
 * EMB_POOL_POLL_MS meanwhile if there is one. */
static void wait_region(void (*poll)(void *), void *poll_ctx)
{
    while (g.pending > 0) {
        if (!poll) {
            pthread_cond_wait(&g.done_cv, &g.mu);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += EMB_POOL_POLL_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&g.done_cv, &g.mu, &until) == ETIMEDOUT && g.pending > 0) {
            pthread_mutex_unlock(&g.mu);
            poll(poll_ctx);
            pthread_mutex_lock(&g.mu);
        }
    }
}

void emb_pool_run(const emb_pool_lease *lease, size_t n_threads, emb_pool_task fn, void *ctx,
                  size_t n_items)
{
    emb_pool_run_polled(lease, n_threads, fn, ctx, n_items, NULL, NULL);
}

void emb_pool_run_polled(const emb_pool_lease *lease, size_t n_threads, emb_pool_task fn, void *ctx,
                         size_t n_items, void (*poll)(void *poll_ctx), void *poll_ctx)
{
    if (n_threads > lease->n)
        n_threads = lease->n;
    if (n_threads > n_items)
        n_threads = n_items;
    if (n_threads <= 1 || !lease->owns_pool) {
        for (size_t i = 0; i < n_items; i++)
            fn(ctx, i, 0);
        return;
    }
    pthread_mutex_lock(&g.mu);
    if (g.n_workers < n_threads - 1) /* shut down under us (process exit) */
        n_threads = g.n_workers + 1;
    g.fn = fn;
    g.ctx = ctx;
    g.n_items = n_items;
    atomic_store_explicit(&g.next, 0, memory_order_relaxed);
    g.region_workers = n_threads - 1;
    g.pending = n_threads - 1;
    g.gen++;
    for (size_t w = 0; w < n_threads - 1; w++)
        pthread_cond_signal(&g.wake[w]);
    pthread_mutex_unlock(&g.mu);

    run_items(fn, ctx, n_items, 0);

    pthread_mutex_lock(&g.mu);
    wait_region(poll, poll_ctx);
    pthread_mutex_unlock(&g.mu);
}
