/*
 * ew_recjson.c - record <-> JSON (see ew_recjson.h and connectors/formats/CODEC.md).
 */
#include "ew_recjson.h"

#include "ew_alloc.h"
#include "ew_time.h"

#include <jansson.h>
#include <string.h>

static void ew_json_opt_int(struct ew_buf *b, const char *key, int v)
{
    if (v < 0)
        return;
    ew_buf_addc(b, ',');
    ew_buf_json_key(b, key);
    ew_buf_json_num(b, v);
}

static void ew_json_value(struct ew_buf *b, const struct ew_value *v)
{
    ew_buf_adds(b, "{\"code\":");
    ew_buf_json_str(b, v->code);
    ew_buf_adds(b, ",\"field\":");
    ew_buf_json_str(b, v->field_name);
    ew_buf_adds(b, ",\"value\":");
    if (v->type == EW_VT_NUMBER) {
        ew_buf_json_num(b, v->num);
    } else if (v->type == EW_VT_TIME) {
        ew_buf_json_time(b, (int64_t)v->num);
    } else {
        ew_buf_json_str(b, v->text);
    }
    if (v->flag) {
        ew_buf_adds(b, ",\"flag\":");
        ew_buf_json_strn(b, &v->flag, 1);
    }
    ew_buf_json_opt_str(b, "eflag", v->eflag);
    ew_buf_json_opt_str(b, "pol", v->pol);
    if (v->pollutant) {
        ew_buf_json_opt_str(b, "name", v->pollutant->name);
        if (*v->pollutant->unit)
            ew_buf_json_opt_str(b, "unit", v->pollutant->unit);
    }
    ew_buf_addc(b, '}');
}

int ew_record_to_json(const struct ew_record *rec, int with_ok, struct ew_buf *b)
{
    ew_buf_adds(b, with_ok ? "{\"ok\":true,\"mn\":" : "{\"mn\":");
    ew_buf_json_str(b, rec->mn ? rec->mn : "");
    ew_buf_adds(b, ",\"st\":");
    ew_buf_json_str(b, rec->st ? rec->st : "");
    ew_buf_adds(b, ",\"cn\":");
    ew_buf_json_str(b, rec->cn ? rec->cn : "");
    ew_buf_adds(b, ",\"version\":");
    ew_buf_json_str(b, ew_version_name((enum ew_version)rec->version));
    ew_buf_adds(b, ",\"data_time\":");
    if (rec->has_time) {
        ew_buf_json_time(b, rec->data_time);
    } else {
        ew_buf_adds(b, "null");
    }
    ew_buf_adds(b, ",\"values\":[");
    for (size_t i = 0; i < rec->nvalues; i++) {
        if (i)
            ew_buf_addc(b, ',');
        ew_json_value(b, &rec->values[i]);
    }
    ew_buf_addc(b, ']');
    ew_buf_json_opt_str(b, "qn", rec->qn);
    ew_buf_json_opt_str(b, "pw", rec->pw);
    ew_json_opt_int(b, "flag", rec->flag);
    ew_json_opt_int(b, "pnum", rec->pnum);
    ew_json_opt_int(b, "pno", rec->pno);
    if (rec->nparams) {
        ew_buf_adds(b, ",\"params\":{");
        for (size_t i = 0; i < rec->nparams; i++) {
            if (i)
                ew_buf_addc(b, ',');
            ew_buf_json_key(b, rec->params[i].key);
            ew_buf_json_str(b, rec->params[i].text);
        }
        ew_buf_addc(b, '}');
    }
    if (rec->nnotes) { /* what the decoder mended: said, so nobody takes it for what was sent */
        ew_buf_adds(b, ",\"notes\":[");
        size_t kept = rec->nnotes < EW_RECORD_MAX_NOTES ? rec->nnotes : EW_RECORD_MAX_NOTES;
        for (size_t i = 0; i < kept; i++) {
            if (i)
                ew_buf_addc(b, ',');
            ew_buf_json_str(b, rec->notes[i]);
        }
        ew_buf_addc(b, ']');
    }
    ew_buf_addc(b, '}');
    return b->err;
}

int ew_error_to_json(const struct ew_error *err, struct ew_buf *b)
{
    ew_buf_adds(b, "{\"ok\":false,\"error\":");
    ew_buf_json_str(b, ew_errname(err->code));
    ew_buf_adds(b, ",\"offset\":");
    ew_buf_json_num(b, (double)err->offset);
    ew_buf_adds(b, ",\"detail\":");
    ew_buf_json_str(b, err->detail);
    ew_buf_addc(b, '}');
    return b->err;
}

/* ---- reading ---- */

struct ew_jdec {
    struct ew_record *rec;
    struct ew_error *err;
};

static int ew_jfail(struct ew_jdec *x, const char *path, const char *what)
{
    return ew_error_set(x->err, EW_EMALFORMED, 0, "%s: %s", path, what);
}

