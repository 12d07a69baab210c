/*
 * ew_kind_change.c - kinds that judge how a series moves rather than where it stands
 * (DOMAIN.md, "Early-warning rules in practice"; RULES.md says what was chosen and why):
 *
 *   trend          a line fitted over the last "window" of valid values predicts when the value
 *                  crosses a level (a share of the permitted limit): a reminder when that falls
 *                  within "horizon", resolved when the prediction no longer holds.
 *     "levels": [{"name": "rising-to-limit", "above": "100%", "severity": "warning"}],
 *     "window": "2h", "horizon": "2h", "min_points": 6, "min_fit": 0.6
 *   sudden_change  a jump between consecutive valid values of more than "ratio" of the value
 *                  before (never of less than "floor", so noise around zero is no jump), or of
 *                  more than "step".
 *     "ratio": 1.0, "step": 50, "floor": "10%", "within": "30m", "direction": "up"
 *
 * The trend's window is EW_TREND_POINTS buckets of window / EW_TREND_POINTS each; a bucket keeps
 * the mean of the valid values that fell in it, so irregular intervals and gaps cost nothing
 * (an empty bucket is no point) and noise within a bucket averages out. The line is the
 * Theil-Sen estimate (the median of the slopes between every two points, and the median
 * intercept): one spike moves one point, which moves the median of 28 slopes hardly at all,
 * where a least-squares line (Prometheus' predict_linear, Zabbix' timeleft) follows it. The
 * least-squares line must agree (a crossing within the horizon too), the fit must explain the
 * points (R squared of at least min_fit: a noisy flat series has none), and a value already
 * over the level is the threshold rule's business, not a prediction.
 */
#include "ew_rule.h"
#include "ew_site.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define EW_FAIL(...) (snprintf(why, n, __VA_ARGS__), EW_EINVAL)

/* A duration member ("2h"), dflt when absent. */
static int ew_duration(json_t *obj, const char *key, int64_t dflt, int64_t *out, char *why,
                       size_t n)
{
    json_t *v = json_object_get(obj, key);
    uint32_t count;
    *out = dflt;
    if (v && (ew_hold_parse(v, &count, out) || *out <= 0))
        return EW_FAIL("%s: expected a duration (\"2h\", \"30m\")", key);
    return 0;
}

/* ---- trend ---- */

#define EW_TREND_Q 8192.0 /* a mean is kept as value / ref * EW_TREND_Q in 16 bits: 0 to 8 ref */

/* Plain data, valid for any bytes (state is imported from checkpoints). */
struct ew_trend_state {
    uint32_t head; /* bucket number (data time / width) of the newest bucket, modulo 2^32 */
    float ref;     /* the scale the means are kept in: the top level's threshold */
    uint16_t mean[EW_TREND_POINTS]; /* bucket b's mean at [b % EW_TREND_POINTS] */
    uint8_t n[EW_TREND_POINTS];     /* values in each bucket (saturating); 0: empty */
};
_Static_assert(sizeof(struct ew_trend_state) <= EW_KIND_STATE_MAX, "trend state fits");

/* The line fitted over a trend's points, x in hours from the newest bucket's start. */
struct ew_line {
    uint32_t points;
    double slope, at0;   /* Theil-Sen: per hour, and at x = 0 */
    double ols, ols_at0; /* least squares, the same */
    double r2;           /* of the Theil-Sen line */
    double recent;       /* the least-squares slope of the newest half of the points */
};

static int ew_trend_bound(json_t *level, struct ew_rule *r, size_t i, char *why, size_t n)
{
    if (ew_bound_parse(json_object_get(level, "above"), &r->levels[i].above))
        return EW_FAIL("levels[%zu].above: expected a number or a percentage (\"100%%\")", i);
    if (i && r->levels[i].above.relative != r->levels[i - 1].above.relative)
        return EW_FAIL("levels[%zu].above: levels must all be shares of the limit, or none", i);
    if (i && r->levels[i].above.value <= r->levels[i - 1].above.value)
        return EW_FAIL("levels[%zu].above: levels must rise", i);
    return 0;
}

