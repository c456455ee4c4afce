/*
 * quant: dequantization of GGUF tensor rows to f32.
 *
 * Supported (computable) types: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
 * Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS. Any other type is rejected
 * when a model is opened (see model.c), never mid-query.
 *
 * Every type has a scalar reference kernel reproducing ggml's float operation
 * order bit for bit (docs/format.md §2); hot types (F16, Q8_0, Q4_K, Q5_K, Q6_K, Q5_0)
 * also have SIMD kernels (AVX2+F16C, AVX-512) selected at run time from CPUID.
 * SIMD kernels give results identical to the scalar ones.
 *
 * All functions are pure and thread-safe.
 */
#ifndef EMB_QUANT_H
#define EMB_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* dst: n floats; src: n / block_size blocks of the type. n must be a multiple
 * of the type's block size (the GGUF reader guarantees whole-block rows). */
typedef void (*emb_dequant_fn)(float *dst, const void *src, size_t n);

/* true if tensors of this ggml type id can be dequantized. */
bool emb_quant_supported(uint32_t type);

/* The best kernel for this CPU (SIMD if available), or NULL if unsupported. */
emb_dequant_fn emb_quant_kernel(uint32_t type);

/* The scalar reference kernel, or NULL if unsupported. */
emb_dequant_fn emb_quant_kernel_ref(uint32_t type);

/* Which SIMD level the dispatcher picked: "avx512", "avx2", or "scalar". */
const char *emb_quant_simd_level(void);

/* Force a level for tests: "scalar", "avx2", "avx512"; returns false if the
 * CPU cannot run it (the level is then unchanged). Not thread-safe: tests only. */
bool emb_quant_force_level(const char *level);

/* Exact f16 -> f32 (subnormals honoured) and bf16 -> f32. */
float emb_f16_to_f32(uint16_t h);
float emb_bf16_to_f32(uint16_t h);
/* f32 -> f16 round-to-nearest-even (used by tests and fixture code). */
uint16_t emb_f32_to_f16(float f);

/* Dequantize rows [row0, row0 + n_rows) of a 2-D tensor whose rows have
 * `row_len` elements and occupy `row_bytes` bytes each, into dst (n_rows x
 * row_len, row-major). Uses emb_quant_kernel(type). Returns false (dst
 * untouched) if the type is unsupported, if row_len is not a whole number of
 * blocks, if a row's blocks do not fit in row_bytes, or if the row range or
 * output size overflows size_t. n_rows == 0 returns true and writes nothing. */
bool emb_dequant_rows(float *dst, const void *tensor_data, uint32_t type,
                      size_t row0, size_t n_rows, size_t row_len, size_t row_bytes);

#endif
