/*
 * ew_alertjson.c - alert events as JSON (see ew_alertjson.h). Written by the emitter of
 * ew_buf.h (key order kept, shortest exact numbers); read back with jansson.
 */
#include "ew_alertjson.h"

#include "ew_alloc.h"
#include "ew_time.h"

#include <string.h>

int ew_alert_to_json(const struct ew_alert_event *ev, struct ew_buf *b)
{
    ew_buf_adds(b, "{\"id\":");
    ew_buf_json_str(b, ev->id);
    ew_buf_json_opt_str(b, "fingerprint", ev->fingerprint);
    ew_buf_json_opt_str(b, "rule", ev->rule);
    ew_buf_json_opt_str(b, "kind", ev->kind);
    ew_buf_json_opt_str(b, "event", ew_alert_event_name(ev->event));
    ew_buf_json_opt_str(b, "severity", ev->severity);
    ew_buf_json_opt_str(b, "audience", ew_audience_name(ev->audience));
    ew_buf_json_opt_str(b, "enterprise_id", ev->enterprise_id ? ev->enterprise_id : "");
    ew_buf_json_opt_str(b, "mn", ev->mn);
    ew_buf_json_opt_str(b, "outlet_id", ev->outlet_id);
    ew_buf_json_opt_str(b, "pollutant", ev->pollutant);
    ew_buf_json_opt_str(b, "pollutant_name", ev->pollutant_name);
    if (ev->has_value) {
        ew_buf_adds(b, ",\"value\":");
        ew_buf_json_num(b, ev->value);
    }
    if (ev->has_limit) {
        ew_buf_adds(b, ",\"limit\":");
        ew_buf_json_num(b, ev->limit);
    }
    ew_buf_json_opt_str(b, "unit", ev->unit);
    ew_buf_json_opt_str(b, "data_kind", ev->data_kind);
    ew_buf_adds(b, ",\"event_time\":");
    ew_buf_json_time(b, ev->event_time);
    ew_buf_adds(b, ",\"detected_at\":");
    ew_buf_json_time(b, ev->detected_at);
    ew_buf_json_opt_str(b, "message", ev->message ? ev->message : "");
    if (ev->evidence) {
        ew_buf_adds(b, ",\"evidence\":");
        ew_buf_adds(b, ev->evidence); /* already a JSON object */
    }
    ew_buf_addc(b, '}');
    return b->err;
}

/* A string member, or NULL when absent; EW_EMALFORMED when present and not a string. */
static int ew_get_str(json_t *o, const char *key, const char **out)
{
    json_t *v = json_object_get(o, key);
    *out = v ? json_string_value(v) : NULL;
    return v && !*out ? EW_EMALFORMED : 0;
}

static int ew_get_num(json_t *o, const char *key, bool *has, double *out)
{
    json_t *v = json_object_get(o, key);
    *has = v != NULL;
    *out = v ? json_number_value(v) : 0;
    return v && !json_is_number(v) ? EW_EMALFORMED : 0;
}

static int ew_get_time(json_t *o, const char *key, int64_t *out)
{
    const char *s;
    int rc = ew_get_str(o, key, &s);
    if (rc || !s)
        return EW_EMALFORMED;
    return ew_time_parse_iso(s, strlen(s), out) ? EW_EMALFORMED : 0;
}

int ew_alert_from_json(const char *buf, size_t len, struct ew_alert_event *ev, json_t **doc)
{
    memset(ev, 0, sizeof *ev);
    ew_alloc_hook_json();
    json_error_t jerr;
    json_t *o = *doc = json_loadb(buf, len, 0, &jerr);
    if (!json_is_object(o))
        return EW_EMALFORMED;
    const char *id, *fp, *event, *audience;
    int rc =
        ew_get_str(o, "id", &id) | ew_get_str(o, "fingerprint", &fp) |
        ew_get_str(o, "rule", &ev->rule) | ew_get_str(o, "kind", &ev->kind) |
        ew_get_str(o, "event", &event) | ew_get_str(o, "severity", &ev->severity) |
        ew_get_str(o, "audience", &audience) | ew_get_str(o, "enterprise_id", &ev->enterprise_id) |
        ew_get_str(o, "mn", &ev->mn) | ew_get_str(o, "outlet_id", &ev->outlet_id) |
        ew_get_str(o, "pollutant", &ev->pollutant) |
        ew_get_str(o, "pollutant_name", &ev->pollutant_name) | ew_get_str(o, "unit", &ev->unit) |
        ew_get_str(o, "data_kind", &ev->data_kind) | ew_get_str(o, "message", &ev->message) |
        ew_get_num(o, "value", &ev->has_value, &ev->value) |
        ew_get_num(o, "limit", &ev->has_limit, &ev->limit) |
        ew_get_time(o, "event_time", &ev->event_time) |
        ew_get_time(o, "detected_at", &ev->detected_at);
    if (rc || !id || !fp || strlen(id) >= sizeof ev->id || strlen(fp) != 16 || !event)
        return EW_EMALFORMED;
    memcpy(ev->id, id, strlen(id) + 1);
    memcpy(ev->fingerprint, fp, 17);
    ev->event = EW_AEV_COUNT;
    for (int t = 0; t < EW_AEV_COUNT; t++)
        if (!strcmp(event, ew_alert_event_name((enum ew_alert_event_type)t)))
            ev->event = (enum ew_alert_event_type)t;
    if (ev->event == EW_AEV_COUNT)
        return EW_EMALFORMED;
    ev->audience = audience && !strcmp(audience, "officer")      ? EW_AUDIENCE_OFFICER
                   : audience && !strcmp(audience, "supervisor") ? EW_AUDIENCE_SUPERVISOR
                                                                 : EW_AUDIENCE_ENTERPRISE;
    if (!ev->enterprise_id)
        ev->enterprise_id = "";
    return 0;
}
