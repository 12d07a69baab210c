/*
 * ew_engine.c - records and clock ticks in, alert events out (see ew_rules.h).
 *
 * For each record: its site is found in the bounded site table (late records, older than
 * the site's watermark for their data kind by more than the allowed lateness, stop here with
 * EW_ELATE); a site whose silence alert fires hears it resolve; the record's numeric values
 * are worked out once (packed code, the registry's limit, the flow and O2 of the record);
 * then each value rule that selects the record's data kind, system and site judges the
 * values of the fields it names (the first of its list that the record has, per pollutant).
 * Each judgement moves the lifecycle of the key (rule, pollutant) in the site's block
 * (ew_life.h); the events it calls for are rendered (ew_render.h: fingerprint, id, message,
 * evidence) and handed to the sink.
 *
 * Ticks judge the site-wide rules (offline) over a slice of the site table, against the
 * earlier of processing time and the clock: the caller's (ew_engine_tick_at), or the fleet's
 * watermark. Averages computed for sites whose logger does not send them (ew_average.h) are
 * handed back as records when their period closes, and judged here like records sent.
 */
#include "ew_engine_int.h"
#include "ew_life.h"
#include "ew_render.h"

#include "ew_alloc.h"
#include "ew_buf.h"
#include "ew_time.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Judgements made per call at most, so that a clock that jumps (a backlog, a rule repeated every
 * second over a day's silence) cannot hold the loop: the rest come at the next call, the same
 * ones in the same order. A record catches its own site up by at most EW_CATCH_UP_MAX. */
#define EW_FIRE_MAX     4096
#define EW_CATCH_UP_MAX 64
#define EW_KEY_STEPS    8 /* judgements of one key per sweep (a fire, then its calm...) */

struct ew_engine *ew_engine_new(const struct ew_engine_opts *opts, struct ew_ruleset *rules,
                                const struct ew_registry *reg, ew_alert_sink sink, void *ctx)
{
    struct ew_engine *eng = ew_calloc(1, sizeof *eng);
    if (!eng)
        goto err;
    if (ew_sitetab_init(&eng->sites, opts && opts->max_sites ? opts->max_sites : 100000))
        goto err;
    if (ew_ruleset_index(rules))
        goto err;
    eng->rules = rules;
    eng->reg = reg;
    eng->sink = sink;
    eng->ctx = ctx;
    eng->lang = opts ? opts->lang : EW_LANG_ZH;
    eng->lateness = opts && opts->allowed_lateness_ms ? opts->allowed_lateness_ms : 2 * 3600 * 1000;
    eng->watermark = INT64_MIN;
    eng->clock = INT64_MIN;
    eng->dirty = eng->gone = eng->frozen = (struct ew_buf)EW_BUF_INIT;
    int64_t grace = opts ? opts->average_grace_ms : 0;
    eng->avg.grace = grace > 0 && grace < EW_HOUR_MS ? grace : 10 * EW_MINUTE_MS;
    eng->avg.sites = &eng->sites;
    eng->avg.stats = &eng->stats;
    eng->averaging = ew_ruleset_averages(rules);
    eng->avg.rules = rules;
    eng->reorder = opts && opts->reorder_ms > 0 ? opts->reorder_ms : 0;
    eng->hold_max = opts && opts->hold_max_ms > eng->reorder ? opts->hold_max_ms : eng->reorder;
    eng->on_released = opts ? opts->released : NULL;
    if (eng->reorder && !(eng->released = ew_record_new()))
        goto err;
    if (eng->averaging && !(eng->avg.computed = ew_record_new()))
        goto err;
    return eng;
err:
    if (eng) {
        ew_sitetab_release(&eng->sites);
        ew_record_free(eng->avg.computed);
    }
    ew_free(eng);
    ew_ruleset_free(rules);
    return NULL;
}

void ew_engine_free(struct ew_engine *eng)
{
    if (!eng)
        return;
    ew_sitetab_release(&eng->sites);
    ew_ruleset_free(eng->rules);
    ew_buf_release(&eng->msg);
    ew_buf_release(&eng->evidence);
    ew_buf_release(&eng->dirty);
    ew_buf_release(&eng->gone);
    ew_buf_release(&eng->frozen);
    ew_loops_free(&eng->loops);
    ew_buf_release(&eng->loop_evidence);
    ew_buf_release(&eng->loop_msg);
    ew_record_free(eng->avg.computed);
    ew_record_free(eng->released);
    for (size_t i = 0; i < eng->nsrc; i++)
        ew_hold_release(&eng->src[i].q);
    ew_free(eng->src);
    ew_timers_release(&eng->timers);
    ew_free(eng->deferred);
    ew_free(eng);
}

void ew_engine_stats(const struct ew_engine *eng, struct ew_engine_stats *out)
{
    *out = eng->stats;
    out->evictions = eng->sites.evictions;
    out->dropped_keys = eng->dropped;
    out->sites = eng->sites.used;
    out->held = 0;
    for (size_t i = 0; i < eng->nsrc; i++)
        out->held += eng->src[i].q.n;
    out->keys = eng->sites.keys;
    out->loops = ew_loops_count(&eng->loops);
    out->state_bytes = eng->sites.cap * sizeof(struct ew_site) +
                       eng->sites.nindex * sizeof(*eng->sites.index) + eng->sites.key_bytes;
}

bool ew_engine_forget(struct ew_engine *eng, const char *mn)
{
    size_t mnlen = strlen(mn);
    if (mnlen >= EW_MN_MAX)
        return false;
    struct ew_site *site = ew_sitetab_find(&eng->sites, mn, mnlen);
    if (!site)
        return false;
    size_t n = (size_t)(site - eng->sites.sites);
    if (site->looped)
        ew_loops_drop_site(eng, site->mn);
    if (site->frozen) /* it leaves this engine: nothing to hand over */
        site->frozen = 0, eng->nfrozen--;
    ew_sitetab_remove(&eng->sites, site);
    if (n < eng->sites.used) { /* the last site moved into its place: its timer goes with it */
        site->queued = INT64_MAX;
        ew_timers__schedule(eng, site, ew_site_outlet(eng, site), INT64_MIN);
    }
    return true;
}

/* ---- site-wide rules: silence ---- */

/* Whether a declared maintenance or shutdown window explains an event of j (rules/RULES.md,
 * "Declarations"): the kinds it explains, inside a window covering the site at the event's time;
 * flag_persisting only for the flags a stop explains (M, F, D). */
static bool ew_explained(struct ew_engine *eng, const struct ew_judge *j)
{
    if (!j->r->kind->declared || !j->outlet)
        return false;
    if (j->r->kind == &ew_kind_flag_persisting &&
        !(j->v && j->v->flag && strchr("MFD", j->v->flag)))
        return false;
    return ew_registry_declared(eng->reg, j->outlet, j->obs.time,
                                1u << EW_DECL_MAINTENANCE | 1u << EW_DECL_SHUTDOWN) != NULL;
}

