/*
 * ew_opts.c - the option table (see ew_opts.h). One row per option: its name, type, place in
 * struct ew_opts, default, bounds or choices, whether SIGHUP may change it, and its help.
 */
#include "ew_opts.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum ew_opt_type { EW_OPT_STR, EW_OPT_INT, EW_OPT_MAP };

struct ew_opt {
    const char *name;
    enum ew_opt_type type;
    size_t off, size; /* where in struct ew_opts; size of a string's buffer */
    const char *def;
    int64_t min, max;    /* integers */
    const char *choices; /* strings: "zh|en", or NULL for any; maps: what NAME is */
    bool reload;         /* SIGHUP may change it; else it applies at the next start */
    const char *help;
};

/* R: SIGHUP may change it; F: fixed until the next start */
#define R true
#define F false
#define S(field, name, def, choices, reload, help)                                                 \
    {                                                                                              \
        name, EW_OPT_STR, offsetof(struct ew_opts, field), sizeof(((struct ew_opts *)0)->field),   \
            def, 0, 0, choices, reload, help                                                       \
    }
#define I(field, name, def, min, max, reload, help)                                                \
    {                                                                                              \
        name, EW_OPT_INT, offsetof(struct ew_opts, field), 0, #def, min, max, NULL, reload, help   \
    }
/* A map: every NAME under it (name.NAME) is passed on as it is; size: the struct ew_props */
#define M(field, name, what, reload, help)                                                         \
    {                                                                                              \
        name, EW_OPT_MAP, offsetof(struct ew_opts, field), sizeof(struct ew_props), "", 0, 0,      \
            what, reload, help                                                                     \
    }

