/* Unit tests: exporting and importing engine state, and reloading rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ew_alertjson.h"
#include "ew_recjson.h"
#include "ew_registry_json.h"
#include "ew_time.h"
#include "ew_alloc.h"
#include "ew_engine_int.h"

#include "../testutil.h"

/* "over" is escalated to the supervisor after an hour (its alerts' loops are state too) */
static const char rules_json[] =
    "{\"escalation\":{\"p\":{\"steps\":[{\"after\":\"1h\",\"to\":\"supervisor\"},{\"after\":"
    "\"5h\",\"to\":\"supervisor\"}]}},\"rules\":["
    "{\"id\":\"over\",\"kind\":\"threshold\",\"audience\":\"officer\",\"escalation\":\"p\","
    "\"select\":{\"data\":["
    "\"hour\"],"
    "\"field\":\"Avg\"},\"levels\":[{\"name\":\"warn\",\"above\":50,\"severity\":\"w\"},{\"name\":"
    "\"over\",\"above\":100,\"severity\":\"c\"}],\"for\":3,\"message\":{\"zh\":\"{value}\"}},"
    "{\"id\":\"flat\",\"kind\":\"constant\",\"audience\":\"officer\",\"severity\":\"m\",\"for\":4,"
    "\"select\":{\"data\":[\"hour\"],\"field\":\"Avg\"},\"message\":{\"zh\":\"flat {value}\"}},"
    "{\"id\":\"off\",\"kind\":\"offline\",\"audience\":\"officer\",\"levels\":[{\"name\":\"off\","
    "\"after\":\"3h\",\"severity\":\"m\"}],\"message\":{\"zh\":\"{silence}\"}}]}";

static void sink(void *ctx, const struct ew_alert_event *ev)
{
    ew_alert_to_json(ev, ctx);
    ew_buf_addc(ctx, '\n');
}

static struct ew_engine *engine(const char *rules, struct ew_registry *reg, struct ew_buf *out)
{
    struct ew_ruleset *set = ew_ruleset_new();
    struct ew_error err = {0};
    assert_int_equal(ew_ruleset_add_json(set, rules, strlen(rules), "t.json", &err), 0);
    struct ew_engine_opts opts = {.max_sites = 16};
    struct ew_engine *eng = ew_engine_new(&opts, set, reg, sink, out);
    assert_non_null(eng);
    return eng;
}

/* One record as JSON, judged `lag` ms after its data time. */
static void feed_json(struct ew_engine *eng, const char *json, int64_t lag)
{
    struct ew_record *rec = ew_record_new();
    struct ew_error err = {0};
    assert_int_equal(ew_record_from_json(json, strlen(json), rec, &err), 0);
    ew_engine_record(eng, rec, rec->data_time + lag);
    ew_record_free(rec);
}

/* Site s, hour h, one value. */
static void feed(struct ew_engine *eng, int s, int h, double value)
{
    char json[256];
    snprintf(json, sizeof json,
             "{\"mn\":\"S%d\",\"st\":\"32\",\"cn\":\"2061\",\"data_time\":"
             "\"2024-08-01T%02d:00:00+08:00\",\"values\":[{\"code\":\"w01018\",\"field\":\"Avg\","
             "\"value\":%g,\"flag\":\"N\"}]}",
             s, h, value);
    feed_json(eng, json, 600000);
}

/* Site s, minute m of hour h, one value (it joins the hour's average). */
static void feed_minute(struct ew_engine *eng, int s, int h, int m, double value)
{
    char json[256];
    snprintf(json, sizeof json,
             "{\"mn\":\"S%d\",\"st\":\"32\",\"cn\":\"2051\",\"data_time\":"
             "\"2024-08-01T%02d:%02d:00+08:00\",\"values\":[{\"code\":\"w01018\",\"field\":"
             "\"Avg\",\"value\":%g,\"flag\":\"N\"},{\"code\":\"w00000\",\"field\":\"Avg\","
             "\"value\":%d,\"flag\":\"N\"}]}",
             s, h, m, value, 1 + m % 3);
    feed_json(eng, json, 30000);
}

/* A history that leaves sites pending, firing, flat and silent, and an hour's average open. */
static void history(struct ew_engine *eng)
{
    for (int m = 0; m < 50; m++)
        feed_minute(eng, 5, 5, m, 100 + m);
    for (int h = 0; h < 6; h++) {
        feed(eng, 1, h, 120);             /* over: pending, then firing */
        feed(eng, 2, h, h < 4 ? 60 : 70); /* warn level; flat for a while */
        if (h < 2)
            feed(eng, 3, h, 10); /* goes silent */
        ew_engine_tick(eng, 1722441600000 + (int64_t)h * 3600000 + 900000);
    }
    feed(eng, 4, 5, 130); /* one over value: pending */
}

/* Exports a into s1, imports that into a new engine (its events to ev), exports it into s2:
 * the same bytes. Returns the new engine. */
static struct ew_engine *round_trip(struct ew_engine *a, struct ew_registry *reg, struct ew_buf *ev,
                                    struct ew_buf *s1, struct ew_buf *s2)
{
    assert_int_equal(ew_engine_export(a, s1), 0);
    struct ew_engine *b = engine(rules_json, reg, ev);
    struct ew_error err = {0};
    assert_int_equal(ew_engine_import(b, s1->data, s1->len, &err), 0);
    assert_int_equal(ew_engine_export(b, s2), 0);
    assert_int_equal(s1->len, s2->len);
    assert_memory_equal(s1->data, s2->data, s1->len); /* byte for byte */
    return b;
}

static void test_export_import_round_trip(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf ev_a = EW_BUF_INIT, ev_b = EW_BUF_INIT, s1 = EW_BUF_INIT, s2 = EW_BUF_INIT;
    struct ew_engine *a = engine(rules_json, reg, &ev_a);
    history(a);
    assert_true(ev_a.len > 0);
    assert_non_null(strstr(ev_a.data, "\"event\":\"escalated\"")); /* S1's first step */
    struct ew_engine *b = round_trip(a, reg, &ev_b, &s1, &s2);
    struct ew_error err = {0};
    struct ew_engine_stats st;
    ew_engine_stats(b, &st);
    assert_int_equal(st.loops, 2); /* S1's and S2's chains came along */

    /* both go on alike: the same events for the same input */
    ew_buf_clear(&ev_a);
    struct ew_engine *engines[2] = {a, b};
    for (int e = 0; e < 2; e++) {
        feed(engines[e], 1, 6, 40);
        feed(engines[e], 2, 6, 70);
        feed(engines[e], 4, 6, 140);
        feed(engines[e], 4, 7, 150);
        feed(engines[e], 3, 7, 10);
        feed_minute(engines[e], 5, 6, 15, 90); /* closes hour 5: its average is judged */
        ew_engine_tick(engines[e], 1722441600000 + 8 * 3600000);
    }
    assert_true(ev_a.len > 0);
    assert_non_null(strstr(ev_a.data, "\"mn\":\"S5\"")); /* the average carried over */
    /* the second step, once and on both: the chain went on from where it was */
    const char *step2 = strstr(ev_a.data, "-escalated-2\"");
    assert_non_null(step2);
    assert_null(strstr(step2 + 1, "-escalated-2\""));
    assert_null(strstr(ev_a.data, "-escalated-1\""));
    assert_string_equal(ev_a.data, ev_b.data);

    /* a used engine refuses a state */
    assert_int_equal(ew_engine_import(b, s1.data, s1.len, &err), EW_EINVAL);
    ew_engine_free(a);
    ew_engine_free(b);
    ew_registry_free(reg);
    ew_buf_release(&ev_a);
    ew_buf_release(&ev_b);
    ew_buf_release(&s1);
    ew_buf_release(&s2);
}

