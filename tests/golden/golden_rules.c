/*
 * golden_rules DIR - runs one rule-engine scenario.
 *
 *   DIR/rules.json      the rule file, or DIR/rules_dir naming a folder of the tree
 *                       ("config/rules") whose rule files are loaded
 *   DIR/input.jsonl     one input per line, in order, each with "at" (processing time, ISO):
 *                         {"at": T, "event": {...}}     an e-enterprise event (outlet.upsert);
 *                                                       "sent": T2 beside it: its message's
 *                                                       time, when not T (a backlog's)
 *                         {"at": T, "record": {...}}    a normalized record (telemetry JSON)
 *                         {"at": T, "packet": "##..."}  an HJ 212 packet, decoded first
 *                         {"at": T, "tick": true}       the clock's tick
 *                       a record or packet may carry "partition": N (the Kafka partition it
 *                       came from): ticks are then judged against the partitions' clock
 *                       (pipeline/ew_clock.h), advanced before each such record, as the
 *                       daemon does, instead of the engine's own fleet watermark
 *                         {"at": T, "flush": true}      judge every record held back
 *                         {"at": T, "ack": {"alert_id": ..., "by": ..., "note": ...,
 *                                           "entry": ...}}   an officer's acknowledgement
 *                         {"at": T, "restart": true}    the engine's state exported, the engine
 *                                                       freed and a new one made from it (the
 *                                                       registry stays, as the daemon reads it
 *                                                       again from its topic)
 *                       a response event (e-enterprise) is handed to the engine as the daemon
 *                       does (ew_engine_response) once the registry has it
 *   DIR/expected.jsonl  the alert events, in order, compared as JSON values
 *   DIR/options         optional: "lang en", "max_sites N", "sweep_batch N", "reorder_ms N",
 *                       "idle_partition_ms N" (the clock's idle timeout, 60000 by default)
 *   DIR/stats.json      optional: engine counters that must match ({"evictions": 1, ...})
 *   DIR/same_as         optional: the name of another case whose expected events this one's
 *                       must equal, site by site in order, but for detected_at (the same
 *                       records at another pace, partitions read in another interleaving)
 */
#include "ew_alertjson.h"
#include "ew_clock.h"
#include "ew_hj212.h"
#include "ew_recjson.h"
#include "ew_registry_json.h"
#include "ew_rulefiles.h"
#include "ew_rules.h"
#include "ew_time.h"

#include "../testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct run {
    json_t *got; /* array of events */
};

static void sink(void *ctx, const struct ew_alert_event *ev)
{
    struct run *run = ctx;
    struct ew_buf b = EW_BUF_INIT;
    json_error_t jerr;
    if (ew_alert_to_json(ev, &b) == 0) {
        json_t *j = json_loads(b.data, 0, &jerr);
        if (!j) {
            fprintf(stderr, "FAIL: event is not JSON: %s\n", b.data);
            exit(1);
        }
        json_array_append_new(run->got, j);
    }
    ew_buf_release(&b);
}

/* A record as the daemon's flow hands it on: its partition's watermark first, then the timers
 * that fell due by the clock. */
static void judge(struct ew_engine *eng, struct ew_clock *clock, json_t *part,
                  const struct ew_record *rec, int64_t now)
{
    int32_t p = part ? (int32_t)json_integer_value(part) : -1;
    if (part && rec->has_time) {
        ew_clock_observe(clock, 0, p, rec->data_time, now);
        ew_engine_advance(eng, ew_clock_current(clock), now); /* idleness as of the tick */
    }
    /* held by its partition's watermark */
    if (p >= 0 && p < 1000)
        ew_engine_record_from(eng, rec, now, 0, (uint32_t)p + 1, ew_clock_mark(clock, 0, p));
    else
        ew_engine_record(eng, rec, now);
}

static char *path_of(const char *dir, const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

/* The events of a JSON-lines file (status set to 1 when it is missing or bad). */
static json_t *load_events(const char *path, int *status)
{
    char *text = ew_test_read_file(path, NULL);
    json_t *all = json_array();
    for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        if (!j) {
            fprintf(stderr, "FAIL: %s: %s\n", path, jerr.text);
            *status = 1;
            break;
        }
        json_array_append_new(all, j);
    }
    if (!text)
        fprintf(stderr, "FAIL: %s missing\n", path), *status = 1;
    free(text);
    return all;
}

