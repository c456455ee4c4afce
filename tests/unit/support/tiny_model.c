#include "tiny_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "gguf_builder.h"
#include "quant.h"

/* ---- vocabulary --------------------------------------------------------------- */

#define PH "\xe2\x96\x81" /* U+2581, the phantom space of word-initial pieces */

static const char *const WORDS[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    PH "hello", PH "world", PH "the", PH "quick", PH "brown", PH "fox", PH "search", PH "query",
    PH "document", PH "embed", "ing", "ed", "s",
    PH ".", PH ",", PH "!", PH "?", PH ":", PH "_", PH "'", PH "-",
};
#define N_WORDS (sizeof WORDS / sizeof WORDS[0])
#define N_VOCAB (N_WORDS + 26 * 2 + 10 * 2)

size_t tiny_model_vocab_size(void)
{
    return N_VOCAB;
}

/* strs[i] are malloc()ed into `store` (N_VOCAB * 8 bytes). */
static void vocab(const char **strs, char *store)
{
    size_t n = 0;
    for (size_t i = 0; i < N_WORDS; i++)
        strs[n++] = WORDS[i];
    for (int pass = 0; pass < 2; pass++) {
        const char *alpha = pass == 0 ? "abcdefghijklmnopqrstuvwxyz" : "0123456789";
        for (const char *c = alpha; *c; c++) {
            char *w = store + n * 8;
            snprintf(w, 8, PH "%c", *c); /* word-initial */
            strs[n++] = w;
            w = store + n * 8;
            snprintf(w, 8, "%c", *c); /* continuation */
            strs[n++] = w;
        }
    }
}

/* ---- values ------------------------------------------------------------------------ */

