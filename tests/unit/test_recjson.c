/* Unit tests: record <-> JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ew_hj212.h"
#include "ew_recjson.h"

static const char contract_example[] =
    "{\"mn\": \"M1\", \"st\": \"31\", \"cn\": \"2061\", \"version\": \"2017\", "
    "\"data_time\": \"2024-01-22T17:00:00+08:00\", "
    "\"values\": [{\"code\": \"a21026\", \"field\": \"ZsAvg\", \"value\": 31.2, \"flag\": \"N\"}]}";

static void test_contract_shape(void **state)
{
    (void)state;
    struct ew_record *rec = ew_record_new();
    struct ew_error err = {0};
    assert_int_equal(ew_record_from_json(contract_example, strlen(contract_example), rec, &err), 0);
    assert_true(rec->has_time);
    assert_int_equal(rec->data_time, 1705914000000LL);
    assert_int_equal(rec->values[0].flag_meaning, EW_FLAG_NORMAL);
    struct ew_buf out = EW_BUF_INIT;
    assert_int_equal(ew_record_to_json(rec, 0, &out), 0);
    assert_string_equal(out.data,
                        "{\"mn\":\"M1\",\"st\":\"31\",\"cn\":\"2061\",\"version\":\"2017\","
                        "\"data_time\":\"2024-01-22T17:00:00+08:00\",\"values\":[{\"code\":"
                        "\"a21026\",\"field\":\"ZsAvg\",\"value\":31.2,\"flag\":\"N\",\"name\":"
                        "\"二氧化硫\",\"unit\":\"mg/m³\"}]}");
    ew_buf_release(&out);
    ew_record_free(rec);
}

/* JSON -> record -> JSON -> record: the second JSON is the first. */
static void test_round_trip(void **state)
{
    (void)state;
    const char *in =
        "{\"mn\":\"M2\",\"st\":32,\"cn\":\"3020\",\"data_time\":null,\"qn\":\"1\",\"pw\":\"p\","
        "\"flag\":9,\"pnum\":2,\"pno\":1,\"values\":[{\"code\":\"011\",\"field\":\"rtd\","
        "\"value\":\"0.1\"},{\"code\":\"w01008\",\"field\":\"SampleTime\",\"value\":"
        "\"2024-01-22T09:00:00Z\"},{\"code\":\"i12001\",\"field\":\"Info\",\"value\":\"run\","
        "\"pol\":\"w01018\",\"eflag\":\"E\",\"flag\":\"D\"}],\"params\":{\"RtdInterval\":\"30\"}}";
    struct ew_record *a = ew_record_new(), *b = ew_record_new();
    struct ew_buf ja = EW_BUF_INIT, jb = EW_BUF_INIT;
    struct ew_error err = {0};
    assert_int_equal(ew_record_from_json(in, strlen(in), a, &err), 0);
    assert_string_equal(a->values[0].code, "w01018"); /* 2005 code normalized */
    assert_string_equal(a->values[0].field_name, "Rtd");
    assert_int_equal(a->values[0].type, EW_VT_NUMBER);
    assert_int_equal(a->values[1].type, EW_VT_TIME);
    assert_string_equal(a->values[1].text, "20240122170000");
    assert_int_equal(a->version, EW_VERSION_2025);
    assert_int_equal(a->values[2].flag_meaning, EW_FLAG_FAULT);
    assert_int_equal(ew_record_to_json(a, 1, &ja), 0);
    assert_int_equal(ew_record_from_json(ja.data, ja.len, b, &err), 0);
    assert_int_equal(ew_record_to_json(b, 1, &jb), 0);
    assert_string_equal(ja.data, jb.data);
    ew_buf_release(&ja);
    ew_buf_release(&jb);
    ew_record_free(a);
    ew_record_free(b);
}

static void test_syntax_error_has_position(void **state)
{
    (void)state;
    struct ew_record *rec = ew_record_new();
    struct ew_error err = {0};
    const char *in = "{\"mn\": \"M\",\n \"st\": }";
    assert_int_equal(ew_record_from_json(in, strlen(in), rec, &err), EW_EMALFORMED);
    assert_int_equal(err.line, 2);
    assert_true(err.column > 0);
    assert_true(err.offset > 10);
    ew_record_free(rec);
}

