/*
 * ew_log.h - structured logs: one JSON object per line on stderr,
 * {"ts": ISO time, "level": ..., "component": ..., "msg": ...}.
 */
#ifndef EW_LOG_H
#define EW_LOG_H

enum ew_log_level { EW_LOG_DEBUG = 0, EW_LOG_INFO, EW_LOG_WARN, EW_LOG_ERROR };

/* The least level written ("debug", "info", "warn", "error"); unknown names leave it. */
void ew_log_set_level(const char *name);

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void ew_log(enum ew_log_level level, const char *component, const char *fmt, ...);

#endif
