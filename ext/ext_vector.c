/*
 * embed_similarity(a, b): cosine similarity of two float32 vector BLOBs (the
 * format embed() returns and sqlite-vec reads), so that a plain sqlite3 shell
 * can rank results without another extension:
 *
 *   SELECT body FROM docs ORDER BY embed_similarity(vec, embed('minilm', ?)) DESC LIMIT 5;
 *
 * NULL in -> NULL out. Both BLOBs must hold the same number of floats (a
 * whole number of 4-byte floats). A zero vector has similarity 0.
 * Pure computation: DETERMINISTIC and INNOCUOUS.
 */
#include "ext_common.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Reads float i of a little-endian float32 BLOB. memcpy: BLOBs need not be
 * 4-byte aligned. */
static float blob_float(const unsigned char *p, size_t i)
{
    uint32_t u;
    memcpy(&u, p + 4 * i, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    u = __builtin_bswap32(u);
#endif
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void fn_embed_similarity(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    for (int i = 0; i < 2; i++) {
        if (sqlite3_value_type(argv[i]) != SQLITE_BLOB) {
            ext_ctx_error(ctx, "embed_similarity: argument %d must be a float32 BLOB (from embed())", i + 1);
            return;
        }
    }
    const unsigned char *a = sqlite3_value_blob(argv[0]);
    int na = sqlite3_value_bytes(argv[0]);
    const unsigned char *b = sqlite3_value_blob(argv[1]);
    int nb = sqlite3_value_bytes(argv[1]);
    if (na % 4 || nb % 4) {
        ext_ctx_error(ctx, "embed_similarity: a BLOB of %d bytes is not a whole number of float32 values",
                      na % 4 ? na : nb);
        return;
    }
    if (na != nb) {
        ext_ctx_error(ctx, "embed_similarity: vectors have %d and %d dimensions", na / 4, nb / 4);
        return;
    }
    double dot = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < (size_t)na / 4; i++) {
        double x = blob_float(a, i), y = blob_float(b, i);
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    sqlite3_result_double(ctx, aa > 0 && bb > 0 ? dot / (sqrt(aa) * sqrt(bb)) : 0.0);
}

int ext_register_vector_functions(sqlite3 *db)
{
    static const ext_function FUNCS[] = {
        /* pure computation on its arguments */
        {"embed_similarity", 2, SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, fn_embed_similarity},
    };
    return ext_register_functions(db, FUNCS, sizeof FUNCS / sizeof FUNCS[0]);
}
