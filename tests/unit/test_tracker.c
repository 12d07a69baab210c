/*
 * Unit tests: the delivery tracker (pipeline/ew_tracker.h). Each test plays one situation of
 * the daemon's delivery: messages done out of order, a split packet's parts held until the
 * packet is whole, records held for event-time order, a revoked partition, a partition
 * assigned again while its old messages are in flight, and allocation failure; and the cuts a
 * partition's state is saved with (the first message not done, those done after it) and
 * resumed from.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ew_alloc.h"
#include "../testutil.h"
#include "ew_tracker.h"

/* What the tracker stored, in order. */
struct stored {
    int n;
    int topic[64];
    int32_t partition[64];
    int64_t next[64];
};

static void on_store(void *ctx, int topic, int32_t partition, int64_t next)
{
    struct stored *s = ctx;
    assert_true(s->n < 64);
    s->topic[s->n] = topic;
    s->partition[s->n] = partition;
    s->next[s->n++] = next;
}

static struct ew_tracker *tracker(struct stored *s)
{
    *s = (struct stored){0};
    struct ew_tracker *t = ew_tracker_new(on_store, s);
    assert_non_null(t);
    return t;
}

/* A message that its handler is done with at once (nothing derived from it is held). */
static uint64_t consumed(struct ew_tracker *t, int topic, int32_t partition, int64_t offset)
{
    uint64_t k = ew_tracker_take(t, topic, partition, offset);
    assert_int_not_equal(k, 0);
    return k;
}

/* A message whose handler has returned while something derived from it still waits (a split
 * packet's other part, a Redis reply): one reference left. */
static uint64_t in_flight(struct ew_tracker *t, int topic, int32_t partition, int64_t offset)
{
    uint64_t k = consumed(t, topic, partition, offset);
    ew_tracker_hold(t, k);
    ew_tracker_done(t, k);
    return k;
}

static void test_offsets_move_over_the_done_prefix_only(void **state)
{
    (void)state;
    struct stored s;
    struct ew_tracker *t = tracker(&s);
    assert_int_equal(ew_tracker_assign(t, 0, 3), 0);
    uint64_t a = consumed(t, 0, 3, 10), b = consumed(t, 0, 3, 11), c = consumed(t, 0, 3, 12);
    assert_int_equal(ew_tracker_held(t), 3);
    ew_tracker_done(t, b); /* the second is safe before the first: nothing moves */
    assert_int_equal(s.n, 0);
    ew_tracker_done(t, a); /* both: the offset moves past the second */
    assert_int_equal(s.n, 1);
    assert_int_equal(s.topic[0], 0);
    assert_int_equal(s.partition[0], 3);
    assert_int_equal(s.next[0], 12);
    ew_tracker_done(t, c);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.next[1], 13);
    assert_int_equal(ew_tracker_held(t), 0);
    ew_tracker_done(t, c); /* done twice, or ticket 0: nothing happens */
    ew_tracker_done(t, 0);
    ew_tracker_hold(t, 0);
    assert_int_equal(s.n, 2);
    ew_tracker_free(t);
}

static void test_partitions_are_independent(void **state)
{
    (void)state;
    struct stored s;
    struct ew_tracker *t = tracker(&s);
    ew_tracker_assign(t, 0, 0);
    ew_tracker_assign(t, 1, 0); /* the same partition number of another topic */
    uint64_t a = consumed(t, 0, 0, 5), b = consumed(t, 1, 0, 7);
    ew_tracker_done(t, b);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.topic[0], 1);
    assert_int_equal(s.next[0], 8);
    ew_tracker_done(t, a);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.topic[1], 0);
    assert_int_equal(s.next[1], 6);
    ew_tracker_free(t);
}

/* A split packet: parts 1 and 2 of one packet at offsets 20 and 22, an ordinary message at 21
 * between them. Each part is held until the packet is whole; the handler lets go of each
 * message as it returns. */
