/*
 * ew_site.h - per-site state: the alert lifecycle of each (rule, pollutant), the averages
 * being gathered, the periods judged, and the bounded table of sites (ew_sitetab.c). Internal
 * to rules/.
 */
#ifndef EW_SITE_H
#define EW_SITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ew_rule.h"

#define EW_MN_MAX 48

enum ew_life_status { EW_LIFE_IDLE = 0, EW_LIFE_PENDING, EW_LIFE_FIRING };

/* The alert lifecycle of one (site, rule, pollutant): which level holds, which is gathering
 * toward firing or how long the clear condition has held (one run at a time: a level value
 * ends a clear run, a clear value a level's), and the last value judged, which a duration that
 * ends between two values is judged on (ew_life_due). 64 bytes: most keys of a fleet are
 * these. */
struct ew_life {
    uint8_t status : 2;   /* enum ew_life_status */
    uint8_t flapping : 1; /* resolution held back until clear for a whole window */
    uint8_t muted : 1;    /* its firing was explained by a declaration, not sent: so is its end */
    int8_t level;         /* level pending or firing, -1 when idle */
    int8_t cand;          /* level gathering toward firing, -1 when none: the run is then the
                             clear condition's, when firing */
    int8_t verdict;       /* of the last value judged: EW_OBS_CLEAR, EW_OBS_HOLD or a level */
    uint8_t vkind : 4;    /* the last value's data kind (enum ew_data_kind) */
    uint8_t vfield : 4;   /* its field (enum ew_field) */
    char vflag;           /* its flag letter, '\0' when none */
    char vsuffix[2];      /* a family member's last two characters ("e10103" of e101xx), else
                             zero: the code it was sent with is the key's */
    uint16_t changes;     /* state changes (firing, resolved) in the flap window */
    uint16_t vinputs;     /* a computed average's valid values, 0 when the value was sent */
    uint32_t run_count;   /* values in the run: the level's gathering, or the clear's */
    int64_t run_since;    /* when the run began */
    int64_t since;        /* event time the current status began */
    int64_t notified_at;  /* event time of the last firing or reminder event */
    int64_t window_start; /* flap damping: start of the window that counts changes */
    int64_t covered;      /* the last value's time plus the period it stands for: the verdict is
                             known to hold until then, INT64_MIN before any value */
    double value;         /* the last value judged */
};
_Static_assert(sizeof(struct ew_life) == 64, "a key is most of a fleet's state: keep it small");

/* A regulatory average being gathered: one pollutant and field over one period (an hour of
 * minute values, a day of hourly values). 32 bytes: an average key holds two in the room of a
 * lifecycle. */
struct ew_acc {
    int32_t period;   /* the period's number (ew_period_number), EW_ACC_EMPTY when empty */
    uint16_t nvalid;  /* valid values (flag N or none): an hour has at most one per minute */
    uint16_t nweight; /* of them, with a valid flow */
    double sum;       /* of the valid values */
    double wsum, wt;  /* of value x flow and of flow, over valid values sent with a valid flow */
};
#define EW_ACC_EMPTY INT32_MIN

/* Keys whose rule is EW_AGG_KEY or above hold averages, not a lifecycle: the low bits say
 * the period (EW_AGG_DAY) and the field (EW_AGG_ZS: ZsAvg, else Avg). Two periods can be open
 * at once, one closing and the next starting: a key holds both, acc[n % 2] the n-th period
 * (ew_agg_half). A checkpoint names the half by EW_AGG_ODD. */
#define EW_AGG_KEY 0xFFFFFF00u
#define EW_AGG_DAY 4u
#define EW_AGG_ZS  2u
#define EW_AGG_ODD 1u

/* The state of one (rule, pollutant) at a site, or one (pollutant, field, period)'s averages.
 * 80 bytes: a fleet's state is mostly these. A kind's own state (EW_KIND_STATE_MAX bytes, kept
 * by a few kinds only) is in the site's block of them (ew_key_state). */
struct ew_sitekey {
    uint64_t code;
    uint32_t rule;
    uint32_t state; /* its kind's state: slot + 1 in the site's kstates, 0 none */
    union {
        struct ew_life life;
        struct ew_acc acc[2]; /* the even and the odd periods */
    };
};
_Static_assert(sizeof(struct ew_sitekey) == 80 &&
                   sizeof(struct ew_acc[2]) == sizeof(struct ew_life),
               "both periods' averages fit where a lifecycle does, and a key in 80 bytes");

/* A site's kind states, for the keys of kinds that keep one: kept when the site is evicted,
 * for the next one, as its keys are. */
