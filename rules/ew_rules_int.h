/*
 * ew_rules_int.h - the compiled form of rules, shared by the compiler, the kinds and the
 * engine (the public face is ew_rules.h).
 *
 * A rule is compiled once: selectors become bit masks and packed codes, thresholds numbers,
 * message templates lists of segments. Nothing of the rule's JSON is looked at per record.
 */
#ifndef EW_RULES_INT_H
#define EW_RULES_INT_H

#include <jansson.h>
#include <stdbool.h>

#include "ew_buf.h"
#include "ew_rules.h"

#define EW_RULE_ID_MAX     64
#define EW_RULE_MAX_LEVELS 4
#define EW_RULE_MAX_CODES  32
#define EW_RULE_MAX_FIELDS 4
#define EW_RULE_MAX_ST     8
#define EW_KIND_STATE_MAX  16 /* bytes of kind-specific state per key */
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

/* What the whole record says that kinds may need beside the judged value. */
struct ew_recctx {
    double flow; /* the site's flow (a00000/w00000) if sent and valid, else NAN */
    double o2;   /* measured O2 (a19001) if sent and valid, else NAN */
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

struct ew_kind {
    const char *name;
    size_t state_size;  /* <= EW_KIND_STATE_MAX; plain data, valid for any bytes (it is
                           imported from checkpoints) */
    bool quiet_pending; /* no pending events: its conditions are only news once they hold */
    bool site_wide;     /* judged per site on ticks (offline), not per value */
    /* Reads the kind's own members of the rule object into r. why gets the reason on error. */
    int (*compile)(json_t *obj, struct ew_rule *r, char *why, size_t n);
    /* Judges one observation: EW_OBS_* or a level index. */
    int (*eval)(const struct ew_rule *r, void *state, const struct ew_obs *obs);
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
    double epsilon;         /* constant: the largest change that still counts as unchanged */
    double flow_above;      /* zero_with_flow, constant: the flow that means the source runs */
    double range;           /* over_range: the instrument's range, NAN when only flag T counts */
    uint32_t flag_meanings; /* flag_persisting: bit per enum ew_flag_meaning that counts */
    size_t nexcept;
    uint64_t except[EW_RULE_MAX_CODES]; /* negative: codes never judged */
    /* messages by [resolved?][enum ew_lang]; an empty English one falls back to Chinese */
    struct ew_tpl msg[2][2];
};

struct ew_ruleset {
    size_t nrules, cap;
    struct ew_rule *rules;
};

extern const struct ew_kind ew_kind_threshold;
extern const struct ew_kind ew_kind_negative;
extern const struct ew_kind ew_kind_zero_with_flow;
extern const struct ew_kind ew_kind_constant;
extern const struct ew_kind ew_kind_flag_persisting;
extern const struct ew_kind ew_kind_over_range;
extern const struct ew_kind ew_kind_offline;

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

/* ---- per-site state ---- */

#define EW_MN_MAX 48

enum ew_life_status { EW_LIFE_IDLE = 0, EW_LIFE_PENDING, EW_LIFE_FIRING };

/* The alert lifecycle of one (site, rule, pollutant): which level holds, which is gathering
 * toward firing, and how long the clear condition has held. */
struct ew_life {
    uint8_t status; /* enum ew_life_status */
    int8_t level;   /* level pending or firing, -1 when idle */
    int8_t cand;    /* level gathering toward firing, -1 when none */
    uint32_t cand_count;
    int64_t cand_since;
    uint32_t clear_count;
    int64_t clear_since;
    int64_t since;        /* event time the current status began */
    int64_t notified_at;  /* event time of the last firing or reminder event */
    int64_t window_start; /* flap damping: start of the window that counts changes */
    uint16_t changes;     /* state changes (firing, resolved) in that window */
    uint8_t flapping;     /* resolution held back until clear for a whole window */
};

/* The state of one (rule, pollutant) at a site. */
struct ew_sitekey {
    uint64_t code;
    uint32_t rule;
    struct ew_life life;
    unsigned char kstate[EW_KIND_STATE_MAX];
};

/* A site: its MN and the block of its keys, contiguous so that judging a record touches one
 * place in memory. */
struct ew_site {
    char mn[EW_MN_MAX];
    int32_t prev, next; /* least recently used list: head is the newest */
    uint32_t nkeys, cap;
    uint32_t hint;     /* where the next lookup starts: records judge keys in the same order */
    int64_t last_data; /* newest data time seen from the site (epoch ms) */
    int64_t newest[EW_KIND_REPLY + 1]; /* per data kind: the site's watermark, for lateness */
    char st[8];                        /* system code of its latest record */
    uint8_t silent;          /* site-wide alerts firing now: records look for them only then */
    struct ew_sitekey *keys; /* owned; kept when the site is evicted, for the next one */
};

/* A bounded table of sites: open addressing over site numbers plus an LRU list; the site
 * least recently seen is evicted when a new one does not fit (its block is reused). O(1)
 * expected per lookup; allocation only when a site's block grows. */
struct ew_sitetab {
    struct ew_site *sites;
    uint32_t *index; /* site number + 1, 0 = empty; nindex is a power of two >= 2 * cap */
    size_t cap, nindex, used;
    int32_t head, tail;
    uint64_t evictions;
    size_t keys;      /* keys held in all sites */
    size_t key_bytes; /* memory of all key blocks */
};

/* ---- the engine (its public face is ew_rules.h) ---- */

struct ew_engine {
    struct ew_ruleset *rules;
    const struct ew_registry *reg;
    ew_alert_sink sink;
    void *ctx;
    enum ew_lang lang;
    struct ew_sitetab sites;
    struct ew_engine_stats stats;
    struct ew_buf msg, evidence; /* reused for every event */
    size_t sweep_batch, sweep_cursor;
    int64_t lateness;
    int64_t watermark; /* newest data time seen from any site, INT64_MIN before any */
    uint64_t dropped;  /* states dropped by import or reload: their rule is gone or changed */
};

int ew_sitetab_init(struct ew_sitetab *t, size_t cap);
void ew_sitetab_release(struct ew_sitetab *t);
/* The site for mn (mnlen < EW_MN_MAX), created empty when new. Never NULL once initialized:
 * a full table evicts its least recently seen site. *created tells which. */
struct ew_site *ew_sitetab_get(struct ew_sitetab *t, const char *mn, size_t mnlen, bool *created);
/* The site's state for (rule, code). With create, a missing one is created idle (NULL only
 * when the block cannot grow: out of memory; it grows by half its size); without, a missing
 * one is NULL. */
struct ew_sitekey *ew_site_key(struct ew_sitetab *t, struct ew_site *s, uint32_t rule,
                               uint64_t code, bool create);

/* Compiles a template text. Returns 0 or EW_EINVAL with why filled (unknown placeholder,
 * unclosed brace), or EW_ENOMEM. */
int ew_tpl_compile(struct ew_tpl *t, const char *text, char *why, size_t n);
void ew_tpl_free(struct ew_tpl *t);

/* Reads a bound: a number (absolute) or "NN%" (relative to the limit). */
int ew_bound_parse(json_t *j, struct ew_bound *b);
/* Resolves a bound against a limit; NAN when relative and there is no limit. */
double ew_bound_value(const struct ew_bound *b, double limit);
/* Reads a hold: a count of consecutive values (integer) or a duration ("30m", "1h", "90s"). */
int ew_hold_parse(json_t *j, uint32_t *count, int64_t *ms);

#endif
