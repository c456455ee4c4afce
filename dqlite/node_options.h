/*
 * Command line of embed-dqlite-node (see node_main.c for the whole program).
 */
#ifndef EMBED_DQLITE_NODE_OPTIONS_H
#define EMBED_DQLITE_NODE_OPTIONS_H

#include <stddef.h>

#define NODE_MAX_EXTENSIONS 8
#define NODE_MAX_MODELS 8

typedef struct node_model {
    const char *name; /* points into argv */
    const char *path; /* points into argv */
} node_model;

/* Every string points into argv: nothing here is freed. */
typedef struct node_options {
    unsigned long long id;  /* raft id; 1 bootstraps a new cluster */
    const char *address;    /* host:port other nodes and clients dial */
    const char *bind;       /* host:port to listen on (default: address) */
    const char *dir;        /* raft log and snapshots; must exist */
    unsigned latency_ms;    /* 0: dqlite's defaults for heartbeat/election */
    const char *extensions[NODE_MAX_EXTENSIONS];
    size_t n_extensions;
    node_model models[NODE_MAX_MODELS];
    size_t n_models;
} node_options;

/* Fills *opts from argv. Returns 0, or 1 after printing why to stderr
 * (usage included), or 2 for --help (usage printed to stdout). */
int node_options_parse(int argc, char **argv, node_options *opts);

#endif
