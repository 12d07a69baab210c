/*
 * Fuzz target: the record JSON reader. Any input must be read or rejected without a crash;
 * whatever reads must write, and the written JSON must read back to the same JSON. Built as
 * a libFuzzer binary under clang (make fuzz) and replayed over tests/fuzz/corpus/recjson.
 */
#include "ew_recjson.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ew_record *rec, *back;
    static struct ew_buf a = EW_BUF_INIT, b = EW_BUF_INIT;
    if (!rec && (!(rec = ew_record_new()) || !(back = ew_record_new())))
        abort();
    struct ew_error err;
    int rc = ew_record_from_json((const char *)data, size, rec, &err);
    if (rc) {
        if (rc != EW_EMALFORMED && rc != EW_ETOO_LONG)
            abort();
        return 0;
    }
    ew_buf_clear(&a);
    ew_buf_clear(&b);
    if (ew_record_to_json(rec, 0, &a))
        abort();
    rc = ew_record_from_json(a.data, a.len, back, &err);
    if (rc == EW_ETOO_LONG) /* "name"/"unit" and shortest numbers can outgrow the arena */
        return 0;
    if (rc || ew_record_to_json(back, 0, &b) || strcmp(a.data, b.data))
        abort();
    return 0;
}
