/*
 * ew_record.c - the normalized record and the small vocabularies around it: editions, data
 * kinds, value fields, flag meanings, and exact decimal numbers.
 */
#include "ew_record.h"

#include "ew_alloc.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ew_record *ew_record_new(void)
{
    struct ew_record *rec = ew_malloc(sizeof *rec);
    if (rec)
        ew_record_reset(rec);
    return rec;
}

void ew_record_free(struct ew_record *rec)
{
    ew_free(rec);
}

void ew_record_reset(struct ew_record *rec)
{
    rec->mn = rec->st = rec->cn = rec->qn = rec->pw = NULL;
    rec->flag = rec->pnum = rec->pno = -1;
    rec->version = EW_VERSION_2005;
    rec->kind = EW_KIND_OTHER;
    rec->has_time = false;
    rec->data_time = 0;
    rec->nvalues = rec->nparams = rec->nnotes = 0;
    rec->text_used = 0;
}

char *ew_record_alloc(struct ew_record *rec, size_t n)
{
    if (n >= sizeof rec->text - rec->text_used)
        return NULL;
    char *dst = rec->text + rec->text_used;
    dst[n] = '\0';
    rec->text_used += n + 1;
    return dst;
}

char *ew_record_strndup(struct ew_record *rec, const char *s, size_t n)
{
    char *dst = ew_record_alloc(rec, n);
    if (dst)
        memcpy(dst, s, n);
    return dst;
}

const char *ew_flag_meaning_name(enum ew_flag_meaning m)
{
    static const char *const names[] = {
        [EW_FLAG_NONE] = "none",
        [EW_FLAG_NORMAL] = "normal",
        [EW_FLAG_INSTRUMENT_STOPPED] = "instrument_stopped",
        [EW_FLAG_SOURCE_STOPPED] = "source_stopped",
        [EW_FLAG_MAINTENANCE] = "maintenance",
        [EW_FLAG_MANUAL] = "manual",
        [EW_FLAG_FAULT] = "fault",
        [EW_FLAG_CALIBRATION] = "calibration",
        [EW_FLAG_OVER_RANGE] = "over_range",
        [EW_FLAG_COMM_FAILURE] = "comm_failure",
        [EW_FLAG_POWER_FAILURE] = "power_failure",
        [EW_FLAG_UNKNOWN] = "unknown",
    };
    return (unsigned)m < sizeof names / sizeof names[0] ? names[m] : "unknown";
}

enum ew_version ew_version_from_flag(int flag)
{
    if (flag < 0)
        return EW_VERSION_2005;
    int v = (flag >> 2) & 0xF;
    return v <= EW_VERSION_2025 ? (enum ew_version)v : EW_VERSION_UNKNOWN;
}

static const char *const ew_version_names[] = {"2005", "2017", "2025", "unknown"};

const char *ew_version_name(enum ew_version v)
{
    return ew_version_names[(unsigned)v <= EW_VERSION_UNKNOWN ? v : EW_VERSION_UNKNOWN];
}

enum ew_version ew_version_parse(const char *s)
{
    for (int v = EW_VERSION_2005; v < EW_VERSION_UNKNOWN; v++)
        if (!strcmp(s, ew_version_names[v]))
            return (enum ew_version)v;
    return EW_VERSION_UNKNOWN;
}

enum ew_data_kind ew_kind_from_cn(const char *cn)
{
    if (!cn || !cn[0] || !cn[1] || !cn[2] || !cn[3] || cn[4])
        return EW_KIND_OTHER;
    const unsigned char *u = (const unsigned char *)cn;
    switch ((uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3]) {
    case '2' << 24 | '0' << 16 | '1' << 8 | '1': /* ASCII: the constants are positive */
        return EW_KIND_REALTIME;
    case '2' << 24 | '0' << 16 | '5' << 8 | '1':
        return EW_KIND_MINUTE;
    case '2' << 24 | '0' << 16 | '6' << 8 | '1':
        return EW_KIND_HOUR;
    case '2' << 24 | '0' << 16 | '3' << 8 | '1':
        return EW_KIND_DAY;
    case '2' << 24 | '0' << 16 | '2' << 8 | '1':
        return EW_KIND_STATE;
    case '2' << 24 | '0' << 16 | '4' << 8 | '1':
        return EW_KIND_RUNTIME;
    case '3' << 24 | '0' << 16 | '2' << 8 | '0':
        return EW_KIND_INFO;
    default:
        return cn[0] == '9' ? EW_KIND_REPLY : EW_KIND_OTHER;
    }
}

const char *ew_kind_name(enum ew_data_kind k)
{
    static const char *const names[] = {
        [EW_KIND_OTHER] = "other",     [EW_KIND_REALTIME] = "realtime", [EW_KIND_MINUTE] = "minute",
        [EW_KIND_HOUR] = "hour",       [EW_KIND_DAY] = "day",           [EW_KIND_STATE] = "state",
        [EW_KIND_RUNTIME] = "runtime", [EW_KIND_INFO] = "info",         [EW_KIND_REPLY] = "reply",
    };
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "other";
}

const char *const ew_field_names[EW_FIELD_COUNT] = {[EW_FIELD_OTHER] = "",
#define EW__FIELD_NAME(name, text) [EW_FIELD_##name] = text,
                                                    EW_FIELD_MAP(EW__FIELD_NAME)
#undef EW__FIELD_NAME
};