static const struct ew_opt ew_opt_table[] = {
    S(kafka_brokers, "kafka.brokers", "embedded", NULL, F,
      "bootstrap servers (host:port,...), or \"embedded\" for an in-process broker (librdkafka's "
      "mock cluster: it keeps only about 15,000 messages per partition, dropping older ones)"),
    S(kafka_group_id, "kafka.group_id", "ecowarn", NULL, F, "consumer group"),
    S(topic_hj212, "kafka.topics.hj212", "ecowarn.hj212", NULL, F, "raw HJ 212 packets"),
    S(topic_telemetry, "kafka.topics.telemetry", "ecowarn.telemetry", NULL, F,
      "normalized JSON records"),
    S(topic_enterprise, "kafka.topics.enterprise", "ecowarn.enterprise", NULL, F,
      "e-enterprise events (outlet.upsert...)"),
    I(kafka_batch, "kafka.batch", 500, 1, 100000, F,
      "messages handled per loop pass, so that Redis I/O is never starved"),
    I(kafka_commit_interval_ms, "kafka.commit_interval_ms", 2000, 100, 600000, F,
      "how often stored offsets are committed"),
    I(kafka_embedded_partitions, "kafka.embedded_partitions", 4, 1, 64, F,
      "partitions per topic of the embedded broker"),
    I(kafka_session_timeout_ms, "kafka.session_timeout_ms", 10000, 6000, 300000, F,
      "a member silent this long leaves the group: its partitions go to the others"),
    M(kafka_properties, "kafka.properties", "any librdkafka property", F,
      "librdkafka properties (security.protocol, sasl.*, ssl.*, tuning), checked by librdkafka at "
      "--check-config; a value may name a secret: ${VAR} (an environment variable) or "
      "${file:PATH} (a file's first line); ecowarn's own settings (bootstrap.servers, group.id, "
      "offsets, session.timeout.ms) are refused: they have options of their own"),
    S(redis_url, "redis.url", "redis://127.0.0.1:6379/0", NULL, F,
      "redis://[user:password@]host:port/db or unix:///path; a password may be a secret "
      "reference (see kafka.properties), is sent with AUTH before SELECT and never logged"),
    S(redis_prefix, "redis.prefix", "ecowarn:", NULL, F, "prefix of every key written"),
    I(redis_timeout_ms, "redis.timeout_ms", 3000, 10, 600000, F,
      "a command without a reply this long closes the connection (it reconnects)"),
    I(redis_max_buffered, "redis.max_buffered", 100000, 100, 10000000, R,
      "events kept while Redis is unreachable; Kafka pauses before this is reached"),
    I(redis_stream_maxlen, "redis.stream_maxlen", 1000000, 0, 1000000000, R,
      "approximate length cap of each stream (0: none)"),
    I(redis_reconnect_max_ms, "redis.reconnect_max_ms", 5000, 10, 600000, F,
      "longest wait between reconnection attempts (it doubles from 50 ms)"),
    S(http_listen, "http.listen", "127.0.0.1:9464", NULL, F,
      "the dashboard (/), metrics and health, host:port (empty: none)"),
    S(http_token, "http.token", "", NULL, F,
      "what the dashboard's acknowledge button must present (Authorization: Bearer TOKEN); "
      "empty: the dashboard is read-only; a secret reference (see kafka.properties) is best"),
    S(rules_dir, "rules.dir", "config/rules", NULL, R, "folder of rule files (*.json)"),
    I(engine_max_sites, "engine.max_sites", 100000, 1, 100000000, F,
      "sites whose rule state is kept (least recently seen evicted beyond)"),
    S(engine_lang, "engine.lang", "zh", "zh|en", F, "language of alert messages"),
    I(engine_allowed_lateness_ms, "engine.allowed_lateness_ms", 7200000, 1, 604800000, F,
      "records older than their site's newest of the same kind by more are late"),
    I(engine_reorder_ms, "engine.reorder_ms", 60000, 0, 3600000, F,
      "records are held this long and judged in event-time order (0: as they come)"),
    I(engine_average_grace_ms, "engine.average_grace_ms", 600000, 1, 3599999, F,
      "a computed hourly average closes this long after its hour"),
    I(engine_tick_ms, "engine.tick_ms", 1000, 10, 600000, F,
      "clock tick of offline and missing-data rules"),
    I(engine_idle_partition_ms, "engine.idle_partition_ms", 60000, 100, 86400000, F,
      "a partition read to its end that brings no record this long no longer holds the "
      "engine's clock back"),
    I(engine_sweep_batch, "engine.sweep_batch", 0, 0, 100000000, F,
      "no longer used: each site is judged when its timer falls due (configs naming it load)"),
    I(redis_batch_ms, "redis.batch_ms", 200, 10, 60000, F,
      "under a backlog, how often each partition's events are written to Redis (live input is "
      "written as it goes quiet)"),
    I(redis_checkpoint_ms, "redis.checkpoint_ms", 30000, 0, 3600000, R,
      "how often each partition's changed sites and offset are saved with its events (a "
      "checkpoint); after a crash the records since are judged again, their events not written "
      "twice (0: at every write)"),
    I(redis_checkpoint_sites, "redis.checkpoint_sites", 64, 1, 1000000, R,
      "with live input, how many of a checkpoint's sites are written per transaction at most (the "
      "rest in the next ones; one about to change is copied first): fewer hold an alert back less"),
    S(state_file, "state.file", "", NULL, F,
      "no longer used: the rule state is kept in Redis, per partition (configs naming it load)"),
    I(state_interval_ms, "state.interval_ms", 60000, 1000, 3600000, F,
      "no longer used (configs naming it load)"),
    S(log_level, "log.level", "info", "debug|info|warn|error", R, "least level logged"),
    I(split_timeout_ms, "split.timeout_ms", 60000, 100, 3600000, F,
      "a split packet (PNUM/PNO) incomplete this long is dead-lettered"),
    I(split_max_groups, "split.max_groups", 10000, 1, 1000000, F,
      "split packets being reassembled at once (oldest dead-lettered beyond)"),
};
#undef S
#undef I
#undef M
#undef R
#undef F

