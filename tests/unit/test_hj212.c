/* Unit tests: the HJ 212 codec (CRC, framing, truncation, corruption, limits, encoding). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ew_hj212.h"

static const char example[] =
    "##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;"
    "CP=&&RtdInterval=30&&1C80";

static const char hourly[] =
    "QN=20240122170012345;ST=31;CN=2061;PW=123456;MN=33060200000001F000000001;Flag=4;CP=&&"
    "DataTime=20240122170000;a21026-Avg=23.5,a21026-ZsAvg=31.2,a21026-Flag=N;a19001-Avg=9.8,"
    "a19001-Flag=N&&";

/* The standard's Appendix A algorithm, bit by bit, as the reference for the table version. */
static uint16_t crc_reference(const unsigned char *p, size_t n)
{
    uint16_t reg = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        reg = (uint16_t)((reg >> 8) ^ p[i]);
        for (int k = 0; k < 8; k++) {
            int lsb = reg & 1;
            reg >>= 1;
            if (lsb)
                reg ^= 0xA001;
        }
    }
    return reg;
}

/* CRC-16/MODBUS, bit by bit, bytes swapped. */
static uint16_t crc_modbus_swapped(const unsigned char *p, size_t n)
{
    uint16_t reg = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        reg ^= p[i];
        for (int k = 0; k < 8; k++)
            reg = (reg & 1) ? (uint16_t)((reg >> 1) ^ 0xA001) : (uint16_t)(reg >> 1);
    }
    return (uint16_t)((reg << 8) | (reg >> 8));
}

/* Frames a data segment as a packet into out (CRC in upper case, with CR LF). */
static size_t frame(const char *data, char *out, size_t cap)
{
    size_t n = strlen(data);
    return (size_t)snprintf(out, cap, "##%04zu%s%04X\r\n", n, data, ew_hj212_crc(data, n));
}

static void test_crc_worked_example(void **state)
{
    (void)state;
    const char *data = example + 6;
    assert_int_equal(ew_hj212_crc(data, 101), 0x1C80);
    /* not CRC-16/MODBUS, though the polynomial is the same */
    assert_int_not_equal(ew_hj212_crc_legacy(data, 101), 0x1C80);
}

/* Every length up to 300 (the bytes before the last 8-byte word take every form), then longer
 * ones. The decoder's own pass (32 bytes a step) is checked by
 * test_crc_in_decoder_every_length. */
static void test_crc_table_matches_reference(void **state)
{
    (void)state;
    unsigned char buf[10000];
    srand(2017);
    for (int round = 0; round < 2300; round++) {
        size_t n = round < 300 ? (size_t)round : (size_t)(rand() % (int)sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)rand(); /* high bytes too: must be unsigned */
        assert_int_equal(ew_hj212_crc(buf, n), crc_reference(buf, n));
        assert_int_equal(ew_hj212_crc_legacy(buf, n), crc_modbus_swapped(buf, n));
    }
}

static void test_decode_example(void **state)
{
    (void)state;
    struct ew_record *rec = ew_record_new();
    struct ew_error err = {0};
    assert_int_equal(ew_hj212_decode(example, strlen(example), NULL, rec, &err), 0);
    assert_string_equal(rec->mn, "010000A8900016F000169DC0");
    assert_string_equal(rec->st, "32");
    assert_string_equal(rec->cn, "1062");
    assert_int_equal(rec->flag, 5);
    assert_int_equal(rec->version, EW_VERSION_2017);
    assert_false(rec->has_time);
    assert_int_equal(rec->nparams, 1);
    assert_string_equal(rec->params[0].key, "RtdInterval");
    assert_string_equal(rec->params[0].text, "30");
    ew_record_free(rec);
}

/* What each structural byte means where it stands: ',' '-' '&' are text in the header; in a CP
 * key the last '-' splits code and field, in a value '-' and '=' are text; '&' and control
 * bytes are refused in CP, control bytes in the header, each at its own offset. */
