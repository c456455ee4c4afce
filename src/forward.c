/*
 * forward: the fast path (BLAS for every matrix product). See forward.h.
 *
 * Notation: T tokens in the batch, E = n_embd, F = n_ff, H heads of D = E / H,
 * L = length of one sequence. All activations are row-major, one token per row.
 */
#include "forward.h"
#include "page_alloc.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blas.h"
#include "ggml_types.h"
#include "quant.h"

#define WS_ALIGN 64
#define INV_SQRT2 0.70710678118654752440f

/* ---- workspace -------------------------------------------------------------- */

typedef struct workspace {
    float *h, *h1, *a; /* (T, E) each                                  */
    float *wide;       /* (T, 3E) q|k|v, then (T, F) or (T, 2F) for FFN */
    float *scores;     /* (Q, max_len)                                  */
    float *rope;       /* (max_len, n_rot): cos[R/2] then sin[R/2]      */
    float *tile;       /* dequantized weight rows                       */
    float *vec0, *vec1;/* max(E, F) each                                */
    double *pool;      /* E                                             */
    size_t tile_bytes, attn_rows;
} workspace;

typedef struct ws_plan {
    size_t h, wide, scores, rope, tile, vec, pool; /* bytes per part (unrounded) */
    size_t total;                                  /* rounded, SIZE_MAX on overflow */
} ws_plan;

static bool mul_ok(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return false;
    *out = a * b;
    return true;
}

