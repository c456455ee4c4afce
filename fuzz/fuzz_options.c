/*
 * fuzz_options: libFuzzer target for embed()'s options argument.
 *
 * Each input is used as the options text of embed('m', text, <input>) and
 * embed_json(...) on an in-memory SQLite database with the extension loaded
 * (the fuzz build's embed.so, path from $EMBED_FUZZ_EXT, default ./embed.so)
 * and a tiny model registered (path from $EMBED_FUZZ_MODEL). Options are
 * parsed by SQLite's json_each plus the extension's per-key checks; every
 * input must give either a vector of the expected size or an SQL error with
 * a message -- never a crash, a hang or a non-finite number.
 * Seeds: a few option objects (docs/fuzzing.md).
 */
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                                   \
    do {                                                                                                              \
        if (!(cond)) {                                                                                                \
            fprintf(stderr, "fuzz_options: invariant broken: %s (line %d)\n", #cond, __LINE__);                       \
            __builtin_trap();                                                                                         \
        }                                                                                                             \
    } while (0)

static sqlite3 *g_db;
static sqlite3_stmt *g_embed;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *ext = getenv("EMBED_FUZZ_EXT") ? getenv("EMBED_FUZZ_EXT") : "./embed.so";
    const char *model = getenv("EMBED_FUZZ_MODEL");
    if (!model) {
        fprintf(stderr, "fuzz_options: set EMBED_FUZZ_MODEL to a tiny model (build/fixtures/models/tiny-bert-F16.gguf)\n");
        exit(2);
    }
    CHECK(sqlite3_open(":memory:", &g_db) == SQLITE_OK);
    CHECK(sqlite3_enable_load_extension(g_db, 1) == SQLITE_OK);
    char *err = NULL;
    if (sqlite3_load_extension(g_db, ext, "sqlite3_embed_init", &err) != SQLITE_OK) {
        fprintf(stderr, "fuzz_options: cannot load %s: %s\n", ext, err ? err : "?");
        exit(2);
    }
    char *sql = sqlite3_mprintf("INSERT INTO embed_models(name, path) VALUES ('m', %Q)", model);
    CHECK(sqlite3_exec(g_db, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_free(sql);
    CHECK(sqlite3_prepare_v2(g_db, "SELECT embed('m', 'fuzzing the options', ?1), embed_json('m', 'x', ?1)", -1,
                             &g_embed, NULL) == SQLITE_OK);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sqlite3_bind_text(g_embed, 1, (const char *)data, (int)size, SQLITE_TRANSIENT);
    int rc = sqlite3_step(g_embed);
    if (rc == SQLITE_ROW) {
        int bytes = sqlite3_column_bytes(g_embed, 0);
        const float *v = sqlite3_column_blob(g_embed, 0);
        CHECK(bytes > 0 && bytes % 4 == 0 && v);
        for (int i = 0; i < bytes / 4; i++) {
            float x;
            memcpy(&x, (const char *)v + 4 * i, 4);
            CHECK(isfinite(x));
        }
        const char *json = (const char *)sqlite3_column_text(g_embed, 1);
        CHECK(json && json[0] == '[' && !strstr(json, "nan") && !strstr(json, "inf"));
    } else {
        CHECK(rc == SQLITE_ERROR || rc == SQLITE_NOMEM || rc == SQLITE_TOOBIG);
        CHECK(sqlite3_errmsg(g_db)[0]);
    }
    sqlite3_reset(g_embed);
    return 0;
}
