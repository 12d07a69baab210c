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
#include "ew_hash.h"
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

/* The ids of a partition's events since its last checkpoint (their hashes), each with how
 * many times it came: should the engine say the same event twice (a weather warning's
 * reminder was, when a site behind the clock was swept as of an earlier time), the second is
 * written as ID#2. Records judged again after a restore count from the same checkpoint and
 * make the same keys, which the written set recognises; an event said twice is still written
 * twice, whatever the checkpoints' timing. */
struct ew_seen {
    uint64_t *hash;
    uint32_t *count;
    size_t n, cap; /* cap: 0 or a power of two, at most half full */
};

static void ew_seen_clear(struct ew_seen *s)
{
    if (s->n)
        memset(s->hash, 0, s->cap * sizeof *s->hash);
    s->n = 0;
}

static void ew_seen_release(struct ew_seen *s)
{
    free(s->hash);
    free(s->count);
    *s = (struct ew_seen){0};
}

/* How many times id has come now, this one included; 1 when the table cannot grow. */
static uint32_t ew_seen_note(struct ew_seen *s, const char *id)
{
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        struct ew_seen g = {calloc(cap, sizeof *g.hash), calloc(cap, sizeof *g.count), 0, cap};
        if (!g.hash || !g.count) {
            ew_seen_release(&g);
            return 1;
        }
        for (size_t i = 0; i < s->cap; i++)
            if (s->hash[i]) {
                size_t j = s->hash[i] & (cap - 1);
                while (g.hash[j])
                    j = (j + 1) & (cap - 1);
                g.hash[j] = s->hash[i], g.count[j] = s->count[i], g.n++;
            }
        ew_seen_release(s);
        *s = g;
    }
    uint64_t h = ew_str_hash(id) | 1; /* 0: an empty slot */
    size_t j = h & (s->cap - 1);
    while (s->hash[j] && s->hash[j] != h)
        j = (j + 1) & (s->cap - 1);
    if (!s->hash[j])
        s->hash[j] = h, s->count[j] = 0, s->n++;
    return ++s->count[j];
}

/* A partition this member reads: claimed from Redis (its state restored) before it is read,
 * then live; its batch is what its next transaction writes. */
enum ew_part_state { EW_PART_CLAIMING = 0, EW_PART_LIVE };

struct ew_part {
    int topic;
    int32_t partition;
    enum ew_part_state state;
    uint64_t claim;    /* the number of its latest claim: answers to older ones are stale */
    bool claim_again;  /* its claim was refused: sent again on the next commit round */
    bool again;        /* claimed again while assigned (fenced): its reading position moves */
    uint64_t gen, seq; /* its generation (from the claim), the last batch's sequence */
    int64_t from;      /* where its claim resumed it: a message before that is in its state */
    int64_t sent_next; /* the cut of its last checkpoint: next, and whether any were done */
    bool sent_done;
    double checkpointed_at; /* loop time its last checkpoint began (or of its claim) */
    struct ew_seen seen;    /* its events' ids since that checkpoint's cut */
    struct ew_batch batch;
    uint64_t epoch;    /* its last checkpoint's number (ew_sink.h) */
    bool staging;      /* the next one is begun: its sites frozen at the cut below being staged */
    struct ew_cut cut; /* that cut (its done offsets in cut_done) */
    struct ew_buf cut_done;
    size_t staged;          /* sites staged for it */
    size_t batch_sites;     /* of which in the batch, not sent yet */
    struct ew_batch frozen; /* of which handed over (each just before it changed), not in the
                               batch yet: redis.checkpoint_sites go into each transaction */
    size_t frozen_off;      /* where the ones not in the batch yet begin in frozen */
    size_t unmerged;        /* sites of the last checkpoint's stage not moved into the state yet (at
                               most) */
};

/* A transaction in flight, for its answer. */
struct ew_sent {
    int topic;
    int32_t partition;
    uint64_t gen;
    size_t events;
    int64_t next;
};

/* A claim in flight. */
struct ew_claiming {
    int topic;
    int32_t partition;
    uint64_t claim;
};

#define EW_BATCH_EVENTS   10000 /* a batch with this many events is written at the next chance */
#define EW_QUIET_COMMIT_S 0.005 /* a quiet input's commit points: this far apart at least */

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
    struct ew_buf json, evidence, raw, blob, done;
    struct ew_part *parts;
    size_t nparts, capparts;
    struct ew_batch loose; /* events of no partition's site (none expected) and the registry's
                              dead letters: at-least-once */
    uint64_t claims;
    bool commit_due; /* a batch is full: written once the message or tick being handled is done */
    double committed_at;    /* loop time of the last commit point */
    double checkpointed_at; /* and of the last checkpoint of a partition begun */
    ev_timer commit_timer;
    ev_idle step;           /* held records and timers due, while the loop has nothing else to do */
    double drained_at;      /* loop time the input was last quiet */
    uint64_t since_drained; /* messages read since */
    struct ew_kafka *kafka; /* borrowed */
    struct ew_sink *sink;   /* borrowed */
    struct ew_flow_stats stats;
};

static int64_t ew_flow_now(const struct ew_flow *f)
{
    return (int64_t)(ev_now(f->loop) * 1000);
}

/* ---- partitions ---- */

static struct ew_part *ew_part_find(struct ew_flow *f, int topic, int32_t partition)
{
    for (size_t i = 0; i < f->nparts; i++)
        if (f->parts[i].topic == topic && f->parts[i].partition == partition)
            return &f->parts[i];
    return NULL;
}

/* The partition, when it is known and live here; else NULL. */
static struct ew_part *ew_part_live(struct ew_flow *f, bool known, int topic, int32_t partition)
{
    struct ew_part *p = known ? ew_part_find(f, topic, partition) : NULL;
    return p && p->state == EW_PART_LIVE ? p : NULL;
}

/* The live partition a site's records come from, or NULL. */
static struct ew_part *ew_part_of_site(struct ew_flow *f, const char *mn)
{
    int topic = -1;
    int32_t partition = -1;
    bool known = ew_owners_find(f->owners, mn, &topic, &partition);
    return ew_part_live(f, known, topic, partition);
}

