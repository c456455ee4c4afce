#include "emb_error.h"

#include <stdarg.h>
#include <stdio.h>

emb_code emb_error_set(emb_error *err, emb_code code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void emb_error_clear(emb_error *err)
{
    if (err) {
        err->code = EMB_OK;
        err->msg[0] = '\0';
    }
}

const char *emb_code_name(emb_code code)
{
    switch (code) {
    case EMB_OK: return "ok";
    case EMB_ERR_IO: return "io";
    case EMB_ERR_FORMAT: return "format";
    case EMB_ERR_UNSUPPORTED: return "unsupported";
    case EMB_ERR_MODEL: return "model";
    case EMB_ERR_NOT_FOUND: return "not found";
    case EMB_ERR_TYPE: return "type";
    case EMB_ERR_RANGE: return "range";
    case EMB_ERR_NOMEM: return "out of memory";
    case EMB_ERR_BLAS: return "blas";
    case EMB_ERR_INTERNAL: return "internal";
    case EMB_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown";
}