void ew_emit(struct ew_engine *eng, const struct ew_judge *j, enum ew_alert_event_type type,
             int level, const char *evidence)
{
    /* an alert a declaration explains is counted, not sent, and so is its end when its firing
     * was not sent; a repeat of one sent before is held back, its end is not */
    bool explained = type != EW_AEV_RESOLVED && ew_explained(eng, j);
    if (j->life && type != EW_AEV_RESOLVED)
        j->life->muted = explained && (j->fresh || j->muted);
    if (explained || (type == EW_AEV_RESOLVED && j->muted)) {
        eng->stats.suppressed++;
        return;
    }
    struct ew_alert_event ev;
    ew_render_event(j, type, level, eng->lang, &eng->msg, &ev);
    ev.evidence = evidence;
    ev.tag = eng->tag;
    /* under a policy, the closed loop follows it (and may hold it: quiet hours) */
    enum ew_loop_verdict loop = j->r->policy ? ew_loop_event(eng, j, &ev) : EW_LOOP_SEND;
    if (loop == EW_LOOP_HOLD)
        return;
    eng->stats.events++;
    eng->sink(eng->ctx, &ev);
    if (loop == EW_LOOP_SEND_END)
        ew_loop_end(eng, ev.fingerprint);
}

/* A record arrived: the site-wide alerts it ends resolve. before: the site's newest data time
 * when the record came (for a computed average, when it was made). */
static void ew_site_heard(struct ew_engine *eng, struct ew_site *site,
                          const struct ew_outlet *outlet, const struct ew_record *rec, int64_t now,
                          bool computed, int64_t before)
{
    for (size_t ri = 0; ri < eng->rules->nrules; ri++) {
        const struct ew_rule *r = &eng->rules->rules[ri];
        if (!r->kind->site_wide)
            continue;
        struct ew_sitekey *k = ew_site_key(&eng->sites, site, (uint32_t)ri, 0, false);
        if (!k || k->life.status != EW_LIFE_FIRING)
            continue;
        const char *why = r->kind->heard(r, &k->life, rec->kind, rec->data_time, computed);
        if (!why)
            continue;
        /* the silence ended, in the site's data time, with this record or the newest the site
         * had sent when it came (not the newest judged: which of its records the reorder window
         * has let through by now depends on the other partitions) */
        int64_t end = rec->data_time > before ? rec->data_time : before;
        if (end < k->life.since)
            end = k->life.since;
        struct ew_judge j = {.r = r,
                             .mn = site->mn,
                             .outlet = outlet,
                             .now = now,
                             .silence = end - k->life.since - r->kind->silent_offset_ms,
                             .last_data = k->life.since};
        j.obs.time = end;
        j.obs.limit = NAN;
        int level = k->life.level;
        site->silent -= site->silent > 0;
        ew_judge_key(&j, &k->life);
        j.life = NULL; /* idle before it is told */
        ew_life_idle(&k->life);
        ew_emit(eng, &j, EW_AEV_RESOLVED, level,
                ew_evidence_silence(&eng->evidence, r, why, j.last_data, j.silence));
    }
}

static void ew_engine_averages(struct ew_engine *eng, struct ew_site *site,
                               const struct ew_outlet *outlet, int64_t ref, int64_t now);

static void ew_site_sweep(struct ew_engine *eng, struct ew_site *site, int64_t ref, int64_t limit,
                          int64_t now);

static void ew_limits_for(const struct ew_limit *lim, enum ew_data_kind kind, double out[4]);

/* Judges key k of the site as of due, on its last value (ew_life_due), as that value's record
 * would have been judged then. Returns true when the key went (idle, of a kind that keeps no
 * idle keys). */
static bool ew_key_due(struct ew_engine *eng, struct ew_site *site, const struct ew_outlet *outlet,
                       struct ew_sitekey *k, int64_t due, int64_t now)
{
    const struct ew_rule *r = &eng->rules->rules[k->rule];
    struct ew_life *l = &k->life;
    void *ks = r->kind->state_size ? ew_key_state_make(&eng->sites, site, k) : NULL;
    if (r->kind->state_size && !ks) {
        eng->stats.nomem++;
        return false;
    }
    /* the key's code names the pollutant when the table has it under that code (a 2005 code
     * the table knows is keyed by its 2017 one), else it is the code as sent */
    const struct ew_pollutant *p = ew_pollutant_find_key(k->code, EW_MEDIUM_OTHER);
    if (p && p->key != k->code)
        p = NULL;
    char code[9] = {0};
    for (int b = 0; b < 8; b++)
        code[b] = (char)(k->code >> (8 * b));
    if (p && l->vsuffix[0]) { /* a family member: e101xx sent as e10103 */
        size_t n = strlen(p->code);
        memcpy(code, p->code, n);
        code[n - 2] = l->vsuffix[0], code[n - 1] = l->vsuffix[1];
    }
    struct ew_value v = {.code = p && !l->vsuffix[0] ? p->code : code,
                         .field_name = ew_field_name((enum ew_field)l->vfield),
                         .pollutant = p,
                         .num = l->value,
                         .field = l->vfield,
                         .type = EW_VT_NUMBER,
                         .flag = l->vflag};
    double lims[4];
    const struct ew_limit *limit = ew_outlet_limit(outlet, k->code);
    ew_limits_for(limit, (enum ew_data_kind)l->vkind, lims);
    struct ew_judge j = {.r = r,
                         .mn = site->mn,
                         .data_kind = ew_kind_name((enum ew_data_kind)l->vkind),
                         .v = &v,
                         .outlet = outlet,
                         .limit = limit,
                         .now = now,
                         .inputs = l->vinputs,
                         .kstate = ks};
    j.obs.value = l->value;
    j.obs.field = l->vfield;
    j.obs.code = k->code;
    j.obs.limit = r->kind->limit ? r->kind->limit(ks) : lims[r->limit_kind];
    j.obs.time = due;
    struct ew_step st;
    ew_judge_key(&j, l);
    bool expired = r->kind->expires && l->verdict >= 0 && due >= r->kind->expires(ks);
    if (expired) { /* its level ended by itself (a window's end): as a clear value then */
        bool fired = ew_life_step(r, l, EW_OBS_CLEAR, due, j.obs.limit, &st);
        l->verdict = EW_OBS_CLEAR;
        if (fired && st.type == EW_AEV_RESOLVED && r->kind->expired)
            st.reason = r->kind->expired;
        if (fired)
            ew_emit(eng, &j, st.type, st.level,
                    ew_evidence_value(&eng->evidence, &j, st.level, st.reason, st.threshold,
                                      st.since, st.held));
    } else if (ew_life_due(r, l, due, j.obs.limit, &st))
        ew_emit(eng, &j, st.type, st.level,
                ew_evidence_value(&eng->evidence, &j, st.level, st.reason, st.threshold, st.since,
                                  st.held));
    if (r->kind->state_size || !ew_life_blank(l))
        return false;
    ew_site_key_drop(&eng->sites, site, k);
    return true;
}

