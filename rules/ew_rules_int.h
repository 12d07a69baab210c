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
#include "ew_time.h"

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
struct ew_site;
struct ew_life;

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
    /* messages by [resolved?][enum ew_lang]; an empty English one falls back to Chinese */
    struct ew_tpl msg[2][2];
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
};

extern const struct ew_kind ew_kind_threshold;
extern const struct ew_kind ew_kind_negative;
extern const struct ew_kind ew_kind_zero_with_flow;
extern const struct ew_kind ew_kind_constant;
extern const struct ew_kind ew_kind_flag_persisting;
extern const struct ew_kind ew_kind_over_range;
extern const struct ew_kind ew_kind_offline;
extern const struct ew_kind ew_kind_missing_hour;

/* Derives what the engine looks up per record (the value rules per data kind, the field
 * preferences as bit masks). Returns 0 or EW_ENOMEM. */
int ew_ruleset_index(struct ew_ruleset *set);

/* Whether some value rule judges hour or day data, so that averages are computed. */
bool ew_ruleset_averages(const struct ew_ruleset *set);

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

/* A regulatory average being gathered: one pollutant and field over one period (an hour of
 * minute values, a day of hourly values). */
struct ew_acc {
    int64_t start;    /* the period's start, INT64_MIN when empty */
    double sum;       /* of the valid values */
    double wsum, wt;  /* of value x flow and of flow, over valid values sent with a valid flow */
    uint32_t nvalid;  /* valid values (flag N or none) */
    uint32_t nweight; /* of them, with a valid flow */
    uint32_t n;       /* all values */
};

/* Keys whose rule is EW_AGG_KEY or above hold an average, not a lifecycle: the low bits say
 * the period (EW_AGG_DAY), the field (EW_AGG_ZS: ZsAvg, else Avg) and the parity of the
 * period's number (two periods can be open at once: one closing, the next starting). */
#define EW_AGG_KEY 0xFFFFFF00u
#define EW_AGG_DAY 4u
#define EW_AGG_ZS  2u
#define EW_AGG_ODD 1u

/* The state of one (rule, pollutant) at a site, or one average. */
struct ew_sitekey {
    uint64_t code;
    uint32_t rule;
    union {
        struct {
            struct ew_life life;
            unsigned char kstate[EW_KIND_STATE_MAX];
        };
        struct ew_acc acc;
    };
};

/* Periods (minutes, hours, days) whose record has been judged: bit i is mark - i periods.
 * A second record for the same period is a duplicate; an average computed for a period the
 * logger sent itself is superseded. */
struct ew_seen {
    int64_t mark; /* newest period start judged, INT64_MIN before any */
    uint64_t bits;
};

enum { EW_SEEN_MINUTE = 0, EW_SEEN_HOUR, EW_SEEN_DAY, EW_SEEN_N };

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
    struct ew_seen seen[EW_SEEN_N];    /* minutes, hours, days judged */
    int64_t agg_closed[2];             /* newest hour, day whose average was closed */
    int32_t minute_ms; /* the interval of its minute data (smallest gap seen), 0 unknown */
    const struct ew_outlet *outlet; /* its registry entry, as of registry generation outlet_gen */
    uint64_t outlet_gen;            /* 0: not looked up */
    int64_t agg_due;  /* when the earliest open average closes (site data time), INT64_MAX none */
    uint8_t silent;   /* site-wide alerts firing now: records look for them only then */
    uint64_t keybits; /* a bit per (rule, code) that may have a lifecycle key (ew_key_bit): a
                         key whose bit is clear is not in the block, and the block is not
                         searched for it; averages (always looked up to be created) have none */
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

#define EW_MINUTE_MS (60 * 1000LL)
#define EW_HOUR_MS   (3600 * 1000LL)
#define EW_DAY_MS    (24 * EW_HOUR_MS)

/* The start of the minute, hour or day (Beijing time) that t falls in. */
static inline int64_t ew_period_start(int64_t t, int64_t len)
{
    int64_t x = t + EW_TZ_OFFSET_MS, q = x / len;
    q -= x % len < 0;
    return q * len - EW_TZ_OFFSET_MS;
}

/* Marks period p (a start, len long) judged; true when it already was. Periods more than 63
 * older than the newest cannot be told and count as new. */
static inline bool ew_seen_mark(struct ew_seen *s, int64_t p, int64_t len)
{
    if (s->mark == INT64_MIN || p > s->mark) {
        int64_t d = s->mark == INT64_MIN ? 64 : (p - s->mark) / len;
        s->bits = (d >= 64 ? 0 : s->bits << d) | 1;
        s->mark = p;
        return false;
    }
    int64_t d = (s->mark - p) / len;
    if (d >= 64)
        return false;
    bool was = (s->bits >> d) & 1;
    s->bits |= 1ull << d;
    return was;
}

static inline bool ew_seen_has(const struct ew_seen *s, int64_t p, int64_t len)
{
    if (s->mark == INT64_MIN || p > s->mark || (s->mark - p) / len >= 64)
        return false;
    return (s->bits >> ((s->mark - p) / len)) & 1;
}

/* ---- records held back for event-time order (ew_hold.c) ---- */

struct ew_held {
    int64_t time;    /* data time */
    int64_t arrived; /* processing time it came */
    uint64_t seq;    /* arrival order, for equal times */
    uint64_t tag;    /* the caller's */
    struct ew_buf blob;
};

struct ew_holdq {
    struct ew_held *slots;
    uint32_t *heap;  /* slot numbers, a min-heap by (time, seq) */
    uint32_t *spare; /* slots free for reuse */
    size_t nslots, n, nspare, cap;
    uint64_t seq;
};

