/*
 * quant_ref: scalar reference dequantization kernels, one per supported type.
 *
 * Each reproduces ggml-quants.c:dequantize_row_* float operation for float
 * operation (docs/format.md §2): integers are converted to float exactly, every scale is
 * one f32 product, and `a * q - b` is a rounded multiply followed by a rounded
 * subtract (no FMA; see quant_internal.h). The SIMD kernels are checked
 * against these bit for bit, and these against the PyPI gguf package.
 *
 * Common shape: dst: (n) f32; src: (n / block_size) blocks of the type.
 */
#include "quant_internal.h"

const int8_t emb_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                      1,    13,   25,  38,  53,  69,  89,  113};

/* dst: (n) f32; src: (n) f32 */
void emb_dequant_f32_ref(float *dst, const void *src, size_t n)
{
    memcpy(dst, src, n * sizeof(float));
}

/* dst: (n) f32; src: (n) f16 */
void emb_dequant_f16_ref(float *dst, const void *src, size_t n)
{
    const uint8_t *s = src;
    for (size_t i = 0; i < n; i++)
        dst[i] = quant_f16_to_f32(le16(s + 2 * i));
}

/* dst: (n) f32; src: (n) bf16 */
void emb_dequant_bf16_ref(float *dst, const void *src, size_t n)
{
    const uint8_t *s = src;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)le16(s + 2 * i) << 16;
        memcpy(&dst[i], &bits, sizeof bits);
    }
}

/* dst: (n) f32; src: (n / 32) block_q4_0. y = (q - 8) * d */
void emb_dequant_q4_0_ref(float *dst, const void *src, size_t n)
{
    const block_q4_0 *x = src;
    for (size_t i = 0; i < n / QK4_0; i++, dst += QK4_0) {
        const float d = f16_field(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            const int x0 = (x[i].qs[j] & 0x0F) - 8;
            const int x1 = (x[i].qs[j] >> 4) - 8;
            dst[j] = (float)x0 * d;
            dst[j + QK4_0 / 2] = (float)x1 * d;
        }
    }
}

/* dst: (n) f32; src: (n / 32) block_q4_1. y = q * d + m */
void emb_dequant_q4_1_ref(float *dst, const void *src, size_t n)
{
    const block_q4_1 *x = src;
    for (size_t i = 0; i < n / QK4_1; i++, dst += QK4_1) {
        const float d = f16_field(x[i].d);
        const float m = f16_field(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            const int x0 = x[i].qs[j] & 0x0F;
            const int x1 = x[i].qs[j] >> 4;
            dst[j] = (float)x0 * d + m;
            dst[j + QK4_1 / 2] = (float)x1 * d + m;
        }
    }
}

/* dst: (n) f32; src: (n / 32) block_q5_0. y = (q5 - 16) * d */
void emb_dequant_q5_0_ref(float *dst, const void *src, size_t n)
{
    const block_q5_0 *x = src;
    for (size_t i = 0; i < n / QK5_0; i++, dst += QK5_0) {
        const float d = f16_field(x[i].d);
        const uint32_t qh = le32(x[i].qh);
        for (int j = 0; j < QK5_0 / 2; j++) {
            const int h0 = (int)((qh >> j) & 1u) << 4;
            const int h1 = (int)((qh >> (j + 16)) & 1u) << 4;
            const int x0 = ((x[i].qs[j] & 0x0F) | h0) - 16;
            const int x1 = ((x[i].qs[j] >> 4) | h1) - 16;
            dst[j] = (float)x0 * d;
            dst[j + QK5_0 / 2] = (float)x1 * d;
        }
    }
}

/* dst: (n) f32; src: (n / 32) block_q5_1. y = q5 * d + m */
void emb_dequant_q5_1_ref(float *dst, const void *src, size_t n)
{
    const block_q5_1 *x = src;
    for (size_t i = 0; i < n / QK5_1; i++, dst += QK5_1) {
        const float d = f16_field(x[i].d);
        const float m = f16_field(x[i].m);
        const uint32_t qh = le32(x[i].qh);
        for (int j = 0; j < QK5_1 / 2; j++) {
            const int h0 = (int)((qh >> j) & 1u) << 4;
            const int h1 = (int)((qh >> (j + 16)) & 1u) << 4;
            const int x0 = (x[i].qs[j] & 0x0F) | h0;
            const int x1 = (x[i].qs[j] >> 4) | h1;
            dst[j] = (float)x0 * d + m;
            dst[j + QK5_1 / 2] = (float)x1 * d + m;
        }
    }
}

/* dst: (n) f32; src: (n / 32) block_q8_0. y = q * d */
void emb_dequant_q8_0_ref(float *dst, const void *src, size_t n)
{
    const block_q8_0 *x = src;
    for (size_t i = 0; i < n / QK8_0; i++, dst += QK8_0) {
        const float d = f16_field(x[i].d);
        for (int j = 0; j < QK8_0; j++)
            dst[j] = (float)x[i].qs[j] * d;
    }
}

