/*
 * ew_pollutant.c - lookups in the generated pollutant table.
 *
 * The index is an open-addressing hash of both the 2017 and the 2005 codes (linear probing,
 * load about 0.46), so resolving a code on the hot path costs one short hash and usually one
 * string comparison.
 */
#include "ew_pollutant.h"

#include <stdint.h>
#include <string.h>

#include "ew_pollutant_table.inc"

static uint32_t ew_pollutant__hash(const char *s, size_t n)
{
    uint32_t h = 0x811C9DC5u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x01000193u;
    return h;
}

static int ew_streq(const char *a, const char *s, size_t n)
{
    return strncmp(a, s, n) == 0 && a[n] == '\0';
}

static const struct ew_pollutant *ew_pollutant__exact(const char *code, size_t len,
                                                      enum ew_medium medium)
{
    uint32_t h = ew_pollutant__hash(code, len) % EW__POLLUTANT_SLOTS;
    for (uint16_t slot; (slot = ew_pollutant_slots[h]) != 0; h = (h + 1) % EW__POLLUTANT_SLOTS) {
        const struct ew_pollutant *p = &ew_pollutant_rows[slot - 1];
        if (ew_streq(p->code, code, len))
            return p;
        if (ew_streq(p->code2005, code, len))
            return medium == EW_MEDIUM_OTHER || medium == p->medium ? p : NULL;
    }
    return NULL;
}

const struct ew_pollutant *ew_pollutant_find(const char *code, size_t len, enum ew_medium medium)
{
    if (len == 0)
        return NULL;
    const struct ew_pollutant *p = ew_pollutant__exact(code, len, medium);
    if (p || len != 6)
        return p;
    /* families: the standard numbers instances of a kind of meter as e101xx -> e10101.. */
    char family[6];
    memcpy(family, code, 4);
    family[4] = family[5] = 'x';
    return ew_pollutant__exact(family, 6, EW_MEDIUM_OTHER);
}

enum ew_medium ew_medium_of_st(const char *st)
{
    if (!st)
        return EW_MEDIUM_OTHER;
    if (!strcmp(st, "21") || !strcmp(st, "32"))
        return EW_MEDIUM_WATER;
    if (!strcmp(st, "22") || !strcmp(st, "31") || !strcmp(st, "39"))
        return EW_MEDIUM_AIR;
    return EW_MEDIUM_OTHER;
}

size_t ew_pollutant_count(void)
{
    return EW__POLLUTANT_COUNT;
}

const struct ew_pollutant *ew_pollutant_at(size_t i)
{
    return i < EW__POLLUTANT_COUNT ? &ew_pollutant_rows[i] : NULL;
}
