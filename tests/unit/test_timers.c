/*
 * Unit tests: the engine's event-time timers (rules/ew_timers.h and their use in ew_engine.c).
 * The heap's order; the same records fed at live pace and in one burst give the same events
 * (a silence inside a backlog is seen as it was live, with the same id); timers survive a
 * checkpoint, a reload and a forgotten site that moves another in the site table.
 */
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
#include "ew_registry.h"
#include "ew_rules.h"
#include "ew_time.h"
#include "ew_timers.h"

#include "../testutil.h"

#define MIN (60 * 1000LL)
#define T0  1719799200000LL /* 2024-07-01T10:00:00+08:00 */

static const char rules_json[] =
    "{\"rules\":[{\"id\":\"off\",\"kind\":\"offline\",\"audience\":\"officer\","
    "\"levels\":[{\"name\":\"off\",\"after\":\"30m\",\"severity\":\"m\"},"
    "{\"name\":\"off-2h\",\"after\":\"2h\",\"severity\":\"c\"}],"
    "\"message\":{\"zh\":\"{mn} {silence}\"}}]}";

/* The events, one JSON object a line, without detected_at (processing time). */
static void sink(void *ctx, const struct ew_alert_event *ev)
{
    struct ew_alert_event e = *ev;
    e.detected_at = 0;
    ew_alert_to_json(&e, ctx);
    ew_buf_addc(ctx, '\n');
}

static const char repeat_json[] =
    "{\"rules\":[{\"id\":\"off\",\"kind\":\"offline\",\"audience\":\"officer\","
    "\"levels\":[{\"name\":\"off\",\"after\":\"30m\",\"severity\":\"m\"}],\"repeat\":\"1h\","
    "\"message\":{\"zh\":\"{mn} {silence}\"}}]}";

/* An engine of the rules that holds records reorder_ms for event-time order (0: none); a
 * record of a caller's source at most hold_max_ms of processing time (0: reorder_ms). */
static struct ew_engine *engine_held(const char *rules, int64_t reorder_ms, int64_t hold_max_ms,
                                     struct ew_registry *reg, struct ew_buf *out)
{
    struct ew_ruleset *set = ew_ruleset_new();
    struct ew_error err = {0};
    assert_int_equal(ew_ruleset_add_json(set, rules, strlen(rules), "t.json", &err), 0);
    struct ew_engine_opts opts = {
        .max_sites = 16, .reorder_ms = reorder_ms, .hold_max_ms = hold_max_ms};
    struct ew_engine *eng = ew_engine_new(&opts, set, reg, sink, out);
    assert_non_null(eng);
    return eng;
}

static struct ew_engine *engine_of(const char *rules, struct ew_registry *reg, struct ew_buf *out)
{
    return engine_held(rules, 0, 0, reg, out);
}

static struct ew_engine *engine(struct ew_registry *reg, struct ew_buf *out)
{
    return engine_of(rules_json, reg, out);
}

/* One engine of the rules, its events in out, and a record to fill. */
struct fixture {
    struct ew_registry *reg;
    struct ew_buf out;
    struct ew_engine *eng;
    struct ew_record *rec;
};

static void fixture_hold(struct fixture *f, const char *rules, int64_t reorder_ms,
                         int64_t hold_max_ms)
{
    f->reg = ew_registry_new();
    f->out = (struct ew_buf)EW_BUF_INIT;
    f->eng = engine_held(rules, reorder_ms, hold_max_ms, f->reg, &f->out);
    f->rec = ew_record_new();
}

static void fixture_open(struct fixture *f, const char *rules, int64_t reorder_ms)
{
    fixture_hold(f, rules, reorder_ms, 0);
}

static void fixture_close(struct fixture *f)
{
    ew_record_free(f->rec);
    ew_engine_free(f->eng);
    ew_registry_free(f->reg);
    ew_buf_release(&f->out);
}

