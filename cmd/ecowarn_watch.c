/*
 * ecowarn-watch - the duty officer's and the enterprise's console on a running ecowarn:
 *
 *   ecowarn-watch [follow] [--seconds S]      the live channel, one readable line per event:
 *       2024-10-01 17:00  ESCALATED  major  officer  【督办】绍兴热电企业1 ...
 *   ecowarn-watch active [--enterprise ID] [--json]
 *                                             the active alerts (PREFIX+active), with where each
 *                                             stands in its closed loop
 *   ecowarn-watch ack ALERT_ID --by NAME [--note TEXT]
 *                                             an officer's acknowledgement (PREFIX+acks)
 *   ecowarn-watch answer ALERT_ID --enterprise ID --text TEXT --brokers LIST [--topic T]
 *                        [--at ISO]           the enterprise's answer: a `response` event on the
 *                                             e-enterprise topic (ecowarn.enterprise); --at: when
 *                                             it was given (the message's time; default now), as
 *                                             a platform forwarding its answers late says
 *
 * Every command takes --redis URL (redis://host:port/db or unix:///path; the daemon's default)
 * and --prefix P ("ecowarn:"). ALERT_ID is an event's id or its fingerprint. Exit status 0, 1
 * when Redis or Kafka cannot be reached or refuses, 2 for a usage error.
 */
#include "ew_time.h"
#include "ew_url.h"

#include <getopt.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
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

struct ew_args {
    const char *redis, *prefix, *enterprise, *by, *note, *text, *brokers, *topic, *at;
    double seconds;
    bool json;
};

static const char *ew_str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* "2024-10-01 17:00" of an ISO time. */
static void ew_when(const char *iso, char out[17])
{
    out[0] = '\0';
    if (strlen(iso) >= 16)
        snprintf(out, 17, "%.10s %.5s", iso, iso + 11);
}

static void ew_print(const char *payload, size_t len)
{
    json_error_t err;
    json_t *ev = json_loadb(payload, len, 0, &err);
    if (!ev) {
        printf("(not an event: %.*s)\n", (int)len, payload);
        return;
    }
    char event[16], when[17];
    snprintf(event, sizeof event, "%s", ew_str(ev, "event"));
    for (char *p = event; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    ew_when(ew_str(ev, "event_time"), when);
    printf("%s  %-12s %-8s %-10s %s\n", when, event, ew_str(ev, "severity"), ew_str(ev, "audience"),
           ew_str(ev, "message"));
    fflush(stdout);
    json_decref(ev);
}

/* ---- Redis ---- */

static redisContext *ew_connect(const char *raw)
{
    const char *url;
    struct ew_redis_addr a;
    char why[160], shown[EW_URL_HOST_MAX + 64];
    url = ew_url_redact(raw, shown, sizeof shown); /* what is printed */
    if (ew_redis_url_parse(raw, &a, why, sizeof why)) {
        fprintf(stderr, "ecowarn-watch: --redis %s: %s\n", url, why);
        exit(2);
    }
    struct timeval tv = {2, 0};
    redisContext *c = a.unix_socket ? redisConnectUnixWithTimeout(a.host, tv)
                                    : redisConnectWithTimeout(a.host, a.port, tv);
    if (!c || c->err) {
        fprintf(stderr, "ecowarn-watch: cannot connect to %s: %s\n", url,
                c ? c->errstr : "no memory");
        exit(1);
    }
    redisSetTimeout(c, tv);
    if (a.password[0]) {
        redisReply *r = a.user[0] ? redisCommand(c, "AUTH %s %s", a.user, a.password)
                                  : redisCommand(c, "AUTH %s", a.password);
        explicit_bzero(a.password, sizeof a.password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "ecowarn-watch: AUTH: %s\n", r ? r->str : c->errstr);
            exit(1);
        }
        freeReplyObject(r);
    }
    if (a.db) {
        redisReply *r = redisCommand(c, "SELECT %d", a.db);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "ecowarn-watch: SELECT %d: %s\n", a.db, r ? r->str : c->errstr);
            exit(1);
        }
        freeReplyObject(r);
    }
    return c;
}

static int ew_follow(const struct ew_args *a)
{
    redisContext *c = ew_connect(a->redis);
    redisReply *r = redisCommand(c, "SUBSCRIBE %slive", a->prefix);
    if (!r) {
        fprintf(stderr, "ecowarn-watch: SUBSCRIBE: %s\n", c->errstr);
        return 1;
    }
    freeReplyObject(r);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!ew_stop) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (a->seconds > 0 && (double)(now.tv_sec - start.tv_sec) > a->seconds)
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
    redisFree(c);
    return 0;
}

