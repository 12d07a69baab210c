/*
 * ecowarnd - the daemon: Kafka in, the codec and the rule engine, Redis out, in one libev loop.
 *
 *   ecowarnd -c FILE [--set NAME=VALUE]... [--check-config] [--help]
 *
 * Each message (ew_kafka.h) holds a ticket while anything derived from it is unsafe: the record
 * held by the engine for event-time order, the parts of a split packet, every Redis command its
 * alert events and dead letters make. Its partition's offset moves past it only when the ticket
 * is let go (at-least-once, in order). daemon/DAEMON.md describes the whole.
 */
#include "ew_http.h"
#include "ew_kafka.h"
#include "ew_log.h"
#include "ew_opts.h"
#include "ew_redis.h"

#include "ew_alertjson.h"
#include "ew_hj212.h"
#include "ew_recjson.h"
#include "ew_registry_json.h"
#include "ew_rulefiles.h"
#include "ew_rules.h"
#include "ew_split.h"
#include "ew_time.h"

#include <ev.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EW_TOPICS 3
#define EW_NERR   16 /* decode error counters, by -code */

struct ew_mnpart {
    char mn[48];
    int32_t partition; /* of the data topics, where its records come from */
    int topic;
};

struct ew_daemon {
    struct ev_loop *loop;
    const char *config_path;
    int nsets;
    char **sets;
    struct ew_opts opts;
    struct ew_registry *reg;
    struct ew_engine *eng;
    struct ew_redis *out, *acks;
    struct ew_kafka *kafka;
    struct ew_http *http;
    struct ew_split *split;
    struct ew_record *rec, *joined;
    struct ew_buf json, tmp;
    ev_timer tick, drain, acks_retry;
    ev_signal sighup, sigterm, sigint;
    bool draining;
    double drain_started;
    char consumer[64];
    /* where each site's records come from, to forget the sites of a revoked partition */
    struct ew_mnpart *mnparts; /* capmnparts slots (a power of two), nmnparts used */
    size_t nmnparts, capmnparts;
    /* metrics */
    uint64_t decode_errors[EW_NERR];
    uint64_t deadletters, ignored, late, acks_done, acks_unknown, reloads, reload_failures;
    uint64_t events_by_type[8];
    size_t events_pending; /* alert events whose Redis commands are not all answered */
};

static int64_t ew_now_ms(struct ew_daemon *d)
{
    return (int64_t)(ev_now(d->loop) * 1000);
}

/* ---- Redis commands; each reply lets go of the ticket it holds ---- */

/* The arg of a command: its ticket, and whether it is the last of an alert event's. */
static void *ew_arg(uint64_t ticket, bool last_of_event)
{
    return (void *)(uintptr_t)(ticket << 1 | (last_of_event ? 1 : 0));
}

static void ew_on_written(void *ctx, redisReply *reply, void *arg)
{
    struct ew_daemon *d = ctx;
    if (reply->type == REDIS_REPLY_ERROR) /* refused for what it is: it would be again */
        ew_log(EW_LOG_ERROR, "redis", "command refused: %.*s", (int)reply->len, reply->str);
    uintptr_t a = (uintptr_t)arg;
    if (a & 1)
        d->events_pending--;
    if (d->kafka) {
        ew_kafka_done(d->kafka, a >> 1);
        if (d->events_pending <= (size_t)d->opts.redis_max_buffered / 2)
            ew_kafka_pause(d->kafka, false);
    }
}

static void ew_cmd(struct ew_daemon *d, uint64_t ticket, bool last, int argc, const char **argv,
                   const size_t *lens)
{
    if (d->kafka)
        ew_kafka_hold(d->kafka, ticket);
    if (ew_redis_cmd(d->out, ew_arg(ticket, last), argc, argv, lens)) {
        ew_log(EW_LOG_ERROR, "redis", "out of memory queueing a command");
        if (d->kafka)
            ew_kafka_done(d->kafka, ticket);
        if (last)
            d->events_pending--;
    }
}

/* XADD key MAXLEN ~ N * field value [field value...] */
static void ew_xadd(struct ew_daemon *d, uint64_t ticket, bool last, const char *key, int nfields,
                    const char **fields, const size_t *flens)
{
    const char *argv[32];
    size_t lens[32];
    int argc = 0;
    char maxlen[24];
    argv[argc] = "XADD", lens[argc++] = 4;
    argv[argc] = key, lens[argc++] = strlen(key);
    if (d->opts.redis_stream_maxlen > 0) {
        snprintf(maxlen, sizeof maxlen, "%lld", (long long)d->opts.redis_stream_maxlen);
        argv[argc] = "MAXLEN", lens[argc++] = 6;
        argv[argc] = "~", lens[argc++] = 1;
        argv[argc] = maxlen, lens[argc++] = strlen(maxlen);
    }
    argv[argc] = "*", lens[argc++] = 1;
    for (int i = 0; i < nfields * 2 && argc < 32; i++) {
        argv[argc] = fields[i];
        lens[argc++] = flens ? flens[i] : strlen(fields[i]);
    }
    ew_cmd(d, ticket, last, argc, argv, lens);
}

static void ew_key(const struct ew_daemon *d, char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s%s", d->opts.redis_prefix, name);
}

