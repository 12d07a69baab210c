/*
 * ew_flow.c - the pipeline (see ew_flow.h).
 *
 * Tickets (ew_tracker.h): each message of a group topic takes one, let go when its handler
 * returns. Everything derived from it that is not yet safe holds it too: the record the engine
 * holds back for event-time order (let go by the engine's `released`), the parts of a split
 * packet (let go when the packet is whole or given up), and each Redis write its events and
 * dead letters make (let go by the sink's `written`). Table topics (the registry) take none:
 * they are read whole at every start, nothing of them is committed.
 */
#include "ew_flow.h"

#include "ew_alertjson.h"
#include "ew_checkpoint.h"
#include "ew_clock.h"
#include "ew_hj212.h"
#include "ew_log.h"
#include "ew_owners.h"
#include "ew_recjson.h"
#include "ew_registry_json.h"
#include "ew_split.h"
#include "ew_time.h"
#include "ew_tracker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The flow's inputs, which are also the Kafka source's topic indexes. */
enum ew_input { EW_IN_HJ212 = 0, EW_IN_TELEMETRY, EW_IN_ENTERPRISE, EW_IN_COUNT };

struct ew_flow {
    struct ev_loop *loop;
    struct ew_config cfg; /* in force; its rules are the engine's */
    struct ew_registry *reg;
    struct ew_engine *eng;
    struct ew_tracker *tracker;
    struct ew_clock *clock; /* the engine's, from the partitions' watermarks */
    struct ew_owners *owners;
    struct ew_split *split;
    struct ew_record *rec, *joined;
    struct ew_buf json, evidence;
    struct ew_kafka *kafka; /* borrowed */
    struct ew_sink *sink;   /* borrowed */
    struct ew_flow_stats stats;
};

static int64_t ew_flow_now(const struct ew_flow *f)
{
    return (int64_t)(ev_now(f->loop) * 1000);
}

/* ---- writes; each holds its ticket until the sink says it is safe ---- */

void ew_flow_written(void *ctx, uint64_t ticket, bool event)
{
    struct ew_flow *f = ctx;
    if (event)
        f->stats.events_pending--;
    ew_tracker_done(f->tracker, ticket);
    if (f->kafka && f->stats.events_pending <= (size_t)f->cfg.opts.redis_max_buffered / 2)
        ew_kafka_pause(f->kafka, false);
}

static void ew_flow_write(struct ew_flow *f, uint64_t ticket, const struct ew_sink_event *ev)
{
    if (!f->sink)
        return;
    f->stats.events_pending++;
    ew_tracker_hold(f->tracker, ticket);
    if (ew_sink_event(f->sink, ticket, ev)) {
        f->stats.events_pending--;
        ew_tracker_done(f->tracker, ticket);
    }
    if (f->kafka && f->stats.events_pending >= (size_t)f->cfg.opts.redis_max_buffered * 4 / 5)
        ew_kafka_pause(f->kafka, true); /* before the bound: Redis is slow or away */
}

/* An engine event: its JSON, everywhere CONTRACT.md says. */
static void ew_flow_event(void *ctx, const struct ew_alert_event *ev)
{
    struct ew_flow *f = ctx;
    ew_buf_clear(&f->json);
    if (ew_alert_to_json(ev, &f->json)) {
        ew_log(EW_LOG_ERROR, "engine", "cannot write an alert event (out of memory)");
        return;
    }
    if ((unsigned)ev->event < EW_AEV_COUNT)
        f->stats.events_by_type[ev->event]++;
    struct ew_sink_event se = {f->json.data,
                               f->json.len,
                               ev->fingerprint,
                               ev->enterprise_id,
                               ev->audience == EW_AUDIENCE_OFFICER,
                               ev->event == EW_AEV_RESOLVED};
    ew_flow_write(f, ev->tag, &se);
}

static void ew_flow_released(void *ctx, uint64_t tag)
{
    struct ew_flow *f = ctx;
    ew_tracker_done(f->tracker, tag);
}

static void ew_flow_deadletter(struct ew_flow *f, uint64_t ticket, const struct ew_deadletter *dl)
{
    f->stats.deadletters++;
    ew_log(EW_LOG_WARN, "input", "dead letter from %s[%d]@%lld: %s", dl->topic, dl->partition,
           (long long)dl->kafka_offset, dl->reason);
    if (!f->sink)
        return;
    ew_tracker_hold(f->tracker, ticket);
    if (ew_sink_deadletter(f->sink, ticket, dl))
        ew_tracker_done(f->tracker, ticket);
}

