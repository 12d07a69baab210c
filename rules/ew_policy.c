/*
 * ew_policy.c - escalation policies: read from a rule file's top-level "escalation" object,
 * linked to the rules that name them, and their messages rendered (rules/RULES.md, "The closed
 * loop").
 *
 *   "escalation": {
 *     "NAME": {
 *       "steps": [{"after": "2h", "to": "officer", "message": {"zh": ..., "en": ...}}, ...],
 *       "recheck": "4h", "repeat": "4h", "quiet": {"from": "22:00", "to": "07:00"},
 *       "responded_message": {...}, "recheck_message": {...}, "acknowledged_message": {...}
 *     }
 *   }
 *
 * A message is plain text with placeholders: {message} (the alert's own, as last sent),
 * {enterprise_name}, {mn}, {after} (the step's delay), {step}, {response}, {by}, {note}.
 */
#include "ew_engine_int.h"
#include "ew_loop.h"

#include "ew_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EW_FAIL(...) (snprintf(why, n, __VA_ARGS__), EW_EINVAL)

static const char *const ew_placeholders[] = {"message", "enterprise_name", "mn", "after",
                                              "step",    "response",        "by", "note"};

/* Whether every {name} in text is a placeholder this file renders. */
static bool ew_policy_text_ok(const char *text, char *bad, size_t badn)
{
    for (const char *p = strchr(text, '{'); p; p = strchr(p + 1, '{')) {
        const char *end = strchr(p, '}');
        if (!end)
            return snprintf(bad, badn, "an unclosed {"), false;
        bool known = false;
        for (size_t i = 0; i < sizeof ew_placeholders / sizeof ew_placeholders[0]; i++)
            known |= strlen(ew_placeholders[i]) == (size_t)(end - p - 1) &&
                     !strncmp(p + 1, ew_placeholders[i], (size_t)(end - p - 1));
        if (!known)
            return snprintf(bad, badn, "unknown placeholder %.*s", (int)(end - p + 1), p), false;
    }
    return true;
}

/* {"zh": ..., "en": ...} into out (en falls back to zh), or the defaults when absent. */
static int ew_policy_msg(json_t *msg, const char *what, const char *const def[2],
                         char out[2][EW_POLICY_MSG_MAX], char *why, size_t n)
{
    if (msg && !json_is_object(msg))
        return EW_FAIL("%s: expected {\"zh\": ..., \"en\": ...}", what);
    const char *zh = msg ? json_string_value(json_object_get(msg, "zh")) : def[0];
    const char *en = msg ? json_string_value(json_object_get(msg, "en")) : def[1];
    if (!zh)
        return EW_FAIL("%s.zh: expected the Chinese message text", what);
    const char *text[2] = {zh, en ? en : zh};
    for (int l = 0; l < 2; l++) {
        char bad[64];
        if (strlen(text[l]) >= EW_POLICY_MSG_MAX)
            return EW_FAIL("%s: longer than %d bytes", what, EW_POLICY_MSG_MAX - 1);
        if (!ew_policy_text_ok(text[l], bad, sizeof bad))
            return EW_FAIL("%s: %s", what, bad);
        memcpy(out[l], text[l], strlen(text[l]) + 1);
    }
    return 0;
}

/* "HH:MM" as minutes of the day, or -1. */
static int32_t ew_clock_minutes(json_t *j)
{
    const char *s = json_string_value(j);
    int h, m;
    char tail;
    if (!s || sscanf(s, "%2d:%2d%c", &h, &m, &tail) != 2 || h < 0 || h > 23 || m < 0 || m > 59)
        return -1;
    return h * 60 + m;
}

static int ew_duration(json_t *j, int64_t *ms)
{
    uint32_t count;
    return j && (!json_is_string(j) || ew_hold_parse(j, &count, ms) || *ms <= 0) ? EW_EINVAL : 0;
}