static void test_type_errors_name_the_member(void **state)
{
    (void)state;
    struct {
        const char *json;
        const char *detail;
    } cases[] = {
        {"[]", "record: expected an object"},
        {"{\"st\":\"31\",\"cn\":\"2011\",\"values\":[]}", "mn: expected a string"},
        {"{\"mn\":\"\",\"st\":\"31\",\"cn\":\"2011\",\"values\":[]}", "mn: must not be empty"},
        {"{\"mn\":\"M\",\"st\":\"31\",\"cn\":\"2011\"}", "values: expected an array"},
        {"{\"mn\":\"M\",\"st\":\"31\",\"cn\":\"2011\",\"values\":[{\"code\":\"a\",\"field\":"
         "\"Rtd\",\"value\":true}]}",
         "values[0]: value must be a number or a string"},
        {"{\"mn\":\"M\",\"st\":\"31\",\"cn\":\"2011\",\"values\":[{\"code\":\"a\",\"field\":"
         "\"Rtd\",\"value\":1,\"flag\":\"NN\"}]}",
         "values[0]: flag must be one printable ASCII letter"},
        {"{\"mn\":\"M\",\"st\":\"31\",\"cn\":\"2011\",\"version\":\"2018\",\"values\":[]}",
         "version: expected \"2005\", \"2017\", \"2025\" or \"unknown\""},
        {"{\"mn\":\"M\",\"st\":\"31\",\"cn\":\"2011\",\"data_time\":\"yesterday\",\"values\":[]}",
         "data_time: expected an ISO 8601 time"},
        {"{\"mn\":\"M\",\"st\":\"31\",\"cn\":\"2011\",\"flag\":300,\"values\":[]}",
         "flag: expected a small non-negative integer"},
        {"{\"mn\":\"M\",\"mn\":\"N\",\"st\":\"31\",\"cn\":\"2011\",\"values\":[]}", NULL},
    };
    struct ew_record *rec = ew_record_new();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ew_error err = {0};
        assert_int_equal(ew_record_from_json(cases[i].json, strlen(cases[i].json), rec, &err),
                         EW_EMALFORMED);
        if (cases[i].detail)
            assert_string_equal(err.detail, cases[i].detail);
        assert_int_equal(rec->nvalues, 0);
    }
    ew_record_free(rec);
}

static void test_too_many_values(void **state)
{
    (void)state;
    struct ew_buf in = EW_BUF_INIT;
    ew_buf_adds(&in, "{\"mn\":\"M\",\"st\":\"31\",\"cn\":\"2011\",\"values\":[");
    for (int i = 0; i <= EW_RECORD_MAX_VALUES; i++)
        ew_buf_adds(&in, i ? ",{\"code\":\"a\",\"field\":\"Rtd\",\"value\":1}"
                           : "{\"code\":\"a\",\"field\":\"Rtd\",\"value\":1}");
    ew_buf_adds(&in, "]}");
    struct ew_record *rec = ew_record_new();
    struct ew_error err = {0};
    assert_int_equal(ew_record_from_json(in.data, in.len, rec, &err), EW_ETOO_LONG);
    ew_record_free(rec);
    ew_buf_release(&in);
}

