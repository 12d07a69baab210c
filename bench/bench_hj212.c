/*
 * bench_hj212 [--seconds S] - HJ 212 decode throughput on one core.
 *
 * Prints packets/s and MB/s (decode including CRC and normalization into a record) for:
 *   hourly-300   the typical hourly flue-gas packet of about 300 bytes (the target:
 *                at least 2 million packets/s);
 *   hourly-cold  the same with the memo of value keys off: every key resolved as if new;
 *   mix          real-time, minute and hourly packets of 100 to 1,600 bytes, in the proportions
 *                a fleet sends them (many small real-time packets, fewer large minute ones);
 *   crc-only     the CRC alone over the mix, to show what framing costs;
 *   telemetry-json  the mix's records as the telemetry topic's JSON (ew_record_to_json), read
 *                back (ew_record_from_json): what a JSON telemetry message costs.
 * Packets are built with the project's own encoder, so every one is valid.
 *
 * bench_hj212 --packets N [--pollutants P] decodes exactly N typical hourly packets (with P
 * pollutants, 4 by default) and prints nothing else: for counting instructions
 * (bench/count.sh), which unlike seconds do not depend on what else the machine is doing.
 */
#include "ew_alloc.h"
#include "ew_hj212.h"
#include "ew_recjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct pkt {
    char *data;
    size_t len;
};

/* Builds one packet: `npol` pollutants from the list, each with the fields named in `fields`. */
static struct pkt build(const char *st, const char *cn, int npol, const char *const *fields,
                        int nfields, int seq)
{
    static const char *air[] = {"a21026", "a21002", "a34013", "a19001", "a00000", "a01011",
                                "a01012", "a01013", "a01014", "a21005", "a21024", "a24088"};
    static const char *water[] = {"w01018", "w21003", "w21011", "w21001", "w01001", "w00000",
                                  "w01010", "w01012", "w01017", "w20116", "w20117", "w22001"};
    struct ew_record *rec = ew_record_new();
    char tmp[64];
    rec->qn = ew_record_strndup(rec, "20240122170012345", 17);
    rec->st = st;
    rec->cn = cn;
    rec->pw = "123456";
    snprintf(tmp, sizeof tmp, "33060200000001F%09d", seq);
    rec->mn = ew_record_strndup(rec, tmp, strlen(tmp));
    rec->flag = 4;
    rec->has_time = true;
    rec->data_time = 1705914000000LL;
    const char **codes = strcmp(st, "32") ? air : water;
    for (int p = 0; p < npol && p < 12; p++) {
        for (int f = 0; f < nfields; f++) {
            struct ew_value *v = &rec->values[rec->nvalues++];
            memset(v, 0, sizeof *v);
            v->code = codes[p];
            v->field_name = fields[f];
            snprintf(tmp, sizeof tmp, "%d.%03d", (seq * 7 + p * 13 + f) % 400,
                     (seq * 31 + f) % 1000);
            v->text = ew_record_strndup(rec, tmp, strlen(tmp));
            v->flag = 'N';
        }
    }
    struct ew_buf out = EW_BUF_INIT;
    if (ew_hj212_encode(rec, &out)) {
        fprintf(stderr, "bench: cannot build packet\n");
        exit(1);
    }
    ew_record_free(rec);
    return (struct pkt){out.data, out.len};
}

enum what { DECODE, CRC_ONLY, READ_JSON };

/* Decodes (or checks, or reads as JSON) the set round-robin for `seconds`; returns packets/s
 * and fills *mbs. */
static double run(const struct pkt *set, size_t n, double seconds, double *mbs, enum what what)
{
    struct ew_record *rec = ew_record_new();
    size_t done = 0, bytes = 0, values = 0, next = 0;
    double start = now(), elapsed;
    do {
        for (int rep = 0; rep < 1000; rep++) {
            /* round robin without a 64-bit division per packet, which is not the decoder's */
            const struct pkt *p = &set[next];
            next = next + 1 == n ? 0 : next + 1;
            if (what == CRC_ONLY) {
                values += ew_hj212_crc(p->data + 6, p->len - 12);
            } else {
                int rc = what == DECODE ? ew_hj212_decode(p->data, p->len, NULL, rec, NULL)
                                        : ew_record_from_json(p->data, p->len, rec, NULL);
                if (rc != 0) {
                    fprintf(stderr, "bench: %s failed\n", what == DECODE ? "decode" : "JSON read");
                    exit(1);
                }
                values += rec->nvalues;
            }
            bytes += p->len;
            done++;
        }
        elapsed = now() - start;
    } while (elapsed < seconds);
    ew_record_free(rec);
    if (values == 0)
        fprintf(stderr, "(no values)\n");
    *mbs = (double)bytes / elapsed / 1e6;
    return (double)done / elapsed;
}

