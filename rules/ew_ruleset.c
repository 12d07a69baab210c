/*
 * ew_ruleset.c - rule files compiled into struct ew_rule (see ew_rule.h).
 *
 * A rule file is {"rules": [RULE, ...]}. The members every rule has are read here; the kind
 * named by "kind" reads its own through its row of the kind table. A file is compiled whole
 * into a scratch set first and appended only when every rule in it is good.
 */
#include "ew_engine_int.h"

#include "ew_alloc.h"
#include "ew_registry.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct ew_kind *const ew_kinds[] = {
    &ew_kind_threshold,        &ew_kind_negative,        &ew_kind_zero_with_flow,
    &ew_kind_constant,         &ew_kind_flag_persisting, &ew_kind_over_range,
    &ew_kind_offline,          &ew_kind_missing_hour,    &ew_kind_trend,
    &ew_kind_sudden_change,    &ew_kind_facility_off,    &ew_kind_declaration_contradiction,
    &ew_kind_weather_response, &ew_kind_deadline,        &ew_kind_weather_warning,
};

struct ew_ruleset *ew_ruleset_new(void)
{
    return ew_calloc(1, sizeof(struct ew_ruleset));
}

static void ew_ruleset_index_averages(struct ew_ruleset *set);

int ew_ruleset_index(struct ew_ruleset *set)
{
    for (size_t k = 0; k <= EW_KIND_REPLY; k++) {
        ew_free(set->by_kind[k]);
        set->nby_kind[k] = 0;
        if (!(set->by_kind[k] = ew_malloc((set->nrules ? set->nrules : 1) * sizeof(uint32_t))))
            return EW_ENOMEM;
    }
    uint32_t **lists[] = {&set->wide, &set->record, &set->anchor};
    for (size_t l = 0; l < 3; l++) {
        ew_free(*lists[l]);
        if (!(*lists[l] = ew_malloc((set->nrules ? set->nrules : 1) * sizeof(uint32_t))))
            return EW_ENOMEM;
    }
    set->nwide = set->nrecord = set->nanchor = 0;
    if (ew_ruleset_link(set, NULL))
        return EW_EINVAL; /* a policy no file defines */
    ew_ruleset_index_averages(set);
    for (size_t i = 0; i < set->nrules; i++) {
        struct ew_rule *r = &set->rules[i];
        if (r->kind->site_wide)
            set->wide[set->nwide++] = (uint32_t)i;
        if (r->kind->registry == EW_REG_RECORD)
            set->record[set->nrecord++] = (uint32_t)i;
        if (r->kind->registry == EW_REG_ANCHOR)
            set->anchor[set->nanchor++] = (uint32_t)i;
        r->field_mask = 0;
        memset(r->better, 0, sizeof r->better);
        for (size_t f = 0; f < r->nfields; f++) {
            r->better[r->fields[f]] = r->field_mask;
            r->field_mask |= 1u << r->fields[f];
        }
        for (size_t k = 0; k <= EW_KIND_REPLY && !r->kind->site_wide; k++)
            if (r->data_kinds & (1u << k))
                set->by_kind[k][set->nby_kind[k]++] = (uint32_t)i;
    }
    return 0;
}

/* A value rule that judges hour or day data, as averages are: flag_persisting aside, for a
 * computed average is valid by construction. */
static bool ew_rule_averages(const struct ew_rule *r)
{
    return !r->kind->site_wide && r->kind != &ew_kind_flag_persisting &&
           (r->data_kinds & (1u << EW_KIND_HOUR | 1u << EW_KIND_DAY));
}

bool ew_ruleset_averages(const struct ew_ruleset *set)
{
    for (size_t i = 0; i < set->nrules; i++)
        if (ew_rule_averages(&set->rules[i]))
            return true;
    return false;
}

