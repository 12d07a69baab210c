/* ew_life.c - the alert lifecycle (see ew_life.h). */
#include "ew_life.h"

#include <math.h>

static bool ew_held(uint32_t count, int64_t since, uint32_t need, int64_t need_ms, int64_t t)
{
    return need_ms ? t - since >= need_ms : count >= need;
}

void ew_life_idle(struct ew_life *l)
{
    *l = (struct ew_life){.level = -1,
                          .cand = -1,
                          .verdict = EW_OBS_CLEAR,
                          .covered = INT64_MIN,
                          .window_start = l->window_start,
                          .changes = l->changes};
}

bool ew_life_blank(const struct ew_life *l)
{
    return l->status == EW_LIFE_IDLE && l->cand < 0 && l->changes == 0;
}

/* Counts one state change; true when it is one more than the window allows. */
static bool ew_flap_change(const struct ew_rule *r, struct ew_life *l, int64_t t)
{
    if (!r->flap_changes)
        return false;
    if (l->changes == 0 || t - l->window_start > r->flap_ms) {
        l->window_start = t;
        l->changes = 0;
    }
    if (l->changes < UINT16_MAX)
        l->changes++;
    return l->changes > r->flap_changes;
}

enum ew_alert_event_type ew_life_fire_event(const struct ew_rule *r)
{
    return r->audience == EW_AUDIENCE_OFFICER ? EW_AEV_FIRING : EW_AEV_REMINDER;
}

static bool ew_due(struct ew_step *out, enum ew_alert_event_type type, int level,
                   const char *reason, double threshold, int64_t since, uint32_t held)
{
    *out = (struct ew_step){type, level, reason, threshold, since, held};
    return true;
}

/* The level gathering (l->cand) has held: it fires at t. */
static bool ew_life_fire(const struct ew_rule *r, struct ew_life *l, int64_t t, double limit,
                         struct ew_step *out)
{
    int level = l->cand;
    ew_due(out, ew_life_fire_event(r), level, r->levels[level].name,
           ew_bound_value(&r->levels[level].above, limit), l->run_since, l->run_count);
    if (l->status != EW_LIFE_FIRING)
        ew_flap_change(r, l, t);
    l->status = EW_LIFE_FIRING;
    l->level = (int8_t)level;
    l->since = l->run_since;
    l->cand = -1;
    l->run_count = 0;
    l->notified_at = t;
    return true;
}

/* A firing alert whose level still holds at t: a reminder once `repeat` has passed. */
static bool ew_life_repeat(const struct ew_rule *r, struct ew_life *l, int64_t t, double limit,
                           struct ew_step *out)
{
    if (!r->repeat_ms || t - l->notified_at < r->repeat_ms)
        return false;
    l->notified_at = t;
    return ew_due(out, ew_life_fire_event(r), l->level, "still firing",
                  ew_bound_value(&r->levels[l->level].above, limit), l->since, 1);
}

/* A firing alert clear since l->run_since: it resolves at t once the clear has held (a flapping
 * one only once it has been clear for a whole flap window). */
static bool ew_life_clear(const struct ew_rule *r, struct ew_life *l, int64_t t, double limit,
                          struct ew_step *out)
{
    bool held = l->flapping ? t - l->run_since >= r->flap_ms
                            : ew_held(l->run_count, l->run_since, r->clear_count, r->clear_ms, t);
    if (!held)
        return false;
    if (!l->flapping && ew_flap_change(r, l, t)) {
        l->flapping = 1; /* one change too many: it stays firing */
        return false;
    }
    const char *why = l->flapping                   ? "calm after flapping"
                      : r->kind->cleared            ? r->kind->cleared
                      : isnan(r->clear_below.value) ? "condition cleared"
                                                    : "below the clear level";
    ew_due(out, EW_AEV_RESOLVED, l->level, why, ew_bound_value(&r->clear_below, limit),
           l->run_since, l->run_count);
    if (l->flapping)
        l->changes = 0; /* a fresh window after the calm */
    ew_life_idle(l);
    return true;
}