/* A's events of site mn, in order, without detected_at (processing time). */
static json_t *site_events(const json_t *a, const char *mn)
{
    json_t *out = json_array();
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *e = json_array_get(a, i);
        if (strcmp(json_string_value(json_object_get(e, "mn")) ?: "", mn))
            continue;
        json_t *x = json_deep_copy(e);
        json_object_del(x, "detected_at");
        json_array_append_new(out, x);
    }
    return out;
}

/* Whether two runs' events are the same, site by site in order, but for detected_at: partitions
 * read at another pace interleave their sites' events in another order, each site's own stay. */
static bool same_but_detection(const json_t *a, const json_t *b)
{
    if (json_array_size(a) != json_array_size(b))
        return false;
    bool same = true;
    for (size_t i = 0; same && i < json_array_size(a); i++) {
        const char *mn = json_string_value(json_object_get(json_array_get(a, i), "mn")) ?: "";
        json_t *x = site_events(a, mn), *y = site_events(b, mn);
        same = json_equal(x, y);
        json_decref(x);
        json_decref(y);
    }
    return same;
}

/* The case's rules: DIR/rules_dir's folder of the tree, or rules.json (text, n bytes); NULL
 * (reported) when they do not compile. */
static struct ew_ruleset *load_rules(const char *dir, const char *rules_text, size_t n)
{
    struct ew_error err = {0};
    struct ew_ruleset *set = ew_ruleset_new();
    char *rules_dir = ew_test_read_file(path_of(dir, "rules_dir"), NULL);
    if (rules_dir) {
        char full[4096];
        rules_dir[strcspn(rules_dir, "\n")] = '\0';
        snprintf(full, sizeof full, "%s/%s", EW_SOURCE_DIR, rules_dir);
        free(rules_dir);
        if (ew_rulefiles_load_dir(set, full, &err)) {
            fprintf(stderr, "FAIL: rules: %s\n", err.detail);
            ew_ruleset_free(set);
            return NULL;
        }
    } else if (!rules_text || ew_ruleset_add_json(set, rules_text, n, "rules.json", &err) ||
               ew_ruleset_link(set, &err)) {
        fprintf(stderr, "FAIL: rules: %s\n", rules_text ? err.detail : "rules.json missing");
        ew_ruleset_free(set);
        return NULL;
    }
    return set;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: golden_rules CASE_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    size_t n;
    char *rules_text = ew_test_read_file(path_of(dir, "rules.json"), &n);
    char *opt = ew_test_read_file(path_of(dir, "options"), NULL);
    struct ew_engine_opts opts = {0};
    int64_t idle_ms = 60000;
    if (opt && strstr(opt, "lang en"))
        opts.lang = EW_LANG_EN;
    if (opt && strstr(opt, "max_sites "))
        opts.max_sites = (size_t)atol(strstr(opt, "max_sites ") + 10);
    if (opt && strstr(opt, "sweep_batch "))
        opts.sweep_batch = (size_t)atol(strstr(opt, "sweep_batch ") + 12);
    if (opt && strstr(opt, "reorder_ms "))
        opts.reorder_ms = atoll(strstr(opt, "reorder_ms ") + 11);
    if (opt && strstr(opt, "idle_partition_ms "))
        idle_ms = atoll(strstr(opt, "idle_partition_ms ") + 18);
    free(opt);

    struct ew_error err = {0};
    struct ew_ruleset *set = load_rules(dir, rules_text, n);
    if (!set)
        return 1;
    struct ew_registry *reg = ew_registry_new();
    struct run run = {json_array()};
    struct ew_engine *eng = ew_engine_new(&opts, set, reg, sink, &run);
    struct ew_record *rec = ew_record_new();
    struct ew_clock *clock = ew_clock_new(idle_ms);
    bool partitioned = false;