static void test_import_rejects_damage(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf ev = EW_BUF_INIT, s1 = EW_BUF_INIT;
    struct ew_engine *a = engine(rules_json, reg, &ev);
    history(a);
    assert_int_equal(ew_engine_export(a, &s1), 0);
    ew_engine_free(a);
    for (size_t cut = 0; cut < s1.len; cut++) { /* every truncation */
        struct ew_engine *b = engine(rules_json, reg, &ev);
        struct ew_error err = {0};
        assert_int_equal(ew_engine_import(b, s1.data, cut, &err), EW_EMALFORMED);
        struct ew_engine_stats st;
        ew_engine_stats(b, &st);
        assert_int_equal(st.sites, 0); /* all or nothing */
        ew_engine_free(b);
    }
    srand(99);
    for (int round = 0; round < 2000; round++) { /* random corruption: never a crash */
        char *bad = malloc(s1.len);
        memcpy(bad, s1.data, s1.len);
        for (int k = 0; k < 3; k++)
            bad[rand() % (int)s1.len] = (char)rand();
        struct ew_engine *b = engine(rules_json, reg, &ev);
        struct ew_error err = {0};
        int rc = ew_engine_import(b, bad, s1.len, &err);
        assert_true(rc == 0 || rc == EW_EMALFORMED);
        feed(b, 1, 9, 200);
        ew_engine_tick(b, 1722441600000 + 12 * 3600000);
        ew_engine_free(b);
        free(bad);
    }
    ew_registry_free(reg);
    ew_buf_release(&ev);
    ew_buf_release(&s1);
}

static void test_import_drops_unknown_rules(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf ev = EW_BUF_INIT, s1 = EW_BUF_INIT;
    struct ew_engine *a = engine(rules_json, reg, &ev);
    history(a);
    assert_int_equal(ew_engine_export(a, &s1), 0);
    struct ew_engine_stats sa;
    ew_engine_stats(a, &sa);
    ew_engine_free(a);
    /* an engine that has only the offline rule keeps only its keys */
    const char *only_off =
        "{\"rules\":[{\"id\":\"off\",\"kind\":\"offline\",\"audience\":\"officer\","
        "\"levels\":[{\"name\":\"off\",\"after\":\"3h\",\"severity\":\"m\"}],"
        "\"message\":{\"zh\":\"{silence}\"}}]}";
    struct ew_engine *b = engine(only_off, reg, &ev);
    struct ew_error err = {0};
    assert_int_equal(ew_engine_import(b, s1.data, s1.len, &err), 0);
    struct ew_engine_stats sb;
    ew_engine_stats(b, &sb);
    assert_int_equal(sb.sites, sa.sites);
    assert_int_equal(sb.keys + sb.dropped_keys, sa.keys);
    assert_true(sb.dropped_keys > 0);
    ew_engine_free(b);
    ew_registry_free(reg);
    ew_buf_release(&ev);
    ew_buf_release(&s1);
}

static struct ew_ruleset *compile(const char *text)
{
    struct ew_ruleset *set = ew_ruleset_new();
    struct ew_error err = {0};
    assert_int_equal(ew_ruleset_add_json(set, text, strlen(text), "t.json", &err), 0);
    return set;
}

static char *replace(const char *s, const char *from, const char *to)
{
    static char buf[4096];
    const char *at = strstr(s, from);
    assert_non_null(at);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return buf;
}

static void test_reload_keeps_unchanged_shapes(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf ev = EW_BUF_INIT;
    struct ew_engine *eng = engine(rules_json, reg, &ev);
    feed(eng, 1, 0, 10); /* quiet: its average's key comes before the alert's */
    for (int h = 1; h < 4; h++)
        feed(eng, 1, h, 120); /* "over" fires at the third value */
    assert_non_null(strstr(ev.data, "\"event\":\"firing\""));
    struct ew_engine_stats before;
    ew_engine_stats(eng, &before);

    /* a new threshold, the same shape: the alert stays firing, no new event */
    assert_int_equal(
        ew_engine_reload(eng, compile(replace(rules_json, "\"above\":100", "\"above\":110"))), 0);
    ew_buf_clear(&ev);
    feed(eng, 1, 3, 120);
    assert_null(strstr(ev.data ? ev.data : "", "\"rule\":\"over\""));
    struct ew_engine_stats st;
    ew_engine_stats(eng, &st);
    assert_int_equal(st.dropped_keys, 0);

    /* another "for": its state goes, and the rule starts over (pending again) */
    assert_int_equal(ew_engine_reload(eng, compile(replace(rules_json, "\"for\":3", "\"for\":2"))),
                     0);
    ew_engine_stats(eng, &st);
    assert_int_equal(st.dropped_keys, 1);
    ew_buf_clear(&ev);
    feed(eng, 1, 4, 120);
    assert_non_null(strstr(ev.data, "\"event\":\"pending\""));

    /* a rule removed: its keys go, the rest stay (starting from the rules now in force) */
    char current[4096];
    snprintf(current, sizeof current, "%s", replace(rules_json, "\"for\":3", "\"for\":2"));
    const char *no_flat = replace(current,
                                  "{\"id\":\"flat\",\"kind\":\"constant\",\"audience\":\"officer\","
                                  "\"severity\":\"m\",\"for\":4,\"select\":{\"data\":[\"hour\"],"
                                  "\"field\":\"Avg\"},\"message\":{\"zh\":\"flat {value}\"}},",
                                  "");
    size_t keys_before;
    ew_engine_stats(eng, &st);
    keys_before = st.keys;
    assert_int_equal(ew_engine_reload(eng, compile(no_flat)), 0);
    ew_engine_stats(eng, &st);
    assert_int_equal(st.keys, keys_before - 1);
    ew_engine_free(eng);
    ew_registry_free(reg);
    ew_buf_release(&ev);
}

/* A reload keeps the chains of rules whose policy is the same; one whose policy went loses its
 * chain, and the alert fires on without one. */
