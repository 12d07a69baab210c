/*
 * ew_metrics.h - what /metrics and /health say: every metric of ecowarnd, named in one place,
 * written as Prometheus text (version 0.0.4) from the flow's stats.
 */
#ifndef EW_METRICS_H
#define EW_METRICS_H

#include "ew_buf.h"
#include "ew_flow.h"

/* Appends every metric. */
void ew_metrics_prometheus(const struct ew_flow_stats *s, struct ew_buf *out);

/* Appends {"kafka": bool, "redis": bool, "draining": bool}; returns the HTTP status: 200 when
 * Kafka and Redis are both connected, 503 otherwise. */
int ew_metrics_health(const struct ew_flow_stats *s, struct ew_buf *out);

#endif
