/*
 * ew_engine_int.h - the engine's state, shared by the engine (ew_engine.c) and its checkpoints
 * (ew_state.c). Internal to rules/; the public face is ew_rules.h.
 */
#ifndef EW_ENGINE_INT_H
#define EW_ENGINE_INT_H

#include <string.h>

#include "ew_average.h"
#include "ew_buf.h"
#include "ew_hold.h"
#include "ew_loop.h"
#include "ew_registry.h"
#include "ew_rule.h"
#include "ew_site.h"
#include "ew_timers.h"

/* Codes the engine reads for themselves, packed as ew_pollutant_pack does: the flows (air,
 * water), which averages weigh by and a declared shutdown forbids, and O2. */
#define EW_CODE_FLOW_AIR   (EW__K('a', '0', '0', '0', '0') | (uint64_t)'0' << 40)
#define EW_CODE_FLOW_WATER (EW__K('w', '0', '0', '0', '0') | (uint64_t)'0' << 40)
#define EW_CODE_O2         (EW__K('a', '1', '9', '0', '0') | (uint64_t)'1' << 40)

/*
 * Which values of a record each value rule judges depends only on the record's data kind and
 * shape: the packed code and field of each numeric value, in order. A plan keeps that answer
 * for a shape (one bit per value for each rule of the kind), so that a fleet sending the same
 * packets over and over works it out once. Shapes with more values, or kinds with more rules,
 * than a plan holds are worked out per record.
 */
#define EW_PLAN_VALUES 32
#define EW_PLAN_RULES  32
#define EW_PLAN_SLOTS  64 /* direct-mapped by the shape's hash */

struct ew_plan {
    uint64_t hash;
    bool used;
    uint8_t kind;
    uint8_t nvalues;
    uint8_t fields[EW_PLAN_VALUES];
    uint64_t codes[EW_PLAN_VALUES];
    uint32_t judges[EW_PLAN_RULES]; /* per rule of the kind, in by_kind order: its values */
};

/* The records held from one input source (a partition), released by its watermark. */
struct ew_holdsrc {
    struct ew_holdq q;
    int64_t mark; /* the source's newest data time, as its caller gave it; INT64_MIN none */
};

struct ew_engine {
    struct ew_ruleset *rules;
    const struct ew_registry *reg;
    ew_alert_sink sink;
    void *ctx;
    enum ew_lang lang;
    struct ew_sitetab sites;
    struct ew_engine_stats stats;
    struct ew_buf msg, evidence; /* reused for every event */
    struct ew_timers timers;     /* every site's next time-driven judgement (ew_timers.h) */
    int64_t clock;      /* the last one timers fired by (ew_engine_advance), INT64_MIN none */
    bool paced;         /* a caller hands the clock in (ew_engine_advance, ew_engine_tick_at):
                           records then catch their site up to their own time */
    uint32_t *deferred; /* sites whose own records came behind the clock: to the next tick */
    size_t ndeferred, capdeferred;
    int64_t lateness;
    int64_t watermark;      /* newest data time seen from any site, INT64_MIN before any */
    uint64_t dropped;       /* states dropped by import or reload: their rule is gone or changed */
    bool averaging;         /* some value rule judges hour or day data: averages are computed */
    struct ew_averages avg; /* with averaging */
    int64_t reorder;        /* reorder_ms: how long records are held; 0 none */
    int64_t hold_max;       /* hold_max_ms: how long at most, by processing time, per source */
    size_t release_max;     /* held records a record taken judges at most, 0 every one due */
    struct ew_holdsrc *src; /* records held for event-time order, by input source: 0 the
                               fleet's (released by its watermark), then the caller's own */
    size_t nsrc;
    struct ew_record *released; /* the held record being judged (reused) */
    void (*on_released)(void *ctx, uint64_t tag);
    uint64_t tag; /* of the record being judged: its events carry it */
    struct ew_plan plans[EW_PLAN_SLOTS];
    struct ew_loops loops;                 /* alerts in the closed loop (ew_loop.h) */
    struct ew_buf loop_evidence, loop_msg; /* reused for their events */
    struct ew_buf dirty, gone; /* MNs (each NUL-ended) of the sites changed, and of those
                                  evicted, since they were last taken; when one could not grow
                                  (err), every site counts as changed */
    size_t ndirty;             /* sites in dirty since the last ew_engine_take_dirty */
    struct ew_buf frozen;      /* MNs of the sites frozen by ew_engine_freeze_dirty (some
                                  handed over since: their flag is down) */
    size_t nfrozen;            /* sites frozen and not handed over yet */
    ew_engine_stage_fn stage;
    void *stage_ctx;
};

/* A frozen site goes to the stage function as it is (ew_engine_freeze_dirty). */
void ew_site__stage(struct ew_engine *eng, struct ew_site *site);

