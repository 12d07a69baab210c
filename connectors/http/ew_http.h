/*
 * ew_http.h - the HTTP endpoint (metrics and health; later the dashboard), on libmicrohttpd
 * driven by the libev loop: its epoll fd is watched by an ev_io and its timeout kept by an
 * ev_timer, so every request is answered on the loop, between two Kafka batches. HTTP/1.1 with
 * keep-alive; GET and HEAD only (405 otherwise); at most 256 connections, 16 KiB of request
 * per connection, 10 s idle.
 */
#ifndef EW_HTTP_H
#define EW_HTTP_H

#include <ev.h>

#include "ew_buf.h"

struct ew_http;

/* Fills body and returns the status (200, 404, 503...); *type is the content type (borrowed:
 * a static string). path has no query string. Called on the loop. */
typedef int (*ew_http_handler)(void *ctx, const char *path, struct ew_buf *body, const char **type);

/* listen: "host:port" (port 0: any free one, see ew_http_port). new: free with ew_http_free.
 * NULL on error (logged). */
struct ew_http *ew_http_new(struct ev_loop *loop, const char *listen, ew_http_handler fn,
                            void *ctx);
void ew_http_free(struct ew_http *h);

/* The port it listens on. */
int ew_http_port(const struct ew_http *h);

#endif