static void test_reload_keeps_chains(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf ev = EW_BUF_INIT;
    struct ew_engine *eng = engine(rules_json, reg, &ev);
    for (int h = 0; h < 3; h++)
        feed(eng, 1, h, 120); /* fires at the third value: its loop starts */
    struct ew_engine_stats st;
    ew_engine_stats(eng, &st);
    assert_int_equal(st.loops, 1);
    assert_int_equal(
        ew_engine_reload(eng, compile(replace(rules_json, "\"above\":100", "\"above\":110"))), 0);
    ew_engine_stats(eng, &st);
    assert_int_equal(st.loops, 1);
    ew_buf_clear(&ev);
    feed(eng, 1, 3, 120);
    ew_engine_tick(eng, 1722441600000 + 4 * 3600000);
    assert_non_null(strstr(ev.data, "-escalated-1\"")); /* due at 03:00, as before the reload */
    assert_int_equal(
        ew_engine_reload(eng, compile(replace(rules_json, "\"escalation\":\"p\",", ""))), 0);
    ew_engine_stats(eng, &st);
    assert_int_equal(st.loops, 0);
    ew_engine_free(eng);
    ew_registry_free(reg);
    ew_buf_release(&ev);
}

/* A storm: thousands of alerts in the loop at once, half of them ending, the rest through a
 * checkpoint and to their end; the table finds each, and keeps none too many. */
static void test_many_loops(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf ev = EW_BUF_INIT, s1 = EW_BUF_INIT, s2 = EW_BUF_INIT;
    struct ew_ruleset *set = compile(rules_json);
    struct ew_engine_opts opts = {.max_sites = 4096};
    struct ew_engine *eng = ew_engine_new(&opts, set, reg, sink, &ev);
    enum { SITES = 3000 };
    for (int h = 0; h < 3; h++)
        for (int s = 0; s < SITES; s++)
            feed(eng, s, h, 120); /* "over" fires at the third value at each site */
    struct ew_engine_stats st;
    ew_engine_stats(eng, &st);
    assert_int_equal(st.loops, SITES);
    for (int s = 0; s < SITES; s += 2)
        feed(eng, s, 3, 10); /* half resolve: their loops go */
    ew_engine_stats(eng, &st);
    assert_int_equal(st.loops, SITES / 2);
    ew_buf_clear(&ev);
    ew_engine_tick(eng, 1722441600000 + 4 * 3600000); /* the first step of each that holds */
    assert_int_equal(ew_test_count(ev.data, "-escalated-1\""), SITES / 2);
    assert_int_equal(ew_engine_export(eng, &s1), 0);
    struct ew_engine *b = ew_engine_new(&opts, compile(rules_json), reg, sink, &ev);
    struct ew_error err = {0};
    assert_int_equal(ew_engine_import(b, s1.data, s1.len, &err), 0);
    assert_int_equal(ew_engine_export(b, &s2), 0);
    assert_int_equal(s1.len, s2.len);
    assert_memory_equal(s1.data, s2.data, s1.len);
    for (int s = 1; s < SITES; s += 2)
        feed(b, s, 4, 10);
    ew_engine_stats(b, &st);
    assert_int_equal(st.loops, 0);
    ew_engine_free(eng);
    ew_engine_free(b);
    ew_registry_free(reg);
    ew_buf_release(&ev);
    ew_buf_release(&s1);
    ew_buf_release(&s2);
}

static void test_forget_site(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf ev = EW_BUF_INIT, s1 = EW_BUF_INIT, s2 = EW_BUF_INIT;
    struct ew_engine *a = engine(rules_json, reg, &ev);
    history(a);
    struct ew_engine_stats before, after;
    ew_engine_stats(a, &before);
    assert_true(ew_engine_forget(a, "S2"));
    assert_false(ew_engine_forget(a, "S2"));
    assert_false(ew_engine_forget(a, "nobody"));
    ew_engine_stats(a, &after);
    assert_int_equal(after.sites, before.sites - 1);
    assert_true(after.keys < before.keys);
    /* the others are all still found: feeding them creates no site */
    for (int site = 1; site <= 5; site++)
        if (site != 2)
            feed(a, site, 7, 10);
    ew_engine_stats(a, &before);
    assert_int_equal(before.sites, after.sites);
    /* and S2 comes back afresh */
    feed(a, 2, 7, 10);
    ew_engine_stats(a, &after);
    assert_int_equal(after.sites, before.sites + 1);
    /* the table stays whole: its state round-trips */
    struct ew_engine *b = round_trip(a, reg, &ev, &s1, &s2);
    ew_engine_free(a);
    ew_engine_free(b);
    ew_registry_free(reg);
    ew_buf_release(&ev);
    ew_buf_release(&s1);
    ew_buf_release(&s2);
}

/* Site s, hour h: n pollutants x00..x(n-1), all 10 but `over` at 120, in reverse order when
 * `reversed`; the odd ones send Min, which the rules do not judge, the others Avg. */
static void feed_wide(struct ew_engine *eng, int s, int h, int n, int over, bool reversed)
{
    struct ew_buf b = EW_BUF_INIT;
    char tmp[128];
    snprintf(tmp, sizeof tmp,
             "{\"mn\":\"W%d\",\"st\":\"32\",\"cn\":\"2061\",\"data_time\":"
             "\"2024-08-01T%02d:00:00+08:00\",\"values\":[",
             s, h);
    ew_buf_adds(&b, tmp);
    for (int i = 0; i < n; i++) {
        int p = reversed ? n - 1 - i : i;
        snprintf(tmp, sizeof tmp, "%s{\"code\":\"x%02d\",\"field\":\"%s\",\"value\":%d}",
                 i ? "," : "", p, p % 2 && p != over ? "Min" : "Avg", p == over ? 120 : 10);
        ew_buf_adds(&b, tmp);
    }
    ew_buf_adds(&b, "]}");
    assert_int_equal(b.err, 0);
    feed_json(eng, b.data, 600000);
    ew_buf_release(&b);
}

/* A kind without state of its own holds a key only while its alert is not idle: the quiet
 * (rule, pollutant) pairs of a fleet cost no memory. */
static void test_idle_keys_not_kept(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf ev = EW_BUF_INIT;
    struct ew_engine *eng = engine(rules_json, reg, &ev);
    struct ew_engine_stats st;
    feed(eng, 1, 0, 10);
    ew_engine_stats(eng, &st);
    assert_int_equal(st.keys, 2); /* "flat" (it remembers values) and the daily average */
    feed(eng, 1, 1, 120);
    ew_engine_stats(eng, &st);
    assert_int_equal(st.keys, 3); /* "over" is pending */
    feed(eng, 1, 2, 10);
    ew_engine_stats(eng, &st);
    assert_int_equal(st.keys, 2); /* and idle again */
    assert_int_equal(ew_test_count(ev.data, "\"event\":\"pending\""), 1);
    assert_int_equal(ew_test_count(ev.data, "\"event\":\"resolved\""), 1);
    /* the next time starts as the first did */
    ew_buf_clear(&ev);
    feed(eng, 1, 3, 120);
    assert_int_equal(ew_test_count(ev.data, "\"event\":\"pending\""), 1);
    assert_int_equal(ew_test_count(ev.data, "\"values\":1"), 1);
    ew_engine_free(eng);
    ew_registry_free(reg);
    ew_buf_release(&ev);
}

static void *no_malloc(size_t n)
{
    (void)n;
    return NULL;
}

/* Out of memory, a record's keys cannot be made: counted, nothing judged without its state, no
 * crash; with memory back, the site is judged as a new one. */
