/*
 * ecowarn-kafka [--partitions N] [--topics A,B,C] - the embedded Kafka broker (librdkafka's mock
 * cluster) as a process, for a machine without a broker: it creates the topics, prints its
 * bootstrap address on the first line of output and runs until SIGTERM or SIGINT.
 *
 * Know its limit: Debian's librdkafka 2.0.2 mock keeps only about 15,000 messages per partition
 * and drops older ones silently; keep backlogs well below that.
 */
#include "ew_kafka.h"

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

int main(int argc, char **argv)
{
    int partitions = 4;
    char topics_arg[1024] = "ecowarn.hj212,ecowarn.telemetry,ecowarn.enterprise";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--partitions") && i + 1 < argc) {
            partitions = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--topics") && i + 1 < argc) {
            snprintf(topics_arg, sizeof topics_arg, "%s", argv[++i]);
        } else {
            fprintf(stderr, "usage: ecowarn-kafka [--partitions N] [--topics A,B,C]\n");
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
    while (!ew_stop)
        pause();
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(owner);
    return 0;
}
