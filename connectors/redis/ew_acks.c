/*
 * ew_acks.c - the officers' acknowledgements source (see ew_acks.h).
 *
 * XGROUP CREATE (BUSYGROUP: it was there), then XREADGROUP ... BLOCK in a loop; each entry's
 * alert is read with HGET PREFIX+active FINGERPRINT on the same connection, whose replies come
 * in order. An error reply (the stream or its group went) retries after a second. On a second
 * connection (the first blocks), every EW_ACKS_CLAIM_MS, XPENDING lists the entries pending
 * longer than EW_ACKS_IDLE_MS and XCLAIM takes those of other consumers (and this one's own
 * after EW_ACKS_OWN_IDLE_MS), which go the same way.
 */
#include "ew_acks.h"

#include "ew_alertjson.h"
#include "ew_log.h"
#include "ew_redis.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ew_acks {
    struct ev_loop *loop;
    struct ew_redis *conn, *claims; /* reads (blocking); claims and their HGETs */
    const struct ew_opts *opts;
    char consumer[64];
    ew_acks_fn fn;
    void *ctx;
    ev_timer retry, claim;
    bool stopped, claiming;
};

static char ew_acks_group_marker; /* the arg of XGROUP CREATE */

static void ew_acks_key(const struct ew_acks *a, char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s%s", a->opts->redis_prefix, name);
}

static void ew_acks_read(struct ew_acks *a)
{
    char key[128], block[24];
    ew_acks_key(a, key, sizeof key, "acks");
    int64_t b = a->opts->redis_timeout_ms / 2 < 1000 ? a->opts->redis_timeout_ms / 2 : 1000;
    snprintf(block, sizeof block, "%lld", (long long)(b > 0 ? b : 1));
    const char *argv[] = {"XREADGROUP", "GROUP", "ecowarnd", a->consumer, "COUNT", "100",
                          "BLOCK",      block,   "STREAMS",  key,         ">"};
    ew_redis_cmds(a->conn, NULL, 11, argv);
}

static void ew_acks_start(struct ew_acks *a)
{
    char key[128];
    ew_acks_key(a, key, sizeof key, "acks");
    const char *argv[] = {"XGROUP", "CREATE", key, "ecowarnd", "0", "MKSTREAM"};
    ew_redis_cmds(a->conn, &ew_acks_group_marker, 6, argv);
}

static void ew_acks_on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    struct ew_acks *a = w->data;
    if (!a->stopped)
        ew_acks_start(a);
}

/* The alert as it stands (HGET's reply) goes to the handler with its entry. */
static void ew_acks_apply(struct ew_acks *a, struct ew_ack *ack, const redisReply *r)
{
    struct ew_alert_event cur;
    json_t *doc = NULL;
    bool found =
        r && r->type == REDIS_REPLY_STRING && !ew_alert_from_json(r->str, r->len, &cur, &doc);
    if (r && r->type == REDIS_REPLY_STRING && !found)
        ew_log(EW_LOG_WARN, "acks", "the active alert %s is not an alert event", ack->fingerprint);
    a->fn(a->ctx, ack, found ? &cur : NULL);
    json_decref(doc);
}

/* One entry of XREADGROUP's or XCLAIM's reply: [id, [field, value...]]; its alert is read
 * on conn. */
