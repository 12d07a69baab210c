/*
 * ew_config.h - the daemon's whole configuration, built and checked in one place: the options
 * (defaults, file, environment, --set; ew_opts.h), what they mean once parsed (the Redis
 * address) and the compiled rules. A reload builds a complete new one and swaps it in whole,
 * or keeps the running one (nginx's cycle); nothing patches a live configuration field by
 * field.
 */
#ifndef EW_CONFIG_H
#define EW_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "ew_opts.h"
#include "ew_rules.h"
#include "ew_url.h"

struct ew_config {
    struct ew_opts opts;
    struct ew_redis_addr redis;      /* redis.url, its secrets expanded, parsed */
    struct ew_props kafka;           /* kafka.properties, their secrets expanded and checked */
    char http_token[EW_OPT_STR_MAX]; /* http.token, expanded ("": the dashboard is read-only) */
    struct ew_ruleset *rules;        /* owned; NULL once handed to the engine (which steals it) */
};

/* Where a configuration comes from. */
struct ew_config_src {
    const char *path;        /* the config file, or NULL */
    const char *const *sets; /* NAME=VALUE, in order: later ones win */
    size_t nsets;
};

/* Builds a configuration into out: every option, checked, and every rule file of rules.dir
 * compiled. Each problem is printed to err as "file:line: reason". Returns 0 with out filled
 * (release it with ew_config_release), or the number of problems with out left empty. */
int ew_config_load(const struct ew_config_src *src, struct ew_config *out, FILE *err);

/* Frees what out still owns (its rules, when not handed on). */
void ew_config_release(struct ew_config *c);

#endif
