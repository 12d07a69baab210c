/*
 * ew_loop.c - the closed loop (see ew_loop.h).
 *
 * The table is two hash sets over the same loops: by fingerprint (an alert's events, answers and
 * acknowledgements find their loop) and by site (a site's loops, linked in a list from the
 * first); a site says whether it has any (site->looped), so that a site without is never
 * searched for. An alert storm costs per event what one alert does. What a loop does next is
 * worked out from its times alone (ew_loop_next):
 *
 *   quiet hours ending   a held reminder is sent then (and the steps start counting)
 *   a response           at its time, the earliest not yet applied, sent after the alert was
 *   step i               started + after_i; after a response, no earlier than its time +
 *                        recheck (none without a recheck); none once acknowledged
 *
 * so that a checkpoint needs no timer of its own and a replayed backlog does what live traffic
 * did. At equal times, quiet hours end first, then a response is applied, then a step fires: an
 * answer given at the step's time stops it.
 */
#include "ew_loop.h"

#include "ew_alloc.h"
#include "ew_engine_int.h"
#include "ew_hash.h"
#include "ew_render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the table ---- */

bool ew_loop_set_str(char **slot, const char *s)
{
    if (s && *slot && !strcmp(*slot, s))
        return true; /* most of an alert's event says what the one before said */
    char *copy = NULL;
    if (s && !(copy = ew_malloc(strlen(s) + 1)))
        return false;
    if (copy)
        memcpy(copy, s, strlen(s) + 1);
    ew_free(*slot);
    *slot = copy;
    return true;
}

void ew_loop_release(struct ew_loop *l)
{
    for (int i = 0; i < EW_SNAP_N; i++)
        ew_free(l->snap[i]);
    ew_free(l->response);
    ew_free(l->ack_by);
    ew_free(l->ack_note);
    ew_free(l->ack_entry);
}

static void ew_loop_free(struct ew_loop *l)
{
    ew_loop_release(l);
    ew_free(l);
}

/* The two keys a set can be on. */
static uint64_t ew_fp_hash(const struct ew_loop *l)
{
    uint64_t h = 0;
    for (int i = 0; i < 16; i++) /* 16 hex digits: a hash already */
        h = h << 4 | (uint64_t)(l->fingerprint[i] <= '9' ? l->fingerprint[i] - '0'
                                                         : l->fingerprint[i] - 'a' + 10);
    return h * 0x9E3779B97F4A7C15u;
}

static uint64_t ew_site_hash(const struct ew_loop *l)
{
    return ew_str_hash(l->mn);
}

typedef uint64_t (*ew_loop_key_fn)(const struct ew_loop *l);

/* The slot of the loop that `same` says has the key, or the empty slot where it would go. */
static size_t ew_set_slot(const struct ew_loopset *s, uint64_t h, const char *key, bool by_fp)
{
    size_t mask = s->cap - 1, i = (size_t)h & mask;
    for (; s->slot[i]; i = (i + 1) & mask)
        if (by_fp ? !memcmp(s->slot[i]->fingerprint, key, 16) : !strcmp(s->slot[i]->mn, key))
            break;
    return i;
}

static struct ew_loop *ew_set_find(const struct ew_loopset *s, const char *key, bool by_fp,
                                   ew_loop_key_fn hash, const struct ew_loop *probe)
{
    return s->cap ? s->slot[ew_set_slot(s, hash(probe), key, by_fp)] : NULL;
}

/* Room for one more at half load at most; false out of memory. */
static bool ew_set_reserve(struct ew_loopset *s, ew_loop_key_fn hash)
{
    if ((s->n + 1) * 2 <= s->cap)
        return true;
    size_t cap = s->cap ? 2 * s->cap : 64;
    struct ew_loop **slot = ew_calloc(cap, sizeof *slot);
    if (!slot)
        return false;
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->slot[i])
            continue;
        size_t j = (size_t)hash(s->slot[i]) & (cap - 1);
        while (slot[j])
            j = (j + 1) & (cap - 1);
        slot[j] = s->slot[i];
    }
    ew_free(s->slot);
    s->slot = slot;
    s->cap = cap;
    return true;
}

