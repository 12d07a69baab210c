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
#include "ew_buf.h"

#include <string.h>

struct ew_ticket {
    uint32_t slot;
    uint32_t refs;
    int64_t offset;
};

/* Offsets [start, end) done before a restore: skipped when they come again. */
struct ew_range {
    int64_t start, end;
};

struct ew_tslot {
    int topic;
    int32_t partition;
    bool assigned;  /* offsets are stored; else retired or revoked: its tickets drain */
    uint32_t *ring; /* ticket numbers */
    size_t cap, head, n;
    size_t ndone;           /* tickets in the ring that are done (behind a pending head) */
    int64_t next;           /* offset after the last message taken or skipped; -1 none yet */
    struct ew_range *skips; /* done before the restore, ascending; from iskip on still ahead */
    size_t nskips, iskip;
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
    for (size_t i = 0; i < t->nslots; i++) {
        ew_free(t->slots[i].ring);
        ew_free(t->slots[i].skips);
    }
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
    s->ndone = 0;
    s->next = -1;
    ew_free(s->skips);
    s->skips = NULL;
    s->nskips = s->iskip = 0;
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

/* A ticket for the message at offset at the end of the slot's ring, with refs references. */
static uint64_t ew_tracker_push(struct ew_tracker *t, struct ew_tslot *s, int64_t offset,
                                uint32_t refs)
{
    if ((!t->nfree && t->ntickets == t->tcap && ew_tracker_grow(t)) ||
        (s->n == s->cap && ew_slot_grow(s)))
        return 0;
    uint32_t n = t->nfree ? t->free_tickets[--t->nfree] : (uint32_t)t->ntickets++;
    s->ring[(s->head + s->n++) % s->cap] = n;
    t->tickets[n] = (struct ew_ticket){(uint32_t)(s - t->slots), refs, offset};
    s->next = offset + 1;
    t->held++;
    return (uint64_t)n + 1;
}

uint64_t ew_tracker_take(struct ew_tracker *t, int topic, int32_t partition, int64_t offset)
{
    struct ew_tslot *s = ew_tracker_slot(t, topic, partition);
    return s ? ew_tracker_push(t, s, offset, 1) : 0;
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
    s->ndone++;
    while (s->n && !t->tickets[s->ring[s->head]].refs) { /* the done prefix, in offset order */
        uint32_t h = s->ring[s->head];
        next = t->tickets[h].offset + 1;
        s->head = (s->head + 1) % s->cap;
        s->n--;
        s->ndone--;
        t->free_tickets[t->nfree++] = h;
        t->held--;
    }
    if (next >= 0 && s->assigned && t->store)
        t->store(t->ctx, s->topic, s->partition, next);
}

bool ew_tracker_where(const struct ew_tracker *t, uint64_t ticket, int *topic, int32_t *partition)
{
    if (!ticket || ticket > t->ntickets)
        return false;
    const struct ew_tslot *s = &t->slots[t->tickets[ticket - 1].slot];
    *topic = s->topic;
    *partition = s->partition;
    return s->assigned;
}

size_t ew_tracker_held(const struct ew_tracker *t)
{
    return t->held;
}

/* ---- cuts: where a partition's input stands, to resume from ---- */

static void ew_put_varint(struct ew_buf *b, uint64_t v)
{
    unsigned char out[10];
    size_t n = 0;
    do {
        out[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    ew_buf_add(b, out, n);
}

static bool ew_get_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        unsigned char c = *(*p)++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return true;
    }
    return false;
}

/* Appends the range [start, end) after the one ending at *last. */
static void ew_put_range(struct ew_buf *b, int64_t *last, int64_t start, int64_t end)
{
    ew_put_varint(b, (uint64_t)(start - *last));
    ew_put_varint(b, (uint64_t)(end - start));
    *last = end;
}

int64_t ew_tracker_cut(const struct ew_tracker *t, int topic, int32_t partition,
                       struct ew_buf *done)
{
    const struct ew_tslot *s = NULL;
    for (size_t i = 0; i < t->nslots && !s; i++)
        if (t->slots[i].assigned && t->slots[i].topic == topic &&
            t->slots[i].partition == partition)
            s = &t->slots[i];
    if (!s || s->next < 0)
        return -1;
    int64_t from = s->n ? t->tickets[s->ring[s->head]].offset : s->next, last = from;
    size_t left = s->ndone; /* done tickets behind the pending head: runs of them */
    for (size_t i = 1; i < s->n && left; i++) {
        const struct ew_ticket *k = &t->tickets[s->ring[(s->head + i) % s->cap]];
        if (k->refs)
            continue;
        int64_t start = k->offset, end = k->offset + 1;
        for (left--; i + 1 < s->n && left; i++, left--) {
            const struct ew_ticket *n = &t->tickets[s->ring[(s->head + i + 1) % s->cap]];
            if (n->refs)
                break;
            end = n->offset + 1;
        }
        ew_put_range(done, &last, start, end);
    }
    for (size_t i = s->iskip; i < s->nskips; i++) /* done before a restore, not passed yet */
        if (s->skips[i].end > last)
            ew_put_range(done, &last, s->skips[i].start > last ? s->skips[i].start : last,
                         s->skips[i].end);
    return from;
}

int ew_tracker_resume(struct ew_tracker *t, int topic, int32_t partition, int64_t from,
                      const void *done, size_t len)
{
    struct ew_tslot *s = ew_tracker_slot(t, topic, partition);
    if (!s || s->n || from < 0)
        return -1;
    const unsigned char *p = done, *end = p + len;
    size_t n = 0, cap = 0;
    struct ew_range *r = NULL;
    int64_t last = from;
    while (p < end) {
        uint64_t gap, size;
        if (!ew_get_varint(&p, end, &gap) || !ew_get_varint(&p, end, &size) || !size ||
            gap > (uint64_t)(INT64_MAX - last) || size > (uint64_t)(INT64_MAX - last) - gap)
            goto bad;
        if (n == cap) {
            struct ew_range *g = ew_grow(r, n, cap ? 2 * cap : 16, sizeof *r);
            if (!g)
                goto bad;
            r = g;
            cap = cap ? 2 * cap : 16;
        }
        r[n].start = last + (int64_t)gap;
        r[n].end = last = r[n].start + (int64_t)size;
        n++;
    }
    ew_free(s->skips);
    s->skips = r;
    s->nskips = n;
    s->iskip = 0;
    s->next = from;
    return 0;
bad:
    ew_free(r);
    return -1;
}

bool ew_tracker_skip(struct ew_tracker *t, int topic, int32_t partition, int64_t offset)
{
    struct ew_tslot *s = ew_tracker_slot(t, topic, partition);
    if (!s)
        return false;
    while (s->iskip < s->nskips && s->skips[s->iskip].end <= offset)
        s->iskip++; /* passed */
    if (s->iskip == s->nskips || offset < s->skips[s->iskip].start)
        return false;
    if (!s->n) /* nothing pending before it: the cut moves past it */
        s->next = offset + 1;
    else if (ew_tracker_push(t, s, offset, 0)) /* after one pending: a done ticket in the ring */
        s->ndone++;
    return true;
}
