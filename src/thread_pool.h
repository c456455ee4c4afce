/*
 * thread_pool: the engine's own small pool of worker threads, shared by the
 * whole process.
 *
 * Why our own pool and not OpenBLAS's: OpenBLAS's pool is torn down by its
 * destructor under running calls at process exit, hangs the parent after
 * fork(), and spins forever when a buffer allocation fails (issue 9). We keep
 * OpenBLAS single-threaded (blas.c) and split the work ourselves: output rows
 * of a linear layer, (sequence, head) pairs of attention. Splitting is
 * deterministic (forward.c), so results do not depend on the thread count.
 *
 * Model of use: a forward call takes a lease (emb_pool_acquire) for its whole
 * duration and runs parallel regions on it (emb_pool_run); a batch of calls
 * run side by side (forward_many.h) takes it for the region that runs them,
 * whose items are whole one-thread calls (a nested acquire from inside an
 * item gets a lease of one thread). One lease at a time
 * owns the workers; a call that finds the pool leased by another host thread
 * gets a lease of one thread (itself) and runs single-threaded, so concurrent
 * embed() calls from several host threads never wait for each other and never
 * oversubscribe the cores (each host thread already is a core's worth of work).
 *
 * Workers block on a condition variable between regions: no spinning, so an
 * idle pool costs no CPU, and the CPU time of a call that cannot use several
 * threads does not grow with the thread count.
 *
 * Size: emb_pool_set_threads(n) (SQL embed_threads(n)); default = the CPUs this
 * process may run on (sched_getaffinity), at most EMB_POOL_DEFAULT_MAX. The
 * calling thread counts as one: n threads = n - 1 workers. Workers start
 * lazily at the first lease that can use them.
 *
 * Process events: after fork() the child has no workers (pthread_atfork resets
 * the pool; a lease held by a parent thread does not exist in the child) and
 * starts them again lazily. On unload of the library / process exit a
 * destructor stops and joins the workers; a region started after that runs on
 * the calling thread alone.
 */
#ifndef EMB_THREAD_POOL_H
#define EMB_THREAD_POOL_H

#include <stddef.h>

#include "emb_error.h"

#define EMB_POOL_MAX_THREADS 256
#define EMB_POOL_DEFAULT_MAX 8

/* A task: do item `item` of a region; `thread` in [0, lease n) names the
 * thread running it (for per-thread scratch). Items run in any order, on any
 * thread; they must be independent. */
typedef void (*emb_pool_task)(void *ctx, size_t item, size_t thread);

/* What a forward call holds. n >= 1 threads (the caller is thread 0). */
typedef struct emb_pool_lease {
    size_t n;
    int owns_pool; /* 1 if this lease holds the workers (must be released) */
} emb_pool_lease;

/* Take the pool for up to `want` threads (0 = the pool size). Never fails:
 * with the pool busy, a size of 1, or threads that cannot be created, the
 * lease has n = 1. Release with emb_pool_release. */
emb_pool_lease emb_pool_acquire(size_t want);

void emb_pool_release(emb_pool_lease *lease);

/* Run fn(ctx, i, thread) for every i in [0, n_items) on at most `n_threads`
 * threads of the lease (clamped to [1, lease->n]); returns when every item is
 * done. Items are handed out in increasing order to whichever thread is free. */
void emb_pool_run(const emb_pool_lease *lease, size_t n_threads, emb_pool_task fn, void *ctx,
                  size_t n_items);

/* emb_pool_run, and while the calling thread waits for the other threads to
 * finish their items it calls poll(poll_ctx) every EMB_POOL_POLL_MS
 * milliseconds (a region of whole forward passes must keep asking the
 * caller's cancel hook, which only the calling thread may ask). poll runs on
 * the calling thread, outside the pool's lock; NULL = emb_pool_run. */
#define EMB_POOL_POLL_MS 10
void emb_pool_run_polled(const emb_pool_lease *lease, size_t n_threads, emb_pool_task fn, void *ctx,
                         size_t n_items, void (*poll)(void *poll_ctx), void *poll_ctx);

/* The pool size (threads, caller included) and its setter; n in [1,
 * EMB_POOL_MAX_THREADS] else EMB_ERR_RANGE. Takes effect at the next lease;
 * surplus workers are stopped then. */
size_t emb_pool_threads(void);
emb_code emb_pool_set_threads(size_t n, emb_error *err);

/* The default size for this process (see above). */
size_t emb_pool_default_threads(void);

/* Workers currently running (tests: fork and shrink behaviour). */
size_t emb_pool_workers_running(void);

#endif