/* Which pollutants' averages the rules would judge (ew_ruleset.avg_*). */
static void ew_ruleset_index_averages(struct ew_ruleset *set)
{
    set->avg_all = set->avg_limited = false;
    set->navg = 0;
    for (size_t i = 0; i < set->nrules; i++) {
        const struct ew_rule *r = &set->rules[i];
        if (!ew_rule_averages(r))
            continue;
        set->avg_limited |= r->limited_only;
        set->avg_all |= !r->limited_only && !r->ncodes;
        for (size_t c = 0; c < r->ncodes; c++) {
            size_t k = 0;
            while (k < set->navg && set->avg_codes[k] != r->codes[c])
                k++;
            if (k < set->navg)
                continue;
            if (set->navg == EW_RULE_MAX_CODES)
                set->avg_all = true; /* too many to list: every one */
            else
                set->avg_codes[set->navg++] = r->codes[c];
        }
    }
}

bool ew_ruleset_wants_average(const struct ew_ruleset *set, bool limited, uint64_t code)
{
    if (set->avg_all || (set->avg_limited && limited))
        return true;
    for (size_t k = 0; k < set->navg; k++)
        if (set->avg_codes[k] == code)
            return true;
    return false;
}

static void ew_rule_release(struct ew_rule *r)
{
    for (int i = 0; i < 2; i++)
        for (int lang = 0; lang < 2; lang++)
            ew_tpl_free(&r->msg[i][lang]);
}

void ew_ruleset_free(struct ew_ruleset *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->nrules; i++)
        ew_rule_release(&set->rules[i]);
    for (size_t k = 0; k <= EW_KIND_REPLY; k++)
        ew_free(set->by_kind[k]);
    ew_free(set->wide);
    ew_free(set->record);
    ew_free(set->anchor);
    ew_free(set->rules);
    ew_free(set->policies);
    ew_free(set);
}

size_t ew_ruleset_count(const struct ew_ruleset *set)
{
    return set->nrules;
}

/* ---- small readers shared by the kinds ---- */

int ew_bound_parse(json_t *j, struct ew_bound *b)
{
    if (json_is_number(j)) {
        b->value = json_number_value(j);
        b->relative = false;
        return isfinite(b->value) ? 0 : EW_EINVAL;
    }
    const char *s = json_string_value(j);
    size_t n = s ? strlen(s) : 0;
    if (n < 2 || s[n - 1] != '%')
        return EW_EINVAL;
    char *end;
    double pct = strtod(s, &end);
    if (end != s + n - 1 || !isfinite(pct) || pct < 0)
        return EW_EINVAL;
    b->value = pct / 100;
    b->relative = true;
    return 0;
}

int ew_hold_parse(json_t *j, uint32_t *count, int64_t *ms)
{
    *count = 0;
    *ms = 0;
    if (json_is_integer(j)) {
        if (json_integer_value(j) < 1 || json_integer_value(j) > 100000)
            return EW_EINVAL;
        *count = (uint32_t)json_integer_value(j);
        return 0;
    }
    const char *s = json_string_value(j);
    if (!s)
        return EW_EINVAL;
    char *end;
    long v = strtol(s, &end, 10);
    int64_t unit = !strcmp(end, "s")   ? 1000
                   : !strcmp(end, "m") ? 60000
                   : !strcmp(end, "h") ? 3600000
                   : !strcmp(end, "d") ? 86400000
                                       : 0;
    if (end == s || v < 0 || v > 1000000 || unit == 0)
        return EW_EINVAL;
    *ms = v * unit;
    if (*ms == 0)
        *count = 1; /* "0s": at once */
    return 0;
}

#define EW_FAIL(...) (snprintf(why, n, __VA_ARGS__), EW_EINVAL)

