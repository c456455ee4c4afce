/*
 * Loading and closing the extension 1,000 times (each close unloads it: the
 * last connection that loaded it closes) must not grow the process: resident
 * memory, open descriptors and mappings stay flat. Every tenth cycle registers
 * a model and embeds, so the registry, the mapping, the SIGBUS guard and
 * OpenBLAS are set up and torn down too.
 */
#include "host.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Under AddressSanitizer RSS grows by design (freed memory is quarantined);
 * there LeakSanitizer checks what this test's RSS bound checks elsewhere. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_IS_MEANINGFUL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_IS_MEANINGFUL 0
#endif
#endif
#ifndef RSS_IS_MEANINGFUL
#define RSS_IS_MEANINGFUL 1
#endif

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    CHECK(f);
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void cycle(int i, const char *model)
{
    sqlite3 *db = host_open();
    if (i % 10 == 0) {
        char sql[800];
        snprintf(sql, sizeof sql, "INSERT INTO embed_models(name, path) VALUES ('m', '%s')", model);
        host_exec_ok(db, sql);
        float v[256];
        CHECK(host_embed(db, "m", "load and close", NULL, v, 256, NULL) == 256);
    } else {
        host_exec_ok(db, "SELECT embed_version()");
    }
    CHECK(sqlite3_close(db) == SQLITE_OK);
}

int main(void)
{
    const char *model = host_model("tiny-bert-F16.gguf");
    int cycles = getenv("HOST_TEST_ROUNDS") ? atoi(getenv("HOST_TEST_ROUNDS")) : 1000;
    for (int i = 0; i < 50; i++) /* warm-up: OpenBLAS, allocator arenas */
        cycle(i, model);
    long rss0 = rss_kb();
    int fds0 = open_fds(), maps0 = host_count_mappings("/");
    for (int i = 0; i < cycles; i++)
        cycle(i, model);
    long rss1 = rss_kb();
    int fds1 = open_fds(), maps1 = host_count_mappings("/");
    printf("%d cycles: RSS %ld -> %ld kB, fds %d -> %d, file mappings %d -> %d\n", cycles, rss0, rss1, fds0, fds1,
           maps0, maps1);
    CHECK(fds1 == fds0);
    CHECK(maps1 == maps0);
    if (RSS_IS_MEANINGFUL)
        CHECK(rss1 - rss0 < 4096); /* 4 MB over 1,000 cycles: no per-cycle growth */
    CHECK(host_count_mappings("tiny-bert") == 0);
    printf("test_host_load_cycles: ok\n");
    return 0;
}