/* Where an alert stands in its closed loop, from its evidence.loop: "escalated 1 (officer 11:00)
 * | answered 10:00: TEXT | acknowledged by X | next: supervisor 15:00". */
static void ew_print_loop(json_t *loop)
{
    if (!loop)
        return;
    int steps = 0;
    json_t *t;
    size_t i;
    char when[17];
    json_array_foreach(json_object_get(loop, "trail"), i, t)
    {
        if (strcmp(ew_str(t, "type"), "escalated"))
            continue;
        ew_when(ew_str(t, "at"), when);
        printf("%s%s %s", steps++ ? ", " : "    escalated to ", ew_str(t, "audience"), when + 11);
    }
    json_t *resp = json_object_get(loop, "response"), *ack = json_object_get(loop, "acknowledged"),
           *next = json_object_get(loop, "next_step");
    if (resp) {
        ew_when(ew_str(resp, "at"), when);
        printf("%sanswered %s: %s", steps ? " | " : "    ", when, ew_str(resp, "text"));
    }
    if (ack)
        printf("%sacknowledged by %s", steps || resp ? " | " : "    ", ew_str(ack, "by"));
    if (next) {
        ew_when(ew_str(next, "at"), when);
        printf("%snext: %s at %s", steps || resp || ack ? " | " : "    ", ew_str(next, "to"), when);
    }
    if (steps || resp || ack || next)
        printf("\n");
}

static int ew_active(const struct ew_args *a)
{
    redisContext *c = ew_connect(a->redis);
    redisReply *r = redisCommand(c, "HGETALL %sactive", a->prefix);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        fprintf(stderr, "ecowarn-watch: HGETALL: %s\n", r ? r->str : c->errstr);
        return 1;
    }
    size_t shown = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *v = r->element[i + 1];
        json_error_t err;
        json_t *ev = json_loadb(v->str, v->len, 0, &err);
        if (!ev || (a->enterprise && strcmp(ew_str(ev, "enterprise_id"), a->enterprise))) {
            json_decref(ev);
            continue;
        }
        shown++;
        if (a->json) {
            printf("%.*s\n", (int)v->len, v->str);
        } else {
            char when[17];
            ew_when(ew_str(ev, "event_time"), when);
            printf("%s  %s  %-12s %-8s %-10s %-10s %s\n", ew_str(ev, "fingerprint"), when,
                   ew_str(ev, "event"), ew_str(ev, "severity"), ew_str(ev, "enterprise_id"),
                   ew_str(ev, "mn"), ew_str(ev, "message"));
            ew_print_loop(json_object_get(json_object_get(ev, "evidence"), "loop"));
        }
        json_decref(ev);
    }
    if (!a->json)
        printf("%zu active alert%s\n", shown, shown == 1 ? "" : "s");
    freeReplyObject(r);
    redisFree(c);
    return 0;
}

static int ew_ack(const struct ew_args *a, const char *alert_id)
{
    if (!a->by || !*a->by) {
        fprintf(stderr, "ecowarn-watch: ack needs --by NAME (who acknowledges)\n");
        return 2;
    }
    redisContext *c = ew_connect(a->redis);
    redisReply *r = redisCommand(c, "XADD %sacks * alert_id %s by %s note %s", a->prefix, alert_id,
                                 a->by, a->note ? a->note : "");
    if (!r || r->type != REDIS_REPLY_STRING) {
        fprintf(stderr, "ecowarn-watch: XADD: %s\n", r ? r->str : c->errstr);
        return 1;
    }
    printf("acknowledgement %s of %s written\n", r->str, alert_id);
    freeReplyObject(r);
    redisFree(c);
    return 0;
}

/* ---- Kafka ---- */

