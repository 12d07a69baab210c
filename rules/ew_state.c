/*
 * ew_state.c - the engine's state as bytes (checkpoints), and reloading rules.
 *
 * Format, little-endian, version 4:
 *   "EWST" u32:version i64:watermark u32:nsites
 *   per site, least recently seen first (so that importing reproduces the LRU order):
 *     u8:len mn  i64:last_data  u8:len st  u8:n i64*n:newest-per-data-kind
 *     u8:n (i64:mark u64:bits)*n:minutes-hours-days-judged  i64:hour-closed i64:day-closed
 *     i64:averages-due  i32:minute-interval  u32:nkeys (entries that follow)
 *     per key, in the site's order, a rule's lifecycle:
 *       u8:len rule-id  u64:code
 *       u8:status i8:level i8:cand u32:run_count i64:run_since i64:since i64:notified_at
 *       i64:window_start u16:changes u8:flapping (bit 0; bit 1: muted by a declaration)
 *       and its last value: i8:verdict i64:covered f64:value u8:data-kind u8:field u8:flag
 *       u8*2:family-suffix u16:inputs
 *       u8:len kind-state
 *     or an average being gathered (rule-id "@avg"), one per open period (a key's half):
 *       u8:4 "@avg"  u64:code  u8:period-field-parity  i64:start  f64:sum f64:wsum f64:wt
 *       u32:nvalid u32:nweight u32:n (all values: no longer kept, written as nvalid)
 *     then its alerts in the closed loop (rules/ew_loop.h): u32:n and per alert
 *       u8*16:fingerprint  u8:len rule-id  i8:level u8:event u8:has-value|has-limit<<1
 *       f64:value f64:limit i64:event-time  13 strings (u16:len, 0xFFFF none) of its last event:
 *       rule kind severity enterprise-id enterprise-name outlet-id pollutant pollutant-name unit
 *       data-kind message evidence, and one not used (0xFFFF)
 *       i64:created i64:started i64:held i64:responded i64:acked  u8:steps u16:trail-dropped
 *       u8:n (i64:at u8:event u8:audience u8:step)*n  and 4 strings: response, by, note, entry
 * Version 3 is version 4 without the closed loop, and is read too.
 * One site's state alone (ew_engine_export_site, the unit a partition's state moves in) is
 *   "EWSS" u32:5  the site as above  i64:heard
 * where heard is the newest data time of the site's records as they came, not counting those
 * held for event-time order now (they come again after a restore); versions 4 (without the
 * closed loop) and 3 (without heard either) are read too.
 * Keys name their rule by id, so state survives a rule set that was reordered; keys of rules
 * the engine does not have are dropped on import (counted). Export -> import -> export gives
 * the same bytes.
 */
#include "ew_engine_int.h"

#include "ew_alloc.h"
#include "ew_buf.h"
#include "ew_time.h"

#include <math.h>
#include <string.h>

#define EW_STATE_MAGIC   "EWST"
#define EW_STATE_VERSION 4u /* 3: the same without the closed loop */
#define EW_STATE_AVG     "@avg"
#define EW_SITE_MAGIC    "EWSS"
#define EW_SITE_VERSION  5u /* 4: without the closed loop; 3: without heard either */

/* ---- writing ---- */

static void ew_put_u(struct ew_buf *b, uint64_t v, int bytes)
{
    unsigned char tmp[8];
    for (int i = 0; i < bytes; i++)
        tmp[i] = (unsigned char)(v >> (8 * i));
    ew_buf_add(b, tmp, (size_t)bytes);
}

static void ew_put_f(struct ew_buf *b, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    ew_put_u(b, v, 8);
}

static void ew_put_str(struct ew_buf *b, const char *s)
{
    size_t n = strlen(s);
    ew_put_u(b, n, 1); /* every string here is shorter than 256 bytes */
    ew_buf_add(b, s, n);
}

/* A string of up to 0xFFFE bytes, or none (NULL). */
static void ew_put_lstr(struct ew_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0xFFFF;
    if (s && n > 0xFFFE)
        n = 0xFFFE;
    ew_put_u(b, n, 2);
    if (s)
        ew_buf_add(b, s, n);
}

