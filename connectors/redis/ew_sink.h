/*
 * ew_sink.h - the Redis sink: CONTRACT.md's outputs, written in transactions on one connection
 * that loses nothing (ew_redis.h).
 *
 * A batch gathers what one transaction writes for one input partition: its alert events and
 * its dead letters, the state of some of its sites as of the checkpoint being made and, when
 * that checkpoint is complete, where its input stood (the cut: the offset to read again from,
 * the offsets beyond it already done, its watermark). A commit sends the batch as one Lua
 * script (EVAL), which Redis runs whole and alone: either all of it is written or none. Each
 * partition's hash PREFIX+partition:TOPIC:N holds its owner's generation, the sequence of the
 * last batch written, the cut and the number (epoch) of the last checkpoint; its saved state is
 * PREFIX+state:TOPIC:N (each site's MN to its state) with PREFIX+stage:TOPIC:N:(epoch % 2), the
 * sites that changed by that checkpoint, over it (moved into it a few at a time by later
 * batches, whole by the next checkpoint or a claim); the next checkpoint's sites are staged in
 * the other stage until it is complete. PREFIX+written:TOPIC:N:0 and :1 hold the ids of the
 * events and dead letters written since the last checkpoint's cut (one set per checkpoint).
 * A batch is written only when the generation is still the committer's (a partition
 * claimed by another consumer since fences the old one out) and its sequence follows the last
 * written: a batch sent again after a lost reply is written once, and a gap (Redis lost batches
 * it had answered) fences the committer as well. Events go out at once and the state less
 * often: after a restore the records since the checkpoint are judged again and make the same
 * events, with the same ids, which the written set keeps from being written twice.
 *
 * Per alert event, in this order: XADD PREFIX+events, XADD PREFIX+duty (officer events) or
 * PREFIX+reminders:ENTERPRISE (enterprise events), HSET PREFIX+active FINGERPRINT JSON (HDEL
 * when resolved), PUBLISH PREFIX+live JSON. Dead letters: XADD PREFIX+deadletter. Streams are
 * capped with MAXLEN ~ redis.stream_maxlen. Commands are answered in the order they are sent.
 */
#ifndef EW_SINK_H
#define EW_SINK_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ew_buf.h"
#include "ew_opts.h"
#include "ew_redis.h"

struct ew_sink;

