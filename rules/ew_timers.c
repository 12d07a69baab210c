/*
 * ew_timers.c - the engine's event-time timers (see ew_timers.h): a binary min-heap by due
 * time, then site number, so that timers due together fire in one order whatever the order
 * they were pushed in; and which judgement of a site comes next, queued in it (the engine
 * judges; nothing here calls back into it).
 */
#include "ew_timers.h"

#include "ew_alloc.h"
#include "ew_engine_int.h"
#include "ew_error.h"
#include "ew_life.h"

#include <stdbool.h>
#include <string.h>

static bool ew_timer_before(const struct ew_timer *a, const struct ew_timer *b)
{
    return a->due < b->due || (a->due == b->due && a->site < b->site);
}

int ew_timers_push(struct ew_timers *t, int64_t due, uint32_t site)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        struct ew_timer *h = ew_grow(t->heap, t->n, cap, sizeof *h);
        if (!h)
            return EW_ENOMEM;
        t->heap = h;
        t->cap = cap;
    }
    struct ew_timer x = {due, site};
    size_t i = t->n++;
    while (i && ew_timer_before(&x, &t->heap[(i - 1) / 2])) {
        t->heap[i] = t->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    t->heap[i] = x;
    return 0;
}

const struct ew_timer *ew_timers_top(const struct ew_timers *t)
{
    return t->n ? &t->heap[0] : NULL;
}

void ew_timers_pop(struct ew_timers *t)
{
    if (!t->n)
        return;
    struct ew_timer x = t->heap[--t->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= t->n)
            break;
        if (c + 1 < t->n && ew_timer_before(&t->heap[c + 1], &t->heap[c]))
            c++;
        if (!ew_timer_before(&t->heap[c], &x))
            break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (t->n)
        t->heap[i] = x;
}

void ew_timers_clear(struct ew_timers *t)
{
    t->n = 0;
}

void ew_timers_release(struct ew_timers *t)
{
    ew_free(t->heap);
    *t = (struct ew_timers){0};
}

/* ---- the judgements they stand for ---- */

/* When site-wide rule ri next acts at the site, as ew_site_sweep judges it: the time its
 * silence reaches the next level, or its repeat falls due; INT64_MAX when it does not (the rule
 * does not select the site, or there is no silence to measure). */
static int64_t ew_wide_next(struct ew_engine *eng, struct ew_site *site, uint32_t ri,
                            const struct ew_outlet *outlet)
{
    const struct ew_rule *r = &eng->rules->rules[ri];
    if (!ew_rule_wants_st(r, site->st) || !ew_rule_wants_site(r, outlet))
        return INT64_MAX;
    int64_t since = r->kind->silent_since(site);
    if (since == INT64_MIN)
        return INT64_MAX;
    int64_t base = since + r->kind->silent_offset_ms;
    const struct ew_sitekey *k = ew_site_key(&eng->sites, site, ri, 0, false);
    if (!k || k->life.status != EW_LIFE_FIRING)
        return base + (int64_t)r->levels[0].above.value;
    size_t up = (size_t)k->life.level + 1;
    int64_t next = up < r->nlevels ? base + (int64_t)r->levels[up].above.value : INT64_MAX;
    if (r->repeat_ms && k->life.notified_at + r->repeat_ms < next)
        next = k->life.notified_at + r->repeat_ms;
    return next;
}

int64_t ew_timers__due(struct ew_engine *eng, struct ew_site *site, const struct ew_outlet *outlet)
{
    int64_t due = eng->averaging ? site->agg_due : INT64_MAX;
    if (site->key_due < due)
        due = site->key_due;
    for (size_t w = 0; w < eng->rules->nwide; w++) {
        int64_t t = ew_wide_next(eng, site, eng->rules->wide[w], outlet);
        if (t < due)
            due = t;
    }
    if (eng->rules->nanchor) {
        int64_t t = ew_enterprise_due(eng, site, outlet);
        if (t < due)
            due = t;
    }
    return due;
}

