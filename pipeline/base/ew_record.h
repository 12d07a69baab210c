/*
 * ew_record.h - the normalized record: one HJ 212 packet (or one telemetry JSON message) in
 * the form every other part of ecowarn consumes.
 *
 * A record is a transparent value type with fixed capacity: decoding into it never allocates,
 * so the hot path reuses one record per connection. Every string a record points to lives
 * either in the record's own text arena (valid until the next ew_record_reset or decode into
 * the same record) or in the static pollutant table (valid forever). Nothing in a record is
 * owned by the caller's input buffer: the input may be freed as soon as decoding returns.
 *
 * Invariants after a successful decode:
 *   - mn, st and cn are non-NULL, non-empty;
 *   - nvalues <= EW_RECORD_MAX_VALUES, nparams <= EW_RECORD_MAX_PARAMS;
 *   - every value has code, field_name and text non-NULL; num is finite exactly when
 *     type == EW_VT_NUMBER (or, for EW_VT_TIME, holds epoch milliseconds);
 *   - value codes are 2017 codes whenever the table knows the 2005 code that was sent.
 */
#ifndef EW_RECORD_H
#define EW_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ew_pollutant.h"

#define EW_RECORD_MAX_VALUES 512
#define EW_RECORD_MAX_PARAMS 32
#define EW_RECORD_MAX_NOTES  4 /* what the decoder mended or could not read, said in the record */
/* The arena holds the largest legal data segment (9,999 bytes) with 64 bytes of padding that
 * the HJ 212 decoder reads past its end, and every string a JSON record can bring. */
#define EW_RECORD_TEXT_MAX   16384

/* Protocol edition, from bits 2..5 of the packet's Flag (absent Flag means 2005). */
enum ew_version { EW_VERSION_2005 = 0, EW_VERSION_2017, EW_VERSION_2025, EW_VERSION_UNKNOWN };

/* What a packet carries, from its command code (CN). */
enum ew_data_kind {
    EW_KIND_OTHER = 0,
    EW_KIND_REALTIME, /* 2011: DataTime is the sampling instant */
    EW_KIND_MINUTE,   /* 2051: DataTime is the start of the interval */
    EW_KIND_HOUR,     /* 2061: start of the hour */
    EW_KIND_DAY,      /* 2031: start of the day */
    EW_KIND_STATE,    /* 2021: treatment-facility running state SBxxx-RS */
    EW_KIND_RUNTIME,  /* 2041: facility daily running hours SBxxx-RT */
    EW_KIND_INFO,     /* 3020: field-unit information (-Info) */
    EW_KIND_REPLY,    /* 9011..9015 and the other 9xxx: replies, acks, heartbeats */
};

/* The HJ 212 value suffixes ecowarn knows; anything else is EW_FIELD_OTHER and keeps its
 * spelling in field_name. */
#define EW_FIELD_MAP(X)                                                                            \
    X(RTD, "Rtd")                                                                                  \
    X(ZSRTD, "ZsRtd")                                                                              \
    X(AVG, "Avg")                                                                                  \
    X(ZSAVG, "ZsAvg")                                                                              \
    X(MIN, "Min")                                                                                  \
    X(ZSMIN, "ZsMin")                                                                              \
    X(MAX, "Max")                                                                                  \
    X(ZSMAX, "ZsMax")                                                                              \
    X(COU, "Cou")                                                                                  \
    X(FLAG, "Flag")                                                                                \
    X(EFLAG, "EFlag")                                                                              \
    X(SAMPLETIME, "SampleTime")                                                                    \
    X(RS, "RS")                                                                                    \
    X(RT, "RT")                                                                                    \
    X(INFO, "Info")

enum ew_field {
    EW_FIELD_OTHER = 0,
#define EW__FIELD_ENUM(name, text) EW_FIELD_##name,
    EW_FIELD_MAP(EW__FIELD_ENUM)
#undef EW__FIELD_ENUM
        EW_FIELD_COUNT
};

