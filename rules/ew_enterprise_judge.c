/*
 * ew_enterprise_judge.c - what the kinds the e-enterprise registry drives are judged on
 * (ew_kind_enterprise.c has their verdicts; RULES.md, "What the e-enterprise platform says").
 *
 * Per real-time, minute or running-state record, at the sites they concern:
 *   facility_off               each treatment facility measured by the site's logger, against
 *                              the production lines of its enterprise measured by the same one;
 *   declaration_contradiction  the site's flow and production power inside a declared shutdown;
 *   weather_response           each value of the site's emergency plans, against the cut its
 *                              region's warning level asks for at the record's time.
 * On the clock, at each enterprise's anchor site (the smallest MN of its registered outlets: one
 * site of one partition, so one consumer of the group says it, and its state moves with it):
 *   deadline                   each lead time of each deadline of the enterprise, once;
 *   weather_warning            each change of its region's warning level, once, for an
 *                              enterprise on the emergency list.
 * Their keys are the site's like any other: saved with it, moved with its partition, so a
 * reminder is neither repeated nor skipped across restarts, reloads and backlogs.
 */
#include "ew_engine_int.h"
#include "ew_hash.h"
#include "ew_life.h"
#include "ew_render.h"

#include "ew_time.h"

#include <math.h>
#include <string.h>

/* ---- per record ---- */

/* The value of a code in the record that a registry kind reads: its rate (Rtd, Avg) or, with rs,
 * its running state (RS); NULL when the record has none. */
static const struct ew_value *ew_reg_value(const struct ew_record *rec, uint64_t key, bool rs)
{
    const struct ew_value *best = NULL;
    for (size_t i = 0; i < rec->nvalues; i++) {
        const struct ew_value *v = &rec->values[i];
        if (v->type != EW_VT_NUMBER)
            continue;
        uint64_t code =
            v->pollutant ? v->pollutant->key : ew_pollutant_pack(v->code, strlen(v->code));
        if (code != key)
            continue;
        if (rs ? v->field == EW_FIELD_RS : v->field == EW_FIELD_RTD)
            return v;
        if (!rs && v->field == EW_FIELD_AVG)
            best = v;
    }
    return best;
}

/* Judges value v of the record by every rule of kind `kind` among the registry's, with limit
 * and ctx; create: a key the site does not hold may be made. */
static void ew_reg_judge(struct ew_engine *eng, struct ew_site *site, const struct ew_outlet *o,
                         const struct ew_record *rec, const struct ew_kind *kind,
                         const struct ew_value *v, uint64_t code, double limit,
                         const struct ew_recctx *ctx, int64_t span, int64_t now, bool create)
{
    const struct ew_ruleset *set = eng->rules;
    for (size_t i = 0; i < set->nrecord; i++) {
        uint32_t ri = set->record[i];
        const struct ew_rule *r = &set->rules[ri];
        if (r->kind != kind || (!create && !ew_key_bits_may(site, ri, code)) ||
            !ew_rule_wants_st(r, rec->st) || !ew_rule_wants_site(r, o))
            continue; /* (without create, a key the site surely lacks is not looked for) */
        struct ew_judge j = {.r = r,
                             .mn = site->mn,
                             .data_kind = ew_kind_name((enum ew_data_kind)rec->kind),
                             .v = v,
                             .outlet = o,
                             .now = now};
        j.obs.value = v->num;
        j.obs.flag_meaning = v->flag_meaning;
        j.obs.field = v->field;
        j.obs.limit = limit;
        j.obs.time = rec->data_time;
        j.obs.code = code;
        j.obs.ctx = ctx;
        ew_engine__judge(eng, site, &j, ri, rec->kind, span, create);
    }
}

static bool ew_has_kind(const struct ew_ruleset *set, const struct ew_kind *kind)
{
    for (size_t i = 0; i < set->nrecord; i++)
        if (set->rules[set->record[i]].kind == kind)
            return true;
    return false;
}

