/*
 * ew_clock.c - the engine's clock (see ew_clock.h). Sources are few (the partitions this
 * member reads): a small array, searched in order.
 */
#include "ew_clock.h"

#include "ew_alloc.h"
#include "ew_time.h"

#include <string.h>

struct ew_source {
    int topic;
    int32_t partition;
    int64_t mark;   /* newest data time, INT64_MIN before any */
    int64_t active; /* processing time of its last record */
    bool idle;      /* as the last ew_clock_now found it; a record makes it active again */
};

struct ew_clock {
    int64_t idle_ms;
    struct ew_source *src;
    size_t n, cap;
};

struct ew_clock *ew_clock_new(int64_t idle_ms)
{
    struct ew_clock *c = ew_calloc(1, sizeof *c);
    if (c)
        c->idle_ms = idle_ms;
    return c;
}

void ew_clock_free(struct ew_clock *c)
{
    if (c)
        ew_free(c->src);
    ew_free(c);
}

static struct ew_source *ew_source_find(struct ew_clock *c, int topic, int32_t partition)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->src[i].topic == topic && c->src[i].partition == partition)
            return &c->src[i];
    return NULL;
}

int ew_clock_assign(struct ew_clock *c, int topic, int32_t partition)
{
    struct ew_source *s = ew_source_find(c, topic, partition);
    if (s)
        return 0; /* it goes on with its watermark */
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        struct ew_source *grown = ew_grow(c->src, c->n, cap, sizeof *grown);
        if (!grown)
            return -1;
        c->src = grown;
        c->cap = cap;
    }
    c->src[c->n++] = (struct ew_source){topic, partition, INT64_MIN, INT64_MIN, false};
    return 0;
}

void ew_clock_revoke(struct ew_clock *c, int topic, int32_t partition)
{
    struct ew_source *s = ew_source_find(c, topic, partition);
    if (s)
        *s = c->src[--c->n];
}

void ew_clock_observe(struct ew_clock *c, int topic, int32_t partition, int64_t t, int64_t now)
{
    struct ew_source *s = ew_source_find(c, topic, partition);
    if (!s && (ew_clock_assign(c, topic, partition) || !(s = ew_source_find(c, topic, partition))))
        return; /* no memory: the record does not move the clock */
    s->active = now;
    s->idle = false;
    if (t > s->mark && t <= now + EW_CLOCK_AHEAD_MS)
        s->mark = t;
}

int64_t ew_clock_mark(struct ew_clock *c, int topic, int32_t partition)
{
    const struct ew_source *s = ew_source_find(c, topic, partition);
    return s ? s->mark : INT64_MIN;
}

void ew_clock_restore(struct ew_clock *c, int topic, int32_t partition, int64_t mark, int64_t now)
{
    struct ew_source *s = ew_source_find(c, topic, partition);
    if (s && mark != INT64_MIN && mark > s->mark) {
        s->mark = mark;
        s->active = now;
        s->idle = false;
    }
}

int64_t ew_clock_current(const struct ew_clock *c)
{
    int64_t low = INT64_MAX, high = INT64_MIN;
    for (size_t i = 0; i < c->n; i++) {
        const struct ew_source *s = &c->src[i];
        if (s->mark == INT64_MIN) {
            if (!s->idle)
                return INT64_MIN; /* its first data may be older than everyone's: none yet */
            continue;
        }
        if (s->mark > high)
            high = s->mark;
        if (!s->idle && s->mark < low)
            low = s->mark;
    }
    return low != INT64_MAX ? low : high; /* every one idle: the newest of all */
}

int64_t ew_clock_now(struct ew_clock *c, int64_t now, ew_clock_caught_up_fn caught_up, void *ctx)
{
    for (size_t i = 0; i < c->n; i++) {
        struct ew_source *s = &c->src[i];
        bool end = !caught_up || caught_up(ctx, s->topic, s->partition);
        /* without data: nothing to wait for once its end is known and reached */
        s->idle = end && (s->mark == INT64_MIN || now - s->active >= c->idle_ms);
    }
    return ew_clock_current(c);
}

void ew_clock_stats(const struct ew_clock *c, struct ew_clock_stats *out)
{
    *out = (struct ew_clock_stats){.sources = c->n};
    for (size_t i = 0; i < c->n; i++) {
        if (c->src[i].mark == INT64_MIN) {
            out->awaited += !c->src[i].idle;
            continue;
        }
        if (c->src[i].idle)
            out->idle++;
        else
            out->holding++;
    }
}