/* A record of site mn at data time t: pollutant code at value, in field Rtd (cn 2011) or Avg. */
static void fill(struct ew_record *rec, const char *mn, const char *cn, const char *code, int64_t t,
                 double value)
{
    char json[320], iso[40];
    ew_time_format_iso(t, iso);
    snprintf(json, sizeof json,
             "{\"mn\":\"%s\",\"st\":\"32\",\"cn\":\"%s\",\"data_time\":\"%s\",\"values\":"
             "[{\"code\":\"%s\",\"field\":\"%s\",\"value\":%g,\"flag\":\"N\"}]}",
             mn, cn, iso, code, strcmp(cn, "2011") ? "Avg" : "Rtd", value);
    struct ew_error err = {0};
    assert_int_equal(ew_record_from_json(json, strlen(json), rec, &err), 0);
}

/* The same, judged. */
static void send_code(struct ew_engine *eng, struct ew_record *rec, const char *mn, const char *cn,
                      const char *code, int64_t t, int64_t now, double value)
{
    fill(rec, mn, cn, code, t, value);
    assert_int_equal(ew_engine_record(eng, rec, now), 0);
}

/* The same of COD (w01018). */
static void send(struct ew_engine *eng, struct ew_record *rec, const char *mn, const char *cn,
                 int64_t t, int64_t now, double value)
{
    send_code(eng, rec, mn, cn, "w01018", t, now, value);
}

/* A real-time record of site mn at data time t. */
static void record(struct ew_engine *eng, struct ew_record *rec, const char *mn, int64_t t,
                   int64_t now)
{
    send(eng, rec, mn, "2011", t, now, 30);
}

/* Site T sends every minute from 10:00 to 11:30; site S from 10:00 to 10:20, then nothing
 * until 11:05 (a 45-minute silence), then on to 11:30. Records come in data-time order. The
 * clock is the newest data time; it is advanced before each record, as the daemon does. live:
 * each record half a minute after its data time, with a tick every minute; else all of them
 * within a second, at 13:00, and one tick at the end. */
static void replay(struct ew_engine *eng, bool live)
{
    struct ew_record *rec = ew_record_new();
    int64_t clock = INT64_MIN, burst = T0 + 3 * 60 * MIN;
    for (int i = 0; i <= 90; i++) {
        int64_t t = T0 + i * MIN, now = live ? t + 30000 : burst + i * 10;
        const char *mns[2] = {"T", (i <= 20 || i >= 65) ? "S" : NULL};
        for (int k = 0; k < 2 && mns[k]; k++) {
            clock = t > clock ? t : clock;
            ew_engine_advance(eng, clock, now);
            record(eng, rec, mns[k], t, now);
        }
        if (live)
            ew_engine_tick_at(eng, clock, now);
    }
    if (!live)
        ew_engine_tick_at(eng, clock, burst + 1000);
    ew_record_free(rec);
}

static void test_backlog_in_a_burst_as_live(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf live = EW_BUF_INIT, burst = EW_BUF_INIT;
    struct ew_engine *a = engine(reg, &live), *b = engine(reg, &burst);
    replay(a, true);
    replay(b, false);
    assert_non_null(live.data);
    /* S offline at 10:50 (in the data's time), back online with its 11:05 record */
    assert_non_null(strstr(live.data, "\"event\":\"firing\""));
    assert_non_null(strstr(live.data, "-1719802200000-firing-0\"")); /* 10:50 */
    assert_non_null(strstr(live.data, "\"reason\":\"back online\""));
    assert_null(strstr(live.data, "\"mn\":\"T\""));
    assert_string_equal(live.data, burst.data); /* every event, id and evidence alike */
    ew_engine_free(a);
    ew_engine_free(b);
    ew_registry_free(reg);
    ew_buf_release(&live);
    ew_buf_release(&burst);
}

/* Without advancing the clock before records, a burst hides the silence: the record that ends
 * it is judged before any tick sees it (what the timers fix). */
static void test_ticks_alone_miss_a_silence_in_a_burst(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, rules_json, 0);
    int64_t now = T0 + 3 * 60 * MIN;
    for (int i = 0; i <= 90; i++) {
        record(f.eng, f.rec, "T", T0 + i * MIN, now);
        if (i <= 20 || i >= 65)
            record(f.eng, f.rec, "S", T0 + i * MIN, now);
    }
    ew_engine_tick(f.eng, now);
    assert_null(f.out.data);
    fixture_close(&f);
}

