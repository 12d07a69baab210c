/*
 * ew_http.h - the HTTP endpoint (metrics, health, the dashboard), on libmicrohttpd driven by the
 * libev loop: its epoll fd is watched by an ev_io and its timeout kept by an ev_timer, so every
 * request is answered on the loop, between two Kafka batches. HTTP/1.1 with keep-alive; GET,
 * HEAD and POST (a body of at most 8 KiB; 405 for other methods); at most 256 connections,
 * 16 KiB of request head per connection, 10 s idle.
 *
 * An answer is either whole (the handler fills the body and returns the status) or a stream
 * (Server-Sent Events, or an answer that waits for Redis): the handler opens it and writes to
 * it later, from the loop; the connection is suspended while the stream has nothing to send.
 */
#ifndef EW_HTTP_H
#define EW_HTTP_H

#include <ev.h>
#include <stddef.h>

#include "ew_buf.h"

struct ew_http;
struct ew_http_req; /* one request, during the handler's call */

/* Returns the status (200, 404, 503...) with the body in ew_http_out, or 0 after
 * ew_http_stream_open. Called on the loop. */
typedef int (*ew_http_handler)(void *ctx, struct ew_http_req *req);

/* listen: "host:port" (port 0: any free one, see ew_http_port). new: free with ew_http_free
 * (which closes every stream). NULL on error (logged). */
struct ew_http *ew_http_new(struct ev_loop *loop, const char *listen, ew_http_handler fn,
                            void *ctx);
void ew_http_free(struct ew_http *h);

/* The port it listens on. */
int ew_http_port(const struct ew_http *h);

/* ---- the request ---- */

const char *ew_http_method(const struct ew_http_req *r); /* "GET", "HEAD" or "POST" */
const char *ew_http_path(const struct ew_http_req *r);   /* without the query string */
const char *ew_http_header(const struct ew_http_req *r, const char *name); /* NULL: absent */
const char *ew_http_arg(const struct ew_http_req *r, const char *name);    /* ?name=, decoded */
const char *ew_http_body(const struct ew_http_req *r, size_t *len);        /* POST; NUL-ended */

/* ---- a whole answer ---- */

struct ew_buf *ew_http_out(struct ew_http_req *r);
void ew_http_type(struct ew_http_req *r, const char *type); /* default text/plain; static */
/* Adds a response header (at most 8; both strings static). */
void ew_http_set_header(struct ew_http_req *r, const char *name, const char *value);
/* 405 with "Allow: allowed" (a static string). */
int ew_http_not_allowed(struct ew_http_req *r, const char *allowed);

/* ---- a stream ---- */

struct ew_http_stream;
/* The client went (or the server stops): s is freed after this call. */
typedef void (*ew_http_closed)(void *ctx, struct ew_http_stream *s);

/* Answers r with status and the headers set so far, the body to come; the handler then returns
 * 0. NULL when out of memory (the handler answers 503). closed: called once, when the
 * connection ends, unless ew_http_stream_end was called first. */
struct ew_http_stream *ew_http_stream_open(struct ew_http_req *r, int status, ew_http_closed closed,
                                           void *ctx);

/* Queues bytes to send. Returns 0, or -1 when more than 4 MiB already wait for a slow client
 * (or memory ran out): the stream is then ended (closed is still called when the connection
 * goes). */
int ew_http_stream_write(struct ew_http_stream *s, const void *data, size_t len);

/* The answer is complete once what is queued is sent; s is not used by its owner after. */
void ew_http_stream_end(struct ew_http_stream *s);

#endif
