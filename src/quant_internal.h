/*
 * quant_internal: what the dequantization files share and nobody else needs.
 *
 * - the FP-contraction guard (must come before any other include, see below);
 * - ggml's block layouts as byte-only structs (docs/format.md §2), with their sizes
 *   checked against ggml_types.c;
 * - little-endian field loaders, the K-quant scale unpacking and the IQ4_NL
 *   table, shared by the scalar and SIMD kernels so that both compute every
 *   per-block scale with the very same float operations;
 * - the kernel prototypes of quant_ref.c, quant_avx2.c and quant_avx512.c.
 *
 * Include this header FIRST in every quant*.c file.
 */
#ifndef EMB_QUANT_INTERNAL_H
#define EMB_QUANT_INTERNAL_H

/* Bit-exactness between the scalar and SIMD kernels (and with ggml) needs
 * `a * b - c` to round twice. The SIMD files are compiled with -mfma, where
 * clang (default -ffp-contract=on) fuses a*b-c written in one expression and
 * gcc in GNU C mode (-ffp-contract=fast) fuses even separate intrinsics into
 * an FMA. ISO C mode (-std=c11, what CMake uses) already disables this in
 * gcc; the pragmas keep it off whatever the flags. The pragma must precede
 * the intrinsic headers so that their inline bodies get the same setting. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__) && !defined(__STRICT_ANSI__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ggml_types.h"
#include "quant.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "quant: GGUF tensor data is little-endian; F32/F16/BF16 rows are copied as host words"
#endif

#if defined(__x86_64__) || defined(__i386__)
#define EMB_QUANT_X86 1
#else
#define EMB_QUANT_X86 0
#endif

/* ---- block layouts (ggml-common.h, docs/format.md §2) -------------------------------
 * Only byte members: alignment 1, no padding, so a block pointer may point
 * anywhere (rows inside an mmap are not aligned to the f16 fields) and the
 * structs are pure layout documentation plus size checks. Multi-byte fields
 * are read with the le*() loaders below. */
