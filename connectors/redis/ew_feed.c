/*
 * ew_feed.c - the outputs as a reader sees them (see ew_feed.h).
 *
 * A state request is two commands on the feed's connection, XREVRANGE (the newest id) then
 * HGETALL (the active hash): replies come in order, so an event written between the two is in
 * the hash and after the id at once, and a reader applying events by fingerprint ends the same.
 */
#include "ew_feed.h"

#include "ew_log.h"
#include "ew_redis.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EW_FOLLOW_COUNT "256"

struct ew_ticket {
    struct ew_ticket *next, *prev;
    ew_feed_state_fn fn;
    void *ctx;
    char last_id[64];
    bool cancelled, have_id;
};

struct ew_follow {
    struct ew_follow *next, *prev;
    struct ew_feed *feed;
    struct ew_redis *conn;
    char cursor[64];
    ew_follow_fn fn;
    void *ctx;
    ev_timer retry;
};

struct ew_feed {
    struct ev_loop *loop;
    struct ew_redis_addr addr;
    char events[128], active[128], acks[128];
    double timeout_s, reconnect_max_s;
    char block_ms[16];
    struct ew_redis *conn;
    struct ew_ticket *tickets;
    struct ew_follow *follows;
};

int ew_feed_is_id(const char *s)
{
    size_t ms = strspn(s, "0123456789");
    if (!ms || ms > 20)
        return 0;
    if (!s[ms])
        return 1;
    size_t seq = s[ms] == '-' ? strspn(s + ms + 1, "0123456789") : 0;
    return seq && seq <= 20 && !s[ms + 1 + seq];
}

/* The id of XREVRANGE's single entry, or "0-0" for an empty stream; false when the reply is
 * not one. */
static bool ew_feed_newest(const redisReply *r, char *out, size_t n)
{
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return false;
    if (!r->elements) {
        snprintf(out, n, "0-0");
        return true;
    }
    const redisReply *e = r->element[0];
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 ||
        e->element[0]->type != REDIS_REPLY_STRING)
        return false;
    snprintf(out, n, "%s", e->element[0]->str);
    return true;
}

static void ew_ticket_free(struct ew_feed *f, struct ew_ticket *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        f->tickets = t->next;
    if (t->next)
        t->next->prev = t->prev;
    free(t);
}

/* A state request's two replies, or an acknowledgement's. */
static void ew_feed_on_reply(void *ctx, struct redisReply *r, void *arg)
{
    struct ew_feed *f = ctx;
    struct ew_ticket *t = arg;
    if (!t) {
        if (r && r->type == REDIS_REPLY_ERROR)
            ew_log(EW_LOG_WARN, "dashboard", "acknowledgement not written: %s", r->str);
        return;
    }
    if (!t->have_id) {
        t->have_id = true;
        if (!ew_feed_newest(r, t->last_id, sizeof t->last_id))
            snprintf(t->last_id, sizeof t->last_id, "0-0");
        return;
    }
    if (!t->cancelled) {
        size_t n = r && r->type == REDIS_REPLY_ARRAY ? r->elements / 2 : 0;
        const char **alerts = calloc(n + 1, sizeof *alerts);
        size_t *lens = calloc(n + 1, sizeof *lens);
        size_t k = 0;
        for (size_t i = 0; alerts && lens && i < n; i++) {
            const redisReply *v = r->element[2 * i + 1];
            if (v->type == REDIS_REPLY_STRING) {
                alerts[k] = v->str;
                lens[k++] = v->len;
            }
        }
        if (r && r->type == REDIS_REPLY_ERROR)
            ew_log(EW_LOG_WARN, "dashboard", "HGETALL %s: %s", f->active, r->str);
        t->fn(t->ctx, t->last_id, alerts && lens ? k : 0, alerts, lens);
        free(alerts);
        free(lens);
    }
    ew_ticket_free(f, t);
}

struct ew_feed *ew_feed_new(struct ev_loop *loop, const struct ew_feed_conf *c)
{
    struct ew_feed *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->loop = loop;
    f->addr = *c->addr;
    f->timeout_s = c->timeout_s;
    f->reconnect_max_s = c->reconnect_max_s;
    snprintf(f->events, sizeof f->events, "%sevents", c->prefix);
    snprintf(f->active, sizeof f->active, "%sactive", c->prefix);
    snprintf(f->acks, sizeof f->acks, "%sacks", c->prefix);
    /* a blocked read answers well before the connection's watchdog would close it */
    double block = c->timeout_s / 2 < 1.0 ? c->timeout_s / 2 : 1.0;
    snprintf(f->block_ms, sizeof f->block_ms, "%d", (int)(block * 1000));
    f->conn = ew_redis_new(loop, &f->addr, "redis-dashboard", c->timeout_s, c->reconnect_max_s,
                           ew_feed_on_reply, f);
    if (!f->conn) {
        free(f);
        return NULL;
    }
    return f;
}

void ew_feed_free(struct ew_feed *f)
{
    if (!f)
        return;
    while (f->follows)
        ew_follow_free(f->follows);
    ew_redis_free(f->conn);
    while (f->tickets)
        ew_ticket_free(f, f->tickets);
    explicit_bzero(f->addr.password, sizeof f->addr.password);
    free(f);
}