/* A site's timer is rebuilt from the state: after a checkpoint and a reload the silence is
 * still seen when it is due. */
static void test_timers_follow_the_state(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf out = EW_BUF_INIT, state_bytes = EW_BUF_INIT;
    struct ew_engine *a = engine(reg, &out);
    struct ew_record *rec = ew_record_new();
    record(a, rec, "S", T0, T0);
    record(a, rec, "T", T0 + 25 * MIN, T0 + 25 * MIN);
    assert_int_equal(ew_engine_export(a, &state_bytes), 0);
    struct ew_engine *b = engine(reg, &out);
    struct ew_error err = {0};
    assert_int_equal(ew_engine_import(b, state_bytes.data, state_bytes.len, &err), 0);
    ew_engine_advance(b, T0 + 29 * MIN, T0 + 29 * MIN);
    assert_null(out.data);
    ew_engine_advance(b, T0 + 31 * MIN, T0 + 31 * MIN); /* S: 30 minutes silent */
    assert_non_null(strstr(out.data, "\"mn\":\"S\""));
    assert_null(strstr(out.data, "\"mn\":\"T\""));
    /* a reload keeps the state, and the timers are made again for the new rules */
    struct ew_ruleset *set = ew_ruleset_new();
    assert_int_equal(ew_ruleset_add_json(set, rules_json, strlen(rules_json), "t.json", &err), 0);
    assert_int_equal(ew_engine_reload(b, set), 0);
    ew_buf_clear(&out);
    ew_engine_advance(b, T0 + 56 * MIN, T0 + 56 * MIN); /* T: 31 minutes silent */
    assert_non_null(strstr(out.data, "\"mn\":\"T\""));
    ew_buf_clear(&out);
    ew_engine_advance(b, T0 + 121 * MIN, T0 + 121 * MIN); /* S: its second level */
    assert_non_null(strstr(out.data, "\"off-2h\""));
    assert_null(strstr(out.data, "\"mn\":\"T\""));
    ew_record_free(rec);
    ew_engine_free(a);
    ew_engine_free(b);
    ew_registry_free(reg);
    ew_buf_release(&out);
    ew_buf_release(&state_bytes);
}

/* Forgetting a site moves the last one into its place in the table: the moved site's timer
 * goes with it, the forgotten site's never fires. */
static void test_forgotten_site_moves_another(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, rules_json, 0);
    record(f.eng, f.rec, "A", T0, T0);
    record(f.eng, f.rec, "B", T0 + MIN, T0 + MIN);
    record(f.eng, f.rec, "C", T0 + 2 * MIN, T0 + 2 * MIN);
    assert_true(ew_engine_forget(f.eng, "A")); /* C moves into A's place */
    ew_engine_advance(f.eng, T0 + 40 * MIN, T0 + 40 * MIN);
    assert_null(strstr(f.out.data, "\"mn\":\"A\""));
    assert_non_null(strstr(f.out.data, "\"mn\":\"B\""));
    assert_non_null(strstr(f.out.data, "\"mn\":\"C\""));
    fixture_close(&f);
}

/* Repeats that fall due while the clock jumps over a long silence are folded into one, at the
 * latest of them; while the clock moves on in small steps, each comes on its own. */
static void test_repeats_folded_when_the_clock_jumps(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, repeat_json, 0);
    record(f.eng, f.rec, "S", T0, T0);
    ew_engine_advance(f.eng, T0 + 30 * MIN, T0 + 30 * MIN); /* offline */
    assert_int_equal(ew_test_count(f.out.data, "\"event\":\"firing\""), 1);
    ew_engine_advance(f.eng, T0 + 24 * 60 * MIN, T0 + 24 * 60 * MIN); /* a day later at once */
    assert_int_equal(ew_test_count(f.out.data, "\"event\":\"firing\""), 2);
    assert_non_null(strstr(f.out.data, "-1719883800000-firing-0")); /* 23:30 after, the latest */
    for (int h = 25; h <= 27; h++) /* then hour by hour: one each */
        ew_engine_advance(f.eng, T0 + h * 60 * MIN, T0 + h * 60 * MIN);
    assert_int_equal(ew_test_count(f.out.data, "\"event\":\"firing\""), 5);
    fixture_close(&f);
}

