/*
 * ew_registry.h - what the e-enterprise platform says about each monitoring site: whose it
 * is, and the permitted limits per pollutant (outlet.upsert events, CONTRACT.md). Later events
 * win: an upsert replaces everything known about its MN.
 *
 * Ownership: the registry copies what it is given. Pointers returned by ew_registry_find are
 * borrowed and valid until the next upsert or free.
 */
#ifndef EW_REGISTRY_H
#define EW_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

/* One pollutant's permitted limits; NAN where the permit sets none. */
struct ew_limit {
    uint64_t code; /* 2017 code packed with ew_pollutant_pack */
    double rtd, hour, day;
    const char *unit; /* may be NULL */
};

struct ew_outlet {
    const char *mn;
    const char *st;
    const char *enterprise_id;
    const char *enterprise_name; /* may be NULL */
    const char *outlet_id;       /* may be NULL */
    double o2_ref;               /* NAN when not given */
    size_t nlimits;
    const struct ew_limit *limits;
    size_t ntags; /* labels rules may select on ("key-unit", "district-yuecheng") */
    const char *const *tags;
};

struct ew_registry;

/* New registry (free with ew_registry_free), or NULL when out of memory. */
struct ew_registry *ew_registry_new(void);
void ew_registry_free(struct ew_registry *reg);

/* Copies spec in, replacing what was known for spec->mn. Returns 0, EW_EINVAL (no MN or
 * enterprise) or EW_ENOMEM (the registry is then unchanged). */
int ew_registry_upsert(struct ew_registry *reg, const struct ew_outlet *spec);

/* The site's entry, or NULL. Borrowed until the next upsert. */
const struct ew_outlet *ew_registry_find(const struct ew_registry *reg, const char *mn);

/* The limits of one pollutant of an outlet, or NULL. */
const struct ew_limit *ew_outlet_limit(const struct ew_outlet *o, uint64_t code);

size_t ew_registry_count(const struct ew_registry *reg);

/* Changes whenever an outlet is added or replaced (never 0): an outlet pointer found under one
 * generation is valid as long as the generation is the same. */
uint64_t ew_registry_generation(const struct ew_registry *reg);

#endif