static uint32_t xorshift(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* uniform in [-1, 1) */
static float urand(uint32_t *s)
{
    return (float)(xorshift(s) >> 8) / (float)(1u << 23) - 1.0f;
}

static void put_f16(uint8_t *p, float v)
{
    uint16_t h = emb_f32_to_f16(v);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

/* Per quantized type: offsets of the f16 scale fields in a block and the
 * values they get (chosen so a weight is O(0.05); see tiny_model.h). */
typedef struct scale_fields {
    uint32_t type;
    int d_off, m_off; /* -1 = none */
    float d, m;
} scale_fields;

static const scale_fields SCALES[] = {
    {GGML_TYPE_Q4_0, 0, -1, 0.01f, 0},      {GGML_TYPE_Q4_1, 0, 2, 0.01f, -0.075f},
    {GGML_TYPE_Q5_0, 0, -1, 0.005f, 0},     {GGML_TYPE_Q5_1, 0, 2, 0.005f, -0.08f},
    {GGML_TYPE_Q8_0, 0, -1, 0.0005f, 0},    {GGML_TYPE_Q2_K, 80, 82, 0.004f, 0.002f},
    {GGML_TYPE_Q3_K, 108, -1, 0.0005f, 0},  {GGML_TYPE_Q4_K, 0, 2, 0.0002f, 0.0015f},
    {GGML_TYPE_Q5_K, 0, 2, 0.0001f, 0.0015f}, {GGML_TYPE_Q6_K, 208, -1, 0.00002f, 0},
    {GGML_TYPE_IQ4_NL, 0, -1, 0.0005f, 0},  {GGML_TYPE_IQ4_XS, 0, -1, 0.00002f, 0},
};

/* Fill n_bytes of tensor data of `type` holding n_elems values:
 * value = base + scale * uniform for float types, valid random blocks else. */
static void fill(uint8_t *out, uint32_t type, size_t n_elems, size_t n_bytes, float base, float scale,
                 uint32_t *rng)
{
    if (type == GGML_TYPE_F32 || type == GGML_TYPE_F16 || type == GGML_TYPE_BF16) {
        for (size_t i = 0; i < n_elems; i++) {
            float v = base + scale * urand(rng);
            if (type == GGML_TYPE_F32) {
                memcpy(out + 4 * i, &v, 4);
            } else if (type == GGML_TYPE_F16) {
                put_f16(out + 2 * i, v);
            } else {
                uint32_t bits;
                memcpy(&bits, &v, 4);
                uint16_t h = (uint16_t)(bits >> 16);
                out[2 * i] = (uint8_t)h;
                out[2 * i + 1] = (uint8_t)(h >> 8);
            }
        }
        return;
    }
    for (size_t i = 0; i < n_bytes; i++)
        out[i] = (uint8_t)xorshift(rng);
    const ggml_type_info *ti = ggml_type_get(type);
    const scale_fields *sf = NULL;
    for (size_t i = 0; i < sizeof SCALES / sizeof SCALES[0]; i++)
        if (SCALES[i].type == type)
            sf = &SCALES[i];
    if (!ti || !sf)
        return; /* e.g. IQ2_XXS for the unsupported-type test: bytes only */
    /* SCALES give a standard deviation of about 0.05; a uniform [-1, 1) * s
     * float tensor has s / sqrt(3), so match that (vectors too; their base is
     * ignored for quantized types). */
    float k = scale / 0.05f * 0.577f;
    for (size_t off = 0; off + ti->type_size <= n_bytes; off += ti->type_size) {
        put_f16(out + off + sf->d_off, sf->d * k * (0.75f + 0.25f * urand(rng)));
        if (sf->m_off >= 0)
            put_f16(out + off + sf->m_off, sf->m * k);
    }
}

/* ---- the tensor list ------------------------------------------------------------ */

typedef struct tdesc {
    char name[64];
    int64_t ne0, ne1; /* ne1 = 0: 1-D */
    uint32_t type;
    float base, scale;
} tdesc;

static size_t add_desc(tdesc *d, size_t n, const char *name, int64_t ne0, int64_t ne1, uint32_t type,
                       float base, float scale)
{
    snprintf(d[n].name, sizeof d[n].name, "%s", name);
    d[n].ne0 = ne0;
    d[n].ne1 = ne1;
    d[n].type = type;
    d[n].base = base;
    d[n].scale = scale;
    return n + 1;
}

static size_t describe(const tiny_model_spec *s, tdesc *d)
{
    size_t n = 0;
    int64_t E = s->n_embd, F = s->n_ff;
    bool bert = s->arch == EMB_ARCH_BERT;
    uint32_t m = s->mat_type, e = s->embd_type, v = s->vec_type;
    n = add_desc(d, n, "token_embd.weight", E, (int64_t)(N_VOCAB + s->extra_embd_rows), e, 0, 0.5f);
    n = add_desc(d, n, "token_types.weight", E, 2, e, 0, 0.1f);
    if (bert)
        n = add_desc(d, n, "position_embd.weight", E, s->n_ctx, e, 0, 0.1f);
    n = add_desc(d, n, "token_embd_norm.weight", E, 0, v, 1.0f, 0.1f);
    n = add_desc(d, n, "token_embd_norm.bias", E, 0, v, 0, 0.05f);
    for (uint32_t l = 0; l < s->n_layer; l++) {
        char nm[64];
#define L(suffix, ne0, ne1, type, base, scale)                                                    \
    do {                                                                                          \
        snprintf(nm, sizeof nm, "blk.%u." suffix, l);                                             \
        n = add_desc(d, n, nm, ne0, ne1, type, base, scale);                                      \
    } while (0)
        if (bert) {
            L("attn_q.weight", E, E, m, 0, 0.1f);
            L("attn_q.bias", E, 0, v, 0, 0.02f);
            L("attn_k.weight", E, E, m, 0, 0.1f);
            L("attn_k.bias", E, 0, v, 0, 0.02f);
            L("attn_v.weight", E, E, m, 0, 0.1f);
            L("attn_v.bias", E, 0, v, 0, 0.02f);
        } else {
            L("attn_qkv.weight", E, 3 * E, m, 0, 0.1f);
        }
        L("attn_output.weight", E, E, m, 0, 0.1f);
        if (bert)
            L("attn_output.bias", E, 0, v, 0, 0.02f);
        L("attn_output_norm.weight", E, 0, v, 1.0f, 0.1f);
        L("attn_output_norm.bias", E, 0, v, 0, 0.05f);
        L("ffn_up.weight", E, F, m, 0, 0.1f);
        if (bert)
            L("ffn_up.bias", F, 0, v, 0, 0.02f);
        else
            L("ffn_gate.weight", E, F, m, 0, 0.1f);
        L("ffn_down.weight", F, E, m, 0, 0.1f);
        if (bert)
            L("ffn_down.bias", E, 0, v, 0, 0.02f);
        L("layer_output_norm.weight", E, 0, v, 1.0f, 0.1f);
        L("layer_output_norm.bias", E, 0, v, 0, 0.05f);
#undef L
    }
    return n;
}

/* ---- build ------------------------------------------------------------------------ */

tiny_model_spec tiny_model_default(emb_arch arch, uint32_t type)
{
    tiny_model_spec s;
    memset(&s, 0, sizeof s);
    s.arch = arch;
    /* K-quant and IQ4_XS rows must be whole 256-element blocks. */
    const ggml_type_info *ti = ggml_type_get(type);
    bool wide = ti && ti->block_size == 256;
    s.n_embd = wide ? 256 : 64;
    s.n_ff = wide ? 512 : 128;
    s.n_head = 4;
    s.n_layer = 2;
    s.n_ctx = 32;
    s.mat_type = type;
    s.embd_type = type;
    s.vec_type = GGML_TYPE_F32;
    s.pooling = EMB_POOLING_MEAN;
    s.rope_base = 1000.0f;
    s.seed = 12345;
    return s;
}

static bool key_wanted(const tiny_model_spec *s, const char *key)
{
    return !s->omit_key || strcmp(s->omit_key, key) != 0;
}

uint8_t *tiny_model_build(const tiny_model_spec *s, size_t *size)
{
    uint8_t *img = NULL, *data = NULL;
    tdesc *descs = NULL;
    const char **strs = NULL;
    char *store = NULL;
    gguf_builder *b = gguf_builder_create();
    if (!b)
        goto end;
    const char *arch = s->arch == EMB_ARCH_BERT ? "bert" : "nomic-bert";
    char key[128];
#define K(suffix) (snprintf(key, sizeof key, "%s." suffix, arch), key)
#define WANT(k) key_wanted(s, k)
    if (WANT("general.architecture"))
        gguf_builder_add_str(b, "general.architecture", s->arch_name ? s->arch_name : arch);
    gguf_builder_add_str(b, "general.name", "tiny");
    if (WANT(K("context_length")))
        gguf_builder_add_u32(b, key, s->n_ctx);
    if (WANT(K("embedding_length")))
        gguf_builder_add_u32(b, key, s->n_embd);
    if (WANT(K("block_count")))
        gguf_builder_add_u32(b, key, s->n_layer);
    if (WANT(K("feed_forward_length"))) {
        if (s->ff_array) {
            uint32_t ff[64];
            for (uint32_t l = 0; l < s->n_layer && l < 64; l++)
                ff[l] = (l == 1 && s->ff_array_layer1) ? s->ff_array_layer1 : s->n_ff;
            gguf_builder_add_array(b, key, GGUF_TYPE_UINT32, ff, s->n_layer);
        } else {
            gguf_builder_add_u32(b, key, s->n_ff);
        }
    }
    if (WANT(K("attention.head_count")))
        gguf_builder_add_u32(b, key, s->n_head);
    if (WANT(K("attention.layer_norm_epsilon")))
        gguf_builder_add_f32(b, key, 1e-12f);
    if (WANT(K("attention.causal")))
        gguf_builder_add_bool(b, key, false);
    if (s->pooling >= 0 && WANT(K("pooling_type")))
        gguf_builder_add_u32(b, key, (uint32_t)s->pooling);
    if (s->arch == EMB_ARCH_NOMIC_BERT && s->rope_base > 0 && WANT(K("rope.freq_base")))
        gguf_builder_add_f32(b, key, s->rope_base);
#undef K
    if (s->max_seq_length)
        gguf_builder_add_u32(b, EMB_KEY_MAX_SEQ_LENGTH, s->max_seq_length);
    if (WANT("tokenizer.ggml.model"))
        gguf_builder_add_str(b, "tokenizer.ggml.model", "bert");
    strs = calloc(N_VOCAB, sizeof *strs);
    store = calloc(N_VOCAB, 8);
    if (!strs || !store)
        goto end;
    vocab(strs, store);
    if (WANT("tokenizer.ggml.tokens"))
        gguf_builder_add_str_array(b, "tokenizer.ggml.tokens", strs, N_VOCAB);
    int32_t types[N_VOCAB];
    for (size_t i = 0; i < N_VOCAB; i++)
        types[i] = i < 5 ? 3 : 1;
    gguf_builder_add_array(b, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, N_VOCAB);
    gguf_builder_add_u32(b, "tokenizer.ggml.token_type_count", 2);
    gguf_builder_add_u32(b, "tokenizer.ggml.bos_token_id", 2);
    gguf_builder_add_u32(b, "tokenizer.ggml.seperator_token_id", 3);
    gguf_builder_add_u32(b, "tokenizer.ggml.unknown_token_id", 1);
    gguf_builder_add_u32(b, "tokenizer.ggml.padding_token_id", 0);
#undef WANT

    descs = calloc(16 + 16 * (size_t)s->n_layer, sizeof *descs);
    if (!descs)
        goto end;
    size_t nd = describe(s, descs);
    uint32_t rng = s->seed ? s->seed : 1;
    for (size_t i = 0; i < nd; i++) {
        tdesc *d = &descs[i];
        if (s->omit_tensor && strcmp(s->omit_tensor, d->name) == 0)
            continue;
        if (s->reshape_tensor && strcmp(s->reshape_tensor, d->name) == 0) {
            if (d->ne1)
                d->ne1 = s->reshape_ne1;
            else
                d->ne0 = s->reshape_ne1;
        }
        if (s->retype_tensor && strcmp(s->retype_tensor, d->name) == 0)
            d->type = s->retype;
        int64_t ne[2] = {d->ne0, d->ne1};
        uint32_t n_dims = d->ne1 ? 2 : 1;
        uint64_t nb = gguf_builder_tensor_bytes(d->type, n_dims, ne);
        size_t n_elems = (size_t)(d->ne0 * (d->ne1 ? d->ne1 : 1));
        data = malloc(nb ? (size_t)nb : 1);
        if (!data || nb == 0)
            goto end;
        fill(data, d->type, n_elems, (size_t)nb, d->base, d->scale, &rng);
        if (!gguf_builder_add_tensor_data(b, d->name, d->type, n_dims, ne, data, (size_t)nb))
            goto end;
        free(data);
        data = NULL;
    }
    img = gguf_builder_build(b, size);
end:
    free(data);
    free(descs);
    free(strs);
    free(store);
    gguf_builder_destroy(b);
    return img;
}

emb_model *tiny_model_load(const tiny_model_spec *s, uint8_t **img_out, emb_error *err)
{
    size_t size = 0;
    uint8_t *img = tiny_model_build(s, &size);
    if (!img) {
        emb_error_set(err, EMB_ERR_INTERNAL, "tiny_model: cannot build the image");
        return NULL;
    }
    gguf_file *f = gguf_open_memory(img, size, "tiny.gguf", err);
    if (!f) {
        free(img);
        return NULL;
    }
    emb_model *m = emb_model_from_gguf(f, err);
    if (!m) {
        free(img);
        return NULL;
    }
    *img_out = img;
    return m;
}