int ew_rule_holds(json_t *obj, struct ew_rule *r, char *why, size_t n)
{
    json_t *hold = json_object_get(obj, "for");
    json_t *clear = json_object_get(obj, "clear");
    json_t *cfor = json_object_get(clear, "for");
    r->for_count = r->clear_count = 1;
    if (hold && ew_hold_parse(hold, &r->for_count, &r->for_ms))
        return EW_FAIL("for: expected a count of values (3) or a duration (\"30m\")");
    if (clear && !json_is_object(clear))
        return EW_FAIL("clear: expected {\"below\": ..., \"for\": ...}");
    if (cfor && ew_hold_parse(cfor, &r->clear_count, &r->clear_ms))
        return EW_FAIL("clear.for: expected a count of values or a duration");
    return 0;
}

int ew_rule_levels(json_t *obj, struct ew_rule *r, ew_level_bound_fn bound, char *why, size_t n)
{
    json_t *levels = json_object_get(obj, "levels"), *v;
    size_t i;
    if (!json_is_array(levels) || json_array_size(levels) == 0 ||
        json_array_size(levels) > EW_RULE_MAX_LEVELS)
        return EW_FAIL("levels: expected a list of 1 to %d levels", EW_RULE_MAX_LEVELS);
    json_array_foreach(levels, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *sev = json_string_value(json_object_get(v, "severity"));
        if (!name || !*name || strlen(name) >= sizeof r->levels[0].name)
            return EW_FAIL("levels[%zu].name: expected a short name", i);
        if (!sev || !*sev || strlen(sev) >= sizeof r->levels[0].severity)
            return EW_FAIL("levels[%zu].severity: expected a short name", i);
        int rc = bound(v, r, i, why, n);
        if (rc)
            return rc;
        snprintf(r->levels[i].name, sizeof r->levels[i].name, "%s", name);
        snprintf(r->levels[i].severity, sizeof r->levels[i].severity, "%s", sev);
        r->nlevels++;
    }
    return 0;
}

int ew_rule_single_level(json_t *obj, struct ew_rule *r, char *why, size_t n)
{
    const char *sev = json_string_value(json_object_get(obj, "severity"));
    if (!sev || !*sev || strlen(sev) >= sizeof r->levels[0].severity)
        return EW_FAIL("severity: expected a short name");
    snprintf(r->levels[0].name, sizeof r->levels[0].name, "%s", r->kind->name);
    snprintf(r->levels[0].severity, sizeof r->levels[0].severity, "%s", sev);
    r->nlevels = 1;
    /* no numeric bound: the evidence then names none */
    r->levels[0].above = r->clear_below = (struct ew_bound){NAN, false};
    return ew_rule_holds(obj, r, why, n);
}

int ew_rule_codes(json_t *list, uint64_t *codes, size_t *ncodes, const char *what, char *why,
                  size_t n)
{
    size_t i;
    json_t *v;
    if (!json_is_array(list) || json_array_size(list) > EW_RULE_MAX_CODES)
        return EW_FAIL("%s: expected a list of at most %d codes", what, EW_RULE_MAX_CODES);
    json_array_foreach(list, i, v)
    {
        const char *s = json_string_value(v);
        const struct ew_pollutant *p = s ? ew_pollutant_find(s, strlen(s), EW_MEDIUM_OTHER) : NULL;
        if (!s || !*s || strlen(s) > 8)
            return EW_FAIL("%s[%zu]: expected a pollutant code", what, i);
        codes[(*ncodes)++] = p ? p->key : ew_pollutant_pack(s, strlen(s));
    }
    return 0;
}

/* ---- templates ---- */

static const struct {
    const char *name;
    enum ew_tpl_var var;
} ew_tpl_names[] = {
    {"enterprise_name", EW_TPL_ENTERPRISE_NAME},
    {"enterprise_id", EW_TPL_ENTERPRISE_ID},
    {"mn", EW_TPL_MN},
    {"outlet_id", EW_TPL_OUTLET_ID},
    {"pollutant", EW_TPL_POLLUTANT},
    {"pollutant_name", EW_TPL_POLLUTANT_NAME},
    {"unit", EW_TPL_UNIT},
    {"value", EW_TPL_VALUE},
    {"limit", EW_TPL_LIMIT},
    {"percent", EW_TPL_PERCENT},
    {"level", EW_TPL_LEVEL},
    {"severity", EW_TPL_SEVERITY},
    {"time", EW_TPL_TIME},
    {"rule", EW_TPL_RULE},
    {"silence", EW_TPL_SILENCE},
    {"eta", EW_TPL_ETA},
    {"title", EW_TPL_TITLE},
};

