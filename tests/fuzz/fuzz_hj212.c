/*
 * Fuzz target: the HJ 212 decoder. Any input must be decoded or rejected without a crash;
 * whatever decodes must encode, and the encoded packet must decode to the same record (same
 * JSON). Built as a libFuzzer binary under clang (make fuzz) and replayed over
 * tests/fuzz/corpus/hj212 as a CTest under any compiler.
 */
#include "ew_hj212.h"
#include "ew_recjson.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ew_record *rec, *back;
    static struct ew_buf pkt = EW_BUF_INIT, a = EW_BUF_INIT, b = EW_BUF_INIT;
    if (!rec && (!(rec = ew_record_new()) || !(back = ew_record_new())))
        abort();
    struct ew_hj212_opts opts = {.legacy_crc = size && (data[0] & 1)};
    struct ew_error err;
    int rc = ew_hj212_decode(data, size, &opts, rec, &err);
    if (rc) {
        if (rc != EW_EMALFORMED && rc != EW_ELENGTH_MISMATCH && rc != EW_ECRC_MISMATCH &&
            rc != EW_ETOO_LONG)
            abort();
        if (err.offset > size + 1 || !err.detail[0])
            abort();
        return 0;
    }
    ew_buf_clear(&pkt);
    ew_buf_clear(&a);
    ew_buf_clear(&b);
    if (ew_record_to_json(rec, 1, &a))
        abort();
    rc = ew_hj212_encode(rec, &pkt);
    if (rc == EW_ETOO_LONG) /* normalized codes can be longer than the 2005 ones sent */
        return 0;
    if (rc || ew_hj212_decode(pkt.data, pkt.len, NULL, back, &err) ||
        ew_record_to_json(back, 1, &b) || strcmp(a.data, b.data))
        abort();
    return 0;
}