/* Writes one alert event (JSON) everywhere CONTRACT.md says. */
static void ew_write_event(struct ew_daemon *d, uint64_t ticket, const char *json, size_t len,
                           const char *fingerprint, bool officer, const char *enterprise_id,
                           bool resolved)
{
    char events[128], audience[256], active[128], live[128];
    ew_key(d, events, sizeof events, "events");
    if (officer)
        ew_key(d, audience, sizeof audience, "duty");
    else
        snprintf(audience, sizeof audience, "%sreminders:%s", d->opts.redis_prefix,
                 *enterprise_id ? enterprise_id : "unregistered");
    ew_key(d, active, sizeof active, "active");
    ew_key(d, live, sizeof live, "live");
    const char *f[2] = {"json", json};
    size_t fl[2] = {4, len};
    d->events_pending++;
    ew_xadd(d, ticket, false, events, 1, f, fl);
    ew_xadd(d, ticket, false, audience, 1, f, fl);
    if (resolved) {
        const char *argv[3] = {"HDEL", active, fingerprint};
        size_t lens[3] = {4, strlen(active), strlen(fingerprint)};
        ew_cmd(d, ticket, false, 3, argv, lens);
    } else {
        const char *argv[4] = {"HSET", active, fingerprint, json};
        size_t lens[4] = {4, strlen(active), strlen(fingerprint), len};
        ew_cmd(d, ticket, false, 4, argv, lens);
    }
    const char *argv[3] = {"PUBLISH", live, json};
    size_t lens[3] = {7, strlen(live), len};
    ew_cmd(d, ticket, true, 3, argv, lens);
    if (d->kafka && d->events_pending >= (size_t)d->opts.redis_max_buffered * 4 / 5)
        ew_kafka_pause(d->kafka, true); /* before the bound: Redis is slow or away */
}

static void ew_sink(void *ctx, const struct ew_alert_event *ev)
{
    struct ew_daemon *d = ctx;
    ew_buf_clear(&d->json);
    if (ew_alert_to_json(ev, &d->json)) {
        ew_log(EW_LOG_ERROR, "engine", "cannot write an alert event (out of memory)");
        return;
    }
    if ((size_t)ev->event < sizeof d->events_by_type / sizeof d->events_by_type[0])
        d->events_by_type[ev->event]++;
    ew_write_event(d, ev->tag, d->json.data, d->json.len, ev->fingerprint,
                   ev->audience == EW_AUDIENCE_OFFICER, ev->enterprise_id,
                   ev->event == EW_AEV_RESOLVED);
}

static void ew_released(void *ctx, uint64_t tag)
{
    struct ew_daemon *d = ctx;
    if (d->kafka)
        ew_kafka_done(d->kafka, tag);
}

/* ---- dead letters ---- */

static bool ew_is_text(const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        if ((s[i] < 0x20 && s[i] != '\n' && s[i] != '\r' && s[i] != '\t') || s[i] == 0x7f)
            return false;
    return true;
}

static void ew_base64(struct ew_buf *b, const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        char o[4] = {tab[v >> 18 & 63], tab[v >> 12 & 63], i + 1 < n ? tab[v >> 6 & 63] : '=',
                     i + 2 < n ? tab[v & 63] : '='};
        ew_buf_add(b, o, 4);
    }
}

static void ew_deadletter(struct ew_daemon *d, uint64_t ticket, const char *reason,
                          const char *code, size_t offset, const char *topic, int32_t partition,
                          int64_t koffset, const void *raw, size_t len)
{
    d->deadletters++;
    ew_log(EW_LOG_WARN, "input", "dead letter from %s[%d]@%lld: %s", topic, partition,
           (long long)koffset, reason);
    char off[24], part[24], koff[24];
    snprintf(off, sizeof off, "%zu", offset);
    snprintf(part, sizeof part, "%d", partition);
    snprintf(koff, sizeof koff, "%lld", (long long)koffset);
    bool text = ew_is_text(raw, len);
    ew_buf_clear(&d->tmp);
    if (text)
        ew_buf_add(&d->tmp, raw, len);
    else
        ew_base64(&d->tmp, raw, len);
    const char *f[] = {"reason",       reason,
                       "error",        code,
                       "offset",       off,
                       "topic",        topic,
                       "partition",    part,
                       "kafka_offset", koff,
                       "encoding",     text ? "text" : "base64",
                       "raw",          d->tmp.data ? d->tmp.data : ""};
    size_t fl[16];
    for (int i = 0; i < 16; i++)
        fl[i] = strlen(f[i]);
    fl[15] = d->tmp.err ? 0 : d->tmp.len;
    char key[128];
    ew_key(d, key, sizeof key, "deadletter");
    ew_xadd(d, ticket, false, key, 8, f, fl);
}

/* ---- input ---- */

/* Where each site's records come from: an open-addressing table keyed by MN (empty slot: "").
 * Looked up per message; rebuilt without a revoked partition's sites (revocations are rare). */
static uint64_t ew_mn_hash(const char *mn)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (; *mn; mn++)
        h = (h ^ (unsigned char)*mn) * 0x100000001b3u;
    return h;
}