static void test_structural_bytes_in_place(void **state)
{
    (void)state;
    struct ew_record *rec = ew_record_new();
    struct ew_error err = {0};
    char pkt[512];
    size_t n = frame("QN=2024-01;ST=31;CN=2011;PW=1,2&3;MN=M-1;X=a=b=c;Flag=5;CP=&&DataTime="
                     "20240101000000;;a21026-Rtd=-1.5,,a21026-Flag=N;;&&",
                     pkt, sizeof pkt);
    assert_int_equal(ew_hj212_decode(pkt, n, NULL, rec, &err), 0);
    assert_string_equal(rec->qn, "2024-01");
    assert_string_equal(rec->pw, "1,2&3");
    assert_string_equal(rec->mn, "M-1");
    assert_string_equal(rec->params[0].key, "X");
    assert_string_equal(rec->params[0].text, "a=b=c");
    assert_int_equal(rec->nvalues, 1);
    assert_true(rec->values[0].num == -1.5);
    assert_int_equal(rec->values[0].flag, 'N');

    n = frame("ST=31;CN=2011;MN=M;CP=&&SB1-x-RS=1;a01011-Info=a=b;a-b-c=d&&", pkt, sizeof pkt);
    assert_int_equal(ew_hj212_decode(pkt, n, NULL, rec, &err), 0);
    assert_int_equal(rec->nvalues, 3);
    assert_string_equal(rec->values[0].code, "SB1-x");
    assert_string_equal(rec->values[0].field_name, "RS");
    assert_string_equal(rec->values[1].text, "a=b");
    assert_string_equal(rec->values[2].code, "a-b");
    assert_string_equal(rec->values[2].field_name, "c");

    /* a '-' farther than 8 bytes before the '=', a long name without one, a long item, a short
     * name after a value with a '-' */
    n = frame(
        "ST=31;CN=2011;MN=M;CP=&&a21026-SampleTime=20240101000000;LongParameterName=1;"
        "a-bcdefghijklmnopq=-2;z=1;kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
        "kkkkk-Rtd=3&&",
        pkt, sizeof pkt);
    assert_int_equal(ew_hj212_decode(pkt, n, NULL, rec, &err), 0);
    assert_int_equal(rec->nvalues, 3);
    assert_string_equal(rec->values[0].field_name, "SampleTime");
    assert_int_equal(rec->values[0].type, EW_VT_TIME);
    assert_string_equal(rec->params[0].key, "LongParameterName");
    assert_string_equal(rec->params[1].key, "z");
    assert_true(rec->values[1].num == -2);
    assert_string_equal(rec->values[1].code, "a");
    assert_string_equal(rec->values[1].field_name, "bcdefghijklmnopq");
    assert_int_equal(strlen(rec->values[2].code), 69);
    assert_int_equal(rec->values[2].field, EW_FIELD_RTD);

    static const struct {
        const char *data;
        size_t offset; /* in the packet: the data segment starts at 6 */
        const char *detail;
    } bad[] = {
        {"ST=31;CN=2011;MN=M;CP=&&a21026-Rtd=1&2&&", 42, "'&' inside CP"},
        {"ST=31;CN=2011;MN=M\x01;CP=&&a21026-Rtd=1&&", 24, "control byte 0x01"},
        {"ST=31;CN;MN=M;CP=&&a21026-Rtd=1&&", 12, "header field without '='"},
        {"ST=31;CN=2011;MN=M;CP=&&a21026-Rtd=1;foo;x=1&&", 43, "CP item without '='"},
        {"ST=31;CN=2011;MN=M;CP=&&a=1,b=2;c-d=3\x7f&&", 43, "control byte 0x7F"},
        {"ST=31;CN=2011;MN=M;X=&&", 25, "no CP=&& field"},
        {"ST=31;CN=2011;PW=a&b\x02;MN=M;CP=&&a=1&&", 26, "control byte 0x02"},
        {"ST=31;CN=2011;MN=M;CP=&&a21026-Rtd=1;LongParameterName&&", 43, "CP item without '='"},
    };
    /* the text a message quotes is the field as sent, its ',' '&' '=' included */
    n = frame("ST=31;C,N&=;MN=M;CP=&&a=1&&", pkt, sizeof pkt);
    assert_int_equal(ew_hj212_decode(pkt, n, NULL, rec, &err), EW_EMALFORMED);
    assert_string_equal(err.detail, "bad parameter name: C,N&");
    n = frame("ST=31;C,N&;MN=M;CP=&&a=1&&", pkt, sizeof pkt);
    assert_int_equal(ew_hj212_decode(pkt, n, NULL, rec, &err), EW_EMALFORMED);
    assert_string_equal(err.detail, "header field without '=': C,N&");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = frame(bad[i].data, pkt, sizeof pkt);
        assert_int_equal(ew_hj212_decode(pkt, n, NULL, rec, &err), EW_EMALFORMED);
        assert_int_equal(err.offset, bad[i].offset);
        assert_non_null(strstr(err.detail, bad[i].detail));
    }
    ew_record_free(rec);
}