/* The live partition a ticket's message came from, or NULL. */
static struct ew_part *ew_part_of_ticket(struct ew_flow *f, uint64_t ticket)
{
    int topic = -1;
    int32_t partition = -1;
    bool known = ew_tracker_where(f->tracker, ticket, &topic, &partition);
    return ew_part_live(f, known, topic, partition);
}

/* ---- writes: into the batch of their partition ---- */

static void ew_flow_backpressure(struct ew_flow *f)
{
    size_t max = (size_t)f->cfg.opts.redis_max_buffered;
    if (!f->kafka)
        return;
    if (f->stats.events_pending >= max * 4 / 5)
        ew_kafka_pause(f->kafka, true); /* before the bound: Redis is slow or away */
    else if (f->stats.events_pending <= max / 2)
        ew_kafka_pause(f->kafka, false);
}

/* A full batch is written at the next commit point: after the message, or the tick, that is
 * being handled (never from inside the engine: a site half judged is not a cut). */
static void ew_flow_batched(struct ew_flow *f, const struct ew_batch *b)
{
    if (b->events >= EW_BATCH_EVENTS || b->args.len >= 32u << 20)
        f->commit_due = true;
}

static void ew_flow_write(struct ew_flow *f, struct ew_batch *b, const struct ew_sink_event *ev)
{
    ew_batch_event(b, ev);
    f->stats.events_pending++;
    ew_flow_backpressure(f);
    ew_flow_batched(f, b);
}

/* An engine event: its JSON, into its site's partition's batch. */
static void ew_flow_event(void *ctx, const struct ew_alert_event *ev)
{
    struct ew_flow *f = ctx;
    if (!f->sink)
        return;
    ew_buf_clear(&f->json);
    if (ew_alert_to_json(ev, &f->json)) {
        ew_log(EW_LOG_ERROR, "engine", "cannot write an alert event (out of memory)");
        return;
    }
    if ((unsigned)ev->event < EW_AEV_COUNT)
        f->stats.events_by_type[ev->event]++;
    struct ew_sink_event se = {ev->id,
                               f->json.data,
                               f->json.len,
                               ev->fingerprint,
                               ev->enterprise_id,
                               ev->audience != EW_AUDIENCE_ENTERPRISE,
                               ev->event == EW_AEV_RESOLVED,
                               ev->duty_copy};
    struct ew_part *p = ew_part_of_site(f, ev->mn);
    if (!p) {
        f->stats.loose++;
        ew_log(EW_LOG_WARN, "engine", "an event of %s, a site of no partition read here", ev->mn);
    }
    char key[sizeof ev->id + 16];
    uint32_t nth = p ? ew_seen_note(&p->seen, ev->id) : 1;
    if (nth > 1) {
        snprintf(key, sizeof key, "%s#%u", ev->id, nth);
        se.id = key;
    }
    ew_flow_write(f, p ? &p->batch : &f->loose, &se);
}

static void ew_flow_released(void *ctx, uint64_t tag)
{
    struct ew_flow *f = ctx;
    ew_tracker_done(f->tracker, tag);
}

/* A dead letter, into the batch of the partition its message came from; part NULL: the
 * message's partition is not read here any more (its next owner reads it again). */
static void ew_flow_deadletter(struct ew_flow *f, struct ew_batch *b,
                               const struct ew_deadletter *dl)
{
    f->stats.deadletters++;
    ew_log(EW_LOG_WARN, "input", "dead letter from %s[%d]@%lld: %s", dl->topic, dl->partition,
           (long long)dl->kafka_offset, dl->reason);
    if (!f->sink || !b)
        return;
    ew_batch_deadletter(b, &f->raw, dl);
    f->stats.events_pending++;
    ew_flow_backpressure(f);
    ew_flow_batched(f, b);
}

/* The dead letter of one whole message. */
static void ew_flow_reject(struct ew_flow *f, const struct ew_kmsg *m, const char *reason,
                           const char *code, size_t offset)
{
    struct ew_deadletter dl = {reason,       code,      offset,     m->topic_name,
                               m->partition, m->offset, m->payload, m->len};
    struct ew_part *p =
        m->topic == EW_IN_ENTERPRISE ? NULL : ew_part_find(f, m->topic, m->partition);
    ew_flow_deadletter(f, m->topic == EW_IN_ENTERPRISE ? &f->loose : p ? &p->batch : NULL, &dl);
}

static void ew_flow_count_error(struct ew_flow *f, int rc)
{
    if (rc < 0 && -rc < EW_FLOW_NERR)
        f->stats.decode_errors[-rc]++;
}

static void ew_flow_codec_error(struct ew_flow *f, const struct ew_kmsg *m, int rc,
                                const struct ew_error *err)
{
    ew_flow_count_error(f, rc);
    ew_flow_reject(f, m, err->detail, ew_errname(rc), err->offset);
}

/* ---- input ---- */

/* Live input: quiet within the last two ticks, and not stopping. */
static bool ew_flow_live(const struct ew_flow *f)
{
    return !f->stats.draining &&
           ev_now(f->loop) - f->drained_at < 2 * (double)f->cfg.opts.engine_tick_ms / 1000;
}

/* Held records a record judges at most with live input; the others due, in the loop's quiet
 * moments (ew_flow_on_step). Without a bound, the record that made a minute of the fleet due
 * judged it whole: 60-300 ms during which nothing else was read (bench/RESULTS.md). */
#define EW_RELEASE 4

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
    /* held by its partition's own watermark: its sites' records judged in an order that
     * depends on that partition's input alone */
    struct ew_part *p = ew_part_find(f, m->topic, m->partition);
    bool live = ew_flow_live(f);
    ew_engine_release_bound(f->eng, live ? EW_RELEASE : 0);
    int rc = ew_engine_record_from(f->eng, rec, now, ticket, p ? (uint32_t)(p - f->parts) + 1 : 0,
                                   ew_clock_mark(f->clock, m->topic, m->partition));
    if (live && f->cfg.opts.engine_reorder_ms)
        ev_idle_start(f->loop, &f->step); /* what it left due */
    if (rc == EW_ELATE) {
        f->stats.late++;
        ew_flow_reject(f, m, "late: older than the allowed lateness", "late", 0);
    } else if (rc && rc != EW_ENOMEM) {
        ew_flow_reject(f, m, ew_strerror(rc), ew_errname(rc), 0);
    }
}

