/* ew_registry_json.h - e-enterprise events (JSON) applied to the registry. */
#ifndef EW_REGISTRY_JSON_H
#define EW_REGISTRY_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "ew_error.h"
#include "ew_registry.h"

/* Applies one event of len bytes. Returns 0; EW_EMALFORMED (bad JSON or a bad member),
 * EW_EINVAL (a type this version does not handle yet), EW_ETOO_LONG or EW_ENOMEM, with err
 * filled. */
int ew_registry_apply_json(struct ew_registry *reg, const char *buf, size_t len,
                           struct ew_error *err);

/* The same, for an event sent at time `sent` (its Kafka message's timestamp, epoch ms;
 * INT64_MIN unknown): a deadline is known from then, and lead times that passed before are
 * folded into one reminder (rules/RULES.md, "deadline"). */
int ew_registry_apply_json_at(struct ew_registry *reg, const char *buf, size_t len, int64_t sent,
                              struct ew_error *err);

#endif
