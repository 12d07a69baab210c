/* Unit tests: ew_time (Beijing time digits and ISO 8601). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ew_error.h"
#include "ew_time.h"

static void test_digits_14_and_17(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(ew_time_parse_digits("20240122170000", 14, &ms), 0);
    /* 2024-01-22T09:00:00Z */
    assert_int_equal(ms, 1705914000000LL);
    assert_int_equal(ew_time_parse_digits("20240122170000123", 17, &ms), 0);
    assert_int_equal(ms, 1705914000123LL);
    char out[18];
    assert_int_equal(ew_time_format_digits(ms, out), 17);
    assert_string_equal(out, "20240122170000123");
    assert_int_equal(ew_time_format_digits(1705914000000LL, out), 14);
    assert_string_equal(out, "20240122170000");
    /* a QN always has the milliseconds, and reads back as the same time */
    assert_int_equal(ew_time_format_qn(1705914000000LL, out), 17);
    assert_string_equal(out, "20240122170000000");
    assert_int_equal(ew_time_parse_digits(out, 17, &ms), 0);
    assert_int_equal(ms, 1705914000000LL);
    assert_int_equal(ew_time_format_qn(1705914000123LL, out), 17);
    assert_string_equal(out, "20240122170000123");
}

static void test_digits_rejects_impossible_dates(void **state)
{
    (void)state;
    int64_t ms;
    const char *bad[] = {"20240230170000", "20230229000000", "20241301000000",
                         "20240100000000", "20240122240000", "20240122236000",
                         "20240122235960", "2024012217000x", "00000101000000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ew_time_parse_digits(bad[i], 14, &ms), EW_EMALFORMED);
    assert_int_equal(ew_time_parse_digits("2024022917000", 13, &ms), EW_EMALFORMED);
    assert_int_equal(ew_time_parse_digits("20240229170000", 14, &ms), 0); /* leap year */
    assert_int_equal(ew_time_parse_digits("20000229000000", 14, &ms), 0); /* 400-year leap */
    assert_int_equal(ew_time_parse_digits("21000229000000", 14, &ms), EW_EMALFORMED);
    /* a byte that is not a digit, at every place, is refused (the digits are read 8 at a time) */
    const char junk[] = {'/', ':', ' ', 'a', (char)0xB0, (char)0x80, '\0'};
    for (size_t n = 14; n <= 17; n += 3)
        for (size_t at = 0; at < n; at++)
            for (size_t j = 0; j < sizeof junk; j++) {
                char t[18];
                memcpy(t, "20240122170000123", 17);
                t[at] = junk[j];
                assert_int_equal(ew_time_parse_digits(t, n, &ms), EW_EMALFORMED);
            }
}

static void test_iso_format_and_parse(void **state)
{
    (void)state;
    char iso[EW_TIME_ISO_MAX];
    ew_time_format_iso(1705914000000LL, iso);
    assert_string_equal(iso, "2024-01-22T17:00:00+08:00");
    ew_time_format_iso(1705914000250LL, iso);
    assert_string_equal(iso, "2024-01-22T17:00:00.250+08:00");
    /* Beijing midnight is the previous UTC day */
    ew_time_format_iso(1705852800000LL, iso);
    assert_string_equal(iso, "2024-01-22T00:00:00+08:00");

    int64_t ms;
    const char *same[] = {"2024-01-22T17:00:00+08:00", "2024-01-22T09:00:00Z",
                          "2024-01-22 17:00:00", "2024-01-22T04:00:00-05:00",
                          "2024-01-22T17:00:00.000+08:00"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        assert_int_equal(ew_time_parse_iso(same[i], strlen(same[i]), &ms), 0);
        assert_int_equal(ms, 1705914000000LL);
    }
    assert_int_equal(ew_time_parse_iso("2024-01-22T17:00:00.25+08:00", 28, &ms), 0);
    assert_int_equal(ms, 1705914000250LL);
    const char *bad[] = {
        "2024-01-22",          "2024-01-22T17:00:00+8",      "2024-01-22T17:00:00.+08:00",
        "2024-02-30T00:00:00", "2024-01-22T17:00:00 +08:00", "2024/01/22T17:00:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ew_time_parse_iso(bad[i], strlen(bad[i]), &ms), EW_EMALFORMED);
}

/* Every day over four centuries maps to a date and back. */
/* Times of one day read one after another (the day number is kept by its date's digits): each
 * equals the ISO reading of the same time, and a bad time of day is refused on a date just
 * read. */
static void test_digits_same_date_again(void **state)
{
    (void)state;
    int64_t ms, iso;
    for (unsigned h = 0; h < 24; h++)
        for (unsigned mi = 0; mi < 60; mi += 7) {
            char t[18], i[32];
            snprintf(t, sizeof t, "20240229%02u%02u59", h, mi);
            snprintf(i, sizeof i, "2024-02-29T%02u:%02u:59+08:00", h, mi);
            assert_int_equal(ew_time_parse_digits(t, 14, &ms), 0);
            assert_int_equal(ew_time_parse_iso(i, strlen(i), &iso), 0);
            assert_int_equal(ms, iso);
            assert_int_equal(ew_time_parse_digits("20240229240000", 14, &ms), EW_EMALFORMED);
            assert_int_equal(ew_time_parse_digits("20230229120000", 14, &ms), EW_EMALFORMED);
        }
}

static void test_civil_days_inverse(void **state)
{
    (void)state;
    for (int64_t d = -50000; d < 100000; d++) {
        int y;
        unsigned m, day;
        ew_civil_from_days(d, &y, &m, &day);
        assert_int_equal(ew_days_from_civil(y, m, day), d);
    }
    assert_int_equal(ew_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(ew_days_from_civil(2000, 3, 1), 11017);
}

/* Digits and ISO round-trip for times spread over 1990..2100, with milliseconds. */
static void test_round_trips(void **state)
{
    (void)state;
    for (int64_t t = 631152000000LL; t < 4102444800000LL; t += 7919LL * 3600 * 1000 + 123) {
        char d[18], iso[EW_TIME_ISO_MAX];
        int64_t back;
        size_t n = ew_time_format_digits(t, d);
        assert_int_equal(ew_time_parse_digits(d, n, &back), 0);
        assert_int_equal(back, t);
        n = ew_time_format_iso(t, iso);
        assert_int_equal(ew_time_parse_iso(iso, n, &back), 0);
        assert_int_equal(back, t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digits_14_and_17),
        cmocka_unit_test(test_digits_rejects_impossible_dates),
        cmocka_unit_test(test_digits_same_date_again),
        cmocka_unit_test(test_iso_format_and_parse),
        cmocka_unit_test(test_civil_days_inverse),
        cmocka_unit_test(test_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
