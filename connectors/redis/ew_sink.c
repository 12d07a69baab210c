/*
 * ew_sink.c - the Redis sink (see ew_sink.h).
 *
 * A command's arg packs the ticket with two bits: whether it is the write's last command (the
 * one whose reply reports the ticket) and whether the write is an alert event. Commands that
 * are not last carry 0.
 */
#include "ew_sink.h"

#include "ew_buf.h"
#include "ew_log.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EW_SINK_LAST  2u
#define EW_SINK_EVENT 1u

struct ew_sink {
    struct ew_redis *conn;
    const struct ew_opts *opts;
    ew_sink_written_fn written;
    void *ctx;
    struct ew_buf raw; /* a dead letter's bytes, as text or base64 */
};

static void ew_sink_on_reply(void *ctx, redisReply *reply, void *arg)
{
    struct ew_sink *s = ctx;
    if (reply->type == REDIS_REPLY_ERROR) /* refused for what it is: it would be again */
        ew_log(EW_LOG_ERROR, "redis", "command refused: %.*s", (int)reply->len, reply->str);
    uintptr_t a = (uintptr_t)arg;
    if (a & EW_SINK_LAST)
        s->written(s->ctx, a >> 2, a & EW_SINK_EVENT);
}

struct ew_sink *ew_sink_new(struct ev_loop *loop, const struct ew_redis_addr *addr,
                            const struct ew_opts *opts, ew_sink_written_fn written, void *ctx)
{
    struct ew_sink *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    *s = (struct ew_sink){.opts = opts, .written = written, .ctx = ctx, .raw = EW_BUF_INIT};
    s->conn = ew_redis_new(loop, addr, "redis", (double)opts->redis_timeout_ms / 1000,
                           (double)opts->redis_reconnect_max_ms / 1000, ew_sink_on_reply, s);
    if (!s->conn) {
        free(s);
        return NULL;
    }
    return s;
}

void ew_sink_free(struct ew_sink *s)
{
    if (!s)
        return;
    ew_redis_free(s->conn);
    ew_buf_release(&s->raw);
    free(s);
}

static void ew_sink_key(const struct ew_sink *s, char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s%s", s->opts->redis_prefix, name);
}

/* Queues a command; arg: 0, or the packed ticket of the write's last command. */
static int ew_sink_cmd(struct ew_sink *s, uintptr_t arg, int argc, const char **argv,
                       const size_t *lens)
{
    if (!ew_redis_cmd(s->conn, (void *)arg, argc, argv, lens))
        return 0;
    ew_log(EW_LOG_ERROR, "redis", "out of memory queueing a command");
    return -1;
}

/* XADD key MAXLEN ~ N * field value [field value...] */
static int ew_sink_xadd(struct ew_sink *s, uintptr_t arg, const char *key, int nfields,
                        const char **fields, const size_t *flens)
{
    const char *argv[32];
    size_t lens[32];
    int argc = 0;
    char maxlen[24];
    argv[argc] = "XADD", lens[argc++] = 4;
    argv[argc] = key, lens[argc++] = strlen(key);
    if (s->opts->redis_stream_maxlen > 0) {
        snprintf(maxlen, sizeof maxlen, "%lld", (long long)s->opts->redis_stream_maxlen);
        argv[argc] = "MAXLEN", lens[argc++] = 6;
        argv[argc] = "~", lens[argc++] = 1;
        argv[argc] = maxlen, lens[argc++] = strlen(maxlen);
    }
    argv[argc] = "*", lens[argc++] = 1;
    for (int i = 0; i < nfields * 2 && argc < 32; i++) {
        argv[argc] = fields[i];
        lens[argc++] = flens[i];
    }
    return ew_sink_cmd(s, arg, argc, argv, lens);
}

static uintptr_t ew_sink_arg(uint64_t ticket, bool event)
{
    return (uintptr_t)(ticket << 2 | EW_SINK_LAST | (event ? EW_SINK_EVENT : 0));
}