/* A split packet dropped (incomplete too long, or pushed out): one dead letter, its parts let
 * go. */
static void ew_flow_split_dropped(void *ctx, const char *why, const void *bytes, size_t len,
                                  const uint64_t *tags, size_t ntags)
{
    struct ew_flow *f = ctx;
    struct ew_deadletter dl = {why, "split", 0, f->cfg.opts.topic_hj212, -1, -1, bytes, len};
    struct ew_part *p = ntags ? ew_part_of_ticket(f, tags[0]) : NULL;
    ew_flow_deadletter(f, p ? &p->batch : NULL, &dl);
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
        ew_flow_codec_error(f, m, rc, &err);
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
        ew_flow_codec_error(f, m, rc, &err);
        ew_tracker_done(f->tracker, ticket);
        return;
    }
    if (rc < 0) /* whole, but it does not decode as one record */
        ew_flow_reject(f, m, err.detail, ew_errname(rc), err.offset);
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
        ew_flow_codec_error(f, m, rc, &err);
    else
        ew_flow_judge(f, m, ticket, f->rec);
}

/* An enterprise's answer, stored in the registry: the alert's loop applies it on the engine's
 * clock. One to no alert in the closed loop here is reported, unless the enterprise's sites are
 * judged elsewhere (its anchor's partition is another instance's) or none is read here yet (the
 * topic read again at start, before any partition's state is back). */
static void ew_flow_response(struct ew_flow *f, const struct ew_kmsg *m,
                             const struct ew_response *r)
{
    f->stats.responses++;
    if (ew_engine_response(f->eng, r->alert_id) == 0)
        return;
    bool live = false;
    for (size_t i = 0; i < f->nparts && !live; i++)
        live = f->parts[i].state == EW_PART_LIVE;
    const char *anchor = ew_registry_anchor(f->reg, r->enterprise_id);
    int topic = -1;
    int32_t partition = -1;
    bool elsewhere = anchor && ew_owners_find(f->owners, anchor, &topic, &partition) &&
                     !ew_part_live(f, true, topic, partition);
    if (!live || elsewhere)
        return;
    f->stats.responses_unknown++;
    ew_flow_reject(f, m,
                   "response to no alert in the closed loop: unknown, resolved, or of a rule "
                   "without an escalation policy",
                   ew_errname(EW_ENOTFOUND), 0);
}

static void ew_flow_enterprise(struct ew_flow *f, const struct ew_kmsg *m)
{
    struct ew_error err = {0};
    uint64_t before, after;
    ew_registry_last_response(f->reg, &before);
    int rc = ew_registry_apply_json_at(f->reg, m->payload, m->len, m->timestamp, &err);
    const struct ew_response *r = ew_registry_last_response(f->reg, &after);
    if (rc)
        ew_flow_codec_error(f, m, rc, &err);
    else if (r && after != before)
        ew_flow_response(f, m, r);
}

static void ew_flow_commit_all(struct ew_flow *f, bool all);

static void ew_flow_message(void *ctx, const struct ew_kmsg *m)
{
    struct ew_flow *f = ctx;
    f->since_drained++;
    if (m->topic == EW_IN_ENTERPRISE) { /* a table topic: nothing to commit */
        ew_flow_enterprise(f, m);
        return;
    }
    struct ew_part *p = ew_part_find(f, m->topic, m->partition);
    if (!p || p->state != EW_PART_LIVE || m->offset < p->from) {
        /* fetched before it was held, read again once live; or from before the offset it was
         * resumed at (Kafka's committed one, which lags, may come first): in its state already */
        f->stats.refetched++;
        return;
    }
    if (ew_tracker_skip(f->tracker, m->topic, m->partition, m->offset)) {
        f->stats.skipped++; /* done before the state it was restored from was saved */
        return;
    }
    uint64_t ticket = ew_tracker_take(f->tracker, m->topic, m->partition, m->offset);
    if (!ticket) { /* no memory: it is read again after a restart */
        ew_log(EW_LOG_ERROR, "kafka", "cannot track %s[%d]@%lld", m->topic_name, m->partition,
               (long long)m->offset);
        return;
    }
    if (m->topic == EW_IN_HJ212)
        ew_flow_hj212(f, m, ticket);
    else
        ew_flow_telemetry(f, m, ticket);
    ew_tracker_done(f->tracker, ticket);
    if (f->commit_due)
        ew_flow_commit_all(f, false);
}

/* ---- transactions: a consistent cut of every partition ---- */

/* A site's state (held: else its removal) for the partition's next checkpoint, into its batch
 * or (frozen) the queue its next transactions take a few from at a time. */
static void ew_flow_save_site(struct ew_flow *f, struct ew_part *p, const char *mn, bool held,
                              bool frozen)
{
    ew_buf_clear(&f->blob);
    if (held && ew_engine_export_site(f->eng, mn, &f->blob)) {
        ew_log(EW_LOG_ERROR, "state", "cannot save the state of %s (out of memory)", mn);
        return;
    }
    ew_batch_state(frozen ? &p->frozen : &p->batch, mn, held ? f->blob.data : NULL,
                   held ? f->blob.len : 0);
    p->staged++;
    p->batch_sites += !frozen;
}

/* A site that changed, at a checkpoint of every partition: its state into its partition's
 * batch. */
static bool ew_flow_dirty(void *ctx, const char *mn, bool held)
{
    struct ew_flow *f = ctx;
    struct ew_part *p = ew_part_of_site(f, mn);
    if (p) /* else its partition is not read here any more: its state is its owner's */
        ew_flow_save_site(f, p, mn, held, false);
    return true;
}

/* A site that changed, as the staging partition's checkpoint begins: frozen (staged as it is
 * now, a few at a time or before it changes again: ew_flow_staged); an evicted one's removal
 * into the batch. Other partitions' stay changed, for their own checkpoints. */
static bool ew_flow_freeze(void *ctx, const char *mn, bool held)
{
    struct ew_flow *f = ctx;
    struct ew_part *p = ew_part_of_site(f, mn);
    if (!p)
        return true; /* not read here any more: dropped (ew_flow_staged) */
    if (!p->staging)
        return false;
    if (!held)
        ew_flow_save_site(f, p, mn, false, true);
    return true;
}