#define EW__FIELD_AT(a, b, c, d, e, f)                                                             \
    [EW__FIELD_SLOT(EW__K(a, b, c, d, e))] = {EW__K(a, b, c, d, e), EW_FIELD_##f}

const struct ew_field_slot ew_field_slots[16] = {
    EW__FIELD_AT('r', 't', 'd', 0, 0, RTD),       EW__FIELD_AT('z', 's', 'r', 't', 'd', ZSRTD),
    EW__FIELD_AT('a', 'v', 'g', 0, 0, AVG),       EW__FIELD_AT('z', 's', 'a', 'v', 'g', ZSAVG),
    EW__FIELD_AT('m', 'i', 'n', 0, 0, MIN),       EW__FIELD_AT('z', 's', 'm', 'i', 'n', ZSMIN),
    EW__FIELD_AT('m', 'a', 'x', 0, 0, MAX),       EW__FIELD_AT('z', 's', 'm', 'a', 'x', ZSMAX),
    EW__FIELD_AT('c', 'o', 'u', 0, 0, COU),       EW__FIELD_AT('f', 'l', 'a', 'g', 0, FLAG),
    EW__FIELD_AT('e', 'f', 'l', 'a', 'g', EFLAG), EW__FIELD_AT('r', 's', 0, 0, 0, RS),
    EW__FIELD_AT('r', 't', 0, 0, 0, RT),          EW__FIELD_AT('i', 'n', 'f', 'o', 0, INFO),
};

enum ew_field ew_field_lookup(const char *s, size_t n)
{
    return ew_field_lookup_key(ew_field_key(ew_pollutant_pack(s, n), n), s, n);
}

void ew_value_resolve(struct ew_value *v, size_t len, enum ew_medium medium)
{
    ew_value_resolve_key(v, ew_pollutant_pack(v->code, len), medium);
}

void ew_record_apply_version(struct ew_record *rec)
{
    for (size_t i = 0; i < rec->nvalues; i++)
        rec->values[i].flag_meaning =
            (uint8_t)ew_flag_meaning((enum ew_version)rec->version, rec->values[i].flag);
}

const double ew_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

bool ew_parse_number(const char *s, size_t n, double *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    uint64_t mant = 0;
    size_t start = i, frac = 0;
    unsigned c;
    while (i < n && (c = (unsigned char)s[i] - '0') <= 9)
        mant = mant * 10 + c, i++;
    size_t digits = i - start;
    if (i < n && s[i] == '.') {
        size_t f0 = ++i;
        while (i < n && (c = (unsigned char)s[i] - '0') <= 9)
            mant = mant * 10 + c, i++;
        frac = i - f0;
        digits += frac;
    }
    if (digits == 0)
        return false;
    if (i == n && digits <= 19 && mant <= (1ull << 53) && frac <= 22) {
        /* Clinger's fast path: an integer that a double holds exactly, divided by an exact
         * power of ten, is correctly rounded by IEEE division. */
        double d = (double)(int64_t)mant / ew_pow10[frac];
        *out = neg ? -d : d;
        return true;
    }
    if (i < n) { /* only an exponent may follow */
        if (s[i] != 'e' && s[i] != 'E')
            return false;
        size_t j = i + 1;
        if (j < n && (s[j] == '-' || s[j] == '+'))
            j++;
        if (j == n)
            return false;
        for (; j < n; j++)
            if ((unsigned)(s[j] - '0') > 9)
                return false;
    }
    char buf[64];
    if (n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    double d = strtod(buf, NULL);
    if (!isfinite(d))
        return false;
    *out = d;
    return true;
}

/* Writes |m| (< 10^15) with a decimal point k digits from its end, as %g writes it. */
static size_t ew_format_fixed(int64_t m, unsigned k, char *out)
{
    char digits[24];
    unsigned n = 0;
    uint64_t u = m < 0 ? (uint64_t)-m : (uint64_t)m;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t len = 0;
    if (m < 0)
        out[len++] = '-';
    if (n <= k) { /* 0.00ddd */
        out[len++] = '0';
        out[len++] = '.';
        for (unsigned z = n; z < k; z++)
            out[len++] = '0';
    }
    for (unsigned i = n; i-- > 0;) {
        out[len++] = digits[i];
        if (i == k && k && n > k)
            out[len++] = '.';
    }
    out[len] = '\0';
    return len;
}

size_t ew_format_number(double d, char out[32])
{
    if (!isfinite(d))
        return (size_t)snprintf(out, 32, "null");
    if (d == 0)
        d = 0; /* -0 prints as 0: JSON readers take "-0" for the integer 0 */
    /*
     * The common case without printf: the fewest decimals k for which some integer m gives
     * m / 10^k == d. Both are exact doubles (|m| < 10^15, k <= 15), so the division is
     * correctly rounded, as strtod is: the text reads back as d. It has at most 15
     * significant digits and d lies within 2^-53 of it, closer than half a step of the
     * 15-digit grid, so %.15g below would print the same digits; m is the rounding of
     * d * 10^k, whose error (< 0.25) cannot move it off the nearest integer. The range keeps
     * to where %g does not use an exponent.
     */
    double a = fabs(d);
    if (a == 0 || (a >= 1e-4 && a < 1e15)) {
        for (unsigned k = 0; k <= 15; k++) {
            double s = d * ew_pow10[k];
            if (fabs(s) >= 1e15)
                break;
            int64_t m = (int64_t)nearbyint(s);
            if ((double)m / ew_pow10[k] == d)
                return ew_format_fixed(m, k, out);
        }
    }
    int len = 0;
    for (int prec = 15; prec <= 17; prec++) {
        len = snprintf(out, 32, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            break;
    }
    return (size_t)len;
}

void ew_record_note(struct ew_record *rec, const char *fmt, ...)
{
    char tmp[121];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (rec->nnotes < EW_RECORD_MAX_NOTES && n >= 0)
        rec->notes[rec->nnotes] =
            ew_record_strndup(rec, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
    if (rec->nnotes >= EW_RECORD_MAX_NOTES || rec->notes[rec->nnotes])
        rec->nnotes++;
}