void ew_tpl_free(struct ew_tpl *t)
{
    ew_free(t->segs);
    ew_free(t->buf);
    memset(t, 0, sizeof *t);
}

int ew_tpl_compile(struct ew_tpl *t, const char *text, char *why, size_t n)
{
    size_t len = strlen(text), nsegs = 0;
    memset(t, 0, sizeof *t);
    for (const char *p = text; *p; p++) /* upper bound: every brace splits twice */
        nsegs += *p == '{' ? 2 : 0;
    t->segs = ew_calloc(nsegs + 1, sizeof *t->segs);
    t->buf = ew_malloc(len + 1);
    if (!t->segs || !t->buf) {
        ew_tpl_free(t);
        return EW_ENOMEM;
    }
    memcpy(t->buf, text, len + 1);
    const char *p = t->buf;
    while (*p) {
        const char *open = strchr(p, '{');
        if (open != p) {
            size_t lit = open ? (size_t)(open - p) : strlen(p);
            t->segs[t->nsegs++] = (struct ew_tpl_seg){EW_TPL_TEXT, p, lit};
            p += lit;
            continue;
        }
        const char *close = strchr(open, '}');
        if (!close) {
            snprintf(why, n, "message: unclosed '{'");
            ew_tpl_free(t);
            return EW_EINVAL;
        }
        size_t k = (size_t)(close - open - 1), i = 0;
        while (i < sizeof ew_tpl_names / sizeof ew_tpl_names[0] &&
               !(strlen(ew_tpl_names[i].name) == k && !strncmp(ew_tpl_names[i].name, open + 1, k)))
            i++;
        if (i == sizeof ew_tpl_names / sizeof ew_tpl_names[0]) {
            snprintf(why, n, "message: unknown placeholder {%.*s}", (int)k, open + 1);
            ew_tpl_free(t);
            return EW_EINVAL;
        }
        t->segs[t->nsegs++] = (struct ew_tpl_seg){ew_tpl_names[i].var, NULL, 0};
        p = close + 1;
    }
    return 0;
}

/* ---- rules ---- */

/* select.st: the systems a rule applies to (all when absent). A site-wide rule selects by
 * nothing else; value rules add the rest (ew_rule_select). */
static int ew_rule_select_site(json_t *sel, struct ew_rule *r, char *why, size_t n)
{
    json_t *st = json_object_get(sel, "st"), *v;
    size_t i;
    if (sel && !json_is_object(sel))
        return EW_FAIL("select: expected an object");
    if (!st)
        return 0;
    if (!json_is_array(st) || json_array_size(st) > EW_RULE_MAX_ST)
        return EW_FAIL("select.st: expected a list of at most %d system codes", EW_RULE_MAX_ST);
    json_array_foreach(st, i, v)
    {
        const char *s = json_string_value(v);
        if (!s || !*s || strlen(s) >= sizeof r->st[0])
            return EW_FAIL("select.st[%zu]: expected a system code such as \"31\"", i);
        snprintf(r->st[r->nst++], sizeof r->st[0], "%s", s);
    }
    return 0;
}