static void ew_flow_staged(void *ctx, const char *mn)
{
    struct ew_flow *f = ctx;
    struct ew_part *p = ew_part_of_site(f, mn);
    if (p && p->staging)
        ew_flow_save_site(f, p, mn, true, true);
}

/* The staging partition's frozen sites into its batch, max at most: those handed over already,
 * then more from the engine. Returns whether every one is in (its checkpoint can complete). A
 * site handed over as it changed waits its turn like the others: at 20,000 outlets the sites
 * that changed right after a cut went into one transaction of up to 4,600 sites, which held
 * Redis, and every partition's events behind it, for 130 ms (bench/RESULTS.md). */
static bool ew_flow_stage(struct ew_flow *f, struct ew_part *p, size_t max)
{
    size_t n = ew_batch_take_states(&p->batch, &p->frozen, &p->frozen_off, max);
    size_t left = ew_engine_stage(f->eng, max - n); /* into frozen (ew_flow_staged) */
    n += ew_batch_take_states(&p->batch, &p->frozen, &p->frozen_off, max - n);
    p->batch_sites += n;
    return !left && ew_batch_empty(&p->frozen);
}

/* The partition's frozen sites not in its batch are let go (its checkpoint is given up). */
static void ew_flow_unstage(struct ew_flow *f, struct ew_part *p)
{
    if (p->staging)
        ew_engine_thaw(f->eng);
    p->staging = false;
    ew_batch_release(&p->frozen);
    p->frozen_off = 0;
}

/* Sends the partition's batch: its events, the sites staged for its next checkpoint, a part
 * of its last checkpoint's stage moved into its state, and the checkpoint's completion (ck),
 * when there is anything new. */
#define EW_MERGE_SITES 128 /* the last checkpoint's sites moved into the state per transaction */

/* Where the partition's input stands now (its done offsets into done). */
static struct ew_cut ew_flow_cut(struct ew_flow *f, const struct ew_part *p, struct ew_buf *done)
{
    ew_buf_clear(done);
    int64_t next = ew_tracker_cut(f->tracker, p->topic, p->partition, done);
    /* the watermark, no later than the oldest record held: the records read again after a
     * restore bring the clock past that, as they did before, not the saved state */
    int64_t mark = ew_clock_mark(f->clock, p->topic, p->partition);
    int64_t oldest = ew_engine_held_oldest(f->eng);
    return (struct ew_cut){next, done->data, done->len, mark < oldest ? mark : oldest};
}

static void ew_flow_commit_part(struct ew_flow *f, struct ew_part *p, enum ew_ckpt ck)
{
    struct ew_cut cut = {-1, NULL, 0, INT64_MIN};
    if (ck == EW_CKPT_NOW) {
        cut = ew_flow_cut(f, p, &f->done);
        if (!p->staging && !p->unmerged && ew_batch_empty(&p->batch) && cut.next == p->sent_next &&
            !cut.donelen && !p->sent_done)
            return;
    } else if (ck == EW_CKPT_STAGED) {
        cut = p->cut;
    } else if (p->unmerged) {
        size_t n = p->unmerged < EW_MERGE_SITES ? p->unmerged : EW_MERGE_SITES;
        ew_batch_merge(&p->batch, n);
        p->unmerged -= n;
    } else if (ew_batch_empty(&p->batch)) {
        return;
    }
    struct ew_sent *sent = malloc(sizeof *sent);
    if (!sent) {
        ew_log(EW_LOG_ERROR, "redis", "out of memory committing");
        return;
    }
    *sent = (struct ew_sent){p->topic, p->partition, p->gen, p->batch.events, ck ? cut.next : -1};
    struct ew_txn t = {p->gen, p->seq + 1, p->epoch, p->staging, ck, &cut};
    int rc = ew_sink_commit(f->sink, &p->batch, f->stats.topics[p->topic], p->partition, &t, sent);
    p->batch_sites = 0; /* the batch is cleared */
    if (rc) {
        free(sent);
        return;
    }
    p->seq++;
    if (ck) {
        p->epoch++;
        p->staging = false;
        p->unmerged = p->staged; /* moved a part at a time from the next batches on */
        p->staged = 0;
        p->sent_next = cut.next;
        p->sent_done = cut.donelen > 0;
        if (ck == EW_CKPT_NOW)
            ew_seen_clear(&p->seen);
        f->stats.checkpoints++;
    }
    f->stats.commits++;
}

/* How many more sites the partition's batch may stage (redis.checkpoint_sites a transaction,
 * with live input). */
static size_t ew_flow_stage_room(const struct ew_flow *f, const struct ew_part *p)
{
    size_t max = (size_t)f->cfg.opts.redis_checkpoint_sites;
    return p->batch_sites < max ? max - p->batch_sites : 0;
}

/* Under a backlog, how many of a checkpoint's sites a commit point stages at most: a partition
 * of 5,000 sites in one or two transactions, one of 50,000 not in memory three times over (its
 * frozen copies, the batch, hiredis's command: 350 MB at 200,000 outlets, bench/RESULTS.md). */
#define EW_BACKLOG_STAGE 4096

/* A backlog: messages keep coming and the input was last quiet two ticks ago or more (not
 * live input, nor none). */
static bool ew_flow_backlog(const struct ew_flow *f)
{
    return f->since_drained &&
           ev_now(f->loop) - f->drained_at >= 2 * (double)f->cfg.opts.engine_tick_ms / 1000;
}

/* The partition whose checkpoint is begun (one at a time), NULL none. */
static struct ew_part *ew_flow_staging(struct ew_flow *f)
{
    for (size_t i = 0; i < f->nparts; i++)
        if (f->parts[i].staging)
            return &f->parts[i];
    return NULL;
}

/* The partition's next checkpoint begins, at a commit point once its events so far have been
 * sent: where its input stands now is the cut, and its sites that changed are frozen as they
 * are, to be staged a few at a time in the loop's quiet moments and at commit points, or each
 * just before it changes again (ew_engine_freeze_dirty); the checkpoint is complete (a small
 * transaction) once every one is. Writing them all in one transaction held every partition's
 * events behind it for 200-650 ms (bench/RESULTS.md). */
