/*
 * ew_render.c - what an event says (see ew_render.h): its fingerprint and id, its subject, its
 * message from the rule's template, and its evidence.
 *
 * Event ids are derived from the fingerprint, the data's time, the event and the level, so
 * replaying the same input yields the same ids and consumers can drop duplicates.
 */
#include "ew_render.h"

#include "ew_time.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void ew_fingerprint(const struct ew_judge *j, char out[17])
{
    uint64_t h = 0xcbf29ce484222325u;
    const char *parts[] = {j->r->id, j->mn, j->v ? j->v->code : j->subject ? j->subject : ""};
    for (size_t p = 0; p < 3; p++) {
        for (const char *s = parts[p]; *s; s++)
            h = (h ^ (unsigned char)*s) * 0x100000001b3u;
        h = (h ^ 0xFF) * 0x100000001b3u; /* separator: no byte of a string is 0xFF + NUL */
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, h >>= 4)
        out[i] = hex[h & 0xF];
    out[16] = '\0';
}

/* The event's id, FINGERPRINT-EVENTTIME-EVENT-LEVEL: the same when the same input is replayed. */
static void ew_event_id(struct ew_alert_event *ev, int64_t time, int level)
{
    char t[32], l[32];
    const char *name = ew_alert_event_name(ev->event);
    const char *part[] = {ev->fingerprint, "-", t, "-", name, "-", l};
    size_t plen[] = {
        16,           1, ew_format_number((double)time, t), 1,
        strlen(name), 1, ew_format_number(level, l)}; /* exact: a sane time is far below 2^53 */
    size_t len = 0;
    for (size_t i = 0; i < sizeof part / sizeof part[0]; i++) {
        size_t n = plen[i] < sizeof ev->id - 1 - len ? plen[i] : sizeof ev->id - 1 - len;
        memcpy(ev->id + len, part[i], n);
        len += n;
    }
    ev->id[len] = '\0';
}

static const char *ew_pollutant_label(const struct ew_judge *j, enum ew_lang lang)
{
    if (!j->v)
        return NULL;
    const struct ew_pollutant *p = j->v->pollutant;
    if (!p)
        return j->v->code;
    return lang == EW_LANG_EN && *p->name_en ? p->name_en : p->name;
}

static const char *ew_unit(const struct ew_judge *j)
{
    if (j->limit && j->limit->unit)
        return j->limit->unit;
    return j->v && j->v->pollutant && *j->v->pollutant->unit ? j->v->pollutant->unit : NULL;
}

/* What the key's kind state says for an event at level (ew_kind.explain); all unset without. */
static struct ew_facts ew_explain(const struct ew_judge *j, int level)
{
    struct ew_facts f = {INT64_MIN, NAN, NAN, 0, NAN, INT64_MIN};
    if (j->r->kind->explain && j->kstate)
        j->r->kind->explain(j->r, j->kstate, &j->obs, level, &f);
    return f;
}

/* A time as the messages show it: "2024-01-22 17:00" in Beijing time. */
static void ew_render_time(struct ew_buf *b, int64_t t)
{
    char iso[EW_TIME_ISO_MAX];
    ew_time_format_iso(t, iso);
    iso[10] = ' ';
    ew_buf_add(b, iso, 16);
}