/* Copies a JSON string into the record's arena. */
static int ew_jstr(struct ew_jdec *x, json_t *j, const char **out, const char *path,
                   int allow_empty)
{
    if (!json_is_string(j))
        return ew_jfail(x, path, "expected a string");
    size_t n = json_string_length(j);
    const char *s = json_string_value(j);
    if ((!allow_empty && n == 0) || memchr(s, '\0', n))
        return ew_jfail(x, path, n ? "string holds a NUL character" : "must not be empty");
    *out = ew_record_strndup(x->rec, s, n);
    if (!*out)
        return ew_error_set(x->err, EW_ETOO_LONG, 0, "%s: record text exceeds %d bytes", path,
                            EW_RECORD_TEXT_MAX);
    return 0;
}

/* A code field given as a string or as an integer (st: 31 and st: "31" alike). */
static int ew_jcode(struct ew_jdec *x, json_t *j, const char **out, const char *path)
{
    if (json_is_integer(j) && json_integer_value(j) >= 0) {
        char tmp[24];
        int n = snprintf(tmp, sizeof tmp, "%lld", (long long)json_integer_value(j));
        *out = ew_record_strndup(x->rec, tmp, (size_t)n);
        return *out ? 0 : ew_error_set(x->err, EW_ETOO_LONG, 0, "%s: record text full", path);
    }
    return ew_jstr(x, j, out, path, 0);
}

static int ew_jint(struct ew_jdec *x, json_t *j, int *out, int max, const char *path)
{
    if (!j || json_is_null(j))
        return 0;
    if (!json_is_integer(j) || json_integer_value(j) < 0 || json_integer_value(j) > max)
        return ew_jfail(x, path, "expected a small non-negative integer");
    *out = (int)json_integer_value(j);
    return 0;
}

static int ew_jvalue(struct ew_jdec *x, json_t *jv, size_t idx, enum ew_medium medium)
{
    struct ew_record *rec = x->rec;
    char path[48];
    snprintf(path, sizeof path, "values[%zu]", idx);
    if (!json_is_object(jv))
        return ew_jfail(x, path, "expected an object");
    if (rec->nvalues >= EW_RECORD_MAX_VALUES)
        return ew_error_set(x->err, EW_ETOO_LONG, 0, "more than %d values", EW_RECORD_MAX_VALUES);
    struct ew_value *v = &rec->values[rec->nvalues];
    memset(v, 0, sizeof *v);
    int rc;
    const char *field;
    if ((rc = ew_jstr(x, json_object_get(jv, "code"), &v->code, path, 0)) ||
        (rc = ew_jstr(x, json_object_get(jv, "field"), &field, path, 0)))
        return rc;
    enum ew_field f = ew_field_lookup(field, strlen(field));
    v->field = (uint8_t)f;
    v->field_name = f == EW_FIELD_OTHER ? field : ew_field_name(f);

    json_t *val = json_object_get(jv, "value");
    if (json_is_number(val)) {
        char tmp[32];
        v->type = EW_VT_NUMBER;
        v->num = json_number_value(val);
        v->text = ew_record_strndup(rec, tmp, ew_format_number(v->num, tmp));
        if (!v->text)
            return ew_error_set(x->err, EW_ETOO_LONG, 0, "%s: record text full", path);
    } else if (json_is_string(val)) {
        if ((rc = ew_jstr(x, val, &v->text, path, 1)))
            return rc;
        int64_t t;
        size_t n = strlen(v->text);
        if (f == EW_FIELD_SAMPLETIME && ew_time_parse_iso(v->text, n, &t) == 0) {
            char digits[18];
            v->type = EW_VT_TIME;
            v->num = (double)t;
            v->text = ew_record_strndup(rec, digits, ew_time_format_digits(t, digits));
            if (!v->text)
                return ew_error_set(x->err, EW_ETOO_LONG, 0, "%s: record text full", path);
        } else {
            v->type =
                f != EW_FIELD_FLAG && f != EW_FIELD_EFLAG && ew_parse_number(v->text, n, &v->num)
                    ? EW_VT_NUMBER
                    : EW_VT_TEXT;
        }
    } else {
        return ew_jfail(x, path, "value must be a number or a string");
    }

    json_t *flag = json_object_get(jv, "flag");
    if (flag && !json_is_null(flag)) {
        const char *s = json_string_value(flag);
        if (!s || json_string_length(flag) != 1 || (unsigned char)s[0] < 0x21 ||
            (unsigned char)s[0] > 0x7E)
            return ew_jfail(x, path, "flag must be one printable ASCII letter");
        v->flag = s[0];
    }
    json_t *eflag = json_object_get(jv, "eflag"), *pol = json_object_get(jv, "pol");
    if ((eflag && !json_is_null(eflag) && (rc = ew_jstr(x, eflag, &v->eflag, path, 1))) ||
        (pol && !json_is_null(pol) && (rc = ew_jstr(x, pol, &v->pol, path, 0))))
        return rc;
    ew_value_resolve(v, strlen(v->code), medium);
    rec->nvalues++;
    return 0;
}

