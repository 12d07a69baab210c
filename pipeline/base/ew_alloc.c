/* ew_alloc.c - the allocation hook (see ew_alloc.h). */
#include "ew_alloc.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static ew_malloc_fn ew_malloc_impl = malloc;
static ew_free_fn ew_free_impl = free;
static unsigned long ew_failures;
static int ew_json_hooked;

void *ew_malloc(size_t size)
{
    void *p = ew_malloc_impl(size);
    if (!p)
        ew_failures++;
    return p;
}

void *ew_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    if (ew_malloc_impl == malloc) {
        void *p = calloc(n ? n : 1, size ? size : 1);
        if (!p)
            ew_failures++;
        return p;
    }
    void *p = ew_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *ew_realloc(void *old, size_t old_size, size_t size)
{
    void *p;
    if (ew_malloc_impl == malloc) {
        p = realloc(old, size ? size : 1);
        if (!p)
            ew_failures++;
        return p;
    }
    if (!(p = ew_malloc(size)))
        return NULL;
    if (old_size)
        memcpy(p, old, old_size < size ? old_size : size);
    ew_free(old);
    return p;
}

void ew_free(void *ptr)
{
    ew_free_impl(ptr);
}

void ew_set_alloc_funcs(ew_malloc_fn m, ew_free_fn f)
{
    ew_malloc_impl = m ? m : malloc;
    ew_free_impl = f ? f : free;
    ew_json_hooked = 0;
    ew_alloc_hook_json();
}

unsigned long ew_alloc_failures(void)
{
    return ew_failures;
}

void ew_alloc_hook_json(void)
{
    if (!ew_json_hooked) {
        json_set_alloc_funcs(ew_malloc, ew_free);
        ew_json_hooked = 1;
    }
}

void *ew_grow(void *old, size_t n, size_t cap, size_t size)
{
    if (size && cap > SIZE_MAX / size)
        return NULL;
    unsigned char *p = ew_realloc(old, n * size, cap * size);
    if (p && cap > n)
        memset(p + n * size, 0, (cap - n) * size);
    return p;
}
