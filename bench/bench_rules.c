/*
 * bench_rules [--sites N] [--rounds R] [--rules DIR] - the rule engine's throughput on one core.
 *
 * N sites (default 100,000) are registered with permitted limits; every round sends one
 * hourly record per site with 6 values (SO2, NOx and particulate with limits, O2, flow and
 * temperature without), through the default rule set of config/rules, so that each record
 * is judged by every hourly rule. Values wander around half the limits with a few sites over
 * them, so alerts fire and resolve as they would in a fleet. Prints records/s, values/s, the
 * events emitted, the memory of the key state per site and the size of a checkpoint.
 */
#include "ew_registry_json.h"
#include "ew_rulefiles.h"
#include "ew_rules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sink(void *ctx, const struct ew_alert_event *ev)
{
    (*(unsigned long *)ctx) += ev->message[0] != 0;
}

int main(int argc, char **argv)
{
    long sites = 100000, rounds = 10;
    const char *rules_dir = EW_SOURCE_DIR "/config/rules";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--sites"))
            sites = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds"))
            rounds = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--rules"))
            rules_dir = argv[i + 1];
    }
    struct ew_error err = {0};
    struct ew_ruleset *set = ew_ruleset_new();
    if (ew_rulefiles_load_dir(set, rules_dir, &err)) {
        fprintf(stderr, "bench_rules: %s\n", err.detail);
        return 1;
    }
    size_t nrules = ew_ruleset_count(set);
    struct ew_registry *reg = ew_registry_new();
    char ev[512];
    for (long s = 0; s < sites; s++) {
        int n =
            snprintf(ev, sizeof ev,
                     "{\"type\":\"outlet.upsert\",\"enterprise_id\":\"E%ld\",\"enterprise_name\":"
                     "\"企业%ld\",\"mn\":\"3306%020ld\",\"st\":\"31\",\"limits\":{\"a21026\":"
                     "{\"hour\":35,\"day\":30},\"a21002\":{\"hour\":50},\"a34013\":{\"hour\":10}}}",
                     s, s, s);
        if (ew_registry_apply_json(reg, ev, (size_t)n, &err)) {
            fprintf(stderr, "bench_rules: %s\n", err.detail);
            return 1;
        }
    }
    unsigned long events = 0;
    struct ew_engine_opts opts = {.max_sites = (size_t)sites};
    struct ew_engine *eng = ew_engine_new(&opts, set, reg, sink, &events);
    struct ew_record *rec = ew_record_new();
    if (!eng || !rec) {
        fprintf(stderr, "bench_rules: out of memory\n");
        return 1;
    }

    /* one record per site, rewritten in place each round: only values and times change */
    static const char *codes[6] = {"a21026", "a21002", "a34013", "a19001", "a00000", "a01012"};
    static const double limits[6] = {35, 50, 10, 21, 100, 200};
    char(*mns)[32] = malloc((size_t)sites * sizeof *mns);
    for (long s = 0; s < sites; s++)
        snprintf(mns[s], sizeof mns[s], "3306%020ld", s);
    rec->st = "31";
    rec->cn = "2061";
    rec->kind = EW_KIND_HOUR;
    rec->version = EW_VERSION_2017;
    rec->has_time = true;
    rec->nvalues = 6;
    for (int k = 0; k < 6; k++) {
        struct ew_value *v = &rec->values[k];
        memset(v, 0, sizeof *v);
        v->pollutant = ew_pollutant_find(codes[k], 6, EW_MEDIUM_AIR);
        v->code = v->pollutant->code;
        v->field = EW_FIELD_ZSAVG;
        v->field_name = "ZsAvg";
        v->text = "";
        v->flag = 'N';
        v->flag_meaning = EW_FLAG_NORMAL;
    }
    /* the values, drawn before the clock starts: 30..80 % of the limit, as decoded from a
     * logger's text (the double nearest to 3 decimals); about 1 % of sites over their limits
     * in the first three (O2 stays normal) */
    enum { NDRAWS = 4096 };
    static double draws[NDRAWS][6], over[NDRAWS][6];
    uint64_t rng = 88172645463325252u;
    for (int d = 0; d < NDRAWS; d++)
        for (int k = 0; k < 6; k++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            double share = 0.3 + (double)(rng % 1000) / 1000 * 0.5;
            draws[d][k] = nearbyint(limits[k] * share * 1000) / 1000;
            over[d][k] = nearbyint(limits[k] * (share + (k < 3 ? 0.6 : 0)) * 1000) / 1000;
        }
    double start = now_s();
    int64_t t0 = 1714492800000; /* 2024-05-01 Beijing midnight */
    for (long r = 0; r < rounds; r++) {
        rec->data_time = t0 + r * 3600000;
        for (long s = 0; s < sites; s++) {
            rec->mn = mns[s];
            const double *vals = (s % 97 == 0 ? over : draws)[(s * 31 + r * 977) % NDRAWS];
            for (int k = 0; k < 6; k++)
                rec->values[k].num = vals[k];
            ew_engine_record(eng, rec, rec->data_time + 300000);
        }
    }
    double secs = now_s() - start;
    struct ew_engine_stats st;
    ew_engine_stats(eng, &st);
    printf("bench_rules: %ld sites x %ld rounds, %zu rules, 6 values per record, one core\n", sites,
           rounds, nrules);
    printf("records/s      %12.0f\n", (double)st.records / secs);
    printf("values/s       %12.0f\n", (double)st.records * 6 / secs);
    printf("evaluations    %12llu\n", (unsigned long long)st.evaluations);
    printf("events         %12lu\n", events);
    printf("keys           %12zu  (%.1f per site)\n", st.keys, (double)st.keys / (double)sites);
    printf("state bytes    %12zu  (%.0f per site)\n", st.state_bytes,
           (double)st.state_bytes / (double)sites);
    struct ew_buf ck = EW_BUF_INIT; /* after the clock: what a checkpoint of it weighs */
    if (ew_engine_export(eng, &ck) == 0)
        printf("checkpoint     %12zu  (%.0f per site)\n", ck.len, (double)ck.len / (double)sites);
    ew_buf_release(&ck);
    ew_record_free(rec);
    ew_engine_free(eng);
    ew_registry_free(reg);
    free(mns);
    return 0;
}
