/*
 * Fuzz target: the rule engine over a sequence of records and clock ticks. The input is read as
 * operations of 6 bytes (after one byte of options: event-time reordering on or off, and a
 * caller's clock or not: the newest data time so far, advanced before each record and given to
 * the ticks, as the daemon does), each a
 * real-time, minute, hour or day record of one of four sites, a tick, a flush, or forgetting a
 * site, at a time that moves back and forth. Nothing may crash or leak; every event must have
 * an id and a message; every tagged record must be released exactly once; at the end the
 * engine's state must export, import into a new engine and export to the same bytes. Replayed
 * over tests/fuzz/corpus/engine as a CTest.
 */
#include "ew_rules.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char rules[] =
    "{\"rules\":["
    "{\"id\":\"hour-over\",\"kind\":\"threshold\",\"audience\":\"officer\",\"select\":{\"data\":["
    "\"hour\",\"day\"],\"field\":[\"ZsAvg\",\"Avg\"]},\"levels\":[{\"name\":\"w\",\"above\":50,"
    "\"severity\":\"w\"},{\"name\":\"o\",\"above\":100,\"severity\":\"c\"}],\"for\":2,\"clear\":{"
    "\"below\":40,\"for\":\"1h\"},\"flap\":{\"changes\":2,\"window\":\"3h\"},\"repeat\":\"2h\","
    "\"message\":{\"zh\":\"{value}{time}\"}},"
    "{\"id\":\"rt-over\",\"kind\":\"threshold\",\"audience\":\"enterprise\",\"select\":{\"data\":["
    "\"realtime\",\"minute\"],\"field\":[\"Rtd\",\"Avg\"]},\"levels\":[{\"name\":\"o\",\"above\":"
    "120,\"severity\":\"c\"}],\"for\":\"5m\",\"message\":{\"zh\":\"{value}\"}},"
    "{\"id\":\"flat\",\"kind\":\"constant\",\"audience\":\"officer\",\"severity\":\"m\",\"for\":"
    "\"30m\",\"select\":{\"data\":[\"realtime\",\"minute\"],\"field\":[\"Rtd\",\"Avg\"]},"
    "\"message\":{\"zh\":\"x\"}},"
    "{\"id\":\"flags\",\"kind\":\"flag_persisting\",\"audience\":\"officer\",\"severity\":\"m\","
    "\"for\":\"20m\",\"select\":{\"data\":[\"minute\",\"hour\"],\"field\":[\"Avg\"]},"
    "\"message\":{\"zh\":\"x\"}},"
    "{\"id\":\"off\",\"kind\":\"offline\",\"audience\":\"officer\",\"levels\":[{\"name\":\"off\","
    "\"after\":\"30m\",\"severity\":\"m\"},{\"name\":\"off2\",\"after\":\"5h\",\"severity\":\"c\"}]"
    ",\"repeat\":\"1h\",\"message\":{\"zh\":\"{silence}\"}},"
    "{\"id\":\"miss\",\"kind\":\"missing_hour\",\"audience\":\"enterprise\",\"levels\":[{\"name\":"
    "\"m\",\"after\":\"20m\",\"severity\":\"w\"}],\"message\":{\"zh\":\"{time}{silence}\"}}]}";

static void sink(void *ctx, const struct ew_alert_event *ev)
{
    (void)ctx;
    if (!ev->id[0] || !ev->message)
        abort();
}

static uint64_t ew_released_count, ew_released_sum;

static void released(void *ctx, uint64_t tag)
{
    (void)ctx;
    ew_released_count++;
    ew_released_sum += tag;
}

