/*
 * ew_recjson.c - record <-> JSON (see ew_recjson.h and connectors/formats/CODEC.md).
 */
#include "ew_recjson.h"

#include "ew_alloc.h"
#include "ew_time.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

static void ew_json_opt_int(struct ew_buf *b, const char *key, int v)
{
    if (v < 0)
        return;
    ew_buf_addc(b, ',');
    ew_buf_json_key(b, key);
    ew_buf_json_num(b, v);
}

static void ew_json_value(struct ew_buf *b, const struct ew_value *v)
{
    ew_buf_adds(b, "{\"code\":");
    ew_buf_json_str(b, v->code);
    ew_buf_adds(b, ",\"field\":");
    ew_buf_json_str(b, v->field_name);
    ew_buf_adds(b, ",\"value\":");
    if (v->type == EW_VT_NUMBER) {
        ew_buf_json_num(b, v->num);
    } else if (v->type == EW_VT_TIME) {
        ew_buf_json_time(b, (int64_t)v->num);
    } else {
        ew_buf_json_str(b, v->text);
    }
    if (v->flag) {
        ew_buf_adds(b, ",\"flag\":");
        ew_buf_json_strn(b, &v->flag, 1);
    }
    ew_buf_json_opt_str(b, "eflag", v->eflag);
    ew_buf_json_opt_str(b, "pol", v->pol);
    if (v->pollutant) {
        ew_buf_json_opt_str(b, "name", v->pollutant->name);
        if (*v->pollutant->unit)
            ew_buf_json_opt_str(b, "unit", v->pollutant->unit);
    }
    ew_buf_addc(b, '}');
}

int ew_record_to_json(const struct ew_record *rec, int with_ok, struct ew_buf *b)
{
    ew_buf_adds(b, with_ok ? "{\"ok\":true,\"mn\":" : "{\"mn\":");
    ew_buf_json_str(b, rec->mn ? rec->mn : "");
    ew_buf_adds(b, ",\"st\":");
    ew_buf_json_str(b, rec->st ? rec->st : "");
    ew_buf_adds(b, ",\"cn\":");
    ew_buf_json_str(b, rec->cn ? rec->cn : "");
    ew_buf_adds(b, ",\"version\":");
    ew_buf_json_str(b, ew_version_name((enum ew_version)rec->version));
    ew_buf_adds(b, ",\"data_time\":");
    if (rec->has_time) {
        ew_buf_json_time(b, rec->data_time);
    } else {
        ew_buf_adds(b, "null");
    }
    ew_buf_adds(b, ",\"values\":[");
    for (size_t i = 0; i < rec->nvalues; i++) {
        if (i)
            ew_buf_addc(b, ',');
        ew_json_value(b, &rec->values[i]);
    }
    ew_buf_addc(b, ']');
    ew_buf_json_opt_str(b, "qn", rec->qn);
    ew_buf_json_opt_str(b, "pw", rec->pw);
    ew_json_opt_int(b, "flag", rec->flag);
    ew_json_opt_int(b, "pnum", rec->pnum);
    ew_json_opt_int(b, "pno", rec->pno);
    if (rec->nparams) {
        ew_buf_adds(b, ",\"params\":{");
        for (size_t i = 0; i < rec->nparams; i++) {
            if (i)
                ew_buf_addc(b, ',');
            ew_buf_json_key(b, rec->params[i].key);
            ew_buf_json_str(b, rec->params[i].text);
        }
        ew_buf_addc(b, '}');
    }
    if (rec->nnotes) { /* what the decoder mended: said, so nobody takes it for what was sent */
        ew_buf_adds(b, ",\"notes\":[");
        size_t kept = rec->nnotes < EW_RECORD_MAX_NOTES ? rec->nnotes : EW_RECORD_MAX_NOTES;
        for (size_t i = 0; i < kept; i++) {
            if (i)
                ew_buf_addc(b, ',');
            ew_buf_json_str(b, rec->notes[i]);
        }
        ew_buf_addc(b, ']');
    }
    ew_buf_addc(b, '}');
    return b->err;
}

