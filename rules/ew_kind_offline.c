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
 */
#include "ew_rules_int.h"

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

const struct ew_kind ew_kind_offline = {
    .name = "offline",
    .site_wide = true,
    .compile = ew_off_compile,
};