static struct ew_mnpart *ew_mn_slot(struct ew_mnpart *slots, size_t cap, const char *mn)
{
    size_t i = (size_t)ew_mn_hash(mn) & (cap - 1);
    while (slots[i].mn[0] && strcmp(slots[i].mn, mn))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static void ew_remember_site(struct ew_daemon *d, const char *mn, int topic, int32_t partition)
{
    if (!*mn || strlen(mn) >= sizeof d->mnparts[0].mn)
        return;
    if ((d->nmnparts + 1) * 2 > d->capmnparts) { /* grow at half full */
        size_t cap = d->capmnparts ? 2 * d->capmnparts : 1024;
        struct ew_mnpart *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return; /* that site's state is then kept when its partition goes */
        for (size_t i = 0; i < d->capmnparts; i++)
            if (d->mnparts[i].mn[0])
                *ew_mn_slot(slots, cap, d->mnparts[i].mn) = d->mnparts[i];
        free(d->mnparts);
        d->mnparts = slots;
        d->capmnparts = cap;
    }
    struct ew_mnpart *m = ew_mn_slot(d->mnparts, d->capmnparts, mn);
    if (!m->mn[0]) {
        snprintf(m->mn, sizeof m->mn, "%s", mn);
        d->nmnparts++;
    }
    m->topic = topic;
    m->partition = partition;
}

static void ew_judge(struct ew_daemon *d, const struct ew_kmsg *m, const struct ew_record *rec)
{
    ew_remember_site(d, rec->mn, m->topic, m->partition);
    if (d->opts.engine_reorder_ms && d->kafka)
        ew_kafka_hold(d->kafka, m->ticket); /* let go by `released` once judged */
    int rc = ew_engine_record_tagged(d->eng, rec, ew_now_ms(d), m->ticket);
    if (rc == EW_ELATE) {
        d->late++;
        ew_deadletter(d, m->ticket, "late: older than the allowed lateness", "late", 0,
                      m->topic_name, m->partition, m->offset, m->payload, m->len);
    } else if (rc && rc != EW_ENOMEM) {
        ew_deadletter(d, m->ticket, ew_strerror(rc), ew_errname(rc), 0, m->topic_name, m->partition,
                      m->offset, m->payload, m->len);
    }
}

static void ew_split_dropped(void *ctx, const char *why, const void *bytes, size_t len,
                             const uint64_t *tags, size_t ntags)
{
    struct ew_daemon *d = ctx;
    ew_deadletter(d, ntags ? tags[0] : 0, why, "split", 0, d->opts.topic_hj212, -1, -1, bytes, len);
    for (size_t i = 0; i < ntags && d->kafka; i++)
        ew_kafka_done(d->kafka, tags[i]);
}

static void ew_count_error(struct ew_daemon *d, int rc)
{
    if (rc < 0 && -rc < EW_NERR)
        d->decode_errors[-rc]++;
}

static void ew_on_hj212(struct ew_daemon *d, const struct ew_kmsg *m)
{
    struct ew_error err = {0};
    size_t len = m->len;
    const char *p = m->payload;
    while (len && (p[len - 1] == '\n' || p[len - 1] == '\r'))
        len--;
    int rc = ew_hj212_decode(p, len, NULL, d->rec, &err);
    if (rc) {
        ew_count_error(d, rc);
        ew_deadletter(d, m->ticket, err.detail, ew_errname(rc), err.offset, m->topic_name,
                      m->partition, m->offset, m->payload, m->len);
        return;
    }
    if (d->rec->pnum <= 1) {
        ew_judge(d, m, d->rec);
        return;
    }
    uint64_t tags[EW_SPLIT_MAX_PARTS];
    size_t ntags = 0;
    if (d->kafka)
        ew_kafka_hold(d->kafka, m->ticket); /* until its packet is whole, or given up */
    rc = ew_split_add(d->split, d->rec, p, len, m->ticket, ew_now_ms(d), d->joined, tags, &ntags,
                      &err, ew_split_dropped, d);
    if (rc < 0 && !ntags) { /* the part itself is refused */
        ew_count_error(d, rc);
        ew_deadletter(d, m->ticket, err.detail, ew_errname(rc), err.offset, m->topic_name,
                      m->partition, m->offset, m->payload, m->len);
        if (d->kafka)
            ew_kafka_done(d->kafka, m->ticket);
        return;
    }
    if (rc < 0) /* whole, but it does not decode as one record */
        ew_deadletter(d, m->ticket, err.detail, ew_errname(rc), err.offset, m->topic_name,
                      m->partition, m->offset, m->payload, m->len);
    else if (rc == 1)
        ew_judge(d, m, d->joined);
    for (size_t i = 0; i < ntags && d->kafka; i++)
        ew_kafka_done(d->kafka, tags[i]);
}

static void ew_on_telemetry(struct ew_daemon *d, const struct ew_kmsg *m)
{
    struct ew_error err = {0};
    int rc = ew_record_from_json(m->payload, m->len, d->rec, &err);
    if (rc) {
        ew_count_error(d, rc);
        ew_deadletter(d, m->ticket, err.detail, ew_errname(rc), err.offset, m->topic_name,
                      m->partition, m->offset, m->payload, m->len);
        return;
    }
    ew_judge(d, m, d->rec);
}

/* The e-enterprise events CONTRACT.md names that no rule uses yet: valid, counted, not judged. */
static bool ew_known_type(const char *detail)
{
    static const char *const later[] = {"facility.upsert", "deadline", "declaration", "response",
                                        "weather_warning"};
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "event type %s is not handled yet", later[i]);
        if (!strcmp(detail, want))
            return true;
    }
    return false;
}

static void ew_on_enterprise(struct ew_daemon *d, const struct ew_kmsg *m)
{
    struct ew_error err = {0};
    int rc = ew_registry_apply_json(d->reg, m->payload, m->len, &err);
    if (rc == EW_EINVAL && ew_known_type(err.detail)) {
        d->ignored++;
        return;
    }
    if (rc) {
        ew_count_error(d, rc);
        ew_deadletter(d, m->ticket, err.detail, ew_errname(rc), err.offset, m->topic_name,
                      m->partition, m->offset, m->payload, m->len);
    }
}

static void ew_on_message(void *ctx, const struct ew_kmsg *m)
{
    struct ew_daemon *d = ctx;
    if (m->topic == 0)
        ew_on_hj212(d, m);
    else if (m->topic == 1)
        ew_on_telemetry(d, m);
    else
        ew_on_enterprise(d, m);
}

