/*
 * ew_timers.h - the engine's event-time timers: one min-heap of (due time, site) for every
 * time-driven judgement of a site (its silence rules' next level or repeat, its averages'
 * closing), fired in due order as the clock passes them (libev's "be smart about timeouts":
 * one ordered structure, no scan of every site per tick).
 *
 * Entries are not removed when a site's due time moves: a site keeps in ew_site.queued the due
 * time of its earliest entry, an entry whose time is not that is stale and dropped when it comes
 * to the top, and an entry that comes up before the site's real due time is pushed again with
 * it. So a record, which moves a site's silence later, costs no heap operation. Internal to
 * rules/.
 */
#ifndef EW_TIMERS_H
#define EW_TIMERS_H

#include <stddef.h>
#include <stdint.h>

struct ew_timer {
    int64_t due;   /* event time, epoch ms */
    uint32_t site; /* number in the site table */
};

struct ew_timers {
    struct ew_timer *heap;
    size_t n, cap;
};

/* Returns 0 or EW_ENOMEM. */
int ew_timers_push(struct ew_timers *t, int64_t due, uint32_t site);
/* The earliest entry, or NULL. */
const struct ew_timer *ew_timers_top(const struct ew_timers *t);
void ew_timers_pop(struct ew_timers *t);
void ew_timers_clear(struct ew_timers *t);
void ew_timers_release(struct ew_timers *t);

#endif
