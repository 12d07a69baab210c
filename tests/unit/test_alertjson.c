/*
 * Unit tests: alert events as JSON (connectors/formats/ew_alertjson.h): what the writer
 * writes reads back to the same event, and the reader refuses what is not one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ew_alertjson.h"

static const struct ew_alert_event sample = {
    .id = "0123456789abcdef-1705914000000-firing-1",
    .fingerprint = "0123456789abcdef",
    .rule = "so2-hourly",
    .kind = "threshold",
    .event = EW_AEV_FIRING,
    .severity = "critical",
    .audience = EW_AUDIENCE_OFFICER,
    .enterprise_id = "E001",
    .mn = "33060200000001",
    .outlet_id = "DA001",
    .pollutant = "a21026",
    .pollutant_name = "二氧化硫",
    .has_value = true,
    .value = 31.2,
    .has_limit = true,
    .limit = 35,
    .unit = "mg/m3",
    .data_kind = "hour",
    .event_time = 1705914000000,
    .detected_at = 1705917600123,
    .message = "SO2 \"over\" the limit",
    .evidence = "{\"reason\":\"over\"}",
};

static void test_round_trip(void **state)
{
    (void)state;
    struct ew_buf a = EW_BUF_INIT, b = EW_BUF_INIT;
    assert_int_equal(ew_alert_to_json(&sample, &a), 0);
    struct ew_alert_event ev;
    json_t *doc;
    assert_int_equal(ew_alert_from_json(a.data, a.len, &ev, &doc), 0);
    assert_string_equal(ev.id, sample.id);
    assert_string_equal(ev.fingerprint, sample.fingerprint);
    assert_int_equal(ev.event, EW_AEV_FIRING);
    assert_int_equal(ev.audience, EW_AUDIENCE_OFFICER);
    assert_true(ev.value == 31.2);
    assert_int_equal(ev.event_time, sample.event_time);
    assert_int_equal(ev.detected_at, sample.detected_at);
    assert_string_equal(ev.pollutant_name, sample.pollutant_name);
    assert_null(ev.evidence); /* not read back */
    ev.evidence = sample.evidence;
    assert_int_equal(ew_alert_to_json(&ev, &b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len); /* written again, byte for byte */
    json_decref(doc);
    ew_buf_release(&a);
    ew_buf_release(&b);
}

static void test_site_wide_event(void **state)
{
    (void)state;
    struct ew_alert_event in = sample;
    in.pollutant = in.pollutant_name = in.unit = in.outlet_id = in.data_kind = NULL;
    in.has_value = in.has_limit = false;
    in.audience = EW_AUDIENCE_ENTERPRISE;
    in.event = EW_AEV_REMINDER;
    struct ew_buf a = EW_BUF_INIT;
    ew_alert_to_json(&in, &a);
    struct ew_alert_event ev;
    json_t *doc;
    assert_int_equal(ew_alert_from_json(a.data, a.len, &ev, &doc), 0);
    assert_null(ev.pollutant);
    assert_false(ev.has_value);
    assert_int_equal(ev.audience, EW_AUDIENCE_ENTERPRISE);
    assert_int_equal(ev.event, EW_AEV_REMINDER);
    json_decref(doc);
    ew_buf_release(&a);
}

static void test_not_an_event(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[]",
        "{\"id\":\"x\"}",
        "{\"id\":\"a\",\"fingerprint\":\"short\",\"event\":\"firing\","
        "\"event_time\":\"2024-01-22T17:00:00+08:00\",\"detected_at\":\"2024-01-22T17:00:00+08:"
        "00\"}",
        "{\"id\":\"a\",\"fingerprint\":\"0123456789abcdef\",\"event\":\"exploded\","
        "\"event_time\":\"2024-01-22T17:00:00+08:00\",\"detected_at\":\"2024-01-22T17:00:00+08:"
        "00\"}",
        "{\"id\":\"a\",\"fingerprint\":\"0123456789abcdef\",\"event\":\"firing\","
        "\"event_time\":\"yesterday\",\"detected_at\":\"2024-01-22T17:00:00+08:00\"}",
        "{\"id\":\"a\",\"fingerprint\":\"0123456789abcdef\",\"event\":\"firing\",\"value\":\"1\","
        "\"event_time\":\"2024-01-22T17:00:00+08:00\",\"detected_at\":\"2024-01-22T17:00:00+08:"
        "00\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ew_alert_event ev;
        json_t *doc;
        assert_int_equal(ew_alert_from_json(bad[i], strlen(bad[i]), &ev, &doc), EW_EMALFORMED);
        json_decref(doc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_site_wide_event),
        cmocka_unit_test(test_not_an_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
