/*
 * ew_sink.h - the Redis sink: CONTRACT.md's outputs as Redis commands, on one connection that
 * loses nothing (ew_redis.h).
 *
 * Per alert event, in this order: XADD PREFIX+events, XADD PREFIX+duty (officer events) or
 * PREFIX+reminders:ENTERPRISE (enterprise events), HSET PREFIX+active FINGERPRINT JSON (HDEL
 * when resolved), PUBLISH PREFIX+live JSON. Dead letters: XADD PREFIX+deadletter. Streams are
 * capped with MAXLEN ~ redis.stream_maxlen. Commands are answered in the order they are queued.
 *
 * Each write takes a ticket (the caller's, opaque here) and reports it to `written` exactly once,
 * when the reply of its last command has come; a write that returns an error never reports it.
 */
#ifndef EW_SINK_H
#define EW_SINK_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ew_opts.h"
#include "ew_redis.h"

struct ew_sink;

/* ticket's write is safe in Redis; event: it was an alert event (ew_sink_event). */
typedef void (*ew_sink_written_fn)(void *ctx, uint64_t ticket, bool event);

/* One alert event, already written as JSON (borrowed during the call). */
struct ew_sink_event {
    const char *json;
    size_t len;
    const char *fingerprint;
    const char *enterprise_id; /* its reminders stream; "" when not registered */
    bool officer;              /* to PREFIX+duty, else to the enterprise's reminders */
    bool resolved;             /* leaves PREFIX+active */
};

/* One rejected input (CONTRACT.md, ecowarn:deadletter). */
struct ew_deadletter {
    const char *reason; /* one line */
    const char *error;  /* the codec's code, "late", "split"... */
    size_t offset;      /* byte offset in raw */
    const char *topic;
    int32_t partition;    /* -1 when not one message's */
    int64_t kafka_offset; /* -1 when not one message's */
    const void *raw;
    size_t len;
};

/* opts: borrowed for the sink's life, read at each write (redis.prefix, redis.stream_maxlen);
 * the caller may swap its contents whole between two loop passes (a reload). new: free with
 * ew_sink_free. NULL when out of memory. */
struct ew_sink *ew_sink_new(struct ev_loop *loop, const struct ew_redis_addr *addr,
                            const struct ew_opts *opts, ew_sink_written_fn written, void *ctx);
void ew_sink_free(struct ew_sink *s);

/* Returns 0, or -1 when out of memory (written is then not called for this ticket). */
int ew_sink_event(struct ew_sink *s, uint64_t ticket, const struct ew_sink_event *ev);
int ew_sink_deadletter(struct ew_sink *s, uint64_t ticket, const struct ew_deadletter *dl);

/* XACK PREFIX+acks ecowarnd ENTRY, after the commands queued before it. */
void ew_sink_ack_entry(struct ew_sink *s, const char *entry);

bool ew_sink_connected(const struct ew_sink *s);
size_t ew_sink_queued(const struct ew_sink *s); /* commands without a reply yet */
const struct ew_redis_stats *ew_sink_stats(const struct ew_sink *s);

#endif
