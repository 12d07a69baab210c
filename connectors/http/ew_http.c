/*
 * ew_http.c - the HTTP endpoint (see ew_http.h). The listening socket is made here (any host
 * name or address getaddrinfo knows, IPv4 or IPv6) and handed to libmicrohttpd, which parses
 * requests, keeps connections alive and enforces the limits. After every run of it the timer
 * is set again to what it asks for. A stream's connection is suspended while it has nothing to
 * send, and resumed by a write, which runs libmicrohttpd at the loop's next turn.
 */
#include "ew_http.h"

#include "ew_log.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define EW_HTTP_MAX_BODY    8192              /* a POST body, at most */
#define EW_HTTP_MAX_QUEUED  (4 * 1024 * 1024) /* a stream's bytes waiting for a slow client */
#define EW_HTTP_MAX_HEADERS 8

struct ew_http {
    struct ev_loop *loop;
    struct MHD_Daemon *mhd;
    int fd, port;
    ev_io io;
    ev_timer timer;
    ew_http_handler fn;
    void *ctx;
    struct ew_http_stream *streams; /* open ones: resumed before libmicrohttpd stops */
};

struct ew_http_req {
    struct ew_http *h;
    struct MHD_Connection *conn;
    const char *method, *path;
    struct ew_buf body; /* POST */
    bool too_big;
    struct ew_buf out;
    const char *type;
    const char *hdr[EW_HTTP_MAX_HEADERS][2];
    size_t nhdr;
    struct ew_http_stream *stream;
};

struct ew_http_stream {
    struct ew_http_stream *next, *prev;
    struct ew_http *h;
    struct MHD_Connection *conn;
    struct ew_buf q; /* bytes to send: q.data[sent..q.len) */
    size_t sent;
    bool suspended, ended, owner_gone;
    ew_http_closed closed;
    void *ctx;
};

static void ew_http_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    ew_log(EW_LOG_WARN, "http", "%s", line);
}

static void ew_http_headers(struct MHD_Response *resp, const struct ew_http_req *r)
{
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->type);
    for (size_t i = 0; i < r->nhdr; i++)
        MHD_add_response_header(resp, r->hdr[i][0], r->hdr[i][1]);
}

static enum MHD_Result ew_http_reply(struct ew_http_req *r, unsigned status, const void *data,
                                     size_t len, bool head)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(head ? 0 : len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    ew_http_headers(resp, r);
    enum MHD_Result rc = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result ew_http_answer(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version, const char *upload,
                                      size_t *upload_len, void **con_cls)
{
    (void)version;
    struct ew_http *h = cls;
    struct ew_http_req *r = *con_cls;
    if (!r) { /* the headers: answer on the next call (a response queued now closes the
                 connection after it, in libmicrohttpd 0.9.75) */
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        *r = (struct ew_http_req){
            .h = h, .conn = c, .method = method, .path = url, .type = "text/plain; charset=utf-8"};
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_len) { /* a body, in pieces: kept up to its bound */
        if (!r->too_big && r->body.len + *upload_len <= EW_HTTP_MAX_BODY)
            ew_buf_add(&r->body, upload, *upload_len);
        else
            r->too_big = true;
        *upload_len = 0;
        return MHD_YES;
    }
    bool head = !strcmp(method, MHD_HTTP_METHOD_HEAD);
    if (!head && strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_POST)) {
        static const char msg[] = "only GET, HEAD and POST\n";
        ew_http_set_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD, POST");
        return ew_http_reply(r, MHD_HTTP_METHOD_NOT_ALLOWED, msg, sizeof msg - 1, false);
    }
    if (r->too_big) {
        static const char msg[] = "the body is larger than 8 KiB\n";
        return ew_http_reply(r, MHD_HTTP_CONTENT_TOO_LARGE, msg, sizeof msg - 1, head);
    }
    ew_buf_add(&r->body, "", 1); /* NUL-ended for the handler */
    int status = h->fn(h->ctx, r);
    if (r->stream)
        return MHD_YES; /* queued by ew_http_stream_open */
    if (r->out.err || status < 100)
        return ew_http_reply(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "", 0, head);
    return ew_http_reply(r, (unsigned)status, r->out.data ? r->out.data : "", r->out.len, head);
}

