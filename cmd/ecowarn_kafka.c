/*
 * ecowarn-kafka [--partitions N] [--topics A,B,C] - the embedded Kafka broker (librdkafka's mock
 * cluster) as a process, for a machine without a broker: it creates the topics, prints its
 * bootstrap address on the first line of output and runs until SIGTERM or SIGINT.
 *
 * Know its limit: Debian's librdkafka 2.0.2 mock keeps only about 15,000 messages per partition
 * and drops older ones silently; keep backlogs well below that (a real broker for tests:
 * scripts/kafka.sh).
 *
 * Two helpers for a real broker:
 *   ecowarn-kafka --check BROKERS                       exit 0 once it answers a metadata request
 *   ecowarn-kafka --create BROKERS --topics A,B --partitions N    create topics (exist: fine)
 */
#include "ew_kafka_mock.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t ew_stop;

static void ew_on_signal(int sig)
{
    (void)sig;
    ew_stop = 1;
}

static rd_kafka_t *ew_client(const char *brokers)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err) ||
        rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err)) {
        fprintf(stderr, "ecowarn-kafka: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk)
        fprintf(stderr, "ecowarn-kafka: %s\n", err);
    return rk;
}

static int ew_check(const char *brokers)
{
    rd_kafka_t *rk = ew_client(brokers);
    if (!rk)
        return 1;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, 2000);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    if (err)
        fprintf(stderr, "ecowarn-kafka: %s: %s\n", brokers, rd_kafka_err2str(err));
    return err ? 1 : 0;
}

static int ew_create(const char *brokers, const char *const *topics, size_t n, int partitions)
{
    rd_kafka_t *rk = ew_client(brokers);
    if (!rk)
        return 1;
    rd_kafka_NewTopic_t *nt[16];
    char err[256];
    for (size_t i = 0; i < n; i++)
        nt[i] = rd_kafka_NewTopic_new(topics[i], partitions, 1, err, sizeof err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, nt, n, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    int rc = 1;
    if (!ev) {
        fprintf(stderr, "ecowarn-kafka: no answer to CreateTopics\n");
    } else if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "ecowarn-kafka: %s\n", rd_kafka_event_error_string(ev));
    } else {
        size_t cnt;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        rc = 0;
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                fprintf(stderr, "ecowarn-kafka: %s: %s\n", rd_kafka_topic_result_name(res[i]),
                        rd_kafka_topic_result_error_string(res[i]));
                rc = 1;
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    for (size_t i = 0; i < n; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

int main(int argc, char **argv)
{
    int partitions = 4;
    const char *check = NULL, *create = NULL;
    char topics_arg[1024] = "ecowarn.hj212,ecowarn.telemetry,ecowarn.enterprise";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--partitions") && i + 1 < argc) {
            partitions = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--topics") && i + 1 < argc) {
            snprintf(topics_arg, sizeof topics_arg, "%s", argv[++i]);
        } else if (!strcmp(argv[i], "--check") && i + 1 < argc) {
            check = argv[++i];
        } else if (!strcmp(argv[i], "--create") && i + 1 < argc) {
            create = argv[++i];
        } else {
            fprintf(stderr,
                    "usage: ecowarn-kafka [--partitions N] [--topics A,B,C]\n"
                    "       ecowarn-kafka --check BROKERS\n"
                    "       ecowarn-kafka --create BROKERS --topics A,B [--partitions N]\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (partitions < 1 || partitions > 64) {
        fprintf(stderr, "ecowarn-kafka: --partitions must be 1 to 64\n");
        return 2;
    }
    const char *topics[16];
    size_t n = 0;
    for (char *t = strtok(topics_arg, ","); t && n < 16; t = strtok(NULL, ","))
        topics[n++] = t;
    if (check)
        return ew_check(check);
    if (create)
        return ew_create(create, topics, n, partitions);
    struct sigaction sa = {0};
    sa.sa_handler = ew_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    rd_kafka_t *owner;
    const char *bootstraps;
    rd_kafka_mock_cluster_t *mc = ew_kafka_mock_start(topics, n, partitions, &owner, &bootstraps);
    if (!mc)
        return 1;
    printf("%s\n", bootstraps);
    fflush(stdout);
    fprintf(stderr,
            "ecowarn-kafka: librdkafka's mock cluster at %s. It keeps only about 15,000 "
            "messages per partition and drops older ones silently.\n",
            bootstraps);
    while (!ew_stop)
        pause();
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(owner);
    return 0;
}
