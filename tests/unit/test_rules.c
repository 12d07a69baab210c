/* Unit tests: rule compilation errors, the key-state table, the registry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ew_registry_json.h"
#include "ew_rulefiles.h"
#include "ew_engine_int.h"
#include "ew_hj212.h"

static const char *compile_error(const char *text)
{
    static struct ew_error err;
    struct ew_ruleset *set = ew_ruleset_new();
    memset(&err, 0, sizeof err);
    int rc = ew_ruleset_add_json(set, text, strlen(text), "t.json", &err);
    size_t n = ew_ruleset_count(set);
    ew_ruleset_free(set);
    if (rc == 0)
        return NULL;
    assert_int_equal(n, 0); /* all or nothing */
    return err.detail;
}

#define GOOD                                                                                       \
    "{\"id\":\"r1\",\"kind\":\"threshold\",\"audience\":\"officer\",\"select\":{\"data\":["        \
    "\"hour\"],"                                                                                   \
    "\"field\":\"ZsAvg\"},\"levels\":[{\"name\":\"over\",\"above\":\"100%\",\"severity\":"         \
    "\"critical\"}],\"message\":{\"zh\":\"{pollutant_name} {value}\"}}"

static void test_good_rule_compiles(void **state)
{
    (void)state;
    assert_null(compile_error("{\"rules\":[" GOOD "]}"));
    struct ew_ruleset *set = ew_ruleset_new();
    struct ew_error err = {0};
    const char *text = "{\"rules\":[" GOOD "]}";
    assert_int_equal(ew_ruleset_add_json(set, text, strlen(text), "t.json", &err), 0);
    const struct ew_rule *r = &set->rules[0];
    assert_int_equal(r->nlevels, 1);
    assert_true(r->levels[0].above.relative);
    assert_true(r->levels[0].above.value == 1.0);
    assert_int_equal(r->for_count, 1);
    assert_int_equal(r->clear_count, 1);
    assert_int_equal(r->fields[0], EW_FIELD_ZSAVG);
    assert_int_equal(r->data_kinds, 1u << EW_KIND_HOUR);
    /* a second file with the same id is refused */
    struct ew_error err2 = {0};
    assert_int_equal(ew_ruleset_add_json(set, text, strlen(text), "u.json", &err2), EW_EINVAL);
    assert_string_equal(err2.detail, "u.json: r1: duplicate rule id");
    assert_int_equal(ew_ruleset_count(set), 1);
    ew_ruleset_free(set);
}

/* Escalation policies: read whole or refused with the reason; a rule names one defined in any
 * file of the set, linked once all are in. */
