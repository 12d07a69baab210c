/*
 * ew_rule.h - the compiled form of rules, shared by the compiler (ew_ruleset.c), the kinds
 * and the engine (the public face is ew_rules.h). Internal to rules/.
 *
 * A rule is compiled once: selectors become bit masks and packed codes, thresholds numbers,
 * message templates lists of segments. Nothing of the rule's JSON is looked at per record.
 */
#ifndef EW_RULE_H
#define EW_RULE_H

#include <jansson.h>
#include <stdbool.h>
#include <string.h>

#include "ew_rules.h"
#include "ew_time.h"

#define EW_RULE_ID_MAX     64
#define EW_RULE_MAX_LEVELS 6
#define EW_RULE_MAX_CODES  32
#define EW_RULE_MAX_FIELDS 4
#define EW_RULE_MAX_ST     8
#define EW_KIND_STATE_MAX  32 /* bytes of kind-specific state per key (trend's window) */
#define EW_RULE_MAX_WHO    16 /* enterprises, outlets or tags a rule names */
#define EW_RULE_WHO_LEN    48

/* What a kind says of one observation. */
enum { EW_OBS_SKIP = -3, EW_OBS_HOLD = -2, EW_OBS_CLEAR = -1 }; /* >= 0: a level */

/* A message template: literal text and placeholders, in order. */
enum ew_tpl_var {
    EW_TPL_TEXT = 0,
    EW_TPL_ENTERPRISE_NAME,
    EW_TPL_ENTERPRISE_ID,
    EW_TPL_MN,
    EW_TPL_OUTLET_ID,
    EW_TPL_POLLUTANT,
    EW_TPL_POLLUTANT_NAME,
    EW_TPL_UNIT,
    EW_TPL_VALUE,
    EW_TPL_LIMIT,
    EW_TPL_PERCENT,
    EW_TPL_LEVEL,
    EW_TPL_SEVERITY,
    EW_TPL_TIME,
    EW_TPL_RULE,
    EW_TPL_SILENCE,
    EW_TPL_ETA,
    EW_TPL_TITLE,
};

struct ew_tpl_seg {
    enum ew_tpl_var var;
    const char *text; /* EW_TPL_TEXT: the literal (owned by the template) */
    size_t len;
};

struct ew_tpl {
    size_t nsegs;
    struct ew_tpl_seg *segs;
    char *buf; /* the literals */
};

/* A threshold: absolute, or a fraction of the limit. */
struct ew_bound {
    double value;
    bool relative; /* value is a fraction of the limit (0.8 for "80%") */
};

enum ew_limit_kind { EW_LIMIT_AUTO = 0, EW_LIMIT_RTD, EW_LIMIT_HOUR, EW_LIMIT_DAY };

struct ew_rule;
struct ew_site;
struct ew_life;

/* What the whole record says that kinds may need beside the judged value. */
struct ew_recctx {
    double flow; /* the site's flow (a00000/w00000) if sent and valid, else NAN */
    double o2;   /* measured O2 (a19001) if sent and valid, else NAN */
    /* the kinds the registry drives (ew_enterprise_judge.c) */
    double production;    /* facility_off: the paired production meters' power (their largest),
                             NAN when the record has none */
    double production_on; /* and the on_threshold of that meter */
    int64_t until;        /* declaration_contradiction, weather_response: when the declared
                             window or the warning ends (the verdict clears then by itself) */
    bool production_only; /* facility_off: the record has production readings, no treatment's */
};

struct ew_obs {
    double value;
    uint8_t flag_meaning; /* enum ew_flag_meaning */
    uint8_t field;        /* enum ew_field judged */
    double limit;         /* NAN when the registry has none */
    int64_t time;
    uint64_t code; /* packed pollutant code */
    const struct ew_recctx *ctx;
};

/* What a kind's state says beside the verdict, for an event's evidence and its {eta}: a trend's
 * fit, a jump's previous value. Unset members are NAN (INT64_MIN for times, 0 for points). */
struct ew_facts {
    int64_t predicted_at; /* trend: when the fitted line crosses the level */
    double slope_per_hour;
    double fit; /* R squared of the fitted line */
    uint32_t points;
    double previous;       /* sudden_change: the value before the jump */
    int64_t previous_time; /* and its data time */
};

/* Whether the value's flag means normal (a value sent without one counts as normal): only such
 * values judge over-limit (DOMAIN.md), and only they are points of a series. */