/* The site's keys whose duration, repeat or calm fell due by ref, each judged as of its own due
 * time; then the site's next such time. */
static void ew_site_keys_due(struct ew_engine *eng, struct ew_site *site, int64_t ref, int64_t now)
{
    const struct ew_outlet *outlet = ew_site_outlet(eng, site);
    ew_loops_sweep(eng, site, ref, now); /* what its alerts' loops do by then */
    int n = 0;
    for (uint32_t i = 0; i < site->nkeys;) {
        struct ew_sitekey *k = &site->keys[i];
        int64_t due = INT64_MAX;
        if (k->rule < EW_AGG_KEY && !eng->rules->rules[k->rule].kind->site_wide)
            due = ew_key_next(&eng->rules->rules[k->rule], site, k);
        if (due > ref || n++ == EW_KEY_STEPS) {
            i++, n = 0;
            continue;
        }
        if (ew_key_due(eng, site, outlet, k, due, now))
            n = 0; /* it went: the block's last key moved into its place, judged next */
        /* else judged again: what it does next may be due by ref too */
    }
    ew_timers__key_due(eng, site);
}

/* A record of the site at data time t, newer than any before: the site sent nothing between
 * its last data and t, so its judgements due by t are facts whatever the clock says. They are
 * made now, before the record ends the silence, each as of its time: a backlog consumed faster
 * on the site's partition than on the others raises what the same data raised live. */
static void ew_site_catch_up(struct ew_engine *eng, struct ew_site *site,
                             const struct ew_outlet *outlet, int64_t t, int64_t now)
{
    int64_t due;
    for (int n = 0;
         n < EW_CATCH_UP_MAX && (due = ew_timers__due(eng, site, outlet)) <= t && due <= now; n++) {
        ew_site_sweep(eng, site, due, t, now);
        if (ew_timers__due(eng, site, outlet) <= due)
            break; /* nothing moved it (no memory for a key): the timers try again */
    }
}

/* The site as of time ref (its timer's), the clock being at limit (>= ref): what fell due by ref
 * is judged. Repeats that fell due between ref and limit (a silence the clock jumped over, a
 * site whose data is far behind the others') are folded into one, at the latest of them before
 * the next level: a reminder says the alert still holds, and a thousand at once would say
 * nothing more. */
static void ew_site_sweep(struct ew_engine *eng, struct ew_site *site, int64_t ref, int64_t limit,
                          int64_t now)
{
    const struct ew_outlet *outlet = NULL;
    bool looked = false;
    if (eng->averaging && ref >= site->agg_due)
        ew_engine_averages(eng, site, NULL, ref, now);
    if (ref >= site->key_due)
        ew_site_keys_due(eng, site, ref, now);
    if (eng->rules->nanchor)
        ew_enterprise_sweep(eng, site, ew_site_outlet(eng, site), ref, now);
    for (size_t ri = 0; ri < eng->rules->nrules; ri++) {
        const struct ew_rule *r = &eng->rules->rules[ri];
        if (!r->kind->site_wide || !ew_rule_wants_st(r, site->st))
            continue;
        int64_t since = r->kind->silent_since(site);
        if (since == INT64_MIN || ref <= since + r->kind->silent_offset_ms)
            continue;
        int64_t silence = ref - since - r->kind->silent_offset_ms;
        if ((r->nwho[0] || r->nwho[1] || r->nwho[2]) && !looked)
            outlet = ew_registry_find(eng->reg, site->mn), looked = true;
        if (!ew_rule_wants_site(r, outlet))
            continue;
        int level = -1;
        for (size_t i = 0; i < r->nlevels; i++)
            if ((double)silence >= r->levels[i].above.value)
                level = (int)i;
        if (level < 0)
            continue;
        struct ew_sitekey *k = ew_site_key(&eng->sites, site, (uint32_t)ri, 0, true);
        if (!k) {
            eng->stats.nomem++;
            continue;
        }
        bool repeat = k->life.status == EW_LIFE_FIRING && level <= k->life.level;
        if (repeat && !(r->repeat_ms && ref - k->life.notified_at >= r->repeat_ms))
            continue;
        struct ew_judge was = {0};
        ew_judge_key(&was, &k->life);
        int64_t at = ref; /* a repeat's time */
        if (repeat) {
            level = k->life.level;
            size_t up = (size_t)level + 1;
            int64_t base = since + r->kind->silent_offset_ms,
                    end = up < r->nlevels ? base + (int64_t)r->levels[up].above.value - 1 : limit;
            int64_t last = end < limit ? end : limit;
            if (last > ref)
                at = ref + (last - ref) / r->repeat_ms * r->repeat_ms;
            silence = at - base;
        } else if (k->life.status != EW_LIFE_FIRING && site->silent < UINT8_MAX) {
            site->silent++;
        }
        k->life.status = EW_LIFE_FIRING;
        k->life.level = (int8_t)level;
        k->life.since = since;
        k->life.notified_at =
            repeat ? at : since + r->kind->silent_offset_ms + (int64_t)r->levels[level].above.value;
        if (!looked)
            outlet = ew_registry_find(eng->reg, site->mn), looked = true;
        struct ew_judge j = {.r = r,
                             .mn = site->mn,
                             .outlet = outlet,
                             .now = now,
                             .silence = silence,
                             .last_data = since,
                             .life = &k->life,
                             .muted = was.muted,
                             .fresh = was.fresh};
        /* the event's time is when the silence reached the level (or, repeated, now), in data
         * time */
        j.obs.time = k->life.notified_at;
        j.obs.limit = NAN;
        ew_emit(eng, &j, ew_life_fire_event(r), level,
                ew_evidence_silence(&eng->evidence, r,
                                    repeat ? "still silent" : r->levels[level].name, since,
                                    silence));
    }
}

static size_t ew_release(struct ew_engine *eng, int64_t now, bool all, size_t max);

/* Fires, in due order, every timer due by the earlier of clock and now: each site is judged as
 * of its timer's time, so a silence reaches its level when it did in the data, whenever the
 * clock passes it. */
