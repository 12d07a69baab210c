/*
 * ew_hj212.c - HJ 212 packet decoding and encoding (see ew_hj212.h for the order of checks).
 *
 * Decoding copies the data segment once into the record's text arena and cuts it in place:
 * each delimiter after a key or a value is overwritten with NUL, so every string of the record
 * is a pointer into that one copy (or into the static pollutant table). No allocation, one
 * pass over the bytes for the CRC and one for the fields.
 */
#include "ew_hj212.h"

#include "ew_time.h"

#include <string.h>
#include <strings.h>

/*
 * The standard's CRC folds the register's high byte with the data byte, reg = (reg >> 8) ^ b,
 * and runs that through 8 shift/xor steps of the reflected polynomial 0xA001: one lookup in
 * the usual table T per byte. The low byte of the register is discarded at every step, so the
 * state carried from byte to byte is only h = reg >> 8, and h' = H[h ^ b] with H[x] = T[x] >> 8.
 * T, and so H, is linear over GF(2), which lets 8 bytes be folded at once:
 *   h[i+8] = H^8[h[i] ^ b[i]] ^ H^7[b[i+1]] ^ ... ^ H^1[b[i+7]]
 * - eight independent lookups instead of a chain of eight dependent ones ("slicing by 8").
 * The last byte goes through T itself to produce the full 16-bit value.
 */
static uint16_t ew_crc_table[256];
static uint8_t ew_crc_slice[8][256]; /* ew_crc_slice[k][x] = H^(k+1)(x) */
static bool ew_crc_ready;

static void ew_crc_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint16_t r = (uint16_t)i;
        for (int k = 0; k < 8; k++)
            r = (r & 1) ? (uint16_t)((r >> 1) ^ 0xA001) : (uint16_t)(r >> 1);
        ew_crc_table[i] = r;
        ew_crc_slice[0][i] = (uint8_t)(r >> 8);
    }
    for (int k = 1; k < 8; k++)
        for (unsigned i = 0; i < 256; i++)
            ew_crc_slice[k][i] = ew_crc_slice[0][ew_crc_slice[k - 1][i]];
    ew_crc_ready = true;
}

uint16_t ew_hj212_crc(const void *data, size_t len)
{
    if (!ew_crc_ready)
        ew_crc_init();
    if (len == 0)
        return 0xFFFF;
    const unsigned char *p = data;
    const uint8_t(*s)[256] = ew_crc_slice;
    size_t i = 0, last = len - 1;
    unsigned h = 0xFF;
    for (; i + 8 <= last; i += 8)
        h = s[7][h ^ p[i]] ^ s[6][p[i + 1]] ^ s[5][p[i + 2]] ^ s[4][p[i + 3]] ^
            s[3][p[i + 4]] ^ s[2][p[i + 5]] ^ s[1][p[i + 6]] ^ s[0][p[i + 7]];
    for (; i < last; i++)
        h = s[0][h ^ p[i]];
    return ew_crc_table[h ^ p[last]];
}

