/* Unit tests: reassembling split HJ 212 packets (connectors/ew_split.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ew_hj212.h"
#include "ew_split.h"

/* A packet around a data segment, with its length and CRC (the codec's own encoder is for
 * records; parts are written by hand here, as loggers send them). */
static size_t frame(char *out, size_t cap, const char *data)
{
    unsigned reg = 0xFFFF;
    for (const char *p = data; *p; p++) {
        reg = (reg >> 8) ^ (unsigned char)*p;
        for (int k = 0; k < 8; k++)
            reg = reg & 1 ? (reg >> 1) ^ 0xA001 : reg >> 1;
    }
    return (size_t)snprintf(out, cap, "##%04zu%s%04X", strlen(data), data, reg);
}

static void part(char *out, size_t cap, const char *qn, int pnum, int pno, const char *cp,
                 size_t *len)
{
    char data[512];
    snprintf(data, sizeof data,
             "QN=%s;ST=31;CN=2061;PW=123456;MN=M1;Flag=4;PNUM=%d;PNO=%d;CP=&&DataTime="
             "20241001100000;%s&&",
             qn, pnum, pno, cp);
    *len = frame(out, cap, data);
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

/* Decodes a part and offers it. */
static int offer(struct ew_split *s, const char *pkt, size_t len, uint64_t tag, int64_t now,
                 struct ew_record *out, uint64_t *tags, size_t *ntags, struct dropped *d)
{
    struct ew_record *rec = ew_record_new();
    struct ew_error err = {0};
    assert_int_equal(ew_hj212_decode(pkt, len, NULL, rec, &err), 0);
    int rc = ew_split_add(s, rec, pkt, len, tag, now, out, tags, ntags, &err, on_drop, d);
    ew_record_free(rec);
    return rc;
}

static void test_parts_in_any_order(void **state)
{
    (void)state;
    struct ew_split *s = ew_split_new(4, 1000, NULL);
    struct ew_record *out = ew_record_new();
    struct dropped d = {0};
    uint64_t tags[EW_SPLIT_MAX_PARTS];
    size_t ntags = 0, len;
    char p1[600], p2[600], p3[600];
    part(p1, sizeof p1, "Q1", 3, 1, "a21026-ZsAvg=10,a21026-Flag=N", &len);
    size_t l1 = len;
    part(p2, sizeof p2, "Q1", 3, 2, "a21002-ZsAvg=20,a21002-Flag=N", &len);
    size_t l2 = len;
    part(p3, sizeof p3, "Q1", 3, 3, "a34013-ZsAvg=3", &len);
    size_t l3 = len;
    assert_int_equal(offer(s, p3, l3, 30, 0, out, tags, &ntags, &d), 0);
    assert_int_equal(offer(s, p1, l1, 10, 1, out, tags, &ntags, &d), 0);
    assert_int_equal(ew_split_pending(s), 1);
    assert_int_equal(offer(s, p2, l2, 20, 2, out, tags, &ntags, &d), 1);
    assert_int_equal(ew_split_pending(s), 0);
    /* one record: the first part's header, every value in PNO order */
    assert_string_equal(out->mn, "M1");
    assert_int_equal(out->pnum, -1);
    assert_int_equal(out->nvalues, 3); /* the -Flag items are the values' flags */
    assert_string_equal(out->values[0].code, "a21026");
    assert_int_equal(out->values[0].flag, 'N');
    assert_string_equal(out->values[1].code, "a21002");
    assert_string_equal(out->values[2].code, "a34013");
    assert_true(out->values[2].num == 3);
    assert_int_equal(ntags, 3);
    assert_true(tags[0] == 10 && tags[1] == 20 && tags[2] == 30);
    assert_int_equal(d.n, 0);
    ew_record_free(out);
    ew_split_free(s);
}

static void test_refusals_and_expiry(void **state)
{
    (void)state;
    struct ew_split *s = ew_split_new(2, 1000, NULL);
    struct ew_record *out = ew_record_new();
    struct dropped d = {0};
    uint64_t tags[EW_SPLIT_MAX_PARTS];
    size_t ntags = 0, len;
    char p[600];
    part(p, sizeof p, "Q1", 2, 1, "a21026-ZsAvg=10", &len);
    assert_int_equal(offer(s, p, len, 1, 0, out, tags, &ntags, &d), 0);
    assert_int_equal(offer(s, p, len, 2, 0, out, tags, &ntags, &d), EW_EINVAL); /* twice */
    part(p, sizeof p, "Q1", 3, 2, "a21026-ZsAvg=10", &len);
    assert_int_equal(offer(s, p, len, 3, 0, out, tags, &ntags, &d), EW_EINVAL); /* PNUM */
    part(p, sizeof p, "Q9", 2, 3, "a21026-ZsAvg=10", &len);
    assert_int_equal(offer(s, p, len, 4, 0, out, tags, &ntags, &d), EW_EINVAL); /* PNO > */
    /* a bound of two groups: a third pushes out the oldest, with its tags */
    part(p, sizeof p, "Q2", 2, 1, "a21026-ZsAvg=10", &len);
    assert_int_equal(offer(s, p, len, 5, 10, out, tags, &ntags, &d), 0);
    part(p, sizeof p, "Q3", 2, 1, "a21026-ZsAvg=10", &len);
    assert_int_equal(offer(s, p, len, 6, 20, out, tags, &ntags, &d), 0);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.why, "pushed out"));
    assert_int_equal(d.ntags, 1);
    assert_true(d.tags[0] == 1);
    /* the timeout gives up the rest */
    ew_split_expire(s, 1015, on_drop, &d); /* Q2 has waited 1005 ms, Q3 995 */
    assert_int_equal(d.n, 2);
    ew_split_expire(s, 5000, on_drop, &d);
    assert_int_equal(d.n, 3);
    assert_non_null(strstr(d.why, "incomplete"));
    assert_int_equal(ew_split_pending(s), 0);
    ew_record_free(out);
    ew_split_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts_in_any_order),
        cmocka_unit_test(test_refusals_and_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
