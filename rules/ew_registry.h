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

#include <stdbool.h>
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
    const char *region; /* district code that weather warnings name ("330602"); may be NULL */
    double lon, lat;    /* where the site is (WGS 84 degrees), for maps; NAN when not given */
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

/* Calls fn for every outlet, in no particular order; the registry must not change meanwhile. */
void ew_registry_each(const struct ew_registry *reg,
                      void (*fn)(void *ctx, const struct ew_outlet *o), void *ctx);

/* Changes whenever an outlet is added or replaced (never 0): an outlet pointer found under one
 * generation is valid as long as the generation is the same. */
uint64_t ew_registry_generation(const struct ew_registry *reg);

/* ---- what the e-enterprise platform says beside outlets (ew_enterprise.c) ----
 *
 * Facilities and emergency plans are kept by the MN they are measured at, declarations and
 * deadlines by enterprise, weather warnings by region. Each kind is bounded (EW_REG_MAX_ITEMS
 * items of each): an event beyond it is refused (EW_ETOO_LONG) and the caller reports it.
 * Strings longer than EW_REG_ID_MAX - 1 bytes are refused (EW_EINVAL). Times are epoch ms. */

#define EW_REG_ID_MAX    48
#define EW_REG_MAX_ITEMS 200000

enum ew_facility_role { EW_FAC_PRODUCTION = 0, EW_FAC_TREATMENT };

struct ew_facility {
    char enterprise_id[EW_REG_ID_MAX], facility_id[EW_REG_ID_MAX], code[16];
    uint64_t key; /* the code packed (ew_pollutant_pack): "ele01", "SB1" */
    uint8_t role; /* enum ew_facility_role */
    double on;    /* on_threshold: power above it means the line or facility runs */
};

enum ew_wlevel { EW_WL_BLUE = 0, EW_WL_YELLOW, EW_WL_ORANGE, EW_WL_RED, EW_WL_COUNT };

struct ew_emergency {
    char enterprise_id[EW_REG_ID_MAX];
    uint64_t key; /* the code judged (flow, production power), packed */
    double baseline;
    double cuts[EW_WL_COUNT]; /* share to cut at each level; NAN where the plan sets none */
};

enum ew_decl_kind { EW_DECL_MAINTENANCE = 0, EW_DECL_SHUTDOWN };

struct ew_declaration {
    char mn[EW_REG_ID_MAX]; /* "" : every site of the enterprise */
    uint8_t kind;           /* enum ew_decl_kind */
    int64_t from, to;
};

struct ew_deadline {
    char deadline_id[EW_REG_ID_MAX], kind[EW_REG_ID_MAX], title[96];
    int64_t due;
    int64_t announced; /* when the platform sent it (its message's time), INT64_MIN unknown */
    int64_t done_at;   /* when it was marked done, INT64_MAX not done */
};

struct ew_warning {
    int8_t level; /* enum ew_wlevel, -1 for "none" (a warning lifted) */
    int64_t from, to;
};

/* An enterprise's answer to an alert (a `response` event), kept by the alert's fingerprint: the
 * engine's closed loop reads it when its clock reaches `at` (rules/ew_loop.h). */
#define EW_REG_TEXT_MAX 512
struct ew_response {
    char enterprise_id[EW_REG_ID_MAX];
    char alert_id[64]; /* as sent: the event's id or its fingerprint */
    int64_t at;        /* when it was sent (its message's time) */
    char text[EW_REG_TEXT_MAX];
};

/* Each replaces the item with the same identity (facility: enterprise + facility id, at its MN;
 * plan: MN + code; declaration: enterprise + MN + kind + from; deadline: enterprise + deadline id;
 * warning: region + from). Return 0, EW_EINVAL, EW_ETOO_LONG or EW_ENOMEM. */
int ew_registry_facility(struct ew_registry *reg, const char *mn, const struct ew_facility *f);
int ew_registry_plan(struct ew_registry *reg, const char *mn, const struct ew_emergency *p);
int ew_registry_declare(struct ew_registry *reg, const char *enterprise_id,
                        const struct ew_declaration *d);
/* A deadline; one with status done keeps the earlier one's fields and sets done_at. */
int ew_registry_deadline(struct ew_registry *reg, const char *enterprise_id,
                         const struct ew_deadline *d);
int ew_registry_warning(struct ew_registry *reg, const char *region, const struct ew_warning *w);
/* A response (identity: alert fingerprint + at + text); the alert id's first 16 characters name
 * the fingerprint. */
int ew_registry_respond(struct ew_registry *reg, const struct ew_response *r);

/* The facilities measured at mn (n of them), or NULL. Borrowed until the next change. */
const struct ew_facility *ew_registry_facilities(const struct ew_registry *reg, const char *mn,
                                                 size_t *n);
const struct ew_emergency *ew_registry_plans(const struct ew_registry *reg, const char *mn,
                                             size_t *n);
/* The responses to the alert of fingerprint fp (16 hex digits), in the order they came. */
const struct ew_response *ew_registry_responses(const struct ew_registry *reg, const char *fp,
                                                size_t *n);
/* The last response stored (NULL none) and how many have been (a caller tells a new one). */
const struct ew_response *ew_registry_last_response(const struct ew_registry *reg, uint64_t *count);

/* What the e-enterprise tables say of an outlet: its facilities and emergency plans (by its
 * MN), its enterprise's declarations and deadlines, its district's weather warnings, whether it
 * is the enterprise's anchor and whether the enterprise is on the emergency list (has an
 * emergency plan). Looked up once after each change of the tables and kept with the outlet,
 * where the engine would look them up for every record (a hash and a string compare in a table
 * of a province's enterprises, each). */
struct ew_outlet_facts {
    uint64_t version; /* the tables' version they are of; 0: not looked up */
    const struct ew_facility *fac;
    const struct ew_emergency *plan;
    const struct ew_declaration *decl;
    const struct ew_deadline *dl;
    const struct ew_warning *warn;
    uint32_t nfac, nplan, ndecl, ndl, nwarn;
    bool anchor, listed;
};

/* o: an outlet this registry handed out (ew_registry_find). Borrowed until the next change. */
const struct ew_outlet_facts *ew_registry_facts(const struct ew_registry *reg,
                                                const struct ew_outlet *o);

/* The declaration of kind mask (bit per enum ew_decl_kind) covering the site at time t, or
 * NULL. */
const struct ew_declaration *ew_registry_declared(const struct ew_registry *reg,
                                                  const struct ew_outlet *o, int64_t t,
                                                  unsigned kinds);
/* The warning level of o's district at time t: the warning announced latest among those whose
 * [from, to) holds t; -1 none (also for no outlet, or one without a district). *until gets when
 * that answer may change next (INT64_MAX). */
int ew_registry_wlevel(const struct ew_registry *reg, const struct ew_outlet *o, int64_t t,
                       int64_t *until);
/* Whether mn is its enterprise's anchor: the smallest MN of its registered outlets, the site
 * at which its deadlines and warnings are judged (one site of one partition). */
bool ew_registry_is_anchor(const struct ew_registry *reg, const struct ew_outlet *o);
/* The enterprise's anchor MN, or NULL when none of its outlets is known. */
const char *ew_registry_anchor(const struct ew_registry *reg, const char *enterprise_id);

/* Counts of each kind of item held. */
struct ew_registry_counts {
    size_t outlets, facilities, plans, declarations, deadlines, warnings, responses;
};
void ew_registry_counts(const struct ew_registry *reg, struct ew_registry_counts *out);

/* Changes with every change of anything above (never 0). */
uint64_t ew_registry_version(const struct ew_registry *reg);

#endif