uint16_t ew_hj212_crc_legacy(const void *data, size_t len)
{
    if (!ew_crc_ready)
        ew_crc_init();
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

/* Decoder state: the record, the copy of the data segment, and where it sat in the input. */
struct ew_dec {
    struct ew_record *rec;
    char *d;        /* data segment copy, NUL-terminated, cut in place */
    size_t base;    /* input offset of d[0] */
    size_t max_values;
    const char *pol; /* current PolId */
    enum ew_medium medium;
    struct ew_error *err;
};

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

static int ew_hdr_lookup(const char *k, size_t n)
{
    for (int h = 0; h < EW_HDR_COUNT; h++)
        if ((ew_hdr_names[h][0] ^ k[0]) % 32 == 0 &&
            strlen(ew_hdr_names[h]) == n && !strncasecmp(ew_hdr_names[h], k, n))
            return h;
    return -1;
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
        return ew_error_set(x->err, EW_EMALFORMED, x->base + off, "bad parameter name: %.40s",
                            key);
    for (size_t i = 0; i < rec->nparams; i++)
        if (!strcmp(rec->params[i].key, key))
            return ew_error_set(x->err, EW_EMALFORMED, x->base + off, "duplicate %.40s", key);
    if (rec->nparams >= EW_RECORD_MAX_PARAMS)
        return ew_error_set(x->err, EW_ETOO_LONG, x->base + off, "more than %d parameters",
                            EW_RECORD_MAX_PARAMS);
    rec->params[rec->nparams].key = key;
    rec->params[rec->nparams].text = text;
    rec->nparams++;
    return 0;
}

/* Header fields: everything before "CP=&&". Returns the offset of the CP field. */
static int ew_dec_header(struct ew_dec *x, size_t dlen, size_t *cp)
{
    struct ew_record *rec = x->rec;
    const char *hv[EW_HDR_COUNT] = {0};
    size_t hoff[EW_HDR_COUNT] = {0};
    size_t pos = 0;
    for (;;) {
        if (dlen - pos >= 5 && !strncasecmp(x->d + pos, "CP=&&", 5))
            break;
        char *semi = memchr(x->d + pos, ';', dlen - pos);
        if (!semi)
            return ew_error_set(x->err, EW_EMALFORMED, x->base + pos,
                                "no CP=&& field in the data segment");
        size_t end = (size_t)(semi - x->d);
        *semi = '\0';
        if (end == pos) { /* empty field ";;" */
            pos++;
            continue;
        }
        char *eq = memchr(x->d + pos, '=', end - pos);
        if (!eq)
            return ew_error_set(x->err, EW_EMALFORMED, x->base + pos,
                                "header field without '=': %.40s", x->d + pos);
        size_t klen = (size_t)(eq - (x->d + pos));
        *eq = '\0';
        int h = ew_hdr_lookup(x->d + pos, klen);
        if (h < 0) {
            int rc = ew_add_param(x, x->d + pos, eq + 1, pos);
            if (rc)
                return rc;
        } else if (hv[h]) {
            return ew_error_set(x->err, EW_EMALFORMED, x->base + pos, "duplicate %s field",
                                ew_hdr_names[h]);
        } else {
            hv[h] = eq + 1;
            hoff[h] = (size_t)(eq + 1 - x->d);
        }
        pos = end + 1;
    }
    *cp = pos;

    static const int required[] = {EW_HDR_MN, EW_HDR_ST, EW_HDR_CN};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!hv[required[i]] || !*hv[required[i]])
            return ew_error_set(x->err, EW_EMALFORMED, x->base + pos, "missing %s field",
                                ew_hdr_names[required[i]]);
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
        *dst[i] = ew_small_uint(v, strlen(v));
        if (*dst[i] < 0)
            return ew_error_set(x->err, EW_EMALFORMED, x->base + hoff[numeric[i]],
                                "%s is not a decimal number: %.20s", ew_hdr_names[numeric[i]], v);
    }
    if (rec->flag > 255)
        return ew_error_set(x->err, EW_EMALFORMED, x->base + hoff[EW_HDR_FLAG],
                            "Flag %d does not fit a byte", rec->flag);
    rec->version = (uint8_t)ew_version_from_flag(rec->flag);
    rec->kind = (uint8_t)ew_kind_from_cn(rec->cn);
    x->medium = ew_medium_of_st(rec->st);
    return 0;
}

/* One "key=value" of CP, already NUL-terminated at its end; kstart is its offset in d. */
static int ew_dec_item(struct ew_dec *x, size_t kstart, size_t end)
{
    struct ew_record *rec = x->rec;
    char *k = x->d + kstart;
    char *eq = memchr(k, '=', end - kstart);
    if (!eq)
        return ew_error_set(x->err, EW_EMALFORMED, x->base + kstart, "CP item without '=': %.40s",
                            k);
    *eq = '\0';
    char *val = eq + 1;
    size_t vlen = (size_t)(x->d + end - val);
    char *dash = strrchr(k, '-');

    if (!dash) { /* a parameter of the whole record */
        if (!strcasecmp(k, "DataTime")) {
            if (rec->has_time)
                return ew_error_set(x->err, EW_EMALFORMED, x->base + kstart,
                                    "duplicate DataTime");
            if (ew_time_parse_digits(val, vlen, &rec->data_time))
                return ew_error_set(x->err, EW_EMALFORMED, x->base + (size_t)(val - x->d),
                                    "DataTime is not a valid 14- or 17-digit time: %.20s", val);
            rec->has_time = true;
            return 0;
        }
        if (!strcasecmp(k, "PolId")) {
            x->pol = vlen ? val : NULL;
            return 0;
        }
        return ew_add_param(x, k, val, kstart);
    }

    if (dash == k || dash[1] == '\0')
        return ew_error_set(x->err, EW_EMALFORMED, x->base + kstart,
                            "value key needs a code and a field: %.40s", k);
    if (rec->nvalues >= x->max_values)
        return ew_error_set(x->err, EW_ETOO_LONG, x->base + kstart, "more than %zu values",
                            x->max_values);
    *dash = '\0';
    struct ew_value *v = &rec->values[rec->nvalues++];
    const char *suffix = dash + 1;
    enum ew_field f = ew_field_lookup(suffix, (size_t)(eq - suffix));
    v->code = k;
    v->field = (uint8_t)f;
    v->field_name = f == EW_FIELD_OTHER ? suffix : ew_field_name(f);
    v->text = val;
    v->eflag = NULL;
    v->pol = x->pol;
    v->flag = '\0';
    v->flag_meaning = EW_FLAG_NONE;
    v->num = 0;
    int64_t t;
    if (f == EW_FIELD_SAMPLETIME && ew_time_parse_digits(val, vlen, &t) == 0) {
        v->type = EW_VT_TIME;
        v->num = (double)t;
    } else {
        v->type = f != EW_FIELD_FLAG && f != EW_FIELD_EFLAG && ew_parse_number(val, vlen, &v->num)
                      ? EW_VT_NUMBER
                      : EW_VT_TEXT;
    }
    ew_value_resolve(v, x->medium);
    return 0;
}

