/*
 * bench_e2e --brokers LIST --redis-port P [--probes N] [--interval-ms MS] [--prefix P]
 *
 * Latency from producing a packet to its alert being readable in Redis, through a running
 * ecowarnd (bench/e2e.sh starts everything). Each probe is a new site, registered first; its
 * packet is an hourly SO2 average over the limit, so the default rules fire `over-limit` for it.
 * The clock starts just before the packet is handed to librdkafka (linger 0) and stops when the
 * event arrives on the ecowarn:live channel, which ecowarnd publishes after writing the streams
 * and the active hash (CONTRACT.md). Probes go one at a time; prints p50, p90, p99 and max.
 */
#include "ew_hj212.h"

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double ew_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void ew_produce(rd_kafka_t *rk, const char *topic, const char *key, const char *payload)
{
    while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                             RD_KAFKA_V_VALUE((void *)payload, strlen(payload)),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END))
        rd_kafka_poll(rk, 10);
    rd_kafka_poll(rk, 0);
}

static int ew_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *prefix = "ecowarn:";
    int port = 0, probes = 50, interval_ms = 100;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--brokers"))
            brokers = argv[i + 1];
        else if (!strcmp(argv[i], "--redis-port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--probes"))
            probes = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--interval-ms"))
            interval_ms = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--prefix"))
            prefix = argv[i + 1];
    }
    if (!brokers || !port || probes < 1) {
        fprintf(stderr, "usage: bench_e2e --brokers LIST --redis-port P [--probes N] "
                        "[--interval-ms MS]\n");
        return 2;
    }
    redisContext *c = redisConnect("127.0.0.1", port);
    if (!c || c->err) {
        fprintf(stderr, "bench_e2e: redis: %s\n", c ? c->errstr : "no memory");
        return 1;
    }
    char channel[128];
    snprintf(channel, sizeof channel, "%slive", prefix);
    freeReplyObject(redisCommand(c, "SUBSCRIBE %s", channel));
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "0", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "bench_e2e: kafka: %s\n", err);
        return 1;
    }
    int run = (int)(time(NULL) % 100000); /* fresh sites on every run against the same daemon */
    for (int i = 0; i < probes; i++) {
        char mn[32], ev[512];
        snprintf(mn, sizeof mn, "PROBE%05d%04d", run, i);
        snprintf(ev, sizeof ev,
                 "{\"type\":\"outlet.upsert\",\"enterprise_id\":\"PROBE\",\"outlet_id\":\"%s\","
                 "\"mn\":\"%s\",\"st\":\"31\",\"limits\":{\"a21026\":{\"hour\":35,\"unit\":"
                 "\"mg/m3\"}}}",
                 mn, mn);
        ew_produce(rk, "ecowarn.enterprise", mn, ev);
    }
    /* warm up: the producer learns the packet topic's partitions and leaders first */
    ew_produce(rk, "ecowarn.hj212", "PROBEWARMUP", "warm-up: not a packet (dead-lettered)");
    rd_kafka_flush(rk, 10000);
    sleep(2); /* every daemon reads the registry */
    double *lat = calloc((size_t)probes, sizeof *lat);
    int got = 0;
    for (int i = 0; i < probes; i++) {
        char mn[32], data[512], packet[600];
        snprintf(mn, sizeof mn, "PROBE%05d%04d", run, i);
        int n = snprintf(data, sizeof data,
                         "QN=%d;ST=31;CN=2061;PW=123456;MN=%s;Flag=4;CP=&&DataTime=20241001100000;"
                         "a21026-ZsAvg=100,a21026-Flag=N&&",
                         i, mn);
        snprintf(packet, sizeof packet, "##%04d%s%04X", n, data, ew_hj212_crc(data, (size_t)n));
        double t0 = ew_now();
        ew_produce(rk, "ecowarn.hj212", mn, packet);
        bool seen = false;
        while (!seen && ew_now() - t0 < 10) {
            void *reply = NULL;
            if (redisReaderGetReply(c->reader, &reply) != REDIS_OK)
                break;
            if (!reply) {
                struct pollfd pfd = {c->fd, POLLIN, 0};
                if (poll(&pfd, 1, 5) > 0 && redisBufferRead(c) != REDIS_OK)
                    break;
                rd_kafka_poll(rk, 0);
                continue;
            }
            redisReply *m = reply;
            if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 && m->element[2]->str &&
                strstr(m->element[2]->str, mn) &&
                strstr(m->element[2]->str, "\"rule\":\"over-limit\""))
                seen = true;
            freeReplyObject(m);
        }
        if (seen)
            lat[got++] = (ew_now() - t0) * 1000;
        else
            fprintf(stderr, "bench_e2e: probe %d: no alert within 10 s\n", i);
        usleep((useconds_t)interval_ms * 1000);
    }
    rd_kafka_flush(rk, 5000);
    rd_kafka_destroy(rk);
    redisFree(c);
    if (!got) {
        fprintf(stderr, "bench_e2e: no probe came through\n");
        return 1;
    }
    qsort(lat, (size_t)got, sizeof *lat, ew_cmp);
    printf("latency produce -> alert in Redis, %d probes: p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  "
           "max %.1f ms\n",
           got, lat[got / 2], lat[got * 9 / 10],
           lat[(got * 99) / 100 < got ? (got * 99) / 100 : got - 1], lat[got - 1]);
    free(lat);
    return got == probes ? 0 : 1;
}