/* Whether the site may hold a key of a rule of kind `kind` for code (ew_key_bits_may). */
static bool ew_kind_key_may(const struct ew_ruleset *set, const struct ew_site *site,
                            const struct ew_kind *kind, uint64_t code)
{
    for (size_t i = 0; i < set->nrecord; i++)
        if (set->rules[set->record[i]].kind == kind && ew_key_bits_may(site, set->record[i], code))
            return true;
    return false;
}

/* The tables' facts of the site: its outlet's (looked up once per change of the tables), or,
 * for a site the registry does not know, its facilities and plans from the tables into tmp. */
static const struct ew_outlet_facts *ew_site_facts(const struct ew_engine *eng,
                                                   const struct ew_site *site,
                                                   const struct ew_outlet *o,
                                                   struct ew_outlet_facts *tmp)
{
    if (o)
        return ew_registry_facts(eng->reg, o);
    size_t nfac, nplan;
    *tmp = (struct ew_outlet_facts){0};
    tmp->fac = ew_registry_facilities(eng->reg, site->mn, &nfac);
    tmp->plan = ew_registry_plans(eng->reg, site->mn, &nplan);
    tmp->nfac = (uint32_t)nfac, tmp->nplan = (uint32_t)nplan;
    return tmp;
}

/* facility_off: each treatment facility the record measures, against its enterprise's
 * production lines on the same logger (their largest reading over its on_threshold). */
static void ew_reg_facilities(struct ew_engine *eng, struct ew_site *site,
                              const struct ew_outlet *o, const struct ew_record *rec, int64_t span,
                              int64_t now)
{
    struct ew_outlet_facts tmp;
    const struct ew_outlet_facts *facts = ew_site_facts(eng, site, o, &tmp);
    const struct ew_facility *fac = facts->fac;
    size_t n = facts->nfac;
    for (size_t t = 0; t < n; t++) {
        if (fac[t].role != EW_FAC_TREATMENT)
            continue;
        const struct ew_value *tv = ew_reg_value(rec, fac[t].key, true);
        if (!tv)
            tv = ew_reg_value(rec, fac[t].key, false);
        struct ew_recctx ctx = {NAN, NAN, NAN, NAN, 0, false};
        for (size_t p = 0; p < n; p++) {
            if (fac[p].role != EW_FAC_PRODUCTION ||
                strcmp(fac[p].enterprise_id, fac[t].enterprise_id))
                continue;
            const struct ew_value *pv = ew_reg_value(rec, fac[p].key, false);
            bool valid =
                pv && (pv->flag_meaning == EW_FLAG_NORMAL || pv->flag_meaning == EW_FLAG_NONE);
            if (valid &&
                (isnan(ctx.production) || pv->num - fac[p].on > ctx.production - ctx.production_on))
                ctx.production = pv->num, ctx.production_on = fac[p].on;
        }
        if (!tv && isnan(ctx.production))
            continue;
        if (!tv) { /* production alone (its own packet): kept for the treatment's next value */
            ctx.production_only = true;
            tv = ew_reg_value(rec, fac[t].key, false);
            for (size_t p = 0; !tv && p < n; p++)
                if (fac[p].role == EW_FAC_PRODUCTION &&
                    !strcmp(fac[p].enterprise_id, fac[t].enterprise_id))
                    tv = ew_reg_value(rec, fac[p].key, false);
        }
        if (tv)
            ew_reg_judge(eng, site, o, rec, &ew_kind_facility_off, tv, fac[t].key,
                         tv->field == EW_FIELD_RS ? NAN : fac[t].on, &ctx, span, now, true);
    }
}

/* declaration_contradiction: flow and production power inside a declared shutdown; outside one
 * only the keys already held are judged (they clear). */