static void test_out_of_memory_counted(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf ev = EW_BUF_INIT;
    struct ew_engine *eng = engine(rules_json, reg, &ev);
    struct ew_record *rec = ew_record_new();
    struct ew_error err = {0};
    const char *json = "{\"mn\":\"S1\",\"st\":\"32\",\"cn\":\"2061\",\"data_time\":"
                       "\"2024-08-01T00:00:00+08:00\",\"values\":[{\"code\":\"w01018\","
                       "\"field\":\"Avg\",\"value\":120,\"flag\":\"N\"}]}";
    assert_int_equal(ew_record_from_json(json, strlen(json), rec, &err), 0);
    ew_set_alloc_funcs(no_malloc, NULL);
    ew_engine_record(eng, rec, rec->data_time + 60000);
    ew_set_alloc_funcs(NULL, NULL);
    struct ew_engine_stats st;
    ew_engine_stats(eng, &st);
    assert_int_equal(st.keys, 0);
    assert_int_equal(st.nomem, 4); /* "flat", "over" (its value is over), the average, its timer */
    assert_null(ev.data);
    feed(eng, 1, 1, 120);
    assert_int_equal(ew_test_count(ev.data, "\"event\":\"pending\""), 1);
    ew_record_free(rec);
    ew_engine_free(eng);
    ew_registry_free(reg);
    ew_buf_release(&ev);
}

/* Keys not kept while idle are looked up through the rule's number, which a reload changes:
 * a firing alert whose rule moved is still found, and resolves. */
static void test_reload_moves_rules(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf ev = EW_BUF_INIT;
    /* a rule that never holds a key comes first, then the usual ones */
    char moved[4096];
    snprintf(moved, sizeof moved, "%s",
             replace(rules_json, "\"rules\":[",
                     "\"rules\":[{\"id\":\"high\",\"kind\":\"threshold\",\"audience\":"
                     "\"officer\",\"select\":{\"data\":[\"hour\"],\"field\":\"Avg\"},\"levels\":"
                     "[{\"name\":\"high\",\"above\":1000,\"severity\":\"c\"}],\"message\":{"
                     "\"zh\":\"{value}\"}},"));
    struct ew_engine *eng = engine(moved, reg, &ev);
    feed(eng, 1, 0, 10); /* quiet: the keys of "flat" and of the average come first */
    for (int h = 1; h < 4; h++)
        feed(eng, 1, h, 120);
    assert_int_equal(ew_test_count(ev.data, "\"rule\":\"over\",\"kind\":\"threshold\",\"event\":"
                                            "\"firing\""),
                     1);

    /* "high" goes: "over" is now the first rule, and its alert resolves on the next value */
    assert_int_equal(ew_engine_reload(eng, compile(rules_json)), 0);
    ew_buf_clear(&ev);
    feed(eng, 1, 4, 10);
    assert_int_equal(ew_test_count(ev.data ? ev.data : "", "\"rule\":\"over\""), 1);
    assert_int_equal(ew_test_count(ev.data, "\"rule\":\"over\",\"kind\":\"threshold\",\"event\":"
                                            "\"resolved\""),
                     1);
    ew_engine_free(eng);
    ew_registry_free(reg);
    ew_buf_release(&ev);
}

/* Which values each rule judges is worked out once per record shape and kept (struct
 * ew_plan); records with more values than a plan holds are worked out each time. Both judge
 * the same, and a site whose records change shape is judged by the right plan. */
static void test_record_shapes(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    const int widths[] = {EW_PLAN_VALUES - 2, EW_PLAN_VALUES + 8};
    for (size_t w = 0; w < 2; w++) {
        struct ew_buf ev = EW_BUF_INIT;
        struct ew_engine *eng = engine(rules_json, reg, &ev);
        int n = widths[w];
        for (int h = 0; h < 3; h++)
            feed_wide(eng, 1, h, n, n - 1, false);
        char want[64];
        snprintf(want, sizeof want, "\"pollutant\":\"x%02d\"", n - 1);
        assert_non_null(ev.data);
        assert_int_equal(ew_test_count(ev.data, "\"event\":\"pending\""), 1);
        assert_int_equal(ew_test_count(ev.data, "\"event\":\"firing\""), 1);
        assert_int_equal(ew_test_count(ev.data, want),
                         2); /* its pending and firing, nothing else */
        /* the same pollutants in turn in two orders (two plans): x02 is judged in both */
        ew_buf_clear(&ev);
        for (int h = 0; h < 3; h++)
            feed_wide(eng, 2, h, 4, 2, h % 2);
        assert_non_null(ev.data);
        assert_int_equal(ew_test_count(ev.data, "\"event\":\"pending\""), 1);
        assert_int_equal(ew_test_count(ev.data, "\"event\":\"firing\""), 1);
        assert_int_equal(ew_test_count(ev.data, "\"pollutant\":\"x02\""), 2);
        ew_engine_free(eng);
        ew_buf_release(&ev);
    }
    /* a reload makes new plans: "over" judges Min instead of Avg from then on */
    struct ew_buf ev = EW_BUF_INIT;
    struct ew_engine *eng = engine(rules_json, reg, &ev);
    for (int h = 0; h < 4; h++) {
        if (h == 1)
            assert_int_equal(ew_engine_reload(eng, compile(replace(rules_json, "\"field\":\"Avg\"",
                                                                   "\"field\":\"Min\""))),
                             0);
        char json[256];
        snprintf(json, sizeof json,
                 "{\"mn\":\"R1\",\"st\":\"32\",\"cn\":\"2061\",\"data_time\":"
                 "\"2024-08-01T%02d:00:00+08:00\",\"values\":[{\"code\":\"x00\",\"field\":"
                 "\"Avg\",\"value\":10},{\"code\":\"x00\",\"field\":\"Min\",\"value\":120}]}",
                 h);
        feed_json(eng, json, 600000);
    }
    assert_non_null(ev.data);
    assert_int_equal(ew_test_count(ev.data, "\"event\":\"firing\""), 1);
    assert_int_equal(ew_test_count(ev.data, "\"field\":\"Min\""),
                     2); /* pending and firing's evidence */
    assert_int_equal(ew_test_count(ev.data, "\"field\":\"Avg\""), 0);
    ew_engine_free(eng);
    ew_buf_release(&ev);
    ew_registry_free(reg);
}

/* Lines of text without those that contain what. */
static void drop_lines(struct ew_buf *b, const char *what)
{
    char *copy = b->data ? strdup(b->data) : NULL, *save = NULL;
    ew_buf_clear(b);
    for (char *line = copy ? strtok_r(copy, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save))
        if (!strstr(line, what)) {
            ew_buf_adds(b, line);
            ew_buf_addc(b, '\n');
        }
    free(copy);
}

/* Sites move one at a time to an engine that holds others (a partition moving to another
 * consumer): each goes on there as in an engine that never let it go, its lifecycles, its
 * silence and its average included. */
