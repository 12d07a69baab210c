/*
 * bench_latency --brokers LIST --redis-port P [--rate PROBES_PER_S] [--probes N] [--id RUN]
 *               [--prefix P] [--wait S] [--dump FILE]
 *
 * Latency from producing a packet to its alert being readable in Redis, through a running
 * ecowarnd, at a fixed rate: N probe sites are registered (outlet.upsert, an SO2 hourly limit of
 * 35), then one over-limit hourly packet per site is produced every 1/RATE s, the producer
 * sleeping until each one's time (absolute deadlines: no spinning, no drift); a second thread
 * reads the probes' enterprise's stream (XREAD BLOCK on `reminders:<enterprise_id>`,
 * CONTRACT.md: the probes are its only sites, so the reader keeps up whatever else the daemon
 * writes) and takes the time each probe's `reminder` of `over-limit-reminder` becomes readable
 * (written in the same transaction as the officer's `firing`). Whatever else loads the daemon runs
 * beside it (bench/province.sh runs the simulator at a fixed rate).
 *
 * The probes' data time is an hour long past, so that they do not move their partitions' clock
 * (the newest data time) past the data of the fleet beside them; a new site's first record is
 * judged whatever its age. The checker: every probe must raise exactly one `reminder` of
 * `over-limit-reminder`, and no event of a probe site may come twice (an `id` seen again:
 * CONTRACT.md); a probe whose packet librdkafka could not deliver is counted apart. Prints one line
 * of NAME=VALUE (probes, delivered, missing, extra, p50_ms, p99_ms, p999_ms, max_ms; ack_p50_ms and
 * ack_p99_ms, from producing to the broker's acknowledgement) and exits 1 when an alert is missing
 * or extra. --dump writes each probe's number, latency in ms (or "missing"), the time it was
 * sent (CLOCK_MONOTONIC, s: to set beside a profile taken with `perf record -k CLOCK_MONOTONIC`)
 * and its broker acknowledgement's latency in ms (-1: none) to FILE.
 */
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ew_hj212.h"

#define EW_EVENTS_PER_PROBE 16 /* events of a probe site told apart (by their id's hash) */

struct ew_probe {
    _Atomic int64_t sent_ns; /* 0: not yet */
    int64_t seen_ns;         /* its reminder readable */
    int64_t acked_ns;        /* its packet acknowledged by the broker */
    int firings;
    int nids, extra;
    uint64_t ids[EW_EVENTS_PER_PROBE];
};

struct ew_run {
    const char *prefix;
    int port, probes;
    char tag[16];
    struct ew_probe *p;
    atomic_bool done; /* the producer has sent the last; the reader waits --wait s more */
    double wait;
    int reader_err;
};

static int64_t ew_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The string value of "key":"..." in json, into out; false when absent. */
static bool ew_member(const char *json, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *s = strstr(json, pat);
    if (!s)
        return false;
    s += strlen(pat);
    const char *e = strchr(s, '"');
    if (!e || (size_t)(e - s) >= cap)
        return false;
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = '\0';
    return true;
}

