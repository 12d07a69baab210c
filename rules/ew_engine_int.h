/*
 * ew_engine_int.h - the engine's state, shared by the engine (ew_engine.c) and its checkpoints
 * (ew_state.c). Internal to rules/; the public face is ew_rules.h.
 */
#ifndef EW_ENGINE_INT_H
#define EW_ENGINE_INT_H

#include "ew_average.h"
#include "ew_buf.h"
#include "ew_hold.h"
#include "ew_rule.h"
#include "ew_site.h"
#include "ew_timers.h"

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
    uint32_t *deferred; /* sites whose own records came behind the clock: to the next tick */
    size_t ndeferred, capdeferred;
    int64_t lateness;
    int64_t watermark;      /* newest data time seen from any site, INT64_MIN before any */
    uint64_t dropped;       /* states dropped by import or reload: their rule is gone or changed */
    bool averaging;         /* some value rule judges hour or day data: averages are computed */
    struct ew_averages avg; /* with averaging */
    int64_t reorder;        /* reorder_ms: how long records are held; 0 none */
    struct ew_holdq held;   /* records held for event-time order */
    struct ew_record *released; /* the held record being judged (reused) */
    void (*on_released)(void *ctx, uint64_t tag);
    uint64_t tag; /* of the record being judged: its events carry it */
    struct ew_plan plans[EW_PLAN_SLOTS];
};

/* Every site's timer again, from its state (after an import or a reload). */
void ew_engine_schedule_all(struct ew_engine *eng);

#endif
