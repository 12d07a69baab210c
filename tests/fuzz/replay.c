/*
 * replay PATH... - runs a fuzz target's LLVMFuzzerTestOneInput over every file of the given
 * files and directories, so the corpus is an ordinary regression test under any compiler.
 * Fails when a directory holds no input: an empty corpus tests nothing.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    size_t n = 0;
    char *buf = ew_test_read_file(path, &n);
    if (!buf) {
        fprintf(stderr, "cannot read %s\n", path);
        return -1;
    }
    /* exact size: the target must not rely on the NUL the reader adds */
    uint8_t *exact = malloc(n ? n : 1);
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 1;
}

int main(int argc, char **argv)
{
    long inputs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "no such path: %s\n", argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i]) < 0)
                return 1;
            inputs++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            if (run_file(path) < 0)
                return 1;
            inputs++;
        }
        if (d)
            closedir(d);
    }
    printf("replayed %ld inputs\n", inputs);
    return inputs == 0;
}
