/*
 * forward: the fast path (BLAS for every matrix product). See forward.h.
 *
 * Notation: T tokens in the batch, E = n_embd, F = n_ff, H heads of D = E / H,
 * L = length of one sequence. All activations are row-major, one token per row.
 *
 * Layout of one layer (why: docs/engine.md §4; memory O(T·E), not O(T·F)):
 *   1. per head (parallel over heads): q_h into the head's columns of `a`,
 *      k_h | v_h into the thread's `kv` (T, 2D); RoPE; attention per sequence
 *      in blocks of attn_rows queries; the output overwrites q_h in `a`.
 *   2. per block of blk_o tokens: out = a·Woᵀ + b; h = LN(out + h).
 *   3. per block of blk_f tokens, per chunk of fc hidden units: up | gate into
 *      `a`, activation, out (+)= act·W_down[:, chunk]ᵀ; then h = LN(out + h).
 * Parallel regions split weight rows in fixed chunks, heads, or token rows,
 * never a dot product: the result does not depend on the thread count.
 */
#include "forward.h"
#include "page_alloc.h"

#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blas.h"
#include "ggml_types.h"
#include "matmul_panel.h"
#include "matmul_thin.h"
#include "quant.h"
#include "thread_pool.h"
#include "vmath.h"

#define WS_ALIGN 64
#define ROWS_PER_ITEM 16 /* token rows per item of an elementwise region */
#define CHUNKS_PER_MATRIX 8
#define CHUNK_MIN_ROWS 64
/* Rows per item when the thin kernels compute a product (no tile memory
 * involved): whole 4-row groups of matmul_thin.c, so every row takes the same
 * code path whatever the split. */
#define THIN_CHUNK_ROWS ((size_t)64)

/* ---- sizes ----------------------------------------------------------------------- */

typedef struct fwd_plan {
    size_t T, L, nt;                /* tokens, longest sequence, threads           */
    size_t tile_bytes, attn_rows;   /* knobs as resolved for T                     */
    size_t split_work;              /* multiply-adds per thread before splitting   */
    size_t blk_o, blk_f, fc;        /* Wo block, FFN block (tokens), FFN chunk     */
    /* floats per part */
    size_t h, a, out, rope, vec0, vec1; /* shared                                  */
    size_t tile, kv, scores;            /* per thread                              */
    /* `a` is larger than T x E when it holds an FFN block: during attention
     * and the attention projection its rows past T x E are free, and hold
     * the threads' k | v and the projection block when they fit there
     * (then kv / out above are 0: not in their own mappings) */
    bool kv_in_a, out_in_a;
    size_t a_spare_off;                 /* floats: where the free rows begin        */
    size_t kv_stride;                   /* floats between two threads' kv in `a`    */
    size_t pool;                        /* doubles                                 */
    size_t bytes_h, bytes_a, bytes_rest; /* the shared mappings                      */
    size_t bytes_thread;                /* one mapping per thread                    */
    size_t total;                       /* their sum; SIZE_MAX on overflow          */
} fwd_plan;

static bool mul_ok(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return false;
    *out = a * b;
    return true;
}