void ew_timers__schedule(struct ew_engine *eng, struct ew_site *site,
                         const struct ew_outlet *outlet, int64_t after)
{
    int64_t due = ew_timers__due(eng, site, outlet);
    if (due == INT64_MAX || due <= after || due >= site->queued)
        return;
    if (ew_timers_push(&eng->timers, due, (uint32_t)(site - eng->sites.sites))) {
        eng->stats.nomem++; /* its next record tries again */
        return;
    }
    site->queued = due;
}

/* After a record of the site: its next judgement is queued, unless it is due by the clock
 * already. Then the record came behind the clock (the site sends data from inside a silence,
 * 补传, faster than the clock moves) and more of it is likely right behind: judging the
 * silence now, between two of its records, would raise and resolve it again for each one. The
 * site waits for the next tick, when what came of it has been judged. */
void ew_timers__schedule_record(struct ew_engine *eng, struct ew_site *site,
                                const struct ew_outlet *outlet)
{
    if (eng->clock == INT64_MIN || ew_timers__due(eng, site, outlet) > eng->clock) {
        ew_timers__schedule(eng, site, outlet, INT64_MIN);
        return;
    }
    if (site->deferred)
        return;
    if (eng->ndeferred == eng->capdeferred) {
        size_t cap = eng->capdeferred ? 2 * eng->capdeferred : 64;
        uint32_t *d = ew_grow(eng->deferred, eng->ndeferred, cap, sizeof *d);
        if (!d) { /* no memory to wait: queued now */
            eng->stats.nomem++;
            ew_timers__schedule(eng, site, outlet, INT64_MIN);
            return;
        }
        eng->deferred = d;
        eng->capdeferred = cap;
    }
    eng->deferred[eng->ndeferred++] = (uint32_t)(site - eng->sites.sites);
    site->deferred = 1;
}

void ew_timers__undefer(struct ew_engine *eng)
{
    for (size_t i = 0; i < eng->ndeferred; i++) {
        if (eng->deferred[i] >= eng->sites.used)
            continue; /* gone: the table shrank */
        struct ew_site *site = &eng->sites.sites[eng->deferred[i]];
        site->deferred = 0;
        ew_timers__schedule(eng, site, ew_site_outlet(eng, site), INT64_MIN);
    }
    eng->ndeferred = 0;
}

struct ew_site *ew_timers__next(struct ew_engine *eng, int64_t limit, int64_t *due)
{
    const struct ew_timer *top;
    while ((top = ew_timers_top(&eng->timers)) && top->due <= limit) {
        struct ew_timer e = *top;
        ew_timers_pop(&eng->timers);
        struct ew_site *site = e.site < eng->sites.used ? &eng->sites.sites[e.site] : NULL;
        if (!site || site->queued != e.due)
            continue; /* stale: the site went, or its timer moved */
        site->queued = INT64_MAX;
        const struct ew_outlet *outlet = ew_site_outlet(eng, site);
        if (ew_timers__due(eng, site, outlet) > e.due) { /* it moved later: queued again */
            ew_timers__schedule(eng, site, outlet, INT64_MIN);
            continue;
        }
        *due = e.due;
        return site;
    }
    return NULL;
}

void ew_timers__key_due(struct ew_engine *eng, struct ew_site *site)
{
    int64_t due = INT64_MAX;
    for (uint32_t i = 0; i < site->nkeys; i++) {
        const struct ew_sitekey *k = &site->keys[i];
        if (k->rule >= EW_AGG_KEY || eng->rules->rules[k->rule].kind->site_wide)
            continue;
        int64_t t = ew_key_next(&eng->rules->rules[k->rule], site, k);
        if (t < due)
            due = t;
    }
    int64_t loops = ew_loops_due(eng, site);
    site->key_due = loops < due ? loops : due;
}

void ew_engine_schedule_all(struct ew_engine *eng)
{
    ew_timers_clear(&eng->timers);
    eng->ndeferred = 0;
    for (size_t i = 0; i < eng->sites.used; i++) {
        struct ew_site *site = &eng->sites.sites[i];
        site->queued = INT64_MAX;
        site->deferred = 0;
        ew_timers__key_due(eng, site);
        ew_timers__schedule(eng, site, ew_site_outlet(eng, site), INT64_MIN);
    }
}
