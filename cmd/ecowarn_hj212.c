/*
 * ecowarn-hj212 - the HJ 212 codec on the command line (CONTRACT.md).
 *
 *   ecowarn-hj212 decode [--legacy-crc]   packets in, one per line; one JSON object out per line
 *   ecowarn-hj212 encode                  JSON records in, one per line; packets out (CR LF)
 *
 * decode prints a verdict for every non-blank input line, so its output lines match its input
 * lines; it exits 0 whatever the verdicts. encode reports a record it cannot encode on stderr
 * with its line number and exits 1 at the end.
 */
#include "ew_hj212.h"
#include "ew_recjson.h"

#include <stdio.h>
#include <string.h>

#define EW_JSON_LINE_MAX (1 << 20)

/* Reads one line (without its '\n') into buf. Returns 0 at end of input, 1 for a line, 2 for a
 * line longer than cap (consumed and discarded; *len is how much was kept). */
static int ew_read_line(FILE *in, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    int c, over = 0;
    while ((c = getc(in)) != EOF && c != '\n') {
        if (n < cap)
            buf[n++] = (char)c;
        else
            over = 1;
    }
    *len = n;
    if (c == EOF && n == 0 && !over)
        return 0;
    return over ? 2 : 1;
}

static int ew_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

static int ew_cmd_decode(int legacy)
{
    static char line[EW_HJ212_MAX_PACKET + 2];
    struct ew_hj212_opts opts = {.legacy_crc = legacy};
    struct ew_record *rec = ew_record_new();
    struct ew_buf out = EW_BUF_INIT;
    if (!rec) {
        fprintf(stderr, "ecowarn-hj212: out of memory\n");
        return 1;
    }
    size_t n;
    int r, status = 0;
    while ((r = ew_read_line(stdin, line, sizeof line, &n)) != 0) {
        if (r == 1 && ew_blank(line, n))
            continue;
        struct ew_error err = {0};
        ew_buf_clear(&out);
        int rc = r == 2 ? ew_error_set(&err, EW_ETOO_LONG, sizeof line,
                                       "line longer than the largest legal packet (%zu bytes)",
                                       (size_t)EW_HJ212_MAX_PACKET)
                        : ew_hj212_decode(line, n, &opts, rec, &err);
        if (rc == 0)
            ew_record_to_json(rec, 1, &out);
        else
            ew_error_to_json(&err, &out);
        ew_buf_addc(&out, '\n');
        if (out.err || fwrite(out.data, 1, out.len, stdout) != out.len) {
            fprintf(stderr, "ecowarn-hj212: cannot write output\n");
            status = 1;
            break;
        }
    }
    ew_buf_release(&out);
    ew_record_free(rec);
    return status;
}

static int ew_cmd_encode(void)
{
    static char line[EW_JSON_LINE_MAX];
    struct ew_record *rec = ew_record_new();
    struct ew_buf out = EW_BUF_INIT;
    if (!rec) {
        fprintf(stderr, "ecowarn-hj212: out of memory\n");
        return 1;
    }
    size_t n;
    int r, status = 0;
    for (long lineno = 1; (r = ew_read_line(stdin, line, sizeof line, &n)) != 0; lineno++) {
        if (r == 1 && ew_blank(line, n))
            continue;
        struct ew_error err = {0};
        int rc = r == 2 ? ew_error_set(&err, EW_ETOO_LONG, sizeof line, "line longer than %d bytes",
                                       EW_JSON_LINE_MAX)
                        : ew_record_from_json(line, n, rec, &err);
        if (rc) {
            if (err.line)
                fprintf(stderr, "ecowarn-hj212: line %ld:%d: %s: %s\n", lineno, err.column,
                        ew_errname(rc), err.detail);
            else
                fprintf(stderr, "ecowarn-hj212: line %ld: %s: %s\n", lineno, ew_errname(rc),
                        err.detail);
            status = 1;
            continue;
        }
        ew_buf_clear(&out);
        rc = ew_hj212_encode(rec, &out);
        if (rc) {
            fprintf(stderr, "ecowarn-hj212: line %ld: cannot encode: %s\n", lineno,
                    ew_strerror(rc));
            status = 1;
            continue;
        }
        if (fwrite(out.data, 1, out.len, stdout) != out.len) {
            fprintf(stderr, "ecowarn-hj212: cannot write output\n");
            status = 1;
            break;
        }
    }
    ew_buf_release(&out);
    ew_record_free(rec);
    return status;
}

static void ew_usage(FILE *f)
{
    fputs("usage: ecowarn-hj212 decode [--legacy-crc] < packets > records.jsonl\n"
          "       ecowarn-hj212 encode < records.jsonl > packets\n"
          "\n"
          "decode  one HJ 212 packet per line (trailing CR LF optional) -> one JSON object per\n"
          "        line: the normalized record with \"ok\": true, or\n"
          "        {\"ok\": false, \"error\": CODE, \"offset\": BYTE, \"detail\": TEXT}, CODE one "
          "of\n"
          "        malformed, length_mismatch, crc_mismatch, too_long. Blank lines are skipped.\n"
          "  --legacy-crc  also accept CRC-16/MODBUS with its two bytes swapped (old loggers)\n"
          "encode  one normalized JSON record per line -> one packet per line with correct\n"
          "        length and CRC, ending in CR LF\n",
          f);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "decode")) {
        int legacy = 0;
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--legacy-crc")) {
                legacy = 1;
            } else {
                fprintf(stderr, "ecowarn-hj212: unknown option '%s'\n", argv[i]);
                ew_usage(stderr);
                return 2;
            }
        }
        return ew_cmd_decode(legacy);
    }
    if (argc == 2 && !strcmp(argv[1], "encode"))
        return ew_cmd_encode();
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        ew_usage(stdout);
        return 0;
    }
    ew_usage(stderr);
    return 2;
}
