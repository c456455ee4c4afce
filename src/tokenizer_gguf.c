/*
 * tokenizer_gguf: build an emb_tokenizer from a GGUF file's metadata
 * (docs/format.md §3.2, §5.1). Kept apart from tokenizer.c so that the tokenizer core
 * does not depend on the GGUF reader.
 */
#include "tokenizer.h"

#include <stdlib.h>

/* Fills an emb_str array from the token list. */
typedef struct collect_ctx {
    emb_str *tokens;
    uint64_t n;
} collect_ctx;

static int collect_token(void *ctx, uint64_t index, emb_str value)
{
    collect_ctx *c = ctx;
    if (index >= c->n)
        return 1;
    c->tokens[index] = value;
    return 0;
}

/* Reads special id `key` into *id when the file has a valid one. An id
 * outside the vocabulary (or negative, or too large) is ignored and the
 * default kept, as llama.cpp does; a non-integer value is an error. */
static emb_code read_special(const gguf_file *f, const char *key, size_t n_tokens, int32_t *id,
                             emb_error *err)
{
    uint32_t v;
    emb_code rc = gguf_get_u32(f, key, &v, NULL);
    if (rc == EMB_OK) {
        if (v < n_tokens)
            *id = (int32_t)v;
        return EMB_OK;
    }
    if (rc == EMB_ERR_NOT_FOUND || rc == EMB_ERR_RANGE)
        return EMB_OK;
    const gguf_kv *kv = gguf_find_kv(f, key);
    return emb_error_set(err, EMB_ERR_MODEL, "tokenizer: %s: key %s is %s, expected an integer token id",
                         gguf_name(f), key, kv ? gguf_value_type_name(kv->type) : "unreadable");
}

emb_code emb_tokenizer_gguf_check(const gguf_file *f, emb_error *err)
{
    if (!f)
        return emb_error_set(err, EMB_ERR_RANGE, "tokenizer: no gguf file given");
    const char *name = gguf_name(f);
    const gguf_kv *model = gguf_find_kv(f, "tokenizer.ggml.model");
    if (!model)
        return emb_error_set(err, EMB_ERR_MODEL,
                             "tokenizer: %s: key tokenizer.ggml.model is missing, expected \"bert\"", name);
    if (model->type != GGUF_TYPE_STRING)
        return emb_error_set(err, EMB_ERR_MODEL,
                             "tokenizer: %s: key tokenizer.ggml.model is %s, expected STRING \"bert\"", name,
                             gguf_value_type_name(model->type));
    if (!emb_str_eq(model->str, "bert"))
        return emb_error_set(err, EMB_ERR_UNSUPPORTED,
                             "tokenizer: %s: tokenizer.ggml.model is \"%.*s\", only \"bert\" (WordPiece) is "
                             "supported",
                             name, (int)(model->str.len > 64 ? 64 : model->str.len), model->str.ptr);
    const gguf_kv *list = gguf_find_kv(f, "tokenizer.ggml.tokens");
    if (!list)
        return emb_error_set(err, EMB_ERR_MODEL, "tokenizer: %s: key tokenizer.ggml.tokens is missing", name);
    if (list->type != GGUF_TYPE_ARRAY || list->arr_type != GGUF_TYPE_STRING)
        return emb_error_set(err, EMB_ERR_MODEL,
                             "tokenizer: %s: key tokenizer.ggml.tokens is %s of %s, expected ARRAY of STRING",
                             name, gguf_value_type_name(list->type),
                             list->type == GGUF_TYPE_ARRAY ? gguf_value_type_name(list->arr_type) : "-");
    if (list->arr_count == 0 || list->arr_count > (uint64_t)INT32_MAX)
        return emb_error_set(err, EMB_ERR_MODEL,
                             "tokenizer: %s: tokenizer.ggml.tokens has %llu entries, expected 1 to %ld", name,
                             (unsigned long long)list->arr_count, (long)INT32_MAX);
    return EMB_OK;
}

emb_tokenizer *emb_tokenizer_create_from_gguf(const gguf_file *f, emb_error *err)
{
    emb_tokenizer *result = NULL;
    emb_str *tokens = NULL;

    if (emb_tokenizer_gguf_check(f, err) != EMB_OK)
        goto end;
    const char *name = gguf_name(f);
    const gguf_kv *list = gguf_find_kv(f, "tokenizer.ggml.tokens");
    size_t n = (size_t)list->arr_count;
    /* The reader checked the count against the file size (>= 8 bytes each). */
    tokens = calloc(n, sizeof *tokens);
    if (!tokens) {
        emb_error_set(err, EMB_ERR_NOMEM, "tokenizer: %s: out of memory for %zu tokens", name, n);
        goto end;
    }
    collect_ctx c = {tokens, list->arr_count};
    if (gguf_arr_foreach_str(list, collect_token, &c) != 0) {
        emb_error_set(err, EMB_ERR_INTERNAL, "tokenizer: %s: tokenizer.ggml.tokens could not be walked", name);
        goto end;
    }

    emb_special_ids sp = {101, 102, 100, 0};
    if (read_special(f, "tokenizer.ggml.bos_token_id", n, &sp.cls, err) != EMB_OK
        || read_special(f, "tokenizer.ggml.seperator_token_id", n, &sp.sep, err) != EMB_OK
        || read_special(f, "tokenizer.ggml.unknown_token_id", n, &sp.unk, err) != EMB_OK
        || read_special(f, "tokenizer.ggml.padding_token_id", n, &sp.pad, err) != EMB_OK)
        goto end;

    emb_error sub;
    result = emb_tokenizer_create(tokens, n, &sp, &sub);
    if (!result)
        emb_error_set(err, sub.code == EMB_ERR_RANGE ? EMB_ERR_MODEL : sub.code, "%s (in %s)", sub.msg, name);
end:
    free(tokens);
    return result;
}
