/*
 * ew_loop.h - the closed loop (rules/RULES.md, "The closed loop"): an alert of a rule with an
 * escalation policy is followed from its first notice to its resolution. Its steps escalate it
 * to the officer and the supervisor while nobody reacts; the enterprise's response (from the
 * registry, at its time) and an officer's acknowledgement stop them; enterprise reminders that
 * fall in the policy's quiet hours are held until they end. Every step is an event written to
 * the sink, with the history so far in its evidence ("loop"), and every timer is the site's,
 * on the engine's clock. Internal to rules/.
 *
 * A loop is kept per alert (fingerprint) while it fires, in the engine's table, with a copy of
 * the alert's last event sent, so that a step can say what it escalates without judging again.
 * The table finds a loop by fingerprint and a site's loops (in the order they were made) in
 * constant time: an alert storm of a whole province costs per event what one alert does.
 */
#ifndef EW_LOOP_H
#define EW_LOOP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ew_alert.h"
#include "ew_buf.h"
#include "ew_rules.h"
#include "ew_site.h"

struct ew_engine;
struct ew_judge;
struct ew_rule;

#define EW_TRAIL_MAX 12 /* the history's newest entries kept; older ones are counted */

/* One entry of an alert's history: what was sent to whom, and when (data time). */
struct ew_trail {
    int64_t at;
    uint8_t event;    /* enum ew_alert_event_type */
    uint8_t audience; /* enum ew_audience */
    uint8_t step;     /* an escalation's step, from 1; 0 otherwise */
};

/* The strings of the alert's last event, kept (owned) for the loop's own events. */
enum {
    EW_SNAP_RULE,
    EW_SNAP_KIND,
    EW_SNAP_SEVERITY,
    EW_SNAP_ENTERPRISE_ID,
    EW_SNAP_ENTERPRISE_NAME,
    EW_SNAP_OUTLET_ID,
    EW_SNAP_POLLUTANT,
    EW_SNAP_POLLUTANT_NAME,
    EW_SNAP_UNIT,
    EW_SNAP_DATA_KIND,
    EW_SNAP_MESSAGE,
    EW_SNAP_EVIDENCE,
    EW_SNAP_N
};

struct ew_loop {
    char fingerprint[17];
    char mn[EW_MN_MAX];
    uint32_t rule; /* index in the engine's rule set */
    int8_t level;  /* of the last event sent */
    uint8_t event; /* its type */
    bool has_value, has_limit;
    double value, limit;
    int64_t event_time; /* of the last alert event (firing, reminder) */
    char *snap[EW_SNAP_N];
    int64_t created;   /* the alert's first event's time: responses before it are another's */
    int64_t started;   /* when its first notice was sent (the steps count from it); INT64_MIN
                          while held by quiet hours */
    int64_t held;      /* a reminder held by quiet hours (its event time), INT64_MIN none */
    int64_t responded; /* the last response applied (its time), INT64_MIN none */
    int64_t acked;     /* when it was acknowledged, INT64_MIN not */
    uint8_t steps;     /* escalation steps fired */
    uint8_t ntrail;
    uint16_t trail_dropped;
    struct ew_trail trail[EW_TRAIL_MAX];
    char *response; /* the last response's text, owned; NULL none */
    char *ack_by, *ack_note, *ack_entry;
    struct ew_loop *site_next, *site_prev; /* the site's loops, in the order they were made */
};

/* An open-addressing set of loops (power-of-two slots, linear probing, removal by shifting back),
 * keyed by fingerprint (every loop) or by MN (the first loop of each site). */
struct ew_loopset {
    struct ew_loop **slot;
    size_t n, cap;
};

struct ew_loops {
    struct ew_loopset by_fp, by_site;
};

/* Placeholder values of a policy message (ew_policy_render). */
struct ew_policy_vars {
    const char *message, *enterprise_name, *mn, *response, *by, *note;
    int64_t after_ms;
    int step;
};

/* A rule file's "escalation" object into set->policies. Returns 0, EW_EINVAL (why says) or
 * EW_ENOMEM. */
int ew_policies_add_json(struct ew_ruleset *set, json_t *obj, char *why, size_t n);
/* Writes tpl with its placeholders filled into b (NUL-ended). */
void ew_policy_render(struct ew_buf *b, const char *tpl, const struct ew_policy_vars *v,
                      enum ew_lang lang);

enum ew_loop_verdict { EW_LOOP_SEND = 0, EW_LOOP_HOLD, EW_LOOP_SEND_END };

/* An event of judgement j (rendered in ev) of a rule with a policy, about to be sent: the loop
 * is made or moved, ev's evidence gets the history. HOLD: not sent (a reminder in quiet hours,
 * or the end of an alert nobody was told of); SEND_END: sent, and then ew_loop_end. */
enum ew_loop_verdict ew_loop_event(struct ew_engine *eng, const struct ew_judge *j,
                                   struct ew_alert_event *ev);
/* The alert of fingerprint fp resolved: its loop goes. */
void ew_loop_end(struct ew_engine *eng, const char *fp);

/* The earliest time one of the site's loops acts (a step, a response, quiet hours ending),
 * INT64_MAX none. */
int64_t ew_loops_due(struct ew_engine *eng, struct ew_site *site);
/* What the site's loops do by ref, each as of its own time, in time order. */
void ew_loops_sweep(struct ew_engine *eng, struct ew_site *site, int64_t ref, int64_t now);
/* The site's loops go (the site was evicted or forgotten). */
void ew_loops_drop_site(struct ew_engine *eng, const char *mn);
/* After a reload: loop rule numbers by map (old -> new, -1 gone); a loop of a rule gone, or
 * whose policy is not the same, goes. */
void ew_loops_remap(struct ew_engine *eng, const int32_t *map, const struct ew_ruleset *old);
void ew_loops_free(struct ew_loops *l);

/* ---- the table (ew_loop.c), for checkpoints ---- */

/* A new loop in the table, zeroed but for its identity, the last of its site's; NULL out of
 * memory. */
struct ew_loop *ew_loop_add(struct ew_engine *eng, const char *fp, const char *mn, uint32_t rule);
/* The loop of fingerprint fp, or NULL. */
struct ew_loop *ew_loop_find(const struct ew_engine *eng, const char *fp);
/* The first of the site mn's loops (then l->site_next), or NULL. */
struct ew_loop *ew_loops_of(const struct ew_engine *eng, const char *mn);
/* How many loops there are. */
static inline size_t ew_loops_count(const struct ew_loops *t)
{
    return t->by_fp.n;
}
/* Frees the strings a loop owns (not the loop). */
void ew_loop_release(struct ew_loop *l);
/* A copy of s into *slot (freeing what was there); s NULL clears it. false out of memory. */
bool ew_loop_set_str(char **slot, const char *s);

#endif
