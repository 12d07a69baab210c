/* ew_hash.h - FNV-1a over a NUL-terminated string: the hash of every string-keyed table. */
#ifndef EW_HASH_H
#define EW_HASH_H

#include <stdint.h>

static inline uint64_t ew_str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3u;
    return h;
}

#endif