int main(int argc, char **argv)
{
    double seconds = 2.0;
    long count = -1;
    int npol = 4;
    if (argc == 3 && !strcmp(argv[1], "--seconds"))
        seconds = atof(argv[2]);
    if ((argc == 3 || argc == 5) && !strcmp(argv[1], "--packets"))
        count = atol(argv[2]);
    if (argc == 5 && !strcmp(argv[3], "--pollutants"))
        npol = atoi(argv[4]);

    static const char *rtd[] = {"Rtd", "ZsRtd"};
    static const char *minute[] = {"Min", "Avg", "Max", "Cou", "ZsMin", "ZsAvg", "ZsMax"};
    static const char *hour[] = {"Avg", "ZsAvg"};
    static const char *hour_full[] = {"Min", "Avg", "Max", "Cou"};

    struct pkt typical[64];
    for (int i = 0; i < 64; i++)
        typical[i] = build("31", "2061", npol, hour, 2, i);

    /* the mix: per logger, 60 real-time packets for each minute packet, and 60 minute packets
     * for each hourly one would be the clock's ratio; loggers send real-time every 30 s or so,
     * so the realistic byte mix weighs real-time 6 : minute 3 : hourly 1 */
    if (count >= 0) {
        struct ew_record *rec = ew_record_new();
        size_t values = 0;
        for (long i = 0; i < count; i++) {
            if (ew_hj212_decode(typical[i % 64].data, typical[i % 64].len, NULL, rec, NULL))
                return 1;
            values += rec->nvalues;
        }
        printf("%ld packets, %zu values, %zu bytes each\n", count, values, typical[0].len);
        ew_record_free(rec);
        return 0;
    }

    struct pkt mix[100];
    size_t nmix = 0;
    for (int i = 0; i < 100; i++) {
        if (i % 10 < 6)
            mix[nmix++] = i % 2 ? build("31", "2011", 1 + i % 3, rtd, 1, i) /* ~100-160 B */
                                : build("31", "2011", 8, rtd, 2, i);        /* ~400 B */
        else if (i % 10 < 9)
            mix[nmix++] =
                build(i % 2 ? "31" : "32", "2051", 6 + i % 5, minute, 7, i); /* 0.8-1.6k */
        else
            mix[nmix++] = build("32", "2061", 10, hour_full, 4, i); /* ~900 B */
    }
    size_t minlen = SIZE_MAX, maxlen = 0, total = 0;
    for (size_t i = 0; i < nmix; i++) {
        minlen = mix[i].len < minlen ? mix[i].len : minlen;
        maxlen = mix[i].len > maxlen ? mix[i].len : maxlen;
        total += mix[i].len;
    }

    double mbs;
    printf("bench_hj212: %.1f s per case, one core\n", seconds);
    double pps = run(typical, 64, seconds, &mbs, DECODE);
    printf("%-12s %5zu B/packet  %10.0f packets/s  %8.1f MB/s\n", "hourly-300", typical[0].len, pps,
           mbs);
    /* the same packets with every key resolved again, as if each were new (the memo off) */
    ew_hj212_use_memo(false);
    pps = run(typical, 64, seconds, &mbs, DECODE);
    ew_hj212_use_memo(true);
    printf("%-12s %5zu B/packet  %10.0f packets/s  %8.1f MB/s  (key memo off)\n", "hourly-cold",
           typical[0].len, pps, mbs);
    pps = run(mix, nmix, seconds, &mbs, DECODE);
    printf("%-12s %5zu B/packet  %10.0f packets/s  %8.1f MB/s  (%zu..%zu B)\n", "mix", total / nmix,
           pps, mbs, minlen, maxlen);
    pps = run(mix, nmix, seconds, &mbs, CRC_ONLY);
    printf("%-12s %5zu B/packet  %10.0f packets/s  %8.1f MB/s\n", "crc-only", total / nmix, pps,
           mbs);
    struct pkt json[100];
    struct ew_record *rec = ew_record_new();
    total = 0;
    for (size_t i = 0; i < nmix; i++) {
        struct ew_buf b = EW_BUF_INIT;
        if (ew_hj212_decode(mix[i].data, mix[i].len, NULL, rec, NULL) ||
            ew_record_to_json(rec, 0, &b)) {
            fprintf(stderr, "bench: cannot build JSON\n");
            return 1;
        }
        json[i] = (struct pkt){b.data, b.len};
        total += b.len;
    }
    ew_record_free(rec);
    pps = run(json, nmix, seconds, &mbs, READ_JSON);
    printf("%-12s %5zu B/record  %10.0f records/s  %8.1f MB/s\n", "telemetry-json", total / nmix,
           pps, mbs);
    for (size_t i = 0; i < nmix; i++)
        ew_free(json[i].data);
    for (size_t i = 0; i < nmix; i++)
        ew_free(mix[i].data);
    for (int i = 0; i < 64; i++)
        ew_free(typical[i].data);
    return 0;
}
