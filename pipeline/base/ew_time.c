/*
 * ew_time.c - Beijing-time parsing and printing (see ew_time.h).
 *
 * The calendar conversion counts days in 400-year eras of the proleptic Gregorian calendar,
 * with years starting on 1 March so that the leap day is the last day of a year.
 */
#include "ew_time.h"

#include <string.h>

#include "ew_error.h"
#include "ew_swar.h"

#include <stdbool.h>

int64_t ew_days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);             /* [0, 399] */
    const unsigned mp = m > 2 ? m - 3 : m + 9;                  /* March = 0 */
    const unsigned doy = (153 * mp + 2) / 5 + d - 1;            /* [0, 365] */
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* [0, 146096] */
    return era * 146097 + (int64_t)doe - 719468;
}

void ew_civil_from_days(int64_t days, int *y, unsigned *m, unsigned *d)
{
    days += 719468;
    const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const unsigned doe = (unsigned)(days - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400) + (*m <= 2);
}

static bool ew_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned ew_month_days(int y, unsigned m)
{
    static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && ew_leap(y) ? 29 : days[m - 1];
}

/* Reads n digits at s into *v; false on any non-digit. */
static bool ew_digits(const char *s, size_t n, unsigned *v)
{
    unsigned acc = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i] - '0';
        if (c > 9)
            return false;
        acc = acc * 10 + c;
    }
    *v = acc;
    return true;
}

/* Whether y-mo-d is a date of years 1..9999. */
static bool ew_valid_date(unsigned y, unsigned mo, unsigned d)
{
    return y >= 1 && y <= 9999 && mo >= 1 && mo <= 12 && d >= 1 && d <= ew_month_days((int)y, mo);
}

/* Local (Beijing) time on day `days` (from ew_days_from_civil) to epoch ms, validating the
 * time of day. */
static int ew_day_time_to_ms(int64_t days, unsigned h, unsigned mi, unsigned s, unsigned ms,
                             int64_t offset_ms, int64_t *out)
{
    if (h > 23 || mi > 59 || s > 59 || ms > 999)
        return EW_EMALFORMED;
    int64_t t = ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)s * 1000 + ms - offset_ms;
    /* keep Beijing time within years 1..9999 so that every time prints as 14 digits */
    if (!ew_time_sane(t))
        return EW_EMALFORMED;
    *out = t;
    return 0;
}

/* Local (Beijing) broken-down time to epoch ms, validating every field. */
static int ew_local_to_ms(unsigned y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s,
                          unsigned ms, int64_t offset_ms, int64_t *out)
{
    if (!ew_valid_date(y, mo, d))
        return EW_EMALFORMED;
    return ew_day_time_to_ms(ew_days_from_civil((int)y, mo, d), h, mi, s, ms, offset_ms, out);
}

/* The 8 bytes at s as their digit values (first byte lowest), or false when one is not an
 * ASCII digit. */
static bool ew_digits8(const char *s, uint64_t *v)
{
    uint64_t x = ew_load8(s) ^ 0x3030303030303030u;
    if (ew_swar_over9(x))
        return false;
    *v = x * 10 + (x >> 8); /* bytes 0, 2, 4, 6: the two-digit numbers */
    return true;
}

int ew_time_parse_digits(const char *s, size_t n, int64_t *ms)
{
    /* YYYYMMDD and DDhhmmss, 8 digits at a time. A logger's times share their date: the
     * last valid date's day number is kept, by the 8 bytes that spelled it. */
    static _Thread_local struct {
        uint64_t text;
        int64_t days;
    } last;
    uint64_t a, b;
    unsigned milli = 0;
    if ((n != 14 && n != 17) || !ew_digits8(s, &a) || !ew_digits8(s + 6, &b) ||
        (n == 17 && !ew_digits(s + 14, 3, &milli)))
        return EW_EMALFORMED;
    uint64_t text = ew_load8(s);
    if (text != last.text) {
        unsigned y = (unsigned)(a & 0xFF) * 100 + (unsigned)(a >> 16 & 0xFF);
        unsigned mo = a >> 32 & 0xFF, d = a >> 48 & 0xFF;
        if (!ew_valid_date(y, mo, d))
            return EW_EMALFORMED;
        last.days = ew_days_from_civil((int)y, mo, d);
        last.text = text;
    }
    return ew_day_time_to_ms(last.days, b >> 16 & 0xFF, b >> 32 & 0xFF, b >> 48 & 0xFF, milli,
                             EW_TZ_OFFSET_MS, ms);
}

