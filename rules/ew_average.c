/*
 * ew_average.c - regulatory averages (DOMAIN.md, "Valid averages"): a site's hourly averages
 * computed from its minute values, and its daily averages from its hourly ones, for the sites
 * whose logger does not send them. Computed records are judged by the same rules as hour and
 * day data sent by a logger.
 *
 * Each (pollutant, Avg or ZsAvg) gathers its period's values in a key of the site's block
 * (struct ew_acc, the key's half for the period: ew_agg_half). A period closes when the site's data
 * time, or the clock's reference on ticks, passes its end by the grace; minute values sent late
 * within the grace still count. Then:
 *   - the logger sent that period itself (its hour or day record was judged): the computed one
 *     is dropped (superseded); what the logger sends is used as sent;
 *   - else each average with enough valid values (flag N or none) is judged as the period's
 *     record: an hour needs 75 % of its minutes (45 of 60 at one-minute intervals; the interval
 *     is the smallest gap seen between the site's minute records), a day 20 hours;
 *   - wastewater (water ST) averages are weighted by flow when every valid value came with a
 *     valid flow, and plain means otherwise; averages are rounded to three decimals, as
 *     loggers send them, before they are judged.
 * A value that comes after its period closed is counted (late_averages), never merged.
 *
 * The engine asks for closed periods one at a time (ew_average_next) and judges each before it
 * asks again: a computed hour it judges feeds its day, which may close after it.
 */
#include "ew_average.h"

#include <math.h>
#include <string.h>

#define EW_DAY_HOURS_NEEDED 20

void ew_average_add(struct ew_averages *eng, struct ew_site *site, const struct ew_outlet *o,
                    const struct ew_record *rec, double flow)
{
    uint32_t day;
    if (rec->kind == EW_KIND_MINUTE)
        day = 0;
    else if (rec->kind == EW_KIND_HOUR)
        day = 1;
    else
        return;
    int64_t len = day ? EW_DAY_MS : EW_HOUR_MS;
    int64_t number = ew_period_number(rec->data_time, len);
    int64_t start = ew_period_at((int32_t)number, len);
    bool weigh = ew_medium_of_st(rec->st) == EW_MEDIUM_WATER && !isnan(flow);
    uint32_t base = EW_AGG_KEY | (day ? EW_AGG_DAY : 0), half = ew_agg_half(number);
    for (size_t i = 0; i < rec->nvalues; i++) {
        const struct ew_value *v = &rec->values[i];
        if (v->type != EW_VT_NUMBER || (v->field != EW_FIELD_AVG && v->field != EW_FIELD_ZSAVG))
            continue;
        if (number <= site->agg_closed[day]) {
            eng->stats->late_averages++;
            continue;
        }
        uint64_t code =
            v->pollutant ? v->pollutant->key : ew_pollutant_pack(v->code, strlen(v->code));
        bool limited = i < 64 ? (eng->limited >> i) & 1 : ew_outlet_limit(o, code) != NULL;
        if (!code || !ew_ruleset_wants_average(eng->rules, limited, code))
            continue; /* no rule would judge its average: not gathered */
        uint32_t rule = base | (v->field == EW_FIELD_ZSAVG ? EW_AGG_ZS : 0);
        struct ew_sitekey *k = ew_site_key(eng->sites, site, rule, code, true);
        if (!k) {
            eng->stats->nomem++;
            continue;
        }
        struct ew_acc *a = &k->acc[half];
        if (a->period != number) {
            *a = (struct ew_acc){.period = (int32_t)number};
            if (start + len + eng->grace < site->agg_due)
                site->agg_due = start + len + eng->grace;
        }
        if ((v->flag_meaning != EW_FLAG_NORMAL && v->flag_meaning != EW_FLAG_NONE) ||
            a->nvalid == UINT16_MAX)
            continue;
        a->nvalid++;
        a->sum += v->num;
        if (weigh) {
            a->wsum += v->num * flow;
            a->wt += flow;
            a->nweight++;
        }
    }
}

/* The code as text: the table's spelling, or unpacked into the record's arena. */
static const char *ew_agg_code(struct ew_record *rec, uint64_t code, const struct ew_pollutant **p)
{
    *p = ew_pollutant_find_key(code, EW_MEDIUM_OTHER);
    if (*p)
        return (*p)->code;
    char text[9];
    size_t n = 0;
    while (n < 8 && (code >> (8 * n)) & 0xFF) {
        text[n] = (char)((code >> (8 * n)) & 0xFF);
        n++;
    }
    return ew_record_strndup(rec, text, n);
}

/* Closes the period [start, start + len) of the site: its averages become one record, to be
 * judged (true), or nothing (false: the logger sent the period itself). */