static struct ew_engine *engine(const struct ew_registry *reg, int64_t reorder)
{
    struct ew_ruleset *set = ew_ruleset_new();
    struct ew_error err;
    if (!set || ew_ruleset_add_json(set, rules, sizeof rules - 1, "f.json", &err))
        abort();
    struct ew_engine_opts opts = {.max_sites = 3, .reorder_ms = reorder, .released = released};
    struct ew_engine *eng = ew_engine_new(&opts, set, reg, sink, NULL);
    if (!eng)
        abort();
    return eng;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ew_record *rec;
    if (!rec && !(rec = ew_record_new()))
        abort();
    if (size < 1)
        return 0;
    static const char *const mns[] = {"S0", "S1", "S2", "S3"};
    static const char *const sts[] = {"31", "32", "31", "32"};
    static const char *const cns[] = {"2011", "2051", "2061", "2031"};
    static const uint8_t kinds[] = {EW_KIND_REALTIME, EW_KIND_MINUTE, EW_KIND_HOUR, EW_KIND_DAY};
    static const char flags[] = {'N', 'N', 'N', 'N', 'D', 'M', 'T', '\0'};
    struct ew_registry *reg = ew_registry_new();
    struct ew_engine *eng = engine(reg, data[0] & 1 ? 180000 : 0);
    int64_t t = 1727748000000; /* 2024-10-01 10:00 Beijing */
    int64_t now = t, clock = INT64_MIN, marks[4] = {INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN};
    bool clocked = data[0] & 2;
    ew_engine_release_bound(eng, (data[0] >> 2) & 3); /* 0: every held record due at once */
    uint64_t tagged = 0, tag_sum = 0;
    ew_released_count = ew_released_sum = 0;
    for (size_t i = 1; i + 6 <= size; i += 6) {
        const uint8_t *op = data + i;
        int16_t delta = (int16_t)(op[1] | op[2] << 8);
        t += (int64_t)delta * 60000;
        int64_t at = t + (int64_t)op[5] * 60000;
        if (at > now)
            now = at;
        unsigned what = op[0] & 7, site = (op[0] >> 3) & 3;
        if (what == 4) {
            if (clocked)
                ew_engine_tick_at(eng, clock, now);
            else
                ew_engine_tick(eng, now);
            continue;
        }
        if (what == 5) {
            ew_engine_flush(eng, now);
            continue;
        }
        if (what == 6 && (op[3] & 1)) {
            ew_engine_forget(eng, mns[site]);
            continue;
        }
        unsigned k = what & 3;
        ew_record_reset(rec);
        rec->mn = mns[site];
        rec->st = sts[site];
        rec->cn = cns[k];
        rec->kind = kinds[k];
        rec->version = EW_VERSION_2017;
        rec->flag = rec->pnum = rec->pno = -1;
        rec->has_time = true;
        rec->data_time = t;
        static const char *const codes[] = {"a21026", "w01018", "w00000", "a19001"};
        for (unsigned v = 0; v < 3; v++) {
            struct ew_value *val = &rec->values[rec->nvalues++];
            memset(val, 0, sizeof *val);
            const char *code = codes[(op[4] + v) & 3];
            val->pollutant = ew_pollutant_find(code, 6, EW_MEDIUM_OTHER);
            val->code = code;
            val->field = k == 0 ? (v == 1 ? EW_FIELD_ZSRTD : EW_FIELD_RTD)
                                : (v == 1 ? EW_FIELD_ZSAVG : EW_FIELD_AVG);
            val->field_name = ew_field_name((enum ew_field)val->field);
            val->text = "";
            val->num = (double)op[3] - 20 + v;
            val->flag = flags[(op[0] >> 5) & 7];
            val->flag_meaning = (uint8_t)ew_flag_meaning(EW_VERSION_2017, val->flag);
        }
        uint64_t tag = i;
        if (clocked) {
            clock = t > clock && t <= now ? t : clock;
            ew_engine_advance(eng, clock, now);
        }
        /* clocked: the site's partition (one of 3, by its MN's last byte) holds it, with
         * that partition's watermark */
        uint32_t src = clocked ? 1 + (uint32_t)(unsigned char)rec->mn[strlen(rec->mn) - 1] % 3 : 0;
        int64_t *mark = &marks[src];
        if (t > *mark && t <= now)
            *mark = t;
        int rc = ew_engine_record_from(eng, rec, now, tag, src, src ? *mark : INT64_MIN);
        if (rc && rc != EW_ELATE && rc != EW_EINVAL)
            abort();
        tagged++;
        tag_sum += tag;
    }
    ew_engine_flush(eng, now);
    if ((data[0] & 1) && (ew_released_count != tagged || ew_released_sum != tag_sum))
        abort(); /* with reordering, each tagged record is released exactly once */
    struct ew_buf s1 = EW_BUF_INIT, s2 = EW_BUF_INIT;
    struct ew_error err;
    struct ew_engine *b = engine(reg, 0);
    if (ew_engine_export(eng, &s1) || ew_engine_import(b, s1.data, s1.len, &err) ||
        ew_engine_export(b, &s2) || s1.len != s2.len || memcmp(s1.data, s2.data, s1.len))
        abort();
    ew_engine_tick(b, now + 86400000);
    ew_buf_release(&s1);
    ew_buf_release(&s2);
    ew_engine_free(b);
    ew_engine_free(eng);
    ew_registry_free(reg);
    return 0;
}