/* One alert event, already written as JSON (borrowed during the call). */
struct ew_sink_event {
    const char *id; /* the event's id (the same when its input is judged again); "" none */
    const char *json;
    size_t len;
    const char *fingerprint;
    const char *enterprise_id; /* its reminders stream; "" when not registered */
    bool officer;              /* to PREFIX+duty, else to the enterprise's reminders */
    bool resolved;             /* leaves PREFIX+active */
    bool duty_copy;            /* an enterprise's event to PREFIX+duty too (an escalated alert's
                                  end) */
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

/* What one transaction writes: operations, each an opcode and its arguments. */
struct ew_batch {
    struct ew_buf args; /* each argument: u32 length, then its bytes */
    size_t nargs;
    size_t events; /* alert events and dead letters in it */
};

#define EW_BATCH_INIT                                                                              \
    {                                                                                              \
        EW_BUF_INIT, 0, 0                                                                          \
    }

void ew_batch_clear(struct ew_batch *b);
void ew_batch_release(struct ew_batch *b);
bool ew_batch_empty(const struct ew_batch *b);

/* The batch's operations. The sink's prefix and stream length are read at the commit. */
void ew_batch_event(struct ew_batch *b, const struct ew_sink_event *ev);
void ew_batch_deadletter(struct ew_batch *b, struct ew_buf *scratch,
                         const struct ew_deadletter *dl);
/* A site's state (blob, len) as of the checkpoint being made; blob NULL: it has none any more. */
void ew_batch_state(struct ew_batch *b, const char *mn, const void *blob, size_t len);
/* The site states queued in from (ew_batch_state only), from *off on, moved into b, max at
 * most; *off moves past them (from's count is of those left). Returns how many; from is
 * released once every one is taken, and those left move to its front once most are. */
size_t ew_batch_take_states(struct ew_batch *b, struct ew_batch *from, size_t *off, size_t max);
/* n sites of the last checkpoint's stage moved into the partition's state. */
void ew_batch_merge(struct ew_batch *b, size_t n);

/* Where the partition's input stands after the batch. */
struct ew_cut {
    int64_t next;     /* the offset to read again from; -1: unchanged */
    const void *done; /* offsets after it done already (ew_tracker_cut) */
    size_t donelen;
    int64_t watermark; /* the partition's, epoch ms; INT64_MIN none */
};

/* What a partition's transaction completes beside its events and staged sites. */
enum ew_ckpt {
    EW_CKPT_NONE = 0,
    EW_CKPT_STAGED, /* the checkpoint begun at cut: every site it froze is staged */
    EW_CKPT_NOW,    /* a checkpoint at cut, now: the batch stages every site changed since */
};

/* A partition's transaction: who sends it, where its checkpoints stand. */
struct ew_txn {
    uint64_t gen, seq;
    uint64_t epoch; /* its last checkpoint's number; a checkpoint saves epoch + 1 */
    bool staging;   /* checkpoint epoch + 1 is begun: its ids go with it */
    enum ew_ckpt ckpt;
    const struct ew_cut *cut; /* with a checkpoint */
};

/* A partition as Redis keeps it, read by a claim. */
struct ew_claim {
    uint64_t gen, seq; /* the claimer's generation; the last batch's sequence */
    uint64_t epoch;    /* its last checkpoint's number */
    struct ew_cut cut; /* next -1: nothing saved yet */
    size_t nsites;
    const char *const *mn; /* nsites of them, with their saved state */
    const char *const *blob;
    const size_t *bloblen;
};

/* A commit's outcome. */
enum ew_commit_result {
    EW_COMMIT_WRITTEN = 1,
    EW_COMMIT_AGAIN = 0,    /* written before (sent again after a lost reply): not again */
    EW_COMMIT_FENCED = -1,  /* claimed by another consumer, or Redis lost what it had answered */
    EW_COMMIT_REFUSED = -2, /* Redis refused the script (logged): nothing, or part, written */
};

struct ew_sink_cb {
    /* A commit answered; arg is the committer's; again: its events and dead letters that were
     * in the written set already (not written twice). */
    void (*committed)(void *ctx, void *arg, enum ew_commit_result result, size_t again);
    /* A claim answered (claim NULL: refused, logged); its fields are valid during the call. */
    void (*claimed)(void *ctx, void *arg, const struct ew_claim *claim);
    void *ctx;
};

/* opts: borrowed for the sink's life, read at each commit (redis.prefix, redis.stream_maxlen);
 * the caller may swap its contents whole between two loop passes (a reload). new: free with
 * ew_sink_free. NULL when out of memory. */
struct ew_sink *ew_sink_new(struct ev_loop *loop, const struct ew_redis_addr *addr,
                            const struct ew_opts *opts, const struct ew_sink_cb *cb);
void ew_sink_free(struct ew_sink *s);

/* Sends the batch as one transaction t of the partition (topic, partition). topic NULL (t
 * then unused): a transaction of no partition (the officers' acknowledgements: the batch
 * begins with ew_batch_ack), whose events are not checked against a written set. The batch is
 * cleared. committed is called with arg once Redis has answered. Returns 0, or -1 when out of
 * memory (committed is then not called). */
int ew_sink_commit(struct ew_sink *s, struct ew_batch *b, const char *topic, int32_t partition,
                   const struct ew_txn *t, void *arg);

/* Claims the partition for this consumer: its generation moves on (fencing out the one before),
 * and what Redis keeps of it comes back to claimed, with arg. Returns 0 or -1 (no memory). */
int ew_sink_claim(struct ew_sink *s, const char *topic, int32_t partition, void *arg);

/* An acknowledgement's entry: the transaction writes the rest of the batch only when the entry
 * was still pending in PREFIX+acks (XACK, group ecowarnd): written once. */
void ew_batch_ack(struct ew_batch *b, const char *entry);

/* XACK PREFIX+acks ecowarnd ENTRY on its own, after the commands sent before it. */
void ew_sink_ack_entry(struct ew_sink *s, const char *entry);

bool ew_sink_connected(const struct ew_sink *s);
size_t ew_sink_queued(const struct ew_sink *s); /* commands without a reply yet */
const struct ew_redis_stats *ew_sink_stats(const struct ew_sink *s);

#endif
