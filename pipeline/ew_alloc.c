/* ew_alloc.c - the allocation hook (see ew_alloc.h). */
#include "ew_alloc.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static ew_malloc_fn ew_malloc_impl = malloc;
static ew_free_fn ew_free_impl = free;

void *ew_malloc(size_t size)
{
    return ew_malloc_impl(size);
}

void *ew_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = ew_malloc_impl(n * size);
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
    json_set_alloc_funcs(ew_malloc_impl, ew_free_impl);
}