static inline bool ew_obs_valid(const struct ew_obs *o)
{
    return o->flag_meaning == EW_FLAG_NORMAL || o->flag_meaning == EW_FLAG_NONE;
}

struct ew_kind {
    const char *name;
    size_t state_size;   /* <= EW_KIND_STATE_MAX; plain data, valid for any bytes (it is
                            imported from checkpoints) */
    bool quiet_pending;  /* no pending events: its conditions are only news once they hold */
    bool site_wide;      /* judged per site on ticks (offline), not per value */
    const char *cleared; /* the reason a resolution gives; NULL: "condition cleared" */
    const char *expired; /* the reason when the level ended by itself (ew_kind.expires) */
    const char *const *level_zh; /* {level} in Chinese messages, by the level's bound; NULL:
                                    the level's name */
    bool declared;               /* a declared maintenance or shutdown window explains its alerts */
    /* Judged from what the registry says rather than by the values a rule selects: per record
     * at the sites it concerns (facility_off, declaration_contradiction, weather_response), or
     * at each enterprise's anchor site on the clock (deadline, weather_warning); see
     * ew_enterprise_judge.c. enum ew_kind_registry. */
    uint8_t registry;
    /* Site-wide kinds: the time the site's silence counts from (shown as {time}), or INT64_MIN
     * when the site is not judged now; its levels' "after" is measured from that time plus
     * silent_offset_ms. The record that ends the silence is asked to `heard` (computed: it is
     * an average the engine computed, not data the site sent). */
    int64_t (*silent_since)(const struct ew_site *s);
    int64_t silent_offset_ms;
    const char *since_name; /* the evidence's name for that time: "last_data" */
    /* Site-wide kinds: whether a record of data kind `kind` and time t ends the firing silence
     * l; the reason for the resolution, or NULL when it does not. */
    const char *(*heard)(const struct ew_rule *r, const struct ew_life *l, int kind, int64_t t,
                         bool computed);
    /* Reads the kind's own members of the rule object into r. why gets the reason on error. */
    int (*compile)(json_t *obj, struct ew_rule *r, char *why, size_t n);
    /* Judges one observation: EW_OBS_* or a level index. */
    int (*eval)(const struct ew_rule *r, void *state, const struct ew_obs *obs);
    /* Optional: what the key's state says for an event at level `level` of a value judged as obs
     * (after eval took it), into out (every member preset unset). */
    void (*explain)(const struct ew_rule *r, const void *state, const struct ew_obs *obs, int level,
                    struct ew_facts *out);
    /* Optional: when the last verdict stops holding by itself (a declared window's end, a
     * warning's), INT64_MAX none: the key clears then on the clock. */
    int64_t (*expires)(const void *state);
    /* Optional: the limit the key's last value was judged against, when it is the kind's (a
     * registry kind's), not the outlet's; a duration that ends later is judged against it. */
    double (*limit)(const void *state);
};

enum ew_kind_registry { EW_REG_NONE = 0, EW_REG_RECORD, EW_REG_ANCHOR };

/* An escalation policy (rules/RULES.md, "The closed loop"): the steps an alert of a rule that
 * names it goes through while nobody reacts, on the engine's clock. */
#define EW_POLICY_NAME_MAX 32
#define EW_POLICY_STEPS    4
#define EW_POLICY_MSG_MAX  384
struct ew_policy {
    char name[EW_POLICY_NAME_MAX];
    size_t nsteps;
    struct {
        int64_t after_ms;               /* from the alert's first notice, ascending */
        uint8_t to;                     /* enum ew_audience: officer or supervisor */
        char msg[2][EW_POLICY_MSG_MAX]; /* by enum ew_lang; "{message}", "{after}"... */
    } steps[EW_POLICY_STEPS];
    int64_t recheck_ms; /* after a response, the condition still holding this long resumes the
                           chain; 0: a response ends it */
    int64_t repeat_ms;  /* re-reminders while the condition holds (a rule without `repeat`) */
    int32_t quiet_from, quiet_to; /* enterprise reminders held in [from, to), minutes of the day
                                     in Beijing time; -1 none */
    char responded_msg[2][EW_POLICY_MSG_MAX];
    char recheck_msg[2][EW_POLICY_MSG_MAX]; /* a step after an answer: the condition persists */
    char acked_msg[2][EW_POLICY_MSG_MAX];
};