static void test_split_parts_hold_the_offset_until_whole(void **state)
{
    (void)state;
    struct stored s;
    struct ew_tracker *t = tracker(&s);
    ew_tracker_assign(t, 0, 1);
    uint64_t p1 = in_flight(t, 0, 1, 20); /* waiting for its other part */
    uint64_t m = consumed(t, 0, 1, 21);
    ew_tracker_done(t, m);
    assert_int_equal(s.n, 0); /* 20 is still held: 21 is not stored either */
    uint64_t p2 = consumed(t, 0, 1, 22);
    ew_tracker_hold(t, p2);
    /* whole: the joined record is judged and its Redis commands hold the first part's ticket */
    ew_tracker_hold(t, p1);
    ew_tracker_done(t, p1); /* the split lets go of both parts */
    ew_tracker_done(t, p2);
    ew_tracker_done(t, p2); /* the handler of the second part returns */
    assert_int_equal(s.n, 0);
    assert_int_equal(ew_tracker_held(t), 3); /* 21 and 22 are done, but behind 20 */
    ew_tracker_done(t, p1);                  /* the command's reply: everything up to 22 is safe */
    assert_int_equal(s.n, 1);
    assert_int_equal(s.next[0], 23);
    ew_tracker_free(t);
}

/* The engine holds records back for event-time order: a later message judged first (it was
 * earlier in data time) is safe before the one it overtook; the offset waits for both. */
static void test_reorder_window_holds_the_offset(void **state)
{
    (void)state;
    struct stored s;
    struct ew_tracker *t = tracker(&s);
    ew_tracker_assign(t, 0, 0);
    uint64_t late_in_time = consumed(t, 0, 0, 0), early_in_time = consumed(t, 0, 0, 1);
    ew_tracker_hold(t, late_in_time); /* both held by the engine */
    ew_tracker_hold(t, early_in_time);
    ew_tracker_done(t, late_in_time); /* the handlers return */
    ew_tracker_done(t, early_in_time);
    ew_tracker_done(t, early_in_time); /* released first: earlier data time */
    assert_int_equal(s.n, 0);
    ew_tracker_done(t, late_in_time);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.next[0], 2);
    ew_tracker_free(t);
}

static void test_revoked_partition_stores_nothing(void **state)
{
    (void)state;
    struct stored s;
    struct ew_tracker *t = tracker(&s);
    ew_tracker_assign(t, 0, 2);
    uint64_t a = in_flight(t, 0, 2, 40); /* a Redis command unanswered */
    ew_tracker_revoke(t, 0, 2);
    assert_int_equal(ew_tracker_take(t, 0, 2, 41), 0); /* not ours any more */
    ew_tracker_done(t, a);                             /* its reply comes after the revocation */
    assert_int_equal(s.n, 0);
    assert_int_equal(ew_tracker_held(t), 0);
    assert_int_equal(ew_tracker_take(t, 5, 0, 0), 0); /* never assigned */
    ew_tracker_free(t);
}

/* Revoked and assigned again (the rebalance gave it back) while a command of an old message
 * is unanswered: the new assignment starts afresh from the committed offset, and the old
 * ticket, when done, stores nothing over it. */
static void test_reassigned_while_in_flight(void **state)
{
    (void)state;
    struct stored s;
    struct ew_tracker *t = tracker(&s);
    ew_tracker_assign(t, 1, 0);
    uint64_t old = in_flight(t, 1, 0, 100);
    ew_tracker_revoke(t, 1, 0);
    assert_int_equal(ew_tracker_assign(t, 1, 0), 0);
    uint64_t again = consumed(t, 1, 0, 100); /* read again from the committed offset */
    assert_int_not_equal(again, old);
    uint64_t next = consumed(t, 1, 0, 101);
    ew_tracker_done(t, again);
    ew_tracker_done(t, next);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.next[1], 102);
    ew_tracker_done(t, old); /* the old reply, late: nothing stored */
    assert_int_equal(s.n, 2);
    /* assigned again with nothing in flight: it simply goes on */
    assert_int_equal(ew_tracker_assign(t, 1, 0), 0);
    ew_tracker_done(t, consumed(t, 1, 0, 102));
    assert_int_equal(s.n, 3);
    assert_int_equal(s.next[2], 103);
    ew_tracker_free(t);
}

/* Assigned again without a revocation in between (an assignment that kept it), with a message
 * in flight: the same as above. */
static void test_assigned_twice_retires_the_old_slot(void **state)
{
    (void)state;
    struct stored s;
    struct ew_tracker *t = tracker(&s);
    ew_tracker_assign(t, 0, 0);
    uint64_t old = consumed(t, 0, 0, 7);
    ew_tracker_assign(t, 0, 0);
    ew_tracker_done(t, consumed(t, 0, 0, 7));
    assert_int_equal(s.n, 1);
    assert_int_equal(s.next[0], 8);
    ew_tracker_done(t, old);
    assert_int_equal(s.n, 1);
    ew_tracker_free(t);
}