struct ew_kstates {
    uint32_t n, cap;
    unsigned char slot[][EW_KIND_STATE_MAX];
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
struct ew_site { /* 320 bytes, five cache lines (ew_sitetab aligns them) */
    /* what every record reads first, in the site's first 64 bytes: its name and its keys */
    char mn[EW_MN_MAX];
    struct ew_sitekey *keys; /* owned; kept when the site is evicted, for the next one */
    uint32_t nkeys;
    uint32_t hint; /* where the next lookup starts: records judge keys in the same order */
    struct ew_kstates *kstates; /* owned, NULL until a key needs one: read with the keys, so
                                   on the second line, which every record reads too */
    uint32_t cap;
    int32_t prev, next;  /* least recently used list: head is the newest */
    int32_t minute_ms;   /* the interval of its minute data (smallest gap seen), 0 unknown */
    uint64_t keybits[2]; /* a bit per (rule, code) that may have a lifecycle key (ew_key_bit), of
                            128: a key whose bit is clear is not in the block, and the block is
                            not searched for it; averages (always looked up to be created) have
                            none */
    int64_t last_data;   /* newest data time seen from the site (epoch ms) */
    int64_t heard;       /* newest data time of its records as they came, held for event-time
                            order or not: what its next record came after */
    int64_t newest[EW_KIND_REPLY + 1]; /* per data kind: the site's watermark, for lateness */
    char st[8];                        /* system code of its latest record */
    struct ew_seen seen[EW_SEEN_N];    /* minutes, hours, days judged */
    int32_t agg_closed[2];             /* the newest hour, day whose average was closed (its number:
                                          ew_period_number), INT32_MIN none */
    const struct ew_outlet *outlet; /* its registry entry, as of registry generation outlet_gen */
    uint64_t outlet_gen;            /* 0: not looked up */
    int64_t agg_due;    /* when the earliest open average closes (site data time), INT64_MAX none */
    int64_t key_due;    /* no later than its keys' earliest duration, repeat or calm (ew_life_next):
                           exact after a sweep, lowered as values are judged; INT64_MAX none */
    int64_t queued;     /* due time of its earliest entry in the engine's timers, INT64_MAX none */
    uint8_t silent;     /* site-wide alerts firing now: records look for them only then */
    uint8_t deferred;   /* in the engine's deferred list: its records are behind the clock */
    uint8_t dirty : 1;  /* changed since the engine's dirty list was last taken (and in it) */
    uint8_t frozen : 1; /* in a checkpoint being staged: handed over before it next changes */
    uint8_t looped;     /* some alert of it is in the closed loop (rules/ew_loop.h) */
    uint32_t nheld;     /* its records held for event-time order now */
    int64_t anchored;   /* the last time its enterprise's warnings were judged at it (an anchor
                           site's), INT64_MIN none; not saved: judging again changes nothing */
    int64_t heard_base; /* with nheld: what `heard` was before the first of them came, which is
                           what its state is saved with (they come again after a restore) */
};
_Static_assert(offsetof(struct ew_site, hint) + sizeof(uint32_t) <= 64 &&
                   sizeof(struct ew_site) % 64 == 0,
               "a site's name and keys in its first cache line, and every site on a line's start");

/* A bounded table of sites: open addressing over site numbers plus an LRU list; the site
 * least recently seen is evicted when a new one does not fit (its block is reused). O(1)
 * expected per lookup; allocation only when a site's block grows. */
struct ew_sitetab {
    struct ew_site *sites; /* in sites_mem (owned), aligned to 64 bytes */
    void *sites_mem;
    uint32_t *index; /* site number + 1, 0 = empty; nindex is a power of two >= 2 * cap */
    size_t cap, nindex, used;
    int32_t head, tail;
    uint64_t evictions;
    char evicted[EW_MN_MAX]; /* the MN of the last site evicted, "" once the engine has noted it */
    size_t keys;             /* keys held in all sites */
    size_t key_bytes;        /* memory of all key blocks */
};

#define EW_MINUTE_MS (60 * 1000LL)
#define EW_HOUR_MS   (3600 * 1000LL)
#define EW_DAY_MS    (24 * EW_HOUR_MS)

/* x / len (truncated) for a period's length: a minute, an hour and a day are divided by as
 * constants, a multiplication, where a 64-bit division takes up to 45 cycles; the records'
 * periods, duplicates and averages ask several times a record. */
static inline int64_t ew_period_div(int64_t x, int64_t len)
{
    switch (len) {
    case EW_MINUTE_MS:
        return x / EW_MINUTE_MS;
    case EW_HOUR_MS:
        return x / EW_HOUR_MS;
    case EW_DAY_MS:
        return x / EW_DAY_MS;
    default:
        return x / len;
    }
}

/* The number of the minute, hour or day (Beijing time) that t falls in, counted from the
 * epoch's: within int32_t for every time a record can hold (years 1 to 9999). */
static inline int64_t ew_period_number(int64_t t, int64_t len)
{
    int64_t x = t + EW_TZ_OFFSET_MS, q = ew_period_div(x, len);
    return q - (x - q * len < 0);
}

/* The start of the minute, hour or day (Beijing time) that t falls in. */
static inline int64_t ew_period_start(int64_t t, int64_t len)
{
    return ew_period_number(t, len) * len - EW_TZ_OFFSET_MS;
}

/* The start of period number p, len long; INT64_MIN for INT32_MIN (none). */
static inline int64_t ew_period_at(int32_t p, int64_t len)
{
    return p == INT32_MIN ? INT64_MIN : (int64_t)p * len - EW_TZ_OFFSET_MS;
}

/* The start of an average's period (len: an hour or a day); INT64_MIN when it is empty. */
static inline int64_t ew_acc_start(const struct ew_acc *a, int64_t len)
{
    return ew_period_at(a->period, len);
}

/* Which half of an average key (acc[]) gathers period number p. */
static inline uint32_t ew_agg_half(int64_t p)
{
    return (uint32_t)(p & 1);
}

/* Marks period p (a start, len long) judged; true when it already was. Periods more than 63
 * older than the newest cannot be told and count as new. */
static inline bool ew_seen_mark(struct ew_seen *s, int64_t p, int64_t len)
{
    if (s->mark == INT64_MIN || p > s->mark) {
        int64_t d = s->mark == INT64_MIN ? 64 : ew_period_div(p - s->mark, len);
        s->bits = (d >= 64 ? 0 : s->bits << d) | 1;
        s->mark = p;
        return false;
    }
    int64_t d = ew_period_div(s->mark - p, len);
    if (d >= 64)
        return false;
    bool was = (s->bits >> d) & 1;
    s->bits |= 1ull << d;
    return was;
}

static inline bool ew_seen_has(const struct ew_seen *s, int64_t p, int64_t len)
{
    if (s->mark == INT64_MIN || p > s->mark)
        return false;
    int64_t d = ew_period_div(s->mark - p, len);
    return d < 64 && (s->bits >> d) & 1;
}
int ew_sitetab_init(struct ew_sitetab *t, size_t cap);
void ew_sitetab_release(struct ew_sitetab *t);
/* The site for mn (mnlen < EW_MN_MAX), created empty when new. Never NULL once initialized:
 * a full table evicts its least recently seen site. *created tells which. */
struct ew_site *ew_sitetab_get(struct ew_sitetab *t, const char *mn, size_t mnlen, bool *created);
/* The site seen now: the LRU list's head. */
void ew_sitetab_touch(struct ew_sitetab *t, struct ew_site *s);
/* The site for mn, or NULL (the LRU order does not change). */
struct ew_site *ew_sitetab_find(const struct ew_sitetab *t, const char *mn, size_t mnlen);
/* Removes a site and its state (its block is kept for a later site). */
void ew_sitetab_remove(struct ew_sitetab *t, struct ew_site *site);
/* The site's state for (rule, code). With create, a missing one is created idle (NULL only
 * when the block cannot grow: out of memory; it grows by half its size); without, a missing
 * one is NULL. */
struct ew_sitekey *ew_site_key_find(struct ew_sitetab *t, struct ew_site *s, uint32_t rule,
                                    uint64_t code, bool create);

/* Removes a key from its site's block (the last key takes its place), and its kind state. */
void ew_site_key_drop(struct ew_sitetab *t, struct ew_site *s, struct ew_sitekey *k);

/* The kind state of key k of site s, NULL when it has none. */
static inline void *ew_key_state(const struct ew_site *s, const struct ew_sitekey *k)
{
    return k->state ? s->kstates->slot[k->state - 1] : NULL;
}

/* A new kind state for k, zeroed: NULL when there is no memory for it. Making one may move the
 * others: a pointer to one lasts until the next is made. */
void *ew_key_state_new(struct ew_sitetab *t, struct ew_site *s, struct ew_sitekey *k);

/* k's kind state, made when it has none (ew_key_state_new). */
static inline void *ew_key_state_make(struct ew_sitetab *t, struct ew_site *s, struct ew_sitekey *k)
{
    void *ks = ew_key_state(s, k);
    return ks ? ks : ew_key_state_new(t, s, k);
}

/* k's kind state let go (k->state 0; the site's last one takes its slot). */
void ew_key_state_drop(struct ew_site *s, struct ew_sitekey *k);

/* Works out s->keybits again after the block's keys changed in place. */
void ew_site_keybits(struct ew_site *s);

/* The bit of ew_site.keybits (of 128) that stands for (rule, code). */
static inline unsigned ew_key_bit(uint32_t rule, uint64_t code)
{
    return (unsigned)((code * 0x9E3779B97F4A7C15u + rule * 0xFF51AFD7ED558CCDu) >> 57);
}

static inline void ew_key_bits_add(struct ew_site *s, uint32_t rule, uint64_t code)
{
    if (rule >= EW_AGG_KEY)
        return;
    unsigned a = ew_key_bit(rule, code);
    s->keybits[a >> 6] |= 1ull << (a & 63);
}

/* False when the site surely has no lifecycle key for (rule, code). */
static inline bool ew_key_bits_may(const struct ew_site *s, uint32_t rule, uint64_t code)
{
    unsigned a = ew_key_bit(rule, code);
    return (s->keybits[a >> 6] >> (a & 63)) & 1;
}

/* ew_site_key_find, not searching for a key that keybits says is not there, and first trying
 * the key after the last one found (a site's records judge its keys in the same order every
 * time, so that is nearly always the one). */
static inline struct ew_sitekey *ew_site_key(struct ew_sitetab *t, struct ew_site *s, uint32_t rule,
                                             uint64_t code, bool create)
{
    if (!create && rule < EW_AGG_KEY && !ew_key_bits_may(s, rule, code))
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

#endif
