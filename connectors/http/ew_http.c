/*
 * ew_http.c - the HTTP endpoint (see ew_http.h). The listening socket is made here (any host
 * name or address getaddrinfo knows, IPv4 or IPv6) and handed to libmicrohttpd, which parses
 * requests, keeps connections alive and enforces the limits. After every run of it the timer
 * is set again to what it asks for.
 */
#include "ew_http.h"

#include "ew_log.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct ew_http {
    struct ev_loop *loop;
    struct MHD_Daemon *mhd;
    int fd, port;
    ev_io io;
    ev_timer timer;
    ew_http_handler fn;
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

static enum MHD_Result ew_http_reply(struct MHD_Connection *c, unsigned status, const void *data,
                                     size_t len, const char *type, bool head)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(head ? 0 : len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result ew_http_answer(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version, const char *upload,
                                      size_t *upload_len, void **req)
{
    (void)version, (void)upload;
    struct ew_http *h = cls;
    if (!*req) { /* the headers: answer on the next call (a response queued now closes the
                    connection after it, in libmicrohttpd 0.9.75) */
        *req = h;
        return MHD_YES;
    }
    if (*upload_len) {
        *upload_len = 0; /* a body is not read */
        return MHD_YES;
    }
    bool head = !strcmp(method, MHD_HTTP_METHOD_HEAD);
    if (!head && strcmp(method, MHD_HTTP_METHOD_GET)) {
        static const char msg[] = "only GET and HEAD\n";
        return ew_http_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, msg, sizeof msg - 1,
                             "text/plain; charset=utf-8", false);
    }
    struct ew_buf body = EW_BUF_INIT;
    const char *type = "text/plain; charset=utf-8";
    int status = h->fn(h->ctx, url, &body, &type);
    enum MHD_Result rc =
        body.err
            ? ew_http_reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "", 0, type, head)
            : ew_http_reply(c, (unsigned)status, body.data ? body.data : "", body.len, type, head);
    ew_buf_release(&body);
    return rc;
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
        MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, ew_http_answer, h,
        MHD_OPTION_EXTERNAL_LOGGER, ew_http_log, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)h->fd,
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
    ew_log(EW_LOG_INFO, "http", "metrics and health on http://%s/", listen_at);
    return h;
}

void ew_http_free(struct ew_http *h)
{
    if (!h)
        return;
    ev_io_stop(h->loop, &h->io);
    ev_timer_stop(h->loop, &h->timer);
    if (h->mhd)
        MHD_stop_daemon(h->mhd); /* closes the listening socket too */
    else if (h->fd >= 0)
        close(h->fd);
    free(h);
}

int ew_http_port(const struct ew_http *h)
{
    return h->port;
}
