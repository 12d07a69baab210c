/*
 * ew_kafka.c - Kafka in (see ew_kafka.h).
 *
 * Each partition of a group topic this member has had keeps a slot: whether it is assigned,
 * the offset stored for it and the one committed, the last one handed out (for the lag).
 */
#include "ew_kafka.h"

#include "ew_kafka_mock.h"
#include "ew_log.h"

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ew_pslot {
    int topic;
    int32_t partition;
    bool assigned;
    bool holding;              /* paused by its owner until its state is restored */
    int64_t stored, committed; /* next offset to read, as stored and as committed; -1 none */
    int64_t consumed;          /* last offset handed out */
};

/* A consumer handle and the wiring of its queue to the loop. */
struct ew_consumer {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    int pipefd[2];
    ev_io io;
    ev_idle more;
    ev_timer poll; /* a poll a second, whatever the pipe says */
    struct ew_kafka *k;
    bool table; /* the table topics' reader */
};

/* A table topic's partition not read up to where it stood at start yet. */
struct ew_target {
    int topic;
    int32_t partition;
    int64_t offset;
};

struct ew_kafka {
    struct ev_loop *loop;
    struct ew_consumer group, table; /* the group topics' member; the table topics' reader */
    rd_kafka_t *rk;                  /* = group.rk */
    struct ew_target *targets;       /* table partitions still behind */
    size_t ntargets;
    ev_timer table_retry;
    bool joined, tables_started;
    char brokers[512], group_id[256], session_timeout[16];
    char *props; /* kafka.properties: NAME\0VALUE\0... (their values may be secrets) */
    size_t props_len;
    rd_kafka_t *mock_owner;
    rd_kafka_mock_cluster_t *mock;
    char bootstraps[512];
    char *topics[EW_KAFKA_MAX_TOPICS];
    enum ew_topic_role roles[EW_KAFKA_MAX_TOPICS];
    size_t ntopics;
    size_t batch;
    struct ew_kafka_cb cb;
    ev_timer commit_timer;
    bool stopping, paused;
    struct ew_pslot *slots;
    size_t nslots;
    struct ew_kafka_stats stats;
};

/* ---- partitions ---- */

static int ew_topic_index(const struct ew_kafka *k, const char *name)
{
    for (size_t i = 0; i < k->ntopics; i++)
        if (!strcmp(k->topics[i], name))
            return (int)i;
    return -1;
}

static struct ew_pslot *ew_slot(struct ew_kafka *k, int topic, int32_t partition, bool create)
{
    for (size_t i = 0; i < k->nslots; i++)
        if (k->slots[i].topic == topic && k->slots[i].partition == partition)
            return &k->slots[i];
    if (!create)
        return NULL;
    struct ew_pslot *s = realloc(k->slots, (k->nslots + 1) * sizeof *s);
    if (!s)
        return NULL;
    k->slots = s;
    s = &k->slots[k->nslots++];
    *s = (struct ew_pslot){
        .topic = topic, .partition = partition, .stored = -1, .committed = -1, .consumed = -1};
    return s;
}

/* The slot of a partition named in a librdkafka list, or NULL (a topic not ours). */
static struct ew_pslot *ew_slot_of(struct ew_kafka *k, const rd_kafka_topic_partition_t *p,
                                   bool create)
{
    int topic = ew_topic_index(k, p->topic);
    return topic >= 0 ? ew_slot(k, topic, p->partition, create) : NULL;
}

void ew_kafka_store(struct ew_kafka *k, int topic, int32_t partition, int64_t next)
{
    struct ew_pslot *s = ew_slot(k, topic, partition, false);
    if (!s || !s->assigned)
        return;
    s->stored = next;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, k->topics[topic], partition)->offset = next;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(k->rk, l);
    if (err)
        ew_log(EW_LOG_WARN, "kafka", "storing offset %s[%d]@%lld: %s", k->topics[topic], partition,
               (long long)next, rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
}

/* ---- commits ---- */

