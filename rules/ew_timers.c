/* ew_timers.c - the engine's event-time timers (see ew_timers.h): a binary min-heap by due
 * time, then site number, so that timers due together fire in one order whatever the order
 * they were pushed in. */
#include "ew_timers.h"

#include "ew_alloc.h"
#include "ew_error.h"

#include <stdbool.h>
#include <string.h>

static bool ew_timer_before(const struct ew_timer *a, const struct ew_timer *b)
{
    return a->due < b->due || (a->due == b->due && a->site < b->site);
}

int ew_timers_push(struct ew_timers *t, int64_t due, uint32_t site)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        struct ew_timer *h = ew_calloc(cap, sizeof *h);
        if (!h)
            return EW_ENOMEM;
        if (t->n)
            memcpy(h, t->heap, t->n * sizeof *h);
        ew_free(t->heap);
        t->heap = h;
        t->cap = cap;
    }
    struct ew_timer x = {due, site};
    size_t i = t->n++;
    while (i && ew_timer_before(&x, &t->heap[(i - 1) / 2])) {
        t->heap[i] = t->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    t->heap[i] = x;
    return 0;
}

const struct ew_timer *ew_timers_top(const struct ew_timers *t)
{
    return t->n ? &t->heap[0] : NULL;
}

void ew_timers_pop(struct ew_timers *t)
{
    if (!t->n)
        return;
    struct ew_timer x = t->heap[--t->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= t->n)
            break;
        if (c + 1 < t->n && ew_timer_before(&t->heap[c + 1], &t->heap[c]))
            c++;
        if (!ew_timer_before(&t->heap[c], &x))
            break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (t->n)
        t->heap[i] = x;
}

void ew_timers_clear(struct ew_timers *t)
{
    t->n = 0;
}

void ew_timers_release(struct ew_timers *t)
{
    ew_free(t->heap);
    *t = (struct ew_timers){0};
}