static size_t ew_engine_fire(struct ew_engine *eng, int64_t clock, int64_t now, size_t max)
{
    if (clock == INT64_MIN || !ew_time_sane(now))
        return 0;
    int64_t limit = clock < now ? clock : now, due;
    /* nothing fires past a record still held for event-time order: it is judged first */
    int64_t held = eng->reorder ? ew_engine_held_oldest(eng) : INT64_MAX;
    if (held < limit)
        limit = held;
    struct ew_site *site;
    size_t n = 0;
    for (; n < max && (site = ew_timers__next(eng, limit, &due)); n++) {
        ew_site_dirty(eng, site);
        ew_site_sweep(eng, site, due, limit, now);
        /* a judgement moves every time it acts on past due: nothing fires twice */
        ew_timers__schedule(eng, site, ew_site_outlet(eng, site), due);
    }
    return n;
}

int ew_engine_advance(struct ew_engine *eng, int64_t clock, int64_t now)
{
    eng->clock = clock; /* as ew_engine_tick_at */
    eng->paced = true;
    ew_engine_fire(eng, clock, now, EW_FIRE_MAX);
    return 0;
}

/* A tick: held records that are due are judged, deferred sites queued, due timers fired. */
static int ew_engine_tick_by(struct ew_engine *eng, int64_t clock, int64_t now)
{
    if (eng->reorder && ew_time_sane(now))
        ew_release(eng, now, false, 0);
    ew_timers__undefer(eng);
    ew_engine_fire(eng, clock, now, EW_FIRE_MAX);
    return 0;
}

int ew_engine_tick(struct ew_engine *eng, int64_t now)
{
    return ew_engine_tick_by(eng, eng->watermark, now);
}

int ew_engine_tick_at(struct ew_engine *eng, int64_t clock, int64_t now)
{
    eng->clock = clock; /* a caller's clock: records catch their site up to their time */
    eng->paced = true;
    return ew_engine_tick_by(eng, clock, now);
}

bool ew_engine_step(struct ew_engine *eng, int64_t clock, int64_t now, size_t max)
{
    eng->clock = clock;
    eng->paced = true;
    size_t released = eng->reorder && ew_time_sane(now) ? ew_release(eng, now, false, max) : 0;
    ew_timers__undefer(eng);
    return released == max || ew_engine_fire(eng, clock, now, max) == max;
}

/* ---- records ---- */

/* A pollutant's limit as each enum ew_limit_kind reads it for data of the given kind (AUTO:
 * the limit of that kind of data); NAN when the site has none. */
static void ew_limits_for(const struct ew_limit *lim, enum ew_data_kind kind, double out[4])
{
    if (!lim) {
        out[EW_LIMIT_AUTO] = out[EW_LIMIT_RTD] = out[EW_LIMIT_HOUR] = out[EW_LIMIT_DAY] = NAN;
        return;
    }
    out[EW_LIMIT_RTD] = lim->rtd;
    out[EW_LIMIT_HOUR] = lim->hour;
    out[EW_LIMIT_DAY] = lim->day;
    out[EW_LIMIT_AUTO] = kind == EW_KIND_DAY    ? lim->day
                         : kind == EW_KIND_HOUR ? lim->hour
                         : isnan(lim->rtd)      ? lim->hour
                                                : lim->rtd;
}

static bool ew_rule_wants_code(const struct ew_rule *r, uint64_t code)
{
    if (!r->ncodes)
        return true;
    for (size_t i = 0; i < r->ncodes; i++)
        if (r->codes[i] == code)
            return true;
    return false;
}

/* What a record offers the rules: its numeric values with their packed codes and the site's
 * limits for them, worked out once per record rather than once per rule. */
struct ew_cand {
    const struct ew_value *v;
    const struct ew_limit *limit;
    uint64_t code;
    uint8_t field;
    uint16_t index;     /* of v in the record */
    uint32_t *fields;   /* bit per field that this pollutant has in the record (shared) */
    const double *lims; /* the limit per enum ew_limit_kind (shared) */
    uint32_t own;       /* the mask, kept by the first value of each pollutant */
    double own_lims[4]; /* the limits, kept by the first value of each pollutant */
};

/* Which of n (<= 32) values r judges, a bit per value: per pollutant, the first of the rule's
 * fields that the record carries, of a pollutant the rule selects. */
static uint32_t ew_rule_takes(const struct ew_rule *r, const struct ew_cand *c, size_t n)
{
    uint32_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (((r->field_mask >> c[i].field) & 1) && !(*c[i].fields & r->better[c[i].field]) &&
            ew_rule_wants_code(r, c[i].code))
            m |= 1u << i;
    return m;
}

/* The plan for the record's shape (struct ew_plan), made on a miss; NULL when the shape or
 * the kind is too large for one. */
static const struct ew_plan *ew_plan_get(struct ew_engine *eng, size_t kind,
                                         const struct ew_cand *cands, size_t ncands)
{
    const struct ew_ruleset *set = eng->rules;
    if (ncands > EW_PLAN_VALUES || set->nby_kind[kind] > EW_PLAN_RULES)
        return NULL;
    uint64_t h = kind * 0x9E3779B97F4A7C15u;
    for (size_t ci = 0; ci < ncands; ci++)
        h = (h ^ cands[ci].code ^ (uint64_t)cands[ci].field << 59) * 0xFF51AFD7ED558CCDu;
    h ^= h >> 32;
    struct ew_plan *p = &eng->plans[h % EW_PLAN_SLOTS];
    if (p->used && p->hash == h && p->kind == kind && p->nvalues == ncands) {
        size_t ci = 0;
        while (ci < ncands && p->codes[ci] == cands[ci].code && p->fields[ci] == cands[ci].field)
            ci++;
        if (ci == ncands)
            return p;
    }
    p->used = true;
    p->hash = h;
    p->kind = (uint8_t)kind;
    p->nvalues = (uint8_t)ncands;
    for (size_t ci = 0; ci < ncands; ci++) {
        p->codes[ci] = cands[ci].code;
        p->fields[ci] = cands[ci].field;
    }
    for (size_t pi = 0; pi < set->nby_kind[kind]; pi++)
        p->judges[pi] = ew_rule_takes(&set->rules[set->by_kind[kind][pi]], cands, ncands);
    return p;
}

/* How long a value of the given data kind stands for: a minute value until the site's next
 * (its minute interval, a minute when not known yet), an hourly or daily one for its period, a
 * real-time one for a minute. A duration that ends within it is judged on it. */
static int64_t ew_value_span(const struct ew_site *site, int kind)
{
    switch (kind) {
    case EW_KIND_HOUR:
        return EW_HOUR_MS;
    case EW_KIND_DAY:
        return EW_DAY_MS;
    case EW_KIND_MINUTE:
        return site->minute_ms > 0 ? site->minute_ms : EW_MINUTE_MS;
    default:
        return EW_MINUTE_MS;
    }
}