static bool ew_average_emit(struct ew_averages *eng, struct ew_site *site, uint32_t day,
                            int64_t start)
{
    int64_t len = day ? EW_DAY_MS : EW_HOUR_MS;
    uint32_t need = EW_DAY_HOURS_NEEDED;
    if (!day) {
        int64_t interval = site->minute_ms > 0 ? site->minute_ms : EW_MINUTE_MS;
        uint32_t expected = (uint32_t)(EW_HOUR_MS / interval);
        need = (3 * expected + 3) / 4; /* 75 %, rounded up: 45 of 60 */
    }
    bool sent = ew_seen_has(&site->seen[day ? EW_SEEN_DAY : EW_SEEN_HOUR], start, len);
    struct ew_record *rec = eng->computed;
    ew_record_reset(rec);
    rec->mn = site->mn;
    rec->st = site->st;
    rec->cn = day ? "2031" : "2061";
    rec->flag = rec->pnum = rec->pno = -1;
    rec->version = EW_VERSION_2017;
    rec->kind = day ? EW_KIND_DAY : EW_KIND_HOUR;
    rec->has_time = true;
    rec->data_time = start;
    bool any = false;
    int64_t number = ew_period_number(start, len);
    uint32_t half = ew_agg_half(number);
    for (uint32_t i = 0; i < site->nkeys; i++) {
        struct ew_sitekey *k = &site->keys[i];
        if (k->rule < EW_AGG_KEY || ((k->rule & EW_AGG_DAY) != 0) != (day != 0) ||
            k->acc[half].period != number)
            continue;
        struct ew_acc a = k->acc[half];
        k->acc[half].period = EW_ACC_EMPTY;
        any = true;
        if (sent)
            continue;
        if (a.nvalid < need || rec->nvalues == EW_RECORD_MAX_VALUES) {
            eng->stats->invalid_averages++;
            continue;
        }
        struct ew_value *v = &rec->values[rec->nvalues];
        const struct ew_pollutant *p;
        v->code = ew_agg_code(rec, k->code, &p);
        if (!v->code)
            continue;
        v->pollutant = p;
        v->field = k->rule & EW_AGG_ZS ? EW_FIELD_ZSAVG : EW_FIELD_AVG;
        v->field_name = ew_field_name((enum ew_field)v->field);
        v->text = "";
        v->type = EW_VT_NUMBER;
        v->flag = 'N';
        v->flag_meaning = EW_FLAG_NORMAL;
        double mean = a.nweight == a.nvalid && a.wt > 0 ? a.wsum / a.wt : a.sum / a.nvalid;
        v->num = round(mean * 1000) / 1000; /* three decimals, as loggers send them */
        eng->inputs[rec->nvalues++] = a.nvalid;
    }
    if (!any)
        return false;
    if (sent) {
        eng->stats->superseded++;
        return false;
    }
    /* judged even with no valid average: the period came, it is not missing, and its record
     * is not computed twice */
    ew_seen_mark(&site->seen[day ? EW_SEEN_DAY : EW_SEEN_HOUR], start, len);
    eng->stats->averages++;
    return true;
}

/* When the earliest open average of the site closes, after the periods closed so far. */
static void ew_average_due(struct ew_averages *eng, struct ew_site *site)
{
    site->agg_due = INT64_MAX;
    for (uint32_t i = 0; i < site->nkeys; i++) {
        const struct ew_sitekey *k = &site->keys[i];
        if (k->rule < EW_AGG_KEY)
            continue;
        int64_t len = k->rule & EW_AGG_DAY ? EW_DAY_MS : EW_HOUR_MS;
        for (int h = 0; h < 2; h++) {
            int64_t due = ew_acc_start(&k->acc[h], len) + len + eng->grace;
            if (k->acc[h].period != EW_ACC_EMPTY && due < site->agg_due)
                site->agg_due = due;
        }
    }
}

bool ew_average_next(struct ew_averages *eng, struct ew_site *site, int64_t ref)
{
    if (ref < site->agg_due) /* judging a period only lowers agg_due: it stays <= ref */
        return false;
    for (uint32_t day = 0; day <= 1; day++) { /* hours first: they feed the days */
        int64_t len = day ? EW_DAY_MS : EW_HOUR_MS;
        for (;;) {
            int64_t first = INT64_MAX;
            for (uint32_t i = 0; i < site->nkeys; i++) {
                const struct ew_sitekey *k = &site->keys[i];
                if (k->rule < EW_AGG_KEY || ((k->rule & EW_AGG_DAY) != 0) != (day != 0))
                    continue;
                for (int h = 0; h < 2; h++) {
                    int64_t start = ew_acc_start(&k->acc[h], len);
                    if (start != INT64_MIN && start < first && start + len + eng->grace <= ref)
                        first = start;
                }
            }
            if (first == INT64_MAX)
                break;
            int64_t number = ew_period_number(first, len);
            if (number > site->agg_closed[day])
                site->agg_closed[day] = (int32_t)number;
            if (ew_average_emit(eng, site, day, first))
                return true;
        }
    }
    ew_average_due(eng, site);
    return false;
}
