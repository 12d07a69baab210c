/*
 * ew_pollutant.h - the pollutant code table (HJ 212-2017 Appendix B, in ecowarn's own form).
 *
 * Every entry is static and lives for the whole program: pointers to entries and to their
 * strings may be kept anywhere without copying. The table is generated into
 * ew_pollutant_table.inc by tools/gen_pollutants.py.
 */
#ifndef EW_POLLUTANT_H
#define EW_POLLUTANT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ew_swar.h"

enum ew_medium { EW_MEDIUM_OTHER = 0, EW_MEDIUM_AIR, EW_MEDIUM_WATER };

struct ew_pollutant {
    const char *code;     /* 2017 code, e.g. "a21026" (families end in "xx", e.g. "e101xx") */
    const char *code2005; /* 2005 code, e.g. "02", or "" when the 2005 edition had none */
    const char *name;     /* Chinese name as in the standard */
    const char *name_en;  /* English name, "" when the table has none */
    const char *unit;     /* unit symbol ("mg/m³", "L/s"...), "" when dimensionless */
    enum ew_medium medium;
    uint64_t key;     /* code packed by ew_pollutant_pack, for integer comparisons */
    uint64_t key2005; /* code2005 packed, 0 when none */
};

/* A code of up to 8 bytes as an integer, first byte lowest; 0 for an empty or longer code
 * (no code in the table is longer than 8 bytes). */
static inline uint64_t ew_pollutant_pack(const char *code, size_t len)
{
    uint64_t k = 0;
    if (len > 8)
        return 0;
    for (size_t i = 0; i < len; i++)
        k |= (uint64_t)(unsigned char)code[i] << (8 * i);
    return k;
}

/* Looks a code up as sent: a 2017 code, a 2005 code, or a member of a 2017 family
 * ("e10103" belongs to "e101xx"). A 2005 code matches only when its medium fits `medium`
 * (EW_MEDIUM_OTHER accepts any): a flue-gas packet's "023" is a vendor code, not the 2005
 * water code for total chromium. Returns the static entry, or NULL for an unknown code. */
const struct ew_pollutant *ew_pollutant_find(const char *code, size_t len, enum ew_medium medium);

/* ew_pollutant_find for a code already packed with ew_pollutant_pack (0 finds nothing). */
const struct ew_pollutant *ew_pollutant_find_key(uint64_t key, enum ew_medium medium);

/* The medium that a system code (ST) monitors: 21 and 32 water, 22, 31 and 39 air. */
enum ew_medium ew_medium_of_st(const char *st);

/* Iteration over the whole table, for tools and tests. */
size_t ew_pollutant_count(void);
const struct ew_pollutant *ew_pollutant_at(size_t i);

#endif
