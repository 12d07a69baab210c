/*
 * ew_split.h - reassembling split HJ 212 packets (PNUM/PNO, DOMAIN.md) before the rules see
 * them. Pure code: the caller gives the time.
 *
 * The parts of one packet share MN, CN and QN (or, without QN, DataTime); they may come in any
 * order. Each part is kept as sent (its bytes); when the last one comes, the parts are decoded
 * in PNO order into one record: the first part's header and every part's values. A group that
 * stays incomplete past the timeout, or that is pushed out by newer groups beyond the bound,
 * comes back to the caller (for its dead-letter stream), as does a part that contradicts its
 * group (another PNUM, a PNO seen twice or out of range).
 */
#ifndef EW_SPLIT_H
#define EW_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ew_error.h"
#include "ew_hj212.h"
#include "ew_record.h"

struct ew_split;

/* max_groups: packets being reassembled at once; timeout_ms: how long one may wait. */
struct ew_split *ew_split_new(size_t max_groups, int64_t timeout_ms,
                              const struct ew_hj212_opts *opts);
void ew_split_free(struct ew_split *s);

#define EW_SPLIT_MAX_PARTS 64 /* PNUM above this is refused */

/* A group given up: why, its parts' bytes (PNO order, one per line) and their tags. */
typedef void (*ew_split_drop_fn)(void *ctx, const char *why, const void *bytes, size_t len,
                                 const uint64_t *tags, size_t ntags);

/* Offers one decoded part (rec->pnum > 1) with its packet bytes and a tag of the caller's
 * (the message it came in). Returns 1 when the group is complete (out holds the whole record,
 * tags the tags of its parts, *ntags how many), 0 while parts are missing, or a negative error
 * for a part that cannot belong (err says why; the part is not kept). A group pushed out to
 * make room goes to drop. */
int ew_split_add(struct ew_split *s, const struct ew_record *part, const void *bytes, size_t len,
                 uint64_t tag, int64_t now, struct ew_record *out,
                 uint64_t tags[EW_SPLIT_MAX_PARTS], size_t *ntags, struct ew_error *err,
                 ew_split_drop_fn drop, void *ctx);

/* Gives up the groups that have waited longer than the timeout (each goes to drop). */
void ew_split_expire(struct ew_split *s, int64_t now, ew_split_drop_fn drop, void *ctx);

/* Forgets, without a dead letter, every group whose parts which says (by the tag of one: a
 * group's parts are one site's, so of one partition), calling release with each part's tag: the
 * partition went to another consumer, which reads them again. Returns how many groups. */
size_t ew_split_forget(struct ew_split *s, bool (*which)(void *ctx, uint64_t tag),
                       void (*release)(void *ctx, uint64_t tag), void *ctx);

size_t ew_split_pending(const struct ew_split *s);

#endif
