/*
 * f16: conversions between f32 and the 16-bit float formats (docs/format.md §2.1).
 *
 * Pure bit manipulation: the results do not depend on the FP environment
 * (rounding mode, FTZ/DAZ) a host process may have set.
 */
#include "quant_internal.h"

float emb_f16_to_f32(uint16_t h)
{
    return quant_f16_to_f32(h);
}

float emb_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Round to nearest, ties to even; overflow (>= 65520 in magnitude) gives inf;
 * NaN stays NaN, quieted, keeping the top 9 payload bits (what F16C's
 * vcvtps2ph does, so fixture code agrees with hardware conversions). */
uint16_t emb_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    const uint32_t ax = x & 0x7FFFFFFFu;

    if (ax > 0x7F800000u) /* NaN */
        return (uint16_t)(sign | 0x7E00u | ((ax >> 13) & 0x3FFu));
    if (ax >= 0x477FF000u) /* >= 65520 (half-way above 65504, ties to inf): inf */
        return (uint16_t)(sign | 0x7C00u);
    if (ax <= 0x33000000u) /* <= 2^-25 (half of the smallest subnormal): zero */
        return sign;
    if (ax < 0x38800000u) {
        /* f16 subnormal: mantissa = round(value / 2^-24). value = m * 2^(e-150)
         * with the implicit bit in m, so the quotient is m >> (126 - e). */
        const uint32_t e = ax >> 23; /* 102..112 */
        const uint32_t m = (ax & 0x7FFFFFu) | 0x800000u;
        const uint32_t shift = 126u - e; /* 14..24 */
        uint32_t r = m >> shift;
        const uint32_t rem = m & ((1u << shift) - 1u);
        const uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (r & 1u)))
            r++; /* may carry into the smallest normal (0x400): still right */
        return (uint16_t)(sign | r);
    }
    /* normal: rebias the exponent, keep 10 mantissa bits, round the other 13;
     * a carry out of the mantissa correctly bumps the exponent (never to inf,
     * that range was handled above) */
    uint32_t r = ((ax >> 23) - 112u) << 10 | ((ax >> 13) & 0x3FFu);
    const uint32_t rem = ax & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u)))
        r++;
    return (uint16_t)(sign | r);
}