void ew_kafka_commit(struct ew_kafka *k, bool sync)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)k->nslots + 1);
    for (size_t i = 0; i < k->nslots; i++) {
        struct ew_pslot *s = &k->slots[i];
        if (s->assigned && s->stored > s->committed) {
            rd_kafka_topic_partition_list_add(l, k->topics[s->topic], s->partition)->offset =
                s->stored;
            s->committed = s->stored;
        }
    }
    if (l->cnt) {
        rd_kafka_resp_err_t err = rd_kafka_commit(k->rk, l, !sync);
        if (err)
            ew_log(EW_LOG_WARN, "kafka", "commit: %s", rd_kafka_err2str(err));
        else
            k->stats.commits++;
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void ew_on_commit_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    ew_kafka_commit(w->data, false);
}

/* ---- group membership ---- */

static void ew_pause_list(struct ew_kafka *k, rd_kafka_topic_partition_list_t *l, bool pause)
{
    rd_kafka_resp_err_t err =
        pause ? rd_kafka_pause_partitions(k->rk, l) : rd_kafka_resume_partitions(k->rk, l);
    if (err)
        ew_log(EW_LOG_WARN, "kafka", "%s: %s", pause ? "pause" : "resume", rd_kafka_err2str(err));
}

/* How long a lookup of start offsets may hold the loop, at an assignment. */
#define EW_LOOKUP_MS 5000

/* Where each newly assigned partition starts: Kafka's committed offset, else the partition's
 * first (auto.offset.reset is earliest), looked up here so that librdkafka is given offsets.
 * Given none, it looks the committed ones up itself, and its own resume and start of each
 * partition come a round trip after the assignment, just as the owner's resume of it (the end
 * of its claim, a round trip to Redis: ew_kafka_hold). librdkafka 2.0.2 numbers such requests
 * on the thread that makes them and drops one older than the last it carried out: seen in CI
 * and in about 1 first start of 250 under ASan, the owner's resume dropped (the partition
 * paused for good) or librdkafka's start of it (never started), nothing read from it
 * (librdkafka's debug log). Given offsets, it starts each partition as it is assigned, before
 * the owner holds it (its debug log again). An offset not found stays RD_KAFKA_OFFSET_INVALID:
 * librdkafka's own lookup, as before. */
static void ew_start_offsets(struct ew_kafka *k, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_resp_err_t all = rd_kafka_committed(k->rk, parts, EW_LOOKUP_MS);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        rd_kafka_resp_err_t err = all ? all : p->err;
        int64_t lo = RD_KAFKA_OFFSET_INVALID, hi;
        if (!err && p->offset < 0) /* none committed: its first */
            err = rd_kafka_query_watermark_offsets(k->rk, p->topic, p->partition, &lo, &hi,
                                                   EW_LOOKUP_MS);
        if (err) {
            ew_log(EW_LOG_WARN, "kafka", "%s[%d]: its start offset not found: %s", p->topic,
                   p->partition, rd_kafka_err2str(err));
            p->offset = RD_KAFKA_OFFSET_INVALID;
        } else if (p->offset < 0) {
            p->offset = lo;
        }
        p->err = RD_KAFKA_RESP_ERR_NO_ERROR;
    }
}

static void ew_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct ew_kafka *k = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        ew_log(EW_LOG_INFO, "kafka", "assigned %d partitions", parts->cnt);
        ew_start_offsets(k, parts);
        rd_kafka_assign(rk, parts);
        k->stats.partitions += (size_t)parts->cnt;
        k->stats.connected = true;
        if (k->paused)
            ew_pause_list(k, parts, true);
        for (int i = 0; i < parts->cnt; i++) { /* assigned: their owner may pause them */
            struct ew_pslot *s = ew_slot_of(k, &parts->elems[i], true);
            if (!s)
                continue;
            s->assigned = true;
            s->holding = false;
            s->stored = s->committed = s->consumed = -1;
            if (k->cb.assigned)
                k->cb.assigned(k->cb.ctx, s->topic, s->partition);
        }
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        ew_kafka_commit(k, true); /* what is safe so far, before another member takes over */
        for (int i = 0; i < parts->cnt; i++) {
            struct ew_pslot *s = ew_slot_of(k, &parts->elems[i], false);
            if (!s)
                continue;
            s->assigned = false, s->holding = false;
            if (k->cb.revoked)
                k->cb.revoked(k->cb.ctx, s->topic, s->partition);
        }
        ew_log(EW_LOG_INFO, "kafka", "revoked %d partitions", parts->cnt);
        k->stats.partitions -=
            (size_t)parts->cnt < k->stats.partitions ? (size_t)parts->cnt : k->stats.partitions;
        rd_kafka_assign(rk, NULL);
        return;
    }
    ew_log(EW_LOG_ERROR, "kafka", "rebalance: %s", rd_kafka_err2str(err));
    rd_kafka_assign(rk, NULL);
}

