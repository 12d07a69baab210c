/*
 * Fails the Nth allocation, for every N, across the whole codec path: record creation,
 * HJ 212 decode, JSON writing, JSON reading (jansson, through the same hook) and encoding.
 * Each run must either succeed or report EW_ENOMEM, and free everything (ASan's leak checker
 * runs this test in the sanitizer build).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ew_alloc.h"
#include "ew_hj212.h"
#include "ew_recjson.h"

static long fail_at = -1, calls, live;

static void *failing_malloc(size_t n)
{
    if (calls++ == fail_at)
        return NULL;
    void *p = malloc(n);
    if (p)
        live++;
    return p;
}

static void failing_free(void *p)
{
    if (p)
        live--;
    free(p);
}

static const char packet[] =
    "##0216QN=20240122170012345;ST=31;CN=2061;PW=123456;MN=33060200000001F000000001;Flag=4;"
    "CP=&&DataTime=20240122170000;a21026-Avg=23.5,a21026-ZsAvg=31.2,a21026-Flag=N;a19001-Avg=9.8,"
    "a19001-Flag=N;a21026-Cou=0.1,a21026-Flag=N&&F001\r\n";

/* The whole path once. Returns 0 or the first error. */
static int codec_path(void)
{
    int rc = EW_ENOMEM;
    struct ew_buf json = EW_BUF_INIT, pkt = EW_BUF_INIT;
    struct ew_record *rec = ew_record_new(), *back = ew_record_new();
    if (!rec || !back)
        goto out;
    struct ew_error err = {0};
    if ((rc = ew_hj212_decode(packet, sizeof packet - 1, NULL, rec, &err)))
        goto out;
    /* enough values that the JSON buffer grows several times */
    if ((rc = ew_record_to_json(rec, 1, &json)))
        goto out;
    if ((rc = ew_record_from_json(json.data, json.len, back, &err)))
        goto out;
    if ((rc = ew_hj212_encode(back, &pkt)))
        goto out;
    rc = pkt.len == sizeof packet - 1 && !memcmp(pkt.data, packet, pkt.len) ? 0 : EW_EINVAL;
out:
    ew_buf_release(&json);
    ew_buf_release(&pkt);
    ew_record_free(rec);
    ew_record_free(back);
    return rc;
}

static void test_fail_every_allocation(void **state)
{
    (void)state;
    ew_set_alloc_funcs(failing_malloc, failing_free);
    fail_at = -1;
    calls = live = 0;
    assert_int_equal(codec_path(), 0);
    long total = calls;
    assert_true(total > 5); /* the path does allocate: the test exercises something */
    assert_int_equal(live, 0);
    for (fail_at = 0; fail_at < total; fail_at++) {
        calls = live = 0;
        int rc = codec_path();
        if (rc != EW_ENOMEM)
            print_error("allocation %ld of %ld failed, path returned %d\n", fail_at, total, rc);
        assert_int_equal(rc, EW_ENOMEM);
        assert_int_equal(live, 0);
    }
    ew_set_alloc_funcs(NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_every_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