static const size_t ew_nopts = sizeof ew_opt_table / sizeof ew_opt_table[0];

static const struct ew_opt *ew_opt_find(const char *name)
{
    for (size_t i = 0; i < ew_nopts; i++)
        if (!strcmp(ew_opt_table[i].name, name))
            return &ew_opt_table[i];
    return NULL;
}

/* The map option name is under ("kafka.properties.sasl.mechanism"), and *key the rest. */
static const struct ew_opt *ew_opt_map_of(const char *name, const char **key)
{
    for (size_t i = 0; i < ew_nopts; i++) {
        size_t n = strlen(ew_opt_table[i].name);
        if (ew_opt_table[i].type == EW_OPT_MAP && !strncmp(ew_opt_table[i].name, name, n) &&
            name[n] == '.' && name[n + 1]) {
            *key = name + n + 1;
            return &ew_opt_table[i];
        }
    }
    return NULL;
}

const char *ew_props_next(const struct ew_props *p, const char *name, const char **value)
{
    const char *at = name ? name + strlen(name) + 1 : p->text;
    at = name ? at + strlen(at) + 1 : at;
    if (at >= p->text + p->len)
        return NULL;
    *value = at + strlen(at) + 1;
    return at;
}

int ew_props_set(struct ew_props *p, const char *name, const char *value)
{
    struct ew_props next = {0};
    bool put = false;
    const char *v;
    for (const char *k = ew_props_next(p, NULL, &v); k; k = ew_props_next(p, k, &v)) {
        bool same = !strcmp(k, name);
        put |= same;
        const char *val = same ? value : v;
        size_t kl = strlen(k) + 1, vl = strlen(val) + 1;
        if (next.len + kl + vl > sizeof next.text)
            return -1;
        memcpy(next.text + next.len, k, kl);
        memcpy(next.text + next.len + kl, val, vl);
        next.len += kl + vl;
    }
    size_t kl = strlen(name) + 1, vl = strlen(value) + 1;
    if (!put) {
        if (next.len + kl + vl > sizeof next.text)
            return -1;
        memcpy(next.text + next.len, name, kl);
        memcpy(next.text + next.len + kl, value, vl);
        next.len += kl + vl;
    }
    memcpy(p, &next, sizeof next);
    return 0;
}

static bool ew_choice_ok(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = choices; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n))
            return true;
        p = bar ? bar + 1 : p + len;
    }
    return choices == NULL;
}

