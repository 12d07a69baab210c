/*
 * ew_average.h - regulatory averages computed for the sites whose logger does not send them
 * (ew_average.c says how). Internal to rules/.
 *
 * The averages only gather values and hand closed periods back as records; the engine judges
 * them (and feeds a computed hour into its day). They never call the engine.
 */
#ifndef EW_AVERAGE_H
#define EW_AVERAGE_H

#include "ew_record.h"
#include "ew_rules.h"
#include "ew_site.h"

struct ew_averages {
    struct ew_sitetab *sites;       /* borrowed: the engine's */
    struct ew_engine_stats *stats;  /* borrowed: averages, invalid, superseded, late, nomem */
    int64_t grace;                  /* a period closes this long after its end */
    struct ew_record *computed;     /* the period's record, as ew_average_next hands it */
    const struct ew_ruleset *rules; /* borrowed: which pollutants' averages are judged */
    uint64_t limited; /* bit per value (of the first 64) of the record being added that the site
                         has a limit for: the engine worked it out judging the record */
    uint32_t inputs[EW_RECORD_MAX_VALUES]; /* per value of `computed`: valid values averaged */
};

/* Adds the record's Avg and ZsAvg values to the averages they belong to (minute values to
 * their hour, hourly ones to their day), of the pollutants some rule would judge at the site
 * registered as o. flow: the record's flow, NAN when none. */
void ew_average_add(struct ew_averages *a, struct ew_site *site, const struct ew_outlet *o,
                    const struct ew_record *rec, double flow);

/* The site's next period that ended more than the grace before ref (hours before days): true
 * with a->computed and a->inputs holding its record, to be judged before the next call;
 * false when none is left. A period that the logger sent itself is superseded (counted, not
 * handed back). */
bool ew_average_next(struct ew_averages *a, struct ew_site *site, int64_t ref);

#endif
