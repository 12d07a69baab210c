/* testutil.h - small helpers shared by the test programs (not part of any library). */
#ifndef EW_TESTUTIL_H
#define EW_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>

/* Reads a whole file; returns a malloc'd NUL-terminated buffer (caller frees) or NULL. */
static inline char *ew_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = n;
    }
    return buf;
}

#endif
