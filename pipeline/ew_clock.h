/*
 * ew_clock.h - the engine's clock in event time: one watermark per source (a Kafka partition
 * of a data topic), the clock the earliest of them, as Flink combines the watermarks of its
 * input splits.
 *
 * A source's watermark is the newest data time of its records, not counting a data time more
 * than 10 minutes ahead of processing time (a wrong device clock). The clock is the minimum over
 * the sources that have data and are not idle, so a partition that lags (a backlog being caught
 * up, hours behind the others) holds the clock back instead of its sites looking silent. A
 * source is idle once it is caught up (nothing left to read) and has brought no record for
 * idle_ms of processing time: a quiet partition does not stop the clock. When every source with
 * data is idle, the clock is the newest watermark of all: data stopped everywhere at once (a
 * platform's fault, not the sites'), and no site looks silent for it.
 *
 * A source that has brought no data yet holds the clock (there is none, and no timer fires)
 * until its first record comes or it is caught up: its first records may be older than every
 * other source's (after a restart or a rebalance, the partition read last may be the one
 * furthest behind), as in Flink a split without a watermark holds its operator's. A partition
 * whose end is not known yet is not caught up; an empty one is, as soon as its end is known.
 *
 * The clock is not monotonic: a partition that starts (it is assigned, or its first record
 * comes) with data older than the others pulls it back, so that its sites are judged against
 * their own time. Judgements already made stand.
 *
 * Pure code: no I/O; processing time is handed in.
 */
#ifndef EW_CLOCK_H
#define EW_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ew_clock;

/* Whether a source has nothing left to read (its consumer is at the partition's end, and that
 * end is known). */
typedef bool (*ew_clock_caught_up_fn)(void *ctx, int topic, int32_t partition);

/* new: free with ew_clock_free. NULL when out of memory. */
struct ew_clock *ew_clock_new(int64_t idle_ms);
void ew_clock_free(struct ew_clock *c);

/* A source this member reads now, with no data yet. Returns 0, or -1 when out of memory. */
int ew_clock_assign(struct ew_clock *c, int topic, int32_t partition);

/* A source this member no longer reads: its watermark no longer counts. */
void ew_clock_revoke(struct ew_clock *c, int topic, int32_t partition);

/* A record of the source with data time t arrived at processing time now. A source not
 * assigned is assigned first (a caller without partitions uses one source). */
void ew_clock_observe(struct ew_clock *c, int topic, int32_t partition, int64_t t, int64_t now);

/* The watermark of an assigned partition, INT64_MIN none: saved with its state. */
int64_t ew_clock_mark(struct ew_clock *c, int topic, int32_t partition);

/* An assigned partition restored from its saved state: its watermark is mark (when later than
 * what it has), as if its records up to there had just come. */
void ew_clock_restore(struct ew_clock *c, int topic, int32_t partition, int64_t mark, int64_t now);

/* The clock at processing time now (epoch ms), or INT64_MIN before any data or while a source
 * that has brought none is not idle; which sources are idle is worked out again. caught_up may be
 * NULL: every source is then caught up. */
int64_t ew_clock_now(struct ew_clock *c, int64_t now, ew_clock_caught_up_fn caught_up, void *ctx);

/* The clock with the sources idle as the last ew_clock_now found them (a source that has
 * brought a record since is not): cheap enough for every record, asking nothing of Kafka. */
int64_t ew_clock_current(const struct ew_clock *c);

struct ew_clock_stats {
    size_t sources; /* assigned */
    size_t idle;    /* of them with data, idle at the last ew_clock_now */
    size_t holding; /* of them with data, not idle: those the clock is the minimum of */
    size_t awaited; /* of them without data, not read to their end: no clock meanwhile */
};

void ew_clock_stats(const struct ew_clock *c, struct ew_clock_stats *out);

#endif
