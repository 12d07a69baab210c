/*
 * ew_tracker.h - the delivery tracker: which consumed messages are safe, and how far each
 * partition's offset may move.
 *
 * Every message taken from a partition gets a ticket with one reference. Whatever derives work
 * from the message holds the ticket (ew_tracker_hold) and lets go once that work is safe
 * (ew_tracker_done): a record held back for event-time order, the parts of a split packet
 * waiting for the rest, each Redis command its events and dead letters make. A partition's
 * offset moves only past a prefix of done messages, in offset order: when the oldest
 * message's last reference goes, the tracker calls `store` with the offset after the newest
 * message of that done prefix. So offsets never skip a message whose effects are not safe
 * (at-least-once, in order).
 *
 * A revoked partition stores nothing more: its messages go to the partition's next owner.
 * Assigned again while some of its old messages are still held, it starts afresh; the old
 * tickets still complete, and store nothing.
 *
 * Pure code: no I/O, no clock. Ticket 0 means "none" and is accepted (and ignored) everywhere.
 */
#ifndef EW_TRACKER_H
#define EW_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ew_buf.h"

struct ew_tracker;

/* The partition (topic index, partition) is safe up to next (the offset to read next). */
typedef void (*ew_tracker_store_fn)(void *ctx, int topic, int32_t partition, int64_t next);

/* new: free with ew_tracker_free. NULL when out of memory. */
struct ew_tracker *ew_tracker_new(ew_tracker_store_fn store, void *ctx);
void ew_tracker_free(struct ew_tracker *t);

/* The partition is assigned: its messages may be taken and their offsets stored. Returns 0, or
 * -1 when out of memory. */
int ew_tracker_assign(struct ew_tracker *t, int topic, int32_t partition);

/* The partition is revoked: nothing of it is stored any more. */
void ew_tracker_revoke(struct ew_tracker *t, int topic, int32_t partition);

/* A ticket for a message of an assigned partition, with one reference; offsets are taken in
 * increasing order. 0 when the partition is not assigned or out of memory. */
uint64_t ew_tracker_take(struct ew_tracker *t, int topic, int32_t partition, int64_t offset);

void ew_tracker_hold(struct ew_tracker *t, uint64_t ticket);
void ew_tracker_done(struct ew_tracker *t, uint64_t ticket);

/* Where an assigned partition's input stands, for the state saved with it (a consistent cut):
 * returns the offset of its first message not done (to read again after a restore: its effect
 * is not in the state), or the offset after the last one taken when all are done; -1 when the
 * partition is not assigned or nothing of it was taken yet. The messages after that one that
 * are done already are appended to `done` as ranges of offsets, each two varints: the gap
 * after the previous range's end (the returned offset for the first) and its length. */
int64_t ew_tracker_cut(const struct ew_tracker *t, int topic, int32_t partition,
                       struct ew_buf *done);

/* An assigned partition, nothing taken of it yet, resumes from a cut: from is where it is read
 * again, done as ew_tracker_cut wrote it. Returns 0, or -1 when the ranges are corrupt or out
 * of memory (nothing is skipped then). */
int ew_tracker_resume(struct ew_tracker *t, int topic, int32_t partition, int64_t from,
                      const void *done, size_t len);

/* Whether the message at offset was done before the restore: it is not taken again. Offsets are
 * asked in increasing order. */
bool ew_tracker_skip(struct ew_tracker *t, int topic, int32_t partition, int64_t offset);

/* The partition a ticket's message came from; false for ticket 0, or one of a partition
 * revoked since. */
bool ew_tracker_where(const struct ew_tracker *t, uint64_t ticket, int *topic, int32_t *partition);

/* Messages taken that the offset has not moved past yet (not safe), over every partition. */
size_t ew_tracker_held(const struct ew_tracker *t);

#endif
