/*
 * ew_redis.c - a Redis connection that loses nothing (see ew_redis.h).
 *
 * The queue holds every command without a reply, oldest first; the first `sent` of them have
 * been written on the current connection. Replies come in order, so each reply belongs to the
 * queue's head. A lost connection makes sent 0: the next connection writes them all again.
 */
#include "ew_redis.h"

#include "ew_log.h"

#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EW_REDIS_MAX_INFLIGHT 8192 /* commands written and not answered, at most */

const double ew_redis_latency_bounds[7] = {0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5};

struct ew_rcmd {
    char *cmd;
    size_t len;
    void *arg;
    double sent_at;
};

struct ew_redis {
    struct ev_loop *loop;
    char name[32];
    char host[EW_URL_HOST_MAX];
    int port, db;
    bool unix_socket;
    char user[128], password[512]; /* AUTH on every connection when a password is set */
    double timeout, backoff, backoff_max;
    ew_redis_reply_fn fn;
    void *ctx;
    redisAsyncContext *ac;
    bool connected, closing;
    bool refused; /* the last connection was closed on a refusal for now (ew_redis_not_now) */
    double connect_started;
    struct ew_rcmd *q; /* ring */
    size_t cap, head, n, sent;
    ev_timer reconnect, watchdog;
    struct ew_redis_stats stats;
};

static void ew_redis_connect(struct ew_redis *r);
static void ew_redis_on_reply(redisAsyncContext *ac, void *reply, void *priv);

static struct ew_rcmd *ew_q_at(struct ew_redis *r, size_t i)
{
    return &r->q[(r->head + i) % r->cap];
}

static void ew_redis_flush(struct ew_redis *r)
{
    while (r->connected && r->sent < r->n && r->sent < EW_REDIS_MAX_INFLIGHT) {
        struct ew_rcmd *c = ew_q_at(r, r->sent);
        if (redisAsyncFormattedCommand(r->ac, ew_redis_on_reply, r, c->cmd, c->len) != REDIS_OK)
            break;
        c->sent_at = ev_now(r->loop);
        r->sent++;
    }
}

/* Whether an error reply says that the server cannot take commands now, rather than that the
 * command is wrong: it is loading its data, running a script, a replica or a cluster in change,
 * out of memory, unable to persist, or waiting for a password. Such a command was not run;
 * dropped as a wrong one is, its alert event would be lost. */
static bool ew_redis_not_now(const redisReply *rep)
{
    static const char *const codes[] = {"LOADING",     "BUSY",     "MASTERDOWN", "TRYAGAIN",
                                        "CLUSTERDOWN", "READONLY", "OOM",        "MISCONF",
                                        "NOREPLICAS",  "NOAUTH"};
    size_t n = 0; /* the first word: the error's code ("BUSYGROUP" is not "BUSY") */
    while (n < rep->len && rep->str[n] != ' ')
        n++;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strlen(codes[i]) == n && !memcmp(rep->str, codes[i], n))
            return true;
    return false;
}

/* Closes the connection from a reply's callback (it is freed once the callback returns, and
 * on_disconnect follows) after a refusal: every command without a reply is sent again on the
 * next connection, after the backoff, which keeps doubling while the server refuses. */
static void ew_redis_refused(struct ew_redis *r, redisAsyncContext *ac)
{
    r->stats.refusals++;
    r->refused = true;
    r->connected = false;
    redisAsyncFree(ac);
}

/* Logs a refusal for now, once while they last. */
static void ew_redis_log_not_now(const struct ew_redis *r, const redisReply *rep)
{
    if (!r->refused)
        ew_log(EW_LOG_WARN, r->name, "refused for now: %.*s; sending again later", (int)rep->len,
               rep->str);
}

static void ew_redis_on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct ew_redis *r = priv;
    redisReply *rep = reply;
    if (!rep || !r->sent || !r->connected) /* the connection is going: the command stays queued */
        return;
    if (rep->type == REDIS_REPLY_ERROR && ew_redis_not_now(rep)) {
        /* not run, and the commands written after it may not have been either */
        ew_redis_log_not_now(r, rep);
        ew_redis_refused(r, ac);
        return;
    }
    if (r->refused) {
        ew_log(EW_LOG_INFO, r->name, "commands taken again");
        r->refused = false;
        r->backoff = 0.05;
    }
    struct ew_rcmd c = *ew_q_at(r, 0);
    r->head = (r->head + 1) % r->cap;
    r->n--;
    r->sent--;
    double lat = ev_now(r->loop) - c.sent_at;
    r->stats.replies++;
    r->stats.latency_sum += lat;
    size_t b = 0;
    while (b < 7 && lat > ew_redis_latency_bounds[b])
        b++;
    r->stats.latency_buckets[b]++;
    if (rep->type == REDIS_REPLY_ERROR)
        r->stats.errors++;
    redisFreeCommand(c.cmd);
    r->fn(r->ctx, rep, c.arg);
    ew_redis_flush(r);
}

