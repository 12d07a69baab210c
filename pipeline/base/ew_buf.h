/*
 * ew_buf.h - a growable byte buffer with a sticky error, and JSON text writing on top of it.
 *
 * Appends never fail loudly: the first failed growth sets buf->err (EW_ENOMEM, or
 * EW_ETOO_LONG past buf->max) and every later append is a no-op, so a writer can emit a whole
 * document and check once at the end (the habit of Redis' sds and nginx's chains).
 *
 * Ownership: the buffer owns buf->data (allocated with ew_malloc); ew_buf_release frees it.
 * Reusing one buffer with ew_buf_clear keeps its memory, so steady-state writing allocates
 * nothing.
 */
#ifndef EW_BUF_H
#define EW_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ew_buf {
    char *data; /* NUL-terminated whenever err == 0 and data != NULL */
    size_t len;
    size_t cap;
    size_t max; /* growth limit in bytes, 0 for none */
    int err;
};

#define EW_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0, 0, 0                                                                           \
    }

void ew_buf_clear(struct ew_buf *b);   /* len = 0, err = 0; keeps memory */
void ew_buf_release(struct ew_buf *b); /* frees memory; the buffer is then EW_BUF_INIT */
bool ew_buf_reserve(struct ew_buf *b, size_t extra); /* room for extra more bytes: doubles */
/* The same, growing to just what fits (rounded up to 32 bytes) rather than doubling: for the
 * many small buffers that each hold one thing of a known size (a held record). */
bool ew_buf_reserve_fit(struct ew_buf *b, size_t extra);
void ew_buf_add(struct ew_buf *b, const void *p, size_t n);
void ew_buf_adds(struct ew_buf *b, const char *s);
void ew_buf_addc(struct ew_buf *b, char c);

/* Whether s (n bytes) is valid UTF-8: no overlong form, surrogate or code point above
 * U+10FFFF (what JSON allows, and what the literals below write as it is). */
bool ew_utf8_valid(const char *s, size_t n);

/* JSON: a string literal with quotes and escapes (invalid UTF-8 becomes U+FFFD), and the
 * shortest number text that reads back exactly (null for NaN and infinities). */
void ew_buf_json_str(struct ew_buf *b, const char *s);
void ew_buf_json_strn(struct ew_buf *b, const char *s, size_t n);
void ew_buf_json_num(struct ew_buf *b, double d);
/* `"key":` */
void ew_buf_json_key(struct ew_buf *b, const char *key);
/* `,"key":"v"` when v is not NULL, nothing otherwise: an optional member after the first. */
void ew_buf_json_opt_str(struct ew_buf *b, const char *key, const char *v);
/* A time as a quoted ISO 8601 string in Beijing time. */
void ew_buf_json_time(struct ew_buf *b, int64_t ms);

#endif
