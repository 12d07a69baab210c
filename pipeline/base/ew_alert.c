/* ew_alert.c - the names of alert events and audiences (CONTRACT.md, "Outputs"). */
#include "ew_alert.h"

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
    return a == EW_AUDIENCE_OFFICER      ? "officer"
           : a == EW_AUDIENCE_SUPERVISOR ? "supervisor"
                                         : "enterprise";
}
