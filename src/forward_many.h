/*
 * forward_many: several independent forward calls (emb_forward) on the
 * engine's threads, the fastest way that gives every call exactly the result
 * it has alone.
 *
 * Calls [0, n_side) are "side by side" candidates: they run as whole passes,
 * one per thread of the pool at once (each pass on one thread). The rest, and
 * the last n_side % threads candidates that could not keep every thread busy,
 * run one after another, each split over all threads (emb_forward's own
 * regions). Why: one pass per thread keeps a pass's activations in its
 * core's cache and needs no hand-off per product (a 320-token nomic pass
 * has ~400 parallel regions); splitting every pass scaled 1.6-1.7x on two
 * threads, side by side 1.9x (docs/benchmarks.md §9.2). Whole passes are
 * for calls of bounded size: their workspaces all exist at once.
 *
 * Results: emb_forward's chunking does not depend on the thread count, so
 * where a call ran changes nothing, bit for bit.
 *
 * Memory: up to `threads` workspaces of side-by-side calls at once (each
 * emb_forward_workspace_bytes(.., threads = 1)); the others one at a time.
 *
 * Cancellation: cfg->cancelled is asked on the calling thread only (it may
 * use that thread's SQLite connection): by the calling thread's own passes,
 * and every EMB_POOL_POLL_MS while it waits for the other threads' passes;
 * the other passes see its answer before their next layer.
 */
#ifndef EMB_FORWARD_MANY_H
#define EMB_FORWARD_MANY_H

#include <stddef.h>

#include "forward.h"

/* One call: emb_forward(out, m, seqs, n_seqs, pooling, ...). Not owned. */
typedef struct emb_forward_call {
    float *out;
    const emb_seq *seqs;
    size_t n_seqs;
} emb_forward_call;

/*
 * Runs calls[0, n_calls) (their outputs must not overlap); calls[0, n_side)
 * may run side by side. cfg as for emb_forward (threads: the pool's threads
 * to use, 0 = all). Errors: those of emb_forward; EMB_ERR_INTERRUPTED
 * whenever the hook said stop. When side-by-side workspaces do not fit in
 * memory (EMB_ERR_NOMEM), the calls not yet done run one at a time instead.
 * On error the outputs are unspecified.
 */
emb_code emb_forward_many(const emb_model *m, const emb_forward_call *calls, size_t n_calls,
                          size_t n_side, emb_pooling pooling, const emb_forward_cfg *cfg,
                          emb_error *err);

#endif