/* Keeps what the key's last value was, for a judgement made on it later (ew_life_due). */
static inline __attribute__((always_inline)) void ew_life_saw(struct ew_life *l, int verdict,
                                                              const struct ew_value *v, int kind,
                                                              int64_t covered, uint32_t inputs)
{
    l->verdict = (int8_t)verdict;
    l->covered = covered;
    l->value = v->num;
    /* the code it was sent with is the key's, but for a family member's last two characters */
    bool member = v->pollutant && v->code != v->pollutant->code;
    l->vsuffix[0] = member ? v->code[strlen(v->code) - 2] : 0;
    l->vsuffix[1] = member ? v->code[strlen(v->code) - 1] : 0;
    l->vkind = (uint8_t)(kind <= EW_KIND_REPLY ? kind : EW_KIND_OTHER) & 15;
    l->vfield = v->field & 15;
    l->vflag = v->flag;
    l->vinputs = inputs < UINT16_MAX ? (uint16_t)inputs : UINT16_MAX;
}

/* ew_engine__judge, inlined into the per-value loop (a call there is 5 % of a record). */
static inline __attribute__((always_inline)) void
ew_judge_one(struct ew_engine *eng, struct ew_site *site, struct ew_judge *j, uint32_t ri,
             int data_kind, int64_t span, bool create)
{
    const struct ew_rule *r = j->r;
    /* a kind without state of its own keeps a key only while its lifecycle is not idle: a
     * site's quiet (rule, pollutant) pairs cost no memory */
    bool stateless = r->kind->state_size == 0;
    struct ew_sitekey *k = ew_site_key(&eng->sites, site, ri, j->obs.code, !stateless && create);
    void *ks = NULL;
    if (!stateless && (!k || !(ks = ew_key_state_make(&eng->sites, site, k)))) {
        eng->stats.nomem += create || k;
        return;
    }
    eng->stats.evaluations++;
    int verdict = r->kind->eval(r, ks, &j->obs);
    if (!k) {
        if (verdict < 0)
            return; /* idle, and below every level: nothing changes */
        k = ew_site_key(&eng->sites, site, ri, j->obs.code, true);
        if (!k) {
            eng->stats.nomem++;
            return;
        }
    }
    struct ew_step st;
    j->kstate = ks;
    ew_judge_key(j, &k->life);
    bool fired = ew_life_step(r, &k->life, verdict, j->obs.time, j->obs.limit, &st);
    if (!fired && k->life.muted && k->life.status == EW_LIFE_FIRING && !ew_explained(eng, j)) {
        /* its firing was explained by a window that has ended, and it still holds: said now */
        st = (struct ew_step){ew_life_fire_event(r),
                              k->life.level,
                              "still holding after the declared window",
                              ew_bound_value(&r->levels[k->life.level].above, j->obs.limit),
                              k->life.since,
                              1};
        fired = true;
    }
    if (fired)
        ew_emit(eng, j, st.type, st.level,
                ew_evidence_value(&eng->evidence, j, st.level, st.reason, st.threshold, st.since,
                                  st.held));
    j->life = NULL;
    if (stateless && ew_life_blank(&k->life)) {
        ew_site_key_drop(&eng->sites, site, k);
        return;
    }
    if (verdict != EW_OBS_SKIP)
        ew_life_saw(&k->life, verdict, j->v, data_kind, j->obs.time + span, j->inputs);
    int64_t due = ew_key_next(r, site, k);
    if (due < site->key_due)
        site->key_due = due;
}

void ew_engine__judge(struct ew_engine *eng, struct ew_site *site, struct ew_judge *j, uint32_t ri,
                      int data_kind, int64_t span, bool create)
{
    ew_judge_one(eng, site, j, ri, data_kind, span, create);
}

/* Judges the record's values by every value rule that selects them. Returns the record's
 * flow (NAN when it has none valid), which averages weigh wastewater by. */
static double ew_judge_values(struct ew_engine *eng, struct ew_site *site,
                              const struct ew_outlet *outlet, const struct ew_record *rec,
                              int64_t now, const uint32_t *inputs)
{
    const char *kind_name = ew_kind_name((enum ew_data_kind)rec->kind);
    struct ew_cand cands[EW_RECORD_MAX_VALUES];
    size_t ncands = 0;
    struct ew_recctx ctx = {NAN, NAN, NAN, NAN, 0, false};
    for (size_t vi = 0; vi < rec->nvalues; vi++) {
        const struct ew_value *v = &rec->values[vi];
        uint64_t code =
            v->pollutant ? v->pollutant->key : ew_pollutant_pack(v->code, strlen(v->code));
        if (v->type != EW_VT_NUMBER || !code)
            continue;
        bool valid = v->flag_meaning == EW_FLAG_NORMAL || v->flag_meaning == EW_FLAG_NONE;
        bool rate = v->field == EW_FIELD_RTD || v->field == EW_FIELD_AVG; /* not Min, Max, Cou */
        if (valid && rate && (code == EW_CODE_FLOW_AIR || code == EW_CODE_FLOW_WATER) &&
            isnan(ctx.flow))
            ctx.flow = v->num;
        if (valid && rate && code == EW_CODE_O2 && isnan(ctx.o2))
            ctx.o2 = v->num;
        struct ew_cand *c = &cands[ncands++];
        c->v = v;
        c->code = code;
        c->field = v->field;
        c->index = (uint16_t)vi;
        c->fields = NULL;
        c->own = 0;
        for (struct ew_cand *o = cands; o < c && !c->fields; o++)
            if (o->code == code) /* the pollutant seen before */
                c->fields = o->fields, c->limit = o->limit, c->lims = o->lims;
        if (!c->fields) {
            c->fields = &c->own, c->limit = ew_outlet_limit(outlet, code), c->lims = c->own_lims;
            ew_limits_for(c->limit, (enum ew_data_kind)rec->kind, c->own_lims);
        }
        if (c->limit && vi < 64) /* for the averages: which values the site has a limit for */
            eng->avg.limited |= 1ull << vi;
        *c->fields |= 1u << v->field;
    }
    struct ew_judge j = {.mn = rec->mn, .data_kind = kind_name, .outlet = outlet, .now = now};
    j.obs.time = rec->data_time;
    int64_t span = ew_value_span(site, rec->kind);
    j.obs.ctx = &ctx;
    const struct ew_ruleset *set = eng->rules;
    size_t kind = rec->kind <= EW_KIND_REPLY ? rec->kind : EW_KIND_OTHER;
    const struct ew_plan *plan = ew_plan_get(eng, kind, cands, ncands);
    for (size_t pi = 0; pi < set->nby_kind[kind]; pi++) {
        uint32_t ri = set->by_kind[kind][pi];
        const struct ew_rule *r = &set->rules[ri];
        if (!ew_rule_wants_st(r, rec->st) || !ew_rule_wants_site(r, outlet))
            continue;
        j.r = r;
        /* a plan answers for all the values at once; without one, 32 values at a time */
        for (size_t base = 0; base < ncands; base += EW_PLAN_VALUES) {
            const struct ew_cand *cc = cands + base;
            size_t n = ncands - base < EW_PLAN_VALUES ? ncands - base : EW_PLAN_VALUES;
            for (uint32_t m = plan ? plan->judges[pi] : ew_rule_takes(r, cc, n); m; m &= m - 1) {
                const struct ew_cand *c = &cc[__builtin_ctz(m)];
                j.obs.limit = c->lims[r->limit_kind];
                if (r->limited_only && isnan(j.obs.limit))
                    continue;
                j.v = c->v;
                j.limit = c->limit;
                j.inputs = inputs ? inputs[c->index] : 0;
                j.obs.value = c->v->num;
                j.obs.flag_meaning = c->v->flag_meaning;
                j.obs.field = c->field;
                j.obs.code = c->code;
                ew_judge_one(eng, site, &j, ri, rec->kind, span, true);
            }
        }
    }
    return ctx.flow;
}

