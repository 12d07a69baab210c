/*
 * ew_swar.h - eight bytes at a time in one 64-bit word ("SIMD within a register"), for the
 * parsers' short fields: codes, numbers, times, keys.
 *
 * A word holds its bytes first byte lowest, as memory does on a little-endian machine. The
 * tests below set a byte's high bit (0x80) exactly for the bytes they name: no carry crosses
 * from one byte into the next, because a byte's low 7 bits plus at most 0x7F stay below 0x100.
 */
#ifndef EW_SWAR_H
#define EW_SWAR_H

#include <stdint.h>
#include <string.h>

/* The 8 bytes at p as one word, first byte lowest. p must be readable for 8 bytes. */
static inline uint64_t ew_load8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* The 4 bytes at p as the low half of a word, first byte lowest (one load: compilers merge
 * the bytes). */
static inline uint64_t ew_load4(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint64_t)u[0] | (uint64_t)u[1] << 8 | (uint64_t)u[2] << 16 | (uint64_t)u[3] << 24;
}

/* 0x80 in each byte of x that is 10 or more: with x = bytes ^ '0' repeated, the bytes that are
 * not ASCII digits. */
static inline uint64_t ew_swar_over9(uint64_t x)
{
    return (((x & 0x7F7F7F7F7F7F7F7Fu) + 0x7676767676767676u) | x) & 0x8080808080808080u;
}

/* 0x80 in each byte of x that is zero: with x = bytes ^ c repeated, the bytes equal to c. */
static inline uint64_t ew_swar_zero(uint64_t x)
{
    return ~(((x & 0x7F7F7F7F7F7F7F7Fu) + 0x7F7F7F7F7F7F7F7Fu) | x) & 0x8080808080808080u;
}

#endif
