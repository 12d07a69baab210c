/*
 * ew_kind_enterprise.c - the kinds the e-enterprise platform's registry drives (DOMAIN.md,
 * "Early-warning rules in practice"; RULES.md has each one's members). The engine builds their
 * observations from the registry (ew_enterprise_judge.c); here is only what each verdict is.
 *
 *   facility_off               a treatment facility's power below its on_threshold, or its
 *                              SBxxx-RS state off (0) or in alarm (4), while a production line
 *                              of the same enterprise read by the same logger runs
 *   declaration_contradiction  flow, or a production line's power, above zero inside a
 *                              declared shutdown
 *   weather_response           a value on the enterprise's emergency plan above
 *                              baseline x (1 - cut) for its region's warning level
 *   deadline                   reminders at lead times before a deadline's due time (levels:
 *                              "before": "30d"), or an officer's alert once overdue ("after")
 *   weather_warning            a region's warning level, told to each enterprise on the
 *                              emergency list once per change (levels named blue...red)
 */
#include "ew_rule.h"
#include "ew_site.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define EW_FAIL(...) (snprintf(why, n, __VA_ARGS__), EW_EINVAL)

/* Plain data, valid for any bytes: when the verdict ends by itself, and the production power
 * last read (facility_off: meters may come in packets of their own). */
struct ew_regstate {
    int64_t until;
    double limit; /* the last value's (an on_threshold, a plan's cut) */
    float production, production_on;
    int64_t production_at; /* 0: none */
};
_Static_assert(sizeof(struct ew_regstate) <= EW_KIND_STATE_MAX, "registry kinds' state fits");

/* The limit the last value was judged against: a duration's end is judged against it. */
static double ew_reg_limit(const void *state)
{
    return ((const struct ew_regstate *)state)->limit;
}

static int64_t ew_reg_expires(const void *state)
{
    const struct ew_regstate *s = state;
    return s->until ? s->until : INT64_MAX;
}

/* ---- facility_off ---- */

static int ew_fac_compile(json_t *obj, struct ew_rule *r, char *why, size_t n)
{
    json_t *within = json_object_get(obj, "within");
    uint32_t count;
    r->within_ms = 30 * EW_MINUTE_MS;
    if (within && (ew_hold_parse(within, &count, &r->within_ms) || r->within_ms <= 0))
        return EW_FAIL("within: expected how old a production reading may be (\"30m\")");
    return ew_rule_single_level(obj, r, why, n);
}

/* obs: the treatment meter's value (power, or its RS state with field RS) and its on_threshold
 * as limit; ctx: the production meters' power in the same record, if any. */
static int ew_fac_eval(const struct ew_rule *r, void *state, const struct ew_obs *obs)
{
    struct ew_regstate *s = state;
    if (!ew_obs_valid(obs))
        return EW_OBS_SKIP;
    if (!isnan(obs->ctx->production)) {
        s->production = (float)obs->ctx->production;
        s->production_on = (float)obs->ctx->production_on;
        s->production_at = obs->time;
    }
    if (obs->ctx->production_only)
        return EW_OBS_SKIP; /* a production reading alone: kept for the treatment's next */
    s->limit = obs->limit;
    if (!s->production_at || obs->time - s->production_at > r->within_ms ||
        obs->time < s->production_at - r->within_ms)
        return EW_OBS_SKIP; /* whether production runs is not known */
    if (!(s->production > s->production_on))
        return EW_OBS_CLEAR; /* production is off too: nothing to treat */
    bool off =
        obs->field == EW_FIELD_RS ? obs->value == 0 || obs->value == 4 : obs->value < obs->limit;
    return off ? 0 : EW_OBS_CLEAR;
}

static void ew_fac_explain(const struct ew_rule *r, const void *state, const struct ew_obs *obs,
                           int level, struct ew_facts *out)
{
    (void)r, (void)obs, (void)level;
    const struct ew_regstate *s = state;
    if (s->production_at) { /* the production line's reading it was judged against */
        out->previous = s->production;
        out->previous_time = s->production_at;
    }
}

const struct ew_kind ew_kind_facility_off = {.name = "facility_off",
                                             .state_size = sizeof(struct ew_regstate),
                                             .quiet_pending = true,
                                             .registry = EW_REG_RECORD,
                                             .compile = ew_fac_compile,
                                             .eval = ew_fac_eval,
                                             .limit = ew_reg_limit,
                                             .explain = ew_fac_explain};

/* ---- declaration_contradiction ---- */

static int ew_contra_compile(json_t *obj, struct ew_rule *r, char *why, size_t n)
{
    return ew_rule_single_level(obj, r, why, n);
}

/* obs: a flow or production power value inside a declared shutdown (ctx->until: its end), with
 * the level it must not exceed as limit (0, or the line's on_threshold); until 0: outside. */
