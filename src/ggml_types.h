/*
 * ggml_types: facts about every ggml tensor type id a GGUF file may name.
 *
 * Used by the GGUF reader to validate tensor infos (row = whole blocks, byte
 * sizes) and by gguf_tensors() to print type names. Whether a type can be
 * *computed with* is a separate question answered by quant.h.
 * Reference: docs/format.md §1.6.
 */
#ifndef GGML_TYPES_H
#define GGML_TYPES_H

#include <stdint.h>

enum {
    GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1, GGML_TYPE_Q4_0 = 2, GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6, GGML_TYPE_Q5_1 = 7, GGML_TYPE_Q8_0 = 8, GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10, GGML_TYPE_Q3_K = 11, GGML_TYPE_Q4_K = 12, GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14, GGML_TYPE_Q8_K = 15, GGML_TYPE_IQ2_XXS = 16, GGML_TYPE_IQ2_XS = 17,
    GGML_TYPE_IQ3_XXS = 18, GGML_TYPE_IQ1_S = 19, GGML_TYPE_IQ4_NL = 20, GGML_TYPE_IQ3_S = 21,
    GGML_TYPE_IQ2_S = 22, GGML_TYPE_IQ4_XS = 23, GGML_TYPE_I8 = 24, GGML_TYPE_I16 = 25,
    GGML_TYPE_I32 = 26, GGML_TYPE_I64 = 27, GGML_TYPE_F64 = 28, GGML_TYPE_IQ1_M = 29,
    GGML_TYPE_BF16 = 30, GGML_TYPE_TQ1_0 = 34, GGML_TYPE_TQ2_0 = 35,
    GGML_TYPE_COUNT = 39
};

typedef struct ggml_type_info {
    const char *name;     /* "Q4_K"; NULL for removed/unused ids        */
    uint32_t block_size;  /* elements per block; 0 = id not valid in files */
    uint32_t type_size;   /* bytes per block                             */
} ggml_type_info;

/* Info for a type id, or NULL if the id is not a valid tensor type in a
 * GGUF file (out of range, or removed like Q4_2 / Q4_0_4_4). */
const ggml_type_info *ggml_type_get(uint32_t type);

/* Name of a type id; "?" for an invalid one. Never NULL. */
const char *ggml_type_name(uint32_t type);

#endif