/* Empties slot i, moving back the entries of its probe run that may take it. */
static void ew_set_erase(struct ew_loopset *s, size_t i, ew_loop_key_fn hash)
{
    size_t mask = s->cap - 1;
    for (size_t j = (i + 1) & mask; s->slot[j]; j = (j + 1) & mask) {
        size_t home = (size_t)hash(s->slot[j]) & mask;
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            s->slot[i] = s->slot[j];
            i = j;
        }
    }
    s->slot[i] = NULL;
    s->n--;
}

void ew_loops_free(struct ew_loops *t)
{
    for (size_t i = 0; i < t->by_fp.cap; i++)
        if (t->by_fp.slot[i])
            ew_loop_free(t->by_fp.slot[i]);
    ew_free(t->by_fp.slot);
    ew_free(t->by_site.slot);
    *t = (struct ew_loops){0};
}

struct ew_loop *ew_loop_find(const struct ew_engine *eng, const char *fp)
{
    struct ew_loop probe;
    if (strlen(fp) < 16)
        return NULL;
    memcpy(probe.fingerprint, fp, 16);
    for (int i = 0; i < 16; i++)
        if (!strchr("0123456789abcdef", fp[i]))
            return NULL;
    return ew_set_find(&eng->loops.by_fp, fp, true, ew_fp_hash, &probe);
}

struct ew_loop *ew_loops_of(const struct ew_engine *eng, const char *mn)
{
    struct ew_loop probe;
    snprintf(probe.mn, sizeof probe.mn, "%s", mn);
    return ew_set_find(&eng->loops.by_site, probe.mn, false, ew_site_hash, &probe);
}

struct ew_loop *ew_loop_add(struct ew_engine *eng, const char *fp, const char *mn, uint32_t rule)
{
    struct ew_loops *t = &eng->loops;
    if (!ew_set_reserve(&t->by_fp, ew_fp_hash) || !ew_set_reserve(&t->by_site, ew_site_hash))
        return NULL;
    struct ew_loop *l = ew_calloc(1, sizeof *l);
    if (!l)
        return NULL;
    memcpy(l->fingerprint, fp, 16);
    snprintf(l->mn, sizeof l->mn, "%s", mn);
    l->rule = rule;
    l->level = -1;
    l->event_time = l->created = l->started = l->held = l->responded = l->acked = INT64_MIN;
    t->by_fp.slot[ew_set_slot(&t->by_fp, ew_fp_hash(l), l->fingerprint, true)] = l;
    t->by_fp.n++;
    size_t si = ew_set_slot(&t->by_site, ew_site_hash(l), l->mn, false);
    struct ew_loop *last = t->by_site.slot[si];
    if (!last) {
        t->by_site.slot[si] = l;
        t->by_site.n++;
        return l;
    }
    while (last->site_next)
        last = last->site_next;
    last->site_next = l;
    l->site_prev = last;
    return l;
}

static void ew_loop_remove(struct ew_engine *eng, struct ew_loop *l)
{
    struct ew_loops *t = &eng->loops;
    ew_set_erase(&t->by_fp, ew_set_slot(&t->by_fp, ew_fp_hash(l), l->fingerprint, true),
                 ew_fp_hash);
    if (l->site_prev) {
        l->site_prev->site_next = l->site_next;
    } else { /* the site's first: the next one is, or the site has none */
        size_t si = ew_set_slot(&t->by_site, ew_site_hash(l), l->mn, false);
        if (l->site_next)
            t->by_site.slot[si] = l->site_next;
        else
            ew_set_erase(&t->by_site, si, ew_site_hash);
    }
    if (l->site_next)
        l->site_next->site_prev = l->site_prev;
    ew_loop_free(l);
}

void ew_loop_end(struct ew_engine *eng, const char *fp)
{
    struct ew_loop *l = ew_loop_find(eng, fp);
    if (l)
        ew_loop_remove(eng, l);
}

void ew_loops_drop_site(struct ew_engine *eng, const char *mn)
{
    for (struct ew_loop *l; (l = ew_loops_of(eng, mn));)
        ew_loop_remove(eng, l);
}