static void ew_on_revoked(void *ctx, int topic, int32_t partition)
{
    struct ew_daemon *d = ctx;
    if (d->draining)
        return; /* leaving: the checkpoint keeps the state */
    size_t forgotten = 0;
    struct ew_mnpart *old = d->mnparts;
    size_t cap = d->capmnparts;
    struct ew_mnpart *slots = cap ? calloc(cap, sizeof *slots) : NULL;
    if (!slots)
        return; /* no memory: the sites stay (their new owner judges them too) */
    d->nmnparts = 0;
    for (size_t i = 0; i < cap; i++) {
        if (!old[i].mn[0])
            continue;
        if (old[i].topic == topic && old[i].partition == partition) {
            forgotten += ew_engine_forget(d->eng, old[i].mn);
        } else {
            *ew_mn_slot(slots, cap, old[i].mn) = old[i];
            d->nmnparts++;
        }
    }
    free(old);
    d->mnparts = slots;
    if (forgotten)
        ew_log(EW_LOG_INFO, "engine", "released the state of %zu sites of partition %d of %s",
               forgotten, partition, topic == 0 ? d->opts.topic_hj212 : d->opts.topic_telemetry);
}

/* ---- officers' acknowledgements: ecowarn:acks ---- */

struct ew_ack {
    char entry[64];
    char alert_id[128];
    char by[128];
    char note[512];
    char fingerprint[17];
};

static void ew_acks_read(struct ew_daemon *d);

static void ew_ack_xack(struct ew_daemon *d, const struct ew_ack *a)
{
    char key[128];
    ew_key(d, key, sizeof key, "acks");
    const char *argv[4] = {"XACK", key, "ecowarnd", a->entry};
    size_t lens[4] = {4, strlen(key), 8, strlen(a->entry)};
    ew_cmd(d, 0, false, 4, argv, lens);
}

/* The alert as it stands (HGET active) becomes an `acknowledged` event. */
static void ew_ack_apply(struct ew_daemon *d, struct ew_ack *a, const redisReply *r)
{
    json_error_t jerr;
    json_t *ev = r && r->type == REDIS_REPLY_STRING ? json_loadb(r->str, r->len, 0, &jerr) : NULL;
    if (!ev) {
        d->acks_unknown++;
        ew_log(EW_LOG_WARN, "acks", "acknowledgement of %s: no such active alert", a->alert_id);
        ew_ack_xack(d, a);
        return;
    }
    char id[160], when[EW_TIME_ISO_MAX];
    snprintf(id, sizeof id, "%s-ack-%s", a->fingerprint, a->entry);
    ew_time_format_iso(ew_now_ms(d), when);
    json_object_set_new(ev, "id", json_string(id));
    json_object_set_new(ev, "event", json_string("acknowledged"));
    json_object_set_new(ev, "detected_at", json_string(when));
    json_object_set_new(
        ev, "evidence",
        json_pack("{s:s,s:s,s:s}", "alert_id", a->alert_id, "by", a->by, "note", a->note));
    char *json = json_dumps(ev, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (json) {
        d->acks_done++;
        d->events_by_type[EW_AEV_ACKNOWLEDGED]++;
        ew_write_event(d, 0, json, strlen(json), a->fingerprint, true, "", false);
        free(json);
    }
    json_decref(ev);
    ew_ack_xack(d, a); /* after the event's commands: the queue keeps their order */
}

static char ew_acks_group_marker; /* the arg of XGROUP CREATE */

static void ew_on_acks_reply(void *ctx, redisReply *reply, void *arg)
{
    struct ew_daemon *d = ctx;
    if (arg == &ew_acks_group_marker) { /* created, or it was there (BUSYGROUP): read */
        if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "BUSYGROUP", 9)) {
            ew_log(EW_LOG_ERROR, "acks", "cannot read %sacks: %s", d->opts.redis_prefix,
                   reply->str);
            ev_timer_start(d->loop, &d->acks_retry);
        } else if (!d->draining) {
            ew_acks_read(d);
        }
        return;
    }
    if (arg) { /* an HGET for one acknowledgement */
        ew_ack_apply(d, arg, reply->type == REDIS_REPLY_ERROR ? NULL : reply);
        free(arg);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) { /* the stream or its group went: again shortly */
        ew_log(EW_LOG_WARN, "acks", "reading acknowledgements: %s", reply->str);
        ev_timer_start(d->loop, &d->acks_retry);
        return;
    }
    /* XREADGROUP: [[stream, [[id, [field, value...]]...]]] or nil */
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
        reply->element[0]->elements == 2) {
        redisReply *entries = reply->element[0]->element[1];
        for (size_t i = 0; i < entries->elements; i++) {
            redisReply *e = entries->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
                continue;
            struct ew_ack *a = calloc(1, sizeof *a);
            if (!a)
                break;
            snprintf(a->entry, sizeof a->entry, "%s", e->element[0]->str);
            redisReply *f = e->element[1];
            for (size_t k = 0; k + 1 < f->elements; k += 2) {
                const char *name = f->element[k]->str, *v = f->element[k + 1]->str;
                if (!name || !v)
                    continue;
                if (!strcmp(name, "alert_id"))
                    snprintf(a->alert_id, sizeof a->alert_id, "%s", v);
                else if (!strcmp(name, "by"))
                    snprintf(a->by, sizeof a->by, "%s", v);
                else if (!strcmp(name, "note"))
                    snprintf(a->note, sizeof a->note, "%s", v);
            }
            size_t fp = strcspn(a->alert_id, "-");
            if (fp != 16) { /* not an id this daemon made: counted, and acknowledged as read */
                d->acks_unknown++;
                ew_log(EW_LOG_WARN, "acks", "entry %s: alert_id \"%s\" is not an alert id",
                       a->entry, a->alert_id);
                ew_ack_xack(d, a);
                free(a);
                continue;
            }
            memcpy(a->fingerprint, a->alert_id, 16);
            char key[128];
            ew_key(d, key, sizeof key, "active");
            const char *argv[3] = {"HGET", key, a->fingerprint};
            size_t lens[3] = {4, strlen(key), 16};
            if (ew_redis_cmd(d->acks, a, 3, argv, lens))
                free(a);
        }
    }
    if (!d->draining)
        ew_acks_read(d);
}