/* acc += n floats (or doubles: elem 8) rounded up to WS_ALIGN bytes. */
static bool add_part(size_t *acc, size_t n, size_t elem)
{
    size_t bytes;
    if (!mul_ok(n, elem, &bytes) || bytes > SIZE_MAX - (WS_ALIGN - 1))
        return false;
    size_t r = (bytes + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;
    if (*acc > SIZE_MAX - r)
        return false;
    *acc += r;
    return true;
}

/* An F32 tensor whose data is float-aligned is used in place. */
static bool is_direct(const emb_weight *w)
{
    return w->type == GGML_TYPE_F32 && ((uintptr_t)w->data % sizeof(float)) == 0;
}

/* Rows of w per chunk when kc columns are dequantized at a time: what fits the
 * tile budget, but no more than an eighth of the rows (so that a matrix gives
 * the threads enough items to share evenly: 768 rows -> 96, not 336 + 336 +
 * 96), a multiple of 16 when at least 16 (row-range kernels work on groups
 * of rows: a fixed, aligned chunking keeps every row on the same code path
 * whatever the split), at least 1, at most the rows there are. Depends on
 * the matrix and the tile budget only, never on the thread count. */
static size_t chunk_rows(const emb_weight *w, size_t kc, size_t tile_bytes)
{
    size_t oc = (size_t)w->ne1;
    size_t rows = tile_bytes / (kc * sizeof(float));
    size_t eighth = (oc / CHUNKS_PER_MATRIX + 15) / 16 * 16;
    if (rows > eighth && eighth >= CHUNK_MIN_ROWS)
        rows = eighth;
    if (rows >= 16)
        rows -= rows % 16;
    if (rows < 1)
        rows = 1;
    return rows < oc ? rows : oc;
}

/* Rows per chunk when the panel kernels compute a product (their scratch is
 * fixed, no tile budget involved): an eighth of the rows rounded up to a
 * multiple of 32 (768 -> 96, 3072 -> 384: whole 48- or 32-row panels), so
 * the panels use all lanes and the threads get enough items to share evenly. */
static size_t panel_chunk_rows(const emb_weight *w)
{
    size_t oc = (size_t)w->ne1;
    size_t rows = (oc / CHUNKS_PER_MATRIX + 31) / 32 * 32;
    if (rows < 32)
        rows = 32;
    return rows < oc ? rows : oc;
}

/* Rows per chunk of a product of T tokens with w over kc columns, for the
 * kernel lin_rows will use (thin, panel, or dequantize + sgemm). */
static size_t lin_chunk_rows(const emb_weight *w, size_t kc, size_t T, size_t tile_bytes)
{
    if (emb_matmul_thin_wins(w->type, T))
        return THIN_CHUNK_ROWS < (size_t)w->ne1 ? THIN_CHUNK_ROWS : (size_t)w->ne1;
    if (emb_matmul_panel_wins(w->type, T))
        return panel_chunk_rows(w);
    return chunk_rows(w, kc, tile_bytes);
}

/* Rows per item when a range of n rows (an FFN chunk of up / gate) is cut
 * into items of at most `chunk` rows: the same number of items, evened out
 * (fc 384 with 336-row chunks: 192 + 192, not 336 + 48), keeping the row
 * alignment `chunk` has (its largest power-of-two factor, at most 64: the
 * row-group kernels see the same groups). The tile then needs only the
 * evened-out rows, and no item is a sliver. */
static size_t even_chunk(size_t chunk, size_t n)
{
    if (chunk >= n)
        return chunk;
    size_t align = chunk & (~chunk + 1);
    if (align > 64)
        align = 64;
    size_t items = (n + chunk - 1) / chunk;
    size_t rows = (n + items - 1) / items;
    rows = (rows + align - 1) / align * align;
    return rows < chunk ? rows : chunk;
}

/* FFN hidden units per chunk: F, or the largest divisor of F that keeps one
 * FFN block's buffers (blk_f rows of up [+ gate] + out) within `budget`
 * floats and splits the rows of ffn_down at whole quantization blocks; but
 * not below min_fc when a valid divisor >= min_fc exists (the smallest). */
static size_t ffn_chunk(const emb_model *m, size_t blk_f, size_t budget, size_t min_fc)
{
    size_t E = m->hp.n_embd, F = m->hp.n_ff;
    size_t wf = m->hp.arch == EMB_ARCH_NOMIC_BERT ? 2 : 1;
    const ggml_type_info *ti = ggml_type_get(m->layers[0].ffn_down.type);
    size_t qk = ti && ti->block_size ? ti->block_size : F;
    for (uint32_t l = 1; l < m->hp.n_layer; l++) {
        const ggml_type_info *tl = ggml_type_get(m->layers[l].ffn_down.type);
        size_t b = tl && tl->block_size ? tl->block_size : F;
        if (b > qk)
            qk = b; /* block sizes are powers of two: the largest divides the rest */
    }
    size_t best = F, above_min = F;
    for (size_t n = 1; n <= F; n++) {
        if (F % n || (F / n) % qk)
            continue;
        size_t fc = F / n;
        best = fc;
        if (blk_f * (wf * fc + E) <= budget)
            break;
        if (fc >= min_fc)
            above_min = fc;
    }
    return best >= min_fc ? best : above_min;
}

/* Largest matrix tile a thread needs for a batch of T tokens. Products of
 * up to T tokens use the thin kernels (no tile: they use the stack) or the
 * panel kernels (a fixed scratch) when those win at every size up to T;
 * otherwise dequantize + sgemm needs a chunk of any non-F32 matrix (whole
 * rows), one head's rows of q, k or v, and a chunk of ffn_down's columns. */
static size_t tile_floats(const emb_model *m, size_t tile_bytes, size_t fc, size_t T)
{
    size_t best = 0, E = m->hp.n_embd, D = E / m->hp.n_head;
    for (uint32_t l = 0; l < m->hp.n_layer; l++) {
        const emb_layer *ly = &m->layers[l];
        const emb_weight *mats[] = {&ly->attn_q, &ly->attn_k,  &ly->attn_v,  &ly->attn_qkv,
                                    &ly->attn_out, &ly->ffn_up, &ly->ffn_gate, &ly->ffn_down};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
            const emb_weight *w = mats[i];
            if (!w->data)
                continue;
            /* every block of 1..T tokens is thin, or thin up to the crossover
             * and panel above it */
            bool thin_all = emb_matmul_thin_wins(w->type, T);
            bool thin_or_panel = emb_matmul_thin_wins(w->type, 1) && emb_matmul_panel_wins(w->type, T);
            if (thin_all)
                continue;
            if (thin_or_panel) {
                if (EMB_PANEL_SCRATCH_FLOATS > best)
                    best = EMB_PANEL_SCRATCH_FLOATS;
                continue;
            }
            if (is_direct(w))
                continue;
            size_t n;
            if (i < 4)
                n = D * E; /* q/k/v are used per head */
            else if (i == 7)
                n = chunk_rows(w, fc, tile_bytes) * fc;
            else if (i == 5 || i == 6) /* up / gate: rows of one FFN chunk at a time */
                n = even_chunk(chunk_rows(w, (size_t)w->ne0, tile_bytes), fc) * (size_t)w->ne0;
            else
                n = chunk_rows(w, (size_t)w->ne0, tile_bytes) * (size_t)w->ne0;
            if (n > best)
                best = n;
        }
    }
    return best;
}

/* The knobs for a batch of T tokens. */
static void cfg_defaults(const emb_forward_cfg *cfg, size_t T, size_t *tile_bytes, size_t *attn_rows)
{
    if (cfg && cfg->tile_bytes)
        *tile_bytes = cfg->tile_bytes;
    else
        *tile_bytes = T <= EMB_FORWARD_FEW_TOKENS ? EMB_FORWARD_TILE_BYTES_FEW : EMB_FORWARD_TILE_BYTES;
    *attn_rows = cfg && cfg->attn_rows ? cfg->attn_rows : EMB_FORWARD_ATTN_ROWS;
}

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* n floats rounded up to whole WS_ALIGN bytes (n is a size already checked
 * to fit in bytes). */
static size_t round_floats(size_t n)
{
    size_t per = WS_ALIGN / sizeof(float);
    return n > SIZE_MAX - (per - 1) ? SIZE_MAX : (n + per - 1) / per * per;
}