static int ew_jrecord(struct ew_jdec *x, json_t *root)
{
    struct ew_record *rec = x->rec;
    int rc;
    if (!json_is_object(root))
        return ew_jfail(x, "record", "expected an object");
    if ((rc = ew_jcode(x, json_object_get(root, "mn"), &rec->mn, "mn")) ||
        (rc = ew_jcode(x, json_object_get(root, "st"), &rec->st, "st")) ||
        (rc = ew_jcode(x, json_object_get(root, "cn"), &rec->cn, "cn")))
        return rc;
    json_t *qn = json_object_get(root, "qn"), *pw = json_object_get(root, "pw");
    if ((qn && !json_is_null(qn) && (rc = ew_jcode(x, qn, &rec->qn, "qn"))) ||
        (pw && !json_is_null(pw) && (rc = ew_jcode(x, pw, &rec->pw, "pw"))) ||
        (rc = ew_jint(x, json_object_get(root, "flag"), &rec->flag, 255, "flag")) ||
        (rc = ew_jint(x, json_object_get(root, "pnum"), &rec->pnum, 9999, "pnum")) ||
        (rc = ew_jint(x, json_object_get(root, "pno"), &rec->pno, 9999, "pno")))
        return rc;

    json_t *ver = json_object_get(root, "version");
    if (ver && !json_is_null(ver)) {
        if (!json_is_string(ver))
            return ew_jfail(x, "version", "expected \"2005\", \"2017\", \"2025\" or \"unknown\"");
        rec->version = (uint8_t)ew_version_parse(json_string_value(ver));
        if (rec->version == EW_VERSION_UNKNOWN && strcmp(json_string_value(ver), "unknown"))
            return ew_jfail(x, "version", "expected \"2005\", \"2017\", \"2025\" or \"unknown\"");
    } else {
        rec->version =
            (uint8_t)(rec->flag >= 0 ? ew_version_from_flag(rec->flag) : EW_VERSION_2017);
    }
    rec->kind = (uint8_t)ew_kind_from_cn(rec->cn);

    json_t *dt = json_object_get(root, "data_time");
    if (dt && !json_is_null(dt)) {
        if (!json_is_string(dt) ||
            ew_time_parse_iso(json_string_value(dt), json_string_length(dt), &rec->data_time))
            return ew_jfail(x, "data_time", "expected an ISO 8601 time");
        rec->has_time = true;
    }

    json_t *values = json_object_get(root, "values");
    if (!json_is_array(values))
        return ew_jfail(x, "values", "expected an array");
    enum ew_medium medium = ew_medium_of_st(rec->st);
    for (size_t i = 0; i < json_array_size(values); i++)
        if ((rc = ew_jvalue(x, json_array_get(values, i), i, medium)))
            return rc;
    ew_record_apply_version(rec);

    json_t *params = json_object_get(root, "params");
    if (params && !json_is_null(params)) {
        if (!json_is_object(params))
            return ew_jfail(x, "params", "expected an object");
        const char *key;
        json_t *val;
        json_object_foreach(params, key, val)
        {
            if (rec->nparams >= EW_RECORD_MAX_PARAMS)
                return ew_error_set(x->err, EW_ETOO_LONG, 0, "more than %d parameters",
                                    EW_RECORD_MAX_PARAMS);
            struct ew_param *p = &rec->params[rec->nparams];
            if (!*key)
                return ew_jfail(x, "params", "empty key");
            p->key = ew_record_strndup(rec, key, strlen(key));
            if (!p->key)
                return ew_error_set(x->err, EW_ETOO_LONG, 0, "params: record text full");
            if ((rc = ew_jstr(x, val, &p->text, "params", 1)))
                return rc;
            rec->nparams++;
        }
    }
    return 0;
}

int ew_record_from_json(const char *buf, size_t len, struct ew_record *rec, struct ew_error *err)
{
    ew_record_reset(rec);
    ew_alloc_hook_json();
    unsigned long failures = ew_alloc_failures();
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (ew_alloc_failures() != failures) {
        /* jansson 2.14 reports a failed allocation as a syntax error, and when the failure
         * hits its string buffer it drops the character and returns a tree anyway: any
         * failed allocation during the parse makes the result untrustworthy. */
        json_decref(root);
        return ew_error_set(err, EW_ENOMEM, 0, "out of memory while parsing JSON");
    }
    if (!root) {
        ew_error_set(err, EW_EMALFORMED, (size_t)(jerr.position > 0 ? jerr.position : 0), "%s",
                     jerr.text);
        if (err) {
            err->line = jerr.line;
            err->column = jerr.column;
        }
        return EW_EMALFORMED;
    }
    struct ew_jdec x = {rec, err};
    int rc = ew_jrecord(&x, root);
    json_decref(root);
    if (rc)
        ew_record_reset(rec);
    return rc;
}
