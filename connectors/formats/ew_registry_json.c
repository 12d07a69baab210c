/*
 * ew_registry_json.c - e-enterprise events that feed the registry, read from their JSON
 * (CONTRACT.md, "ecowarn.enterprise"):
 *   {"type": "outlet.upsert", "enterprise_id", "enterprise_name", "outlet_id", "mn", "st",
 *    "o2_ref"?, "limits": {CODE: {"rtd"?, "hour"?, "day"?, "unit"}}, "contacts"?, "tags"?}
 * "tags" (a list of strings) is ecowarn's extension: labels that rules may select on.
 * Limit codes may be 2005 codes: they are normalized with the outlet's system (ST).
 * And the rest of what the platform sends: facility.upsert, declaration, deadline,
 * weather_warning, emergency.upsert (times ISO 8601; CONTRACT.md has their members).
 */
#include "ew_registry_json.h"

#include "ew_alloc.h"
#include "ew_pollutant.h"
#include "ew_time.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#define EW_OUTLET_MAX_LIMITS 64
#define EW_OUTLET_MAX_TAGS   16

static double ew_rj_num(json_t *obj, const char *key, int *bad)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return NAN;
    if (!json_is_number(v) || !(json_number_value(v) >= 0)) {
        *bad = 1;
        return NAN;
    }
    return json_number_value(v);
}

/* A coordinate in [-bound, bound] degrees, NAN when absent. */
static double ew_rj_degrees(json_t *obj, const char *key, double bound, int *bad)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return NAN;
    if (!json_is_number(v) || !(fabs(json_number_value(v)) <= bound)) {
        *bad = 1;
        return NAN;
    }
    return json_number_value(v);
}

static int ew_rj_outlet(json_t *ev, struct ew_registry *reg, struct ew_error *err)
{
    struct ew_limit limits[EW_OUTLET_MAX_LIMITS];
    const char *tags[EW_OUTLET_MAX_TAGS];
    struct ew_outlet o = {
        .mn = json_string_value(json_object_get(ev, "mn")),
        .st = json_string_value(json_object_get(ev, "st")),
        .enterprise_id = json_string_value(json_object_get(ev, "enterprise_id")),
        .enterprise_name = json_string_value(json_object_get(ev, "enterprise_name")),
        .outlet_id = json_string_value(json_object_get(ev, "outlet_id")),
        .region = json_string_value(json_object_get(ev, "region")),
        .limits = limits,
        .tags = tags,
    };
    int bad = 0;
    o.o2_ref = ew_rj_num(ev, "o2_ref", &bad);
    o.lon = ew_rj_degrees(ev, "lon", 180, &bad);
    o.lat = ew_rj_degrees(ev, "lat", 90, &bad);
    if (!o.mn || !*o.mn || !o.enterprise_id || !*o.enterprise_id || bad)
        return ew_error_set(err, EW_EMALFORMED, 0,
                            "outlet.upsert: needs mn and enterprise_id strings (o2_ref a number, "
                            "lon and lat degrees)");
    json_t *jtags = json_object_get(ev, "tags"), *tag;
    size_t ti;
    if (jtags && (!json_is_array(jtags) || json_array_size(jtags) > EW_OUTLET_MAX_TAGS))
        return ew_error_set(err, EW_EMALFORMED, 0,
                            "outlet.upsert: tags must be a list of at most "
                            "%d strings",
                            EW_OUTLET_MAX_TAGS);
    json_array_foreach(jtags, ti, tag)
    {
        if (!json_is_string(tag))
            return ew_error_set(err, EW_EMALFORMED, 0, "outlet.upsert: tags[%zu] is not a string",
                                ti);
        tags[o.ntags++] = json_string_value(tag);
    }
    json_t *lims = json_object_get(ev, "limits");
    if (lims && !json_is_object(lims))
        return ew_error_set(err, EW_EMALFORMED, 0, "outlet.upsert: limits must be an object");
    const char *code;
    json_t *l;
    enum ew_medium medium = ew_medium_of_st(o.st);
    json_object_foreach(lims, code, l)
    {
        if (o.nlimits == EW_OUTLET_MAX_LIMITS)
            return ew_error_set(err, EW_ETOO_LONG, 0, "outlet.upsert: more than %d limits",
                                EW_OUTLET_MAX_LIMITS);
        const struct ew_pollutant *p = ew_pollutant_find(code, strlen(code), medium);
        struct ew_limit *lim = &limits[o.nlimits++];
        lim->code = p ? p->key : ew_pollutant_pack(code, strlen(code));
        lim->rtd = ew_rj_num(l, "rtd", &bad);
        lim->hour = ew_rj_num(l, "hour", &bad);
        lim->day = ew_rj_num(l, "day", &bad);
        lim->unit = json_string_value(json_object_get(l, "unit"));
        if (!json_is_object(l) || bad || !lim->code)
            return ew_error_set(err, EW_EMALFORMED, 0,
                                "outlet.upsert: limits.%.20s: expected {rtd?, hour?, day?: "
                                "non-negative numbers, unit}",
                                code);
    }
    int rc = ew_registry_upsert(reg, &o);
    return rc ? ew_error_set(err, rc, 0, "outlet.upsert: %s", ew_strerror(rc)) : 0;
}

