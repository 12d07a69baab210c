/*
 * ew_split.c - reassembling split packets (see ew_split.h).
 */
#include "ew_split.h"

#include "ew_alloc.h"
#include "ew_buf.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct ew_part {
    char *bytes; /* NULL while missing */
    size_t len;
    uint64_t tag;
};

struct ew_group {
    char key[160];
    int pnum, have;
    int64_t started;
    struct ew_part *parts;
};

struct ew_split {
    struct ew_group *groups;
    size_t n, cap;
    int64_t timeout;
    struct ew_hj212_opts opts;
    struct ew_record *tmp;
};

struct ew_split *ew_split_new(size_t max_groups, int64_t timeout_ms,
                              const struct ew_hj212_opts *opts)
{
    struct ew_split *s = ew_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->groups = ew_calloc(max_groups ? max_groups : 1, sizeof *s->groups);
    s->tmp = ew_record_new();
    if (!s->groups || !s->tmp) {
        ew_split_free(s);
        return NULL;
    }
    s->cap = max_groups ? max_groups : 1;
    s->timeout = timeout_ms;
    if (opts)
        s->opts = *opts;
    return s;
}

static void ew_group_release(struct ew_group *g)
{
    for (int i = 0; g->parts && i < g->pnum; i++)
        ew_free(g->parts[i].bytes);
    ew_free(g->parts);
    memset(g, 0, sizeof *g);
}

void ew_split_free(struct ew_split *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        ew_group_release(&s->groups[i]);
    ew_free(s->groups);
    ew_record_free(s->tmp);
    ew_free(s);
}

size_t ew_split_pending(const struct ew_split *s)
{
    return s->n;
}

/* Hands the group's parts to drop (PNO order, one per line) and removes it. */
static void ew_group_drop(struct ew_split *s, size_t i, const char *why, ew_split_drop_fn drop,
                          void *ctx)
{
    struct ew_group *g = &s->groups[i];
    struct ew_buf b = EW_BUF_INIT;
    uint64_t tags[EW_SPLIT_MAX_PARTS];
    size_t ntags = 0;
    for (int k = 0; k < g->pnum; k++)
        if (g->parts[k].bytes) {
            ew_buf_add(&b, g->parts[k].bytes, g->parts[k].len);
            ew_buf_addc(&b, '\n');
            tags[ntags++] = g->parts[k].tag;
        }
    char reason[200];
    snprintf(reason, sizeof reason, "%s (%d of %d parts)", why, g->have, g->pnum);
    if (drop)
        drop(ctx, reason, b.data ? b.data : "", b.err ? 0 : b.len, tags, ntags);
    ew_buf_release(&b);
    ew_group_release(g);
    s->groups[i] = s->groups[--s->n]; /* order among groups does not matter */
}

void ew_split_expire(struct ew_split *s, int64_t now, ew_split_drop_fn drop, void *ctx)
{
    for (size_t i = s->n; i-- > 0;)
        if (now - s->groups[i].started > s->timeout)
            ew_group_drop(s, i, "split packet incomplete after the timeout", drop, ctx);
}

size_t ew_split_forget(struct ew_split *s, bool (*which)(void *ctx, uint64_t tag),
                       void (*release)(void *ctx, uint64_t tag), void *ctx)
{
    size_t n = 0;
    for (size_t i = s->n; i-- > 0;) {
        struct ew_group *g = &s->groups[i];
        int k = 0;
        while (k < g->pnum && !g->parts[k].bytes)
            k++;
        if (k == g->pnum || !which(ctx, g->parts[k].tag))
            continue;
        for (k = 0; k < g->pnum; k++)
            if (g->parts[k].bytes)
                release(ctx, g->parts[k].tag);
        ew_group_release(g);
        s->groups[i] = s->groups[--s->n];
        n++;
    }
    return n;
}

