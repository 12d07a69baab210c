/*
 * ew_sitetab.c - the bounded table of sites and their rule state (see ew_site.h).
 *
 * Sites are allocated once (cap of them); the index is an open-addressing table of site
 * numbers with linear probing, and removal shifts later entries back so that no tombstones
 * accumulate. Every lookup moves its site to the head of the LRU list; when all sites are in
 * use, the tail is evicted and counted, and its key block serves the new site. Within a site,
 * keys are found by a scan of its block: a handful of entries in adjacent memory.
 */
#include "ew_site.h"

#include "ew_alloc.h"

#include <stdint.h>
#include <string.h>

/* Eight bytes at a time (an MN is 24 bytes or so), each word mixed by a multiply. */
static uint64_t ew_st__hash(const char *mn, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, mn + i, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15u;
        h ^= h >> 32;
    }
    uint64_t tail = 0;
    memcpy(&tail, mn + i, n - i);
    h = (h ^ tail) * 0x9E3779B97F4A7C15u;
    return h ^ (h >> 29);
}

int ew_sitetab_init(struct ew_sitetab *t, size_t cap)
{
    memset(t, 0, sizeof *t);
    t->cap = cap;
    t->nindex = 16;
    while (t->nindex < 2 * cap)
        t->nindex *= 2;
    /* on a cache line's start, so that a site's first 64 bytes are one line */
    t->sites_mem = ew_calloc(1, cap * sizeof *t->sites + 63);
    t->sites = (void *)(((uintptr_t)t->sites_mem + 63) & ~(uintptr_t)63);
    t->index = ew_calloc(t->nindex, sizeof *t->index);
    if (!t->sites_mem || !t->index) {
        ew_sitetab_release(t);
        return EW_ENOMEM;
    }
    t->head = t->tail = -1;
    return 0;
}

void ew_sitetab_release(struct ew_sitetab *t)
{
    for (size_t i = 0; t->sites_mem && i < t->cap; i++) { /* removed sites leave blocks past used */
        ew_free(t->sites[i].keys);
        ew_free(t->sites[i].kstates);
    }
    ew_free(t->sites_mem);
    ew_free(t->index);
    memset(t, 0, sizeof *t);
}

static void ew_st__unlink(struct ew_sitetab *t, int32_t i)
{
    struct ew_site *s = &t->sites[i];
    if (s->prev >= 0)
        t->sites[s->prev].next = s->next;
    else
        t->head = s->next;
    if (s->next >= 0)
        t->sites[s->next].prev = s->prev;
    else
        t->tail = s->prev;
}

static void ew_st__push_head(struct ew_sitetab *t, int32_t i)
{
    struct ew_site *s = &t->sites[i];
    s->prev = -1;
    s->next = t->head;
    if (t->head >= 0)
        t->sites[t->head].prev = i;
    t->head = i;
    if (t->tail < 0)
        t->tail = i;
}

/* Removes site n from the index, shifting back the entries of its probe run. */
static void ew_st__unindex(struct ew_sitetab *t, int32_t n)
{
    size_t mask = t->nindex - 1;
    size_t i = (size_t)ew_st__hash(t->sites[n].mn, strlen(t->sites[n].mn)) & mask;
    while (t->index[i] != (uint32_t)n + 1)
        i = (i + 1) & mask;
    for (size_t j = (i + 1) & mask; t->index[j]; j = (j + 1) & mask) {
        const char *mn = t->sites[t->index[j] - 1].mn;
        size_t home = (size_t)ew_st__hash(mn, strlen(mn)) & mask;
        /* move j into the hole at i unless its home lies cyclically in (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            t->index[i] = t->index[j];
            i = j;
        }
    }
    t->index[i] = 0;
}

void ew_sitetab_remove(struct ew_sitetab *t, struct ew_site *site)
{
    int32_t n = (int32_t)(site - t->sites), last = (int32_t)t->used - 1;
    ew_st__unlink(t, n);
    ew_st__unindex(t, n);
    t->keys -= site->nkeys;
    site->nkeys = 0;
    if (site->kstates)
        site->kstates->n = 0;
    site->keybits[0] = site->keybits[1] = 0;
    if (n != last) { /* the last site moves into the hole; the hole's block goes to the end */
        struct ew_site tmp = t->sites[n];
        t->sites[n] = t->sites[last];
        t->sites[last] = tmp;
        struct ew_site *s = &t->sites[n];
        size_t mask = t->nindex - 1, i = (size_t)ew_st__hash(s->mn, strlen(s->mn)) & mask;
        while (t->index[i] != (uint32_t)last + 1)
            i = (i + 1) & mask;
        t->index[i] = (uint32_t)n + 1;
        if (s->prev >= 0)
            t->sites[s->prev].next = n;
        else
            t->head = n;
        if (s->next >= 0)
            t->sites[s->next].prev = n;
        else
            t->tail = n;
    }
    t->used--;
}

