/*
 * ew_hold.c - records held back so that they are judged in event-time order (the engine's
 * reorder option): taken out by data time, then arrival.
 *
 * Most records come in order (a partition's real-time data): a record no older than the last
 * one queued in order joins the end of a ring, which stays sorted; an older one (a minute or
 * hourly packet, which comes after its period) goes into a min-heap, which therefore stays
 * small. The earliest held record is the earlier of the ring's head and the heap's top. Both
 * keep each record's (time, seq) beside its slot's number, so ordering reads no slot.
 *
 * A held record keeps only what the rules read: its identity, kind, time and numeric values (16
 * bytes each), packed into a buffer of its slot that is as large as the largest record it held
 * (rounded up to 32 bytes, not doubled: at 200,000 outlets a minute of records is held). Slots
 * and their buffers are reused, so once the queue has been as deep as it gets, holding a record
 * seldom allocates. A value's code and field name are packed only when they are not the
 * pollutant table's and the field table's own strings (an unknown code or field): under a
 * backlog nearly every record passes through here.
 */
#include "ew_hold.h"

#include "ew_alloc.h"
#include "ew_error.h"

#include <string.h>

struct ew_held_hdr {
    int64_t data_time;
    int32_t flag;
    uint32_t nvalues;
    uint8_t kind, version;
};

/* A numeric value in 16 bytes: its pollutant by its row in the table (ew_pollutant_at). */
struct ew_held_val {
    double num;
    uint16_t pollutant; /* EW_HELD_UNKNOWN: none (an unknown code) */
    uint8_t field, flag_meaning;
    char flag;
    uint8_t packed; /* which of its strings follow it */
};

enum { EW_HELD_CODE = 1, EW_HELD_FIELD = 2, EW_HELD_UNKNOWN = 0xFFFF };

static uint8_t ew_held_strings(const struct ew_value *v)
{
    return (uint8_t)((v->pollutant && v->code == v->pollutant->code ? 0 : EW_HELD_CODE) |
                     (v->field != EW_FIELD_OTHER ? 0 : EW_HELD_FIELD));
}

/* s (n bytes and its NUL) at w; returns the end. */
static char *ew_put_str(char *w, const char *s, size_t n)
{
    memcpy(w, s, n + 1);
    return w + n + 1;
}

static bool ew_key_before(const struct ew_hkey *x, const struct ew_hkey *y)
{
    return x->time != y->time ? x->time < y->time : x->seq < y->seq;
}

static void ew_sift_down(struct ew_holdq *q, size_t i)
{
    struct ew_hkey *h = q->heap, k = h[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = l;
        if (l >= q->nheap)
            break;
        if (r < q->nheap && ew_key_before(&h[r], &h[l]))
            m = r;
        if (!ew_key_before(&h[m], &k))
            break;
        h[i] = h[m];
        i = m;
    }
    h[i] = k;
}

