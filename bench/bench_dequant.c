/*
 * bench_dequant: dequantization throughput per type and SIMD level.
 *
 * usage: bench_dequant [n_elements] [runs] [type]
 *   n_elements  elements per kernel call (default 65536: 256 KiB of output,
 *               the size of a few weight rows, stays in L2)
 *   runs        timed runs per (type, level); the median is reported (default 9)
 *   type        only this type ("Q4_K"); default all supported types
 *
 * Input: random blocks with finite, normal f16 scales (subnormal or NaN
 * arithmetic would measure microcode assists, not the kernels). Each run calls
 * the kernel enough times to last >= 20 ms of thread CPU time. Prints a Markdown table:
 * G elements/s and GB/s of f32 output (median run), the speed-up over scalar,
 * and G elements/s of the fastest run (on a shared machine the gap between
 * the two shows how noisy the measurement was).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml_types.h"
#include "quant.h"

typedef struct bench_type {
    uint32_t type;
    int f16_fields[2]; /* byte offsets of f16 scale fields in a block, -1 = none */
} bench_type;

static const bench_type TYPES[] = {
    {GGML_TYPE_F32, {-1, -1}},  {GGML_TYPE_F16, {-1, -1}},    {GGML_TYPE_BF16, {-1, -1}},
    {GGML_TYPE_Q4_0, {0, -1}},  {GGML_TYPE_Q4_1, {0, 2}},     {GGML_TYPE_Q5_0, {0, -1}},
    {GGML_TYPE_Q5_1, {0, 2}},   {GGML_TYPE_Q8_0, {0, -1}},    {GGML_TYPE_Q2_K, {80, 82}},
    {GGML_TYPE_Q3_K, {108, -1}}, {GGML_TYPE_Q4_K, {0, 2}},     {GGML_TYPE_Q5_K, {0, 2}},
    {GGML_TYPE_Q6_K, {208, -1}}, {GGML_TYPE_IQ4_NL, {0, -1}}, {GGML_TYPE_IQ4_XS, {0, -1}},
};

static const char *const LEVELS[] = {"scalar", "avx2", "avx512"};

static uint64_t rng = 0x243F6A8885A308D3ull;

static uint32_t rand32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

/* CPU time of this thread: time slices lost to other processes on a shared
 * machine are not counted (cache interference still is). */
static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Fills `len` bytes of `type` data: random payload, sane scales / values. */
static void fill_input(uint8_t *in, size_t len, const bench_type *bt, const ggml_type_info *info)
{
    for (size_t i = 0; i < len; i++)
        in[i] = (uint8_t)rand32();
    if (bt->type == GGML_TYPE_F32 || bt->type == GGML_TYPE_F16 || bt->type == GGML_TYPE_BF16) {
        for (size_t i = 0; i < len / info->type_size; i++) {
            const float v = (float)((int)(rand32() % 20001) - 10000) / 10000.0f;
            if (bt->type == GGML_TYPE_F32) {
                memcpy(in + 4 * i, &v, 4);
            } else {
                uint32_t bits;
                memcpy(&bits, &v, 4);
                const uint16_t h = bt->type == GGML_TYPE_F16 ? emb_f32_to_f16(v) : (uint16_t)(bits >> 16);
                memcpy(in + 2 * i, &h, 2);
            }
        }
        return;
    }
    for (size_t b = 0; b < len / info->type_size; b++) {
        for (int k = 0; k < 2; k++) {
            if (bt->f16_fields[k] < 0)
                continue;
            const float v = (float)(1 + rand32() % 1000) * 1e-5f;
            const uint16_t h = emb_f32_to_f16(v);
            memcpy(in + b * info->type_size + (size_t)bt->f16_fields[k], &h, 2);
        }
    }
}

/* Median seconds per call of fn over `runs` runs of >= 20 ms each; *best
 * gets the fastest run's. */
static double time_kernel(double *best, emb_dequant_fn fn, float *out, const uint8_t *in, size_t n, int runs)
{
    size_t reps = 1;
    for (;;) { /* calibrate */
        const double t0 = now_sec();
        for (size_t r = 0; r < reps; r++)
            fn(out, in, n);
        if (now_sec() - t0 >= 0.02)
            break;
        reps *= 2;
    }
    double *t = malloc((size_t)runs * sizeof *t);
    if (!t)
        return -1.0;
    for (int k = 0; k < runs; k++) {
        const double t0 = now_sec();
        for (size_t r = 0; r < reps; r++)
            fn(out, in, n);
        t[k] = (now_sec() - t0) / (double)reps;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    const double median = t[runs / 2];
    *best = t[0];
    free(t);
    return median;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 65536;
    const int runs = argc > 2 ? atoi(argv[2]) : 9;
    const char *only = argc > 3 ? argv[3] : NULL;
    n = n / 256 * 256; /* whole blocks for every type */
    if (n == 0 || runs < 1) {
        fprintf(stderr, "usage: bench_dequant [n_elements >= 256] [runs >= 1] [type]\n");
        return 2;
    }
    int rc = 1;
    float *out = malloc(n * sizeof(float));
    uint8_t *in = malloc(n * 4);
    if (!out || !in)
        goto end;

    printf("best level: %s; %zu elements per call, median of %d runs\n\n", emb_quant_simd_level(), n, runs);
    printf("| type | level | G elem/s | GB/s out | vs scalar | best run G elem/s |\n"
           "|---|---|---:|---:|---:|---:|\n");
    for (size_t t = 0; t < sizeof TYPES / sizeof TYPES[0]; t++) {
        const bench_type *bt = &TYPES[t];
        const ggml_type_info *info = ggml_type_get(bt->type);
        if (only && strcmp(only, info->name) != 0)
            continue;
        const size_t len = n / info->block_size * info->type_size;
        fill_input(in, len, bt, info);
        double scalar_sec = 0;
        emb_dequant_fn prev = NULL;
        for (int l = 0; l < 3; l++) {
            if (!emb_quant_force_level(LEVELS[l]))
                continue;
            const emb_dequant_fn fn = emb_quant_kernel(bt->type);
            if (fn == prev) /* no kernel of its own at this level */
                continue;
            prev = fn;
            double best;
            const double sec = time_kernel(&best, fn, out, in, n, runs);
            if (sec <= 0)
                goto end;
            if (l == 0)
                scalar_sec = sec;
            printf("| %s | %s | %.2f | %.1f | %.1fx | %.2f |\n", info->name, LEVELS[l], (double)n / sec * 1e-9,
                   (double)n * 4.0 / sec * 1e-9, scalar_sec / sec, (double)n / best * 1e-9);
            fflush(stdout);
        }
    }
    rc = 0;
end:
    for (int l = 2; l >= 0; l--)
        if (emb_quant_force_level(LEVELS[l]))
            break;
    free(out);
    free(in);
    return rc;
}