void ew_loops_remap(struct ew_engine *eng, const int32_t *map, const struct ew_ruleset *old)
{
    /* renumbered in one pass, the ones whose chain means nothing to the new rule taken out
     * after it (taking one out moves others in the table) */
    struct ew_loopset *s = &eng->loops.by_fp;
    struct ew_loop **gone = ew_malloc((s->n ? s->n : 1) * sizeof *gone);
    size_t ngone = 0;
    for (size_t i = 0; i < s->cap; i++) {
        struct ew_loop *l = s->slot[i];
        if (!l)
            continue;
        int32_t j = map[l->rule];
        const struct ew_policy *was = old->rules[l->rule].policy;
        const struct ew_policy *now = j >= 0 ? eng->rules->rules[j].policy : NULL;
        if (now && was && !strcmp(was->name, now->name))
            l->rule = (uint32_t)j;
        else if (gone)
            gone[ngone++] = l;
    }
    if (!gone) { /* out of memory to list them: every chain goes */
        ew_loops_free(&eng->loops);
        return;
    }
    for (size_t i = 0; i < ngone; i++)
        ew_loop_remove(eng, gone[i]);
    ew_free(gone);
}

/* ---- times ---- */

enum ew_loop_act { EW_ACT_NONE = 0, EW_ACT_QUIET_END, EW_ACT_RESPONSE, EW_ACT_STEP };

/* Minutes of the day, Beijing time. */
static int32_t ew_minute_of_day(int64_t t)
{
    int64_t m = (t + EW_TZ_OFFSET_MS) / 60000 % 1440;
    return (int32_t)(m < 0 ? m + 1440 : m);
}

static bool ew_quiet_holds(const struct ew_policy *p, int64_t t)
{
    if (p->quiet_from < 0)
        return false;
    int32_t m = ew_minute_of_day(t);
    return p->quiet_from < p->quiet_to ? m >= p->quiet_from && m < p->quiet_to
                                       : m >= p->quiet_from || m < p->quiet_to;
}

/* The end of the quiet hours t falls in. */
static int64_t ew_quiet_end(const struct ew_policy *p, int64_t t)
{
    int64_t minute = ew_period_start(t, EW_MINUTE_MS);
    int32_t m = ew_minute_of_day(t), wait = (p->quiet_to - m + 1440) % 1440;
    return minute + (int64_t)wait * EW_MINUTE_MS;
}

static const struct ew_policy *ew_loop_policy(const struct ew_engine *eng, const struct ew_loop *l)
{
    return l->rule < eng->rules->nrules ? eng->rules->rules[l->rule].policy : NULL;
}

/* The earliest response not applied yet that answers this alert (sent once it was notified). */
static const struct ew_response *ew_loop_response(const struct ew_engine *eng,
                                                  const struct ew_loop *l)
{
    if (l->started == INT64_MIN)
        return NULL;
    size_t n;
    const struct ew_response *r = ew_registry_responses(eng->reg, l->fingerprint, &n), *best = NULL;
    for (size_t i = 0; r && i < n; i++)
        if (r[i].at >= l->started && r[i].at > l->responded && (!best || r[i].at < best->at))
            best = &r[i];
    return best;
}

static bool ew_loop_officer_alert(const struct ew_engine *eng, const struct ew_loop *l)
{
    return eng->rules->rules[l->rule].audience != EW_AUDIENCE_ENTERPRISE;
}

/* When the next step fires, INT64_MAX never. */
static int64_t ew_loop_step_due(const struct ew_engine *eng, const struct ew_loop *l)
{
    const struct ew_policy *p = ew_loop_policy(eng, l);
    if (!p || l->steps >= p->nsteps || l->started == INT64_MIN || l->acked != INT64_MIN)
        return INT64_MAX;
    int64_t due = l->started + p->steps[l->steps].after_ms;
    /* an enterprise's answer stops the chain, unless the condition outlasts the re-check */
    if (l->responded != INT64_MIN && !ew_loop_officer_alert(eng, l)) {
        if (!p->recheck_ms)
            return INT64_MAX;
        if (l->responded + p->recheck_ms > due)
            due = l->responded + p->recheck_ms;
    }
    return due;
}

