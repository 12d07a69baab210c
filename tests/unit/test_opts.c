/*
 * Unit tests: the option table and the whole configuration (config/ew_opts.h, ew_config.h,
 * ew_url.h): defaults, the config file, the environment and --set in that order of
 * precedence, bounds and choices, unknown names, the reloadable column, the strict parsing of
 * redis.url (with its user and password), kafka.properties passed through and checked by
 * librdkafka, and secrets named as ${VAR} or ${file:PATH} (ew_secret.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ew_config.h"
#include "ew_opts.h"
#include "ew_secret.h"
#include "ew_url.h"

/* A config file in a temporary directory, with text. */
static void write_file(char *path, size_t n, const char *name, const char *text)
{
    snprintf(path, n, "%s/ew_test_opts_%ld_%s", P_tmpdir, (long)getpid(), name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* What a load printed, for the assertions. */
struct out {
    char *text;
    size_t len;
    FILE *f;
};

static void out_open(struct out *o)
{
    o->text = NULL;
    o->f = open_memstream(&o->text, &o->len);
    assert_non_null(o->f);
}

static void out_close(struct out *o)
{
    fclose(o->f);
}

/* Loads a configuration from src; what it printed is in out->text (freed by the caller). */
static int load(const struct ew_config_src *src, struct ew_config *c, struct out *out)
{
    out_open(out);
    int errors = ew_config_load(src, c, out->f);
    out_close(out);
    return errors;
}

static void test_defaults(void **state)
{
    (void)state;
    struct ew_opts o;
    ew_opts_defaults(&o);
    assert_string_equal(o.kafka_brokers, "embedded");
    assert_string_equal(o.redis_url, "redis://127.0.0.1:6379/0");
    assert_string_equal(o.redis_prefix, "ecowarn:");
    assert_int_equal(o.kafka_batch, 500);
    assert_int_equal(o.engine_reorder_ms, 60000);
    assert_string_equal(o.state_file, "");
}

static void test_set_checks_type_bounds_and_choices(void **state)
{
    (void)state;
    struct ew_opts o;
    char why[320];
    ew_opts_defaults(&o);
    assert_int_equal(ew_opts_set(&o, "kafka.batch", "100000", why, sizeof why), 0);
    assert_int_equal(o.kafka_batch, 100000);
    assert_int_equal(ew_opts_set(&o, "kafka.batch", "100001", why, sizeof why), -1);
    assert_non_null(strstr(why, "out of bounds [1, 100000]"));
    assert_int_equal(o.kafka_batch, 100000); /* a refused value changes nothing */
    assert_int_equal(ew_opts_set(&o, "kafka.batch", "12x", why, sizeof why), -1);
    assert_non_null(strstr(why, "not an integer"));
    assert_int_equal(ew_opts_set(&o, "kafka.batch", "", why, sizeof why), -1);
    assert_int_equal(ew_opts_set(&o, "engine.lang", "en", why, sizeof why), 0);
    assert_int_equal(ew_opts_set(&o, "engine.lang", "fr", why, sizeof why), -1);
    assert_non_null(strstr(why, "not one of zh|en"));
    assert_int_equal(ew_opts_set(&o, "kafka.brokerz", "x", why, sizeof why), -1);
    assert_non_null(strstr(why, "unknown option \"kafka.brokerz\""));
    char longv[400];
    memset(longv, 'a', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    assert_int_equal(ew_opts_set(&o, "redis.prefix", longv, why, sizeof why), -1);
    assert_non_null(strstr(why, "longer than"));
}

/* default < file < environment < --set, each only for the options it names */
static void test_precedence(void **state)
{
    (void)state;
    char path[512];
    write_file(path, sizeof path, "prec.json",
               "{\n  \"kafka\": {\"brokers\": \"file:9092\", \"group_id\": \"from-file\",\n"
               "             \"batch\": 7},\n  \"redis.prefix\": \"file:\",\n"
               "  \"rules\": {\"dir\": \"" EW_RULES_DIR "\"}\n}\n");
    setenv("ECOWARN_KAFKA_BROKERS", "env:9092", 1);
    setenv("ECOWARN_KAFKA_GROUP_ID", "from-env", 1);
    const char *sets[] = {"kafka.group_id=from-set", "kafka.batch=9", "kafka.batch=11"};
    struct ew_config_src src = {path, sets, 3};
    struct ew_config c;
    struct out out;
    assert_int_equal(load(&src, &c, &out), 0);
    assert_string_equal(c.opts.kafka_brokers, "env:9092");  /* env over file */
    assert_string_equal(c.opts.kafka_group_id, "from-set"); /* --set over env */
    assert_int_equal(c.opts.kafka_batch, 11);               /* the last --set wins */
    assert_string_equal(c.opts.redis_prefix, "file:");      /* file over default */
    assert_int_equal(c.opts.redis_timeout_ms, 3000);        /* nobody named it */
    assert_non_null(c.rules);
    assert_true(ew_ruleset_count(c.rules) > 0);
    assert_int_equal(c.redis.port, 6379);
    ew_config_release(&c);
    assert_null(c.rules);
    unsetenv("ECOWARN_KAFKA_BROKERS");
    unsetenv("ECOWARN_KAFKA_GROUP_ID");
    free(out.text);
    unlink(path);
}

/* Every problem is one file:line: reason line, and nothing is left loaded. */
static void test_errors_name_file_and_line(void **state)
{
    (void)state;
    char path[512];
    write_file(path, sizeof path, "bad.json",
               "{\n  \"kafka\": {\n    \"batch\": 0\n  },\n  \"nope\": 1,\n"
               "  \"redis\": {\"url\": \"redis://h:12x/0\"}\n}\n");
    setenv("ECOWARN_REDIS_TIMEOUT_MS", "-5", 1);
    const char *sets[] = {"novalue", "log.level=loud"};
    struct ew_config_src src = {path, sets, 2};
    struct ew_config c;
    struct out out;
    int errors = load(&src, &c, &out);
    unsetenv("ECOWARN_REDIS_TIMEOUT_MS");
    assert_int_equal(errors, 6);
    char want[600];
    snprintf(want, sizeof want, "%s:3: kafka.batch: 0 is out of bounds", path);
    assert_non_null(strstr(out.text, want));
    snprintf(want, sizeof want, "%s:5: unknown option \"nope\"", path);
    assert_non_null(strstr(out.text, want));
    assert_non_null(strstr(out.text, "environment:ECOWARN_REDIS_TIMEOUT_MS: redis.timeout_ms"));
    assert_non_null(strstr(out.text, "--set:1: expected NAME=VALUE"));
    assert_non_null(strstr(out.text, "--set:2: log.level: \"loud\" is not one of"));
    assert_non_null(strstr(out.text, "redis.url \"redis://h:12x/0\""));
    assert_null(c.rules);
    free(out.text);
    unlink(path);
}

static void test_bad_rule_dir(void **state)
{
    (void)state;
    const char *sets[] = {"rules.dir=/nonexistent/ecowarn-rules"};
    struct ew_config_src src = {NULL, sets, 1};
    struct ew_config c;
    struct out out;
    assert_int_equal(load(&src, &c, &out), 1);
    assert_non_null(strstr(out.text, "/nonexistent/ecowarn-rules"));
    assert_null(c.rules);
    free(out.text);
}

static void test_reloadable_column(void **state)
{
    (void)state;
    assert_int_equal(ew_opts_reloadable("rules.dir"), 1);
    assert_int_equal(ew_opts_reloadable("log.level"), 1);
    assert_int_equal(ew_opts_reloadable("redis.max_buffered"), 1);
    assert_int_equal(ew_opts_reloadable("redis.stream_maxlen"), 1);
    assert_int_equal(ew_opts_reloadable("kafka.brokers"), 0);
    assert_int_equal(ew_opts_reloadable("redis.url"), 0);
    assert_int_equal(ew_opts_reloadable("redis.prefix"), 0);
    assert_int_equal(ew_opts_reloadable("engine.reorder_ms"), 0);
    assert_int_equal(ew_opts_reloadable("no.such"), -1);
    struct out out;
    out_open(&out);
    ew_opts_help(out.f);
    out_close(&out);
    const char *line = strstr(out.text, "  log.level");
    assert_non_null(line);
    assert_true(strstr(line, "reloadable") < strchr(line, '\n'));
    line = strstr(out.text, "  kafka.brokers");
    assert_true(!strstr(line, "reloadable") || strstr(line, "reloadable") > strchr(line, '\n'));
    free(out.text);
}

static void note_changed(void *ctx, const char *name)
{
    struct out *o = ctx;
    fprintf(o->f, "%s\n", name);
}

/* A reload keeps what runs for the options it may not change, and says which ones differed. */
static void test_keep_fixed(void **state)
{
    (void)state;
    struct ew_opts cur, next;
    char why[320];
    ew_opts_defaults(&cur);
    ew_opts_defaults(&next);
    assert_int_equal(ew_opts_keep_fixed(&next, &cur, NULL, NULL), 0);
    ew_opts_set(&cur, "redis.prefix", "a-much-longer-prefix:", why, sizeof why);
    ew_opts_set(&cur, "redis.prefix", "x:", why, sizeof why); /* a shorter one over it */
    ew_opts_set(&next, "redis.prefix", "x:", why, sizeof why);
    assert_int_equal(ew_opts_keep_fixed(&next, &cur, NULL, NULL), 0); /* the same text */
    ew_opts_set(&next, "kafka.brokers", "other:9092", why, sizeof why);
    ew_opts_set(&next, "engine.reorder_ms", "5", why, sizeof why);
    ew_opts_set(&next, "log.level", "debug", why, sizeof why);
    ew_opts_set(&next, "redis.max_buffered", "500", why, sizeof why);
    struct out out;
    out_open(&out);
    assert_int_equal(ew_opts_keep_fixed(&next, &cur, note_changed, &out), 2);
    out_close(&out);
    assert_string_equal(out.text, "kafka.brokers\nengine.reorder_ms\n");
    assert_string_equal(next.kafka_brokers, "embedded");
    assert_int_equal(next.engine_reorder_ms, 60000);
    assert_string_equal(next.log_level, "debug"); /* reloadable: the new value */
    assert_int_equal(next.redis_max_buffered, 500);
    free(out.text);
}

static void test_redis_url(void **state)
{
    (void)state;
    struct ew_redis_addr a;
    char why[256];
    assert_int_equal(ew_redis_url_parse("redis://127.0.0.1:6380/3", &a, why, sizeof why), 0);
    assert_false(a.unix_socket);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 6380);
    assert_int_equal(a.db, 3);
    assert_int_equal(ew_redis_url_parse("redis://cache.local", &a, why, sizeof why), 0);
    assert_string_equal(a.host, "cache.local");
    assert_int_equal(a.port, 6379);
    assert_int_equal(a.db, 0);
    assert_int_equal(ew_redis_url_parse("redis://[::1]:7000/", &a, why, sizeof why), 0);
    assert_string_equal(a.host, "::1");
    assert_int_equal(a.port, 7000);
    assert_int_equal(ew_redis_url_parse("unix:///run/redis/redis.sock", &a, why, sizeof why), 0);
    assert_true(a.unix_socket);
    assert_string_equal(a.host, "/run/redis/redis.sock");
    static const char *const bad[] = {
        "redis://h:12x/0", /* the old parser read 12 */
        "redis://h:0/0",
        "redis://h:65536",
        "redis://h:6379/0x",
        "redis://h:6379/1/2",
        "redis://:6379/0",
        "redis://h/0?x=1",
        "redis://h/0#f",
        "redis://u@h/0",
        "redis://u:@h/0",
        "redis://u:p%4@h/0",
        "redis://u:p%00@h/0",
        "unix://:p@/run/redis.sock",
        "http://h:6379/0",
        "h:6379",
        "unix://",
        "unix://host/sock",
        "redis://h:6379/-1",
        "",
        "redis://h :1/0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        if (ew_redis_url_parse(bad[i], &a, why, sizeof why) != -1)
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_true(why[0] != '\0');
    }
}

/* user:password@ and :password@, percent-decoded; printed only redacted. */
static void test_redis_url_credentials(void **state)
{
    (void)state;
    struct ew_redis_addr a;
    char why[256], shown[128];
    assert_int_equal(
        ew_redis_url_parse("redis://ecowarn:p%40ss%3Aw%2Fd@h:6380/2", &a, why, sizeof why), 0);
    assert_string_equal(a.user, "ecowarn");
    assert_string_equal(a.password, "p@ss:w/d");
    assert_string_equal(a.host, "h");
    assert_int_equal(a.port, 6380);
    assert_int_equal(a.db, 2);
    assert_int_equal(ew_redis_url_parse("redis://:secret@h/0", &a, why, sizeof why), 0);
    assert_string_equal(a.user, "");
    assert_string_equal(a.password, "secret");
    assert_int_equal(ew_redis_url_parse("redis://h/0", &a, why, sizeof why), 0);
    assert_string_equal(a.password, "");
    assert_string_equal(ew_url_redact("redis://u:secret@h:1/0", shown, sizeof shown),
                        "redis://***@h:1/0");
    assert_string_equal(ew_url_redact("redis://u:se@cr/et@h:1/0", shown, sizeof shown),
                        "redis://***@h:1/0");
    assert_string_equal(ew_url_redact("redis://h:1/0", shown, sizeof shown), "redis://h:1/0");
    assert_string_equal(ew_url_redact("unix:///run/r.sock", shown, sizeof shown),
                        "unix:///run/r.sock");
}

/* ${VAR} and ${file:PATH}, inside other text; errors name the variable or file, never a value. */
static void test_secret_expand(void **state)
{
    (void)state;
    char out[64], why[256], path[256];
    setenv("EW_TEST_SECRET", "s3cr3t", 1);
    unsetenv("EW_TEST_UNSET");
    write_file(path, sizeof path, "secret", "from-a-file\nsecond line\n");
    char in[512];
    snprintf(in, sizeof in, "a-${EW_TEST_SECRET}-${file:%s}-z", path);
    assert_int_equal(ew_secret_expand(in, out, sizeof out, why, sizeof why), 0);
    assert_string_equal(out, "a-s3cr3t-from-a-file-z");
    assert_int_equal(ew_secret_expand("no reference", out, sizeof out, why, sizeof why), 0);
    assert_string_equal(out, "no reference");
    assert_int_equal(ew_secret_expand("${EW_TEST_UNSET}", out, sizeof out, why, sizeof why), -1);
    assert_non_null(strstr(why, "EW_TEST_UNSET"));
    assert_int_equal(ew_secret_expand("${file:/nonexistent/x}", out, sizeof out, why, sizeof why),
                     -1);
    assert_non_null(strstr(why, "/nonexistent/x"));
    assert_int_equal(ew_secret_expand("${EW_TEST_SECRET", out, sizeof out, why, sizeof why), -1);
    assert_int_equal(ew_secret_expand("${}", out, sizeof out, why, sizeof why), -1);
    assert_int_equal(ew_secret_expand("${EW_TEST_SECRET}", out, 4, why, sizeof why), -1);
    assert_null(strstr(why, "s3cr3t"));
    unlink(path);
}

/* kafka.properties: from the file (nested or dotted), --set, later wins in place; a reload
 * keeps them; librdkafka checks them; ecowarn's own are refused; a secret never printed. */
static void test_kafka_properties(void **state)
{
    (void)state;
    char path[256];
    write_file(path, sizeof path, "props.json",
               "{\"kafka\": {\"properties\": {\"security.protocol\": \"SASL_PLAINTEXT\",\n"
               "  \"sasl\": {\"mechanism\": \"PLAIN\"}, \"socket.keepalive.enable\": true,\n"
               "  \"fetch.wait.max.ms\": 20}},\n \"rules\": {\"dir\": \"" EW_RULES_DIR "\"}}\n");
    setenv("EW_TEST_KPASS", "kafka-secret", 1);
    const char *sets[] = {"kafka.properties.sasl.mechanism=SCRAM-SHA-512",
                          "kafka.properties.sasl.username=ecowarn",
                          "kafka.properties.sasl.password=${EW_TEST_KPASS}"};
    struct ew_config_src src = {path, sets, 3};
    struct ew_config c;
    struct out out;
    assert_int_equal(load(&src, &c, &out), 0);
    free(out.text);
    const char *v, *names[8], *values[8];
    size_t n = 0;
    for (const char *k = ew_props_next(&c.kafka, NULL, &v); k && n < 8;
         k = ew_props_next(&c.kafka, k, &v), n++)
        names[n] = k, values[n] = v;
    assert_int_equal(n, 6);
    assert_string_equal(names[0], "security.protocol");
    assert_string_equal(names[1], "sasl.mechanism");
    assert_string_equal(values[1], "SCRAM-SHA-512"); /* --set over the file, in its place */
    assert_string_equal(values[2], "true");
    assert_string_equal(values[3], "20");
    assert_string_equal(names[5], "sasl.password");
    assert_string_equal(values[5], "kafka-secret"); /* expanded where it is used */
    assert_int_equal(ew_opts_reloadable("kafka.properties.sasl.password"), 0);
    struct ew_opts next;
    ew_opts_defaults(&next);
    assert_int_equal(ew_opts_keep_fixed(&next, &c.opts, NULL, NULL), 1);
    assert_memory_equal(&next.kafka_properties, &c.opts.kafka_properties,
                        sizeof next.kafka_properties);
    ew_config_release(&c);

    static const struct {
        const char *set, *says;
    } bad[] = {
        {"kafka.properties.group.id=x", "kafka.properties.group.id: set by ecowarn itself"},
        {"kafka.properties.no.such.property=1", "No such configuration property"},
        {"kafka.properties.fetch.wait.max.ms=soon", "kafka.properties.fetch.wait.max.ms: Invalid"},
        {"kafka.properties.ssl.key.password=${EW_TEST_UNSET}", "EW_TEST_UNSET is not set"},
        {"kafka.properties=x", "expected kafka.properties.NAME=VALUE"},
        {"kafka.properties.partition.assignment.strategy=cooperative-sticky", "eagerly"},
        {"redis.url=redis://u:kafka-secret@h:notaport/0", "redis.url \"redis://***@h:notaport/0\""},
    };
    unsetenv("EW_TEST_UNSET");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ew_config_src one = {path, &bad[i].set, 1};
        if (load(&one, &c, &out) == 0)
            fail_msg("%s was accepted", bad[i].set);
        if (!strstr(out.text, bad[i].says))
            fail_msg("%s: \"%s\" not in: %s", bad[i].set, bad[i].says, out.text);
        assert_null(strstr(out.text, "kafka-secret")); /* never printed */
        free(out.text);
    }
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_set_checks_type_bounds_and_choices),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_errors_name_file_and_line),
        cmocka_unit_test(test_bad_rule_dir),
        cmocka_unit_test(test_reloadable_column),
        cmocka_unit_test(test_keep_fixed),
        cmocka_unit_test(test_redis_url),
        cmocka_unit_test(test_redis_url_credentials),
        cmocka_unit_test(test_secret_expand),
        cmocka_unit_test(test_kafka_properties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