/* What the reader refuses besides the members' types: each a clear error, the record empty. */
static void test_refusals(void **state)
{
    (void)state;
    struct {
        const char *json;
        int rc;
        const char *detail; /* NULL: yajl's own words */
    } cases[] = {
        {"", EW_EMALFORMED, NULL},
        {"5", EW_EMALFORMED, "record: expected an object"},
        {"{\"mn\":\"M\",\"st\":\"31\",\"cn\":\"2011\",\"values\":[]} x", EW_EMALFORMED, NULL},
        {"{\"mn\":\"M\",\"st\":\"31\",\"cn\":\"2011\",\"values\":[]", EW_EMALFORMED, NULL},
        {"{\"mn\":\"M\\u0000\",\"st\":\"31\",\"cn\":\"2011\",\"values\":[]}", EW_EMALFORMED,
         "mn: string holds a NUL character"},
        {"{\"mn\":\"M\",\"x\":1,\"x\":2,\"st\":\"31\",\"cn\":\"2011\",\"values\":[]}",
         EW_EMALFORMED, "duplicate object key"},
        {"{\"mn\":\"M\",\"st\":\"31\",\"cn\":\"2011\",\"values\":[{\"code\":\"a\",\"field\":"
         "\"Rtd\",\"value\":1,\"code\":\"b\"}]}",
         EW_EMALFORMED, "duplicate object key"},
        {"{\"mn\":\"M\",\"flag\":99999999999999999999,\"st\":\"31\",\"cn\":\"2011\",\"values\":[]}",
         EW_EMALFORMED, "too big integer"},
        {"{\"mn\":\"M\",\"st\":\"31\",\"cn\":\"2011\",\"values\":[{\"code\":\"a\",\"field\":"
         "\"Rtd\",\"value\":1e999}]}",
         EW_EMALFORMED, "real number overflow"},
        {"{\"mn\":\"M\",\"st\":\"31\",\"cn\":\"2011\",\"values\":[{\"code\":\"a\",\"field\":"
         "\"Rtd\",\"value\":01}]}",
         EW_EMALFORMED, NULL},
        {"{\"mn\":\"M\",\"st\":\"31\",\"cn\":\"2011\",\"values\":[], /* c */ \"qn\":\"1\"}",
         EW_EMALFORMED, NULL},
        {"{\"mn\":\"\xff\",\"st\":\"31\",\"cn\":\"2011\",\"values\":[]}", EW_EMALFORMED, NULL},
        /* what yajl lets by and JSON does not allow: an overlong form, an encoded surrogate,
         * half a surrogate pair in an escape */
        {"{\"mn\":\"\xc0\xaf\",\"st\":\"31\",\"cn\":\"2011\",\"values\":[]}", EW_EMALFORMED,
         "invalid UTF-8 in a string"},
        {"{\"mn\":\"M\",\"\xed\xa0\x80\":1,\"st\":\"31\",\"cn\":\"2011\",\"values\":[]}",
         EW_EMALFORMED, "invalid UTF-8 in a member's name"},
        {"{\"mn\":\"M\\ud800\\ud600\",\"st\":\"31\",\"cn\":\"2011\",\"values\":[]}", EW_EMALFORMED,
         "invalid Unicode escape: half a surrogate pair"},
        {"{\"mn\":\"M\\udc00\",\"st\":\"31\",\"cn\":\"2011\",\"values\":[]}", EW_EMALFORMED,
         "invalid Unicode escape: half a surrogate pair"},
        {"{\"mn\":\"M\\ud800\"}", EW_EMALFORMED, "invalid Unicode escape: half a surrogate pair"},
        {"{\"mn\":\"M\\", EW_EMALFORMED, NULL},
    };
    struct ew_record *rec = ew_record_new();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ew_error err = {0};
        int rc = ew_record_from_json(cases[i].json, strlen(cases[i].json), rec, &err);
        if (rc != cases[i].rc)
            fail_msg("case %zu: %d (%s)", i, rc, err.detail);
        if (cases[i].detail)
            assert_string_equal(err.detail, cases[i].detail);
        assert_true(err.detail[0] != '\0');
        assert_int_equal(rec->nvalues, 0);
        assert_null(rec->mn);
    }
    ew_record_free(rec);
}

/* A surrogate pair in escapes is one character; an escaped backslash before "u" is text. */
static void test_escapes_read(void **state)
{
    (void)state;
    const char *in = "{\"mn\":\"M\\ud83d\\ude00\\\\ud800\",\"st\":\"31\",\"cn\":\"2011\","
                     "\"values\":[]}";
    struct ew_record *rec = ew_record_new();
    struct ew_error err = {0};
    assert_int_equal(ew_record_from_json(in, strlen(in), rec, &err), 0);
    assert_string_equal(rec->mn, "M\xf0\x9f\x98\x80\\ud800");
    ew_record_free(rec);
}

/* Depth and width are bounded: a text cannot make the reader's work or memory grow faster than
 * the text. */
