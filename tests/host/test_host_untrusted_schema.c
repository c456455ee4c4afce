/*
 * A database from an untrusted source, opened with trusted_schema=OFF: before
 * SQLite 3.50.0 its CHECK constraints can call DIRECTONLY functions. The
 * tokenizer functions' path form then opens only *.gguf files, so a hostile
 * CHECK cannot make the host open /etc/passwd and report its first bytes.
 * Also: a NUL byte inside a path or a model name is an error, never a
 * shorter path or another model, in every function that takes one.
 */
#include "host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    char db_path[700], sql[1200];
    snprintf(db_path, sizeof db_path, "%s/untrusted.db", host_tmpdir());
    const char *ext = getenv("EMBED_EXT");
    CHECK(ext);

    /* The attacker's database, made with the extension loaded. */
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(db_path, &db) == SQLITE_OK);
    CHECK(sqlite3_enable_load_extension(db, 1) == SQLITE_OK);
    CHECK(sqlite3_load_extension(db, ext, NULL, NULL) == SQLITE_OK);
    host_exec_ok(db, "CREATE TABLE t(x CHECK (embed_token_count('/etc/passwd', x) > 0))");
    sqlite3_close(db);

    /* The victim opens it. */
    CHECK(sqlite3_open(db_path, &db) == SQLITE_OK);
    CHECK(sqlite3_enable_load_extension(db, 1) == SQLITE_OK);
    CHECK(sqlite3_load_extension(db, ext, NULL, NULL) == SQLITE_OK);
    host_exec_ok(db, "PRAGMA trusted_schema=OFF");
    char *err = NULL;
    int rc = host_exec(db, "INSERT INTO t VALUES ('hello')", &err);
    printf("SQLite %s: %s\n", sqlite3_libversion(), rc == SQLITE_OK ? "ok" : err);
    CHECK(rc != SQLITE_OK);
    if (sqlite3_libversion_number() < 3050000)
        CHECK(strstr(err, "must name a .gguf file"));
    CHECK(!strstr(err, "72 6f 6f 74")); /* "root": the file was never read */
    sqlite3_free(err);
    sqlite3_close(db);

    /* NUL bytes: an error naming them. */
    db = host_open();
    snprintf(sql, sizeof sql, "INSERT INTO embed_models(name, path) VALUES ('m', '%s' || char(0) || 'x')",
             host_model("tiny-bert-F16.gguf"));
    err = NULL;
    CHECK(host_exec(db, sql, &err) == SQLITE_ERROR && strstr(err, "path contains a NUL byte"));
    sqlite3_free(err);
    err = NULL;
    CHECK(host_exec(db, "INSERT INTO embed_models(name, path) VALUES ('a' || char(0) || 'b', 'x.gguf')", &err) ==
              SQLITE_ERROR &&
          strstr(err, "name contains a NUL byte"));
    sqlite3_free(err);
    snprintf(sql, sizeof sql, "SELECT embed_token_count('%s' || char(0) || 'x', 'hello')", host_model("tiny-bert-F16.gguf"));
    err = NULL;
    CHECK(host_exec(db, sql, &err) == SQLITE_ERROR && strstr(err, "NUL byte"));
    sqlite3_free(err);
    snprintf(sql, sizeof sql, "SELECT embed_tokenize('%s' || char(0) || 'x', 'hello')", host_model("tiny-bert-F16.gguf"));
    err = NULL;
    CHECK(host_exec(db, sql, &err) == SQLITE_ERROR && strstr(err, "NUL byte"));
    sqlite3_free(err);
    /* A registered name followed by a NUL byte is not that model: before,
     * each of these used model 'm' silently. */
    snprintf(sql, sizeof sql, "INSERT INTO embed_models(name, path) VALUES ('m', '%s')", host_model("tiny-bert-F16.gguf"));
    host_exec_ok(db, sql);
    static const char *const NUL_NAMED[] = {
        "SELECT embed('m' || char(0) || 'x', 'hello')",
        "SELECT embed_json('m' || char(0) || 'x', 'hello')",
        "SELECT count(*) FROM embed_batch('m' || char(0) || 'x', '[\"hello\"]')",
        "SELECT count(*) FROM embed_chunks('m' || char(0) || 'x', 'hello')",
        "SELECT count(*) FROM embed_tokens('m' || char(0) || 'x', 'hello')",
        "SELECT embed_tokenize('m' || char(0) || 'x', 'hello')",
        "SELECT embed_token_count('m' || char(0) || 'x', 'hello')",
        "SELECT embed_unload('m' || char(0) || 'x')",
    };
    for (size_t i = 0; i < sizeof NUL_NAMED / sizeof NUL_NAMED[0]; i++) {
        err = NULL;
        int rc_nul = host_exec(db, NUL_NAMED[i], &err);
        if (rc_nul != SQLITE_ERROR || !strstr(err, "model contains a NUL byte"))
            fprintf(stderr, "%s: %s\n", NUL_NAMED[i], rc_nul == SQLITE_OK ? "succeeded" : err);
        CHECK(rc_nul == SQLITE_ERROR && strstr(err, "model contains a NUL byte"));
        sqlite3_free(err);
    }
    sqlite3_close(db);
    printf("test_host_untrusted_schema: ok\n");
    return 0;
}
