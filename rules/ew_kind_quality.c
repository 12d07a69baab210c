/*
 * ew_kind_quality.c - data-quality kinds (DOMAIN.md, "Early-warning rules in practice").
 * Each has one level, named after the kind, with the rule's "severity"; how long the
 * condition must hold is the shared "for" (and "clear.for"). They raise no pending events:
 * a value that is zero once, or equal to the one before, is news only once it has held.
 *
 *   negative         a concentration below zero; pressures and temperatures never count
 *                    ("except": codes, default the flue-gas and water pressures and temperatures)
 *   zero_with_flow   a value of exactly zero while the flow is above "flow_above" (default 0)
 *   constant         a value that changes by no more than "epsilon" (default 0) from one
 *                    record to the next while the flow is above "flow_above"; with "for": "4h"
 *   flag_persisting  a value flagged other than normal ("flags": letters, default every flag
 *                    but N and the 2005 "source stopped" F), with "for": "2h"
 *   over_range       flag T, or a value above "range" when given
 */
#include "ew_rule.h"
#include "ew_site.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define EW_FAIL(...) (snprintf(why, n, __VA_ARGS__), EW_EINVAL)

static int ew_number_param(json_t *obj, const char *key, double *out, double dflt, char *why,
                           size_t n)
{
    json_t *v = json_object_get(obj, key);
    *out = dflt;
    if (!v)
        return 0;
    if (!json_is_number(v) || !(json_number_value(v) >= 0))
        return EW_FAIL("%s: expected a non-negative number", key);
    *out = json_number_value(v);
    return 0;
}

/* ---- negative ---- */

static int ew_neg_compile(json_t *obj, struct ew_rule *r, char *why, size_t n)
{
    static const char *const dflt[] = {"a01012", "a01013", "a01017", "a01015",
                                       "a01001", "a01006", "w01010"};
    json_t *except = json_object_get(obj, "except");
    int rc = except ? ew_rule_codes(except, r->except, &r->nexcept, "except", why, n) : 0;
    for (size_t i = 0; !except && i < sizeof dflt / sizeof dflt[0]; i++)
        r->except[r->nexcept++] = ew_pollutant_find(dflt[i], 6, EW_MEDIUM_OTHER)->key;
    return rc ? rc : ew_rule_single_level(obj, r, why, n);
}

static int ew_neg_eval(const struct ew_rule *r, void *state, const struct ew_obs *obs)
{
    (void)state;
    for (size_t i = 0; i < r->nexcept; i++)
        if (r->except[i] == obs->code)
            return EW_OBS_SKIP;
    if (!ew_obs_valid(obs))
        return EW_OBS_SKIP;
    return obs->value < 0 ? 0 : EW_OBS_CLEAR;
}

const struct ew_kind ew_kind_negative = {
    .name = "negative", .quiet_pending = true, .compile = ew_neg_compile, .eval = ew_neg_eval};

/* ---- zero_with_flow ---- */

static int ew_zero_compile(json_t *obj, struct ew_rule *r, char *why, size_t n)
{
    int rc = ew_number_param(obj, "flow_above", &r->flow_above, 0, why, n);
    return rc ? rc : ew_rule_single_level(obj, r, why, n);
}

/* The flow of the record, when the source runs; NAN when it is not sent or not above. */
static bool ew_running(const struct ew_rule *r, const struct ew_obs *obs)
{
    return obs->ctx->flow > r->flow_above; /* false for NAN */
}

static int ew_zero_eval(const struct ew_rule *r, void *state, const struct ew_obs *obs)
{
    (void)state;
    if (!ew_obs_valid(obs))
        return EW_OBS_SKIP;
    return obs->value == 0 && ew_running(r, obs) ? 0 : EW_OBS_CLEAR;
}

const struct ew_kind ew_kind_zero_with_flow = {.name = "zero_with_flow",
                                               .declared = true,
                                               .quiet_pending = true,
                                               .compile = ew_zero_compile,
                                               .eval = ew_zero_eval};

/* ---- constant ---- */

/* Plain data, valid for any bytes (state is imported from checkpoints). */
struct ew_const_state {
    double last;
    uint8_t has_last;
};

