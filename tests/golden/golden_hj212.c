/*
 * golden_hj212 DIR - runs one golden case of the HJ 212 codec.
 *
 * Decode case: DIR/packet.hj212 (exact bytes), optional DIR/options ("legacy-crc"), and
 * DIR/expected.json, the object `ecowarn-hj212 decode` must print (compared as JSON values).
 * A decoded packet must also survive encode -> decode unchanged.
 * Encode case: DIR/record.json and DIR/expected.hj212 (exact bytes, CR LF included).
 */
#include "ew_hj212.h"
#include "ew_recjson.h"

#include "../testutil.h"

#include <jansson.h>
#include <string.h>

static char *path_of(const char *dir, const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

static int fail(const char *what, const char *want, const char *got)
{
    fprintf(stderr, "FAIL: %s\n  expected: %s\n  actual:   %s\n", what, want, got);
    return 1;
}

static int decode_case(const char *dir, const char *packet, size_t n, struct ew_record *rec)
{
    char *opt = ew_test_read_file(path_of(dir, "options"), NULL);
    struct ew_hj212_opts opts = {.legacy_crc = opt && strstr(opt, "legacy-crc")};
    free(opt);
    char *want_text = ew_test_read_file(path_of(dir, "expected.json"), NULL);
    if (!want_text)
        return fail("expected.json missing", "a file", "none");

    struct ew_error err = {0};
    struct ew_buf out = EW_BUF_INIT;
    int rc = ew_hj212_decode(packet, n, &opts, rec, &err);
    if (rc == 0)
        ew_record_to_json(rec, 1, &out);
    else
        ew_error_to_json(&err, &out);

    json_error_t jerr;
    json_t *want = json_loads(want_text, 0, &jerr);
    json_t *got = json_loads(out.data, 0, &jerr);
    int status = 0;
    if (!want || !got || !json_equal(want, got))
        status = fail("decode", want_text, out.data);

    if (status == 0 && rc == 0) { /* round trip: encode, decode again, same JSON */
        struct ew_buf pkt = EW_BUF_INIT, again = EW_BUF_INIT;
        struct ew_record *rec2 = ew_record_new();
        int rc2 = ew_hj212_encode(rec, &pkt);
        if (rc2 == 0)
            rc2 = ew_hj212_decode(pkt.data, pkt.len, &opts, rec2, &err);
        if (rc2 == 0)
            ew_record_to_json(rec2, 1, &again);
        /* the packet encoded is the mended one: the same record, its header with nothing to
         * mend (what is kept as text is noted again) */
        json_t *mended = json_loads(out.data, 0, &jerr), *back = NULL;
        json_object_del(mended, "notes");
        if (rc2 == 0 && (back = json_loads(again.data, 0, &jerr)))
            json_object_del(back, "notes");
        bool same = mended && back && json_equal(mended, back);
        json_decref(mended);
        json_decref(back);
        if (rc2 != 0 || !same)
            status =
                fail("encode -> decode round trip", out.data, rc2 ? ew_strerror(rc2) : again.data);
        ew_record_free(rec2);
        ew_buf_release(&pkt);
        ew_buf_release(&again);
    }
    json_decref(want);
    json_decref(got);
    ew_buf_release(&out);
    free(want_text);
    return status;
}

static int encode_case(const char *dir, const char *json, size_t n, struct ew_record *rec)
{
    size_t want_len = 0;
    char *want = ew_test_read_file(path_of(dir, "expected.hj212"), &want_len);
    if (!want)
        return fail("expected.hj212 missing", "a file", "none");
    struct ew_error err = {0};
    struct ew_buf out = EW_BUF_INIT;
    int rc = ew_record_from_json(json, n, rec, &err);
    if (rc == 0)
        rc = ew_hj212_encode(rec, &out);
    int status = 0;
    if (rc != 0)
        status = fail("encode", want, err.detail[0] ? err.detail : ew_strerror(rc));
    else if (out.len != want_len || memcmp(out.data, want, want_len))
        status = fail("encode", want, out.data);
    ew_buf_release(&out);
    free(want);
    return status;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: golden_hj212 CASE_DIR\n");
        return 2;
    }
    struct ew_record *rec = ew_record_new();
    size_t n = 0;
    char *in;
    int status;
    if ((in = ew_test_read_file(path_of(argv[1], "packet.hj212"), &n)))
        status = decode_case(argv[1], in, n, rec);
    else if ((in = ew_test_read_file(path_of(argv[1], "record.json"), &n)))
        status = encode_case(argv[1], in, n, rec);
    else
        status = fail("case", "packet.hj212 or record.json", "neither");
    free(in);
    ew_record_free(rec);
    if (status == 0)
        printf("PASS %s\n", argv[1]);
    return status;
}
