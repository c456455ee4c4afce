#include "ext_tokenizer_source.h"

#include <stdio.h>
#include <string.h>

#include "gguf.h"
#include "model.h"

emb_code tokenizer_source_open(const char *name_or_path, tokenizer_source *src, emb_error *err)
{
    memset(src, 0, sizeof *src);
    emb_error reg_err;
    emb_error_clear(&reg_err);
    /* A registered name wins over a file of the same name. */
    emb_code rc = registry_acquire(name_or_path, &src->lease, &reg_err);
    if (rc == EMB_OK) {
        src->tok = registry_lease_model(src->lease)->tokenizer;
        return EMB_OK;
    }
    if (rc != EMB_ERR_NOT_FOUND || name_or_path == NULL) {
        if (err)
            *err = reg_err;
        return rc;
    }
    gguf_file *f = gguf_open(name_or_path, err);
    if (!f) {
        if (err && err->code == EMB_ERR_IO) {
            char why[EMB_ERROR_MSG_MAX]; /* err->msg cannot be both source and destination */
            snprintf(why, sizeof why, "%s", err->msg);
            emb_error_set(err, EMB_ERR_NOT_FOUND, "'%s' is neither a registered model nor a readable GGUF file (%s)",
                          name_or_path, why);
        }
        return err ? err->code : EMB_ERR_IO;
    }
    src->owned = emb_tokenizer_create_from_gguf(f, err);
    gguf_close(f);
    if (!src->owned)
        return err ? err->code : EMB_ERR_FORMAT;
    src->tok = src->owned;
    return EMB_OK;
}

void tokenizer_source_close(tokenizer_source *src)
{
    if (!src)
        return;
    if (src->lease)
        registry_release(src->lease);
    emb_tokenizer_destroy(src->owned);
    memset(src, 0, sizeof *src);
}