static fwd_plan plan_workspace(const emb_model *m, size_t T, size_t max_len, size_t nt,
                               const emb_forward_cfg *cfg)
{
    fwd_plan p;
    memset(&p, 0, sizeof p);
    p.total = SIZE_MAX;
    p.T = T;
    p.L = max_len;
    p.nt = nt < 1 ? 1 : nt;
    cfg_defaults(cfg, T, &p.tile_bytes, &p.attn_rows);
    p.split_work = cfg && cfg->split_work ? cfg->split_work : EMB_FORWARD_SPLIT_WORK;
    const emb_hparams *hp = &m->hp;
    size_t E = hp->n_embd, F = hp->n_ff, D = E / hp->n_head;
    bool nomic = hp->arch == EMB_ARCH_NOMIC_BERT;
    size_t blk = cfg && cfg->block_tokens ? cfg->block_tokens : 0;
    p.blk_o = min_sz(T, blk ? blk : EMB_FORWARD_WO_BLOCK);
    p.blk_f = min_sz(T, blk ? blk : EMB_FORWARD_FFN_BLOCK);
    size_t te, budget, min_fc = 0;
    if (!mul_ok(T, E, &te))
        return p;
    if (cfg && cfg->ffn_bytes) {
        budget = cfg->ffn_bytes / sizeof(float);
    } else {
        /* `a` is T x E anyway: chunks that fit there cost no memory; a small
         * block is not chunked; otherwise chunks of EMB_FORWARD_FFN_MIN_CHUNK
         * hidden units, which keep ffn_down's products deep enough */
        budget = EMB_FORWARD_FFN_SMALL_BYTES / sizeof(float);
        if (budget < te)
            budget = te;
        min_fc = EMB_FORWARD_FFN_MIN_CHUNK;
    }
    p.fc = ffn_chunk(m, p.blk_f, budget, min_fc);
    size_t ffn, x, kv;
    if (!mul_ok(p.blk_f, (nomic ? 2 : 1) * p.fc + E, &ffn))
        return p;
    p.h = te;
    p.a = te > ffn ? te : ffn;
    p.out = p.blk_o * E;
    if (!mul_ok(T, 2 * D, &kv))
        return p;
    p.kv = kv;
    /* the free rows of `a` (64-byte aligned) before attention's k | v and the
     * projection block get mappings of their own */
    p.a_spare_off = round_floats(te);
    size_t spare = p.a > p.a_spare_off ? p.a - p.a_spare_off : 0;
    p.kv_stride = round_floats(kv);
    p.kv_in_a = p.kv_stride <= spare / p.nt;
    p.out_in_a = round_floats(p.out) <= spare;
    if (p.kv_in_a)
        p.kv = 0;
    if (p.out_in_a)
        p.out = 0;
    if (!mul_ok(nomic ? max_len : 0, hp->n_rot, &p.rope))
        return p;
    p.vec0 = 3 * E > F ? 3 * E : F; /* q, k, v biases side by side */
    p.vec1 = E > F ? E : F;
    p.pool = E;
    p.tile = tile_floats(m, p.tile_bytes, p.fc, T);
    if (!mul_ok(min_sz(p.attn_rows, max_len), max_len, &p.scores))
        return p;
    size_t rest = 0;
    bool ok = add_part(&p.bytes_h, p.h, sizeof(float)) && add_part(&p.bytes_a, p.a, sizeof(float)) &&
              add_part(&rest, p.out, sizeof(float)) && add_part(&rest, p.rope, sizeof(float)) &&
              add_part(&rest, p.vec0, sizeof(float)) && add_part(&rest, p.vec1, sizeof(float)) &&
              add_part(&rest, p.pool, sizeof(double)) &&
              add_part(&p.bytes_thread, p.tile, sizeof(float)) &&
              add_part(&p.bytes_thread, p.kv, sizeof(float)) &&
              add_part(&p.bytes_thread, p.scores, sizeof(float)) && mul_ok(p.bytes_thread, p.nt, &x);
    if (!ok)
        return p;
    p.bytes_rest = rest;
    size_t total = p.bytes_h;
    if (total > SIZE_MAX - p.bytes_a || total + p.bytes_a > SIZE_MAX - p.bytes_rest ||
        total + p.bytes_a + p.bytes_rest > SIZE_MAX - x)
        return p;
    p.total = total + p.bytes_a + p.bytes_rest + x;
    return p;
}

static size_t threads_for(const emb_forward_cfg *cfg)
{
    size_t n = cfg && cfg->threads ? cfg->threads : emb_pool_threads();
    return n < EMB_POOL_MAX_THREADS ? n : EMB_POOL_MAX_THREADS;
}

size_t emb_forward_workspace_bytes(const emb_model *m, size_t n_tokens, size_t max_len,
                                   const emb_forward_cfg *cfg)
{
    return plan_workspace(m, n_tokens, max_len, threads_for(cfg), cfg).total;
}

/* ---- workspace ---------------------------------------------------------------------- */

typedef struct workspace {
    const fwd_plan *p;
    const emb_pool_lease *lease;
    float *h;          /* (T, E) hidden state                                         */
    float *a;          /* (T, E) q / attention output, then FFN up | gate | out       */
    float *out;        /* (blk_o, E) attention projection (in `a` or mapping 3)       */
    float *rope;       /* (max_len, n_rot): cos[R/2] then sin[R/2]                    */
    float *vec0, *vec1;/* dequantized 1-D tensors                                     */
    double *pool;      /* E                                                           */
    char **thread;     /* nt mappings of {tile, kv (T, 2D) unless in `a`, scores (Q, max_len)} */
    size_t off_kv, off_scores;
    const emb_forward_cfg *cfg; /* the cancel hook; may be NULL                           */
    atomic_bool stop;  /* the hook said stop: every thread skips what is left          */
} workspace;

/* Long passes ask the cancel hook more often than once per layer (one layer of
 * an 8,192-token nomic input takes seconds): between attention query blocks of
 * a sequence, and between projection and FFN token blocks, once the pass has
 * at least this many tokens. Short passes ask once per layer only (on SQLite
 * 3.40 an ask steps a probe statement). */
#define CANCEL_CHECK_TOKENS 1024

/* Only the calling thread (thread 0 of a region, or outside regions) asks the
 * hook: it may use that thread's SQLite connection. The others see its answer
 * in ws->stop. */
static bool should_stop(workspace *ws, size_t thread)
{
    if (atomic_load_explicit(&ws->stop, memory_order_relaxed))
        return true;
    if (thread != 0 || !ws->cfg || !ws->cfg->cancelled || !ws->cfg->cancelled(ws->cfg->cancel_ctx))
        return false;
    atomic_store_explicit(&ws->stop, true, memory_order_relaxed);
    return true;
}

