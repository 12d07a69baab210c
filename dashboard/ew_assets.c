/*
 * ew_assets.c - the dashboard's page (web/), built into the binary as it is in the tree: no
 * build step, nothing to install beside ecowarnd. The assembler includes each file
 * (.incbin); CMake rebuilds this file when one of them changes.
 */
#include <stddef.h>

struct ew_asset {
    const char *path, *type;
    const char *start, *end;
};

#define EW_INCBIN(sym, file)                                                                       \
    __asm__(".section .rodata\n"                                                                   \
            ".balign 16\n" #sym ":\n"                                                              \
            ".incbin \"" EW_WEB_DIR "/" file "\"\n" #sym "_end:\n"                                 \
            ".byte 0\n"                                                                            \
            ".previous\n");                                                                        \
    extern const char sym[], sym##_end[]

EW_INCBIN(ew_web_index, "index.html");
EW_INCBIN(ew_web_js, "dashboard.js");
EW_INCBIN(ew_web_css, "dashboard.css");

const struct ew_asset ew_assets[] = {
    {"/", "text/html; charset=utf-8", ew_web_index, ew_web_index_end},
    {"/index.html", "text/html; charset=utf-8", ew_web_index, ew_web_index_end},
    {"/dashboard.js", "text/javascript; charset=utf-8", ew_web_js, ew_web_js_end},
    {"/dashboard.css", "text/css; charset=utf-8", ew_web_css, ew_web_css_end},
};
const size_t ew_nassets = sizeof ew_assets / sizeof ew_assets[0];
