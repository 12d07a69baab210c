/*
 * ecowarnd - the daemon: Kafka in, the codec and the rule engine, Redis out, in one libev loop.
 *
 *   ecowarnd -c FILE [--set NAME=VALUE]... [--check-config] [--config-reference] [--help]
 *
 * This file parses the arguments, builds the parts (the configuration, the flow, the Redis
 * sink and the acknowledgements source, the Kafka source, the HTTP endpoint), wires them
 * together, handles the signals and runs the loop. What happens to a message is in
 * pipeline/ew_flow.h; cmd/DAEMON.md describes the whole for operators.
 */
#include "ew_acks.h"
#include "ew_config.h"
#include "ew_flow.h"
#include "ew_dashboard.h"
#include "ew_http.h"
#include "ew_kafka.h"
#include "ew_log.h"
#include "ew_metrics.h"
#include "ew_sink.h"

#include <ev.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EW_DRAIN_MAX_S 30 /* a stop waits this long for Redis to answer */

struct ew_daemon {
    struct ev_loop *loop;
    struct ew_config_src src;
    struct ew_flow *flow;
    struct ew_sink *sink;
    struct ew_acks *acks;
    struct ew_kafka *kafka;
    struct ew_http *http;
    struct ew_dashboard *dash;
    ev_timer tick, drain;
    ev_signal sighup, sigterm, sigint;
    double drain_started;
};

static int ew_on_http(void *ctx, struct ew_http_req *r)
{
    struct ew_daemon *d = ctx;
    struct ew_flow_stats s;
    const char *path = ew_http_path(r);
    if (strcmp(path, "/health") && strcmp(path, "/metrics"))
        return ew_dashboard_serve(d->dash, r);
    if (!strcmp(ew_http_method(r), "POST"))
        return ew_http_not_allowed(r, "GET, HEAD");
    ew_flow_stats(d->flow, &s);
    if (!strcmp(path, "/health")) {
        ew_http_type(r, "application/json");
        return ew_metrics_health(&s, ew_http_out(r));
    }
    ew_http_type(r, "text/plain; version=0.0.4");
    ew_metrics_prometheus(&s, ew_http_out(r));
    return 200;
}

static void ew_on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    struct ew_daemon *d = w->data;
    ew_flow_tick(d->flow);
}

static void ew_on_sighup(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop, (void)revents;
    struct ew_daemon *d = w->data;
    ew_flow_reload(d->flow, &d->src);
}

static void ew_on_drain(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct ew_daemon *d = w->data;
    bool safe = ew_flow_safe(d->flow);
    if (!safe && ev_now(loop) - d->drain_started < EW_DRAIN_MAX_S)
        return;
    if (!safe)
        ew_log(EW_LOG_ERROR, "daemon",
               "stopping with %zu Redis commands unanswered: what they write is read again at "
               "the next start",
               ew_sink_queued(d->sink));
    ev_break(loop, EVBREAK_ALL);
}

static void ew_on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    struct ew_daemon *d = w->data;
    if (d->drain_started > 0)
        return;
    d->drain_started = ev_now(loop);
    ew_log(EW_LOG_INFO, "daemon", "stopping: draining");
    ew_acks_stop(d->acks);
    ew_flow_drain(d->flow);
    ev_timer_stop(loop, &d->tick);
    ev_timer_init(&d->drain, ew_on_drain, 0.01, 0.05);
    d->drain.data = d;
    ev_timer_start(loop, &d->drain);
}

static void ew_usage(FILE *out)
{
    fprintf(out, "usage: ecowarnd -c FILE [--set NAME=VALUE]... [--check-config] [--help]\n"
                 "  -c, --config FILE  the config file (JSON; every option is optional)\n"
                 "  --set NAME=VALUE   an option, over the file and the environment\n"
                 "  --check-config     check the config and every rule file, print\n"
                 "                     file:line: reason for each problem, exit 0 or 1\n"
                 "  --config-reference print the options as the Markdown table of the\n"
                 "                     operator's guide (docs/OPERATING.md) and exit\n"
                 "  -h, --help         this text\n"
                 "signals: HUP reloads config and rules; TERM and INT stop consuming, write\n"
                 "every partition's state and offset to Redis, commit and exit 0.\n\n");
    ew_opts_help(out);
}

/* Reads the arguments into d->src. Returns -1 to go on, else the exit status. */
static int ew_parse_args(struct ew_daemon *d, int argc, char **argv, bool *check, const char **sets)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, 's'},
        {"check-config", no_argument, NULL, 'k'}, {"config-reference", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            d->src.path = optarg;
            break;
        case 's':
            sets[d->src.nsets++] = optarg;
            break;
        case 'k':
            *check = true;
            break;
        case 'h':
            ew_usage(stdout);
            return 0;
        case 'r':
            ew_opts_reference(stdout);
            return 0;
        default:
            fprintf(stderr, "ecowarnd: %s argument \"%s\"\n",
                    c == ':' ? "a value is missing after the" : "unknown", argv[optind - 1]);
            ew_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ecowarnd: unknown argument \"%s\"\n", argv[optind]);
        ew_usage(stderr);
        return 2;
    }
    return -1;
}