/* One event of the stream: a probe's, counted. */
static void ew_event(struct ew_run *r, const char *json, int64_t now)
{
    char mn[64], rule[64], event[32], id[128];
    size_t tl = strlen(r->tag);
    if (!ew_member(json, "mn", mn, sizeof mn) || strncmp(mn, r->tag, tl) ||
        !ew_member(json, "rule", rule, sizeof rule) ||
        !ew_member(json, "event", event, sizeof event) || !ew_member(json, "id", id, sizeof id))
        return;
    int i = atoi(mn + tl);
    if (i < 0 || i >= r->probes)
        return;
    struct ew_probe *p = &r->p[i];
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (const char *c = id; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211u;
    for (int k = 0; k < p->nids; k++)
        if (p->ids[k] == h) {
            p->extra++;
            return;
        }
    if (p->nids < EW_EVENTS_PER_PROBE)
        p->ids[p->nids++] = h;
    if (!strcmp(rule, "over-limit-reminder") && !strcmp(event, "reminder") && !p->firings++)
        p->seen_ns = now;
}

static void *ew_reader(void *arg)
{
    struct ew_run *r = arg;
    redisContext *c = redisConnect("127.0.0.1", r->port);
    if (!c || c->err) {
        fprintf(stderr, "bench_latency: redis: %s\n", c ? c->errstr : "no memory");
        r->reader_err = 1;
        return NULL;
    }
    char stream[128], last[64] = "0-0";
    snprintf(stream, sizeof stream, "%sreminders:%s", r->prefix, r->tag);
    /* from what the stream holds now: earlier events are not this run's */
    redisReply *top = redisCommand(c, "XREVRANGE %s + - COUNT 1", stream);
    if (top && top->type == REDIS_REPLY_ARRAY && top->elements == 1)
        snprintf(last, sizeof last, "%s", top->element[0]->element[0]->str);
    freeReplyObject(top);
    int64_t until = 0;
    for (;;) {
        if (atomic_load(&r->done) && !until)
            until = ew_ns() + (int64_t)(r->wait * 1e9);
        if (until && ew_ns() > until)
            break;
        redisReply *rep = redisCommand(c, "XREAD COUNT 1000 BLOCK 100 STREAMS %s %s", stream, last);
        int64_t now = ew_ns();
        if (!rep) {
            fprintf(stderr, "bench_latency: redis: %s\n", c->errstr);
            r->reader_err = 1;
            break;
        }
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1) {
            redisReply *entries = rep->element[0]->element[1];
            for (size_t i = 0; i < entries->elements; i++) {
                redisReply *e = entries->element[i], *f = e->element[1];
                snprintf(last, sizeof last, "%s", e->element[0]->str);
                for (size_t j = 0; j + 1 < f->elements; j += 2)
                    if (!strcmp(f->element[j]->str, "json"))
                        ew_event(r, f->element[j + 1]->str, now);
            }
        }
        freeReplyObject(rep);
    }
    redisFree(c);
    return NULL;
}

static void ew_produce(rd_kafka_t *rk, const char *topic, const char *key, const char *payload,
                       void *opaque)
{
    while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                             RD_KAFKA_V_VALUE((void *)payload, strlen(payload)),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(opaque),
                             RD_KAFKA_V_END))
        rd_kafka_poll(rk, 10);
    rd_kafka_poll(rk, 0);
}

static int delivered, failed;

static void ew_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk, (void)opaque;
    if (m->err) {
        failed++;
        fprintf(stderr, "bench_latency: not delivered: %s\n", rd_kafka_err2str(m->err));
    } else if (m->_private) {
        delivered++;
        ((struct ew_probe *)m->_private)->acked_ns = ew_ns();
    }
}

