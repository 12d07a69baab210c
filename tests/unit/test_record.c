/* Unit tests: ew_record vocabularies, numbers, pollutant table lookups. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ew_pollutant.h"
#include "ew_record.h"

static void test_flag_meaning_depends_on_edition(void **state)
{
    (void)state;
    assert_int_equal(ew_flag_meaning(EW_VERSION_2017, 'F'), EW_FLAG_INSTRUMENT_STOPPED);
    assert_int_equal(ew_flag_meaning(EW_VERSION_2025, 'F'), EW_FLAG_INSTRUMENT_STOPPED);
    assert_int_equal(ew_flag_meaning(EW_VERSION_2005, 'F'), EW_FLAG_SOURCE_STOPPED);
    assert_int_equal(ew_flag_meaning(EW_VERSION_2017, 'B'), EW_FLAG_COMM_FAILURE);
    assert_int_equal(ew_flag_meaning(EW_VERSION_2005, 'B'), EW_FLAG_UNKNOWN);
    assert_int_equal(ew_flag_meaning(EW_VERSION_2005, 'P'), EW_FLAG_POWER_FAILURE);
    assert_int_equal(ew_flag_meaning(EW_VERSION_2017, 'P'), EW_FLAG_UNKNOWN);
    assert_int_equal(ew_flag_meaning(EW_VERSION_2005, 'N'), EW_FLAG_NORMAL);
    assert_int_equal(ew_flag_meaning(EW_VERSION_2017, 'T'), EW_FLAG_OVER_RANGE);
    assert_int_equal(ew_flag_meaning(EW_VERSION_2017, '\0'), EW_FLAG_NONE);
    assert_string_equal(ew_flag_meaning_name(EW_FLAG_SOURCE_STOPPED), "source_stopped");
}

static void test_version_from_flag_bits(void **state)
{
    (void)state;
    assert_int_equal(ew_version_from_flag(-1), EW_VERSION_2005);
    assert_int_equal(ew_version_from_flag(0), EW_VERSION_2005);
    assert_int_equal(ew_version_from_flag(1), EW_VERSION_2005);
    assert_int_equal(ew_version_from_flag(4), EW_VERSION_2017);
    assert_int_equal(ew_version_from_flag(7), EW_VERSION_2017);
    assert_int_equal(ew_version_from_flag(8), EW_VERSION_2025);
    assert_int_equal(ew_version_from_flag(12), EW_VERSION_UNKNOWN);
    assert_string_equal(ew_version_name(EW_VERSION_2025), "2025");
    assert_int_equal(ew_version_parse("2017"), EW_VERSION_2017);
    assert_int_equal(ew_version_parse("2018"), EW_VERSION_UNKNOWN);
}

static void test_kinds_and_fields(void **state)
{
    (void)state;
    assert_int_equal(ew_kind_from_cn("2061"), EW_KIND_HOUR);
    assert_int_equal(ew_kind_from_cn("2031"), EW_KIND_DAY);
    assert_int_equal(ew_kind_from_cn("9014"), EW_KIND_REPLY);
    assert_int_equal(ew_kind_from_cn("1062"), EW_KIND_OTHER);
    assert_int_equal(ew_field_lookup("zsavg", 5), EW_FIELD_ZSAVG);
    assert_int_equal(ew_field_lookup("SampleTime", 10), EW_FIELD_SAMPLETIME);
    assert_int_equal(ew_field_lookup("ValidNum", 8), EW_FIELD_OTHER);
    assert_int_equal(ew_field_lookup("Rtdx", 4), EW_FIELD_OTHER);
    assert_string_equal(ew_field_name(EW_FIELD_EFLAG), "EFlag");
    /* every known field through the hashed table, as spelled, in upper case, and with one
     * byte more: a slot that two names shared would lose one of them */
    for (int f = EW_FIELD_OTHER + 1; f < EW_FIELD_COUNT; f++) {
        const char *name = ew_field_name((enum ew_field)f);
        size_t n = strlen(name);
        char upper[16], longer[16];
        for (size_t i = 0; i <= n; i++)
            upper[i] = (char)toupper((unsigned char)name[i]);
        snprintf(longer, sizeof longer, "%sx", name);
        assert_int_equal(ew_field_lookup(name, n), f);
        assert_int_equal(ew_field_lookup(upper, n), f);
        assert_int_equal(ew_field_lookup(longer, n + 1), EW_FIELD_OTHER);
    }
    assert_int_equal(ew_field_lookup("", 0), EW_FIELD_OTHER);
}