#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK4_NL 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct { uint8_t d[2]; uint8_t qs[QK4_0 / 2]; } block_q4_0;
typedef struct { uint8_t d[2]; uint8_t m[2]; uint8_t qs[QK4_1 / 2]; } block_q4_1;
typedef struct { uint8_t d[2]; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
typedef struct { uint8_t d[2]; uint8_t m[2]; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
typedef struct { uint8_t d[2]; int8_t qs[QK8_0]; } block_q8_0;
typedef struct {
    uint8_t scales[QK_K / 16]; /* low nibble scale, high nibble min */
    uint8_t qs[QK_K / 4];      /* 2-bit quants */
    uint8_t d[2];
    uint8_t dmin[2];
} block_q2_K;
typedef struct {
    uint8_t hmask[QK_K / 8]; /* high bit, CLEAR means subtract 4 */
    uint8_t qs[QK_K / 4];    /* low 2 bits */
    uint8_t scales[12];      /* sixteen 6-bit scales, biased by 32 */
    uint8_t d[2];
} block_q3_K;
typedef struct {
    uint8_t d[2];
    uint8_t dmin[2];
    uint8_t scales[K_SCALE_SIZE]; /* eight 6-bit (scale, min) pairs */
    uint8_t qs[QK_K / 2];
} block_q4_K;
typedef struct {
    uint8_t d[2];
    uint8_t dmin[2];
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8]; /* 5th bits */
    uint8_t qs[QK_K / 2];
} block_q5_K;
typedef struct {
    uint8_t ql[QK_K / 2]; /* low 4 bits */
    uint8_t qh[QK_K / 4]; /* high 2 bits */
    int8_t scales[QK_K / 16];
    uint8_t d[2];
} block_q6_K;
typedef struct { uint8_t d[2]; uint8_t qs[QK4_NL / 2]; } block_iq4_nl;
typedef struct {
    uint8_t d[2];
    uint8_t scales_h[2];
    uint8_t scales_l[QK_K / 64];
    uint8_t qs[QK_K / 2];
} block_iq4_xs;

/* Sizes as in ggml_types.c / docs/format.md §1.6. */
_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");
_Static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl size");
_Static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs size");
_Static_assert(offsetof(block_q2_K, d) == 80 && offsetof(block_q3_K, d) == 108 &&
                   offsetof(block_q5_K, qs) == 48 && offsetof(block_q6_K, scales) == 192 &&
                   offsetof(block_iq4_xs, qs) == 8,
               "block field offsets (docs/format.md §2)");
_Static_assert(sizeof(float) == 4 && sizeof(uint16_t) == 2, "f32 / f16 sizes");

/* ---- field loaders ---------------------------------------------------------- */
static inline uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Exact f16 -> f32 by bit manipulation (docs/format.md §2.1), independent of the FP
 * environment (FTZ/DAZ set by a host process do not touch it). */
static inline float quant_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t em = h & 0x7FFFu; /* exponent and mantissa */
    uint32_t bits;
    if (em - 0x0400u < 0x7800u) {
        bits = sign | ((em << 13) + (112u << 23)); /* normal: rebias 15 -> 127 */
    } else if (em >= 0x7C00u) {
        bits = sign | 0x7F800000u | ((em & 0x3FFu) << 13); /* inf, NaN (payload kept) */
    } else if (em == 0) {
        bits = sign; /* +-0 */
    } else {
        /* subnormal m * 2^-24: normalise; each shift lowers the exponent */
        uint32_t e = 113;
        while ((em & 0x400u) == 0) {
            em <<= 1;
            e--;
        }
        bits = sign | (e << 23) | ((em & 0x3FFu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline float f16_field(const uint8_t *p)
{
    return quant_f16_to_f32(le16(p));
}

/* Q4_K / Q5_K: the j-th (scale, min) pair, j = 0..7 (docs/format.md §2.3). */
static inline void kquant_scale_min(const uint8_t *s, int j, uint8_t *sc, uint8_t *mn)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *mn = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/* Per-sub-block factors of one Q4_K / Q5_K super-block: dl[j] = d * sc_j,
 * ml[j] = dmin * m_j, each one f32 product as in ggml. */
static inline void kquant_factors(float dl[8], float ml[8], const uint8_t *d_field,
                                  const uint8_t *dmin_field, const uint8_t *scales)
{
    const float d = f16_field(d_field);
    const float dmin = f16_field(dmin_field);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, mn;
        kquant_scale_min(scales, j, &sc, &mn);
        dl[j] = d * sc;
        ml[j] = dmin * mn;
    }
}

/* IQ4_NL / IQ4_XS non-linear 4-bit values (docs/format.md §2.2). */
extern const int8_t emb_kvalues_iq4nl[16];

/* ---- kernels: dst n floats, src n / block_size blocks (see quant.h) --------- */
#define EMB_QUANT_REF_KERNELS(X)                                                         \
    X(f32) X(f16) X(bf16) X(q4_0) X(q4_1) X(q5_0) X(q5_1) X(q8_0) X(q2_K) X(q3_K) X(q4_K) \
    X(q5_K) X(q6_K) X(iq4_nl) X(iq4_xs)
#define EMB_QUANT_SIMD_KERNELS(X) X(f16) X(q8_0) X(q5_0) X(q4_K) X(q5_K) X(q6_K)

#define EMB_DECLARE_REF(t) void emb_dequant_##t##_ref(float *dst, const void *src, size_t n);
EMB_QUANT_REF_KERNELS(EMB_DECLARE_REF)
#undef EMB_DECLARE_REF

#if EMB_QUANT_X86
#define EMB_DECLARE_SIMD(t)                                                    \
    void emb_dequant_##t##_avx2(float *dst, const void *src, size_t n);        \
    void emb_dequant_##t##_avx512(float *dst, const void *src, size_t n);
EMB_QUANT_SIMD_KERNELS(EMB_DECLARE_SIMD)
#undef EMB_DECLARE_SIMD
#endif

#endif