static int ew_contra_eval(const struct ew_rule *r, void *state, const struct ew_obs *obs)
{
    (void)r;
    struct ew_regstate *s = state;
    s->until = obs->ctx->until;
    s->limit = obs->limit;
    if (!ew_obs_valid(obs))
        return EW_OBS_SKIP;
    return s->until && obs->value > obs->limit ? 0 : EW_OBS_CLEAR;
}

const struct ew_kind ew_kind_declaration_contradiction = {
    .name = "declaration_contradiction",
    .state_size = sizeof(struct ew_regstate),
    .quiet_pending = true,
    .cleared = "no longer contradicts the declaration",
    .expired = "the declared window ended",
    .registry = EW_REG_RECORD,
    .compile = ew_contra_compile,
    .eval = ew_contra_eval,
    .limit = ew_reg_limit,
    .expires = ew_reg_expires};

/* ---- weather_response ---- */

/* obs: the plan's value with baseline x (1 - cut) as limit (NAN: no warning, or no cut for its
 * level); ctx->until: when the warning's level changes or it ends. */
static int ew_wresp_eval(const struct ew_rule *r, void *state, const struct ew_obs *obs)
{
    (void)r;
    struct ew_regstate *s = state;
    s->until = isnan(obs->limit) ? 0 : obs->ctx->until;
    s->limit = obs->limit;
    if (!ew_obs_valid(obs))
        return EW_OBS_SKIP;
    return obs->value > obs->limit ? 0 : EW_OBS_CLEAR; /* false for NAN */
}

const struct ew_kind ew_kind_weather_response = {.name = "weather_response",
                                                 .state_size = sizeof(struct ew_regstate),
                                                 .quiet_pending = true,
                                                 .cleared = "within the required cut",
                                                 .expired = "the warning ended or changed",
                                                 .registry = EW_REG_RECORD,
                                                 .compile = ew_contra_compile,
                                                 .eval = ew_wresp_eval,
                                                 .limit = ew_reg_limit,
                                                 .expires = ew_reg_expires};

/* ---- deadline ---- */

/* A level's time relative to the due time: "before": "30d" is -30 days, "after": "1d" +1. */
static int ew_dead_bound(json_t *level, struct ew_rule *r, size_t i, char *why, size_t n)
{
    json_t *before = json_object_get(level, "before"), *after = json_object_get(level, "after");
    uint32_t count;
    int64_t ms;
    if (!before == !after || ew_hold_parse(before ? before : after, &count, &ms))
        return EW_FAIL("levels[%zu]: expected \"before\" or \"after\" the due time, a duration "
                       "(\"30d\", \"0s\")",
                       i);
    double at = before ? -(double)ms : (double)ms;
    if (i && at <= r->levels[i - 1].above.value)
        return EW_FAIL("levels[%zu]: levels must come later (30d, 7d, 3d, 1d before...)", i);
    r->levels[i].above = (struct ew_bound){at, false};
    return 0;
}

static int ew_dead_compile(json_t *obj, struct ew_rule *r, char *why, size_t n)
{
    int rc = ew_rule_levels(obj, r, ew_dead_bound, why, n);
    r->clear_below = (struct ew_bound){NAN, false};
    r->for_count = r->clear_count = 1;
    return rc;
}

const struct ew_kind ew_kind_deadline = {
    .name = "deadline", .registry = EW_REG_ANCHOR, .cleared = "done", .compile = ew_dead_compile};

/* ---- weather_warning ---- */

static int ew_warn_bound(json_t *level, struct ew_rule *r, size_t i, char *why, size_t n)
{
    (void)level;
    static const char *const colours[] = {"blue", "yellow", "orange", "red"};
    const char *name = json_string_value(json_object_get(level, "name"));
    for (int c = 0; name && c < 4; c++)
        if (!strcmp(name, colours[c])) {
            if (i && c <= r->levels[i - 1].above.value)
                return EW_FAIL("levels[%zu].name: levels must rise (blue, yellow, orange, red)", i);
            r->levels[i].above = (struct ew_bound){c, false};
            return 0;
        }
    return EW_FAIL("levels[%zu].name: expected a warning level: blue, yellow, orange or red", i);
}

static int ew_warn_compile(json_t *obj, struct ew_rule *r, char *why, size_t n)
{
    int rc = ew_rule_levels(obj, r, ew_warn_bound, why, n);
    r->clear_below = (struct ew_bound){NAN, false};
    r->for_count = r->clear_count = 1;
    return rc;
}

static const char *const ew_colours_zh[] = {"蓝色", "黄色", "橙色", "红色"};

const struct ew_kind ew_kind_weather_warning = {.name = "weather_warning",
                                                .level_zh = ew_colours_zh,
                                                .registry = EW_REG_ANCHOR,
                                                .cleared = "warning lifted",
                                                .compile = ew_warn_compile};