/* A string member into a fixed buffer; false when missing (and required), not a string or too
 * long. */
static bool ew_rj_str(json_t *ev, const char *key, char *out, size_t n, bool required)
{
    json_t *v = json_object_get(ev, key);
    out[0] = '\0';
    if (!v || json_is_null(v))
        return !required;
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) >= n)
        return false;
    memcpy(out, s, strlen(s) + 1);
    return true;
}

/* An ISO 8601 time member; false when missing or not a time. */
static bool ew_rj_time(json_t *ev, const char *key, int64_t *ms)
{
    const char *s = json_string_value(json_object_get(ev, key));
    return s && ew_time_parse_iso(s, strlen(s), ms) == 0;
}

static uint64_t ew_rj_code(const char *code, enum ew_medium medium)
{
    const struct ew_pollutant *p = code ? ew_pollutant_find(code, strlen(code), medium) : NULL;
    return p ? p->key : code ? ew_pollutant_pack(code, strlen(code)) : 0;
}

static int ew_rj_done(int rc, struct ew_error *err, const char *type)
{
    if (!rc)
        return 0;
    return ew_error_set(err, rc == EW_EINVAL ? EW_EMALFORMED : rc, 0, "%s: %s", type,
                        rc == EW_ETOO_LONG ? "the registry holds as many of these as it may"
                                           : ew_strerror(rc));
}

static int ew_rj_facility(json_t *ev, struct ew_registry *reg, struct ew_error *err)
{
    struct ew_facility f = {0};
    char mn[EW_REG_ID_MAX];
    const char *role = json_string_value(json_object_get(ev, "role"));
    json_t *on = json_object_get(ev, "on_threshold");
    if (!ew_rj_str(ev, "enterprise_id", f.enterprise_id, sizeof f.enterprise_id, true) ||
        !ew_rj_str(ev, "facility_id", f.facility_id, sizeof f.facility_id, true) ||
        !ew_rj_str(ev, "mn", mn, sizeof mn, true) ||
        !ew_rj_str(ev, "code", f.code, sizeof f.code, true) || !role ||
        (strcmp(role, "production") && strcmp(role, "treatment")) || !json_is_number(on) ||
        !(json_number_value(on) >= 0))
        return ew_error_set(err, EW_EMALFORMED, 0,
                            "facility.upsert: needs enterprise_id, facility_id, mn, code, role "
                            "(production or treatment) and on_threshold (a number >= 0)");
    f.role = !strcmp(role, "production") ? EW_FAC_PRODUCTION : EW_FAC_TREATMENT;
    f.on = json_number_value(on);
    f.key = ew_rj_code(f.code, EW_MEDIUM_OTHER);
    return ew_rj_done(ew_registry_facility(reg, mn, &f), err, "facility.upsert");
}