/* The dead letter of one whole message. */
static void ew_flow_reject(struct ew_flow *f, uint64_t ticket, const struct ew_kmsg *m,
                           const char *reason, const char *code, size_t offset)
{
    struct ew_deadletter dl = {reason,       code,      offset,     m->topic_name,
                               m->partition, m->offset, m->payload, m->len};
    ew_flow_deadletter(f, ticket, &dl);
}

static void ew_flow_count_error(struct ew_flow *f, int rc)
{
    if (rc < 0 && -rc < EW_FLOW_NERR)
        f->stats.decode_errors[-rc]++;
}

static void ew_flow_codec_error(struct ew_flow *f, uint64_t ticket, const struct ew_kmsg *m, int rc,
                                const struct ew_error *err)
{
    ew_flow_count_error(f, rc);
    ew_flow_reject(f, ticket, m, err->detail, ew_errname(rc), err->offset);
}

/* ---- input ---- */

static void ew_flow_judge(struct ew_flow *f, const struct ew_kmsg *m, uint64_t ticket,
                          const struct ew_record *rec)
{
    int64_t now = ew_flow_now(f);
    ew_owners_note(f->owners, rec->mn, m->topic, m->partition);
    if (rec->has_time) { /* the clock moves with the record: what fell due before it fires */
        ew_clock_observe(f->clock, m->topic, m->partition, rec->data_time, now);
        f->stats.clock = ew_clock_current(f->clock); /* idleness as of the last tick */
        ew_engine_advance(f->eng, f->stats.clock, now);
    }
    if (f->cfg.opts.engine_reorder_ms)
        ew_tracker_hold(f->tracker, ticket); /* let go by `released` once judged */
    int rc = ew_engine_record_tagged(f->eng, rec, now, ticket);
    if (rc == EW_ELATE) {
        f->stats.late++;
        ew_flow_reject(f, ticket, m, "late: older than the allowed lateness", "late", 0);
    } else if (rc && rc != EW_ENOMEM) {
        ew_flow_reject(f, ticket, m, ew_strerror(rc), ew_errname(rc), 0);
    }
}

/* A split packet dropped (incomplete too long, or pushed out): one dead letter, its parts let
 * go. */
static void ew_flow_split_dropped(void *ctx, const char *why, const void *bytes, size_t len,
                                  const uint64_t *tags, size_t ntags)
{
    struct ew_flow *f = ctx;
    struct ew_deadletter dl = {why, "split", 0, f->cfg.opts.topic_hj212, -1, -1, bytes, len};
    ew_flow_deadletter(f, ntags ? tags[0] : 0, &dl);
    for (size_t i = 0; i < ntags; i++)
        ew_tracker_done(f->tracker, tags[i]);
}

static void ew_flow_hj212(struct ew_flow *f, const struct ew_kmsg *m, uint64_t ticket)
{
    struct ew_error err = {0};
    size_t len = m->len;
    const char *p = m->payload;
    while (len && (p[len - 1] == '\n' || p[len - 1] == '\r'))
        len--;
    int rc = ew_hj212_decode(p, len, NULL, f->rec, &err);
    if (rc) {
        ew_flow_codec_error(f, ticket, m, rc, &err);
        return;
    }
    if (f->rec->pnum <= 1) {
        ew_flow_judge(f, m, ticket, f->rec);
        return;
    }
    uint64_t tags[EW_SPLIT_MAX_PARTS];
    size_t ntags = 0;
    ew_tracker_hold(f->tracker, ticket); /* until its packet is whole, or given up */
    rc = ew_split_add(f->split, f->rec, p, len, ticket, ew_flow_now(f), f->joined, tags, &ntags,
                      &err, ew_flow_split_dropped, f);
    if (rc < 0 && !ntags) { /* the part itself is refused */
        ew_flow_codec_error(f, ticket, m, rc, &err);
        ew_tracker_done(f->tracker, ticket);
        return;
    }
    if (rc < 0) /* whole, but it does not decode as one record */
        ew_flow_reject(f, ticket, m, err.detail, ew_errname(rc), err.offset);
    else if (rc == 1)
        ew_flow_judge(f, m, ticket, f->joined);
    for (size_t i = 0; i < ntags; i++)
        ew_tracker_done(f->tracker, tags[i]);
}

