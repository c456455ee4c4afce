/*
 * fuzz_model: libFuzzer target for whole models through the forward pass.
 *
 * Each input is a GGUF image: parsed (gguf_open_memory), bound to the bert /
 * nomic-bert graph (emb_model_from_gguf) and, if it binds, two short texts
 * are embedded through the whole pipeline (tokenizer, batched forward with
 * OpenBLAS, pooling, normalization). Checked on every input (a broken
 * invariant traps):
 *   - every failure is an error code with a message, never a crash;
 *   - a success returns finite numbers only (damaged weights that compute
 *     NaN or infinity must be an error);
 *   - with normalization on, a successful vector has length 1 or is zero.
 * Seeds: the tiny models of tests/python/gen_models.py (build/fixtures/models
 * /tiny-*.gguf); see docs/fuzzing.md.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "gguf.h"
#include "model.h"

#define CHECK(cond)                                                                                                   \
    do {                                                                                                              \
        if (!(cond)) {                                                                                                \
            fprintf(stderr, "fuzz_model: invariant broken: %s (line %d)\n", #cond, __LINE__);                         \
            __builtin_trap();                                                                                         \
        }                                                                                                             \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    emb_error err;
    emb_error_clear(&err);
    gguf_file *f = gguf_open_memory(data, size, "fuzz.gguf", &err);
    if (!f) {
        CHECK(err.code != EMB_OK && err.msg[0]);
        return 0;
    }
    emb_model *m = emb_model_from_gguf(f, &err); /* owns f from here, also on failure */
    if (!m) {
        CHECK(err.code != EMB_OK && err.msg[0]);
        return 0;
    }
    /* Keep the work per input small: the fuzzer wants many inputs. */
    if ((uint64_t)m->hp.n_embd * m->hp.n_ff * m->hp.n_layer > (uint64_t)1 << 24) {
        emb_model_destroy(m);
        return 0;
    }
    emb_str texts[2] = {{"hello world", 11}, {"the quick brown fox", 19}};
    emb_embed_opts opts = emb_embed_opts_default();
    uint32_t dims = emb_embed_out_dims(m, &opts);
    CHECK(dims == m->hp.n_embd);
    float *out = malloc(2 * (size_t)dims * sizeof *out);
    CHECK(out);
    emb_error_clear(&err);
    emb_code rc = emb_embed_texts(out, m, texts, 2, &opts, &err);
    if (rc != EMB_OK) {
        CHECK(err.code == rc && err.msg[0]);
    } else {
        for (size_t t = 0; t < 2; t++) {
            double ss = 0.0;
            for (size_t i = 0; i < dims; i++) {
                CHECK(isfinite(out[t * dims + i]));
                ss += (double)out[t * dims + i] * out[t * dims + i];
            }
            CHECK(ss == 0.0 || fabs(ss - 1.0) < 1e-3);
        }
    }
    free(out);
    emb_model_destroy(m);
    return 0;
}
