/*
 * ew_http.c - metrics and health over HTTP (see ew_http.h). A connection that has not sent its
 * request within 5 seconds, or sends more than 4 KiB of it, is closed.
 */
#include "ew_http.h"

#include "ew_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define EW_HTTP_REQ_MAX 4096

struct ew_http {
    struct ev_loop *loop;
    int fd;
    ev_io accept_io;
    ew_http_handler fn;
    void *ctx;
};

struct ew_conn {
    struct ew_http *h;
    int fd;
    ev_io io;
    ev_timer timer;
    char req[EW_HTTP_REQ_MAX];
    size_t len;
    struct ew_buf out;
    size_t sent;
};

static void ew_conn_close(struct ew_conn *c)
{
    ev_io_stop(c->h->loop, &c->io);
    ev_timer_stop(c->h->loop, &c->timer);
    close(c->fd);
    ew_buf_release(&c->out);
    free(c);
}

static void ew_conn_on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    struct ew_conn *c = w->data;
    while (c->sent < c->out.len) {
        ssize_t n = write(c->fd, c->out.data + c->sent, c->out.len - c->sent);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0)
            break;
        c->sent += (size_t)n;
    }
    ew_conn_close(c);
}

static void ew_conn_respond(struct ew_conn *c)
{
    char path[256] = "";
    if (sscanf(c->req, "GET %255s", path) != 1)
        snprintf(path, sizeof path, "?");
    struct ew_buf body = EW_BUF_INIT;
    const char *type = "text/plain; charset=utf-8";
    int status = path[0] == '?' ? 400 : c->h->fn(c->h->ctx, path, &body, &type);
    const char *reason = status == 200   ? "OK"
                         : status == 404 ? "Not Found"
                         : status == 503 ? "Service Unavailable"
                                         : "Bad Request";
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, reason, type, body.err ? 0 : body.len);
    ew_buf_add(&c->out, head, (size_t)n);
    if (!body.err && body.len)
        ew_buf_add(&c->out, body.data, body.len);
    ew_buf_release(&body);
    ev_io_stop(c->h->loop, &c->io);
    ev_io_init(&c->io, ew_conn_on_write, c->fd, EV_WRITE);
    c->io.data = c;
    ev_io_start(c->h->loop, &c->io);
}

static void ew_conn_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    struct ew_conn *c = w->data;
    ssize_t n = read(c->fd, c->req + c->len, sizeof c->req - 1 - c->len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        ew_conn_close(c);
        return;
    }
    c->len += (size_t)n;
    c->req[c->len] = '\0';
    if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
        ew_conn_respond(c);
    else if (c->len == sizeof c->req - 1)
        ew_conn_close(c); /* too long a request */
}

static void ew_conn_on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    ew_conn_close(w->data);
}

static void ew_http_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct ew_http *h = w->data;
    int fd = accept(h->fd, NULL, NULL);
    if (fd < 0)
        return;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    struct ew_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->h = h;
    c->fd = fd;
    c->out = (struct ew_buf)EW_BUF_INIT;
    ev_io_init(&c->io, ew_conn_on_read, fd, EV_READ);
    c->io.data = c;
    ev_io_start(loop, &c->io);
    ev_timer_init(&c->timer, ew_conn_on_timeout, 5, 0);
    c->timer.data = c;
    ev_timer_start(loop, &c->timer);
}

struct ew_http *ew_http_new(struct ev_loop *loop, const char *listen_at, ew_http_handler fn,
                            void *ctx)
{
    char host[256];
    const char *colon = strrchr(listen_at, ':');
    if (!colon || (size_t)(colon - listen_at) >= sizeof host) {
        ew_log(EW_LOG_ERROR, "http", "http.listen \"%s\": expected host:port", listen_at);
        return NULL;
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
        return NULL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64)) {
        ew_log(EW_LOG_ERROR, "http", "cannot listen on %s: %s", listen_at, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return NULL;
    }
    freeaddrinfo(ai);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    struct ew_http *h = calloc(1, sizeof *h);
    if (!h) {
        close(fd);
        return NULL;
    }
    *h = (struct ew_http){.loop = loop, .fd = fd, .fn = fn, .ctx = ctx};
    ev_io_init(&h->accept_io, ew_http_on_accept, fd, EV_READ);
    h->accept_io.data = h;
    ev_io_start(loop, &h->accept_io);
    ew_log(EW_LOG_INFO, "http", "metrics and health on http://%s/", listen_at);
    return h;
}

void ew_http_free(struct ew_http *h)
{
    if (!h)
        return;
    ev_io_stop(h->loop, &h->accept_io);
    close(h->fd);
    free(h);
}
