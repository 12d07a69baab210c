/*
 * ew_http.h - a small HTTP/1.0 server on the event loop, for metrics and health: it reads one
 * GET request per connection, asks the handler for the response and closes.
 */
#ifndef EW_HTTP_H
#define EW_HTTP_H

#include <ev.h>

#include "ew_buf.h"

struct ew_http;

/* Fills body and returns the status (200, 404, 503...); *type is the content type. */
typedef int (*ew_http_handler)(void *ctx, const char *path, struct ew_buf *body, const char **type);

/* listen: "host:port". NULL on error (logged). */
struct ew_http *ew_http_new(struct ev_loop *loop, const char *listen, ew_http_handler fn,
                            void *ctx);
void ew_http_free(struct ew_http *h);

#endif