/* The request is over (answered, or its connection gone). */
static void ew_http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode why)
{
    (void)cls, (void)c, (void)why;
    struct ew_http_req *r = *con_cls;
    if (!r)
        return;
    ew_buf_release(&r->body);
    ew_buf_release(&r->out);
    free(r);
    *con_cls = NULL;
}

/* ---- the request ---- */

const char *ew_http_method(const struct ew_http_req *r)
{
    return r->method;
}

const char *ew_http_path(const struct ew_http_req *r)
{
    return r->path;
}

const char *ew_http_header(const struct ew_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *ew_http_arg(const struct ew_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *ew_http_body(const struct ew_http_req *r, size_t *len)
{
    *len = r->body.len ? r->body.len - 1 : 0;
    return r->body.data ? r->body.data : "";
}

struct ew_buf *ew_http_out(struct ew_http_req *r)
{
    return &r->out;
}

void ew_http_type(struct ew_http_req *r, const char *type)
{
    r->type = type;
}

void ew_http_set_header(struct ew_http_req *r, const char *name, const char *value)
{
    if (r->nhdr < EW_HTTP_MAX_HEADERS) {
        r->hdr[r->nhdr][0] = name;
        r->hdr[r->nhdr++][1] = value;
    }
}

int ew_http_not_allowed(struct ew_http_req *r, const char *allowed)
{
    ew_http_set_header(r, MHD_HTTP_HEADER_ALLOW, allowed);
    ew_buf_adds(&r->out, "method not allowed here\n");
    return MHD_HTTP_METHOD_NOT_ALLOWED;
}

/* ---- streams ---- */

/* libmicrohttpd asks for the next bytes: what is queued, the end, or nothing yet (the
 * connection is suspended until a write resumes it: no busy loop). */
static ssize_t ew_http_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct ew_http_stream *s = cls;
    size_t left = s->q.len - s->sent;
    if (left) {
        size_t n = left < max ? left : max;
        memcpy(buf, s->q.data + s->sent, n);
        s->sent += n;
        if (s->sent == s->q.len)
            s->q.len = s->sent = 0;
        return (ssize_t)n;
    }
    if (s->ended)
        return MHD_CONTENT_READER_END_OF_STREAM;
    s->suspended = true;
    MHD_suspend_connection(s->conn);
    return 0;
}

/* The response is gone with its connection. */
static void ew_http_stream_free(void *cls)
{
    struct ew_http_stream *s = cls;
    if (s->prev)
        s->prev->next = s->next;
    else if (s->h->streams == s)
        s->h->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (!s->owner_gone && s->closed)
        s->closed(s->ctx, s);
    ew_buf_release(&s->q);
    free(s);
}

struct ew_http_stream *ew_http_stream_open(struct ew_http_req *r, int status, ew_http_closed closed,
                                           void *ctx)
{
    struct ew_http_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    *s = (struct ew_http_stream){.h = r->h, .conn = r->conn, .closed = closed, .ctx = ctx};
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 16384, ew_http_stream_read, s, ew_http_stream_free);
    if (!resp) {
        free(s);
        return NULL;
    }
    ew_http_headers(resp, r);
    if (MHD_queue_response(r->conn, (unsigned)status, resp) != MHD_YES) {
        s->owner_gone = true; /* the handler answers otherwise; freed with the response */
        MHD_destroy_response(resp);
        return NULL;
    }
    MHD_destroy_response(resp); /* the connection holds it */
    r->stream = s;
    s->next = r->h->streams;
    if (s->next)
        s->next->prev = s;
    r->h->streams = s;
    return s;
}

/* Resumes a suspended stream; libmicrohttpd runs at the loop's next turn (a write may come
 * from inside one of its callbacks, where it must not run again). */
static void ew_http_stream_wake(struct ew_http_stream *s)
{
    if (!s->suspended)
        return;
    s->suspended = false;
    MHD_resume_connection(s->conn);
    struct ew_http *h = s->h;
    ev_timer_stop(h->loop, &h->timer);
    ev_timer_set(&h->timer, 0, 0);
    ev_timer_start(h->loop, &h->timer);
}

