/*
 * ew_checkpoint.h - the rule state on disk (state.file): written atomically (a temporary file
 * renamed over it) before offsets are committed, read once at start. Its format is the
 * engine's export (rules/RULES.md, "Checkpoints").
 */
#ifndef EW_CHECKPOINT_H
#define EW_CHECKPOINT_H

#include "ew_rules.h"

/* Returns 0, or -1 (logged): the offsets must then not be committed. */
int ew_checkpoint_write(const struct ew_engine *eng, const char *path);

/* Restores the state at path into an engine that has seen nothing. A missing file is the first
 * start; one the engine refuses is logged, and the engine starts empty. */
void ew_checkpoint_read(struct ew_engine *eng, const char *path);

#endif
