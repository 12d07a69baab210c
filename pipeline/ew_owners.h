/*
 * ew_owners.h - which partition each site's records come from, so that the sites of a
 * partition this member lost can be let go. Records are keyed by MN, so a site stays on one
 * partition; a site seen on another partition moves there.
 *
 * An open-addressing table keyed by MN, looked up per record; rebuilt without a lost
 * partition's sites (rare). Pure code.
 */
#ifndef EW_OWNERS_H
#define EW_OWNERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ew_owners;

/* new: free with ew_owners_free. NULL when out of memory. */
struct ew_owners *ew_owners_new(void);
void ew_owners_free(struct ew_owners *t);

/* The site mn's records come from (topic, partition). Returns 0, or -1 when mn is empty or
 * too long, or out of memory (the site then stays when its partition goes). */
int ew_owners_note(struct ew_owners *t, const char *mn, int topic, int32_t partition);

/* Forgets every site of (topic, partition), calling fn with each. Returns how many; none are
 * forgotten when out of memory. */
size_t ew_owners_drop(struct ew_owners *t, int topic, int32_t partition,
                      void (*fn)(void *ctx, const char *mn), void *ctx);

/* The partition the site mn's records come from; false when not known. */
bool ew_owners_find(const struct ew_owners *t, const char *mn, int *topic, int32_t *partition);

size_t ew_owners_count(const struct ew_owners *t);

#endif
