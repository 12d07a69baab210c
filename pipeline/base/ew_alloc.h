/*
 * ew_alloc.h - the one allocation hook of ecowarn.
 *
 * Every heap allocation made by ecowarn code, and by jansson on its behalf, goes through
 * ew_malloc/ew_free. Tests replace the functions to fail the Nth allocation and prove that
 * every out-of-memory path returns EW_ENOMEM without a crash or a leak.
 */
#ifndef EW_ALLOC_H
#define EW_ALLOC_H

#include <stddef.h>

typedef void *(*ew_malloc_fn)(size_t size);
typedef void (*ew_free_fn)(void *ptr);

/* Returns a new block or NULL. */
void *ew_malloc(size_t size);
/* Zeroed block of n * size bytes, or NULL (also on overflow). With the C library's allocator
 * this is calloc, whose fresh pages are zero already: a large array is resident only where it
 * is written. */
void *ew_calloc(size_t n, size_t size);
/* old (old_size bytes; or NULL and 0) as a block of size bytes holding its first
 * min(old_size, size) bytes; NULL when out of memory, old then kept as it was. With the C
 * library's allocator this is realloc, which moves a large block's pages rather than copying
 * them (a buffer that doubles is never resident twice); with a test's, a new block, copied. */
void *ew_realloc(void *old, size_t old_size, size_t size);
void ew_free(void *ptr);

/* old (n elements of size bytes; n may be 0 and old NULL) as a block of cap elements, the
 * ones past n zeroed. NULL when out of memory: old is then kept as it was. For the arrays that
 * grow by doubling (ew_realloc). */
void *ew_grow(void *old, size_t n, size_t cap, size_t size);

/* How many allocations have failed so far. jansson reports an allocation failure during
 * parsing as a syntax error (2.14), so a reader compares this count before and after a parse
 * to tell "out of memory" from "bad input". */
unsigned long ew_alloc_failures(void);

/* Routes jansson's allocations through ew_malloc/ew_free (idempotent, cheap). Called by
 * every ecowarn function that parses with jansson. */
void ew_alloc_hook_json(void);

/* Replaces the allocator for ecowarn and for jansson; NULLs restore malloc/free.
 * Call it before any allocation is live: blocks must be freed by the allocator that made them. */
void ew_set_alloc_funcs(ew_malloc_fn m, ew_free_fn f);

#endif