static size_t round_up(size_t n)
{
    return (n + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;
}

/* Carve the rest mapping (p->bytes_rest bytes at `base`) into its parts;
 * `thread` holds the nt per-thread mappings. */
static void carve(workspace *ws, char *h, char *a, char *base, char **thread, const fwd_plan *p)
{
    ws->p = p;
    ws->h = (float *)(void *)h;
    ws->a = (float *)(void *)a;
    size_t off = 0;
#define TAKE(ptr, type, n)                                                                        \
    do {                                                                                          \
        ptr = (type *)(void *)(base + off);                                                       \
        off += round_up((n) * sizeof(type));                                                      \
    } while (0)
    TAKE(ws->out, float, p->out);
    if (p->out_in_a)
        ws->out = ws->a + p->a_spare_off;
    TAKE(ws->rope, float, p->rope);
    TAKE(ws->vec0, float, p->vec0);
    TAKE(ws->vec1, float, p->vec1);
    TAKE(ws->pool, double, p->pool);
#undef TAKE
    ws->thread = thread;
    ws->off_kv = round_up(p->tile * sizeof(float));
    ws->off_scores = ws->off_kv + round_up(p->kv * sizeof(float));
}

static float *thread_tile(const workspace *ws, size_t t)
{
    return (float *)(void *)ws->thread[t];
}

static float *thread_kv(const workspace *ws, size_t t)
{
    if (ws->p->kv_in_a)
        return ws->a + ws->p->a_spare_off + t * ws->p->kv_stride;
    return (float *)(void *)(ws->thread[t] + ws->off_kv);
}

static float *thread_scores(const workspace *ws, size_t t)
{
    return (float *)(void *)(ws->thread[t] + ws->off_scores);
}

/* Threads worth using for `work` multiply-adds split into n_items. */
static size_t threads_for_work(const workspace *ws, double work, size_t n_items)
{
    size_t n = ws->lease->n;
    if (n <= 1)
        return 1;
    double by_work = work / (double)ws->p->split_work;
    if (by_work < (double)n)
        n = by_work < 1.0 ? 1 : (size_t)by_work;
    return n < n_items ? n : n_items;
}

/* ---- input checks ------------------------------------------------------------ */

emb_code emb_forward_check(const emb_model *m, const emb_seq *seqs, size_t n_seqs,
                           emb_pooling pooling, emb_error *err)
{
    if (pooling != EMB_POOLING_MEAN && pooling != EMB_POOLING_CLS && pooling != EMB_POOLING_LAST)
        return emb_error_set(err, EMB_ERR_RANGE,
                             "forward: pooling '%s' does not give one vector per sequence (use mean, "
                             "cls or last)",
                             emb_pooling_name(pooling));
    if (n_seqs > 0 && !seqs)
        return emb_error_set(err, EMB_ERR_RANGE, "forward: %zu sequences but no array", n_seqs);
    for (size_t s = 0; s < n_seqs; s++) {
        if (seqs[s].n == 0 || !seqs[s].ids)
            return emb_error_set(err, EMB_ERR_RANGE, "forward: sequence %zu has no tokens", s);
        if (m->hp.arch == EMB_ARCH_BERT && seqs[s].n > m->hp.n_ctx_train)
            return emb_error_set(err, EMB_ERR_RANGE,
                                 "forward: sequence %zu has %zu tokens, the model's context length "
                                 "is %u",
                                 s, seqs[s].n, m->hp.n_ctx_train);
        if (seqs[s].n > INT_MAX)
            return emb_error_set(err, EMB_ERR_RANGE, "forward: sequence %zu has %zu tokens, maximum %d",
                                 s, seqs[s].n, INT_MAX);
        for (size_t t = 0; t < seqs[s].n; t++) {
            int32_t id = seqs[s].ids[t];
            if (id < 0 || (uint32_t)id >= m->hp.n_vocab)
                return emb_error_set(err, EMB_ERR_RANGE,
                                     "forward: sequence %zu token %zu: id %d outside the vocabulary "
                                     "[0, %u)",
                                     s, t, (int)id, m->hp.n_vocab);
        }
    }
    return EMB_OK;
}

/* ---- primitives ---------------------------------------------------------------- */

/* A 1-D tensor (or one row `row` of a 2-D one) as floats: in place for aligned
 * F32, else dequantized into scratch (ne0 floats). emb_dequant_rows cannot
 * fail here: the type was checked computable and the rows whole blocks inside
 * the file when the model was bound. */
static const float *row_view(const emb_weight *w, size_t row, float *scratch)
{
    const uint8_t *p = (const uint8_t *)w->data + row * w->row_bytes;
    if (is_direct(w))
        return (const float *)(const void *)p;
    emb_dequant_rows(scratch, w->data, w->type, row, 1, (size_t)w->ne0, (size_t)w->row_bytes);
    return scratch;
}

/*
 * One linear product over a range of weight rows:
 *     y[:, o - r_begin] = beta · y[:, o - r_begin] + x · w[o, k0 : k0 + kc]ᵀ (+ bias[o])
 * for o in [r_begin, r_end); x: (T, kc) leading dim ldx. kc < ne0 (a slice of
 * the columns, FFN chunks) must start and end at whole quantization blocks.
 * Split into chunks of `chunk` rows; chunk i is item i of a region.
 */
typedef struct lin_job {
    float *y;
    size_t ldy;
    const float *x;
    size_t ldx, T;
    const emb_weight *w;
    size_t k0, kc;
    float beta;
    size_t r_begin, r_end, chunk;
    const float *bias; /* indexed by absolute row o, or NULL */
} lin_job;

static lin_job lin(float *y, size_t ldy, const float *x, size_t ldx, size_t T, const emb_weight *w,
                   const float *bias, size_t tile_bytes)
{
    lin_job j = {y, ldy, x, ldx, T, w, 0, (size_t)w->ne0, 0.0f, 0, (size_t)w->ne1, 0, bias};
    j.chunk = lin_chunk_rows(w, j.kc, T, tile_bytes);
    return j;
}

static size_t lin_items(const lin_job *j)
{
    return (j->r_end - j->r_begin + j->chunk - 1) / j->chunk;
}

/* Rows [r0, r1) of job j, using `tile` as the panel kernels' scratch or
 * (chunk x kc floats) for dequantized non-F32 weights before sgemm. */
static void lin_rows(const lin_job *j, size_t r0, size_t r1, float *tile)
{
    const emb_weight *w = j->w;
    size_t ic = (size_t)w->ne0, nr = r1 - r0;
    float *y = j->y + (r0 - j->r_begin);
    if (emb_matmul_thin_wins(w->type, j->T)) {
        /* few tokens: each weight read once, no BLAS (matmul_thin.h); y is
         * relative to row r0, beta is 0 or 1 */
        emb_matmul_thin_part(y, j->ldy, j->x, j->ldx, j->T, w, r0, r1, j->k0, j->kc, j->beta != 0.0f);
    } else if (emb_matmul_panel_wins(w->type, j->T)) {
        /* many tokens: packed panels, x read in place (matmul_panel.h);
         * y relative to row r0, beta is 0 or 1 */
        emb_matmul_panel_part(y, j->ldy, j->x, j->ldx, j->T, w, r0, r1, j->k0, j->kc,
                              j->beta != 0.0f, tile);
    } else if (is_direct(w)) {
        const float *wf = (const float *)w->data + r0 * ic + j->k0;
        emb_sgemm_nt(y, j->ldy, j->x, j->ldx, wf, ic, j->T, nr, j->kc, j->beta);
    } else {
        const uint8_t *base = w->data;
        if (j->k0) {
            const ggml_type_info *ti = ggml_type_get(w->type);
            base += j->k0 / ti->block_size * ti->type_size;
        }
        emb_dequant_rows(tile, base, w->type, r0, nr, j->kc, (size_t)w->row_bytes);
        emb_sgemm_nt(y, j->ldy, j->x, j->ldx, tile, j->kc, j->T, nr, j->kc, j->beta);
    }
    if (j->bias) {
        for (size_t t = 0; t < j->T; t++) {
            float *yt = y + t * j->ldy;
            for (size_t o = 0; o < nr; o++)
                yt[o] += j->bias[r0 + o];
        }
    }
}

/* Several jobs as one region: items numbered job after job. */
typedef struct lin_region {
    const lin_job *jobs;
    size_t n_jobs;
    workspace *ws;
} lin_region;

static void lin_task(void *ctx, size_t item, size_t thread)
{
    const lin_region *r = ctx;
    for (size_t k = 0; k < r->n_jobs; k++) {
        const lin_job *j = &r->jobs[k];
        size_t n = lin_items(j);
        if (item < n) {
            size_t r0 = j->r_begin + item * j->chunk;
            size_t r1 = r0 + j->chunk < j->r_end ? r0 + j->chunk : j->r_end;
            lin_rows(j, r0, r1, thread_tile(r->ws, thread));
            return;
        }
        item -= n;
    }
}

static void run_linear(workspace *ws, const lin_job *jobs, size_t n_jobs)
{
    size_t items = 0;
    double work = 0;
    for (size_t k = 0; k < n_jobs; k++) {
        items += lin_items(&jobs[k]);
        work += (double)jobs[k].T * (double)(jobs[k].r_end - jobs[k].r_begin) * (double)jobs[k].kc;
    }
    lin_region r = {jobs, n_jobs, ws};
    emb_pool_run(ws->lease, threads_for_work(ws, work, items), lin_task, &r, items);
}

/*
 * out, x, resid: (n, E) rows.   out = LayerNorm(x + resid) (resid may be NULL);
 * out may alias x or resid. gw, gb: the affine parameters as floats.
 * docs/format.md §6.1: double sums, float elementwise ops.
 */
static void ln_rows(float *out, const float *x, const float *resid, size_t n, size_t E,
                    const float *gw, const float *gb, float eps)
{
    for (size_t t = 0; t < n; t++) {
        const float *xt = x + t * E;
        const float *rt = resid ? resid + t * E : NULL;
        float *ot = out + t * E;
        double sum = 0.0;
        for (size_t i = 0; i < E; i++) {
            float v = rt ? xt[i] + rt[i] : xt[i];
            ot[i] = v;
            sum += v;
        }
        float mean = (float)(sum / (double)E);
        double sq = 0.0;
        for (size_t i = 0; i < E; i++) {
            float v = ot[i] - mean;
            ot[i] = v;
            sq += (double)(v * v);
        }
        float var = (float)(sq / (double)E);
        float scale = 1.0f / sqrtf(var + eps);
        for (size_t i = 0; i < E; i++) {
            float y = ot[i] * scale;
            y = y * gw[i];
            ot[i] = y + gb[i];
        }
    }
}

/* x: (n) in place. Exact erf GELU (HF BERT), vectorized (vmath.h). */
static void gelu_erf(float *x, size_t n)
{
    emb_vmath_gelu_erf(x, n);
}

/* up, gate: (n). up = SiLU(gate) * up (nomic SwiGLU), vectorized (vmath.h). */
static void swiglu(float *up, const float *gate, size_t n)
{
    emb_vmath_swiglu(up, gate, n);
}

/* rope: (L, R): for position p, cos of R/2 angles then their sin (docs/format.md §6.4:
 * theta iterated by products, not powf per element). */
static void rope_table(float *rope, size_t L, size_t R, float base, float freq_scale)
{
    float theta_scale = powf(base, -2.0f / (float)R);
    for (size_t p = 0; p < L; p++) {
        float theta = (float)p;
        float *c = rope + p * R, *s = c + R / 2;
        for (size_t i = 0; i < R / 2; i++) {
            float th = theta * freq_scale;
            c[i] = cosf(th);
            s[i] = sinf(th);
            theta *= theta_scale;
        }
    }
}

/* v: (H, D) heads of one token, in place; cs: the position's table row.
 * NEOX pairing (i, i + R/2) over the first R dims of each head. */
static void rope_apply(float *v, size_t H, size_t D, size_t R, const float *cs)
{
    const float *c = cs, *s = cs + R / 2;
    for (size_t h = 0; h < H; h++) {
        float *x = v + h * D;
        for (size_t i = 0; i < R / 2; i++) {
            float x0 = x[i], x1 = x[i + R / 2];
            x[i] = x0 * c[i] - x1 * s[i];
            x[i + R / 2] = x0 * s[i] + x1 * c[i];
        }
    }
}

/* row: (n) in place. softmax(row * scale), double sum (docs/format.md §6.1). */
static void softmax_scaled(float *row, size_t n, float scale)
{
    float mx = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        row[i] *= scale;
        if (row[i] > mx)
            mx = row[i];
    }
    double sum = emb_vmath_exp_sum(row, n, mx);
    float inv = (float)(1.0 / sum);
    for (size_t i = 0; i < n; i++)
        row[i] *= inv;
}

