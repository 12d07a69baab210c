/* ew_alert.c - names of alert events and their JSON (CONTRACT.md, "Outputs"). */
#include "ew_alert.h"

#include "ew_alertjson.h"

const char *ew_alert_event_name(enum ew_alert_event_type t)
{
    static const char *const names[] = {
#define EW__AEV_NAME(name, text) text,
        EW_ALERT_EVENTS(EW__AEV_NAME)
#undef EW__AEV_NAME
    };
    return (unsigned)t < EW_AEV_COUNT ? names[t] : "unknown";
}

const char *ew_audience_name(enum ew_audience a)
{
    return a == EW_AUDIENCE_OFFICER ? "officer" : "enterprise";
}

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
