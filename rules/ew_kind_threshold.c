/*
 * ew_kind_threshold.c - the threshold kind: levels above which a value is judged (absolute or
 * a share of the permitted limit), and the level below which it clears.
 *
 *   "levels": [{"name": "approaching", "above": "80%", "severity": "warning"},
 *              {"name": "over", "above": "100%", "severity": "critical"}],
 *   "for": 3 | "30m",                      how long a level must hold (default: 1 value)
 *   "clear": {"below": "75%", "for": "1h"} hysteresis (default: below the lowest level, 1 value)
 *   "o2_max": 19                           converted (Zs) values are not judged while the
 *                                          record's O2 is above this
 *
 * Only values whose flag means normal are judged (a value sent with no flag counts as
 * normal); a value marked invalid never judges over-limit (DOMAIN.md).
 */
#include "ew_rule.h"
#include "ew_site.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define EW_FAIL(...) (snprintf(why, n, __VA_ARGS__), EW_EINVAL)

static int ew_thr_bound(json_t *level, struct ew_rule *r, size_t i, char *why, size_t n)
{
    if (ew_bound_parse(json_object_get(level, "above"), &r->levels[i].above))
        return EW_FAIL("levels[%zu].above: expected a number or a percentage (\"80%%\")", i);
    if (i && r->levels[i].above.relative == r->levels[i - 1].above.relative &&
        r->levels[i].above.value <= r->levels[i - 1].above.value)
        return EW_FAIL("levels[%zu].above: levels must rise", i);
    return 0;
}

static int ew_thr_compile(json_t *obj, struct ew_rule *r, char *why, size_t n)
{
    int rc = ew_rule_levels(obj, r, ew_thr_bound, why, n);
    if (rc)
        return rc;
    rc = ew_rule_holds(obj, r, why, n);
    if (rc)
        return rc;
    json_t *clear = json_object_get(obj, "clear"), *below = json_object_get(clear, "below");
    r->clear_below = r->levels[0].above;
    if (below && ew_bound_parse(below, &r->clear_below))
        return EW_FAIL("clear.below: expected a number or a percentage");
    if (r->clear_below.relative == r->levels[0].above.relative &&
        r->clear_below.value > r->levels[0].above.value)
        return EW_FAIL("clear.below: must not be above the lowest level");
    json_t *o2 = json_object_get(obj, "o2_max");
    if (o2 && (!json_is_number(o2) || json_number_value(o2) <= 0 || json_number_value(o2) >= 21))
        return EW_FAIL("o2_max: expected the O2 percentage above which converted values mean "
                       "nothing (below 21)");
    if (o2) {
        r->o2_max = json_number_value(o2);
        r->o2_fields = 1u << EW_FIELD_ZSRTD | 1u << EW_FIELD_ZSAVG | 1u << EW_FIELD_ZSMIN |
                       1u << EW_FIELD_ZSMAX; /* the converted values */
    }
    return 0;
}

static int ew_thr_eval(const struct ew_rule *r, void *state, const struct ew_obs *obs)
{
    (void)state;
    if (!ew_obs_valid(obs))
        return EW_OBS_SKIP;
    /* near 21 % O2 (shutdown, purging) a converted value means nothing: not judged; an O2
     * rule raises the operating-condition anomaly instead (DOMAIN.md) */
    if (((r->o2_fields >> obs->field) & 1) && obs->ctx->o2 > r->o2_max)
        return EW_OBS_SKIP;
    for (int i = (int)r->nlevels - 1; i >= 0; i--) {
        double th = ew_bound_value(&r->levels[i].above, obs->limit);
        if (isnan(th))
            return EW_OBS_SKIP; /* relative to a limit the site does not have */
        if (obs->value > th)
            return i;
    }
    double clear = ew_bound_value(&r->clear_below, obs->limit);
    if (isnan(clear))
        return EW_OBS_SKIP;
    return obs->value <= clear ? EW_OBS_CLEAR : EW_OBS_HOLD;
}

const struct ew_kind ew_kind_threshold = {
    .name = "threshold",
    .state_size = 0,
    .compile = ew_thr_compile,
    .eval = ew_thr_eval,
};