static void test_site_moves_between_engines(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf ev_a = EW_BUF_INIT, ev_b = EW_BUF_INIT, ev_r = EW_BUF_INIT, one = EW_BUF_INIT;
    struct ew_engine *a = engine(rules_json, reg, &ev_a), *r = engine(rules_json, reg, &ev_r);
    struct ew_engine *b = engine(rules_json, reg, &ev_b);
    history(a);
    history(r);
    feed(b, 9, 5, 20); /* b's own site */
    struct ew_error err = {0};
    assert_int_equal(ew_engine_export_site(a, "S8", &one), EW_EINVAL); /* not held */
    for (int si = 1; si <= 5; si++) {
        char mn[8];
        snprintf(mn, sizeof mn, "S%d", si);
        ew_buf_clear(&one);
        assert_int_equal(ew_engine_export_site(a, mn, &one), 0);
        assert_true(ew_engine_forget(a, mn));
        assert_int_equal(ew_engine_import_site(b, one.data, one.len, &err), 0);
        assert_int_equal(ew_engine_import_site(b, one.data, one.len, &err), EW_EINVAL);
    }
    struct ew_engine_stats st;
    ew_engine_stats(a, &st);
    assert_int_equal(st.sites, 0);
    ew_engine_stats(b, &st);
    assert_int_equal(st.sites, 6);
    ew_buf_clear(&ev_b);
    ew_buf_clear(&ev_r);
    struct ew_engine *engines[2] = {r, b};
    for (int e = 0; e < 2; e++) {
        feed(engines[e], 1, 6, 40);
        feed(engines[e], 4, 6, 140);
        feed(engines[e], 4, 9, 150);
        feed_minute(engines[e], 5, 6, 15, 90); /* closes hour 5: its average is judged */
        feed(engines[e], 3, 7, 10);            /* S3 back after its silence */
        /* S2 sends nothing after the move: silent since 05:00, its timer fires at 08:00 */
        ew_engine_tick(engines[e], 1722441600000 + 10 * 3600000);
    }
    drop_lines(&ev_b, "\"mn\":\"S9\"");
    assert_non_null(strstr(ev_r.data, "\"mn\":\"S5\""));
    assert_non_null(strstr(ev_r.data, "\"mn\":\"S4\""));
    assert_non_null(strstr(ev_r.data, "\"mn\":\"S3\""));
    const char *s2 = strstr(ev_r.data, "\"mn\":\"S2\"");
    assert_non_null(s2);
    assert_non_null(strstr(ev_r.data, "\"kind\":\"offline\""));
    assert_string_equal(ev_r.data, ev_b.data);
    ew_engine_free(a);
    ew_engine_free(b);
    ew_engine_free(r);
    ew_registry_free(reg);
    ew_buf_release(&ev_a);
    ew_buf_release(&ev_b);
    ew_buf_release(&ev_r);
    ew_buf_release(&one);
}

/* A damaged site's state adds nothing and breaks nothing. */
static void test_import_site_rejects_damage(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf ev = EW_BUF_INIT, one = EW_BUF_INIT;
    struct ew_engine *a = engine(rules_json, reg, &ev);
    history(a);
    assert_int_equal(ew_engine_export_site(a, "S1", &one), 0);
    struct ew_engine *b = engine(rules_json, reg, &ev);
    feed(b, 9, 5, 20);
    for (size_t cut = 0; cut < one.len; cut++) { /* every truncation */
        struct ew_error err = {0};
        assert_int_equal(ew_engine_import_site(b, one.data, cut, &err), EW_EMALFORMED);
        struct ew_engine_stats st;
        ew_engine_stats(b, &st);
        assert_int_equal(st.sites, 1);
    }
    struct ew_error err = {0};
    assert_int_equal(ew_engine_import_site(b, one.data, one.len, &err), 0);
    /* the whole state's bytes are not one site's, nor the other way round */
    struct ew_buf all = EW_BUF_INIT;
    assert_int_equal(ew_engine_export(a, &all), 0);
    assert_int_equal(ew_engine_import_site(b, all.data, all.len, &err), EW_EMALFORMED);
    struct ew_engine *c = engine(rules_json, reg, &ev);
    assert_int_equal(ew_engine_import(c, one.data, one.len, &err), EW_EMALFORMED);
    ew_engine_free(a);
    ew_engine_free(b);
    ew_engine_free(c);
    ew_registry_free(reg);
    ew_buf_release(&ev);
    ew_buf_release(&one);
    ew_buf_release(&all);
}

/* What take_dirty reported: each MN with 'h' (held) or 'g' (gone), in a line. */
static bool note_dirty(void *ctx, const char *mn, bool held)
{
    ew_buf_adds(ctx, mn);
    ew_buf_addc(ctx, held ? 'h' : 'g');
    ew_buf_addc(ctx, ' ');
    return true;
}

static const char *dirty(struct ew_engine *eng, struct ew_buf *b)
{
    ew_buf_clear(b);
    ew_engine_take_dirty(eng, note_dirty, b);
    return b->data ? b->data : "";
}

/* The sites whose state changed are reported once each: by records, by timers, by a reload that
 * drops their keys; an evicted site as gone; a forgotten one not at all. */
static void test_dirty_sites(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf ev = EW_BUF_INIT, d = EW_BUF_INIT;
    struct ew_engine *eng = engine(rules_json, reg, &ev);
    history(eng);
    const char *all = dirty(eng, &d);
    for (int si = 1; si <= 5; si++) {
        char want[8];
        snprintf(want, sizeof want, "S%dh ", si);
        assert_non_null(strstr(all, want));
        assert_null(strstr(strstr(all, want) + 1, want)); /* once */
    }
    assert_string_equal(dirty(eng, &d), "");
    feed(eng, 1, 6, 120);
    feed(eng, 6, 6, 10);
    assert_string_equal(dirty(eng, &d), "S1h S6h ");
    /* S6's silence reaches 3 h: its timer changes it */
    ew_engine_tick_at(eng, 1722441600000 + 10 * 3600000, 1722441600000 + 10 * 3600000);
    assert_non_null(strstr(dirty(eng, &d), "S6h "));
    assert_non_null(strstr(ev.data, "\"mn\":\"S6\""));
    /* a reload that drops the flat rule changes the sites that had its keys */
    const char *fewer = replace(rules_json, "\"id\":\"flat\"", "\"id\":\"flat2\"");
    assert_int_equal(ew_engine_reload(eng, compile(fewer)), 0);
    assert_non_null(strstr(dirty(eng, &d), "S2h "));
    /* a forgotten site is not reported; an evicted one is, as gone */
    feed(eng, 2, 7, 60);
    assert_true(ew_engine_forget(eng, "S2"));
    for (int si = 20; si < 32; si++) /* 16 sites at most: the least recently seen goes */
        feed(eng, si, 7, 10);
    const char *after = dirty(eng, &d);
    assert_null(strstr(after, "S2h"));
    assert_non_null(strstr(after, "S20h "));
    assert_non_null(strstr(after, "S5g ")); /* seen least recently: its minutes came first */
    ew_engine_free(eng);
    ew_registry_free(reg);
    ew_buf_release(&ev);
    ew_buf_release(&d);
}

/* Takes the sites whose MN ends in an odd digit only (a caller saving one partition at a time). */
static bool note_odd(void *ctx, const char *mn, bool held)
{
    if (!((mn[strlen(mn) - 1] - '0') % 2))
        return false;
    return note_dirty(ctx, mn, held);
}