/* ---- elementwise regions over token rows --------------------------------------------- */

typedef enum { ROWS_LN, ROWS_GELU, ROWS_SWIGLU } rows_kind;

typedef struct rows_job {
    rows_kind kind;
    size_t n, width;      /* rows; floats per row (E for LN, fc for activations) */
    float *out;           /* LN output / activation in place (ld width)           */
    const float *x, *resid;/* LN inputs (ld width); SWIGLU: x = gate (ld width)   */
    const float *gw, *gb;
    float eps;
} rows_job;

static void rows_task(void *ctx, size_t item, size_t thread)
{
    (void)thread;
    const rows_job *j = ctx;
    size_t t0 = item * ROWS_PER_ITEM;
    size_t n = j->n - t0 < ROWS_PER_ITEM ? j->n - t0 : ROWS_PER_ITEM;
    size_t off = t0 * j->width;
    switch (j->kind) {
    case ROWS_LN:
        ln_rows(j->out + off, j->x + off, j->resid ? j->resid + off : NULL, n, j->width, j->gw,
                j->gb, j->eps);
        break;
    case ROWS_GELU:
        gelu_erf(j->out + off, n * j->width);
        break;
    case ROWS_SWIGLU:
        swiglu(j->out + off, j->x + off, n * j->width);
        break;
    }
}