static int ew_rule_select(json_t *sel, struct ew_rule *r, char *why, size_t n)
{
    if (!json_is_object(sel))
        return EW_FAIL("select: expected an object");
    json_t *data = json_object_get(sel, "data"), *pol = json_object_get(sel, "pollutants"),
           *field = json_object_get(sel, "field");
    size_t i;
    json_t *v;
    int st_rc = ew_rule_select_site(sel, r, why, n);
    if (st_rc)
        return st_rc;
    if (!json_is_array(data) || json_array_size(data) == 0)
        return EW_FAIL("select.data: expected a list of data kinds (realtime, minute, hour, day)");
    json_array_foreach(data, i, v)
    {
        const char *s = json_string_value(v);
        int k = EW_KIND_OTHER;
        for (int d = EW_KIND_OTHER; d <= EW_KIND_REPLY && s; d++)
            if (!strcmp(s, ew_kind_name((enum ew_data_kind)d)))
                k = d;
        if (k == EW_KIND_OTHER)
            return EW_FAIL("select.data[%zu]: unknown data kind", i);
        r->data_kinds |= 1u << k;
    }
    if (json_is_string(pol) && !strcmp(json_string_value(pol), "limited")) {
        r->limited_only = true;
    } else if (pol && !json_is_array(pol)) {
        return EW_FAIL("select.pollutants: expected \"limited\" or a list of at most %d codes",
                       EW_RULE_MAX_CODES);
    } else if (pol) {
        int rc = ew_rule_codes(pol, r->codes, &r->ncodes, "select.pollutants", why, n);
        if (rc)
            return rc;
    }
    json_t *fields = json_is_string(field) ? json_pack("[O]", field) : json_incref(field);
    if (!json_is_array(fields) || json_array_size(fields) == 0 ||
        json_array_size(fields) > EW_RULE_MAX_FIELDS) {
        json_decref(fields);
        return EW_FAIL("select.field: expected a value field (\"ZsAvg\") or a list of them");
    }
    json_array_foreach(fields, i, v)
    {
        const char *s = json_string_value(v);
        enum ew_field f = s ? ew_field_lookup(s, strlen(s)) : EW_FIELD_OTHER;
        if (f == EW_FIELD_OTHER || f == EW_FIELD_FLAG || f == EW_FIELD_EFLAG) {
            json_decref(fields);
            return EW_FAIL("select.field[%zu]: expected Rtd, ZsRtd, Avg, ZsAvg, Min, Max...", i);
        }
        r->fields[r->nfields++] = (uint8_t)f;
    }
    json_decref(fields);
    return 0;
}

/* select.enterprises / outlets / tags: which registered sites a rule applies to. */
static int ew_rule_select_who(json_t *sel, struct ew_rule *r, char *why, size_t n)
{
    static const char *const keys[3] = {"enterprises", "outlets", "tags"};
    for (int w = 0; w < 3; w++) {
        json_t *list = json_object_get(sel, keys[w]), *v;
        size_t i;
        if (!list)
            continue;
        if (!json_is_array(list) || json_array_size(list) == 0 ||
            json_array_size(list) > EW_RULE_MAX_WHO)
            return EW_FAIL("select.%s: expected a list of 1 to %d names", keys[w], EW_RULE_MAX_WHO);
        json_array_foreach(list, i, v)
        {
            const char *s = json_string_value(v);
            if (!s || !*s || strlen(s) >= EW_RULE_WHO_LEN)
                return EW_FAIL("select.%s[%zu]: expected a name of 1 to %d characters", keys[w], i,
                               EW_RULE_WHO_LEN - 1);
            snprintf(r->who[w][r->nwho[w]++], EW_RULE_WHO_LEN, "%s", s);
        }
    }
    return 0;
}

