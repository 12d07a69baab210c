/*
 * ew_enterprise.c - what the e-enterprise platform says beside outlets (ew_registry.h):
 * facilities and emergency plans by MN, declarations and deadlines by enterprise, weather
 * warnings by region, and each enterprise's anchor site.
 *
 * Each table is a string-keyed open-addressing table of bags, a bag an array of fixed-size
 * items (the structs of ew_registry.h, strings inside them), so that an item is found with one
 * hash and a short scan and replacing one is a copy. Every kind is bounded by EW_REG_MAX_ITEMS.
 */
#include "ew_registry.h"

#include "ew_alloc.h"
#include "ew_hash.h"
#include "ew_error.h"
#include "ew_registry_int.h"

#include <math.h>
#include <string.h>

struct ew_bag {
    char key[EW_REG_ID_MAX]; /* "" : an empty slot */
    size_t n, cap;
    unsigned char *items;
};

struct ew_bagtab {
    struct ew_bag *slots;
    size_t nslots, used, items, size; /* size: of one item */
};

/* What an enterprise is: its anchor (smallest MN of its outlets) and how many plans it has. */
struct ew_ent {
    char anchor[EW_REG_ID_MAX];
    uint32_t plans;
};

enum { EW_T_FAC, EW_T_PLAN, EW_T_DECL, EW_T_DEAD, EW_T_WARN, EW_T_ENT, EW_T_RESP, EW_T_COUNT };

struct ew_bags {
    struct ew_bagtab t[EW_T_COUNT];
    uint64_t version;
    uint64_t responses;      /* stored so far */
    struct ew_response last; /* the last one stored */
};

static const size_t ew_item_size[EW_T_COUNT] = {
    sizeof(struct ew_facility), sizeof(struct ew_emergency), sizeof(struct ew_declaration),
    sizeof(struct ew_deadline), sizeof(struct ew_warning),   sizeof(struct ew_ent),
    sizeof(struct ew_response)};

struct ew_bags *ew_bags_new(void)
{
    struct ew_bags *b = ew_calloc(1, sizeof *b);
    for (int i = 0; b && i < EW_T_COUNT; i++)
        b->t[i].size = ew_item_size[i];
    return b;
}

void ew_bags_free(struct ew_bags *b)
{
    if (!b)
        return;
    for (int i = 0; i < EW_T_COUNT; i++) {
        for (size_t s = 0; s < b->t[i].nslots; s++)
            ew_free(b->t[i].slots[s].items);
        ew_free(b->t[i].slots);
    }
    ew_free(b);
}

/* The slot of key: its bag, or the empty slot where it goes. */
static struct ew_bag *ew_bag_slot(const struct ew_bagtab *t, const char *key)
{
    size_t mask = t->nslots - 1, i = (size_t)ew_str_hash(key) & mask;
    while (t->slots[i].key[0] && strcmp(t->slots[i].key, key))
        i = (i + 1) & mask;
    return &t->slots[i];
}

static const struct ew_bag *ew_bag_find(const struct ew_bagtab *t, const char *key)
{
    if (!t->nslots || !key)
        return NULL;
    const struct ew_bag *b = ew_bag_slot(t, key);
    return b->key[0] ? b : NULL;
}

static int ew_bagtab_grow(struct ew_bagtab *t)
{
    size_t n = t->nslots ? t->nslots * 2 : 64;
    struct ew_bag *old = t->slots, *slots = ew_calloc(n, sizeof *slots);
    if (!slots)
        return EW_ENOMEM;
    size_t oldn = t->nslots;
    t->slots = slots;
    t->nslots = n;
    for (size_t i = 0; i < oldn; i++)
        if (old[i].key[0])
            *ew_bag_slot(t, old[i].key) = old[i];
    ew_free(old);
    return 0;
}

