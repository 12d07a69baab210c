/* ew_kafka_mock.c - the embedded Kafka broker (see ew_kafka_mock.h). */
#include "ew_kafka_mock.h"

#include "ew_log.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

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