/* The rule's message for the event, in lang (falling back to the other language). */
static void ew_render_message(struct ew_buf *b, const struct ew_judge *j, int level, bool resolved,
                              enum ew_lang lang)
{
    const struct ew_tpl *t = &j->r->msg[resolved][lang];
    if (!t->nsegs)
        t = &j->r->msg[resolved][EW_LANG_ZH];
    if (!t->nsegs) /* a resolved message given in English only */
        t = &j->r->msg[resolved][EW_LANG_EN];
    ew_buf_clear(b);
    for (size_t i = 0; i < t->nsegs; i++) {
        const struct ew_tpl_seg *s = &t->segs[i];
        const char *unit = ew_unit(j);
        char tmp[48];
        switch (s->var) {
        case EW_TPL_TEXT:
            ew_buf_add(b, s->text, s->len);
            break;
        case EW_TPL_ENTERPRISE_NAME:
            ew_buf_adds(b, j->outlet && j->outlet->enterprise_name ? j->outlet->enterprise_name
                           : j->outlet                             ? j->outlet->enterprise_id
                                                                   : j->mn);
            break;
        case EW_TPL_ENTERPRISE_ID:
            ew_buf_adds(b, j->outlet ? j->outlet->enterprise_id : "");
            break;
        case EW_TPL_MN:
            ew_buf_adds(b, j->mn);
            break;
        case EW_TPL_OUTLET_ID:
            ew_buf_adds(b, j->outlet && j->outlet->outlet_id ? j->outlet->outlet_id : "");
            break;
        case EW_TPL_POLLUTANT:
            ew_buf_adds(b, j->v ? j->v->code : "");
            break;
        case EW_TPL_POLLUTANT_NAME:
            ew_buf_adds(b, j->v ? ew_pollutant_label(j, lang) : "");
            break;
        case EW_TPL_UNIT:
            ew_buf_adds(b, unit ? unit : "");
            break;
        case EW_TPL_VALUE:
            if (j->v)
                ew_buf_add(b, tmp, ew_format_number(j->obs.value, tmp));
            break;
        case EW_TPL_SILENCE: { /* "45 min" / "3.5 h" */
            int64_t min = j->silence / 60000;
            int n = min < 120
                        ? snprintf(tmp, sizeof tmp, lang == EW_LANG_EN ? "%lld min" : "%lld分钟",
                                   (long long)min)
                        : snprintf(tmp, sizeof tmp, lang == EW_LANG_EN ? "%.1f h" : "%.1f小时",
                                   (double)min / 60);
            ew_buf_add(b, tmp, (size_t)n);
            break;
        }
        case EW_TPL_LIMIT:
            if (!isnan(j->obs.limit))
                ew_buf_add(b, tmp, ew_format_number(j->obs.limit, tmp));
            break;
        case EW_TPL_PERCENT:
            if (!isnan(j->obs.limit) && j->obs.limit > 0)
                ew_buf_add(
                    b, tmp,
                    (size_t)snprintf(tmp, sizeof tmp, "%.0f", 100 * j->obs.value / j->obs.limit));
            break;
        case EW_TPL_LEVEL:
            if (level >= 0 && lang == EW_LANG_ZH && j->r->kind->level_zh)
                ew_buf_adds(b, j->r->kind->level_zh[(int)j->r->levels[level].above.value]);
            else
                ew_buf_adds(b, level >= 0 ? j->r->levels[level].name : "");
            break;
        case EW_TPL_SEVERITY:
            ew_buf_adds(b, level >= 0 ? j->r->levels[level].severity : "");
            break;
        case EW_TPL_TIME: /* the data's time */
            ew_render_time(b, j->v ? j->obs.time : j->last_data);
            break;
        case EW_TPL_ETA: { /* a trend's predicted crossing; nothing when none */
            struct ew_facts f = ew_explain(j, level);
            if (f.predicted_at != INT64_MIN)
                ew_render_time(b, f.predicted_at);
            break;
        }
        case EW_TPL_TITLE: /* a deadline's */
            ew_buf_adds(b, j->title ? j->title : "");
            break;
        case EW_TPL_RULE:
            ew_buf_adds(b, j->r->id);
            break;
        }
    }
}

