/*
 * ew_rules.h - the rule engine: compiled rules in, normalized records and clock ticks in,
 * alert events out. Pure code: no I/O, no event loop; time comes in as parameters, so a
 * fake clock drives it in tests exactly as the daemon's loop does in production.
 *
 * Ownership: ew_engine_new steals the ruleset and borrows the registry (which must outlive
 * the engine). Events reach the sink during the call that caused them; see ew_alert.h for
 * how long their fields live.
 */
#ifndef EW_RULES_H
#define EW_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ew_alert.h"
#include "ew_buf.h"
#include "ew_error.h"
#include "ew_record.h"
#include "ew_registry.h"

/* ---- rulesets ---- */

struct ew_ruleset;

struct ew_ruleset *ew_ruleset_new(void);
void ew_ruleset_free(struct ew_ruleset *set);

/* Compiles every rule of one rule file (JSON text of len bytes; `file` names it in errors)
 * into set. On error nothing of the file is added and err->detail reads
 * "FILE:LINE:COLUMN: reason" for JSON syntax, "FILE: RULE-ID: reason" otherwise.
 * Returns 0, EW_EMALFORMED, EW_EINVAL (a rule that is well-formed JSON but wrong) or
 * EW_ENOMEM. */
int ew_ruleset_add_json(struct ew_ruleset *set, const char *text, size_t len, const char *file,
                        struct ew_error *err);

size_t ew_ruleset_count(const struct ew_ruleset *set);

/* Resolves the escalation policy each rule names (`"escalation": NAME`), which any rule file of
 * the set may define; call it once every file is in. Returns 0, or EW_EINVAL for a name no file
 * defines (err says which). */
int ew_ruleset_link(struct ew_ruleset *set, struct ew_error *err);

/* ---- the engine ---- */

typedef void (*ew_alert_sink)(void *ctx, const struct ew_alert_event *ev);

enum ew_lang { EW_LANG_ZH = 0, EW_LANG_EN };

struct ew_engine_opts {
    size_t max_sites;   /* bound on the sites whose rule state is kept; beyond it the site least
                           recently seen is evicted (counted). 0 means 100,000. */
    enum ew_lang lang;  /* messages in Chinese (default) or English */
    size_t sweep_batch; /* no longer used: every timer due fires (kept for the option's callers) */
    int64_t allowed_lateness_ms; /* a record older than its site's newest of the same data kind
                                    by more than this is late: counted, not judged. 0: 2 hours */
    int64_t average_grace_ms;    /* a computed hourly (daily) average closes this long after its
                                    hour (day) ends, by the site's data time or the clock's
                                    reference: minute values sent late within it still count.
                                    0 (or an hour or more): 10 minutes */
    int64_t reorder_ms;          /* records are held this long and judged in event-time order: those
                                    that arrive out of order within it are placed where they belong.
                                    A record is released once the fleet's newest data time (of
                                    its source: ew_engine_record_from), or the processing clock
                                    since it arrived, has moved this far past it. 0: judged as they
                                    arrive */
    int64_t hold_max_ms;         /* a record of a caller's source is released by processing time
                                    only this long after it came (its source quiet or stuck).
                                    Below reorder_ms (0): reorder_ms */
    /* With reorder_ms: called exactly once for each ew_engine_record_tagged (or _from) call, with
     * its tag, once the record has been judged (or at once when it is not held: late, no time, not
     * judged), so that the caller knows when everything derived from it has been emitted. NULL: not
     * told. */
    void (*released)(void *ctx, uint64_t tag);
};