static void ew_reg_contradiction(struct ew_engine *eng, struct ew_site *site,
                                 const struct ew_outlet *o, const struct ew_record *rec,
                                 int64_t span, int64_t now)
{
    const struct ew_declaration *d =
        ew_registry_declared(eng->reg, o, rec->data_time, 1u << EW_DECL_SHUTDOWN);
    struct ew_recctx ctx = {NAN, NAN, NAN, NAN, d ? d->to : 0, false};
    static const uint64_t flows[] = {EW_CODE_FLOW_AIR, EW_CODE_FLOW_WATER};
    for (size_t i = 0; i < 2; i++) {
        if (!d && !ew_kind_key_may(eng->rules, site, &ew_kind_declaration_contradiction, flows[i]))
            continue; /* no shutdown, and nothing said of one to clear */
        const struct ew_value *v = ew_reg_value(rec, flows[i], false);
        if (v)
            ew_reg_judge(eng, site, o, rec, &ew_kind_declaration_contradiction, v, flows[i], 0,
                         &ctx, span, now, d != NULL);
    }
    struct ew_outlet_facts tmp;
    const struct ew_outlet_facts *facts = ew_site_facts(eng, site, o, &tmp);
    const struct ew_facility *fac = facts->fac;
    size_t n = facts->nfac;
    for (size_t i = 0; i < n; i++) {
        const struct ew_value *v =
            fac[i].role == EW_FAC_PRODUCTION ? ew_reg_value(rec, fac[i].key, false) : NULL;
        if (v)
            ew_reg_judge(eng, site, o, rec, &ew_kind_declaration_contradiction, v, fac[i].key, 0,
                         &ctx, span, now, d != NULL);
    }
}

/* weather_response: each value of the site's emergency plans, against baseline x (1 - cut) at
 * its region's warning level then; without a warning only the keys already held are judged. */
static void ew_reg_weather(struct ew_engine *eng, struct ew_site *site, const struct ew_outlet *o,
                           const struct ew_record *rec, int64_t span, int64_t now)
{
    struct ew_outlet_facts tmp;
    const struct ew_outlet_facts *facts = ew_site_facts(eng, site, o, &tmp);
    const struct ew_emergency *plan = facts->plan;
    size_t n = facts->nplan;
    if (!n)
        return;
    int64_t until;
    int level = ew_registry_wlevel(eng->reg, o, rec->data_time, &until);
    for (size_t i = 0; i < n; i++) {
        const struct ew_value *v = ew_reg_value(rec, plan[i].key, false);
        if (!v)
            continue;
        double cut = level >= 0 ? plan[i].cuts[level] : NAN;
        double limit = isnan(cut) ? NAN : plan[i].baseline * (1 - cut);
        struct ew_recctx ctx = {NAN, NAN, NAN, NAN, until, false};
        ew_reg_judge(eng, site, o, rec, &ew_kind_weather_response, v, plan[i].key, limit, &ctx,
                     span, now, !isnan(limit));
    }
}

void ew_enterprise_record(struct ew_engine *eng, struct ew_site *site, const struct ew_outlet *o,
                          const struct ew_record *rec, int64_t span, int64_t now)
{
    const struct ew_ruleset *set = eng->rules;
    /* real-time, minute and running-state data: a warning, a window, a facility's state change
     * within the hour an hourly average stands for (judged at its start, it would say of a
     * warning's first hour what the hour before it did) */
    if (rec->kind != EW_KIND_REALTIME && rec->kind != EW_KIND_MINUTE && rec->kind != EW_KIND_STATE)
        return;
    if (ew_has_kind(set, &ew_kind_facility_off))
        ew_reg_facilities(eng, site, o, rec, span, now);
    if (o && ew_has_kind(set, &ew_kind_declaration_contradiction))
        ew_reg_contradiction(eng, site, o, rec, span, now);
    if (ew_has_kind(set, &ew_kind_weather_response))
        ew_reg_weather(eng, site, o, rec, span, now);
}

/* ---- at the anchor, on the clock ---- */