static int ew_trend_compile(json_t *obj, struct ew_rule *r, char *why, size_t n)
{
    int rc = ew_rule_levels(obj, r, ew_trend_bound, why, n);
    if (!rc)
        rc = ew_rule_holds(obj, r, why, n);
    if (!rc)
        rc = ew_duration(obj, "window", 2 * EW_HOUR_MS, &r->window_ms, why, n);
    if (!rc)
        rc = ew_duration(obj, "horizon", 2 * EW_HOUR_MS, &r->horizon_ms, why, n);
    if (rc)
        return rc;
    if (r->window_ms < EW_TREND_POINTS * EW_MINUTE_MS)
        return EW_FAIL("window: expected at least %d minutes", EW_TREND_POINTS);
    json_t *mp = json_object_get(obj, "min_points"), *mf = json_object_get(obj, "min_fit");
    r->min_points = 6;
    if (mp && (!json_is_integer(mp) || json_integer_value(mp) < 3 ||
               json_integer_value(mp) > EW_TREND_POINTS))
        return EW_FAIL("min_points: expected 3 to %d (the window's buckets)", EW_TREND_POINTS);
    if (mp)
        r->min_points = (uint32_t)json_integer_value(mp);
    r->min_fit = 0.6;
    if (mf && (!json_is_number(mf) || !(json_number_value(mf) >= 0) || json_number_value(mf) > 1))
        return EW_FAIL("min_fit: expected the least R squared, 0 to 1");
    if (mf)
        r->min_fit = json_number_value(mf);
    r->clear_below = (struct ew_bound){NAN, false}; /* it clears when no longer predicted */
    return 0;
}

static int64_t ew_floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b < 0);
}

static bool ew_trend_empty(const struct ew_trend_state *s)
{
    uint64_t any;
    _Static_assert(sizeof s->n == sizeof any, "the counts are read as one word");
    memcpy(&any, s->n, sizeof any);
    return !any;
}

/* The top level's threshold changed (the limit did): the means are kept relative to it. */
static void ew_trend_rescale(struct ew_trend_state *s, double ref)
{
    if (!(s->ref > 0) || !isfinite(s->ref)) { /* none yet, or bytes that mean nothing */
        memset(s, 0, sizeof *s);
    } else if (s->ref != (float)ref) {
        double f = s->ref / ref;
        for (int i = 0; i < EW_TREND_POINTS; i++) {
            double q = s->mean[i] * f + 0.5;
            s->mean[i] = (uint16_t)(q > 65535 ? 65535 : q);
        }
    }
    s->ref = (float)ref;
}

/* Adds a value (scaled) to bucket b; a value older than the window is not kept. */
static void ew_trend_add(struct ew_trend_state *s, int64_t b, double q)
{
    int64_t d = ew_trend_empty(s) ? EW_TREND_POINTS : (int32_t)((uint32_t)b - s->head);
    if (d > 0) { /* newer buckets: the ones they push out of the window are emptied */
        for (int64_t k = 1; k <= (d < EW_TREND_POINTS ? d : EW_TREND_POINTS); k++)
            s->n[(s->head + (uint32_t)k) % EW_TREND_POINTS] = 0;
        s->head = (uint32_t)b;
    } else if (d <= -EW_TREND_POINTS) {
        return;
    }
    if (isnan(q))
        return;
    unsigned slot = (uint32_t)b % EW_TREND_POINTS, cnt = s->n[slot];
    double m = cnt ? s->mean[slot] : 0;
    cnt += cnt < 255;
    m += ((q < 0 ? 0 : q > 65535 ? 65535 : q) - m) / cnt; /* stays within 0..65535 */
    s->mean[slot] = (uint16_t)(m + 0.5 > 65535 ? 65535 : m + 0.5);
    s->n[slot] = (uint8_t)cnt;
}

static void ew_sort(double *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        double v = a[i];
        size_t j = i;
        for (; j && a[j - 1] > v; j--)
            a[j] = a[j - 1];
        a[j] = v;
    }
}

static double ew_median(double *a, size_t n)
{
    ew_sort(a, n);
    return n % 2 ? a[n / 2] : (a[n / 2 - 1] + a[n / 2]) / 2;
}

/* The least-squares line over the trend's points into out (points, ols, ols_at0). Bucket i
 * back from the newest has its middle at x = (1 - 2i) * w / 2 and its value at mean * ref / Q:
 * the sums are taken over the integers (1 - 2i) and mean, exactly, and scaled once. */
