/*
 * ew_metrics.c - the metrics (see ew_metrics.h). Metrics of one value are rows of the two
 * tables below (name, type, help, value); families with labels are written beside them.
 */
#include "ew_metrics.h"

#include <stdio.h>

/* (name, type, help, value of s) */
#define EW_METRICS_INPUT(X)                                                                        \
    X("ecowarn_deadletters_total", "counter", "entries written to deadletter", s->deadletters)     \
    X("ecowarn_late_records_total", "counter", "records beyond the lateness", s->late)             \
    X("ecowarn_enterprise_events_ignored_total", "counter",                                        \
      "e-enterprise events of types no rule uses yet (none since the closed loop)", s->ignored)    \
    X("ecowarn_responses_total", "counter", "enterprises' answers to alerts", s->responses)        \
    X("ecowarn_responses_unknown_total", "counter",                                                \
      "answers to no alert in the closed loop here: dead-lettered", s->responses_unknown)          \
    X("ecowarn_escalations_total", "counter", "escalation steps fired",                            \
      s->engine.loop_escalations)                                                                  \
    X("ecowarn_reminders_held_total", "counter", "enterprise reminders held by quiet hours",       \
      s->engine.loop_quiet_held)                                                                   \
    X("ecowarn_records_total", "counter", "records given to the rule engine", s->engine.records)   \
    X("ecowarn_alerts_suppressed_total", "counter",                                                \
      "alert events a declared maintenance or shutdown window explains: not sent",                 \
      s->engine.suppressed)                                                                        \
    X("ecowarn_rule_evaluations_total", "counter", "(rule, value) judgements",                     \
      s->engine.evaluations)

#define EW_METRICS_STATE(X)                                                                        \
    X("ecowarn_acks_total", "counter", "officers' acknowledgements applied", s->acks_done)         \
    X("ecowarn_acks_elsewhere_total", "counter",                                                   \
      "acknowledgements left pending for the instance that holds their alert", s->acks_elsewhere)  \
    X("ecowarn_reloads_total", "counter", "configurations reloaded", s->reloads)                   \
    X("ecowarn_reload_failures_total", "counter", "reloads refused", s->reload_failures)           \
    X("ecowarn_redis_reconnects_total", "counter", "Redis connection attempts", r.reconnects)      \
    X("ecowarn_redis_timeouts_total", "counter", "replies later than the timeout", r.timeouts)     \
    X("ecowarn_redis_errors_total", "counter", "commands refused, not sent again", r.errors)       \
    X("ecowarn_redis_refusals_total", "counter",                                                   \
      "refusals for now (loading, busy, out of memory...): sent again", r.refusals)                \
    X("ecowarn_transactions_total", "counter",                                                     \
      "transactions sent: a partition's events, and at a checkpoint its changed sites and cut",    \
      s->commits)                                                                                  \
    X("ecowarn_transactions_refused_total", "counter", "transactions Redis refused",               \
      s->commits_refused)                                                                          \
    X("ecowarn_checkpoints_total", "counter",                                                      \
      "transactions that saved the state of the partition's changed sites and its cut",            \
      s->checkpoints)                                                                              \
    X("ecowarn_events_written_before_total", "counter",                                            \
      "events and dead letters made again by records judged again after a restore: not written "   \
      "twice",                                                                                     \
      s->written_before)                                                                           \
    X("ecowarn_partitions_fenced_total", "counter",                                                \
      "partitions claimed again: claimed elsewhere, or Redis lost what it answered", s->fenced)    \
    X("ecowarn_sites_restored_total", "counter", "sites whose saved state a claim brought back",   \
      s->sites_restored)                                                                           \
    X("ecowarn_messages_skipped_total", "counter",                                                 \
      "messages read again after a restore that were done before it", s->skipped)                  \
    X("ecowarn_messages_refetched_total", "counter",                                               \
      "messages of a partition being claimed, or from before its saved offset: not judged",        \
      s->refetched)                                                                                \
    X("ecowarn_buffered_events", "gauge", "events and dead letters not yet in Redis",              \
      s->events_pending)                                                                           \
    X("ecowarn_consumer_lag", "gauge", "messages behind the high watermarks", s->kafka.lag)        \
    X("ecowarn_partitions_live", "gauge",                                                          \
      "partitions claimed (their state restored from Redis) and read here", s->partitions_live)    \
    X("ecowarn_messages_in_flight", "gauge",                                                       \
      "messages consumed, not yet judged: read again after a restart", s->in_flight)               \
    X("ecowarn_keys_tracked", "gauge", "rule and average states held", s->engine.keys)             \
    X("ecowarn_sites_tracked", "gauge", "sites whose state is held", s->engine.sites)              \
    X("ecowarn_alerts_in_loop", "gauge", "alerts followed by an escalation policy now",            \
      s->engine.loops)                                                                             \
    X("ecowarn_state_bytes", "gauge", "memory of the rule state", s->engine.state_bytes)           \
    X("ecowarn_clock_seconds", "gauge", "the engine's clock in event time (unix s; 0: none)",      \
      s->clock == INT64_MIN ? 0 : (double)s->clock / 1000)                                         \
    X("ecowarn_partitions_holding_clock", "gauge",                                                 \
      "partitions with data, not idle: the clock is the earliest of their watermarks",             \
      s->clock_sources.holding)                                                                    \
    X("ecowarn_partitions_idle", "gauge", "partitions with data, read to their end and quiet",     \
      s->clock_sources.idle)                                                                       \
    X("ecowarn_partitions_awaited", "gauge",                                                       \
      "partitions without data yet, not read to their end: no clock until they bring some",        \
      s->clock_sources.awaited)                                                                    \
    X("ecowarn_kafka_connected", "gauge", "1 when a broker answers", s->kafka.connected)           \
    X("ecowarn_kafka_paused", "gauge", "1 while consumption waits for Redis", s->kafka.paused)     \
    X("ecowarn_redis_connected", "gauge", "1 when connected to Redis", s->redis_connected)