/* The site for mn, or NULL; *slot is where its index entry is, or the empty one ending the
 * probe run. */
static struct ew_site *ew_st__find(const struct ew_sitetab *t, const char *mn, size_t mnlen,
                                   size_t *slot)
{
    size_t mask = t->nindex - 1, i = (size_t)ew_st__hash(mn, mnlen) & mask;
    for (uint32_t v; (v = t->index[i]) != 0; i = (i + 1) & mask) {
        struct ew_site *s = &t->sites[v - 1];
        if (!strncmp(s->mn, mn, mnlen) && !s->mn[mnlen]) {
            *slot = i;
            return s;
        }
    }
    *slot = i;
    return NULL;
}

struct ew_site *ew_sitetab_find(const struct ew_sitetab *t, const char *mn, size_t mnlen)
{
    size_t slot;
    return ew_st__find(t, mn, mnlen, &slot);
}

void ew_sitetab_touch(struct ew_sitetab *t, struct ew_site *s)
{
    int32_t v = (int32_t)(s - t->sites);
    if (t->head != v) {
        ew_st__unlink(t, v);
        ew_st__push_head(t, v);
    }
}

struct ew_site *ew_sitetab_get(struct ew_sitetab *t, const char *mn, size_t mnlen, bool *created)
{
    size_t mask = t->nindex - 1, i;
    struct ew_site *found = ew_st__find(t, mn, mnlen, &i);
    if (found) {
        ew_sitetab_touch(t, found);
        *created = false;
        return found;
    }
    int32_t n;
    if (t->used < t->cap) {
        n = (int32_t)t->used++;
    } else { /* full: the site least recently seen goes, its block stays for reuse */
        n = t->tail;
        ew_st__unlink(t, n);
        ew_st__unindex(t, n);
        t->evictions++;
        memcpy(t->evicted, t->sites[n].mn, sizeof t->evicted);
        t->keys -= t->sites[n].nkeys;
        i = (size_t)ew_st__hash(mn, mnlen) & mask;
        while (t->index[i])
            i = (i + 1) & mask;
    }
    struct ew_site *s = &t->sites[n];
    memset(s->mn, 0, sizeof s->mn);
    memcpy(s->mn, mn, mnlen);
    s->nkeys = 0;
    if (s->kstates)
        s->kstates->n = 0;
    s->keybits[0] = s->keybits[1] = 0;
    s->hint = 0;
    s->last_data = INT64_MIN;
    s->heard = INT64_MIN;
    for (size_t k = 0; k < sizeof s->newest / sizeof s->newest[0]; k++)
        s->newest[k] = INT64_MIN;
    s->st[0] = '\0';
    s->silent = 0;
    s->deferred = 0;
    s->dirty = 0;
    s->frozen = 0; /* the engine hands a frozen site over before it is evicted */
    s->looped = 0;
    s->nheld = 0;
    s->heard_base = INT64_MIN;
    s->anchored = INT64_MIN;
    for (size_t k = 0; k < EW_SEEN_N; k++)
        s->seen[k] = (struct ew_seen){INT64_MIN, 0};
    s->agg_closed[0] = s->agg_closed[1] = INT32_MIN;
    s->agg_due = INT64_MAX;
    s->queued = INT64_MAX;
    s->key_due = INT64_MAX;
    s->minute_ms = 0;
    s->outlet = NULL;
    s->outlet_gen = 0;
    t->index[i] = (uint32_t)n + 1;
    ew_st__push_head(t, n);
    *created = true;
    return s;
}

