/*
 * ew_opts.h - ecowarnd's options: one table drives the config file, --set NAME=VALUE, the
 * environment (ECOWARN_KAFKA_BROKERS for kafka.brokers...), the defaults, the bounds, --help and
 * --check-config, and says which options SIGHUP may change. Precedence, lowest first: default,
 * config file, environment, --set.
 */
#ifndef EW_OPTS_H
#define EW_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define EW_OPT_STR_MAX 256
#define EW_PROPS_MAX   16384

/* Properties passed through to a library as they are (kafka.properties.NAME=VALUE): NAME\0VALUE\0
 * pairs, in the order first set (a later value replaces an earlier one in place). Plain bytes:
 * copied and compared as a whole. */
struct ew_props {
    size_t len;
    char text[EW_PROPS_MAX];
};

struct ew_opts {
    char kafka_brokers[EW_OPT_STR_MAX]; /* "embedded": an in-process mock cluster */
    char kafka_group_id[EW_OPT_STR_MAX];
    char topic_hj212[EW_OPT_STR_MAX];
    char topic_telemetry[EW_OPT_STR_MAX];
    char topic_enterprise[EW_OPT_STR_MAX];
    int64_t kafka_batch;
    int64_t kafka_commit_interval_ms;
    int64_t kafka_embedded_partitions;
    int64_t kafka_session_timeout_ms;
    struct ew_props kafka_properties; /* librdkafka properties, values as written (${...}) */
    char redis_url[EW_OPT_STR_MAX];
    char redis_prefix[64];
    int64_t redis_timeout_ms;
    int64_t redis_max_buffered;
    int64_t redis_stream_maxlen;
    int64_t redis_reconnect_max_ms;
    int64_t redis_batch_ms;
    int64_t redis_checkpoint_ms;
    int64_t redis_checkpoint_sites;
    char http_listen[EW_OPT_STR_MAX];
    char http_token[EW_OPT_STR_MAX];
    char rules_dir[EW_OPT_STR_MAX];
    int64_t engine_max_sites;
    char engine_lang[8];
    int64_t engine_allowed_lateness_ms;
    int64_t engine_reorder_ms;
    int64_t engine_average_grace_ms;
    int64_t engine_tick_ms;
    int64_t engine_idle_partition_ms;
    int64_t engine_sweep_batch;
    char state_file[EW_OPT_STR_MAX];
    int64_t state_interval_ms;
    char log_level[16];
    int64_t split_timeout_ms;
    int64_t split_max_groups;
};

/* Walks a property list: pass NULL first, then what it returned; NULL at the end. */
const char *ew_props_next(const struct ew_props *p, const char *name, const char **value);

/* Sets NAME to VALUE (replacing it). Returns 0, or -1 when the list is full. */
int ew_props_set(struct ew_props *p, const char *name, const char *value);

/* Fills every option with its default. */
void ew_opts_defaults(struct ew_opts *o);

/* Sets one option from text ("kafka.brokers", "a:9092"). Returns 0, or -1 with why filled
 * (unknown option, not a number, out of bounds, too long, not one of the choices). */
int ew_opts_set(struct ew_opts *o, const char *name, const char *value, char *why, size_t n);

/* Reads a JSON config file: nested objects ({"kafka": {"brokers": ...}}) or dotted names.
 * Unknown keys and bad values are errors. Each error is printed to err as "file:line: reason";
 * returns the number of errors (0: all good). */
int ew_opts_load_file(struct ew_opts *o, const char *path, FILE *err);

/* Applies ECOWARN_* environment variables; errors as above (file "environment"). */
int ew_opts_load_env(struct ew_opts *o, FILE *err);

/* Prints every option with its default, its bounds, whether it is reloadable and what it does. */
void ew_opts_help(FILE *out);

/* The same as a Markdown table: the configuration reference of docs/OPERATING.md. */
void ew_opts_reference(FILE *out);

/* 1 when SIGHUP may change the option, 0 when it applies at the next start, -1 unknown. */
int ew_opts_reloadable(const char *name);

/* For a reload: every option of next that a reload may not change takes its value in cur
 * (what runs), and `changed` (may be NULL) is called with the name of each whose value
 * differed. Returns how many differed. */
size_t ew_opts_keep_fixed(struct ew_opts *next, const struct ew_opts *cur,
                          void (*changed)(void *ctx, const char *name), void *ctx);

#endif