static void run_rows(workspace *ws, const rows_job *j)
{
    size_t items = (j->n + ROWS_PER_ITEM - 1) / ROWS_PER_ITEM;
    /* an elementwise op costs about as much as a few multiply-adds */
    double work = 8.0 * (double)j->n * (double)j->width;
    emb_pool_run(ws->lease, threads_for_work(ws, work, items), rows_task, (void *)j, items);
}

/* LN over rows [t0, t0 + n) of h: h = LN(x + h) with the layer's affine. */
static void ln_into_h(workspace *ws, size_t t0, size_t n, const float *x, const emb_weight *w,
                      const emb_weight *b, float eps, size_t E)
{
    rows_job j = {ROWS_LN, n, E, ws->h + t0 * E, x, ws->h + t0 * E,
                  row_view(w, 0, ws->vec0), row_view(b, 0, ws->vec1), eps};
    run_rows(ws, &j);
}

/* ---- attention, one head at a time ---------------------------------------------------- */

typedef struct head_region {
    const emb_model *m;
    const emb_layer *ly;
    const emb_seq *seqs;
    size_t n_seqs;
    const float *bq, *bk, *bv; /* bert biases (E each) or NULL */
    workspace *ws;
} head_region;

/* y (T, D) ld ldy = x · w[r0 : r0 + D]ᵀ (+ bias[r0 ...]), dequantizing into tile. */
static void head_rows(float *y, size_t ldy, const workspace *ws, const emb_weight *w, size_t r0,
                      size_t D, const float *bias, float *tile)
{
    size_t E = (size_t)w->ne0;
    lin_job j = {y, ldy, ws->h, E, ws->p->T, w, 0, E, 0.0f, r0, r0 + D, D, bias};
    lin_rows(&j, r0, r0 + D, tile);
}

/*
 * Head hd of the layer, for every sequence: q into a's columns [hd·D, hd·D + D),
 * k | v into this thread's kv (T, 2D); RoPE (nomic); then per sequence and
 * block of query rows S = q kᵀ (scores), softmax(S / sqrt(D)), P v written
 * over the block's q (those q rows are not read again).
 */
static void head_task(void *ctx, size_t hd, size_t thread)
{
    const head_region *r = ctx;
    const emb_hparams *hp = &r->m->hp;
    workspace *ws = r->ws;
    size_t E = hp->n_embd, H = hp->n_head, D = E / H, R = hp->n_rot, ldkv = 2 * D;
    float *tile = thread_tile(ws, thread), *kv = thread_kv(ws, thread);
    float *scores = thread_scores(ws, thread);
    float *q = ws->a + hd * D;
    bool ask = ws->p->T >= CANCEL_CHECK_TOKENS;
    if (ask && should_stop(ws, thread))
        return;
    if (hp->arch == EMB_ARCH_BERT) {
        head_rows(q, E, ws, &r->ly->attn_q, hd * D, D, r->bq, tile);
        head_rows(kv, ldkv, ws, &r->ly->attn_k, hd * D, D, r->bk, tile);
        head_rows(kv + D, ldkv, ws, &r->ly->attn_v, hd * D, D, r->bv, tile);
    } else {
        head_rows(q, E, ws, &r->ly->attn_qkv, hd * D, D, NULL, tile);
        head_rows(kv, ldkv, ws, &r->ly->attn_qkv, E + hd * D, D, NULL, tile);
        head_rows(kv + D, ldkv, ws, &r->ly->attn_qkv, 2 * E + hd * D, D, NULL, tile);
    }
    float scale = 1.0f / sqrtf((float)D);
    size_t off = 0, Q = ws->p->attn_rows;
    for (size_t s = 0; s < r->n_seqs; s++) {
        size_t L = r->seqs[s].n;
        float *qs = q + off * E, *ks = kv + off * ldkv, *vs = ks + D;
        if (hp->arch == EMB_ARCH_NOMIC_BERT) {
            for (size_t p = 0; p < L; p++) {
                const float *cs = ws->rope + p * R;
                rope_apply(qs + p * E, 1, D, R, cs);
                rope_apply(ks + p * ldkv, 1, D, R, cs);
            }
        }
        for (size_t r0 = 0; r0 < L; r0 += Q) {
            if (ask && should_stop(ws, thread))
                return;
            size_t nr = L - r0 < Q ? L - r0 : Q;
            emb_sgemm_nt(scores, L, qs + r0 * E, E, ks, ldkv, nr, L, D, 0.0f);
            for (size_t i = 0; i < nr; i++)
                softmax_scaled(scores + i * L, L, scale);
            emb_sgemm_nn(qs + r0 * E, E, scores, L, vs, ldkv, nr, D, L, 0.0f);
        }
        off += L;
    }
}

