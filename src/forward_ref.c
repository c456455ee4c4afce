/*
 * forward_ref: the naive scalar twin of forward.c, the tests' oracle.
 *
 * Deliberately plain: one sequence at a time, separate q/k/v arrays, every
 * dot product a loop with a double accumulator, every weight row dequantized
 * by the scalar reference kernel right before use, no BLAS, no tiling, no
 * shared code with forward.c beyond the input checks. Slow by design.
 */
#include "forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

typedef struct ref_buf {
    float *h, *h1, *q, *k, *v, *att, *tmp; /* (L, E) each            */
    float *up, *gate;                       /* (L, F) each            */
    float *row;                             /* max(E, F): one weight row */
    float *vec_w, *vec_b;                   /* max(E, F)              */
    float *scores;                          /* (L)                    */
} ref_buf;

/* Dequantize row r of w with the scalar reference kernel into dst (ne0). */
static void ref_row(float *dst, const emb_weight *w, size_t r)
{
    emb_dequant_fn fn = emb_quant_kernel_ref(w->type);
    fn(dst, (const unsigned char *)w->data + r * w->row_bytes, (size_t)w->ne0);
}

/* y: (L, OC); x: (L, IC); w: (OC, IC); b: (OC) or absent.  y = x wᵀ + b */
static void ref_linear(float *y, const float *x, size_t L, const emb_weight *w, const emb_weight *b,
                       ref_buf *rb)
{
    size_t ic = (size_t)w->ne0, oc = (size_t)w->ne1;
    if (b && b->data)
        ref_row(rb->vec_b, b, 0);
    for (size_t o = 0; o < oc; o++) {
        ref_row(rb->row, w, o);
        for (size_t t = 0; t < L; t++) {
            double acc = 0.0;
            for (size_t i = 0; i < ic; i++)
                acc += (double)x[t * ic + i] * (double)rb->row[i];
            float val = (float)acc;
            if (b && b->data)
                val += rb->vec_b[o];
            y[t * oc + o] = val;
        }
    }
}

/* x: (L, E) in place: x = LayerNorm(x + resid) (resid may be NULL). */
static void ref_layer_norm(float *x, const float *resid, size_t L, size_t E, const emb_weight *w,
                           const emb_weight *b, float eps, ref_buf *rb)
{
    ref_row(rb->vec_w, w, 0);
    ref_row(rb->vec_b, b, 0);
    for (size_t t = 0; t < L; t++) {
        float *r = x + t * E;
        if (resid)
            for (size_t i = 0; i < E; i++)
                r[i] = r[i] + resid[t * E + i];
        double mean = 0.0;
        for (size_t i = 0; i < E; i++)
            mean += r[i];
        mean /= (double)E;
        double var = 0.0;
        for (size_t i = 0; i < E; i++)
            var += ((double)r[i] - mean) * ((double)r[i] - mean);
        var /= (double)E;
        double inv = 1.0 / sqrt(var + (double)eps);
        for (size_t i = 0; i < E; i++)
            r[i] = (float)(((double)r[i] - mean) * inv * rb->vec_w[i] + rb->vec_b[i]);
    }
}

/* q or k: (L, E) in place; NEOX rotation of the first R dims of every head. */
static void ref_rope(float *x, size_t L, size_t H, size_t D, size_t R, float base, float scale)
{
    for (size_t p = 0; p < L; p++) {
        for (size_t h = 0; h < H; h++) {
            float *v = x + p * H * D + h * D;
            for (size_t i = 0; i < R / 2; i++) {
                /* theta_i = p * base^(-2i/R), the closed form of docs/format.md §6.4's product */
                double theta = (double)scale * (double)p * pow((double)base, -2.0 * (double)i / (double)R);
                double c = cos(theta), s = sin(theta);
                double x0 = v[i], x1 = v[i + R / 2];
                v[i] = (float)(x0 * c - x1 * s);
                v[i + R / 2] = (float)(x0 * s + x1 * c);
            }
        }
    }
}

