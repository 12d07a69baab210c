/* ew_error.c - names and messages for the codes of ew_error.h. */
#include "ew_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define EW__ERR_ROW(name, wire, msg) [EW__ERRBASE_##name] = {wire, msg},
static const struct {
    const char *wire;
    const char *msg;
} ew_errors[] = {EW_ERRNO_MAP(EW__ERR_ROW)};
#undef EW__ERR_ROW

#define EW__NERR (sizeof ew_errors / sizeof ew_errors[0])

const char *ew_strerror(int code)
{
    if (code == 0)
        return "success";
    if (code < 0 && (size_t)-code < EW__NERR)
        return ew_errors[-code].msg;
    return "unknown error";
}

const char *ew_errname(int code)
{
    if (code == 0)
        return "ok";
    if (code < 0 && (size_t)-code < EW__NERR)
        return ew_errors[-code].wire;
    return "unknown";
}

int ew_error_set(struct ew_error *err, int code, size_t offset, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    err->offset = offset;
    err->line = 0;
    err->column = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof err->detail, fmt, ap);
    va_end(ap);
    return code;
}
