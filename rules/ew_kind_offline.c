/*
 * ew_kind_offline.c - a site that has gone silent (DOMAIN.md: offline, 离线).
 *
 *   "levels": [{"name": "offline", "after": "30m", "severity": "major"},
 *              {"name": "offline-24h", "after": "24h", "severity": "critical"}]
 *
 * Site-wide: the engine judges it on ticks, not per value (ew_engine_tick). Silence is
 * measured from the newest data time the site has sent to the engine's reference time: the
 * earlier of processing time and the fleet's watermark (the newest data time seen anywhere),
 * so a backlog being caught up never makes a site look silent. A longer silence reaches a
 * higher level; the site's next record resolves the alert.
 *
 * missing_hour is the same judgement on the site's hourly data (DOMAIN.md: hour data missing by
 * HH+1:xx): the hour after the newest hourly record (sent, or computed from minute data) is
 * missing once "after" has passed since that hour ended, while the site goes on sending other
 * data (a site that sends nothing at all is offline's business). The next hourly record
 * resolves it: "backfilled" when it is the missing hour, "hourly data resumed" when later.
 */
#include "ew_rule.h"
#include "ew_site.h"

#include <stdio.h>
#include <string.h>

#define EW_FAIL(...) (snprintf(why, n, __VA_ARGS__), EW_EINVAL)

static int ew_off_bound(json_t *level, struct ew_rule *r, size_t i, char *why, size_t n)
{
    uint32_t count;
    int64_t ms;
    if (!json_is_string(json_object_get(level, "after")) ||
        ew_hold_parse(json_object_get(level, "after"), &count, &ms) || ms <= 0)
        return EW_FAIL("levels[%zu].after: expected a duration (\"30m\", \"24h\")", i);
    if (i && ms <= r->levels[i - 1].above.value)
        return EW_FAIL("levels[%zu].after: levels must be longer", i);
    r->levels[i].above = (struct ew_bound){(double)ms, false}; /* silence in ms */
    return 0;
}

static int ew_off_compile(json_t *obj, struct ew_rule *r, char *why, size_t n)
{
    int rc = ew_rule_levels(obj, r, ew_off_bound, why, n);
    if (rc)
        return rc;
    r->clear_below = (struct ew_bound){0, false};
    r->for_count = r->clear_count = 1;
    return 0;
}

static int64_t ew_off_since(const struct ew_site *s)
{
    return s->last_data;
}

/* Any data the site sends ends its silence: "backfilled" when it comes from inside the silence
 * (补传, so the site was never offline), "back online" otherwise. An average the engine computed
 * is not the site speaking. */
static const char *ew_off_heard(const struct ew_rule *r, const struct ew_life *l, int kind,
                                int64_t t, bool computed)
{
    (void)kind;
    if (computed)
        return NULL;
    return t < l->since + (int64_t)r->levels[0].above.value ? "backfilled" : "back online";
}

const struct ew_kind ew_kind_offline = {
    .name = "offline",
    .site_wide = true,
    .declared = true,
    .compile = ew_off_compile,
    .silent_since = ew_off_since,
    .since_name = "last_data",
    .heard = ew_off_heard,
};

/* The hour after the newest one judged, while the site sends other data past its end. */
static int64_t ew_missing_since(const struct ew_site *s)
{
    const struct ew_seen *h = &s->seen[EW_SEEN_HOUR];
    if (h->mark == INT64_MIN || s->last_data < h->mark + 2 * EW_HOUR_MS)
        return INT64_MIN;
    return h->mark + EW_HOUR_MS;
}

static const char *ew_missing_heard(const struct ew_rule *r, const struct ew_life *l, int kind,
                                    int64_t t, bool computed)
{
    (void)r, (void)computed;
    if (kind != EW_KIND_HOUR || t < l->since)
        return NULL;
    return t == l->since ? "backfilled" : "hourly data resumed";
}

const struct ew_kind ew_kind_missing_hour = {
    .name = "missing_hour",
    .site_wide = true,
    .declared = true,
    .compile = ew_off_compile,
    .silent_since = ew_missing_since,
    .silent_offset_ms = EW_HOUR_MS,
    .since_name = "missing_hour",
    .heard = ew_missing_heard,
};