/* att: (L, E) = per head softmax(q kᵀ / sqrt(D)) v. */
static void ref_attention(float *att, const float *q, const float *k, const float *v, size_t L,
                          size_t H, size_t D, ref_buf *rb)
{
    size_t E = H * D;
    double scale = 1.0 / sqrt((double)D);
    for (size_t h = 0; h < H; h++) {
        for (size_t a = 0; a < L; a++) {
            double mx = -INFINITY;
            for (size_t b = 0; b < L; b++) {
                double s = 0.0;
                for (size_t d = 0; d < D; d++)
                    s += (double)q[a * E + h * D + d] * (double)k[b * E + h * D + d];
                rb->scores[b] = (float)(s * scale);
                if (rb->scores[b] > mx)
                    mx = rb->scores[b];
            }
            double sum = 0.0;
            for (size_t b = 0; b < L; b++)
                sum += exp((double)rb->scores[b] - mx);
            for (size_t d = 0; d < D; d++) {
                double o = 0.0;
                for (size_t b = 0; b < L; b++)
                    o += exp((double)rb->scores[b] - mx) / sum * (double)v[b * E + h * D + d];
                att[a * E + h * D + d] = (float)o;
            }
        }
    }
}

static void ref_free(ref_buf *rb)
{
    free(rb->h);
    free(rb->h1);
    free(rb->q);
    free(rb->k);
    free(rb->v);
    free(rb->att);
    free(rb->tmp);
    free(rb->up);
    free(rb->gate);
    free(rb->row);
    free(rb->vec_w);
    free(rb->vec_b);
    free(rb->scores);
}

static bool ref_alloc(ref_buf *rb, size_t L, size_t E, size_t F)
{
    memset(rb, 0, sizeof *rb);
    size_t wide = E > F ? E : F;
    rb->h = calloc(L * E, sizeof(float));
    rb->h1 = calloc(L * E, sizeof(float));
    rb->q = calloc(L * E, sizeof(float));
    rb->k = calloc(L * E, sizeof(float));
    rb->v = calloc(L * E, sizeof(float));
    rb->att = calloc(L * E, sizeof(float));
    rb->tmp = calloc(L * E, sizeof(float));
    rb->up = calloc(L * F, sizeof(float));
    rb->gate = calloc(L * F, sizeof(float));
    rb->row = calloc(wide, sizeof(float));
    rb->vec_w = calloc(wide, sizeof(float));
    rb->vec_b = calloc(wide, sizeof(float));
    rb->scores = calloc(L, sizeof(float));
    return rb->h && rb->h1 && rb->q && rb->k && rb->v && rb->att && rb->tmp && rb->up && rb->gate &&
           rb->row && rb->vec_w && rb->vec_b && rb->scores;
}