/* CP content between "CP=&&" and the closing "&&": items by ';', sub-fields by ','. */
static int ew_dec_cp(struct ew_dec *x, size_t start, size_t end)
{
    size_t pos = start;
    while (pos < end) {
        size_t stop = pos;
        while (stop < end && x->d[stop] != ';' && x->d[stop] != ',')
            stop++;
        if (stop > pos) { /* empty items (";;", trailing ';') carry nothing */
            x->d[stop] = '\0';
            int rc = ew_dec_item(x, pos, stop);
            if (rc)
                return rc;
        }
        pos = stop + 1;
    }
    return 0;
}

/* Moves each -Flag / -EFlag onto the values of the same code (and PolId); a flag with no
 * value to carry it stays as a value of its own, so nothing sent is dropped. */
static bool ew_same_code(const struct ew_value *a, const struct ew_value *b)
{
    /* resolved codes of different table entries differ; anything else needs the text */
    if (a->pollutant && b->pollutant && a->pollutant != b->pollutant)
        return false;
    return a->code == b->code || !strcmp(a->code, b->code);
}

static void ew_dec_attach_flags(struct ew_record *rec)
{
    bool used[EW_RECORD_MAX_VALUES];
    memset(used, 0, rec->nvalues);
    for (size_t i = 0; i < rec->nvalues; i++) {
        struct ew_value *f = &rec->values[i];
        bool is_flag = f->field == EW_FIELD_FLAG && f->text[0] > 0x20 && f->text[0] < 0x7F &&
                       !f->text[1];
        if (is_flag)
            f->flag = f->text[0];
        if (!is_flag && f->field != EW_FIELD_EFLAG)
            continue;
        for (size_t j = 0; j < rec->nvalues; j++) {
            struct ew_value *v = &rec->values[j];
            if (v->field == EW_FIELD_FLAG || v->field == EW_FIELD_EFLAG || v->pol != f->pol ||
                !ew_same_code(v, f))
                continue;
            if (is_flag)
                v->flag = f->text[0];
            else
                v->eflag = f->text;
            used[i] = true;
        }
    }
    size_t out = 0;
    for (size_t i = 0; i < rec->nvalues; i++)
        if (!used[i])
            rec->values[out++] = rec->values[i];
    rec->nvalues = out;
}

int ew_hj212_decode(const void *buf, size_t len, const struct ew_hj212_opts *opts,
                    struct ew_record *rec, struct ew_error *err)
{
    const char *p = buf;
    size_t max_data = opts && opts->max_data ? opts->max_data : EW_HJ212_MAX_DATA;
    if (max_data > EW_HJ212_MAX_DATA)
        max_data = EW_HJ212_MAX_DATA;
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
    int declared = n >= 6 ? ew_small_uint(p + 2, 4) : -1;
    if (declared < 0)
        return ew_error_set(err, EW_EMALFORMED, 2, "length field is not 4 decimal digits");
    if ((size_t)declared > max_data)
        return ew_error_set(err, EW_ETOO_LONG, 2, "declared data segment of %d bytes exceeds "
                            "the limit of %zu", declared, max_data);
    if (n < EW_HJ212_FRAME + 2)
        return ew_error_set(err, EW_EMALFORMED, n, "packet too short for a data segment and CRC");
    size_t dlen = n - EW_HJ212_FRAME;
    const char *data = p + 6, *crc = p + n - 4;
    int hex[4];
    for (int i = 0; i < 4; i++)
        if ((hex[i] = ew_hexval((unsigned char)crc[i])) < 0)
            return ew_error_set(err, EW_EMALFORMED, n - 4, "CRC is not 4 hex digits");
    if (data[dlen - 2] != '&' || data[dlen - 1] != '&')
        return ew_error_set(err, EW_EMALFORMED, 6 + dlen, "data segment does not end with the "
                            "&& that closes CP");
    if (dlen != (size_t)declared)
        return ew_error_set(err, EW_ELENGTH_MISMATCH, 2,
                            "length field says %d bytes, the data segment has %zu", declared,
                            dlen);
    uint16_t sent = (uint16_t)(hex[0] << 12 | hex[1] << 8 | hex[2] << 4 | hex[3]);
    uint16_t want = ew_hj212_crc(data, dlen);
    if (sent != want && !(opts && opts->legacy_crc && sent == ew_hj212_crc_legacy(data, dlen)))
        return ew_error_set(err, EW_ECRC_MISMATCH, n - 4, "CRC %04X computed, packet says %.4s",
                            want, crc);
    for (size_t i = 0; i < dlen; i++)
        if ((unsigned char)data[i] < 0x20 || data[i] == 0x7F)
            return ew_error_set(err, EW_EMALFORMED, 6 + i, "control byte 0x%02X in the data "
                                "segment", (unsigned char)data[i]);