static void test_numbers_parse(void **state)
{
    (void)state;
    double d;
    assert_true(ew_parse_number("-0.052", 6, &d));
    assert_true(d == -0.052);
    assert_true(ew_parse_number("231.0", 5, &d));
    assert_true(d == 231.0);
    assert_true(ew_parse_number("0.09055002", 10, &d));
    assert_true(d == 0.09055002);
    assert_true(ew_parse_number("1e-3", 4, &d));
    assert_true(d == 0.001);
    assert_true(ew_parse_number("+5.", 3, &d));
    assert_true(d == 5.0);
    assert_true(ew_parse_number("12345678901234567890.5", 22, &d));
    assert_true(d == 12345678901234567890.5);
    const char *bad[] = {"",    "-",   ".",  "1.2.3", "1e",  "1e+", "0x10",
                         "inf", "nan", " 1", "1 ",    "1,5", "e5",  "1e999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(ew_parse_number(bad[i], strlen(bad[i]), &d));
}

/* The fast path agrees with strtod on many random short decimals. */
static void test_numbers_match_strtod(void **state)
{
    (void)state;
    srand(212);
    for (int i = 0; i < 200000; i++) {
        char s[40];
        int ip = rand() % 100000, fp = rand(), fd = rand() % 10;
        int n = snprintf(s, sizeof s, "%s%d.%0*d", rand() % 4 ? "" : "-", ip, fd, fp % 1000000000);
        if (fd == 0)
            n = snprintf(s, sizeof s, "%d", ip);
        double d;
        assert_true(ew_parse_number(s, (size_t)n, &d));
        assert_true(d == strtod(s, NULL));
    }
}

/* The 8-bytes-at-a-time path agrees with strtod, and with the general parser on every
 * input, including the ones it hands over (long, exponent, junk, two dots, a lone sign). */
static void test_numbers_padded(void **state)
{
    (void)state;
    srand(2025);
    const char *fixed[] = {
        "0",     "-0.052", "7",     "12345678", "1234567.1234567", "99999999.5",
        ".5",    "5.",     "+3.25", "1e-3",     "0.00000001",      "00012.3400",
        "1.2.3", "-",      "12a",   "3,5",      "1234567890123",   "0.123456789012",
        ""};
    size_t nfixed = sizeof fixed / sizeof fixed[0];
    for (size_t i = 0; i < nfixed + 400000; i++) {
        char buf[64] = {0}, s[40];
        if (i < nfixed) {
            snprintf(s, sizeof s, "%s", fixed[i]);
        } else if (i % 2) { /* anything made of the bytes a number has, and a few others */
            static const char alphabet[] = "0123456789.-+eE9.0 \x80\xB5/:";
            size_t len = (size_t)rand() % 11;
            for (size_t j = 0; j < len; j++)
                s[j] = alphabet[(size_t)rand() % (sizeof alphabet - 1)];
            s[len] = '\0';
        } else {
            int ip = rand() % 100000000, fd = rand() % 9;
            if (fd == 0)
                snprintf(s, sizeof s, "%s%d", rand() % 3 ? "" : "-", ip);
            else
                snprintf(s, sizeof s, "%s%d.%0*d", rand() % 3 ? "" : "-", ip % 10000000, fd,
                         rand() % 100000000);
        }
        size_t n = strlen(s);
        memcpy(buf, s, n);
        memset(buf + n, i % 2 ? '7' : '.', 16); /* what follows must not count */
        double a = 0, b = 0;
        bool ok_a = ew_parse_number_padded(buf, n, &a), ok_b = ew_parse_number(s, n, &b);
        assert_int_equal(ok_a, ok_b);
        if (ok_a) {
            assert_true(a == b);
            assert_true(a == strtod(s, NULL));
        }
    }
}

static void test_numbers_format_shortest(void **state)
{
    (void)state;
    char out[32];
    const double vals[] = {31.2, 0.1 + 0.2, -0.052, 188280, 1e-7, 1e21, 0, 1.7976931348623157e308};
    const char *want[] = {"31.2", "0.30000000000000004",    "-0.052", "188280", "1e-07", "1e+21",
                          "0",    "1.7976931348623157e+308"};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        ew_format_number(vals[i], out);
        assert_string_equal(out, want[i]);
        assert_true(strtod(out, NULL) == vals[i]);
    }
}

/* What ew_format_number promises, the slow way: the shortest of %.15g, %.16g, %.17g that reads
 * back as d. */