struct ew_tm {
    int y;
    unsigned mo, d, h, mi, s, ms;
};

static void ew_local_split(int64_t t, struct ew_tm *tm)
{
    t += EW_TZ_OFFSET_MS;
    int64_t days = t / 86400000;
    int64_t rem = t % 86400000;
    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    ew_civil_from_days(days, &tm->y, &tm->mo, &tm->d);
    tm->h = (unsigned)(rem / 3600000);
    tm->mi = (unsigned)(rem / 60000 % 60);
    tm->s = (unsigned)(rem / 1000 % 60);
    tm->ms = (unsigned)(rem % 1000);
}

/* Writes v as exactly w digits (v < 10^w). */
static char *ew_put(char *p, unsigned v, int w)
{
    for (int i = w - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + w;
}

size_t ew_time_format_digits(int64_t ms, char out[18])
{
    struct ew_tm tm;
    ew_local_split(ms, &tm);
    char *p = out;
    p = ew_put(p, (unsigned)tm.y % 10000, 4);
    p = ew_put(p, tm.mo, 2);
    p = ew_put(p, tm.d, 2);
    p = ew_put(p, tm.h, 2);
    p = ew_put(p, tm.mi, 2);
    p = ew_put(p, tm.s, 2);
    if (tm.ms)
        p = ew_put(p, tm.ms, 3);
    *p = '\0';
    return (size_t)(p - out);
}

size_t ew_time_format_qn(int64_t ms, char out[18])
{
    if (ew_time_format_digits(ms, out) == 14)
        memcpy(out + 14, "000", 4);
    return 17;
}

size_t ew_time_format_iso(int64_t ms, char out[EW_TIME_ISO_MAX])
{
    struct ew_tm tm;
    ew_local_split(ms, &tm);
    char *p = out;
    p = ew_put(p, (unsigned)tm.y % 10000, 4);
    *p++ = '-';
    p = ew_put(p, tm.mo, 2);
    *p++ = '-';
    p = ew_put(p, tm.d, 2);
    *p++ = 'T';
    p = ew_put(p, tm.h, 2);
    *p++ = ':';
    p = ew_put(p, tm.mi, 2);
    *p++ = ':';
    p = ew_put(p, tm.s, 2);
    if (tm.ms) {
        *p++ = '.';
        p = ew_put(p, tm.ms, 3);
    }
    const char zone[] = "+08:00";
    for (size_t i = 0; i < sizeof zone; i++)
        p[i] = zone[i];
    return (size_t)(p - out) + sizeof zone - 1;
}

int ew_time_parse_iso(const char *s, size_t n, int64_t *ms)
{
    unsigned y, mo, d, h, mi, sec, milli = 0;
    if (n < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':')
        return EW_EMALFORMED;
    if (!ew_digits(s, 4, &y) || !ew_digits(s + 5, 2, &mo) || !ew_digits(s + 8, 2, &d) ||
        !ew_digits(s + 11, 2, &h) || !ew_digits(s + 14, 2, &mi) || !ew_digits(s + 17, 2, &sec))
        return EW_EMALFORMED;
    size_t i = 19;
    if (i < n && s[i] == '.') {
        /* 1 to 9 fraction digits; keep milliseconds, truncate the rest */
        size_t start = ++i;
        unsigned scale = 100;
        while (i < n && (unsigned)(s[i] - '0') <= 9 && i - start < 9) {
            milli += (unsigned)(s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start)
            return EW_EMALFORMED;
    }
    int64_t offset = EW_TZ_OFFSET_MS;
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        offset = 0;
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        unsigned oh, om;
        if (n - i != 6 || s[i + 3] != ':' || !ew_digits(s + i + 1, 2, &oh) ||
            !ew_digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return EW_EMALFORMED;
        offset = ((int64_t)oh * 60 + om) * 60000 * (s[i] == '-' ? -1 : 1);
        i += 6;
    }
    if (i != n)
        return EW_EMALFORMED;
    return ew_local_to_ms(y, mo, d, h, mi, sec, milli, offset, ms);
}