/* A site not taken stays changed, for a later call; one taken is not offered again until it
 * changes again. */
static void test_dirty_sites_taken_in_parts(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf ev = EW_BUF_INIT, d = EW_BUF_INIT;
    struct ew_engine *eng = engine(rules_json, reg, &ev);
    for (int si = 1; si <= 4; si++)
        feed(eng, si, 6, 10);
    assert_int_equal(ew_engine_dirty_count(eng), 4);
    ew_buf_clear(&d);
    assert_int_equal(ew_engine_take_dirty(eng, note_odd, &d), 2);
    assert_string_equal(d.data, "S1h S3h ");
    assert_int_equal(ew_engine_dirty_count(eng), 2);
    feed(eng, 4, 7, 10); /* changed again while waiting: still once */
    feed(eng, 1, 7, 10); /* taken, changed again: offered again */
    assert_string_equal(dirty(eng, &d), "S2h S4h S1h ");
    assert_int_equal(ew_engine_dirty_count(eng), 0);
    assert_string_equal(dirty(eng, &d), "");
    ew_engine_free(eng);
    ew_registry_free(reg);
    ew_buf_release(&ev);
    ew_buf_release(&d);
}

/* What a checkpoint being staged received: each site's state as handed over, in order. */
struct staged {
    struct ew_engine *eng;
    struct ew_buf order;    /* "S1 S3 " */
    struct ew_buf blob[24]; /* by site number */
};

static void on_staged(void *ctx, const char *mn)
{
    struct staged *st = ctx;
    ew_buf_adds(&st->order, mn);
    ew_buf_addc(&st->order, ' ');
    struct ew_buf *b = &st->blob[atoi(mn + 1)];
    ew_buf_clear(b);
    assert_int_equal(ew_engine_export_site(st->eng, mn, b), 0);
}

static void export_of(struct ew_engine *eng, int si, struct ew_buf *b)
{
    char mn[8];
    snprintf(mn, sizeof mn, "S%d", si);
    ew_buf_clear(b);
    assert_int_equal(ew_engine_export_site(eng, mn, b), 0);
}

static bool take_odd(void *ctx, const char *mn, bool held)
{
    (void)ctx, (void)held;
    return (mn[strlen(mn) - 1] - '0') % 2;
}

static bool take_all(void *ctx, const char *mn, bool held)
{
    (void)ctx, (void)mn, (void)held;
    return true;
}

/* A frozen site is handed over as it was at the freeze: before a record changes it, before
 * it is evicted, or when asked for; a thaw puts the rest back among the changed, a forgotten
 * one is not handed over. */
static void test_frozen_sites_staged_as_at_the_freeze(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf ev = EW_BUF_INIT, d = EW_BUF_INIT, want[24];
    struct staged st = {.order = EW_BUF_INIT};
    for (size_t i = 0; i < 24; i++)
        st.blob[i] = want[i] = (struct ew_buf)EW_BUF_INIT;
    struct ew_engine *eng = st.eng = engine(rules_json, reg, &ev);
    ew_engine_on_stage(eng, on_staged, &st);
    for (int si = 1; si <= 4; si++)
        feed(eng, si, 6, 10);
    assert_int_equal(ew_engine_freeze_dirty(eng, take_odd, NULL), 2);
    for (int si = 1; si <= 4; si++)
        export_of(eng, si, &want[si]);
    assert_int_equal(ew_engine_dirty_count(eng), 2); /* S2 and S4 wait for their own */
    assert_string_equal(dirty(eng, &d), "S2h S4h ");

    feed(eng, 1, 7, 200); /* S1 changes: handed over first, as it was */
    assert_string_equal(st.order.data, "S1 ");
    assert_memory_equal(st.blob[1].data, want[1].data, want[1].len);
    assert_int_equal(st.blob[1].len, want[1].len);
    export_of(eng, 1, &d);
    assert_false(d.len == want[1].len && !memcmp(d.data, want[1].data, d.len));
    assert_string_equal(dirty(eng, &d), "S1h "); /* and is changed again, for the next one */

    assert_int_equal(ew_engine_stage(eng, 8), 0); /* S3 asked for */
    assert_string_equal(st.order.data, "S1 S3 ");
    assert_int_equal(st.blob[3].len, want[3].len);
    assert_memory_equal(st.blob[3].data, want[3].data, want[3].len);
    assert_int_equal(ew_engine_stage(eng, 8), 0);
    feed(eng, 3, 7, 10); /* handed over once only */
    assert_string_equal(st.order.data, "S1 S3 ");

    /* every site frozen, the table full (16): the least recently seen, S2, is handed over
     * before a new site evicts it */
    ew_buf_clear(&st.order);
    for (int si = 5; si <= 16; si++)
        feed(eng, si, 6, 10);
    export_of(eng, 2, &want[2]);
    dirty(eng, &d);
    feed(eng, 2, 7, 10), feed(eng, 4, 7, 10), feed(eng, 1, 8, 10), feed(eng, 3, 8, 10);
    for (int si = 5; si <= 16; si++)
        feed(eng, si, 7, 10);
    export_of(eng, 2, &want[2]);
    assert_int_equal(ew_engine_freeze_dirty(eng, take_all, NULL), 16);
    ew_buf_clear(&st.order);
    feed(eng, 17, 6, 10); /* evicts S2 */
    assert_string_equal(st.order.data, "S2 ");
    assert_int_equal(st.blob[2].len, want[2].len);
    assert_memory_equal(st.blob[2].data, want[2].data, want[2].len);

    /* given up: the rest are changed sites again, handed to nobody; a forgotten one neither */
    assert_true(ew_engine_forget(eng, "S5"));
    ew_buf_clear(&st.order);
    ew_engine_thaw(eng);
    assert_int_equal(ew_engine_stage(eng, 100), 0);
    assert_int_equal(st.order.len, 0);
    const char *back = dirty(eng, &d);
    assert_non_null(strstr(back, "S4h "));
    assert_null(strstr(back, "S5h "));
    assert_non_null(strstr(back, "S2g ")); /* evicted since its last taking */

    ew_engine_free(eng);
    ew_registry_free(reg);
    ew_buf_release(&ev);
    ew_buf_release(&d);
    ew_buf_release(&st.order);
    for (size_t i = 0; i < 24; i++)
        ew_buf_release(&st.blob[i]), ew_buf_release(&want[i]);
}

static uint64_t released_tags[8];
static size_t nreleased;

static void on_released(void *ctx, uint64_t tag)
{
    (void)ctx;
    if (nreleased < 8)
        released_tags[nreleased] = tag;
    nreleased++;
}

static bool drop_odd(void *ctx, uint64_t tag)
{
    (void)ctx;
    return tag % 2;
}

/* Site s, hour h, one value, held for event-time order with a tag (processing time: 10 min after
 * its hour). */
