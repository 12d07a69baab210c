/*
 * ew_rulefiles.h - loading rule files from a directory into a ruleset.
 */
#ifndef EW_RULEFILES_H
#define EW_RULEFILES_H

#include "ew_error.h"
#include "ew_rules.h"

/* Adds every *.json file of dir to set, in name order. On the first bad file it stops and
 * err->detail names it ("DIR/FILE:LINE:COLUMN: reason" or "DIR/FILE: RULE-ID: reason"); the
 * files before it stay added. Returns 0, EW_EINVAL (dir unreadable, or no rule file in it),
 * or the error of ew_ruleset_add_json. */
int ew_rulefiles_load_dir(struct ew_ruleset *set, const char *dir, struct ew_error *err);

#endif
