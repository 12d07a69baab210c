/*
 * ew_url.c - Redis URLs (see ew_url.h). uriparser checks the syntax (RFC 3986: a port is
 * digits only); what a Redis URL allows on top of it is checked here.
 */
#include "ew_url.h"

#include <stdio.h>
#include <string.h>
#include <uriparser/Uri.h>

static size_t ew_range_len(const UriTextRangeA *r)
{
    return r->first ? (size_t)(r->afterLast - r->first) : 0;
}

static bool ew_range_is(const UriTextRangeA *r, const char *s)
{
    return ew_range_len(r) == strlen(s) && !memcmp(r->first, s, strlen(s));
}

/* A decimal number of digits only, at most max; -1 when it is not one. */
static long ew_range_number(const UriTextRangeA *r, long max)
{
    size_t n = ew_range_len(r);
    long v = 0;
    if (!n || n > 9)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (r->first[i] < '0' || r->first[i] > '9')
            return -1;
        v = v * 10 + (r->first[i] - '0');
    }
    return v <= max ? v : -1;
}

static int ew_url_fail(char *why, size_t n, const char *reason)
{
    snprintf(why, n, "%s", reason);
    return -1;
}

/* unix:///path: no host, a path of at least one segment. */
static int ew_url_unix(const UriUriA *u, struct ew_redis_addr *out, char *why, size_t n)
{
    if (ew_range_len(&u->hostText) || ew_range_len(&u->portText))
        return ew_url_fail(why, n, "a unix socket URL has no host: unix:///path");
    size_t len = 0;
    for (const UriPathSegmentA *s = u->pathHead; s; s = s->next) {
        size_t k = ew_range_len(&s->text);
        if (len + 1 + k >= sizeof out->host)
            return ew_url_fail(why, n, "the socket's path is too long");
        out->host[len++] = '/';
        memcpy(out->host + len, s->text.first, k);
        len += k;
    }
    out->host[len] = '\0';
    if (!len || out->host[len - 1] == '/')
        return ew_url_fail(why, n, "expected the socket's path: unix:///path");
    out->unix_socket = true;
    return 0;
}

/* Percent-decodes len bytes of s into out with uriparser; false when they do not fit or hold a
 * NUL once decoded ("%00"). */
static bool ew_url_decode(const char *s, size_t len, char *out, size_t n)
{
    if (len >= n)
        return false;
    memcpy(out, s, len);
    out[len] = '\0';
    const char *end = uriUnescapeInPlaceExA(out, URI_FALSE, URI_BR_DONT_TOUCH);
    return (size_t)(end - out) == strlen(out);
}

/* user:password, or :password (Redis's default user). */
static int ew_url_userinfo(const UriTextRangeA *r, struct ew_redis_addr *out, char *why, size_t n)
{
    size_t len = ew_range_len(r);
    const char *colon = memchr(r->first, ':', len);
    if (!colon)
        return ew_url_fail(why, n, "expected user:password@ or :password@ before the host");
    size_t ul = (size_t)(colon - r->first);
    if (!ew_url_decode(r->first, ul, out->user, sizeof out->user) ||
        !ew_url_decode(colon + 1, len - ul - 1, out->password, sizeof out->password))
        return ew_url_fail(why, n, "the user or password is too long or badly percent-encoded");
    if (!out->password[0])
        return ew_url_fail(why, n, "an empty password: leave out user:password@");
    return 0;
}

static int ew_url_tcp(const UriUriA *u, struct ew_redis_addr *out, char *why, size_t n)
{
    if (ew_range_len(&u->userInfo) && ew_url_userinfo(&u->userInfo, out, why, n))
        return -1;
    size_t hl = ew_range_len(&u->hostText);
    if (!hl)
        return ew_url_fail(why, n, "expected a host: redis://host:port/db");
    if (hl >= sizeof out->host)
        return ew_url_fail(why, n, "the host is too long");
    memcpy(out->host, u->hostText.first, hl);
    out->host[hl] = '\0';
    out->port = 6379;
    if (u->portText.first) {
        long port = ew_range_number(&u->portText, 65535);
        if (port < 1)
            return ew_url_fail(why, n, "the port is not a number from 1 to 65535");
        out->port = (int)port;
    }
    const UriPathSegmentA *s = u->pathHead;
    if (s && (s->next || ew_range_len(&s->text))) {
        long db = s->next ? -1 : ew_range_number(&s->text, 1000000);
        if (db < 0)
            return ew_url_fail(why, n, "the database is not a number: redis://host:port/db");
        out->db = (int)db;
    }
    return 0;
}

int ew_redis_url_parse(const char *url, struct ew_redis_addr *out, char *why, size_t n)
{
    memset(out, 0, sizeof *out);
    UriUriA u;
    const char *at = NULL;
    if (uriParseSingleUriA(&u, url, &at) != URI_SUCCESS) {
        snprintf(why, n, "not a URL (at byte %td): expected redis://host:port/db or unix:///path",
                 at ? at - url : 0);
        return -1;
    }
    int rc;
    if (ew_range_len(&u.userInfo) && !ew_range_is(&u.scheme, "redis"))
        rc = ew_url_fail(why, n, "a password goes with redis://; a socket is guarded by its mode");
    else if (u.query.first || u.fragment.first)
        rc = ew_url_fail(why, n, "a query or fragment is not part of a Redis URL");
    else if (ew_range_is(&u.scheme, "unix"))
        rc = ew_url_unix(&u, out, why, n);
    else if (ew_range_is(&u.scheme, "redis"))
        rc = ew_url_tcp(&u, out, why, n);
    else
        rc = ew_url_fail(why, n, "expected redis://host:port/db or unix:///path");
    uriFreeUriMembersA(&u);
    return rc;
}

const char *ew_url_redact(const char *url, char *out, size_t n)
{
    /* the last '@': a password written without its percent-encoding is hidden too */
    const char *auth = strstr(url, "://"), *at = strrchr(url, '@');
    if (!auth || !at || at < auth)
        snprintf(out, n, "%s", url);
    else
        snprintf(out, n, "%.*s***%s", (int)(auth + 3 - url), url, at);
    return out;
}