int ew_opts_set(struct ew_opts *o, const char *name, const char *value, char *why, size_t n)
{
    const char *key = NULL;
    const struct ew_opt *opt = ew_opt_find(name);
    if (!opt && !(opt = ew_opt_map_of(name, &key))) {
        snprintf(why, n, "unknown option \"%s\" (ecowarnd --help lists them)", name);
        return -1;
    }
    char *dst = (char *)o + opt->off;
    if (opt->type == EW_OPT_MAP) {
        if (!key) {
            snprintf(why, n, "%s: expected %s.NAME=VALUE", name, name);
            return -1;
        }
        if (ew_props_set((struct ew_props *)(void *)dst, key, value)) {
            snprintf(why, n, "%s: more than %zu bytes of properties", name, opt->size);
            return -1;
        }
        return 0;
    }
    if (opt->type == EW_OPT_STR) {
        if (strlen(value) >= opt->size) {
            snprintf(why, n, "%s: longer than %zu bytes", name, opt->size - 1);
            return -1;
        }
        if (!ew_choice_ok(opt->choices, value)) {
            snprintf(why, n, "%s: \"%s\" is not one of %s", name, value, opt->choices);
            return -1;
        }
        memcpy(dst, value, strlen(value) + 1);
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (!*value || *end || errno) {
        snprintf(why, n, "%s: \"%s\" is not an integer", name, value);
        return -1;
    }
    if (v < opt->min || v > opt->max) {
        snprintf(why, n, "%s: %lld is out of bounds [%lld, %lld]", name, v, (long long)opt->min,
                 (long long)opt->max);
        return -1;
    }
    int64_t iv = v;
    memcpy(dst, &iv, sizeof iv);
    return 0;
}

void ew_opts_defaults(struct ew_opts *o)
{
    memset(o, 0, sizeof *o);
    char why[160];
    for (size_t i = 0; i < ew_nopts; i++)
        if (ew_opt_table[i].type != EW_OPT_MAP &&
            ew_opts_set(o, ew_opt_table[i].name, ew_opt_table[i].def, why, sizeof why))
            abort(); /* the table's own defaults are within its bounds */
}

/* The line of the first occurrence of "key" in the text: a good enough place for an error
 * about that key (jansson keeps no positions for values). */
static int ew_line_of(const char *text, const char *key)
{
    char quoted[EW_OPT_STR_MAX + 2];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    const char *at = strstr(text, quoted);
    int line = 1;
    for (const char *p = text; at && p < at; p++)
        line += *p == '\n';
    return line;
}

static int ew_load_obj(struct ew_opts *o, json_t *obj, const char *prefix, const char *path,
                       const char *text, FILE *err)
{
    int errors = 0;
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        char name[EW_OPT_STR_MAX];
        snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", key);
        const struct ew_opt *opt = ew_opt_find(name);
        if (json_is_object(v) && (!opt || opt->type == EW_OPT_MAP)) {
            errors += ew_load_obj(o, v, name, path, text, err);
            continue;
        }
        char buf[EW_OPT_STR_MAX], why[320];
        if (json_is_string(v))
            snprintf(buf, sizeof buf, "%s", json_string_value(v));
        else if (json_is_integer(v))
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        else if (json_is_boolean(v))
            snprintf(buf, sizeof buf, "%s", json_is_true(v) ? "true" : "false");
        else {
            fprintf(err, "%s:%d: %s: expected a string, an integer or a boolean\n", path,
                    ew_line_of(text, key), name);
            errors++;
            continue;
        }
        if (ew_opts_set(o, name, buf, why, sizeof why)) {
            fprintf(err, "%s:%d: %s\n", path, ew_line_of(text, key), why);
            errors++;
        }
    }
    return errors;
}

int ew_opts_load_file(struct ew_opts *o, const char *path, FILE *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(err, "%s:0: cannot open: %s\n", path, strerror(errno));
        return 1;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 8192;
            char *t = realloc(text, cap);
            if (!t) {
                free(text);
                fclose(f);
                fprintf(err, "%s:0: out of memory\n", path);
                return 1;
            }
            text = t;
        }
        size_t got = fread(text + len, 1, 4096, f);
        len += got;
        if (got < 4096)
            break;
    }
    fclose(f);
    text[len] = '\0';
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    int errors;
    if (!root) {
        fprintf(err, "%s:%d: %s\n", path, jerr.line, jerr.text);
        errors = 1;
    } else if (!json_is_object(root)) {
        fprintf(err, "%s:1: expected a JSON object\n", path);
        errors = 1;
    } else {
        errors = ew_load_obj(o, root, "", path, text, err);
    }
    json_decref(root);
    free(text);
    return errors;
}

/* The option's name as written: a map's entries are NAME.KEY. */
static const char *ew_opt_shown(const struct ew_opt *opt, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s", opt->name, opt->type == EW_OPT_MAP ? ".NAME" : "");
    return buf;
}