static void ew_acks_read(struct ew_daemon *d)
{
    char key[128], block[24];
    ew_key(d, key, sizeof key, "acks");
    int64_t b = d->opts.redis_timeout_ms / 2 < 1000 ? d->opts.redis_timeout_ms / 2 : 1000;
    snprintf(block, sizeof block, "%lld", (long long)(b > 0 ? b : 1));
    const char *argv[] = {"XREADGROUP", "GROUP", "ecowarnd", d->consumer, "COUNT", "100",
                          "BLOCK",      block,   "STREAMS",  key,         ">"};
    size_t lens[11];
    for (int i = 0; i < 11; i++)
        lens[i] = strlen(argv[i]);
    ew_redis_cmd(d->acks, NULL, 11, argv, lens);
}

static void ew_acks_start(struct ew_daemon *d)
{
    char key[128];
    ew_key(d, key, sizeof key, "acks");
    const char *argv[] = {"XGROUP", "CREATE", key, "ecowarnd", "0", "MKSTREAM"};
    size_t lens[6];
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    ew_redis_cmd(d->acks, &ew_acks_group_marker, 6, argv, lens);
}

static void ew_on_acks_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    struct ew_daemon *d = w->data;
    if (!d->draining)
        ev_timer_init(&d->acks_retry, ew_on_acks_retry, 1, 0);
    d->acks_retry.data = d;
    ew_acks_start(d);
}

/* ---- metrics and health ---- */

static void ew_metric(struct ew_buf *b, const char *name, const char *labels, double v)
{
    char line[256];
    int n = snprintf(line, sizeof line, "%s%s%s%s %.17g\n", name, labels ? "{" : "",
                     labels ? labels : "", labels ? "}" : "", v);
    ew_buf_add(b, line, (size_t)n);
}

static void ew_metric_help(struct ew_buf *b, const char *name, const char *type, const char *help)
{
    char line[320];
    int n = snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    ew_buf_add(b, line, (size_t)n);
}

/* A metric of one value, with its help and type. */
static void ew_metric1(struct ew_buf *b, const char *name, const char *type, const char *help,
                       double v)
{
    ew_metric_help(b, name, type, help);
    ew_metric(b, name, NULL, v);
}

static int ew_on_http(void *ctx, const char *path, struct ew_buf *b, const char **type)
{
    struct ew_daemon *d = ctx;
    struct ew_kafka_stats ks = {0};
    if (d->kafka)
        ew_kafka_stats(d->kafka, &ks);
    bool redis_up = d->out && ew_redis_connected(d->out);
    if (!strcmp(path, "/health")) {
        *type = "application/json";
        char body[128];
        int n = snprintf(body, sizeof body, "{\"kafka\":%s,\"redis\":%s,\"draining\":%s}\n",
                         ks.connected ? "true" : "false", redis_up ? "true" : "false",
                         d->draining ? "true" : "false");
        ew_buf_add(b, body, (size_t)n);
        return ks.connected && redis_up ? 200 : 503;
    }
    if (strcmp(path, "/metrics"))
        return 404;
    *type = "text/plain; version=0.0.4";
    struct ew_engine_stats es;
    ew_engine_stats(d->eng, &es);
    char lab[128];
    ew_metric_help(b, "ecowarn_messages_total", "counter", "Kafka messages consumed, by topic");
    const char *topics[3] = {d->opts.topic_hj212, d->opts.topic_telemetry,
                             d->opts.topic_enterprise};
    for (int i = 0; i < 3; i++) {
        snprintf(lab, sizeof lab, "topic=\"%s\"", topics[i]);
        ew_metric(b, "ecowarn_messages_total", lab, (double)ks.messages[i]);
    }
    ew_metric_help(b, "ecowarn_decode_errors_total", "counter", "rejected input, by error code");
    for (int c = 1; c < EW_NERR; c++)
        if (d->decode_errors[c]) {
            snprintf(lab, sizeof lab, "code=\"%s\"", ew_errname(-c));
            ew_metric(b, "ecowarn_decode_errors_total", lab, (double)d->decode_errors[c]);
        }
    ew_metric1(b, "ecowarn_deadletters_total", "counter", "entries written to deadletter",
               (double)d->deadletters);
    ew_metric1(b, "ecowarn_late_records_total", "counter", "records beyond the lateness",
               (double)d->late);
    ew_metric1(b, "ecowarn_enterprise_events_ignored_total", "counter",
               "e-enterprise events of types no rule uses yet", (double)d->ignored);
    ew_metric1(b, "ecowarn_records_total", "counter", "records given to the rule engine",
               (double)es.records);
    ew_metric1(b, "ecowarn_rule_evaluations_total", "counter", "(rule, value) judgements",
               (double)es.evaluations);
    ew_metric_help(b, "ecowarn_events_total", "counter", "alert events written, by event");
    for (int t = 0; t <= EW_AEV_RESOLVED; t++) {
        snprintf(lab, sizeof lab, "event=\"%s\"", ew_alert_event_name((enum ew_alert_event_type)t));
        ew_metric(b, "ecowarn_events_total", lab, (double)d->events_by_type[t]);
    }
    ew_metric1(b, "ecowarn_acks_total", "counter", "officers' acknowledgements applied",
               (double)d->acks_done);
    const struct ew_redis_stats *rs = ew_redis_stats(d->out);
    ew_metric_help(b, "ecowarn_redis_latency_seconds", "histogram", "Redis command round trip");
    uint64_t cum = 0;
    for (int i = 0; i < 8; i++) {
        cum += rs->latency_buckets[i];
        if (i < 7)
            snprintf(lab, sizeof lab, "le=\"%g\"", ew_redis_latency_bounds[i]);
        else
            snprintf(lab, sizeof lab, "le=\"+Inf\"");
        ew_metric(b, "ecowarn_redis_latency_seconds_bucket", lab, (double)cum);
    }
    ew_metric(b, "ecowarn_redis_latency_seconds_sum", NULL, rs->latency_sum);
    ew_metric(b, "ecowarn_redis_latency_seconds_count", NULL, (double)rs->replies);
    ew_metric1(b, "ecowarn_redis_reconnects_total", "counter", "Redis connection attempts",
               (double)rs->reconnects);
    ew_metric1(b, "ecowarn_redis_timeouts_total", "counter", "replies later than the timeout",
               (double)rs->timeouts);
    ew_metric1(b, "ecowarn_redis_errors_total", "counter", "commands refused, not sent again",
               (double)rs->errors);
    ew_metric1(b, "ecowarn_redis_refusals_total", "counter",
               "refusals for now (loading, busy, out of memory...): sent again",
               (double)rs->refusals);
    ew_metric1(b, "ecowarn_buffered_events", "gauge", "alert events not yet safe in Redis",
               (double)d->events_pending);
    ew_metric1(b, "ecowarn_consumer_lag", "gauge", "messages behind the high watermarks",
               (double)ks.lag);
    ew_metric1(b, "ecowarn_messages_in_flight", "gauge", "messages consumed, not yet safe",
               (double)ks.held);
    ew_metric1(b, "ecowarn_keys_tracked", "gauge", "rule and average states held", (double)es.keys);
    ew_metric1(b, "ecowarn_sites_tracked", "gauge", "sites whose state is held", (double)es.sites);
    ew_metric1(b, "ecowarn_state_bytes", "gauge", "memory of the rule state",
               (double)es.state_bytes);
    ew_metric1(b, "ecowarn_kafka_connected", "gauge", "1 when a broker answers", ks.connected);
    ew_metric1(b, "ecowarn_kafka_paused", "gauge", "1 while consumption waits for Redis",
               ks.paused);
    ew_metric1(b, "ecowarn_redis_connected", "gauge", "1 when connected to Redis", redis_up);
    return 200;
}

