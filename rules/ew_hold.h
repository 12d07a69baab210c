/*
 * ew_hold.h - records held back for event-time order (engine.reorder_ms), taken out by data
 * time and arrival: those that come in order queue in a ring, the others in a min-heap.
 * Internal to rules/.
 */
#ifndef EW_HOLD_H
#define EW_HOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ew_buf.h"
#include "ew_record.h"

struct ew_held {
    int64_t time;    /* data time */
    int64_t arrived; /* processing time it came */
    uint64_t seq;    /* arrival order, for equal times */
    uint64_t tag;    /* the caller's */
    int64_t before;  /* the caller's: its site's newest data time when it came */
    uint32_t site;   /* the caller's: where its site was then (a hint) */
    struct ew_buf blob;
};

/* A held record's order, kept beside its slot's number so that ordering reads no slot. */
struct ew_hkey {
    int64_t time;
    uint64_t seq;
    uint32_t slot;
};

struct ew_holdq {
    struct ew_held *slots;
    struct ew_hkey *run;  /* a ring, cap long: records that came in order, oldest at head */
    struct ew_hkey *heap; /* the others: a min-heap by (time, seq) */
    uint32_t *spare;      /* slots free for reuse */
    size_t nslots, n, nrun, head, nheap, nspare, cap; /* n = nrun + nheap */
    uint64_t seq;
};

/* Holds a copy of rec's identity, time and numeric values, with before and site (see struct
 * ew_held). Returns 0 or EW_ENOMEM. */
int ew_hold_push(struct ew_holdq *q, const struct ew_record *rec, int64_t now, uint64_t tag,
                 int64_t before, uint32_t site);
/* The earliest held record, or NULL. */
const struct ew_held *ew_hold_top(const struct ew_holdq *q);
/* Takes the earliest held record out into rec, its `before` into *before; its strings live until
 * the next push. Returns its tag. */
uint64_t ew_hold_pop(struct ew_holdq *q, struct ew_record *rec, int64_t *before);
/* The MN of a held record. */
const char *ew_held_mn(const struct ew_held *h);
/* Takes out every held record that drop says (called once for each, in no order; the record
 * stays readable during the call). Returns how many. */
size_t ew_hold_drop(struct ew_holdq *q, bool (*drop)(void *ctx, const struct ew_held *h),
                    void *ctx);
void ew_hold_release(struct ew_holdq *q);

#endif
