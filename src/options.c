/* options.c -- every tunable, in one table, read once from the environment
 * (getenv does not allocate).  See README.md for what each one trades.
 * Most options are numbers; a text option (CAIRN_STATS) keeps its text and
 * gets its number (a mode) from the module that owns it.  With
 * CAIRN_VERBOSE=1, a CAIRN_* variable that is no option gets a warning. */
#include "cairn/internal.h"

#include <stdlib.h>
#include <string.h>

extern char **environ;

typedef struct cn_option_desc {
    const char *name;     /* environment variable */
    long        dflt;
    const char *help;
    bool        text;     /* a text option (see cn_option_text) */
} cn_option_desc;

static const cn_option_desc option_table[CN_OPT_COUNT] = {
    [CN_OPT_PURGE_DELAY_MS]  = { "CAIRN_PURGE_DELAY_MS", 100,
                                 "ms a free page stays resident before it is returned to the OS", false },
    [CN_OPT_PURGE_MAX_DIRTY] = { "CAIRN_PURGE_MAX_DIRTY", 64L << 20,
                                 "bytes of free pages kept resident at most, whatever the delay", false },
    [CN_OPT_HUGE_THRESHOLD]  = { "CAIRN_HUGE_THRESHOLD", 1L << 20,
                                 "blocks larger than this get their own mapping", false },
    [CN_OPT_HUGE_CACHE]      = { "CAIRN_HUGE_CACHE", 64L << 20,
                                 "bytes of freed huge mappings kept for reuse", false },
    [CN_OPT_THP]             = { "CAIRN_THP", 1,
                                 "transparent huge pages: 0 never, 1 blocks of 8 MiB or more, 2 also big heaps' segments, 3 every segment", false },
    [CN_OPT_STATS]           = { "CAIRN_STATS", 0,
                                 "1: malloc_stats() at exit; json:PATH: JSON statistics to PATH at exit", true },
    [CN_OPT_VERBOSE]         = { "CAIRN_VERBOSE", 0, "print version and options at start", false },
    [CN_OPT_VALGRIND]        = { "CAIRN_VALGRIND", 1,
                                 "annotate blocks for valgrind: 0 never, 1 under memcheck, 2 under any tool", false },
};

long cn_options[CN_OPT_COUNT];
static const char *option_text[CN_OPT_COUNT];

const char *cn_option_name(cn_option_id id) { return id < CN_OPT_COUNT ? option_table[id].name : NULL; }
const char *cn_option_text(cn_option_id id) { return id < CN_OPT_COUNT ? option_text[id] : NULL; }

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

/* A text option: its owner turns the text into a number (-1: invalid). */
static long parse_text(int i, const char *v) {
    switch (i) {
    case CN_OPT_STATS: return cn_stats_configure(v);
    default: return -1;
    }
}

/* Warn about CAIRN_* variables that are no option (a misspelt one would
 * otherwise be ignored in silence). */
static void warn_unknown(void) {
    if (!environ) return;
    for (char **e = environ; *e; e++) {
        const char *s = *e;
        if (strncmp(s, "CAIRN_", 6) != 0) continue;
        size_t n = strcspn(s, "=");
        bool known = false;
        for (int i = 0; i < CN_OPT_COUNT && !known; i++)
            known = strlen(option_table[i].name) == n && strncmp(option_table[i].name, s, n) == 0;
        if (known) continue;
        char name[64];
        if (n >= sizeof name) n = sizeof name - 1;
        memcpy(name, s, n);
        name[n] = 0;
        cn_message("cairn: unknown option %s ignored\n", name);
    }
}

void cn_options_init(void) {
    for (int i = 0; i < CN_OPT_COUNT; i++) {
        cn_options[i] = option_table[i].dflt;
        const char *v = getenv(option_table[i].name);
        if (!v) continue;
        if (option_table[i].text) {
            long mode = parse_text(i, v);
            if (mode < 0) {
                cn_message("cairn: ignoring %s=%s (see `man cairn`)\n", option_table[i].name, v);
                continue;
            }
            option_text[i] = v;
            cn_options[i] = mode;
        } else if (!parse_long(v, &cn_options[i])) {
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
        for (int i = 0; i < CN_OPT_COUNT; i++) {
            if (option_table[i].text)
                cn_message("cairn: %s=%s  (%s)\n", option_table[i].name,
                           option_text[i] ? option_text[i] : "", option_table[i].help);
            else
                cn_message("cairn: %s=%ld  (%s)\n", option_table[i].name, cn_options[i], option_table[i].help);
        }
        warn_unknown();
    }
}