/* ---- configuration ---- */

/* Reads the options (file, environment, --set) and the rules. Returns 0, or the number of
 * errors (printed to err). */
static int ew_load_config(struct ew_daemon *d, struct ew_opts *o, struct ew_ruleset **rules,
                          FILE *err)
{
    ew_opts_defaults(o);
    int errors = d->config_path ? ew_opts_load_file(o, d->config_path, err) : 0;
    errors += ew_opts_load_env(o, err);
    for (int i = 0; i < d->nsets; i++) {
        char name[128], why[320];
        const char *eq = strchr(d->sets[i], '=');
        if (!eq || (size_t)(eq - d->sets[i]) >= sizeof name) {
            fprintf(err, "--set:%d: expected NAME=VALUE, got \"%s\"\n", i + 1, d->sets[i]);
            errors++;
            continue;
        }
        memcpy(name, d->sets[i], (size_t)(eq - d->sets[i]));
        name[eq - d->sets[i]] = '\0';
        if (ew_opts_set(o, name, eq + 1, why, sizeof why)) {
            fprintf(err, "--set:%d: %s\n", i + 1, why);
            errors++;
        }
    }
    if (!ew_redis_url_ok(o->redis_url)) {
        fprintf(err, "%s:0: redis.url \"%s\": expected redis://host:port/db or unix:///path\n",
                d->config_path ? d->config_path : "--set", o->redis_url);
        errors++;
    }
    if (o->http_listen[0] && !strrchr(o->http_listen, ':')) {
        fprintf(err, "%s:0: http.listen \"%s\": expected host:port\n",
                d->config_path ? d->config_path : "--set", o->http_listen);
        errors++;
    }
    if (errors)
        return errors;
    struct ew_ruleset *set = ew_ruleset_new();
    struct ew_error e = {0};
    if (!set) {
        fprintf(err, "%s:0: out of memory\n", o->rules_dir);
        return 1;
    }
    if (ew_rulefiles_load_dir(set, o->rules_dir, &e)) {
        /* "DIR/FILE:LINE:COLUMN: reason" or "DIR/FILE: RULE: reason": file:line: reason */
        const char *colon = strstr(e.detail, ": ");
        bool has_line = colon && colon > e.detail && colon[-1] >= '0' && colon[-1] <= '9';
        if (has_line)
            fprintf(err, "%s\n", e.detail);
        else if (colon)
            fprintf(err, "%.*s:0:%s\n", (int)(colon - e.detail), e.detail, colon + 1);
        else
            fprintf(err, "%s:0: %s\n", o->rules_dir, e.detail);
        ew_ruleset_free(set);
        return 1;
    }
    *rules = set;
    return 0;
}