/* Judges a record at its site: the path shared by records sent (inputs NULL) and averages
 * computed (inputs: per value, how many valid values it averages). Feeds the averages that
 * the record's values belong to. */
static void ew_engine_take(struct ew_engine *eng, struct ew_site *site,
                           const struct ew_outlet *outlet, const struct ew_record *rec, int64_t now,
                           const uint32_t *inputs)
{
    if (inputs && site->silent)
        ew_site_heard(eng, site, outlet, rec, now, true, site->last_data);
    eng->avg.limited = 0;
    double flow = ew_judge_values(eng, site, outlet, rec, now, inputs);
    if (!inputs && eng->rules->nrecord)
        ew_enterprise_record(eng, site, outlet, rec, ew_value_span(site, rec->kind), now);
    if (eng->averaging)
        ew_average_add(&eng->avg, site, outlet, rec, flow);
}

/* Judges every average of the site that closed before ref (the outlet is looked up when one
 * did and it is not known yet). */
static void ew_engine_averages(struct ew_engine *eng, struct ew_site *site,
                               const struct ew_outlet *outlet, int64_t ref, int64_t now)
{
    bool looked = outlet != NULL;
    while (ew_average_next(&eng->avg, site, ref)) {
        if (!looked)
            outlet = ew_registry_find(eng->reg, site->mn), looked = true;
        ew_engine_take(eng, site, outlet, eng->avg.computed, now, eng->avg.inputs);
    }
}

/* The period a minute, hour or day record stands for, for duplicates; -1 for other data. */
static int ew_seen_slot(const struct ew_record *rec, int64_t *len)
{
    switch (rec->kind) {
    case EW_KIND_MINUTE:
        *len = EW_MINUTE_MS;
        return EW_SEEN_MINUTE;
    case EW_KIND_HOUR:
        *len = EW_HOUR_MS;
        return EW_SEEN_HOUR;
    case EW_KIND_DAY:
        *len = EW_DAY_MS;
        return EW_SEEN_DAY;
    default:
        return -1;
    }
}

/* A record's site, or NULL when its MN is too long to key state (counted). at: where the site
 * was when the record was held (its number + 1, 0 none): looked at first, as the site is still
 * there unless the table moved it since. */
static struct ew_site *ew_record_site(struct ew_engine *eng, const struct ew_record *rec,
                                      uint32_t at)
{
    struct ew_site *site = at && at <= eng->sites.used ? &eng->sites.sites[at - 1] : NULL;
    if (site && !strcmp(site->mn, rec->mn)) {
        ew_sitetab_touch(&eng->sites, site);
    } else {
        size_t mnlen = strlen(rec->mn);
        if (mnlen >= EW_MN_MAX) {
            eng->stats.skipped_mn++;
            return NULL;
        }
        bool created;
        ew_engine__may_evict(eng);
        site = ew_sitetab_get(&eng->sites, rec->mn, mnlen, &created);
        ew_engine__evicted(eng);
    }
    /* its keys, which the values are judged on after the outlet and the record's plan: asked
     * for now, the block comes while that work is done */
    if (site->nkeys) { /* a new site has none, nor a block (NULL + 0 is undefined) */
        const char *kb = (const char *)site->keys, *ke = kb + site->nkeys * sizeof *site->keys;
        for (const char *p = kb; p < ke; p += 64)
            __builtin_prefetch(p);
    }
    if (site->kstates) { /* and its kinds' states: the first lines, their count unread */
        const char *kb = (const char *)site->kstates;
        for (int l = 0; l < 6; l++)
            __builtin_prefetch(kb + 64 * l);
    }
    ew_site_dirty(eng, site);
    return site;
}

/* Late: older than its site's newest record of the same kind by more than the lateness. */
static bool ew_record_late(const struct ew_engine *eng, const struct ew_site *site,
                           const struct ew_record *rec)
{
    int64_t newest = site->newest[rec->kind <= EW_KIND_REPLY ? rec->kind : EW_KIND_OTHER];
    return newest != INT64_MIN && rec->data_time < newest - eng->lateness;
}

/* Judges rec at its site. held: it was held for event-time order, and before is the site's
 * newest data time when it came; else it comes now. */
static int ew_engine_judge(struct ew_engine *eng, const struct ew_record *rec, int64_t now,
                           bool held, int64_t before, uint32_t at)
{
    struct ew_site *site = ew_record_site(eng, rec, at);
    if (!site)
        return 0;
    if (!held) {
        before = site->heard;
        if (rec->data_time > site->heard)
            site->heard = rec->data_time;
    } else if (site->nheld) {
        site->nheld--;
    }
    const struct ew_outlet *outlet = ew_site_outlet(eng, site);
    int64_t *newest = &site->newest[rec->kind <= EW_KIND_REPLY ? rec->kind : EW_KIND_OTHER];
    if (ew_record_late(eng, site, rec)) {
        eng->stats.late++; /* counted and reported to the caller, never merged */
        return EW_ELATE;
    }
    int64_t len;
    int slot = ew_seen_slot(rec, &len);
    if (slot >= 0) {
        int64_t p = ew_period_start(rec->data_time, len);
        struct ew_seen *seen = &site->seen[slot];
        if (slot == EW_SEEN_MINUTE && seen->mark != INT64_MIN && p > seen->mark &&
            (!site->minute_ms || p - seen->mark < site->minute_ms))
            site->minute_ms = (int32_t)(p - seen->mark < EW_HOUR_MS ? p - seen->mark : EW_HOUR_MS);
        if (ew_seen_mark(seen, p, len)) {
            eng->stats.duplicates++; /* judged once: a re-sent period raises nothing twice */
            return 0;
        }
    }
    if (rec->data_time > *newest)
        *newest = rec->data_time;
    else if (rec->data_time < *newest)
        eng->stats.out_of_order++;
    if (eng->paced && rec->data_time > site->last_data &&
        (site->queued <= rec->data_time || site->deferred))
        ew_site_catch_up(eng, site, outlet, rec->data_time, now);
    if (site->silent)
        ew_site_heard(eng, site, outlet, rec, now, false, before);
    if (rec->data_time > site->last_data)
        site->last_data = rec->data_time;
    size_t stlen = strnlen(rec->st, sizeof site->st - 1);
    memcpy(site->st, rec->st, stlen); /* the system code of its latest record */
    site->st[stlen] = '\0';
    if (rec->data_time <= now + EW_CLOCK_AHEAD_MS && rec->data_time > eng->watermark)
        eng->watermark = rec->data_time;
    if (eng->averaging) /* before this record's values join the averages still open */
        ew_engine_averages(eng, site, outlet, site->last_data, now);
    ew_engine_take(eng, site, outlet, rec, now, NULL);
    /* a timer queued by the site's newest data comes up with the clock and looks again then:
     * whatever this record changed is seen at that time, with the same event times */
    if (site->queued > site->last_data)
        ew_timers__schedule_record(eng, site, outlet);
    return 0;
}