static void ew_flow_telemetry(struct ew_flow *f, const struct ew_kmsg *m, uint64_t ticket)
{
    struct ew_error err = {0};
    int rc = ew_record_from_json(m->payload, m->len, f->rec, &err);
    if (rc)
        ew_flow_codec_error(f, ticket, m, rc, &err);
    else
        ew_flow_judge(f, m, ticket, f->rec);
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

static void ew_flow_enterprise(struct ew_flow *f, const struct ew_kmsg *m)
{
    struct ew_error err = {0};
    int rc = ew_registry_apply_json(f->reg, m->payload, m->len, &err);
    if (rc == EW_EINVAL && ew_known_type(err.detail))
        f->stats.ignored++;
    else if (rc)
        ew_flow_codec_error(f, 0, m, rc, &err);
}

static void ew_flow_message(void *ctx, const struct ew_kmsg *m)
{
    struct ew_flow *f = ctx;
    if (m->topic == EW_IN_ENTERPRISE) { /* a table topic: nothing to commit */
        ew_flow_enterprise(f, m);
        return;
    }
    uint64_t ticket = ew_tracker_take(f->tracker, m->topic, m->partition, m->offset);
    if (!ticket) { /* no memory, or a partition not ours: it is read again by its owner */
        ew_log(EW_LOG_ERROR, "kafka", "cannot track %s[%d]@%lld", m->topic_name, m->partition,
               (long long)m->offset);
        return;
    }
    if (m->topic == EW_IN_HJ212)
        ew_flow_hj212(f, m, ticket);
    else
        ew_flow_telemetry(f, m, ticket);
    ew_tracker_done(f->tracker, ticket);
}

/* ---- partitions ---- */

static void ew_flow_store(void *ctx, int topic, int32_t partition, int64_t next)
{
    struct ew_flow *f = ctx;
    if (f->kafka)
        ew_kafka_store(f->kafka, topic, partition, next);
}

static void ew_flow_assigned(void *ctx, int topic, int32_t partition)
{
    struct ew_flow *f = ctx;
    if (ew_tracker_assign(f->tracker, topic, partition) ||
        ew_clock_assign(f->clock, topic, partition))
        ew_log(EW_LOG_ERROR, "kafka", "out of memory tracking partition %d", partition);
}

static void ew_flow_revoked(void *ctx, int topic, int32_t partition)
{
    struct ew_flow *f = ctx;
    ew_tracker_revoke(f->tracker, topic, partition);
    ew_clock_revoke(f->clock, topic, partition);
}

struct ew_forget {
    struct ew_engine *eng;
    size_t n; /* sites whose state went */
};

static void ew_flow_forget(void *ctx, const char *mn)
{
    struct ew_forget *fg = ctx;
    fg->n += ew_engine_forget(fg->eng, mn);
}

/* The sites of a partition lost to another member: their state goes (its new owner starts
 * them afresh; cmd/DAEMON.md, "Known limits"). */
static void ew_flow_lost(void *ctx, int topic, int32_t partition)
{
    struct ew_flow *f = ctx;
    if (f->stats.draining)
        return; /* leaving: the checkpoint keeps the state */
    struct ew_forget fg = {f->eng, 0};
    ew_owners_drop(f->owners, topic, partition, ew_flow_forget, &fg);
    if (fg.n)
        ew_log(EW_LOG_INFO, "engine", "released the state of %zu sites of partition %d of %s", fg.n,
               partition, f->stats.topics[topic]);
}

/* Offsets are committed only with a checkpoint that covers them: after a crash the engine
 * resumes from the checkpoint and Kafka from the offsets committed with it. */
static int ew_flow_before_commit(void *ctx)
{
    return ew_flow_checkpoint(ctx);
}

void ew_flow_kafka_conf(struct ew_flow *f, struct ew_kafka_conf *kc, struct ew_kafka_cb *cb)
{
    const struct ew_opts *o = &f->cfg.opts;
    *kc = (struct ew_kafka_conf){
        .brokers = o->kafka_brokers,
        .group = o->kafka_group_id,
        .topics = {[EW_IN_HJ212] = {o->topic_hj212, EW_TOPIC_GROUP},
                   [EW_IN_TELEMETRY] = {o->topic_telemetry, EW_TOPIC_GROUP},
                   [EW_IN_ENTERPRISE] = {o->topic_enterprise, EW_TOPIC_TABLE}},
        .ntopics = EW_IN_COUNT,
        .partitions = (int)o->kafka_embedded_partitions,
        .batch = (size_t)o->kafka_batch,
        .commit_interval_s =
            (double)(o->state_file[0] ? o->state_interval_ms : o->kafka_commit_interval_ms) / 1000,
        .session_timeout_ms = (int)o->kafka_session_timeout_ms,
    };
    *cb = (struct ew_kafka_cb){ew_flow_message, ew_flow_assigned,      ew_flow_revoked,
                               ew_flow_lost,    ew_flow_before_commit, f};
}

/* ---- officers' acknowledgements ---- */

/* The alert as it stands becomes an `acknowledged` event (id FINGERPRINT-ack-ENTRY, evidence
 * {alert_id, by, note}) for the officers; then the entry is acknowledged, after its writes. */
void ew_flow_acked(void *ctx, const struct ew_ack *a, const struct ew_alert_event *cur)
{
    struct ew_flow *f = ctx;
    if (!f->sink)
        return;
    if (!cur) {
        f->stats.acks_unknown++;
        if (a->fingerprint[0])
            ew_log(EW_LOG_WARN, "acks", "acknowledgement of %s: no such active alert", a->alert_id);
        ew_sink_ack_entry(f->sink, a->entry);
        return;
    }
    struct ew_alert_event ev = *cur;
    snprintf(ev.id, sizeof ev.id, "%.16s-ack-%.41s", a->fingerprint,
             a->entry); /* ids: 41 at most */
    ev.event = EW_AEV_ACKNOWLEDGED;
    ev.detected_at = ew_flow_now(f);
    struct ew_buf *b = &f->evidence;
    ew_buf_clear(b);
    ew_buf_adds(b, "{\"alert_id\":");
    ew_buf_json_str(b, a->alert_id);
    ew_buf_json_opt_str(b, "by", a->by);
    ew_buf_json_opt_str(b, "note", a->note);
    ew_buf_addc(b, '}');
    ev.evidence = b->err ? NULL : b->data;
    ew_buf_clear(&f->json);
    if (!ew_alert_to_json(&ev, &f->json)) {
        f->stats.acks_done++;
        f->stats.events_by_type[EW_AEV_ACKNOWLEDGED]++;
        struct ew_sink_event se = {f->json.data, f->json.len, a->fingerprint, "", true, false};
        ew_flow_write(f, 0, &se);
    }
    ew_sink_ack_entry(f->sink, a->entry); /* after the event's commands: they keep their order */
}

/* ---- life ---- */

struct ew_flow *ew_flow_new(struct ev_loop *loop, struct ew_config *cfg)
{
    struct ew_flow *f = calloc(1, sizeof *f);
    if (!f) {
        ew_config_release(cfg);
        return NULL;
    }
    f->loop = loop;
    f->cfg = *cfg;
    memset(cfg, 0, sizeof *cfg);
    const struct ew_opts *o = &f->cfg.opts;
    f->stats.topics[0] = o->topic_hj212;
    f->stats.topics[1] = o->topic_telemetry;
    f->stats.topics[2] = o->topic_enterprise;
    f->json = f->evidence = (struct ew_buf)EW_BUF_INIT;
    struct ew_engine_opts eo = {
        .max_sites = (size_t)o->engine_max_sites,
        .lang = strcmp(o->engine_lang, "en") ? EW_LANG_ZH : EW_LANG_EN,
        .sweep_batch = (size_t)o->engine_sweep_batch,
        .allowed_lateness_ms = o->engine_allowed_lateness_ms,
        .average_grace_ms = o->engine_average_grace_ms,
        .reorder_ms = o->engine_reorder_ms,
        .released = ew_flow_released,
    };
    f->reg = ew_registry_new();
    if (f->reg) { /* the engine steals the rules, even when it fails */
        f->eng = ew_engine_new(&eo, f->cfg.rules, f->reg, ew_flow_event, f);
        f->cfg.rules = NULL;
    }
    f->tracker = ew_tracker_new(ew_flow_store, f);
    f->clock = ew_clock_new(o->engine_idle_partition_ms);
    f->stats.clock = INT64_MIN;
    f->owners = ew_owners_new();
    f->rec = ew_record_new();
    f->joined = ew_record_new();
    f->split = ew_split_new((size_t)o->split_max_groups, o->split_timeout_ms, NULL);
    if (!f->eng || !f->tracker || !f->clock || !f->owners || !f->rec || !f->joined || !f->split) {
        ew_log(EW_LOG_ERROR, "daemon", "out of memory starting");
        ew_flow_free(f);
        return NULL;
    }
    if (o->state_file[0])
        ew_checkpoint_read(f->eng, o->state_file);
    return f;
}

void ew_flow_free(struct ew_flow *f)
{
    if (!f)
        return;
    ew_engine_free(f->eng);
    ew_registry_free(f->reg);
    ew_tracker_free(f->tracker);
    ew_clock_free(f->clock);
    ew_owners_free(f->owners);
    ew_split_free(f->split);
    ew_record_free(f->rec);
    ew_record_free(f->joined);
    ew_buf_release(&f->json);
    ew_buf_release(&f->evidence);
    ew_config_release(&f->cfg);
    free(f);
}

const struct ew_config *ew_flow_config(const struct ew_flow *f)
{
    return &f->cfg;
}

void ew_flow_connect(struct ew_flow *f, struct ew_kafka *kafka, struct ew_sink *sink)
{
    f->kafka = kafka;
    f->sink = sink;
}

static bool ew_flow_caught_up(void *ctx, int topic, int32_t partition)
{
    struct ew_flow *f = ctx;
    return !f->kafka || ew_kafka_caught_up(f->kafka, topic, partition);
}

void ew_flow_tick(struct ew_flow *f)
{
    int64_t now = ew_flow_now(f);
    f->stats.clock = ew_clock_now(f->clock, now, ew_flow_caught_up, f);
    ew_engine_tick_at(f->eng, f->stats.clock, now);
    ew_split_expire(f->split, now, ew_flow_split_dropped, f);
}

static void ew_flow_log_fixed(void *ctx, const char *name)
{
    (void)ctx;
    ew_log(EW_LOG_WARN, "config", "%s changed: it applies at the next start", name);
}

int ew_flow_reload(struct ew_flow *f, const struct ew_config_src *src)
{
    struct ew_config next;
    char *msg = NULL;
    size_t msglen = 0;
    FILE *err = open_memstream(&msg, &msglen);
    int errors = ew_config_load(src, &next, err ? err : stderr);
    if (err)
        fclose(err);
    if (errors) {
        f->stats.reload_failures++;
        ew_log(EW_LOG_ERROR, "config", "reload rejected, the running config is kept: %s",
               msg ? msg : "");
        free(msg);
        return -1;
    }
    free(msg);
    size_t nrules = ew_ruleset_count(next.rules);
    int rc = ew_engine_reload(f->eng, next.rules); /* steals them */
    next.rules = NULL;
    if (rc) {
        f->stats.reload_failures++;
        ew_log(EW_LOG_ERROR, "config", "reload rejected: %s", ew_strerror(rc));
        return -1;
    }
    ew_opts_keep_fixed(&next.opts, &f->cfg.opts, ew_flow_log_fixed, NULL);
    next.redis = f->cfg.redis; /* redis.url is fixed: so is what it says */
    f->cfg = next;             /* whole: every part reads it at its next use */
    ew_log_set_level(f->cfg.opts.log_level);
    f->stats.reloads++;
    ew_log(EW_LOG_INFO, "config", "reloaded: %zu rules", nrules);
    return 0;
}

void ew_flow_drain(struct ew_flow *f)
{
    f->stats.draining = true;
    if (f->kafka)
        ew_kafka_stop_consuming(f->kafka);
    ew_engine_flush(f->eng, ew_flow_now(f)); /* held records are judged and written */
}

bool ew_flow_safe(const struct ew_flow *f)
{
    return (!f->sink || ew_sink_queued(f->sink) == 0) && ew_tracker_held(f->tracker) == 0;
}

int ew_flow_checkpoint(struct ew_flow *f)
{
    const char *path = f->cfg.opts.state_file;
    return path[0] ? ew_checkpoint_write(f->eng, path) : 0;
}

void ew_flow_stats(const struct ew_flow *f, struct ew_flow_stats *out)
{
    *out = f->stats;
    out->in_flight = ew_tracker_held(f->tracker);
    ew_clock_stats(f->clock, &out->clock_sources);
    ew_engine_stats(f->eng, &out->engine);
    if (f->kafka)
        ew_kafka_stats(f->kafka, &out->kafka);
    else
        memset(&out->kafka, 0, sizeof out->kafka);
    out->redis = f->sink ? ew_sink_stats(f->sink) : NULL;
    out->redis_connected = f->sink && ew_sink_connected(f->sink);
}