struct ew_engine_stats {
    uint64_t records;      /* records seen */
    uint64_t evaluations;  /* (rule, value) pairs judged */
    uint64_t events;       /* alert events emitted */
    uint64_t evictions;    /* sites dropped to stay within max_sites */
    uint64_t skipped_mn;   /* records whose MN is too long to key state (> 47 bytes) */
    uint64_t late;         /* records older than the allowed lateness: not judged */
    uint64_t out_of_order; /* records judged after a newer one of their kind from their site */
    size_t held;           /* records held for event-time order now */
    uint64_t nomem;        /* judgements skipped because a site's state could not grow */
    uint64_t suppressed;   /* alert events explained by a declared window: counted, not sent */
    uint64_t dropped_keys; /* states dropped by import or reload: their rule is gone or changed */
    uint64_t duplicates;   /* minute, hour or day records for a period already judged: skipped */
    uint64_t averages;     /* hourly and daily records computed (the logger sent none) */
    uint64_t superseded;   /* computed averages dropped: the logger sent that period itself */
    uint64_t invalid_averages;   /* averages not computed: too few valid values (< 45 minutes,
                                    < 20 hours) */
    uint64_t late_averages;      /* values that came after their period's average was closed */
    uint64_t loop_escalations;   /* the closed loop: escalation steps fired */
    uint64_t loop_responses;     /* enterprises' answers applied */
    uint64_t loop_acks;          /* acknowledgements applied */
    uint64_t loop_quiet_held;    /* reminders held by quiet hours */
    uint64_t loop_quiet_sent;    /* of them, sent when the quiet hours ended */
    uint64_t loop_quiet_dropped; /* alerts resolved before anyone was told (held throughout) */
    size_t loops;                /* alerts in the closed loop now */
    size_t sites;                /* sites held now */
    size_t keys;                 /* (site, rule, pollutant) states and averages being gathered */
    size_t state_bytes;          /* memory of the site table and every key block */
};

struct ew_engine;

/* New engine, or NULL when out of memory (the ruleset is freed then too). */
struct ew_engine *ew_engine_new(const struct ew_engine_opts *opts, struct ew_ruleset *rules,
                                const struct ew_registry *reg, ew_alert_sink sink, void *ctx);
void ew_engine_free(struct ew_engine *eng);

/* Judges one record; now is processing time (epoch ms). Returns 0, or EW_ELATE for a record
 * older than its site's newest record of the same data kind by more than the allowed
 * lateness: it is counted (late) and not judged, and the caller reports it. With reorder_ms,
 * the record is held and judged in event-time order by a later call (record, tick or flush);
 * without, it is judged now, and records inside the lateness are judged in the order they
 * arrive (counted out_of_order when a newer one came first). A minute, hour or day record
 * for a period the site's record was already judged for is a duplicate: counted, not judged.
 * EW_EINVAL for a time outside years 1-9999 (the codec never produces one). EW_ENOMEM when a
 * record cannot be held (it is judged at once instead). */
int ew_engine_record(struct ew_engine *eng, const struct ew_record *rec, int64_t now);

/* ---- the closed loop (rules/RULES.md, "The closed loop") ---- */

/* A response to alert_id (an event's id or its fingerprint) was stored in the registry: the
 * alert's loop applies it when the engine's clock reaches the response's time. Returns 0, or
 * EW_ENOTFOUND when no alert in the closed loop here has that fingerprint (unknown, resolved, of
 * a rule without a policy, or another instance's). */
int ew_engine_response(struct ew_engine *eng, const char *alert_id);

/* An officer acknowledged alert_id (an event's id or fingerprint; by, note may be NULL; entry:
 * the acknowledgement's identity, the ecowarn:acks entry id) at processing time now: its
 * escalation stops, an `acknowledged` event is written with the history, and the history keeps
 * it until the alert resolves. Returns 0, 1 when that entry was applied already (nothing is
 * written), EW_ENOTFOUND (as ew_engine_response) or EW_ENOMEM. */
int ew_engine_acknowledge(struct ew_engine *eng, const char *alert_id, const char *by,
                          const char *note, const char *entry, int64_t now);

/* ew_engine_record with a tag that the events the record causes carry (ev->tag), even when it
 * is held and judged later; `released` tells when a held one has been judged. */
int ew_engine_record_tagged(struct ew_engine *eng, const struct ew_record *rec, int64_t now,
                            uint64_t tag);

