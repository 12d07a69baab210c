/*
 * Fuzz target: the cut a partition's state is saved with (pipeline/ew_tracker.h). The input is
 * a resume point and done ranges as Redis gives them back: any bytes must be taken or refused
 * without a crash. A partition resumed from them reads 200 offsets (skipping what they say is
 * done, leaving every third message pending), and its cut, given to a second tracker, must tell
 * exactly the same offsets done: those skipped, those finished, and those the input named
 * beyond the 200 read. Replayed over tests/fuzz/corpus/cut.
 */
#include "ew_tracker.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define EW_READ 200
#define EW_TAIL 300

static struct ew_tracker *resumed(int64_t from, const void *done, size_t len)
{
    struct ew_tracker *t = ew_tracker_new(NULL, NULL);
    if (!t || ew_tracker_assign(t, 0, 0))
        abort();
    if (ew_tracker_resume(t, 0, 0, from, done, len)) {
        ew_tracker_free(t);
        return NULL;
    }
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    uint32_t start;
    memcpy(&start, data, 4);
    int64_t from = start % 100000;
    struct ew_tracker *a = resumed(from, data + 4, size - 4);
    if (!a)
        return 0;
    bool done[EW_READ + EW_TAIL] = {false};
    for (int64_t i = 0; i < EW_READ; i++) {
        if (ew_tracker_skip(a, 0, 0, from + i)) {
            done[i] = true;
            continue;
        }
        uint64_t k = ew_tracker_take(a, 0, 0, from + i);
        if (!k)
            abort();
        if (i % 3) { /* finished; every third stays pending */
            ew_tracker_done(a, k);
            done[i] = true;
        }
    }
    struct ew_tracker *truth = resumed(from, data + 4, size - 4); /* the tail, as the input says */
    if (!truth)
        abort();
    for (int64_t i = EW_READ; i < EW_READ + EW_TAIL; i++)
        done[i] = ew_tracker_skip(truth, 0, 0, from + i);
    struct ew_buf cut = EW_BUF_INIT;
    int64_t next = ew_tracker_cut(a, 0, 0, &cut);
    if (next < from || next > from + EW_READ || cut.err)
        abort();
    for (int64_t i = 0; i < next - from; i++)
        if (!done[i]) /* before the cut's offset: all done */
            abort();
    struct ew_tracker *b = resumed(next, cut.data, cut.len);
    if (!b)
        abort();
    for (int64_t i = next - from; i < EW_READ + EW_TAIL; i++)
        if (ew_tracker_skip(b, 0, 0, from + i) != done[i])
            abort();
    ew_buf_release(&cut);
    ew_tracker_free(a);
    ew_tracker_free(b);
    ew_tracker_free(truth);
    return 0;
}
