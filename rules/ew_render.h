/*
 * ew_render.h - one judgement's context and what the events it causes say: fingerprint, id,
 * subject, message (the rule's template, in the engine's language) and evidence. Internal to
 * rules/.
 */
#ifndef EW_RENDER_H
#define EW_RENDER_H

#include <stdint.h>

#include "ew_alert.h"
#include "ew_buf.h"
#include "ew_registry.h"
#include "ew_rule.h"

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
    uint32_t inputs;    /* a computed average: how many valid values it averages; 0 when sent */
    const void *kstate; /* the key's kind state (ew_kind.explain reads it); NULL none */
};

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
