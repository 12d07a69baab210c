/*
 * ew_kafka_mock.h - the embedded Kafka broker: librdkafka's mock cluster, for trying ecowarn
 * out. Debian's librdkafka 2.0.2 mock keeps only about 15,000 messages per partition and drops
 * older ones silently; cmd/DAEMON.md, "Embedded Kafka".
 */
#ifndef EW_KAFKA_MOCK_H
#define EW_KAFKA_MOCK_H

#include <stddef.h>

/* Starts the mock cluster with the topics created (`partitions` each). Returns it with its
 * owning handle (destroy with rd_kafka_destroy after rd_kafka_mock_cluster_destroy) and the
 * bootstrap list (borrowed: lives as long as the cluster), or NULL (logged). Shared by the
 * daemon's embedded mode and ecowarn-kafka. */
struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;
struct rd_kafka_mock_cluster_s *ew_kafka_mock_start(const char *const *topics, size_t ntopics,
                                                    int partitions, struct rd_kafka_s **owner,
                                                    const char **bootstraps);

#endif