static void test_policies(void **state)
{
    (void)state;
    static const struct {
        const char *text, *error;
    } bad[] = {
        {"{\"escalation\":{\"p\":{\"steps\":[]}}}", "t.json: p.steps: expected 1 to 4 steps"},
        {"{\"escalation\":{\"p\":{\"steps\":[{\"after\":\"2h\",\"to\":\"boss\"}]}}}",
         "t.json: p.steps[0].to: expected \"officer\" or \"supervisor\""},
        {"{\"escalation\":{\"p\":{\"steps\":[{\"after\":\"2h\",\"to\":\"officer\"},{\"after\":"
         "\"1h\",\"to\":\"supervisor\"}]}}}",
         "t.json: p.steps[1].after: steps come later one after the other"},
        {"{\"escalation\":{\"p\":{\"steps\":[{\"after\":\"2h\",\"to\":\"officer\",\"message\":{"
         "\"zh\":\"{who}\"}}]}}}",
         "t.json: p.steps[0].message: unknown placeholder {who}"},
        {"{\"escalation\":{\"p\":{\"steps\":[{\"after\":\"2h\",\"to\":\"officer\"}],\"quiet\":{"
         "\"from\":\"25:00\",\"to\":\"07:00\"}}}}",
         "t.json: p.quiet: expected {\"from\": \"22:00\", \"to\": \"07:00\"}"},
        {"{\"escalation\":{},\"rules\":{}}", "t.json: expected {\"rules\": [...]}"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = compile_error(bad[i].text);
        assert_non_null(why);
        assert_string_equal(why, bad[i].error);
    }
    /* a policy in one file, the rule naming it in another read before it */
    struct ew_ruleset *set = ew_ruleset_new();
    struct ew_error err = {0};
    const char *rules =
        "{\"rules\":[{\"id\":\"r\",\"kind\":\"threshold\",\"audience\":"
        "\"enterprise\",\"escalation\":\"p\",\"select\":{\"data\":[\"hour\"],\"field\":\"Avg\"},"
        "\"levels\":[{\"name\":\"o\",\"above\":1,\"severity\":\"s\"}],"
        "\"message\":{\"zh\":\"{value}\"}}]}";
    const char *policy = "{\"escalation\":{\"p\":{\"steps\":[{\"after\":\"2h\",\"to\":"
                         "\"officer\"}],\"repeat\":\"4h\"}}}";
    assert_int_equal(ew_ruleset_add_json(set, rules, strlen(rules), "a.json", &err), 0);
    assert_int_equal(ew_ruleset_link(set, &err), EW_EINVAL);
    assert_string_equal(err.detail, "r: escalation: no policy named p");
    assert_int_equal(ew_ruleset_add_json(set, policy, strlen(policy), "b.json", &err), 0);
    assert_int_equal(ew_ruleset_link(set, &err), 0);
    assert_non_null(set->rules[0].policy);
    assert_int_equal(set->rules[0].policy->steps[0].after_ms, 2 * 3600000);
    assert_int_equal(set->rules[0].repeat_ms, 4 * 3600000); /* the policy's, the rule has none */
    ew_ruleset_free(set);
}

static void test_errors_name_file_rule_and_reason(void **state)
{
    (void)state;
    assert_string_equal(compile_error("{\"rules\": [\n  {\"id\": }\n]}"),
                        "t.json:2:10: unexpected token near '}'");
    assert_string_equal(compile_error("{\"rule\": []}"), "t.json: expected {\"rules\": [...]}");
    assert_string_equal(compile_error("{\"rules\":[{\"id\":\"x\",\"kind\":\"magic\"}]}"),
                        "t.json: x: kind: unknown rule kind magic");
    assert_string_equal(
        compile_error("{\"rules\":[{\"id\":\"x\",\"kind\":\"threshold\",\"audience\":\"boss\"}]}"),
        "t.json: x: audience: expected \"enterprise\" or \"officer\"");
    char buf[2048];
    struct {
        const char *from, *to, *want;
    } cases[] = {
        {"\"100%\"", "\"lots\"",
         "t.json: r1: levels[0].above: expected a number or a percentage (\"80%\")"},
        {"[\"hour\"]", "[\"weekly\"]", "t.json: r1: select.data[0]: unknown data kind"},
        {"\"ZsAvg\"", "\"Flag\"",
         "t.json: r1: select.field[0]: expected Rtd, ZsRtd, Avg, ZsAvg, Min, Max..."},
        {"{value}", "{valeu}", "t.json: r1: message: unknown placeholder {valeu}"},
        {"{value}", "{value", "t.json: r1: message: unclosed '{'"},
        {"\"critical\"}]", "\"critical\"}],\"for\":\"3 weeks\"",
         "t.json: r1: for: expected a count of values (3) or a duration (\"30m\")"},
        {"\"critical\"}]", "\"critical\"}],\"clear\":{\"below\":\"120%\"}",
         "t.json: r1: clear.below: must not be above the lowest level"},
        {"\"critical\"}]", "\"critical\"}],\"repeat\":4",
         "t.json: r1: repeat: expected a duration (\"4h\")"},
        {"\"critical\"}]", "\"critical\"}],\"flap\":{\"changes\":0,\"window\":\"1h\"}",
         "t.json: r1: flap.changes: expected how many state changes a window allows (1-1000)"},
        {"\"critical\"}]", "\"critical\"}],\"flap\":{\"changes\":3}",
         "t.json: r1: flap.window: expected a duration (\"1h\")"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *good = GOOD;
        const char *at = strstr(good, cases[i].from);
        assert_non_null(at);
        snprintf(buf, sizeof buf, "{\"rules\":[%.*s%s%s]}", (int)(at - good), good, cases[i].to,
                 at + strlen(cases[i].from));
        assert_string_equal(compile_error(buf), cases[i].want);
    }
    /* the data-quality kinds */
#define Q(kind, extra)                                                                             \
    "{\"rules\":[{\"id\":\"q\",\"kind\":\"" kind "\",\"audience\":\"officer\","                    \
    "\"select\":{\"data\":[\"realtime\"],\"field\":\"Rtd\"}," extra                                \
    "\"message\":{\"zh\":\"x\"}}]}"
    struct {
        const char *json, *want;
    } qcases[] = {
        {Q("negative", ""), "t.json: q: severity: expected a short name"},
        {Q("negative", "\"severity\":\"minor\","), NULL},
        {Q("negative", "\"severity\":\"minor\",\"except\":[7],"),
         "t.json: q: except[0]: expected a pollutant code"},
        {Q("constant", "\"severity\":\"major\",\"epsilon\":-1,"),
         "t.json: q: epsilon: expected a non-negative number"},
        {Q("constant", "\"severity\":\"major\",\"for\":\"4h\","), NULL},
        {Q("flag_persisting", "\"severity\":\"major\",\"flags\":[\"N\"],"),
         "t.json: q: flags[0]: expected a flag letter other than N"},
        {Q("over_range", "\"severity\":\"warning\",\"range\":\"big\","),
         "t.json: q: range: expected the instrument's range, a number"},
        {Q("zero_with_flow", "\"severity\":\"minor\",\"flow_above\":0.5,"), NULL},
    };
#undef Q
    for (size_t i = 0; i < sizeof qcases / sizeof qcases[0]; i++) {
        const char *got = compile_error(qcases[i].json);
        if (qcases[i].want)
            assert_string_equal(got, qcases[i].want);
        else
            assert_null(got);
    }
    /* offline */
    assert_null(compile_error("{\"rules\":[{\"id\":\"o\",\"kind\":\"offline\",\"audience\":"
                              "\"officer\",\"levels\":[{\"name\":\"off\",\"after\":\"30m\","
                              "\"severity\":\"major\"}],\"message\":{\"zh\":\"{silence}\"}}]}"));
    assert_string_equal(
        compile_error("{\"rules\":[{\"id\":\"o\",\"kind\":\"offline\",\"audience\":\"officer\","
                      "\"levels\":[{\"name\":\"off\",\"after\":3,\"severity\":\"major\"}],"
                      "\"message\":{\"zh\":\"x\"}}]}"),
        "t.json: o: levels[0].after: expected a duration (\"30m\", \"24h\")");
    assert_string_equal(
        compile_error("{\"rules\":[{\"id\":\"o\",\"kind\":\"offline\",\"audience\":\"officer\","
                      "\"levels\":[{\"name\":\"a\",\"after\":\"2h\",\"severity\":\"major\"},"
                      "{\"name\":\"b\",\"after\":\"1h\",\"severity\":\"major\"}],"
                      "\"message\":{\"zh\":\"x\"}}]}"),
        "t.json: o: levels[1].after: levels must be longer");
    /* one bad rule after a good one: the file adds nothing (checked in compile_error) */
    snprintf(buf, sizeof buf, "{\"rules\":[%s,{\"id\":\"y\"}]}", GOOD);
    assert_string_equal(compile_error(buf), "t.json: y: kind: unknown rule kind");
}

/* The site table against a plain model: random sites and keys (lifecycle keys and averages),
 * keys dropped, kind states kept for some keys, LRU eviction of sites. */
static void test_sitetab_matches_model(void **state)
{
    (void)state;
    enum { CAP = 64, SITES = 200, OPS = 200000 };
    struct ew_sitetab t;
    assert_int_equal(ew_sitetab_init(&t, CAP), 0);
    long stamp[SITES] = {0};    /* last use, 0 = not held */
    unsigned keys[SITES] = {0}; /* bit per (rule, code) created at the site */
    long clock = 0;
    srand(7);
    for (int op = 0; op < OPS; op++) {
        int k = rand() % SITES, rule = rand() % 4, code = rand() % 4;
        uint32_t rule_no = rule < 3 ? (uint32_t)rule : EW_AGG_KEY | EW_AGG_DAY; /* an average */
        char mn[16];
        snprintf(mn, sizeof mn, "MN%03d", k);
        bool created;
        struct ew_site *s = ew_sitetab_get(&t, mn, strlen(mn), &created);
        assert_string_equal(s->mn, mn);
        assert_int_equal(created, stamp[k] == 0);
        if (created) {
            assert_int_equal(s->nkeys, 0);
            keys[k] = 0;
            int held = 0, oldest = -1;
            for (int i = 0; i < SITES; i++) {
                held += stamp[i] != 0;
                if (stamp[i] && (oldest < 0 || stamp[i] < stamp[oldest]))
                    oldest = i;
            }
            if (held == CAP)
                stamp[oldest] = 0; /* the model evicts the least recently seen site */
        }
        stamp[k] = ++clock;
        struct ew_sitekey *key = ew_site_key(&t, s, rule_no, (uint64_t)code, false);
        assert_int_equal(key != NULL, (keys[k] >> (rule * 4 + code) & 1) != 0);
        assert_true(!key || (key >= s->keys && key < s->keys + s->nkeys)); /* live, not a copy */
        key = ew_site_key(&t, s, rule_no, (uint64_t)code, true);
        assert_non_null(key);
        assert_true(key >= s->keys && key < s->keys + s->nkeys);
        unsigned bit = 1u << (rule * 4 + code);
        uint32_t mark = (uint32_t)(k * 16 + rule * 4 + code), got;
        bool stateful = rule == 1 || rule == 2; /* keys of a kind with state of its own */
        if ((keys[k] & bit) && rand() % 8 == 0) {
            ew_site_key_drop(&t, s, key);
            keys[k] &= ~bit;
        } else if (keys[k] & bit) {
            assert_int_equal(key->life.run_count, mark);
            assert_int_equal(ew_key_state(s, key) != NULL, stateful);
            if (stateful) { /* kept, though other keys' states came and went */
                memcpy(&got, ew_key_state(s, key), sizeof got);
                assert_int_equal(got, mark);
            }
        } else {
            assert_int_equal(key->life.status, EW_LIFE_IDLE);
            assert_null(ew_key_state(s, key));
            key->life.run_count = mark;
            if (stateful) {
                void *ks = ew_key_state_make(&t, s, key);
                assert_non_null(ks);
                assert_int_equal(*(const uint32_t *)ks, 0); /* made zeroed */
                memcpy(ks, &mark, sizeof mark);
            }
            keys[k] |= bit;
        }
        /* one state for each of the site's keys that has one */
        uint32_t states = s->kstates ? s->kstates->n : 0, with = 0;
        for (uint32_t i = 0; i < s->nkeys; i++)
            with += s->keys[i].state != 0 && s->keys[i].state <= states;
        assert_int_equal(states, (uint32_t)__builtin_popcount(keys[k] & 0xFF0u));
        assert_int_equal(with, states);
        size_t total = 0;
        for (int i = 0; i < SITES; i++)
            total += stamp[i] ? (size_t)__builtin_popcount(keys[i]) : 0;
        assert_int_equal(t.keys, total);
    }
    assert_int_equal(t.used, CAP);
    assert_true(t.evictions > 0);
    ew_sitetab_release(&t);
}

static void test_registry_upsert_replaces(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_error err = {0};
    const char *a =
        "{\"type\":\"outlet.upsert\",\"enterprise_id\":\"E1\",\"mn\":\"M1\",\"st\":\"31\","
        "\"limits\":{\"02\":{\"hour\":35,\"unit\":\"mg/m3\"}}}";
    const char *b =
        "{\"type\":\"outlet.upsert\",\"enterprise_id\":\"E1\",\"mn\":\"M1\",\"st\":\"31\","
        "\"limits\":{\"a21026\":{\"hour\":50}}}";
    assert_int_equal(ew_registry_apply_json(reg, a, strlen(a), &err), 0);
    const struct ew_outlet *o = ew_registry_find(reg, "M1");
    const struct ew_pollutant *so2 = ew_pollutant_find("a21026", 6, EW_MEDIUM_AIR);
    assert_true(ew_outlet_limit(o, so2->key)->hour == 35);
    assert_string_equal(ew_outlet_limit(o, so2->key)->unit, "mg/m3");
    assert_int_equal(ew_registry_apply_json(reg, b, strlen(b), &err), 0);
    o = ew_registry_find(reg, "M1");
    assert_true(ew_outlet_limit(o, so2->key)->hour == 50);
    assert_null(ew_outlet_limit(o, so2->key)->unit);
    assert_int_equal(ew_registry_count(reg), 1);
    for (int i = 0; i < 1000; i++) { /* growth keeps every entry */
        char ev[200];
        snprintf(ev, sizeof ev,
                 "{\"type\":\"outlet.upsert\",\"enterprise_id\":\"E\",\"mn\":\"S%d\"}", i);
        assert_int_equal(ew_registry_apply_json(reg, ev, strlen(ev), &err), 0);
    }
    assert_int_equal(ew_registry_count(reg), 1001);
    assert_non_null(ew_registry_find(reg, "S999"));
    assert_null(ew_registry_find(reg, "S1000"));
    const char *bad = "{\"type\":\"outlet.upsert\",\"mn\":\"M2\"}";
    assert_int_equal(ew_registry_apply_json(reg, bad, strlen(bad), &err), EW_EMALFORMED);
    const char *half = "{\"type\":\"declaration\",\"enterprise_id\":\"E1\"}";
    assert_int_equal(ew_registry_apply_json(reg, half, strlen(half), &err), EW_EMALFORMED);
    /* responses: kept by the alert's fingerprint, at their message's time */
    const char *shortid = "{\"type\":\"response\",\"enterprise_id\":\"E1\",\"alert_id\":\"x\"}";
    assert_int_equal(ew_registry_apply_json(reg, shortid, strlen(shortid), &err), EW_EMALFORMED);
    const char *resp = "{\"type\":\"response\",\"enterprise_id\":\"E1\",\"alert_id\":"
                       "\"0123456789abcdef-1717344000000-reminder-0\",\"text\":\"已整改\"}";
    assert_int_equal(ew_registry_apply_json(reg, resp, strlen(resp), &err),
                     EW_EINVAL); /* no time */
    assert_int_equal(ew_registry_apply_json_at(reg, resp, strlen(resp), 1717344600000, &err), 0);
    assert_int_equal(ew_registry_apply_json_at(reg, resp, strlen(resp), 1717344600000, &err), 0);
    size_t nr;
    const struct ew_response *r = ew_registry_responses(reg, "0123456789abcdef", &nr);
    assert_int_equal(nr, 1); /* the same answer twice (read again) is one */
    assert_int_equal(r->at, 1717344600000);
    assert_string_equal(r->text, "已整改");
    uint64_t count;
    assert_non_null(ew_registry_last_response(reg, &count));
    assert_int_equal(count, 2);
    ew_registry_free(reg);
}

/* The rule set shipped in config/rules compiles, and a bad directory is reported. */
/* An outlet's facts (ew_registry_facts) are looked up once and kept: each change of the tables
 * after that (a facility, a plan, a declaration, an outlet that takes the anchor) shows in them
 * at the next call, and an outlet replaced starts afresh. */
static void test_registry_facts_follow_changes(void **state)
{
    (void)state;
    struct ew_registry *reg = ew_registry_new();
    struct ew_error err;
    const char *events[] = {
        "{\"type\":\"outlet.upsert\",\"enterprise_id\":\"E1\",\"mn\":\"M5\",\"st\":\"32\"}",
        "{\"type\":\"facility.upsert\",\"enterprise_id\":\"E1\",\"facility_id\":\"line-1\","
        "\"role\":\"production\",\"mn\":\"M5\",\"code\":\"ele01\",\"on_threshold\":50}",
        "{\"type\":\"emergency.upsert\",\"enterprise_id\":\"E1\",\"mn\":\"M5\",\"code\":"
        "\"w00000\",\"baseline\":100,\"cuts\":{\"yellow\":0.1}}",
        "{\"type\":\"declaration\",\"enterprise_id\":\"E1\",\"kind\":\"shutdown\","
        "\"from\":\"2024-06-03T02:00:00+08:00\",\"to\":\"2024-06-03T06:00:00+08:00\"}",
        "{\"type\":\"outlet.upsert\",\"enterprise_id\":\"E1\",\"mn\":\"M1\",\"st\":\"32\"}",
    };
    const int64_t inside = 1717354800000; /* 2024-06-03T03:00:00+08:00 */
    assert_int_equal(ew_registry_apply_json(reg, events[0], strlen(events[0]), &err), 0);
    const struct ew_outlet *o = ew_registry_find(reg, "M5");
    const struct ew_outlet_facts *f = ew_registry_facts(reg, o);
    assert_int_equal(f->nfac, 0);
    assert_int_equal(f->nplan, 0);
    assert_true(f->anchor); /* its enterprise's only outlet */
    assert_false(f->listed);
    assert_null(ew_registry_declared(reg, o, inside, 1u << EW_DECL_SHUTDOWN));

    assert_int_equal(ew_registry_apply_json(reg, events[1], strlen(events[1]), &err), 0);
    f = ew_registry_facts(reg, o);
    assert_int_equal(f->nfac, 1);
    assert_string_equal(f->fac[0].facility_id, "line-1");
    assert_int_equal(ew_registry_apply_json(reg, events[2], strlen(events[2]), &err), 0);
    f = ew_registry_facts(reg, o);
    assert_int_equal(f->nplan, 1);
    assert_true(f->listed);
    assert_int_equal(ew_registry_apply_json(reg, events[3], strlen(events[3]), &err), 0);
    assert_non_null(ew_registry_declared(reg, o, inside, 1u << EW_DECL_SHUTDOWN));
    assert_int_equal(ew_registry_facts(reg, o)->ndecl, 1);

    /* M1 < M5: the enterprise's anchor moves to it */
    assert_int_equal(ew_registry_apply_json(reg, events[4], strlen(events[4]), &err), 0);
    assert_false(ew_registry_facts(reg, o)->anchor);
    assert_false(ew_registry_is_anchor(reg, o));
    assert_true(ew_registry_is_anchor(reg, ew_registry_find(reg, "M1")));

    /* M5 replaced: a new entry, its facts looked up again, the tables unchanged */
    assert_int_equal(ew_registry_apply_json(reg, events[0], strlen(events[0]), &err), 0);
    o = ew_registry_find(reg, "M5");
    f = ew_registry_facts(reg, o);
    assert_int_equal(f->nfac, 1);
    assert_int_equal(f->nplan, 1);
    assert_false(f->anchor);
    assert_int_equal(f->ndl, 0);
    assert_int_equal(f->nwarn, 0);

    /* its enterprise's deadlines; its district's warnings once it has a district */
    const char *later[] = {
        "{\"type\":\"deadline\",\"enterprise_id\":\"E1\",\"deadline_id\":\"d1\",\"kind\":"
        "\"k\",\"due\":\"2024-08-09T00:00:00+08:00\",\"title\":\"report\"}",
        "{\"type\":\"weather_warning\",\"region\":\"R\",\"level\":\"yellow\",\"from\":"
        "\"2024-08-03T08:00:00+08:00\",\"to\":\"2024-08-06T00:00:00+08:00\"}",
        "{\"type\":\"outlet.upsert\",\"enterprise_id\":\"E1\",\"mn\":\"M5\",\"st\":\"32\","
        "\"region\":\"R\"}",
    };
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(ew_registry_apply_json(reg, later[i], strlen(later[i]), &err), 0);
    assert_int_equal(ew_registry_facts(reg, o)->ndl, 1);
    assert_int_equal(ew_registry_facts(reg, o)->nwarn, 0); /* no district */
    assert_int_equal(ew_registry_apply_json(reg, later[2], strlen(later[2]), &err), 0);
    o = ew_registry_find(reg, "M5");
    f = ew_registry_facts(reg, o);
    assert_int_equal(f->ndl, 1);
    assert_string_equal(f->dl[0].deadline_id, "d1");
    assert_int_equal(f->nwarn, 1);
    assert_int_equal(f->warn[0].level, EW_WL_YELLOW);
    ew_registry_free(reg);
}

static void test_default_rules_load(void **state)
{
    (void)state;
    struct ew_ruleset *set = ew_ruleset_new();
    struct ew_error err = {0};
    int rc = ew_rulefiles_load_dir(set, EW_RULES_DIR, &err);
    if (rc)
        print_error("%s\n", err.detail);
    assert_int_equal(rc, 0);
    assert_true(ew_ruleset_count(set) >= 6);
    ew_ruleset_free(set);
    set = ew_ruleset_new();
    assert_int_equal(ew_rulefiles_load_dir(set, "/nonexistent-rules", &err), EW_EINVAL);
    assert_string_equal(err.detail, "/nonexistent-rules: No such file or directory");
    ew_ruleset_free(set);
}

/* A record held for event-time order comes out as it went in: its numeric values with their
 * codes and field names, the table's strings for known ones, its own for unknown ones (a code
 * the table lacks, a field suffix ecowarn does not know); texts are not kept. */
static void test_hold_round_trip(void **state)
{
    (void)state;
    const char *data = "QN=20241001100000000;ST=22;CN=2011;PW=123456;MN=HOLD0001;Flag=4;"
                       "CP=&&DataTime=20241001100000;a21026-Rtd=12.5,a21026-Flag=N;"
                       "x99999-Rtd=7;a21002-Wobble=3.25;a34013-Rtd=abc&&";
    char packet[512];
    int n = (int)strlen(data);
    snprintf(packet, sizeof packet, "##%04d%s%04X\r\n", n, data, ew_hj212_crc(data, (size_t)n));
    struct ew_record *in = ew_record_new(), *out = ew_record_new();
    assert_int_equal(ew_hj212_decode(packet, strlen(packet), NULL, in, NULL), 0);
    struct ew_holdq q = {0};
    assert_int_equal(ew_hold_push(&q, in, 1000, 42, 7, 0), 0);
    assert_string_equal(ew_held_mn(ew_hold_top(&q)), "HOLD0001");
    int64_t before = 0;
    assert_int_equal(ew_hold_pop(&q, out, &before), 42);
    assert_int_equal(before, 7);
    assert_string_equal(out->mn, "HOLD0001");
    assert_string_equal(out->st, "22");
    assert_string_equal(out->cn, "2011");
    assert_int_equal(out->data_time, in->data_time);
    size_t k = 0;
    for (size_t i = 0; i < in->nvalues; i++) {
        const struct ew_value *a = &in->values[i];
        if (a->type != EW_VT_NUMBER)
            continue;
        assert_true(k < out->nvalues);
        const struct ew_value *b = &out->values[k++];
        assert_string_equal(b->code, a->code);
        assert_string_equal(b->field_name, a->field_name);
        assert_ptr_equal(b->pollutant, a->pollutant);
        assert_int_equal(b->field, a->field);
        assert_int_equal(b->flag, a->flag);
        assert_true(b->num == a->num);
    }
    assert_int_equal(k, out->nvalues);
    assert_int_equal(k, 3); /* a21026-Rtd, x99999-Rtd, a21002-Wobble; a34013's is not a number */
    assert_ptr_equal(out->values[0].code, out->values[0].pollutant->code); /* not packed */
    assert_string_equal(out->values[1].code, "x99999");
    assert_null(out->values[1].pollutant);
    assert_string_equal(out->values[2].field_name, "Wobble");
    ew_hold_release(&q);
    ew_record_free(in);
    ew_record_free(out);
}

/* The hold gives its records back by data time, then arrival, whatever mix of in-order and
 * late arrivals, pops and drops came: checked against a plain sorted model. */
struct hold_model {
    int64_t time;
    uint64_t tag;
};

static bool hold_drop_odd_tens(void *ctx, const struct ew_held *h)
{
    (void)ctx;
    return (h->tag / 10) % 2 == 1;
}

static void test_hold_order(void **state)
{
    (void)state;
    struct ew_record *in = ew_record_new(), *out = ew_record_new();
    in->mn = "ORDER001", in->st = "31", in->cn = "2011", in->has_time = true;
    struct ew_holdq q = {0};
    static struct hold_model model[4000];
    size_t nm = 0;
    uint64_t rng = 12345, tag = 0;
    int64_t clock = 1700000000000;
    for (int step = 0; step < 3000; step++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned r = (unsigned)(rng >> 33);
        if (r % 7 < 5) { /* in order, or at the same time as the last */
            clock += (r / 7) % 3 ? 1000 : 0;
            in->data_time = clock;
        } else { /* an older period's, up to an hour back */
            in->data_time = clock - (int64_t)((r / 7) % 3600) * 1000;
        }
        assert_int_equal(ew_hold_push(&q, in, 0, tag, 0, 0), 0);
        model[nm++] = (struct hold_model){in->data_time, tag++};
        if (r % 5 == 0 || step == 1500) { /* take out the earliest few */
            for (int k = 0; k < (int)(r % 4) && nm; k++) {
                size_t best = 0;
                for (size_t i = 1; i < nm; i++)
                    if (model[i].time < model[best].time ||
                        (model[i].time == model[best].time && model[i].tag < model[best].tag))
                        best = i;
                assert_int_equal(ew_hold_top(&q)->tag, model[best].tag);
                int64_t before;
                assert_int_equal(ew_hold_pop(&q, out, &before), model[best].tag);
                assert_int_equal(out->data_time, model[best].time);
                model[best] = model[--nm];
            }
        }
        if (step == 1500) {
            size_t kept = 0, dropped = ew_hold_drop(&q, hold_drop_odd_tens, NULL);
            for (size_t i = 0; i < nm; i++)
                if ((model[i].tag / 10) % 2 == 0)
                    model[kept++] = model[i];
            assert_int_equal(dropped, nm - kept);
            nm = kept;
        }
        assert_int_equal(q.n, nm);
    }
    while (nm) {
        size_t best = 0;
        for (size_t i = 1; i < nm; i++)
            if (model[i].time < model[best].time ||
                (model[i].time == model[best].time && model[i].tag < model[best].tag))
                best = i;
        int64_t before;
        assert_int_equal(ew_hold_pop(&q, out, &before), model[best].tag);
        model[best] = model[--nm];
    }
    assert_null(ew_hold_top(&q));
    ew_hold_release(&q);
    in->mn = in->st = in->cn = NULL;
    ew_record_free(in);
    ew_record_free(out);
}

/* The hold's slots double while its ring has wrapped round (records taken from its head, more
 * queued after them into the freed front): the ring's order survives the growth. */
static void test_hold_grows_round_its_ring(void **state)
{
    (void)state;
    struct ew_record *in = ew_record_new(), *out = ew_record_new();
    in->mn = "RING0001", in->st = "31", in->cn = "2011", in->has_time = true;
    struct ew_holdq q = {0};
    uint64_t tag = 0, next = 0;
    int64_t before;
    for (; tag < 64; tag++) { /* the first 64 slots, full */
        in->data_time = 1700000000000 + (int64_t)tag * 1000;
        assert_int_equal(ew_hold_push(&q, in, 0, tag, 0, 0), 0);
    }
    assert_int_equal(q.cap, 64);
    for (; next < 10; next++)
        assert_int_equal(ew_hold_pop(&q, out, &before), next);
    for (; tag < 64 + 10 + 5; tag++) { /* 10 into the freed slots, wrapping; then it grows */
        in->data_time = 1700000000000 + (int64_t)tag * 1000;
        assert_int_equal(ew_hold_push(&q, in, 0, tag, 0, 0), 0);
    }
    assert_int_equal(q.cap, 128);
    for (; next < tag; next++) {
        assert_int_equal(ew_hold_pop(&q, out, &before), next);
        assert_int_equal(out->data_time, 1700000000000 + (int64_t)next * 1000);
    }
    assert_null(ew_hold_top(&q));
    ew_hold_release(&q);
    in->mn = in->st = in->cn = NULL;
    ew_record_free(in);
    ew_record_free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_rule_compiles),
        cmocka_unit_test(test_policies),
        cmocka_unit_test(test_errors_name_file_rule_and_reason),
        cmocka_unit_test(test_sitetab_matches_model),
        cmocka_unit_test(test_registry_upsert_replaces),
        cmocka_unit_test(test_registry_facts_follow_changes),
        cmocka_unit_test(test_default_rules_load),
        cmocka_unit_test(test_hold_round_trip),
        cmocka_unit_test(test_hold_order),
        cmocka_unit_test(test_hold_grows_round_its_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