static int ew_policy_compile(const char *name, json_t *obj, struct ew_policy *p, char *why,
                             size_t n)
{
    static const char *const step_default[2] = {
        "{message}（{after}内未见回应，已升级）",
        "{message} (no response within {after}: escalated)"};
    static const char *const responded_default[2] = {"企业已回应：{response}",
                                                     "The enterprise answered: {response}"};
    static const char *const recheck_default[2] = {
        "{message}（企业已回应：{response}；复核时仍未恢复，已升级）",
        "{message} (the enterprise answered: {response}; still so at the re-check: escalated)"};
    static const char *const acked_default[2] = {"{by}已确认：{note}",
                                                 "Acknowledged by {by}: {note}"};
    memset(p, 0, sizeof *p);
    p->quiet_from = p->quiet_to = -1;
    if (!*name || strlen(name) >= sizeof p->name)
        return EW_FAIL("a policy name of 1 to %d characters", EW_POLICY_NAME_MAX - 1);
    memcpy(p->name, name, strlen(name) + 1);
    if (!json_is_object(obj))
        return EW_FAIL("%s: expected an object", name);
    json_t *steps = json_object_get(obj, "steps");
    if (!json_is_array(steps) || json_array_size(steps) < 1 ||
        json_array_size(steps) > EW_POLICY_STEPS)
        return EW_FAIL("%s.steps: expected 1 to %d steps", name, EW_POLICY_STEPS);
    for (size_t i = 0; i < json_array_size(steps); i++) {
        json_t *s = json_array_get(steps, i);
        const char *to = json_string_value(json_object_get(s, "to"));
        int64_t after = 0;
        if (ew_duration(json_object_get(s, "after"), &after) || !json_object_get(s, "after"))
            return EW_FAIL("%s.steps[%zu].after: expected a duration (\"2h\")", name, i);
        if (i && after <= p->steps[i - 1].after_ms)
            return EW_FAIL("%s.steps[%zu].after: steps come later one after the other", name, i);
        if (!to || (strcmp(to, "officer") && strcmp(to, "supervisor")))
            return EW_FAIL("%s.steps[%zu].to: expected \"officer\" or \"supervisor\"", name, i);
        p->steps[i].after_ms = after;
        p->steps[i].to = !strcmp(to, "officer") ? EW_AUDIENCE_OFFICER : EW_AUDIENCE_SUPERVISOR;
        char what[64];
        snprintf(what, sizeof what, "%s.steps[%zu].message", name, i);
        int rc = ew_policy_msg(json_object_get(s, "message"), what, step_default, p->steps[i].msg,
                               why, n);
        if (rc)
            return rc;
        p->nsteps++;
    }
    if (ew_duration(json_object_get(obj, "recheck"), &p->recheck_ms))
        return EW_FAIL("%s.recheck: expected a duration (\"4h\")", name);
    if (ew_duration(json_object_get(obj, "repeat"), &p->repeat_ms))
        return EW_FAIL("%s.repeat: expected a duration (\"4h\")", name);
    json_t *quiet = json_object_get(obj, "quiet");
    if (quiet) {
        p->quiet_from = ew_clock_minutes(json_object_get(quiet, "from"));
        p->quiet_to = ew_clock_minutes(json_object_get(quiet, "to"));
        if (p->quiet_from < 0 || p->quiet_to < 0 || p->quiet_from == p->quiet_to)
            return EW_FAIL("%s.quiet: expected {\"from\": \"22:00\", \"to\": \"07:00\"}", name);
    }
    int rc = ew_policy_msg(json_object_get(obj, "responded_message"), "responded_message",
                           responded_default, p->responded_msg, why, n);
    if (rc == 0)
        rc = ew_policy_msg(json_object_get(obj, "acknowledged_message"), "acknowledged_message",
                           acked_default, p->acked_msg, why, n);
    if (rc == 0)
        rc = ew_policy_msg(json_object_get(obj, "recheck_message"), "recheck_message",
                           recheck_default, p->recheck_msg, why, n);
    return rc;
}

