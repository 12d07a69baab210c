/*
 * ew_registry.c - the site registry: an open-addressing table of MN -> outlet, each outlet one
 * allocation holding its strings, limits and tags (so replacing or freeing it is one call).
 *
 * Invariant: slots holds every entry exactly once, at or after its hash position with no empty
 * slot between; count * 2 <= nslots.
 */
#include "ew_registry.h"

#include "ew_alloc.h"
#include "ew_error.h"

#include <math.h>
#include <string.h>

struct ew_registry {
    struct ew_outlet **slots;
    size_t nslots; /* a power of two */
    size_t count;
    uint64_t generation; /* changes with every upsert: outlets found before may be gone */
};

static uint64_t ew_reg__hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3u;
    return h;
}

struct ew_registry *ew_registry_new(void)
{
    struct ew_registry *reg = ew_calloc(1, sizeof *reg);
    if (!reg)
        return NULL;
    reg->nslots = 64;
    reg->slots = ew_calloc(reg->nslots, sizeof *reg->slots);
    if (!reg->slots) {
        ew_free(reg);
        return NULL;
    }
    return reg;
}

void ew_registry_free(struct ew_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->nslots; i++)
        ew_free(reg->slots[i]);
    ew_free(reg->slots);
    ew_free(reg);
}

static size_t ew_reg__pos(const struct ew_registry *reg, const char *mn)
{
    size_t mask = reg->nslots - 1, i = (size_t)ew_reg__hash(mn) & mask;
    while (reg->slots[i] && strcmp(reg->slots[i]->mn, mn))
        i = (i + 1) & mask;
    return i;
}

const struct ew_outlet *ew_registry_find(const struct ew_registry *reg, const char *mn)
{
    return reg->slots[ew_reg__pos(reg, mn)];
}

uint64_t ew_registry_generation(const struct ew_registry *reg)
{
    return reg->generation + 1; /* never 0: 0 means "not looked up" to those who cache */
}

size_t ew_registry_count(const struct ew_registry *reg)
{
    return reg->count;
}

const struct ew_limit *ew_outlet_limit(const struct ew_outlet *o, uint64_t code)
{
    for (size_t i = 0; o && i < o->nlimits; i++)
        if (o->limits[i].code == code)
            return &o->limits[i];
    return NULL;
}

/* One block: the struct, its limits, then every string. */
static struct ew_outlet *ew_reg__copy(const struct ew_outlet *s)
{
    const char *strs[] = {s->mn, s->st, s->enterprise_id, s->enterprise_name, s->outlet_id};
    size_t need =
        sizeof(struct ew_outlet) + s->nlimits * sizeof(struct ew_limit) + s->ntags * sizeof(char *);
    for (size_t i = 0; i < 5; i++)
        need += strs[i] ? strlen(strs[i]) + 1 : 0;
    for (size_t i = 0; i < s->nlimits; i++)
        need += s->limits[i].unit ? strlen(s->limits[i].unit) + 1 : 0;
    for (size_t i = 0; i < s->ntags; i++)
        need += strlen(s->tags[i]) + 1;
    struct ew_outlet *o = ew_malloc(need);
    if (!o)
        return NULL;
    struct ew_limit *lim = (struct ew_limit *)(o + 1);
    const char **tags = (const char **)(lim + s->nlimits);
    char *p = (char *)(tags + s->ntags);
    const char **dst[] = {&o->mn, &o->st, &o->enterprise_id, &o->enterprise_name, &o->outlet_id};
    for (size_t i = 0; i < 5; i++) {
        *dst[i] = NULL;
        if (strs[i]) {
            size_t n = strlen(strs[i]) + 1;
            memcpy(p, strs[i], n);
            *dst[i] = p;
            p += n;
        }
    }
    for (size_t i = 0; i < s->nlimits; i++) {
        lim[i] = s->limits[i];
        if (s->limits[i].unit) {
            size_t n = strlen(s->limits[i].unit) + 1;
            memcpy(p, s->limits[i].unit, n);
            lim[i].unit = p;
            p += n;
        }
    }
    for (size_t i = 0; i < s->ntags; i++) {
        size_t n = strlen(s->tags[i]) + 1;
        memcpy(p, s->tags[i], n);
        tags[i] = p;
        p += n;
    }
    o->o2_ref = s->o2_ref;
    o->nlimits = s->nlimits;
    o->limits = lim;
    o->ntags = s->ntags;
    o->tags = tags;
    return o;
}

static int ew_reg__grow(struct ew_registry *reg)
{
    size_t n = reg->nslots * 2;
    struct ew_outlet **slots = ew_calloc(n, sizeof *slots);
    if (!slots)
        return EW_ENOMEM;
    struct ew_outlet **old = reg->slots;
    size_t oldn = reg->nslots;
    reg->slots = slots;
    reg->nslots = n;
    for (size_t i = 0; i < oldn; i++)
        if (old[i])
            reg->slots[ew_reg__pos(reg, old[i]->mn)] = old[i];
    ew_free(old);
    return 0;
}

int ew_registry_upsert(struct ew_registry *reg, const struct ew_outlet *spec)
{
    if (!spec->mn || !*spec->mn || !spec->enterprise_id || !*spec->enterprise_id)
        return EW_EINVAL;
    if ((reg->count + 1) * 2 > reg->nslots && ew_reg__grow(reg))
        return EW_ENOMEM;
    struct ew_outlet *o = ew_reg__copy(spec);
    if (!o)
        return EW_ENOMEM;
    size_t i = ew_reg__pos(reg, spec->mn);
    if (reg->slots[i])
        ew_free(reg->slots[i]);
    else
        reg->count++;
    reg->slots[i] = o;
    reg->generation++;
    return 0;
}