void *ew_feed_state(struct ew_feed *f, ew_feed_state_fn fn, void *ctx)
{
    struct ew_ticket *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->fn = fn;
    t->ctx = ctx;
    const char *newest[] = {"XREVRANGE", f->events, "+", "-", "COUNT", "1"};
    const char *all[] = {"HGETALL", f->active};
    if (ew_redis_cmds(f->conn, t, 6, newest)) {
        free(t);
        return NULL;
    }
    t->next = f->tickets;
    if (f->tickets)
        f->tickets->prev = t;
    f->tickets = t;
    if (ew_redis_cmds(f->conn, t, 2, all)) { /* its first reply sets the id; none will follow */
        t->cancelled = true;
        return NULL;
    }
    return t;
}

void ew_feed_cancel(struct ew_feed *f, void *ticket)
{
    (void)f;
    struct ew_ticket *t = ticket;
    if (t)
        t->cancelled = true;
}

int ew_feed_ack(struct ew_feed *f, const char *alert_id, const char *by, const char *note)
{
    const char *argv[] = {"XADD", f->acks, "*", "alert_id", alert_id, "by", by, "note", note};
    return ew_redis_cmds(f->conn, NULL, 9, argv);
}

/* ---- followers ---- */

static void ew_follow_read(struct ew_follow *w)
{
    const char *argv[] = {"XREAD",           "COUNT",   EW_FOLLOW_COUNT, "BLOCK",
                          w->feed->block_ms, "STREAMS", w->feed->events, w->cursor};
    if (ew_redis_cmds(w->conn, w, 8, argv))
        ev_timer_start(w->feed->loop, &w->retry); /* out of memory: later */
}

static void ew_follow_on_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    ew_follow_read(t->data);
}

/* The field json of an entry's field list, or NULL. */
static const redisReply *ew_follow_json(const redisReply *fields)
{
    for (size_t i = 0; fields->type == REDIS_REPLY_ARRAY && i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING &&
            !strcmp(fields->element[i]->str, "json") &&
            fields->element[i + 1]->type == REDIS_REPLY_STRING)
            return fields->element[i + 1];
    return NULL;
}

static void ew_follow_on_reply(void *ctx, struct redisReply *r, void *arg)
{
    struct ew_follow *w = ctx;
    if (arg == NULL) { /* the newest id, to follow from */
        if (!ew_feed_newest(r, w->cursor, sizeof w->cursor))
            snprintf(w->cursor, sizeof w->cursor, "0-0");
        ew_follow_read(w);
        return;
    }
    if (r && r->type == REDIS_REPLY_ERROR) {
        ew_log(EW_LOG_WARN, "dashboard", "XREAD %s: %s; trying again in a second", w->feed->events,
               r->str);
        ev_timer_start(w->feed->loop, &w->retry);
        return;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 1) {
        w->fn(w->ctx, NULL, NULL, 0); /* nothing new for a while */
        ew_follow_read(w);
        return;
    }
    const redisReply *entries =
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2
            ? r->element[0]->element[1]
            : NULL;
    for (size_t i = 0; entries && entries->type == REDIS_REPLY_ARRAY && i < entries->elements;
         i++) {
        const redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        snprintf(w->cursor, sizeof w->cursor, "%s", e->element[0]->str);
        const redisReply *json = ew_follow_json(e->element[1]);
        if (json)
            w->fn(w->ctx, w->cursor, json->str, json->len);
    }
    ew_follow_read(w);
}

struct ew_follow *ew_follow_new(struct ew_feed *f, const char *since, ew_follow_fn fn, void *ctx)
{
    if (since &&
        (!ew_feed_is_id(since) || strlen(since) >= sizeof(((struct ew_follow *)0)->cursor)))
        return NULL;
    struct ew_follow *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    *w = (struct ew_follow){.feed = f, .fn = fn, .ctx = ctx};
    ev_timer_init(&w->retry, ew_follow_on_retry, 1.0, 0);
    w->retry.data = w;
    w->conn = ew_redis_new(f->loop, &f->addr, "redis-dashboard-follow", f->timeout_s,
                           f->reconnect_max_s, ew_follow_on_reply, w);
    if (!w->conn) {
        free(w);
        return NULL;
    }
    w->next = f->follows;
    if (f->follows)
        f->follows->prev = w;
    f->follows = w;
    if (since) {
        snprintf(w->cursor, sizeof w->cursor, "%s", since);
        ew_follow_read(w);
    } else {
        const char *argv[] = {"XREVRANGE", f->events, "+", "-", "COUNT", "1"};
        if (ew_redis_cmds(w->conn, NULL, 6, argv)) {
            ew_follow_free(w);
            return NULL;
        }
    }
    return w;
}

void ew_follow_free(struct ew_follow *w)
{
    if (!w)
        return;
    struct ew_feed *f = w->feed;
    if (w->prev)
        w->prev->next = w->next;
    else
        f->follows = w->next;
    if (w->next)
        w->next->prev = w->prev;
    ev_timer_stop(f->loop, &w->retry);
    ew_redis_free(w->conn);
    free(w);
}