int ew_policies_add_json(struct ew_ruleset *set, json_t *obj, char *why, size_t n)
{
    if (!obj)
        return 0;
    if (!json_is_object(obj))
        return EW_FAIL("escalation: expected {\"NAME\": {\"steps\": [...]}, ...}");
    size_t add = json_object_size(obj);
    struct ew_policy *grown =
        ew_grow(set->policies, set->npolicies, set->npolicies + add, sizeof *grown);
    if (!grown) {
        snprintf(why, n, "out of memory");
        return EW_ENOMEM;
    }
    set->policies = grown;
    const char *name;
    json_t *p;
    size_t made = 0;
    json_object_foreach(obj, name, p)
    {
        for (size_t i = 0; i < set->npolicies + made; i++)
            if (!strcmp(set->policies[i].name, name))
                return EW_FAIL("escalation: policy %s defined twice", name);
        int rc = ew_policy_compile(name, p, &set->policies[set->npolicies + made], why, n);
        if (rc)
            return rc;
        made++;
    }
    set->npolicies += made; /* all or nothing: an error leaves the count as it was */
    return 0;
}

int ew_ruleset_link(struct ew_ruleset *set, struct ew_error *err)
{
    for (size_t i = 0; i < set->nrules; i++) {
        struct ew_rule *r = &set->rules[i];
        r->policy = NULL;
        if (!r->policy_name[0])
            continue;
        for (size_t k = 0; k < set->npolicies; k++)
            if (!strcmp(set->policies[k].name, r->policy_name))
                r->policy = &set->policies[k];
        if (!r->policy)
            return ew_error_set(err, EW_EINVAL, 0, "%s: escalation: no policy named %s", r->id,
                                r->policy_name);
        if (r->repeat_from_policy || !r->repeat_ms) {
            r->repeat_ms = r->policy->repeat_ms;
            r->repeat_from_policy = true;
        }
    }
    return 0;
}

/* ---- messages ---- */

static void ew_put_duration(struct ew_buf *b, int64_t ms, enum ew_lang lang)
{
    char tmp[48];
    int64_t min = ms / 60000;
    int len = min % 60 ? snprintf(tmp, sizeof tmp, lang == EW_LANG_EN ? "%lld min" : "%lld分钟",
                                  (long long)min)
              : min % 1440 || !min
                  ? snprintf(tmp, sizeof tmp, lang == EW_LANG_EN ? "%lld h" : "%lld小时",
                             (long long)(min / 60))
                  : snprintf(tmp, sizeof tmp, lang == EW_LANG_EN ? "%lld d" : "%lld天",
                             (long long)(min / 1440));
    ew_buf_add(b, tmp, (size_t)len);
}

void ew_policy_render(struct ew_buf *b, const char *tpl, const struct ew_policy_vars *v,
                      enum ew_lang lang)
{
    ew_buf_clear(b);
    for (const char *p = tpl; *p;) {
        const char *open = strchr(p, '{'), *close = open ? strchr(open, '}') : NULL;
        if (!close) {
            ew_buf_adds(b, p);
            break;
        }
        ew_buf_add(b, p, (size_t)(open - p));
        size_t len = (size_t)(close - open - 1);
#define EW_IS(name) (len == sizeof name - 1 && !strncmp(open + 1, name, len))
        char tmp[16];
        if (EW_IS("message"))
            ew_buf_adds(b, v->message ? v->message : "");
        else if (EW_IS("enterprise_name"))
            ew_buf_adds(b, v->enterprise_name ? v->enterprise_name : "");
        else if (EW_IS("mn"))
            ew_buf_adds(b, v->mn ? v->mn : "");
        else if (EW_IS("after"))
            ew_put_duration(b, v->after_ms, lang);
        else if (EW_IS("step"))
            ew_buf_add(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "%d", v->step));
        else if (EW_IS("response"))
            ew_buf_adds(b, v->response ? v->response : "");
        else if (EW_IS("by"))
            ew_buf_adds(b, v->by ? v->by : "");
        else if (EW_IS("note"))
            ew_buf_adds(b, v->note ? v->note : "");
#undef EW_IS
        p = close + 1;
    }
}