/* An asynchronous commit's result: a partition not committed is committed again next time. */
static void ew_on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    struct ew_kafka *k = opaque;
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        rd_kafka_resp_err_t e = err ? err : offsets->elems[i].err;
        if (!e)
            continue;
        struct ew_pslot *s = ew_slot_of(k, &offsets->elems[i], false);
        if (s)
            s->committed = -1;
        ew_log(EW_LOG_WARN, "kafka", "commit of %s[%d]@%lld failed: %s", offsets->elems[i].topic,
               offsets->elems[i].partition, (long long)offsets->elems[i].offset,
               rd_kafka_err2str(e));
    }
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET && (!offsets || !offsets->cnt))
        ew_log(EW_LOG_WARN, "kafka", "commit failed: %s", rd_kafka_err2str(err));
}

static void ew_on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    struct ew_kafka *k = opaque;
    k->stats.errors++;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        k->stats.connected = false;
    ew_log(EW_LOG_WARN, "kafka", "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* ---- consuming ---- */

static void ew_join_group(struct ew_kafka *k);

/* A table topic's message; the group is joined once every table partition has been read up
 * to where it stood at start. */
/* The message's timestamp (epoch ms), INT64_MIN when it has none. */
static int64_t ew_kmsg_time(const rd_kafka_message_t *m)
{
    int64_t ts = rd_kafka_message_timestamp(m, NULL);
    return ts >= 0 ? ts : INT64_MIN;
}

static void ew_table_message(struct ew_kafka *k, int topic, rd_kafka_message_t *m)
{
    struct ew_kmsg km = {topic,      k->topics[topic], m->partition, m->offset,      m->key,
                         m->key_len, m->payload,       m->len,       ew_kmsg_time(m)};
    k->stats.messages[topic]++;
    k->cb.message(k->cb.ctx, &km);
    for (size_t i = 0; i < k->ntargets; i++) {
        struct ew_target *t = &k->targets[i];
        if (t->topic == topic && t->partition == m->partition && m->offset + 1 >= t->offset) {
            *t = k->targets[--k->ntargets];
            if (!k->ntargets)
                ew_join_group(k);
            break;
        }
    }
}

int64_t ew_kafka_lag(struct ew_kafka *k)
{
    int64_t lag = 0;
    for (size_t i = 0; i < k->nslots; i++) {
        struct ew_pslot *s = &k->slots[i];
        int64_t lo, hi;
        if (s->assigned &&
            !rd_kafka_get_watermark_offsets(k->rk, k->topics[s->topic], s->partition, &lo, &hi) &&
            hi > s->consumed + 1)
            lag += hi - (s->consumed + 1 > lo ? s->consumed + 1 : lo);
    }
    return lag;
}

static void ew_consume(struct ew_consumer *c)
{
    struct ew_kafka *k = c->k;
    size_t n = 0;
    /* paused (Redis away), it is still polled: for its group's events only, as pausing purges
     * what librdkafka had fetched for the partitions and stops their fetcher */
    while (!k->stopping && n < k->batch) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 0);
        if (!m) {
            ev_idle_stop(k->loop, &c->more);
            if (!c->table && n && k->cb.drained)
                k->cb.drained(k->cb.ctx, ew_kafka_lag(k));
            return;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                k->stats.errors++;
                ew_log(EW_LOG_WARN, "kafka", "consume: %s", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        n++;
        k->stats.connected = true;
        int topic = ew_topic_index(k, rd_kafka_topic_name(m->rkt));
        if (topic >= 0 && c->table && k->roles[topic] == EW_TOPIC_TABLE) {
            ew_table_message(k, topic, m);
        } else if (topic >= 0 && !c->table && k->roles[topic] == EW_TOPIC_GROUP) {
            struct ew_pslot *s = ew_slot(k, topic, m->partition, false);
            if (s)
                s->consumed = m->offset;
            k->stats.messages[topic]++;
            struct ew_kmsg km = {topic,      k->topics[topic], m->partition, m->offset,      m->key,
                                 m->key_len, m->payload,       m->len,       ew_kmsg_time(m)};
            k->cb.message(k->cb.ctx, &km);
        } else {
            ew_log(EW_LOG_ERROR, "kafka", "a message of topic %s, not asked for",
                   rd_kafka_topic_name(m->rkt));
        }
        rd_kafka_message_destroy(m);
    }
    if (!k->stopping)
        ev_idle_start(k->loop, &c->more); /* more may be waiting: after the loop's other I/O */
}

static void ew_on_queue(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    struct ew_consumer *c = w->data;
    char buf[64];
    while (read(c->pipefd[0], buf, sizeof buf) > 0) {
    }
    ew_consume(c);
}

static void ew_on_more(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop, (void)revents;
    ew_consume(w->data);
}

/* The pipe wakes the loop only when the queue was empty and has been read since its last
 * wakeup; and librdkafka leaves the group when it is not polled for max.poll.interval.ms, as
 * when no message comes for that long. A poll a second, come what may, bounds both. */
#define EW_POLL_AT_LEAST_S 1.0

static void ew_on_poll_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    ew_consume(w->data);
}

