/*
 * ew_alertjson.h - an alert event as the JSON object of CONTRACT.md ("Outputs"), and back.
 * One writer serves every event the daemon writes: the engine's and the acknowledgements'.
 */
#ifndef EW_ALERTJSON_H
#define EW_ALERTJSON_H

#include <jansson.h>
#include <stddef.h>

#include "ew_alert.h"
#include "ew_buf.h"
#include "ew_error.h"

/* Appends the event as one JSON object (no newline). Returns 0 or out->err. */
int ew_alert_to_json(const struct ew_alert_event *ev, struct ew_buf *out);

/* Reads an event that ew_alert_to_json wrote. Its strings are borrowed from *doc, which the
 * caller releases with json_decref (new; also on error). The evidence is not read back (NULL),
 * nor the tag (0). Returns 0, or EW_EMALFORMED when it is not such an event. */
int ew_alert_from_json(const char *buf, size_t len, struct ew_alert_event *ev, json_t **doc);

#endif
