/*
 * ew_log.c - structured logs (see ew_log.h).
 */
#include "ew_log.h"

#include "ew_buf.h"
#include "ew_time.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum ew_log_level ew_log_min = EW_LOG_INFO;
static const char *const ew_log_names[] = {"debug", "info", "warn", "error"};

void ew_log_set_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, ew_log_names[i]))
            ew_log_min = (enum ew_log_level)i;
}

void ew_log(enum ew_log_level level, const char *component, const char *fmt, ...)
{
    if (level < ew_log_min)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct ew_buf b = EW_BUF_INIT;
    ew_buf_adds(&b, "{\"ts\":");
    ew_buf_json_time(&b, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    ew_buf_adds(&b, ",\"level\":");
    ew_buf_json_str(&b, ew_log_names[level]);
    ew_buf_adds(&b, ",\"component\":");
    ew_buf_json_str(&b, component);
    ew_buf_adds(&b, ",\"msg\":");
    ew_buf_json_str(&b, msg);
    ew_buf_adds(&b, "}\n");
    if (!b.err)
        fwrite(b.data, 1, b.len, stderr);
    ew_buf_release(&b);
}
