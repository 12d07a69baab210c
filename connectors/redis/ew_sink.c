/*
 * ew_sink.c - the Redis sink (see ew_sink.h).
 *
 * A batch is the argument list of one EVAL of ew_commit_lua: after the fixed arguments, its
 * operations, each an opcode and its arguments. A command's arg is a struct ew_pending, freed
 * with its reply.
 */
#include "ew_sink.h"

#include "ew_log.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS: the partition's hash, its sites' state, the written set that this transaction's ids
 * go into and the other one, the stage of the checkpoint being made (epoch + 1) and the stage of
 * the last one (epoch) (none of them for a transaction of no partition).
 * ARGV: gen seq next done watermark prefix maxlen checkpoint epoch, then the operations:
 *   E id json fingerprint audience resolved copy   an alert event (audience: "duty",
 *                                           "reminders:ID"; copy: "duty" or "", a second stream)
 *   D id reason error offset topic partition kafka_offset encoding raw   a dead letter
 *   S mn blob / X mn                        a site's state as of the checkpoint being made, or
 *                                           its removal (""), into that checkpoint's stage
 *   M n                                     n sites of the last checkpoint's stage moved into
 *                                           the state
 *   A entry                                 an acknowledgement: nothing is written unless the
 *                                           entry was pending (the batch's first operation)
 * An event or dead letter whose id is in either written set was written since the state was
 * saved (its records are being judged again after a restore): it is not written again.
 * checkpoint "1": the stage is complete, the cut and the watermark (taken when it began) are
 * saved with the epoch, the last checkpoint's stage moves into the state whole, and the written
 * set of the ids from before the cut is emptied; "2": the same with a cut taken now, both sets
 * emptied.
 * Returns 1 + the number of events and dead letters not written again, 0 written before, -1 fenced:
 * another generation owns the partition, or the sequence does not follow the last one written
 * (Redis lost transactions it had answered). */
/* move(stage, state, n): n sites of a checkpoint's stage (0: all of it) into the state, "" a
 * site's removal; taken out of the stage. */
#define EW_LUA_MOVE                                                                                \
    "local function move(stage, state, n)\n"                                                       \
    "  local f\n"                                                                                  \
    "  if n == 0 then f = redis.call('HGETALL', stage)\n"                                          \
    "  else f = redis.call('HRANDFIELD', stage, n, 'WITHVALUES') end\n"                            \
    "  for j = 1, #f, 2 do\n"                                                                      \
    "    if f[j + 1] == '' then redis.call('HDEL', state, f[j])\n"                                 \
    "    else redis.call('HSET', state, f[j], f[j + 1]) end\n"                                     \
    "    if n ~= 0 then redis.call('HDEL', stage, f[j]) end\n"                                     \
    "  end\n"                                                                                      \
    "  if n == 0 then redis.call('DEL', stage) end\n"                                              \
    "end\n"

static const char ew_commit_lua[] =
    "local p, maxlen, ckpt, i = ARGV[6], ARGV[7], ARGV[8], 10\n"
    "if #KEYS > 0 then\n"
    "  local m = redis.call('HMGET', KEYS[1], 'gen', 'seq')\n"
    "  if m[1] ~= ARGV[1] then return -1 end\n"
    "  local last, seq = tonumber(m[2] or '0'), tonumber(ARGV[2])\n"
    "  if last >= seq then return 0 end\n"
    "  if last + 1 ~= seq then return -1 end\n"
    "end\n"
    "local function xadd(key, ...)\n"
    "  if maxlen == '0' then return redis.call('XADD', key, '*', ...) end\n"
    "  return redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', ...)\n"
    "end\n"
    "local again = 0\n"
    "local function fresh(id)\n"
    "  if #KEYS < 3 or id == '' or (redis.call('SISMEMBER', KEYS[4], id) == 0 and\n"
    "      redis.call('SADD', KEYS[3], id) == 1) then return true end\n"
    "  again = again + 1\n"
    "  return false\n"
    "end\n" EW_LUA_MOVE "while i <= #ARGV do\n"
    "  local op = ARGV[i]\n"
    "  if op == 'E' then\n"
    "    if fresh(ARGV[i + 1]) then\n"
    "      local json = ARGV[i + 2]\n"
    "      xadd(p .. 'events', 'json', json)\n"
    "      xadd(p .. ARGV[i + 4], 'json', json)\n"
    "      if ARGV[i + 6] ~= '' then xadd(p .. ARGV[i + 6], 'json', json) end\n"
    "      if ARGV[i + 5] == '1' then redis.call('HDEL', p .. 'active', ARGV[i + 3])\n"
    "      else redis.call('HSET', p .. 'active', ARGV[i + 3], json) end\n"
    "      redis.call('PUBLISH', p .. 'live', json)\n"
    "    end\n"
    "    i = i + 7\n"
    "  elseif op == 'D' then\n"
    "    if fresh(ARGV[i + 1]) then\n"
    "      xadd(p .. 'deadletter', 'reason', ARGV[i + 2], 'error', ARGV[i + 3], 'offset',\n"
    "           ARGV[i + 4], 'topic', ARGV[i + 5], 'partition', ARGV[i + 6], 'kafka_offset',\n"
    "           ARGV[i + 7], 'encoding', ARGV[i + 8], 'raw', ARGV[i + 9])\n"
    "    end\n"
    "    i = i + 10\n"
    "  elseif op == 'S' then redis.call('HSET', KEYS[5], ARGV[i + 1], ARGV[i + 2]); i = i + 3\n"
    "  elseif op == 'X' then redis.call('HSET', KEYS[5], ARGV[i + 1], ''); i = i + 2\n"
    "  elseif op == 'M' then move(KEYS[6], KEYS[2], tonumber(ARGV[i + 1])); i = i + 2\n"
    "  elseif op == 'A' then\n"
    "    if redis.call('XACK', p .. 'acks', 'ecowarnd', ARGV[i + 1]) == 0 then return 0 end\n"
    "    i = i + 2\n"
    "  else return redis.error_reply('ecowarn: unknown operation ' .. tostring(op)) end\n"
    "end\n"
    "if #KEYS > 0 then\n"
    "  redis.call('HSET', KEYS[1], 'seq', ARGV[2])\n"
    "  if ckpt ~= '' then\n"
    "    move(KEYS[6], KEYS[2], 0)\n"
    "    redis.call('HSET', KEYS[1], 'wm', ARGV[5], 'epoch', ARGV[9])\n"
    "    if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'next', ARGV[3], 'done', ARGV[4]) end\n"
    "    redis.call('DEL', KEYS[4])\n"
    "    if ckpt == '2' then redis.call('DEL', KEYS[3]) end\n"
    "  end\n"
    "end\n"
    "return 1 + again\n";

/* KEYS: the partition's hash, its sites' state, its stages 0 and 1, its written sets 0 and 1,
 * and the one written set of the versions before the stages. The generation moves on; the
 * last checkpoint's stage goes into the state and the stage of one not completed goes; the ids
 * written since the last checkpoint go into its set. Returns the generation, the last sequence,
 * the cut (next, done, watermark; "" none), every site's state and the epoch. */
static const char ew_claim_lua[] =
    "local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)\n"
    "local m = redis.call('HMGET', KEYS[1], 'seq', 'next', 'done', 'wm', 'epoch')\n"
    "local e = tonumber(m[5] or '0') % 2\n" EW_LUA_MOVE "move(KEYS[3 + e], KEYS[2], 0)\n"
    "redis.call('DEL', KEYS[4 - e])\n"
    "redis.call('SUNIONSTORE', KEYS[5 + e], KEYS[5], KEYS[6], KEYS[7])\n"
    "redis.call('DEL', KEYS[6 - e], KEYS[7])\n"
    "return {gen, m[1] or '0', m[2] or '', m[3] or '', m[4] or '', redis.call('HGETALL', "
    "KEYS[2]), m[5] or '0'}\n";

enum ew_pending_kind { EW_PENDING_COMMIT, EW_PENDING_CLAIM };

struct ew_pending {
    enum ew_pending_kind kind;
    void *arg;
};

struct ew_sink {
    struct ew_redis *conn;
    const struct ew_opts *opts;
    struct ew_sink_cb cb;
};

/* ---- batches ---- */

#define EW_BATCH_KEEP (1u << 20) /* a batch's memory kept for the next one, at most */

void ew_batch_clear(struct ew_batch *b)
{
    ew_buf_clear(&b->args);
    b->nargs = b->events = 0;
}

void ew_batch_release(struct ew_batch *b)
{
    ew_buf_release(&b->args);
    b->nargs = b->events = 0;
}

bool ew_batch_empty(const struct ew_batch *b)
{
    return !b->nargs;
}

static void ew_batch_arg(struct ew_batch *b, const void *p, size_t n)
{
    uint32_t len = (uint32_t)n;
    ew_buf_add(&b->args, &len, sizeof len);
    ew_buf_add(&b->args, p, n);
    b->nargs++;
}

static void ew_batch_args(struct ew_batch *b, const char *s)
{
    ew_batch_arg(b, s, strlen(s));
}

void ew_batch_event(struct ew_batch *b, const struct ew_sink_event *ev)
{
    char audience[256];
    if (ev->officer)
        snprintf(audience, sizeof audience, "duty");
    else
        snprintf(audience, sizeof audience, "reminders:%s",
                 *ev->enterprise_id ? ev->enterprise_id : "unregistered");
    ew_batch_args(b, "E");
    ew_batch_args(b, ev->id);
    ew_batch_arg(b, ev->json, ev->len);
    ew_batch_args(b, ev->fingerprint);
    ew_batch_args(b, audience);
    ew_batch_args(b, ev->resolved ? "1" : "0");
    ew_batch_args(b, ev->duty_copy && !ev->officer ? "duty" : "");
    b->events++;
}

void ew_batch_state(struct ew_batch *b, const char *mn, const void *blob, size_t len)
{
    ew_batch_args(b, blob ? "S" : "X");
    ew_batch_args(b, mn);
    if (blob)
        ew_batch_arg(b, blob, len);
}

/* The length of the argument at off. */
static uint32_t ew_batch_arglen(const struct ew_batch *b, size_t off)
{
    uint32_t len;
    memcpy(&len, b->args.data + off, sizeof len);
    return len;
}

size_t ew_batch_take_states(struct ew_batch *b, struct ew_batch *from, size_t *off, size_t max)
{
    size_t at = *off, n = 0, nargs = 0;
    while (n < max && at < from->args.len) {
        /* "S", the site, its bytes; or "X", the site */
        size_t k = ew_batch_arglen(from, at) == 1 && from->args.data[at + 4] == 'S' ? 3 : 2;
        for (size_t i = 0; i < k; i++)
            at += sizeof(uint32_t) + ew_batch_arglen(from, at);
        nargs += k;
        n++;
    }
    if (n) {
        ew_buf_add(&b->args, from->args.data + *off, at - *off);
        b->nargs += nargs;
        from->nargs -= nargs; /* it counts those not taken */
    }
    *off = at;
    if (at == from->args.len) {
        ew_batch_release(from);
        *off = 0;
    } else if (at > from->args.len / 2) { /* the rest to the front: what is frozen next fits */
        memmove(from->args.data, from->args.data + at, from->args.len - at);
        from->args.len -= at;
        from->args.data[from->args.len] = '\0';
        *off = 0;
    }
    return n;
}

void ew_batch_merge(struct ew_batch *b, size_t n)
{
    char num[24];
    snprintf(num, sizeof num, "%zu", n);
    ew_batch_args(b, "M");
    ew_batch_args(b, num);
}

void ew_batch_ack(struct ew_batch *b, const char *entry)
{
    ew_batch_args(b, "A");
    ew_batch_args(b, entry);
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

void ew_batch_deadletter(struct ew_batch *b, struct ew_buf *raw, const struct ew_deadletter *dl)
{
    char id[96] = "", off[24], part[24], koff[24];
    /* one message's dead letter is the same when its message is read again */
    if (dl->kafka_offset >= 0)
        snprintf(id, sizeof id, "dl-%lld-%.40s-%zu", (long long)dl->kafka_offset, dl->error,
                 dl->offset);
    snprintf(off, sizeof off, "%zu", dl->offset);
    snprintf(part, sizeof part, "%d", dl->partition);
    snprintf(koff, sizeof koff, "%lld", (long long)dl->kafka_offset);
    bool text = ew_is_text(dl->raw, dl->len);
    ew_buf_clear(raw);
    if (text)
        ew_buf_add(raw, dl->raw, dl->len);
    else
        ew_base64(raw, dl->raw, dl->len);
    ew_batch_args(b, "D");
    ew_batch_args(b, id);
    ew_batch_args(b, dl->reason);
    ew_batch_args(b, dl->error);
    ew_batch_args(b, off);
    ew_batch_args(b, dl->topic);
    ew_batch_args(b, part);
    ew_batch_args(b, koff);
    ew_batch_args(b, text ? "text" : "base64");
    ew_batch_arg(b, raw->err ? "" : raw->data, raw->err ? 0 : raw->len);
    b->events++;
}

/* ---- transactions ---- */

static void ew_sink_key(const struct ew_sink *s, char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s%s", s->opts->redis_prefix, name);
}

/* The integer an EVAL answered, or def. */
static long long ew_reply_int(const redisReply *r, long long def)
{
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return def;
}

static void ew_sink_claimed(struct ew_sink *s, const redisReply *r, void *arg)
{
    const redisReply *sites =
        r->type == REDIS_REPLY_ARRAY && r->elements == 7 ? r->element[5] : NULL;
    if (!sites || sites->type != REDIS_REPLY_ARRAY || sites->elements % 2) {
        ew_log(EW_LOG_ERROR, "redis", "claim: an answer of an unknown shape");
        s->cb.claimed(s->cb.ctx, arg, NULL);
        return;
    }
    size_t n = sites->elements / 2;
    const char **mn = malloc((n ? n : 1) * sizeof *mn), **blob = malloc((n ? n : 1) * sizeof *blob);
    size_t *len = malloc((n ? n : 1) * sizeof *len);
    if (!mn || !blob || !len) {
        ew_log(EW_LOG_ERROR, "redis", "claim: out of memory");
        s->cb.claimed(s->cb.ctx, arg, NULL);
    } else {
        for (size_t i = 0; i < n; i++) {
            mn[i] = sites->element[2 * i]->str;
            blob[i] = sites->element[2 * i + 1]->str;
            len[i] = sites->element[2 * i + 1]->len;
        }
        const redisReply *next = r->element[2], *done = r->element[3], *wm = r->element[4];
        struct ew_claim c = {
            .gen = (uint64_t)ew_reply_int(r->element[0], 0),
            .seq = (uint64_t)ew_reply_int(r->element[1], 0),
            .cut = {.next = next->type == REDIS_REPLY_STRING && next->len
                                ? strtoll(next->str, NULL, 10)
                                : -1,
                    .done = done->type == REDIS_REPLY_STRING ? done->str : "",
                    .donelen = done->type == REDIS_REPLY_STRING ? done->len : 0,
                    .watermark = wm->type == REDIS_REPLY_STRING && wm->len
                                     ? strtoll(wm->str, NULL, 10)
                                     : INT64_MIN},
            .epoch = (uint64_t)ew_reply_int(r->element[6], 0),
            .nsites = n,
            .mn = mn,
            .blob = blob,
            .bloblen = len,
        };
        s->cb.claimed(s->cb.ctx, arg, &c);
    }
    free(mn);
    free(blob);
    free(len);
}

static void ew_sink_on_reply(void *ctx, redisReply *reply, void *arg)
{
    struct ew_sink *s = ctx;
    if (reply->type == REDIS_REPLY_ERROR) /* refused for what it is: it would be again */
        ew_log(EW_LOG_ERROR, "redis", "command refused: %.*s", (int)reply->len, reply->str);
    struct ew_pending *p = arg;
    if (!p)
        return;
    if (p->kind == EW_PENDING_CLAIM) {
        if (reply->type == REDIS_REPLY_ERROR)
            s->cb.claimed(s->cb.ctx, p->arg, NULL);
        else
            ew_sink_claimed(s, reply, p->arg);
    } else {
        long long v = ew_reply_int(reply, EW_COMMIT_REFUSED);
        enum ew_commit_result res = reply->type == REDIS_REPLY_ERROR ? EW_COMMIT_REFUSED
                                    : v > 0                          ? EW_COMMIT_WRITTEN
                                    : v == 0                         ? EW_COMMIT_AGAIN
                                                                     : EW_COMMIT_FENCED;
        s->cb.committed(s->cb.ctx, p->arg, res, v > 1 ? (size_t)(v - 1) : 0);
    }
    free(p);
}

struct ew_sink *ew_sink_new(struct ev_loop *loop, const struct ew_redis_addr *addr,
                            const struct ew_opts *opts, const struct ew_sink_cb *cb)
{
    struct ew_sink *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    *s = (struct ew_sink){.opts = opts, .cb = *cb};
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
    free(s);
}

/* The partition's keys, in ew_claim_lua's order: its hash, its sites' state, its stages 0 and
 * 1, its written sets 0 and 1, the written set of the versions before. */
enum { EW_KEY_PART, EW_KEY_STATE, EW_KEY_STAGE, EW_KEY_WRITTEN = 4, EW_KEY_WRITTEN_OLD = 6 };

static void ew_partition_keys(const struct ew_sink *s, const char *topic, int32_t partition,
                              char keys[7][512])
{
    const char *prefix = s->opts->redis_prefix;
    snprintf(keys[EW_KEY_PART], 512, "%spartition:%s:%d", prefix, topic, partition);
    snprintf(keys[EW_KEY_STATE], 512, "%sstate:%s:%d", prefix, topic, partition);
    for (int i = 0; i < 2; i++) {
        snprintf(keys[EW_KEY_STAGE + i], 512, "%sstage:%s:%d:%d", prefix, topic, partition, i);
        snprintf(keys[EW_KEY_WRITTEN + i], 512, "%swritten:%s:%d:%d", prefix, topic, partition, i);
    }
    snprintf(keys[EW_KEY_WRITTEN_OLD], 512, "%swritten:%s:%d", prefix, topic, partition);
}

/* EVAL script with the keys, the fixed arguments and then the batch's, as one command. */
static int ew_sink_eval(struct ew_sink *s, const char *script, int nkeys, char keys[][512],
                        int nfixed, const char *const *fixed, const size_t *fixedlen,
                        const struct ew_batch *b, struct ew_pending *p)
{
    size_t argc = 3 + (size_t)nkeys + (size_t)nfixed + (b ? b->nargs : 0);
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    char nk[8];
    snprintf(nk, sizeof nk, "%d", nkeys);
    int rc = -1;
    if (argv && lens && !(b && b->args.err)) {
        size_t a = 0;
        argv[a] = "EVAL", lens[a++] = 4;
        argv[a] = script, lens[a++] = strlen(script);
        argv[a] = nk, lens[a++] = strlen(nk);
        for (int i = 0; i < nkeys; i++)
            argv[a] = keys[i], lens[a++] = strlen(keys[i]);
        for (int i = 0; i < nfixed; i++)
            argv[a] = fixed[i], lens[a++] = fixedlen[i];
        for (size_t off = 0; b && off < b->args.len; a++) {
            uint32_t len;
            memcpy(&len, b->args.data + off, sizeof len);
            argv[a] = b->args.data + off + sizeof len;
            lens[a] = len;
            off += sizeof len + len;
        }
        rc = ew_redis_cmd(s->conn, p, (int)argc, argv, lens);
    }
    if (rc)
        ew_log(EW_LOG_ERROR, "redis", "out of memory queueing a transaction");
    free(argv);
    free(lens);
    return rc;
}

int ew_sink_commit(struct ew_sink *s, struct ew_batch *b, const char *topic, int32_t partition,
                   const struct ew_txn *t, void *arg)
{
    struct ew_pending *p = malloc(sizeof *p);
    if (!p)
        return -1;
    *p = (struct ew_pending){EW_PENDING_COMMIT, arg};
    static const struct ew_txn none = {0};
    if (!topic || !t)
        t = &none;
    const struct ew_cut *cut = t->ckpt ? t->cut : NULL;
    char keys[7][512], g[24], q[24], next[24], wm[24], maxlen[24], epoch[24];
    snprintf(g, sizeof g, "%llu", (unsigned long long)t->gen);
    snprintf(q, sizeof q, "%llu", (unsigned long long)t->seq);
    snprintf(epoch, sizeof epoch, "%llu", (unsigned long long)t->epoch + 1);
    next[0] = wm[0] = '\0';
    if (cut && cut->next >= 0)
        snprintf(next, sizeof next, "%lld", (long long)cut->next);
    if (cut && cut->watermark != INT64_MIN)
        snprintf(wm, sizeof wm, "%lld", (long long)cut->watermark);
    snprintf(maxlen, sizeof maxlen, "%lld",
             (long long)(s->opts->redis_stream_maxlen > 0 ? s->opts->redis_stream_maxlen : 0));
    const char *ckpt = t->ckpt == EW_CKPT_STAGED ? "1" : t->ckpt == EW_CKPT_NOW ? "2" : "";
    const char *fixed[9] = {
        g,      q,    next,  cut && cut->done ? cut->done : "", wm, s->opts->redis_prefix,
        maxlen, ckpt, epoch,
    };
    size_t fixedlen[9];
    for (int i = 0; i < 9; i++)
        fixedlen[i] = strlen(fixed[i]);
    fixedlen[3] = cut && cut->done ? cut->donelen : 0;
    int nkeys = 0;
    char order[6][512];
    if (topic) {
        /* ew_commit_lua's: the written set of its ids, the other one, the stage being made,
         * the last checkpoint's */
        ew_partition_keys(s, topic, partition, keys);
        unsigned mine = (unsigned)((t->epoch + t->staging) % 2), last = (unsigned)(t->epoch % 2);
        const int idx[6] = {EW_KEY_PART,
                            EW_KEY_STATE,
                            EW_KEY_WRITTEN + (int)mine,
                            EW_KEY_WRITTEN + (int)!mine,
                            EW_KEY_STAGE + (int)!last,
                            EW_KEY_STAGE + (int)last};
        for (int i = 0; i < 6; i++)
            memcpy(order[i], keys[idx[i]], sizeof order[i]);
        nkeys = 6;
    }
    int rc = ew_sink_eval(s, ew_commit_lua, nkeys, order, 9, fixed, fixedlen, b, p);
    if (rc)
        free(p);
    /* a checkpoint's batch is large and rare: its memory goes back rather than waiting for the
     * next one (the command queued holds a copy until Redis answers) */
    if (b->args.cap > EW_BATCH_KEEP)
        ew_batch_release(b);
    else
        ew_batch_clear(b);
    return rc;
}

int ew_sink_claim(struct ew_sink *s, const char *topic, int32_t partition, void *arg)
{
    struct ew_pending *p = malloc(sizeof *p);
    if (!p)
        return -1;
    *p = (struct ew_pending){EW_PENDING_CLAIM, arg};
    char keys[7][512];
    ew_partition_keys(s, topic, partition, keys);
    int rc = ew_sink_eval(s, ew_claim_lua, 7, keys, 0, NULL, NULL, NULL, p);
    if (rc)
        free(p);
    return rc;
}

void ew_sink_ack_entry(struct ew_sink *s, const char *entry)
{
    char key[128];
    ew_sink_key(s, key, sizeof key, "acks");
    const char *argv[4] = {"XACK", key, "ecowarnd", entry};
    size_t lens[4] = {4, strlen(key), 8, strlen(entry)};
    if (ew_redis_cmd(s->conn, NULL, 4, argv, lens))
        ew_log(EW_LOG_ERROR, "redis", "out of memory queueing a command");
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