static void ew_acks_entry(struct ew_acks *a, struct ew_redis *conn, const redisReply *e)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || !e->element[0]->str)
        return;
    struct ew_ack *ack = calloc(1, sizeof *ack);
    if (!ack)
        return;
    snprintf(ack->entry, sizeof ack->entry, "%s", e->element[0]->str);
    const redisReply *f = e->element[1];
    for (size_t k = 0; f->type == REDIS_REPLY_ARRAY && k + 1 < f->elements; k += 2) {
        const char *name = f->element[k]->str, *v = f->element[k + 1]->str;
        if (!name || !v)
            continue;
        if (!strcmp(name, "alert_id"))
            snprintf(ack->alert_id, sizeof ack->alert_id, "%s", v);
        else if (!strcmp(name, "by"))
            snprintf(ack->by, sizeof ack->by, "%s", v);
        else if (!strcmp(name, "note"))
            snprintf(ack->note, sizeof ack->note, "%s", v);
    }
    if (strcspn(ack->alert_id, "-") != 16) { /* not an id this daemon made */
        ew_log(EW_LOG_WARN, "acks", "entry %s: alert_id \"%s\" is not an alert id", ack->entry,
               ack->alert_id);
        a->fn(a->ctx, ack, NULL);
        free(ack);
        return;
    }
    memcpy(ack->fingerprint, ack->alert_id, 16);
    char key[128];
    ew_acks_key(a, key, sizeof key, "active");
    const char *argv[3] = {"HGET", key, ack->fingerprint};
    if (ew_redis_cmds(conn, ack, 3, argv))
        free(ack);
}

#define EW_ACKS_BATCH 100 /* entries looked at, and claimed, at a time */

static char ew_acks_pending_marker; /* the arg of XPENDING */
static char ew_acks_claim_marker;   /* the arg of XCLAIM */

/* Every EW_ACKS_CLAIM_MS: which entries have been pending EW_ACKS_IDLE_MS, and with whom. */
static void ew_acks_on_claim_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    struct ew_acks *a = w->data;
    if (a->stopped || a->claiming)
        return;
    char key[128], idle[24], count[24];
    ew_acks_key(a, key, sizeof key, "acks");
    snprintf(idle, sizeof idle, "%d", EW_ACKS_IDLE_MS);
    snprintf(count, sizeof count, "%d", EW_ACKS_BATCH);
    const char *argv[] = {"XPENDING", key, "ecowarnd", "IDLE", idle, "-", "+", count};
    a->claiming = ew_redis_cmds(a->claims, &ew_acks_pending_marker, 8, argv) == 0;
}

/* XPENDING's reply: [[id, consumer, idle ms, deliveries]...]. Another consumer's entries are
 * claimed (XCLAIM, with the same least idle time, so that two instances never both take one);
 * this one's own only after EW_ACKS_OWN_IDLE_MS: an entry it left for another instance is not
 * taken back before that one could look (XAUTOCLAIM would: each instance looking every second
 * and an entry claimable every EW_ACKS_IDLE_MS, the one that left it could take it back each
 * time first, for as long as their timers kept step). */
static void ew_acks_claim(struct ew_acks *a, const redisReply *r)
{
    const char *argv[5 + EW_ACKS_BATCH];
    int argc = 0;
    char key[128], idle[24];
    ew_acks_key(a, key, sizeof key, "acks");
    snprintf(idle, sizeof idle, "%d", EW_ACKS_IDLE_MS);
    argv[argc++] = "XCLAIM", argv[argc++] = key, argv[argc++] = "ecowarnd";
    argv[argc++] = a->consumer, argv[argc++] = idle;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && argc < 5 + EW_ACKS_BATCH;
         i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || !e->element[0]->str ||
            !e->element[1]->str || e->element[2]->type != REDIS_REPLY_INTEGER)
            continue;
        if (strcmp(e->element[1]->str, a->consumer) ||
            e->element[2]->integer >= EW_ACKS_OWN_IDLE_MS)
            argv[argc++] = e->element[0]->str;
    }
    a->claiming = argc > 5 && ew_redis_cmd(a->claims, &ew_acks_claim_marker, argc, argv, NULL) == 0;
}

/* XCLAIM: [[id, [field, value...]]...]; an entry deleted from the stream meanwhile is not
 * among them (or comes as nil, and is passed over). */