/* A comparison of the decoder with a switch of it on (use(true)) and off: two records, and the
 * count of answers compared, [0] errors and [1] records. */
struct both_ways {
    void (*use)(bool);
    struct ew_record *a, *b;
    int seen[2];
};

static struct both_ways both_ways_new(void (*use)(bool))
{
    return (struct both_ways){use, ew_record_new(), ew_record_new(), {0, 0}};
}

/* Ends the comparison: at least the given numbers of errors and records were compared. */
static void both_ways_end(struct both_ways *w, int errors, int records)
{
    assert_true(w->seen[0] >= errors && w->seen[1] >= records);
    ew_record_free(w->a);
    ew_record_free(w->b);
}

/* Frames the data segment and decodes it both ways: the same record, or the same error. */
static void decode_both_ways(struct both_ways *w, const char *data)
{
    struct ew_record *a = w->a, *b = w->b;
    void (*use)(bool) = w->use;
    int *seen = w->seen;
    char pkt[4400];
    size_t n = frame(data, pkt, sizeof pkt);
    assert_true(n < sizeof pkt);
    struct ew_error ea = {0}, eb = {0};
    use(true);
    int ra = ew_hj212_decode(pkt, n, NULL, a, &ea);
    use(false);
    int rb = ew_hj212_decode(pkt, n, NULL, b, &eb);
    use(true);
    assert_int_equal(ra, rb);
    seen[ra == 0]++;
    if (ra) {
        assert_int_equal(ea.offset, eb.offset);
        assert_string_equal(ea.detail, eb.detail);
        return;
    }
    struct ew_buf pa = EW_BUF_INIT, pb = EW_BUF_INIT;
    assert_int_equal(ew_hj212_encode(a, &pa), ew_hj212_encode(b, &pb));
    assert_int_equal(pa.len, pb.len);
    assert_memory_equal(pa.data, pb.data, pa.len);
    ew_buf_release(&pa);
    ew_buf_release(&pb);
    /* what the encoding does not show: the table entry, the field, the number */
    assert_int_equal(a->nvalues, b->nvalues);
    for (size_t i = 0; i < a->nvalues; i++) {
        const struct ew_value *va = &a->values[i], *vb = &b->values[i];
        assert_ptr_equal(va->pollutant, vb->pollutant);
        assert_int_equal(va->field, vb->field);
        assert_int_equal(va->type, vb->type);
        assert_int_equal(va->flag_meaning, vb->flag_meaning);
        assert_true(va->num == vb->num || (va->num != va->num && vb->num != vb->num));
    }
}

/* The decoder's CRC, taken in its own pass over the segment (32 bytes a step with AVX2), for
 * every segment length up to 400: a packet framed with the bit-by-bit CRC is read, and one with
 * a byte changed is refused, whichever path runs. */
static void test_crc_in_decoder_every_length(void **state)
{
    (void)state;
    struct ew_record *rec = ew_record_new();
    char data[512], pkt[600];
    static const char head[] = "ST=31;CN=2011;MN=1;CP=&&Pad=";
    for (size_t n = sizeof head + 2; n <= 400; n++) {
        size_t pad = n - (sizeof head - 1) - 2;
        memcpy(data, head, sizeof head - 1);
        for (size_t i = 0; i < pad; i++)
            data[sizeof head - 1 + i] = (char)('a' + (n + i) % 26);
        memcpy(data + n - 2, "&&", 3);
        int len = snprintf(pkt, sizeof pkt, "##%04zu%s%04X", n, data,
                           crc_reference((const unsigned char *)data, n));
        for (int simd = 0; simd < 2; simd++) {
            ew_hj212_use_simd(simd);
            struct ew_error err = {0};
            assert_int_equal(ew_hj212_decode(pkt, (size_t)len, NULL, rec, &err), 0);
            assert_int_equal(strlen(rec->params[0].text), pad);
            assert_memory_equal(rec->params[0].text, data + sizeof head - 1, pad);
            for (size_t at = 6; at < 6 + n - 2; at += n / 3) { /* first, middle and later bytes */
                pkt[at] ^= 0x01;
                assert_int_equal(ew_hj212_decode(pkt, (size_t)len, NULL, rec, &err),
                                 EW_ECRC_MISMATCH);
                pkt[at] ^= 0x01;
            }
        }
    }
    ew_hj212_use_simd(true);
    ew_record_free(rec);
}

