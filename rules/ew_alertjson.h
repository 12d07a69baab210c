/* ew_alertjson.h - an alert event as the JSON object of CONTRACT.md ("Outputs"). */
#ifndef EW_ALERTJSON_H
#define EW_ALERTJSON_H

#include "ew_alert.h"
#include "ew_buf.h"

/* Appends the event as one JSON object (no newline). Returns 0 or out->err. */
int ew_alert_to_json(const struct ew_alert_event *ev, struct ew_buf *out);

#endif