/* A data flag read with the meaning of its packet's edition (DOMAIN.md, "Data flags"). */
enum ew_flag_meaning {
    EW_FLAG_NONE = 0, /* no flag was sent for this value */
    EW_FLAG_NORMAL,
    EW_FLAG_INSTRUMENT_STOPPED, /* F in 2017/2025 */
    EW_FLAG_SOURCE_STOPPED,     /* F in 2005 */
    EW_FLAG_MAINTENANCE,        /* M */
    EW_FLAG_MANUAL,             /* S */
    EW_FLAG_FAULT,              /* D */
    EW_FLAG_CALIBRATION,        /* C */
    EW_FLAG_OVER_RANGE,         /* T */
    EW_FLAG_COMM_FAILURE,       /* B, 2017/2025 only */
    EW_FLAG_POWER_FAILURE,      /* P, 2005 only */
    EW_FLAG_UNKNOWN,            /* any other letter, or a letter its edition does not define */
};

enum ew_value_type {
    EW_VT_NUMBER = 0, /* num holds the value */
    EW_VT_TEXT,       /* only text is meaningful */
    EW_VT_TIME,       /* SampleTime: num holds epoch milliseconds */
};

struct ew_value {
    const char *code;                     /* normalized pollutant code */
    const char *field_name;               /* canonical suffix, or as sent for unknown ones */
    const char *text;                     /* the value as sent */
    const char *eflag;                    /* extended flag (-EFlag), NULL when absent */
    const char *pol;                      /* PolId the value belongs to (3020 info), or NULL */
    const struct ew_pollutant *pollutant; /* table entry, NULL for unknown codes */
    double num;
    uint8_t field;        /* enum ew_field */
    uint8_t type;         /* enum ew_value_type */
    char flag;            /* flag letter as sent, '\0' when none */
    uint8_t flag_meaning; /* enum ew_flag_meaning */
};

/* A CP item that is not a pollutant value (RtdInterval=30, QnRtn=1, PolId...), kept as text. */
struct ew_param {
    const char *key;
    const char *text;
};

struct ew_record {
    const char *mn, *st, *cn; /* required */
    const char *qn, *pw;      /* NULL when absent */
    int flag;                 /* packet Flag, -1 when absent */
    int pnum, pno;            /* split packets; -1 when absent */
    uint8_t version;          /* enum ew_version */
    uint8_t kind;             /* enum ew_data_kind */
    bool has_time;
    int64_t data_time; /* epoch ms, valid when has_time */
    size_t nvalues;
    size_t nparams;
    struct ew_value values[EW_RECORD_MAX_VALUES];
    struct ew_param params[EW_RECORD_MAX_PARAMS];
    /* What the decoder mended ("stray ',' before CN dropped") or kept as text that should have
     * been something else ("w01018-SampleTime is not a time"); in the arena. The first
     * EW_RECORD_MAX_NOTES are kept, nnotes counts them all. */
    size_t nnotes;
    const char *notes[EW_RECORD_MAX_NOTES];
    size_t text_used;
    char text[EW_RECORD_TEXT_MAX];
};

/* New record (new reference: free with ew_record_free), or NULL when out of memory. */
struct ew_record *ew_record_new(void);
void ew_record_free(struct ew_record *rec);
/* Empties the record; strings previously taken from it become invalid. */
void ew_record_reset(struct ew_record *rec);

/* Takes n bytes plus a NUL (written) from the arena, for the caller to fill. Returns them, or
 * NULL when the arena is full. */