    char *input = ew_test_read_file(path_of(dir, "input.jsonl"), NULL);
    int status = input ? 0 : 1;
    int lineno = 0;
    for (char *line = input ? strtok(input, "\n") : NULL; line && !status;
         line = strtok(NULL, "\n")) {
        lineno++;
        json_error_t jerr;
        json_t *in = json_loads(line, 0, &jerr);
        const char *at = json_string_value(json_object_get(in, "at"));
        json_t *part = json_object_get(in, "partition");
        partitioned |= part != NULL;
        int64_t now;
        if (!in || !at || ew_time_parse_iso(at, strlen(at), &now)) {
            fprintf(stderr, "FAIL: input line %d: needs JSON with \"at\"\n", lineno);
            status = 1;
        } else if (json_object_get(in, "event")) {
            char *ev = json_dumps(json_object_get(in, "event"), 0);
            uint64_t before, after;
            ew_registry_last_response(reg, &before);
            const char *st = json_string_value(json_object_get(in, "sent"));
            int64_t sent = now;
            if (st && ew_time_parse_iso(st, strlen(st), &sent))
                fprintf(stderr, "FAIL: input line %d: bad sent\n", lineno), status = 1;
            if (ew_registry_apply_json_at(reg, ev, strlen(ev), sent, &err))
                fprintf(stderr, "FAIL: input line %d: %s\n", lineno, err.detail), status = 1;
            const struct ew_response *resp = ew_registry_last_response(reg, &after);
            if (resp && after != before && ew_engine_response(eng, resp->alert_id))
                fprintf(stderr, "note: input line %d: a response to no alert in the loop\n",
                        lineno);
            free(ev);
        } else if (json_object_get(in, "ack")) {
            json_t *a = json_object_get(in, "ack");
            int rc = ew_engine_acknowledge(eng, json_string_value(json_object_get(a, "alert_id")),
                                           json_string_value(json_object_get(a, "by")),
                                           json_string_value(json_object_get(a, "note")),
                                           json_string_value(json_object_get(a, "entry")), now);
            if (rc < 0)
                fprintf(stderr, "note: input line %d: acknowledgement: %s\n", lineno,
                        ew_strerror(rc));
        } else if (json_is_true(json_object_get(in, "restart"))) {
            struct ew_buf saved = EW_BUF_INIT;
            struct ew_ruleset *again = load_rules(dir, rules_text, n);
            if (!again || ew_engine_export(eng, &saved)) {
                fprintf(stderr, "FAIL: input line %d: cannot save the state\n", lineno);
                status = 1;
            } else {
                ew_engine_free(eng);
                eng = ew_engine_new(&opts, again, reg, sink, &run);
                if (!eng || ew_engine_import(eng, saved.data, saved.len, &err)) {
                    fprintf(stderr, "FAIL: input line %d: restore: %s\n", lineno, err.detail);
                    status = 1;
                }
            }
            ew_buf_release(&saved);
        } else if (json_object_get(in, "record")) {
            char *r = json_dumps(json_object_get(in, "record"), 0);
            if (ew_record_from_json(r, strlen(r), rec, &err))
                fprintf(stderr, "FAIL: input line %d: %s\n", lineno, err.detail), status = 1;
            else
                judge(eng, clock, part, rec, now);
            free(r);
        } else if (json_is_true(json_object_get(in, "tick"))) {
            if (partitioned)
                ew_engine_tick_at(eng, ew_clock_now(clock, now, NULL, NULL), now);
            else
                ew_engine_tick(eng, now);
        } else if (json_is_true(json_object_get(in, "flush"))) {
            ew_engine_flush(eng, now);
        } else if (json_is_string(json_object_get(in, "packet"))) {
            const char *p = json_string_value(json_object_get(in, "packet"));
            if (ew_hj212_decode(p, strlen(p), NULL, rec, &err))
                fprintf(stderr, "FAIL: input line %d: %s\n", lineno, err.detail), status = 1;
            else
                judge(eng, clock, part, rec, now);
        } else {
            fprintf(stderr, "FAIL: input line %d: no event, record, packet or tick\n", lineno);
            status = 1;
        }
        json_decref(in);
    }
    free(input);