/* The connection takes commands: every one without a reply is written on it. */
static void ew_redis_ready(struct ew_redis *r)
{
    r->connected = true;
    if (!r->refused) /* else once a command is taken */
        r->backoff = 0.05;
    r->sent = 0;
    ew_redis_flush(r);
}

/* A connection is ready after AUTH (with a password) then SELECT (with a database other than
 * 0), each answered; no command is written before: after a SELECT that failed, the server would
 * run them in database 0. A refusal closes the connection, made again after the backoff. */
static void ew_redis_handshake(struct ew_redis *r, int step);

static void ew_redis_on_handshake(redisAsyncContext *ac, void *reply, void *priv)
{
    struct ew_redis *r = ac->data;
    redisReply *rep = reply;
    int step = (int)(intptr_t)priv;
    if (!rep) /* the connection is going */
        return;
    if (rep->type != REDIS_REPLY_ERROR) {
        ew_redis_handshake(r, step + 1);
        return;
    }
    if (step == 0) /* WRONGPASS, or that user has no password: the operator's to fix */
        ew_log(EW_LOG_ERROR, r->name,
               "AUTH%s%s refused: %.*s (check the user and password of redis.url); "
               "connecting again later",
               r->user[0] ? " as " : "", r->user, (int)rep->len, rep->str);
    else if (!strncmp(rep->str, "NOAUTH", 6))
        ew_log(EW_LOG_ERROR, r->name,
               "the server asks for a password: %.*s (give it in redis.url: "
               "redis://user:password@host:port/db); connecting again later",
               (int)rep->len, rep->str);
    else if (ew_redis_not_now(rep))
        ew_redis_log_not_now(r, rep);
    else if (r->db)
        ew_log(EW_LOG_ERROR, r->name, "SELECT %d refused: %.*s; connecting again later", r->db,
               (int)rep->len, rep->str);
    else
        ew_log(EW_LOG_ERROR, r->name, "PING refused: %.*s; connecting again later", (int)rep->len,
               rep->str);
    ew_redis_refused(r, ac);
}

/* Step 0: AUTH (with a password), 1: SELECT (with a database other than 0) or else PING (a
 * server that wants a password says so here, not on the first event), 2: ready. The watchdog
 * closes a connection whose answer is late. */
static void ew_redis_handshake(struct ew_redis *r, int step)
{
    if (step == 0 && r->password[0]) {
        if (r->user[0])
            redisAsyncCommand(r->ac, ew_redis_on_handshake, (void *)0, "AUTH %s %s", r->user,
                              r->password);
        else
            redisAsyncCommand(r->ac, ew_redis_on_handshake, (void *)0, "AUTH %s", r->password);
    } else if (step <= 1) {
        char db[16];
        snprintf(db, sizeof db, "%d", r->db);
        if (r->db)
            redisAsyncCommand(r->ac, ew_redis_on_handshake, (void *)1, "SELECT %s", db);
        else
            redisAsyncCommand(r->ac, ew_redis_on_handshake, (void *)1, "PING");
    } else {
        ew_redis_ready(r);
    }
}

static void ew_redis_schedule(struct ew_redis *r)
{
    if (r->closing)
        return;
    ev_timer_stop(r->loop, &r->reconnect);
    ev_timer_set(&r->reconnect, r->backoff, 0);
    ev_timer_start(r->loop, &r->reconnect);
    r->backoff = r->backoff * 2 < r->backoff_max ? r->backoff * 2 : r->backoff_max;
}

static void ew_redis_on_connect(const redisAsyncContext *ac, int status)
{
    struct ew_redis *r = ac->data;
    if (status != REDIS_OK) {
        ew_log(EW_LOG_WARN, r->name, "cannot connect to %s:%d: %s", r->host, r->port, ac->errstr);
        r->ac = NULL; /* hiredis frees it */
        ew_redis_schedule(r);
        return;
    }
    ew_log(EW_LOG_INFO, r->name, "connected to %s%s%d", r->host, r->unix_socket ? "" : ":",
           r->unix_socket ? r->db : r->port);
    ew_redis_handshake(r, 0);
}

static void ew_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct ew_redis *r = ac->data;
    if (!r->closing)
        ew_log(EW_LOG_WARN, r->name, "disconnected%s%s: %zu commands will be sent again",
               status == REDIS_OK ? "" : ": ", status == REDIS_OK ? "" : ac->errstr, r->sent);
    r->ac = NULL;
    r->connected = false;
    r->sent = 0;
    ew_redis_schedule(r);
}