/* The clock's tick (processing time, epoch ms): held records that are due are judged, and every
 * event-time timer (a site's silence reaching a level, an average closing) fires that is due by
 * the earlier of now and the fleet's watermark (the newest data time seen, not more than 10
 * minutes ahead of processing time), in due order, each site judged as of its timer's time.
 * Returns 0. */
int ew_engine_tick(struct ew_engine *eng, int64_t now);

/* ew_engine_tick against a clock of the caller's (event time, epoch ms; INT64_MIN: none yet)
 * instead of the fleet's watermark: the daemon's, the earliest of its partitions' watermarks
 * (pipeline/ew_clock.h). Returns 0. */
int ew_engine_tick_at(struct ew_engine *eng, int64_t clock, int64_t now);

/* A part of ew_engine_tick_at: max held records that are due judged at most, and max due timers
 * fired, the rest in due order at the next call, the same ones as one tick would have judged
 * (a caller with live input spreads a tick's work over its loop's quiet moments). Returns
 * whether more may be due. max > 0. */
bool ew_engine_step(struct ew_engine *eng, int64_t clock, int64_t now, size_t max);

/* The clock moved (between ticks: before a record): fires the timers due by the earlier of
 * clock and now, as a tick does, without judging held records. A caller that advances the
 * clock before each record sees a silence inside a backlog replayed in one burst exactly as it
 * was seen live. Returns 0. */
int ew_engine_advance(struct ew_engine *eng, int64_t clock, int64_t now);

/* Judges every held record now, in event-time order (before a checkpoint or a shutdown: held
 * records are not part of the exported state). Returns 0. */
int ew_engine_flush(struct ew_engine *eng, int64_t now);

/* Judges held records that are due, max of them at most (0: all). Returns whether more may be
 * due (max were judged): the caller calls again when its loop has a moment. */
bool ew_engine_release(struct ew_engine *eng, int64_t now, size_t max);

void ew_engine_stats(const struct ew_engine *eng, struct ew_engine_stats *out);

/* Drops everything the engine holds for a site (its rule state, its averages), as when
 * another consumer takes over its partition. Held records of the site are still judged.
 * Returns whether the site was known. */
bool ew_engine_forget(struct ew_engine *eng, const char *mn);

/* Appends the engine's whole state (every site, its last data and the lifecycle of each of
 * its keys, and the watermark) as bytes; see rules/ew_state.c for the format. Importing them
 * into a new engine and exporting again gives the same bytes. Returns 0 or out->err. */
int ew_engine_export(const struct ew_engine *eng, struct ew_buf *out);

/* Restores state exported by ew_engine_export into an engine that has seen nothing yet.
 * Keys of rules the engine does not have are dropped and counted (dropped_keys). Returns 0;
 * EW_EMALFORMED (err has the offset; the engine stays empty), EW_EINVAL (the engine is not
 * new) or EW_ENOMEM. */
int ew_engine_import(struct ew_engine *eng, const void *buf, size_t len, struct ew_error *err);

/* One site's state (its last data, periods judged, lifecycles and averages), for a site that
 * moves with its partition to another engine. Records of the site held for event-time order
 * are not in it: the caller reads them again (their messages are not done), and the state is
 * as it was before they came. Returns 0, EW_EINVAL (the engine does not hold
 * the site) or out->err. */
int ew_engine_export_site(const struct ew_engine *eng, const char *mn, struct ew_buf *out);

/* Adds a site exported by ew_engine_export_site to a running engine, its timers queued: it
 * goes on as it would have in the engine it left. Returns 0; EW_EMALFORMED (err has the offset;
 * nothing is added), EW_EINVAL (the engine holds the site already: forget it first) or
 * EW_ENOMEM. Keys of rules the engine does not have are dropped and counted. */
int ew_engine_import_site(struct ew_engine *eng, const void *buf, size_t len, struct ew_error *err);