/* The key of an anchor rule's subject (a deadline's id, a region). */
static uint64_t ew_subject_code(const char *subject)
{
    return ew_str_hash(subject) | 1; /* never 0: a silence's key */
}

/* A deadline's level i falls due at this time. */
static int64_t ew_lead_time(const struct ew_rule *r, const struct ew_deadline *d, size_t i)
{
    return d->due + (int64_t)r->levels[i].above.value;
}

static const char *ew_deadline_evidence(struct ew_buf *b, const struct ew_rule *r,
                                        const char *reason, const struct ew_deadline *d)
{
    (void)r;
    ew_buf_clear(b);
    ew_buf_adds(b, "{\"reason\":");
    ew_buf_json_str(b, reason);
    ew_buf_adds(b, ",\"deadline_id\":");
    ew_buf_json_str(b, d->deadline_id);
    ew_buf_adds(b, ",\"deadline_kind\":");
    ew_buf_json_str(b, d->kind);
    if (d->title[0]) {
        ew_buf_adds(b, ",\"title\":");
        ew_buf_json_str(b, d->title);
    }
    ew_buf_adds(b, ",\"due\":");
    ew_buf_json_time(b, d->due);
    ew_buf_addc(b, '}');
    return b->err ? NULL : b->data;
}

/* One deadline at the anchor as of ref, by rule ri. */
static void ew_judge_deadline(struct ew_engine *eng, struct ew_site *site,
                              const struct ew_outlet *o, uint32_t ri, const struct ew_deadline *d,
                              int64_t ref, int64_t now)
{
    const struct ew_rule *r = &eng->rules->rules[ri];
    uint64_t code = ew_subject_code(d->deadline_id);
    struct ew_sitekey *k = ew_site_key(&eng->sites, site, ri, code, false);
    struct ew_judge j = {.r = r,
                         .mn = site->mn,
                         .outlet = o,
                         .now = now,
                         .subject = d->deadline_id,
                         .title = d->title,
                         .last_data = d->due};
    j.obs.limit = NAN;
    if (d->announced != INT64_MIN && ref < d->announced)
        return;              /* not known yet at this time of the data */
    if (d->done_at <= ref) { /* met: what was said of it is closed, once */
        if (k && k->life.status == EW_LIFE_FIRING) {
            int level = k->life.level;
            j.obs.time = d->done_at > k->life.notified_at ? d->done_at : k->life.notified_at;
            ew_judge_key(&j, &k->life);
            j.life = NULL;
            ew_site_key_drop(&eng->sites, site, k);
            ew_emit(eng, &j, EW_AEV_RESOLVED, level,
                    ew_deadline_evidence(&eng->evidence, r, "done", d));
        }
        return;
    }
    int level = -1;
    for (size_t i = 0; i < r->nlevels; i++)
        if (ew_lead_time(r, d, i) <= ref)
            level = (int)i;
    int told = k && k->life.status == EW_LIFE_FIRING ? k->life.level : -1;
    if (level <= told)
        return;
    if (!k && !(k = ew_site_key(&eng->sites, site, ri, code, true))) {
        eng->stats.nomem++;
        return;
    }
    for (int i = told + 1; i <= level; i++) {
        int64_t at = ew_lead_time(r, d, (size_t)i);
        /* lead times that passed before the deadline was known are one reminder, when it came */
        if (d->announced != INT64_MIN && i < level &&
            ew_lead_time(r, d, (size_t)i + 1) <= d->announced)
            continue;
        if (d->announced != INT64_MIN && at < d->announced)
            at = d->announced;
        ew_judge_key(&j, &k->life);
        k->life.status = EW_LIFE_FIRING;
        k->life.level = (int8_t)i;
        if (j.fresh)
            k->life.since = at;
        k->life.notified_at = at;
        j.obs.time = at;
        ew_emit(eng, &j, ew_life_fire_event(r), i,
                ew_deadline_evidence(&eng->evidence, r, r->levels[i].name, d));
    }
}

