/*
 * ew_secret.h - secrets named in the configuration rather than written in it: in a value,
 * ${VAR} stands for the environment variable VAR and ${file:PATH} for the first line of the
 * file PATH (a container's or systemd's credentials). The expanded text is kept only where it
 * is used; messages name the variable or the file, never what it holds.
 */
#ifndef EW_SECRET_H
#define EW_SECRET_H

#include <stddef.h>

/* Expands every reference of in into out. Returns 0, or -1 with why filled (an unset variable,
 * an unreadable file, an unclosed "${", a result longer than n). */
int ew_secret_expand(const char *in, char *out, size_t n, char *why, size_t wn);

#endif