static void ew_flow_begin_checkpoint(struct ew_flow *f, struct ew_part *p)
{
    p->cut = ew_flow_cut(f, p, &p->cut_done);
    p->staging = true;
    p->staged = 0;
    ew_seen_clear(&p->seen); /* its ids from now on count from this cut */
    f->checkpointed_at = p->checkpointed_at = f->committed_at;
    ew_engine_freeze_dirty(f->eng, ew_flow_freeze, f);
    if (!ew_flow_backlog(f)) /* else the next commit points, EW_BACKLOG_STAGE each */
        ev_idle_start(f->loop, &f->step);
}

static void ew_flow_claim(struct ew_flow *f, struct ew_part *p);

/* The live partition whose checkpoint is due, if one is: each one's comes every
 * redis.checkpoint_ms, and the partitions' are spread over that time (one at a time, the one
 * saved longest ago), so that their sites' state is never written all at once. */
static struct ew_part *ew_flow_checkpoint_due(struct ew_flow *f)
{
    double every = (double)f->cfg.opts.redis_checkpoint_ms / 1000, now = ev_now(f->loop);
    struct ew_part *oldest = NULL;
    size_t live = 0;
    for (size_t i = 0; i < f->nparts; i++) {
        struct ew_part *p = &f->parts[i];
        if (p->state != EW_PART_LIVE)
            continue;
        live++;
        if (!oldest || p->checkpointed_at < oldest->checkpointed_at)
            oldest = p;
    }
    if (!oldest || now - oldest->checkpointed_at < every ||
        now - f->checkpointed_at < every / (double)live)
        return NULL;
    return oldest;
}

/* The commit point: each partition's events are sent; the partition whose checkpoint is
 * begun stages a few more sites (EW_BACKLOG_STAGE under a backlog), and completes it once each
 * is staged; when none is begun, the one due begins (ew_flow_checkpoint_due). `all`: every
 * partition's checkpoint, now (it leaves, an acknowledgement changed the state, the drain).
 * Between two messages only: what is saved and what is read again then describe the same
 * point of the input. */
static void ew_flow_commit_all(struct ew_flow *f, bool all)
{
    f->commit_due = false;
    f->committed_at = ev_now(f->loop);
    if (!f->sink)
        return;
    all = all || !f->cfg.opts.redis_checkpoint_ms;
    bool backlog = ew_flow_backlog(f);
    struct ew_part *staging = ew_flow_staging(f);
    bool staged = false;
    if (all) {
        /* every site as it is now: those frozen, and those changed since (staged again) */
        if (staging)
            ew_flow_stage(f, staging, SIZE_MAX);
        else
            ew_engine_stage(f->eng, SIZE_MAX);
        f->checkpointed_at = f->committed_at;
        ew_engine_take_dirty(f->eng, ew_flow_dirty, f);
    } else if (staging) {
        staged =
            ew_flow_stage(f, staging, backlog ? EW_BACKLOG_STAGE : ew_flow_stage_room(f, staging));
    }
    for (size_t i = 0; i < f->nparts; i++) {
        struct ew_part *p = &f->parts[i];
        if (p->state == EW_PART_LIVE) {
            if (all)
                p->checkpointed_at = f->committed_at; /* also when it had nothing to save */
            ew_flow_commit_part(f, p,
                                all                      ? EW_CKPT_NOW
                                : p == staging && staged ? EW_CKPT_STAGED
                                                         : EW_CKPT_NONE);
        } else if (p->claim_again) {
            ew_flow_claim(f, p);
        }
    }
    struct ew_part *due = all || staging ? NULL : ew_flow_checkpoint_due(f);
    if (due)
        ew_flow_begin_checkpoint(f, due);
    else if (staging && staging->staging && !backlog)
        ev_idle_start(f->loop, &f->step); /* the next sites in the next quiet moments */
    if (!ew_batch_empty(&f->loose)) {
        struct ew_sent *sent = malloc(sizeof *sent);
        if (sent) {
            *sent = (struct ew_sent){-1, -1, 0, f->loose.events, -1};
            if (ew_sink_commit(f->sink, &f->loose, NULL, 0, NULL, sent))
                free(sent);
        }
    }
}

/* What a quiet input brought is written now rather than at the next timer, 5 ms apart at
 * least, so that an alert waits for no batch. */
static void ew_flow_quiet_commit(struct ew_flow *f)
{
    double wait = f->committed_at + EW_QUIET_COMMIT_S - ev_now(f->loop);
    if (wait <= 0) {
        ew_flow_commit_all(f, false);
        return;
    }
    /* too soon after the last one: the commit timer comes as soon as it may, not a whole
     * redis.batch_ms later */
    if (ev_is_active(&f->commit_timer) && ev_timer_remaining(f->loop, &f->commit_timer) > wait) {
        ev_timer_stop(f->loop, &f->commit_timer);
        ev_timer_set(&f->commit_timer, wait, f->commit_timer.repeat);
        ev_timer_start(f->loop, &f->commit_timer);
    }
}

/* A tick's work, the sites' timers that the clock has passed: with live input it is done
 * EW_STEP at a time in the loop's quiet moments, so that a message that comes meanwhile waits
 * for a few judgements, not for a tick's; under a backlog a tick fires its timers at once, as
 * it must to keep up. Held records that fall due (a minute of the fleet at a time) likewise:
 * each message judges EW_RELEASE of them with live input, and the rest are judged here. */
#define EW_STEP 64

static void ew_flow_on_step(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    struct ew_flow *f = w->data;
    bool more = ew_engine_step(f->eng, f->stats.clock, ew_flow_now(f), EW_STEP);
    /* a checkpoint's next sites, as many as its next transaction takes: once that is full the
     * quiet moment's commit sends it */
    struct ew_part *p = ew_flow_staging(f);
    size_t room = p ? ew_flow_stage_room(f, p) : 0;
    if (room && !ew_flow_stage(f, p, room) && ew_flow_stage_room(f, p))
        more = true;
    if (more)
        return;
    ev_idle_stop(loop, w);
    ew_flow_quiet_commit(f);
}

