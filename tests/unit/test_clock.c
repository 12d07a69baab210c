/*
 * Unit tests: the engine's clock from the partitions' watermarks (pipeline/ew_clock.h): the
 * earliest of the partitions with data, a lagging one holding it back, an idle one left out
 * only once it is read to its end, every one idle, a wrong device clock, revocation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ew_alloc.h"
#include "../testutil.h"
#include "ew_clock.h"

#define MIN (60 * 1000LL)
#define T0  1727740800000LL /* 2024-10-01T08:00:00+08:00 */

/* Partitions still being read, by partition number (bit set: behind). */
static unsigned behind;

static bool caught_up(void *ctx, int topic, int32_t partition)
{
    (void)ctx, (void)topic;
    return !(behind >> partition & 1);
}

static void test_no_data_no_clock(void **state)
{
    (void)state;
    struct ew_clock *c = ew_clock_new(MIN);
    assert_int_equal(ew_clock_now(c, T0, NULL, NULL), INT64_MIN);
    ew_clock_assign(c, 0, 0);
    assert_int_equal(ew_clock_now(c, T0, NULL, NULL), INT64_MIN); /* assigned, no data yet */
    ew_clock_free(c);
}

/* After a restart partition 0's records come first, partition 1's backlog (its sites' data three
 * hours older) a moment later: until partition 1 brings data or is read to its end there is no
 * clock, so partition 0's time cannot make partition 1's sites look silent. An empty partition
 * holds nothing once its end is known. */
static void test_partition_without_data_holds_the_clock(void **state)
{
    (void)state;
    struct ew_clock *c = ew_clock_new(MIN);
    int64_t now = T0 + 3 * 60 * MIN;
    ew_clock_assign(c, 0, 0);
    ew_clock_assign(c, 0, 1);
    ew_clock_assign(c, 0, 2);
    ew_clock_observe(c, 0, 0, now, now);
    behind = 1u << 1; /* partition 1 has its backlog to hand out; partition 2 is empty */
    assert_int_equal(ew_clock_now(c, now, caught_up, NULL), INT64_MIN);
    assert_int_equal(ew_clock_now(c, now + 5 * MIN, caught_up, NULL), INT64_MIN);
    struct ew_clock_stats st;
    ew_clock_stats(c, &st);
    assert_int_equal(st.awaited, 1); /* partition 1; partition 2 is read to its end */
    ew_clock_observe(c, 0, 1, T0, now + 5 * MIN);
    assert_int_equal(ew_clock_current(c), T0);
    assert_int_equal(ew_clock_now(c, now + 5 * MIN, caught_up, NULL), T0);
    /* a partition assigned later, whose end is not known yet: no clock until it is */
    ew_clock_assign(c, 0, 3);
    behind = 1u << 3;
    assert_int_equal(ew_clock_now(c, now + 5 * MIN + 10000, caught_up, NULL), INT64_MIN);
    behind = 0;
    assert_int_equal(ew_clock_now(c, now + 5 * MIN + 20000, caught_up, NULL), T0);
    ew_clock_free(c);
}

/* Partition 1 replays a backlog three hours behind partition 0: the clock is partition 1's. */
static void test_lagging_partition_holds_the_clock(void **state)
{
    (void)state;
    struct ew_clock *c = ew_clock_new(MIN);
    ew_clock_assign(c, 0, 0);
    ew_clock_assign(c, 0, 1);
    for (int i = 0; i < 30; i++) {
        int64_t now = T0 + 3 * 60 * MIN + i * MIN;
        ew_clock_observe(c, 0, 0, now, now);              /* live */
        ew_clock_observe(c, 0, 1, T0 + i * 2 * MIN, now); /* catching up, twice as fast */
        assert_int_equal(ew_clock_now(c, now, caught_up, NULL), T0 + i * 2 * MIN);
    }
    struct ew_clock_stats st;
    ew_clock_stats(c, &st);
    assert_int_equal(st.sources, 2);
    assert_int_equal(st.holding, 2);
    assert_int_equal(st.idle, 0);
    ew_clock_free(c);
}

/* A partition that goes quiet is left out once it has been quiet for idle_ms and is read to
 * its end; a partition still being read stays in however long it waits for its turn. */
static void test_idle_partition_is_left_out(void **state)
{
    (void)state;
    struct ew_clock *c = ew_clock_new(5 * MIN);
    ew_clock_observe(c, 0, 0, T0, T0);
    ew_clock_observe(c, 0, 1, T0, T0); /* partition 1 sends once and goes quiet */
    behind = 0;
    for (int i = 1; i <= 10; i++) {
        int64_t now = T0 + i * MIN;
        ew_clock_observe(c, 0, 0, now, now);
        int64_t clock = ew_clock_now(c, now, caught_up, NULL);
        assert_int_equal(clock, i < 5 ? T0 : now); /* held back, then left out */
    }
    /* the same while partition 1 is behind: librdkafka has not handed its data out yet */
    struct ew_clock *d = ew_clock_new(5 * MIN);
    ew_clock_observe(d, 0, 0, T0, T0);
    ew_clock_observe(d, 0, 1, T0, T0);
    behind = 1u << 1;
    for (int i = 1; i <= 10; i++) {
        int64_t now = T0 + i * MIN;
        ew_clock_observe(d, 0, 0, now, now);
        assert_int_equal(ew_clock_now(d, now, caught_up, NULL), T0);
    }
    behind = 0;
    /* its next record brings it back, with its own time */
    ew_clock_observe(c, 0, 1, T0 + 2 * MIN, T0 + 11 * MIN);
    assert_int_equal(ew_clock_now(c, T0 + 11 * MIN, caught_up, NULL), T0 + 2 * MIN);
    ew_clock_free(c);
    ew_clock_free(d);
}