static void format_reference(double d, char out[32])
{
    if (d == 0)
        d = 0;
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, 32, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

static void check_format(double d)
{
    char got[32], want[32];
    ew_format_number(d, got);
    format_reference(d, want);
    if (strcmp(got, want))
        fail_msg("%.17g printed as %s, want %s", d, got, want);
}

static void test_numbers_format_matches_printf(void **state)
{
    (void)state;
    /* the edges of the printf-free path: where %g turns to exponents, 15 digits, rounding */
    const double edges[] = {1e-4,
                            9.9999999999999991e-5,
                            0.00010000000000000002,
                            1e15,
                            999999999999999.0,
                            999999999999999.9,
                            99999999999999.98,
                            0.1,
                            0.30000000000000004,
                            123456789012345.6,
                            1.2345678901234567,
                            0.5,
                            -0.5,
                            2.5,
                            1e14 + 0.5,
                            4503599627370497.0,
                            -0.0,
                            0.0,
                            1.0 / 3,
                            -2.0 / 3,
                            5e-324,
                            1e300};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        check_format(edges[i]);
    /* what loggers send: m / 10^k for every k, and arbitrary doubles */
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t m = (int64_t)(x % 2000000000000000u) - 1000000000000000;
        if (i % 3 == 0)
            m %= 1000000;
        double p = 1, d = (double)m;
        for (int k = (int)(x >> 59); k > 0; k--)
            p *= 10, d /= 10;
        check_format(d);
        check_format((double)m / p); /* the double nearest to the decimal */
        double bits;
        memcpy(&bits, &x, sizeof bits);
        if (isfinite(bits))
            check_format(bits);
    }
}

static void test_pollutant_lookup(void **state)
{
    (void)state;
    const struct ew_pollutant *p = ew_pollutant_find("a21026", 6, EW_MEDIUM_AIR);
    assert_non_null(p);
    assert_string_equal(p->unit, "mg/m³");
    assert_string_equal(p->name_en, "SO2");
    /* 2005 codes by medium: "02" is SO2 for air, nothing for water */
    p = ew_pollutant_find("02", 2, EW_MEDIUM_AIR);
    assert_non_null(p);
    assert_string_equal(p->code, "a21026");
    assert_null(ew_pollutant_find("02", 2, EW_MEDIUM_WATER));
    assert_string_equal(ew_pollutant_find("011", 3, EW_MEDIUM_WATER)->code, "w01018");
    assert_string_equal(ew_pollutant_find("011", 3, EW_MEDIUM_OTHER)->code, "w01018");
    assert_null(ew_pollutant_find("023", 3, EW_MEDIUM_AIR)); /* vendor code in flue gas */
    assert_string_equal(ew_pollutant_find("B02", 3, EW_MEDIUM_AIR)->code, "a00000");
    /* a member of a family */
    p = ew_pollutant_find("e10103", 6, EW_MEDIUM_OTHER);
    assert_non_null(p);
    assert_string_equal(p->code, "e101xx");
    assert_null(ew_pollutant_find("zz9999", 6, EW_MEDIUM_OTHER));
    assert_null(ew_pollutant_find("", 0, EW_MEDIUM_OTHER));
    /* every entry is found by its own code */
    for (size_t i = 0; i < ew_pollutant_count(); i++) {
        const struct ew_pollutant *e = ew_pollutant_at(i);
        assert_ptr_equal(ew_pollutant_find(e->code, strlen(e->code), e->medium), e);
        if (*e->code2005)
            assert_ptr_equal(ew_pollutant_find(e->code2005, strlen(e->code2005), e->medium), e);
    }
    assert_null(ew_pollutant_at(ew_pollutant_count()));
    assert_int_equal(ew_medium_of_st("31"), EW_MEDIUM_AIR);
    assert_int_equal(ew_medium_of_st("32"), EW_MEDIUM_WATER);
    assert_int_equal(ew_medium_of_st("91"), EW_MEDIUM_OTHER);
}

static void test_arena_bounds(void **state)
{
    (void)state;
    struct ew_record *rec = ew_record_new();
    assert_non_null(rec);
    char big[1000];
    memset(big, 'x', sizeof big);
    size_t copies = 0;
    while (ew_record_strndup(rec, big, sizeof big))
        copies++;
    assert_int_equal(copies, EW_RECORD_TEXT_MAX / (sizeof big + 1));
    assert_true(rec->text_used <= EW_RECORD_TEXT_MAX);
    ew_record_reset(rec);
    assert_non_null(ew_record_strndup(rec, big, sizeof big));
    ew_record_free(rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flag_meaning_depends_on_edition),
        cmocka_unit_test(test_version_from_flag_bits),
        cmocka_unit_test(test_kinds_and_fields),
        cmocka_unit_test(test_numbers_parse),
        cmocka_unit_test(test_numbers_match_strtod),
        cmocka_unit_test(test_numbers_padded),
        cmocka_unit_test(test_numbers_format_shortest),
        cmocka_unit_test(test_numbers_format_matches_printf),
        cmocka_unit_test(test_pollutant_lookup),
        cmocka_unit_test(test_arena_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
