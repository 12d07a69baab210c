/*
 * conformance_samples TSV - every published packet of ../shared/data/hj212/public-samples.tsv
 * gets the verdict listed for it:
 *   ok                           decodes, and survives encode -> decode unchanged;
 *   crc_mismatch, malformed, ... rejected with that error code;
 *   crc_legacy_modbus_swapped    rejected as crc_mismatch by default, decoded with legacy CRC.
 * Exits 77 (skipped) when the file is absent.
 */
#include "ew_hj212.h"
#include "ew_recjson.h"

#include "../testutil.h"

#include <string.h>

static int check(const char *expected, const char *pkt, size_t n, struct ew_record *rec,
                 struct ew_record *back)
{
    struct ew_error err = {0};
    struct ew_hj212_opts legacy = {.legacy_crc = true};
    int rc = ew_hj212_decode(pkt, n, NULL, rec, &err);
    if (!strcmp(expected, "crc_legacy_modbus_swapped")) {
        if (rc != EW_ECRC_MISMATCH)
            return fprintf(stderr, "  default: want crc_mismatch, got %s\n", ew_errname(rc)), 1;
        rc = ew_hj212_decode(pkt, n, &legacy, rec, &err);
        expected = "ok";
    }
    if (strcmp(expected, ew_errname(rc)))
        return fprintf(stderr, "  want %s, got %s (%s)\n", expected, ew_errname(rc), err.detail), 1;
    if (rc)
        return 0;
    struct ew_buf pk = EW_BUF_INIT, a = EW_BUF_INIT, b = EW_BUF_INIT;
    int bad = ew_hj212_encode(rec, &pk) || ew_hj212_decode(pk.data, pk.len, NULL, back, &err) ||
              ew_record_to_json(rec, 1, &a) || ew_record_to_json(back, 1, &b) ||
              strcmp(a.data, b.data);
    if (bad)
        fprintf(stderr, "  round trip differs:\n  %s\n  %s\n", a.data ? a.data : "",
                b.data ? b.data : "");
    ew_buf_release(&pk);
    ew_buf_release(&a);
    ew_buf_release(&b);
    return bad;
}

int main(int argc, char **argv)
{
    char *tsv = argc == 2 ? ew_test_read_file(argv[1], NULL) : NULL;
    if (!tsv) {
        printf("SKIP: %s not found (the shared samples are absent)\n", argc == 2 ? argv[1] : "?");
        return 77;
    }
    struct ew_record *rec = ew_record_new(), *back = ew_record_new();
    int lines = 0, failures = 0;
    for (char *line = strtok(tsv, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#' || !line[0])
            continue;
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = '\0';
        lines++;
        if (check(line, tab + 1, strlen(tab + 1), rec, back)) {
            fprintf(stderr, "FAIL line %d: %.80s\n", lines, tab + 1);
            failures++;
        }
    }
    printf("%d passed, %d failed\n", lines - failures, failures);
    ew_record_free(rec);
    ew_record_free(back);
    free(tsv);
    return failures || lines == 0;
}