/* head, then arrays nested `levels` deep as the value of its last member, then the record's end */
static void nested(struct ew_buf *in, const char *head, int levels)
{
    ew_buf_clear(in);
    ew_buf_adds(in, head);
    for (int i = 0; i < levels; i++)
        ew_buf_addc(in, '[');
    for (int i = 0; i < levels; i++)
        ew_buf_addc(in, ']');
    ew_buf_addc(in, '}');
}

static void test_nesting_and_members_bounded(void **state)
{
    (void)state;
    struct ew_buf in = EW_BUF_INIT;
    struct ew_record *rec = ew_record_new();
    struct ew_error err = {0};
    nested(&in, "{\"mn\":\"M\",\"st\":\"31\",\"cn\":\"2011\",\"values\":[],\"x\":", 63);
    assert_int_equal(ew_record_from_json(in.data, in.len, rec, &err), 0); /* 64 levels */
    nested(&in, "{\"x\":", 64);
    assert_int_equal(ew_record_from_json(in.data, in.len, rec, &err), EW_EMALFORMED);
    assert_string_equal(err.detail, "nested deeper than 64 levels");

    ew_buf_clear(&in);
    ew_buf_adds(&in, "{\"mn\":\"M\",\"st\":\"31\",\"cn\":\"2011\",\"values\":[]");
    char key[32];
    for (int i = 0; i < 256 - 4; i++) {
        snprintf(key, sizeof key, ",\"k%d\":%d", i, i);
        ew_buf_adds(&in, key);
    }
    ew_buf_adds(&in, "}");
    assert_int_equal(ew_record_from_json(in.data, in.len, rec, &err), 0); /* 256 members */
    in.data[--in.len] = '\0';
    ew_buf_adds(&in, ",\"one_more\":0}");
    assert_int_equal(ew_record_from_json(in.data, in.len, rec, &err), EW_ETOO_LONG);
    assert_string_equal(err.detail, "an object of more than 256 members");
    ew_buf_release(&in);
    ew_record_free(rec);
}

/* A text dense in member names needs more room than the reader first takes (about four times
 * its length): it is read again with more, and decodes as any other. */
static void test_dense_text_read_again(void **state)
{
    (void)state;
    struct ew_buf in = EW_BUF_INIT;
    ew_buf_adds(&in, "{\"mn\":\"M\",\"st\":\"31\",\"cn\":\"2011\",\"x\":[");
    char key[32];
    for (int o = 0; o < 40; o++) {
        ew_buf_adds(&in, o ? ",{" : "{");
        for (int i = 0; i < 256; i++) {
            snprintf(key, sizeof key, "%s\"%d\":0", i ? "," : "", i);
            ew_buf_adds(&in, key);
        }
        ew_buf_addc(&in, '}');
    }
    ew_buf_adds(&in, "],\"values\":[{\"code\":\"a21026\",\"field\":\"Rtd\",\"value\":1.5}]}");
    struct ew_record *rec = ew_record_new();
    struct ew_error err = {0};
    assert_int_equal(ew_record_from_json(in.data, in.len, rec, &err), 0);
    assert_int_equal(rec->nvalues, 1);
    assert_true(rec->values[0].num == 1.5);
    assert_string_equal(rec->mn, "M");
    ew_buf_release(&in);
    ew_record_free(rec);
}

static void test_error_json(void **state)
{
    (void)state;
    struct ew_error err = {0};
    ew_error_set(&err, EW_ECRC_MISMATCH, 42, "CRC %04X computed", 0x1C80);
    struct ew_buf out = EW_BUF_INIT;
    assert_int_equal(ew_error_to_json(&err, &out), 0);
    assert_string_equal(out.data, "{\"ok\":false,\"error\":\"crc_mismatch\",\"offset\":42,"
                                  "\"detail\":\"CRC 1C80 computed\"}");
    ew_buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contract_shape),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_syntax_error_has_position),
        cmocka_unit_test(test_type_errors_name_the_member),
        cmocka_unit_test(test_too_many_values),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_escapes_read),
        cmocka_unit_test(test_nesting_and_members_bounded),
        cmocka_unit_test(test_dense_text_read_again),
        cmocka_unit_test(test_error_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
