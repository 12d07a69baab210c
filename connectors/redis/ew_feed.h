/*
 * ew_feed.h - what the outputs look like to a reader (the dashboard): the active alerts with the
 * events stream's last id, the events after an id as they are written, and an officer's
 * acknowledgement put on PREFIX+acks (CONTRACT.md), as an officer's console would.
 *
 * A feed has one connection for requests (state, acknowledgements); each follower has one of
 * its own, since its reads block (XREAD BLOCK). Replies come on the loop; nothing here blocks.
 * Every connection is an ew_redis: a lost connection is made again and what was asked is asked
 * again.
 */
#ifndef EW_FEED_H
#define EW_FEED_H

#include <ev.h>
#include <stddef.h>

#include "ew_url.h"

struct ew_feed;

struct ew_feed_conf {
    const struct ew_redis_addr *addr; /* copied */
    const char *prefix;               /* copied */
    double timeout_s, reconnect_max_s;
};

/* new: free with ew_feed_free (which frees its followers first, without calling them).
 * NULL when out of memory. */
struct ew_feed *ew_feed_new(struct ev_loop *loop, const struct ew_feed_conf *c);
void ew_feed_free(struct ew_feed *f);

/* The active alerts: last_id is the events stream's newest id when they were read ("0-0" for
 * none), so that following from it misses nothing; each of the n alerts is its JSON text as
 * the hash holds it. All borrowed during the call. */
typedef void (*ew_feed_state_fn)(void *ctx, const char *last_id, size_t n,
                                 const char *const *alerts, const size_t *lens);

/* Asks for the state; fn is called once with it, unless ew_feed_cancel(ticket) came first.
 * Returns a ticket, or NULL when out of memory. */
void *ew_feed_state(struct ew_feed *f, ew_feed_state_fn fn, void *ctx);
void ew_feed_cancel(struct ew_feed *f, void *ticket);

/* Puts {alert_id, by, note} on PREFIX+acks. Returns 0 (queued: written once Redis takes it),
 * -1 when out of memory. */
int ew_feed_ack(struct ew_feed *f, const char *alert_id, const char *by, const char *note);

/* ---- followers ---- */

struct ew_follow;

/* One event of the stream: its id and its json field (borrowed during the call). keepalive:
 * called instead when a wait of about a second brought nothing (id and json NULL). */
typedef void (*ew_follow_fn)(void *ctx, const char *id, const char *json, size_t len);

/* Follows the events stream after since (an id "MS-SEQ", or NULL: from its newest entry now).
 * At most 256 events per read. NULL when out of memory or when since is not an id. */
struct ew_follow *ew_follow_new(struct ew_feed *f, const char *since, ew_follow_fn fn, void *ctx);
void ew_follow_free(struct ew_follow *w);

/* Whether s is a stream id ("1733550000000-0" or "1733550000000"). */
int ew_feed_is_id(const char *s);

#endif