    json_t *want = load_events(path_of(dir, "expected.jsonl"), &status);
    for (size_t i = 0; !status && i < json_array_size(want) && i < json_array_size(run.got); i++) {
        if (!json_equal(json_array_get(want, i), json_array_get(run.got, i))) {
            char *a = json_dumps(json_array_get(want, i), JSON_SORT_KEYS | JSON_ENSURE_ASCII);
            char *b = json_dumps(json_array_get(run.got, i), JSON_SORT_KEYS | JSON_ENSURE_ASCII);
            fprintf(stderr, "FAIL: event %zu\n  expected: %s\n  actual:   %s\n", i + 1, a, b);
            free(a);
            free(b);
            status = 1;
        }
    }
    if (!status && json_array_size(want) != json_array_size(run.got)) {
        fprintf(stderr, "FAIL: %zu events expected, %zu emitted\n", json_array_size(want),
                json_array_size(run.got));
        for (size_t i = json_array_size(want); i < json_array_size(run.got); i++) {
            char *b = json_dumps(json_array_get(run.got, i), 0);
            fprintf(stderr, "  extra: %s\n", b);
            free(b);
        }
        status = 1;
    }

    /* the same records at another pace: the same events, but for when they were detected */
    char *other = ew_test_read_file(path_of(dir, "same_as"), NULL);
    if (other && !status) {
        other[strcspn(other, "\n")] = '\0';
        char opath[4096];
        snprintf(opath, sizeof opath, "%s/../%s/expected.jsonl", dir, other);
        json_t *them = load_events(opath, &status);
        if (!status && !same_but_detection(them, run.got)) {
            fprintf(stderr, "FAIL: the events differ from %s's beyond detected_at\n", other);
            status = 1;
        }
        json_decref(them);
    }
    free(other);

    char *stats_text = ew_test_read_file(path_of(dir, "stats.json"), NULL);
    if (stats_text && !status) {
        struct ew_engine_stats st;
        ew_engine_stats(eng, &st);
        json_error_t jerr;
        json_t *ws = json_loads(stats_text, 0, &jerr);
        const char *key;
        json_t *v;
        uint64_t got_vals[] = {st.records,
                               st.evaluations,
                               st.events,
                               st.evictions,
                               st.keys,
                               st.sites,
                               st.late,
                               st.duplicates,
                               st.averages,
                               st.superseded,
                               st.invalid_averages,
                               st.late_averages,
                               st.out_of_order,
                               st.held,
                               st.suppressed,
                               st.loop_escalations,
                               st.loop_responses,
                               st.loop_acks,
                               st.loop_quiet_held,
                               st.loop_quiet_sent,
                               st.loop_quiet_dropped,
                               st.loops};
        const char *names[] = {"records",
                               "evaluations",
                               "events",
                               "evictions",
                               "keys",
                               "sites",
                               "late",
                               "duplicates",
                               "averages",
                               "superseded",
                               "invalid_averages",
                               "late_averages",
                               "out_of_order",
                               "held",
                               "suppressed",
                               "loop_escalations",
                               "loop_responses",
                               "loop_acks",
                               "loop_quiet_held",
                               "loop_quiet_sent",
                               "loop_quiet_dropped",
                               "loops"};
        const size_t nnames = sizeof names / sizeof names[0];
        json_object_foreach(ws, key, v)
        {
            size_t k = 0;
            while (k < nnames && strcmp(names[k], key))
                k++;
            if (k == nnames || (uint64_t)json_integer_value(v) != got_vals[k]) {
                fprintf(stderr, "FAIL: stats.%s: expected %lld, got %llu\n", key,
                        (long long)json_integer_value(v),
                        k < nnames ? (unsigned long long)got_vals[k] : 0ull);
                status = 1;
            }
        }
        json_decref(ws);
    }
    free(stats_text);

    if (status && getenv("EW_GOLDEN_PRINT")) { /* to write a new case: print what came out */
        for (size_t i = 0; i < json_array_size(run.got); i++) {
            char *b = json_dumps(json_array_get(run.got, i), JSON_COMPACT);
            printf("%s\n", b);
            free(b);
        }
    }
    json_decref(want);
    json_decref(run.got);
    ew_record_free(rec);
    ew_clock_free(clock);
    ew_engine_free(eng);
    free(rules_text);
    ew_registry_free(reg);
    if (!status)
        printf("PASS %s\n", dir);
    return status;
}
