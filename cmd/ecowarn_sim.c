/*
 * ecowarn-sim - a realistic fleet's traffic (CONTRACT.md), deterministic for a given --seed.
 *
 *   ecowarn-sim [--seed N] [--enterprises N] [--first N] [--start ISO] [--duration 6h]
 *               [--realtime 60s]
 *               [--minutes 10m] [--no-hourly] [--format hj212|json] [--anomalies SHARE]
 *               [--brokers LIST] [--rate MSGS_PER_S] [--rate-file FILE]
 *               [--topics HJ212,TELEMETRY,ENTERPRISE]
 *   ecowarn-sim --produce --brokers LIST      lines "TOPIC<TAB>PAYLOAD" from stdin to Kafka
 *
 * The fleet: enterprises numbered from --first (0; another number makes another fleet, of other
 * MNs) with a flue-gas outlet (SO2, NOx, particulate, O2, flow, temperature),
 * a wastewater outlet (COD, NH3-N, total phosphorus, pH, flow), or both, and the running state
 * of the flue-gas treatment facility (2021, SB1-RS, stopped while the values are in fault). Each is
 * registered first with its permitted limits (outlet.upsert). Values sit at 30-60 % of the limit
 * with a diurnal cycle and noise; O2 around 10 % gives the converted values. The data: real-time
 * records every
 * --realtime, minute records every --minutes, hourly records at each hour's end (unless
 * --no-hourly: then ecowarn computes them), from --start (default: --duration before now) on.
 *
 * What the e-enterprise platform says comes first: each outlet's registration (with its district,
 * region 330602, 330603 or 330604), the production line and treatment facility power meters its
 * logger reads (facility.upsert: ele01 and ele02, sent in its real-time records), an emergency
 * plan on the flow for one enterprise in four, an orange heavy-pollution weather warning for
 * 330602 over the middle third of the run (the enterprises with a plan there cut their flow by
 * a third while it holds), and a permit execution report deadline for each enterprise, due
 * within the run for one in five (their messages' time is the run's start).
 *
 * Anomalies, on a --anomalies share of the outlets (default 0.2), one kind each by turn:
 * over (values at 1.3-1.8x the limit for two hours from a random hour), drift (a ramp that crosses
 * the limit over the second half), flat (the real-time values freeze for the rest), offline (the
 * site sends nothing for two hours), fault (its values are flagged D for an hour), facility_off
 * (its treatment facility draws no power for an hour while production runs), shutdown (a shutdown
 * is declared for two hours and the site goes on running), weather (it has a plan in 330602 and
 * does not cut its flow during the warning). The chosen ones are listed on stderr.
 *
 * Output: to stdout as "TOPIC<TAB>PAYLOAD" lines in time order, or with --brokers to Kafka
 * (key: the MN), at --rate messages per second (0: as fast as it can), sleeping between them.
 * --rate-file FILE: the rate is read from FILE (a number) every 100 ms and counts from then on
 * (a file absent or unreadable leaves it as it was, --rate's at first); with it, a rate of 0
 * pauses the simulator until the file says more (a benchmark changes the rate as it goes); the
 * number of messages sent so far is written to FILE.sent as often (for the rate it achieved).
 */
#include "ew_hj212.h"
#include "ew_recjson.h"
#include "ew_time.h"

#include <librdkafka/rdkafka.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    EW_ANOM_NONE,
    EW_ANOM_OVER,
    EW_ANOM_DRIFT,
    EW_ANOM_FLAT,
    EW_ANOM_OFFLINE,
    EW_ANOM_FAULT,
    EW_ANOM_FACILITY_OFF,
    EW_ANOM_SHUTDOWN,
    EW_ANOM_WEATHER,
    EW_ANOM_COUNT
};
static const char *const ew_anom_names[] = {
    "none", "over", "drift", "flat", "offline", "fault", "facility_off", "shutdown", "weather"};
static const char *const ew_regions[] = {"330602", "330603", "330604"};
/* each district's middle (longitude, latitude): where its enterprises are put on a map */
static const double ew_region_at[][2] = {{120.58, 30.00}, {120.49, 30.08}, {120.87, 30.03}};