static void layer_heads(workspace *ws, const emb_model *m, const emb_layer *ly, const emb_seq *seqs,
                        size_t n_seqs)
{
    const emb_hparams *hp = &m->hp;
    size_t E = hp->n_embd, H = hp->n_head, T = ws->p->T;
    head_region r = {m, ly, seqs, n_seqs, NULL, NULL, NULL, ws};
    if (hp->arch == EMB_ARCH_BERT) {
        /* biases dequantized once, read by every head */
        const float *bq = ly->attn_q_b.data ? row_view(&ly->attn_q_b, 0, ws->vec0) : NULL;
        const float *bk = ly->attn_k_b.data ? row_view(&ly->attn_k_b, 0, ws->vec0 + E) : NULL;
        const float *bv = ly->attn_v_b.data ? row_view(&ly->attn_v_b, 0, ws->vec0 + 2 * E) : NULL;
        r.bq = bq;
        r.bk = bk;
        r.bv = bv;
    }
    double work = (double)T * 3.0 * (double)E * (double)E;
    for (size_t s = 0; s < n_seqs; s++)
        work += 2.0 * (double)seqs[s].n * (double)seqs[s].n * (double)E;
    emb_pool_run(ws->lease, threads_for_work(ws, work, H), head_task, &r, H);
}

static void advise_weight(const emb_weight *w)
{
    if (!w->data)
        return;
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0)
        return;
    uintptr_t start = (uintptr_t)w->data & ~((uintptr_t)page - 1);
    uintptr_t end = (uintptr_t)w->data + (uintptr_t)(w->row_bytes * (uint64_t)w->ne1);
    (void)madvise((void *)start, end - start, MADV_WILLNEED); /* advisory only */
}

static void advise_layer(const emb_layer *ly)
{
    const emb_weight *mats[] = {&ly->attn_q, &ly->attn_k,  &ly->attn_v,  &ly->attn_qkv,
                                &ly->attn_out, &ly->ffn_up, &ly->ffn_gate, &ly->ffn_down};
    for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++)
        advise_weight(mats[i]);
}

/* ---- the pass ----------------------------------------------------------------------- */

/* h: (T, E) <- LayerNorm(token_embd[id] + token_types[0] (+ position_embd[p])). */
static void embed_tokens(const emb_model *m, const emb_seq *seqs, size_t n_seqs, workspace *ws)
{
    size_t E = m->hp.n_embd;
    bool bert = m->hp.arch == EMB_ARCH_BERT;
    /* vec0/vec1 are free here; the LayerNorm below reuses them afterwards. */
    const float *type0 = row_view(&m->tok_types, 0, ws->vec0);
    float *ht = ws->h;
    for (size_t s = 0; s < n_seqs; s++) {
        for (size_t p = 0; p < seqs[s].n; p++, ht += E) {
            emb_dequant_rows(ht, m->tok_embd.data, m->tok_embd.type, (size_t)seqs[s].ids[p], 1, E,
                             (size_t)m->tok_embd.row_bytes);
            for (size_t i = 0; i < E; i++)
                ht[i] = ht[i] + type0[i];
            if (bert) {
                const float *pos = row_view(&m->pos_embd, p, ws->vec1);
                for (size_t i = 0; i < E; i++)
                    ht[i] = pos[i] + ht[i];
            }
        }
    }
    size_t T = (size_t)(ht - ws->h) / E;
    ln_into_h(ws, 0, T, ws->h, &m->embd_norm, &m->embd_norm_b, m->hp.eps, E);
}

/* Attention projection and its LayerNorm, blk_o tokens at a time. */
static void layer_attn_out(workspace *ws, const emb_model *m, const emb_layer *ly)
{
    size_t E = m->hp.n_embd, T = ws->p->T;
    for (size_t t0 = 0; t0 < T; t0 += ws->p->blk_o) {
        if (T >= CANCEL_CHECK_TOKENS && should_stop(ws, 0))
            return;
        size_t nb = T - t0 < ws->p->blk_o ? T - t0 : ws->p->blk_o;
        /* per block: the LayerNorm below reuses vec0 */
        const float *bias = ly->attn_out_b.data ? row_view(&ly->attn_out_b, 0, ws->vec0) : NULL;
        lin_job j = lin(ws->out, E, ws->a + t0 * E, E, nb, &ly->attn_out, bias, ws->p->tile_bytes);
        run_linear(ws, &j, 1);
        ln_into_h(ws, t0, nb, ws->out, &ly->attn_out_norm, &ly->attn_out_norm_b, m->hp.eps, E);
    }
}

/* The FFN and its LayerNorm, blk_f tokens and fc hidden units at a time. */
static void layer_ffn(workspace *ws, const emb_model *m, const emb_layer *ly)
{
    const emb_hparams *hp = &m->hp;
    size_t E = hp->n_embd, F = hp->n_ff, T = ws->p->T, fc = ws->p->fc, B = ws->p->blk_f;
    bool nomic = hp->arch == EMB_ARCH_NOMIC_BERT;
    float *up = ws->a, *gate = ws->a + B * fc, *out = ws->a + (nomic ? 2 : 1) * B * fc;
    for (size_t t0 = 0; t0 < T; t0 += B) {
        if (T >= CANCEL_CHECK_TOKENS && should_stop(ws, 0))
            return;
        size_t nb = T - t0 < B ? T - t0 : B;
        const float *x = ws->h + t0 * E;
        for (size_t c0 = 0; c0 < F; c0 += fc) {
            const float *bup = !nomic && ly->ffn_up_b.data ? row_view(&ly->ffn_up_b, 0, ws->vec0) : NULL;
            lin_job jobs[2];
            jobs[0] = lin(up, fc, x, E, nb, &ly->ffn_up, bup, ws->p->tile_bytes);
            jobs[0].r_begin = c0;
            jobs[0].r_end = c0 + fc;
            jobs[0].chunk = even_chunk(jobs[0].chunk, fc);
            if (nomic) {
                jobs[1] = lin(gate, fc, x, E, nb, &ly->ffn_gate, NULL, ws->p->tile_bytes);
                jobs[1].r_begin = c0;
                jobs[1].r_end = c0 + fc;
                jobs[1].chunk = even_chunk(jobs[1].chunk, fc);
            }
            run_linear(ws, jobs, nomic ? 2 : 1);
            rows_job act = {nomic ? ROWS_SWIGLU : ROWS_GELU, nb, fc, up, gate, NULL, NULL, NULL, 0};
            run_rows(ws, &act);
            bool last = c0 + fc >= F;
            const float *bdown = last && ly->ffn_down_b.data ? row_view(&ly->ffn_down_b, 0, ws->vec0)
                                                             : NULL;
            lin_job d = lin(out, E, up, fc, nb, &ly->ffn_down, bdown, ws->p->tile_bytes);
            d.k0 = c0;
            d.kc = fc;
            d.chunk = lin_chunk_rows(&ly->ffn_down, fc, nb, ws->p->tile_bytes);
            d.beta = c0 ? 1.0f : 0.0f;
            run_linear(ws, &d, 1);
        }
        ln_into_h(ws, t0, nb, out, &ly->out_norm, &ly->out_norm_b, hp->eps, E);
    }
}

