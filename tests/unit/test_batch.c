/* Unit tests: a partition's batch of Redis arguments, and a checkpoint's frozen sites queued for
 * it (connectors/redis/ew_sink.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ew_sink.h"

/* Site n frozen: its state, or (every third) its removal. */
static void freeze(struct ew_batch *q, int n)
{
    char mn[32], blob[64];
    snprintf(mn, sizeof mn, "SITE%04d", n);
    int len = snprintf(blob, sizeof blob, "state of site %d", n);
    ew_batch_state(q, mn, n % 3 ? blob : NULL, n % 3 ? (size_t)len : 0);
}

/* The argument at *at of b into out (a string); *at moves past it. */
static void arg(const struct ew_batch *b, size_t *at, char *out, size_t cap)
{
    uint32_t len;
    assert_true(*at + sizeof len <= b->args.len);
    memcpy(&len, b->args.data + *at, sizeof len);
    *at += sizeof len;
    assert_true(len < cap && *at + len <= b->args.len);
    memcpy(out, b->args.data + *at, len);
    out[len] = '\0';
    *at += len;
}

/* Sites from..to-1, in order, from *at of b on. */
static void expect_sites(const struct ew_batch *b, size_t *at, int from, int to)
{
    char s[64], want[64];
    for (int n = from; n < to; n++) {
        arg(b, at, s, sizeof s);
        assert_string_equal(s, n % 3 ? "S" : "X");
        arg(b, at, s, sizeof s);
        snprintf(want, sizeof want, "SITE%04d", n);
        assert_string_equal(s, want);
        if (n % 3) {
            arg(b, at, s, sizeof s);
            snprintf(want, sizeof want, "state of site %d", n);
            assert_string_equal(s, want);
        }
    }
}

/* A checkpoint's frozen sites are taken a few at a time into its transactions' batches, in the
 * order they were frozen. Once most of the queue is taken, the rest moves to its front, so that
 * the sites frozen next reuse its room (at 200,000 outlets the queue held a whole partition's
 * 52,500 sites); every site still comes out once, in order, and the queue is let go once
 * empty. */
static void test_frozen_sites_taken_in_order(void **state)
{
    (void)state;
    struct ew_batch q = EW_BATCH_INIT, b = EW_BATCH_INIT;
    size_t off = 0, at = 0;
    for (int n = 0; n < 10; n++)
        freeze(&q, n);
    size_t all = q.args.len;
    assert_int_equal(ew_batch_take_states(&b, &q, &off, 3), 3);
    assert_true(off > 0 && off < all / 2); /* not moved yet */
    expect_sites(&b, &at, 0, 3);
    assert_int_equal(at, b.args.len);
    assert_int_equal(ew_batch_take_states(&b, &q, &off, 3), 3);
    assert_int_equal(off, 0);                 /* six of ten taken: the four left are at the front */
    assert_int_equal(q.nargs, 2 + 3 + 3 + 2); /* sites 6 and 9 removed, 7 and 8 with a state */
    assert_int_equal(q.args.data[q.args.len], '\0'); /* still a buffer's end (ew_buf.h) */
    expect_sites(&b, &at, 3, 6);
    assert_int_equal(at, b.args.len);
    for (int n = 10; n < 15; n++)
        freeze(&q, n);
    assert_int_equal(ew_batch_take_states(&b, &q, &off, 100), 9);
    expect_sites(&b, &at, 6, 15);
    assert_int_equal(at, b.args.len);
    assert_true(ew_batch_empty(&q));
    assert_null(q.args.data); /* let go */
    assert_int_equal(off, 0);
    assert_int_equal(ew_batch_take_states(&b, &q, &off, 100), 0);
    /* the batch counts every argument it was given: 15 sites, 10 of them with a state */
    assert_int_equal(b.nargs, 15 * 2 + 10);
    ew_batch_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frozen_sites_taken_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
