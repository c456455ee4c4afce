/*
 * tiny_model: small, valid bert / nomic-bert GGUF images built in memory for
 * the engine tests (gguf_builder underneath), plus one-knob corruptions of
 * that baseline for the model-binding error tests.
 *
 * Weights are deterministic pseudo-random values of a sane scale (matrices
 * ~0.05, LayerNorm weights near 1, biases ~0.02). Quantized tensors are random
 * bytes whose f16 block scales are overwritten with small finite values, so
 * every block is valid and dequantizes to moderate numbers. The vocabulary is
 * a small WordPiece list (specials, a few words, every ASCII letter and digit
 * as word start and as continuation, some punctuation) in phantom-space form.
 */
#ifndef TINY_MODEL_H
#define TINY_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

typedef struct tiny_model_spec {
    emb_arch arch;
    uint32_t n_embd, n_ff, n_head, n_layer, n_ctx;
    uint32_t mat_type;  /* layer matrices                                  */
    uint32_t embd_type; /* token_embd, token_types, position_embd          */
    uint32_t vec_type;  /* 1-D tensors (norms, biases)                     */
    int pooling;        /* value of {arch}.pooling_type; -1 = key absent   */
    float rope_base;    /* nomic rope.freq_base; 0 = key absent            */
    uint32_t max_seq_length; /* sentence_transformers.max_seq_length; 0 = absent */
    uint32_t seed;
    /* corruption knobs, all off by default */
    const char *arch_name;      /* general.architecture value instead of the arch's */
    const char *omit_key;       /* key not written                                   */
    const char *omit_tensor;    /* tensor not written                                */
    const char *reshape_tensor; /* this tensor gets ne1 = reshape_ne1 (2-D) or ne0 (1-D) */
    int64_t reshape_ne1;
    const char *retype_tensor;  /* this tensor gets type retype                      */
    uint32_t retype;
    uint32_t extra_embd_rows;   /* token_embd rows beyond the vocabulary             */
    bool ff_array;              /* feed_forward_length as a per-layer array          */
    uint32_t ff_array_layer1;   /* ... with this value at layer 1 (0 = same)         */
} tiny_model_spec;

/* The baseline: n_embd 64, n_ff 128 (256 / 512 for 256-element block types),
 * 4 heads, 2 layers, context 32, pooling mean, rope base 1000, all tensors of
 * `type` except 1-D ones (F32). */
tiny_model_spec tiny_model_default(emb_arch arch, uint32_t type);

/* The GGUF image (malloc()ed, caller frees) or NULL. */
uint8_t *tiny_model_build(const tiny_model_spec *s, size_t *size);

/* Build, open from memory and bind. On success *img holds the image, which
 * must outlive the model: emb_model_destroy(m) then free(*img). On failure
 * returns NULL with *err filled and frees the image. */
emb_model *tiny_model_load(const tiny_model_spec *s, uint8_t **img, emb_error *err);

/* Vocabulary size of the tiny models. */
size_t tiny_model_vocab_size(void);

#endif