static const char *const ew_wlevels[EW_WL_COUNT] = {"blue", "yellow", "orange", "red"};

static int ew_rj_wlevel(const char *s)
{
    for (int i = 0; s && i < EW_WL_COUNT; i++)
        if (!strcmp(s, ew_wlevels[i]))
            return i;
    return s && !strcmp(s, "none") ? -1 : -2;
}

static int ew_rj_plan(json_t *ev, struct ew_registry *reg, struct ew_error *err)
{
    struct ew_emergency p = {.cuts = {NAN, NAN, NAN, NAN}};
    char mn[EW_REG_ID_MAX], code[16];
    json_t *base = json_object_get(ev, "baseline"), *cuts = json_object_get(ev, "cuts"), *c;
    const char *level;
    bool ok = ew_rj_str(ev, "enterprise_id", p.enterprise_id, sizeof p.enterprise_id, true) &&
              ew_rj_str(ev, "mn", mn, sizeof mn, true) &&
              ew_rj_str(ev, "code", code, sizeof code, true) && json_is_number(base) &&
              json_number_value(base) >= 0 && json_is_object(cuts);
    json_object_foreach(cuts, level, c)
    {
        int l = ew_rj_wlevel(level);
        if (l < 0 || !json_is_number(c) || !(json_number_value(c) >= 0) || json_number_value(c) > 1)
            ok = false;
        else
            p.cuts[l] = json_number_value(c);
    }
    if (!ok)
        return ew_error_set(err, EW_EMALFORMED, 0,
                            "emergency.upsert: needs enterprise_id, mn, code, baseline (a number "
                            ">= 0) and cuts ({\"yellow\": 0.1, ...}: levels blue, yellow, "
                            "orange, red, shares 0 to 1)");
    p.baseline = json_number_value(base);
    p.key = ew_rj_code(code, EW_MEDIUM_OTHER);
    return ew_rj_done(ew_registry_plan(reg, mn, &p), err, "emergency.upsert");
}

static int ew_rj_declaration(json_t *ev, struct ew_registry *reg, struct ew_error *err)
{
    struct ew_declaration d = {0};
    char eid[EW_REG_ID_MAX];
    const char *kind = json_string_value(json_object_get(ev, "kind"));
    if (!ew_rj_str(ev, "enterprise_id", eid, sizeof eid, true) ||
        !ew_rj_str(ev, "mn", d.mn, sizeof d.mn, false) || !kind ||
        (strcmp(kind, "maintenance") && strcmp(kind, "shutdown")) ||
        !ew_rj_time(ev, "from", &d.from) || !ew_rj_time(ev, "to", &d.to) || d.to <= d.from)
        return ew_error_set(err, EW_EMALFORMED, 0,
                            "declaration: needs enterprise_id, kind (maintenance or shutdown), "
                            "from and to (ISO 8601 times, from before to), mn optional");
    d.kind = !strcmp(kind, "maintenance") ? EW_DECL_MAINTENANCE : EW_DECL_SHUTDOWN;
    return ew_rj_done(ew_registry_declare(reg, eid, &d), err, "declaration");
}

static int ew_rj_deadline(json_t *ev, struct ew_registry *reg, int64_t sent, struct ew_error *err)
{
    struct ew_deadline d = {.announced = sent, .done_at = INT64_MAX};
    char eid[EW_REG_ID_MAX];
    const char *status = json_string_value(json_object_get(ev, "status"));
    bool done = status && !strcmp(status, "done");
    if (!ew_rj_str(ev, "enterprise_id", eid, sizeof eid, true) ||
        !ew_rj_str(ev, "deadline_id", d.deadline_id, sizeof d.deadline_id, true) ||
        !ew_rj_str(ev, "kind", d.kind, sizeof d.kind, !done) ||
        !ew_rj_str(ev, "title", d.title, sizeof d.title, false) ||
        (!ew_rj_time(ev, "due", &d.due) && !done))
        return ew_error_set(err, EW_EMALFORMED, 0,
                            "deadline: needs enterprise_id, deadline_id, kind and due (an ISO "
                            "8601 time); title and status optional");
    if (done) /* met: from when it was said (its message's time), else at once */
        d.done_at = sent != INT64_MIN ? sent : INT64_MIN + 1;
    return ew_rj_done(ew_registry_deadline(reg, eid, &d), err, "deadline");
}