int ew_sink_event(struct ew_sink *s, uint64_t ticket, const struct ew_sink_event *ev)
{
    char events[128], audience[256], active[128], live[128];
    ew_sink_key(s, events, sizeof events, "events");
    if (ev->officer)
        ew_sink_key(s, audience, sizeof audience, "duty");
    else
        snprintf(audience, sizeof audience, "%sreminders:%s", s->opts->redis_prefix,
                 *ev->enterprise_id ? ev->enterprise_id : "unregistered");
    ew_sink_key(s, active, sizeof active, "active");
    ew_sink_key(s, live, sizeof live, "live");
    const char *f[2] = {"json", ev->json};
    size_t fl[2] = {4, ev->len};
    ew_sink_xadd(s, 0, events, 1, f, fl);
    ew_sink_xadd(s, 0, audience, 1, f, fl);
    if (ev->resolved) {
        const char *argv[3] = {"HDEL", active, ev->fingerprint};
        size_t lens[3] = {4, strlen(active), strlen(ev->fingerprint)};
        ew_sink_cmd(s, 0, 3, argv, lens);
    } else {
        const char *argv[4] = {"HSET", active, ev->fingerprint, ev->json};
        size_t lens[4] = {4, strlen(active), strlen(ev->fingerprint), ev->len};
        ew_sink_cmd(s, 0, 4, argv, lens);
    }
    const char *argv[3] = {"PUBLISH", live, ev->json};
    size_t lens[3] = {7, strlen(live), ev->len};
    return ew_sink_cmd(s, ew_sink_arg(ticket, true), 3, argv, lens);
}

static bool ew_is_text(const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if ((c[i] < 0x20 && c[i] != '\n' && c[i] != '\r' && c[i] != '\t') || c[i] == 0x7f)
            return false;
    return true;
}

static void ew_base64(struct ew_buf *b, const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        char o[4] = {tab[v >> 18 & 63], tab[v >> 12 & 63], i + 1 < n ? tab[v >> 6 & 63] : '=',
                     i + 2 < n ? tab[v & 63] : '='};
        ew_buf_add(b, o, 4);
    }
}

int ew_sink_deadletter(struct ew_sink *s, uint64_t ticket, const struct ew_deadletter *dl)
{
    char off[24], part[24], koff[24];
    snprintf(off, sizeof off, "%zu", dl->offset);
    snprintf(part, sizeof part, "%d", dl->partition);
    snprintf(koff, sizeof koff, "%lld", (long long)dl->kafka_offset);
    bool text = ew_is_text(dl->raw, dl->len);
    ew_buf_clear(&s->raw);
    if (text)
        ew_buf_add(&s->raw, dl->raw, dl->len);
    else
        ew_base64(&s->raw, dl->raw, dl->len);
    const char *f[] = {"reason",       dl->reason,
                       "error",        dl->error,
                       "offset",       off,
                       "topic",        dl->topic,
                       "partition",    part,
                       "kafka_offset", koff,
                       "encoding",     text ? "text" : "base64",
                       "raw",          s->raw.data ? s->raw.data : ""};
    size_t fl[16];
    for (int i = 0; i < 16; i++)
        fl[i] = strlen(f[i]);
    fl[15] = s->raw.err ? 0 : s->raw.len;
    char key[128];
    ew_sink_key(s, key, sizeof key, "deadletter");
    return ew_sink_xadd(s, ew_sink_arg(ticket, false), key, 8, f, fl);
}

void ew_sink_ack_entry(struct ew_sink *s, const char *entry)
{
    char key[128];
    ew_sink_key(s, key, sizeof key, "acks");
    const char *argv[4] = {"XACK", key, "ecowarnd", entry};
    size_t lens[4] = {4, strlen(key), 8, strlen(entry)};
    ew_sink_cmd(s, 0, 4, argv, lens);
}

bool ew_sink_connected(const struct ew_sink *s)
{
    return ew_redis_connected(s->conn);
}

size_t ew_sink_queued(const struct ew_sink *s)
{
    return ew_redis_queued(s->conn);
}

const struct ew_redis_stats *ew_sink_stats(const struct ew_sink *s)
{
    return ew_redis_stats(s->conn);
}