/* Holds a copy of rec's identity, time and numeric values. Returns 0 or EW_ENOMEM. */
int ew_hold_push(struct ew_holdq *q, const struct ew_record *rec, int64_t now, uint64_t tag);
/* The earliest held record, or NULL. */
const struct ew_held *ew_hold_top(const struct ew_holdq *q);
/* Takes the earliest held record out into rec; its strings live until the next push. Returns
 * its tag. */
uint64_t ew_hold_pop(struct ew_holdq *q, struct ew_record *rec);
void ew_hold_release(struct ew_holdq *q);

/* ---- the engine (its public face is ew_rules.h) ---- */

/*
 * Which values of a record each value rule judges depends only on the record's data kind and
 * shape: the packed code and field of each numeric value, in order. A plan keeps that answer
 * for a shape (one bit per value for each rule of the kind), so that a fleet sending the same
 * packets over and over works it out once. Shapes with more values, or kinds with more rules,
 * than a plan holds are worked out per record.
 */
#define EW_PLAN_VALUES 32
#define EW_PLAN_RULES  32
#define EW_PLAN_SLOTS  64 /* direct-mapped by the shape's hash */

struct ew_plan {
    uint64_t hash;
    bool used;
    uint8_t kind;
    uint8_t nvalues;
    uint8_t fields[EW_PLAN_VALUES];
    uint64_t codes[EW_PLAN_VALUES];
    uint32_t judges[EW_PLAN_RULES]; /* per rule of the kind, in by_kind order: its values */
};

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
    int64_t grace;     /* average_grace_ms */
    bool averaging;    /* some value rule judges hour or day data: averages are computed */
    struct ew_record *computed;            /* the average being judged (reused) */
    uint32_t inputs[EW_RECORD_MAX_VALUES]; /* per value of `computed`: valid values averaged */
    int64_t reorder;                       /* reorder_ms: how long records are held; 0 none */
    struct ew_holdq held;                  /* records held for event-time order */
    struct ew_record *released;            /* the held record being judged (reused) */
    void (*on_released)(void *ctx, uint64_t tag);
    uint64_t tag; /* of the record being judged: its events carry it */
    struct ew_plan plans[EW_PLAN_SLOTS];
};

/* Judges a record at its site: the path shared by records sent (inputs NULL) and averages
 * computed (inputs: per value, how many valid values it averages). Feeds the averages that
 * the record's values belong to. */
void ew_engine_take(struct ew_engine *eng, struct ew_site *site, const struct ew_outlet *outlet,
                    const struct ew_record *rec, int64_t now, const uint32_t *inputs);

/* Adds the record's Avg and ZsAvg values to the averages they belong to (minute values to
 * their hour, hourly ones to their day). flow: the record's flow, NAN when none. */
void ew_average_add(struct ew_engine *eng, struct ew_site *site, const struct ew_record *rec,
                    double flow);
/* Closes every average of the site whose period ended more than the grace before ref and
 * judges it (through ew_engine_take) unless the logger sent that period itself. */
void ew_average_close(struct ew_engine *eng, struct ew_site *site, const struct ew_outlet *outlet,
                      int64_t ref, int64_t now);

int ew_sitetab_init(struct ew_sitetab *t, size_t cap);
void ew_sitetab_release(struct ew_sitetab *t);
/* The site for mn (mnlen < EW_MN_MAX), created empty when new. Never NULL once initialized:
 * a full table evicts its least recently seen site. *created tells which. */
struct ew_site *ew_sitetab_get(struct ew_sitetab *t, const char *mn, size_t mnlen, bool *created);
/* The site for mn, or NULL (the LRU order does not change). */
struct ew_site *ew_sitetab_find(const struct ew_sitetab *t, const char *mn, size_t mnlen);
/* Removes a site and its state (its block is kept for a later site). */
void ew_sitetab_remove(struct ew_sitetab *t, struct ew_site *site);
/* The site's state for (rule, code). With create, a missing one is created idle (NULL only
 * when the block cannot grow: out of memory; it grows by half its size); without, a missing
 * one is NULL. */
struct ew_sitekey *ew_site_key_find(struct ew_sitetab *t, struct ew_site *s, uint32_t rule,
                                    uint64_t code, bool create);

/* Removes a key from its site's block (the last key takes its place). */
void ew_site_key_drop(struct ew_sitetab *t, struct ew_site *s, struct ew_sitekey *k);
/* Works out s->keybits again after the block's keys changed in place. */
void ew_site_keybits(struct ew_site *s);

/* The bit of ew_site.keybits that stands for (rule, code); none for averages. */
static inline uint64_t ew_key_bit(uint32_t rule, uint64_t code)
{
    if (rule >= EW_AGG_KEY)
        return 0;
    return 1ull << ((code * 0x9E3779B97F4A7C15u + rule * 0xFF51AFD7ED558CCDu) >> 58);
}

/* ew_site_key_find, not searching for a key that keybits says is not there, and first trying
 * the key after the last one found (a site's records judge its keys in the same order every
 * time, so that is nearly always the one). */
static inline struct ew_sitekey *ew_site_key(struct ew_sitetab *t, struct ew_site *s, uint32_t rule,
                                             uint64_t code, bool create)
{
    if (!create && rule < EW_AGG_KEY && !(s->keybits & ew_key_bit(rule, code)))
        return NULL;
    if (s->hint < s->nkeys) {
        struct ew_sitekey *k = &s->keys[s->hint];
        if (k->code == code && k->rule == rule) {
            s->hint = s->hint + 1 < s->nkeys ? s->hint + 1 : 0;
            return k;
        }
    }
    return ew_site_key_find(t, s, rule, code, create);
}

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
