/*
 * ecowarn-watch [--redis URL] [--prefix P] [--seconds S] - follows the ecowarn:live channel and
 * prints each alert event as it appears, one readable line each:
 *
 *   17:00  FIRING    critical  officer     绍兴热电企业1 二氧化硫 79.9 mg/m3 (limit 35)  ...message
 *
 * Stops after --seconds (0: never) or on SIGINT/SIGTERM. For `make demo` and for a quick look
 * at a running daemon; consumers of the events use the streams (CONTRACT.md).
 */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t ew_stop;

static void ew_on_signal(int sig)
{
    (void)sig;
    ew_stop = 1;
}

static const char *ew_str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void ew_print(const char *payload, size_t len)
{
    json_error_t err;
    json_t *ev = json_loadb(payload, len, 0, &err);
    if (!ev) {
        printf("(not an event: %.*s)\n", (int)len, payload);
        return;
    }
    char event[16];
    snprintf(event, sizeof event, "%s", ew_str(ev, "event"));
    for (char *p = event; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    const char *t = ew_str(ev, "event_time"); /* 2024-10-01T17:00:00+08:00 */
    char when[17] = "";
    if (strlen(t) >= 16)
        snprintf(when, sizeof when, "%.10s %.5s", t, t + 11);
    printf("%s  %-12s %-8s %-10s %s\n", when, event, ew_str(ev, "severity"), ew_str(ev, "audience"),
           ew_str(ev, "message"));
    fflush(stdout);
    json_decref(ev);
}

int main(int argc, char **argv)
{
    const char *url = "redis://127.0.0.1:6379/0", *prefix = "ecowarn:";
    double seconds = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--redis") && i + 1 < argc)
            url = argv[++i];
        else if (!strcmp(argv[i], "--prefix") && i + 1 < argc)
            prefix = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: ecowarn-watch [--redis redis://host:port/db] [--prefix P] "
                            "[--seconds S]\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    char host[256] = "127.0.0.1";
    int port = 6379;
    if (strncmp(url, "redis://", 8) || sscanf(url + 8, "%255[^:/]:%d", host, &port) < 1) {
        fprintf(stderr, "ecowarn-watch: --redis: expected redis://host:port/db\n");
        return 2;
    }
    struct sigaction sa = {0};
    sa.sa_handler = ew_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        fprintf(stderr, "ecowarn-watch: cannot connect to %s:%d: %s\n", host, port,
                c ? c->errstr : "no memory");
        return 1;
    }
    char channel[256];
    snprintf(channel, sizeof channel, "%slive", prefix);
    freeReplyObject(redisCommand(c, "SUBSCRIBE %s", channel));
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!ew_stop) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (seconds > 0 && (double)(now.tv_sec - start.tv_sec) > seconds)
            break;
        void *reply = NULL;
        if (redisReaderGetReply(c->reader, &reply) != REDIS_OK)
            break;
        if (!reply) { /* nothing whole yet: wait a little for more bytes (and the clock) */
            struct pollfd pfd = {c->fd, POLLIN, 0};
            if (poll(&pfd, 1, 200) > 0 && redisBufferRead(c) != REDIS_OK)
                break; /* the server went away */
            continue;
        }
        redisReply *m = reply;
        if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
            !strcmp(m->element[0]->str, "message"))
            ew_print(m->element[2]->str, m->element[2]->len);
        freeReplyObject(m);
    }
    if (c)
        redisFree(c);
    return 0;
}
