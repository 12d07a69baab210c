/*
 * ew_render.h - one judgement's context and what the events it causes say: fingerprint, id,
 * subject, message (the rule's template, in the engine's language) and evidence. Internal to
 * rules/.
 */
#ifndef EW_RENDER_H
#define EW_RENDER_H

#include <stdbool.h>
#include <stdint.h>

#include "ew_alert.h"
#include "ew_buf.h"
#include "ew_registry.h"
#include "ew_rule.h"
#include "ew_site.h"

struct ew_judge {
    const struct ew_rule *r;
    const char *mn;
    const char *data_kind;    /* "hour"...; NULL for a site-wide alert */
    const struct ew_value *v; /* the value judged; NULL for a site-wide alert */
    const struct ew_outlet *outlet;
    const struct ew_limit *limit;
    struct ew_obs obs;
    int64_t silence;   /* offline: how long the site has been silent (ms) */
    int64_t last_data; /* offline: the site's last data time, which {time} shows */
    int64_t now;
    uint32_t inputs;     /* a computed average: how many valid values it averages; 0 when sent */
    const void *kstate;  /* the key's kind state (ew_kind.explain reads it); NULL none */
    const char *subject; /* what the alert is about when not a value: a deadline, a region */
    const char *title;   /* {title}: a deadline's */
    /* the key whose event this is, as it was before the judgement (a declaration mutes what it
     * explains: ew_emit); life NULL: not a key's event */
    struct ew_life *life;
    bool muted, fresh; /* its firing was not sent; it was not firing */
};

/* Notes the key an event is about to come from, before its judgement. */
static inline void ew_judge_key(struct ew_judge *j, struct ew_life *l)
{
    j->life = l;
    j->muted = l && l->muted;
    j->fresh = l && l->status != EW_LIFE_FIRING;
}

/* Fills out for an event of judgement j (all but evidence and tag). The message is written into
 * msg; out's strings are borrowed from j, its rule and msg. */
void ew_render_event(const struct ew_judge *j, enum ew_alert_event_type type, int level,
                     enum ew_lang lang, struct ew_buf *msg, struct ew_alert_event *out);

/* Evidence of a value judged at level, written into b: {reason, field, value, threshold?, flag?,
 * since, values, computed_from?} and what the kind's state says (ew_kind.explain: a trend's
 * predicted_at, slope_per_hour, points and fit; a jump's previous value and previous_time).
 * Returns b's text, or NULL when out of memory. */
const char *ew_evidence_value(struct ew_buf *b, const struct ew_judge *j, int level,
                              const char *reason, double threshold, int64_t since, uint32_t held);

/* Evidence of a site's silence: {reason, SINCE_NAME, silence_minutes}. */
const char *ew_evidence_silence(struct ew_buf *b, const struct ew_rule *r, const char *reason,
                                int64_t last_data, int64_t silence);

#endif