/* The portable classifier and CRC agree with the AVX2 pass, on packets with structural bytes
 * put anywhere (the CRC still right, so that the fields are read). */
static void test_portable_paths_agree(void **state)
{
    (void)state;
    struct both_ways w = both_ways_new(ew_hj212_use_simd);
    /* the structural bytes, and bytes that share a nibble with one of them */
    static const char alphabet[] = ";,=-&\x01\x7f a0.NC+6{?/\x9b\xbd\xfe\x1f ";
    char base[4096], data[4200];
    int len = snprintf(base, sizeof base, "%s", hourly);
    base[len - 2] = '\0'; /* groups added before the closing "&&" */
    for (int g = 0; g < 40; g++)
        snprintf(base + strlen(base), sizeof base - strlen(base), ";a%05d-Avg=%d.5,a%05d-Flag=N", g,
                 g, g);
    strcat(base, "&&");
    srand(212);
    for (int i = 0; i < 3000; i++) {
        size_t n = strlen(base);
        memcpy(data, base, n + 1);
        for (int m = 1 + rand() % 3; m > 0; m--) {
            size_t at = (size_t)rand() % n;
            memmove(data + at + 1, data + at, n - at + 1);
            data[at] = alphabet[(size_t)rand() % (sizeof alphabet - 1)];
            n++;
        }
        size_t cut = i % 2 ? n : 40 + (size_t)rand() % (n - 40); /* short ones too */
        if (cut < n) {
            memcpy(data + cut - 2, "&&", 3);
            n = cut;
        }
        assert_int_equal(ew_hj212_crc(data, n), crc_reference((const unsigned char *)data, n));
        decode_both_ways(&w, data);
    }
    both_ways_end(&w, 301, 301); /* both kinds of answer were compared */
}

/* The memo of value keys gives what resolving each key again gives: keys of every length
 * around its limit, in both editions and any case, under each medium (a 2005 code means
 * different things in water and air), with fields it does not keep (unknown ones, flags,
 * SampleTime). Each packet is decoded twice with the memo on, so the second reads from it. */
static void test_key_memo_agrees(void **state)
{
    (void)state;
    static const char *const st[] = {"31", "32", "21", "22", "99"};
    static const char *const keys[] = {
        "a21026-Avg", "A21026-avg",   "a21026-ZSAVG",      "001-Rtd",          "B01-Cou",
        "01-Rtd",     "w01018-ZsAvg", "a21026-SampleTime", "a21026-Flag",      "a21026-EFlag",
        "a21026-Foo", "a21-026-Avg",  "a21026-ZsAvgXYZ",   "a21026-ZsAvgXYZW", "a21026-ZsAvgXYZWV",
        "e10101-Rtd", "SB1-RS",       "a99999-Avg",        "a21026-Avg-",      "w00000-Max",
    };
    static const char *const vals[] = {"23.5", "N", "20240122170000", "-0.5", "x", ""};
    struct both_ways w = both_ways_new(ew_hj212_use_memo);
    char data[4096];
    for (size_t m = 0; m < sizeof st / sizeof st[0]; m++)
        for (int round = 0; round < 2; round++)
            for (size_t g = 0; g < 40; g++) {
                int len = snprintf(data, sizeof data,
                                   "QN=20240122170012345;ST=%s;CN=2061;MN=M1;Flag=4;CP=&&"
                                   "DataTime=20240122170000",
                                   st[m]);
                for (size_t i = 0; i < 6; i++) {
                    size_t k = (g * 7 + i * 3) % (sizeof keys / sizeof keys[0]);
                    len += snprintf(data + len, sizeof data - (size_t)len, "%c%s=%s",
                                    i % 3 ? ',' : ';', keys[k],
                                    vals[(g + i) % (sizeof vals / sizeof vals[0])]);
                }
                snprintf(data + len, sizeof data - (size_t)len, "&&");
                decode_both_ways(&w, data);
            }
    both_ways_end(&w, 21, 101); /* records and errors were both compared */
}