/* COD over 100 for 30 minutes of real-time values fires; a flapping alert resolves once clear
 * for a whole hour. */
static const char durations_json[] =
    "{\"rules\":[{\"id\":\"cod\",\"kind\":\"threshold\",\"audience\":\"officer\","
    "\"levels\":[{\"name\":\"over\",\"above\":100,\"severity\":\"m\"}],\"for\":\"30m\","
    "\"clear\":{\"for\":\"5m\"},\"flap\":{\"changes\":1,\"window\":\"25m\"},"
    "\"select\":{\"data\":[\"realtime\",\"minute\"],\"field\":[\"Rtd\",\"Avg\"]},\"message\":{"
    "\"zh\":\"{mn} {value}\"}}]}";

/* A `for` duration is a timer of the checkpoint's state: gathered in one engine, it fires in
 * the one that imported it, when the clock passes it and with the same event id. */
static void test_duration_fires_after_a_checkpoint(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf out = EW_BUF_INIT, live = EW_BUF_INIT, bytes = EW_BUF_INIT;
    struct ew_record *rec = ew_record_new();
    struct ew_engine *a = engine_of(durations_json, reg, &live), *b = NULL;
    for (int restart = 0; restart < 2; restart++) {
        struct ew_engine *e = restart ? engine_of(durations_json, reg, &out) : a;
        if (restart) {
            struct ew_error err = {0};
            assert_int_equal(ew_engine_import(e, bytes.data, bytes.len, &err), 0);
            b = e;
        }
        for (int m = restart ? 20 : 0; m < 30; m++) {
            ew_engine_advance(e, T0 + m * MIN, T0 + m * MIN);
            send(e, rec, "S", "2011", T0 + m * MIN, T0 + m * MIN, 150);
            if (!restart && m == 19)
                assert_int_equal(ew_engine_export(a, &bytes), 0);
        }
        /* the value at 10:29 stands until 10:30: the clock passing it fires, no record needed */
        ew_engine_advance(e, T0 + 29 * MIN + 59999, T0 + 30 * MIN);
        const struct ew_buf *got = restart ? &out : &live;
        assert_int_equal(ew_test_count(got->data, "\"firing\""), 0);
        ew_engine_advance(e, T0 + 30 * MIN, T0 + 30 * MIN);
        assert_int_equal(ew_test_count(got->data, "-1719801000000-firing-0"), 1);
    }
    assert_non_null(strstr(live.data, "\"values\":30"));
    assert_non_null(strstr(out.data, "\"values\":30")); /* 20 before the checkpoint, 10 after */
    ew_record_free(rec);
    ew_engine_free(a);
    ew_engine_free(b);
    ew_registry_free(reg);
    ew_buf_release(&out);
    ew_buf_release(&live);
    ew_buf_release(&bytes);
}

/* A timer's event names the pollutant as the record did: a family member (e10103 of e101xx)
 * keeps its own code, and so the fingerprint of the record's events. */
static void test_duration_event_names_the_code_sent(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, durations_json, 0);
    for (int m = 0; m < 30; m++) {
        ew_engine_advance(f.eng, T0 + m * MIN, T0 + m * MIN);
        send_code(f.eng, f.rec, "F", "2011", "e10103", T0 + m * MIN, T0 + m * MIN, 150);
    }
    ew_engine_advance(f.eng, T0 + 30 * MIN, T0 + 30 * MIN);
    const char *pending = strstr(f.out.data, "\"event\":\"pending\"");
    const char *firing = strstr(f.out.data, "\"event\":\"firing\"");
    assert_non_null(pending);
    assert_non_null(firing); /* fired by the clock: no record at 10:30 */
    assert_int_equal(ew_test_count(f.out.data, "\"pollutant\":\"e10103\""), 2);
    const char *fp = strstr(f.out.data, "\"fingerprint\":\"");
    assert_non_null(fp);
    char want[48];
    snprintf(want, sizeof want, "%.35s", fp);
    assert_int_equal(ew_test_count(f.out.data, want), 2);
    fixture_close(&f);
}

