/*
 * ew_kafka.c - Kafka in (see ew_kafka.h).
 *
 * Tickets: a slab of (partition slot, offset, references). Each assigned partition keeps its
 * tickets in a FIFO in offset order; when the head's references reach zero the head is popped,
 * and the offset after the last popped one is stored for that partition. A revoked partition's
 * slot stays until its tickets are done, storing nothing: its messages go to the new owner.
 */
#include "ew_kafka.h"

#include "ew_log.h"

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ew_ticket {
    int32_t slot;
    int64_t offset;
    uint32_t refs;
};

struct ew_pslot {
    int topic; /* -1: retired (revoked with messages in flight, then assigned again) */
    int32_t partition;
    bool assigned;
    bool revoked;   /* revoked, and not yet known whether the next assignment brings it back */
    uint32_t *fifo; /* ticket numbers, a ring */
    size_t cap, head, n;
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
    struct ew_kafka *k;
    bool global; /* the registry reader */
};

struct ew_kafka {
    struct ev_loop *loop;
    struct ew_consumer group, reg; /* the data topics' group member; the registry reader */
    rd_kafka_t *rk;                /* = group.rk */
    int64_t *reg_target;           /* per registry partition: the offset to reach at start */
    int reg_partitions, reg_behind;
    ev_timer reg_retry;
    bool joined;
    char brokers[512], group_id[256], session_timeout[16];
    rd_kafka_t *mock_owner;
    rd_kafka_mock_cluster_t *mock;
    char bootstraps[512];
    const char *topics[3];
    size_t batch;
    struct ew_kafka_cb cb;
    ev_timer commit_timer;
    bool stopping, paused;
    struct ew_ticket *tickets;
    uint32_t *free_tickets;
    size_t ntickets, nfree, tcap;
    struct ew_pslot *slots;
    size_t nslots;
    struct ew_kafka_stats stats;
};

/* ---- partitions and tickets ---- */

static int ew_topic_index(const struct ew_kafka *k, const char *name)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(k->topics[i], name))
            return i;
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

static uint64_t ew_ticket_new(struct ew_kafka *k, struct ew_pslot *s, int64_t offset)
{
    uint32_t t;
    if (k->nfree) {
        t = k->free_tickets[--k->nfree];
    } else {
        if (k->ntickets == k->tcap) {
            size_t cap = k->tcap ? 2 * k->tcap : 1024;
            struct ew_ticket *nt = realloc(k->tickets, cap * sizeof *nt);
            uint32_t *nf = nt ? realloc(k->free_tickets, cap * sizeof *nf) : NULL;
            if (nt)
                k->tickets = nt;
            if (!nt || !nf)
                return 0;
            k->free_tickets = nf;
            k->tcap = cap;
        }
        t = (uint32_t)k->ntickets++;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        uint32_t *f = malloc(cap * sizeof *f);
        if (!f) {
            k->free_tickets[k->nfree++] = t;
            return 0;
        }
        for (size_t i = 0; i < s->n; i++)
            f[i] = s->fifo[(s->head + i) % s->cap];
        free(s->fifo);
        s->fifo = f;
        s->cap = cap;
        s->head = 0;
    }
    s->fifo[(s->head + s->n++) % s->cap] = t;
    k->tickets[t] = (struct ew_ticket){(int32_t)(s - k->slots), offset, 1};
    k->stats.held++;
    return (uint64_t)t + 1; /* 0 means none */
}

void ew_kafka_hold(struct ew_kafka *k, uint64_t ticket)
{
    if (ticket)
        k->tickets[ticket - 1].refs++;
}

static void ew_store(struct ew_kafka *k, struct ew_pslot *s, int64_t next)
{
    s->stored = next;
    if (!s->assigned)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, k->topics[s->topic], s->partition)->offset = next;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(k->rk, l);
    if (err)
        ew_log(EW_LOG_WARN, "kafka", "storing offset %s[%d]@%lld: %s", k->topics[s->topic],
               s->partition, (long long)next, rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
}