/* The input is quiet (live traffic: every message fetched handed out, less than a loop pass's
 * worth behind; not a backlog): held records due by processing time (a quiet partition's) are
 * judged in the loop's quiet moments, and what the input brought is written. */
static void ew_flow_drained(void *ctx, int64_t behind)
{
    struct ew_flow *f = ctx;
    if (behind >= f->cfg.opts.kafka_batch)
        return;
    f->drained_at = ev_now(f->loop);
    f->since_drained = 0;
    if (ew_engine_release(f->eng, ew_flow_now(f), EW_STEP))
        ev_idle_start(f->loop, &f->step);
    ew_flow_quiet_commit(f);
}

static void ew_flow_on_commit_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    struct ew_flow *f = w->data;
    ew_flow_commit_all(f, false);
}

/* A partition's state goes from this member: its held records and split parts are let go
 * unjudged (their messages are read again by whoever reads it next), its sites forgotten. */
struct ew_drop_ctx {
    struct ew_flow *f;
    int topic;
    int32_t partition;
};

static bool ew_flow_is_of(void *ctx, uint64_t tag)
{
    struct ew_drop_ctx *d = ctx;
    int topic;
    int32_t partition;
    if (!tag)
        return false;
    /* a ticket of a partition revoked already is let go with it */
    return !ew_tracker_where(d->f->tracker, tag, &topic, &partition) ||
           (topic == d->topic && partition == d->partition);
}

static void ew_flow_let_go(void *ctx, uint64_t tag)
{
    struct ew_drop_ctx *d = ctx;
    ew_tracker_done(d->f->tracker, tag);
}

static void ew_flow_forget(void *ctx, const char *mn)
{
    struct ew_drop_ctx *d = ctx;
    ew_engine_forget(d->f->eng, mn);
}

static void ew_flow_drop_state(struct ew_flow *f, struct ew_part *p)
{
    struct ew_drop_ctx d = {f, p->topic, p->partition};
    ew_flow_unstage(f, p); /* its checkpoint is given up */
    p->staged = p->unmerged = p->batch_sites = 0;
    size_t held = ew_engine_drop_held(f->eng, ew_flow_is_of, &d);
    size_t groups = ew_split_forget(f->split, ew_flow_is_of, ew_flow_let_go, &d);
    size_t sites = ew_owners_drop(f->owners, p->topic, p->partition, ew_flow_forget, &d);
    ew_tracker_revoke(f->tracker, p->topic, p->partition);
    f->stats.events_pending -= p->batch.events; /* not written: they come again */
    ew_batch_clear(&p->batch);
    ew_seen_clear(&p->seen);
    if (sites || held || groups)
        ew_log(EW_LOG_INFO, "state",
               "partition %d of %s let go: %zu sites, %zu records held, %zu split packets",
               p->partition, f->stats.topics[p->topic], sites, held, groups);
}

/* ---- partitions: claimed, restored, let go ---- */

static void ew_flow_claim(struct ew_flow *f, struct ew_part *p)
{
    struct ew_claiming *c = malloc(sizeof *c);
    ew_flow_unstage(f, p); /* its checkpoint is given up: the claim brings the last complete one */
    p->claim_again = false;
    p->state = EW_PART_CLAIMING;
    p->claim = ++f->claims;
    if (f->kafka)
        ew_kafka_hold(f->kafka, p->topic, p->partition, true);
    if (c)
        *c = (struct ew_claiming){p->topic, p->partition, p->claim};
    if (!c || !f->sink || ew_sink_claim(f->sink, f->stats.topics[p->topic], p->partition, c)) {
        free(c);
        p->claim_again = true;
    }
}

/* What Redis keeps of a partition came back: its sites go into the engine, its input resumes
 * from its cut. */
static void ew_flow_claimed(void *ctx, void *arg, const struct ew_claim *c)
{
    struct ew_flow *f = ctx;
    struct ew_claiming *cl = arg;
    struct ew_part *p = ew_part_find(f, cl->topic, cl->partition);
    bool current = p && p->state == EW_PART_CLAIMING && p->claim == cl->claim;
    free(cl);
    if (!current)
        return; /* revoked, or claimed again since */
    if (!c) {
        p->claim_again = true; /* refused (logged): again with the next commit round */
        return;
    }
    size_t restored = 0, refused = 0;
    for (size_t i = 0; i < c->nsites; i++) {
        struct ew_error err = {0};
        int rc = ew_engine_import_site(f->eng, c->blob[i], c->bloblen[i], &err);
        if (rc == EW_EINVAL && ew_engine_forget(f->eng, c->mn[i])) /* a stale copy */
            rc = ew_engine_import_site(f->eng, c->blob[i], c->bloblen[i], &err);
        if (rc) {
            refused++;
            ew_log(EW_LOG_ERROR, "state", "the saved state of %s is refused: %s", c->mn[i],
                   err.detail);
            continue;
        }
        ew_owners_note(f->owners, c->mn[i], p->topic, p->partition);
        restored++;
    }
    f->stats.sites_restored += restored;
    ew_tracker_revoke(f->tracker, p->topic, p->partition);
    ew_tracker_assign(f->tracker, p->topic, p->partition);
    if (c->cut.next >= 0 && ew_tracker_resume(f->tracker, p->topic, p->partition, c->cut.next,
                                              c->cut.done, c->cut.donelen))
        ew_log(EW_LOG_ERROR, "state", "partition %d of %s: its cut is corrupt, read again whole",
               p->partition, f->stats.topics[p->topic]);
    ew_clock_restore(f->clock, p->topic, p->partition, c->cut.watermark, ew_flow_now(f));
    p->gen = c->gen;
    p->seq = c->seq;
    p->epoch = c->epoch; /* its stage went into its state with the claim */
    p->from = c->cut.next;
    p->sent_next = c->cut.next;
    p->sent_done = c->cut.donelen > 0;
    p->checkpointed_at = ev_now(f->loop);
    ew_seen_clear(&p->seen); /* its records are judged again from the checkpoint on */
    p->state = EW_PART_LIVE;
    if (f->kafka) {
        /* nothing saved: a first start reads from Kafka's committed offset, as assigned; a
         * claim again (Redis lost it) from the last offset committed here. The seek after the
         * resume: one to the partition's beginning looks its offset up, and librdkafka takes a
         * resume that comes while that lookup is out as newer than its answer
         * (ew_start_offsets) */
        ew_kafka_hold(f->kafka, p->topic, p->partition, false);
        if (c->cut.next >= 0 || p->again)
            ew_kafka_seek(f->kafka, p->topic, p->partition, c->cut.next);
    }
    ew_log(EW_LOG_INFO, "state",
           "partition %d of %s claimed (generation %llu): %zu sites restored%s, from offset %lld",
           p->partition, f->stats.topics[p->topic], (unsigned long long)c->gen, restored,
           refused ? " (some refused)" : "", (long long)c->cut.next);
}