static int64_t ew_loop_next(const struct ew_engine *eng, const struct ew_loop *l,
                            enum ew_loop_act *act)
{
    const struct ew_policy *p = ew_loop_policy(eng, l);
    int64_t best = INT64_MAX;
    *act = EW_ACT_NONE;
    if (!p)
        return best;
    if (l->held != INT64_MIN)
        best = ew_quiet_end(p, l->held), *act = EW_ACT_QUIET_END;
    const struct ew_response *r = ew_loop_response(eng, l);
    if (r && r->at < best)
        best = r->at, *act = EW_ACT_RESPONSE;
    int64_t step = ew_loop_step_due(eng, l);
    if (step < best)
        best = step, *act = EW_ACT_STEP;
    return best;
}

int64_t ew_loops_due(struct ew_engine *eng, struct ew_site *site)
{
    if (!site->looped)
        return INT64_MAX;
    int64_t due = INT64_MAX;
    const struct ew_loop *l = ew_loops_of(eng, site->mn);
    site->looped = l != NULL;
    for (; l; l = l->site_next) {
        enum ew_loop_act act;
        int64_t t = ew_loop_next(eng, l, &act);
        if (t < due)
            due = t;
    }
    return due;
}

/* The loop changed outside a judgement of its site's keys: its site's timer follows. */
static void ew_loop_touch(struct ew_engine *eng, const struct ew_loop *l, bool schedule)
{
    struct ew_site *site = ew_sitetab_find(&eng->sites, l->mn, strlen(l->mn));
    if (!site)
        return;
    site->looped = 1;
    ew_site_dirty(eng, site);
    enum ew_loop_act act;
    int64_t due = ew_loop_next(eng, l, &act);
    if (due < site->key_due)
        site->key_due = due;
    if (schedule)
        ew_timers__schedule(eng, site, ew_site_outlet(eng, site), INT64_MIN);
}

/* ---- the history ---- */

static void ew_trail_add(struct ew_loop *l, enum ew_alert_event_type type, enum ew_audience to,
                         int64_t at, int step)
{
    if (l->ntrail == EW_TRAIL_MAX) { /* the oldest goes, counted */
        memmove(l->trail, l->trail + 1, sizeof l->trail - sizeof l->trail[0]);
        l->ntrail--;
        if (l->trail_dropped < UINT16_MAX)
            l->trail_dropped++;
    }
    l->trail[l->ntrail++] = (struct ew_trail){at, (uint8_t)type, (uint8_t)to, (uint8_t)step};
}

/* `"loop":{...}`: the policy, the history, the answer, the acknowledgement, the next step (none
 * when closing: the alert resolved). */
static void ew_loop_json(struct ew_buf *b, const struct ew_engine *eng, const struct ew_loop *l,
                         bool closing)
{
    const struct ew_policy *p = ew_loop_policy(eng, l);
    ew_buf_adds(b, "\"loop\":{\"policy\":");
    ew_buf_json_str(b, p ? p->name : "");
    if (l->started != INT64_MIN) {
        ew_buf_adds(b, ",\"notified_at\":");
        ew_buf_json_time(b, l->started);
    }
    ew_buf_adds(b, ",\"trail\":[");
    for (size_t i = 0; i < l->ntrail; i++) {
        const struct ew_trail *t = &l->trail[i];
        ew_buf_adds(b, i ? ",{\"type\":" : "{\"type\":");
        ew_buf_json_str(b, ew_alert_event_name((enum ew_alert_event_type)t->event));
        ew_buf_adds(b, ",\"audience\":");
        ew_buf_json_str(b, ew_audience_name((enum ew_audience)t->audience));
        ew_buf_adds(b, ",\"at\":");
        ew_buf_json_time(b, t->at);
        if (t->step) {
            ew_buf_adds(b, ",\"step\":");
            ew_buf_json_num(b, t->step);
        }
        ew_buf_addc(b, '}');
    }
    ew_buf_addc(b, ']');
    if (l->trail_dropped) {
        ew_buf_adds(b, ",\"trail_dropped\":");
        ew_buf_json_num(b, l->trail_dropped);
    }
    if (l->responded != INT64_MIN) {
        ew_buf_adds(b, ",\"response\":{\"at\":");
        ew_buf_json_time(b, l->responded);
        ew_buf_json_opt_str(b, "text", l->response);
        ew_buf_addc(b, '}');
    }
    if (l->acked != INT64_MIN) {
        ew_buf_adds(b, ",\"acknowledged\":{\"at\":");
        ew_buf_json_time(b, l->acked);
        ew_buf_json_opt_str(b, "by", l->ack_by);
        ew_buf_json_opt_str(b, "note", l->ack_note);
        ew_buf_addc(b, '}');
    }
    if (l->held != INT64_MIN && p) {
        ew_buf_adds(b, ",\"held_until\":");
        ew_buf_json_time(b, ew_quiet_end(p, l->held));
    }
    int64_t next = closing ? INT64_MAX : ew_loop_step_due(eng, l);
    if (next != INT64_MAX) {
        ew_buf_adds(b, ",\"next_step\":{\"step\":");
        ew_buf_json_num(b, l->steps + 1);
        ew_buf_adds(b, ",\"to\":");
        ew_buf_json_str(b, ew_audience_name((enum ew_audience)p->steps[l->steps].to));
        ew_buf_adds(b, ",\"at\":");
        ew_buf_json_time(b, next);
        ew_buf_addc(b, '}');
    }
    ew_buf_addc(b, '}');
}

