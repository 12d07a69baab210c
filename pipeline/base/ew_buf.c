/* ew_buf.c - growable buffer and JSON text writing (see ew_buf.h). */
#include "ew_buf.h"

#include "ew_alloc.h"
#include "ew_error.h"
#include "ew_record.h"
#include "ew_time.h"

#include <stdint.h>
#include <string.h>

void ew_buf_clear(struct ew_buf *b)
{
    b->len = 0;
    b->err = 0;
    if (b->data)
        b->data[0] = '\0';
}

void ew_buf_release(struct ew_buf *b)
{
    ew_free(b->data);
    size_t max = b->max;
    *b = (struct ew_buf)EW_BUF_INIT;
    b->max = max;
}

/* Room for extra more bytes and a NUL: the capacity doubled until it fits, or (fit) grown to
 * just what fits, rounded up to 32 bytes. */
static bool ew_buf_grow(struct ew_buf *b, size_t extra, bool fit)
{
    if (b->err)
        return false;
    if (extra > SIZE_MAX / 2 - b->len || (b->max && b->len + extra > b->max)) {
        b->err = EW_ETOO_LONG;
        return false;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    if (fit)
        cap = (need + 31) & ~(size_t)31;
    else
        while (cap < need)
            cap *= 2;
    char *p;
    if (b->len) {
        p = ew_realloc(b->data, b->len + 1, cap);
    } else { /* nothing to keep */
        ew_free(b->data);
        b->data = NULL;
        b->cap = 0;
        p = ew_malloc(cap);
    }
    if (!p) {
        b->err = EW_ENOMEM;
        return false;
    }
    p[b->len] = '\0';
    b->data = p;
    b->cap = cap;
    return true;
}

bool ew_buf_reserve(struct ew_buf *b, size_t extra)
{
    return ew_buf_grow(b, extra, false);
}

bool ew_buf_reserve_fit(struct ew_buf *b, size_t extra)
{
    return ew_buf_grow(b, extra, true);
}

void ew_buf_add(struct ew_buf *b, const void *p, size_t n)
{
    if (!ew_buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void ew_buf_adds(struct ew_buf *b, const char *s)
{
    ew_buf_add(b, s, strlen(s));
}

void ew_buf_addc(struct ew_buf *b, char c)
{
    ew_buf_add(b, &c, 1);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is not valid. */
static size_t ew_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, cp = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

bool ew_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0, len; i < n; i += len)
        if (!(len = ew_utf8_len(u + i, n - i)))
            return false;
    return true;
}

void ew_buf_json_strn(struct ew_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    /* worst case: every byte becomes \u00XX or U+FFFD (3 bytes) */
    if (!ew_buf_reserve(b, n * 6 + 2))
        return;
    char *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = (char)c;
            i++;
        } else if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            i++;
        } else if (c < 0x20) {
            const char *esc = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
            if (esc) {
                memcpy(o, esc, 2);
                o += 2;
            } else {
                memcpy(o, "\\u00", 4);
                o[4] = hex[c >> 4];
                o[5] = hex[c & 15];
                o += 6;
            }
            i++;
        } else {
            size_t len = ew_utf8_len(u + i, n - i);
            if (len) {
                memcpy(o, u + i, len);
                o += len;
                i += len;
            } else {
                memcpy(o, "\xEF\xBF\xBD", 3); /* U+FFFD */
                o += 3;
                i++;
            }
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

void ew_buf_json_str(struct ew_buf *b, const char *s)
{
    ew_buf_json_strn(b, s, strlen(s));
}

void ew_buf_json_num(struct ew_buf *b, double d)
{
    char tmp[32];
    ew_buf_add(b, tmp, ew_format_number(d, tmp));
}

void ew_buf_json_key(struct ew_buf *b, const char *key)
{
    ew_buf_json_str(b, key);
    ew_buf_addc(b, ':');
}

void ew_buf_json_opt_str(struct ew_buf *b, const char *key, const char *v)
{
    if (!v)
        return;
    ew_buf_addc(b, ',');
    ew_buf_json_key(b, key);
    ew_buf_json_str(b, v);
}

void ew_buf_json_time(struct ew_buf *b, int64_t ms)
{
    char iso[EW_TIME_ISO_MAX];
    ew_buf_addc(b, '"');
    ew_buf_add(b, iso, ew_time_format_iso(ms, iso));
    ew_buf_addc(b, '"');
}