static const char *const ew_colours[EW_WL_COUNT] = {"blue", "yellow", "orange", "red"};

static const char *ew_warning_evidence(struct ew_buf *b, const char *reason, const char *region,
                                       int level, int64_t since)
{
    ew_buf_clear(b);
    ew_buf_adds(b, "{\"reason\":");
    ew_buf_json_str(b, reason);
    ew_buf_adds(b, ",\"region\":");
    ew_buf_json_str(b, region);
    ew_buf_adds(b, ",\"level\":");
    ew_buf_json_str(b, level >= 0 ? ew_colours[level] : "none");
    ew_buf_adds(b, ",\"since\":");
    ew_buf_json_time(b, since);
    ew_buf_addc(b, '}');
    return b->err ? NULL : b->data;
}

/* The time the warning level of o's district at ref began: the latest change at or before it. */
static int64_t ew_level_since(const struct ew_registry *reg, const struct ew_outlet *o, int64_t ref)
{
    const struct ew_outlet_facts *f = ew_registry_facts(reg, o);
    const struct ew_warning *w = f->warn;
    size_t n = f->nwarn;
    int64_t since = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        if (w[i].from <= ref && w[i].from > since)
            since = w[i].from;
        if (w[i].to <= ref && w[i].to > since)
            since = w[i].to;
    }
    return since;
}

/* The region's warning at the anchor of an enterprise on the emergency list, by rule ri. */
static void ew_judge_warning(struct ew_engine *eng, struct ew_site *site, const struct ew_outlet *o,
                             uint32_t ri, int64_t ref, int64_t now)
{
    const struct ew_rule *r = &eng->rules->rules[ri];
    int wl = ew_registry_wlevel(eng->reg, o, ref, NULL), level = -1;
    for (size_t i = 0; i < r->nlevels; i++)
        if ((int)r->levels[i].above.value == wl)
            level = (int)i;
    uint64_t code = ew_subject_code(o->region);
    struct ew_sitekey *k = ew_site_key(&eng->sites, site, ri, code, level >= 0);
    if (k && ref < k->life.since)
        return; /* judged as of a later time already (before a restore: anchored is not kept) */
    int told = k && k->life.status == EW_LIFE_FIRING ? k->life.level : -1;
    if (level == told || !k) {
        eng->stats.nomem += !k && level >= 0;
        return;
    }
    int64_t since = ew_level_since(eng->reg, o, ref);
    struct ew_judge j = {
        .r = r, .mn = site->mn, .outlet = o, .now = now, .subject = o->region, .last_data = since};
    j.obs.limit = NAN;
    j.obs.time = since;
    ew_judge_key(&j, &k->life);
    if (level < 0) { /* lifted, or at a level the rule does not tell: the key stays, idle,
                      * with the time it was told (judging the region again from a restored
                      * state changes nothing) */
        int was = k->life.level;
        j.life = NULL;
        ew_life_idle(&k->life);
        k->life.since = k->life.notified_at = since;
        ew_emit(eng, &j, EW_AEV_RESOLVED, was,
                ew_warning_evidence(&eng->evidence, "warning lifted", o->region, wl, since));
        return;
    }
    k->life.status = EW_LIFE_FIRING;
    k->life.level = (int8_t)level;
    k->life.since = k->life.notified_at = since;
    ew_emit(eng, &j, ew_life_fire_event(r), level,
            ew_warning_evidence(&eng->evidence, r->levels[level].name, o->region, wl, since));
}

static bool ew_anchor_wants(const struct ew_rule *r, const struct ew_site *site,
                            const struct ew_outlet *o)
{
    return ew_rule_wants_st(r, site->st) && ew_rule_wants_site(r, o);
}

/* What an anchor site's judgements read: its enterprise's deadlines, and whether it is on the
 * emergency list with a district to be warned in. False: not an anchor. */
