/*
 * Where the SQL tokenizer functions get their tokenizer from: a registered
 * model name (the model's own tokenizer), a GGUF file path (vocab-only files
 * work: only the tokenizer metadata is read), or NULL for the default model.
 */
#ifndef EXT_TOKENIZER_SOURCE_H
#define EXT_TOKENIZER_SOURCE_H

#include "emb_error.h"
#include "ext_registry.h"
#include "tokenizer.h"

typedef struct tokenizer_source {
    const emb_tokenizer *tok; /* borrowed from lease, or == owned          */
    registry_lease *lease;    /* set when resolved through the registry    */
    emb_tokenizer *owned;     /* set when built from a file path           */
} tokenizer_source;

/* Resolve `name_or_path` (NULL = default model). On success *src must be
 * given back with tokenizer_source_close. */
emb_code tokenizer_source_open(const char *name_or_path, tokenizer_source *src, emb_error *err);

/* Accepts a zeroed or half-opened source. */
void tokenizer_source_close(tokenizer_source *src);

#endif