/* Wires a consumer's queue to the loop through a pipe that librdkafka writes to when the
 * queue stops being empty. */
static int ew_consumer_wire(struct ew_kafka *k, struct ew_consumer *c)
{
    c->k = k;
    c->q = rd_kafka_queue_get_consumer(c->rk);
    if (!c->q || pipe(c->pipefd))
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(c->pipefd[i], F_SETFL, O_NONBLOCK);
        fcntl(c->pipefd[i], F_SETFD, FD_CLOEXEC);
    }
    rd_kafka_queue_io_event_enable(c->q, c->pipefd[1], "1", 1);
    ev_io_init(&c->io, ew_on_queue, c->pipefd[0], EV_READ);
    c->io.data = c;
    ev_io_start(k->loop, &c->io);
    ev_idle_init(&c->more, ew_on_more);
    c->more.data = c;
    ev_idle_start(k->loop, &c->more); /* whatever came before the fd was wired */
    ev_timer_init(&c->poll, ew_on_poll_timer, EW_POLL_AT_LEAST_S, EW_POLL_AT_LEAST_S);
    c->poll.data = c;
    ev_timer_start(k->loop, &c->poll);
    return 0;
}

static void ew_consumer_close(struct ew_kafka *k, struct ew_consumer *c)
{
    if (!c->rk)
        return;
    ev_io_stop(k->loop, &c->io);
    ev_idle_stop(k->loop, &c->more);
    ev_timer_stop(k->loop, &c->poll);
    if (c->q) {
        rd_kafka_queue_io_event_enable(c->q, -1, NULL, 0);
        rd_kafka_queue_destroy(c->q);
    }
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    c->rk = NULL;
    for (int i = 0; i < 2; i++)
        if (c->pipefd[i] >= 0)
            close(c->pipefd[i]);
}

/* ---- life ---- */

static bool ew_conf(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char err[256];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof err) == RD_KAFKA_CONF_OK)
        return true;
    ew_log(EW_LOG_ERROR, "kafka", "%s=%s: %s", name, value, err);
    return false;
}