/* Puts item into key's bag: over the item `same` says is the same one, else at the end. */
static int ew_bag_put(struct ew_bags *bags, int ti, const char *key, const void *item,
                      bool (*same)(const void *a, const void *b))
{
    struct ew_bagtab *t = &bags->t[ti];
    if (!key || !*key || strlen(key) >= EW_REG_ID_MAX)
        return EW_EINVAL;
    /* at most three quarters full: nothing is taken out of a table, so no probe runs long */
    if ((t->used + 1) * 4 > t->nslots * 3 && ew_bagtab_grow(t))
        return EW_ENOMEM;
    struct ew_bag *b = ew_bag_slot(t, key);
    for (size_t i = 0; b->key[0] && i < b->n; i++) {
        unsigned char *it = b->items + i * t->size;
        if (same(it, item)) {
            memcpy(it, item, t->size);
            bags->version++;
            return 0;
        }
    }
    if (t->items >= EW_REG_MAX_ITEMS)
        return EW_ETOO_LONG;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1; /* most enterprises have one of a kind */
        unsigned char *grown = ew_grow(b->items, b->cap, cap, t->size);
        if (!grown)
            return EW_ENOMEM;
        b->items = grown;
        b->cap = cap;
    }
    if (!b->key[0]) {
        memcpy(b->key, key, strlen(key) + 1);
        t->used++;
    }
    memcpy(b->items + b->n++ * t->size, item, t->size);
    t->items++;
    bags->version++;
    return 0;
}

static const void *ew_bag_items(const struct ew_bags *bags, int ti, const char *key, size_t *n)
{
    const struct ew_bag *b = ew_bag_find(&bags->t[ti], key);
    *n = b ? b->n : 0;
    return b ? b->items : NULL;
}

/* ---- the kinds ---- */

static bool ew_fac_same(const void *a, const void *b)
{
    const struct ew_facility *x = a, *y = b;
    return !strcmp(x->enterprise_id, y->enterprise_id) && !strcmp(x->facility_id, y->facility_id);
}

static bool ew_plan_same(const void *a, const void *b)
{
    return ((const struct ew_emergency *)a)->key == ((const struct ew_emergency *)b)->key;
}

static bool ew_decl_same(const void *a, const void *b)
{
    const struct ew_declaration *x = a, *y = b;
    return !strcmp(x->mn, y->mn) && x->kind == y->kind && x->from == y->from;
}

static bool ew_dead_same(const void *a, const void *b)
{
    return !strcmp(((const struct ew_deadline *)a)->deadline_id,
                   ((const struct ew_deadline *)b)->deadline_id);
}

static bool ew_warn_same(const void *a, const void *b)
{
    return ((const struct ew_warning *)a)->from == ((const struct ew_warning *)b)->from;
}

static bool ew_resp_same(const void *a, const void *b)
{
    const struct ew_response *x = a, *y = b;
    return x->at == y->at && !strcmp(x->text, y->text);
}

static bool ew_any_same(const void *a, const void *b)
{
    (void)a, (void)b;
    return true; /* one item per bag */
}

static bool ew_id_ok(const char *s)
{
    return s && *s && strlen(s) < EW_REG_ID_MAX;
}

int ew_bags_facility(struct ew_bags *b, const char *mn, const struct ew_facility *f)
{
    if (!ew_id_ok(f->enterprise_id) || !ew_id_ok(f->facility_id) || !f->key)
        return EW_EINVAL;
    return ew_bag_put(b, EW_T_FAC, mn, f, ew_fac_same);
}

int ew_bags_plan(struct ew_bags *b, const char *mn, const struct ew_emergency *p)
{
    if (!ew_id_ok(p->enterprise_id) || !p->key)
        return EW_EINVAL;
    size_t n;
    const struct ew_emergency *old = ew_bag_items(b, EW_T_PLAN, mn, &n);
    bool known = false;
    for (size_t i = 0; i < n; i++)
        known |= old[i].key == p->key;
    int rc = ew_bag_put(b, EW_T_PLAN, mn, p, ew_plan_same);
    if (rc || known)
        return rc;
    /* one more plan of its enterprise: it is on the emergency list */
    const struct ew_ent *e = ew_bag_items(b, EW_T_ENT, p->enterprise_id, &n);
    struct ew_ent ent = n ? *e : (struct ew_ent){{0}, 0};
    ent.plans++;
    return ew_bag_put(b, EW_T_ENT, p->enterprise_id, &ent, ew_any_same);
}

int ew_bags_declare(struct ew_bags *b, const char *enterprise_id, const struct ew_declaration *d)
{
    if (d->to <= d->from)
        return EW_EINVAL;
    return ew_bag_put(b, EW_T_DECL, enterprise_id, d, ew_decl_same);
}

int ew_bags_deadline(struct ew_bags *b, const char *enterprise_id, const struct ew_deadline *d)
{
    if (!ew_id_ok(d->deadline_id))
        return EW_EINVAL;
    size_t n;
    const struct ew_deadline *old = ew_bag_items(b, EW_T_DEAD, enterprise_id, &n);
    for (size_t i = 0; i < n && d->done_at != INT64_MAX; i++) {
        if (strcmp(old[i].deadline_id, d->deadline_id))
            continue;
        struct ew_deadline done = old[i]; /* "done": the deadline as it was, met */
        if (done.done_at == INT64_MAX)
            done.done_at = d->done_at;
        return ew_bag_put(b, EW_T_DEAD, enterprise_id, &done, ew_dead_same);
    }
    return ew_bag_put(b, EW_T_DEAD, enterprise_id, d, ew_dead_same);
}