/* A transaction answered. Written: the partition's offset may be committed to Kafka up to its
 * cut. Fenced (another consumer claimed it, or Redis lost writes it had answered): the
 * partition's state here is let go and claimed again, read from what Redis keeps. */
static void ew_flow_committed(void *ctx, void *arg, enum ew_commit_result result, size_t again)
{
    struct ew_flow *f = ctx;
    f->stats.written_before += again;
    struct ew_sent *sent = arg;
    f->stats.events_pending -=
        sent->events < f->stats.events_pending ? sent->events : f->stats.events_pending;
    ew_flow_backpressure(f);
    struct ew_part *p = sent->topic >= 0 ? ew_part_find(f, sent->topic, sent->partition) : NULL;
    bool current = p && p->state == EW_PART_LIVE && p->gen == sent->gen;
    if (result == EW_COMMIT_REFUSED)
        f->stats.commits_refused++;
    if (current && result >= EW_COMMIT_AGAIN && sent->next >= 0 && f->kafka)
        ew_kafka_store(f->kafka, sent->topic, sent->partition, sent->next);
    if (current && result == EW_COMMIT_FENCED && !f->stats.draining) {
        f->stats.fenced++;
        ew_log(EW_LOG_WARN, "state",
               "partition %d of %s: claimed elsewhere or its saved state went back; claiming "
               "it again",
               p->partition, f->stats.topics[p->topic]);
        ew_flow_drop_state(f, p);
        ew_clock_revoke(f->clock, p->topic, p->partition);
        ew_clock_assign(f->clock, p->topic, p->partition);
        p->again = true;
        ew_flow_claim(f, p);
    }
    free(sent);
}

void ew_flow_sink_cb(struct ew_flow *f, struct ew_sink_cb *cb)
{
    *cb = (struct ew_sink_cb){ew_flow_committed, ew_flow_claimed, f};
}

static void ew_flow_assigned(void *ctx, int topic, int32_t partition)
{
    struct ew_flow *f = ctx;
    struct ew_part *p = ew_part_find(f, topic, partition);
    if (!p) {
        if (f->nparts == f->capparts) {
            size_t cap = f->capparts ? 2 * f->capparts : 16;
            struct ew_part *g = realloc(f->parts, cap * sizeof *g);
            if (!g) {
                ew_log(EW_LOG_ERROR, "kafka", "out of memory taking partition %d", partition);
                return;
            }
            f->parts = g;
            f->capparts = cap;
        }
        p = &f->parts[f->nparts++];
        *p = (struct ew_part){.topic = topic,
                              .partition = partition,
                              .batch = EW_BATCH_INIT,
                              .frozen = EW_BATCH_INIT,
                              .cut_done = EW_BUF_INIT};
    }
    if (ew_clock_assign(f->clock, topic, partition))
        ew_log(EW_LOG_ERROR, "kafka", "out of memory tracking partition %d", partition);
    ew_flow_claim(f, p); /* read once its state is back */
}

/* A partition revoked: what it holds is written (every partition's, at one commit point), and
 * its state here let go; its next owner, this member again perhaps, claims it from Redis. */
static void ew_flow_revoked(void *ctx, int topic, int32_t partition)
{
    struct ew_flow *f = ctx;
    struct ew_part *p = ew_part_find(f, topic, partition);
    if (!p)
        return;
    if (p->state == EW_PART_LIVE && !f->stats.draining)
        ew_flow_commit_all(f, true);
    ew_flow_drop_state(f, p);
    ew_clock_revoke(f->clock, topic, partition);
    ew_batch_release(&p->batch);
    ew_batch_release(&p->frozen);
    ew_buf_release(&p->cut_done);
    ew_seen_release(&p->seen);
    *p = f->parts[--f->nparts];
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
        .commit_interval_s = (double)o->kafka_commit_interval_ms / 1000,
        .session_timeout_ms = (int)o->kafka_session_timeout_ms,
        .props = f->cfg.kafka.text,
        .props_len = f->cfg.kafka.len,
    };
    *cb = (struct ew_kafka_cb){ew_flow_message, ew_flow_assigned, ew_flow_revoked, ew_flow_drained,
                               f};
}

/* ---- officers' acknowledgements ---- */

/* The alert as it stands becomes an `acknowledged` event (id FINGERPRINT-ack-ENTRY, evidence
 * {alert_id, by, note}) for the officers, written in one transaction with the entry's XACK:
 * once, even when the entry is read again. */
#define EW_ACK_HANDOVER_MS 60000

