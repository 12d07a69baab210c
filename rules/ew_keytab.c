/*
 * ew_keytab.c - the bounded table of per-key rule state (see ew_rules_int.h).
 *
 * Slots are allocated once (cap of them); the index is an open-addressing table of slot
 * numbers with linear probing, and removal shifts later entries back so that no tombstones
 * accumulate. Every lookup moves its slot to the head of the LRU list; when all slots are in
 * use, the tail is evicted and counted. No allocation after init.
 */
#include "ew_rules_int.h"

#include "ew_alloc.h"

#include <string.h>

static uint64_t ew_kt__hash(const char *mn, size_t n, uint32_t rule, uint64_t code)
{
    uint64_t h = 0xcbf29ce484222325u ^ rule;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)mn[i]) * 0x100000001b3u;
    h ^= code;
    h *= 0x9E3779B97F4A7C15u;
    return h ^ (h >> 29);
}

int ew_keytab_init(struct ew_keytab *t, size_t cap)
{
    memset(t, 0, sizeof *t);
    t->cap = cap;
    t->nindex = 16;
    while (t->nindex < 2 * cap)
        t->nindex *= 2;
    t->slots = ew_calloc(cap, sizeof *t->slots);
    t->index = ew_calloc(t->nindex, sizeof *t->index);
    if (!t->slots || !t->index) {
        ew_keytab_release(t);
        return EW_ENOMEM;
    }
    t->head = t->tail = -1;
    return 0;
}

void ew_keytab_release(struct ew_keytab *t)
{
    ew_free(t->slots);
    ew_free(t->index);
    memset(t, 0, sizeof *t);
}

static uint64_t ew_kt__slot_hash(const struct ew_keyslot *s)
{
    return ew_kt__hash(s->mn, strlen(s->mn), s->rule, s->code);
}

static void ew_kt__unlink(struct ew_keytab *t, int32_t i)
{
    struct ew_keyslot *s = &t->slots[i];
    if (s->prev >= 0)
        t->slots[s->prev].next = s->next;
    else
        t->head = s->next;
    if (s->next >= 0)
        t->slots[s->next].prev = s->prev;
    else
        t->tail = s->prev;
}

static void ew_kt__push_head(struct ew_keytab *t, int32_t i)
{
    struct ew_keyslot *s = &t->slots[i];
    s->prev = -1;
    s->next = t->head;
    if (t->head >= 0)
        t->slots[t->head].prev = i;
    t->head = i;
    if (t->tail < 0)
        t->tail = i;
}

/* Removes slot i from the index, shifting back the entries of its probe run. */
static void ew_kt__unindex(struct ew_keytab *t, int32_t slot)
{
    size_t mask = t->nindex - 1, i = (size_t)ew_kt__slot_hash(&t->slots[slot]) & mask;
    while (t->index[i] != (uint32_t)slot + 1)
        i = (i + 1) & mask;
    for (size_t j = (i + 1) & mask; t->index[j]; j = (j + 1) & mask) {
        size_t home = (size_t)ew_kt__slot_hash(&t->slots[t->index[j] - 1]) & mask;
        /* move j into the hole at i unless its home lies cyclically in (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            t->index[i] = t->index[j];
            i = j;
        }
    }
    t->index[i] = 0;
}

struct ew_keyslot *ew_keytab_get(struct ew_keytab *t, const char *mn, size_t mnlen,
                                 uint32_t rule, uint64_t code, bool *created)
{
    size_t mask = t->nindex - 1, i = (size_t)ew_kt__hash(mn, mnlen, rule, code) & mask;
    for (uint32_t v; (v = t->index[i]) != 0; i = (i + 1) & mask) {
        struct ew_keyslot *s = &t->slots[v - 1];
        if (s->rule == rule && s->code == code && !strncmp(s->mn, mn, mnlen) && !s->mn[mnlen]) {
            if (t->head != (int32_t)(v - 1)) {
                ew_kt__unlink(t, (int32_t)(v - 1));
                ew_kt__push_head(t, (int32_t)(v - 1));
            }
            *created = false;
            return s;
        }
    }
    int32_t slot;
    if (t->used < t->cap) {
        slot = (int32_t)t->used++;
    } else { /* full: the least recently used key goes */
        slot = t->tail;
        ew_kt__unlink(t, slot);
        ew_kt__unindex(t, slot);
        t->evictions++;
        i = (size_t)ew_kt__hash(mn, mnlen, rule, code) & mask;
        while (t->index[i])
            i = (i + 1) & mask;
    }
    struct ew_keyslot *s = &t->slots[slot];
    memset(s, 0, sizeof *s);
    memcpy(s->mn, mn, mnlen);
    s->rule = rule;
    s->code = code;
    s->life.level = s->life.cand = -1;
    t->index[i] = (uint32_t)slot + 1;
    ew_kt__push_head(t, slot);
    *created = true;
    return s;
}
