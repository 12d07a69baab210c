/*
 * ew_alert.h - alert events: what the rule engine emits (CONTRACT.md, "Outputs").
 *
 * An event is a transparent value handed to the engine's sink during one call; every pointer
 * in it is borrowed and valid only during that sink call (copy what you keep). The JSON shape
 * is written by ew_alert_to_json (connectors/formats/ew_alertjson.h).
 */
#ifndef EW_ALERT_H
#define EW_ALERT_H

#include <stdbool.h>
#include <stdint.h>

#define EW_ALERT_EVENTS(X)                                                                         \
    X(PENDING, "pending")                                                                          \
    X(FIRING, "firing")                                                                            \
    X(REMINDER, "reminder")                                                                        \
    X(ESCALATED, "escalated")                                                                      \
    X(RESPONDED, "responded")                                                                      \
    X(ACKNOWLEDGED, "acknowledged")                                                                \
    X(RESOLVED, "resolved")

enum ew_alert_event_type {
#define EW__AEV_ENUM(name, text) EW_AEV_##name,
    EW_ALERT_EVENTS(EW__AEV_ENUM)
#undef EW__AEV_ENUM
        EW_AEV_COUNT
};

enum ew_audience { EW_AUDIENCE_ENTERPRISE = 0, EW_AUDIENCE_OFFICER, EW_AUDIENCE_SUPERVISOR };

struct ew_alert_event {
    char id[64];          /* unique per event, the same when the same input is replayed */
    char fingerprint[17]; /* 16 hex digits: stable for the same rule and subject */
    const char *rule;     /* rule id */
    const char *kind;     /* rule kind ("threshold"...) */
    enum ew_alert_event_type event;
    const char *severity;
    enum ew_audience audience;
    const char *enterprise_id; /* "" when the site is not in the registry */
    const char *mn;
    const char *outlet_id;      /* NULL when unknown */
    const char *pollutant;      /* code, NULL for site-wide alerts */
    const char *pollutant_name; /* NULL when unknown */
    bool has_value, has_limit;
    double value, limit;
    const char *unit;      /* NULL when unknown */
    const char *data_kind; /* "hour", "minute"... NULL when not applicable */
    int64_t event_time;    /* epoch ms: the data's time */
    int64_t detected_at;   /* epoch ms: processing time */
    const char *message;
    const char *evidence; /* a JSON object as text, or NULL */
    bool duty_copy;       /* an enterprise-audience event the duty officers get too: the end of
                             an alert that was escalated to them */
    uint64_t tag;         /* the tag of the record that caused it (ew_engine_record_tagged); 0 for
                             the clock's ticks */
};

const char *ew_alert_event_name(enum ew_alert_event_type t);
const char *ew_audience_name(enum ew_audience a);

#endif
