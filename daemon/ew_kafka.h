/*
 * ew_kafka.h - Kafka in: a librdkafka high-level consumer (consumer group) on the event loop.
 *
 * The consumer queue's event fd wakes a libev watcher (no timer polling); each loop pass
 * handles at most `batch` messages and yields to the loop, so Redis I/O is never starved.
 * Every message gets a ticket; whoever derives work from it holds the ticket (ew_kafka_hold)
 * and lets go when that work is safe (ew_kafka_done). A partition's offset is stored only up to
 * the first message still held, and stored offsets are committed on a timer, on revocation and
 * on close: at-least-once, in order, no message ever skipped.
 *
 * The data topics (topics[0], topics[1]) are shared by the consumer group. The registry topic
 * (topics[2]: outlets and their limits) is read whole by every instance, from its beginning,
 * with no group and no commits, like a table each one keeps: a site's limits must be known
 * whichever instance judges the site. The group is joined only once the registry has been read
 * up to where it stood at start, so that no record is judged before its site's limits.
 */
#ifndef EW_KAFKA_H
#define EW_KAFKA_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ew_kafka;

struct ew_kmsg {
    int topic; /* index into the topics given to ew_kafka_new */
    const char *topic_name;
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t keylen;
    const void *payload;
    size_t len;
    uint64_t ticket; /* held once for the handler, let go after it returns; 0 for the
                        registry topic (read whole at every start: nothing to commit) */
};

struct ew_kafka_cb {
    void (*message)(void *ctx, const struct ew_kmsg *m);
    /* A partition this member lost: revoked, and not given back by the assignment that
     * followed. The state of its sites can go. */
    void (*revoked)(void *ctx, int topic, int32_t partition);
    /* Called before offsets are committed (NULL: none); nonzero stops the commit. The daemon
     * writes its checkpoint here, so the state on disk always covers what is committed. */
    int (*before_commit)(void *ctx);
    void *ctx;
};

struct ew_kafka_stats {
    uint64_t messages[3];
    uint64_t errors;
    uint64_t commits;
    int64_t lag;       /* messages behind the high watermarks of the assigned partitions */
    size_t partitions; /* assigned now */
    size_t held;       /* messages consumed and not yet safe */
    bool connected;    /* a broker answered and not all of them are down */
    bool paused;
};

/* brokers: a bootstrap list, or "embedded": an in-process mock cluster (its address is
 * logged), with `partitions` per topic. NULL on error (logged). */
struct ew_kafka_conf {
    const char *brokers, *group;
    const char *topics[3];
    int partitions; /* of the embedded broker's topics */
    size_t batch;
    double commit_interval_s;
    int session_timeout_ms;
};

struct ew_kafka *ew_kafka_new(struct ev_loop *loop, const struct ew_kafka_conf *conf,
                              const struct ew_kafka_cb *cb);

void ew_kafka_hold(struct ew_kafka *k, uint64_t ticket);
void ew_kafka_done(struct ew_kafka *k, uint64_t ticket);

/* Stops (true) or resumes fetching on every assigned partition. */
void ew_kafka_pause(struct ew_kafka *k, bool pause);

/* Stops consuming new messages (draining); held messages still complete. */
void ew_kafka_stop_consuming(struct ew_kafka *k);

/* Commits the stored offsets (synchronously with sync). */
void ew_kafka_commit(struct ew_kafka *k, bool sync);

/* Commits and leaves the group. */
void ew_kafka_free(struct ew_kafka *k);

void ew_kafka_stats(struct ew_kafka *k, struct ew_kafka_stats *out);

/* Starts librdkafka's mock cluster with the topics created (`partitions` each). Returns its
 * owning handle (destroy with rd_kafka_destroy after rd_kafka_mock_cluster_destroy) and the
 * bootstrap list, or NULL. Shared by the daemon's embedded mode and ecowarn-kafka. */
struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;
struct rd_kafka_mock_cluster_s *ew_kafka_mock_start(const char *const *topics, size_t ntopics,
                                                    int partitions, struct rd_kafka_s **owner,
                                                    const char **bootstraps);

#endif