/* The environment variable of a plain option (ECOWARN_KAFKA_BROKERS). */
static const char *ew_opt_env(const struct ew_opt *opt, char *env, size_t n)
{
    size_t k = (size_t)snprintf(env, n, "ECOWARN_");
    for (const char *p = opt->name; *p && k + 1 < n; p++)
        env[k++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    env[k] = '\0';
    return env;
}

int ew_opts_load_env(struct ew_opts *o, FILE *err)
{
    int errors = 0;
    for (size_t i = 0; i < ew_nopts; i++) {
        if (ew_opt_table[i].type == EW_OPT_MAP)
            continue; /* NAME has dots and underscores: a value names a variable instead */
        char env[EW_OPT_STR_MAX];
        const char *v = getenv(ew_opt_env(&ew_opt_table[i], env, sizeof env));
        char why[320];
        if (v && ew_opts_set(o, ew_opt_table[i].name, v, why, sizeof why)) {
            fprintf(err, "environment:%s: %s\n", env, why);
            errors++;
        }
    }
    return errors;
}

void ew_opts_help(FILE *out)
{
    fprintf(out, "options (config file key, --set NAME=VALUE, or ECOWARN_NAME in the "
                 "environment: dots become underscores, letters upper case; \"reloadable\": "
                 "SIGHUP applies a change, the others apply at the next start):\n");
    for (size_t i = 0; i < ew_nopts; i++) {
        const struct ew_opt *opt = &ew_opt_table[i];
        char name[80];
        fprintf(out, "  %-28s ", ew_opt_shown(opt, name, sizeof name));
        if (opt->type == EW_OPT_MAP)
            fprintf(out, "(%s)", opt->choices);
        else
            fprintf(out, "default %s", *opt->def ? opt->def : "\"\"");
        if (opt->type == EW_OPT_INT)
            fprintf(out, "  [%lld..%lld]", (long long)opt->min, (long long)opt->max);
        if (opt->choices && opt->type != EW_OPT_MAP)
            fprintf(out, "  (%s)", opt->choices);
        if (opt->reload)
            fprintf(out, "  reloadable");
        fprintf(out, "\n      %s\n", opt->help);
    }
}

/* A table cell: '|' would end it. */
static void ew_md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
}

void ew_opts_reference(FILE *out)
{
    fprintf(out, "| option | default | values | SIGHUP | environment | what it does |\n"
                 "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < ew_nopts; i++) {
        const struct ew_opt *opt = &ew_opt_table[i];
        char name[80], env[96];
        fprintf(out, "| `%s` | ", ew_opt_shown(opt, name, sizeof name));
        if (opt->type == EW_OPT_MAP)
            fprintf(out, "(none)");
        else
            fprintf(out, "`%s`", *opt->def ? opt->def : "\"\"");
        fprintf(out, " | ");
        if (opt->type == EW_OPT_INT)
            fprintf(out, "%lld to %lld", (long long)opt->min, (long long)opt->max);
        else if (opt->choices)
            ew_md_cell(out, opt->choices);
        fprintf(out, " | %s | ", opt->reload ? "reloads" : "next start");
        if (opt->type == EW_OPT_MAP)
            fprintf(out, "(a value may be `${VAR}`)");
        else
            fprintf(out, "`%s`", ew_opt_env(opt, env, sizeof env));
        fprintf(out, " | ");
        ew_md_cell(out, opt->help);
        fprintf(out, " |\n");
    }
}

int ew_opts_reloadable(const char *name)
{
    const char *key;
    const struct ew_opt *opt = ew_opt_find(name);
    if (!opt)
        opt = ew_opt_map_of(name, &key);
    return opt ? opt->reload : -1;
}

size_t ew_opts_keep_fixed(struct ew_opts *next, const struct ew_opts *cur,
                          void (*changed)(void *ctx, const char *name), void *ctx)
{
    size_t n = 0;
    for (size_t i = 0; i < ew_nopts; i++) {
        const struct ew_opt *opt = &ew_opt_table[i];
        size_t size = opt->type == EW_OPT_INT ? sizeof(int64_t) : opt->size;
        char *dst = (char *)next + opt->off;
        const char *src = (const char *)cur + opt->off;
        bool same = opt->type == EW_OPT_STR ? !strcmp(dst, src) : !memcmp(dst, src, size);
        if (opt->reload || same)
            continue;
        memcpy(dst, src, size);
        n++;
        if (changed)
            changed(ctx, opt->name);
    }
    return n;
}