/* base (a JSON object, or NULL) with the loop added, in eng->loop_evidence. */
static const char *ew_loop_evidence(struct ew_engine *eng, const struct ew_loop *l,
                                    const char *base, bool closing)
{
    struct ew_buf *b = &eng->loop_evidence;
    ew_buf_clear(b);
    size_t n = base ? strlen(base) : 0;
    while (n && base[n - 1] != '}')
        n--;
    bool members = false;
    for (size_t i = 1; base && i + 1 < n && !members; i++)
        members = base[i] != ' ';
    if (n >= 2 && members) {
        ew_buf_add(b, base, n - 1);
        ew_buf_addc(b, ',');
    } else {
        ew_buf_addc(b, '{');
    }
    ew_loop_json(b, eng, l, closing);
    ew_buf_addc(b, '}');
    return b->err ? base : b->data;
}

/* ---- the alert's own events ---- */

static void ew_loop_snap(struct ew_loop *l, const struct ew_alert_event *ev,
                         const char *enterprise_name, bool *ok)
{
    const char *s[EW_SNAP_N] = {ev->rule,        ev->kind,      ev->severity,  ev->enterprise_id,
                                enterprise_name, ev->outlet_id, ev->pollutant, ev->pollutant_name,
                                ev->unit,        ev->data_kind, ev->message,   ev->evidence};
    for (int i = 0; i < EW_SNAP_N; i++)
        *ok &= ew_loop_set_str(&l->snap[i], s[i]);
    l->level = -1;
    for (int i = 0; i + 1 < (int)sizeof ev->id && ev->id[i]; i++) /* "...-LEVEL" */
        if (ev->id[i] == '-')
            l->level = (int8_t)atoi(ev->id + i + 1);
    l->event = (uint8_t)ev->event;
    l->has_value = ev->has_value;
    l->has_limit = ev->has_limit;
    l->value = ev->value;
    l->limit = ev->limit;
    l->event_time = ev->event_time;
}