int ew_error_to_json(const struct ew_error *err, struct ew_buf *b)
{
    ew_buf_adds(b, "{\"ok\":false,\"error\":");
    ew_buf_json_str(b, ew_errname(err->code));
    ew_buf_adds(b, ",\"offset\":");
    ew_buf_json_num(b, (double)err->offset);
    ew_buf_adds(b, ",\"detail\":");
    ew_buf_json_str(b, err->detail);
    ew_buf_addc(b, '}');
    return b->err;
}

/* ---- reading ----
 *
 * yajl reports the text's events (its parser builds no tree); they are kept in a stash (the
 * record's members by name, each value's members, the parameters) and then checked in the
 * documented order, so that an error names the member a reader would look at first. Everything
 * yajl and the stash allocate comes from one block per record (ew_jarena): yajl does not check
 * its allocations, so it never sees a failed one; a block too small is made twice as large and
 * the text read again. */

enum ew_jt {
    EW_JT_ABSENT,
    EW_JT_NULL,
    EW_JT_BOOL,
    EW_JT_INT,
    EW_JT_REAL,
    EW_JT_STRING,
    EW_JT_ARRAY,
    EW_JT_OBJECT
};

struct ew_jv {
    uint8_t t;
    uint32_t n;    /* a string's length */
    const char *s; /* a string's bytes, NUL-terminated (a \u0000 inside is kept, counted in n) */
    union {
        long long i; /* an integer, a boolean */
        double d;    /* a number with a fraction or an exponent */
    };
};

static double ew_jnum(const struct ew_jv *j)
{
    return j->t == EW_JT_INT ? (double)j->i : j->d;
}

/* the record's members, and a value's, that are read; any other is only checked for syntax */
struct ew_jname {
    const char *s;
    size_t n;
};
#define EW_JNAME(s)                                                                                \
    {                                                                                              \
        s, sizeof s - 1                                                                            \
    }
static const struct ew_jname ew_jtop_keys[] = {
    EW_JNAME("mn"),      EW_JNAME("st"),        EW_JNAME("cn"),     EW_JNAME("qn"),
    EW_JNAME("pw"),      EW_JNAME("flag"),      EW_JNAME("pnum"),   EW_JNAME("pno"),
    EW_JNAME("version"), EW_JNAME("data_time"), EW_JNAME("values"), EW_JNAME("params")};
enum {
    EW_JK_MN,
    EW_JK_ST,
    EW_JK_CN,
    EW_JK_QN,
    EW_JK_PW,
    EW_JK_FLAG,
    EW_JK_PNUM,
    EW_JK_PNO,
    EW_JK_VERSION,
    EW_JK_DATA_TIME,
    EW_JK_VALUES,
    EW_JK_PARAMS,
    EW_JK_N
};
static const struct ew_jname ew_jval_keys[] = {EW_JNAME("code"),  EW_JNAME("field"),
                                               EW_JNAME("value"), EW_JNAME("flag"),
                                               EW_JNAME("eflag"), EW_JNAME("pol")};
enum { EW_JVK_CODE, EW_JVK_FIELD, EW_JVK_VALUE, EW_JVK_FLAG, EW_JVK_EFLAG, EW_JVK_POL, EW_JVK_N };

#define EW_JSON_DEPTH_MAX   64  /* containers within containers */
#define EW_JSON_MEMBERS_MAX 256 /* members of one object (duplicates are looked for in each) */

struct ew_jitem { /* an element of "values" */
    struct ew_jv self;
    struct ew_jv m[EW_JVK_N];
};

struct ew_jparam {
    const char *key;
    struct ew_jv v;
};

struct ew_jkey { /* an open object's member names, newest first */
    const struct ew_jkey *prev;
    size_t n;
    char s[];
};

enum ew_jctx { EW_JC_TOP, EW_JC_VALUES, EW_JC_ITEM, EW_JC_PARAMS, EW_JC_SKIP };

struct ew_jframe {
    uint8_t ctx;
    uint16_t members;
    uint16_t known;             /* the members of its table seen, a bit each */
    const struct ew_jkey *keys; /* and the others' names */
};

