/*
 * conformance_pollutant_table CSV - ecowarn's generated pollutant table agrees with the
 * standard's Appendix B table (../shared/data/hj212/pollutant-codes.csv): every code is there
 * with its 2005 code and its Chinese name, and nothing is in the table that the CSV lacks.
 * Exits 77 (skipped) when the file is absent.
 */
#include "ew_pollutant.h"

#include "../testutil.h"

#include <string.h>

/* Splits one CSV line into up to n fields in place (double quotes group commas). */
static int csv_fields(char *line, char **f, int n)
{
    int k = 0;
    char *p = line;
    while (k < n) {
        if (*p == '"') {
            f[k++] = ++p;
            char *q = strchr(p, '"');
            if (!q)
                return k;
            *q = '\0';
            p = q + 1;
        } else {
            f[k++] = p;
        }
        char *c = strchr(p, ',');
        if (!c)
            return k;
        *c = '\0';
        p = c + 1;
    }
    return k;
}

int main(int argc, char **argv)
{
    char *csv = argc == 2 ? ew_test_read_file(argv[1], NULL) : NULL;
    if (!csv) {
        printf("SKIP: %s not found (the shared table is absent)\n", argc == 2 ? argv[1] : "?");
        return 77;
    }
    int rows = 0, failures = 0, repeats = 0;
    static char seen[1024][16];
    char *save = NULL;
    strtok_r(csv, "\n", &save); /* header */
    for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[4];
        if (csv_fields(line, f, 4) < 4)
            continue;
        rows++;
        int repeat = 0;
        for (int i = 0; i < rows - 1 && i < 1024; i++)
            repeat |= !strcmp(seen[i], f[0]);
        if (rows <= 1024)
            snprintf(seen[rows - 1], sizeof seen[0], "%s", f[0]);
        if (repeat) { /* the standard lists two families twice; the table keeps the first */
            repeats++;
            continue;
        }
        const struct ew_pollutant *p = ew_pollutant_find(f[0], strlen(f[0]), EW_MEDIUM_OTHER);
        if (!p || strcmp(p->code, f[0]) || strcmp(p->code2005, f[2]) || strcmp(p->name, f[1])) {
            fprintf(stderr, "FAIL %s: table has %s/%s/%s, standard %s/%s\n", f[0],
                    p ? p->code : "-", p ? p->code2005 : "-", p ? p->name : "-", f[2], f[1]);
            failures++;
        }
    }
    if ((size_t)(rows - repeats) != ew_pollutant_count()) {
        fprintf(stderr, "FAIL: %d rows in the standard, %zu in the table\n", rows,
                ew_pollutant_count());
        failures++;
    }
    printf("%d passed, %d failed\n", rows - failures, failures);
    free(csv);
    return failures != 0;
}
