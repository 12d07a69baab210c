/* ew_checkpoint.c - the rule state on disk (see ew_checkpoint.h). */
#include "ew_checkpoint.h"

#include "ew_buf.h"
#include "ew_log.h"

#include <stdio.h>

int ew_checkpoint_write(const struct ew_engine *eng, const char *path)
{
    struct ew_buf b = EW_BUF_INIT;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = ew_engine_export(eng, &b);
    FILE *f = rc ? NULL : fopen(tmp, "wb");
    bool ok = f && fwrite(b.data, 1, b.len, f) == b.len;
    ok = f && !fclose(f) && ok && !rename(tmp, path);
    ew_log(ok ? EW_LOG_INFO : EW_LOG_ERROR, "state", "%s %s (%zu bytes)",
           ok ? "checkpoint written to" : "cannot write the checkpoint", path, b.len);
    ew_buf_release(&b);
    return ok ? 0 : -1;
}

void ew_checkpoint_read(struct ew_engine *eng, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return; /* the first start */
    struct ew_buf b = EW_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ew_buf_add(&b, chunk, n);
    fclose(f);
    struct ew_error err = {0};
    int rc = b.err ? b.err : ew_engine_import(eng, b.data, b.len, &err);
    if (rc)
        ew_log(EW_LOG_ERROR, "state", "checkpoint %s refused, starting empty: %s", path,
               err.detail);
    else
        ew_log(EW_LOG_INFO, "state", "checkpoint %s read (%zu bytes)", path, b.len);
    ew_buf_release(&b);
}