char *ew_record_alloc(struct ew_record *rec, size_t n);
/* Copies n bytes plus a NUL into the arena. Returns the copy, or NULL when the arena is full. */
char *ew_record_strndup(struct ew_record *rec, const char *s, size_t n);
/* Adds a note (printf-style, at most 120 bytes) to the record; counted even when not kept. */
void ew_record_note(struct ew_record *rec, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reads the flag letter with the meaning of the given edition (DOMAIN.md, "Data flags"). */
static inline enum ew_flag_meaning ew_flag_meaning(enum ew_version version, char flag)
{
    bool v2005 = version == EW_VERSION_2005;
    switch (flag) {
    case '\0':
        return EW_FLAG_NONE;
    case 'N':
        return EW_FLAG_NORMAL;
    case 'F':
        return v2005 ? EW_FLAG_SOURCE_STOPPED : EW_FLAG_INSTRUMENT_STOPPED;
    case 'M':
        return EW_FLAG_MAINTENANCE;
    case 'S':
        return EW_FLAG_MANUAL;
    case 'D':
        return EW_FLAG_FAULT;
    case 'C':
        return EW_FLAG_CALIBRATION;
    case 'T':
        return EW_FLAG_OVER_RANGE;
    case 'B':
        return v2005 ? EW_FLAG_UNKNOWN : EW_FLAG_COMM_FAILURE;
    case 'P':
        return v2005 ? EW_FLAG_POWER_FAILURE : EW_FLAG_UNKNOWN;
    default:
        return EW_FLAG_UNKNOWN;
    }
}
const char *ew_flag_meaning_name(enum ew_flag_meaning m);

/* The edition from a packet Flag value (-1: absent, read as 2005). */
enum ew_version ew_version_from_flag(int flag);
/* "2005", "2017", "2025" or "unknown". */
const char *ew_version_name(enum ew_version v);
/* Inverse of ew_version_name; EW_VERSION_UNKNOWN for any other text. */
enum ew_version ew_version_parse(const char *s);

enum ew_data_kind ew_kind_from_cn(const char *cn);
const char *ew_kind_name(enum ew_data_kind k);

/* Canonical suffix for a known field, matched case-insensitively; EW_FIELD_OTHER otherwise. */
enum ew_field ew_field_lookup(const char *s, size_t n);

/* The key ew_field_lookup_key takes: the suffix packed by ew_pollutant_pack (0 when longer
 * than 8 bytes), with its n bytes case-folded. ASCII letters fold with | 0x20; a byte that is
 * not a letter can never fold onto one, so equal keys mean equal names up to case. */
static inline uint64_t ew_field_key(uint64_t packed, size_t n)
{
    return n == 0 || n > 8 ? 0 : packed | (0x2020202020202020u >> (64 - 8 * n));
}

#define EW__K(a, b, c, d, e)                                                                       \
    ((uint64_t)(a) | (uint64_t)(b) << 8 | (uint64_t)(c) << 16 | (uint64_t)(d) << 24 |              \
     (uint64_t)(e) << 32)

/* The known fields by key, in a table without collisions: a key's slot is the top 4 bits of
 * its product with EW__FIELD_MUL (found by search; ew_record.c lists the slots, and a unit
 * test checks every name). Empty slots hold key 0 and EW_FIELD_OTHER. */
#define EW__FIELD_MUL       0xF1E5D7F9FCAFD71Bu
#define EW__FIELD_SLOT(key) ((size_t)(((uint64_t)(key)*EW__FIELD_MUL) >> 60))
struct ew_field_slot {
    uint64_t key;
    uint8_t field;
};
extern const struct ew_field_slot ew_field_slots[16];

/* ew_field_lookup for a key from ew_field_key; s and n are still needed for names longer
 * than 8 bytes (SampleTime). Inline: the decoder calls it for every value. */
static inline enum ew_field ew_field_lookup_key(uint64_t key, const char *s, size_t n)
{
    const struct ew_field_slot *e = &ew_field_slots[EW__FIELD_SLOT(key)];
    if (key)
        return e->key == key ? (enum ew_field)e->field : EW_FIELD_OTHER;
    if (n == 10) { /* longer than 8 bytes: only SampleTime is */
        const char *name = "sampletime";
        for (size_t i = 0; i < n; i++)
            if ((s[i] | 0x20) != name[i])
                return EW_FIELD_OTHER;
        return EW_FIELD_SAMPLETIME;
    }
    return EW_FIELD_OTHER;
}
/* Canonical spelling of a known field; "" for EW_FIELD_OTHER. */
extern const char *const ew_field_names[EW_FIELD_COUNT];
static inline const char *ew_field_name(enum ew_field f)
{
    return (unsigned)f < EW_FIELD_COUNT ? ew_field_names[f] : "";
}

/* Resolves v->code (len bytes) against the pollutant table for a packet of the given medium:
 * sets v->pollutant and, for a 2017 or 2005 code the table knows, points v->code at the table's
 * 2017 code (static), so that equal known codes have equal pointers. */
void ew_value_resolve(struct ew_value *v, size_t len, enum ew_medium medium);
/* The same for a code already packed with ew_pollutant_pack. */
static inline void ew_value_resolve_key(struct ew_value *v, uint64_t key, enum ew_medium medium)
{
    const struct ew_pollutant *p = ew_pollutant_find_key(key, medium);
    v->pollutant = p;
    /* a 2017 or 2005 code becomes the table's own string, so equal codes are equal pointers */
    if (p && (key == p->key || key == p->key2005))
        v->code = p->code;
}

/* Sets flag_meaning on every value from its flag letter and rec->version. */
void ew_record_apply_version(struct ew_record *rec);

/* Parses a decimal number ("-0.052", "1e-3", "231.0") of exactly n bytes. Correctly rounded;
 * the common short forms avoid strtod. Returns false when s is not entirely a number. */
bool ew_parse_number(const char *s, size_t n, double *out);

/* Exact powers of ten, 1e0 to 1e22: each is representable in a double. */
extern const double ew_pow10[23];

/* The value of the k (1..8) digits 0..9 in the low bytes of v, the first digit most
 * significant: shifted so that zeros stand for leading zeros, then combined pairwise with
 * three multiplications (the known eight-digit SWAR method). */
static inline uint64_t ew_digits_value(uint64_t v, unsigned k)
{
    v <<= 8 * (8 - k);
    v = v * 10 + (v >> 8);
    v = (((v & 0x000000FF000000FFu) * (100 + (1000000ull << 32))) +
         (((v >> 16) & 0x000000FF000000FFu) * (1 + (10000ull << 32)))) >>
        32;
    return v & 0xFFFFFFFFu;
}

/* ew_parse_number for text that is followed by at least 8 readable bytes (the HJ 212
 * decoder's arena guarantees it): short numbers are converted 8 digits at a time. Inline: the
 * decoder calls it for every value. */
static inline bool ew_parse_number_padded(const char *s, size_t n, double *out)
{
    /* the common case, at most 8 bytes after the sign, all digits but one '.', is converted
     * in one 8-byte load: the bytes become digit values (a '.' becomes 0x1E), the one byte
     * that is not a digit is found by the high bits of an addition, and squeezed out */
    unsigned c = (unsigned char)s[0];
    size_t i = c == '-' || c == '+';
    size_t len = n - i;
    if (len - 1 >= 8)
        return ew_parse_number(s, n, out);
    uint64_t x = (ew_load8(s + i) ^ 0x3030303030303030u) & (~0ull >> (64 - 8 * len));
    uint64_t nd = ew_swar_over9(x);
    /* the digits are read as 8, the missing ones as zeros after them: the integer is the
     * number times 10^e, where e is 8 less the digits before the '.' (or the end) */
    unsigned e = 8 - (unsigned)len;
    if (nd) {
        unsigned at = (unsigned)__builtin_ctzll(nd) - 7; /* the '.''s bit offset */
        if ((nd & (nd - 1)) || (x >> at & 0xFF) != ('.' ^ '0') || len == 1)
            return ew_parse_number(s, n, out);
        uint64_t below = (nd >> 7) - 1;
        x = (x & below) | ((x >> 8) & ~below);
        e = 8 - at / 8;
    }
    /* at most 8 digits and 10^8: both exact in a double, so the division is correctly rounded
     * (Clinger's fast path), and the same as that of the number and its own power of ten;
     * signed conversions are the cheap ones */
    double d = (double)(int64_t)ew_digits_value(x, 8) / ew_pow10[e];
    *out = c == '-' ? -d : d;
    return true;
}

/* Writes the shortest text that reads back as exactly d (at most 24 bytes + NUL).
 * Returns the length. */
size_t ew_format_number(double d, char out[32]);

#endif
