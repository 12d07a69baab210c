/*
 * ew_error.h - error codes shared by every part of ecowarn.
 *
 * Errors are values: a function returns 0 on success or one negative EW_E* code. The codes
 * come from one X-macro list so that the enum, the stable names used on the wire (the
 * "error" field printed by ecowarn-hj212 and written to the dead-letter stream) and the
 * human messages cannot drift apart.
 *
 * Parse errors additionally fill a struct ew_error with the byte offset where the input went
 * wrong and a one-line reason.
 */
#ifndef EW_ERROR_H
#define EW_ERROR_H

#include <stddef.h>

/* X(NAME, wire name, message). Append only: the numeric values are not part of any
 * contract, but the wire names are. */
#define EW_ERRNO_MAP(X)                                                                            \
    X(MALFORMED, "malformed", "malformed input")                                                   \
    X(LENGTH_MISMATCH, "length_mismatch", "length field does not match the data segment")          \
    X(CRC_MISMATCH, "crc_mismatch", "CRC does not match the data segment")                         \
    X(TOO_LONG, "too_long", "input exceeds a configured limit")                                    \
    X(NOMEM, "nomem", "out of memory")                                                             \
    X(INVAL, "invalid", "invalid argument")                                                        \
    X(NOSPACE, "nospace", "output buffer too small")                                               \
    X(LATE, "late", "data older than the allowed lateness")                                        \
    X(NOTFOUND, "not_found", "no such alert")

enum ew_errno {
    EW_OK = 0,
#define EW__ERR_ENUM(name, wire, msg) EW__ERRBASE_##name,
    EW__ERRBASE_FIRST = 0,
    EW_ERRNO_MAP(EW__ERR_ENUM)
#undef EW__ERR_ENUM
};

/* The public codes are the negated positions in the list: EW_EMALFORMED == -1, ... */
#define EW__ERR_CODE(name, wire, msg) EW_E##name = -EW__ERRBASE_##name,
enum { EW_ERRNO_MAP(EW__ERR_CODE) };
#undef EW__ERR_CODE

/* Where and why an input was rejected. detail is always NUL-terminated. */
struct ew_error {
    int code;      /* one of EW_E*, or 0 */
    size_t offset; /* byte offset in the input where the problem was found */
    int line;      /* 1-based line for text formats (JSON), 0 when not applicable */
    int column;    /* 1-based column, 0 when not applicable */
    char detail[160];
};

/* Static string describing code; never NULL ("unknown error" for foreign codes). */
const char *ew_strerror(int code);

/* Stable wire name ("malformed", "crc_mismatch", ...); never NULL ("unknown"). */
const char *ew_errname(int code);

/* Fills err (when not NULL) and returns code, so a parser can write
 * `return ew_error_set(err, EW_EMALFORMED, off, "...", ...);`. */
int ew_error_set(struct ew_error *err, int code, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
