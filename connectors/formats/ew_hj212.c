/*
 * ew_hj212.c - HJ 212 packet decoding and encoding (see ew_hj212.h for the order of checks).
 *
 * Decoding copies the data segment once into the record's text arena, already cut: the
 * classifier writes every byte that ends or splits a field (and every byte that has no place
 * in one) as NUL, and marks it in a bitmap. Every string of the record is a pointer into that
 * one copy (or into the static pollutant table). No allocation. The decoder takes the marked
 * bytes in order by counting zeros in the bitmap, and tells them apart in the input, which
 * keeps them; where one is text after all (a second '=' in a value; ',' '&' '=' in a header
 * value) it goes back into the copy. The bytes are read twice more: the CRC XORs them in the
 * classifier's pass, and the values are converted.
 *
 * Invariant of struct ew_dec during a decode: values [0, group) belong to closed ';' groups,
 * values [group, nvalues) to the open one, and pending[] holds the open group's flags (as
 * the values they would become), each already applied to the values before it; a group's
 * flags that found no value become values of their own when it closes. (A flag that closes
 * its group, with nothing pending, after values that all have its code and PolId goes onto
 * them without waiting in pending[]: no value can follow it.)
 */
#include "ew_hj212.h"

#include "ew_time.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define EW_SCAN_AVX2 1 /* compiled for AVX2 on the side, used where the CPU has it */
#endif

#include <stddef.h>
#include <string.h>
#include <strings.h>

/*
 * The standard's CRC folds the register's high byte with the data byte, reg = (reg >> 8) ^ b,
 * and runs that through 8 shift/xor steps of the reflected polynomial 0xA001: one lookup in
 * the usual table T per byte. The low byte of the register is discarded at every step, so the
 * state carried from byte to byte is only h = reg >> 8, and h' = H[h ^ b] with H[x] = T[x] >> 8.
 * T, and so H, is linear over GF(2). Over bytes b[0..n) from h[0] = 0xFF, that gives
 *   h[n] = H^n(b[0] ^ 0xFF) ^ H^(n-1)(b[1]) ^ ... ^ H^1(b[n-1]).
 * And H^8 is the identity (eight rounds of this polynomial give back the byte they started
 * from; the tests check the result against the bit-by-bit definition for every length), so a
 * byte's weight depends only on its distance from the end modulo 8. The bytes are gathered
 * by that distance into the 8 lanes of one 64-bit word with plain XOR, 8 or 32 bytes a step,
 * and the lanes are weighted once at the end: 7 lookups for any length. The last byte goes
 * through T itself to produce the full 16-bit value.
 */
static uint16_t ew_crc_table[256];
static uint8_t ew_crc_pow[7][256]; /* ew_crc_pow[k][x] = H^(k+1)(x) */
static bool ew_tables_ready;
#ifdef EW_SCAN_AVX2
static bool ew_scan_avx2_on;
#endif

static void ew_tables_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint16_t r = (uint16_t)i;
        for (int k = 0; k < 8; k++)
            r = (r & 1) ? (uint16_t)((r >> 1) ^ 0xA001) : (uint16_t)(r >> 1);
        ew_crc_table[i] = r;
        ew_crc_pow[0][i] = (uint8_t)(r >> 8);
    }
    for (int k = 1; k < 7; k++)
        for (unsigned i = 0; i < 256; i++)
            ew_crc_pow[k][i] = ew_crc_pow[0][ew_crc_pow[k - 1][i]];
#ifdef EW_SCAN_AVX2
    ew_scan_avx2_on = __builtin_cpu_supports("avx2");
#endif
    ew_tables_ready = true;
}

void ew_hj212_use_simd(bool on)
{
    if (!ew_tables_ready)
        ew_tables_init();
#ifdef EW_SCAN_AVX2
    ew_scan_avx2_on = on && __builtin_cpu_supports("avx2");
#else
    (void)on;
#endif
}

/* h from the gathered lanes: lane j holds the bytes that lie 8 - j places (modulo 8) before
 * the end, and weighs H^(8-j); H^8, lane 0's, is the identity. */
static unsigned ew_crc_lanes(uint64_t u)
{
    const uint8_t(*w)[256] = ew_crc_pow;
    return (unsigned)(u & 0xFF) ^ w[6][u >> 8 & 0xFF] ^ w[5][u >> 16 & 0xFF] ^
           w[4][u >> 24 & 0xFF] ^ w[3][u >> 32 & 0xFF] ^ w[2][u >> 40 & 0xFF] ^
           w[1][u >> 48 & 0xFF] ^ w[0][u >> 56];
}

/* The lanes of the n bytes at p (the bytes before the last one of the input), with h[0]. */
static uint64_t ew_crc_gather(const unsigned char *p, size_t n)
{
    size_t r = n % 8; /* the first r bytes stand in the top r lanes */
    uint64_t u = 0xFFull << (8 * ((8 - r) % 8));
    for (size_t i = 0; i < r; i++)
        u ^= (uint64_t)p[i] << (8 * (8 - r + i));
    for (size_t i = r; i < n; i += 8)
        u ^= ew_load8((const char *)p + i);
    return u;
}

uint16_t ew_hj212_crc(const void *data, size_t len)
{
    if (!ew_tables_ready)
        ew_tables_init();
    if (len == 0)
        return 0xFFFF;
    const unsigned char *p = data;
    return ew_crc_table[ew_crc_lanes(ew_crc_gather(p, len - 1)) ^ p[len - 1]];
}

uint16_t ew_hj212_crc_legacy(const void *data, size_t len)
{
    if (!ew_tables_ready)
        ew_tables_init();
    const unsigned char *p = data;
    uint16_t reg = 0xFFFF;
    for (size_t i = 0; i < len; i++)
        reg = (uint16_t)((reg >> 8) ^ ew_crc_table[(reg ^ p[i]) & 0xFF]);
    return (uint16_t)((reg << 8) | (reg >> 8));
}

static int ew_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Parses n decimal digits as a small non-negative int; -1 when empty, not digits or > 99999. */
static int ew_small_uint(const char *s, size_t n)
{
    if (n == 0 || n > 5)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i] - '0';
        if (c > 9)
            return -1;
        v = v * 10 + (int)c;
    }
    return v;
}

/*
 * Structural bytes. The data segment is classified once, as it is copied, 32 bytes at a time
 * with AVX2 where the machine has it (byte by byte elsewhere), into one bitmap of one bit per byte
 * (byte i's bit is bit i % 8 of the bitmap's byte i / 8): set for the bytes that end or split a
 * field (';' ',' '=') and for those a field may not hold ('&' in CP, control bytes anywhere).
 * Fields are then found by counting zeros: the decoder looks only at the marked bytes, never at
 * the bytes between. The bitmap has a bit at the segment's end as well, so a search forward
 * always stops there, and 8 zero bytes after that bit's, so that the 8 bytes at any bit up to
 * it can be read as one word (ew_marks_from). (The '-' that splits a key is looked for in the
 * key itself: ew_key_dash.)
 */
#define EW_MASK_BYTES (EW_HJ212_MAX_DATA / 8 + 9)

static bool ew_is_ctrl(unsigned char c)
{
    return c < 0x20 || c == 0x7F;
}

static bool ew_is_marked(unsigned char c)
{
    return c == ';' || c == ',' || c == '=' || c == '&' || ew_is_ctrl(c);
}