struct ew_rule {
    char id[EW_RULE_ID_MAX];
    const struct ew_kind *kind;
    enum ew_audience audience;
    /* selection */
    size_t nst;
    char st[EW_RULE_MAX_ST][8]; /* none: every system */
    uint32_t data_kinds;        /* bit per enum ew_data_kind */
    bool limited_only;          /* pollutants: "limited" */
    size_t ncodes;
    uint64_t codes[EW_RULE_MAX_CODES]; /* packed 2017 codes; none: every pollutant */
    /* sites by the registry: enterprise ids, outlet ids, tags (any of each list; empty: all) */
    size_t nwho[3];
    char who[3][EW_RULE_MAX_WHO][EW_RULE_WHO_LEN];
    size_t nfields;
    uint8_t fields[EW_RULE_MAX_FIELDS]; /* enum ew_field, in order of preference */
    enum ew_limit_kind limit_kind;
    /* levels, ascending */
    size_t nlevels;
    struct {
        char name[24];
        char severity[16];
        struct ew_bound above;
    } levels[EW_RULE_MAX_LEVELS];
    /* how long a level must hold before it fires, and the clear condition (hysteresis) */
    uint32_t for_count;
    int64_t for_ms;
    struct ew_bound clear_below;
    uint32_t clear_count;
    int64_t clear_ms;
    int64_t repeat_ms;     /* a firing alert is notified again after this; 0: never */
    uint16_t flap_changes; /* more state changes than this in flap_ms: resolution is held */
    int64_t flap_ms;
    /* kind parameters */
    double o2_max;          /* threshold: converted (Zs) fields are not judged above this O2; NAN */
    uint32_t o2_fields;     /* threshold: bit per field that o2_max applies to (none without it) */
    double epsilon;         /* constant: the largest change that still counts as unchanged */
    double flow_above;      /* zero_with_flow, constant: the flow that means the source runs */
    double range;           /* over_range: the instrument's range, NAN when only flag T counts */
    uint32_t flag_meanings; /* flag_persisting: bit per enum ew_flag_meaning that counts */
    size_t nexcept;
    uint64_t except[EW_RULE_MAX_CODES]; /* negative: codes never judged */
    int64_t window_ms;                  /* trend: the span of data time the line is fitted over */
    int64_t horizon_ms;                 /* trend: how far ahead a crossing is worth a reminder */
    uint32_t min_points;   /* trend: the fewest points (of EW_TREND_POINTS) to fit on */
    double min_fit;        /* trend: the least R squared the line must have */
    double ratio;          /* sudden_change: a jump of more than this share of the value before */
    double step;           /* sudden_change: or of more than this much; NAN when not given */
    struct ew_bound floor; /* sudden_change: the least value a ratio is taken of (noise at zero) */
    int64_t within_ms;     /* sudden_change: values further apart are not consecutive; 0 any */
    int8_t direction;      /* sudden_change: 1 up only, -1 down only, 0 both */
    /* messages by [resolved?][enum ew_lang]; an empty English one falls back to Chinese */
    struct ew_tpl msg[2][2];
    /* the escalation policy it names (`escalation`), resolved by ew_ruleset_link; NULL none */
    char policy_name[EW_POLICY_NAME_MAX];
    const struct ew_policy *policy;
    bool repeat_from_policy; /* repeat_ms is the policy's (the rule sets none) */
    /* derived by ew_ruleset_index: bit per field the rule judges, and per field the fields the
     * rule prefers to it */
    uint32_t field_mask;
    uint32_t better[EW_FIELD_COUNT];
};

struct ew_ruleset {
    size_t nrules, cap;
    struct ew_rule *rules;
    /* derived by ew_ruleset_index: per data kind, the value rules that select it, in order */
    uint32_t *by_kind[EW_KIND_REPLY + 1];
    size_t nby_kind[EW_KIND_REPLY + 1];
    uint32_t *wide; /* the site-wide rules (offline...), in order */
    size_t nwide;
    uint32_t *record, *anchor; /* the registry's kinds per record, and at anchors, in order */
    /* derived by ew_ruleset_index: the pollutants whose averages some rule judging hour or day
     * data would judge (flag_persisting aside: a computed average is valid by construction):
     * every one, those the site has a limit for, or these codes */
    bool avg_all, avg_limited;
    size_t navg;
    uint64_t avg_codes[EW_RULE_MAX_CODES];
    size_t nrecord, nanchor;
    /* the escalation policies the rule files define (top-level "escalation") */
    size_t npolicies;
    struct ew_policy *policies;
};