static int ew_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double ew_pct(const double *v, int n, double q)
{
    int i = (int)(q * n);
    return v[i < n ? i : n - 1];
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *dump = NULL;
    struct ew_run run = {.prefix = "ecowarn:", .probes = 1000, .wait = 10};
    double rate = 100;
    int id = (int)(time(NULL) % 100000); /* fresh sites on every run against the same daemon */
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--brokers"))
            brokers = v;
        else if (!strcmp(a, "--redis-port"))
            run.port = atoi(v);
        else if (!strcmp(a, "--rate"))
            rate = atof(v);
        else if (!strcmp(a, "--probes"))
            run.probes = atoi(v);
        else if (!strcmp(a, "--id"))
            id = atoi(v);
        else if (!strcmp(a, "--prefix"))
            run.prefix = v;
        else if (!strcmp(a, "--wait"))
            run.wait = atof(v);
        else if (!strcmp(a, "--dump"))
            dump = v;
    }
    if (!brokers || !run.port || run.probes < 1 || run.probes > 999999 || rate <= 0) {
        fprintf(stderr, "usage: bench_latency --brokers LIST --redis-port P [--rate PROBES_PER_S] "
                        "[--probes N] [--id RUN] [--prefix P] [--wait S]\n");
        return 2;
    }
    snprintf(run.tag, sizeof run.tag, "LAT%05d", id % 100000);
    run.p = calloc((size_t)run.probes, sizeof *run.p);
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err) ||
        rd_kafka_conf_set(conf, "linger.ms", "0", err, sizeof err)) {
        fprintf(stderr, "bench_latency: %s\n", err);
        return 2;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, ew_on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk || !run.p) {
        fprintf(stderr, "bench_latency: %s\n", rk ? "no memory" : err);
        return 1;
    }
    const char *stamp = "20241001100000"; /* long past (above) */
    for (int i = 0; i < run.probes; i++) {
        char mn[32], ev[512];
        snprintf(mn, sizeof mn, "%s%06d", run.tag, i);
        snprintf(ev, sizeof ev,
                 "{\"type\":\"outlet.upsert\",\"enterprise_id\":\"%s\",\"outlet_id\":\"%s\","
                 "\"mn\":\"%s\",\"st\":\"31\",\"limits\":{\"a21026\":{\"hour\":35,\"unit\":"
                 "\"mg/m3\"}}}",
                 run.tag, mn, mn);
        ew_produce(rk, "ecowarn.enterprise", mn, ev, NULL);
    }
    if (rd_kafka_flush(rk, 30000) || failed) {
        fprintf(stderr, "bench_latency: the registrations were not delivered\n");
        return 1;
    }
    /* the packets' topic's partitions and leaders known before the first probe (else the
     * first second of probes waits for the producer's metadata) */
    rd_kafka_topic_t *hj = rd_kafka_topic_new(rk, "ecowarn.hj212", NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (!hj || rd_kafka_metadata(rk, 0, hj, &md, 10000)) {
        fprintf(stderr, "bench_latency: no metadata for ecowarn.hj212\n");
        return 1;
    }
    rd_kafka_metadata_destroy(md);
    sleep(3); /* every daemon reads the registry */
    pthread_t reader;
    if (pthread_create(&reader, NULL, ew_reader, &run))
        return 1;
    sleep(1); /* the reader has its starting point */
    int64_t t0 = ew_ns(), step = (int64_t)(1e9 / rate);
    for (int i = 0; i < run.probes; i++) {
        int64_t due = t0 + i * step;
        struct timespec ts = {(time_t)(due / 1000000000), (long)(due % 1000000000)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL))
            ;
        char mn[32], data[512], packet[600];
        snprintf(mn, sizeof mn, "%s%06d", run.tag, i);
        int n = snprintf(data, sizeof data,
                         "QN=%s000;ST=31;CN=2061;PW=123456;MN=%s;Flag=4;CP=&&DataTime=%s;"
                         "a21026-ZsAvg=100,a21026-Flag=N&&",
                         stamp, mn, stamp);
        snprintf(packet, sizeof packet, "##%04d%s%04X\r\n", n, data, ew_hj212_crc(data, (size_t)n));
        atomic_store(&run.p[i].sent_ns, ew_ns());
        ew_produce(rk, "ecowarn.hj212", mn, packet, &run.p[i]);
    }
    rd_kafka_flush(rk, 10000);
    atomic_store(&run.done, true);
    pthread_join(reader, NULL);
    rd_kafka_topic_destroy(hj);
    rd_kafka_destroy(rk);

    double *lat = calloc((size_t)run.probes, sizeof *lat),
           *ack = calloc((size_t)run.probes, sizeof *ack);
    int acked = 0;
    for (int i = 0; i < run.probes; i++)
        if (run.p[i].acked_ns)
            ack[acked++] = (double)(run.p[i].acked_ns - atomic_load(&run.p[i].sent_ns)) / 1e6;
    qsort(ack, (size_t)acked, sizeof *ack, ew_cmp);
    int got = 0, missing = 0, extra = 0;
    FILE *out = dump ? fopen(dump, "w") : NULL;
    for (int i = 0; i < run.probes; i++) {
        const struct ew_probe *p = &run.p[i];
        extra += p->extra + (p->firings > 1 ? p->firings - 1 : 0);
        if (!p->firings) {
            missing++;
            if (out)
                fprintf(out, "%d missing\n", i);
            continue;
        }
        int64_t sent = atomic_load(&p->sent_ns);
        lat[got] = (double)(p->seen_ns - sent) / 1e6;
        if (out)
            fprintf(out, "%d %.3f %.6f %.3f\n", i, lat[got], (double)sent / 1e9,
                    p->acked_ns ? (double)(p->acked_ns - sent) / 1e6 : -1.0);
        got++;
    }
    if (out)
        fclose(out);
    qsort(lat, (size_t)got, sizeof *lat, ew_cmp);
    printf("probes=%d delivered=%d missing=%d extra=%d rate=%.0f", run.probes, delivered, missing,
           extra, rate);
    if (got)
        printf(" p50_ms=%.2f p99_ms=%.2f p999_ms=%.2f max_ms=%.2f", ew_pct(lat, got, 0.5),
               ew_pct(lat, got, 0.99), ew_pct(lat, got, 0.999), lat[got - 1]);
    if (acked) /* produce -> the broker's acknowledgement, for comparison */
        printf(" ack_p50_ms=%.2f ack_p99_ms=%.2f", ew_pct(ack, acked, 0.5),
               ew_pct(ack, acked, 0.99));
    printf("\n");
    free(lat);
    free(ack);
    free(run.p);
    return run.reader_err || missing || extra;
}