static void ew_trend_ols(const struct ew_rule *r, const struct ew_trend_state *s,
                         struct ew_line *out)
{
    /* u by the newest bucket's slot and a slot: 1 - 2 * ((head - slot) % EW_TREND_POINTS) */
    static const int8_t us[EW_TREND_POINTS][EW_TREND_POINTS] = {
        {1, -13, -11, -9, -7, -5, -3, -1}, {-1, 1, -13, -11, -9, -7, -5, -3},
        {-3, -1, 1, -13, -11, -9, -7, -5}, {-5, -3, -1, 1, -13, -11, -9, -7},
        {-7, -5, -3, -1, 1, -13, -11, -9}, {-9, -7, -5, -3, -1, 1, -13, -11},
        {-11, -9, -7, -5, -3, -1, 1, -13}, {-13, -11, -9, -7, -5, -3, -1, 1}};
    const int8_t *ur = us[s->head % EW_TREND_POINTS];
    int32_t n = 0, su = 0, suu = 0, sm = 0, sum = 0;          /* |sum| < 8 * 13 * 65535 */
    for (uint32_t slot = 0; slot < EW_TREND_POINTS; slot++) { /* in memory order */
        int32_t in = -(s->n[slot] != 0), u = ur[slot] & in, m = s->mean[slot] & in;
        n -= in, su += u, suu += u * u, sm += m, sum += u * m;
    }
    double hx = (double)(r->window_ms / EW_TREND_POINTS) / 2 / EW_HOUR_MS; /* x per u */
    double ky = s->ref / EW_TREND_Q;                                       /* y per mean */
    int64_t den = (int64_t)n * suu - (int64_t)su * su;
    *out = (struct ew_line){.points = (uint32_t)n};
    out->ols = den > 0 ? (double)((int64_t)n * sum - (int64_t)su * sm) / (double)den * ky / hx : 0;
    out->ols_at0 = n ? (ky * (double)sm - out->ols * hx * (double)su) / (double)n : 0;
}

/* Fits the lines over the trend's points; false when there are fewer than min_points. The
 * robust line is worked out only when `robust` (least squares is cheap and decides first). */
static bool ew_trend_fit(const struct ew_rule *r, const struct ew_trend_state *s, bool robust,
                         struct ew_line *out)
{
    ew_trend_ols(r, s, out);
    if (out->points < r->min_points)
        return false;
    if (!robust)
        return true;
    double x[EW_TREND_POINTS], y[EW_TREND_POINTS], w = (double)(r->window_ms / EW_TREND_POINTS);
    uint32_t np = 0;
    double sy = 0;
    for (uint32_t i = 0; i < EW_TREND_POINTS; i++) {
        unsigned slot = (s->head - i) % EW_TREND_POINTS;
        if (!s->n[slot])
            continue;
        x[np] = (0.5 - i) * w / EW_HOUR_MS; /* the bucket's middle */
        y[np] = s->mean[slot] / EW_TREND_Q * s->ref;
        sy += y[np++];
    }
    double slopes[EW_TREND_POINTS * (EW_TREND_POINTS - 1) / 2], res[EW_TREND_POINTS];
    size_t ns = 0;
    for (uint32_t i = 0; i < np; i++)
        for (uint32_t j = i + 1; j < np; j++)
            slopes[ns++] = (y[i] - y[j]) / (x[i] - x[j]);
    out->slope = ew_median(slopes, ns);
    for (uint32_t i = 0; i < np; i++)
        res[i] = y[i] - out->slope * x[i];
    out->at0 = ew_median(res, np);
    double mean = sy / np, ssr = 0, sst = 0;
    for (uint32_t i = 0; i < np; i++) {
        double e = y[i] - (out->at0 + out->slope * x[i]);
        ssr += e * e;
        sst += (y[i] - mean) * (y[i] - mean);
    }
    out->r2 = sst > 0 ? 1 - ssr / sst : 0;
    /* the newest half alone (x[0] is the newest point): a series that stepped up and levelled
     * off is not heading anywhere, though a line through all of it rises */
    uint32_t nh = np / 2 + np % 2;
    double hx = 0, hy = 0, hxx = 0, hxy = 0;
    for (uint32_t i = 0; i < nh; i++)
        hx += x[i], hy += y[i], hxx += x[i] * x[i], hxy += x[i] * y[i];
    double hden = nh * hxx - hx * hx;
    out->recent = hden > 0 ? (nh * hxy - hx * hy) / hden : 0;
    return true;
}

