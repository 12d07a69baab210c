/*
 * ew_life.h - the alert lifecycle of one (site, rule, pollutant), moved one judgement at a
 * time (rules/RULES.md, "Lifecycle"):
 *
 *   idle --level--> pending --held "for"--> firing --clear held "clear.for"--> idle
 *                   pending --clear/below the level--> idle (resolved: cleared before firing)
 *                   firing --a higher level held "for"--> firing at that level
 *                   firing --the same level after "repeat"--> firing again (a reminder)
 *                   firing --too many changes in "flap.window"--> held until a calm window
 *
 * Durations (`for`, `clear.for` given as times, flap windows, `repeat`) also end between two
 * values: ew_life_next says when, and ew_life_due makes the judgement then, so a duration is
 * judged when the engine's clock passes it, not when the next value comes.
 *
 * Pure: a step changes the lifecycle and says which event, if any, is due; the engine writes
 * it. Internal to rules/.
 */
#ifndef EW_LIFE_H
#define EW_LIFE_H

#include <stdbool.h>
#include <stdint.h>

#include "ew_alert.h"
#include "ew_rule.h"
#include "ew_site.h"

/* The event a step calls for, with what its evidence tells. */
struct ew_step {
    enum ew_alert_event_type type;
    int level;
    const char *reason; /* a level's name, "still firing", "condition cleared"... */
    double threshold;   /* NAN when none */
    int64_t since;      /* when the condition began to hold */
    uint32_t held;      /* values that held it */
};

/* Moves l by one judgement of rule r at data time t (verdict: EW_OBS_* or a level index;
 * limit: the registry's, NAN when none). Returns true when an event is due, described in out. */
bool ew_life_step(const struct ew_rule *r, struct ew_life *l, int verdict, int64_t t, double limit,
                  struct ew_step *out);

/* A duration that ends between two values (`for`, `clear.for`, a flap window's calm, a repeat):
 * the time the last verdict, held on, next acts, no later than l->covered (the value is not
 * known to hold past the period it stands for); INT64_MAX when nothing is due. */
int64_t ew_life_next(const struct ew_rule *r, const struct ew_life *l);

/* Moves l as of time t (>= ew_life_next's time) on its last verdict, without a new value: the
 * level fires, repeats or the alert resolves, as the next value would have made it at t.
 * Returns true when an event is due, described in out. */
bool ew_life_due(const struct ew_rule *r, struct ew_life *l, int64_t t, double limit,
                 struct ew_step *out);

/* A key's next time-driven judgement: its duration, repeat or calm (ew_life_next), or the time
 * its level stops holding by itself (ew_kind.expires: a declared window's end); INT64_MAX none,
 * and for the kinds judged at an enterprise's anchor site (their own timers). */
static inline int64_t ew_key_next(const struct ew_rule *r, const struct ew_site *s,
                                  const struct ew_sitekey *k)
{
    if (r->kind->registry == EW_REG_ANCHOR)
        return INT64_MAX;
    int64_t due = ew_life_next(r, &k->life);
    if (r->kind->expires && k->state && k->life.status != EW_LIFE_IDLE && k->life.verdict >= 0) {
        int64_t e = r->kind->expires(ew_key_state(s, k));
        if (e < due)
            due = e;
    }
    return due;
}

/* Back to idle; the flap window and its count survive, they describe the key's history. */
void ew_life_idle(struct ew_life *l);

/* Whether l is as a new key's: idle, gathering toward no level, with no flap history. The
 * times it still holds are read only after a step sets them again. */
bool ew_life_blank(const struct ew_life *l);

/* The event a rule fires with: `firing` for officers, `reminder` for enterprises. */
enum ew_alert_event_type ew_life_fire_event(const struct ew_rule *r);

#endif