enum ew_loop_verdict ew_loop_event(struct ew_engine *eng, const struct ew_judge *j,
                                   struct ew_alert_event *ev)
{
    const struct ew_rule *r = j->r;
    const struct ew_policy *p = r->policy;
    struct ew_loop *l = ew_loop_find(eng, ev->fingerprint);
    if (ev->event == EW_AEV_RESOLVED) {
        if (!l)
            return EW_LOOP_SEND;
        if (l->started == INT64_MIN) { /* held through quiet hours and never sent: nor is this */
            eng->stats.loop_quiet_dropped++;
            ew_loop_end(eng, ev->fingerprint);
            return EW_LOOP_HOLD;
        }
        ew_trail_add(l, ev->event, ev->audience, ev->event_time, 0);
        l->held = INT64_MIN;
        ev->evidence = ew_loop_evidence(eng, l, ev->evidence, true);
        /* the officers who had it escalated to them learn of its end */
        ev->duty_copy = l->steps > 0;
        return EW_LOOP_SEND_END;
    }
    if (ev->event != EW_AEV_FIRING && ev->event != EW_AEV_REMINDER)
        return EW_LOOP_SEND;
    if (!l && !(l = ew_loop_add(eng, ev->fingerprint, j->mn, (uint32_t)(r - eng->rules->rules)))) {
        eng->stats.nomem++; /* sent without its loop */
        return EW_LOOP_SEND;
    }
    if (l->created == INT64_MIN)
        l->created = ev->event_time;
    bool ok = true;
    ew_loop_snap(l, ev, j->outlet ? j->outlet->enterprise_name : NULL, &ok);
    if (!ok)
        eng->stats.nomem++;
    if (r->audience == EW_AUDIENCE_ENTERPRISE && ew_quiet_holds(p, ev->event_time)) {
        l->held = ev->event_time; /* the latest reminder goes out when the quiet hours end */
        eng->stats.loop_quiet_held++;
        ew_loop_touch(eng, l, false);
        return EW_LOOP_HOLD;
    }
    if (l->held == INT64_MIN && l->ntrail && l->trail[l->ntrail - 1].event == EW_AEV_REMINDER &&
        l->trail[l->ntrail - 1].at >= ev->event_time && !j->fresh) {
        eng->stats.loop_quiet_held++; /* a repeat the reminder let out at the quiet hours' end
                                         says again: merged into it */
        return EW_LOOP_HOLD;
    }
    l->held = INT64_MIN;
    if (l->started == INT64_MIN)
        l->started = ev->event_time;
    ew_trail_add(l, ev->event, ev->audience, ev->event_time, 0);
    ev->evidence = ew_loop_evidence(eng, l, ev->evidence, false);
    ew_loop_touch(eng, l, false);
    return EW_LOOP_SEND;
}

/* One of the loop's own events, from what it kept of the alert. */
static void ew_loop_emit(struct ew_engine *eng, const struct ew_loop *l,
                         enum ew_alert_event_type type, enum ew_audience to, int64_t at,
                         const char *id_tail, const char *message, const char *evidence,
                         int64_t now)
{
    struct ew_alert_event ev = {0};
    snprintf(ev.id, sizeof ev.id, "%.16s-%lld-%s-%.24s", l->fingerprint, (long long)at,
             ew_alert_event_name(type), id_tail);
    memcpy(ev.fingerprint, l->fingerprint, 17);
    ev.rule = l->snap[EW_SNAP_RULE] ? l->snap[EW_SNAP_RULE] : eng->rules->rules[l->rule].id;
    ev.kind = l->snap[EW_SNAP_KIND] ? l->snap[EW_SNAP_KIND] : "";
    ev.event = type;
    ev.severity = l->snap[EW_SNAP_SEVERITY] ? l->snap[EW_SNAP_SEVERITY] : "info";
    ev.audience = to;
    ev.enterprise_id = l->snap[EW_SNAP_ENTERPRISE_ID] ? l->snap[EW_SNAP_ENTERPRISE_ID] : "";
    ev.mn = l->mn;
    ev.outlet_id = l->snap[EW_SNAP_OUTLET_ID];
    ev.pollutant = l->snap[EW_SNAP_POLLUTANT];
    ev.pollutant_name = l->snap[EW_SNAP_POLLUTANT_NAME];
    ev.has_value = l->has_value;
    ev.has_limit = l->has_limit;
    ev.value = l->value;
    ev.limit = l->limit;
    ev.unit = l->snap[EW_SNAP_UNIT];
    ev.data_kind = l->snap[EW_SNAP_DATA_KIND];
    ev.event_time = at;
    ev.detected_at = now;
    ev.message = message;
    ev.evidence = evidence;
    ev.tag = eng->tag;
    eng->stats.events++;
    eng->sink(eng->ctx, &ev);
}

static void ew_loop_vars(const struct ew_loop *l, struct ew_policy_vars *v)
{
    *v = (struct ew_policy_vars){.message = l->snap[EW_SNAP_MESSAGE],
                                 .enterprise_name = l->snap[EW_SNAP_ENTERPRISE_NAME]
                                                        ? l->snap[EW_SNAP_ENTERPRISE_NAME]
                                                        : l->snap[EW_SNAP_ENTERPRISE_ID],
                                 .mn = l->mn,
                                 .response = l->response,
                                 .by = l->ack_by,
                                 .note = l->ack_note};
}

