#include "ext_tokenizer_source.h"

#include "ext_common.h"

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
    /* Before SQLite 3.50.0 a CHECK constraint of an untrusted database can
     * call DIRECTONLY functions (measured: 3.49.2 does, 3.50.0 refuses the
     * schema). There the path form opens only files named *.gguf, so that a
     * hostile schema cannot make the host open and describe any other file
     * (the error of a non-GGUF file names its first bytes). */
    size_t n = strlen(name_or_path);
    if (sqlite3_libversion_number() < 3050000 && (n < 5 || strcmp(name_or_path + n - 5, ".gguf") != 0))
        return emb_error_set(err, EMB_ERR_NOT_FOUND,
                             "'%s' is not a registered model, and with SQLite %s (older than 3.50.0) a path "
                             "must name a .gguf file",
                             name_or_path, sqlite3_libversion());
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
