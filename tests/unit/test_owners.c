/* Unit tests: which partition each site's records come from (pipeline/ew_owners.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ew_owners.h"

struct seen {
    int n;
    char mn[4096][48];
};

static void on_drop(void *ctx, const char *mn)
{
    struct seen *s = ctx;
    snprintf(s->mn[s->n++], sizeof s->mn[0], "%s", mn);
}

static void test_drop_only_the_lost_partition(void **state)
{
    (void)state;
    static struct seen s;
    struct ew_owners *t = ew_owners_new();
    assert_non_null(t);
    char mn[32];
    for (int i = 0; i < 3000; i++) { /* the table grows several times */
        snprintf(mn, sizeof mn, "MN%06d", i);
        assert_int_equal(ew_owners_note(t, mn, i % 2, i % 3), 0);
    }
    assert_int_equal(ew_owners_count(t), 3000);
    /* a site seen on another partition moves there */
    assert_int_equal(ew_owners_note(t, "MN000000", 1, 2), 0);
    assert_int_equal(ew_owners_count(t), 3000);
    s.n = 0;
    size_t n = ew_owners_drop(t, 0, 0, on_drop, &s); /* i % 2 == 0 and i % 3 == 0, but 0 */
    assert_int_equal(n, 499);
    assert_int_equal(s.n, 499);
    for (int i = 0; i < s.n; i++) {
        int k = atoi(s.mn[i] + 2);
        assert_true(k % 6 == 0 && k != 0);
    }
    assert_int_equal(ew_owners_count(t), 2501);
    s.n = 0;
    assert_int_equal(ew_owners_drop(t, 0, 0, on_drop, &s), 0);  /* nothing left of it */
    assert_int_equal(ew_owners_drop(t, 1, 2, NULL, NULL), 501); /* 500 + MN000000 */
    ew_owners_free(t);
}

static void test_bad_names(void **state)
{
    (void)state;
    struct ew_owners *t = ew_owners_new();
    char longmn[64];
    memset(longmn, 'A', sizeof longmn - 1);
    longmn[sizeof longmn - 1] = '\0';
    assert_int_equal(ew_owners_note(t, "", 0, 0), -1);
    assert_int_equal(ew_owners_note(t, longmn, 0, 0), -1);
    assert_int_equal(ew_owners_count(t), 0);
    assert_int_equal(ew_owners_drop(t, 0, 0, NULL, NULL), 0); /* an empty table */
    ew_owners_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drop_only_the_lost_partition),
        cmocka_unit_test(test_bad_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
