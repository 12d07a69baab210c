/* Unit tests: reassembling split HJ 212 packets (connectors/formats/ew_split.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ew_hj212.h"
#include "ew_split.h"

/* A packet around a data segment, with its length and CRC (parts are written by hand here, as
 * loggers send them: the encoder writes whole records). */
static size_t frame(char *out, size_t cap, const char *data)
{
    return (size_t)snprintf(out, cap, "##%04zu%s%04X", strlen(data), data,
                            ew_hj212_crc(data, strlen(data)));
}

static size_t part(char *out, size_t cap, const char *qn, int pnum, int pno, const char *cp)
{
    char data[512];
    snprintf(data, sizeof data,
             "QN=%s;ST=31;CN=2061;PW=123456;MN=M1;Flag=4;PNUM=%d;PNO=%d;CP=&&DataTime="
             "20241001100000;%s&&",
             qn, pnum, pno, cp);
    return frame(out, cap, data);
}

struct dropped {
    int n;
    char why[200];
    size_t ntags;
    uint64_t tags[8];
};

static void on_drop(void *ctx, const char *why, const void *bytes, size_t len, const uint64_t *tags,
                    size_t ntags)
{
    struct dropped *d = ctx;
    (void)bytes, (void)len;
    d->n++;
    snprintf(d->why, sizeof d->why, "%s", why);
    d->ntags = ntags;
    memcpy(d->tags, tags, ntags * sizeof *tags);
}

/* A reassembler, the record it fills, and what it reports. */
struct fx {
    struct ew_split *s;
    struct ew_record *out;
    struct dropped d;
    uint64_t tags[EW_SPLIT_MAX_PARTS];
    size_t ntags;
};

static void fx_init(struct fx *f, size_t max_groups)
{
    memset(f, 0, sizeof *f);
    f->s = ew_split_new(max_groups, 1000, NULL);
    f->out = ew_record_new();
    assert_non_null(f->s);
    assert_non_null(f->out);
}

static void fx_release(struct fx *f)
{
    ew_record_free(f->out);
    ew_split_free(f->s);
}

/* Decodes a part and offers it. */
static int offer(struct fx *f, const char *pkt, size_t len, uint64_t tag, int64_t now)
{
    struct ew_record *rec = ew_record_new();
    struct ew_error err = {0};
    assert_int_equal(ew_hj212_decode(pkt, len, NULL, rec, &err), 0);
    int rc = ew_split_add(f->s, rec, pkt, len, tag, now, f->out, f->tags, &f->ntags, &err, on_drop,
                          &f->d);
    ew_record_free(rec);
    return rc;
}

static void test_parts_in_any_order(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f, 4);
    char p1[600], p2[600], p3[600];
    size_t l1 = part(p1, sizeof p1, "Q1", 3, 1, "a21026-ZsAvg=10,a21026-Flag=N");
    size_t l2 = part(p2, sizeof p2, "Q1", 3, 2, "a21002-ZsAvg=20,a21002-Flag=N");
    size_t l3 = part(p3, sizeof p3, "Q1", 3, 3, "a34013-ZsAvg=3");
    assert_int_equal(offer(&f, p3, l3, 30, 0), 0);
    assert_int_equal(offer(&f, p1, l1, 10, 1), 0);
    assert_int_equal(ew_split_pending(f.s), 1);
    assert_int_equal(offer(&f, p2, l2, 20, 2), 1);
    assert_int_equal(ew_split_pending(f.s), 0);
    /* one record: the first part's header, every value in PNO order */
    struct ew_record *out = f.out;
    assert_string_equal(out->mn, "M1");
    assert_int_equal(out->pnum, -1);
    assert_int_equal(out->nvalues, 3); /* the -Flag items are the values' flags */
    assert_string_equal(out->values[0].code, "a21026");
    assert_int_equal(out->values[0].flag, 'N');
    assert_string_equal(out->values[1].code, "a21002");
    assert_string_equal(out->values[2].code, "a34013");
    assert_true(out->values[2].num == 3);
    assert_int_equal(f.ntags, 3);
    assert_true(f.tags[0] == 10 && f.tags[1] == 20 && f.tags[2] == 30);
    assert_int_equal(f.d.n, 0);
    fx_release(&f);
}

static void test_refusals_and_expiry(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f, 2);
    char p[600];
    size_t len = part(p, sizeof p, "Q1", 2, 1, "a21026-ZsAvg=10");
    assert_int_equal(offer(&f, p, len, 1, 0), 0);
    assert_int_equal(offer(&f, p, len, 2, 0), EW_EINVAL); /* twice */
    len = part(p, sizeof p, "Q1", 3, 2, "a21026-ZsAvg=10");
    assert_int_equal(offer(&f, p, len, 3, 0), EW_EINVAL); /* PNUM */
    len = part(p, sizeof p, "Q9", 2, 3, "a21026-ZsAvg=10");
    assert_int_equal(offer(&f, p, len, 4, 0), EW_EINVAL); /* PNO > PNUM */
    /* a bound of two groups: a third pushes out the oldest, with its tags */
    len = part(p, sizeof p, "Q2", 2, 1, "a21026-ZsAvg=10");
    assert_int_equal(offer(&f, p, len, 5, 10), 0);
    len = part(p, sizeof p, "Q3", 2, 1, "a21026-ZsAvg=10");
    assert_int_equal(offer(&f, p, len, 6, 20), 0);
    assert_int_equal(f.d.n, 1);
    assert_non_null(strstr(f.d.why, "pushed out"));
    assert_int_equal(f.d.ntags, 1);
    assert_true(f.d.tags[0] == 1);
    /* the timeout gives up the rest */
    ew_split_expire(f.s, 1015, on_drop, &f.d); /* Q2 has waited 1005 ms, Q3 995 */
    assert_int_equal(f.d.n, 2);
    ew_split_expire(f.s, 5000, on_drop, &f.d);
    assert_int_equal(f.d.n, 3);
    assert_non_null(strstr(f.d.why, "incomplete"));
    assert_int_equal(ew_split_pending(f.s), 0);
    fx_release(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts_in_any_order),
        cmocka_unit_test(test_refusals_and_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
