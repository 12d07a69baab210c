/*
 * bench_consume --brokers LIST --topics A,B --messages N [--group G] [--set NAME=VALUE ...]
 *               [--timeout S]
 *
 * The raw limit of consuming on this machine: a bare librdkafka consumer in a group, set as
 * ecowarnd sets its consumer (auto commit and offset store off, from the earliest offset,
 * fetch.wait.max.ms 50, queued.min.messages 10,000,000), that reads N messages and does nothing
 * with them but count their bytes. Prints one line of NAME=VALUE: messages, bytes, seconds (first
 * message to the Nth), msgs_per_s, mb_per_s, cpu_us_per_msg (user + system of the whole process,
 * over the messages), peak_rss_kb. --set passes more librdkafka properties (e.g.
 * queued.min.messages=1000000). Exits 1 when N messages did not come within --timeout seconds
 * (default 600) of the first.
 */
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double ew_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double ew_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static bool ew_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char err[256];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof err) == RD_KAFKA_CONF_OK)
        return true;
    fprintf(stderr, "bench_consume: %s=%s: %s\n", name, value, err);
    return false;
}

static int ew_usage(void)
{
    fprintf(stderr, "usage: bench_consume --brokers LIST --topics A,B --messages N [--group G] "
                    "[--set NAME=VALUE ...] [--timeout S]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *topics = NULL, *group = "bench-consume";
    long long want = 0;
    double timeout = 600;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    bool ok = ew_set(conf, "enable.auto.commit", "false") &&
              ew_set(conf, "enable.auto.offset.store", "false") &&
              ew_set(conf, "auto.offset.reset", "earliest") &&
              ew_set(conf, "enable.partition.eof", "false") &&
              ew_set(conf, "fetch.wait.max.ms", "50") && ew_set(conf, "log_level", "4") &&
              ew_set(conf, "queued.min.messages", "10000000");
    for (int i = 1; ok && i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return ew_usage();
        if (!strcmp(argv[i], "--brokers"))
            brokers = v;
        else if (!strcmp(argv[i], "--topics"))
            topics = v;
        else if (!strcmp(argv[i], "--group"))
            group = v;
        else if (!strcmp(argv[i], "--messages"))
            want = atoll(v);
        else if (!strcmp(argv[i], "--timeout"))
            timeout = atof(v);
        else if (!strcmp(argv[i], "--set")) {
            char name[256];
            const char *eq = strchr(v, '=');
            if (!eq || (size_t)(eq - v) >= sizeof name)
                return ew_usage();
            memcpy(name, v, (size_t)(eq - v));
            name[eq - v] = '\0';
            ok = ew_set(conf, name, eq + 1);
        } else
            return ew_usage();
        i++;
    }
    if (!ok || !brokers || !topics || want <= 0 || !ew_set(conf, "bootstrap.servers", brokers) ||
        !ew_set(conf, "group.id", group))
        return ok ? ew_usage() : 2;

    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "bench_consume: %s\n", err);
        return 2;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(4);
    char *list = strdup(topics);
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
        rd_kafka_topic_partition_list_add(sub, t, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    free(list);
    if (e) {
        fprintf(stderr, "bench_consume: subscribe: %s\n", rd_kafka_err2str(e));
        return 2;
    }

    long long n = 0, bytes = 0;
    double first = 0, last = 0, cpu0 = 0, start = ew_now();
    while (n < want) {
        double now = ew_now();
        if (now - (n ? first : start) > timeout)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err) {
            if (!n++) {
                first = ew_now();
                cpu0 = ew_cpu();
            }
            bytes += (long long)m->len;
        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            fprintf(stderr, "bench_consume: %s\n", rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    last = ew_now();
    double cpu = ew_cpu() - cpu0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double secs = last - first;
    if (n < want)
        fprintf(stderr, "bench_consume: %lld of %lld messages in %.0f s\n", n, want, timeout);
    else
        printf("messages=%lld bytes=%lld seconds=%.3f msgs_per_s=%.0f mb_per_s=%.1f "
               "cpu_us_per_msg=%.3f peak_rss_kb=%ld\n",
               n, bytes, secs, (double)n / secs, (double)bytes / secs / 1e6, cpu * 1e6 / (double)n,
               ru.ru_maxrss);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n < want;
}
