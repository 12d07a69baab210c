/*
 * ew_hold.c - records held back so that they are judged in event-time order (the engine's
 * reorder option): a min-heap by data time, then arrival.
 *
 * A held record keeps only what the rules read: its identity, kind, time and numeric values,
 * packed into a buffer of its slot. Slots and their buffers are reused, so once the queue has
 * been as deep as it gets, holding a record allocates nothing. A value's code and field name are
 * packed only when they are not the pollutant table's and the field table's own strings (an
 * unknown code or field): under a backlog nearly every record passes through here.
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

struct ew_held_val {
    double num;
    const struct ew_pollutant *pollutant;
    uint8_t field, type, flag_meaning;
    char flag;
    uint8_t packed; /* which of its strings follow it */
};

enum { EW_HELD_CODE = 1, EW_HELD_FIELD = 2 };

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

static bool ew_held_before(const struct ew_holdq *q, uint32_t a, uint32_t b)
{
    const struct ew_held *x = &q->slots[a], *y = &q->slots[b];
    return x->time != y->time ? x->time < y->time : x->seq < y->seq;
}

static void ew_heap_swap(uint32_t *h, size_t i, size_t j)
{
    uint32_t t = h[i];
    h[i] = h[j];
    h[j] = t;
}

static void ew_sift_down(struct ew_holdq *q, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < q->n && ew_held_before(q, q->heap[l], q->heap[m]))
            m = l;
        if (r < q->n && ew_held_before(q, q->heap[r], q->heap[m]))
            m = r;
        if (m == i)
            return;
        ew_heap_swap(q->heap, i, m);
        i = m;
    }
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
    if (!ew_buf_reserve(b, need))
        return;
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
                                 .pollutant = v->pollutant,
                                 .field = v->field,
                                 .type = v->type,
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

/* Doubles the slots (the allocator has no realloc: new arrays, copied). */
static int ew_hold_grow(struct ew_holdq *q)
{
    size_t cap = q->cap ? 2 * q->cap : 64;
    struct ew_held *slots = ew_malloc(cap * sizeof *slots);
    uint32_t *heap = ew_malloc(cap * sizeof *heap);
    uint32_t *spare = ew_malloc(cap * sizeof *spare);
    if (!slots || !heap || !spare) {
        ew_free(slots);
        ew_free(heap);
        ew_free(spare);
        return EW_ENOMEM;
    }
    if (q->cap) {
        memcpy(slots, q->slots, q->nslots * sizeof *slots);
        memcpy(heap, q->heap, q->n * sizeof *heap);
        memcpy(spare, q->spare, q->nspare * sizeof *spare);
    }
    ew_free(q->slots);
    ew_free(q->heap);
    ew_free(q->spare);
    q->slots = slots;
    q->heap = heap;
    q->spare = spare;
    q->cap = cap;
    return 0;
}

int ew_hold_push(struct ew_holdq *q, const struct ew_record *rec, int64_t now, uint64_t tag,
                 int64_t before)
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
    size_t i = q->n++;
    q->heap[i] = slot;
    while (i && ew_held_before(q, q->heap[i], q->heap[(i - 1) / 2])) {
        ew_heap_swap(q->heap, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return 0;
}

const struct ew_held *ew_hold_top(const struct ew_holdq *q)
{
    return q->n ? &q->slots[q->heap[0]] : NULL;
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
    uint32_t slot = q->heap[0];
    *before = q->slots[slot].before;
    q->heap[0] = q->heap[--q->n];
    ew_sift_down(q, 0);
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
    for (uint32_t i = 0; i < h.nvalues; i++) {
        struct ew_held_val hv;
        memcpy(&hv, p, sizeof hv);
        p += sizeof hv;
        struct ew_value *v = &rec->values[rec->nvalues++];
        memset(v, 0, sizeof *v);
        v->num = hv.num;
        v->pollutant = hv.pollutant;
        v->field = hv.field;
        v->type = hv.type;
        v->flag_meaning = hv.flag_meaning;
        v->flag = hv.flag;
        v->code = hv.packed & EW_HELD_CODE ? ew_next_str(&p) : hv.pollutant->code;
        v->field_name = hv.packed & EW_HELD_FIELD ? ew_next_str(&p) : ew_field_name(v->field);
        v->text = "";
    }
    return q->slots[slot].tag;
}

const char *ew_held_mn(const struct ew_held *h)
{
    return h->blob.data + sizeof(struct ew_held_hdr);
}

size_t ew_hold_drop(struct ew_holdq *q, bool (*drop)(void *ctx, const struct ew_held *h), void *ctx)
{
    size_t kept = 0, dropped = 0;
    for (size_t i = 0; i < q->n; i++) {
        uint32_t slot = q->heap[i];
        if (drop(ctx, &q->slots[slot])) {
            q->spare[q->nspare++] = slot;
            dropped++;
        } else {
            q->heap[kept++] = slot;
        }
    }
    q->n = kept;
    for (size_t i = kept / 2; i-- > 0;) /* the heap again, bottom up */
        ew_sift_down(q, i);
    return dropped;
}

void ew_hold_release(struct ew_holdq *q)
{
    for (size_t i = 0; i < q->nslots; i++)
        ew_buf_release(&q->slots[i].blob);
    ew_free(q->slots);
    ew_free(q->heap);
    ew_free(q->spare);
    memset(q, 0, sizeof *q);
}