/* The record keeps nothing of the caller's buffer. */
static void test_record_outlives_input(void **state)
{
    (void)state;
    struct ew_record *rec = ew_record_new();
    char pkt[1024];
    size_t n = frame(hourly, pkt, sizeof pkt);
    char *copy = malloc(n);
    memcpy(copy, pkt, n);
    assert_int_equal(ew_hj212_decode(copy, n, NULL, rec, NULL), 0);
    memset(copy, 'Z', n);
    free(copy);
    assert_string_equal(rec->mn, "33060200000001F000000001");
    assert_int_equal(rec->nvalues, 3);
    assert_string_equal(rec->values[1].field_name, "ZsAvg");
    assert_true(rec->values[1].num == 31.2);
    assert_int_equal(rec->values[1].flag, 'N');
    assert_int_equal(rec->values[1].flag_meaning, EW_FLAG_NORMAL);
    assert_int_equal(rec->values[2].field, EW_FIELD_AVG);
    assert_int_equal(rec->kind, EW_KIND_HOUR);
    ew_record_free(rec);
}

/* Every cut of a packet is rejected, never accepted and never a crash. */
static void test_every_truncation_rejected(void **state)
{
    (void)state;
    struct ew_record *rec = ew_record_new();
    char pkt[1024];
    size_t n = frame(hourly, pkt, sizeof pkt) - 2; /* without CR LF */
    for (size_t cut = 0; cut < n; cut++) {
        struct ew_error err = {0};
        int rc = ew_hj212_decode(pkt, cut, NULL, rec, &err);
        assert_true(rc == EW_EMALFORMED || rc == EW_ELENGTH_MISMATCH);
        assert_true(err.offset <= n);
        assert_true(err.detail[0] != '\0');
    }
    ew_record_free(rec);
}

/* Every change of one byte of the data segment is caught by the CRC. */
static void test_every_byte_corruption_rejected(void **state)
{
    (void)state;
    struct ew_record *rec = ew_record_new();
    char pkt[1024];
    size_t n = frame(hourly, pkt, sizeof pkt);
    const unsigned char subst[] = {'0', 'A', ';', '=', '&', 0x00, 0x0A, 0xFF, 0x80};
    for (size_t i = 6; i < n - 6; i++) {
        for (size_t s = 0; s < sizeof subst; s++) {
            if ((unsigned char)pkt[i] == subst[s])
                continue;
            char bad[1024];
            memcpy(bad, pkt, n);
            bad[i] = (char)subst[s];
            struct ew_error err = {0};
            int rc = ew_hj212_decode(bad, n, NULL, rec, &err);
            assert_true(rc < 0);
        }
    }
    ew_record_free(rec);
}

static void test_crc_hex_case_and_legacy_option(void **state)
{
    (void)state;
    struct ew_record *rec = ew_record_new();
    const char *data = "ST=32;CN=2011;MN=M1;CP=&&w01018-Rtd=1.5&&";
    size_t dn = strlen(data);
    char pkt[256];
    snprintf(pkt, sizeof pkt, "##%04zu%s%04x", dn, data, ew_hj212_crc(data, dn));
    assert_int_equal(ew_hj212_decode(pkt, strlen(pkt), NULL, rec, NULL), 0);
    snprintf(pkt, sizeof pkt, "##%04zu%s%04X", dn, data, ew_hj212_crc_legacy(data, dn));
    struct ew_error err = {0};
    assert_int_equal(ew_hj212_decode(pkt, strlen(pkt), NULL, rec, &err), EW_ECRC_MISMATCH);
    assert_int_equal(err.offset, strlen(pkt) - 4);
    struct ew_hj212_opts legacy = {.legacy_crc = true};
    assert_int_equal(ew_hj212_decode(pkt, strlen(pkt), &legacy, rec, NULL), 0);
    ew_record_free(rec);
}

