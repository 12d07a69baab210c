/*
 * ew_config.c - the whole configuration (see ew_config.h).
 */
#include "ew_config.h"

#include "ew_rulefiles.h"

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

/* What the option table cannot check alone: values with a syntax of their own. */
static int ew_config_check(const struct ew_config_src *src, struct ew_config *c, FILE *err)
{
    const char *where = src->path ? src->path : "--set";
    int errors = 0;
    char why[256];
    if (ew_redis_url_parse(c->opts.redis_url, &c->redis, why, sizeof why)) {
        fprintf(err, "%s:0: redis.url \"%s\": %s\n", where, c->opts.redis_url, why);
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