static int ew_const_compile(json_t *obj, struct ew_rule *r, char *why, size_t n)
{
    int rc = ew_number_param(obj, "epsilon", &r->epsilon, 0, why, n);
    if (rc == 0)
        rc = ew_number_param(obj, "flow_above", &r->flow_above, 0, why, n);
    return rc ? rc : ew_rule_single_level(obj, r, why, n);
}

static int ew_const_eval(const struct ew_rule *r, void *state, const struct ew_obs *obs)
{
    struct ew_const_state *s = state;
    if (!ew_obs_valid(obs))
        return EW_OBS_SKIP;
    bool same = s->has_last && fabs(obs->value - s->last) <= r->epsilon;
    s->last = obs->value;
    s->has_last = 1;
    return same && ew_running(r, obs) ? 0 : EW_OBS_CLEAR;
}

_Static_assert(sizeof(struct ew_const_state) <= EW_KIND_STATE_MAX, "constant state fits");

const struct ew_kind ew_kind_constant = {.name = "constant",
                                         .declared = true,
                                         .state_size = sizeof(struct ew_const_state),
                                         .quiet_pending = true,
                                         .compile = ew_const_compile,
                                         .eval = ew_const_eval};

/* ---- flag_persisting ---- */

static int ew_flagp_compile(json_t *obj, struct ew_rule *r, char *why, size_t n)
{
    json_t *flags = json_object_get(obj, "flags"), *v;
    size_t i;
    if (!flags) {
        for (int m = EW_FLAG_INSTRUMENT_STOPPED; m <= EW_FLAG_UNKNOWN; m++)
            r->flag_meanings |= 1u << m;
        r->flag_meanings &= ~(1u << EW_FLAG_SOURCE_STOPPED); /* the source stopped: no fault */
    } else if (!json_is_array(flags) || json_array_size(flags) == 0) {
        return EW_FAIL("flags: expected a list of flag letters (\"D\", \"M\"...)");
    }
    json_array_foreach(flags, i, v)
    {
        const char *s = json_string_value(v);
        if (!s || strlen(s) != 1 || s[0] == 'N')
            return EW_FAIL("flags[%zu]: expected a flag letter other than N", i);
        /* a letter counts with the meaning each edition gives it */
        r->flag_meanings |= 1u << ew_flag_meaning(EW_VERSION_2017, s[0]);
        r->flag_meanings |= 1u << ew_flag_meaning(EW_VERSION_2005, s[0]);
    }
    r->flag_meanings &= ~(1u << EW_FLAG_NONE | 1u << EW_FLAG_NORMAL);
    return ew_rule_single_level(obj, r, why, n);
}

static int ew_flagp_eval(const struct ew_rule *r, void *state, const struct ew_obs *obs)
{
    (void)state;
    return (r->flag_meanings >> obs->flag_meaning) & 1 ? 0 : EW_OBS_CLEAR;
}

const struct ew_kind ew_kind_flag_persisting = {.name = "flag_persisting",
                                                .declared = true,
                                                .quiet_pending = true,
                                                .compile = ew_flagp_compile,
                                                .eval = ew_flagp_eval};

/* ---- over_range ---- */

static int ew_range_compile(json_t *obj, struct ew_rule *r, char *why, size_t n)
{
    json_t *range = json_object_get(obj, "range");
    if (range && !json_is_number(range))
        return EW_FAIL("range: expected the instrument's range, a number");
    r->range = range ? json_number_value(range) : NAN;
    return ew_rule_single_level(obj, r, why, n);
}

static int ew_range_eval(const struct ew_rule *r, void *state, const struct ew_obs *obs)
{
    (void)state;
    if (obs->flag_meaning == EW_FLAG_OVER_RANGE)
        return 0;
    if (!ew_obs_valid(obs))
        return EW_OBS_SKIP;
    return obs->value > r->range ? 0 : EW_OBS_CLEAR; /* false for a NAN range */
}

const struct ew_kind ew_kind_over_range = {.name = "over_range",
                                           .quiet_pending = true,
                                           .compile = ew_range_compile,
                                           .eval = ew_range_eval};