/* The largest legal data segment decodes; a longer input is too_long. */
static void test_length_limits(void **state)
{
    (void)state;
    struct ew_record *rec = ew_record_new();
    static char data[EW_HJ212_MAX_DATA + 1], pkt[EW_HJ212_MAX_PACKET + 16];
    const char *head = "ST=31;CN=2011;MN=BIG;CP=&&DataTime=20240101000000;x-Info=";
    size_t hn = strlen(head);
    memcpy(data, head, hn);
    memset(data + hn, 'v', EW_HJ212_MAX_DATA - hn - 2);
    memcpy(data + EW_HJ212_MAX_DATA - 2, "&&", 3);
    size_t n = frame(data, pkt, sizeof pkt);
    assert_int_equal(n, EW_HJ212_MAX_PACKET);
    assert_int_equal(ew_hj212_decode(pkt, n, NULL, rec, NULL), 0);
    assert_int_equal(strlen(rec->values[0].text), EW_HJ212_MAX_DATA - hn - 2);

    struct ew_error err = {0};
    struct ew_hj212_opts small = {.max_data = 1024};
    assert_int_equal(ew_hj212_decode(pkt, n, &small, rec, &err), EW_ETOO_LONG);
    memmove(pkt + 1, pkt, n);
    assert_int_equal(ew_hj212_decode(pkt, n + 1, NULL, rec, &err), EW_ETOO_LONG);
    ew_record_free(rec);
}

static void test_value_limit(void **state)
{
    (void)state;
    struct ew_record *rec = ew_record_new();
    char data[2048] = "ST=31;CN=2011;MN=MANY;CP=&&", pkt[2100];
    for (int i = 0; i < 20; i++)
        snprintf(data + strlen(data), 32, "%sa%05d-Rtd=%d", i ? ";" : "", i, i);
    strcat(data, "&&");
    size_t n = frame(data, pkt, sizeof pkt);
    struct ew_hj212_opts opts = {.max_values = 19};
    struct ew_error err = {0};
    assert_int_equal(ew_hj212_decode(pkt, n, &opts, rec, &err), EW_ETOO_LONG);
    assert_int_equal(rec->nvalues, 0); /* a failed decode leaves an empty record */
    opts.max_values = 20;
    assert_int_equal(ew_hj212_decode(pkt, n, &opts, rec, &err), 0);
    assert_int_equal(rec->nvalues, 20);
    ew_record_free(rec);
}

/* Flags waiting for their values are bounded per ';' group. */
static void test_flag_limit_per_group(void **state)
{
    (void)state;
    struct ew_record *rec = ew_record_new();
    char data[1024] = "ST=31;CN=2011;MN=FLAGS;CP=&&", pkt[1100];
    for (int i = 0; i < 9; i++)
        snprintf(data + strlen(data), 32, "%sa%05d-Flag=N", i ? "," : "", i);
    strcat(data, "&&");
    size_t n = frame(data, pkt, sizeof pkt);
    struct ew_error err = {0};
    assert_int_equal(ew_hj212_decode(pkt, n, NULL, rec, &err), EW_ETOO_LONG);
    assert_string_equal(err.detail, "more than 8 flags in one ';' group");
    /* the same flags in groups of their own are fine: each stays a value */
    for (char *c = strchr(data, ','); c; c = strchr(c, ','))
        *c = ';';
    n = frame(data, pkt, sizeof pkt);
    assert_int_equal(ew_hj212_decode(pkt, n, NULL, rec, &err), 0);
    assert_int_equal(rec->nvalues, 9);
    assert_int_equal(rec->values[8].flag, 'N');
    assert_int_equal(rec->values[8].field, EW_FIELD_FLAG);
    ew_record_free(rec);
}

/* A flag that closes its group goes onto the values of its code and PolId there, and only
 * those: a group of one code takes it at once, a mixed group value by value. */
static void test_closing_flag_goes_onto_its_code_only(void **state)
{
    (void)state;
    struct ew_record *rec = ew_record_new();
    char pkt[512];
    size_t n = frame("ST=31;CN=2011;MN=CLOSE;CP=&&DataTime=20240101000000;"
                     "a21026-Rtd=1,a21002-Rtd=2,a21026-Flag=D;"
                     "a21026-Rtd=3,a21026-Flag=.5,a21026-Flag=T;"
                     "a21026-Rtd=4,PolId=P1,a21026-Rtd=5,a21026-Flag=M;"
                     "a21026-Rtd=6,a21026-ZsRtd=7,a21026-EFlag=E1&&",
                     pkt, sizeof pkt);
    struct ew_error err = {0};
    assert_int_equal(ew_hj212_decode(pkt, n, NULL, rec, &err), 0);
    assert_int_equal(rec->nvalues, 8);
    static const char texts[8][4] = {"1", "2", "3", ".5", "4", "5", "6", "7"};
    static const char flags[8] = {'D', '\0', 'T', '\0', '\0', 'M', '\0', '\0'};
    for (size_t i = 0; i < 8; i++) {
        assert_string_equal(rec->values[i].text, texts[i]);
        assert_int_equal(rec->values[i].flag, flags[i]);
        assert_true((rec->values[i].eflag != NULL) == (i >= 6));
    }
    assert_int_equal(rec->values[0].flag_meaning, ew_flag_meaning(EW_VERSION_2005, 'D'));
    assert_int_equal(rec->values[3].field, EW_FIELD_FLAG); /* not a letter: a text value */
    assert_int_equal(rec->values[3].flag_meaning, EW_FLAG_NONE);
    assert_null(rec->values[4].pol);
    assert_string_equal(rec->values[5].pol, "P1");
    assert_string_equal(rec->values[7].eflag, "E1");
    ew_record_free(rec);
}

