/*
 * ew_registry.c - the site registry: an open-addressing table of MN -> outlet, each outlet one
 * allocation holding its strings, limits and tags (so replacing or freeing it is one call).
 *
 * Invariant: slots holds every entry exactly once, at or after its hash position with no empty
 * slot between; count * 2 <= nslots.
 */
#include "ew_registry.h"

#include "ew_alloc.h"
#include "ew_hash.h"
#include "ew_error.h"
#include "ew_registry_int.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* An outlet as the registry holds it: the outlet, then what the e-enterprise tables say of it
 * (looked up again only when they change), then its limits, tags and strings. */
struct ew_reg_outlet {
    struct ew_outlet o; /* first: an outlet the registry handed out is one of these */
    struct ew_outlet_facts facts;
};

struct ew_registry {
    struct ew_outlet **slots;
    size_t nslots; /* a power of two */
    size_t count;
    uint64_t generation;  /* changes with every upsert: outlets found before may be gone */
    struct ew_bags *bags; /* facilities, plans, declarations, deadlines, warnings */
};

struct ew_registry *ew_registry_new(void)
{
    struct ew_registry *reg = ew_calloc(1, sizeof *reg);
    if (!reg)
        return NULL;
    reg->nslots = 64;
    reg->slots = ew_calloc(reg->nslots, sizeof *reg->slots);
    reg->bags = ew_bags_new();
    if (!reg->slots || !reg->bags) {
        ew_free(reg->slots);
        ew_bags_free(reg->bags);
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
    ew_bags_free(reg->bags);
    ew_free(reg);
}

static size_t ew_reg__pos(const struct ew_registry *reg, const char *mn)
{
    size_t mask = reg->nslots - 1, i = (size_t)ew_str_hash(mn) & mask;
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

void ew_registry_each(const struct ew_registry *reg,
                      void (*fn)(void *ctx, const struct ew_outlet *o), void *ctx)
{
    for (size_t i = 0; i < reg->nslots; i++)
        if (reg->slots[i])
            fn(ctx, reg->slots[i]);
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
    const char *strs[] = {s->mn,        s->st,    s->enterprise_id, s->enterprise_name,
                          s->outlet_id, s->region};
    size_t need = sizeof(struct ew_reg_outlet) + s->nlimits * sizeof(struct ew_limit) +
                  s->ntags * sizeof(char *);
    for (size_t i = 0; i < 6; i++)
        need += strs[i] ? strlen(strs[i]) + 1 : 0;
    for (size_t i = 0; i < s->nlimits; i++)
        need += s->limits[i].unit ? strlen(s->limits[i].unit) + 1 : 0;
    for (size_t i = 0; i < s->ntags; i++)
        need += strlen(s->tags[i]) + 1;
    struct ew_reg_outlet *ro = ew_malloc(need);
    if (!ro)
        return NULL;
    ro->facts.version = 0; /* not looked up */
    struct ew_outlet *o = &ro->o;
    struct ew_limit *lim = (struct ew_limit *)(ro + 1);
    const char **tags = (const char **)(lim + s->nlimits);
    char *p = (char *)(tags + s->ntags);
    const char **dst[] = {&o->mn,        &o->st,    &o->enterprise_id, &o->enterprise_name,
                          &o->outlet_id, &o->region};
    for (size_t i = 0; i < 6; i++) {
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
    o->lon = s->lon;
    o->lat = s->lat;
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
    if (ew_bags_outlet(reg->bags, spec->enterprise_id, spec->mn))
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

/* ---- the rest of what the platform says (ew_enterprise.c) ---- */

int ew_registry_facility(struct ew_registry *reg, const char *mn, const struct ew_facility *f)
{
    return ew_bags_facility(reg->bags, mn, f);
}

int ew_registry_plan(struct ew_registry *reg, const char *mn, const struct ew_emergency *p)
{
    return ew_bags_plan(reg->bags, mn, p);
}

int ew_registry_declare(struct ew_registry *reg, const char *enterprise_id,
                        const struct ew_declaration *d)
{
    return ew_bags_declare(reg->bags, enterprise_id, d);
}

int ew_registry_deadline(struct ew_registry *reg, const char *enterprise_id,
                         const struct ew_deadline *d)
{
    return ew_bags_deadline(reg->bags, enterprise_id, d);
}

int ew_registry_warning(struct ew_registry *reg, const char *region, const struct ew_warning *w)
{
    return ew_bags_warning(reg->bags, region, w);
}

int ew_registry_respond(struct ew_registry *reg, const struct ew_response *r)
{
    return ew_bags_respond(reg->bags, r);
}

const struct ew_response *ew_registry_responses(const struct ew_registry *reg, const char *fp,
                                                size_t *n)
{
    return ew_bags_responses(reg->bags, fp, n);
}

const struct ew_response *ew_registry_last_response(const struct ew_registry *reg, uint64_t *count)
{
    return ew_bags_last_response(reg->bags, count);
}

const struct ew_facility *ew_registry_facilities(const struct ew_registry *reg, const char *mn,
                                                 size_t *n)
{
    return ew_bags_facilities(reg->bags, mn, n);
}

const struct ew_emergency *ew_registry_plans(const struct ew_registry *reg, const char *mn,
                                             size_t *n)
{
    return ew_bags_plans(reg->bags, mn, n);
}

/* The tables' facts of an outlet the registry handed out. The registry is const to its
 * readers; these are a cache of what they would look up, made again when the tables' version
 * moves (every change of them, outlets' anchors included). */
const struct ew_outlet_facts *ew_registry_facts(const struct ew_registry *reg,
                                                const struct ew_outlet *o)
{
    struct ew_outlet_facts *f = &((struct ew_reg_outlet *)(uintptr_t)o)->facts;
    uint64_t version = ew_bags_version(reg->bags) + 1; /* never 0 */
    if (f->version == version)
        return f;
    size_t nfac, nplan, ndecl, ndl, nwarn = 0;
    f->fac = ew_bags_facilities(reg->bags, o->mn, &nfac);
    f->plan = ew_bags_plans(reg->bags, o->mn, &nplan);
    f->decl = ew_bags_declarations(reg->bags, o->enterprise_id, &ndecl);
    f->dl = ew_bags_deadlines(reg->bags, o->enterprise_id, &ndl);
    f->warn = o->region ? ew_bags_warnings(reg->bags, o->region, &nwarn) : NULL;
    f->nfac = nfac, f->nplan = nplan, f->ndecl = ndecl;
    f->ndl = (uint32_t)ndl, f->nwarn = (uint32_t)nwarn;
    f->anchor = ew_bags_is_anchor(reg->bags, o->enterprise_id, o->mn);
    f->listed = ew_bags_on_list(reg->bags, o->enterprise_id);
    f->version = version;
    return f;
}

const struct ew_declaration *ew_registry_declared(const struct ew_registry *reg,
                                                  const struct ew_outlet *o, int64_t t,
                                                  unsigned kinds)
{
    if (!o)
        return NULL;
    const struct ew_outlet_facts *f = ew_registry_facts(reg, o);
    const struct ew_declaration *d = f->decl;
    for (size_t i = 0; i < f->ndecl; i++)
        if (((kinds >> d[i].kind) & 1) && (!d[i].mn[0] || !strcmp(d[i].mn, o->mn)) &&
            d[i].from <= t && t < d[i].to)
            return &d[i];
    return NULL;
}

int ew_registry_wlevel(const struct ew_registry *reg, const struct ew_outlet *o, int64_t t,
                       int64_t *until)
{
    const struct ew_outlet_facts *f = o ? ew_registry_facts(reg, o) : NULL;
    const struct ew_warning *w = f ? f->warn : NULL;
    size_t n = f ? f->nwarn : 0;
    int level = -1;
    int64_t from = INT64_MIN, next = INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        if (w[i].from <= t && t < w[i].to && w[i].from >= from) {
            level = w[i].level; /* the latest that holds: a level change is a later warning */
            from = w[i].from;
        }
        if (w[i].from > t && w[i].from < next)
            next = w[i].from;
        if (w[i].from <= t && w[i].to > t && w[i].to < next)
            next = w[i].to;
    }
    if (until)
        *until = next;
    return level;
}

const char *ew_registry_anchor(const struct ew_registry *reg, const char *enterprise_id)
{
    return ew_bags_anchor(reg->bags, enterprise_id);
}

bool ew_registry_is_anchor(const struct ew_registry *reg, const struct ew_outlet *o)
{
    return o && ew_registry_facts(reg, o)->anchor;
}

void ew_registry_counts(const struct ew_registry *reg, struct ew_registry_counts *out)
{
    ew_bags_counts(reg->bags, out);
    out->outlets = reg->count;
}

uint64_t ew_registry_version(const struct ew_registry *reg)
{
    return reg->generation + ew_bags_version(reg->bags) + 1;
}