/* Builds the connectors around the flow. Returns 0 or -1 (logged). */
static int ew_build(struct ew_daemon *d)
{
    const struct ew_config *cfg = ew_flow_config(d->flow);
    char consumer[64];
    snprintf(consumer, sizeof consumer, "ecowarnd-%ld", (long)getpid());
    struct ew_sink_cb scb;
    ew_flow_sink_cb(d->flow, &scb);
    d->sink = ew_sink_new(d->loop, &cfg->redis, &cfg->opts, &scb);
    d->acks = d->sink
                  ? ew_acks_new(d->loop, &cfg->redis, &cfg->opts, consumer, ew_flow_acked, d->flow)
                  : NULL;
    if (!d->acks)
        return -1;
    struct ew_dashboard_conf dc = {&cfg->redis,
                                   cfg->opts.redis_prefix,
                                   (double)cfg->opts.redis_timeout_ms / 1000,
                                   (double)cfg->opts.redis_reconnect_max_ms / 1000,
                                   cfg->http_token,
                                   ew_flow_registry(d->flow)};
    if (cfg->opts.http_listen[0] &&
        (!(d->dash = ew_dashboard_new(d->loop, &dc)) ||
         !(d->http = ew_http_new(d->loop, cfg->opts.http_listen, ew_on_http, d))))
        return -1;
    struct ew_kafka_conf kc;
    struct ew_kafka_cb cb;
    ew_flow_kafka_conf(d->flow, &kc, &cb);
    if (!(d->kafka = ew_kafka_new(d->loop, &kc, &cb)))
        return -1;
    ew_flow_connect(d->flow, d->kafka, d->sink);
    return 0;
}

static void ew_signals(struct ew_daemon *d)
{
    double tick = (double)ew_flow_config(d->flow)->opts.engine_tick_ms / 1000;
    ev_timer_init(&d->tick, ew_on_tick, tick, tick);
    d->tick.data = d;
    ev_timer_start(d->loop, &d->tick);
    ev_signal_init(&d->sighup, ew_on_sighup, SIGHUP);
    ev_signal_init(&d->sigterm, ew_on_stop, SIGTERM);
    ev_signal_init(&d->sigint, ew_on_stop, SIGINT);
    d->sighup.data = d->sigterm.data = d->sigint.data = d;
    ev_signal_start(d->loop, &d->sighup);
    ev_signal_start(d->loop, &d->sigterm);
    ev_signal_start(d->loop, &d->sigint);
}

int main(int argc, char **argv)
{
    static struct ew_daemon daemon;
    struct ew_daemon *d = &daemon;
    bool check = false;
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    if (!sets)
        return 1;
    d->src.sets = sets;
    int rc = ew_parse_args(d, argc, argv, &check, sets);
    if (rc >= 0) {
        free(sets);
        return rc;
    }
    struct ew_config cfg;
    int errors = ew_config_load(&d->src, &cfg, stderr);
    if (check || errors) {
        if (!errors)
            printf("ok: %zu rules from %s\n", ew_ruleset_count(cfg.rules), cfg.opts.rules_dir);
        ew_config_release(&cfg);
        free(sets);
        return errors ? 1 : 0;
    }
    ew_log_set_level(cfg.opts.log_level);
    signal(SIGPIPE, SIG_IGN);
    d->loop = EV_DEFAULT;
    size_t nrules = ew_ruleset_count(cfg.rules);
    if (!(d->flow = ew_flow_new(d->loop, &cfg)) || ew_build(d))
        return 1;
    ew_signals(d);
    const struct ew_opts *o = &ew_flow_config(d->flow)->opts;
    char url[EW_OPT_STR_MAX];
    ew_log(EW_LOG_INFO, "daemon", "ecowarnd running: %zu rules from %s, group %s, redis %s", nrules,
           o->rules_dir, o->kafka_group_id, ew_url_redact(o->redis_url, url, sizeof url));
    ev_run(d->loop, 0);

    ew_kafka_free(d->kafka); /* commits the offsets Redis has the state of, leaves the group */
    ew_flow_connect(d->flow, NULL, d->sink);
    rc = 0;
    ew_log(EW_LOG_INFO, "daemon", "stopped");
    ew_http_free(d->http); /* ends the dashboard's live pages */
    ew_dashboard_free(d->dash);
    ew_acks_free(d->acks);
    ew_sink_free(d->sink);
    ew_flow_free(d->flow);
    free(sets);
    return rc ? 1 : 0;
}