static int ew_answer(const struct ew_args *a, const char *alert_id)
{
    if (!a->enterprise || !a->text || !a->brokers) {
        fprintf(stderr, "ecowarn-watch: answer needs --enterprise ID, --text TEXT and "
                        "--brokers LIST\n");
        return 2;
    }
    int64_t at = 0; /* librdkafka's: now */
    if (a->at && ew_time_parse_iso(a->at, strlen(a->at), &at)) {
        fprintf(stderr, "ecowarn-watch: --at: expected an ISO 8601 time\n");
        return 2;
    }
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s}", "type", "response", "alert_id", alert_id,
                           "enterprise_id", a->enterprise, "text", a->text);
    char *payload = ev ? json_dumps(ev, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(ev);
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!payload || rd_kafka_conf_set(conf, "bootstrap.servers", a->brokers, err, sizeof err) ||
        rd_kafka_conf_set(conf, "message.timeout.ms", "10000", err, sizeof err)) {
        fprintf(stderr, "ecowarn-watch: %s\n", payload ? err : "out of memory");
        rd_kafka_conf_destroy(conf);
        free(payload);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "ecowarn-watch: %s\n", err);
        free(payload);
        return 1;
    }
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(a->topic), RD_KAFKA_V_KEY(a->enterprise, strlen(a->enterprise)),
        RD_KAFKA_V_VALUE(payload, strlen(payload)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_TIMESTAMP(at), RD_KAFKA_V_END);
    if (!e)
        e = rd_kafka_flush(rk, 15000);
    if (!e && rd_kafka_outq_len(rk) > 0)
        e = RD_KAFKA_RESP_ERR__MSG_TIMED_OUT;
    rd_kafka_destroy(rk);
    free(payload);
    if (e) {
        fprintf(stderr, "ecowarn-watch: answer not delivered: %s\n", rd_kafka_err2str(e));
        return 1;
    }
    printf("answer to %s sent to %s\n", alert_id, a->topic);
    return 0;
}

static int ew_usage(FILE *out, int status)
{
    fprintf(out, "usage: ecowarn-watch [follow] [--seconds S]\n"
                 "       ecowarn-watch active [--enterprise ID] [--json]\n"
                 "       ecowarn-watch ack ALERT_ID --by NAME [--note TEXT]\n"
                 "       ecowarn-watch answer ALERT_ID --enterprise ID --text TEXT --brokers LIST "
                 "[--topic T] [--at ISO]\n"
                 "  common: --redis redis://host:port/db (redis://127.0.0.1:6379/0) --prefix P "
                 "(ecowarn:)\n");
    return status;
}

int main(int argc, char **argv)
{
    struct ew_args a = {
        .redis = "redis://127.0.0.1:6379/0", .prefix = "ecowarn:", .topic = "ecowarn.enterprise"};
    static const struct option opts[] = {{"redis", required_argument, NULL, 'r'},
                                         {"prefix", required_argument, NULL, 'p'},
                                         {"seconds", required_argument, NULL, 's'},
                                         {"enterprise", required_argument, NULL, 'e'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"by", required_argument, NULL, 'b'},
                                         {"note", required_argument, NULL, 'n'},
                                         {"text", required_argument, NULL, 't'},
                                         {"brokers", required_argument, NULL, 'k'},
                                         {"topic", required_argument, NULL, 'T'},
                                         {"at", required_argument, NULL, 'a'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        switch (o) {
        case 'r':
            a.redis = optarg;
            break;
        case 'p':
            a.prefix = optarg;
            break;
        case 's':
            a.seconds = atof(optarg);
            break;
        case 'e':
            a.enterprise = optarg;
            break;
        case 'j':
            a.json = true;
            break;
        case 'b':
            a.by = optarg;
            break;
        case 'n':
            a.note = optarg;
            break;
        case 't':
            a.text = optarg;
            break;
        case 'k':
            a.brokers = optarg;
            break;
        case 'T':
            a.topic = optarg;
            break;
        case 'a':
            a.at = optarg;
            break;
        case 'h':
            return ew_usage(stdout, 0);
        default:
            return ew_usage(stderr, 2);
        }
    }
    const char *cmd = optind < argc ? argv[optind] : "follow";
    const char *id = optind + 1 < argc ? argv[optind + 1] : NULL;
    if (optind + 2 < argc)
        return ew_usage(stderr, 2);
    struct sigaction sa = {0};
    sa.sa_handler = ew_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (!strcmp(cmd, "follow") && !id)
        return ew_follow(&a);
    if (!strcmp(cmd, "active") && !id)
        return ew_active(&a);
    if (!strcmp(cmd, "ack") && id)
        return ew_ack(&a, id);
    if (!strcmp(cmd, "answer") && id)
        return ew_answer(&a, id);
    return ew_usage(stderr, 2);
}
