/*
 * ew_owners.c - sites by partition (see ew_owners.h). Slots are empty when their MN is "";
 * the table grows at half full.
 */
#include "ew_owners.h"

#include "ew_alloc.h"
#include "ew_hash.h"

#include <stdio.h>
#include <string.h>

struct ew_owner {
    char mn[48];
    int32_t partition;
    int topic;
};

struct ew_owners {
    struct ew_owner *slots; /* cap slots, a power of two; n used */
    size_t n, cap;
};

struct ew_owners *ew_owners_new(void)
{
    return ew_calloc(1, sizeof(struct ew_owners));
}

void ew_owners_free(struct ew_owners *t)
{
    if (t)
        ew_free(t->slots);
    ew_free(t);
}

static struct ew_owner *ew_owner_slot(struct ew_owner *slots, size_t cap, const char *mn)
{
    size_t i = (size_t)ew_str_hash(mn) & (cap - 1);
    while (slots[i].mn[0] && strcmp(slots[i].mn, mn))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

/* The table's sites but those of (topic, partition), into a new block of cap slots. */
static struct ew_owner *ew_owners_copy(const struct ew_owners *t, size_t cap, int topic,
                                       int32_t partition, size_t *kept)
{
    struct ew_owner *slots = ew_calloc(cap, sizeof *slots);
    if (!slots)
        return NULL;
    *kept = 0;
    for (size_t i = 0; i < t->cap; i++) {
        const struct ew_owner *o = &t->slots[i];
        if (o->mn[0] && !(o->topic == topic && o->partition == partition)) {
            *ew_owner_slot(slots, cap, o->mn) = *o;
            (*kept)++;
        }
    }
    return slots;
}

int ew_owners_note(struct ew_owners *t, const char *mn, int topic, int32_t partition)
{
    if (!*mn || strlen(mn) >= sizeof t->slots[0].mn)
        return -1;
    if ((t->n + 1) * 2 > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024, kept;
        struct ew_owner *slots = ew_owners_copy(t, cap, -1, -1, &kept);
        if (!slots)
            return -1;
        ew_free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    struct ew_owner *o = ew_owner_slot(t->slots, t->cap, mn);
    if (!o->mn[0]) {
        snprintf(o->mn, sizeof o->mn, "%s", mn);
        t->n++;
    }
    o->topic = topic;
    o->partition = partition;
    return 0;
}

size_t ew_owners_drop(struct ew_owners *t, int topic, int32_t partition,
                      void (*fn)(void *ctx, const char *mn), void *ctx)
{
    size_t kept;
    struct ew_owner *slots = t->cap ? ew_owners_copy(t, t->cap, topic, partition, &kept) : NULL;
    if (!slots)
        return 0;
    size_t dropped = 0;
    for (size_t i = 0; i < t->cap; i++) {
        const struct ew_owner *o = &t->slots[i];
        if (o->mn[0] && o->topic == topic && o->partition == partition) {
            dropped++;
            if (fn)
                fn(ctx, o->mn);
        }
    }
    ew_free(t->slots);
    t->slots = slots;
    t->n = kept;
    return dropped;
}

bool ew_owners_find(const struct ew_owners *t, const char *mn, int *topic, int32_t *partition)
{
    if (!t->cap || !*mn)
        return false;
    const struct ew_owner *o = ew_owner_slot(t->slots, t->cap, mn);
    if (!o->mn[0])
        return false;
    *topic = o->topic;
    *partition = o->partition;
    return true;
}

size_t ew_owners_count(const struct ew_owners *t)
{
    return t->n;
}