int ew_http_stream_write(struct ew_http_stream *s, const void *data, size_t len)
{
    if (s->ended)
        return -1;
    bool behind = s->q.len - s->sent > EW_HTTP_MAX_QUEUED; /* one large answer goes whole */
    if (!behind)
        ew_buf_add(&s->q, data, len);
    if (behind || s->q.err) {
        s->ended = true; /* a client this far behind reconnects and resumes where it was */
        ew_http_stream_wake(s);
        return -1;
    }
    ew_http_stream_wake(s);
    return 0;
}

void ew_http_stream_end(struct ew_http_stream *s)
{
    s->ended = true;
    s->owner_gone = true;
    ew_http_stream_wake(s);
}

/* Runs libmicrohttpd once and sets the timer to when it wants to run again. */
static void ew_http_run(struct ew_http *h)
{
    MHD_run(h->mhd);
    MHD_UNSIGNED_LONG_LONG ms;
    ev_timer_stop(h->loop, &h->timer);
    if (MHD_get_timeout(h->mhd, &ms) == MHD_YES) {
        ev_timer_set(&h->timer, (double)ms / 1000, 0);
        ev_timer_start(h->loop, &h->timer);
    }
}

static void ew_http_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    ew_http_run(w->data);
}

static void ew_http_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    ew_http_run(w->data);
}

/* A listening socket for "host:port"; -1 on error (logged). */
static int ew_http_listen(const char *listen_at, int *port)
{
    char host[256];
    const char *colon = strrchr(listen_at, ':');
    if (!colon || (size_t)(colon - listen_at) >= sizeof host) {
        ew_log(EW_LOG_ERROR, "http", "http.listen \"%s\": expected host:port", listen_at);
        return -1;
    }
    memcpy(host, listen_at, (size_t)(colon - listen_at));
    host[colon - listen_at] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *ai;
    int rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
    if (rc) {
        ew_log(EW_LOG_ERROR, "http", "http.listen \"%s\": %s", listen_at, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64)) {
        ew_log(EW_LOG_ERROR, "http", "cannot listen on %s: %s", listen_at, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &salen);
    char serv[16] = "0";
    getnameinfo((struct sockaddr *)&sa, salen, NULL, 0, serv, sizeof serv, NI_NUMERICSERV);
    *port = atoi(serv);
    return fd;
}

struct ew_http *ew_http_new(struct ev_loop *loop, const char *listen_at, ew_http_handler fn,
                            void *ctx)
{
    struct ew_http *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    *h = (struct ew_http){.loop = loop, .fn = fn, .ctx = ctx};
    if ((h->fd = ew_http_listen(listen_at, &h->port)) < 0) {
        free(h);
        return NULL;
    }
    h->mhd = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL, ew_http_answer,
        h, MHD_OPTION_EXTERNAL_LOGGER, ew_http_log, NULL, MHD_OPTION_NOTIFY_COMPLETED,
        ew_http_completed, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)h->fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        h->mhd ? MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (!info) {
        ew_log(EW_LOG_ERROR, "http", "cannot start the HTTP server on %s", listen_at);
        ew_http_free(h);
        return NULL;
    }
    ev_io_init(&h->io, ew_http_on_io, info->epoll_fd, EV_READ);
    h->io.data = h;
    ev_io_start(loop, &h->io);
    ev_init(&h->timer, ew_http_on_timer);
    h->timer.data = h;
    ew_http_run(h);
    ew_log(EW_LOG_INFO, "http", "dashboard, metrics and health on http://%s/", listen_at);
    return h;
}

void ew_http_free(struct ew_http *h)
{
    if (!h)
        return;
    ev_io_stop(h->loop, &h->io);
    ev_timer_stop(h->loop, &h->timer);
    if (h->mhd) { /* no connection may stay suspended: each stream ends, then they all close */
        for (struct ew_http_stream *s = h->streams; s; s = s->next) {
            s->ended = true;
            if (s->suspended) {
                s->suspended = false;
                MHD_resume_connection(s->conn);
            }
        }
        MHD_run(h->mhd);
        MHD_stop_daemon(h->mhd); /* closes the listening socket too */
    } else if (h->fd >= 0)
        close(h->fd);
    free(h);
}

int ew_http_port(const struct ew_http *h)
{
    return h->port;
}