static int ew_rj_warning(json_t *ev, struct ew_registry *reg, struct ew_error *err)
{
    struct ew_warning w = {0};
    char region[EW_REG_ID_MAX];
    int level = ew_rj_wlevel(json_string_value(json_object_get(ev, "level")));
    if (!ew_rj_str(ev, "region", region, sizeof region, true) || level < -1 ||
        !ew_rj_time(ev, "from", &w.from) || !ew_rj_time(ev, "to", &w.to) || w.to <= w.from)
        return ew_error_set(err, EW_EMALFORMED, 0,
                            "weather_warning: needs region, level (blue, yellow, orange, red or "
                            "none), from and to (ISO 8601 times, from before to)");
    w.level = (int8_t)level;
    return ew_rj_done(ew_registry_warning(reg, region, &w), err, "weather_warning");
}

static int ew_rj_response(json_t *ev, struct ew_registry *reg, int64_t sent, struct ew_error *err)
{
    struct ew_response r = {.at = sent};
    if (!ew_rj_str(ev, "enterprise_id", r.enterprise_id, sizeof r.enterprise_id, true) ||
        !ew_rj_str(ev, "alert_id", r.alert_id, sizeof r.alert_id, true) ||
        strlen(r.alert_id) < 16 || !ew_rj_str(ev, "text", r.text, sizeof r.text, false))
        return ew_error_set(err, EW_EMALFORMED, 0,
                            "response: needs enterprise_id and alert_id (an alert event's id or "
                            "fingerprint); text optional, shorter than %d bytes",
                            EW_REG_TEXT_MAX);
    if (sent == INT64_MIN)
        return ew_error_set(err, EW_EINVAL, 0, "response: its message has no time");
    return ew_rj_done(ew_registry_respond(reg, &r), err, "response");
}

int ew_registry_apply_json_at(struct ew_registry *reg, const char *buf, size_t len, int64_t sent,
                              struct ew_error *err)
{
    ew_alloc_hook_json();
    unsigned long failures = ew_alloc_failures();
    json_error_t jerr;
    json_t *ev = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *type = json_string_value(json_object_get(ev, "type"));
    int rc;
    if (ew_alloc_failures() != failures)
        rc = ew_error_set(err, EW_ENOMEM, 0, "out of memory while parsing JSON");
    else if (!ev)
        rc = ew_error_set(err, EW_EMALFORMED, (size_t)(jerr.position > 0 ? jerr.position : 0), "%s",
                          jerr.text);
    else if (!type)
        rc = ew_error_set(err, EW_EMALFORMED, 0, "event without a type");
    else if (!strcmp(type, "outlet.upsert"))
        rc = ew_rj_outlet(ev, reg, err);
    else if (!strcmp(type, "facility.upsert"))
        rc = ew_rj_facility(ev, reg, err);
    else if (!strcmp(type, "emergency.upsert"))
        rc = ew_rj_plan(ev, reg, err);
    else if (!strcmp(type, "declaration"))
        rc = ew_rj_declaration(ev, reg, err);
    else if (!strcmp(type, "deadline"))
        rc = ew_rj_deadline(ev, reg, sent, err);
    else if (!strcmp(type, "weather_warning"))
        rc = ew_rj_warning(ev, reg, err);
    else if (!strcmp(type, "response"))
        rc = ew_rj_response(ev, reg, sent, err);
    else
        rc = ew_error_set(err, EW_EINVAL, 0, "event type %.40s is not handled yet", type);
    json_decref(ev);
    return rc;
}

int ew_registry_apply_json(struct ew_registry *reg, const char *buf, size_t len,
                           struct ew_error *err)
{
    return ew_registry_apply_json_at(reg, buf, len, INT64_MIN, err);
}
