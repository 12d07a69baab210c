/*
 * ew_redis.h - one Redis connection on the event loop (hiredis async + its libev adapter) that
 * loses nothing: commands are queued, pipelined, and kept until their reply comes; when the
 * connection drops or a reply is late (redis.timeout_ms, with a libev timer: Debian's hiredis
 * has no timeouts of its own) it is closed, every command without a reply is sent again on the
 * next connection (at-least-once), and it reconnects with a doubling backoff.
 *
 * Used by the sink and the acks source beside it; nothing outside connectors/redis/ sees
 * hiredis.
 */
#ifndef EW_REDIS_H
#define EW_REDIS_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ew_url.h"

struct ew_redis;

/* A command's reply, error replies included (counted; a command refused for what it is is not
 * sent again: it would be refused again). A refusal that says the server cannot take commands
 * now (LOADING, BUSY, OOM, READONLY, MISCONF, NOAUTH and the like) never comes here: it closes
 * the connection like a lost one, and the command is sent again on the next (counted as
 * refusals). arg is the command's own. */
struct redisReply;
typedef void (*ew_redis_reply_fn)(void *ctx, struct redisReply *reply, void *arg);

struct ew_redis_stats {
    uint64_t commands, replies, errors, timeouts, reconnects;
    uint64_t refusals;           /* replies that the server cannot take commands now: sent again */
    double latency_sum;          /* seconds, from send to reply */
    uint64_t latency_buckets[8]; /* <= 1, 2, 5, 10, 50, 100, 500 ms, more */
};

extern const double ew_redis_latency_bounds[7]; /* seconds */

/* addr: where (config/ew_url.h, copied). name: for logs. new: free with ew_redis_free. */
struct ew_redis *ew_redis_new(struct ev_loop *loop, const struct ew_redis_addr *addr,
                              const char *name, double timeout_s, double reconnect_max_s,
                              ew_redis_reply_fn fn, void *ctx);
void ew_redis_free(struct ew_redis *r);

/* Queues a command; its reply goes to the connection's fn with arg. Returns 0 or -1 (no
 * memory). */
int ew_redis_cmd(struct ew_redis *r, void *arg, int argc, const char **argv, const size_t *lens);

/* The same with every argument a NUL-ended string (at most 16 of them). */
int ew_redis_cmds(struct ew_redis *r, void *arg, int argc, const char **argv);

bool ew_redis_connected(const struct ew_redis *r);
size_t ew_redis_queued(const struct ew_redis *r); /* commands without a reply yet */
const struct ew_redis_stats *ew_redis_stats(const struct ew_redis *r);

#endif