/* Judges the held records that are due: their source's newest data time (source 0: the
 * fleet's) or, for a quiet source, the processing clock has moved reorder (a caller's source:
 * hold_max) past them, max of them at most (0: no bound); all of them with `all`. Returns how
 * many. */
static size_t ew_release(struct ew_engine *eng, int64_t now, bool all, size_t max)
{
    size_t n = 0;
    if (all || !max)
        max = SIZE_MAX;
    for (size_t i = 0; i < eng->nsrc && n < max; i++) {
        struct ew_holdsrc *src = &eng->src[i];
        int64_t mark = i ? src->mark : eng->watermark;
        int64_t wait = i ? eng->hold_max : eng->reorder;
        const struct ew_held *h;
        while (n < max && (h = ew_hold_top(&src->q)) &&
               (all || (mark != INT64_MIN && h->time <= mark - eng->reorder) ||
                h->arrived <= now - wait)) {
            n++;
            int64_t before;
            uint32_t at = h->site;
            eng->tag = ew_hold_pop(&src->q, eng->released, &before);
            ew_engine_judge(eng, eng->released, now, true, before, at);
            if (eng->on_released)
                eng->on_released(eng->ctx, eng->tag);
            eng->tag = 0;
        }
    }
    return n;
}

bool ew_engine_release(struct ew_engine *eng, int64_t now, size_t max)
{
    if (!eng->reorder || !ew_time_sane(now))
        return false;
    size_t n = ew_release(eng, now, false, max);
    return max && n == max;
}

/* The held records of a source, made when its first record comes; NULL: no memory. */
static struct ew_holdsrc *ew_engine_source(struct ew_engine *eng, uint32_t source)
{
    if (source >= eng->nsrc) {
        size_t n = (size_t)source + 1;
        if (source > UINT16_MAX) /* not a partition's: a caller's mistake */
            return NULL;
        struct ew_holdsrc *grown = ew_grow(eng->src, eng->nsrc, n, sizeof *grown);
        if (!grown)
            return NULL;
        for (size_t i = eng->nsrc; i < n; i++)
            grown[i] = (struct ew_holdsrc){.mark = INT64_MIN};
        eng->src = grown;
        eng->nsrc = n;
    }
    return &eng->src[source];
}

int ew_engine_record(struct ew_engine *eng, const struct ew_record *rec, int64_t now)
{
    return ew_engine_record_tagged(eng, rec, now, 0);
}

/* Judges the record now, or holds it (*held) with its source's to judge it in event-time
 * order. */
static int ew_engine_take_record(struct ew_engine *eng, const struct ew_record *rec, int64_t now,
                                 uint64_t tag, struct ew_holdsrc *src, bool *held)
{
    eng->stats.records++;
    if (!rec->has_time)
        return 0; /* replies and heartbeats: nothing to judge */
    if (!ew_time_sane(rec->data_time) || !ew_time_sane(now))
        return EW_EINVAL; /* the codec never makes such a time; a caller might */
    if (!eng->reorder) {
        eng->tag = tag;
        int rc = ew_engine_judge(eng, rec, now, false, 0, 0);
        eng->tag = 0;
        return rc;
    }
    struct ew_site *site = ew_record_site(eng, rec, 0);
    if (!site)
        return 0;
    if (ew_record_late(eng, site, rec)) {
        eng->stats.late++;
        return EW_ELATE;
    }
    if (rec->data_time <= now + EW_CLOCK_AHEAD_MS && rec->data_time > eng->watermark)
        eng->watermark = rec->data_time;
    int64_t before = site->heard;
    int rc =
        src ? ew_hold_push(&src->q, rec, now, tag, before, (uint32_t)(site - eng->sites.sites) + 1)
            : EW_ENOMEM;
    if (!rc && !site->nheld++)
        site->heard_base = before;
    if (!rc && rec->data_time > site->heard)
        site->heard = rec->data_time;
    if (rc) { /* no memory to hold it: judged now, out of order perhaps, but not lost */
        ew_release(eng, now, true, 0);
        eng->tag = tag;
        ew_engine_judge(eng, rec, now, false, 0, 0);
        eng->tag = 0;
        return rc;
    }
    *held = true;
    ew_release(eng, now, false, eng->release_max);
    return 0;
}

void ew_engine_release_bound(struct ew_engine *eng, size_t max)
{
    eng->release_max = max;
}

int ew_engine_record_from(struct ew_engine *eng, const struct ew_record *rec, int64_t now,
                          uint64_t tag, uint32_t source, int64_t mark)
{
    bool held = false;
    struct ew_holdsrc *src = NULL;
    /* the caller's mark as it is: after a partition is claimed again it may start lower */
    if (eng->reorder && (src = ew_engine_source(eng, source)) && source)
        src->mark = mark;
    int rc = ew_engine_take_record(eng, rec, now, tag, src, &held);
    if (eng->reorder && !held && eng->on_released)
        eng->on_released(eng->ctx, tag); /* done with it already */
    return rc;
}

int ew_engine_record_tagged(struct ew_engine *eng, const struct ew_record *rec, int64_t now,
                            uint64_t tag)
{
    return ew_engine_record_from(eng, rec, now, tag, 0, INT64_MIN);
}

/* ---- the sites that changed, and held records that go elsewhere ---- */