/* The sites whose state changed since they were last taken: fn is called once for each, with
 * held true (export it with ew_engine_export_site), or false for one evicted to stay within
 * max_sites (its saved state is stale), and says whether it takes it: a site not taken stays
 * changed, for a later call (a caller that saves its sites a part at a time). A site forgotten
 * since is not reported. Records held for event-time order count as the state of their site.
 * Returns how many were taken. */
typedef bool (*ew_engine_dirty_fn)(void *ctx, const char *mn, bool held);
size_t ew_engine_take_dirty(struct ew_engine *eng, ew_engine_dirty_fn fn, void *ctx);
/* How many sites changed and were not taken yet (evicted ones not counted). */
size_t ew_engine_dirty_count(const struct ew_engine *eng);

/* A checkpoint staged a few sites at a time, each as it was at one point of the input (copy
 * on write): ew_engine_freeze_dirty offers the changed sites as ew_engine_take_dirty does; a
 * held one that fn takes is frozen, an evicted one is taken. A frozen site is handed to the
 * stage function (ew_engine_on_stage) as it is at the freeze, export it there: by
 * ew_engine_stage, or else just before anything changes it (a record, a timer, an
 * acknowledgement, its eviction), whichever comes first. Returns how many were frozen. */
typedef void (*ew_engine_stage_fn)(void *ctx, const char *mn);
void ew_engine_on_stage(struct ew_engine *eng, ew_engine_stage_fn fn, void *ctx);
size_t ew_engine_freeze_dirty(struct ew_engine *eng, ew_engine_dirty_fn fn, void *ctx);
/* Hands up to max frozen sites to the stage function; returns how many are still frozen. */
size_t ew_engine_stage(struct ew_engine *eng, size_t max);
/* The frozen sites not handed over yet count as changed again (the checkpoint is given up). */
void ew_engine_thaw(struct ew_engine *eng);

/* Takes out, unjudged, every held record whose tag drop says (their partition went to another
 * consumer, which reads them again); `released` is called for each. Their sites are then
 * forgotten by the caller. Returns how many. */
size_t ew_engine_drop_held(struct ew_engine *eng, bool (*drop)(void *ctx, uint64_t tag), void *ctx);

/* ew_engine_record_tagged for a record of one of the caller's input sources (1, 2, ...: a
 * partition; 0 is ew_engine_record_tagged's), with that source's watermark: its newest data
 * time as the caller measures it, taken as it is (a partition claimed again may restart from an
 * earlier one). A record held is released when its own source has moved reorder_ms past it,
 * not when another source read faster has. Every record of a site comes from one source, so
 * its records are judged in an order that depends on that source's input alone, however the
 * sources' reading interleaves. Returns as ew_engine_record. */
int ew_engine_record_from(struct ew_engine *eng, const struct ew_record *rec, int64_t now,
                          uint64_t tag, uint32_t source, int64_t mark);

/* A record taken judges at most max of the held records that are due (0, the default: every
 * one); the others stay held, still due, for the next records and ew_engine_step, which judge
 * them in the same order (the same events). A caller with live input keeps its loop free this
 * way: a minute of the fleet falls due at once, and judging it whole held back every message
 * behind the one that made it due (bench/RESULTS.md). */
void ew_engine_release_bound(struct ew_engine *eng, size_t max);

/* The data time of the oldest record held for event-time order, INT64_MAX none: no timer fires
 * past it (a partition's watermark is saved no later than it, so that a restored clock does not
 * run ahead of the records read again). */
int64_t ew_engine_held_oldest(const struct ew_engine *eng);

/* Replaces the rules (steals them). State is kept for every rule whose id, kind, number of
 * levels and holds ("for", "clear.for") are unchanged; a changed threshold keeps its state and
 * applies from the next value. The state of other rules is dropped (counted). Returns 0, or
 * EW_ETOO_LONG (more than 1,024 rules) or EW_ENOMEM: nothing changed, the new rules are freed. */
int ew_engine_reload(struct ew_engine *eng, struct ew_ruleset *rules);

#endif
