/* testutil.h - small helpers shared by the test programs (not part of any library). */
#ifndef EW_TESTUTIL_H
#define EW_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ew_alloc.h"

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

/* How many times needle occurs in s (NULL: none). */
static inline size_t ew_test_count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = s; p && (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static inline int ew_test_cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of s (each ending in '\n') in byte order, as a new string (free it): output whose
 * lines may come in another order, compared as a set with its repeats. */
static inline char *ew_test_sorted_lines(const char *s)
{
    size_t len = strlen(s), n = 0;
    char *copy = malloc(len + 1), *out = malloc(len + 1);
    char **lines = malloc((ew_test_count(s, "\n") + 1) * sizeof *lines);
    if (!copy || !out || !lines)
        abort();
    memcpy(copy, s, len + 1);
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n"))
        lines[n++] = line;
    qsort(lines, n, sizeof *lines, ew_test_cmp_line);
    char *end = out;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(lines[i]);
        memcpy(end, lines[i], l);
        end[l] = '\n';
        end += l + 1;
    }
    *end = '\0';
    free(lines);
    free(copy);
    return out;
}

/* An allocator that fails the allocation numbered ew_test_fail_at (from 0, counting from the
 * last ew_test_fail_nth), for the tests that run a path once per failing allocation. */
static long ew_test_fail_at = -1, ew_test_calls;

static inline void *ew_test_failing_malloc(size_t n)
{
    return ew_test_calls++ == ew_test_fail_at ? NULL : malloc(n);
}

/* Routes ew_alloc through the failing allocator, failing allocation nth; -1 restores malloc. */
static inline void ew_test_fail_nth(long nth)
{
    ew_test_calls = 0;
    ew_test_fail_at = nth;
    if (nth < 0)
        ew_set_alloc_funcs(NULL, NULL);
    else
        ew_set_alloc_funcs(ew_test_failing_malloc, free);
}

#endif