static void ew_on_sighup(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop, (void)revents;
    struct ew_daemon *d = w->data;
    struct ew_opts o;
    struct ew_ruleset *set = NULL;
    char *msg = NULL;
    size_t msglen = 0;
    FILE *err = open_memstream(&msg, &msglen);
    int errors = ew_load_config(d, &o, &set, err ? err : stderr);
    if (err)
        fclose(err);
    if (errors) {
        d->reload_failures++;
        ew_log(EW_LOG_ERROR, "config", "reload rejected, the running config is kept: %s",
               msg ? msg : "");
        free(msg);
        return;
    }
    free(msg);
    int rc = ew_engine_reload(d->eng, set);
    if (rc) {
        d->reload_failures++;
        ew_log(EW_LOG_ERROR, "config", "reload rejected: %s", ew_strerror(rc));
        return;
    }
    if (strcmp(o.kafka_brokers, d->opts.kafka_brokers) || strcmp(o.redis_url, d->opts.redis_url) ||
        strcmp(o.kafka_group_id, d->opts.kafka_group_id) ||
        strcmp(o.http_listen, d->opts.http_listen))
        ew_log(EW_LOG_WARN, "config", "connection options changed: they apply at the next start");
    /* what can change at run time: rules, log level, bounds used per event */
    d->opts.redis_stream_maxlen = o.redis_stream_maxlen;
    d->opts.redis_max_buffered = o.redis_max_buffered;
    memcpy(d->opts.log_level, o.log_level, sizeof o.log_level);
    ew_log_set_level(d->opts.log_level);
    d->reloads++;
    ew_log(EW_LOG_INFO, "config", "reloaded: %zu rules", ew_ruleset_count(set));
}

/* ---- clock, shutdown, checkpoints ---- */

static void ew_on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    struct ew_daemon *d = w->data;
    int64_t now = ew_now_ms(d);
    ew_engine_tick(d->eng, now);
    ew_split_expire(d->split, now, ew_split_dropped, d);
}

static int ew_checkpoint_write(struct ew_daemon *d)
{
    if (!d->opts.state_file[0])
        return 0;
    struct ew_buf b = EW_BUF_INIT;
    char tmp[EW_OPT_STR_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", d->opts.state_file);
    int rc = ew_engine_export(d->eng, &b);
    FILE *f = rc ? NULL : fopen(tmp, "wb");
    bool ok = f && fwrite(b.data, 1, b.len, f) == b.len;
    ok = f && !fclose(f) && ok && !rename(tmp, d->opts.state_file);
    ew_log(ok ? EW_LOG_INFO : EW_LOG_ERROR, "state", "%s %s (%zu bytes)",
           ok ? "checkpoint written to" : "cannot write the checkpoint", d->opts.state_file, b.len);
    ew_buf_release(&b);
    return ok ? 0 : -1;
}

/* Offsets are committed only with a checkpoint that covers them: after a crash the engine
 * resumes from the checkpoint and Kafka from the offsets committed with it. */
static int ew_before_commit(void *ctx)
{
    return ew_checkpoint_write(ctx);
}

static void ew_checkpoint_read(struct ew_daemon *d)
{
    if (!d->opts.state_file[0])
        return;
    FILE *f = fopen(d->opts.state_file, "rb");
    if (!f)
        return; /* the first start */
    struct ew_buf b = EW_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ew_buf_add(&b, chunk, n);
    fclose(f);
    struct ew_error err = {0};
    int rc = b.err ? b.err : ew_engine_import(d->eng, b.data, b.len, &err);
    if (rc)
        ew_log(EW_LOG_ERROR, "state", "checkpoint %s refused, starting empty: %s",
               d->opts.state_file, err.detail);
    else
        ew_log(EW_LOG_INFO, "state", "checkpoint %s read (%zu bytes)", d->opts.state_file, b.len);
    ew_buf_release(&b);
}

static void ew_on_drain(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct ew_daemon *d = w->data;
    struct ew_kafka_stats ks = {0};
    if (d->kafka)
        ew_kafka_stats(d->kafka, &ks);
    bool safe = ew_redis_queued(d->out) == 0 && ks.held == 0;
    if (!safe && ev_now(loop) - d->drain_started < 30)
        return;
    if (!safe)
        ew_log(EW_LOG_ERROR, "daemon",
               "stopping with %zu Redis commands unanswered: their "
               "messages are not committed and will be read again",
               ew_redis_queued(d->out));
    ev_break(loop, EVBREAK_ALL);
}

static void ew_on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    struct ew_daemon *d = w->data;
    if (d->draining)
        return;
    d->draining = true;
    d->drain_started = ev_now(loop);
    ew_log(EW_LOG_INFO, "daemon", "stopping: draining");
    if (d->kafka)
        ew_kafka_stop_consuming(d->kafka);
    ew_engine_flush(d->eng, ew_now_ms(d)); /* held records are judged and written */
    ev_timer_stop(loop, &d->tick);
    ev_timer_init(&d->drain, ew_on_drain, 0.01, 0.05);
    d->drain.data = d;
    ev_timer_start(loop, &d->drain);
}

/* ---- main ---- */

static void ew_usage(FILE *out)
{
    fprintf(out, "usage: ecowarnd -c FILE [--set NAME=VALUE]... [--check-config] [--help]\n"
                 "  -c FILE          the config file (JSON; every option is optional)\n"
                 "  --set NAME=VALUE an option, over the file and the environment\n"
                 "  --check-config   check the config and every rule file, print\n"
                 "                   file:line: reason for each problem, exit 0 or 1\n"
                 "signals: HUP reloads config and rules; TERM and INT drain, commit, checkpoint\n"
                 "and exit 0.\n\n");
    ew_opts_help(out);
}

