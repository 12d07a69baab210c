/*
 * Fuzz target: importing engine state (checkpoints, and one site's state as it moves with its
 * partition). Any bytes must import or be rejected without a crash; whatever imports must
 * export, import into a second engine and export to the same bytes, and the engine must go on
 * judging. Replayed over tests/fuzz/corpus/state.
 */
#include "ew_rules.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char rules[] =
    "{\"rules\":[{\"id\":\"over\",\"kind\":\"threshold\",\"audience\":\"officer\",\"select\":{"
    "\"data\":[\"hour\"],\"field\":\"Avg\"},\"levels\":[{\"name\":\"w\",\"above\":50,\"severity\":"
    "\"w\"},{\"name\":\"o\",\"above\":100,\"severity\":\"c\"}],\"for\":3,\"message\":{\"zh\":\"x\"}"
    "},"
    "{\"id\":\"flat\",\"kind\":\"constant\",\"audience\":\"officer\",\"severity\":\"m\",\"select\":"
    "{"
    "\"data\":[\"hour\"],\"field\":\"Avg\"},\"message\":{\"zh\":\"x\"}},{\"id\":\"off\",\"kind\":"
    "\"offline\",\"audience\":\"officer\",\"levels\":[{\"name\":\"off\",\"after\":\"1h\","
    "\"severity\":\"m\"}],\"message\":{\"zh\":\"x\"}}]}";

static void sink(void *ctx, const struct ew_alert_event *ev)
{
    (void)ctx;
    if (!ev->id[0])
        abort();
}

static struct ew_engine *engine(struct ew_registry *reg)
{
    struct ew_ruleset *set = ew_ruleset_new();
    struct ew_error err;
    if (!set || ew_ruleset_add_json(set, rules, sizeof rules - 1, "f.json", &err))
        abort();
    struct ew_engine_opts opts = {.max_sites = 8};
    struct ew_engine *eng = ew_engine_new(&opts, set, reg, sink, NULL);
    if (!eng)
        abort();
    return eng;
}

/* An hourly COD average of 150 from site mn, at 2024-08-01T00:00+08:00. */
static void hour_record(struct ew_record *rec, const char *mn)
{
    rec->mn = mn;
    rec->st = "32";
    rec->cn = "2061";
    rec->kind = EW_KIND_HOUR;
    rec->has_time = true;
    rec->data_time = 1722441600000;
    rec->nvalues = 1;
    memset(&rec->values[0], 0, sizeof rec->values[0]);
    rec->values[0].code = "w01018";
    rec->values[0].field = EW_FIELD_AVG;
    rec->values[0].field_name = "Avg";
    rec->values[0].text = "";
    rec->values[0].num = 150;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ew_registry *reg = ew_registry_new();
    struct ew_engine *a = engine(reg);
    struct ew_error err;
    if (ew_engine_import(a, data, size, &err) == 0) {
        struct ew_buf s1 = EW_BUF_INIT, s2 = EW_BUF_INIT;
        struct ew_engine *b = engine(reg);
        if (ew_engine_export(a, &s1) || ew_engine_import(b, s1.data, s1.len, &err) ||
            ew_engine_export(b, &s2) || s1.len != s2.len || memcmp(s1.data, s2.data, s1.len))
            abort();
        ew_engine_free(b);
        ew_buf_release(&s1);
        ew_buf_release(&s2);
    }
    /* the same bytes as one site's state, into an engine that holds another site */
    struct ew_engine *c = engine(reg);
    struct ew_record *rec = ew_record_new();
    hour_record(rec, "S9");
    ew_engine_record(c, rec, rec->data_time);
    if (ew_engine_import_site(c, data, size, &err) == 0) {
        /* it is there once: exported, it imports into another engine to the same bytes */
        struct ew_buf s1 = EW_BUF_INIT, s2 = EW_BUF_INIT;
        struct ew_engine *d = engine(reg);
        size_t mnlen = data[8];
        char mn[64];
        if (mnlen >= sizeof mn)
            abort();
        memcpy(mn, data + 9, mnlen);
        mn[mnlen] = '\0';
        if (ew_engine_import_site(c, data, size, &err) != EW_EINVAL ||
            ew_engine_export_site(c, mn, &s1) || ew_engine_import_site(d, s1.data, s1.len, &err) ||
            ew_engine_export_site(d, mn, &s2) || s1.len != s2.len ||
            memcmp(s1.data, s2.data, s1.len))
            abort();
        ew_engine_free(d);
        ew_buf_release(&s1);
        ew_buf_release(&s2);
    }
    ew_engine_tick(c, rec->data_time + 7200000);
    ew_engine_free(c);

    hour_record(rec, "S1");
    for (int i = 0; i < 4; i++) {
        rec->data_time += 3600000;
        ew_engine_record(a, rec, rec->data_time);
        ew_engine_tick(a, rec->data_time + 7200000);
    }
    ew_record_free(rec);
    ew_engine_free(a);
    ew_registry_free(reg);
    return 0;
}