/* A value stands for the period of its data: minute data sent every 10 minutes covers 10, so a
 * flapping alert's calm hour ends between two of them and is judged when the clock passes it. */
static void test_flap_calm_between_two_values(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, durations_json, 0);
    /* over from 10:00: firing at 10:30, when the 10:20 value's ten minutes end; clear at 10:40,
     * held 5 minutes at 10:45: a second change within the 25-minute flap window, so it flaps
     * and stays firing; over again from 10:50, clear from 11:30: calm once clear for a whole
     * window, at 11:55, which the 11:50 value covers, before the 12:00 value comes */
    double v[] = {150, 150, 150, 150, 50, 150, 150, 150, 150, 50, 50, 50};
    for (int i = 0; i < 12; i++) {
        ew_engine_advance(f.eng, T0 + i * 10 * MIN, T0 + i * 10 * MIN);
        send(f.eng, f.rec, "S", "2051", T0 + i * 10 * MIN, T0 + i * 10 * MIN, v[i]);
    }
    assert_int_equal(ew_test_count(f.out.data, "\"event\":\"firing\""), 1);
    assert_non_null(strstr(f.out.data, "-1719801000000-firing-0")); /* 10:30 */
    ew_engine_advance(f.eng, T0 + 115 * MIN - 1, T0 + 115 * MIN);
    assert_null(strstr(f.out.data, "\"resolved\""));
    ew_engine_advance(f.eng, T0 + 115 * MIN, T0 + 115 * MIN);
    assert_int_equal(ew_test_count(f.out.data, "\"event\":\"resolved\""), 1);
    assert_non_null(strstr(f.out.data, "-1719806100000-resolved-0")); /* 11:55 */
    assert_non_null(strstr(f.out.data, "calm after flapping"));
    fixture_close(&f);
}

/* A record held for event-time order is judged before a timer past it fires: a duration that a
 * held value ends does not fire on the value before it. */
static void test_no_timer_fires_past_a_held_record(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, durations_json, 60000);
    for (int m = 0; m < 30; m++)
        send(f.eng, f.rec, "S", "2011", T0 + m * MIN, T0 + m * MIN + 1000, 150);
    /* T's 10:30 releases S's values to 10:29, which stands until 10:30; S's 10:29:45 is held */
    send(f.eng, f.rec, "T", "2011", T0 + 30 * MIN, T0 + 30 * MIN + 1000, 20);
    send(f.eng, f.rec, "S", "2011", T0 + 29 * MIN + 45000, T0 + 30 * MIN + 2000, 20);
    ew_engine_advance(f.eng, T0 + 30 * MIN + 10000, T0 + 30 * MIN + 10000);
    assert_int_equal(ew_test_count(f.out.data, "\"firing\""), 0);
    ew_engine_flush(f.eng, T0 + 31 * MIN);
    assert_non_null(strstr(f.out.data, "cleared before firing"));
    ew_engine_advance(f.eng, T0 + 40 * MIN, T0 + 40 * MIN);
    assert_null(strstr(f.out.data, "\"firing\""));
    fixture_close(&f);
}

/* A fleet of 12 sites sending every minute for two hours through one source, half of them silent
 * together for 40 minutes and the rest each at its own time; the clock is the newest data time.
 * Engine 0 ticks each minute; engine 1 judges at most one held record with each record taken and
 * does the rest and a tick's work 3 at a time until nothing is due (as the daemon does with live
 * input). After each minute both have said the same (sorted: the order across sites may
 * differ). */