struct ew_anchor {
    const struct ew_deadline *d;
    size_t n;
    const struct ew_warning *w; /* its district's warnings */
    size_t nw;
    bool listed;
};

static bool ew_anchor_of(const struct ew_engine *eng, const struct ew_outlet *o,
                         struct ew_anchor *a)
{
    const struct ew_outlet_facts *f = o ? ew_registry_facts(eng->reg, o) : NULL;
    if (!f || !f->anchor)
        return false;
    a->d = f->dl, a->n = f->ndl;
    a->w = f->warn, a->nw = f->nwarn;
    a->listed = f->listed && o->region;
    return true;
}

int64_t ew_enterprise_due(struct ew_engine *eng, struct ew_site *site, const struct ew_outlet *o)
{
    struct ew_anchor an;
    if (!ew_anchor_of(eng, o, &an))
        return INT64_MAX;
    const struct ew_ruleset *set = eng->rules;
    int64_t due = INT64_MAX;
    const struct ew_deadline *d = an.d;
    size_t n = an.n;
    for (size_t a = 0; a < set->nanchor; a++) {
        uint32_t ri = set->anchor[a];
        const struct ew_rule *r = &set->rules[ri];
        if (!ew_anchor_wants(r, site, o))
            continue;
        if (r->kind == &ew_kind_weather_warning && an.listed) {
            /* the next change of the region's warnings after it was last judged here */
            const struct ew_warning *w = an.w;
            size_t nw = an.nw;
            const struct ew_sitekey *k =
                ew_site_key(&eng->sites, site, ri, ew_subject_code(o->region), false);
            int64_t after = k && k->life.since > site->anchored ? k->life.since : site->anchored;
            for (size_t i = 0; i < nw; i++) {
                int64_t b[2] = {w[i].from, w[i].to};
                for (int e = 0; e < 2; e++)
                    if (b[e] > after && b[e] < due)
                        due = b[e];
            }
            continue;
        }
        for (size_t i = 0; r->kind == &ew_kind_deadline && i < n; i++) {
            const struct ew_sitekey *k =
                ew_site_key(&eng->sites, site, ri, ew_subject_code(d[i].deadline_id), false);
            int told = k && k->life.status == EW_LIFE_FIRING ? k->life.level : -1;
            int64_t t = d[i].done_at != INT64_MAX       ? (k ? d[i].done_at : INT64_MAX)
                        : (size_t)told + 1 < r->nlevels ? ew_lead_time(r, &d[i], (size_t)told + 1)
                                                        : INT64_MAX;
            if (t != INT64_MAX && d[i].announced != INT64_MIN && t < d[i].announced)
                t = d[i].announced; /* judged from when it was known */
            if (t < due)
                due = t;
        }
    }
    return due;
}

void ew_enterprise_sweep(struct ew_engine *eng, struct ew_site *site, const struct ew_outlet *o,
                         int64_t ref, int64_t now)
{
    struct ew_anchor an;
    if (!ew_anchor_of(eng, o, &an))
        return;
    const struct ew_ruleset *set = eng->rules;
    for (size_t a = 0; a < set->nanchor; a++) {
        uint32_t ri = set->anchor[a];
        const struct ew_rule *r = &set->rules[ri];
        if (!ew_anchor_wants(r, site, o))
            continue;
        /* the warnings in time order: a site whose data is behind the clock is also swept
         * as of times before the warnings' last judgement, which would say them again */
        if (r->kind == &ew_kind_weather_warning && an.listed && ref >= site->anchored)
            ew_judge_warning(eng, site, o, ri, ref, now);
        if (r->kind == &ew_kind_weather_warning && ref > site->anchored)
            site->anchored = ref;
        for (size_t i = 0; r->kind == &ew_kind_deadline && i < an.n; i++)
            ew_judge_deadline(eng, site, o, ri, &an.d[i], ref, now);
    }
}