/* out: (n_seqs, E) pooled from ws->h. */
static void pool(float *out, const emb_model *m, const emb_seq *seqs, size_t n_seqs,
                 emb_pooling pooling, workspace *ws)
{
    size_t E = m->hp.n_embd, off = 0;
    for (size_t s = 0; s < n_seqs; s++) {
        size_t L = seqs[s].n;
        const float *hs = ws->h + off * E;
        float *o = out + s * E;
        if (pooling == EMB_POOLING_CLS) {
            memcpy(o, hs, E * sizeof *o);
        } else if (pooling == EMB_POOLING_LAST) {
            memcpy(o, hs + (L - 1) * E, E * sizeof *o);
        } else {
            for (size_t i = 0; i < E; i++)
                ws->pool[i] = 0.0;
            for (size_t t = 0; t < L; t++)
                for (size_t i = 0; i < E; i++)
                    ws->pool[i] += hs[t * E + i];
            for (size_t i = 0; i < E; i++)
                o[i] = (float)(ws->pool[i] / (double)L);
        }
        off += L;
    }
}

emb_code emb_forward(float *out, const emb_model *m, const emb_seq *seqs, size_t n_seqs,
                     emb_pooling pooling, const emb_forward_cfg *cfg, emb_error *err)
{
    emb_code rc;
    char *mh = NULL, *ma = NULL, *mr = NULL;
    char *mt[EMB_POOL_MAX_THREADS] = {NULL}; /* per-thread mappings */
    fwd_plan plan;
    memset(&plan, 0, sizeof plan);
    emb_pool_lease lease = {1, 0};
    if ((rc = emb_forward_check(m, seqs, n_seqs, pooling, err)) != EMB_OK)
        goto end;
    if (n_seqs == 0)
        goto end;
    if ((rc = emb_blas_init(err)) != EMB_OK)
        goto end;

    size_t T = 0, max_len = 0;
    for (size_t s = 0; s < n_seqs; s++) {
        if (seqs[s].n > SIZE_MAX - T) {
            rc = emb_error_set(err, EMB_ERR_RANGE, "forward: total token count overflows");
            goto end;
        }
        T += seqs[s].n;
        if (seqs[s].n > max_len)
            max_len = seqs[s].n;
    }
    const emb_hparams *hp = &m->hp;
    size_t widest = 3 * (size_t)hp->n_embd > 2 * (size_t)hp->n_ff ? 3 * (size_t)hp->n_embd
                                                                   : 2 * (size_t)hp->n_ff;
    if (T > INT_MAX || widest > INT_MAX) {
        rc = emb_error_set(err, EMB_ERR_RANGE,
                           "forward: %zu tokens of width %zu exceed the blas limit of %d", T,
                           widest, INT_MAX);
        goto end;
    }
    /* The lease first: the per-thread scratch is sized by the threads we got. */
    lease = emb_pool_acquire(threads_for(cfg));
    if ((rc = emb_blas_reserve(lease.n, err)) != EMB_OK)
        goto end;
    plan = plan_workspace(m, T, max_len, lease.n, cfg);
    if (plan.total == SIZE_MAX) {
        rc = emb_error_set(err, EMB_ERR_RANGE, "forward: workspace for %zu tokens overflows", T);
        goto end;
    }
    /* Separate mappings (page-aligned, so WS_ALIGN holds): hidden state,
     * `a`, the small shared parts, one per thread; none is larger than T x E
     * floats or the FFN budget, so long inputs need no single huge block. */
    mh = emb_pages_alloc(plan.bytes_h);
    ma = emb_pages_alloc(plan.bytes_a);
    mr = emb_pages_alloc(plan.bytes_rest);
    bool threads_ok = true;
    for (size_t t = 0; t < plan.nt; t++)
        threads_ok = threads_ok && (mt[t] = emb_pages_alloc(plan.bytes_thread)) != NULL;
    if (!mh || !ma || !mr || !threads_ok) {
        rc = emb_error_set(err, EMB_ERR_NOMEM, "forward: cannot allocate %zu bytes of workspace for "
                                               "%zu tokens",
                           plan.total, T);
        goto end;
    }
    workspace ws;
    carve(&ws, mh, ma, mr, mt, &plan);
    ws.lease = &lease;
    ws.cfg = cfg;
    atomic_init(&ws.stop, false);
    if (hp->arch == EMB_ARCH_NOMIC_BERT)
        rope_table(ws.rope, max_len, hp->n_rot, hp->rope_freq_base, hp->rope_freq_scale);

    embed_tokens(m, seqs, n_seqs, &ws);
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        if (should_stop(&ws, 0))
            break;
        const emb_layer *ly = &m->layers[l];
        if (cfg && cfg->willneed)
            advise_layer(ly);
        layer_heads(&ws, m, ly, seqs, n_seqs);
        layer_attn_out(&ws, m, ly);
        layer_ffn(&ws, m, ly);
    }
    if (atomic_load_explicit(&ws.stop, memory_order_relaxed)) {
        rc = emb_error_set(err, EMB_ERR_INTERRUPTED, "forward: interrupted");
        goto end;
    }
    pool(out, m, seqs, n_seqs, pooling, &ws);
    emb_blas_reserved(lease.n);
    rc = EMB_OK;
end:
    emb_pool_release(&lease);
    emb_pages_free(mh, plan.bytes_h);
    emb_pages_free(ma, plan.bytes_a);
    emb_pages_free(mr, plan.bytes_rest);
    for (size_t t = 0; t < plan.nt; t++)
        emb_pages_free(mt[t], plan.bytes_thread);
    return rc;
}