#define EW_JCHUNK 32

static struct ew_jitem *ew_jitem_at(struct ew_jitem *const *items, size_t i)
{
    return &items[i / EW_JCHUNK][i % EW_JCHUNK];
}

struct ew_jarena {
    char *base;
    size_t used, cap, last; /* last: where the newest block's header starts */
    jmp_buf full;
};

struct ew_jstash {
    struct ew_jarena *a;
    struct ew_jv root;
    struct ew_jv top[EW_JK_N];
    /* up to EW_RECORD_MAX_VALUES + 1 (one more says there are too many), EW_JCHUNK at a time */
    struct ew_jitem *items[(EW_RECORD_MAX_VALUES + EW_JCHUNK) / EW_JCHUNK];
    size_t nitems;
    struct ew_jparam params[EW_RECORD_MAX_PARAMS + 1];
    size_t nparams;
    struct ew_jframe stack[EW_JSON_DEPTH_MAX + 1];
    int depth;
    int key;             /* the pending member's index in its object's table, or -1 */
    const char *key_s;   /* and its name (a parameter's) */
    const char *failure; /* why the text is refused, found by us rather than by yajl */
    int code;
};

/* A block of n bytes, 16-aligned, after a header holding its size; a full arena ends the parse
 * (longjmp) so that it is read again with a larger one. */
static void *ew_ja_malloc(void *ctx, size_t n)
{
    struct ew_jarena *a = ctx;
    size_t at = (a->used + 15) & ~(size_t)15;
    if (n > a->cap || at + 16 + n > a->cap)
        longjmp(a->full, 1);
    memcpy(a->base + at, &n, sizeof n);
    a->last = at;
    a->used = at + 16 + n;
    return a->base + at + 16;
}

static void ew_ja_free(void *ctx, void *p)
{
    struct ew_jarena *a = ctx;
    if (p && (char *)p - 16 == a->base + a->last)
        a->used = a->last; /* the newest block: its room is taken again */
}

static void *ew_ja_realloc(void *ctx, void *p, size_t n)
{
    struct ew_jarena *a = ctx;
    if (!p)
        return ew_ja_malloc(ctx, n);
    size_t old;
    memcpy(&old, (char *)p - 16, sizeof old);
    if ((char *)p - 16 == a->base + a->last && n <= a->cap - a->last - 16) {
        memcpy((char *)p - 16, &n, sizeof n); /* the newest block grows in place */
        a->used = a->last + 16 + n;
        return p;
    }
    void *q = ew_ja_malloc(ctx, n);
    memcpy(q, p, old < n ? old : n);
    return q;
}

