/*
 * embed-dqlite-node: one dqlite node (libdqlite's C API) whose SQLite
 * connections have sqlite-embed registered, so that embed() runs inside the
 * replicated database. Usage: embed-dqlite-node --help; docs/cluster.md.
 *
 * Order matters, and is the reason this program exists:
 *   1. sqlite3_config() before anything initialises SQLite (a library
 *      constructor that touched SQLite would make it fail);
 *   2. sqlite3_auto_extension() for embed.so (dqlite's VFS refuses
 *      sqlite3_load_extension, and dqlite opens its connections itself);
 *   3. models registered in the process-wide registry (a registration is
 *      never replicated: every node does its own at start);
 *   4. dqlite_node_create / dqlite_node_start: from here on every connection
 *      the node opens, as leader, has embed() and friends.
 * The node runs on dqlite's own thread until SIGTERM or SIGINT, then stops
 * cleanly (dqlite_node_stop) and exits 0.
 */
#include "node_extensions.h"
#include "node_options.h"

#include <dqlite.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The default extension: embed.so next to this executable (build tree),
 * else ../lib/sqlite-embed/embed.so (installed tree). */
static int default_extension(char *buf, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    static const char *const CANDIDATES[] = {"/embed.so", "/../lib/sqlite-embed/embed.so"};
    for (size_t i = 0; i < sizeof CANDIDATES / sizeof CANDIDATES[0]; i++) {
        int w = snprintf(buf, size, "%s%s", exe, CANDIDATES[i]);
        if (w > 0 && (size_t)w < size && access(buf, R_OK) == 0)
            return 0;
    }
    return -1;
}

static int start_node(const node_options *opts, dqlite_node **out)
{
    dqlite_node *node = NULL;
    int rc = dqlite_node_create(opts->id, opts->address, opts->dir, &node);
    if (rc != 0) {
        fprintf(stderr, "dqlite_node_create: %s\n", node ? dqlite_node_errmsg(node) : "out of memory");
        dqlite_node_destroy(node);
        return -1;
    }
    rc = dqlite_node_set_bind_address(node, opts->bind);
    if (rc != 0) {
        /* dqlite 1.11 leaves its message empty when the listen fails. */
        const char *msg = dqlite_node_errmsg(node);
        fprintf(stderr, "cannot listen on %s: %s\n", opts->bind,
                msg && *msg ? msg : "address in use, or not an address of this machine");
        dqlite_node_destroy(node);
        return -1;
    }
    if (opts->latency_ms && dqlite_node_set_network_latency_ms(node, opts->latency_ms) != 0) {
        fprintf(stderr, "dqlite_node_set_network_latency_ms %u: refused\n", opts->latency_ms);
        dqlite_node_destroy(node);
        return -1;
    }
    rc = dqlite_node_start(node);
    if (rc != 0) {
        fprintf(stderr, "dqlite_node_start: %s\n", dqlite_node_errmsg(node));
        dqlite_node_destroy(node);
        return -1;
    }
    *out = node;
    return 0;
}

int main(int argc, char **argv)
{
    node_options opts;
    int prc = node_options_parse(argc, argv, &opts);
    if (prc != 0)
        return prc == 2 ? 0 : 2;

    /* Each connection is used by one thread only (dqlite's loop, or this
     * thread's private one below): SQLite needs no per-connection mutex, but
     * its core stays thread-safe. Must be the first SQLite call. */
    int rc = sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "sqlite3_config: %s (SQLite was initialised before main)\n", sqlite3_errstr(rc));
        return 1;
    }

    char fallback[PATH_MAX];
    const char *fallback_list[1];
    const char *const *exts = opts.extensions;
    size_t n_exts = opts.n_extensions;
    if (n_exts == 0) {
        if (default_extension(fallback, sizeof fallback) != 0) {
            fprintf(stderr, "no --extension given and no embed.so next to this program or in ../lib/sqlite-embed\n");
            return 1;
        }
        fallback_list[0] = fallback;
        exts = fallback_list;
        n_exts = 1;
    }
    if (node_extensions_register(exts, n_exts) != 0)
        return 1;
    if (node_models_register(opts.models, opts.n_models) != 0)
        return 1;

    /* Block the stop signals before dqlite starts its thread, which inherits
     * the mask, so that only sigwait below receives them. A peer closing a
     * socket must not kill the node. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    dqlite_node *node = NULL;
    if (start_node(&opts, &node) != 0)
        return 1;
    fprintf(stderr, "node %llu: serving %s (SQLite %s)\n", opts.id, opts.address, sqlite3_libversion());

    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "node %llu: %s, stopping\n", opts.id, sig == SIGTERM ? "SIGTERM" : "SIGINT");
    rc = dqlite_node_stop(node);
    dqlite_node_destroy(node);
    if (rc != 0) {
        fprintf(stderr, "dqlite_node_stop: error %d\n", rc);
        return 1;
    }
    return 0;
}
