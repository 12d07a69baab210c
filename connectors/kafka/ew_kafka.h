/*
 * ew_kafka.h - Kafka in: a librdkafka high-level consumer (consumer group) on the event loop.
 *
 * The consumer queue's event fd wakes a libev watcher (no timer polling); each loop pass
 * handles at most `batch` messages and yields to the loop, so Redis I/O is never starved.
 * Offsets are stored when the caller says a partition is safe up to a point (ew_kafka_store:
 * the pipeline, once the state saved with them in Redis is written) and committed on a timer,
 * on revocation and on close: for lag monitoring, and for a first start of a partition that
 * Redis knows nothing of.
 *
 * Group topics are shared by the consumer group. Table topics (the registry: outlets and their
 * limits) are read whole by every instance, from their beginning, with no group and no
 * commits, like a table each one keeps: a site's limits must be known whichever instance
 * judges the site. The group is joined only once every table topic has been read up to where
 * it stood at start, so that no record is judged before its site's limits.
 */
#ifndef EW_KAFKA_H
#define EW_KAFKA_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ew_kafka;

#define EW_KAFKA_MAX_TOPICS 8

/* What a topic is to the source, given by the configuration. */
enum ew_topic_role {
    EW_TOPIC_GROUP = 0, /* shared by the consumer group: each member gets some partitions */
    EW_TOPIC_TABLE,     /* read whole by every member, from its beginning, before it joins */
};

struct ew_kafka_topic {
    const char *name;
    enum ew_topic_role role;
};

struct ew_kmsg {
    int topic; /* index into the topics given to ew_kafka_new */
    const char *topic_name;
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t keylen;
    const void *payload;
    size_t len;
    int64_t timestamp; /* the message's time (epoch ms), INT64_MIN none */
};

/* Called on the loop, from inside ew_kafka's own calls. Partitions are those of group topics. */
struct ew_kafka_cb {
    void (*message)(void *ctx, const struct ew_kmsg *m); /* borrowed: during the call only */
    /* A partition given to this member, before any of its messages. */
    void (*assigned)(void *ctx, int topic, int32_t partition);
    /* A partition taken away (after what was stored for it was committed): store no more. */
    void (*revoked)(void *ctx, int topic, int32_t partition);
    /* Every message fetched so far has been handed out (NULL: not told); behind: messages of
     * the assigned partitions not read yet, as far as librdkafka knows (0: the input is live). */
    void (*drained)(void *ctx, int64_t behind);
    void *ctx;
};

struct ew_kafka_stats {
    uint64_t messages[EW_KAFKA_MAX_TOPICS];
    uint64_t errors;
    uint64_t commits;
    int64_t lag;       /* messages behind the high watermarks of the assigned partitions */
    size_t partitions; /* assigned now */
    bool connected;    /* a broker answered and not all of them are down */
    bool paused;
};

/* brokers: a bootstrap list, or "embedded": an in-process mock cluster (its address is
 * logged), with `partitions` per topic. */
struct ew_kafka_conf {
    const char *brokers, *group;
    struct ew_kafka_topic topics[EW_KAFKA_MAX_TOPICS];
    size_t ntopics;
    int partitions; /* of the embedded broker's topics */
    size_t batch;
    double commit_interval_s;
    int session_timeout_ms;
    /* more librdkafka properties, already checked: NAME\0VALUE\0... (props_len bytes) */
    const char *props;
    size_t props_len;
};

/* new: free with ew_kafka_free. The strings of conf are copied. NULL on error (logged). */
struct ew_kafka *ew_kafka_new(struct ev_loop *loop, const struct ew_kafka_conf *conf,
                              const struct ew_kafka_cb *cb);

/* The partition's messages are safe up to next (the offset to read next): committed with the
 * next commit. Ignored for a partition not assigned now. */
void ew_kafka_store(struct ew_kafka *k, int topic, int32_t partition, int64_t next);

/* Pauses (hold) an assigned partition until its owner resumes it (its state is being restored);
 * a pause of the whole source leaves it paused. */
void ew_kafka_hold(struct ew_kafka *k, int topic, int32_t partition, bool hold);

/* The next message of an assigned partition is the one at offset; offset -1: the last one
 * committed here, or the partition's beginning. */
void ew_kafka_seek(struct ew_kafka *k, int topic, int32_t partition, int64_t offset);

/* Whether an assigned partition has been read to its end (as far as librdkafka's last fetch
 * knows); false while no fetch has told its end, true when it is not assigned. */
bool ew_kafka_caught_up(struct ew_kafka *k, int topic, int32_t partition);

/* Messages behind the high watermarks of the assigned partitions, as librdkafka last heard. */
int64_t ew_kafka_lag(struct ew_kafka *k);

/* Stops (true) or resumes fetching on every assigned partition. */
void ew_kafka_pause(struct ew_kafka *k, bool pause);

/* Stops consuming new messages (draining). */
void ew_kafka_stop_consuming(struct ew_kafka *k);

/* Commits the stored offsets (synchronously with sync). */
void ew_kafka_commit(struct ew_kafka *k, bool sync);

/* Commits and leaves the group. */
void ew_kafka_free(struct ew_kafka *k);

void ew_kafka_stats(struct ew_kafka *k, struct ew_kafka_stats *out);

#endif
