/*
 * ew_tracker.c - the delivery tracker (see ew_tracker.h).
 *
 * Tickets live in a slab of (partition slot, offset, references), reused through a free list.
 * Each partition slot keeps its tickets in a ring in offset order; when the head's references
 * reach zero the done prefix is popped and the offset after its last message is stored. A slot
 * that is revoked, or replaced by a new assignment while its tickets are in flight, is retired:
 * its tickets drain and store nothing. Retired slots with no ticket left are reused.
 */
#include "ew_tracker.h"

#include "ew_alloc.h"

#include <string.h>

struct ew_ticket {
    uint32_t slot;
    uint32_t refs;
    int64_t offset;
};

struct ew_tslot {
    int topic;
    int32_t partition;
    bool assigned;  /* offsets are stored; else retired or revoked: its tickets drain */
    uint32_t *ring; /* ticket numbers */
    size_t cap, head, n;
};

struct ew_tracker {
    ew_tracker_store_fn store;
    void *ctx;
    struct ew_ticket *tickets;
    uint32_t *free_tickets;
    size_t ntickets, nfree, tcap;
    struct ew_tslot *slots;
    size_t nslots;
    size_t held;
};

struct ew_tracker *ew_tracker_new(ew_tracker_store_fn store, void *ctx)
{
    struct ew_tracker *t = ew_calloc(1, sizeof *t);
    if (t) {
        t->store = store;
        t->ctx = ctx;
    }
    return t;
}

void ew_tracker_free(struct ew_tracker *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nslots; i++)
        ew_free(t->slots[i].ring);
    ew_free(t->slots);
    ew_free(t->tickets);
    ew_free(t->free_tickets);
    ew_free(t);
}

/* The assigned slot of a partition, or NULL. */
static struct ew_tslot *ew_tracker_slot(struct ew_tracker *t, int topic, int32_t partition)
{
    for (size_t i = 0; i < t->nslots; i++)
        if (t->slots[i].assigned && t->slots[i].topic == topic &&
            t->slots[i].partition == partition)
            return &t->slots[i];
    return NULL;
}

int ew_tracker_assign(struct ew_tracker *t, int topic, int32_t partition)
{
    struct ew_tslot *s = ew_tracker_slot(t, topic, partition);
    if (s && !s->n)
        return 0; /* assigned already, nothing in flight: it goes on */
    if (s)
        s->assigned = false; /* in flight from before: those store nothing */
    for (size_t i = 0; i < t->nslots; i++) {
        if (!t->slots[i].assigned && !t->slots[i].n) { /* a drained slot */
            s = &t->slots[i];
            goto found;
        }
    }
    s = ew_grow(t->slots, t->nslots, t->nslots + 1, sizeof *s);
    if (!s)
        return -1;
    t->slots = s;
    s = &t->slots[t->nslots++];
    *s = (struct ew_tslot){0};
found:
    s->topic = topic;
    s->partition = partition;
    s->assigned = true;
    s->head = 0;
    return 0;
}

void ew_tracker_revoke(struct ew_tracker *t, int topic, int32_t partition)
{
    struct ew_tslot *s = ew_tracker_slot(t, topic, partition);
    if (s)
        s->assigned = false;
}

static int ew_tracker_grow(struct ew_tracker *t)
{
    size_t cap = t->tcap ? 2 * t->tcap : 1024;
    struct ew_ticket *nt = ew_grow(t->tickets, t->ntickets, cap, sizeof *nt);
    if (!nt)
        return -1;
    t->tickets = nt;
    uint32_t *nf = ew_grow(t->free_tickets, t->nfree, cap, sizeof *nf);
    if (!nf)
        return -1;
    t->free_tickets = nf;
    t->tcap = cap;
    return 0;
}

static int ew_slot_grow(struct ew_tslot *s)
{
    size_t cap = s->cap ? 2 * s->cap : 256;
    uint32_t *r = ew_malloc(cap * sizeof *r);
    if (!r)
        return -1;
    for (size_t i = 0; i < s->n; i++)
        r[i] = s->ring[(s->head + i) % s->cap];
    ew_free(s->ring);
    s->ring = r;
    s->cap = cap;
    s->head = 0;
    return 0;
}

uint64_t ew_tracker_take(struct ew_tracker *t, int topic, int32_t partition, int64_t offset)
{
    struct ew_tslot *s = ew_tracker_slot(t, topic, partition);
    if (!s || (!t->nfree && t->ntickets == t->tcap && ew_tracker_grow(t)) ||
        (s->n == s->cap && ew_slot_grow(s)))
        return 0;
    uint32_t n = t->nfree ? t->free_tickets[--t->nfree] : (uint32_t)t->ntickets++;
    s->ring[(s->head + s->n++) % s->cap] = n;
    t->tickets[n] = (struct ew_ticket){(uint32_t)(s - t->slots), 1, offset};
    t->held++;
    return (uint64_t)n + 1;
}

void ew_tracker_hold(struct ew_tracker *t, uint64_t ticket)
{
    if (ticket)
        t->tickets[ticket - 1].refs++;
}

void ew_tracker_done(struct ew_tracker *t, uint64_t ticket)
{
    if (!ticket)
        return;
    struct ew_ticket *k = &t->tickets[ticket - 1];
    if (!k->refs || --k->refs)
        return;
    struct ew_tslot *s = &t->slots[k->slot];
    int64_t next = -1;
    while (s->n && !t->tickets[s->ring[s->head]].refs) { /* the done prefix, in offset order */
        uint32_t h = s->ring[s->head];
        next = t->tickets[h].offset + 1;
        s->head = (s->head + 1) % s->cap;
        s->n--;
        t->free_tickets[t->nfree++] = h;
        t->held--;
    }
    if (next >= 0 && s->assigned && t->store)
        t->store(t->ctx, s->topic, s->partition, next);
}

size_t ew_tracker_held(const struct ew_tracker *t)
{
    return t->held;
}