void ew_render_event(const struct ew_judge *j, enum ew_alert_event_type type, int level,
                     enum ew_lang lang, struct ew_buf *msg, struct ew_alert_event *out)
{
    struct ew_alert_event ev = {0};
    ew_fingerprint(j, ev.fingerprint);
    ev.rule = j->r->id;
    ev.kind = j->r->kind->name;
    ev.event = type;
    ev.severity = level >= 0 ? j->r->levels[level].severity : "info";
    ev.audience = j->r->audience;
    ev.enterprise_id = j->outlet ? j->outlet->enterprise_id : "";
    ev.mn = j->mn;
    ev.outlet_id = j->outlet ? j->outlet->outlet_id : NULL;
    ev.pollutant = j->v ? j->v->code : NULL;
    ev.pollutant_name = ew_pollutant_label(j, lang);
    ev.has_value = j->v != NULL;
    ev.value = j->obs.value;
    ev.has_limit = !isnan(j->obs.limit);
    ev.limit = j->obs.limit;
    ev.unit = ew_unit(j);
    ev.data_kind = j->data_kind;
    ev.event_time = j->obs.time;
    ev.detected_at = j->now;
    ew_event_id(&ev, j->obs.time, level);
    ew_render_message(msg, j, level, type == EW_AEV_RESOLVED, lang);
    ev.message = msg->err ? "" : msg->data ? msg->data : "";
    *out = ev;
}

/* Starts an event's evidence: `{"reason":REASON`. */
static struct ew_buf *ew_evidence_begin(struct ew_buf *b, const char *reason)
{
    ew_buf_clear(b);
    ew_buf_adds(b, "{\"reason\":");
    ew_buf_json_str(b, reason);
    return b;
}

/* Evidence: what was judged, as a JSON object. */
const char *ew_evidence_value(struct ew_buf *b, const struct ew_judge *j, int level,
                              const char *reason, double threshold, int64_t since, uint32_t held)
{
    ew_evidence_begin(b, reason);
    ew_buf_adds(b, ",\"field\":");
    ew_buf_json_str(b, j->v->field_name);
    ew_buf_adds(b, ",\"value\":");
    ew_buf_json_num(b, j->obs.value);
    if (!isnan(threshold)) {
        ew_buf_adds(b, ",\"threshold\":");
        ew_buf_json_num(b, threshold);
    }
    if (j->v->flag) {
        ew_buf_adds(b, ",\"flag\":");
        ew_buf_json_strn(b, &j->v->flag, 1);
    }
    ew_buf_adds(b, ",\"since\":");
    ew_buf_json_time(b, since);
    ew_buf_adds(b, ",\"values\":");
    ew_buf_json_num(b, held);
    if (j->inputs) {
        ew_buf_adds(b, ",\"computed_from\":");
        ew_buf_json_num(b, j->inputs);
    }
    struct ew_facts f = ew_explain(j, level);
    if (f.predicted_at != INT64_MIN) {
        ew_buf_adds(b, ",\"predicted_at\":");
        ew_buf_json_time(b, f.predicted_at);
    }
    if (!isnan(f.slope_per_hour)) {
        ew_buf_adds(b, ",\"slope_per_hour\":");
        ew_buf_json_num(b, round(f.slope_per_hour * 1000) / 1000);
    }
    if (f.points) {
        ew_buf_adds(b, ",\"points\":");
        ew_buf_json_num(b, f.points);
    }
    if (!isnan(f.fit)) {
        ew_buf_adds(b, ",\"fit\":");
        ew_buf_json_num(b, round(f.fit * 1000) / 1000);
    }
    if (f.previous_time != INT64_MIN) {
        ew_buf_adds(b, ",\"previous\":");
        ew_buf_json_num(b, f.previous);
        ew_buf_adds(b, ",\"previous_time\":");
        ew_buf_json_time(b, f.previous_time);
    }
    ew_buf_addc(b, '}');
    return b->err ? NULL : b->data;
}

const char *ew_evidence_silence(struct ew_buf *b, const struct ew_rule *r, const char *reason,
                                int64_t last_data, int64_t silence)
{
    ew_evidence_begin(b, reason);
    ew_buf_addc(b, ',');
    ew_buf_json_key(b, r->kind->since_name);
    ew_buf_json_time(b, last_data);
    ew_buf_adds(b, ",\"silence_minutes\":");
    ew_buf_json_num(b, (double)(silence / 60000));
    ew_buf_addc(b, '}');
    return b->err ? NULL : b->data;
}