/* The message rendered into eng->loop_msg, "" when there is none. */
static const char *ew_loop_msg(const struct ew_engine *eng)
{
    return !eng->loop_msg.err && eng->loop_msg.data ? eng->loop_msg.data : "";
}

/* `{"reason":REASON` and the rest of an event of the loop's own into b. */
static void ew_loop_reason(struct ew_buf *b, const char *reason)
{
    ew_buf_clear(b);
    ew_buf_adds(b, "{\"reason\":");
    ew_buf_json_str(b, reason);
}

static void ew_loop_act(struct ew_engine *eng, struct ew_loop *l, enum ew_loop_act act, int64_t at,
                        int64_t now)
{
    const struct ew_policy *p = ew_loop_policy(eng, l);
    struct ew_policy_vars v;
    struct ew_buf *ev = &eng->evidence;
    char tail[24];
    switch (act) {
    case EW_ACT_QUIET_END: { /* the reminder held, as it was, now */
        int64_t t = l->held;
        l->held = INT64_MIN;
        if (l->started == INT64_MIN)
            l->started = at;
        ew_trail_add(l, EW_AEV_REMINDER, EW_AUDIENCE_ENTERPRISE, at, 0);
        ew_loop_reason(ev, "held by quiet hours");
        ew_buf_adds(ev, ",\"held_from\":");
        ew_buf_json_time(ev, t);
        ew_buf_addc(ev, '}');
        const char *base = l->snap[EW_SNAP_EVIDENCE];
        /* the alert's own evidence, as it was when held, with the loop */
        const char *evid =
            ew_loop_evidence(eng, l, base ? base : (ev->err ? NULL : ev->data), false);
        snprintf(tail, sizeof tail, "%d", l->level);
        eng->stats.loop_quiet_sent++;
        ew_loop_emit(eng, l, EW_AEV_REMINDER, EW_AUDIENCE_ENTERPRISE, t, tail,
                     l->snap[EW_SNAP_MESSAGE] ? l->snap[EW_SNAP_MESSAGE] : "", evid, now);
        return;
    }
    case EW_ACT_RESPONSE: {
        const struct ew_response *r = ew_loop_response(eng, l);
        if (!r)
            return;
        l->responded = r->at;
        if (!ew_loop_set_str(&l->response, r->text))
            eng->stats.nomem++;
        ew_trail_add(l, EW_AEV_RESPONDED, EW_AUDIENCE_OFFICER, r->at, 0);
        ew_loop_vars(l, &v);
        ew_policy_render(&eng->loop_msg, p->responded_msg[eng->lang], &v, eng->lang);
        ew_loop_reason(ev, "the enterprise answered");
        ew_buf_adds(ev, ",\"alert_id\":");
        ew_buf_json_str(ev, r->alert_id);
        ew_buf_addc(ev, '}');
        eng->stats.loop_responses++;
        ew_loop_emit(eng, l, EW_AEV_RESPONDED, EW_AUDIENCE_OFFICER, r->at, "0", ew_loop_msg(eng),
                     ew_loop_evidence(eng, l, ev->err ? NULL : ev->data, false), now);
        return;
    }
    case EW_ACT_STEP: {
        int step = l->steps++;
        enum ew_audience to = (enum ew_audience)p->steps[step].to;
        ew_trail_add(l, EW_AEV_ESCALATED, to, at, step + 1);
        ew_loop_vars(l, &v);
        v.after_ms = p->steps[step].after_ms;
        v.step = step + 1;
        bool answered = l->responded != INT64_MIN && !ew_loop_officer_alert(eng, l);
        ew_policy_render(&eng->loop_msg,
                         answered ? p->recheck_msg[eng->lang] : p->steps[step].msg[eng->lang], &v,
                         eng->lang);
        ew_loop_reason(ev, answered ? "the condition persists after the answer"
                           : ew_loop_officer_alert(eng, l) ? "not acknowledged"
                                                           : "no response");
        ew_buf_adds(ev, ",\"step\":");
        ew_buf_json_num(ev, step + 1);
        ew_buf_addc(ev, '}');
        snprintf(tail, sizeof tail, "%d", step + 1);
        eng->stats.loop_escalations++;
        ew_loop_emit(eng, l, EW_AEV_ESCALATED, to, at, tail, ew_loop_msg(eng),
                     ew_loop_evidence(eng, l, ev->err ? NULL : ev->data, false), now);
        return;
    }
    case EW_ACT_NONE:
        return;
    }
}