    struct ew_dec x = {
        .rec = rec,
        .d = ew_record_strndup(rec, data, dlen), /* dlen < EW_RECORD_TEXT_MAX always */
        .base = 6,
        .max_values = opts && opts->max_values && opts->max_values < EW_RECORD_MAX_VALUES
                          ? opts->max_values
                          : EW_RECORD_MAX_VALUES,
        .err = err,
    };
    size_t cp = 0;
    int rc = ew_dec_header(&x, dlen, &cp);
    if (rc == 0 && cp + 5 > dlen - 2)
        rc = ew_error_set(err, EW_EMALFORMED, 6 + cp, "CP=&& is not closed with &&");
    const char *amp = rc ? NULL : memchr(x.d + cp + 5, '&', dlen - 2 - (cp + 5));
    if (amp)
        rc = ew_error_set(err, EW_EMALFORMED, 6 + (size_t)(amp - x.d), "'&' inside CP");
    if (rc == 0)
        rc = ew_dec_cp(&x, cp + 5, dlen - 2);
    if (rc) {
        ew_record_reset(rec);
        return rc;
    }
    ew_dec_attach_flags(rec);
    ew_record_apply_version(rec);
    return 0;
}

/* ---- encoding ---- */

/* True when s contains no control byte and none of the bytes in `stop`. */
static bool ew_enc_clean(const char *s, const char *stop)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7F || strchr(stop, *s))
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

/* Writes the flag items that close the group of values [first, last] of one code. */
static void ew_enc_group_flags(struct ew_buf *b, const struct ew_record *rec, size_t first,
                               size_t last)
{
    const struct ew_value *v = &rec->values[last];
    char flag = 0;
    const char *eflag = NULL;
    for (size_t i = first; i <= last; i++) {
        if (rec->values[i].field == EW_FIELD_FLAG)
            return; /* the group carries its flag as a value of its own */
        flag = flag ? flag : rec->values[i].flag;
        eflag = eflag ? eflag : rec->values[i].eflag;
    }
    if (flag) {
        ew_buf_addc(b, ',');
        ew_buf_adds(b, v->code);
        ew_buf_adds(b, "-Flag=");
        ew_buf_addc(b, flag);
    }
    if (eflag) {
        ew_buf_addc(b, ',');
        ew_buf_adds(b, v->code);
        ew_buf_adds(b, "-EFlag=");
        ew_buf_adds(b, eflag);
    }
}

static bool ew_same_group(const struct ew_value *a, const struct ew_value *b)
{
    return a->pol == b->pol && ew_same_code(a, b);
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
    const char *pol = NULL;
    for (size_t i = 0; i < rec->nvalues; i++) {
        const struct ew_value *v = &rec->values[i];
        bool cont = i > 0 && ew_same_group(&rec->values[i - 1], v);
        if (!cont && v->pol && (!pol || strcmp(pol, v->pol))) {
            ew_buf_adds(out, sep);
            ew_enc_kv(out, "PolId", v->pol);
            sep = ";";
        }
        pol = v->pol ? v->pol : pol;
        ew_buf_adds(out, cont ? "," : sep);
        ew_buf_adds(out, v->code);
        ew_buf_addc(out, '-');
        ew_enc_kv(out, v->field_name, v->text);
        sep = ";";
        size_t first = i;
        while (first > 0 && ew_same_group(&rec->values[first - 1], v))
            first--;
        if (i + 1 == rec->nvalues || !ew_same_group(&rec->values[i + 1], v))
            ew_enc_group_flags(out, rec, first, i);
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