static bool add_rounded(size_t *acc, size_t bytes)
{
    if (bytes > SIZE_MAX - (WS_ALIGN - 1))
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

static size_t tile_rows(const emb_weight *w, size_t tile_bytes)
{
    size_t ic = (size_t)w->ne0, oc = (size_t)w->ne1;
    size_t rows = tile_bytes / (ic * sizeof(float));
    if (rows < 1)
        rows = 1;
    return rows < oc ? rows : oc;
}

static size_t tile_floats(const emb_model *m, size_t tile_bytes)
{
    size_t best = 0;
    for (uint32_t l = 0; l < m->hp.n_layer; l++) {
        const emb_layer *ly = &m->layers[l];
        const emb_weight *mats[] = {&ly->attn_q, &ly->attn_k,  &ly->attn_v,  &ly->attn_qkv,
                                    &ly->attn_out, &ly->ffn_up, &ly->ffn_gate, &ly->ffn_down};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
            const emb_weight *w = mats[i];
            if (!w->data || is_direct(w))
                continue;
            size_t n = tile_rows(w, tile_bytes) * (size_t)w->ne0;
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

static ws_plan plan_workspace(const emb_model *m, size_t T, size_t max_len, const emb_forward_cfg *cfg)
{
    ws_plan p;
    memset(&p, 0, sizeof p);
    p.total = SIZE_MAX;
    size_t tile_b, attn_rows;
    cfg_defaults(cfg, T, &tile_b, &attn_rows);
    const emb_hparams *hp = &m->hp;
    size_t E = hp->n_embd, F = hp->n_ff;
    bool nomic = hp->arch == EMB_ARCH_NOMIC_BERT;
    size_t wide_w = 3 * E, ffn_w = nomic ? 2 * F : F;
    if (ffn_w > wide_w)
        wide_w = ffn_w;
    size_t q = attn_rows < max_len ? attn_rows : max_len;
    size_t vec = E > F ? E : F;
    size_t x;
    if (!mul_ok(T, E, &x) || !mul_ok(x, sizeof(float), &p.h))
        return p;
    if (!mul_ok(T, wide_w, &x) || !mul_ok(x, sizeof(float), &p.wide))
        return p;
    if (!mul_ok(q, max_len, &x) || !mul_ok(x, sizeof(float), &p.scores))
        return p;
    if (!mul_ok(nomic ? max_len : 0, hp->n_rot, &x) || !mul_ok(x, sizeof(float), &p.rope))
        return p;
    p.tile = tile_floats(m, tile_b) * sizeof(float);
    p.vec = vec * sizeof(float);
    p.pool = E * sizeof(double);
    size_t total = 0;
    bool ok = add_rounded(&total, p.h) && add_rounded(&total, p.h) && add_rounded(&total, p.h) &&
              add_rounded(&total, p.wide) && add_rounded(&total, p.scores) &&
              add_rounded(&total, p.rope) && add_rounded(&total, p.tile) &&
              add_rounded(&total, p.vec) && add_rounded(&total, p.vec) && add_rounded(&total, p.pool);
    if (ok)
        p.total = total;
    return p;
}

size_t emb_forward_workspace_bytes(const emb_model *m, size_t n_tokens, size_t max_len,
                                   const emb_forward_cfg *cfg)
{
    return plan_workspace(m, n_tokens, max_len, cfg).total;
}

/* Carve the single allocation `base` (plan.total bytes) into the parts. */
static void carve(workspace *ws, char *base, const ws_plan *p)
{
    size_t off = 0;
#define TAKE(ptr, type, bytes)                                                                    \
    do {                                                                                          \
        ptr = (type *)(void *)(base + off);                                                       \
        off += ((bytes) + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;                                    \
    } while (0)
    TAKE(ws->h, float, p->h);
    TAKE(ws->h1, float, p->h);
    TAKE(ws->a, float, p->h);
    TAKE(ws->wide, float, p->wide);
    TAKE(ws->scores, float, p->scores);
    TAKE(ws->rope, float, p->rope);
    TAKE(ws->tile, float, p->tile);
    TAKE(ws->vec0, float, p->vec);
    TAKE(ws->vec1, float, p->vec);
    TAKE(ws->pool, double, p->pool);
#undef TAKE
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
 * y: (T, OC) leading dim ldy; x: (T, IC) leading dim ldx; w: (OC, IC) any
 * type; b: (OC) or absent.      y = x · wᵀ (+ b)
 */
static void linear(float *y, size_t ldy, const float *x, size_t ldx, size_t T, const emb_weight *w,
                   const emb_weight *b, workspace *ws)
{
    size_t ic = (size_t)w->ne0, oc = (size_t)w->ne1;
    if (is_direct(w) && T > EMB_FORWARD_FEW_TOKENS) {
        emb_sgemm_nt(y, ldy, x, ldx, (const float *)w->data, ic, T, oc, ic, 0.0f);
    } else if (is_direct(w)) {
        /* few tokens: the same row chunks as a dequantized tile, read in place
         * (faster with OpenBLAS's AVX-512 kernels, see EMB_FORWARD_TILE_BYTES_FEW) */
        size_t rows = tile_rows(w, ws->tile_bytes);
        const float *wf = (const float *)w->data;
        for (size_t r0 = 0; r0 < oc; r0 += rows) {
            size_t nr = oc - r0 < rows ? oc - r0 : rows;
            emb_sgemm_nt(y + r0, ldy, x, ldx, wf + r0 * ic, ic, T, nr, ic, 0.0f);
        }
    } else {
        size_t rows = tile_rows(w, ws->tile_bytes);
        for (size_t r0 = 0; r0 < oc; r0 += rows) {
            size_t nr = oc - r0 < rows ? oc - r0 : rows;
            emb_dequant_rows(ws->tile, w->data, w->type, r0, nr, ic, (size_t)w->row_bytes);
            emb_sgemm_nt(y + r0, ldy, x, ldx, ws->tile, ic, T, nr, ic, 0.0f);
        }
    }
    if (b && b->data) {
        const float *bias = row_view(b, 0, ws->vec0);
        for (size_t t = 0; t < T; t++) {
            float *yt = y + t * ldy;
            for (size_t o = 0; o < oc; o++)
                yt[o] += bias[o];
        }
    }
}

/*
 * out, x, resid: (T, E).   out = LayerNorm(x + resid) (resid may be NULL);
 * out may alias x or resid. docs/format.md §6.1: double sums, float elementwise ops.
 */
static void layer_norm(float *out, const float *x, const float *resid, size_t T, size_t E,
                       const emb_weight *w, const emb_weight *b, float eps, workspace *ws)
{
    const float *gw = row_view(w, 0, ws->vec0);
    const float *gb = row_view(b, 0, ws->vec1);
    for (size_t t = 0; t < T; t++) {
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

/* x: (n) in place. Exact erf GELU (HF BERT). */
static void gelu_erf(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * INV_SQRT2));
}

/* up, gate: (n). up = SiLU(gate) * up (nomic SwiGLU). */
static void swiglu(float *up, const float *gate, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        up[i] = g / (1.0f + expf(-g)) * up[i];
    }
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
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        row[i] = expf(row[i] - mx);
        sum += row[i];
    }
    float inv = (float)(1.0 / sum);
    for (size_t i = 0; i < n; i++)
        row[i] *= inv;
}

/*
 * qkv: (L, 3E) one sequence's rows (q | k | v); out: (L, E) leading dim E.
 * For every head h: out_h = softmax(q_h k_hᵀ / sqrt(D)) v_h, computed for
 * blocks of attn_rows query rows so the score buffer stays (attn_rows, L).
 */
static void attention(float *out, const float *qkv, size_t L, size_t E, size_t H, workspace *ws)
{
    size_t D = E / H, ld = 3 * E;
    float scale = 1.0f / sqrtf((float)D);
    for (size_t h = 0; h < H; h++) {
        const float *q = qkv + h * D, *k = qkv + E + h * D, *v = qkv + 2 * E + h * D;
        for (size_t r0 = 0; r0 < L; r0 += ws->attn_rows) {
            size_t nr = L - r0 < ws->attn_rows ? L - r0 : ws->attn_rows;
            emb_sgemm_nt(ws->scores, L, q + r0 * ld, ld, k, ld, nr, L, D, 0.0f);
            for (size_t r = 0; r < nr; r++)
                softmax_scaled(ws->scores + r * L, L, scale);
            emb_sgemm_nn(out + r0 * E + h * D, E, ws->scores, L, v, ld, nr, D, L, 0.0f);
        }
    }
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
    layer_norm(ws->h, ws->h, NULL, T, E, &m->embd_norm, &m->embd_norm_b, m->hp.eps, ws);
}

static void run_layer(const emb_model *m, const emb_layer *ly, const emb_seq *seqs, size_t n_seqs,
                      size_t T, workspace *ws)
{
    const emb_hparams *hp = &m->hp;
    size_t E = hp->n_embd, F = hp->n_ff, H = hp->n_head, D = E / H;
    bool bert = hp->arch == EMB_ARCH_BERT;
    float *wide = ws->wide;

    if (bert) {
        linear(wide, 3 * E, ws->h, E, T, &ly->attn_q, &ly->attn_q_b, ws);
        linear(wide + E, 3 * E, ws->h, E, T, &ly->attn_k, &ly->attn_k_b, ws);
        linear(wide + 2 * E, 3 * E, ws->h, E, T, &ly->attn_v, &ly->attn_v_b, ws);
    } else {
        linear(wide, 3 * E, ws->h, E, T, &ly->attn_qkv, NULL, ws);
    }

    size_t off = 0;
    for (size_t s = 0; s < n_seqs; s++) {
        size_t L = seqs[s].n;
        float *qkv = wide + off * 3 * E;
        if (!bert) {
            for (size_t p = 0; p < L; p++) {
                const float *cs = ws->rope + p * hp->n_rot;
                rope_apply(qkv + p * 3 * E, H, D, hp->n_rot, cs);     /* q */
                rope_apply(qkv + p * 3 * E + E, H, D, hp->n_rot, cs); /* k */
            }
        }
        attention(ws->a + off * E, qkv, L, E, H, ws);
        off += L;
    }

    linear(ws->h1, E, ws->a, E, T, &ly->attn_out, &ly->attn_out_b, ws);
    layer_norm(ws->h1, ws->h1, ws->h, T, E, &ly->attn_out_norm, &ly->attn_out_norm_b, hp->eps, ws);

    if (bert) {
        linear(wide, F, ws->h1, E, T, &ly->ffn_up, &ly->ffn_up_b, ws);
        gelu_erf(wide, T * F);
    } else {
        float *gate = wide + T * F;
        linear(wide, F, ws->h1, E, T, &ly->ffn_up, NULL, ws);
        linear(gate, F, ws->h1, E, T, &ly->ffn_gate, NULL, ws);
        swiglu(wide, gate, T * F);
    }
    linear(ws->a, E, wide, F, T, &ly->ffn_down, &ly->ffn_down_b, ws);
    layer_norm(ws->h, ws->a, ws->h1, T, E, &ly->out_norm, &ly->out_norm_b, hp->eps, ws);
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
    char *base = NULL;
    size_t base_bytes = 0;
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
    ws_plan plan = plan_workspace(m, T, max_len, cfg);
    if (plan.total == SIZE_MAX) {
        rc = emb_error_set(err, EMB_ERR_RANGE, "forward: workspace for %zu tokens overflows", T);
        goto end;
    }
    base = emb_pages_alloc(plan.total); /* page-aligned, so WS_ALIGN holds */
    base_bytes = plan.total;
    if (!base) {
        rc = emb_error_set(err, EMB_ERR_NOMEM, "forward: cannot allocate %zu bytes of workspace for "
                                               "%zu tokens",
                           plan.total, T);
        goto end;
    }
    workspace ws;
    carve(&ws, base, &plan);
    cfg_defaults(cfg, T, &ws.tile_bytes, &ws.attn_rows);
    if (hp->arch == EMB_ARCH_NOMIC_BERT)
        rope_table(ws.rope, max_len, hp->n_rot, hp->rope_freq_base, hp->rope_freq_scale);

    embed_tokens(m, seqs, n_seqs, &ws);
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        if (cfg && cfg->willneed)
            advise_layer(&m->layers[l]);
        run_layer(m, &m->layers[l], seqs, n_seqs, T, &ws);
    }
    pool(out, m, seqs, n_seqs, pooling, &ws);
    rc = EMB_OK;
end:
    emb_pages_free(base, base_bytes);
    return rc;
}
