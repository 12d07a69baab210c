/*
 * Fuzz target: rule file compilation. Any input must compile or be rejected with an error
 * that names the file, without a crash or a leak; a compiled set must drive the engine over
 * a record without a crash. Replayed over tests/fuzz/corpus/rules as a CTest.
 */
#include "ew_rules.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void sink(void *ctx, const struct ew_alert_event *ev)
{
    (void)ctx;
    if (!ev->id[0] || !ev->message)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ew_ruleset *set = ew_ruleset_new();
    struct ew_error err = {0};
    if (!set)
        abort();
    int rc = ew_ruleset_add_json(set, (const char *)data, size, "f.json", &err);
    if (rc) {
        if (strncmp(err.detail, "f.json", 6) || ew_ruleset_count(set) != 0)
            abort();
        ew_ruleset_free(set);
        return 0;
    }
    /* a record every threshold rule could judge */
    static struct ew_record *rec;
    if (!rec && !(rec = ew_record_new()))
        abort();
    ew_record_reset(rec);
    rec->mn = "FUZZ";
    rec->st = "31";
    rec->cn = "2061";
    rec->kind = EW_KIND_HOUR;
    rec->has_time = true;
    rec->data_time = 1705914000000;
    static const uint8_t fields[] = {EW_FIELD_RTD, EW_FIELD_AVG, EW_FIELD_ZSAVG, EW_FIELD_ZSRTD};
    for (size_t i = 0; i < sizeof fields; i++) {
        struct ew_value *v = &rec->values[rec->nvalues++];
        memset(v, 0, sizeof *v);
        v->pollutant = ew_pollutant_find("a21026", 6, EW_MEDIUM_AIR);
        v->code = v->pollutant->code;
        v->field = fields[i];
        v->field_name = ew_field_name((enum ew_field)fields[i]);
        v->text = "1e9";
        v->num = 1e9;
    }
    struct ew_registry *reg = ew_registry_new();
    struct ew_engine_opts opts = {.max_sites = 4};
    struct ew_engine *eng = ew_engine_new(&opts, set, reg, sink, NULL);
    if (!eng || !reg)
        abort();
    for (int i = 0; i < 3; i++) {
        rec->data_time += 3600000;
        rec->values[i % 4].num = i == 1 ? -1 : 1e9;
        ew_engine_record(eng, rec, rec->data_time);
        ew_engine_tick(eng, rec->data_time + (int64_t)i * 86400000);
    }
    ew_engine_free(eng);
    ew_registry_free(reg);
    return 0;
}