/* Many messages: the slab and the rings grow and tickets are reused. */
static void test_many_messages(void **state)
{
    (void)state;
    struct stored s;
    struct ew_tracker *t = tracker(&s);
    ew_tracker_assign(t, 0, 0);
    static uint64_t k[5000];
    for (int i = 0; i < 5000; i++)
        k[i] = consumed(t, 0, 0, i);
    for (int i = 4999; i > 0; i--) /* done newest first: nothing moves until the first */
        ew_tracker_done(t, k[i]);
    assert_int_equal(s.n, 0);
    ew_tracker_done(t, k[0]);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.next[0], 5000);
    for (int round = 0; round < 3; round++) /* tickets come back from the free list */
        ew_tracker_done(t, consumed(t, 0, 0, 5000 + round));
    assert_int_equal(s.next[s.n - 1], 5003);
    assert_int_equal(ew_tracker_held(t), 0);
    ew_tracker_free(t);
}

/* Every allocation failing in turn: take returns 0, and what was taken still completes. */
static void test_allocation_failure(void **state)
{
    (void)state;
    for (long nth = 0; nth < 16; nth++) {
        ew_test_fail_nth(nth);
        struct ew_tracker *t = ew_tracker_new(NULL, NULL); /* nothing to store to */
        if (!t)
            goto next;
        if (ew_tracker_assign(t, 0, 0)) {
            ew_tracker_free(t);
            goto next;
        }
        uint64_t k[2000];
        int n = 0;
        for (int i = 0; i < 2000; i++)
            if ((k[n] = ew_tracker_take(t, 0, 0, i)))
                n++;
        assert_int_equal(ew_tracker_held(t), (size_t)n);
        for (int i = 0; i < n; i++)
            ew_tracker_done(t, k[i]);
        assert_int_equal(ew_tracker_held(t), 0);
        ew_tracker_free(t);
    next:
        ew_test_fail_nth(-1);
    }
}

/* The ranges a cut wrote, decoded: pairs (start, end). */
static size_t ranges(int64_t from, const struct ew_buf *done, int64_t out[][2], size_t max)
{
    size_t n = 0;
    int64_t last = from;
    const unsigned char *p = (const unsigned char *)done->data, *end = p + done->len;
    while (p < end && n < max) {
        uint64_t v[2] = {0, 0};
        for (int k = 0; k < 2; k++)
            for (int shift = 0;; shift += 7) {
                assert_true(p < end);
                unsigned char c = *p++;
                v[k] |= (uint64_t)(c & 0x7f) << shift;
                if (!(c & 0x80))
                    break;
            }
        out[n][0] = last + (int64_t)v[0];
        out[n][1] = last = out[n][0] + (int64_t)v[1];
        n++;
    }
    assert_ptr_equal(p, end);
    return n;
}

/* Records held for event-time order finish out of offset order: the cut starts at the first
 * not done and names the runs done after it. */
static void test_cut_names_what_is_done_after_the_first_pending(void **state)
{
    (void)state;
    struct stored s;
    struct ew_tracker *t = tracker(&s);
    assert_int_equal(ew_tracker_assign(t, 0, 3), 0);
    struct ew_buf done = EW_BUF_INIT;
    assert_int_equal(ew_tracker_cut(t, 0, 3, &done), -1); /* nothing taken yet */
    uint64_t k[10];
    for (int i = 0; i < 10; i++)
        k[i] = in_flight(t, 0, 3, 100 + i);
    ew_tracker_done(t, k[0]); /* 100, 101 done: the prefix */
    ew_tracker_done(t, k[1]);
    ew_tracker_done(t, k[3]); /* 103, 104: a run */
    ew_tracker_done(t, k[4]);
    ew_tracker_done(t, k[7]); /* 107 alone */
    assert_int_equal(ew_tracker_cut(t, 0, 3, &done), 102);
    int64_t r[8][2];
    assert_int_equal(ranges(102, &done, r, 8), 2);
    assert_int_equal(r[0][0], 103);
    assert_int_equal(r[0][1], 105);
    assert_int_equal(r[1][0], 107);
    assert_int_equal(r[1][1], 108);
    for (int i = 0; i < 10; i++)
        if (i != 0 && i != 1 && i != 3 && i != 4 && i != 7)
            ew_tracker_done(t, k[i]);
    ew_buf_clear(&done);
    assert_int_equal(ew_tracker_cut(t, 0, 3, &done), 110); /* all done: the next to read */
    assert_int_equal(done.len, 0);
    assert_int_equal(ew_tracker_cut(t, 0, 4, &done), -1); /* not assigned */
    ew_buf_release(&done);
    ew_tracker_free(t);
}

