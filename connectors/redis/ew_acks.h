/*
 * ew_acks.h - the officers' acknowledgements source: entries of the Redis stream PREFIX+acks
 * ({alert_id, by, note}, CONTRACT.md), read with the consumer group "ecowarnd" on a connection
 * of its own (its reads block), so that several instances share them. For each entry the alert
 * as it stands in PREFIX+active is looked up and handed to the handler with the entry.
 *
 * An entry the handler leaves (another instance holds its alert) stays pending in the group;
 * every instance claims the entries another consumer has left pending longer than
 * EW_ACKS_IDLE_MS (XPENDING, XCLAIM) and hands them on again, so that the one holding the alert
 * gets it, and so do the entries of an instance that stopped before it acknowledged them. Its
 * own it takes back only after EW_ACKS_OWN_IDLE_MS, once the others have had their turn (alone,
 * it looks again at what it could not apply then).
 */
#ifndef EW_ACKS_H
#define EW_ACKS_H

#include <ev.h>

#include "ew_alert.h"
#include "ew_opts.h"
#include "ew_url.h"

struct ew_acks;

struct ew_ack {
    char entry[64]; /* the stream entry's id ("MS-SEQ": MS is when it was written) */
    char alert_id[128];
    char by[128];
    char note[512];
    char fingerprint[17]; /* the alert_id's first 16 characters; "" when it is not an alert id */
};

#define EW_ACKS_IDLE_MS     3000  /* pending this long: claimed by whichever instance looks next */
#define EW_ACKS_CLAIM_MS    1000  /* how often each instance looks */
#define EW_ACKS_OWN_IDLE_MS 10000 /* its own pending this long: taken back */

/* cur: the alert as it stands now, or NULL when there is none (or alert_id is not an id this
 * daemon made). Both are borrowed during the call. The handler writes what follows and then
 * acknowledges the entry (ew_sink_ack_entry, so that the XACK follows its writes), or leaves it
 * pending for another instance. */
typedef void (*ew_acks_fn)(void *ctx, const struct ew_ack *a, const struct ew_alert_event *cur);

/* opts: borrowed, as for the sink. consumer: this instance's name in the group (copied). new:
 * free with ew_acks_free. NULL when out of memory. */
struct ew_acks *ew_acks_new(struct ev_loop *loop, const struct ew_redis_addr *addr,
                            const struct ew_opts *opts, const char *consumer, ew_acks_fn fn,
                            void *ctx);

/* Reads no more entries (draining). */
void ew_acks_stop(struct ew_acks *a);
void ew_acks_free(struct ew_acks *a);

#endif
