/*
 * ew_hj212.h - HJ 212 (2005, 2017, 2025) packet codec. Sans-I/O: bytes in, a normalized record
 * (ew_record.h) or an error with its code, byte offset and reason out; record in, packet out.
 *
 * Packet: "##" + 4 decimal digits (length of the data segment) + data segment + 4 hex digits
 * (CRC of the data segment) + CR LF. The trailing CR LF is optional on input.
 *
 * Checks, in order, each stopping at the first failure:
 *   too_long        input longer than a packet can be, or a declared length over the limit;
 *   malformed       the frame: "##", 4 digits, a data segment ending in "&&", 4 hex digits;
 *   length_mismatch the length field disagrees with the data segment;
 *   crc_mismatch    the CRC (hex in either case) disagrees with the data segment;
 *   malformed       the data segment's fields (missing MN/ST/CN, CP=&&, bad DataTime...);
 *   too_long        more values or parameters than the record holds.
 * The frame is located by its structure before the length is compared, so a packet whose CP
 * is cut short is reported as malformed, not as a length mismatch.
 */
#ifndef EW_HJ212_H
#define EW_HJ212_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ew_buf.h"
#include "ew_error.h"
#include "ew_record.h"

#define EW_HJ212_MAX_DATA   9999 /* the 4-digit length field's maximum */
#define EW_HJ212_FRAME      10   /* "##" + length + CRC */
#define EW_HJ212_MAX_PACKET (EW_HJ212_FRAME + EW_HJ212_MAX_DATA + 2)

struct ew_hj212_opts {
    bool legacy_crc;   /* also accept CRC-16/MODBUS with its two bytes swapped */
    size_t max_data;   /* data segment limit; 0 means EW_HJ212_MAX_DATA */
    size_t max_values; /* value limit; 0 means EW_RECORD_MAX_VALUES */
};

/* The standard's CRC (Appendix A) of len bytes. */
uint16_t ew_hj212_crc(const void *data, size_t len);
/* CRC-16/MODBUS with its bytes swapped, as some old loggers send it. */
uint16_t ew_hj212_crc_legacy(const void *data, size_t len);

/* Turns the vector paths (AVX2, where the CPU has it) off or back on, for every caller: the
 * portable paths give the same answers, and tests compare the two. */
void ew_hj212_use_simd(bool on);

/* Turns the memo of resolved value keys (on by default) off or back on, for every caller: a
 * hit gives what resolving the key again would, and tests compare the two. */
void ew_hj212_use_memo(bool on);

/* Decodes one packet of len bytes into rec (reset first). opts may be NULL for defaults.
 * Returns 0, or a negative EW_E* code with err (may be NULL) filled. rec does not keep
 * pointers into buf. Never allocates. */
int ew_hj212_decode(const void *buf, size_t len, const struct ew_hj212_opts *opts,
                    struct ew_record *rec, struct ew_error *err);

/* Appends rec as one packet with correct length and CRC, ending in CR LF.
 * Returns 0; EW_EINVAL when a text would not read back the same (a delimiter or control byte
 * where the frame forbids it, a parameter named DataTime or PolId...) or mn/st/cn are missing;
 * EW_ETOO_LONG when the data segment would exceed 9,999 bytes; EW_ENOMEM. On error out->len is
 * unchanged. */
int ew_hj212_encode(const struct ew_record *rec, struct ew_buf *out);

#endif
