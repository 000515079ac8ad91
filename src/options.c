/* options.c -- every tunable, in one table, read once from the environment
 * (getenv does not allocate).  See README.md for what each one trades. */
#include "cairn/internal.h"

#include <stdlib.h>

typedef struct cn_option_desc {
    const char *name;     /* environment variable */
    long        dflt;
    const char *help;
} cn_option_desc;

static const cn_option_desc option_table[CN_OPT_COUNT] = {
    [CN_OPT_PURGE_DELAY_MS]  = { "CAIRN_PURGE_DELAY_MS", 100,
                                 "ms a free page stays resident before it is returned to the OS" },
    [CN_OPT_PURGE_MAX_DIRTY] = { "CAIRN_PURGE_MAX_DIRTY", 16L << 20,
                                 "bytes of free pages kept resident at most, whatever the delay" },
    [CN_OPT_HUGE_THRESHOLD]  = { "CAIRN_HUGE_THRESHOLD", 256L << 10,
                                 "blocks larger than this get their own mapping" },
    [CN_OPT_HUGE_CACHE]      = { "CAIRN_HUGE_CACHE", 64L << 20,
                                 "bytes of freed huge mappings kept for reuse" },
    [CN_OPT_VERBOSE]         = { "CAIRN_VERBOSE", 0, "print version and options at start" },
};

long cn_options[CN_OPT_COUNT];

static bool parse_long(const char *s, long *out) {
    long v = 0;
    if (!*s) return false;
    for (; *s >= '0' && *s <= '9'; s++) v = v * 10 + (*s - '0');
    switch (*s) {
    case 'k': case 'K': v <<= 10; s++; break;
    case 'm': case 'M': v <<= 20; s++; break;
    case 'g': case 'G': v <<= 30; s++; break;
    }
    if (*s == 'i' || *s == 'b' || *s == 'B') s++;
    if (*s == 'B') s++;
    if (*s) return false;
    *out = v;
    return true;
}

void cn_options_init(void) {
    for (int i = 0; i < CN_OPT_COUNT; i++) {
        cn_options[i] = option_table[i].dflt;
        const char *v = getenv(option_table[i].name);
        if (v && !parse_long(v, &cn_options[i])) {
            cn_message("cairn: ignoring %s=%s (not a number)\n", option_table[i].name, v);
            cn_options[i] = option_table[i].dflt;
        }
    }
    if (cn_options[CN_OPT_HUGE_THRESHOLD] < (long)CN_SMALL_MAX)
        cn_options[CN_OPT_HUGE_THRESHOLD] = (long)CN_SMALL_MAX;
    if (cn_options[CN_OPT_HUGE_THRESHOLD] > (long)(CN_SEG_SIZE / 2))
        cn_options[CN_OPT_HUGE_THRESHOLD] = (long)(CN_SEG_SIZE / 2);
    if (cn_options[CN_OPT_VERBOSE]) {
        cn_message("cairn %s\n", CN_VERSION_STRING);
        for (int i = 0; i < CN_OPT_COUNT; i++)
            cn_message("cairn: %s=%ld  (%s)\n", option_table[i].name, cn_options[i], option_table[i].help);
    }
}
