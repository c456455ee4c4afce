/*
 * bench_thin: thin-batch products (matmul_thin.h) or, with -p, the bulk
 * panel products (matmul_panel.h) against the dequantize-then-sgemm path of
 * forward.c, on the matrices of a real model file, to find the crossovers
 * per type (docs/engine.md "Thin products", "Panel products").
 *
 *   bench_thin MODEL.gguf [-r RUNS] [-l scalar|avx2|avx512] [-L LAYERS] [-p 1] T...
 *
 * -L N: only the first N layers (N = 1: weights stay in cache, compute bound).
 * -p 1: the panel kernels instead of the thin ones (T up to 1024).
 *
 * For every T: RUNS passes over all layers' matrices (as one forward pass
 * streams them, so weights come from memory, not from a warm cache), each
 * product once with either path, the two paths interleaved pass by pass.
 * Prints the median CPU time per pass of both paths and their ratio. The
 * sgemm path uses forward.c's tile sizes (256 KiB up to 14 tokens, else
 * 1 MiB) and row chunks (at most an eighth of the rows) and one OpenBLAS
 * thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blas.h"
#include "forward.h"
#include "matmul_panel.h"
#include "matmul_thin.h"
#include "model.h"
#include "quant.h"

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void sgemm_path(float *y, size_t ldy, const float *x, size_t ldx, size_t T,
                       const emb_weight *w, float *tile, size_t tile_bytes)
{
    size_t ic = (size_t)w->ne0, oc = (size_t)w->ne1;
    size_t rows = tile_bytes / (ic * sizeof(float));
    size_t eighth = (oc / 8 + 15) / 16 * 16; /* forward.c chunk_rows */
    if (rows > eighth && eighth >= 64)
        rows = eighth;
    if (rows >= 16)
        rows -= rows % 16;
    if (rows < 1)
        rows = 1;
    for (size_t r0 = 0; r0 < oc; r0 += rows) {
        size_t nr = oc - r0 < rows ? oc - r0 : rows;
        emb_dequant_rows(tile, w->data, w->type, r0, nr, ic, (size_t)w->row_bytes);
        emb_sgemm_nt(y + r0, ldy, x, ldx, tile, ic, T, nr, ic, 0.0f);
    }
}

int main(int argc, char **argv)
{
    int runs = 9, a = 2, panel = 0;
    unsigned n_layers = 0;
    const char *level = NULL;
    if (argc < 3) {
        fprintf(stderr, "usage: bench_thin MODEL.gguf [-r RUNS] [-l LEVEL] T...\n");
        return 2;
    }
    for (; a < argc && argv[a][0] == '-'; a += 2) {
        if (a + 1 >= argc)
            return 2;
        if (strcmp(argv[a], "-r") == 0)
            runs = atoi(argv[a + 1]);
        else if (strcmp(argv[a], "-l") == 0)
            level = argv[a + 1];
        else if (strcmp(argv[a], "-p") == 0)
            panel = atoi(argv[a + 1]);
        else if (strcmp(argv[a], "-L") == 0)
            n_layers = (unsigned)atoi(argv[a + 1]);
    }
    if (level && !emb_quant_force_level(level)) {
        fprintf(stderr, "bench_thin: level %s not available\n", level);
        return 1;
    }
    emb_error err = {0};
    emb_model *m = emb_model_load(argv[1], &err);
    if (!m || emb_blas_init(&err) != EMB_OK) { /* OpenBLAS runs one thread (blas.h) */
        fprintf(stderr, "bench_thin: %s\n", err.msg);
        return 1;
    }
    size_t E = m->hp.n_embd, F = m->hp.n_ff, maxT = 1024;
    size_t W = 3 * E > 2 * F ? 3 * E : 2 * F;
    float *x = malloc(maxT * W * sizeof(float)), *y = malloc(maxT * W * sizeof(float));
    float *tile = aligned_alloc(64, (size_t)1 << 20);
    double *ta = malloc((size_t)runs * sizeof(double)), *tb = malloc((size_t)runs * sizeof(double));
    if (!x || !y || !tile || !ta || !tb)
        return 1;
    for (size_t i = 0; i < maxT * W; i++)
        x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    if (n_layers == 0 || n_layers > m->hp.n_layer)
        n_layers = m->hp.n_layer;
    printf("%s, level %s\n", argv[1], emb_quant_simd_level());
    for (; a < argc; a++) {
        size_t T = (size_t)atoi(argv[a]);
        if (T < 1 || T > maxT)
            continue;
        size_t tb_bytes = T <= EMB_FORWARD_FEW_TOKENS ? EMB_FORWARD_TILE_BYTES_FEW : EMB_FORWARD_TILE_BYTES;
        double flop = 0;
        for (int r = -1; r < runs; r++) {
            for (int path = 0; path < 2; path++) {
                double t0 = cpu_s();
                flop = 0;
                for (uint32_t l = 0; l < n_layers; l++) {
                    const emb_layer *ly = &m->layers[l];
                    const emb_weight *mats[] = {&ly->attn_qkv, &ly->attn_q, &ly->attn_k, &ly->attn_v,
                                                &ly->attn_out, &ly->ffn_up, &ly->ffn_gate, &ly->ffn_down};
                    for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
                        const emb_weight *w = mats[i];
                        if (!w->data)
                            continue;
                        size_t K = (size_t)w->ne0, N = (size_t)w->ne1;
                        if (path == 0 && panel)
                            emb_matmul_panel_part(y, N, x, K, T, w, 0, N, 0, K, false, tile);
                        else if (path == 0)
                            emb_matmul_thin(y, N, x, K, T, w, 0, N);
                        else
                            sgemm_path(y, N, x, K, T, w, tile, tb_bytes);
                        flop += 2.0 * (double)T * (double)K * (double)N;
                    }
                }
                double dt = cpu_s() - t0;
                if (r >= 0)
                    (path == 0 ? ta : tb)[r] = dt;
            }
        }
        qsort(ta, (size_t)runs, sizeof *ta, cmp_double);
        qsort(tb, (size_t)runs, sizeof *tb, cmp_double);
        double a_ms = ta[runs / 2] * 1e3, b_ms = tb[runs / 2] * 1e3;
        const char *name = panel ? "panel" : "thin";
        printf("T %3zu: %s %8.3f ms (%6.1f GFLOP/s)  sgemm %8.3f ms (%6.1f GFLOP/s)  %s/sgemm %.2f\n",
               T, name, a_ms, flop / a_ms * 1e-6, b_ms, flop / b_ms * 1e-6, name, a_ms / b_ms);
    }
    free(x); free(y); free(tile); free(ta); free(tb);
    emb_model_destroy(m);
    return 0;
}
