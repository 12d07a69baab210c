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
    void *p = ew_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
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
    void *p = ew_calloc(cap, size);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, old, n * size);
    ew_free(old);
    return p;
}
