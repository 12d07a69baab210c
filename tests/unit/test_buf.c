/* Unit tests: ew_buf and JSON text writing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ew_buf.h"
#include "ew_error.h"

static void test_growth_and_reuse(void **state)
{
    (void)state;
    struct ew_buf b = EW_BUF_INIT;
    for (int i = 0; i < 10000; i++)
        ew_buf_addc(&b, (char)('a' + i % 26));
    assert_int_equal(b.err, 0);
    assert_int_equal(b.len, 10000);
    assert_int_equal(b.data[10000], '\0');
    size_t cap = b.cap;
    ew_buf_clear(&b);
    ew_buf_adds(&b, "again");
    assert_string_equal(b.data, "again");
    assert_int_equal(b.cap, cap);
    ew_buf_release(&b);
    assert_null(b.data);
}

/* A buffer that holds one thing of a known size (a held record) grows to what fits, rounded up
 * to 32 bytes, not to the next power of two; what it holds is kept. */
static void test_reserve_fit(void **state)
{
    (void)state;
    struct ew_buf b = EW_BUF_INIT;
    assert_true(ew_buf_reserve_fit(&b, 100));
    assert_int_equal(b.cap, 128); /* 100 bytes and the NUL */
    for (int i = 0; i < 100; i++)
        ew_buf_addc(&b, (char)('a' + i % 26));
    assert_int_equal(b.cap, 128);
    assert_true(ew_buf_reserve_fit(&b, 50));
    assert_int_equal(b.cap, 160);
    assert_int_equal(b.len, 100);
    assert_int_equal(b.data[99], 'a' + 99 % 26);
    assert_int_equal(b.data[100], '\0');
    ew_buf_clear(&b);
    assert_true(ew_buf_reserve_fit(&b, 150)); /* fits already */
    assert_int_equal(b.cap, 160);
    ew_buf_release(&b);
}

static void test_limit_is_sticky(void **state)
{
    (void)state;
    struct ew_buf b = EW_BUF_INIT;
    b.max = 8;
    ew_buf_adds(&b, "12345");
    ew_buf_adds(&b, "6789");
    assert_int_equal(b.err, EW_ETOO_LONG);
    ew_buf_adds(&b, "x");
    assert_int_equal(b.len, 5);
    ew_buf_release(&b);
}

static void test_json_string_escapes(void **state)
{
    (void)state;
    struct ew_buf b = EW_BUF_INIT;
    ew_buf_json_strn(&b, "a\"b\\c\n\x01\xe4\xb8\xad", 10);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\xe4\xb8\xad\"");
    /* invalid UTF-8 (a lone continuation byte, a GBK pair, an overlong form, a surrogate)
     * becomes U+FFFD so the output is always valid JSON */
    ew_buf_clear(&b);
    ew_buf_json_strn(&b, "\x80\xd6\xd0\xc0\xaf\xed\xa0\x80", 8);
    json_error_t err;
    json_t *j = json_loads(b.data, JSON_DECODE_ANY, &err);
    assert_non_null(j);
    assert_true(json_is_string(j));
    assert_int_equal(json_string_length(j), 8 * 3);
    json_decref(j);
    ew_buf_release(&b);
}

static void test_json_numbers_and_keys(void **state)
{
    (void)state;
    struct ew_buf b = EW_BUF_INIT;
    ew_buf_addc(&b, '{');
    ew_buf_json_key(&b, "v");
    ew_buf_json_num(&b, 31.2);
    ew_buf_addc(&b, '}');
    assert_string_equal(b.data, "{\"v\":31.2}");
    ew_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_growth_and_reuse),      cmocka_unit_test(test_reserve_fit),
        cmocka_unit_test(test_limit_is_sticky),       cmocka_unit_test(test_json_string_escapes),
        cmocka_unit_test(test_json_numbers_and_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