static rd_kafka_t *ew_consumer_new(struct ew_kafka *k, const char *group, bool table)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[256];
    if (!ew_conf(conf, "bootstrap.servers", k->brokers) || !ew_conf(conf, "group.id", group) ||
        !ew_conf(conf, "enable.auto.commit", "false") ||
        !ew_conf(conf, "enable.auto.offset.store", "false") ||
        !ew_conf(conf, "auto.offset.reset", "earliest") ||
        !ew_conf(conf, "enable.partition.eof", "false") || !ew_conf(conf, "log_level", "4") ||
        !ew_conf(conf, "session.timeout.ms", k->session_timeout) ||
        !ew_conf(conf, "heartbeat.interval.ms", "1000") ||
        !ew_conf(conf, "fetch.wait.max.ms", "50") ||
        /* librdkafka 2.0 stops fetching at queued.min.messages (100,000) and looks again only
         * at its next wakeup, a second later, by when a backlog's queue has long been empty:
         * the bound is the bytes (queued.max.messages.kbytes, 64 MB) */
        !ew_conf(conf, "queued.min.messages", "10000000")) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    /* the operator's properties, after ecowarn's defaults (which they may tune); a value is
     * never logged: it may be a password */
    for (size_t at = 0; at < k->props_len;) {
        const char *name = k->props + at, *value = name + strlen(name) + 1;
        at = (size_t)(value + strlen(value) + 1 - k->props);
        if (rd_kafka_conf_set(conf, name, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
            ew_log(EW_LOG_ERROR, "kafka", "kafka.properties.%s: %s", name, err);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    if (!table) {
        rd_kafka_conf_set_rebalance_cb(conf, ew_rebalance);
        rd_kafka_conf_set_offset_commit_cb(conf, ew_on_commit);
    }
    rd_kafka_conf_set_error_cb(conf, ew_on_error);
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        ew_log(EW_LOG_ERROR, "kafka", "%s", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

static void ew_join_group(struct ew_kafka *k)
{
    if (k->joined)
        return;
    k->joined = true;
    uint64_t read = 0;
    for (size_t i = 0; i < k->ntopics; i++)
        if (k->roles[i] == EW_TOPIC_TABLE)
            read += k->stats.messages[i];
    ew_log(EW_LOG_INFO, "kafka", "tables read (%llu events): joining group %s",
           (unsigned long long)read, k->group_id);
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)k->ntopics);
    for (size_t i = 0; i < k->ntopics; i++)
        if (k->roles[i] == EW_TOPIC_GROUP)
            rd_kafka_topic_partition_list_add(subs, k->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(k->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e)
        ew_log(EW_LOG_ERROR, "kafka", "subscribe: %s", rd_kafka_err2str(e));
}

/* The number of partitions of a topic, or 0 when the broker does not say yet (logged). The
 * request blocks the loop (librdkafka 2.0 has no asynchronous one): at most 200 ms, tried again a
 * second later, so that a broker that cannot be reached (or refuses the login) leaves Redis,
 * /health and the signals served (a reachable broker answers in milliseconds once connected). */
static int ew_partition_count(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = t ? rd_kafka_metadata(rk, 0, t, &md, 200) : RD_KAFKA_RESP_ERR__FAIL;
    if (t)
        rd_kafka_topic_destroy(t);
    int n = 0;
    if (err || !md || md->topic_cnt != 1 || md->topics[0].err || !md->topics[0].partition_cnt)
        ew_log(EW_LOG_WARN, "kafka", "table topic %s: no metadata yet (%s), trying again", topic,
               err                   ? rd_kafka_err2str(err)
               : md && md->topic_cnt ? rd_kafka_err2str(md->topics[0].err)
                                     : "no partitions");
    else
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    return n;
}

/* Assigns every partition of the table topics from its beginning, and notes how far each
 * stood: once read that far, the group is joined. Retried on a timer while the broker does not
 * answer. */
static void ew_tables_start(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    struct ew_kafka *k = w->data;
    rd_kafka_t *rk = k->table.rk;
    int counts[EW_KAFKA_MAX_TOPICS] = {0}, total = 0;
    for (size_t i = 0; i < k->ntopics; i++) {
        if (k->roles[i] != EW_TOPIC_TABLE)
            continue;
        if (!(counts[i] = ew_partition_count(rk, k->topics[i]))) {
            ev_timer_set(&k->table_retry, 1, 0);
            ev_timer_start(k->loop, &k->table_retry);
            return;
        }
        total += counts[i];
    }
    k->targets = total ? calloc((size_t)total, sizeof *k->targets) : NULL;
    if (total && !k->targets)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(total ? total : 1);
    for (size_t i = 0; i < k->ntopics; i++) {
        for (int p = 0; p < counts[i]; p++) {
            int64_t lo = 0, hi = 0;
            rd_kafka_query_watermark_offsets(rk, k->topics[i], p, &lo, &hi, 5000);
            if (hi > lo)
                k->targets[k->ntargets++] = (struct ew_target){(int)i, p, hi};
            rd_kafka_topic_partition_list_add(l, k->topics[i], p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        }
        if (counts[i])
            ew_log(EW_LOG_INFO, "kafka", "reading the table topic %s (%d partitions)", k->topics[i],
                   counts[i]);
    }
    rd_kafka_resp_err_t err = l->cnt ? rd_kafka_assign(rk, l) : RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        ew_log(EW_LOG_ERROR, "kafka", "table assign: %s", rd_kafka_err2str(err));
    if (!k->ntargets)
        ew_join_group(k);
}

struct ew_kafka *ew_kafka_new(struct ev_loop *loop, const struct ew_kafka_conf *conf,
                              const struct ew_kafka_cb *cb)
{
    const char *brokers = conf->brokers;
    struct ew_kafka *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->loop = loop;
    k->batch = conf->batch;
    k->cb = *cb;
    k->group.pipefd[0] = k->group.pipefd[1] = k->table.pipefd[0] = k->table.pipefd[1] = -1;
    k->table.table = true;
    if (conf->ntopics > EW_KAFKA_MAX_TOPICS) {
        ew_log(EW_LOG_ERROR, "kafka", "%zu topics: at most %d", conf->ntopics, EW_KAFKA_MAX_TOPICS);
        goto err;
    }
    for (size_t i = 0; i < conf->ntopics; i++) {
        if (!(k->topics[i] = strdup(conf->topics[i].name)))
            goto err;
        k->roles[i] = conf->topics[i].role;
        k->ntopics++;
    }
    if (!strcmp(brokers, "embedded")) {
        const char *b;
        if (!(k->mock = ew_kafka_mock_start((const char *const *)k->topics, k->ntopics,
                                            conf->partitions, &k->mock_owner, &b)))
            goto err;
        snprintf(k->bootstraps, sizeof k->bootstraps, "%s", b);
        ew_log(EW_LOG_WARN, "kafka",
               "embedded broker at %s: librdkafka's mock cluster, for trying ecowarn out. It "
               "keeps only about 15,000 messages per partition and drops older ones silently: "
               "use a real Kafka broker for anything else",
               k->bootstraps);
        brokers = k->bootstraps;
    }
    snprintf(k->brokers, sizeof k->brokers, "%s", brokers);
    snprintf(k->group_id, sizeof k->group_id, "%s", conf->group);
    snprintf(k->session_timeout, sizeof k->session_timeout, "%d", conf->session_timeout_ms);
    if (conf->props_len) {
        if (!(k->props = malloc(conf->props_len)))
            goto err;
        memcpy(k->props, conf->props, conf->props_len);
        k->props_len = conf->props_len;
    }
    char table_group[300]; /* never joined (assign only), never committed */
    snprintf(table_group, sizeof table_group, "%s.registry-reader", conf->group);
    if (!(k->group.rk = ew_consumer_new(k, conf->group, false)) ||
        !(k->table.rk = ew_consumer_new(k, table_group, true)))
        goto err;
    k->rk = k->group.rk;
    if (ew_consumer_wire(k, &k->group) || ew_consumer_wire(k, &k->table))
        goto err;
    ev_timer_init(&k->commit_timer, ew_on_commit_timer, conf->commit_interval_s,
                  conf->commit_interval_s);
    k->commit_timer.data = k;
    ev_timer_start(loop, &k->commit_timer);
    ev_timer_init(&k->table_retry, ew_tables_start, 0, 0);
    k->table_retry.data = k;
    ev_timer_start(loop, &k->table_retry);
    return k;
err:
    ew_kafka_free(k);
    return NULL;
}

void ew_kafka_pause(struct ew_kafka *k, bool pause)
{
    if (k->paused == pause)
        return;
    k->paused = pause;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)k->nslots + 1);
    for (size_t i = 0; i < k->nslots; i++) /* those held by their owner stay paused */
        if (k->slots[i].assigned && !k->slots[i].holding)
            rd_kafka_topic_partition_list_add(l, k->topics[k->slots[i].topic],
                                              k->slots[i].partition);
    if (l->cnt)
        ew_pause_list(k, l, pause);
    rd_kafka_topic_partition_list_destroy(l);
    ew_log(EW_LOG_INFO, "kafka", "%s consuming", pause ? "paused" : "resumed");
}

/* A list of one partition. */
static rd_kafka_topic_partition_list_t *ew_one(struct ew_kafka *k, const struct ew_pslot *s,
                                               int64_t offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, k->topics[s->topic], s->partition)->offset = offset;
    return l;
}

void ew_kafka_hold(struct ew_kafka *k, int topic, int32_t partition, bool hold)
{
    struct ew_pslot *s = ew_slot(k, topic, partition, false);
    if (!s || !s->assigned || s->holding == hold)
        return;
    s->holding = hold;
    if (k->paused) /* paused already, and stays so until the whole source resumes */
        return;
    rd_kafka_topic_partition_list_t *l = ew_one(k, s, RD_KAFKA_OFFSET_INVALID);
    ew_pause_list(k, l, hold);
    rd_kafka_topic_partition_list_destroy(l);
}

void ew_kafka_seek(struct ew_kafka *k, int topic, int32_t partition, int64_t offset)
{
    struct ew_pslot *s = ew_slot(k, topic, partition, false);
    if (!s || !s->assigned)
        return;
    if (offset < 0)
        offset = s->committed >= 0 ? s->committed : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_topic_partition_list_t *l = ew_one(k, s, offset);
    rd_kafka_error_t *e = rd_kafka_seek_partitions(k->rk, l, 0);
    if (e) {
        ew_log(EW_LOG_ERROR, "kafka", "seek %s[%d]@%lld: %s", k->topics[topic], partition,
               (long long)offset, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(l);
    s->consumed = offset >= 0 ? offset - 1 : -1;
}

void ew_kafka_stop_consuming(struct ew_kafka *k)
{
    k->stopping = true;
    struct ew_consumer *cs[2] = {&k->group, &k->table};
    for (int i = 0; i < 2; i++)
        if (cs[i]->rk) {
            ev_io_stop(k->loop, &cs[i]->io);
            ev_idle_stop(k->loop, &cs[i]->more);
            ev_timer_stop(k->loop, &cs[i]->poll);
        }
    ev_timer_stop(k->loop, &k->table_retry);
}

void ew_kafka_free(struct ew_kafka *k)
{
    if (!k)
        return;
    ev_timer_stop(k->loop, &k->commit_timer);
    ev_timer_stop(k->loop, &k->table_retry);
    if (k->group.rk)
        ew_kafka_commit(k, true);
    ew_consumer_close(k, &k->group);
    ew_consumer_close(k, &k->table);
    if (k->mock)
        rd_kafka_mock_cluster_destroy(k->mock);
    if (k->mock_owner)
        rd_kafka_destroy(k->mock_owner);
    for (size_t i = 0; i < k->ntopics; i++)
        free(k->topics[i]);
    free(k->slots);
    free(k->targets);
    if (k->props)
        explicit_bzero(k->props, k->props_len);
    free(k->props);
    free(k);
}

bool ew_kafka_caught_up(struct ew_kafka *k, int topic, int32_t partition)
{
    struct ew_pslot *s = ew_slot(k, topic, partition, false);
    int64_t lo, hi;
    if (!s || !s->assigned)
        return true; /* not read here: nothing to wait for */
    if (rd_kafka_get_watermark_offsets(k->rk, k->topics[topic], partition, &lo, &hi) || hi < 0)
        return false; /* its end is not known yet (no fetch has answered) */
    return hi <= s->consumed + 1 || hi <= lo;
}

void ew_kafka_stats(struct ew_kafka *k, struct ew_kafka_stats *out)
{
    k->stats.lag = ew_kafka_lag(k);
    k->stats.paused = k->paused;
    *out = k->stats;
}
