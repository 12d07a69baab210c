/*
 * ew_dashboard.h - the live risk map served by ecowarnd at / (DASHBOARD.md): one page (web/,
 * built into the binary) and its API:
 *
 *   GET  /api/state    {"last_id", "active": [alert JSON text...], "sites": [...], "ack": bool}
 *   GET  /api/events   Server-Sent Events of PREFIX+events after Last-Event-ID (or ?since=ID,
 *                      or from now): "id: ID", "event: alert", "data: JSON"
 *   POST /api/ack      {"alert_id", "by"?, "note"?} with "Authorization: Bearer TOKEN": put on
 *                      PREFIX+acks as an officer's console would (202); 403 when no token is
 *                      configured (read-only), 401 when the token is wrong
 *
 * Every instance serves every alert: they come from Redis, where all instances write, and the
 * sites from the registry, which every instance reads whole.
 */
#ifndef EW_DASHBOARD_H
#define EW_DASHBOARD_H

#include <ev.h>

#include "ew_http.h"
#include "ew_registry.h"
#include "ew_url.h"

struct ew_dashboard;

struct ew_dashboard_conf {
    const struct ew_redis_addr *redis; /* copied */
    const char *prefix;                /* copied */
    double timeout_s, reconnect_max_s;
    const char *token;             /* "" : read-only; copied */
    const struct ew_registry *reg; /* borrowed: outlives the dashboard */
};

#define EW_DASHBOARD_MAX_FOLLOWERS 64 /* live pages at once (503 beyond) */

/* NULL when out of memory. */
struct ew_dashboard *ew_dashboard_new(struct ev_loop *loop, const struct ew_dashboard_conf *c);

/* Frees it; call after ew_http_free (which ends the live pages' streams). */
void ew_dashboard_free(struct ew_dashboard *d);

/* Answers the page and its API (an ew_http_handler's work); 404 for any other path. */
int ew_dashboard_serve(struct ew_dashboard *d, struct ew_http_req *r);

#endif
