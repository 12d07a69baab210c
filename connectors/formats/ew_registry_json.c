/*
 * ew_registry_json.c - e-enterprise events that feed the registry, read from their JSON
 * (CONTRACT.md, "ecowarn.enterprise"):
 *   {"type": "outlet.upsert", "enterprise_id", "enterprise_name", "outlet_id", "mn", "st",
 *    "o2_ref"?, "limits": {CODE: {"rtd"?, "hour"?, "day"?, "unit"}}, "contacts"?, "tags"?}
 * "tags" (a list of strings) is ecowarn's extension: labels that rules may select on.
 * Limit codes may be 2005 codes: they are normalized with the outlet's system (ST).
 */
#include "ew_registry_json.h"

#include "ew_alloc.h"
#include "ew_pollutant.h"

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
        .limits = limits,
        .tags = tags,
    };
    int bad = 0;
    o.o2_ref = ew_rj_num(ev, "o2_ref", &bad);
    if (!o.mn || !*o.mn || !o.enterprise_id || !*o.enterprise_id || bad)
        return ew_error_set(err, EW_EMALFORMED, 0,
                            "outlet.upsert: needs mn and enterprise_id strings (o2_ref a number)");
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

int ew_registry_apply_json(struct ew_registry *reg, const char *buf, size_t len,
                           struct ew_error *err)
{
    ew_alloc_hook_json();
    unsigned long failures = ew_alloc_failures();
    json_error_t jerr;
    json_t *ev = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc;
    if (ew_alloc_failures() != failures)
        rc = ew_error_set(err, EW_ENOMEM, 0, "out of memory while parsing JSON");
    else if (!ev)
        rc = ew_error_set(err, EW_EMALFORMED, (size_t)(jerr.position > 0 ? jerr.position : 0), "%s",
                          jerr.text);
    else if (!json_is_string(json_object_get(ev, "type")))
        rc = ew_error_set(err, EW_EMALFORMED, 0, "event without a type");
    else if (!strcmp(json_string_value(json_object_get(ev, "type")), "outlet.upsert"))
        rc = ew_rj_outlet(ev, reg, err);
    else
        rc = ew_error_set(err, EW_EINVAL, 0, "event type %.40s is not handled yet",
                          json_string_value(json_object_get(ev, "type")));
    json_decref(ev);
    return rc;
}