struct ew_sitekey *ew_site_key_find(struct ew_sitetab *t, struct ew_site *s, uint32_t rule,
                                    uint64_t code, bool create)
{
    uint32_t i = s->hint < s->nkeys ? s->hint : 0;
    for (uint32_t n = 0; n < s->nkeys; n++, i = i + 1 < s->nkeys ? i + 1 : 0)
        if (s->keys[i].code == code && s->keys[i].rule == rule) {
            s->hint = i + 1 < s->nkeys ? i + 1 : 0;
            return &s->keys[i];
        }
    if (!create)
        return NULL;
    if (s->nkeys == s->cap) {
        uint32_t cap = s->cap ? s->cap + s->cap / 2 : 8; /* by half: blocks stay close to fit */
        struct ew_sitekey *keys = ew_malloc(cap * sizeof *keys);
        if (!keys)
            return NULL;
        if (s->nkeys)
            memcpy(keys, s->keys, s->nkeys * sizeof *keys);
        ew_free(s->keys);
        t->key_bytes += (cap - s->cap) * sizeof *keys;
        s->keys = keys;
        s->cap = cap;
    }
    struct ew_sitekey *k = &s->keys[s->nkeys++];
    memset(k, 0, sizeof *k);
    k->code = code;
    k->rule = rule;
    k->life.level = k->life.cand = -1;
    k->life.verdict = EW_OBS_CLEAR;
    k->life.covered = INT64_MIN;
    if (rule >= EW_AGG_KEY)
        k->acc[0].period = k->acc[1].period = EW_ACC_EMPTY;
    ew_key_bits_add(s, rule, code);
    t->keys++;
    return k;
}

void ew_site_key_drop(struct ew_sitetab *t, struct ew_site *s, struct ew_sitekey *k)
{
    ew_key_state_drop(s, k);
    *k = s->keys[--s->nkeys];
    t->keys--; /* the hint may now point past the block: ew_site_key_find clamps it */
    ew_site_keybits(s);
}

void ew_site_keybits(struct ew_site *s)
{
    s->keybits[0] = s->keybits[1] = 0;
    for (uint32_t i = 0; i < s->nkeys; i++)
        ew_key_bits_add(s, s->keys[i].rule, s->keys[i].code);
}

void *ew_key_state_new(struct ew_sitetab *t, struct ew_site *s, struct ew_sitekey *k)
{
    struct ew_kstates *b = s->kstates;
    uint32_t n = b ? b->n : 0, was = b ? b->cap : 0;
    if (n == was) { /* by half, as the keys' block */
        uint32_t cap = was ? was + was / 2 + 1 : 4;
        b = ew_malloc(sizeof *b + cap * sizeof b->slot[0]);
        if (!b)
            return NULL;
        if (n)
            memcpy(b->slot, s->kstates->slot, n * sizeof b->slot[0]);
        ew_free(s->kstates);
        t->key_bytes += (cap - was) * sizeof b->slot[0] + (was ? 0 : sizeof *b);
        b->n = n;
        b->cap = cap;
        s->kstates = b;
    }
    k->state = ++b->n;
    return memset(b->slot[k->state - 1], 0, sizeof b->slot[0]);
}

void ew_key_state_drop(struct ew_site *s, struct ew_sitekey *k)
{
    if (!k->state)
        return;
    struct ew_kstates *b = s->kstates;
    uint32_t last = b->n--;
    if (k->state != last) { /* the last one moves into its slot, and its key with it */
        memcpy(b->slot[k->state - 1], b->slot[last - 1], sizeof b->slot[0]);
        for (uint32_t i = 0; i < s->nkeys; i++)
            if (s->keys[i].state == last)
                s->keys[i].state = k->state;
    }
    k->state = 0;
}