static void ew_sift_up(struct ew_holdq *q, size_t i)
{
    struct ew_hkey *h = q->heap, k = h[i];
    while (i && ew_key_before(&k, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = k;
}

static struct ew_hkey *ew_run_at(const struct ew_holdq *q, size_t i)
{
    size_t at = q->head + i;
    return &q->run[at < q->cap ? at : at - q->cap];
}

/* The earliest key: the ring's head or the heap's top; *from_run says which. NULL: none. */
static const struct ew_hkey *ew_hold_first(const struct ew_holdq *q, bool *from_run)
{
    const struct ew_hkey *r = q->nrun ? &q->run[q->head] : NULL;
    const struct ew_hkey *h = q->nheap ? &q->heap[0] : NULL;
    *from_run = r && (!h || ew_key_before(r, h));
    return *from_run ? r : h;
}

/* The record into b, its size reserved at once. */
static void ew_pack(struct ew_buf *b, const struct ew_record *rec)
{
    struct ew_held_hdr h = {
        .data_time = rec->data_time, .flag = rec->flag, .kind = rec->kind, .version = rec->version};
    size_t lmn = strlen(rec->mn), lst = strlen(rec->st), lcn = strlen(rec->cn);
    size_t need = sizeof h + lmn + lst + lcn + 3;
    for (size_t i = 0; i < rec->nvalues; i++) {
        const struct ew_value *v = &rec->values[i];
        if (v->type != EW_VT_NUMBER)
            continue;
        h.nvalues++;
        uint8_t packed = ew_held_strings(v);
        need += sizeof(struct ew_held_val) + (packed & EW_HELD_CODE ? strlen(v->code) + 1 : 0) +
                (packed & EW_HELD_FIELD ? strlen(v->field_name) + 1 : 0);
    }
    ew_buf_clear(b);
    if (!ew_buf_reserve_fit(b, need))
        return;
    const struct ew_pollutant *rows = ew_pollutant_at(0);
    char *w = b->data;
    memcpy(w, &h, sizeof h);
    w = ew_put_str(w + sizeof h, rec->mn, lmn);
    w = ew_put_str(w, rec->st, lst);
    w = ew_put_str(w, rec->cn, lcn);
    for (size_t i = 0; i < rec->nvalues; i++) {
        const struct ew_value *v = &rec->values[i];
        if (v->type != EW_VT_NUMBER)
            continue;
        struct ew_held_val hv = {.num = v->num,
                                 .pollutant = v->pollutant ? (uint16_t)(v->pollutant - rows)
                                                           : EW_HELD_UNKNOWN,
                                 .field = v->field,
                                 .flag_meaning = v->flag_meaning,
                                 .flag = v->flag,
                                 .packed = ew_held_strings(v)};
        memcpy(w, &hv, sizeof hv);
        w += sizeof hv;
        if (hv.packed & EW_HELD_CODE)
            w = ew_put_str(w, v->code, strlen(v->code));
        if (hv.packed & EW_HELD_FIELD)
            w = ew_put_str(w, v->field_name, strlen(v->field_name));
    }
    b->len = need;
    b->data[need] = '\0';
}

/* Doubles the slots (ew_realloc: a large array's pages move, they are not copied). Each array
 * is kept as soon as it is grown, so that a failure leaves the queue as it was, only larger;
 * the ring's part that had wrapped round to the front goes on after its old end. */
static int ew_hold_grow(struct ew_holdq *q)
{
    size_t cap = q->cap ? 2 * q->cap : 64;
    struct ew_held *slots = ew_realloc(q->slots, q->nslots * sizeof *slots, cap * sizeof *slots);
    if (!slots)
        return EW_ENOMEM;
    q->slots = slots;
    struct ew_hkey *heap = ew_realloc(q->heap, q->nheap * sizeof *heap, cap * sizeof *heap);
    if (!heap)
        return EW_ENOMEM;
    q->heap = heap;
    uint32_t *spare = ew_realloc(q->spare, q->nspare * sizeof *spare, cap * sizeof *spare);
    if (!spare)
        return EW_ENOMEM;
    q->spare = spare;
    struct ew_hkey *run = ew_realloc(q->run, q->cap * sizeof *run, cap * sizeof *run);
    if (!run)
        return EW_ENOMEM;
    size_t wrapped = q->head + q->nrun > q->cap ? q->head + q->nrun - q->cap : 0;
    memcpy(run + q->cap, run, wrapped * sizeof *run);
    q->run = run;
    q->cap = cap;
    return 0;
}

int ew_hold_push(struct ew_holdq *q, const struct ew_record *rec, int64_t now, uint64_t tag,
                 int64_t before, uint32_t site)
{
    uint32_t slot;
    if (q->nspare) {
        slot = q->spare[--q->nspare];
    } else {
        if (q->nslots == q->cap && ew_hold_grow(q))
            return EW_ENOMEM;
        slot = (uint32_t)q->nslots++;
        q->slots[slot].blob = (struct ew_buf)EW_BUF_INIT;
    }
    struct ew_held *h = &q->slots[slot];
    ew_pack(&h->blob, rec);
    if (h->blob.err) {
        ew_buf_release(&h->blob);
        q->spare[q->nspare++] = slot;
        return EW_ENOMEM;
    }
    h->time = rec->data_time;
    h->arrived = now;
    h->seq = q->seq++;
    h->tag = tag;
    h->before = before;
    h->site = site;
    struct ew_hkey k = {h->time, h->seq, slot};
    q->n++;
    if (!q->nrun || h->time >= ew_run_at(q, q->nrun - 1)->time) {
        *ew_run_at(q, q->nrun++) = k; /* in order: after the ring's last, whose seq is lower */
    } else {
        q->heap[q->nheap] = k;
        ew_sift_up(q, q->nheap++);
    }
    return 0;
}

const struct ew_held *ew_hold_top(const struct ew_holdq *q)
{
    bool from_run;
    const struct ew_hkey *k = ew_hold_first(q, &from_run);
    return k ? &q->slots[k->slot] : NULL;
}

/* The string at *p; *p moves past it. */
static const char *ew_next_str(const char **p)
{
    const char *s = *p;
    *p += strlen(s) + 1;
    return s;
}

uint64_t ew_hold_pop(struct ew_holdq *q, struct ew_record *rec, int64_t *before)
{
    bool from_run;
    uint32_t slot = ew_hold_first(q, &from_run)->slot;
    if (from_run) {
        q->head = q->head + 1 == q->cap ? 0 : q->head + 1;
        q->nrun--;
    } else {
        q->heap[0] = q->heap[--q->nheap];
        ew_sift_down(q, 0);
    }
    q->n--;
    *before = q->slots[slot].before;
    q->spare[q->nspare++] = slot;
    /* unpack: the strings stay in the slot's buffer until it is reused by the next push */
    const char *p = q->slots[slot].blob.data;
    struct ew_held_hdr h;
    memcpy(&h, p, sizeof h);
    p += sizeof h;
    ew_record_reset(rec);
    rec->data_time = h.data_time;
    rec->has_time = true;
    rec->flag = h.flag;
    rec->pnum = rec->pno = -1;
    rec->kind = h.kind;
    rec->version = h.version;
    rec->mn = ew_next_str(&p);
    rec->st = ew_next_str(&p);
    rec->cn = ew_next_str(&p);
    const struct ew_pollutant *rows = ew_pollutant_at(0);
    for (uint32_t i = 0; i < h.nvalues; i++) {
        struct ew_held_val hv;
        memcpy(&hv, p, sizeof hv);
        p += sizeof hv;
        struct ew_value *v = &rec->values[rec->nvalues++];
        memset(v, 0, sizeof *v);
        v->num = hv.num;
        v->pollutant = hv.pollutant == EW_HELD_UNKNOWN ? NULL : rows + hv.pollutant;
        v->field = hv.field;
        v->type = EW_VT_NUMBER;
        v->flag_meaning = hv.flag_meaning;
        v->flag = hv.flag;
        v->code = hv.packed & EW_HELD_CODE ? ew_next_str(&p) : v->pollutant->code;
        v->field_name = hv.packed & EW_HELD_FIELD ? ew_next_str(&p) : ew_field_name(v->field);
        v->text = "";
    }
    return q->slots[slot].tag;
}

const char *ew_held_mn(const struct ew_held *h)
{
    return h->blob.data + sizeof(struct ew_held_hdr);
}

/* Keeps in place, in their order, the keys of keys[0..n) whose records drop does not take;
 * returns how many are kept. */
static size_t ew_hold_filter(struct ew_holdq *q,
                             struct ew_hkey *(*at)(const struct ew_holdq *, size_t), size_t n,
                             bool (*drop)(void *ctx, const struct ew_held *h), void *ctx)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        struct ew_hkey k = *at(q, i);
        if (drop(ctx, &q->slots[k.slot]))
            q->spare[q->nspare++] = k.slot;
        else
            *at(q, kept++) = k;
    }
    return kept;
}

static struct ew_hkey *ew_heap_at(const struct ew_holdq *q, size_t i)
{
    return &q->heap[i];
}

size_t ew_hold_drop(struct ew_holdq *q, bool (*drop)(void *ctx, const struct ew_held *h), void *ctx)
{
    size_t before = q->n;
    q->nrun = ew_hold_filter(q, ew_run_at, q->nrun, drop, ctx); /* still in order */
    q->nheap = ew_hold_filter(q, ew_heap_at, q->nheap, drop, ctx);
    for (size_t i = q->nheap / 2; i-- > 0;) /* the heap again, bottom up */
        ew_sift_down(q, i);
    q->n = q->nrun + q->nheap;
    return before - q->n;
}

void ew_hold_release(struct ew_holdq *q)
{
    for (size_t i = 0; i < q->nslots; i++)
        ew_buf_release(&q->slots[i].blob);
    ew_free(q->slots);
    ew_free(q->run);
    ew_free(q->heap);
    ew_free(q->spare);
    memset(q, 0, sizeof *q);
}