/* Appends the values of part into out, copying their text into out's arena. */
static int ew_split_append(struct ew_record *out, const struct ew_record *part)
{
    for (size_t i = 0; i < part->nvalues; i++) {
        if (out->nvalues == EW_RECORD_MAX_VALUES)
            return EW_ETOO_LONG;
        const struct ew_value *v = &part->values[i];
        struct ew_value *o = &out->values[out->nvalues];
        *o = *v;
        o->code = ew_record_strndup(out, v->code, strlen(v->code));
        o->field_name = ew_record_strndup(out, v->field_name, strlen(v->field_name));
        o->text = ew_record_strndup(out, v->text, strlen(v->text));
        o->eflag = v->eflag ? ew_record_strndup(out, v->eflag, strlen(v->eflag)) : NULL;
        o->pol = v->pol ? ew_record_strndup(out, v->pol, strlen(v->pol)) : NULL;
        if (!o->code || !o->field_name || !o->text || (v->eflag && !o->eflag) ||
            (v->pol && !o->pol))
            return EW_ETOO_LONG;
        out->nvalues++;
    }
    return 0;
}

int ew_split_add(struct ew_split *s, const struct ew_record *part, const void *bytes, size_t len,
                 uint64_t tag, int64_t now, struct ew_record *out,
                 uint64_t tags[EW_SPLIT_MAX_PARTS], size_t *ntags, struct ew_error *err,
                 ew_split_drop_fn drop, void *ctx)
{
    if (part->pnum < 2 || part->pnum > EW_SPLIT_MAX_PARTS || part->pno < 1 ||
        part->pno > part->pnum)
        return ew_error_set(err, EW_EINVAL, 0, "split packet: PNO %d of PNUM %d out of range",
                            part->pno, part->pnum);
    char key[160];
    char when[24] = "";
    if (!part->qn && part->has_time)
        snprintf(when, sizeof when, "%lld", (long long)part->data_time);
    snprintf(key, sizeof key, "%s\x1f%s\x1f%s", part->mn, part->cn, part->qn ? part->qn : when);
    size_t gi = 0;
    while (gi < s->n && strcmp(s->groups[gi].key, key))
        gi++;
    if (gi == s->n) {
        if (s->n == s->cap) { /* full: the oldest group goes */
            size_t oldest = 0;
            for (size_t i = 1; i < s->n; i++)
                if (s->groups[i].started < s->groups[oldest].started)
                    oldest = i;
            ew_group_drop(s, oldest, "split packet pushed out by newer ones", drop, ctx);
            gi = s->n;
        }
        struct ew_group *g = &s->groups[gi];
        memset(g, 0, sizeof *g);
        if (!(g->parts = ew_calloc((size_t)part->pnum, sizeof *g->parts)))
            return ew_error_set(err, EW_ENOMEM, 0, "out of memory");
        snprintf(g->key, sizeof g->key, "%s", key);
        g->pnum = part->pnum;
        g->started = now;
        s->n++;
    }
    struct ew_group *g = &s->groups[gi];
    if (g->pnum != part->pnum)
        return ew_error_set(err, EW_EINVAL, 0, "split packet: PNUM %d, its group has %d",
                            part->pnum, g->pnum);
    struct ew_part *p = &g->parts[part->pno - 1];
    if (p->bytes)
        return ew_error_set(err, EW_EINVAL, 0, "split packet: PNO %d of %d came twice", part->pno,
                            part->pnum);
    if (!(p->bytes = ew_malloc(len ? len : 1)))
        return ew_error_set(err, EW_ENOMEM, 0, "out of memory");
    memcpy(p->bytes, bytes, len);
    p->len = len;
    p->tag = tag;
    if (++g->have < g->pnum)
        return 0;
    /* complete: the first part's header, every part's values, in PNO order */
    int rc = ew_hj212_decode(g->parts[0].bytes, g->parts[0].len, &s->opts, out, err);
    for (int k = 1; !rc && k < g->pnum; k++) {
        rc = ew_hj212_decode(g->parts[k].bytes, g->parts[k].len, &s->opts, s->tmp, err);
        if (!rc && (rc = ew_split_append(out, s->tmp)))
            ew_error_set(err, rc, 0, "split packet: the parts hold more than one record can");
    }
    out->pnum = out->pno = -1;
    *ntags = 0;
    for (int k = 0; k < g->pnum; k++)
        tags[(*ntags)++] = g->parts[k].tag;
    ew_group_release(g);
    s->groups[gi] = s->groups[--s->n];
    return rc ? rc : 1;
}