static void test_due_work_in_steps_gives_the_same_events(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf out[2] = {EW_BUF_INIT, EW_BUF_INIT};
    struct ew_engine *eng[2];
    for (int e = 0; e < 2; e++) {
        struct ew_ruleset *set = ew_ruleset_new();
        struct ew_error err = {0};
        assert_int_equal(ew_ruleset_add_json(set, rules_json, strlen(rules_json), "t.json", &err),
                         0);
        struct ew_engine_opts opts = {.max_sites = 16, .reorder_ms = MIN};
        assert_non_null(eng[e] = ew_engine_new(&opts, set, reg, sink, &out[e]));
    }
    ew_engine_release_bound(eng[1], 1);
    struct ew_record *rec = ew_record_new();
    size_t left_due = 0; /* held records engine 1 had left for its steps */
    for (int m = 0; m < 120; m++) {
        int64_t t = T0 + m * MIN, now = t + 1000;
        for (int k = 0; k < 12; k++) {
            int from = k < 6 ? 10 : 10 + 3 * k;
            if (m >= from && m < from + 40)
                continue;
            char mn[8];
            snprintf(mn, sizeof mn, "S%02d", k);
            fill(rec, mn, "2011", "w01018", t, 30);
            for (int e = 0; e < 2; e++)
                assert_int_equal(ew_engine_record_from(eng[e], rec, now, 0, 1, t), 0);
        }
        struct ew_engine_stats st[2];
        for (int e = 0; e < 2; e++)
            ew_engine_stats(eng[e], &st[e]);
        left_due += st[1].held - st[0].held;
        ew_engine_tick_at(eng[0], t, now);
        while (ew_engine_step(eng[1], t, now, 3))
            ;
        char *whole = ew_test_sorted_lines(out[0].data ? out[0].data : "");
        char *steps = ew_test_sorted_lines(out[1].data ? out[1].data : "");
        assert_string_equal(steps, whole);
        free(whole);
        free(steps);
    }
    assert_int_equal(ew_test_count(out[0].data, "\"event\":\"firing\""), 12);
    assert_int_equal(ew_test_count(out[0].data, "\"event\":\"resolved\""), 12);
    assert_true(left_due > 0); /* the bound left some for the steps */
    ew_record_free(rec);
    for (int e = 0; e < 2; e++) {
        ew_engine_free(eng[e]);
        ew_buf_release(&out[e]);
    }
    ew_registry_free(reg);
}

/* A real-time COD value over its limit of site mn, from one of the caller's sources (a
 * partition) whose watermark is mark. */
static void send_from(struct fixture *f, const char *mn, int64_t t, int64_t now, uint32_t source,
                      int64_t mark)
{
    fill(f->rec, mn, "2011", "w01018", t, 150);
    assert_int_equal(ew_engine_record_from(f->eng, f->rec, now, 0, source, mark), 0);
}

static size_t held(const struct fixture *f, uint64_t *out_of_order)
{
    struct ew_engine_stats st;
    ew_engine_stats(f->eng, &st);
    *out_of_order = st.out_of_order;
    return st.held;
}

/* A held record waits for its own partition's watermark, not for the newest data of another
 * partition read faster: S's value sent out of order is still put in its place while T's
 * partition is hours ahead. By processing time it waits hold_max (here 10 minutes), not the
 * reorder window, so a pause of the input changes nothing either. */
static void test_held_records_wait_for_their_partition(void **state)
{
    (void)state;
    struct fixture f;
    uint64_t late;
    fixture_hold(&f, durations_json, MIN, 10 * MIN);
    int64_t now = T0 + 3 * 60 * MIN; /* processing time: 3 hours after the data, a backlog */
    send_from(&f, "S", T0, now, 1, T0);
    send_from(&f, "T", T0 + 120 * MIN, now, 2, T0 + 120 * MIN);
    ew_engine_tick_at(f.eng, T0, now + 2 * MIN); /* longer than the window, shorter than 10 min */
    send_from(&f, "S", T0 - 30000, now + 2 * MIN, 1, T0); /* out of order */
    assert_int_equal(held(&f, &late), 3);
    send_from(&f, "S", T0 + 2 * MIN, now + 3 * MIN, 1, T0 + 2 * MIN); /* S's partition moves on */
    assert_int_equal(held(&f, &late), 2);                             /* T's 12:00 and S's 10:02 */
    assert_int_equal(late, 0); /* 09:59:30 was judged before 10:00 */
    ew_engine_tick_at(f.eng, T0 + 2 * MIN, now + 9 * MIN);
    assert_int_equal(held(&f, &late), 2);
    ew_engine_tick_at(f.eng, T0 + 2 * MIN, now + 13 * MIN); /* both quiet for 10 minutes */
    assert_int_equal(held(&f, &late), 0);
    /* S's partition claimed again from an earlier watermark (Redis lost writes): it starts there */
    send_from(&f, "S", T0 + MIN, now + 14 * MIN, 1, T0 + MIN);
    assert_int_equal(held(&f, &late), 1);
    fixture_close(&f);
}

