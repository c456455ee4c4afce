/*
 * Command line of embed-dqlite-node: plain strcmp parsing, every value
 * checked (ids and latencies range-checked, repeated options bounded).
 */
#include "node_options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out, const char *prog)
{
    fprintf(out,
            "usage: %s --id N --address HOST:PORT --dir DIR [options]\n"
            "\n"
            "Runs one dqlite node whose SQLite connections have sqlite-embed (and any other\n"
            "--extension) registered as auto-extensions.\n"
            "\n"
            "  --id N               raft node id (1 bootstraps a new cluster; others join it)\n"
            "  --address HOST:PORT  address other nodes and clients use to reach this node\n"
            "  --bind HOST:PORT     address to listen on (default: --address)\n"
            "  --dir DIR            existing directory for the raft log and snapshots\n"
            "  --extension PATH     SQLite extension for every connection (repeatable; entry\n"
            "                       point named as sqlite3_load_extension would: embed.so ->\n"
            "                       sqlite3_embed_init). Default: embed.so next to this program,\n"
            "                       else ../lib/sqlite-embed/embed.so\n"
            "  --model NAME=PATH    register a model at start (repeatable); SQLITE_EMBED_MODEL\n"
            "                       also works and is checked at start\n"
            "  --latency-ms N       expected network latency: sets raft's heartbeat (1.5 N) and\n"
            "                       election timeout (15 N); default: dqlite's own\n",
            prog);
}

static int parse_ull(const char *s, unsigned long long max, unsigned long long *out)
{
    if (!s || !*s || *s == '-')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

int node_options_parse(int argc, char **argv, node_options *opts)
{
    const char *prog = argc > 0 ? argv[0] : "embed-dqlite-node";
    memset(opts, 0, sizeof *opts);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout, prog);
            return 2;
        }
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!value) {
            fprintf(stderr, "%s: %s needs a value\n", prog, arg);
            usage(stderr, prog);
            return 1;
        }
        i++;
        if (strcmp(arg, "--id") == 0) {
            if (parse_ull(value, ~0ULL, &opts->id) != 0 || opts->id == 0) {
                fprintf(stderr, "%s: --id: '%s' is not a positive integer\n", prog, value);
                return 1;
            }
        } else if (strcmp(arg, "--address") == 0) {
            opts->address = value;
        } else if (strcmp(arg, "--bind") == 0) {
            opts->bind = value;
        } else if (strcmp(arg, "--dir") == 0) {
            opts->dir = value;
        } else if (strcmp(arg, "--latency-ms") == 0) {
            unsigned long long ms;
            /* dqlite refuses latencies over an hour. */
            if (parse_ull(value, 3600ULL * 1000, &ms) != 0 || ms == 0) {
                fprintf(stderr, "%s: --latency-ms: '%s' is not in 1..3600000\n", prog, value);
                return 1;
            }
            opts->latency_ms = (unsigned)ms;
        } else if (strcmp(arg, "--extension") == 0) {
            if (opts->n_extensions == NODE_MAX_EXTENSIONS) {
                fprintf(stderr, "%s: at most %d --extension\n", prog, NODE_MAX_EXTENSIONS);
                return 1;
            }
            opts->extensions[opts->n_extensions++] = value;
        } else if (strcmp(arg, "--model") == 0) {
            const char *eq = strchr(value, '=');
            if (!eq || eq == value || !eq[1]) {
                fprintf(stderr, "%s: --model: '%s' is not NAME=PATH\n", prog, value);
                return 1;
            }
            if (opts->n_models == NODE_MAX_MODELS) {
                fprintf(stderr, "%s: at most %d --model\n", prog, NODE_MAX_MODELS);
                return 1;
            }
            /* Split in place: argv strings are writable. */
            char *split = argv[i] + (eq - value);
            *split = '\0';
            opts->models[opts->n_models].name = argv[i];
            opts->models[opts->n_models].path = split + 1;
            opts->n_models++;
        } else {
            fprintf(stderr, "%s: unknown option '%s'\n", prog, arg);
            usage(stderr, prog);
            return 1;
        }
    }
    if (!opts->id || !opts->address || !opts->dir) {
        fprintf(stderr, "%s: --id, --address and --dir are required\n", prog);
        usage(stderr, prog);
        return 1;
    }
    if (!opts->bind)
        opts->bind = opts->address;
    return 0;
}