/* Marks the end at bit n and clears the bits past it. */
static void ew_marks_close(uint8_t *mk, size_t n)
{
    mk[n / 8] = (uint8_t)((mk[n / 8] & ((1u << (n % 8)) - 1)) | 1u << (n % 8));
    memset(mk + n / 8 + 1, 0, 8);
}

/* Copies the n bytes of src to dst, marked bytes as zeros, and classifies them. */
static void ew_marks_bytes(uint8_t *mk, char *dst, const char *src, size_t n)
{
    memset(mk, 0, n / 8 + 1);
    for (size_t i = 0; i < n; i++) {
        bool marked = ew_is_marked((unsigned char)src[i]);
        dst[i] = marked ? '\0' : src[i];
        mk[i / 8] |= (uint8_t)(marked << (i % 8));
    }
}

#ifdef EW_SCAN_AVX2
/* Copies the 32 bytes of v to dst, marked bytes as zeros, and returns their marks. A byte is
 * marked when the class bits its high nibble allows meet those of its low nibble. Class 1:
 * control bytes (high nibble 0 or 1, any low one); 2: '&' 0x26 and ',' 0x2C; 4: ';' 0x3B and
 * '=' 0x3D; 8: DEL 0x7F. Bytes from 0x80 have high nibbles with no class. */
