/* ew_rulefiles.c - rule files read from a directory (see ew_rulefiles.h). */
#include "ew_rulefiles.h"

#include "ew_alloc.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EW_RULEFILE_MAX (4 << 20)

static int ew_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ew_load_file(struct ew_ruleset *set, const char *path, struct ew_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ew_error_set(err, EW_EINVAL, 0, "%s: %s", path, strerror(errno));
    char *buf = ew_malloc(EW_RULEFILE_MAX);
    int rc = EW_ENOMEM;
    if (buf) {
        size_t n = fread(buf, 1, EW_RULEFILE_MAX, f);
        if (n == EW_RULEFILE_MAX)
            rc = ew_error_set(err, EW_ETOO_LONG, 0, "%s: larger than %d bytes", path,
                              EW_RULEFILE_MAX);
        else
            rc = ew_ruleset_add_json(set, buf, n, path, err);
    } else {
        ew_error_set(err, rc, 0, "%s: out of memory", path);
    }
    ew_free(buf);
    fclose(f);
    return rc;
}

int ew_rulefiles_load_dir(struct ew_ruleset *set, const char *dir, struct ew_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return ew_error_set(err, EW_EINVAL, 0, "%s: %s", dir, strerror(errno));
    char *names[256];
    size_t n = 0;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d)) && rc == 0;) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".json"))
            continue;
        if (n == sizeof names / sizeof names[0])
            rc = ew_error_set(err, EW_ETOO_LONG, 0, "%s: more than %zu rule files", dir,
                              sizeof names / sizeof names[0]);
        else if (!(names[n] = ew_malloc(strlen(dir) + len + 2)))
            rc = ew_error_set(err, EW_ENOMEM, 0, "%s: out of memory", dir);
        else
            sprintf(names[n++], "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (rc == 0 && n == 0)
        rc = ew_error_set(err, EW_EINVAL, 0, "%s: no *.json rule file", dir);
    qsort(names, n, sizeof names[0], ew_name_cmp);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = ew_load_file(set, names[i], err);
        ew_free(names[i]);
    }
    return rc ? rc : ew_ruleset_link(set, err);
}
