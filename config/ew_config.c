/*
 * ew_config.c - the whole configuration (see ew_config.h).
 */
#include "ew_config.h"

#include "ew_rulefiles.h"
#include "ew_secret.h"

#include <librdkafka/rdkafka.h>
#include <string.h>

/* The --set arguments, after the file and the environment. */
static int ew_config_sets(const struct ew_config_src *src, struct ew_opts *o, FILE *err)
{
    int errors = 0;
    for (size_t i = 0; i < src->nsets; i++) {
        char name[128], why[320];
        const char *set = src->sets[i], *eq = strchr(set, '=');
        if (!eq || (size_t)(eq - set) >= sizeof name) {
            fprintf(err, "--set:%zu: expected NAME=VALUE, got \"%s\"\n", i + 1, set);
            errors++;
            continue;
        }
        memcpy(name, set, (size_t)(eq - set));
        name[eq - set] = '\0';
        if (ew_opts_set(o, name, eq + 1, why, sizeof why)) {
            fprintf(err, "--set:%zu: %s\n", i + 1, why);
            errors++;
        }
    }
    return errors;
}

/* librdkafka properties ecowarn sets itself: delivery and ownership depend on them. */
static const char *const ew_kafka_own[] = {
    "bootstrap.servers",        "metadata.broker.list", "group.id",          "enable.auto.commit",
    "enable.auto.offset.store", "enable.partition.eof", "auto.offset.reset", "session.timeout.ms",
};

/* kafka.properties: not one of ecowarn's own, secrets expanded, and as librdkafka takes it
 * (its message names the property, not the value). */
static int ew_config_kafka(const char *where, struct ew_config *c, FILE *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int errors = 0;
    const char *raw;
    for (const char *k = ew_props_next(&c->opts.kafka_properties, NULL, &raw); k;
         k = ew_props_next(&c->opts.kafka_properties, k, &raw)) {
        char value[EW_PROPS_MAX / 2], why[512];
        bool own = false;
        for (size_t i = 0; i < sizeof ew_kafka_own / sizeof ew_kafka_own[0]; i++)
            own |= !strcmp(k, ew_kafka_own[i]);
        if (own) {
            fprintf(err, "%s:0: kafka.properties.%s: set by ecowarn itself (see ecowarnd --help)\n",
                    where, k);
            errors++;
        } else if (!strcmp(k, "partition.assignment.strategy") && strstr(raw, "cooperative")) {
            fprintf(err,
                    "%s:0: kafka.properties.%s: ecowarnd takes its partitions eagerly (range, "
                    "roundrobin); a cooperative assignor would need incremental assignment\n",
                    where, k);
            errors++;
        } else if (ew_secret_expand(raw, value, sizeof value, why, sizeof why)) {
            fprintf(err, "%s:0: kafka.properties.%s: %s\n", where, k, why);
            errors++;
        } else if (rd_kafka_conf_set(conf, k, value, why, sizeof why) != RD_KAFKA_CONF_OK) {
            fprintf(err, "%s:0: kafka.properties.%s: %s\n", where, k, why);
            errors++;
        } else if (ew_props_set(&c->kafka, k, value)) {
            fprintf(err, "%s:0: kafka.properties: too long once expanded\n", where);
            errors++;
        }
        explicit_bzero(value, sizeof value);
    }
    rd_kafka_conf_destroy(conf);
    return errors;
}

/* What the option table cannot check alone: values with a syntax of their own. */
static int ew_config_check(const struct ew_config_src *src, struct ew_config *c, FILE *err)
{
    const char *where = src->path ? src->path : "--set";
    int errors = ew_config_kafka(where, c, err);
    char why[512], url[EW_OPT_STR_MAX], shown[EW_OPT_STR_MAX];
    ew_url_redact(c->opts.redis_url, shown, sizeof shown);
    if (ew_secret_expand(c->opts.redis_url, url, sizeof url, why, sizeof why) ||
        ew_redis_url_parse(url, &c->redis, why, sizeof why)) {
        fprintf(err, "%s:0: redis.url \"%s\": %s\n", where, shown, why);
        errors++;
    }
    explicit_bzero(url, sizeof url); /* the expanded password lives on in c->redis only */
    if (ew_secret_expand(c->opts.http_token, c->http_token, sizeof c->http_token, why,
                         sizeof why)) {
        fprintf(err, "%s:0: http.token: %s\n", where, why);
        errors++;
    }
    const char *colon = strrchr(c->opts.http_listen, ':');
    if (c->opts.http_listen[0] && (!colon || !colon[1])) {
        fprintf(err, "%s:0: http.listen \"%s\": expected host:port\n", where, c->opts.http_listen);
        errors++;
    }
    return errors;
}

/* Compiles every rule file; a problem is printed as file:line: reason. */
static int ew_config_rules(struct ew_config *c, FILE *err)
{
    const char *dir = c->opts.rules_dir;
    struct ew_ruleset *set = ew_ruleset_new();
    struct ew_error e = {0};
    if (!set) {
        fprintf(err, "%s:0: out of memory\n", dir);
        return 1;
    }
    if (ew_rulefiles_load_dir(set, dir, &e)) {
        /* "DIR/FILE:LINE:COLUMN: reason" or "DIR/FILE: RULE: reason": file:line: reason */
        const char *colon = strstr(e.detail, ": ");
        bool has_line = colon && colon > e.detail && colon[-1] >= '0' && colon[-1] <= '9';
        if (has_line)
            fprintf(err, "%s\n", e.detail);
        else if (colon)
            fprintf(err, "%.*s:0:%s\n", (int)(colon - e.detail), e.detail, colon + 1);
        else
            fprintf(err, "%s:0: %s\n", dir, e.detail);
        ew_ruleset_free(set);
        return 1;
    }
    c->rules = set;
    return 0;
}

int ew_config_load(const struct ew_config_src *src, struct ew_config *out, FILE *err)
{
    memset(out, 0, sizeof *out);
    struct ew_opts *o = &out->opts;
    ew_opts_defaults(o);
    int errors = src->path ? ew_opts_load_file(o, src->path, err) : 0;
    errors += ew_opts_load_env(o, err);
    errors += ew_config_sets(src, o, err);
    errors += ew_config_check(src, out, err);
    if (!errors)
        errors = ew_config_rules(out, err);
    if (errors)
        ew_config_release(out);
    return errors;
}

void ew_config_release(struct ew_config *c)
{
    ew_ruleset_free(c->rules);
    c->rules = NULL;
}