/* The site's alerts in the closed loop. */
static void ew_put_loops(const struct ew_engine *e, const struct ew_site *s, struct ew_buf *b)
{
    uint32_t n = 0;
    const struct ew_loop *first = s->looped ? ew_loops_of(e, s->mn) : NULL;
    for (const struct ew_loop *l = first; l; l = l->site_next)
        n++;
    ew_put_u(b, n, 4);
    for (const struct ew_loop *l = first; l; l = l->site_next) {
        ew_buf_add(b, l->fingerprint, 16);
        ew_put_str(b, e->rules->rules[l->rule].id);
        ew_put_u(b, (uint8_t)l->level, 1);
        ew_put_u(b, l->event, 1);
        ew_put_u(b, (unsigned)l->has_value | (unsigned)l->has_limit << 1, 1);
        ew_put_f(b, l->value);
        ew_put_f(b, l->limit);
        ew_put_u(b, (uint64_t)l->event_time, 8);
        for (int k = 0; k < EW_SNAP_N; k++)
            ew_put_lstr(b, l->snap[k]);
        ew_put_lstr(b, NULL);
        const int64_t times[] = {l->created, l->started, l->held, l->responded, l->acked};
        for (size_t k = 0; k < sizeof times / sizeof times[0]; k++)
            ew_put_u(b, (uint64_t)times[k], 8);
        ew_put_u(b, l->steps, 1);
        ew_put_u(b, l->trail_dropped, 2);
        ew_put_u(b, l->ntrail, 1);
        for (size_t k = 0; k < l->ntrail; k++) {
            ew_put_u(b, (uint64_t)l->trail[k].at, 8);
            ew_put_u(b, l->trail[k].event, 1);
            ew_put_u(b, l->trail[k].audience, 1);
            ew_put_u(b, l->trail[k].step, 1);
        }
        ew_put_lstr(b, l->response);
        ew_put_lstr(b, l->ack_by);
        ew_put_lstr(b, l->ack_note);
        ew_put_lstr(b, l->ack_entry);
    }
}

/* One site: its identity, its last data and periods judged, its keys and its loops. */
static void ew_put_site(const struct ew_engine *e, const struct ew_site *s, struct ew_buf *b)
{
    ew_put_str(b, s->mn);
    ew_put_u(b, (uint64_t)s->last_data, 8);
    ew_put_str(b, s->st);
    ew_put_u(b, sizeof s->newest / sizeof s->newest[0], 1);
    for (size_t k = 0; k < sizeof s->newest / sizeof s->newest[0]; k++)
        ew_put_u(b, (uint64_t)s->newest[k], 8);
    ew_put_u(b, EW_SEEN_N, 1);
    for (size_t k = 0; k < EW_SEEN_N; k++) {
        ew_put_u(b, (uint64_t)s->seen[k].mark, 8);
        ew_put_u(b, s->seen[k].bits, 8);
    }
    ew_put_u(b, (uint64_t)ew_period_at(s->agg_closed[0], EW_HOUR_MS), 8);
    ew_put_u(b, (uint64_t)ew_period_at(s->agg_closed[1], EW_DAY_MS), 8);
    ew_put_u(b, (uint64_t)s->agg_due, 8);
    ew_put_u(b, (uint32_t)s->minute_ms, 4);
    uint32_t entries = 0; /* a lifecycle, or a period being averaged (a key holds two) */
    for (uint32_t k = 0; k < s->nkeys; k++)
        entries += s->keys[k].rule < EW_AGG_KEY ? 1
                                                : (s->keys[k].acc[0].period != EW_ACC_EMPTY) +
                                                      (s->keys[k].acc[1].period != EW_ACC_EMPTY);
    ew_put_u(b, entries, 4);
    for (uint32_t k = 0; k < s->nkeys; k++) {
        const struct ew_sitekey *key = &s->keys[k];
        for (uint32_t h = 0; key->rule >= EW_AGG_KEY && h < 2; h++) {
            const struct ew_acc *a = &key->acc[h];
            if (a->period == EW_ACC_EMPTY)
                continue;
            ew_put_str(b, EW_STATE_AVG);
            ew_put_u(b, key->code, 8);
            ew_put_u(b, (key->rule & ~EW_AGG_KEY) | (h ? EW_AGG_ODD : 0), 1);
            ew_put_u(b, (uint64_t)ew_acc_start(a, key->rule & EW_AGG_DAY ? EW_DAY_MS : EW_HOUR_MS),
                     8);
            ew_put_f(b, a->sum);
            ew_put_f(b, a->wsum);
            ew_put_f(b, a->wt);
            ew_put_u(b, a->nvalid, 4);
            ew_put_u(b, a->nweight, 4);
            ew_put_u(b, a->nvalid, 4); /* all values, no longer kept: at least the valid ones */
        }
        if (key->rule >= EW_AGG_KEY)
            continue;
        const struct ew_rule *r = &e->rules->rules[key->rule];
        ew_put_str(b, r->id);
        ew_put_u(b, key->code, 8);
        const struct ew_life *l = &key->life;
        ew_put_u(b, l->status, 1);
        ew_put_u(b, (uint8_t)l->level, 1);
        ew_put_u(b, (uint8_t)l->cand, 1);
        ew_put_u(b, l->run_count, 4);
        ew_put_u(b, (uint64_t)l->run_since, 8);
        ew_put_u(b, (uint64_t)l->since, 8);
        ew_put_u(b, (uint64_t)l->notified_at, 8);
        ew_put_u(b, (uint64_t)l->window_start, 8);
        ew_put_u(b, l->changes, 2);
        ew_put_u(b, l->flapping | l->muted << 1, 1);
        ew_put_u(b, (uint8_t)l->verdict, 1);
        ew_put_u(b, (uint64_t)l->covered, 8);
        ew_put_f(b, l->value);
        ew_put_u(b, l->vkind, 1);
        ew_put_u(b, l->vfield, 1);
        ew_put_u(b, (uint8_t)l->vflag, 1);
        ew_put_u(b, (uint8_t)l->vsuffix[0], 1);
        ew_put_u(b, (uint8_t)l->vsuffix[1], 1);
        ew_put_u(b, l->vinputs, 2);
        static const unsigned char none[EW_KIND_STATE_MAX];
        const void *ks = ew_key_state(s, key);
        ew_put_u(b, r->kind->state_size, 1);
        ew_buf_add(b, ks ? ks : none, r->kind->state_size);
    }
    ew_put_loops(e, s, b);
}