void ew_flow_acked(void *ctx, const struct ew_ack *a, const struct ew_alert_event *cur)
{
    struct ew_flow *f = ctx;
    if (!f->sink)
        return;
    /* an alert in the closed loop here: its chain stops, and the event (with its history) goes
     * into its partition's transaction, written before the entry is acknowledged */
    int64_t now = ew_flow_now(f);
    int rc = ew_engine_acknowledge(f->eng, a->alert_id, a->by, a->note, a->entry, now);
    if (rc == 0 || rc == 1) {
        f->stats.acks_done += rc == 0;
        ew_flow_commit_all(f, true); /* the ack is in the state before its entry is acked */
        ew_sink_ack_entry(f->sink, a->entry);
        return;
    }
    /* its site is another instance's: left pending, for that one to claim (ew_acks.h), for a
     * minute at most; then written here from the active hash, as an alert in no loop */
    long long written = strtoll(a->entry, NULL, 10);
    if (cur && !ew_part_of_site(f, cur->mn) && now - written < EW_ACK_HANDOVER_MS) {
        f->stats.acks_elsewhere++;
        return;
    }
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
        struct ew_sink_event se = {ev.id, f->json.data, f->json.len, a->fingerprint,
                                   "",    true,         false,       false};
        struct ew_batch ack = EW_BATCH_INIT;
        ew_batch_ack(&ack, a->entry);
        ew_batch_event(&ack, &se);
        struct ew_sent *sent = malloc(sizeof *sent);
        if (sent) {
            *sent = (struct ew_sent){-1, -1, 0, 1, -1};
            f->stats.events_pending++;
            if (ew_sink_commit(f->sink, &ack, NULL, 0, NULL, sent)) {
                f->stats.events_pending--;
                free(sent);
            }
        }
        ew_batch_release(&ack);
        return;
    }
    ew_sink_ack_entry(f->sink, a->entry);
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
    f->json = f->evidence = f->raw = f->blob = f->done = (struct ew_buf)EW_BUF_INIT;
    f->loose = (struct ew_batch)EW_BATCH_INIT;
    struct ew_engine_opts eo = {
        .max_sites = (size_t)o->engine_max_sites,
        .lang = strcmp(o->engine_lang, "en") ? EW_LANG_ZH : EW_LANG_EN,
        .sweep_batch = (size_t)o->engine_sweep_batch,
        .allowed_lateness_ms = o->engine_allowed_lateness_ms,
        .average_grace_ms = o->engine_average_grace_ms,
        .reorder_ms = o->engine_reorder_ms,
        .hold_max_ms = o->engine_idle_partition_ms, /* by then its partition is idle */
        .released = ew_flow_released,
    };
    f->reg = ew_registry_new();
    if (f->reg) { /* the engine steals the rules, even when it fails */
        f->eng = ew_engine_new(&eo, f->cfg.rules, f->reg, ew_flow_event, f);
        f->cfg.rules = NULL;
    }
    f->tracker = ew_tracker_new(NULL, NULL);
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
        ew_log(EW_LOG_WARN, "state",
               "state.file is no longer used: the rule state is kept in "
               "Redis, per partition");
    double every = (double)o->redis_batch_ms / 1000;
    ev_timer_init(&f->commit_timer, ew_flow_on_commit_timer, every, every);
    f->commit_timer.data = f;
    ev_timer_start(loop, &f->commit_timer);
    ew_engine_on_stage(f->eng, ew_flow_staged, f);
    ev_idle_init(&f->step, ew_flow_on_step);
    f->step.data = f;
    f->checkpointed_at = ev_now(loop);
    return f;
}

void ew_flow_free(struct ew_flow *f)
{
    if (!f)
        return;
    ev_timer_stop(f->loop, &f->commit_timer);
    ev_idle_stop(f->loop, &f->step);
    for (size_t i = 0; i < f->nparts; i++) {
        ew_batch_release(&f->parts[i].batch);
        ew_batch_release(&f->parts[i].frozen);
        ew_buf_release(&f->parts[i].cut_done);
        ew_seen_release(&f->parts[i].seen);
    }
    free(f->parts);
    ew_batch_release(&f->loose);
    ew_buf_release(&f->raw);
    ew_buf_release(&f->blob);
    ew_buf_release(&f->done);
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

const struct ew_registry *ew_flow_registry(const struct ew_flow *f)
{
    return f->reg;
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
    /* live input: the tick's work in the loop's quiet moments */
    if (ew_flow_live(f)) {
        if (ew_engine_step(f->eng, f->stats.clock, now, EW_STEP))
            ev_idle_start(f->loop, &f->step);
    } else {
        ew_engine_tick_at(f->eng, f->stats.clock, now);
    }
    ew_split_expire(f->split, now, ew_flow_split_dropped, f);
    if (f->commit_due)
        ew_flow_commit_all(f, false);
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
    ew_engine_stage(f->eng,
                    SIZE_MAX); /* a checkpoint begun: its sites as the old rules left them */
    int rc = ew_engine_reload(f->eng, next.rules); /* steals them */
    next.rules = NULL;
    if (rc) {
        f->stats.reload_failures++;
        ew_log(EW_LOG_ERROR, "config", "reload rejected: %s", ew_strerror(rc));
        return -1;
    }
    ew_opts_keep_fixed(&next.opts, &f->cfg.opts, ew_flow_log_fixed, NULL);
    next.redis = f->cfg.redis; /* redis.url is fixed: so is what it says */
    next.kafka = f->cfg.kafka; /* and so are kafka.properties */
    memcpy(next.http_token, f->cfg.http_token, sizeof next.http_token); /* and http.token */
    f->cfg = next; /* whole: every part reads it at its next use */
    ew_log_set_level(f->cfg.opts.log_level);
    f->stats.reloads++;
    ew_log(EW_LOG_INFO, "config", "reloaded: %zu rules", nrules);
    return 0;
}

void ew_flow_drain(struct ew_flow *f)
{
    if (f->kafka)
        ew_kafka_stop_consuming(f->kafka);
    /* records held for event-time order stay unjudged: the cut has them read again at the
     * next start, where they are judged as they would have been without the stop */
    ew_flow_commit_all(f, true);
    f->stats.draining = true;
    ev_timer_stop(f->loop, &f->commit_timer);
    ev_idle_stop(f->loop, &f->step);
}

bool ew_flow_safe(const struct ew_flow *f)
{
    return !f->sink || ew_sink_queued(f->sink) == 0;
}

void ew_flow_stats(const struct ew_flow *f, struct ew_flow_stats *out)
{
    *out = f->stats;
    out->in_flight = ew_tracker_held(f->tracker);
    out->partitions_live = 0;
    for (size_t i = 0; i < f->nparts; i++)
        out->partitions_live += f->parts[i].state == EW_PART_LIVE;
    ew_clock_stats(f->clock, &out->clock_sources);
    ew_engine_stats(f->eng, &out->engine);
    if (f->kafka)
        ew_kafka_stats(f->kafka, &out->kafka);
    else
        memset(&out->kafka, 0, sizeof out->kafka);
    out->redis = f->sink ? ew_sink_stats(f->sink) : NULL;
    out->redis_connected = f->sink && ew_sink_connected(f->sink);
}