/* out: (E) for one sequence. */
static void ref_one(float *out, const emb_model *m, const emb_seq *seq, emb_pooling pooling,
                    ref_buf *rb)
{
    const emb_hparams *hp = &m->hp;
    size_t L = seq->n, E = hp->n_embd, F = hp->n_ff, H = hp->n_head, D = E / H;
    bool bert = hp->arch == EMB_ARCH_BERT;

    for (size_t p = 0; p < L; p++) {
        float *r = rb->h + p * E;
        ref_row(r, &m->tok_embd, (size_t)seq->ids[p]);
        ref_row(rb->row, &m->tok_types, 0);
        for (size_t i = 0; i < E; i++)
            r[i] += rb->row[i];
        if (bert) {
            ref_row(rb->row, &m->pos_embd, p);
            for (size_t i = 0; i < E; i++)
                r[i] += rb->row[i];
        }
    }
    ref_layer_norm(rb->h, NULL, L, E, &m->embd_norm, &m->embd_norm_b, hp->eps, rb);

    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const emb_layer *ly = &m->layers[l];
        if (bert) {
            ref_linear(rb->q, rb->h, L, &ly->attn_q, &ly->attn_q_b, rb);
            ref_linear(rb->k, rb->h, L, &ly->attn_k, &ly->attn_k_b, rb);
            ref_linear(rb->v, rb->h, L, &ly->attn_v, &ly->attn_v_b, rb);
        } else {
            /* fused qkv: output rows [0,E) q, [E,2E) k, [2E,3E) v */
            size_t ic = E;
            for (size_t o = 0; o < 3 * E; o++) {
                ref_row(rb->row, &ly->attn_qkv, o);
                float *dst = o < E ? rb->q : o < 2 * E ? rb->k : rb->v;
                for (size_t t = 0; t < L; t++) {
                    double acc = 0.0;
                    for (size_t i = 0; i < ic; i++)
                        acc += (double)rb->h[t * E + i] * (double)rb->row[i];
                    dst[t * E + o % E] = (float)acc;
                }
            }
            ref_rope(rb->q, L, H, D, hp->n_rot, hp->rope_freq_base, hp->rope_freq_scale);
            ref_rope(rb->k, L, H, D, hp->n_rot, hp->rope_freq_base, hp->rope_freq_scale);
        }
        ref_attention(rb->att, rb->q, rb->k, rb->v, L, H, D, rb);
        ref_linear(rb->h1, rb->att, L, &ly->attn_out, &ly->attn_out_b, rb);
        ref_layer_norm(rb->h1, rb->h, L, E, &ly->attn_out_norm, &ly->attn_out_norm_b, hp->eps, rb);

        ref_linear(rb->up, rb->h1, L, &ly->ffn_up, &ly->ffn_up_b, rb);
        if (bert) {
            for (size_t i = 0; i < L * F; i++) {
                double x = rb->up[i];
                rb->up[i] = (float)(0.5 * x * (1.0 + erf(x / sqrt(2.0))));
            }
        } else {
            ref_linear(rb->gate, rb->h1, L, &ly->ffn_gate, NULL, rb);
            for (size_t i = 0; i < L * F; i++) {
                double g = rb->gate[i];
                rb->up[i] = (float)(g / (1.0 + exp(-g)) * (double)rb->up[i]);
            }
        }
        ref_linear(rb->tmp, rb->up, L, &ly->ffn_down, &ly->ffn_down_b, rb);
        ref_layer_norm(rb->tmp, rb->h1, L, E, &ly->out_norm, &ly->out_norm_b, hp->eps, rb);
        memcpy(rb->h, rb->tmp, L * E * sizeof(float));
    }

    for (size_t i = 0; i < E; i++) {
        if (pooling == EMB_POOLING_CLS) {
            out[i] = rb->h[i];
        } else if (pooling == EMB_POOLING_LAST) {
            out[i] = rb->h[(L - 1) * E + i];
        } else {
            double s = 0.0;
            for (size_t t = 0; t < L; t++)
                s += rb->h[t * E + i];
            out[i] = (float)(s / (double)L);
        }
    }
}

emb_code emb_forward_ref(float *out, const emb_model *m, const emb_seq *seqs, size_t n_seqs,
                         emb_pooling pooling, emb_error *err)
{
    emb_code rc = emb_forward_check(m, seqs, n_seqs, pooling, err);
    if (rc != EMB_OK || n_seqs == 0)
        return rc;
    size_t E = m->hp.n_embd;
    float *tmp_out = malloc(n_seqs * E * sizeof(float));
    if (!tmp_out)
        return emb_error_set(err, EMB_ERR_NOMEM, "forward_ref: out of memory");
    for (size_t s = 0; s < n_seqs; s++) {
        ref_buf rb;
        if (!ref_alloc(&rb, seqs[s].n, E, m->hp.n_ff)) {
            ref_free(&rb);
            free(tmp_out);
            return emb_error_set(err, EMB_ERR_NOMEM, "forward_ref: out of memory for sequence %zu",
                                 s);
        }
        ref_one(tmp_out + s * E, m, &seqs[s], pooling, &rb);
        ref_free(&rb);
    }
    memcpy(out, tmp_out, n_seqs * E * sizeof(float));
    free(tmp_out);
    return EMB_OK;
}