/* Walks a list of MNs (NUL after each), keeping in place those keep says to keep. */
static size_t ew_mnlist_filter(struct ew_buf *list, bool (*keep)(void *arg, const char *mn),
                               void *arg)
{
    size_t kept = 0, to = 0;
    for (size_t off = 0; off < list->len;) {
        const char *mn = list->data + off;
        size_t len = strlen(mn) + 1;
        if (keep(arg, mn)) {
            memmove(list->data + to, mn, len);
            to += len, kept++;
        }
        off += len;
    }
    list->len = to;
    return kept;
}

struct ew_take {
    struct ew_engine *eng;
    ew_engine_dirty_fn fn;
    void *ctx;
    size_t n;
    bool freeze;
};

/* A changed site taken: frozen when the taker stages it (ew_engine_freeze_dirty); one that
 * cannot be listed is handed over at once. */
static void ew_site_taken(struct ew_take *t, struct ew_site *site)
{
    struct ew_engine *eng = t->eng;
    site->dirty = 0;
    t->n++;
    if (!t->freeze)
        return;
    ew_buf_add(&eng->frozen, site->mn, strlen(site->mn) + 1);
    site->frozen = 1;
    eng->nfrozen++;
    if (eng->frozen.err) {
        ew_site__stage(eng, site);
        eng->frozen.err = 0;
    }
}

/* A changed site: kept in the list while the caller does not take it. */
static bool ew_take_changed(void *arg, const char *mn)
{
    struct ew_take *t = arg;
    struct ew_site *site = ew_sitetab_find(&t->eng->sites, mn, strlen(mn));
    if (!site || !site->dirty) /* a site forgotten since is not reported */
        return false;
    if (!t->fn(t->ctx, mn, true))
        return true;
    ew_site_taken(t, site);
    return false;
}

/* An evicted site: likewise, unless it was made again since. */
static bool ew_take_gone(void *arg, const char *mn)
{
    struct ew_take *t = arg;
    if (ew_sitetab_find(&t->eng->sites, mn, strlen(mn)))
        return false;
    if (!t->fn(t->ctx, mn, false))
        return true;
    t->n++;
    return false;
}

static size_t ew_take_dirty(struct ew_engine *eng, ew_engine_dirty_fn fn, void *ctx, bool freeze)
{
    struct ew_sitetab *t = &eng->sites;
    struct ew_take take = {eng, fn, ctx, 0, freeze};
    if (eng->dirty.err || eng->gone.err) {
        /* a list could not grow: any site may have changed, every one is offered, and the
         * lists count again once each has been taken */
        bool all = true;
        for (size_t i = 0; i < t->used; i++) {
            if (t->sites[i].frozen)
                continue; /* taken already */
            if (fn(ctx, t->sites[i].mn, true))
                ew_site_taken(&take, &t->sites[i]);
            else
                all = false;
        }
        if (all) {
            ew_buf_clear(&eng->dirty);
            ew_buf_clear(&eng->gone);
            eng->ndirty = 0;
        }
        return take.n;
    }
    eng->ndirty = ew_mnlist_filter(&eng->dirty, ew_take_changed, &take);
    ew_mnlist_filter(&eng->gone, ew_take_gone, &take);
    return take.n;
}

size_t ew_engine_take_dirty(struct ew_engine *eng, ew_engine_dirty_fn fn, void *ctx)
{
    return ew_take_dirty(eng, fn, ctx, false);
}

size_t ew_engine_freeze_dirty(struct ew_engine *eng, ew_engine_dirty_fn fn, void *ctx)
{
    return ew_take_dirty(eng, fn, ctx, true);
}

void ew_engine_on_stage(struct ew_engine *eng, ew_engine_stage_fn fn, void *ctx)
{
    eng->stage = fn;
    eng->stage_ctx = ctx;
}

void ew_site__stage(struct ew_engine *eng, struct ew_site *site)
{
    site->frozen = 0;
    eng->nfrozen--;
    if (eng->stage)
        eng->stage(eng->stage_ctx, site->mn);
}

/* The frozen list's last MN, taken off it; NULL when it is empty. */
static const char *ew_frozen_pop(struct ew_engine *eng)
{
    struct ew_buf *b = &eng->frozen;
    if (!b->len)
        return NULL;
    size_t start = b->len - 1; /* its NUL */
    while (start && b->data[start - 1])
        start--;
    b->len = start;
    return b->data + start; /* still there until the next add */
}

size_t ew_engine_stage(struct ew_engine *eng, size_t max)
{
    const char *mn;
    for (size_t n = 0; n < max && eng->nfrozen && (mn = ew_frozen_pop(eng));) {
        struct ew_site *site = ew_sitetab_find(&eng->sites, mn, strlen(mn));
        if (site && site->frozen)
            ew_site__stage(eng, site), n++;
    }
    if (!eng->nfrozen)
        ew_buf_clear(&eng->frozen);
    return eng->nfrozen;
}

void ew_engine_thaw(struct ew_engine *eng)
{
    const char *mn;
    while (eng->nfrozen && (mn = ew_frozen_pop(eng))) {
        struct ew_site *site = ew_sitetab_find(&eng->sites, mn, strlen(mn));
        if (site && site->frozen) {
            site->frozen = 0;
            eng->nfrozen--;
            ew_site_dirty(eng, site);
        }
    }
    ew_buf_clear(&eng->frozen);
}

size_t ew_engine_dirty_count(const struct ew_engine *eng)
{
    return eng->ndirty;
}

int64_t ew_engine_held_oldest(const struct ew_engine *eng)
{
    int64_t oldest = INT64_MAX;
    for (size_t i = 0; i < eng->nsrc; i++) {
        const struct ew_held *h = ew_hold_top(&eng->src[i].q);
        if (h && h->time < oldest)
            oldest = h->time;
    }
    return oldest;
}

struct ew_drop {
    struct ew_engine *eng;
    bool (*drop)(void *ctx, uint64_t tag);
    void *ctx;
};

static bool ew_drop_one(void *ctx, const struct ew_held *h)
{
    struct ew_drop *d = ctx;
    if (!d->drop(d->ctx, h->tag))
        return false;
    const char *mn = ew_held_mn(h);
    struct ew_site *site = ew_sitetab_find(&d->eng->sites, mn, strlen(mn));
    if (site && site->nheld)
        site->nheld--;
    if (d->eng->on_released)
        d->eng->on_released(d->eng->ctx, h->tag);
    return true;
}

size_t ew_engine_drop_held(struct ew_engine *eng, bool (*drop)(void *ctx, uint64_t tag), void *ctx)
{
    struct ew_drop d = {eng, drop, ctx};
    size_t n = 0;
    for (size_t i = 0; i < eng->nsrc; i++)
        n += ew_hold_drop(&eng->src[i].q, ew_drop_one, &d);
    return n;
}

int ew_engine_flush(struct ew_engine *eng, int64_t now)
{
    if (eng->reorder && ew_time_sane(now))
        ew_release(eng, now, true, 0);
    return 0;
}
