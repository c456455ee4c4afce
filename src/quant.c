/*
 * quant: the type-traits table and the run-time choice of kernels.
 *
 * TRAITS[type] names the scalar reference kernel and, for the hot types, the
 * AVX2 and AVX-512 ones. The level comes from cpu_features.h, the project's
 * one definition of what the CPU and the OS let us run (emb_cpu_can_avx2 /
 * emb_cpu_can_avx512: the instructions the kernels are compiled for, with
 * their register state saved by the OS), and is kept in an atomic so that
 * concurrent first calls are harmless: every thread computes the same value.
 */
#include "quant_internal.h"

#include <stdatomic.h>

#include "cpu_features.h"

enum { LEVEL_UNSET = -1, LEVEL_SCALAR = 0, LEVEL_AVX2 = 1, LEVEL_AVX512 = 2 };

static const char *const LEVEL_NAME[] = {"scalar", "avx2", "avx512"};

typedef struct quant_traits {
    emb_dequant_fn ref;    /* scalar reference; NULL = type not supported */
    emb_dequant_fn avx2;   /* emb_cpu_can_avx2; NULL = use ref              */
    emb_dequant_fn avx512; /* emb_cpu_can_avx512; NULL = use avx2, then ref */
} quant_traits;

#if EMB_QUANT_X86
#define SIMD(t) .avx2 = emb_dequant_##t##_avx2, .avx512 = emb_dequant_##t##_avx512
#else
#define SIMD(t) .avx2 = NULL
#endif

static const quant_traits TRAITS[GGML_TYPE_COUNT] = {
    [GGML_TYPE_F32] = {.ref = emb_dequant_f32_ref},
    [GGML_TYPE_F16] = {.ref = emb_dequant_f16_ref, SIMD(f16)},
    [GGML_TYPE_BF16] = {.ref = emb_dequant_bf16_ref},
    [GGML_TYPE_Q4_0] = {.ref = emb_dequant_q4_0_ref},
    [GGML_TYPE_Q4_1] = {.ref = emb_dequant_q4_1_ref},
    [GGML_TYPE_Q5_0] = {.ref = emb_dequant_q5_0_ref, SIMD(q5_0)},
    [GGML_TYPE_Q5_1] = {.ref = emb_dequant_q5_1_ref},
    [GGML_TYPE_Q8_0] = {.ref = emb_dequant_q8_0_ref, SIMD(q8_0)},
    [GGML_TYPE_Q2_K] = {.ref = emb_dequant_q2_K_ref},
    [GGML_TYPE_Q3_K] = {.ref = emb_dequant_q3_K_ref},
    [GGML_TYPE_Q4_K] = {.ref = emb_dequant_q4_K_ref, SIMD(q4_K)},
    [GGML_TYPE_Q5_K] = {.ref = emb_dequant_q5_K_ref, SIMD(q5_K)},
    [GGML_TYPE_Q6_K] = {.ref = emb_dequant_q6_K_ref, SIMD(q6_K)},
    [GGML_TYPE_IQ4_NL] = {.ref = emb_dequant_iq4_nl_ref},
    [GGML_TYPE_IQ4_XS] = {.ref = emb_dequant_iq4_xs_ref},
};

static const quant_traits *traits_get(uint32_t type)
{
    if (type >= GGML_TYPE_COUNT || TRAITS[type].ref == NULL)
        return NULL;
    return &TRAITS[type];
}

/* ---- CPU level ------------------------------------------------------------- */

/* The best level this CPU and OS can run. */
static int detect_level(void)
{
    const emb_cpu_features *f = emb_cpu_features_get();
    if (emb_cpu_can_avx512(f))
        return LEVEL_AVX512;
    if (emb_cpu_can_avx2(f))
        return LEVEL_AVX2;
    return LEVEL_SCALAR;
}

static _Atomic int g_level = LEVEL_UNSET;
static _Atomic int g_best = LEVEL_UNSET;

static int best_level(void)
{
    int best = atomic_load_explicit(&g_best, memory_order_relaxed);
    if (best == LEVEL_UNSET) {
        best = detect_level();
        atomic_store_explicit(&g_best, best, memory_order_relaxed);
    }
    return best;
}

static int current_level(void)
{
    int level = atomic_load_explicit(&g_level, memory_order_relaxed);
    if (level == LEVEL_UNSET) {
        level = best_level();
        atomic_store_explicit(&g_level, level, memory_order_relaxed);
    }
    return level;
}

/* ---- public API ------------------------------------------------------------ */

bool emb_quant_supported(uint32_t type)
{
    return traits_get(type) != NULL;
}

emb_dequant_fn emb_quant_kernel_ref(uint32_t type)
{
    const quant_traits *t = traits_get(type);
    return t ? t->ref : NULL;
}

emb_dequant_fn emb_quant_kernel(uint32_t type)
{
    const quant_traits *t = traits_get(type);
    if (t == NULL)
        return NULL;
    const int level = current_level();
    if (level >= LEVEL_AVX512 && t->avx512 != NULL)
        return t->avx512;
    if (level >= LEVEL_AVX2 && t->avx2 != NULL)
        return t->avx2;
    return t->ref;
}

const char *emb_quant_simd_level(void)
{
    return LEVEL_NAME[current_level()];
}

bool emb_quant_force_level(const char *level)
{
    if (level == NULL)
        return false;
    for (int i = LEVEL_SCALAR; i <= LEVEL_AVX512; i++) {
        if (strcmp(level, LEVEL_NAME[i]) == 0) {
            if (i > best_level())
                return false;
            atomic_store_explicit(&g_level, i, memory_order_relaxed);
            return true;
        }
    }
    return false;
}

bool emb_dequant_rows(float *dst, const void *tensor_data, uint32_t type, size_t row0,
                      size_t n_rows, size_t row_len, size_t row_bytes)
{
    const emb_dequant_fn fn = emb_quant_kernel(type);
    if (fn == NULL)
        return false;
    const ggml_type_info *info = ggml_type_get(type);
    if (info == NULL || row_len % info->block_size != 0)
        return false;
    /* a row must fit in its stride; row_len / block_size * type_size cannot
     * overflow when it does not exceed row_bytes (checked by division) */
    const size_t blocks = row_len / info->block_size;
    if (blocks > row_bytes / info->type_size)
        return false;
    if (n_rows == 0)
        return true;
    /* the end of the last row and the output size must be addressable */
    if (n_rows > SIZE_MAX - row0)
        return false;
    if (row_bytes != 0 && row0 + n_rows > SIZE_MAX / row_bytes)
        return false;
    if (row_len != 0 && n_rows > SIZE_MAX / sizeof(float) / row_len)
        return false;

    const uint8_t *src = (const uint8_t *)tensor_data + row0 * row_bytes;
    for (size_t r = 0; r < n_rows; r++)
        fn(dst + r * row_len, src + r * row_bytes, row_len);
    return true;
}