__attribute__((target("avx2"))) static inline uint32_t ew_marks_vec(char *dst, __m256i v)
{
    const __m256i hi_class = _mm256_setr_epi8(1, 1, 2, 4, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1,
                                              2, 4, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i lo_class = _mm256_setr_epi8(1, 1, 1, 1, 1, 1, 3, 1, 1, 1, 1, 5, 3, 5, 1, 9, 1, 1,
                                              1, 1, 1, 1, 3, 1, 1, 1, 1, 5, 3, 5, 1, 9);
    const __m256i nib = _mm256_set1_epi8(0x0F);
    __m256i c = _mm256_and_si256(
        _mm256_shuffle_epi8(lo_class, _mm256_and_si256(v, nib)),
        _mm256_shuffle_epi8(hi_class, _mm256_and_si256(_mm256_srli_epi16(v, 4), nib)));
    __m256i plain = _mm256_cmpeq_epi8(c, _mm256_setzero_si256());
    _mm256_storeu_si256((__m256i *)(void *)dst, _mm256_and_si256(v, plain));
    return ~(uint32_t)_mm256_movemask_epi8(plain);
}

/* The 32 bytes at p. */
__attribute__((target("avx2"))) static inline __m256i ew_load32(const char *p)
{
    return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

/* Sets the bits [32 * k, 32 * k + 32) of the bitmap. */
static inline void ew_marks_put32(uint8_t *mk, size_t k, uint32_t bits)
{
    memcpy(mk + 4 * k, &bits, 4); /* x86 only: little-endian */
}

/* The 64-bit lanes of v, XORed. */
__attribute__((target("avx2"))) static inline uint64_t ew_xor_lanes(__m256i v)
{
    __m128i x = _mm_xor_si128(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return (uint64_t)_mm_cvtsi128_si64(_mm_xor_si128(x, _mm_unpackhi_epi64(x, x)));
}

/* ew_scan for n >= 33, 32 bytes at a time, in one pass: the classifier's loads serve the CRC,
 * which XORs the blocks together. It reads the last 1 to 32 bytes as the 32 that end the
 * segment, so nothing past its end is read. */
__attribute__((target("avx2"))) static uint16_t ew_scan_avx2(uint8_t *mk, char *dst,
                                                             const char *src, size_t n)
{
    /* 32 zeros then 32 ones: from byte r on, a mask of the top r lanes */
    static const uint8_t top[64] = {[32] = 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                    0xFF,        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                    0xFF,        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                    0xFF,        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    size_t last = n - 1, blocks = last / 32;         /* the CRC takes the last byte apart */
    __m256i acc = _mm256_setr_epi64x(0xFF, 0, 0, 0); /* h[0], with byte 0 */
    for (size_t k = 0; k < blocks; k++) {
        __m256i v = ew_load32(src + 32 * k);
        ew_marks_put32(mk, k, ew_marks_vec(dst + 32 * k, v));
        acc = _mm256_xor_si256(acc, v);
    }
    size_t r = last % 32; /* the CRC's bytes after the blocks; the classifier has one more */
    uint32_t tail = ew_marks_vec(dst + n - 32, ew_load32(src + n - 32));
    ew_marks_put32(mk, blocks, tail >> (31 - r));
    /* the blocks' lane j lies last - j places before the end, modulo 8: turned so that it lies
     * 8 - j places, as the r bytes after them do in the top r lanes of the 32 before the end */
    uint64_t u = ew_xor_lanes(acc), t = 0;
    if (last % 8)
        u = u >> (8 * (last % 8)) | u << (64 - 8 * (last % 8));
    if (r)
        t = ew_xor_lanes(
            _mm256_and_si256(ew_load32(src + last - 32), ew_load32((const char *)top + r)));
    return ew_crc_table[ew_crc_lanes(u ^ t) ^ (unsigned char)src[last]];
}
#endif

/* Copies the n bytes at src to dst with their marked bytes as zeros, marks those, and returns
 * the CRC. The decoder then reads the input where it needs a marked byte's value. */
static uint16_t ew_scan(uint8_t *mk, char *dst, const char *src, size_t n)
{
    uint16_t crc;
#ifdef EW_SCAN_AVX2
    if (ew_scan_avx2_on && n >= 33) {
        crc = ew_scan_avx2(mk, dst, src, n);
    } else
#endif
    {
        ew_marks_bytes(mk, dst, src, n);
        crc = ew_hj212_crc(src, n);
    }
    ew_marks_close(mk, n);
    return crc;
}

/* The marks of the bytes from p on (p up to the end mark's), as the low bits of one word: bit i
 * stands for byte p + i, for i < 57. */
static inline uint64_t ew_marks_from(const uint8_t *mk, size_t p)
{
    return ew_load8((const char *)mk + p / 8) >> (p % 8);
}

/* The first marked byte from p on (p up to the end mark's). */
static inline size_t ew_next_mark(const uint8_t *mk, size_t p)
{
    uint64_t w;
    while (!(w = ew_marks_from(mk, p)))
        p += 57;
    return p + (unsigned)__builtin_ctzll(w);
}

#define EW_NONE ((size_t)-1)

/* The first marked byte from pos on, the end of a field's key as a rule: when it is the '=' of
 * a key (in s, the input), it goes to *eq and the mark after it is returned instead. Both
 * come from one load of the bitmap unless they lie far apart. s must hold a byte at the end
 * mark's place that is not '='. */
static inline size_t ew_key_end(const uint8_t *mk, const char *s, size_t pos, size_t *eq)
{
    uint64_t w = ew_marks_from(mk, pos);
    size_t m = w ? pos + (unsigned)__builtin_ctzll(w) : ew_next_mark(mk, pos);
    if (s[m] != '=') {
        *eq = EW_NONE;
        return m;
    }
    *eq = m;
    w &= w - 1;
    return w ? pos + (unsigned)__builtin_ctzll(w) : ew_next_mark(mk, m + 1);
}

/* By length n (0..15; 16 for a name too long to take): the bytes of an 8-byte load that
 * belong to it (all of them from 8 on, none at 16). */
static const uint64_t ew_len_keep[17] = {
    0,     0xFF,  0xFFFF, 0xFFFFFF, 0xFFFFFFFF, 0xFFFFFFFFFF, 0xFFFFFFFFFFFF, 0xFFFFFFFFFFFFFF,
    ~0ull, ~0ull, ~0ull,  ~0ull,    ~0ull,      ~0ull,        ~0ull,          ~0ull,
    0};

/* By length n of a name (16 for one too long to take): the bit that folds each of its bytes
 * in an 8-byte load to lower case (ew_field_key), none for n > 8. Up to 8 it is ew_len_keep
 * masked with 0x20 in each byte; read from its own table, it takes 74 fewer instructions per
 * hourly packet than computed. */
static const uint64_t ew_len_fold[17] = {0,
                                         0x20,
                                         0x2020,
                                         0x202020,
                                         0x20202020,
                                         0x2020202020,
                                         0x202020202020,
                                         0x20202020202020,
                                         0x2020202020202020};

/* The first n bytes at p packed as ew_pollutant_pack packs them (0 when n > 8). p must be
 * readable 8 bytes on (inside the record's arena it always is). */
static inline uint64_t ew_load_packed(const char *p, size_t n)
{
    return ew_load8(p) & ew_len_keep[n < 9 ? n : 16];
}

/*
 * Value keys already resolved. A key ("a21026-Avg") maps to its code, field and pollutant
 * entry by a pure function of its bytes and the packet's medium, and a fleet sends the same
 * few hundred keys over and over: each thread remembers the keys it resolved, in a table of
 * 512 sets of two slots indexed by a hash of the key (a key new to its set takes the first
 * slot, and the one it held moves to the second). A key is remembered only when it is
 * whole without the copy (a known field, a code the table knows), so a hit needs no NUL
 * written into the key at its '-'. Keys of up to 15 bytes; the 16th byte of a slot holds the
 * medium plus one, so an empty slot (all zero) matches nothing.
 */
#define EW_MEMO_SETS 512
#define EW_MEMO_KEY  15

struct ew_memo_slot {
    uint64_t k0, k1; /* the key's bytes, zero after its end; the medium in k1's top byte */
    const char *code;
    const char *field_name;
    const struct ew_pollutant *pollutant;
    uint8_t field;
};

static _Thread_local struct ew_memo_slot ew_memo[EW_MEMO_SETS][2];
static bool ew_memo_on = true;

void ew_hj212_use_memo(bool on)
{
    ew_memo_on = on;
}

/* The n bytes at k (readable 16 bytes on) as a memo key with the medium tag. k0 is 0 when the
 * key is longer than max (EW_MEMO_KEY, or 0 with the memo off): no slot is filled with such a
 * key, and any other key starts with a byte that is not NUL. */
static inline void ew_memo_key(const char *k, size_t n, size_t max, uint64_t tag, uint64_t *k0,
                               uint64_t *k1)
{
    size_t i = n <= max ? n : 16;
    *k0 = ew_load8(k) & ew_len_keep[i];
    *k1 = (ew_load8(k + 8) & ew_len_keep[i > 8 ? i - 8 : 0]) | tag; /* any, when k0 is 0 */
}

/* The slot that holds the key, or NULL; *set is the key's set either way. */
static inline const struct ew_memo_slot *ew_memo_find(uint64_t k0, uint64_t k1,
                                                      struct ew_memo_slot **set)
{
    struct ew_memo_slot *s = ew_memo[((k0 ^ k1) * 0x9E3779B97F4A7C15u) >> 55];
    *set = s;
    if (s[0].k0 == k0 && s[0].k1 == k1)
        return &s[0];
    if (s[1].k0 == k0 && s[1].k1 == k1)
        return &s[1];
    return NULL;
}

_Static_assert(EW_MEMO_SETS == 1u << (64 - 55), "the hash's top bits index the sets");

#define EW_PENDING_MAX 8

/* Decoder state: the record, the copy of the data segment, and where it sat in the input. */
struct ew_dec {
    struct ew_record *rec;
    char *d;         /* data segment copy: its marked bytes are zeros, which cut it */
    const char *src; /* the data segment as sent */
    size_t base;     /* input offset of d[0] */
    size_t max_values;
    const char *pol; /* current PolId */
    enum ew_medium medium;
    struct ew_error *err;
    /* the group's flags so far, as the values they stay when no value of theirs is found */
    size_t npending;
    struct ew_value pending[EW_PENDING_MAX];
    unsigned applied;  /* bit i: pending[i] went onto a value */
    uint64_t code_key; /* the last known code resolved, packed, and its entry */
    const struct ew_pollutant *code_entry;
    bool orphans;              /* flag items left as values, for the last pass */
    uint8_t mk[EW_MASK_BYTES]; /* structural bytes */
};

static int ew_dec_fail(struct ew_dec *x, int code, size_t off, const char *why, const char *s)
{
    return ew_error_set(x->err, code, x->base + off, "%s%.40s", why, s ? s : "");
}

/* Reports the byte at off that has no place where it stands. */
static int ew_dec_bad_byte(struct ew_dec *x, size_t off)
{
    unsigned char c = (unsigned char)x->src[off];
    if (ew_is_ctrl(c))
        return ew_error_set(x->err, EW_EMALFORMED, x->base + off,
                            "control byte 0x%02X in the data segment", c);
    return ew_error_set(x->err, EW_EMALFORMED, x->base + off, "'%c' inside CP", c);
}

#define EW_HEADER_MAP(X)                                                                           \
    X(QN, "QN")                                                                                    \
    X(ST, "ST")                                                                                    \
    X(CN, "CN")                                                                                    \
    X(PW, "PW")                                                                                    \
    X(MN, "MN")                                                                                    \
    X(FLAG, "Flag")                                                                                \
    X(PNUM, "PNUM")                                                                                \
    X(PNO, "PNO")

enum ew_hdr {
#define EW__HDR_ENUM(name, text) EW_HDR_##name,
    EW_HEADER_MAP(EW__HDR_ENUM)
#undef EW__HDR_ENUM
        EW_HDR_COUNT
};

static const char *const ew_hdr_names[EW_HDR_COUNT] = {
#define EW__HDR_NAME(name, text) text,
    EW_HEADER_MAP(EW__HDR_NAME)
#undef EW__HDR_NAME
};

/* The first n (n <= 8) bytes at s folded as ew_field_key folds them: equal to the key of a
 * lower-case name made of letters exactly when s spells that name in any case. */
static inline uint64_t ew_name_key(const char *s, size_t n)
{
    size_t i = n < 9 ? n : 16;
    return (ew_load8(s) & ew_len_keep[i]) | ew_len_fold[i];
}

/* EW__K (ew_record.h) for names of 8 bytes */
#define EW__K8(a, b, c, d, e, f, g, h)                                                             \
    (EW__K(a, b, c, d, e) | (uint64_t)(f) << 40 | (uint64_t)(g) << 48 | (uint64_t)(h) << 56)

static inline __attribute__((always_inline)) int ew_hdr_lookup(const char *k, size_t n)
{
    switch (ew_name_key(k, n)) {
    case EW__K('q', 'n', 0, 0, 0):
        return EW_HDR_QN;
    case EW__K('s', 't', 0, 0, 0):
        return EW_HDR_ST;
    case EW__K('c', 'n', 0, 0, 0):
        return EW_HDR_CN;
    case EW__K('p', 'w', 0, 0, 0):
        return EW_HDR_PW;
    case EW__K('m', 'n', 0, 0, 0):
        return EW_HDR_MN;
    case EW__K('f', 'l', 'a', 'g', 0):
        return EW_HDR_FLAG;
    case EW__K('p', 'n', 'u', 'm', 0):
        return EW_HDR_PNUM;
    case EW__K('p', 'n', 'o', 0, 0):
        return EW_HDR_PNO;
    default:
        return -1;
    }
}

/* A parameter key must read back as a parameter from CP: no delimiter, no '-' (it would make
 * the item a value) and not one of the names CP gives a meaning of its own. */
static bool ew_param_key_ok(const char *k)
{
    return *k && !strpbrk(k, ";,=&-") && strcasecmp(k, "DataTime") && strcasecmp(k, "PolId");
}

static int ew_add_param(struct ew_dec *x, const char *key, const char *text, size_t off)
{
    struct ew_record *rec = x->rec;
    if (!ew_param_key_ok(key))
        return ew_dec_fail(x, EW_EMALFORMED, off, "bad parameter name: ", key);
    /* parameters live in CP (an unknown header field too), where ',' and '&' cut items */
    if (strpbrk(text, ",&"))
        return ew_dec_fail(x, EW_EMALFORMED, off, "parameter value holds ',' or '&': ", key);
    for (size_t i = 0; i < rec->nparams; i++)
        if (!strcmp(rec->params[i].key, key))
            return ew_dec_fail(x, EW_EMALFORMED, off, "duplicate ", key);
    if (rec->nparams >= EW_RECORD_MAX_PARAMS)
        return ew_error_set(x->err, EW_ETOO_LONG, x->base + off, "more than %d parameters",
                            EW_RECORD_MAX_PARAMS);
    rec->params[rec->nparams].key = key;
    rec->params[rec->nparams].text = text;
    rec->nparams++;
    return 0;
}

/* Punctuation and spaces that real loggers put between header fields ("ST=32; CN=2011",
 * "MN=...;,Flag=5", "Flag=5."): dropped where what is left is a header field's name or value. */
static bool ew_stray(char c)
{
    return c == ' ' || c == ',' || c == '.' || c == ':' || c == '|';
}

/* Trims stray bytes off both ends of [*a, *b) of d. */
static void ew_trim_stray(const char *d, size_t *a, size_t *b)
{
    while (*a < *b && ew_stray(d[*a]))
        ++*a;
    while (*b > *a && ew_stray(d[*b - 1]))
        --*b;
}

/* The header field whose name is at [k, e) of d with stray bytes trimmed, or -1. */
static __attribute__((noinline, cold)) int ew_hdr_mended(const char *d, size_t k, size_t e)
{
    ew_trim_stray(d, &k, &e);
    return k < e && e - k <= 4 ? ew_hdr_lookup(d + k, e - k) : -1;
}

/* The mends of a header field's value (ew_dec_header): a ',' before another header field ends
 * it (*end moves), stray bytes around a value of letters and digits are dropped. Returns 1 when
 * the value was stored mended, 0 when nothing was mended, or an error. Out of line: real packets
 * rarely need it. */
static __attribute__((noinline, cold)) int ew_hdr_mend(struct ew_dec *x, const char **hv, int h,
                                                       size_t pos, size_t eq, size_t comma,
                                                       size_t *endp)
{
    struct ew_record *rec = x->rec;
    char *d = x->d;
    const char *s = x->src;
    size_t end = *endp;
    /* "ST=32,CN=2011": a ',' followed by a header name and '=' ends the field */
    for (size_t c = comma; c != EW_NONE && c < end; c++) {
        if (s[c] != ',')
            continue;
        size_t e2 = c + 1;
        while (e2 < end && s[e2] != '=')
            e2++;
        int h2 = e2 < end ? ew_hdr_mended(s, c + 1, e2) : -1;
        if (h2 < 0)
            continue;
        ew_record_note(rec, "',' between the header fields %s and %s read as ';'", ew_hdr_names[h],
                       ew_hdr_names[h2]);
        d[c] = '\0';
        end = c;
        break;
    }
    size_t v0 = eq + 1, v1 = end;
    if (v0 < v1 && (ew_stray(d[v0]) || ew_stray(d[v1 - 1]))) /* rare: looked at then */
        ew_trim_stray(d, &v0, &v1);
    bool plain = (v0 != eq + 1 || v1 != end) && v0 < v1;
    for (size_t i = v0; i < v1 && plain; i++)
        plain = (d[i] >= '0' && d[i] <= '9') || ((d[i] | 0x20) >= 'a' && (d[i] | 0x20) <= 'z');
    if (plain) {
        ew_record_note(rec, "stray punctuation around the value of %s dropped", ew_hdr_names[h]);
        d[v1] = '\0';
        if (hv[h])
            return ew_dec_fail(x, EW_EMALFORMED, pos, "duplicate field ", ew_hdr_names[h]);
        hv[h] = d + v0;
        *endp = end;
        return 1;
    }
    *endp = end;
    return 0;
}

/* Header fields: everything before "CP=&&". Sets *cp to the offset of that field. Stray
 * punctuation around a field's name or value is dropped when what is left is unambiguous (a
 * header name; a value of letters and digits), and a ',' between two fields read as ';' when
 * a header name and '=' follow it; each mend is a note in the record. */
static int ew_dec_header(struct ew_dec *x, size_t dlen, size_t *cp)
{
    struct ew_record *rec = x->rec;
    char *d = x->d;
    const char *s = x->src;
    const char *hv[EW_HDR_COUNT] = {0};
    size_t pos = 0;
    /* "CP=&&" in any case, in the input (the copy has zeros for its marked bytes); the
     * segment is followed there by the 4 bytes of the CRC */
    while (dlen - pos < 5 ||
           ((ew_load8(s + pos) | 0x2020) & 0xFFFFFFFFFFu) != EW__K('c', 'p', '=', '&', '&')) {
        /* one field: to its ';', split at its first '=' (',' '&' and later '=' are text, and
         * go back into the copy) */
        size_t eq, end, comma = EW_NONE; /* comma: the first ',' after the '=' */
        for (end = ew_key_end(x->mk, s, pos, &eq); end < dlen && s[end] != ';';
             end = ew_next_mark(x->mk, end + 1)) {
            if (ew_is_ctrl((unsigned char)s[end]))
                return ew_dec_bad_byte(x, end);
            if (s[end] == '=' && eq == EW_NONE)
                eq = end;
            else
                d[end] = s[end];
            if (s[end] == ',' && eq != EW_NONE && comma == EW_NONE)
                comma = end;
        }
        if (end == dlen)
            return ew_dec_fail(x, EW_EMALFORMED, pos, "no CP=&& field in the data segment", NULL);
        if (end == pos) { /* empty field ";;" */
            pos++;
            continue;
        }
        if (eq == EW_NONE)
            return ew_dec_fail(x, EW_EMALFORMED, pos, "header field without '=': ", d + pos);
        int h = ew_hdr_lookup(d + pos, eq - pos);
        if (h < 0 && (h = ew_hdr_mended(d, pos, eq)) >= 0)
            ew_record_note(rec, "stray punctuation around the header field name %s dropped",
                           ew_hdr_names[h]);
        if (h >= 0 && h != EW_HDR_PW &&
            (comma != EW_NONE || (end > eq + 1 && (ew_stray(d[eq + 1]) || ew_stray(d[end - 1]))))) {
            int rc = ew_hdr_mend(x, hv, h, pos, eq, comma, &end);
            if (rc < 0)
                return rc;
            if (rc) {
                pos = end + 1;
                continue;
            }
        }
        if (h < 0) {
            int rc = ew_add_param(x, d + pos, d + eq + 1, pos);
            if (rc)
                return rc;
        } else if (hv[h]) {
            return ew_dec_fail(x, EW_EMALFORMED, pos, "duplicate field ", ew_hdr_names[h]);
        } else {
            hv[h] = d + eq + 1;
        }
        pos = end + 1;
    }
    *cp = pos;

    static const int required[] = {EW_HDR_MN, EW_HDR_ST, EW_HDR_CN};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!hv[required[i]] || !*hv[required[i]])
            return ew_dec_fail(x, EW_EMALFORMED, pos, "missing field ", ew_hdr_names[required[i]]);
    rec->mn = hv[EW_HDR_MN];
    rec->st = hv[EW_HDR_ST];
    rec->cn = hv[EW_HDR_CN];
    rec->qn = hv[EW_HDR_QN];
    rec->pw = hv[EW_HDR_PW];
    static const int numeric[] = {EW_HDR_FLAG, EW_HDR_PNUM, EW_HDR_PNO};
    int *dst[] = {&rec->flag, &rec->pnum, &rec->pno};
    for (size_t i = 0; i < sizeof numeric / sizeof numeric[0]; i++) {
        const char *v = hv[numeric[i]];
        if (!v)
            continue;
        size_t n = 0; /* strnlen(v, 6), inline: a call costs 27 instructions a packet */
        while (n < 6 && v[n])
            n++;
        *dst[i] = ew_small_uint(v, n);
        if (*dst[i] < 0 || (numeric[i] == EW_HDR_FLAG && *dst[i] > 255))
            return ew_error_set(x->err, EW_EMALFORMED, x->base + (size_t)(v - d),
                                "%s is not a number from 0 to %d: %.20s", ew_hdr_names[numeric[i]],
                                numeric[i] == EW_HDR_FLAG ? 255 : 99999, v);
    }
    rec->version = (uint8_t)ew_version_from_flag(rec->flag);
    rec->kind = (uint8_t)ew_kind_from_cn(rec->cn);
    x->medium = ew_medium_of_st(rec->st);
    return 0;
}

static bool ew_code_eq(const char *a, const struct ew_pollutant *pa, const char *b,
                       const struct ew_pollutant *pb)
{
    if (a == b)
        return true;
    /* known codes point at the table (ew_value_resolve): two such pointers that differ are
     * different codes; anything else needs the text */
    if (pa && pb && a == pa->code && b == pb->code)
        return false;
    return !strcmp(a, b);
}

/* PolIds are equal by text: a packet may name the same one twice. */
static bool ew_pol_eq(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static bool ew_same_code(const struct ew_value *a, const struct ew_value *b)
{
    return ew_code_eq(a->code, a->pollutant, b->code, b->pollutant);
}

static bool ew_is_flag_item(const struct ew_value *v)
{
    return v->field == EW_FIELD_FLAG || v->field == EW_FIELD_EFLAG;
}

/* Sets v's four byte fields in one store: they lie together, in this order. */
static inline void ew_value_bytes(struct ew_value *v, enum ew_field f, enum ew_value_type type,
                                  char flag, enum ew_flag_meaning meaning)
{
    const uint8_t b[4] = {(uint8_t)f, (uint8_t)type, (uint8_t)flag, (uint8_t)meaning};
    memcpy((unsigned char *)v + offsetof(struct ew_value, field), b, sizeof b);
}

_Static_assert(offsetof(struct ew_value, type) == offsetof(struct ew_value, field) + 1 &&
                   offsetof(struct ew_value, flag) == offsetof(struct ew_value, field) + 2 &&
                   offsetof(struct ew_value, flag_meaning) == offsetof(struct ew_value, field) + 3,
               "a value's byte fields lie together");

/* Sets v's flag letter and its meaning, in one store. */
static inline void ew_value_flag(struct ew_value *v, char flag, enum ew_flag_meaning meaning)
{
    const uint8_t b[2] = {(uint8_t)flag, (uint8_t)meaning};
    memcpy((unsigned char *)v + offsetof(struct ew_value, flag), b, sizeof b);
}

/* Whether the n bytes at t are one printable letter, as a -Flag value must be. */
static bool ew_flag_letter(const char *t, size_t n)
{
    return n == 1 && t[0] > 0x20 && t[0] < 0x7F;
}

/* Puts the flag item f (its letter and meaning, or its EFlag text) onto v when v is a value
 * of f's code and PolId. Returns whether it did. */
static inline bool ew_flag_onto(struct ew_value *v, const struct ew_value *f)
{
    if (!ew_code_eq(v->code, v->pollutant, f->code, f->pollutant) || ew_is_flag_item(v) ||
        !ew_pol_eq(v->pol, f->pol))
        return false;
    if (f->field == EW_FIELD_EFLAG) {
        v->eflag = f->text;
    } else {
        ew_value_flag(v, f->flag, (enum ew_flag_meaning)f->flag_meaning);
    }
    return true;
}

/* A -Flag or -EFlag item f: it goes onto the values of its code already seen in the group
 * (which starts at value `group`), and is kept to go onto those that follow. */
static int ew_dec_flag(struct ew_dec *x, const struct ew_value *f, size_t off, size_t group)
{
    struct ew_record *rec = x->rec;
    if (x->npending == EW_PENDING_MAX)
        return ew_error_set(x->err, EW_ETOO_LONG, x->base + off,
                            "more than %d flags in one ';' group", EW_PENDING_MAX);
    size_t n = x->npending++;
    x->pending[n] = *f;
    for (size_t i = group; i < rec->nvalues; i++)
        if (ew_flag_onto(&rec->values[i], f))
            x->applied |= 1u << n;
    return 0;
}

/* End of a ';' group that had flags pending: a flag that found no value of its code in the
 * group stays a value of its own, at the end of the group, for the last pass
 * (ew_dec_orphans). */
static int ew_dec_group_end(struct ew_dec *x)
{
    struct ew_record *rec = x->rec;
    for (size_t i = 0; i < x->npending; i++) {
        if (x->applied >> i & 1)
            continue;
        if (rec->nvalues >= x->max_values)
            return ew_error_set(x->err, EW_ETOO_LONG, x->base, "more than %zu values",
                                x->max_values);
        rec->values[rec->nvalues++] = x->pending[i];
        x->orphans = true;
    }
    x->npending = 0;
    x->applied = 0;
    return 0;
}

/* A flag sent in a group without its values (seen in the field) goes onto the values of its
 * code elsewhere that carry no such flag; one with no value at all stays a value of its own,
 * so nothing sent is dropped. */
static void ew_dec_orphans(struct ew_dec *x)
{
    struct ew_record *rec = x->rec;
    uint64_t used[EW_RECORD_MAX_VALUES / 64] = {0};
    bool any = false;
    for (size_t i = 0; i < rec->nvalues; i++) {
        const struct ew_value *f = &rec->values[i];
        if (!ew_is_flag_item(f) ||
            (f->field == EW_FIELD_FLAG && !ew_flag_letter(f->text, strlen(f->text))))
            continue;
        for (size_t j = 0; j < rec->nvalues; j++) {
            struct ew_value *v = &rec->values[j];
            if ((f->field == EW_FIELD_FLAG ? v->flag != '\0' : v->eflag != NULL) ||
                !ew_flag_onto(v, f))
                continue;
            used[i / 64] |= 1ull << (i % 64);
            any = true;
        }
    }
    if (!any)
        return;
    size_t out = 0;
    for (size_t i = 0; i < rec->nvalues; i++)
        if (!(used[i / 64] >> (i % 64) & 1))
            rec->values[out++] = rec->values[i];
    rec->nvalues = out;
}

/* The last '-' of the key [k, eq), or EW_NONE. What follows it is short as a rule: the 8 bytes
 * before the '=' are searched at once (the key starts 8 bytes or more into the segment). */
static inline size_t ew_key_dash(const char *d, size_t k, size_t eq)
{
    if (eq >= 8) {
        uint64_t z = ew_swar_zero(ew_load8(d + eq - 8) ^ 0x2D2D2D2D2D2D2D2Du); /* the '-' */
        if (z) {
            size_t r = eq - 8 + (size_t)(63 - __builtin_clzll(z)) / 8;
            return r >= k ? r : EW_NONE;
        }
        if (eq - 8 <= k)
            return EW_NONE;
    }
    for (size_t i = eq; i-- > k;)
        if (d[i] == '-')
            return i;
    return EW_NONE;
}

/* A CP item whose key has no '-', cut already (key at k, NUL at eq; value NUL-terminated at
 * vend): DataTime, PolId, or a parameter of the whole record. */
static int ew_dec_param(struct ew_dec *x, size_t k, size_t eq, size_t vend)
{
    struct ew_record *rec = x->rec;
    char *key = x->d + k, *val = x->d + eq + 1;
    size_t vlen = vend - eq - 1;
    uint64_t name = ew_name_key(key, eq - k);
    if (name == EW__K8('d', 'a', 't', 'a', 't', 'i', 'm', 'e')) {
        if (rec->has_time)
            return ew_dec_fail(x, EW_EMALFORMED, k, "duplicate DataTime", NULL);
        if (ew_time_parse_digits(val, vlen, &rec->data_time))
            return ew_dec_fail(x, EW_EMALFORMED, eq + 1,
                               "DataTime is not a valid 14- or 17-digit time: ", val);
        rec->has_time = true;
        return 0;
    }
    if (name == EW__K('p', 'o', 'l', 'i', 'd')) {
        x->pol = vlen ? val : NULL;
        return 0;
    }
    return ew_add_param(x, key, val, k);
}

/* v's code (clen bytes at v->code) against the pollutant table. A group's items usually share
 * their code: the last known one is not looked up again. */
static inline void ew_dec_code(struct ew_dec *x, struct ew_value *v, size_t clen)
{
    uint64_t key = ew_load_packed(v->code, clen);
    if (key && key == x->code_key) {
        v->code = x->code_entry->code;
        v->pollutant = x->code_entry;
        return;
    }
    const char *sent = v->code;
    ew_value_resolve_key(v, key, x->medium);
    if (v->code != sent) {
        x->code_key = key;
        x->code_entry = v->pollutant;
    }
}

/* The key of a value item, cut at its '-' (code at k, dash and NUL at eq): fills v's code,
 * field name and pollutant entry and returns its field. Out of line: a key the memo holds
 * needs none of it, and inlined into the CP loop it made the loop's hot path spill more (29
 * more instructions per hourly packet). */
__attribute__((noinline)) static enum ew_field ew_dec_key(struct ew_dec *x, struct ew_value *v,
                                                          size_t k, size_t dash, size_t eq)
{
    char *d = x->d, *suffix = d + dash + 1;
    size_t flen = eq - dash - 1;
    d[dash] = '\0';
    enum ew_field f = ew_field_lookup_key(ew_name_key(suffix, flen), suffix, flen);
    v->code = d + k;
    v->field_name = f == EW_FIELD_OTHER ? suffix : ew_field_name(f);
    ew_dec_code(x, v, dash - k);
    return f;
}

/*
 * CP content [start, end) between "CP=&&" and the closing "&&": items separated by ';' (a
 * group: one pollutant) and ',' (its sub-fields), each "key=value". One loop over the items,
 * with the count of values in a local: the byte fields of a value are char stores, which the
 * compiler must assume reach any memory, so what lives in the structs is read again after
 * each of them.
 */
static int ew_dec_cp(struct ew_dec *x, size_t start, size_t end)
{
    struct ew_record *rec = x->rec;
    struct ew_value *const vals = rec->values;
    char *const d = x->d;
    const char *const s = x->src;
    const uint8_t *const mk = x->mk;
    const size_t max_values = x->max_values;
    const enum ew_version version = (enum ew_version)rec->version;
    const size_t memo_max = ew_memo_on ? EW_MEMO_KEY : 0;
    const uint64_t memo_tag = (uint64_t)(x->medium + 1) << 56; /* never 0, as in empty slots */
    size_t n = rec->nvalues, group = n;
    /* the code all values of the open group share (with the PolId they share as well), NULL
     * when there is none */
    const char *group_code = NULL;
    int rc = 0;
    for (size_t pos = start;;) {
        /* the item's first '=' ends its key (later ones belong to its value); ';' ',' or the
         * end of CP end the item; any other marked byte has no place in CP. CP's end is the
         * first '&' of the closing "&&" in the input, so the tests for '=' may look there. */
        size_t eq, stop = ew_key_end(mk, s, pos, &eq);
        while (s[stop] == '=') {
            d[stop] = '='; /* text of the value */
            stop = ew_next_mark(mk, stop + 1);
        }
        bool closes = stop == end || s[stop] == ';';
        if (!closes && s[stop] != ',')
            return ew_dec_bad_byte(x, stop);
        if (stop > pos) { /* else an empty item: it carries nothing, but ';' still ends a group */
            if (eq == EW_NONE)
                return ew_dec_fail(x, EW_EMALFORMED, pos, "CP item without '=': ", d + pos);
            char *val = d + eq + 1;
            size_t vlen = stop - eq - 1;
            uint64_t k0, k1;
            ew_memo_key(d + pos, eq - pos, memo_max, memo_tag, &k0, &k1);
            struct ew_memo_slot *set;
            const struct ew_memo_slot *m = ew_memo_find(k0, k1, &set);
            size_t dash = EW_NONE;
            if (!m) {
                /* the last '-' of the key splits code and field; without one, the item is a
                 * parameter */
                dash = ew_key_dash(d, pos, eq);
                if (dash == EW_NONE) {
                    rec->nvalues = n;
                    if ((rc = ew_dec_param(x, pos, eq, stop)))
                        return rc;
                    group_code = NULL; /* the PolId may have changed */
                    goto item_done;
                }
                if (dash == pos || dash + 1 == eq)
                    return ew_dec_fail(x, EW_EMALFORMED, pos,
                                       "value key needs a code and a field: ", d + pos);
            }
            if (n >= max_values)
                return ew_error_set(x->err, EW_ETOO_LONG, x->base + pos, "more than %zu values",
                                    max_values);
            struct ew_value *v = &vals[n];
            enum ew_field f;
            if (m) {
                v->code = m->code;
                v->field_name = m->field_name;
                v->pollutant = m->pollutant;
                f = (enum ew_field)m->field;
            } else {
                f = ew_dec_key(x, v, pos, dash, eq);
                /* remembered when whole without the copy: a known field, a known code */
                if (k0 && f != EW_FIELD_OTHER && v->pollutant && v->code == v->pollutant->code) {
                    set[1] = set[0];
                    set[0] = (struct ew_memo_slot){k0,           k1,        v->code, v->field_name,
                                                   v->pollutant, (uint8_t)f};
                }
            }
            /* a -Flag value that is not one letter is a text value like any other */
            bool flag = f == EW_FIELD_EFLAG || (f == EW_FIELD_FLAG && ew_flag_letter(val, vlen));
            char letter = '\0';
            enum ew_flag_meaning meaning = EW_FLAG_NONE;
            if (flag && f == EW_FIELD_FLAG) {
                letter = val[0];
                meaning = ew_flag_meaning(version, letter);
            }
            /* the usual place of a flag: last in its group, after values that all have its
             * code and PolId; it goes onto them at once, and is not kept */
            if (flag && closes && v->code == group_code && !x->npending) {
                for (struct ew_value *u = vals + group; u < vals + n; u++)
                    if (f == EW_FIELD_FLAG)
                        ew_value_flag(u, letter, meaning);
                    else
                        u->eflag = val;
                goto item_done;
            }
            v->text = val;
            v->eflag = NULL;
            v->pol = x->pol;
            double num = 0;
            int64_t t;
            enum ew_value_type type = EW_VT_TEXT;
            const char *shares = v->code; /* with the values a flag of its code goes onto */
            if (f == EW_FIELD_FLAG || f == EW_FIELD_EFLAG)
                shares = NULL; /* a -Flag value that is not a letter takes no flag */
            else if (f == EW_FIELD_SAMPLETIME && ew_time_parse_digits(val, vlen, &t) == 0)
                type = EW_VT_TIME, num = (double)t;
            else if (f == EW_FIELD_SAMPLETIME) /* not a time: its text, never a number */
                ew_record_note(rec, "%.16s-SampleTime is not a time: %.40s", v->code, val);
            else if (vlen && ew_parse_number_padded(val, vlen, &num))
                type = EW_VT_NUMBER;
            v->num = num;
            ew_value_bytes(v, f, type, letter, meaning);
            if (flag) {
                /* a flag among its values goes onto those before it now, and onto those after
                 * it as they come (ew_dec_flag) */
                rec->nvalues = n;
                if ((rc = ew_dec_flag(x, v, pos, group)))
                    return rc;
            } else {
                for (size_t i = 0; i < x->npending; i++)
                    if (ew_flag_onto(v, &x->pending[i]))
                        x->applied |= 1u << i;
                group_code = n == group || shares == group_code ? shares : NULL;
                n++;
            }
        }
    item_done:
        if (closes) {
            if (x->npending) {
                rec->nvalues = n;
                if ((rc = ew_dec_group_end(x)))
                    return rc;
                n = rec->nvalues;
            }
            group = n;
            group_code = NULL;
        }
        if (stop == end)
            break;
        pos = stop + 1;
    }
    rec->nvalues = n;
    return 0;
}

int ew_hj212_decode(const void *buf, size_t len, const struct ew_hj212_opts *opts,
                    struct ew_record *rec, struct ew_error *err)
{
    const char *p = buf;
    size_t max_data = opts && opts->max_data ? opts->max_data : EW_HJ212_MAX_DATA;
    if (max_data > EW_HJ212_MAX_DATA)
        max_data = EW_HJ212_MAX_DATA;
    if (!ew_tables_ready)
        ew_tables_init();
    ew_record_reset(rec);

    size_t n = len;
    if (n && p[n - 1] == '\n')
        n--;
    if (n && p[n - 1] == '\r')
        n--;
    if (n > EW_HJ212_FRAME + max_data)
        return ew_error_set(err, EW_ETOO_LONG, EW_HJ212_FRAME + max_data,
                            "packet of %zu bytes exceeds the limit of %zu", n,
                            EW_HJ212_FRAME + max_data);
    if (n < 2 || p[0] != '#' || p[1] != '#')
        return ew_error_set(err, EW_EMALFORMED, 0, "packet does not start with ##");
    uint64_t digits = n >= 6 ? ew_load4(p + 2) ^ 0x30303030u : ~0ull; /* as digit values */
    int declared = ew_swar_over9(digits) ? -1 : (int)ew_digits_value(digits, 4);
    if (declared < 0)
        return ew_error_set(err, EW_EMALFORMED, 2, "length field is not 4 decimal digits");
    if ((size_t)declared > max_data)
        return ew_error_set(err, EW_ETOO_LONG, 2,
                            "declared data segment of %d bytes exceeds "
                            "the limit of %zu",
                            declared, max_data);
    if (n < EW_HJ212_FRAME + 2)
        return ew_error_set(err, EW_EMALFORMED, n, "packet too short for a data segment and CRC");
    size_t dlen = n - EW_HJ212_FRAME;
    const char *data = p + 6, *crc = p + n - 4;
    int hex[4];
    for (int i = 0; i < 4; i++)
        if ((hex[i] = ew_hexval((unsigned char)crc[i])) < 0)
            return ew_error_set(err, EW_EMALFORMED, n - 4, "CRC is not 4 hex digits");
    if (data[dlen - 2] != '&' || data[dlen - 1] != '&')
        return ew_error_set(err, EW_EMALFORMED, 6 + dlen,
                            "data segment does not end with the "
                            "&& that closes CP");
    if (dlen != (size_t)declared)
        return ew_error_set(err, EW_ELENGTH_MISMATCH, 2,
                            "length field says %d bytes, the data segment has %zu", declared, dlen);
    uint16_t sent = (uint16_t)(hex[0] << 12 | hex[1] << 8 | hex[2] << 4 | hex[3]);

    struct ew_dec x;
    x.rec = rec;
    x.base = 6;
    x.max_values = opts && opts->max_values && opts->max_values < EW_RECORD_MAX_VALUES
                       ? opts->max_values
                       : EW_RECORD_MAX_VALUES;
    x.pol = NULL;
    x.medium = EW_MEDIUM_OTHER;
    x.err = err;
    x.npending = 0;
    x.applied = 0;
    x.code_key = 0;
    x.orphans = false;
    /* the arena holds the copy and 64 more bytes: the classifier and the 8-byte loads read
     * past the segment's end, and find zeros there */
    x.d = ew_record_alloc(rec, dlen);
    x.src = data;
    memset(x.d + dlen, 0, 64);
    uint16_t want = ew_scan(x.mk, x.d, data, dlen);
    if (sent != want && !(opts && opts->legacy_crc && sent == ew_hj212_crc_legacy(data, dlen))) {
        ew_record_reset(rec);
        return ew_error_set(err, EW_ECRC_MISMATCH, n - 4, "CRC %04X computed, packet says %.4s",
                            want, crc);
    }

    size_t cp = 0;
    int rc = ew_dec_header(&x, dlen, &cp);
    if (rc == 0 && cp + 5 > dlen - 2)
        rc = ew_error_set(err, EW_EMALFORMED, 6 + cp, "CP=&& is not closed with &&");
    if (rc == 0)
        rc = ew_dec_cp(&x, cp + 5, dlen - 2);
    if (rc) {
        ew_record_reset(rec);
        return rc;
    }
    if (x.orphans)
        ew_dec_orphans(&x);
    return 0;
}

/* ---- encoding ---- */

/* True when s contains no control byte and none of the bytes in `stop`. */
static bool ew_enc_clean(const char *s, const char *stop)
{
    for (; *s; s++)
        if (ew_is_ctrl((unsigned char)*s) || strchr(stop, *s))
            return false;
    return true;
}

static void ew_enc_kv(struct ew_buf *b, const char *k, const char *v)
{
    ew_buf_adds(b, k);
    ew_buf_addc(b, '=');
    ew_buf_adds(b, v);
}

static void ew_enc_uint(struct ew_buf *b, const char *k, int v, int width)
{
    char tmp[16];
    int i = (int)sizeof tmp;
    tmp[--i] = '\0';
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v || (int)sizeof tmp - 1 - i < width);
    ew_enc_kv(b, k, tmp + i);
    ew_buf_addc(b, ';');
}

/* The encoder refuses exactly what the decoder would not read back as the same record. */
static int ew_enc_check(const struct ew_record *rec)
{
    if (!rec->mn || !rec->st || !rec->cn || !*rec->mn || !*rec->st || !*rec->cn)
        return EW_EINVAL;
    const char *hdr[] = {rec->mn, rec->st, rec->cn, rec->qn, rec->pw};
    for (size_t i = 0; i < sizeof hdr / sizeof hdr[0]; i++)
        if (hdr[i] && !ew_enc_clean(hdr[i], ";"))
            return EW_EINVAL;
    for (size_t i = 0; i < rec->nparams; i++)
        if (!ew_param_key_ok(rec->params[i].key) || !ew_enc_clean(rec->params[i].key, "") ||
            !ew_enc_clean(rec->params[i].text, ";,&"))
            return EW_EINVAL;
    for (size_t i = 0; i < rec->nvalues; i++) {
        const struct ew_value *v = &rec->values[i];
        if (!*v->code || !*v->field_name || !ew_enc_clean(v->code, ";,=&") ||
            !ew_enc_clean(v->field_name, ";,=&-") || !ew_enc_clean(v->text, ";,&") ||
            (v->eflag && !ew_enc_clean(v->eflag, ";,&")) ||
            (v->pol && (!*v->pol || !ew_enc_clean(v->pol, ";,&"))) ||
            (v->flag && (v->flag <= 0x20 || v->flag >= 0x7F || strchr(";,&", v->flag))))
            return EW_EINVAL;
    }
    return 0;
}

/* Writes the flag items that close a group of values; all values of a group share them. */
static void ew_enc_group_flags(struct ew_buf *b, const struct ew_value *v)
{
    if (v->flag) {
        ew_buf_addc(b, ',');
        ew_buf_adds(b, v->code);
        ew_buf_adds(b, "-Flag=");
        ew_buf_addc(b, v->flag);
    }
    if (v->eflag) {
        ew_buf_addc(b, ',');
        ew_buf_adds(b, v->code);
        ew_buf_adds(b, "-EFlag=");
        ew_buf_adds(b, v->eflag);
    }
}

/* Values share a ';' group when the decoder would give them back the same code, PolId and
 * flags. A flag item of its own always stands alone, or it would be moved onto its neighbours. */
static bool ew_same_group(const struct ew_value *a, const struct ew_value *b)
{
    return ew_pol_eq(a->pol, b->pol) && a->flag == b->flag && !ew_is_flag_item(a) &&
           !ew_is_flag_item(b) &&
           (a->eflag == b->eflag || (a->eflag && b->eflag && !strcmp(a->eflag, b->eflag))) &&
           ew_same_code(a, b);
}

int ew_hj212_encode(const struct ew_record *rec, struct ew_buf *out)
{
    int rc = ew_enc_check(rec);
    if (rc)
        return rc;
    size_t start = out->len;
    ew_buf_adds(out, "##0000");
    size_t dstart = out->len;
    if (rec->qn)
        ew_enc_kv(out, "QN", rec->qn), ew_buf_addc(out, ';');
    ew_enc_kv(out, "ST", rec->st), ew_buf_addc(out, ';');
    ew_enc_kv(out, "CN", rec->cn), ew_buf_addc(out, ';');
    if (rec->pw)
        ew_enc_kv(out, "PW", rec->pw), ew_buf_addc(out, ';');
    ew_enc_kv(out, "MN", rec->mn), ew_buf_addc(out, ';');
    if (rec->flag >= 0)
        ew_enc_uint(out, "Flag", rec->flag, 1);
    if (rec->pnum >= 0)
        ew_enc_uint(out, "PNUM", rec->pnum, 4);
    if (rec->pno >= 0)
        ew_enc_uint(out, "PNO", rec->pno, 4);
    ew_buf_adds(out, "CP=&&");
    const char *sep = "";
    if (rec->has_time) {
        char t[18];
        ew_time_format_digits(rec->data_time, t);
        ew_enc_kv(out, "DataTime", t);
        sep = ";";
    }
    for (size_t i = 0; i < rec->nparams; i++) {
        ew_buf_adds(out, sep);
        ew_enc_kv(out, rec->params[i].key, rec->params[i].text);
        sep = ";";
    }
    const char *pol = NULL; /* the PolId in force where the stream has got to */
    for (size_t i = 0; i < rec->nvalues; i++) {
        const struct ew_value *v = &rec->values[i];
        bool cont = i > 0 && ew_same_group(&rec->values[i - 1], v);
        if (!cont && !ew_pol_eq(pol, v->pol)) { /* "PolId=" (empty) returns to none */
            ew_buf_adds(out, sep);
            ew_enc_kv(out, "PolId", v->pol ? v->pol : "");
            sep = ";";
            pol = v->pol;
        }
        ew_buf_adds(out, cont ? "," : sep);
        ew_buf_adds(out, v->code);
        ew_buf_addc(out, '-');
        ew_enc_kv(out, v->field_name, v->text);
        sep = ";";
        if (!ew_is_flag_item(v) &&
            (i + 1 == rec->nvalues || !ew_same_group(&rec->values[i + 1], v)))
            ew_enc_group_flags(out, v);
    }
    ew_buf_adds(out, "&&");
    if (!out->err && out->len - dstart > EW_HJ212_MAX_DATA)
        out->err = EW_ETOO_LONG;
    if (out->err) {
        rc = out->err;
        out->len = start;
        out->err = 0;
        if (out->data)
            out->data[start] = '\0';
        return rc;
    }
    size_t dlen = out->len - dstart;
    for (int i = 5; i >= 2; i--, dlen /= 10)
        out->data[start + (size_t)i] = (char)('0' + dlen % 10);
    char crc[8];
    static const char hexd[] = "0123456789ABCDEF";
    uint16_t c = ew_hj212_crc(out->data + dstart, out->len - dstart);
    for (int i = 0; i < 4; i++)
        crc[i] = hexd[(c >> (12 - 4 * i)) & 0xF];
    crc[4] = '\r';
    crc[5] = '\n';
    ew_buf_add(out, crc, 6);
    if (out->err) {
        rc = out->err;
        out->len = start;
        out->err = 0;
        out->data[start] = '\0';
        return rc;
    }
    return 0;
}