/* Hours from x until a line (slope, at0) reaches th; INFINITY when it never does. */
static double ew_hours_to(double slope, double at0, double x, double th)
{
    if (!(slope > 0))
        return INFINITY;
    double h = (th - (at0 + slope * x)) / slope;
    return h > 0 ? h : 0;
}

/* The place on the lines' axis of time t in bucket b: hours from the newest bucket's start. */
static double ew_trend_xb(const struct ew_rule *r, const struct ew_trend_state *s, int64_t t,
                          int64_t b)
{
    int64_t w = r->window_ms / EW_TREND_POINTS;
    int32_t d = (int32_t)((uint32_t)b - s->head);
    return ((double)d * (double)w + (double)(t - b * w)) / EW_HOUR_MS;
}

static double ew_trend_x(const struct ew_rule *r, const struct ew_trend_state *s, int64_t t)
{
    return ew_trend_xb(r, s, t, ew_floor_div(t, r->window_ms / EW_TREND_POINTS));
}

/* The highest level the lines cross within the horizon, the value being below it; else clear.
 * With out, what the fit says for level `want` (its predicted crossing). */
static int ew_trend_judge(const struct ew_rule *r, const struct ew_trend_state *s,
                          const struct ew_obs *obs, int want, struct ew_facts *out)
{
    struct ew_line l;
    bool fitted = ew_trend_fit(r, s, true, &l);
    if (out) {
        out->points = l.points;
        out->slope_per_hour = fitted ? l.slope : NAN;
        out->fit = fitted ? l.r2 : NAN;
    }
    if (!fitted || !(l.slope > 0) || !(l.ols > 0) || !(l.recent > 0) || l.r2 < r->min_fit)
        return EW_OBS_CLEAR;
    double x = ew_trend_x(r, s, obs->time), horizon = (double)r->horizon_ms / EW_HOUR_MS;
    int verdict = EW_OBS_CLEAR;
    for (int i = (int)r->nlevels - 1; i >= 0; i--) {
        double th = ew_bound_value(&r->levels[i].above, obs->limit);
        if (isnan(th) || obs->value > th)
            break; /* reached already: the threshold rule's business */
        double h = ew_hours_to(l.slope, l.at0, x, th);
        if (out && i == want && isfinite(h))
            out->predicted_at = obs->time + (int64_t)(h * EW_HOUR_MS);
        if (verdict == EW_OBS_CLEAR && h <= horizon &&
            ew_hours_to(l.ols, l.ols_at0, x, th) <= horizon)
            verdict = i;
    }
    return verdict;
}

static int ew_trend_eval(const struct ew_rule *r, void *state, const struct ew_obs *obs)
{
    struct ew_trend_state *s = state;
    if (!ew_obs_valid(obs))
        return EW_OBS_SKIP; /* flagged values are no points */
    double top = ew_bound_value(&r->levels[r->nlevels - 1].above, obs->limit);
    if (!(top > 0))
        return EW_OBS_SKIP; /* relative to a limit the site does not have */
    ew_trend_rescale(s, top);
    int64_t b = ew_floor_div(obs->time, r->window_ms / EW_TREND_POINTS); /* one division */
    ew_trend_add(s, b, obs->value / top * EW_TREND_Q);
    struct ew_line l; /* least squares first: most series are not heading for their limit */
    if (!ew_trend_fit(r, s, false, &l) || !(l.ols > 0) ||
        ew_hours_to(l.ols, l.ols_at0, ew_trend_xb(r, s, obs->time, b),
                    ew_bound_value(&r->levels[0].above, obs->limit)) >
            (double)r->horizon_ms / EW_HOUR_MS)
        return EW_OBS_CLEAR;
    return ew_trend_judge(r, s, obs, -1, NULL);
}

static void ew_trend_explain(const struct ew_rule *r, const void *state, const struct ew_obs *obs,
                             int level, struct ew_facts *out)
{
    ew_trend_judge(r, state, obs, level, out);
}