static void ew_acks_on_claim_reply(void *ctx, redisReply *reply, void *arg)
{
    struct ew_acks *a = ctx;
    if (arg == &ew_acks_pending_marker) {
        a->claiming = false;
        if (!a->stopped)
            ew_acks_claim(a, reply);
        return;
    }
    if (arg != &ew_acks_claim_marker) { /* an HGET for a claimed entry */
        ew_acks_apply(a, arg, reply->type == REDIS_REPLY_ERROR ? NULL : reply);
        free(arg);
        return;
    }
    a->claiming = false;
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements && !a->stopped; i++)
        ew_acks_entry(a, a->claims, reply->element[i]);
}

static void ew_acks_on_reply(void *ctx, redisReply *reply, void *arg)
{
    struct ew_acks *a = ctx;
    if (arg == &ew_acks_group_marker) { /* created, or it was there (BUSYGROUP): read */
        if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "BUSYGROUP", 9)) {
            ew_log(EW_LOG_ERROR, "acks", "cannot read %sacks: %s", a->opts->redis_prefix,
                   reply->str);
            ev_timer_start(a->loop, &a->retry);
        } else if (!a->stopped) {
            ew_acks_read(a);
        }
        return;
    }
    if (arg) { /* an HGET for one acknowledgement */
        ew_acks_apply(a, arg, reply->type == REDIS_REPLY_ERROR ? NULL : reply);
        free(arg);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) { /* the stream or its group went: again shortly */
        ew_log(EW_LOG_WARN, "acks", "reading acknowledgements: %s", reply->str);
        ev_timer_start(a->loop, &a->retry);
        return;
    }
    /* XREADGROUP: [[stream, [[id, [field, value...]]...]]] or nil */
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
        reply->element[0]->elements == 2) {
        redisReply *entries = reply->element[0]->element[1];
        for (size_t i = 0; i < entries->elements; i++)
            ew_acks_entry(a, a->conn, entries->element[i]);
    }
    if (!a->stopped)
        ew_acks_read(a);
}

struct ew_acks *ew_acks_new(struct ev_loop *loop, const struct ew_redis_addr *addr,
                            const struct ew_opts *opts, const char *consumer, ew_acks_fn fn,
                            void *ctx)
{
    struct ew_acks *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    *a = (struct ew_acks){.loop = loop, .opts = opts, .fn = fn, .ctx = ctx};
    snprintf(a->consumer, sizeof a->consumer, "%s", consumer);
    /* its replies may wait for a whole BLOCK: a second more than the sink's timeout */
    a->conn = ew_redis_new(loop, addr, "redis-acks", (double)opts->redis_timeout_ms / 1000 + 1.0,
                           (double)opts->redis_reconnect_max_ms / 1000, ew_acks_on_reply, a);
    a->claims =
        a->conn
            ? ew_redis_new(loop, addr, "redis-acks-claims", (double)opts->redis_timeout_ms / 1000,
                           (double)opts->redis_reconnect_max_ms / 1000, ew_acks_on_claim_reply, a)
            : NULL;
    if (!a->claims) {
        ew_redis_free(a->conn);
        free(a);
        return NULL;
    }
    ev_timer_init(&a->retry, ew_acks_on_retry, 1, 0);
    a->retry.data = a;
    ev_timer_init(&a->claim, ew_acks_on_claim_timer, EW_ACKS_CLAIM_MS / 1000.0,
                  EW_ACKS_CLAIM_MS / 1000.0);
    a->claim.data = a;
    ev_timer_start(loop, &a->claim);
    ew_acks_start(a);
    return a;
}

void ew_acks_stop(struct ew_acks *a)
{
    a->stopped = true;
    ev_timer_stop(a->loop, &a->retry);
    ev_timer_stop(a->loop, &a->claim);
}

void ew_acks_free(struct ew_acks *a)
{
    if (!a)
        return;
    ev_timer_stop(a->loop, &a->retry);
    ev_timer_stop(a->loop, &a->claim);
    ew_redis_free(a->conn);
    ew_redis_free(a->claims);
    free(a);
}