extern const struct ew_kind ew_kind_threshold;
extern const struct ew_kind ew_kind_negative;
extern const struct ew_kind ew_kind_zero_with_flow;
extern const struct ew_kind ew_kind_constant;
extern const struct ew_kind ew_kind_flag_persisting;
extern const struct ew_kind ew_kind_over_range;
extern const struct ew_kind ew_kind_offline;
extern const struct ew_kind ew_kind_missing_hour;
extern const struct ew_kind ew_kind_trend;
extern const struct ew_kind ew_kind_sudden_change;
extern const struct ew_kind ew_kind_facility_off;
extern const struct ew_kind ew_kind_declaration_contradiction;
extern const struct ew_kind ew_kind_weather_response;
extern const struct ew_kind ew_kind_deadline;
extern const struct ew_kind ew_kind_weather_warning;

#define EW_TREND_POINTS 8 /* a trend's window is fitted over this many buckets' means */

/* Derives what the engine looks up per record (the value rules per data kind, the site-wide
 * rules, the field preferences as bit masks). Returns 0 or EW_ENOMEM. */
int ew_ruleset_index(struct ew_ruleset *set);

/* Whether some value rule judges hour or day data (flag_persisting aside), so that averages are
 * computed. */
bool ew_ruleset_averages(const struct ew_ruleset *set);
/* Whether an average of code is worth gathering (a rule would judge it); limited: the site has
 * a limit for it. */
bool ew_ruleset_wants_average(const struct ew_ruleset *set, bool limited, uint64_t code);

/* Whether the rule selects a site of system code st (no "st" in its select: every one). Inline:
 * it is asked per rule and record. */
static inline bool ew_rule_wants_st(const struct ew_rule *r, const char *st)
{
    if (!r->nst)
        return true;
    for (size_t i = 0; i < r->nst; i++)
        if (!strcmp(r->st[i], st))
            return true;
    return false;
}
/* Whether the rule selects the site registered as o (NULL: not registered): a rule that names
 * enterprises, outlets or tags applies only to registered sites that match each list. */
struct ew_outlet;
bool ew_rule__wants_site_listed(const struct ew_rule *r, const struct ew_outlet *o);
static inline bool ew_rule_wants_site(const struct ew_rule *r, const struct ew_outlet *o)
{
    return !(r->nwho[0] | r->nwho[1] | r->nwho[2]) || ew_rule__wants_site_listed(r, o);
}

/* Reads "for" and "clear.for" (both default to 1 value). Shared by the kinds. */
int ew_rule_holds(json_t *obj, struct ew_rule *r, char *why, size_t n);
/* Reads "levels": 1 to EW_RULE_MAX_LEVELS objects with "name" and "severity"; bound reads
 * each level's own bound (its "above", its "after") into r->levels[i].above. */
typedef int (*ew_level_bound_fn)(json_t *level, struct ew_rule *r, size_t i, char *why, size_t n);
int ew_rule_levels(json_t *obj, struct ew_rule *r, ew_level_bound_fn bound, char *why, size_t n);
/* Reads a single "severity" into level 0 named after the kind (the data-quality kinds). */
int ew_rule_single_level(json_t *obj, struct ew_rule *r, char *why, size_t n);
/* Reads an optional list of pollutant codes into codes/ncodes; returns EW_EINVAL on a bad one. */
int ew_rule_codes(json_t *list, uint64_t *codes, size_t *ncodes, const char *what, char *why,
                  size_t n);

/* Compiles a template text. Returns 0 or EW_EINVAL with why filled (unknown placeholder,
 * unclosed brace), or EW_ENOMEM. */
int ew_tpl_compile(struct ew_tpl *t, const char *text, char *why, size_t n);
void ew_tpl_free(struct ew_tpl *t);

/* Reads a bound: a number (absolute) or "NN%" (relative to the limit). */
int ew_bound_parse(json_t *j, struct ew_bound *b);
/* Resolves a bound against a limit; NAN when relative and there is no limit. */
static inline double ew_bound_value(const struct ew_bound *b, double limit)
{
    return b->relative ? b->value * limit : b->value; /* a NAN limit gives NAN */
}
/* Reads a hold: a count of consecutive values (integer) or a duration ("30m", "1h", "90s"). */
int ew_hold_parse(json_t *j, uint32_t *count, int64_t *ms);

#endif