void ew_kafka_done(struct ew_kafka *k, uint64_t ticket)
{
    if (!ticket)
        return;
    struct ew_ticket *t = &k->tickets[ticket - 1];
    if (!t->refs || --t->refs)
        return;
    struct ew_pslot *s = &k->slots[t->slot];
    int64_t next = -1;
    while (s->n && !k->tickets[s->fifo[s->head]].refs) { /* the done prefix, in offset order */
        uint32_t h = s->fifo[s->head];
        next = k->tickets[h].offset + 1;
        s->head = (s->head + 1) % s->cap;
        s->n--;
        k->free_tickets[k->nfree++] = h;
        k->stats.held--;
    }
    if (next >= 0)
        ew_store(k, s, next);
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
    if (l->cnt && k->cb.before_commit && k->cb.before_commit(k->cb.ctx)) {
        for (size_t i = 0; i < k->nslots; i++) /* not committed after all: next time */
            k->slots[i].committed = -1;
        rd_kafka_topic_partition_list_destroy(l);
        return;
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

static void ew_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct ew_kafka *k = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* the partitions revoked before that do not come back: their sites' state can go (a
         * rebalance revokes everything first; what comes back keeps its state) */
        for (size_t si = 0; si < k->nslots; si++) {
            struct ew_pslot *s = &k->slots[si];
            if (!s->revoked || s->topic < 0)
                continue;
            s->revoked = false;
            bool back = false;
            for (int i = 0; i < parts->cnt && !back; i++)
                back = ew_topic_index(k, parts->elems[i].topic) == s->topic &&
                       parts->elems[i].partition == s->partition;
            if (!back && k->cb.revoked)
                k->cb.revoked(k->cb.ctx, s->topic, s->partition);
        }
        for (int i = 0; i < parts->cnt; i++) {
            int topic = ew_topic_index(k, parts->elems[i].topic);
            if (topic < 0)
                continue;
            struct ew_pslot *s = ew_slot(k, topic, parts->elems[i].partition, false);
            if (s && s->n) /* messages of an earlier assignment still in flight: that slot is
                              retired (they store nothing) and this assignment starts afresh */
                s->topic = -1, s->assigned = false;
            s = ew_slot(k, topic, parts->elems[i].partition, true);
            if (s) {
                s->assigned = true;
                s->stored = s->committed = -1;
            }
        }
        ew_log(EW_LOG_INFO, "kafka", "assigned %d partitions", parts->cnt);
        rd_kafka_assign(rk, parts);
        k->stats.partitions += (size_t)parts->cnt;
        k->stats.connected = true;
        if (k->paused)
            ew_pause_list(k, parts, true);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        ew_kafka_commit(k, true); /* what is safe so far, before another member takes over */
        for (int i = 0; i < parts->cnt; i++) {
            int topic = ew_topic_index(k, parts->elems[i].topic);
            struct ew_pslot *s =
                topic >= 0 ? ew_slot(k, topic, parts->elems[i].partition, false) : NULL;
            if (s)
                s->assigned = false, s->revoked = true;
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
        int topic = ew_topic_index(k, offsets->elems[i].topic);
        struct ew_pslot *s =
            topic >= 0 ? ew_slot(k, topic, offsets->elems[i].partition, false) : NULL;
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

/* A registry message: applied by the handler; the group is joined once the registry has been
 * read up to where it stood at start. */
static void ew_registry_message(struct ew_kafka *k, rd_kafka_message_t *m)
{
    struct ew_kmsg km = {2,          k->topics[2], m->partition, m->offset, m->key,
                         m->key_len, m->payload,   m->len,       0};
    k->stats.messages[2]++;
    k->cb.message(k->cb.ctx, &km);
    if (m->partition >= 0 && m->partition < k->reg_partitions && k->reg_target[m->partition] > 0 &&
        m->offset + 1 >= k->reg_target[m->partition]) {
        k->reg_target[m->partition] = 0;
        if (--k->reg_behind == 0)
            ew_join_group(k);
    }
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
        if (c->global) {
            ew_registry_message(k, m);
            rd_kafka_message_destroy(m);
            continue;
        }
        int topic = ew_topic_index(k, rd_kafka_topic_name(m->rkt));
        struct ew_pslot *s = topic >= 0 && topic < 2 ? ew_slot(k, topic, m->partition, true) : NULL;
        uint64_t ticket = s ? ew_ticket_new(k, s, m->offset) : 0;
        if (!ticket) { /* no memory, or a topic we did not ask for: it is seen again later */
            ew_log(EW_LOG_ERROR, "kafka", "cannot track %s[%d]@%lld", rd_kafka_topic_name(m->rkt),
                   m->partition, (long long)m->offset);
            rd_kafka_message_destroy(m);
            continue;
        }
        s->consumed = m->offset;
        k->stats.messages[topic]++;
        struct ew_kmsg km = {topic,      k->topics[topic], m->partition, m->offset, m->key,
                             m->key_len, m->payload,       m->len,       ticket};
        k->cb.message(k->cb.ctx, &km);
        ew_kafka_done(k, ticket);
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
    return 0;
}

static void ew_consumer_close(struct ew_kafka *k, struct ew_consumer *c)
{
    if (!c->rk)
        return;
    ev_io_stop(k->loop, &c->io);
    ev_idle_stop(k->loop, &c->more);
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

/* ---- the embedded broker ---- */

struct rd_kafka_mock_cluster_s *ew_kafka_mock_start(const char *const *topics, size_t ntopics,
                                                    int partitions, struct rd_kafka_s **owner,
                                                    const char **bootstraps)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        ew_log(EW_LOG_ERROR, "kafka", "embedded broker: %s", err);
        return NULL;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
    if (!mc) {
        rd_kafka_destroy(rk);
        ew_log(EW_LOG_ERROR, "kafka", "embedded broker: cannot start the mock cluster");
        return NULL;
    }
    for (size_t i = 0; i < ntopics; i++)
        rd_kafka_mock_topic_create(mc, topics[i], partitions, 1);
    *owner = rk;
    *bootstraps = rd_kafka_mock_cluster_bootstraps(mc);
    return mc;
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

static rd_kafka_t *ew_consumer_new(struct ew_kafka *k, const char *group, bool global)
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
        !ew_conf(conf, "fetch.wait.max.ms", "50")) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (!global) {
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
    ew_log(EW_LOG_INFO, "kafka", "registry read (%llu events): joining group %s",
           (unsigned long long)k->stats.messages[2], k->group_id);
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(2);
    for (int i = 0; i < 2; i++)
        rd_kafka_topic_partition_list_add(subs, k->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(k->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e)
        ew_log(EW_LOG_ERROR, "kafka", "subscribe: %s", rd_kafka_err2str(e));
}

/* Assigns every partition of the registry topic from its beginning, and notes how far each
 * stood: once read that far, the group is joined. Retried on a timer while the broker does not
 * answer. */
static void ew_registry_start(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    struct ew_kafka *k = w->data;
    rd_kafka_t *rk = k->reg.rk;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, k->topics[2], NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = t ? rd_kafka_metadata(rk, 0, t, &md, 2000) : RD_KAFKA_RESP_ERR__FAIL;
    if (t)
        rd_kafka_topic_destroy(t);
    if (err || !md || md->topic_cnt != 1 || md->topics[0].err || !md->topics[0].partition_cnt) {
        ew_log(EW_LOG_WARN, "kafka", "registry topic %s: no metadata yet (%s), trying again",
               k->topics[2],
               err                   ? rd_kafka_err2str(err)
               : md && md->topic_cnt ? rd_kafka_err2str(md->topics[0].err)
                                     : "no partitions");
        if (md)
            rd_kafka_metadata_destroy(md);
        ev_timer_set(&k->reg_retry, 1, 0);
        ev_timer_start(k->loop, &k->reg_retry);
        return;
    }
    int n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    k->reg_target = calloc((size_t)n, sizeof *k->reg_target);
    if (!k->reg_target)
        return;
    k->reg_partitions = n;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_query_watermark_offsets(rk, k->topics[2], p, &lo, &hi, 5000);
        if (hi > lo) {
            k->reg_target[p] = hi;
            k->reg_behind++;
        }
        rd_kafka_topic_partition_list_add(l, k->topics[2], p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    err = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        ew_log(EW_LOG_ERROR, "kafka", "registry assign: %s", rd_kafka_err2str(err));
    ew_log(EW_LOG_INFO, "kafka", "reading the registry topic %s (%d partitions)", k->topics[2], n);
    if (!k->reg_behind)
        ew_join_group(k);
}

struct ew_kafka *ew_kafka_new(struct ev_loop *loop, const struct ew_kafka_conf *conf,
                              const struct ew_kafka_cb *cb)
{
    const char *brokers = conf->brokers, *group = conf->group;
    const char *const *topics = conf->topics;
    size_t batch = conf->batch;
    struct ew_kafka *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->loop = loop;
    k->batch = batch;
    k->cb = *cb;
    k->group.pipefd[0] = k->group.pipefd[1] = k->reg.pipefd[0] = k->reg.pipefd[1] = -1;
    k->reg.global = true;
    for (int i = 0; i < 3; i++)
        k->topics[i] = topics[i];
    if (!strcmp(brokers, "embedded")) {
        const char *b;
        if (!(k->mock = ew_kafka_mock_start(topics, 3, conf->partitions, &k->mock_owner, &b)))
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
    snprintf(k->group_id, sizeof k->group_id, "%s", group);
    snprintf(k->session_timeout, sizeof k->session_timeout, "%d", conf->session_timeout_ms);
    char reg_group[300]; /* never joined (assign only), never committed */
    snprintf(reg_group, sizeof reg_group, "%s.registry-reader", group);
    if (!(k->group.rk = ew_consumer_new(k, group, false)) ||
        !(k->reg.rk = ew_consumer_new(k, reg_group, true)))
        goto err;
    k->rk = k->group.rk;
    if (ew_consumer_wire(k, &k->group) || ew_consumer_wire(k, &k->reg))
        goto err;
    ev_timer_init(&k->commit_timer, ew_on_commit_timer, conf->commit_interval_s,
                  conf->commit_interval_s);
    k->commit_timer.data = k;
    ev_timer_start(loop, &k->commit_timer);
    ev_timer_init(&k->reg_retry, ew_registry_start, 0, 0);
    k->reg_retry.data = k;
    ev_timer_start(loop, &k->reg_retry);
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
    rd_kafka_topic_partition_list_t *l = NULL;
    if (!rd_kafka_assignment(k->rk, &l) && l) {
        ew_pause_list(k, l, pause);
        rd_kafka_topic_partition_list_destroy(l);
    }
    ew_log(EW_LOG_INFO, "kafka", "%s consuming", pause ? "paused" : "resumed");
}

void ew_kafka_stop_consuming(struct ew_kafka *k)
{
    k->stopping = true;
    struct ew_consumer *cs[2] = {&k->group, &k->reg};
    for (int i = 0; i < 2; i++)
        if (cs[i]->rk) {
            ev_io_stop(k->loop, &cs[i]->io);
            ev_idle_stop(k->loop, &cs[i]->more);
        }
    ev_timer_stop(k->loop, &k->reg_retry);
}

void ew_kafka_free(struct ew_kafka *k)
{
    if (!k)
        return;
    ev_timer_stop(k->loop, &k->commit_timer);
    ev_timer_stop(k->loop, &k->reg_retry);
    if (k->group.rk)
        ew_kafka_commit(k, true);
    ew_consumer_close(k, &k->group);
    ew_consumer_close(k, &k->reg);
    if (k->mock)
        rd_kafka_mock_cluster_destroy(k->mock);
    if (k->mock_owner)
        rd_kafka_destroy(k->mock_owner);
    for (size_t i = 0; i < k->nslots; i++)
        free(k->slots[i].fifo);
    free(k->slots);
    free(k->tickets);
    free(k->free_tickets);
    free(k->reg_target);
    free(k);
}

void ew_kafka_stats(struct ew_kafka *k, struct ew_kafka_stats *out)
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
    k->stats.lag = lag;
    k->stats.paused = k->paused;
    *out = k->stats;
}