/* A held record is judged at its own site though the table gave the slot its site had when it
 * came to another one meanwhile (two sites at most: A, held, is evicted by C). */
static void test_held_record_finds_its_site_again(void **state)
{
    (void)state;
    static const char over[] =
        "{\"rules\":[{\"id\":\"hi\",\"kind\":\"threshold\",\"audience\":\"officer\",\"select\":"
        "{\"data\":[\"realtime\"],\"field\":\"Rtd\"},\"levels\":[{\"name\":\"over\",\"above\":100,"
        "\"severity\":\"c\"}],\"message\":{\"zh\":\"{value}\"}}]}";
    struct ew_ruleset *set = ew_ruleset_new();
    struct ew_error err = {0};
    assert_int_equal(ew_ruleset_add_json(set, over, strlen(over), "t.json", &err), 0);
    struct ew_registry *reg = ew_registry_new();
    struct ew_buf out = EW_BUF_INIT;
    struct ew_engine_opts opts = {.max_sites = 2, .reorder_ms = MIN};
    struct ew_engine *eng = ew_engine_new(&opts, set, reg, sink, &out);
    assert_non_null(eng);
    struct ew_record *rec = ew_record_new();
    send(eng, rec, "A", "2011", T0, T0 + 1000, 150); /* held, over the level */
    send(eng, rec, "B", "2011", T0, T0 + 1000, 5);
    send(eng, rec, "C", "2011", T0, T0 + 1000, 5); /* A, least recently seen, goes */
    struct ew_engine_stats st;
    ew_engine_stats(eng, &st);
    assert_int_equal(st.held, 3);
    assert_true(st.evictions > 0);
    ew_engine_tick_at(eng, T0 + 5 * MIN, T0 + 5 * MIN);
    ew_engine_stats(eng, &st);
    assert_int_equal(st.held, 0);
    assert_non_null(out.data);
    assert_non_null(strstr(out.data, "\"mn\":\"A\""));
    assert_null(strstr(out.data, "\"mn\":\"B\""));
    assert_null(strstr(out.data, "\"mn\":\"C\""));
    ew_record_free(rec);
    ew_engine_free(eng);
    ew_registry_free(reg);
    ew_buf_release(&out);
}

static void test_heap_order(void **state)
{
    (void)state;
    struct ew_timers t = {0};
    uint64_t x = 88172645463325252ull;
    for (uint32_t i = 0; i < 5000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        assert_int_equal(ew_timers_push(&t, (int64_t)(x % 1000), i), 0);
    }
    int64_t due = INT64_MIN;
    uint32_t site = 0;
    for (int i = 0; i < 5000; i++) {
        const struct ew_timer *top = ew_timers_top(&t);
        assert_non_null(top);
        assert_true(top->due > due || (top->due == due && top->site > site));
        due = top->due, site = top->site;
        ew_timers_pop(&t);
    }
    assert_null(ew_timers_top(&t));
    ew_timers_pop(&t); /* empty: nothing */
    ew_timers_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_order),
        cmocka_unit_test(test_backlog_in_a_burst_as_live),
        cmocka_unit_test(test_ticks_alone_miss_a_silence_in_a_burst),
        cmocka_unit_test(test_timers_follow_the_state),
        cmocka_unit_test(test_forgotten_site_moves_another),
        cmocka_unit_test(test_repeats_folded_when_the_clock_jumps),
        cmocka_unit_test(test_duration_fires_after_a_checkpoint),
        cmocka_unit_test(test_duration_event_names_the_code_sent),
        cmocka_unit_test(test_flap_calm_between_two_values),
        cmocka_unit_test(test_no_timer_fires_past_a_held_record),
        cmocka_unit_test(test_due_work_in_steps_gives_the_same_events),
        cmocka_unit_test(test_held_records_wait_for_their_partition),
        cmocka_unit_test(test_held_record_finds_its_site_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
