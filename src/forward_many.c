#include "forward_many.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "blas.h"
#include "thread_pool.h"

/* ---- side by side: one whole pass per thread ------------------------------------------ */

typedef struct side_region {
    const emb_model *m;
    const emb_forward_call *calls;
    emb_pooling pooling;
    const emb_forward_cfg *user; /* the caller's cfg (its hook), or NULL             */
    atomic_bool stop;            /* the hook said stop                               */
    atomic_bool abort;           /* stop, or a call failed: passes still running end */
    unsigned char *done;         /* per call: finished (each written by its thread)  */
    pthread_mutex_t mu;          /* guards the first failure below                   */
    size_t err_call;
    emb_code rc;
    emb_error err;
} side_region;

/* On the calling thread only. */
static bool ask_hook(side_region *r)
{
    const emb_forward_cfg *u = r->user;
    if (!u || !u->cancelled || !u->cancelled(u->cancel_ctx))
        return false;
    atomic_store(&r->stop, true);
    atomic_store(&r->abort, true);
    return true;
}

/* A pass's cancel hook: the region's answer, which only the calling thread's
 * passes (and its waits, poll_hook) ask the caller's hook for. */
typedef struct pass_cancel {
    side_region *r;
    bool on_caller;
} pass_cancel;

static bool pass_cancelled(void *ctx)
{
    pass_cancel *c = ctx;
    if (atomic_load(&c->r->abort))
        return true;
    return c->on_caller && ask_hook(c->r);
}

static void poll_hook(void *ctx)
{
    side_region *r = ctx;
    if (!atomic_load(&r->abort))
        ask_hook(r);
}

static void side_task(void *ctx, size_t item, size_t thread)
{
    side_region *r = ctx;
    if (atomic_load(&r->abort))
        return;
    pass_cancel pc = {r, thread == 0}; /* thread 0 of a region is the calling thread */
    emb_forward_cfg cfg = r->user ? *r->user : (emb_forward_cfg){0};
    cfg.threads = 1;
    cfg.cancelled = pass_cancelled;
    cfg.cancel_ctx = &pc;
    const emb_forward_call *c = &r->calls[item];
    emb_error e;
    emb_code rc = emb_forward(c->out, r->m, c->seqs, c->n_seqs, r->pooling, &cfg, &e);
    if (rc == EMB_OK) {
        r->done[item] = 1;
        return;
    }
    if (rc == EMB_ERR_INTERRUPTED) /* the hook said stop, or ended early for a failure */
        return;
    atomic_store(&r->abort, true);
    pthread_mutex_lock(&r->mu);
    if (item < r->err_call) {
        r->err_call = item;
        r->rc = rc;
        r->err = e;
    }
    pthread_mutex_unlock(&r->mu);
}

/* Calls [0, n) side by side on the lease's threads; done[k] = 1 for those
 * that finished. EMB_OK, EMB_ERR_INTERRUPTED, or the lowest failed call's
 * error. */
static emb_code run_side(const emb_model *m, const emb_forward_call *calls, size_t n,
                         emb_pooling pooling, const emb_forward_cfg *cfg,
                         const emb_pool_lease *lease, unsigned char *done, emb_error *err)
{
    emb_code rc;
    /* lease->n threads will be inside sgemm at once (attention), not one per
     * pass as each pass on its own would reserve (blas.h) */
    if ((rc = emb_blas_init(err)) != EMB_OK || (rc = emb_blas_reserve(lease->n, err)) != EMB_OK)
        return rc;
    side_region r = {.m = m,
                     .calls = calls,
                     .pooling = pooling,
                     .user = cfg,
                     .done = done,
                     .mu = PTHREAD_MUTEX_INITIALIZER,
                     .err_call = SIZE_MAX,
                     .rc = EMB_OK};
    atomic_init(&r.stop, false);
    atomic_init(&r.abort, false);
    emb_pool_run_polled(lease, lease->n, side_task, &r, n, poll_hook, &r);
    pthread_mutex_destroy(&r.mu);
    if (atomic_load(&r.stop))
        return emb_error_set(err, EMB_ERR_INTERRUPTED, "forward: interrupted");
    if (r.rc != EMB_OK) {
        if (err)
            *err = r.err;
        return r.rc;
    }
    emb_blas_reserved(lease->n);
    return EMB_OK;
}

/* ---- the calls -------------------------------------------------------------------------- */

emb_code emb_forward_many(const emb_model *m, const emb_forward_call *calls, size_t n_calls,
                          size_t n_side, emb_pooling pooling, const emb_forward_cfg *cfg,
                          emb_error *err)
{
    emb_code rc = EMB_OK;
    unsigned char *done = NULL;
    size_t side = 0;
    if (n_side >= 2) {
        emb_pool_lease lease = emb_pool_acquire(cfg ? cfg->threads : 0);
        if (lease.n > 1)
            side = n_side - n_side % lease.n;
        if (side > 0 && !(done = calloc(side, 1)))
            side = 0; /* no room for the flags: one at a time, as below */
        emb_error side_err;
        if (side > 0)
            rc = run_side(m, calls, side, pooling, cfg, &lease, done, &side_err);
        emb_pool_release(&lease); /* the calls below lease the pool themselves */
        /* NOMEM: several workspaces at once did not fit; one at a time may */
        if (rc != EMB_OK && rc != EMB_ERR_NOMEM) {
            if (err)
                *err = side_err;
            goto end;
        }
    }
    for (size_t k = 0; k < n_calls; k++) {
        if (k < side && done[k])
            continue;
        const emb_forward_call *c = &calls[k];
        if ((rc = emb_forward(c->out, m, c->seqs, c->n_seqs, pooling, cfg, err)) != EMB_OK)
            goto end;
    }
    rc = EMB_OK;
end:
    free(done);
    return rc;
}