static void ew_metric(struct ew_buf *b, const char *name, const char *labels, double v)
{
    char line[256];
    int n = snprintf(line, sizeof line, "%s%s%s%s %.17g\n", name, labels ? "{" : "",
                     labels ? labels : "", labels ? "}" : "", v);
    ew_buf_add(b, line, (size_t)n);
}

static void ew_metric_help(struct ew_buf *b, const char *name, const char *type, const char *help)
{
    char line[320];
    int n = snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    ew_buf_add(b, line, (size_t)n);
}

#define EW_METRIC_ROW(name, type, help, value)                                                     \
    ew_metric_help(b, name, type, help);                                                           \
    ew_metric(b, name, NULL, (double)(value));

void ew_metrics_prometheus(const struct ew_flow_stats *s, struct ew_buf *b)
{
    static const struct ew_redis_stats none;
    const struct ew_redis_stats r = s->redis ? *s->redis : none;
    char lab[128];
    ew_metric_help(b, "ecowarn_messages_total", "counter", "Kafka messages consumed, by topic");
    for (int i = 0; i < 3; i++) {
        snprintf(lab, sizeof lab, "topic=\"%s\"", s->topics[i]);
        ew_metric(b, "ecowarn_messages_total", lab, (double)s->kafka.messages[i]);
    }
    ew_metric_help(b, "ecowarn_decode_errors_total", "counter", "rejected input, by error code");
    for (int c = 1; c < EW_FLOW_NERR; c++)
        if (s->decode_errors[c]) {
            snprintf(lab, sizeof lab, "code=\"%s\"", ew_errname(-c));
            ew_metric(b, "ecowarn_decode_errors_total", lab, (double)s->decode_errors[c]);
        }
    EW_METRICS_INPUT(EW_METRIC_ROW)
    ew_metric_help(b, "ecowarn_events_total", "counter", "alert events written, by event");
    for (int t = 0; t < EW_AEV_COUNT; t++) {
        snprintf(lab, sizeof lab, "event=\"%s\"", ew_alert_event_name((enum ew_alert_event_type)t));
        ew_metric(b, "ecowarn_events_total", lab, (double)s->events_by_type[t]);
    }
    ew_metric_help(b, "ecowarn_redis_latency_seconds", "histogram", "Redis command round trip");
    uint64_t cum = 0;
    for (int i = 0; i < 8; i++) {
        cum += r.latency_buckets[i];
        if (i < 7)
            snprintf(lab, sizeof lab, "le=\"%g\"", ew_redis_latency_bounds[i]);
        else
            snprintf(lab, sizeof lab, "le=\"+Inf\"");
        ew_metric(b, "ecowarn_redis_latency_seconds_bucket", lab, (double)cum);
    }
    ew_metric(b, "ecowarn_redis_latency_seconds_sum", NULL, r.latency_sum);
    ew_metric(b, "ecowarn_redis_latency_seconds_count", NULL, (double)r.replies);
    EW_METRICS_STATE(EW_METRIC_ROW)
}

int ew_metrics_health(const struct ew_flow_stats *s, struct ew_buf *b)
{
    char body[128];
    int n = snprintf(body, sizeof body, "{\"kafka\":%s,\"redis\":%s,\"draining\":%s}\n",
                     s->kafka.connected ? "true" : "false", s->redis_connected ? "true" : "false",
                     s->draining ? "true" : "false");
    ew_buf_add(b, body, (size_t)n);
    return s->kafka.connected && s->redis_connected ? 200 : 503;
}