static int ew_rule_compile(json_t *obj, struct ew_rule *r, char *why, size_t n)
{
    memset(r, 0, sizeof *r);
    r->o2_max = r->range = NAN;
    const char *id = json_string_value(json_object_get(obj, "id"));
    snprintf(r->id, sizeof r->id, "%s", id ? id : "?");
    if (!json_is_object(obj))
        return EW_FAIL("expected an object");
    if (!id || !*id || strlen(id) >= sizeof r->id)
        return EW_FAIL("id: expected a name of 1 to %d characters", EW_RULE_ID_MAX - 1);
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    for (size_t k = 0; kind && k < sizeof ew_kinds / sizeof ew_kinds[0]; k++)
        if (!strcmp(kind, ew_kinds[k]->name))
            r->kind = ew_kinds[k];
    if (!r->kind)
        return EW_FAIL("kind: unknown rule kind%s%s", kind ? " " : "", kind ? kind : "");
    const char *aud = json_string_value(json_object_get(obj, "audience"));
    if (!aud || (strcmp(aud, "enterprise") && strcmp(aud, "officer")))
        return EW_FAIL("audience: expected \"enterprise\" or \"officer\"");
    r->audience = !strcmp(aud, "officer") ? EW_AUDIENCE_OFFICER : EW_AUDIENCE_ENTERPRISE;
    int rc = r->kind->site_wide || r->kind->registry
                 ? ew_rule_select_site(json_object_get(obj, "select"), r, why, n)
                 : ew_rule_select(json_object_get(obj, "select"), r, why, n);
    if (rc == 0)
        rc = ew_rule_select_who(json_object_get(obj, "select"), r, why, n);
    if (rc)
        return rc;
    const char *lim = json_string_value(json_object_get(obj, "limit"));
    if (json_object_get(obj, "limit")) {
        if (!lim || (strcmp(lim, "rtd") && strcmp(lim, "hour") && strcmp(lim, "day")))
            return EW_FAIL("limit: expected \"rtd\", \"hour\" or \"day\"");
        r->limit_kind = !strcmp(lim, "rtd")    ? EW_LIMIT_RTD
                        : !strcmp(lim, "hour") ? EW_LIMIT_HOUR
                                               : EW_LIMIT_DAY;
    }
    if ((rc = r->kind->compile(obj, r, why, n)))
        return rc;
    json_t *esc = json_object_get(obj, "escalation");
    if (esc && (!json_is_string(esc) || !*json_string_value(esc) ||
                strlen(json_string_value(esc)) >= sizeof r->policy_name))
        return EW_FAIL("escalation: expected the name of a policy");
    if (esc)
        memcpy(r->policy_name, json_string_value(esc), strlen(json_string_value(esc)) + 1);
    json_t *repeat = json_object_get(obj, "repeat"), *flap = json_object_get(obj, "flap");
    uint32_t count;
    if (repeat && (!json_is_string(repeat) || ew_hold_parse(repeat, &count, &r->repeat_ms) ||
                   r->repeat_ms <= 0))
        return EW_FAIL("repeat: expected a duration (\"4h\")");
    if (flap) {
        json_t *changes = json_object_get(flap, "changes"),
               *window = json_object_get(flap, "window");
        if (!json_is_integer(changes) || json_integer_value(changes) < 1 ||
            json_integer_value(changes) > 1000)
            return EW_FAIL(
                "flap.changes: expected how many state changes a window allows (1-1000)");
        if (!json_is_string(window) || ew_hold_parse(window, &count, &r->flap_ms) ||
            r->flap_ms <= 0)
            return EW_FAIL("flap.window: expected a duration (\"1h\")");
        r->flap_changes = (uint16_t)json_integer_value(changes);
    }

    /* what the alert says, and what its resolution says (a plain default when not given) */
    static const char *const resolved_default[2] = {
        "{pollutant_name}已恢复：{value}{unit}（{time}）",
        "{pollutant_name} back to normal: {value} {unit} ({time})",
    };
    static const char *const keys[2] = {"message", "resolved_message"};
    for (int i = 0; i < 2; i++) {
        json_t *msg = json_object_get(obj, keys[i]);
        const char *zh = json_string_value(json_object_get(msg, "zh"));
        const char *en = json_string_value(json_object_get(msg, "en"));
        if (msg && !json_is_object(msg))
            return EW_FAIL("%s: expected {\"zh\": ..., \"en\": ...}", keys[i]);
        if (!zh && i == 0)
            return EW_FAIL("message.zh: expected the Chinese message text");
        if (!msg && i == 1)
            zh = resolved_default[EW_LANG_ZH], en = resolved_default[EW_LANG_EN];
        if ((zh && (rc = ew_tpl_compile(&r->msg[i][EW_LANG_ZH], zh, why, n))) ||
            (en && (rc = ew_tpl_compile(&r->msg[i][EW_LANG_EN], en, why, n))))
            return rc;
    }
    return 0;
}