static void feed_tagged(struct ew_engine *eng, int s, int h, double value, uint64_t tag)
{
    char json[256];
    snprintf(json, sizeof json,
             "{\"mn\":\"S%d\",\"st\":\"32\",\"cn\":\"2061\",\"data_time\":"
             "\"2024-08-01T%02d:00:00+08:00\",\"values\":[{\"code\":\"w01018\",\"field\":\"Avg\","
             "\"value\":%g,\"flag\":\"N\"}]}",
             s, h, value);
    struct ew_record *rec = ew_record_new();
    struct ew_error err = {0};
    assert_int_equal(ew_record_from_json(json, strlen(json), rec, &err), 0);
    assert_int_equal(ew_engine_record_tagged(eng, rec, rec->data_time + 600000, tag), 0);
    ew_record_free(rec);
}

static struct ew_engine *reorder_engine(struct ew_registry *reg, struct ew_buf *out)
{
    struct ew_ruleset *set = compile(rules_json);
    struct ew_engine_opts opts = {.max_sites = 16, .reorder_ms = 7200000, .released = on_released};
    struct ew_engine *eng = ew_engine_new(&opts, set, reg, sink, out);
    assert_non_null(eng);
    return eng;
}

/* A site saved while some of its records are held, restored elsewhere with those records given
 * again (their messages are read again), goes on as it would have: the silence they end is
 * measured from where it was, not from the records themselves. Held records of a partition that
 * goes are dropped unjudged, each let go. */
static void test_held_records_come_again_after_a_restore(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf ev_a = EW_BUF_INIT, ev_b = EW_BUF_INIT, ev_r = EW_BUF_INIT, one = EW_BUF_INIT;
    struct ew_engine *a = reorder_engine(reg, &ev_a), *b = reorder_engine(reg, &ev_b);
    struct ew_engine *r = reorder_engine(reg, &ev_r); /* the reference: it keeps the site */
    struct ew_engine *engines[2] = {a, r};
    for (int e = 0; e < 2; e++) {
        for (int h = 0; h < 2; h++)
            feed_tagged(engines[e], 7, h, 10, 100 + (uint64_t)h);
        ew_engine_flush(engines[e], 1722441600000 + 3 * 3600000);
        ew_engine_tick_at(engines[e], 1722441600000 + 6 * 3600000,
                          1722441600000 + 6 * 3600000); /* silent */
        feed_tagged(engines[e], 7, 7, 10, 1);           /* back: held, with another site's record */
        feed_tagged(engines[e], 8, 7, 10, 2);
    }
    assert_non_null(strstr(ev_a.data, "\"kind\":\"offline\""));
    nreleased = 0;
    assert_int_equal(ew_engine_export_site(a, "S7", &one), 0);
    struct ew_error err = {0};
    assert_int_equal(ew_engine_import_site(b, one.data, one.len, &err), 0);
    feed_tagged(b, 7, 7, 10, 1); /* read again by its next owner */
    /* the partition of odd tags goes: S7's record is dropped, unjudged, and let go */
    assert_int_equal(ew_engine_drop_held(a, drop_odd, NULL), 1);
    assert_int_equal(nreleased, 1);
    assert_int_equal(released_tags[0], 1);
    ew_buf_clear(&ev_a);
    ew_buf_clear(&ev_b);
    ew_buf_clear(&ev_r);
    ew_engine_flush(a, 1722441600000 + 8 * 3600000);
    assert_null(strstr(ev_a.data ? ev_a.data : "", "\"mn\":\"S7\""));
    ew_engine_flush(b, 1722441600000 + 8 * 3600000);
    ew_engine_flush(r, 1722441600000 + 8 * 3600000);
    drop_lines(&ev_r, "\"mn\":\"S8\"");
    assert_non_null(strstr(ev_b.data, "\"event\":\"resolved\"")); /* the silence ends */
    assert_string_equal(ev_b.data, ev_r.data); /* as it did where the site stayed */
    ew_engine_free(a);
    ew_engine_free(b);
    ew_engine_free(r);
    ew_registry_free(reg);
    ew_buf_release(&ev_a);
    ew_buf_release(&ev_b);
    ew_buf_release(&ev_r);
    ew_buf_release(&one);
}

/* Deadline reminders and a warning's level changes are neither repeated nor skipped when the
 * engine restarts from its exported state, or reloads its rules, in the middle: the same events
 * as one engine that kept going. */
static const char anchor_rules[] =
    "{\"rules\":[{\"id\":\"due\",\"kind\":\"deadline\",\"audience\":\"enterprise\","
    "\"levels\":[{\"name\":\"7d\",\"before\":\"7d\",\"severity\":\"i\"},{\"name\":\"3d\","
    "\"before\":\"3d\",\"severity\":\"i\"},{\"name\":\"1d\",\"before\":\"1d\",\"severity\":"
    "\"w\"}],\"message\":{\"zh\":\"{title} {time}\"}},"
    "{\"id\":\"late\",\"kind\":\"deadline\",\"audience\":\"officer\",\"levels\":[{\"name\":"
    "\"overdue\",\"after\":\"0s\",\"severity\":\"m\"}],\"message\":{\"zh\":\"{title}\"}},"
    "{\"id\":\"warn\",\"kind\":\"weather_warning\",\"audience\":\"enterprise\",\"levels\":["
    "{\"name\":\"yellow\",\"severity\":\"w\"},{\"name\":\"orange\",\"severity\":\"m\"}],"
    "\"message\":{\"zh\":\"{level}\"}}]}";

static void anchor_registry(struct ew_registry *reg)
{
    static const char *const events[] = {
        "{\"type\":\"outlet.upsert\",\"enterprise_id\":\"E\",\"mn\":\"S1\",\"region\":\"R\"}",
        "{\"type\":\"deadline\",\"enterprise_id\":\"E\",\"deadline_id\":\"d1\",\"kind\":\"k\","
        "\"due\":\"2024-08-09T00:00:00+08:00\",\"title\":\"report\"}",
        "{\"type\":\"emergency.upsert\",\"enterprise_id\":\"E\",\"mn\":\"S1\",\"code\":"
        "\"w00000\",\"baseline\":10,\"cuts\":{\"yellow\":0.1,\"orange\":0.2}}",
        "{\"type\":\"weather_warning\",\"region\":\"R\",\"level\":\"yellow\",\"from\":"
        "\"2024-08-03T08:00:00+08:00\",\"to\":\"2024-08-06T00:00:00+08:00\"}",
        "{\"type\":\"weather_warning\",\"region\":\"R\",\"level\":\"orange\",\"from\":"
        "\"2024-08-04T20:00:00+08:00\",\"to\":\"2024-08-06T00:00:00+08:00\"}"};
    struct ew_error err = {0};
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++)
        assert_int_equal(ew_registry_apply_json(reg, events[i], strlen(events[i]), &err), 0);
}

/* Records of S1 every 6 hours from step `from` to `to` (day 1 00:00 is step 0), a tick after
 * each. */
static void anchor_feed(struct ew_engine *eng, int from, int to)
{
    for (int i = from; i < to; i++) {
        char json[256];
        int64_t t = 1722441600000 + (int64_t)i * 6 * 3600000;
        char iso[40];
        ew_time_format_iso(t, iso);
        snprintf(json, sizeof json,
                 "{\"mn\":\"S1\",\"st\":\"32\",\"cn\":\"2061\",\"data_time\":\"%s\","
                 "\"values\":[{\"code\":\"w01018\",\"field\":\"Avg\",\"value\":5}]}",
                 iso);
        feed_json(eng, json, 60000);
        ew_engine_tick(eng, t + 120000);
    }
}

