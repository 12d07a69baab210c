/*
 * ew_recjson.h - the normalized record as JSON, both ways: the shape of the ecowarn.telemetry
 * topic and of `ecowarn-hj212 decode` (CONTRACT.md), documented in connectors/formats/CODEC.md.
 *
 * Reading uses yajl's events (no tree; see ew_recjson.c). Writing is a direct emitter into an ew_buf: it keeps the documented
 * key order, prints every number with the shortest text that reads back exactly (jansson
 * prints 31.2 as 31.199999999999999), and allocates nothing once the buffer has grown.
 */
#ifndef EW_RECJSON_H
#define EW_RECJSON_H

#include <stddef.h>

#include "ew_buf.h"
#include "ew_error.h"
#include "ew_record.h"

/* Appends rec as one JSON object, without a newline. With with_ok, the object starts with
 * "ok": true (the form ecowarn-hj212 decode prints). Returns 0 or out->err. */
int ew_record_to_json(const struct ew_record *rec, int with_ok, struct ew_buf *out);

/* Appends {"ok": false, "error": CODE, "offset": BYTE, "detail": TEXT}. Returns 0 or out->err. */
int ew_error_to_json(const struct ew_error *err, struct ew_buf *out);

/* Decodes one JSON record of len bytes into rec (reset first). Unknown keys are ignored,
 * "name" and "unit" of values are recomputed from the code, 2005 codes are normalized.
 * Returns 0, EW_EMALFORMED (err has line, column and offset for syntax errors, the path of
 * the offending member otherwise), EW_ETOO_LONG (more values, parameters or text than a
 * record holds) or EW_ENOMEM. */
int ew_record_from_json(const char *buf, size_t len, struct ew_record *rec, struct ew_error *err);

#endif