const struct ew_kind ew_kind_trend = {.name = "trend",
                                      .state_size = sizeof(struct ew_trend_state),
                                      .quiet_pending = true,
                                      .cleared = "no longer predicted",
                                      .compile = ew_trend_compile,
                                      .eval = ew_trend_eval,
                                      .explain = ew_trend_explain};

/* ---- sudden_change ---- */

/* Plain data, valid for any bytes. time 0: no value yet. */
struct ew_jump_state {
    double last;
    int64_t time;
    double before; /* the value before last, which the evidence shows */
    int64_t before_time;
};
_Static_assert(sizeof(struct ew_jump_state) <= EW_KIND_STATE_MAX, "sudden_change state fits");

static int ew_jump_compile(json_t *obj, struct ew_rule *r, char *why, size_t n)
{
    json_t *ratio = json_object_get(obj, "ratio"), *step = json_object_get(obj, "step"),
           *floor = json_object_get(obj, "floor"), *dir = json_object_get(obj, "direction");
    if (!ratio && !step)
        return EW_FAIL("expected \"ratio\" (a share of the value before) or \"step\", or both");
    if (ratio && (!json_is_number(ratio) || !(json_number_value(ratio) > 0)))
        return EW_FAIL("ratio: expected a positive number (1.0: the value doubled)");
    if (step && (!json_is_number(step) || !(json_number_value(step) > 0)))
        return EW_FAIL("step: expected a positive number");
    r->ratio = ratio ? json_number_value(ratio) : NAN;
    r->step = step ? json_number_value(step) : NAN;
    r->floor = (struct ew_bound){0, false};
    if (floor && ew_bound_parse(floor, &r->floor))
        return EW_FAIL("floor: expected a number or a percentage of the limit (\"10%%\")");
    const char *d = dir ? json_string_value(dir) : "both";
    if (!d || (strcmp(d, "up") && strcmp(d, "down") && strcmp(d, "both")))
        return EW_FAIL("direction: expected \"up\", \"down\" or \"both\"");
    r->direction = (int8_t)(!strcmp(d, "up") ? 1 : !strcmp(d, "down") ? -1 : 0);
    int rc = ew_duration(obj, "within", 0, &r->within_ms, why, n);
    return rc ? rc : ew_rule_single_level(obj, r, why, n);
}

static int ew_jump_eval(const struct ew_rule *r, void *state, const struct ew_obs *obs)
{
    struct ew_jump_state *s = state;
    if (!ew_obs_valid(obs))
        return EW_OBS_SKIP; /* a flagged value is no step of the series */
    if (s->time && obs->time <= s->time)
        return EW_OBS_SKIP; /* not after the last: the series has moved on */
    bool consecutive =
        s->time && isfinite(s->last) && !(r->within_ms && obs->time - s->time > r->within_ms);
    double prev = s->last;
    s->before = s->last, s->before_time = s->time;
    s->last = obs->value, s->time = obs->time;
    if (!consecutive)
        return EW_OBS_CLEAR;
    double d = obs->value - prev, floor = ew_bound_value(&r->floor, obs->limit);
    if (isnan(floor))
        return EW_OBS_SKIP; /* a floor relative to a limit the site does not have */
    if ((r->direction > 0 && d <= 0) || (r->direction < 0 && d >= 0))
        return EW_OBS_CLEAR;
    double base = fabs(prev) > floor ? fabs(prev) : floor;
    /* comparisons with a NAN ratio or step are false */
    bool jump = (base > 0 && fabs(d) > r->ratio * base) || fabs(d) > r->step;
    return jump ? 0 : EW_OBS_CLEAR;
}

static void ew_jump_explain(const struct ew_rule *r, const void *state, const struct ew_obs *obs,
                            int level, struct ew_facts *out)
{
    (void)r, (void)obs, (void)level;
    const struct ew_jump_state *s = state;
    if (s->before_time && isfinite(s->before)) {
        out->previous = s->before;
        out->previous_time = s->before_time;
    }
}

const struct ew_kind ew_kind_sudden_change = {.name = "sudden_change",
                                              .state_size = sizeof(struct ew_jump_state),
                                              .quiet_pending = true,
                                              .compile = ew_jump_compile,
                                              .eval = ew_jump_eval,
                                              .explain = ew_jump_explain};