/* Every partition quiet at once: the clock stays at the newest data (no site looks silent). */
/* Per record the clock is taken with idleness as the last tick found it: a record brings its
 * partition back at once, and nothing else changes until the next tick. */
static void test_current_between_ticks(void **state)
{
    (void)state;
    struct ew_clock *c = ew_clock_new(MIN);
    ew_clock_observe(c, 0, 0, T0, T0);
    ew_clock_observe(c, 0, 1, T0 + 5 * MIN, T0);
    assert_int_equal(ew_clock_current(c), T0);
    assert_int_equal(ew_clock_now(c, T0 + 2 * MIN, NULL, NULL), T0 + 5 * MIN); /* both idle */
    ew_clock_observe(c, 0, 1, T0 + 6 * MIN, T0 + 2 * MIN);
    assert_int_equal(ew_clock_current(c), T0 + 6 * MIN); /* 1 is back, 0 still idle */
    ew_clock_observe(c, 0, 0, T0 + MIN, T0 + 2 * MIN);
    assert_int_equal(ew_clock_current(c), T0 + MIN); /* 0 is back too, behind */
    ew_clock_free(c);
}

static void test_every_partition_idle(void **state)
{
    (void)state;
    struct ew_clock *c = ew_clock_new(MIN);
    ew_clock_observe(c, 0, 0, T0 + 10 * MIN, T0 + 10 * MIN);
    ew_clock_observe(c, 1, 3, T0 + 8 * MIN, T0 + 10 * MIN);
    assert_int_equal(ew_clock_now(c, T0 + 10 * MIN, NULL, NULL), T0 + 8 * MIN);
    assert_int_equal(ew_clock_now(c, T0 + 5 * 60 * MIN, NULL, NULL), T0 + 10 * MIN);
    struct ew_clock_stats st;
    ew_clock_stats(c, &st);
    assert_int_equal(st.idle, 2);
    assert_int_equal(st.holding, 0);
    ew_clock_free(c);
}

static void test_wrong_device_clock_and_old_data(void **state)
{
    (void)state;
    struct ew_clock *c = ew_clock_new(MIN);
    ew_clock_observe(c, 0, 0, T0, T0);
    ew_clock_observe(c, 0, 0, T0 + 11 * MIN, T0); /* more than 10 minutes ahead: ignored */
    assert_int_equal(ew_clock_now(c, T0, NULL, NULL), T0);
    ew_clock_observe(c, 0, 0, T0 + 9 * MIN, T0); /* within: taken */
    assert_int_equal(ew_clock_now(c, T0, NULL, NULL), T0 + 9 * MIN);
    ew_clock_observe(c, 0, 0, T0 - 60 * MIN, T0); /* older data does not move it back */
    assert_int_equal(ew_clock_now(c, T0, NULL, NULL), T0 + 9 * MIN);
    ew_clock_free(c);
}

static void test_revoked_partition_no_longer_counts(void **state)
{
    (void)state;
    struct ew_clock *c = ew_clock_new(MIN);
    ew_clock_observe(c, 0, 0, T0 + 60 * MIN, T0 + 60 * MIN);
    ew_clock_observe(c, 0, 1, T0, T0 + 60 * MIN);
    assert_int_equal(ew_clock_now(c, T0 + 60 * MIN, NULL, NULL), T0);
    ew_clock_revoke(c, 0, 1);
    assert_int_equal(ew_clock_now(c, T0 + 60 * MIN, NULL, NULL), T0 + 60 * MIN);
    ew_clock_revoke(c, 0, 7);                      /* not one of ours: nothing */
    assert_int_equal(ew_clock_assign(c, 0, 0), 0); /* assigned again: it keeps its mark */
    assert_int_equal(ew_clock_now(c, T0 + 60 * MIN, NULL, NULL), T0 + 60 * MIN);
    for (int p = 0; p < 100; p++) /* grows */
        assert_int_equal(ew_clock_assign(c, 2, p), 0);
    struct ew_clock_stats st;
    ew_clock_stats(c, &st);
    assert_int_equal(st.sources, 101);
    ew_clock_free(c);
}

static void test_allocation_failure(void **state)
{
    (void)state;
    for (long nth = 0; nth < 4; nth++) {
        ew_test_fail_nth(nth);
        struct ew_clock *c = ew_clock_new(MIN);
        if (c) {
            ew_clock_observe(c, 0, 0, T0, T0); /* no memory: it does not count */
            int64_t clock = ew_clock_now(c, T0, NULL, NULL);
            assert_true(clock == T0 || clock == INT64_MIN);
            ew_clock_free(c);
        }
        ew_test_fail_nth(-1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_data_no_clock),
        cmocka_unit_test(test_partition_without_data_holds_the_clock),
        cmocka_unit_test(test_lagging_partition_holds_the_clock),
        cmocka_unit_test(test_idle_partition_is_left_out),
        cmocka_unit_test(test_current_between_ticks),
        cmocka_unit_test(test_every_partition_idle),
        cmocka_unit_test(test_wrong_device_clock_and_old_data),
        cmocka_unit_test(test_revoked_partition_no_longer_counts),
        cmocka_unit_test(test_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