int ew_engine_export(const struct ew_engine *e, struct ew_buf *b)
{
    const struct ew_sitetab *t = &e->sites;
    ew_buf_add(b, EW_STATE_MAGIC, 4);
    ew_put_u(b, EW_STATE_VERSION, 4);
    ew_put_u(b, (uint64_t)e->watermark, 8);
    ew_put_u(b, t->used, 4);
    for (int32_t i = t->tail; i >= 0; i = t->sites[i].prev)
        ew_put_site(e, &t->sites[i], b);
    return b->err;
}

int ew_engine_export_site(const struct ew_engine *e, const char *mn, struct ew_buf *b)
{
    size_t mnlen = strlen(mn);
    const struct ew_site *s = mnlen < EW_MN_MAX ? ew_sitetab_find(&e->sites, mn, mnlen) : NULL;
    if (!s)
        return EW_EINVAL;
    ew_buf_add(b, EW_SITE_MAGIC, 4);
    ew_put_u(b, EW_SITE_VERSION, 4);
    ew_put_site(e, s, b);
    /* what its records held now will find when they come again (after a restore) */
    ew_put_u(b, (uint64_t)(s->nheld ? s->heard_base : s->heard), 8);
    return b->err;
}

/* ---- reading: a bounds-checked cursor; the first short read marks it bad ---- */

struct ew_cur {
    const unsigned char *p;
    size_t n, off;
    bool bad;
};

static uint64_t ew_get_u(struct ew_cur *c, int bytes)
{
    uint64_t v = 0;
    if (c->bad || c->n - c->off < (size_t)bytes) {
        c->bad = true;
        return 0;
    }
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)c->p[c->off + (size_t)i] << (8 * i);
    c->off += (size_t)bytes;
    return v;
}