int main(int argc, char **argv)
{
    static struct ew_daemon daemon;
    struct ew_daemon *d = &daemon;
    bool check = false;
    d->sets = calloc((size_t)argc, sizeof *d->sets);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            ew_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-c") && i + 1 < argc) {
            d->config_path = argv[++i];
        } else if (!strcmp(argv[i], "--set") && i + 1 < argc) {
            d->sets[d->nsets++] = argv[++i];
        } else if (!strncmp(argv[i], "--set=", 6)) {
            d->sets[d->nsets++] = argv[i] + 6;
        } else if (!strcmp(argv[i], "--check-config")) {
            check = true;
        } else {
            fprintf(stderr, "ecowarnd: unknown argument \"%s\"\n", argv[i]);
            ew_usage(stderr);
            return 2;
        }
    }
    struct ew_ruleset *rules = NULL;
    int errors = ew_load_config(d, &d->opts, &rules, stderr);
    if (check) {
        if (!errors)
            printf("ok: %zu rules from %s\n", ew_ruleset_count(rules), d->opts.rules_dir);
        ew_ruleset_free(rules);
        free(d->sets);
        return errors ? 1 : 0;
    }
    if (errors) {
        free(d->sets);
        return 1;
    }
    ew_log_set_level(d->opts.log_level);
    signal(SIGPIPE, SIG_IGN);
    d->loop = EV_DEFAULT;
    snprintf(d->consumer, sizeof d->consumer, "ecowarnd-%ld", (long)getpid());
    d->reg = ew_registry_new();
    struct ew_engine_opts eo = {
        .max_sites = (size_t)d->opts.engine_max_sites,
        .lang = strcmp(d->opts.engine_lang, "en") ? EW_LANG_ZH : EW_LANG_EN,
        .sweep_batch = (size_t)d->opts.engine_sweep_batch,
        .allowed_lateness_ms = d->opts.engine_allowed_lateness_ms,
        .average_grace_ms = d->opts.engine_average_grace_ms,
        .reorder_ms = d->opts.engine_reorder_ms,
        .released = ew_released,
    };
    size_t nrules = ew_ruleset_count(rules);
    d->eng = d->reg ? ew_engine_new(&eo, rules, d->reg, ew_sink, d) : NULL;
    d->rec = ew_record_new();
    d->joined = ew_record_new();
    d->split = ew_split_new((size_t)d->opts.split_max_groups, d->opts.split_timeout_ms, NULL);
    d->json = (struct ew_buf)EW_BUF_INIT;
    d->tmp = (struct ew_buf)EW_BUF_INIT;
    if (!d->eng || !d->rec || !d->joined || !d->split) {
        ew_log(EW_LOG_ERROR, "daemon", "out of memory starting");
        return 1;
    }
    ew_checkpoint_read(d);
    double timeout = (double)d->opts.redis_timeout_ms / 1000;
    double backoff = (double)d->opts.redis_reconnect_max_ms / 1000;
    d->out = ew_redis_new(d->loop, d->opts.redis_url, "redis", timeout, backoff, ew_on_written, d);
    d->acks = ew_redis_new(d->loop, d->opts.redis_url, "redis-acks", timeout + 1.0, backoff,
                           ew_on_acks_reply, d);
    if (!d->out || !d->acks)
        return 1;
    ev_timer_init(&d->acks_retry, ew_on_acks_retry, 1, 0);
    d->acks_retry.data = d;
    ew_acks_start(d);
    if (d->opts.http_listen[0] &&
        !(d->http = ew_http_new(d->loop, d->opts.http_listen, ew_on_http, d)))
        return 1;
    const char *topics[EW_TOPICS] = {d->opts.topic_hj212, d->opts.topic_telemetry,
                                     d->opts.topic_enterprise};
    struct ew_kafka_cb cb = {ew_on_message, ew_on_revoked, ew_before_commit, d};
    struct ew_kafka_conf kc = {
        .brokers = d->opts.kafka_brokers,
        .group = d->opts.kafka_group_id,
        .topics = {topics[0], topics[1], topics[2]},
        .partitions = (int)d->opts.kafka_embedded_partitions,
        .batch = (size_t)d->opts.kafka_batch,
        .commit_interval_s = (double)(d->opts.state_file[0] ? d->opts.state_interval_ms
                                                            : d->opts.kafka_commit_interval_ms) /
                             1000,
        .session_timeout_ms = (int)d->opts.kafka_session_timeout_ms,
    };
    d->kafka = ew_kafka_new(d->loop, &kc, &cb);
    if (!d->kafka)
        return 1;
    ev_timer_init(&d->tick, ew_on_tick, (double)d->opts.engine_tick_ms / 1000,
                  (double)d->opts.engine_tick_ms / 1000);
    d->tick.data = d;
    ev_timer_start(d->loop, &d->tick);
    ev_signal_init(&d->sighup, ew_on_sighup, SIGHUP);
    ev_signal_init(&d->sigterm, ew_on_stop, SIGTERM);
    ev_signal_init(&d->sigint, ew_on_stop, SIGINT);
    d->sighup.data = d->sigterm.data = d->sigint.data = d;
    ev_signal_start(d->loop, &d->sighup);
    ev_signal_start(d->loop, &d->sigterm);
    ev_signal_start(d->loop, &d->sigint);
    ew_log(EW_LOG_INFO, "daemon", "ecowarnd running: %zu rules from %s, group %s, redis %s", nrules,
           d->opts.rules_dir, d->opts.kafka_group_id, d->opts.redis_url);
    ev_run(d->loop, 0);

    ew_kafka_free(d->kafka); /* commits what is safe, leaves the group */
    d->kafka = NULL;
    int rc = ew_checkpoint_write(d);
    ew_log(EW_LOG_INFO, "daemon", "stopped");
    ew_http_free(d->http);
    ew_redis_free(d->acks);
    ew_redis_free(d->out);
    ew_engine_free(d->eng);
    ew_registry_free(d->reg);
    ew_split_free(d->split);
    ew_record_free(d->rec);
    ew_record_free(d->joined);
    ew_buf_release(&d->json);
    ew_buf_release(&d->tmp);
    free(d->mnparts);
    free(d->sets);
    return rc ? 1 : 0;
}
