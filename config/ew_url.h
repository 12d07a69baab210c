/*
 * ew_url.h - where Redis is: redis://[user:password@]host[:port][/db] or unix:///path, parsed
 * strictly with uriparser (a port "12x", a database "0x", a query or a fragment are errors, not
 * ignored). The user and password are percent-decoded (a password holding '@', ':' or '/' is
 * written %40, %3A, %2F); ":password@" alone is Redis's default user.
 */
#ifndef EW_URL_H
#define EW_URL_H

#include <stdbool.h>
#include <stddef.h>

#define EW_URL_HOST_MAX 256

struct ew_redis_addr {
    bool unix_socket;
    char host[EW_URL_HOST_MAX]; /* a host name or address, or the socket's path */
    int port;                   /* 6379 when not given; 0 for a socket */
    int db;                     /* 0 when not given */
    char user[128];             /* "" with a password alone: AUTH password */
    char password[512];         /* "": no AUTH */
};

/* Parses url into out. Returns 0, or -1 with why filled (one line, no file or option name). */
int ew_redis_url_parse(const char *url, struct ew_redis_addr *out, char *why, size_t n);

/* url with its user and password (if any) shown as "***": what logs and errors may print. */
const char *ew_url_redact(const char *url, char *out, size_t n);

#endif