/* A partition resumed from a cut skips what was done; while it catches up, its cuts still name
 * the done messages not reached yet, so that a second restore skips them too. */
static void test_resume_skips_what_the_cut_says_is_done(void **state)
{
    (void)state;
    struct stored s;
    struct ew_tracker *t = tracker(&s);
    assert_int_equal(ew_tracker_assign(t, 0, 0), 0);
    uint64_t k[10];
    for (int i = 0; i < 10; i++)
        k[i] = in_flight(t, 0, 0, i);
    int64_t done_at[] = {2, 3, 6};
    for (size_t i = 0; i < 3; i++)
        ew_tracker_done(t, k[done_at[i]]);
    struct ew_buf done = EW_BUF_INIT;
    int64_t from = ew_tracker_cut(t, 0, 0, &done);
    assert_int_equal(from, 0);
    ew_tracker_free(t);

    t = tracker(&s); /* the next owner */
    assert_int_equal(ew_tracker_assign(t, 0, 0), 0);
    assert_int_equal(ew_tracker_resume(t, 0, 0, from, done.data, done.len), 0);
    bool skipped[10];
    uint64_t first = 0;
    for (int64_t o = 0; o < 5; o++) {
        skipped[o] = ew_tracker_skip(t, 0, 0, o);
        if (skipped[o])
            continue;
        if (o == 0) /* 0 stays pending: the cut stays at it */
            first = in_flight(t, 0, 0, o);
        else
            ew_tracker_done(t, consumed(t, 0, 0, o));
    }
    assert_false(skipped[0] || skipped[1] || skipped[4]);
    assert_true(skipped[2] && skipped[3]);
    ew_buf_clear(&done);
    assert_int_equal(ew_tracker_cut(t, 0, 0, &done), 0);
    int64_t r[8][2];
    size_t n = ranges(0, &done, r, 8);
    assert_int_equal(n, 2); /* 1 to 4 done here, or skipped; 6 not reached yet */
    assert_int_equal(r[0][0], 1);
    assert_int_equal(r[0][1], 5);
    assert_int_equal(r[1][0], 6);
    assert_int_equal(r[1][1], 7);
    ew_tracker_done(t, first); /* 0 done: the prefix runs to 4, and 5 is next */
    ew_buf_clear(&done);
    assert_int_equal(ew_tracker_cut(t, 0, 0, &done), 5);
    assert_int_equal(ranges(5, &done, r, 8), 1);
    assert_int_equal(r[0][0], 6);
    assert_false(ew_tracker_skip(t, 0, 0, 5));
    ew_tracker_done(t, consumed(t, 0, 0, 5));
    assert_true(ew_tracker_skip(t, 0, 0, 6)); /* nothing pending: the cut moves past it */
    ew_buf_clear(&done);
    assert_int_equal(ew_tracker_cut(t, 0, 0, &done), 7);
    assert_int_equal(done.len, 0);
    assert_false(ew_tracker_skip(t, 0, 0, 7));
    /* corrupt ranges are refused, and nothing is skipped */
    assert_int_equal(ew_tracker_assign(t, 0, 1), 0);
    const unsigned char bad[] = {0x80};
    assert_int_equal(ew_tracker_resume(t, 0, 1, 0, bad, sizeof bad), -1);
    const unsigned char empty_range[] = {0x01, 0x00};
    assert_int_equal(ew_tracker_resume(t, 0, 1, 0, empty_range, sizeof empty_range), -1);
    assert_false(ew_tracker_skip(t, 0, 1, 1));
    int topic;
    int32_t partition;
    assert_true(ew_tracker_where(t, consumed(t, 0, 1, 0), &topic, &partition));
    assert_int_equal(partition, 1);
    ew_buf_release(&done);
    ew_tracker_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets_move_over_the_done_prefix_only),
        cmocka_unit_test(test_partitions_are_independent),
        cmocka_unit_test(test_split_parts_hold_the_offset_until_whole),
        cmocka_unit_test(test_reorder_window_holds_the_offset),
        cmocka_unit_test(test_revoked_partition_stores_nothing),
        cmocka_unit_test(test_reassigned_while_in_flight),
        cmocka_unit_test(test_assigned_twice_retires_the_old_slot),
        cmocka_unit_test(test_many_messages),
        cmocka_unit_test(test_allocation_failure),
        cmocka_unit_test(test_cut_names_what_is_done_after_the_first_pending),
        cmocka_unit_test(test_resume_skips_what_the_cut_says_is_done),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