/* dst: (n) f32; src: (n / 256) block_q2_K. y = (d * sc) * q - (dmin * m) */
void emb_dequant_q2_K_ref(float *dst, const void *src, size_t n)
{
    const block_q2_K *x = src;
    for (size_t i = 0; i < n / QK_K; i++) {
        const float d = f16_field(x[i].d);
        const float dmin = f16_field(x[i].dmin);
        const uint8_t *q = x[i].qs;
        int is = 0;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int g = 0; g < 2; g++) {
                    const uint8_t sc = x[i].scales[is++];
                    const float dl = d * (float)(sc & 0xF);
                    const float ml = dmin * (float)(sc >> 4);
                    for (int l = 0; l < 16; l++)
                        *dst++ = dl * (float)((q[16 * g + l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

/* Q3_K: the sixteen signed 6-bit scales (docs/format.md §2.3). */
static void q3_K_scales(int s[16], const uint8_t b[12])
{
    for (int i = 0; i < 16; i++) {
        const int low4 = i < 8 ? (b[i] & 0xF) : (b[i - 8] >> 4);
        const int high2 = (b[8 + (i % 4)] >> (2 * (i / 4))) & 3;
        s[i] = (low4 | (high2 << 4)) - 32;
    }
}

/* dst: (n) f32; src: (n / 256) block_q3_K. y = (d * s) * (q2 - (hbit ? 0 : 4)) */
void emb_dequant_q3_K_ref(float *dst, const void *src, size_t n)
{
    const block_q3_K *x = src;
    for (size_t i = 0; i < n / QK_K; i++) {
        const float d = f16_field(x[i].d);
        int s[16];
        q3_K_scales(s, x[i].scales);
        const uint8_t *q = x[i].qs;
        const uint8_t *hm = x[i].hmask;
        int is = 0;
        unsigned bit = 0;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, bit++) {
                const uint8_t m = (uint8_t)(1u << bit);
                for (int g = 0; g < 2; g++) {
                    const float dl = d * (float)s[is++];
                    for (int l = 0; l < 16; l++) {
                        const int k = 16 * g + l;
                        const int qv = ((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4);
                        *dst++ = dl * (float)qv;
                    }
                }
            }
        }
    }
}

/* dst: (n) f32; src: (n / 256) block_q4_K. y = (d * sc) * q - (dmin * m) */
void emb_dequant_q4_K_ref(float *dst, const void *src, size_t n)
{
    const block_q4_K *x = src;
    for (size_t i = 0; i < n / QK_K; i++) {
        float dl[8], ml[8];
        kquant_factors(dl, ml, x[i].d, x[i].dmin, x[i].scales);
        const uint8_t *q = x[i].qs;
        for (int c = 0; c < 4; c++, q += 32) {
            for (int l = 0; l < 32; l++)
                *dst++ = dl[2 * c] * (float)(q[l] & 0xF) - ml[2 * c];
            for (int l = 0; l < 32; l++)
                *dst++ = dl[2 * c + 1] * (float)(q[l] >> 4) - ml[2 * c + 1];
        }
    }
}

/* dst: (n) f32; src: (n / 256) block_q5_K. y = (d * sc) * q5 - (dmin * m) */
void emb_dequant_q5_K_ref(float *dst, const void *src, size_t n)
{
    const block_q5_K *x = src;
    for (size_t i = 0; i < n / QK_K; i++) {
        float dl[8], ml[8];
        kquant_factors(dl, ml, x[i].d, x[i].dmin, x[i].scales);
        const uint8_t *ql = x[i].qs;
        const uint8_t *qh = x[i].qh;
        for (int c = 0; c < 4; c++, ql += 32) {
            const uint8_t u1 = (uint8_t)(1u << (2 * c));
            const uint8_t u2 = (uint8_t)(2u << (2 * c));
            for (int l = 0; l < 32; l++)
                *dst++ = dl[2 * c] * (float)((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - ml[2 * c];
            for (int l = 0; l < 32; l++)
                *dst++ = dl[2 * c + 1] * (float)((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) -
                         ml[2 * c + 1];
        }
    }
}

/* dst: (n) f32; src: (n / 256) block_q6_K. y = (d * sc) * (q6 - 32) */
void emb_dequant_q6_K_ref(float *dst, const void *src, size_t n)
{
    const block_q6_K *x = src;
    for (size_t i = 0; i < n / QK_K; i++) {
        const float d = f16_field(x[i].d);
        const uint8_t *ql = x[i].ql;
        const uint8_t *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, dst += 128) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                dst[l] = d * (float)sc[is + 0] * (float)q1;
                dst[l + 32] = d * (float)sc[is + 2] * (float)q2;
                dst[l + 64] = d * (float)sc[is + 4] * (float)q3;
                dst[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

/* dst: (n) f32; src: (n / 32) block_iq4_nl. y = d * KV[q] */
void emb_dequant_iq4_nl_ref(float *dst, const void *src, size_t n)
{
    const block_iq4_nl *x = src;
    for (size_t i = 0; i < n / QK4_NL; i++, dst += QK4_NL) {
        const float d = f16_field(x[i].d);
        for (int j = 0; j < QK4_NL / 2; j++) {
            dst[j] = d * (float)emb_kvalues_iq4nl[x[i].qs[j] & 0xF];
            dst[j + QK4_NL / 2] = d * (float)emb_kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}

/* dst: (n) f32; src: (n / 256) block_iq4_xs. y = (d * (ls - 32)) * KV[q] */
void emb_dequant_iq4_xs_ref(float *dst, const void *src, size_t n)
{
    const block_iq4_xs *x = src;
    for (size_t i = 0; i < n / QK_K; i++) {
        const float d = f16_field(x[i].d);
        const uint16_t scales_h = le16(x[i].scales_h);
        for (int ib = 0; ib < QK_K / 32; ib++, dst += 32) {
            const int ls = ((x[i].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) |
                           (((scales_h >> (2 * ib)) & 3) << 4);
            const float dl = d * (float)(ls - 32);
            const uint8_t *q = x[i].qs + 16 * ib;
            for (int j = 0; j < 16; j++) {
                dst[j] = dl * (float)emb_kvalues_iq4nl[q[j] & 0xF];
                dst[j + 16] = dl * (float)emb_kvalues_iq4nl[q[j] >> 4];
            }
        }
    }
}