static void test_anchor_reminders_across_a_restart(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    anchor_registry(reg);
    struct ew_buf once = EW_BUF_INIT, twice = EW_BUF_INIT, snap = EW_BUF_INIT;
    struct ew_engine *a = engine(anchor_rules, reg, &once);
    anchor_feed(a, 0, 48);
    ew_engine_free(a);
    assert_non_null(strstr(once.data, "\"reason\":\"3d\""));
    assert_non_null(strstr(once.data, "\"reason\":\"overdue\""));
    assert_non_null(strstr(once.data, "\"level\":\"orange\""));
    for (int cut = 9; cut < 48; cut += 13) { /* a restart before, between and after the leads */
        ew_buf_clear(&twice);
        ew_buf_clear(&snap);
        struct ew_engine *b = engine(anchor_rules, reg, &twice);
        anchor_feed(b, 0, cut);
        assert_int_equal(ew_engine_export(b, &snap), 0);
        ew_engine_free(b);
        struct ew_engine *c = engine(anchor_rules, reg, &twice);
        struct ew_error err = {0};
        assert_int_equal(ew_engine_import(c, snap.data, snap.len, &err), 0);
        assert_int_equal(ew_engine_reload(c, compile(anchor_rules)), 0); /* and a reload */
        anchor_feed(c, cut, 48);
        ew_engine_free(c);
        assert_string_equal(once.data, twice.data);
    }
    ew_buf_release(&once);
    ew_buf_release(&twice);
    ew_buf_release(&snap);
    ew_registry_free(reg);
}

/* Every event id in out (one JSON object a line) differs from the others. */
static void assert_ids_unique(const struct ew_buf *out)
{
    const char *ids[64];
    size_t n = 0;
    for (const char *p = out->data; p && (p = strstr(p, "\"id\":\"")); p++) {
        assert_true(n < sizeof ids / sizeof ids[0]);
        ids[n] = p + 6;
        size_t len = strcspn(ids[n], "\"");
        for (size_t i = 0; i < n; i++)
            if (!strncmp(ids[i], ids[n], len) && ids[i][len] == '"') {
                print_error("said twice: %.*s\n", (int)len, ids[n]);
                fail();
            }
        n++;
    }
}

/* A site whose data is behind the clock is swept as of a time before its warnings were last
 * judged (here the day its hourly data belongs to closes, for its average): the warnings are
 * not judged again back in time. Before, the anchor said the orange warning a second time (the
 * same id) after it had said it was lifted, and was left thinking it still held. */
static const char behind_rules[] =
    "{\"rules\":[{\"id\":\"warn\",\"kind\":\"weather_warning\",\"audience\":\"enterprise\","
    "\"levels\":[{\"name\":\"yellow\",\"severity\":\"w\"},{\"name\":\"orange\",\"severity\":"
    "\"m\"}],\"message\":{\"zh\":\"{level}\"}},"
    "{\"id\":\"hi\",\"kind\":\"threshold\",\"audience\":\"officer\",\"select\":{\"data\":["
    "\"hour\"],\"field\":\"Avg\"},\"levels\":[{\"name\":"
    "\"over\",\"above\":100,\"severity\":\"c\"}],\"for\":\"30m\",\"message\":{\"zh\":"
    "\"{value}\"}}]}";

static void feed_at(struct ew_engine *eng, const char *mn, int64_t t, double value)
{
    char json[256], iso[40];
    ew_time_format_iso(t, iso);
    snprintf(json, sizeof json,
             "{\"mn\":\"%s\",\"st\":\"32\",\"cn\":\"2061\",\"data_time\":\"%s\","
             "\"values\":[{\"code\":\"w01018\",\"field\":\"Avg\",\"value\":%g}]}",
             mn, iso, value);
    feed_json(eng, json, 60000);
}

static void test_warning_not_judged_back_in_time(void **state)
{
    (void)state;
    const int64_t h = 3600000, day1 = 1722441600000; /* 2024-08-01T00:00:00+08:00 */
    struct ew_registry *reg = ew_registry_new();
    anchor_registry(reg); /* R: yellow from day 3 08:00, orange from day 4 20:00, to day 6 */
    struct ew_buf out = EW_BUF_INIT;
    struct ew_engine *eng = engine(behind_rules, reg, &out);
    feed_at(eng, "S1", day1, 5);
    feed_at(eng, "S2", day1 + 5 * 24 * h + 6 * h, 5); /* the clock passes the warnings' end */
    ew_engine_tick(eng, day1 + 5 * 24 * h + 7 * h);
    assert_non_null(strstr(out.data, "\"level\":\"orange\""));
    assert_non_null(strstr(out.data, "warning lifted"));
    size_t said = out.len;
    struct ew_engine_stats st;
    ew_engine_stats(eng, &st);
    uint64_t closed = st.averages + st.invalid_averages;
    /* S1's hours, behind the clock, inside the orange warning: their day closes at day 5's
     * start (the tick sweeps S1 as of then), day 6 00:00 being when the warnings were judged */
    feed_at(eng, "S1", day1 + 3 * 24 * h + 21 * h, 150);
    feed_at(eng, "S1", day1 + 3 * 24 * h + 23 * h, 150);
    ew_engine_tick(eng, day1 + 5 * 24 * h + 8 * h);
    ew_engine_stats(eng, &st);
    assert_true(st.averages + st.invalid_averages > closed); /* the sweeps did come */
    assert_non_null(strstr(out.data + said, "\"rule\":\"hi\""));
    assert_null(strstr(out.data + said, "\"rule\":\"warn\""));
    assert_ids_unique(&out);
    ew_engine_free(eng);
    ew_buf_release(&out);
    ew_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anchor_reminders_across_a_restart),
        cmocka_unit_test(test_warning_not_judged_back_in_time),
        cmocka_unit_test(test_export_import_round_trip),
        cmocka_unit_test(test_import_rejects_damage),
        cmocka_unit_test(test_import_drops_unknown_rules),
        cmocka_unit_test(test_reload_keeps_unchanged_shapes),
        cmocka_unit_test(test_reload_keeps_chains),
        cmocka_unit_test(test_many_loops),
        cmocka_unit_test(test_idle_keys_not_kept),
        cmocka_unit_test(test_out_of_memory_counted),
        cmocka_unit_test(test_reload_moves_rules),
        cmocka_unit_test(test_forget_site),
        cmocka_unit_test(test_site_moves_between_engines),
        cmocka_unit_test(test_import_site_rejects_damage),
        cmocka_unit_test(test_dirty_sites),
        cmocka_unit_test(test_dirty_sites_taken_in_parts),
        cmocka_unit_test(test_frozen_sites_staged_as_at_the_freeze),
        cmocka_unit_test(test_held_records_come_again_after_a_restore),
        cmocka_unit_test(test_record_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