/* A level held (verdict >= 0). */
static bool ew_life_level(const struct ew_rule *r, struct ew_life *l, int verdict, int64_t t,
                          double limit, struct ew_step *out)
{
    if (l->status == EW_LIFE_FIRING && verdict <= l->level) {
        l->cand = -1; /* the level holds, or a lower one: nothing new, but a reminder */
        l->run_count = 0;
        return ew_life_repeat(r, l, t, limit, out);
    }
    if (l->cand != verdict) { /* a new run: another level's, or after a clear one */
        l->cand = (int8_t)verdict;
        l->run_count = 0;
        l->run_since = t;
    }
    if (l->run_count < UINT32_MAX)
        l->run_count++;
    if (ew_held(l->run_count, l->run_since, r->for_count, r->for_ms, t))
        return ew_life_fire(r, l, t, limit, out);
    if (l->status != EW_LIFE_IDLE)
        return false;
    l->status = EW_LIFE_PENDING;
    l->level = (int8_t)verdict;
    l->since = t;
    return !r->kind->quiet_pending &&
           ew_due(out, EW_AEV_PENDING, verdict, r->levels[verdict].name,
                  ew_bound_value(&r->levels[verdict].above, limit), t, l->run_count);
}

bool ew_life_step(const struct ew_rule *r, struct ew_life *l, int verdict, int64_t t, double limit,
                  struct ew_step *out)
{
    if (verdict == EW_OBS_SKIP)
        return false;
    if (verdict >= 0)
        return ew_life_level(r, l, verdict, t, limit, out);
    if (l->cand >= 0) { /* a level's run ends */
        l->cand = -1;
        l->run_count = 0;
    }
    if (l->status == EW_LIFE_PENDING) { /* below the level before it held: never fired */
        int level = l->level;
        ew_life_idle(l);
        return !r->kind->quiet_pending &&
               ew_due(out, EW_AEV_RESOLVED, level, "cleared before firing",
                      ew_bound_value(&r->levels[level].above, limit), t, 1);
    }
    if (l->status != EW_LIFE_FIRING || verdict == EW_OBS_HOLD) {
        l->run_count = 0; /* in the hysteresis band, a firing alert holds */
        return false;
    }
    if (l->run_count == 0)
        l->run_since = t;
    if (l->run_count < UINT32_MAX)
        l->run_count++;
    return ew_life_clear(r, l, t, limit, out);
}

/* What the last verdict, held on, does next in time, and when; INT64_MAX when nothing. */
int64_t ew_life_next(const struct ew_rule *r, const struct ew_life *l)
{
    int64_t due = INT64_MAX;
    if (l->verdict >= 0) {
        if (l->status == EW_LIFE_FIRING && l->verdict <= l->level) {
            if (r->repeat_ms)
                due = l->notified_at + r->repeat_ms;
        } else if (l->cand == l->verdict && r->for_ms) {
            due = l->run_since + r->for_ms;
        }
    } else if (l->verdict == EW_OBS_CLEAR && l->status == EW_LIFE_FIRING && l->run_count) {
        int64_t need = l->flapping ? r->flap_ms : r->clear_ms;
        if (need)
            due = l->run_since + need;
    }
    return due <= l->covered ? due : INT64_MAX;
}

bool ew_life_due(const struct ew_rule *r, struct ew_life *l, int64_t t, double limit,
                 struct ew_step *out)
{
    int64_t due = ew_life_next(r, l);
    if (due == INT64_MAX || t < due)
        return false;
    if (l->verdict < 0)
        return ew_life_clear(r, l, t, limit, out);
    if (l->status == EW_LIFE_FIRING && l->verdict <= l->level)
        return ew_life_repeat(r, l, t, limit, out);
    return ew_life_fire(r, l, t, limit, out);
}
