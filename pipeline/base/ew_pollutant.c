/*
 * ew_pollutant.c - lookups in the generated pollutant table.
 *
 * The index is an open-addressing hash (Fibonacci hashing, linear probing, load about 0.46) of
 * both the 2017 and the 2005 codes, packed into 64-bit integers: resolving a code on the hot
 * path costs a multiplication and usually one integer comparison, no string function.
 */
#include "ew_pollutant.h"

#include <stdint.h>
#include <string.h>

#include "ew_pollutant_table.inc"

static unsigned ew_pollutant__slot(uint64_t key)
{
    return (unsigned)((key * 0x9E3779B97F4A7C15u) >> (64 - EW__POLLUTANT_SLOT_BITS));
}

static const struct ew_pollutant *ew_pollutant__exact(uint64_t key, enum ew_medium medium)
{
    const unsigned mask = (1u << EW__POLLUTANT_SLOT_BITS) - 1;
    for (unsigned h = ew_pollutant__slot(key), slot; (slot = ew_pollutant_slots[h]) != 0;
         h = (h + 1) & mask) {
        const struct ew_pollutant *p = &ew_pollutant_rows[slot - 1];
        if (p->key == key)
            return p;
        if (p->key2005 == key)
            return medium == EW_MEDIUM_OTHER || medium == p->medium ? p : NULL;
    }
    return NULL;
}

const struct ew_pollutant *ew_pollutant_find(const char *code, size_t len, enum ew_medium medium)
{
    return ew_pollutant_find_key(ew_pollutant_pack(code, len), medium);
}

const struct ew_pollutant *ew_pollutant_find_key(uint64_t key, enum ew_medium medium)
{
    if (key == 0)
        return NULL;
    const struct ew_pollutant *p = ew_pollutant__exact(key, medium);
    /* a 6-byte code has its 6th byte set and no 7th */
    if (p || (key >> 40) == 0 || (key >> 48) != 0)
        return p;
    /* families: the standard numbers instances of a kind of meter as e101xx -> e10101.. */
    const uint64_t xx = (uint64_t)('x' | 'x' << 8) << 32;
    return ew_pollutant__exact((key & 0xFFFFFFFFu) | xx, EW_MEDIUM_OTHER);
}

enum ew_medium ew_medium_of_st(const char *st)
{
    if (!st || !st[0] || !st[1] || st[2])
        return EW_MEDIUM_OTHER;
    switch ((unsigned char)st[0] << 8 | (unsigned char)st[1]) {
    case '2' << 8 | '1':
    case '3' << 8 | '2':
        return EW_MEDIUM_WATER;
    case '2' << 8 | '2':
    case '3' << 8 | '1':
    case '3' << 8 | '9':
        return EW_MEDIUM_AIR;
    default:
        return EW_MEDIUM_OTHER;
    }
}

size_t ew_pollutant_count(void)
{
    return EW__POLLUTANT_COUNT;
}

const struct ew_pollutant *ew_pollutant_at(size_t i)
{
    return i < EW__POLLUTANT_COUNT ? &ew_pollutant_rows[i] : NULL;
}