void ew_loops_sweep(struct ew_engine *eng, struct ew_site *site, int64_t ref, int64_t now)
{
    if (!site->looped)
        return;
    for (int guard = 0; guard < 4 * EW_POLICY_STEPS + 8; guard++) {
        struct ew_loop *first = NULL;
        enum ew_loop_act act = EW_ACT_NONE;
        int64_t at = INT64_MAX;
        for (struct ew_loop *l = ew_loops_of(eng, site->mn); l; l = l->site_next) {
            enum ew_loop_act a;
            int64_t t = ew_loop_next(eng, l, &a);
            if (t <= ref && t < at)
                first = l, act = a, at = t;
        }
        if (!first)
            return;
        ew_loop_act(eng, first, act, at, now);
    }
}

/* ---- what comes from outside: answers and acknowledgements ---- */

int ew_engine_response(struct ew_engine *eng, const char *alert_id)
{
    struct ew_loop *l = alert_id ? ew_loop_find(eng, alert_id) : NULL;
    if (!l)
        return EW_ENOTFOUND;
    ew_loop_touch(eng, l, true);
    return 0;
}

int ew_engine_acknowledge(struct ew_engine *eng, const char *alert_id, const char *by,
                          const char *note, const char *entry, int64_t now)
{
    struct ew_loop *l = alert_id ? ew_loop_find(eng, alert_id) : NULL;
    if (!l)
        return EW_ENOTFOUND;
    if (l->ack_entry && entry && !strcmp(l->ack_entry, entry))
        return 1; /* read again: applied already */
    struct ew_site *site = ew_sitetab_find(&eng->sites, l->mn, strlen(l->mn));
    if (site)
        ew_site_dirty(eng, site); /* before the loop changes: a frozen site as it was */
    /* on the engine's clock, as the rest of the history (data time, bounded by processing
     * time): no step fires after it */
    int64_t at = eng->clock != INT64_MIN && eng->clock < now ? eng->clock : now;
    if (l->acked == INT64_MIN)
        l->acked = at;
    if (!ew_loop_set_str(&l->ack_by, by && *by ? by : NULL) ||
        !ew_loop_set_str(&l->ack_note, note && *note ? note : NULL) ||
        !ew_loop_set_str(&l->ack_entry, entry))
        return EW_ENOMEM;
    ew_trail_add(l, EW_AEV_ACKNOWLEDGED, EW_AUDIENCE_OFFICER, at, 0);
    struct ew_policy_vars v;
    ew_loop_vars(l, &v);
    const struct ew_policy *p = ew_loop_policy(eng, l);
    ew_policy_render(&eng->loop_msg, p ? p->acked_msg[eng->lang] : "{message}", &v, eng->lang);
    struct ew_buf *ev = &eng->evidence;
    ew_loop_reason(ev, "acknowledged");
    ew_buf_adds(ev, ",\"alert_id\":");
    ew_buf_json_str(ev, alert_id);
    ew_buf_json_opt_str(ev, "by", l->ack_by);
    ew_buf_json_opt_str(ev, "note", l->ack_note);
    ew_buf_addc(ev, '}');
    uint64_t tag = eng->tag;
    eng->tag = 0; /* no record caused it */
    eng->stats.loop_acks++;
    ew_loop_emit(eng, l, EW_AEV_ACKNOWLEDGED, EW_AUDIENCE_OFFICER, at, entry ? entry : "0",
                 ew_loop_msg(eng), ew_loop_evidence(eng, l, ev->err ? NULL : ev->data, false), now);
    eng->tag = tag;
    ew_loop_touch(eng, l, true);
    return 0;
}