struct ew_pol {
    const char *code;
    double limit;   /* hourly limit; 0: none (O2, flow, temperature, pH) */
    double lo, hi;  /* normal range of the value (as a share of the limit when limited) */
    bool converted; /* has a ZsRtd/ZsAvg */
};

static const struct ew_pol ew_air[] = {
    {"a21026", 35, 0.3, 0.6, true},  {"a21002", 50, 0.3, 0.6, true}, {"a34013", 10, 0.3, 0.6, true},
    {"a19001", 0, 9.5, 10.5, false}, {"a00000", 0, 80, 120, false},  {"a01012", 0, 110, 130, false},
};
static const struct ew_pol ew_water[] = {
    {"w01018", 100, 0.3, 0.6, false}, {"w21003", 15, 0.3, 0.6, false},
    {"w21011", 0.5, 0.3, 0.6, false}, {"w01001", 0, 6.8, 7.6, false},
    {"w00000", 0, 8, 15, false},
};

struct ew_outlet_sim {
    char mn[32], enterprise[32], outlet[32], name[64];
    bool water;
    bool plan; /* on the emergency list: its flow is cut during a warning */
    size_t enterprise_no;
    int anomaly;
    int64_t anom_from, anom_to;
    double base[8];   /* per pollutant: its level */
    double frozen[8]; /* flat: the value it froze at */
};

struct ew_sim {
    uint64_t rng;
    size_t noutlets;
    struct ew_outlet_sim *outlets;
    int64_t start, end, rt_ms, min_ms;
    bool hourly, json;
    const char *topics[3];
    rd_kafka_t *rk;
    double rate;
    const char *rate_file; /* read again every 100 ms: the rate from then on (0: paused) */
    double rate_checked;   /* when it was last read, seconds after t0 */
    struct timespec t0;    /* the pace counts from here, at rate... */
    uint64_t paced;        /* ...for the messages sent since this many */
    uint64_t sent, by_topic[3];
    struct ew_record *rec;
    struct ew_buf buf;
};

static double ew_rand(struct ew_sim *s) /* [0, 1) */
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return (double)(s->rng >> 11) / 9007199254740992.0;
}

static double ew_gauss(struct ew_sim *s)
{
    double u = ew_rand(s) + 1e-12, v = ew_rand(s);
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* ---- output ---- */

static double ew_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* FILE.sent: the messages sent so far (written aside and renamed: a reader never sees half). */
static void ew_rate_sent(const struct ew_sim *s)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s.sent", s->rate_file);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    bool ok = fprintf(f, "%llu\n", (unsigned long long)s->sent) > 0;
    if (fclose(f) == 0 && ok)
        rename(tmp, path);
}

