/*
 * bench_rules [--sites N] [--rounds R] [--rules DIR] [--mix hourly|minute] [--reorder MS] - the
 * rule engine's throughput on one core.
 *
 * N sites (default 100,000) are registered with permitted limits; every round sends one
 * record per site with 6 values through the default rule set of config/rules. The hourly mix
 * (the default): flue-gas hourly records (SO2, NOx and particulate with limits, O2, flow and
 * temperature without), so that each record is judged by every hourly rule. The minute mix:
 * three sites in four send wastewater minute records every 10 minutes (COD, NH3-N, TP and TN
 * with limits, flow and pH without), judged by the minute rules (trend, sudden change, flags)
 * and gathered into hourly and daily averages; the fourth is a power-meter logger sending
 * real-time production and treatment power (ele01, ele02). Values wander around half the limits
 * with a few sites over them, so alerts fire and resolve as they would in a fleet. Prints
 * records/s (also without the first round, which makes every site's state), values/s, the events
 * emitted, the memory of the key state per site and the size of a checkpoint. --reorder holds
 * each record for event-time order as the daemon does (engine.reorder_ms: 60000 there, 0 here
 * unless given): a round is judged when the next one's records move the clock past it, the last
 * at a final tick, all within the time measured.
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
    long sites = 100000, rounds = 10, reorder = 0;
    bool minute = false;
    const char *rules_dir = EW_SOURCE_DIR "/config/rules";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--sites"))
            sites = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds"))
            rounds = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--rules"))
            rules_dir = argv[i + 1];
        else if (!strcmp(argv[i], "--mix"))
            minute = !strcmp(argv[i + 1], "minute");
        else if (!strcmp(argv[i], "--reorder"))
            reorder = atol(argv[i + 1]);
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
            minute ? snprintf(ev, sizeof ev,
                              "{\"type\":\"outlet.upsert\",\"enterprise_id\":\"E%ld\",\"enterprise_"
                              "name\":\"企业%ld\",\"mn\":\"3306%020ld\",\"st\":\"32\",\"limits\":{"
                              "\"w01018\":{\"hour\":100},\"w21003\":{\"hour\":15},\"w21011\":{"
                              "\"hour\":2},\"w21001\":{\"hour\":30}}}",
                              s, s, s)
                   : snprintf(ev, sizeof ev,
                              "{\"type\":\"outlet.upsert\",\"enterprise_id\":\"E%ld\",\"enterprise_"
                              "name\":\"企业%ld\",\"mn\":\"3306%020ld\",\"st\":\"31\",\"limits\":{"
                              "\"a21026\":{\"hour\":35,\"day\":30},\"a21002\":{\"hour\":50},"
                              "\"a34013\":{\"hour\":10}}}",
                              s, s, s);
        if (ew_registry_apply_json(reg, ev, (size_t)n, &err)) {
            fprintf(stderr, "bench_rules: %s\n", err.detail);
            return 1;
        }
    }
    unsigned long events = 0;
    struct ew_engine_opts opts = {.max_sites = (size_t)sites, .reorder_ms = reorder};
    struct ew_engine *eng = ew_engine_new(&opts, set, reg, sink, &events);
    struct ew_record *rec = ew_record_new();
    if (!eng || !rec) {
        fprintf(stderr, "bench_rules: out of memory\n");
        return 1;
    }

    /* one record per site, rewritten in place each round: only values and times change (the
     * power meters' record is a second one) */
    static const char *air[6] = {"a21026", "a21002", "a34013", "a19001", "a00000", "a01012"};
    static const double air_limits[6] = {35, 50, 10, 21, 100, 200};
    static const char *water[6] = {"w01018", "w21003", "w21011", "w21001", "w00000", "w01001"};
    static const double water_limits[6] = {100, 15, 2, 30, 50, 9};
    static const char *meters[2] = {"ele01", "ele02"};
    static const double meter_kw[2] = {400, 60};
    const char *const *codes = minute ? water : air;
    const double *limits = minute ? water_limits : air_limits;
    char(*mns)[32] = malloc((size_t)sites * sizeof *mns);
    for (long s = 0; s < sites; s++)
        snprintf(mns[s], sizeof mns[s], "3306%020ld", s);
    struct ew_record *power = ew_record_new();
    if (!power) {
        fprintf(stderr, "bench_rules: out of memory\n");
        return 1;
    }
    rec->st = minute ? "32" : "31";
    rec->cn = minute ? "2051" : "2061";
    rec->kind = minute ? EW_KIND_MINUTE : EW_KIND_HOUR;
    rec->version = EW_VERSION_2017;
    rec->has_time = true;
    rec->nvalues = 6;
    *power = *rec;
    power->st = "32";
    power->cn = "2011";
    power->kind = EW_KIND_REALTIME;
    power->nvalues = 2;
    for (int k = 0; k < 6; k++) {
        struct ew_value *v = &rec->values[k];
        memset(v, 0, sizeof *v);
        v->pollutant = ew_pollutant_find(codes[k], 6, minute ? EW_MEDIUM_WATER : EW_MEDIUM_AIR);
        v->code = v->pollutant->code;
        v->field = minute ? EW_FIELD_AVG : EW_FIELD_ZSAVG;
        v->field_name = minute ? "Avg" : "ZsAvg";
        v->text = "";
        v->flag = 'N';
        v->flag_meaning = EW_FLAG_NORMAL;
        if (k < 2) {
            power->values[k] = *v;
            power->values[k].pollutant = NULL;
            power->values[k].code = meters[k];
            power->values[k].field = EW_FIELD_RTD;
            power->values[k].field_name = "Rtd";
        }
    }
    /* the values, drawn before the clock starts: 30..80 % of the limit, as decoded from a
     * logger's text (the double nearest to 3 decimals); about 1 % of sites over their limits
     * in the first three (O2 stays normal) */
    enum { NDRAWS = 4096 };
    static double draws[NDRAWS][6], over[NDRAWS][6], kw[NDRAWS][2];
    uint64_t rng = 88172645463325252u;
    for (int d = 0; d < NDRAWS; d++) {
        for (int k = 0; k < 6; k++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            double share = 0.3 + (double)(rng % 1000) / 1000 * 0.5;
            draws[d][k] = nearbyint(limits[k] * share * 1000) / 1000;
            over[d][k] = nearbyint(limits[k] * (share + (k < 3 ? 0.6 : 0)) * 1000) / 1000;
        }
        for (int k = 0; k < 2; k++) /* about one reading in a hundred with the facility off */
            kw[d][k] =
                k == 1 && d % 101 == 0 ? 0.5 : nearbyint(meter_kw[k] * (0.7 + (d % 7) * 0.05));
    }
    static double wave[144]; /* a day of 10-minute steps: 35..75 % of the limit, less the noise */
    for (int i = 0; i < 144; i++)
        wave[i] = 0.5 + 0.2 * sin(i * 2 * M_PI / 144);
    double start = now_s();
    int64_t t0 = 1714492800000, step = minute ? 600000 : 3600000; /* 2024-05-01 Beijing midnight */
    double first = 0; /* when the first round ended: every site and key made */
    for (long r = 0; r < rounds; r++) {
        if (r == 1)
            first = now_s();
        rec->data_time = power->data_time = t0 + r * step;
        for (long s = 0; s < sites; s++) {
            if (minute && s % 4 == 3) { /* a power-meter logger */
                power->mn = mns[s];
                for (int k = 0; k < 2; k++)
                    power->values[k].num = kw[(s * 31 + r * 977) % NDRAWS][k];
                ew_engine_record(eng, power, power->data_time + 60000);
                continue;
            }
            rec->mn = mns[s];
            const double *vals = (s % 97 == 0 ? over : draws)[(s * 31 + r * 977) % NDRAWS];
            /* hourly records jump from draw to draw; a minute series moves as a process does,
             * a slow wave (a day long, a site's own phase) with the draw as 5 % of noise */
            for (int k = 0; k < 6; k++)
                rec->values[k].num =
                    minute ? nearbyint((wave[(r + s) % 144] + vals[k] / limits[k] * 0.1) *
                                       limits[k] * 1000) /
                                 1000
                           : vals[k];
            ew_engine_record(eng, rec, rec->data_time + 300000);
        }
    }
    if (reorder) /* the last round, held: judged by processing time */
        ew_engine_tick(eng, t0 + rounds * step + 300000 + reorder);
    double end = now_s(), secs = end - start;
    struct ew_engine_stats st;
    ew_engine_stats(eng, &st);
    printf("bench_rules: %ld sites x %ld rounds, %zu rules, %s, one core%s\n", sites, rounds,
           nrules,
           minute ? "minute mix (3 in 4 wastewater minute records of 6 values, 1 in 4 power meters "
                    "of 2)"
                  : "hourly flue gas, 6 values per record",
           reorder ? ", held for event-time order" : "");
    printf("records/s      %12.0f\n", (double)st.records / secs);
    if (rounds > 1) /* what a fleet whose sites are known keeps: a backlog replayed, say */
        printf("  after round 1 %12.0f  (the first, making the state, %.0f)\n",
               (double)sites * (double)(rounds - 1) / (end - first),
               (double)sites / (first - start));
    printf("values/s       %12.0f\n", (double)st.records * (minute ? 5 : 6) / secs);
    printf("evaluations    %12llu\n", (unsigned long long)st.evaluations);
    printf("events         %12lu\n", events);
    printf("keys           %12zu  (%.1f per site)\n", st.keys, (double)st.keys / (double)sites);
    printf("state bytes    %12zu  (%.0f per site)\n", st.state_bytes,
           (double)st.state_bytes / (double)sites);
    struct ew_buf ck = EW_BUF_INIT; /* after the clock: what a checkpoint of it weighs */
    double w0 = now_s();
    int rc = ew_engine_export(eng, &ck);
    double w1 = now_s();
    if (rc == 0)
        printf("checkpoint     %12zu  (%.0f per site, %.2f us per site to write)\n", ck.len,
               (double)ck.len / (double)sites, (w1 - w0) * 1e6 / (double)sites);
    ew_buf_release(&ck);
    ew_record_free(rec);
    ew_record_free(power);
    ew_engine_free(eng);
    ew_registry_free(reg);
    free(mns);
    return 0;
}
