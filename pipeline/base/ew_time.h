/*
 * ew_time.h - event times as ecowarn keeps them.
 *
 * HJ 212 carries Beijing time (UTC+8) without a zone marker, as 14 digits (YYYYMMDDhhmmss) or
 * 17 digits (with milliseconds). Internally every time is int64 milliseconds since the Unix
 * epoch; outside it is ISO 8601 with the +08:00 offset. Pure arithmetic: no tz database, no
 * locale, no libc time functions, so results never depend on the host's TZ.
 */
#ifndef EW_TIME_H
#define EW_TIME_H

#include <stddef.h>
#include <stdint.h>

#define EW_TZ_OFFSET_MS (8 * 3600 * 1000LL) /* Beijing time, no daylight saving */

/* "2024-01-22T17:00:00.123+08:00" plus NUL */
#define EW_TIME_ISO_MAX   32
/* Data time this far past processing time is a wrong device clock: it moves no watermark (the
 * engine's fleet watermark, a partition's in pipeline/ew_clock.h). */
#define EW_CLOCK_AHEAD_MS (10 * 60 * 1000LL)

/* Parses 14 or 17 ASCII digits of Beijing time into *ms. Validates every field (month,
 * day of month with leap years, hour < 24, minute and second < 60).
 * Returns 0 or EW_EMALFORMED. */
int ew_time_parse_digits(const char *s, size_t n, int64_t *ms);

/* Writes 14 digits, or 17 when the millisecond part is not zero. Returns the length. */
size_t ew_time_format_digits(int64_t ms, char out[18]);
/* Writes the 17 digits of a QN, YYYYMMDDhhmmsszzz (milliseconds always). Returns 17. */
size_t ew_time_format_qn(int64_t ms, char out[18]);

/* Writes ISO 8601 in Beijing time with "+08:00"; milliseconds only when not zero.
 * Returns the length. */
size_t ew_time_format_iso(int64_t ms, char out[EW_TIME_ISO_MAX]);

/* Parses ISO 8601 "YYYY-MM-DDThh:mm:ss[.fff][Z|+hh:mm|-hh:mm]" (a space may stand for T).
 * Without a zone the time is read as Beijing time. n is the string length.
 * Returns 0 or EW_EMALFORMED. */
int ew_time_parse_iso(const char *s, size_t n, int64_t *ms);

/* The range every parser above produces: Beijing years 1 to 9999. Differences of two such
 * times cannot overflow, so code that subtracts times checks untrusted ones with this. */
#define EW_TIME_MIN_MS (-719162 * 86400000LL - EW_TZ_OFFSET_MS)
#define EW_TIME_MAX_MS (2932897 * 86400000LL - EW_TZ_OFFSET_MS - 1)

static inline int ew_time_sane(int64_t ms)
{
    return ms >= EW_TIME_MIN_MS && ms <= EW_TIME_MAX_MS;
}

/* Calendar helpers used by the parsers above and by rules that work in local days. */
int64_t ew_days_from_civil(int y, unsigned m, unsigned d);
void ew_civil_from_days(int64_t days, int *y, unsigned *m, unsigned *d);

#endif