/* --rate-file: a new rate counts from now; paused (0) while the file says so. */
static void ew_rate_file(struct ew_sim *s)
{
    for (;;) {
        double elapsed = ew_since(&s->t0);
        if (elapsed - s->rate_checked < 0.1 && s->rate > 0)
            return;
        s->rate_checked = elapsed;
        ew_rate_sent(s);
        FILE *f = fopen(s->rate_file, "r");
        double rate = s->rate;
        if (f) {
            if (fscanf(f, "%lf", &rate) != 1)
                rate = s->rate;
            fclose(f);
        }
        if (rate != s->rate) {
            s->rate = rate;
            clock_gettime(CLOCK_MONOTONIC, &s->t0);
            s->rate_checked = 0;
            s->paced = s->sent;
            if (s->rk)
                rd_kafka_poll(s->rk, 0);
        }
        if (s->rate > 0)
            return;
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
}

static void ew_pace(struct ew_sim *s)
{
    if (s->rate_file)
        ew_rate_file(s);
    if (s->rate <= 0)
        return;
    double elapsed = ew_since(&s->t0);
    double due = (double)(s->sent - s->paced) / s->rate;
    if (due > elapsed) {
        double wait = due - elapsed;
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static int ew_emit(struct ew_sim *s, int topic, const char *key, const char *payload, size_t len)
{
    ew_pace(s);
    s->sent++;
    s->by_topic[topic]++;
    if (!s->rk) {
        printf("%s\t%.*s\n", s->topics[topic], (int)len, payload);
        return 0;
    }
    for (;;) {
        /* what the platform says is sent at the run's start (a deadline is known from then) */
        int64_t ts = topic == 2 && s->start ? s->start : 0;
        rd_kafka_resp_err_t err = rd_kafka_producev(
            s->rk, RD_KAFKA_V_TOPIC(s->topics[topic]), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE((void *)payload, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_END);
        if (!err)
            break;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "ecowarn-sim: produce: %s\n", rd_kafka_err2str(err));
            return -1;
        }
        rd_kafka_poll(s->rk, 50);
    }
    rd_kafka_poll(s->rk, 0);
    return 0;
}

static void ew_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk, (void)opaque;
    if (m->err)
        fprintf(stderr, "ecowarn-sim: delivery failed: %s\n", rd_kafka_err2str(m->err));
}

static rd_kafka_t *ew_producer(const char *brokers)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err) ||
        rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err)) {
        fprintf(stderr, "ecowarn-sim: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, ew_on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk)
        fprintf(stderr, "ecowarn-sim: %s\n", err);
    return rk;
}

/* ---- the fleet ---- */

static void ew_fleet(struct ew_sim *s, size_t first, size_t enterprises, double share)
{
    s->outlets = calloc(2 * enterprises, sizeof *s->outlets);
    size_t n = 0, anomalies = 0;
    for (size_t e = first; e < first + enterprises; e++) {
        for (int w = 0; w < 2; w++) {
            bool water = w == 1;
            if ((water && e % 3 == 0) || (!water && e % 3 == 2))
                continue; /* a third flue gas only, a third water only, a third both */
            struct ew_outlet_sim *o = &s->outlets[n++];
            snprintf(o->enterprise, sizeof o->enterprise, "E%05zu", e);
            snprintf(o->outlet, sizeof o->outlet, "E%05zu-%s", e, water ? "WS01" : "DA001");
            snprintf(o->mn, sizeof o->mn, "33060%09zu%s", e, water ? "W1" : "A1");
            static const char *const kinds[] = {"热电", "印染", "化工", "造纸", "水泥", "制药"};
            snprintf(o->name, sizeof o->name, "绍兴%s企业%zu", kinds[e % 6], e);
            o->water = water;
            o->enterprise_no = e;
            o->plan = e % 4 == 0;
            const struct ew_pol *pols = water ? ew_water : ew_air;
            size_t np = water ? 5 : 6;
            for (size_t p = 0; p < np; p++)
                o->base[p] = pols[p].lo + (pols[p].hi - pols[p].lo) * ew_rand(s);
            if (ew_rand(s) < share) {
                o->anomaly = EW_ANOM_OVER + (int)(anomalies++ % (EW_ANOM_COUNT - 1));
                int64_t span = s->end - s->start;
                o->anom_from = s->start + (int64_t)((0.2 + 0.4 * ew_rand(s)) * (double)span);
                o->anom_from -= (o->anom_from + EW_TZ_OFFSET_MS) % 3600000; /* on the hour */
                o->anom_to = o->anomaly == EW_ANOM_OFFLINE || o->anomaly == EW_ANOM_SHUTDOWN ||
                                     o->anomaly == EW_ANOM_OVER
                                 ? o->anom_from + 2 * 3600000
                             : o->anomaly == EW_ANOM_FAULT || o->anomaly == EW_ANOM_FACILITY_OFF
                                 ? o->anom_from + 3600000
                                 : s->end;
                if (o->anomaly == EW_ANOM_WEATHER) /* on the list, in the warning's district */
                    o->plan = true, o->enterprise_no = e - e % 3;
                char from[EW_TIME_ISO_MAX];
                ew_time_format_iso(o->anom_from, from);
                fprintf(stderr, "ecowarn-sim: anomaly %s at %s (%s) from %s\n",
                        ew_anom_names[o->anomaly], o->mn, o->name, from);
            }
        }
    }
    s->noutlets = n;
}

/* The warning of district 330602: orange over the middle third of the run. */
static bool ew_warned(const struct ew_sim *s, const struct ew_outlet_sim *o, int64_t t)
{
    int64_t span = s->end - s->start;
    return o->enterprise_no % 3 == 0 && t >= s->start + span / 3 && t < s->start + 2 * span / 3;
}

/* One e-enterprise event, sent (its message's time) at the run's start. */
static int ew_tell(struct ew_sim *s, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ew_tell(struct ew_sim *s, const char *key, const char *fmt, ...)
{
    char ev[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ev, sizeof ev, fmt, ap);
    va_end(ap);
    return ew_emit(s, 2, key, ev, n > 0 && (size_t)n < sizeof ev ? (size_t)n : 0);
}

/* What the platform says beside the outlets: meters, plans, the warning, deadlines, declared
 * shutdowns. */
static void ew_register_more(struct ew_sim *s)
{
    char from[EW_TIME_ISO_MAX], to[EW_TIME_ISO_MAX], due[EW_TIME_ISO_MAX];
    int64_t span = s->end - s->start;
    ew_time_format_iso(s->start + span / 3, from);
    ew_time_format_iso(s->start + 2 * span / 3, to);
    ew_tell(s, "330602",
            "{\"type\":\"weather_warning\",\"region\":\"330602\",\"level\":\"orange\","
            "\"from\":\"%s\",\"to\":\"%s\"}",
            from, to);
    for (size_t i = 0; i < s->noutlets; i++) {
        const struct ew_outlet_sim *o = &s->outlets[i];
        ew_tell(s, o->mn,
                "{\"type\":\"facility.upsert\",\"enterprise_id\":\"%s\",\"facility_id\":"
                "\"%s-line\",\"role\":\"production\",\"mn\":\"%s\",\"code\":\"ele01\","
                "\"on_threshold\":50}",
                o->enterprise, o->outlet, o->mn);
        ew_tell(s, o->mn,
                "{\"type\":\"facility.upsert\",\"enterprise_id\":\"%s\",\"facility_id\":"
                "\"%s-treat\",\"role\":\"treatment\",\"mn\":\"%s\",\"code\":\"ele02\","
                "\"on_threshold\":5}",
                o->enterprise, o->outlet, o->mn);
        if (o->plan)
            ew_tell(s, o->mn,
                    "{\"type\":\"emergency.upsert\",\"enterprise_id\":\"%s\",\"mn\":\"%s\","
                    "\"code\":\"%s\",\"baseline\":%d,\"cuts\":{\"yellow\":0.1,\"orange\":"
                    "0.2,\"red\":0.3}}",
                    o->enterprise, o->mn, o->water ? "w00000" : "a00000", o->water ? 15 : 120);
        if (o->anomaly == EW_ANOM_SHUTDOWN) {
            ew_time_format_iso(o->anom_from, from);
            ew_time_format_iso(o->anom_to, to);
            ew_tell(s, o->mn,
                    "{\"type\":\"declaration\",\"enterprise_id\":\"%s\",\"mn\":\"%s\","
                    "\"kind\":\"shutdown\",\"from\":\"%s\",\"to\":\"%s\"}",
                    o->enterprise, o->mn, from, to);
        }
        if (i + 1 < s->noutlets && !strcmp(s->outlets[i + 1].enterprise, o->enterprise))
            continue; /* one deadline an enterprise */
        size_t e = o->enterprise_no;
        int64_t at = s->start + (e % 5 == 0 ? span / 2 : span + (int64_t)(e % 40 + 1) * 86400000);
        ew_time_format_iso(at, due);
        ew_tell(s, o->enterprise,
                "{\"type\":\"deadline\",\"enterprise_id\":\"%s\",\"deadline_id\":"
                "\"%s-report\",\"kind\":\"execution_report\",\"due\":\"%s\",\"title\":"
                "\"排污许可执行报告\"}",
                o->enterprise, o->enterprise, due);
    }
}

/* An enterprise's place: within 0.08 degrees of its district's middle, from its number alone
 * (the random stream the values come from is left as it was). */
static void ew_place(size_t enterprise_no, bool water, double *lon, double *lat)
{
    uint64_t h = (uint64_t)enterprise_no * 0x9E3779B97F4A7C15u;
    h = (h ^ (h >> 31)) * 0xBF58476D1CE4E5B9u;
    h ^= h >> 29;
    const double *mid = ew_region_at[enterprise_no % 3];
    *lon = mid[0] + ((double)(h & 0xffff) / 65535.0 - 0.5) * 0.16 + (water ? 0.002 : 0);
    *lat = mid[1] + ((double)((h >> 16) & 0xffff) / 65535.0 - 0.5) * 0.16;
}

static void ew_register(struct ew_sim *s)
{
    for (size_t i = 0; i < s->noutlets; i++) {
        const struct ew_outlet_sim *o = &s->outlets[i];
        char ev[1024];
        double lon, lat;
        ew_place(o->enterprise_no, o->water, &lon, &lat);
        int n =
            o->water
                ? snprintf(ev, sizeof ev,
                           "{\"type\":\"outlet.upsert\",\"enterprise_id\":\"%s\","
                           "\"enterprise_name\":\"%s\",\"outlet_id\":\"%s\",\"mn\":\"%s\","
                           "\"st\":\"32\",\"region\":\"%s\",\"lon\":%.5f,\"lat\":%.5f,"
                           "\"limits\":{\"w01018\":{\"hour\":100,"
                           "\"day\":100,"
                           "\"unit\":\"mg/L\"},\"w21003\":{\"hour\":15,\"day\":15,\"unit\":"
                           "\"mg/L\"},\"w21011\":{\"hour\":0.5,\"day\":0.5,\"unit\":\"mg/L\"}}}",
                           o->enterprise, o->name, o->outlet, o->mn,
                           ew_regions[o->enterprise_no % 3], lon, lat)
                : snprintf(ev, sizeof ev,
                           "{\"type\":\"outlet.upsert\",\"enterprise_id\":\"%s\","
                           "\"enterprise_name\":\"%s\",\"outlet_id\":\"%s\",\"mn\":\"%s\","
                           "\"st\":\"31\",\"region\":\"%s\",\"lon\":%.5f,\"lat\":%.5f,"
                           "\"o2_ref\":6,\"limits\":{\"a21026\":{"
                           "\"hour\":35,"
                           "\"day\":35,\"unit\":\"mg/m3\"},\"a21002\":{\"hour\":50,\"day\":50,"
                           "\"unit\":\"mg/m3\"},\"a34013\":{\"hour\":10,\"day\":10,\"unit\":"
                           "\"mg/m3\"}}}",
                           o->enterprise, o->name, o->outlet, o->mn,
                           ew_regions[o->enterprise_no % 3], lon, lat);
        ew_emit(s, 2, o->mn, ev, (size_t)n);
    }
    ew_register_more(s);
}

/* The value of pollutant p at time t (the shape the anomalies give it). */
static double ew_value(struct ew_sim *s, struct ew_outlet_sim *o, size_t p, int64_t t, char *flag)
{
    const struct ew_pol *pol = (o->water ? ew_water : ew_air) + p;
    int64_t local = t + EW_TZ_OFFSET_MS;
    double hour = (double)(local % 86400000) / 3600000;
    double diurnal = 1 + 0.15 * sin(2 * M_PI * (hour - 8) / 24);
    double v = o->base[p] * (pol->limit > 0 ? diurnal : 1) * (1 + 0.04 * ew_gauss(s));
    *flag = 'N';
    bool in = o->anomaly && t >= o->anom_from && t < o->anom_to;
    if (pol->limit > 0 && in) {
        double k = (double)(t - o->anom_from) / (double)(o->anom_to - o->anom_from + 1);
        if (o->anomaly == EW_ANOM_OVER)
            v = 1.3 + 0.5 * (double)((size_t)o->anom_from / 3600000 % 5) / 4;
        else if (o->anomaly == EW_ANOM_DRIFT)
            v = o->base[p] + (1.25 - o->base[p]) * k;
        else if (o->anomaly == EW_ANOM_FAULT)
            *flag = 'D';
    }
    if (o->anomaly == EW_ANOM_FLAT && in) {
        if (o->frozen[p] == 0)
            o->frozen[p] = v;
        v = o->frozen[p];
    }
    double x = pol->limit > 0 ? v * pol->limit : v;
    bool flow = !strcmp(pol->code, "a00000") || !strcmp(pol->code, "w00000");
    if (flow && o->plan && o->anomaly != EW_ANOM_WEATHER && ew_warned(s, o, t))
        x *= 0.65; /* the emergency plan's cut, and a little more */
    if (flow && o->plan && o->anomaly == EW_ANOM_WEATHER)
        x = (o->water ? 15 : 120) * (1 + 0.02 * ew_gauss(s)); /* at its baseline, cut or not */
    return x < 0 ? 0 : x;
}

static void ew_add_value(struct ew_record *rec, const char *code, const char *field, double v,
                         char flag)
{
    struct ew_value *val = &rec->values[rec->nvalues++];
    memset(val, 0, sizeof *val);
    char text[32];
    snprintf(text, sizeof text, "%.3f", v);
    val->code = code;
    val->field_name = field;
    val->field = (uint8_t)ew_field_lookup(field, strlen(field));
    val->text = ew_record_strndup(rec, text, strlen(text));
    val->num = strtod(text, NULL);
    val->flag = flag;
    val->flag_meaning = (uint8_t)ew_flag_meaning(EW_VERSION_2017, flag);
    val->pollutant = ew_pollutant_find(code, strlen(code), EW_MEDIUM_OTHER);
}

/* The treatment facility's running state (2021, SB1-RS: 1 running, 0 stopped) of a flue-gas
 * outlet: stopped while its values are in fault. */
static int ew_facility_out(struct ew_sim *s, struct ew_outlet_sim *o, int64_t t)
{
    struct ew_record *rec = s->rec;
    ew_record_reset(rec);
    rec->mn = o->mn;
    rec->st = "31";
    rec->cn = "2021";
    rec->pw = "123456";
    rec->flag = 4;
    rec->pnum = rec->pno = -1;
    rec->version = EW_VERSION_2017;
    rec->kind = EW_KIND_STATE;
    rec->has_time = true;
    rec->data_time = t;
    bool stopped = o->anomaly == EW_ANOM_FAULT && t >= o->anom_from && t < o->anom_to;
    ew_add_value(rec, "SB1", "RS", stopped ? 0 : 1, '\0');
    rec->values[0].text = stopped ? "0" : "1";
    ew_buf_clear(&s->buf);
    int rc = s->json ? ew_record_to_json(rec, 0, &s->buf) : ew_hj212_encode(rec, &s->buf);
    if (rc)
        return rc;
    size_t len = s->buf.len;
    while (len && (s->buf.data[len - 1] == '\n' || s->buf.data[len - 1] == '\r'))
        len--;
    return ew_emit(s, s->json ? 1 : 0, o->mn, s->buf.data, len);
}

/* One record of the outlet at t: real-time (2011), minute (2051) or hourly (2061). */
static int ew_record_out(struct ew_sim *s, struct ew_outlet_sim *o, const char *cn, int64_t t)
{
    struct ew_record *rec = s->rec;
    ew_record_reset(rec);
    rec->mn = o->mn;
    rec->st = o->water ? "32" : "31";
    rec->cn = cn;
    rec->pw = "123456";
    rec->flag = 4; /* the 2017 edition, no acknowledgement wanted */
    rec->pnum = rec->pno = -1;
    rec->version = EW_VERSION_2017;
    rec->kind = (uint8_t)ew_kind_from_cn(cn);
    rec->has_time = true;
    rec->data_time = t;
    /* QN as the standard writes it: the request's time to the millisecond, YYYYMMDDhhmmsszzz */
    char qn[32];
    ew_time_format_qn(t, qn);
    rec->qn = ew_record_strndup(rec, qn, strlen(qn));
    bool rt = !strcmp(cn, "2011");
    const struct ew_pol *pols = o->water ? ew_water : ew_air;
    size_t np = o->water ? 5 : 6;
    double o2 = 10;
    for (size_t p = 0; p < np; p++) {
        char flag;
        double v = ew_value(s, o, p, t, &flag);
        if (!strcmp(pols[p].code, "a19001"))
            o2 = v;
        double zs = v * (21 - 6) / (21 - o2);
        if (rt) {
            ew_add_value(rec, pols[p].code, "Rtd", v, flag);
            if (pols[p].converted)
                ew_add_value(rec, pols[p].code, "ZsRtd", zs, flag);
        } else {
            ew_add_value(rec, pols[p].code, "Avg", v, flag);
            if (pols[p].converted)
                ew_add_value(rec, pols[p].code, "ZsAvg", zs, flag);
            ew_add_value(rec, pols[p].code, "Min", v * 0.9, flag);
            ew_add_value(rec, pols[p].code, "Max", v * 1.1, flag);
        }
    }
    if (rt) { /* the power meters the logger reads: the production line, the treatment facility */
        bool off = o->anomaly == EW_ANOM_FACILITY_OFF && t >= o->anom_from && t < o->anom_to;
        ew_add_value(rec, "ele01", "Rtd", 300 * (1 + 0.03 * ew_gauss(s)), 'N');
        ew_add_value(rec, "ele02", "Rtd", off ? 0.3 : 40 * (1 + 0.03 * ew_gauss(s)), 'N');
    }
    ew_buf_clear(&s->buf);
    int rc = s->json ? ew_record_to_json(rec, 0, &s->buf) : ew_hj212_encode(rec, &s->buf);
    if (rc) {
        fprintf(stderr, "ecowarn-sim: cannot encode a record of %s: %s\n", o->mn, ew_strerror(rc));
        return rc;
    }
    size_t len = s->buf.len;
    while (len && (s->buf.data[len - 1] == '\n' || s->buf.data[len - 1] == '\r'))
        len--;
    return ew_emit(s, s->json ? 1 : 0, o->mn, s->buf.data, len);
}

static int ew_run(struct ew_sim *s)
{
    ew_register(s);
    for (int64_t t = s->start; t < s->end; t += s->rt_ms) {
        for (size_t i = 0; i < s->noutlets; i++) {
            struct ew_outlet_sim *o = &s->outlets[i];
            if (o->anomaly == EW_ANOM_OFFLINE && t >= o->anom_from && t < o->anom_to)
                continue;
            if (ew_record_out(s, o, "2011", t))
                return 1;
            int64_t next = t + s->rt_ms;
            /* a minute interval or an hour that ends within this step: its record now */
            for (int64_t m = t - t % s->min_ms; m + s->min_ms <= next; m += s->min_ms)
                if (m + s->min_ms > t && m >= s->start &&
                    (ew_record_out(s, o, "2051", m) || (!o->water && ew_facility_out(s, o, m))))
                    return 1;
            int64_t h = t - (t + EW_TZ_OFFSET_MS) % 3600000;
            if (s->hourly && h + 3600000 > t && h + 3600000 <= next && h >= s->start &&
                ew_record_out(s, o, "2061", h))
                return 1;
        }
    }
    return 0;
}

/* --produce: "TOPIC<TAB>PAYLOAD" lines to Kafka, the key being the payload's MN. */
static int ew_produce_stdin(struct ew_sim *s)
{
    static char line[1 << 20];
    int status = 0;
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        char *tab = strchr(line, '\t');
        if (!tab) {
            if (n)
                fprintf(stderr, "ecowarn-sim: expected TOPIC<TAB>PAYLOAD, skipping a line\n");
            status = n ? 1 : status;
            continue;
        }
        *tab = '\0';
        const char *payload = tab + 1;
        char key[64] = "";
        const char *mn = strstr(payload, "MN=");
        const char *jmn = strstr(payload, "\"mn\":\"");
        if (mn)
            sscanf(mn + 3, "%63[^;&]", key);
        else if (jmn)
            sscanf(jmn + 6, "%63[^\"]", key);
        s->topics[0] = line; /* the line names its topic */
        if (ew_emit(s, 0, key, payload, strlen(payload)))
            return 1;
    }
    return status;
}

static int64_t ew_duration(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    int64_t unit = *end == 'h' ? 3600000 : *end == 'm' ? 60000 : *end == 'd' ? 86400000 : 1000;
    return (int64_t)(v * (double)unit);
}

int main(int argc, char **argv)
{
    struct ew_sim s = {.rng = 42,
                       .rt_ms = 60000,
                       .min_ms = 600000,
                       .hourly = true,
                       .topics = {"ecowarn.hj212", "ecowarn.telemetry", "ecowarn.enterprise"},
                       .buf = EW_BUF_INIT};
    size_t enterprises = 20, first = 0;
    double share = 0.2;
    int64_t duration = 6 * 3600000LL, start = INT64_MIN;
    const char *brokers = NULL;
    bool produce = false;
    char topics_arg[512];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-hourly"))
            s.hourly = false;
        else if (!strcmp(a, "--produce"))
            produce = true;
        else if (!v || !strncmp(v, "--", 2) || !strcmp(a, "--help")) {
            fprintf(stderr,
                    "usage: ecowarn-sim [--seed N] [--enterprises N] [--first N] [--start ISO] "
                    "[--duration 6h] [--realtime 60s] [--minutes 10m] [--no-hourly] "
                    "[--format hj212|json] [--anomalies SHARE] [--brokers LIST] "
                    "[--rate MSGS_PER_S] [--rate-file FILE] [--topics A,B,C]\n"
                    "       ecowarn-sim --produce --brokers LIST < TOPIC<TAB>PAYLOAD\n");
            return strcmp(a, "--help") ? 2 : 0;
        } else {
            i++;
            if (!strcmp(a, "--seed"))
                s.rng = strtoull(v, NULL, 10) * 2654435761u + 1;
            else if (!strcmp(a, "--enterprises"))
                enterprises = (size_t)atol(v);
            else if (!strcmp(a, "--first"))
                first = (size_t)atol(v);
            else if (!strcmp(a, "--start")) {
                if (ew_time_parse_iso(v, strlen(v), &start)) {
                    fprintf(stderr, "ecowarn-sim: --start: not an ISO 8601 time\n");
                    return 2;
                }
            } else if (!strcmp(a, "--duration"))
                duration = ew_duration(v);
            else if (!strcmp(a, "--realtime"))
                s.rt_ms = ew_duration(v);
            else if (!strcmp(a, "--minutes"))
                s.min_ms = ew_duration(v);
            else if (!strcmp(a, "--format"))
                s.json = !strcmp(v, "json");
            else if (!strcmp(a, "--anomalies"))
                share = atof(v);
            else if (!strcmp(a, "--brokers"))
                brokers = v;
            else if (!strcmp(a, "--rate"))
                s.rate = atof(v);
            else if (!strcmp(a, "--rate-file"))
                s.rate_file = v;
            else if (!strcmp(a, "--topics")) {
                snprintf(topics_arg, sizeof topics_arg, "%s", v);
                char *t1 = strtok(topics_arg, ","), *t2 = strtok(NULL, ","),
                     *t3 = strtok(NULL, ",");
                if (!t1 || !t2 || !t3) {
                    fprintf(stderr, "ecowarn-sim: --topics needs three names\n");
                    return 2;
                }
                s.topics[0] = t1, s.topics[1] = t2, s.topics[2] = t3;
            } else {
                fprintf(stderr, "ecowarn-sim: unknown option %s\n", a);
                return 2;
            }
        }
    }
    if (s.rt_ms < 1000 || s.min_ms < 60000 || s.min_ms > 3600000 || 3600000 % s.min_ms ||
        duration <= 0 || enterprises == 0 || first > 100000000) {
        fprintf(stderr, "ecowarn-sim: --realtime at least 1s, --minutes a divisor of 1h, "
                        "--duration and --enterprises above zero\n");
        return 2;
    }
    if (brokers && !(s.rk = ew_producer(brokers)))
        return 1;
    if (produce && !s.rk) {
        fprintf(stderr, "ecowarn-sim: --produce needs --brokers\n");
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &s.t0);
    int rc;
    if (produce) {
        rc = ew_produce_stdin(&s);
    } else {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t now_ms = (int64_t)now.tv_sec * 1000 - 60000;
        if (start == INT64_MIN) /* the last --duration before now, from a whole minute */
            start = (now_ms - duration) - (now_ms - duration) % 60000;
        s.start = start;
        s.end = start + duration;
        s.rec = ew_record_new();
        ew_fleet(&s, first, enterprises, share);
        rc = s.rec ? ew_run(&s) : 1;
        ew_record_free(s.rec);
        free(s.outlets);
    }
    if (s.rk) {
        if (rd_kafka_flush(s.rk, 30000))
            fprintf(stderr, "ecowarn-sim: %d messages not delivered\n", rd_kafka_outq_len(s.rk)),
                rc = 1;
        rd_kafka_destroy(s.rk);
    }
    if (!produce)
        fprintf(stderr, "ecowarn-sim: %s %llu, %s %llu, %s %llu\n", s.topics[0],
                (unsigned long long)s.by_topic[0], s.topics[1], (unsigned long long)s.by_topic[1],
                s.topics[2], (unsigned long long)s.by_topic[2]);
    fprintf(stderr, "ecowarn-sim: %llu messages\n", (unsigned long long)s.sent);
    ew_buf_release(&s.buf);
    return rc;
}