int ew_ruleset_add_json(struct ew_ruleset *set, const char *text, size_t len, const char *file,
                        struct ew_error *err)
{
    ew_alloc_hook_json();
    unsigned long failures = ew_alloc_failures();
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (ew_alloc_failures() != failures) {
        json_decref(doc);
        return ew_error_set(err, EW_ENOMEM, 0, "%s: out of memory", file);
    }
    if (!doc) {
        ew_error_set(err, EW_EMALFORMED, (size_t)(jerr.position > 0 ? jerr.position : 0),
                     "%s:%d:%d: %s", file, jerr.line, jerr.column, jerr.text);
        if (err)
            err->line = jerr.line, err->column = jerr.column;
        return EW_EMALFORMED;
    }
    json_t *rules = json_object_get(doc, "rules");
    int rc = 0;
    size_t need = set->nrules + json_array_size(rules), npolicies = set->npolicies;
    char pwhy[160] = "";
    if ((rules || !json_object_get(doc, "escalation")) && !json_is_array(rules)) {
        rc = ew_error_set(err, EW_EINVAL, 0, "%s: expected {\"rules\": [...]}", file);
    } else if ((rc = ew_policies_add_json(set, json_object_get(doc, "escalation"), pwhy,
                                          sizeof pwhy))) {
        ew_error_set(err, rc, 0, "%s: %s", file, pwhy);
    } else if (need > set->cap) {
        struct ew_rule *grown = ew_calloc(need, sizeof *grown);
        if (!grown) {
            rc = ew_error_set(err, EW_ENOMEM, 0, "%s: out of memory", file);
        } else {
            if (set->nrules)
                memcpy(grown, set->rules, set->nrules * sizeof *grown);
            ew_free(set->rules);
            set->rules = grown;
            set->cap = need;
        }
    }
    size_t added = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(rules); i++) {
        struct ew_rule *r = &set->rules[set->nrules + added];
        char why[128] = "";
        rc = ew_rule_compile(json_array_get(rules, i), r, why, sizeof why);
        for (size_t j = 0; rc == 0 && j < set->nrules + added; j++)
            if (!strcmp(set->rules[j].id, r->id))
                rc = EW_EINVAL, snprintf(why, sizeof why, "duplicate rule id");
        if (rc) {
            ew_rule_release(r);
            ew_error_set(err, rc, 0, "%s: %s: %s", file, r->id, why);
        } else {
            added++;
        }
    }
    if (rc) { /* all or nothing */
        for (size_t j = 0; j < added; j++)
            ew_rule_release(&set->rules[set->nrules + j]);
        set->npolicies = npolicies;
    } else {
        set->nrules += added;
    }
    ew_ruleset_link(set, NULL); /* what is known so far: policies may be in a later file */
    json_decref(doc);
    return rc;
}

/* ---- what a rule selects (ew_rule.h) ---- */

static bool ew_listed(const struct ew_rule *r, int w, const char *name)
{
    for (size_t i = 0; name && i < r->nwho[w]; i++)
        if (!strcmp(r->who[w][i], name))
            return true;
    return false;
}

bool ew_rule__wants_site_listed(const struct ew_rule *r, const struct ew_outlet *o)
{
    if (!o)
        return false;
    if (r->nwho[0] && !ew_listed(r, 0, o->enterprise_id))
        return false;
    if (r->nwho[1] && !ew_listed(r, 1, o->outlet_id))
        return false;
    if (r->nwho[2]) {
        bool any = false;
        for (size_t i = 0; i < o->ntags && !any; i++)
            any = ew_listed(r, 2, o->tags[i]);
        if (!any)
            return false;
    }
    return true;
}