int ew_bags_warning(struct ew_bags *b, const char *region, const struct ew_warning *w)
{
    if (w->to <= w->from || w->level < -1 || w->level >= EW_WL_COUNT)
        return EW_EINVAL;
    return ew_bag_put(b, EW_T_WARN, region, w, ew_warn_same);
}

int ew_bags_respond(struct ew_bags *b, const struct ew_response *r)
{
    if (strlen(r->alert_id) < 16)
        return EW_EINVAL;
    char fp[17];
    memcpy(fp, r->alert_id, 16);
    fp[16] = '\0';
    int rc = ew_bag_put(b, EW_T_RESP, fp, r, ew_resp_same);
    if (rc == 0) {
        b->responses++;
        b->last = *r;
    }
    return rc;
}

const struct ew_response *ew_bags_responses(const struct ew_bags *b, const char *fp, size_t *n)
{
    return ew_bag_items(b, EW_T_RESP, fp, n);
}

const struct ew_response *ew_bags_last_response(const struct ew_bags *b, uint64_t *count)
{
    *count = b->responses;
    return b->responses ? &b->last : NULL;
}

int ew_bags_outlet(struct ew_bags *b, const char *enterprise_id, const char *mn)
{
    size_t n;
    const struct ew_ent *e = ew_bag_items(b, EW_T_ENT, enterprise_id, &n);
    if (n && e->anchor[0] && strcmp(e->anchor, mn) <= 0)
        return 0;
    if (strlen(mn) >= EW_REG_ID_MAX)
        return 0; /* a site the engine does not judge cannot be an anchor */
    struct ew_ent ent = n ? *e : (struct ew_ent){{0}, 0};
    memcpy(ent.anchor, mn, strlen(mn) + 1);
    return ew_bag_put(b, EW_T_ENT, enterprise_id, &ent, ew_any_same);
}

const struct ew_facility *ew_bags_facilities(const struct ew_bags *b, const char *mn, size_t *n)
{
    return ew_bag_items(b, EW_T_FAC, mn, n);
}

const struct ew_emergency *ew_bags_plans(const struct ew_bags *b, const char *mn, size_t *n)
{
    return ew_bag_items(b, EW_T_PLAN, mn, n);
}

const struct ew_declaration *ew_bags_declarations(const struct ew_bags *b, const char *id,
                                                  size_t *n)
{
    return ew_bag_items(b, EW_T_DECL, id, n);
}

const struct ew_deadline *ew_bags_deadlines(const struct ew_bags *b, const char *id, size_t *n)
{
    return ew_bag_items(b, EW_T_DEAD, id, n);
}

const struct ew_warning *ew_bags_warnings(const struct ew_bags *b, const char *region, size_t *n)
{
    return ew_bag_items(b, EW_T_WARN, region, n);
}

bool ew_bags_is_anchor(const struct ew_bags *b, const char *enterprise_id, const char *mn)
{
    size_t n;
    const struct ew_ent *e = ew_bag_items(b, EW_T_ENT, enterprise_id, &n);
    return n && !strcmp(e->anchor, mn);
}

const char *ew_bags_anchor(const struct ew_bags *b, const char *enterprise_id)
{
    size_t n;
    const struct ew_ent *e = ew_bag_items(b, EW_T_ENT, enterprise_id, &n);
    return n && e->anchor[0] ? e->anchor : NULL;
}

bool ew_bags_on_list(const struct ew_bags *b, const char *enterprise_id)
{
    size_t n;
    const struct ew_ent *e = ew_bag_items(b, EW_T_ENT, enterprise_id, &n);
    return n && e->plans;
}

void ew_bags_counts(const struct ew_bags *b, struct ew_registry_counts *out)
{
    out->facilities = b->t[EW_T_FAC].items;
    out->plans = b->t[EW_T_PLAN].items;
    out->declarations = b->t[EW_T_DECL].items;
    out->deadlines = b->t[EW_T_DEAD].items;
    out->warnings = b->t[EW_T_WARN].items;
    out->responses = b->t[EW_T_RESP].items;
}

uint64_t ew_bags_version(const struct ew_bags *b)
{
    return b->version;
}