static void ew_redis_connect(struct ew_redis *r)
{
    r->ac = r->unix_socket ? redisAsyncConnectUnix(r->host) : redisAsyncConnect(r->host, r->port);
    r->connect_started = ev_now(r->loop);
    if (!r->ac || r->ac->err) {
        ew_log(EW_LOG_WARN, r->name, "cannot connect: %s", r->ac ? r->ac->errstr : "no memory");
        if (r->ac)
            redisAsyncFree(r->ac);
        r->ac = NULL;
        ew_redis_schedule(r);
        return;
    }
    r->ac->data = r;
    r->stats.reconnects++;
    redisLibevAttach(r->loop, r->ac);
    redisAsyncSetConnectCallback(r->ac, ew_redis_on_connect);
    redisAsyncSetDisconnectCallback(r->ac, ew_redis_on_disconnect);
}

static void ew_redis_on_reconnect(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    struct ew_redis *r = w->data;
    if (!r->ac)
        ew_redis_connect(r);
}

/* A reply (or a connection) later than the timeout closes the connection: it reconnects. */
static void ew_redis_on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct ew_redis *r = w->data;
    double now = ev_now(loop);
    bool late = r->connected ? r->sent && now - ew_q_at(r, 0)->sent_at > r->timeout
                             : r->ac && now - r->connect_started > r->timeout;
    if (!late)
        return;
    r->stats.timeouts++;
    ew_log(EW_LOG_WARN, r->name, "%s for %.1f s: closing the connection",
           r->connected ? "no reply" : "not connected", r->timeout);
    redisAsyncContext *ac = r->ac;
    redisAsyncFree(ac); /* calls on_disconnect when it was connected */
    if (r->ac == ac) {  /* it was not: nothing was called */
        r->ac = NULL;
        r->connected = false;
        r->sent = 0;
        ew_redis_schedule(r);
    }
}

struct ew_redis *ew_redis_new(struct ev_loop *loop, const struct ew_redis_addr *addr,
                              const char *name, double timeout_s, double reconnect_max_s,
                              ew_redis_reply_fn fn, void *ctx)
{
    struct ew_redis *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    snprintf(r->host, sizeof r->host, "%s", addr->host);
    r->port = addr->port;
    r->db = addr->db;
    r->unix_socket = addr->unix_socket;
    snprintf(r->user, sizeof r->user, "%s", addr->user);
    snprintf(r->password, sizeof r->password, "%s", addr->password);
    r->loop = loop;
    snprintf(r->name, sizeof r->name, "%s", name);
    r->timeout = timeout_s;
    r->backoff = 0.05;
    r->backoff_max = reconnect_max_s;
    r->fn = fn;
    r->ctx = ctx;
    ev_timer_init(&r->reconnect, ew_redis_on_reconnect, 0, 0);
    r->reconnect.data = r;
    ev_timer_init(&r->watchdog, ew_redis_on_watchdog, timeout_s / 4, timeout_s / 4);
    r->watchdog.data = r;
    ev_timer_start(loop, &r->watchdog);
    ew_redis_connect(r);
    return r;
}

void ew_redis_free(struct ew_redis *r)
{
    if (!r)
        return;
    r->closing = true;
    ev_timer_stop(r->loop, &r->reconnect);
    ev_timer_stop(r->loop, &r->watchdog);
    if (r->ac)
        redisAsyncFree(r->ac);
    for (size_t i = 0; i < r->n; i++)
        redisFreeCommand(ew_q_at(r, i)->cmd);
    free(r->q);
    explicit_bzero(r->password, sizeof r->password);
    free(r);
}

int ew_redis_cmd(struct ew_redis *r, void *arg, int argc, const char **argv, const size_t *lens)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 1024;
        struct ew_rcmd *q = malloc(cap * sizeof *q);
        if (!q)
            return -1;
        for (size_t i = 0; i < r->n; i++)
            q[i] = *ew_q_at(r, i);
        free(r->q);
        r->q = q;
        r->cap = cap;
        r->head = 0;
    }
    char *cmd;
    int len = redisFormatCommandArgv(&cmd, argc, argv, lens);
    if (len < 0)
        return -1;
    *ew_q_at(r, r->n) = (struct ew_rcmd){cmd, (size_t)len, arg, 0};
    r->n++;
    r->stats.commands++;
    ew_redis_flush(r);
    return 0;
}

bool ew_redis_connected(const struct ew_redis *r)
{
    return r->connected;
}

size_t ew_redis_queued(const struct ew_redis *r)
{
    return r->n;
}

const struct ew_redis_stats *ew_redis_stats(const struct ew_redis *r)
{
    return &r->stats;
}

int ew_redis_cmds(struct ew_redis *r, void *arg, int argc, const char **argv)
{
    size_t lens[16];
    if (argc < 1 || argc > 16)
        return -1;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return ew_redis_cmd(r, arg, argc, argv, lens);
}