static double ew_get_f(struct ew_cur *c)
{
    uint64_t v = ew_get_u(c, 8);
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

/* A length-prefixed string into out (NUL-terminated); bad when longer than cap - 1 or holding
 * a NUL (no name written has one: an MN "A\0B" would be read as "A", a site that the check for
 * one held already, by its whole length, did not find). */
static void ew_get_str(struct ew_cur *c, char *out, size_t cap)
{
    size_t len = (size_t)ew_get_u(c, 1);
    if (c->bad || len >= cap || c->n - c->off < len || memchr(c->p + c->off, 0, len)) {
        c->bad = true;
        out[0] = '\0';
        return;
    }
    memcpy(out, c->p + c->off, len);
    out[len] = '\0';
    c->off += len;
}

/* A time from a checkpoint: unset (INT64_MIN) where allowed, else within the years every parser
 * produces, so that the engine's subtractions of times cannot overflow. */
static bool ew_time_ok(int64_t t, bool unset_ok)
{
    return (unset_ok && t == INT64_MIN) || ew_time_sane(t);
}

static int ew_rule_index(const struct ew_ruleset *set, const char *id)
{
    for (size_t i = 0; i < set->nrules; i++)
        if (!strcmp(set->rules[i].id, id))
            return (int)i;
    return -1;
}

/* The magic and the version read (*version): the engine's state 3 or 4, a site's 3 to 5; 0, or
 * EW_EMALFORMED with err set. */
static int ew_state_header(struct ew_cur *c, const char *magic, struct ew_error *err,
                           uint64_t *version)
{
    bool site = strcmp(magic, EW_STATE_MAGIC) != 0;
    if (c->n < 4 || memcmp(c->p, magic, 4))
        return ew_error_set(err, EW_EMALFORMED, 0, "not an ecowarn %s (no %s)",
                            site ? "site state" : "state", magic);
    c->off = 4;
    *version = ew_get_u(c, 4);
    if (c->bad || *version < 3 || *version > (site ? EW_SITE_VERSION : EW_STATE_VERSION))
        return ew_error_set(err, EW_EMALFORMED, 4, "state version %llu, this build reads 3 to %u",
                            (unsigned long long)*version,
                            site ? EW_SITE_VERSION : EW_STATE_VERSION);
    return 0;
}

/* A string of ew_put_lstr, owned (NULL: none, or out of memory: *nomem). */
static char *ew_get_lstr(struct ew_cur *c, bool *nomem)
{
    size_t len = (size_t)ew_get_u(c, 2);
    if (c->bad || len == 0xFFFF)
        return NULL;
    if (c->n - c->off < len) {
        c->bad = true;
        return NULL;
    }
    char *s = ew_malloc(len + 1);
    if (!s) {
        *nomem = true;
    } else {
        memcpy(s, c->p + c->off, len);
        s[len] = '\0';
    }
    c->off += len;
    return s;
}

/* The site's alerts in the closed loop (ew_put_loops) into the engine's table; a loop of a rule
 * it does not have (whose key is dropped, counted), or one without a policy now, is dropped. 0,
 * -1 corrupt (c->bad), or EW_ENOMEM. */
static int ew_get_loops(struct ew_engine *e, struct ew_cur *c, struct ew_site *s)
{
    uint64_t n = ew_get_u(c, 4);
    if (n > 65536)
        c->bad = true;
    bool nomem = false;
    for (uint64_t i = 0; i < n && !c->bad && !nomem; i++) {
        struct ew_loop tmp = {0};
        char id[EW_RULE_ID_MAX];
        if (c->n - c->off < 16) {
            c->bad = true;
            break;
        }
        memcpy(tmp.fingerprint, c->p + c->off, 16);
        c->off += 16;
        for (int k = 0; k < 16; k++)
            c->bad |= !strchr("0123456789abcdef", tmp.fingerprint[k]) || !tmp.fingerprint[k];
        ew_get_str(c, id, sizeof id);
        tmp.level = (int8_t)ew_get_u(c, 1);
        tmp.event = (uint8_t)ew_get_u(c, 1);
        uint64_t flags = ew_get_u(c, 1);
        tmp.has_value = flags & 1;
        tmp.has_limit = (flags >> 1) & 1;
        tmp.value = ew_get_f(c);
        tmp.limit = ew_get_f(c);
        tmp.event_time = (int64_t)ew_get_u(c, 8);
        for (int k = 0; k < EW_SNAP_N; k++)
            tmp.snap[k] = ew_get_lstr(c, &nomem);
        ew_free(ew_get_lstr(c, &nomem)); /* not used */
        int64_t *times[] = {&tmp.created, &tmp.started, &tmp.held, &tmp.responded, &tmp.acked};
        bool times_ok = ew_time_ok(tmp.event_time, true);
        for (size_t k = 0; k < sizeof times / sizeof times[0]; k++) {
            *times[k] = (int64_t)ew_get_u(c, 8);
            times_ok &= ew_time_ok(*times[k], true);
        }
        tmp.steps = (uint8_t)ew_get_u(c, 1);
        tmp.trail_dropped = (uint16_t)ew_get_u(c, 2);
        tmp.ntrail = (uint8_t)ew_get_u(c, 1);
        if (tmp.ntrail > EW_TRAIL_MAX)
            c->bad = true;
        for (size_t k = 0; k < tmp.ntrail && !c->bad; k++) {
            struct ew_trail *t = &tmp.trail[k];
            t->at = (int64_t)ew_get_u(c, 8);
            t->event = (uint8_t)ew_get_u(c, 1);
            t->audience = (uint8_t)ew_get_u(c, 1);
            t->step = (uint8_t)ew_get_u(c, 1);
            times_ok &= ew_time_ok(t->at, false) && t->event < EW_AEV_COUNT &&
                        t->audience <= EW_AUDIENCE_SUPERVISOR;
        }
        tmp.response = ew_get_lstr(c, &nomem);
        tmp.ack_by = ew_get_lstr(c, &nomem);
        tmp.ack_note = ew_get_lstr(c, &nomem);
        tmp.ack_entry = ew_get_lstr(c, &nomem);
        if (!times_ok || flags > 3 || tmp.event >= EW_AEV_COUNT ||
            (tmp.has_value && !isfinite(tmp.value)) || (tmp.has_limit && !isfinite(tmp.limit)))
            c->bad = true;
        int ri = c->bad || nomem ? -1 : ew_rule_index(e->rules, id);
        const struct ew_policy *p = ri >= 0 ? e->rules->rules[ri].policy : NULL;
        bool keep = p && tmp.steps <= p->nsteps && !ew_loop_find(e, tmp.fingerprint);
        struct ew_loop *l = keep ? ew_loop_add(e, tmp.fingerprint, s->mn, (uint32_t)ri) : NULL;
        if (!l) { /* kept, out of memory; or its rule is gone (its key is counted), or has no
                     policy now */
            nomem |= keep;
            ew_loop_release(&tmp);
            continue;
        }
        memcpy(tmp.mn, l->mn, sizeof tmp.mn);
        tmp.rule = l->rule;
        *l = tmp;
        s->looped = 1;
    }
    return c->bad ? -1 : nomem ? EW_ENOMEM : 0;
}

/* Reads one site (ew_put_site) into the engine's table, as a new site: *made is set once it is
 * in the table. Returns 0, -1 when the bytes are corrupt (c->bad) or the site is held already,
 * or EW_ENOMEM; the caller takes a site made out again on failure. */
static int ew_get_site(struct ew_engine *e, struct ew_cur *c, struct ew_site **made, bool loops)
{
    struct ew_sitetab *t = &e->sites;
    char mn[EW_MN_MAX], st[8];
    ew_get_str(c, mn, sizeof mn);
    int64_t last_data = (int64_t)ew_get_u(c, 8);
    ew_get_str(c, st, sizeof st);
    int64_t newest[EW_KIND_REPLY + 1];
    if (ew_get_u(c, 1) != sizeof newest / sizeof newest[0])
        c->bad = true;
    for (size_t k = 0; k < sizeof newest / sizeof newest[0]; k++)
        newest[k] = (int64_t)ew_get_u(c, 8);
    struct ew_seen seen[EW_SEEN_N];
    if (ew_get_u(c, 1) != EW_SEEN_N)
        c->bad = true;
    for (size_t k = 0; k < EW_SEEN_N; k++) {
        seen[k].mark = (int64_t)ew_get_u(c, 8);
        seen[k].bits = ew_get_u(c, 8);
    }
    int64_t closed[2];
    closed[0] = (int64_t)ew_get_u(c, 8);
    closed[1] = (int64_t)ew_get_u(c, 8);
    int64_t due = (int64_t)ew_get_u(c, 8);
    int32_t minute_ms = (int32_t)ew_get_u(c, 4);
    uint64_t nkeys = ew_get_u(c, 4);
    bool times_ok = ew_time_ok(last_data, true) && ew_time_ok(closed[0], true) &&
                    ew_time_ok(closed[1], true) && (due == INT64_MAX || ew_time_sane(due)) &&
                    minute_ms >= 0 && minute_ms <= EW_HOUR_MS;
    for (size_t k = 0; k < sizeof newest / sizeof newest[0]; k++)
        times_ok &= ew_time_ok(newest[k], true);
    for (size_t k = 0; k < EW_SEEN_N; k++)
        times_ok &= ew_time_ok(seen[k].mark, true);
    if (c->bad || !mn[0] || !times_ok) {
        c->bad = true;
        return -1;
    }
    bool created;
    ew_engine__may_evict(e);
    struct ew_site *s = ew_sitetab_get(t, mn, strlen(mn), &created);
    ew_engine__evicted(e);
    if (!s)
        return EW_ENOMEM;
    if (!created) {
        c->bad = true; /* the same site twice, or one the engine holds already */
        return -1;
    }
    *made = s;
    s->last_data = s->heard = last_data; /* nothing is held in a checkpoint */
    memcpy(s->st, st, sizeof st);
    memcpy(s->newest, newest, sizeof newest);
    memcpy(s->seen, seen, sizeof seen);
    for (int d = 0; d < 2; d++)
        s->agg_closed[d] = closed[d] == INT64_MIN
                               ? INT32_MIN
                               : (int32_t)ew_period_number(closed[d], d ? EW_DAY_MS : EW_HOUR_MS);
    s->agg_due = due;
    s->minute_ms = minute_ms;
    for (uint64_t ki = 0; ki < nkeys && !c->bad; ki++) {
        char id[EW_RULE_ID_MAX];
        unsigned char kstate[EW_KIND_STATE_MAX];
        struct ew_life life = {0};
        ew_get_str(c, id, sizeof id);
        uint64_t code = ew_get_u(c, 8);
        if (!strcmp(id, EW_STATE_AVG)) {
            uint32_t bits = (uint32_t)ew_get_u(c, 1);
            struct ew_acc a;
            int64_t start = (int64_t)ew_get_u(c, 8),
                    len = bits & EW_AGG_DAY ? EW_DAY_MS : EW_HOUR_MS;
            a.sum = ew_get_f(c);
            a.wsum = ew_get_f(c);
            a.wt = ew_get_f(c);
            uint64_t nvalid = ew_get_u(c, 4), nweight = ew_get_u(c, 4), n = ew_get_u(c, 4);
            uint32_t half = bits & EW_AGG_ODD;
            int64_t number = ew_time_ok(start, false) ? ew_period_number(start, len) : 0;
            if (c->bad || bits > (EW_AGG_DAY | EW_AGG_ZS | EW_AGG_ODD) ||
                !ew_time_ok(start, false) || !isfinite(a.sum) || !isfinite(a.wsum) ||
                !isfinite(a.wt) || nvalid > n || nweight > nvalid || nvalid > UINT16_MAX ||
                start != ew_period_start(start, len) || ew_agg_half(number) != half) {
                c->bad = true;
                break;
            }
            a.period = (int32_t)number;
            a.nvalid = (uint16_t)nvalid;
            a.nweight = (uint16_t)nweight;
            struct ew_sitekey *k = ew_site_key(t, s, EW_AGG_KEY | (bits & ~EW_AGG_ODD), code, true);
            if (!k) {
                return EW_ENOMEM;
            }
            k->acc[half] = a;
            continue;
        }
        uint64_t status = ew_get_u(c, 1);
        life.level = (int8_t)ew_get_u(c, 1);
        life.cand = (int8_t)ew_get_u(c, 1);
        life.run_count = (uint32_t)ew_get_u(c, 4);
        life.run_since = (int64_t)ew_get_u(c, 8);
        life.since = (int64_t)ew_get_u(c, 8);
        life.notified_at = (int64_t)ew_get_u(c, 8);
        life.window_start = (int64_t)ew_get_u(c, 8);
        life.changes = (uint16_t)ew_get_u(c, 2);
        uint64_t flapping = ew_get_u(c, 1);
        life.verdict = (int8_t)ew_get_u(c, 1);
        life.covered = (int64_t)ew_get_u(c, 8);
        life.value = ew_get_f(c);
        uint64_t vkind = ew_get_u(c, 1), vfield = ew_get_u(c, 1);
        life.vflag = (char)ew_get_u(c, 1);
        life.vsuffix[0] = (char)ew_get_u(c, 1);
        life.vsuffix[1] = (char)ew_get_u(c, 1);
        life.vinputs = (uint16_t)ew_get_u(c, 2);
        size_t klen = (size_t)ew_get_u(c, 1);
        if (!ew_time_ok(life.run_since, false) || !ew_time_ok(life.since, false) ||
            !ew_time_ok(life.notified_at, false) || !ew_time_ok(life.window_start, false) ||
            !ew_time_ok(life.covered, true) || !isfinite(life.value) || vkind > EW_KIND_REPLY ||
            vfield >= EW_FIELD_COUNT || status > EW_LIFE_FIRING || flapping > 3)
            c->bad = true;
        life.status = status & 3;
        life.flapping = flapping & 1;
        life.muted = (flapping >> 1) & 1;
        life.vkind = vkind & 15;
        life.vfield = vfield & 15;
        if (c->bad || klen > sizeof kstate || c->n - c->off < klen) {
            c->bad = true;
            return -1;
        }
        memcpy(kstate, c->p + c->off, klen);
        c->off += klen;
        int ri = ew_rule_index(e->rules, id);
        const struct ew_rule *r = ri >= 0 ? &e->rules->rules[ri] : NULL;
        if (!r || r->kind->state_size != klen || life.level < -1 || life.level >= (int)r->nlevels ||
            life.cand < -1 || life.cand >= (int)r->nlevels ||
            (life.status != EW_LIFE_IDLE && life.level < 0) || life.verdict < EW_OBS_HOLD ||
            life.verdict >= (int)r->nlevels) {
            e->dropped++; /* a rule this engine does not have, or not in this shape */
            continue;
        }
        struct ew_sitekey *k = ew_site_key(t, s, (uint32_t)ri, code, true);
        if (!k) {
            return EW_ENOMEM;
        }
        k->life = life;
        if (klen) {
            void *ks = ew_key_state_make(t, s, k);
            if (!ks)
                return EW_ENOMEM;
            memcpy(ks, kstate, klen);
        }
        if (r->kind->site_wide && life.status == EW_LIFE_FIRING && s->silent < UINT8_MAX)
            s->silent++;
    }
    if (c->bad)
        return -1;
    return loops ? ew_get_loops(e, c, s) : 0;
}

int ew_engine_import(struct ew_engine *e, const void *buf, size_t len, struct ew_error *err)
{
    struct ew_cur c = {buf, len, 0, false};
    struct ew_sitetab *t = &e->sites;
    if (t->used)
        return ew_error_set(err, EW_EINVAL, 0, "state can only be imported into a new engine");
    uint64_t version;
    int rc = ew_state_header(&c, EW_STATE_MAGIC, err, &version);
    if (rc)
        return rc;
    int64_t watermark = (int64_t)ew_get_u(&c, 8);
    uint64_t nsites = ew_get_u(&c, 4);
    rc = 0;
    for (uint64_t si = 0; si < nsites && !c.bad && !rc; si++) {
        struct ew_site *made = NULL;
        rc = ew_get_site(e, &c, &made, version >= 4);
    }
    if (!ew_time_ok(watermark, true))
        c.bad = true;
    if (rc || c.bad || c.off != len) {
        size_t cap = t->cap, off = c.off;
        ew_sitetab_release(t); /* all or nothing */
        ew_loops_free(&e->loops);
        int init = ew_sitetab_init(t, cap);
        if (rc == EW_ENOMEM || init)
            return ew_error_set(err, EW_ENOMEM, off, "out of memory importing state");
        return ew_error_set(err, EW_EMALFORMED, off, "state is cut short or corrupt");
    }
    e->watermark = watermark;
    ew_engine_schedule_all(e); /* the timers follow from the state: rebuilt, not stored */
    return 0;
}

int ew_engine_import_site(struct ew_engine *e, const void *buf, size_t len, struct ew_error *err)
{
    struct ew_cur c = {buf, len, 0, false};
    uint64_t version;
    int rc = ew_state_header(&c, EW_SITE_MAGIC, err, &version);
    if (rc)
        return rc;
    size_t mnlen = c.n - c.off ? c.p[c.off] : 0;
    if (c.n - c.off > mnlen && mnlen < EW_MN_MAX &&
        ew_sitetab_find(&e->sites, (const char *)c.p + c.off + 1, mnlen))
        return ew_error_set(err, EW_EINVAL, c.off, "the engine holds that site already");
    struct ew_site *made = NULL;
    rc = ew_get_site(e, &c, &made, version >= 5);
    int64_t heard = made ? made->last_data : INT64_MIN;
    if (!rc && version >= 4) {
        heard = (int64_t)ew_get_u(&c, 8);
        if (!ew_time_ok(heard, true))
            c.bad = true;
    }
    if (rc || c.bad || c.off != len) {
        if (made)
            ew_engine_forget(e, made->mn); /* all or nothing */
        if (rc == EW_ENOMEM)
            return ew_error_set(err, EW_ENOMEM, c.off, "out of memory importing a site");
        return ew_error_set(err, EW_EMALFORMED, c.off, "site state is cut short or corrupt");
    }
    made->heard = heard;
    ew_timers__key_due(e, made);
    made->queued = INT64_MAX;
    ew_timers__schedule(e, made, ew_site_outlet(e, made), INT64_MIN);
    return 0;
}

/* ---- reload ---- */

/* Same identity and window shape: the state of the old rule means the same for the new one. */
static bool ew_same_shape(const struct ew_rule *a, const struct ew_rule *b)
{
    return !strcmp(a->id, b->id) && a->kind == b->kind && a->nlevels == b->nlevels &&
           a->for_count == b->for_count && a->for_ms == b->for_ms &&
           a->clear_count == b->clear_count && a->clear_ms == b->clear_ms;
}

int ew_engine_reload(struct ew_engine *e, struct ew_ruleset *new_set)
{
    const struct ew_ruleset *old = e->rules;
    int32_t map[1024];
    if (old->nrules > sizeof map / sizeof map[0]) {
        ew_ruleset_free(new_set);
        return EW_ETOO_LONG;
    }
    if (ew_ruleset_index(new_set)) {
        ew_ruleset_free(new_set);
        return EW_ENOMEM;
    }
    for (size_t i = 0; i < old->nrules; i++) {
        int j = ew_rule_index(new_set, old->rules[i].id);
        map[i] = j >= 0 && ew_same_shape(&old->rules[i], &new_set->rules[j]) ? j : -1;
    }
    struct ew_sitetab *t = &e->sites;
    for (size_t si = 0; si < t->used; si++) {
        struct ew_site *s = &t->sites[si];
        uint32_t out = 0;
        for (uint32_t k = 0; k < s->nkeys; k++) {
            if (s->keys[k].rule >= EW_AGG_KEY) { /* averages belong to the site, not a rule */
                s->keys[out++] = s->keys[k];
                continue;
            }
            int32_t j = map[s->keys[k].rule];
            if (j < 0) {
                ew_key_state_drop(s, &s->keys[k]);
                if (old->rules[s->keys[k].rule].kind->site_wide &&
                    s->keys[k].life.status == EW_LIFE_FIRING)
                    s->silent -= s->silent > 0; /* its silence alert goes with it */
                e->dropped++;
                continue;
            }
            s->keys[out] = s->keys[k];
            s->keys[out++].rule = (uint32_t)j;
        }
        t->keys -= s->nkeys - out;
        if (out != s->nkeys)
            ew_site_dirty(e, s); /* its saved state names keys that went */
        s->nkeys = out;
        s->hint = 0;
        ew_site_keybits(s); /* the rules are numbered anew */
    }
    const struct ew_ruleset *was = e->rules;
    e->rules = new_set;
    ew_loops_remap(e, map, was); /* a chain stays with its rule, unless its policy changed */
    ew_ruleset_free((struct ew_ruleset *)was);
    memset(e->plans, 0, sizeof e->plans); /* they answer for the rules that went */
    /* averages start being computed when a new rule judges hour or day data (the site's
     * minute values from now on; without memory for the record, they are not) */
    if (!e->avg.computed && ew_ruleset_averages(new_set))
        e->avg.computed = ew_record_new();
    e->averaging = e->avg.computed && ew_ruleset_averages(new_set);
    e->avg.rules = new_set;
    ew_engine_schedule_all(e); /* the new rules' timers */
    return 0;
}