static char *ew_ja_dup(struct ew_jarena *a, const void *s, size_t n)
{
    char *d = ew_ja_malloc(a, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static int ew_jrefuse(struct ew_jstash *st, int code, const char *why)
{
    st->code = code;
    st->failure = why;
    return 0; /* yajl stops: the client canceled */
}

/* Where the next value goes: the pending member's slot, a new element of "values", a new
 * parameter, or nowhere (NULL). */
static struct ew_jv *ew_jslot(struct ew_jstash *st)
{
    if (st->depth == 0)
        return &st->root;
    struct ew_jframe *f = &st->stack[st->depth - 1];
    switch (f->ctx) {
    case EW_JC_TOP:
        return st->key >= 0 ? &st->top[st->key] : NULL;
    case EW_JC_ITEM:
        return st->key >= 0 ? &ew_jitem_at(st->items, st->nitems - 1)->m[st->key] : NULL;
    case EW_JC_VALUES:
        if (st->nitems > EW_RECORD_MAX_VALUES)
            return NULL; /* one more than a record holds is kept: the check reports it */
        if (st->nitems % EW_JCHUNK == 0)
            st->items[st->nitems / EW_JCHUNK] =
                ew_ja_malloc(st->a, EW_JCHUNK * sizeof(struct ew_jitem));
        struct ew_jitem *it = ew_jitem_at(st->items, st->nitems++);
        memset(it, 0, sizeof *it);
        return &it->self;
    case EW_JC_PARAMS:
        if (st->nparams > EW_RECORD_MAX_PARAMS)
            return NULL;
        st->params[st->nparams].key = st->key_s;
        memset(&st->params[st->nparams].v, 0, sizeof st->params[0].v);
        return &st->params[st->nparams++].v;
    }
    return NULL;
}

static int ew_jscalar(struct ew_jstash *st, uint8_t t, struct ew_jv **out)
{
    struct ew_jv *v = ew_jslot(st);
    if (v)
        v->t = t;
    *out = v;
    return 1;
}

static int ew_jon_null(void *ctx)
{
    struct ew_jv *v;
    return ew_jscalar(ctx, EW_JT_NULL, &v);
}

static int ew_jon_bool(void *ctx, int b)
{
    struct ew_jv *v;
    ew_jscalar(ctx, EW_JT_BOOL, &v);
    if (v)
        v->i = b;
    return 1;
}

/* A number as the text has it: an integer unless it has a fraction or an exponent. */
static int ew_jon_number(void *ctx, const char *s, size_t n)
{
    struct ew_jstash *st = ctx;
    char tmp[64];
    bool integer = !memchr(s, '.', n) && !memchr(s, 'e', n) && !memchr(s, 'E', n);
    const char *text = n < sizeof tmp ? memcpy(tmp, s, n) : ew_ja_dup(st->a, s, n);
    if (text == tmp)
        tmp[n] = '\0';
    errno = 0;
    long long i = integer ? strtoll(text, NULL, 10) : 0;
    double d = integer ? 0 : strtod(text, NULL);
    if (errno == ERANGE && (integer || isinf(d)))
        return ew_jrefuse(st, EW_EMALFORMED, integer ? "too big integer" : "real number overflow");
    struct ew_jv *v;
    ew_jscalar(st, integer ? EW_JT_INT : EW_JT_REAL, &v);
    if (v && integer)
        v->i = i;
    else if (v)
        v->d = d;
    return 1;
}

static int ew_jon_string(void *ctx, const unsigned char *s, size_t n)
{
    struct ew_jstash *st = ctx;
    if (!ew_utf8_valid((const char *)s, n)) /* yajl lets overlong forms and surrogates by */
        return ew_jrefuse(st, EW_EMALFORMED, "invalid UTF-8 in a string");
    struct ew_jv *v;
    ew_jscalar(st, EW_JT_STRING, &v);
    if (v) {
        v->s = ew_ja_dup(st->a, s, n);
        v->n = (uint32_t)n;
    }
    return 1;
}

static int ew_jopen(struct ew_jstash *st, uint8_t t)
{
    if (st->depth == EW_JSON_DEPTH_MAX)
        return ew_jrefuse(st, EW_EMALFORMED, "nested deeper than 64 levels");
    const struct ew_jframe *up = st->depth ? &st->stack[st->depth - 1] : NULL;
    int key = st->key;
    struct ew_jv *v = ew_jslot(st);
    if (v)
        v->t = t;
    uint8_t ctx = EW_JC_SKIP;
    if (!up && t == EW_JT_OBJECT)
        ctx = EW_JC_TOP;
    else if (up && up->ctx == EW_JC_TOP && key == EW_JK_VALUES && t == EW_JT_ARRAY)
        ctx = EW_JC_VALUES;
    else if (up && up->ctx == EW_JC_TOP && key == EW_JK_PARAMS && t == EW_JT_OBJECT)
        ctx = EW_JC_PARAMS;
    else if (up && up->ctx == EW_JC_VALUES && v && t == EW_JT_OBJECT)
        ctx = EW_JC_ITEM;
    st->stack[st->depth++] = (struct ew_jframe){ctx, 0, 0, NULL};
    st->key = -1;
    return 1;
}

static int ew_jon_start_map(void *ctx)
{
    return ew_jopen(ctx, EW_JT_OBJECT);
}

static int ew_jon_start_array(void *ctx)
{
    return ew_jopen(ctx, EW_JT_ARRAY);
}

static int ew_jon_end(void *ctx)
{
    struct ew_jstash *st = ctx;
    st->depth--;
    st->key = -1;
    return 1;
}

static int ew_jon_key(void *ctx, const unsigned char *s, size_t n)
{
    struct ew_jstash *st = ctx;
    struct ew_jframe *f = &st->stack[st->depth - 1];
    if (!ew_utf8_valid((const char *)s, n))
        return ew_jrefuse(st, EW_EMALFORMED, "invalid UTF-8 in a member's name");
    if (f->members == EW_JSON_MEMBERS_MAX)
        return ew_jrefuse(st, EW_ETOO_LONG, "an object of more than 256 members");
    f->members++;
    st->key = -1;
    const struct ew_jname *names = f->ctx == EW_JC_TOP ? ew_jtop_keys : ew_jval_keys;
    size_t nnames = f->ctx == EW_JC_TOP ? EW_JK_N : f->ctx == EW_JC_ITEM ? EW_JVK_N : 0;
    for (size_t i = 0; i < nnames; i++)
        if (names[i].n == n && !memcmp(names[i].s, s, n)) {
            if (f->known & 1u << i)
                return ew_jrefuse(st, EW_EMALFORMED, "duplicate object key");
            f->known |= (uint16_t)(1u << i);
            st->key = (int)i;
            return 1;
        }
    for (const struct ew_jkey *k = f->keys; k; k = k->prev)
        if (k->n == n && !memcmp(k->s, s, n))
            return ew_jrefuse(st, EW_EMALFORMED, "duplicate object key");
    struct ew_jkey *k = ew_ja_malloc(st->a, sizeof *k + n + 1);
    k->prev = f->keys, k->n = n;
    memcpy(k->s, s, n);
    k->s[n] = '\0';
    f->keys = k;
    st->key_s = k->s;
    return 1;
}

static const yajl_callbacks ew_jcallbacks = {
    .yajl_null = ew_jon_null,
    .yajl_boolean = ew_jon_bool,
    .yajl_number = ew_jon_number,
    .yajl_string = ew_jon_string,
    .yajl_start_map = ew_jon_start_map,
    .yajl_map_key = ew_jon_key,
    .yajl_end_map = ew_jon_end,
    .yajl_start_array = ew_jon_start_array,
    .yajl_end_array = ew_jon_end,
};

struct ew_jdec {
    struct ew_record *rec;
    struct ew_error *err;
};

static int ew_jfail(struct ew_jdec *x, const char *path, const char *what)
{
    return ew_error_set(x->err, EW_EMALFORMED, 0, "%s: %s", path, what);
}

static bool ew_jpresent(const struct ew_jv *j)
{
    return j->t != EW_JT_ABSENT && j->t != EW_JT_NULL;
}

/* Copies a JSON string into the record's arena. */
static int ew_jstr(struct ew_jdec *x, const struct ew_jv *j, const char **out, const char *path,
                   int allow_empty)
{
    if (j->t != EW_JT_STRING)
        return ew_jfail(x, path, "expected a string");
    if ((!allow_empty && j->n == 0) || memchr(j->s, '\0', j->n))
        return ew_jfail(x, path, j->n ? "string holds a NUL character" : "must not be empty");
    *out = ew_record_strndup(x->rec, j->s, j->n);
    if (!*out)
        return ew_error_set(x->err, EW_ETOO_LONG, 0, "%s: record text exceeds %d bytes", path,
                            EW_RECORD_TEXT_MAX);
    return 0;
}

/* A code field given as a string or as an integer (st: 31 and st: "31" alike). */
static int ew_jcode(struct ew_jdec *x, const struct ew_jv *j, const char **out, const char *path)
{
    if (j->t == EW_JT_INT && j->i >= 0) {
        char tmp[24];
        int n = snprintf(tmp, sizeof tmp, "%lld", j->i);
        *out = ew_record_strndup(x->rec, tmp, (size_t)n);
        return *out ? 0 : ew_error_set(x->err, EW_ETOO_LONG, 0, "%s: record text full", path);
    }
    return ew_jstr(x, j, out, path, 0);
}

static int ew_jint(struct ew_jdec *x, const struct ew_jv *j, int *out, int max, const char *path)
{
    if (!ew_jpresent(j))
        return 0;
    if (j->t != EW_JT_INT || j->i < 0 || j->i > max)
        return ew_jfail(x, path, "expected a small non-negative integer");
    *out = (int)j->i;
    return 0;
}

static int ew_jvalue(struct ew_jdec *x, const struct ew_jitem *jv, size_t idx,
                     enum ew_medium medium)
{
    struct ew_record *rec = x->rec;
    char path[32] = "values[", num[20]; /* named only in an error: no printf a value */
    size_t nd = 0;
    do
        num[nd++] = (char)('0' + idx % 10);
    while (idx /= 10);
    char *w = path + 7;
    while (nd)
        *w++ = num[--nd];
    memcpy(w, "]", 2);
    if (jv->self.t != EW_JT_OBJECT)
        return ew_jfail(x, path, "expected an object");
    if (rec->nvalues >= EW_RECORD_MAX_VALUES)
        return ew_error_set(x->err, EW_ETOO_LONG, 0, "more than %d values", EW_RECORD_MAX_VALUES);
    struct ew_value *v = &rec->values[rec->nvalues];
    memset(v, 0, sizeof *v);
    int rc;
    const char *field;
    if ((rc = ew_jstr(x, &jv->m[EW_JVK_CODE], &v->code, path, 0)) ||
        (rc = ew_jstr(x, &jv->m[EW_JVK_FIELD], &field, path, 0)))
        return rc;
    enum ew_field f = ew_field_lookup(field, strlen(field));
    v->field = (uint8_t)f;
    v->field_name = f == EW_FIELD_OTHER ? field : ew_field_name(f);

    const struct ew_jv *val = &jv->m[EW_JVK_VALUE];
    if (val->t == EW_JT_INT || val->t == EW_JT_REAL) {
        char tmp[32];
        v->type = EW_VT_NUMBER;
        v->num = ew_jnum(val);
        v->text = ew_record_strndup(rec, tmp, ew_format_number(v->num, tmp));
        if (!v->text)
            return ew_error_set(x->err, EW_ETOO_LONG, 0, "%s: record text full", path);
    } else if (val->t == EW_JT_STRING) {
        if ((rc = ew_jstr(x, val, &v->text, path, 1)))
            return rc;
        int64_t t;
        size_t n = strlen(v->text);
        if (f == EW_FIELD_SAMPLETIME && ew_time_parse_iso(v->text, n, &t) == 0) {
            char digits[18];
            v->type = EW_VT_TIME;
            v->num = (double)t;
            v->text = ew_record_strndup(rec, digits, ew_time_format_digits(t, digits));
            if (!v->text)
                return ew_error_set(x->err, EW_ETOO_LONG, 0, "%s: record text full", path);
        } else {
            v->type =
                f != EW_FIELD_FLAG && f != EW_FIELD_EFLAG && ew_parse_number(v->text, n, &v->num)
                    ? EW_VT_NUMBER
                    : EW_VT_TEXT;
        }
    } else {
        return ew_jfail(x, path, "value must be a number or a string");
    }

    const struct ew_jv *flag = &jv->m[EW_JVK_FLAG];
    if (ew_jpresent(flag)) {
        if (flag->t != EW_JT_STRING || flag->n != 1 || (unsigned char)flag->s[0] < 0x21 ||
            (unsigned char)flag->s[0] > 0x7E)
            return ew_jfail(x, path, "flag must be one printable ASCII letter");
        v->flag = flag->s[0];
    }
    const struct ew_jv *eflag = &jv->m[EW_JVK_EFLAG], *pol = &jv->m[EW_JVK_POL];
    if ((ew_jpresent(eflag) && (rc = ew_jstr(x, eflag, &v->eflag, path, 1))) ||
        (ew_jpresent(pol) && (rc = ew_jstr(x, pol, &v->pol, path, 0))))
        return rc;
    ew_value_resolve(v, strlen(v->code), medium);
    rec->nvalues++;
    return 0;
}

static int ew_jrecord(struct ew_jdec *x, const struct ew_jstash *st)
{
    struct ew_record *rec = x->rec;
    const struct ew_jv *top = st->top;
    int rc;
    if (st->root.t != EW_JT_OBJECT)
        return ew_jfail(x, "record", "expected an object");
    if ((rc = ew_jcode(x, &top[EW_JK_MN], &rec->mn, "mn")) ||
        (rc = ew_jcode(x, &top[EW_JK_ST], &rec->st, "st")) ||
        (rc = ew_jcode(x, &top[EW_JK_CN], &rec->cn, "cn")))
        return rc;
    if ((ew_jpresent(&top[EW_JK_QN]) && (rc = ew_jcode(x, &top[EW_JK_QN], &rec->qn, "qn"))) ||
        (ew_jpresent(&top[EW_JK_PW]) && (rc = ew_jcode(x, &top[EW_JK_PW], &rec->pw, "pw"))) ||
        (rc = ew_jint(x, &top[EW_JK_FLAG], &rec->flag, 255, "flag")) ||
        (rc = ew_jint(x, &top[EW_JK_PNUM], &rec->pnum, 9999, "pnum")) ||
        (rc = ew_jint(x, &top[EW_JK_PNO], &rec->pno, 9999, "pno")))
        return rc;

    const struct ew_jv *ver = &top[EW_JK_VERSION];
    if (ew_jpresent(ver)) {
        if (ver->t != EW_JT_STRING)
            return ew_jfail(x, "version", "expected \"2005\", \"2017\", \"2025\" or \"unknown\"");
        rec->version = (uint8_t)ew_version_parse(ver->s);
        if (rec->version == EW_VERSION_UNKNOWN && strcmp(ver->s, "unknown"))
            return ew_jfail(x, "version", "expected \"2005\", \"2017\", \"2025\" or \"unknown\"");
    } else {
        rec->version =
            (uint8_t)(rec->flag >= 0 ? ew_version_from_flag(rec->flag) : EW_VERSION_2017);
    }
    rec->kind = (uint8_t)ew_kind_from_cn(rec->cn);

    const struct ew_jv *dt = &top[EW_JK_DATA_TIME];
    if (ew_jpresent(dt)) {
        if (dt->t != EW_JT_STRING || ew_time_parse_iso(dt->s, dt->n, &rec->data_time))
            return ew_jfail(x, "data_time", "expected an ISO 8601 time");
        rec->has_time = true;
    }

    if (top[EW_JK_VALUES].t != EW_JT_ARRAY)
        return ew_jfail(x, "values", "expected an array");
    enum ew_medium medium = ew_medium_of_st(rec->st);
    for (size_t i = 0; i < st->nitems; i++)
        if ((rc = ew_jvalue(x, ew_jitem_at(st->items, i), i, medium)))
            return rc;
    ew_record_apply_version(rec);

    const struct ew_jv *params = &top[EW_JK_PARAMS];
    if (ew_jpresent(params)) {
        if (params->t != EW_JT_OBJECT)
            return ew_jfail(x, "params", "expected an object");
        for (size_t i = 0; i < st->nparams; i++) {
            if (rec->nparams >= EW_RECORD_MAX_PARAMS)
                return ew_error_set(x->err, EW_ETOO_LONG, 0, "more than %d parameters",
                                    EW_RECORD_MAX_PARAMS);
            struct ew_param *p = &rec->params[rec->nparams];
            const char *key = st->params[i].key;
            if (!*key)
                return ew_jfail(x, "params", "empty key");
            p->key = ew_record_strndup(rec, key, strlen(key));
            if (!p->key)
                return ew_error_set(x->err, EW_ETOO_LONG, 0, "params: record text full");
            if ((rc = ew_jstr(x, &st->params[i].v, &p->text, "params", 1)))
                return rc;
            rec->nparams++;
        }
    }
    return 0;
}

/* A syntax error at byte `at`, with its line and column as an editor counts them. */
static int ew_jsyntax(struct ew_error *err, const char *buf, size_t at, const char *what)
{
    ew_error_set(err, EW_EMALFORMED, at, "%s", what);
    if (err) {
        int line = 1;
        size_t bol = 0;
        for (size_t i = 0; i < at; i++)
            if (buf[i] == '\n')
                line++, bol = i + 1;
        err->line = line;
        err->column = (int)(at - bol) + 1;
    }
    return EW_EMALFORMED;
}

/* The value of the 4 hex digits at s, or -1. */
static long ew_hex4(const char *s)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)s[i], d = c >= '0' && c <= '9'   ? c - '0'
                                         : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                                : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* The offset of the first \u escape that is half a surrogate pair without its other half, or
 * len. yajl would decode one into some other character; a backslash stands only in strings in
 * a text that parses, so the whole text is looked at, before yajl. */
static size_t ew_bad_surrogate(const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;
    while (p < end && (p = memchr(p, '\\', (size_t)(end - p)))) {
        if (end - p < 6 || p[1] != 'u') {
            p += 2; /* another escape, or the text's end */
            continue;
        }
        long u = ew_hex4(p + 2);
        if (u >= 0xDC00 && u <= 0xDFFF)
            return (size_t)(p - buf); /* a low half alone */
        if (u >= 0xD800 && u <= 0xDBFF) {
            long lo = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? ew_hex4(p + 8) : -1;
            if (lo < 0xDC00 || lo > 0xDFFF)
                return (size_t)(p - buf); /* a high half without its low one */
            p += 6;
        }
        p += 6;
    }
    return len;
}

/* One read of the text into st with the arena as it is; 1 when the arena was too small. */
static int ew_jparse(const char *buf, size_t len, struct ew_jstash *st, struct ew_error *err,
                     int *rc)
{
    struct ew_jarena *a = st->a;
    if (setjmp(a->full))
        return 1;
    yajl_alloc_funcs afs = {ew_ja_malloc, ew_ja_realloc, ew_ja_free, a};
    yajl_handle h = yajl_alloc(&ew_jcallbacks, &afs, st);
    yajl_status s = yajl_parse(h, (const unsigned char *)buf, len);
    size_t at = yajl_get_bytes_consumed(h);
    if (s == yajl_status_ok) {
        s = yajl_complete_parse(h);
        at = len;
    }
    if (s == yajl_status_client_canceled) {
        *rc = st->code == EW_EMALFORMED ? ew_jsyntax(err, buf, at, st->failure)
                                        : ew_error_set(err, st->code, at, "%s", st->failure);
    } else if (s != yajl_status_ok) {
        char *what = (char *)yajl_get_error(h, 0, NULL, 0); /* in the arena: freed with it */
        size_t n = strlen(what);
        while (n && (what[n - 1] == '\n' || what[n - 1] == ' '))
            what[--n] = '\0';
        *rc = ew_jsyntax(err, buf, at, what);
    } else {
        *rc = 0;
    }
    return 0; /* yajl's memory is the arena's: nothing of it to free */
}

int ew_record_from_json(const char *buf, size_t len, struct ew_record *rec, struct ew_error *err)
{
    ew_record_reset(rec);
    size_t bad = ew_bad_surrogate(buf, len);
    if (bad < len)
        return ew_jsyntax(err, buf, bad, "invalid Unicode escape: half a surrogate pair");
    struct ew_jarena a = {.cap = 4 * len + 16384};
    struct ew_jstash *st = ew_malloc(sizeof *st);
    int rc = EW_ENOMEM;
    for (;;) {
        if (!st || !(a.base = ew_malloc(a.cap)))
            break;
        *st = (struct ew_jstash){.a = &a, .key = -1};
        a.used = a.last = 0;
        if (!ew_jparse(buf, len, st, err, &rc))
            break;
        ew_free(a.base); /* a text unusually dense in members or escapes: twice the room */
        a.base = NULL;
        a.cap *= 2;
    }
    if (!a.base || !st) {
        ew_error_set(err, EW_ENOMEM, 0, "out of memory while parsing JSON");
    } else if (rc == 0) {
        struct ew_jdec x = {rec, err};
        rc = ew_jrecord(&x, st);
    }
    ew_free(a.base);
    ew_free(st);
    if (rc)
        ew_record_reset(rec);
    return rc;
}
