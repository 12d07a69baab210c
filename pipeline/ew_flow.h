/*
 * ew_flow.h - the pipeline: a Kafka message becomes records, judgements and Redis writes.
 *
 *   kafka source --message--> decode (HJ 212 | JSON | e-enterprise) --> reassemble split
 *   packets --> the rule engine --alert events--> alert JSON --> the Redis sink
 *
 * with dead letters for what cannot be read, backpressure (Kafka pauses while too many events
 * wait for Redis), and state that follows its partition: each partition is claimed from Redis
 * (its sites' state restored, its input resumed from its cut) before it is read, and every
 * `redis.batch_ms` each partition's events, dead letters, changed sites and cut (from the
 * delivery tracker: the first message not done, and those done after it) are written in one
 * transaction; a revoked partition's state is written and let go. Also: the officers'
 * acknowledgements turned into events, and reloads. The flow owns time: libev's loop
 * time (processing time, read once per loop pass) and the engine's clock in event time, the
 * earliest watermark of the partitions it reads (ew_clock.h), both handed down to the engine
 * and the reassembly.
 *
 * The connectors are built by the caller (cmd/ecowarnd.c) with the flow's callbacks and
 * handed to it with ew_flow_connect; the flow does not free them.
 */
#ifndef EW_FLOW_H
#define EW_FLOW_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "ew_acks.h"
#include "ew_alert.h"
#include "ew_clock.h"
#include "ew_config.h"
#include "ew_kafka.h"
#include "ew_rules.h"
#include "ew_sink.h"

struct ew_flow;

#define EW_FLOW_NERR 16 /* decode error counters, by -code */

/* What the flow has done, and what the parts it wires say (for /metrics and /health). */
struct ew_flow_stats {
    uint64_t decode_errors[EW_FLOW_NERR];
    uint64_t deadletters, ignored, late, acks_done, acks_unknown, reloads, reload_failures;
    uint64_t responses, responses_unknown; /* enterprises' answers stored; of them, to no alert
                                              in the closed loop here */
    uint64_t acks_elsewhere;  /* acknowledgements left for the instance holding their alert */
    uint64_t commits;         /* transactions sent */
    uint64_t checkpoints;     /* of them, with the state and the cut */
    uint64_t written_before;  /* events and dead letters judged again after a restore, written
                                 before it: not again */
    uint64_t commits_refused; /* refused by Redis (logged) */
    uint64_t fenced;          /* partitions claimed again: another consumer had claimed them, or
                                 Redis lost what it had answered */
    uint64_t sites_restored;  /* sites whose saved state a claim brought back */
    uint64_t skipped;         /* messages read again after a restore, done before it */
    uint64_t refetched;       /* messages of a partition being claimed (read again once it is),
                                 or from before the offset its state was saved at */
    uint64_t loose;           /* events of a site of no partition read here (none expected) */
    uint64_t events_by_type[EW_AEV_COUNT];
    size_t events_pending;  /* alert events and dead letters not yet written to Redis */
    size_t in_flight;       /* messages consumed, not yet safe */
    size_t partitions_live; /* partitions claimed (their state restored) and read here */
    bool draining;
    int64_t clock; /* the engine's, as of the last tick: event time, epoch ms; INT64_MIN none */
    struct ew_clock_stats clock_sources;
    const char *topics[3]; /* hj212, telemetry, enterprise: the names metrics are labelled by */
    struct ew_engine_stats engine;
    struct ew_kafka_stats kafka;
    const struct ew_redis_stats *redis; /* NULL without a sink */
    bool redis_connected;
};

/* Builds the flow over a loaded configuration: cfg is moved in (its rules go to the engine;
 * what is left in *cfg is empty). The checkpoint (state.file) is read. new: free with
 * ew_flow_free. NULL on error (logged); cfg is released then too. */
struct ew_flow *ew_flow_new(struct ev_loop *loop, struct ew_config *cfg);
void ew_flow_free(struct ew_flow *f);

/* The configuration in force (borrowed, for the flow's life; a reload swaps its contents). */
const struct ew_config *ew_flow_config(const struct ew_flow *f);

/* What the e-enterprise platform said (outlets and the rest), as read so far; it changes only
 * on the loop, between two calls. */
const struct ew_registry *ew_flow_registry(const struct ew_flow *f);

/* What the Kafka source is to be built with: topics and their roles, and the callbacks. */
void ew_flow_kafka_conf(struct ew_flow *f, struct ew_kafka_conf *kc, struct ew_kafka_cb *cb);

/* The callbacks the sink is to be built with. */
void ew_flow_sink_cb(struct ew_flow *f, struct ew_sink_cb *cb);

/* The callback of the acknowledgements source; ctx is the flow. */
void ew_flow_acked(void *ctx, const struct ew_ack *a, const struct ew_alert_event *cur);

/* The parts the flow writes to and steers (borrowed; either may be NULL: none, or gone). */
void ew_flow_connect(struct ew_flow *f, struct ew_kafka *kafka, struct ew_sink *sink);

/* A clock tick: time-driven rules and split packets that waited too long. */
void ew_flow_tick(struct ew_flow *f);

/* SIGHUP: builds a whole new configuration from src and swaps it in; a bad one is refused
 * (logged) and the running one kept. Options that a reload may not change keep their running
 * values (logged when they differ). Returns 0 or -1. */
int ew_flow_reload(struct ew_flow *f, const struct ew_config_src *src);

/* Stops consuming and writes every partition's last transaction (records held for event-time
 * order are not judged: the saved cut has them read again). */
void ew_flow_drain(struct ew_flow *f);
/* Whether every transaction has been answered. */
bool ew_flow_safe(const struct ew_flow *f);

void ew_flow_stats(const struct ew_flow *f, struct ew_flow_stats *out);

#endif
