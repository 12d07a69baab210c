/*
 * ew_secret.c - ${VAR} and ${file:PATH} in configuration values (see ew_secret.h).
 */
#include "ew_secret.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends len bytes of s at out[*k]; false when they do not fit (with the final NUL). */
static bool ew_put(char *out, size_t n, size_t *k, const char *s, size_t len)
{
    if (*k + len + 1 > n)
        return false;
    memcpy(out + *k, s, len);
    *k += len;
    return true;
}

/* The first line of the file at path into buf (no line end). */
static int ew_secret_file(const char *path, char *buf, size_t n, char *why, size_t wn)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, wn, "secret file %s: %s", path, strerror(errno));
        return -1;
    }
    bool got = fgets(buf, (int)n, f) != NULL;
    fclose(f);
    if (!got)
        buf[0] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

int ew_secret_expand(const char *in, char *out, size_t n, char *why, size_t wn)
{
    size_t k = 0;
    for (const char *p = in; *p;) {
        const char *ref = strstr(p, "${");
        if (!ref) {
            if (!ew_put(out, n, &k, p, strlen(p)))
                goto too_long;
            break;
        }
        const char *end = strchr(ref + 2, '}');
        if (!end) {
            snprintf(why, wn, "\"${\" without its \"}\"");
            return -1;
        }
        if (!ew_put(out, n, &k, p, (size_t)(ref - p)))
            goto too_long;
        char name[512], value[4096];
        const char *v = value;
        size_t len = (size_t)(end - ref - 2);
        if (!len || len >= sizeof name) {
            snprintf(why, wn, "expected ${VAR} or ${file:PATH}");
            return -1;
        }
        memcpy(name, ref + 2, len);
        name[len] = '\0';
        if (!strncmp(name, "file:", 5)) {
            if (ew_secret_file(name + 5, value, sizeof value, why, wn))
                return -1;
        } else {
            if (!(v = getenv(name))) {
                snprintf(why, wn, "environment variable %s is not set", name);
                return -1;
            }
        }
        if (!ew_put(out, n, &k, v, strlen(v)))
            goto too_long;
        p = end + 1;
    }
    out[k] = '\0';
    return 0;
too_long:
    snprintf(why, wn, "longer than %zu bytes once expanded", n - 1);
    return -1;
}
