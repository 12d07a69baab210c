/*
 * ew_registry_int.h - the tables of ew_enterprise.c, held by the registry (ew_registry.c).
 * Internal to rules/; the public face is ew_registry.h.
 */
#ifndef EW_REGISTRY_INT_H
#define EW_REGISTRY_INT_H

#include "ew_registry.h"

struct ew_bags;

struct ew_bags *ew_bags_new(void);
void ew_bags_free(struct ew_bags *b);
int ew_bags_facility(struct ew_bags *b, const char *mn, const struct ew_facility *f);
int ew_bags_plan(struct ew_bags *b, const char *mn, const struct ew_emergency *p);
int ew_bags_declare(struct ew_bags *b, const char *enterprise_id, const struct ew_declaration *d);
int ew_bags_deadline(struct ew_bags *b, const char *enterprise_id, const struct ew_deadline *d);
int ew_bags_warning(struct ew_bags *b, const char *region, const struct ew_warning *w);
int ew_bags_respond(struct ew_bags *b, const struct ew_response *r);
const struct ew_response *ew_bags_responses(const struct ew_bags *b, const char *fp, size_t *n);
const struct ew_response *ew_bags_last_response(const struct ew_bags *b, uint64_t *count);
/* An outlet of the enterprise at mn: its anchor is the smallest such MN. */
int ew_bags_outlet(struct ew_bags *b, const char *enterprise_id, const char *mn);
const struct ew_facility *ew_bags_facilities(const struct ew_bags *b, const char *mn, size_t *n);
const struct ew_emergency *ew_bags_plans(const struct ew_bags *b, const char *mn, size_t *n);
const struct ew_declaration *ew_bags_declarations(const struct ew_bags *b, const char *id,
                                                  size_t *n);
const struct ew_deadline *ew_bags_deadlines(const struct ew_bags *b, const char *id, size_t *n);
const struct ew_warning *ew_bags_warnings(const struct ew_bags *b, const char *region, size_t *n);
bool ew_bags_is_anchor(const struct ew_bags *b, const char *enterprise_id, const char *mn);
const char *ew_bags_anchor(const struct ew_bags *b, const char *enterprise_id);
bool ew_bags_on_list(const struct ew_bags *b, const char *enterprise_id);
void ew_bags_counts(const struct ew_bags *b, struct ew_registry_counts *out);
uint64_t ew_bags_version(const struct ew_bags *b);

#endif