/* The site changed: it goes into the dirty list once. */
static inline void ew_site_dirty(struct ew_engine *eng, struct ew_site *site)
{
    if (site->dirty)
        return;
    if (site->frozen) /* about to change: as it was first */
        ew_site__stage(eng, site);
    site->dirty = 1;
    eng->ndirty++;
    ew_buf_add(&eng->dirty, site->mn, strlen(site->mn) + 1);
}

/* Before ew_sitetab_get: a frozen site it may evict is handed over first. */
static inline void ew_engine__may_evict(struct ew_engine *eng)
{
    struct ew_sitetab *t = &eng->sites;
    if (eng->nfrozen && t->used == t->cap && t->tail >= 0 && t->sites[t->tail].frozen)
        ew_site__stage(eng, &t->sites[t->tail]);
}

/* A site evicted by the last ew_sitetab_get goes into the dirty list: its state is gone. */
static inline void ew_engine__evicted(struct ew_engine *eng)
{
    if (!eng->sites.evicted[0])
        return;
    if (ew_loops_count(&eng->loops))
        ew_loops_drop_site(eng, eng->sites.evicted);
    ew_buf_add(&eng->gone, eng->sites.evicted, strlen(eng->sites.evicted) + 1);
    eng->sites.evicted[0] = '\0';
}

/* The site's registry entry, looked up once per registry change, not per record. */
static inline const struct ew_outlet *ew_site_outlet(struct ew_engine *eng, struct ew_site *site)
{
    uint64_t gen = ew_registry_generation(eng->reg);
    if (site->outlet_gen != gen) {
        site->outlet = ew_registry_find(eng->reg, site->mn);
        site->outlet_gen = gen;
    }
    return site->outlet;
}

/* ---- judging, shared with ew_enterprise_judge.c ---- */

struct ew_judge;
/* Writes one event of judgement j to the sink, unless a declaration explains it (counted). */
void ew_emit(struct ew_engine *eng, const struct ew_judge *j, enum ew_alert_event_type type,
             int level, const char *evidence);
/* Judges j's observation (j->r is rule ri; j->obs, j->v and the rest filled) by the key (ri,
 * j->obs.code) of the site: the kind's verdict moves its lifecycle, the event it calls for is
 * written, the value kept for durations (span: how long it stands for). Without create, a key
 * the site does not hold is not made. */
void ew_engine__judge(struct ew_engine *eng, struct ew_site *site, struct ew_judge *j, uint32_t ri,
                      int data_kind, int64_t span, bool create);

/* ---- the kinds the registry drives (ew_enterprise_judge.c) ---- */

/* Judges a record sent by the site by the registry's per-record kinds (facility_off,
 * declaration_contradiction, weather_response). */
void ew_enterprise_record(struct ew_engine *eng, struct ew_site *site, const struct ew_outlet *o,
                          const struct ew_record *rec, int64_t span, int64_t now);
/* At an enterprise's anchor site: when its deadlines or its region's warning next call for a
 * judgement; INT64_MAX none (or not an anchor). */
int64_t ew_enterprise_due(struct ew_engine *eng, struct ew_site *site, const struct ew_outlet *o);
/* The anchor site's deadlines and warnings as of ref: the reminders, alerts and resolutions that
 * fell due. */
void ew_enterprise_sweep(struct ew_engine *eng, struct ew_site *site, const struct ew_outlet *o,
                         int64_t ref, int64_t now);

/* ---- which time-driven judgement of a site comes next (ew_timers.c) ---- */

/* The site's next time-driven judgement: its averages' closing, a site-wide rule's next level
 * or repeat, or a key's duration (site->key_due, which may be early); INT64_MAX none. */
int64_t ew_timers__due(struct ew_engine *eng, struct ew_site *site, const struct ew_outlet *o);
/* Queues the site's next judgement when it is earlier than the one queued and later than
 * after (a judgement made at `after` never comes back for the same time). */
void ew_timers__schedule(struct ew_engine *eng, struct ew_site *site, const struct ew_outlet *o,
                         int64_t after);
/* After a record of the site: ew_timers__schedule, or deferred to the next tick when the
 * judgement is due by the clock already (the record came behind the clock). */
void ew_timers__schedule_record(struct ew_engine *eng, struct ew_site *site,
                                const struct ew_outlet *o);
/* The deferred sites' judgements, queued (a tick). */
void ew_timers__undefer(struct ew_engine *eng);
/* The next site to judge by limit, with the time to judge it as of (its timer's); NULL when no
 * timer is due by then. Stale entries are dropped and early ones queued again on the way. */
struct ew_site *ew_timers__next(struct ew_engine *eng, int64_t limit, int64_t *due);
/* The site's keys' earliest duration, repeat or calm (ew_life_next), into site->key_due. */
void ew_timers__key_due(struct ew_engine *eng, struct ew_site *site);
/* Every site's timer again, from its state (after an import or a reload). */
void ew_engine_schedule_all(struct ew_engine *eng);

#endif