static void test_encode_round_trip_and_refusals(void **state)
{
    (void)state;
    struct ew_record *rec = ew_record_new(), *back = ew_record_new();
    char pkt[1024];
    size_t n = frame(hourly, pkt, sizeof pkt);
    assert_int_equal(ew_hj212_decode(pkt, n, NULL, rec, NULL), 0);
    struct ew_buf out = EW_BUF_INIT;
    ew_buf_adds(&out, "prefix|");
    assert_int_equal(ew_hj212_encode(rec, &out), 0);
    assert_memory_equal(out.data, "prefix|", 7);
    assert_int_equal(out.len - 7, n);
    assert_memory_equal(out.data + 7, pkt, n); /* canonical input comes back byte for byte */
    assert_int_equal(ew_hj212_decode(out.data + 7, out.len - 7, NULL, back, NULL), 0);

    /* a text that would break the frame is refused and the buffer is left as it was */
    size_t before = out.len;
    rec->values[0].text = "1;2";
    assert_int_equal(ew_hj212_encode(rec, &out), EW_EINVAL);
    assert_int_equal(out.len, before);
    rec->values[0].text = "1";
    rec->values[0].field_name = "Z-Avg"; /* would read back as code "a21026-Z", field "Avg" */
    assert_int_equal(ew_hj212_encode(rec, &out), EW_EINVAL);
    rec->values[0].field_name = "Avg";
    rec->params[0].key = "DataTime";
    rec->nparams = 1;
    rec->params[0].text = "x";
    assert_int_equal(ew_hj212_encode(rec, &out), EW_EINVAL);
    rec->nparams = 0;
    /* what the decoder reads back is allowed: '=' in a value, '-' in a code */
    rec->values[0].text = "a=b";
    rec->values[0].code = "a-b";
    assert_int_equal(ew_hj212_encode(rec, &out), 0);
    assert_int_equal(ew_hj212_decode(out.data + before, out.len - before, NULL, back, NULL), 0);
    assert_string_equal(back->values[0].code, "a-b");
    assert_string_equal(back->values[0].text, "a=b");
    out.len = before;
    rec->values[0].text = "1";
    rec->values[0].code = "a21026";
    rec->mn = NULL;
    assert_int_equal(ew_hj212_encode(rec, &out), EW_EINVAL);
    rec->mn = "M";

    /* a data segment over 9,999 bytes is too long */
    static char big[12000];
    memset(big, '7', sizeof big - 1);
    rec->values[0].text = big;
    assert_int_equal(ew_hj212_encode(rec, &out), EW_ETOO_LONG);
    assert_int_equal(out.len, before);
    ew_buf_release(&out);
    ew_record_free(rec);
    ew_record_free(back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc_worked_example),
        cmocka_unit_test(test_crc_table_matches_reference),
        cmocka_unit_test(test_crc_in_decoder_every_length),
        cmocka_unit_test(test_decode_example),
        cmocka_unit_test(test_structural_bytes_in_place),
        cmocka_unit_test(test_portable_paths_agree),
        cmocka_unit_test(test_key_memo_agrees),
        cmocka_unit_test(test_record_outlives_input),
        cmocka_unit_test(test_every_truncation_rejected),
        cmocka_unit_test(test_every_byte_corruption_rejected),
        cmocka_unit_test(test_crc_hex_case_and_legacy_option),
        cmocka_unit_test(test_length_limits),
        cmocka_unit_test(test_value_limit),
        cmocka_unit_test(test_flag_limit_per_group),
        cmocka_unit_test(test_closing_flag_goes_onto_its_code_only),
        cmocka_unit_test(test_encode_round_trip_and_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
