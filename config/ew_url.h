/*
 * ew_url.h - where Redis is: redis://host[:port][/db] or unix:///path, parsed strictly with
 * uriparser (a port "12x", a database "0x", a query or a fragment are errors, not ignored).
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
};

/* Parses url into out. Returns 0, or -1 with why filled (one line, no file or option name). */
int ew_redis_url_parse(const char *url, struct ew_redis_addr *out, char *why, size_t n);

#endif
