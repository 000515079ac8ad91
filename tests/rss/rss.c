/* rss.c -- memory goes back to the OS, and calloc does not touch fresh
 * memory.  RSS is read from /proc/self/statm.
 *
 *   back_<size>   ~512 MiB in blocks of <size>, all freed; after 200 ms and
 *                 one more small malloc/free, RSS is within 32 MiB of what
 *                 it was before
 *   trim_<size>   the same, but malloc_trim(0) right after the frees
 *   calloc_fresh  calloc(256 MiB) grows RSS by a few MiB at most
 *   huge_reuse    a huge block made after others were freed gets their
 *                 resident pages (mincore), even when none of them holds
 *                 it alone, and keeps its contents through realloc
 *   huge_grow     realloc grows a huge block in place over the cached rest
 *                 of the mapping it was cut from, resident pages again
 *   pages_reuse   blocks of 150 KiB (whole pages from the pool) made right
 *                 after two touched 256 KiB blocks were freed land on their
 *                 resident pages (mincore), not on never-used ones, though
 *                 a never-used run is a closer fit
 *   class_reuse   blocks of 100 KiB made right after three touched 128 KiB
 *                 blocks were freed (a fourth still in use) land on their
 *                 resident pages (mincore): a big class's slab holds one
 *                 block, so its pages serve other sizes once it is freed
 *   aligned_reuse a 256 KiB block aligned to 256 KiB, made right after one
 *                 like it was freed between two in use, lands on its
 *                 resident pages (mincore): a run of 4 pages placed on a
 *                 4-page boundary holds it, though only a run of 7 holds it
 *                 wherever it starts
 *   lend_reuse    40000 touched 96-byte blocks, every other one freed:
 *                 of 20000 blocks of 48 bytes made next, nine in ten or
 *                 more are free 96-byte blocks (usable size 96: half-free
 *                 pages of the bigger class are lent, not new pages taken)
 *                 and RSS grows by less than half their bytes; all are
 *                 16-byte aligned; 64-byte-aligned blocks of 64 bytes made
 *                 while only 80-byte pages have room are 64-byte aligned
 *                 (no page whose blocks would break the alignment is lent)
 *   room_reuse    a thread fills three pages of 4 KiB blocks and frees one
 *                 block on each of the first two: its next two 4 KiB blocks
 *                 come from those pages, not a new one (one free block above
 *                 1 KiB is worth a page change); the same for 2 KiB and
 *                 1280-byte blocks
 *   huge_yield    huge blocks of 2 and 3 x 16 MiB, touched and freed (the
 *                 cache keeps them), then 24 MiB of touched 4 KiB blocks
 *                 made at once: RSS grows by less than 8 MiB (the cache
 *                 lets go of as much as new segments map, oldest mapping
 *                 first, whole or cut); a live huge block made before
 *                 them keeps its contents, and four 16 MiB blocks made
 *                 after them (from what the cache kept) can be written
 *   spares_back   a thread frees 16 MiB of 64-byte blocks and exits; while
 *                the main thread goes on with a little small-block work
 *                every 120 ms, RSS comes back within 2 MiB of where it
 *                started (the empty slabs shared as spares age too)
 *   busy_back     six 512 KiB blocks freed in a segment where another is
 *                 freed every 20 ms: after 400 ms their pages are purged
 *                 (the purge delay counts from the oldest free page, not
 *                 the segment's last free)
 *   huge_back     256 MiB of huge blocks freed: once the purge delay has
 *                 passed, a little small-block work gives their cached
 *                 pages back (the cache may hold the recent peak until then)
 *   thp           transparent huge pages (CAIRN_THP=1, the default): an
 *                 8 MiB block starts on a 2 MiB boundary, the first touch
 *                 of its first huge page is timed (the statistics count
 *                 it), and its mapping asks for huge pages unless that
 *                 found them dear; segments do not.  With CAIRN_THP=2
 *                 (this program run again) segments do once the heap is
 *                 past 64 MiB, and a purged segment no longer does (smaps'
 *                 THPeligible, checked when the kernel's mode is madvise)
 *   thp_decline   segments and the segment map say MADV_NOHUGEPAGE where
 *                 the kernel's THP mode is always (else they say nothing),
 *                 blocks of their own mapping follow the system; with
 *                 CAIRN_THP=0 (this program run again) every one of them
 *                 says MADV_NOHUGEPAGE (smaps' VmFlags "nh")
 */
#include "../common.h"

#define TOTAL (512 * MiB)
#define SLACK (32 * MiB)

static size_t block_size;

static void give_back(bool trim)
{
    size_t count = TOTAL / block_size;
    size_t table = count * sizeof(void *);
    unsigned char **p = os_alloc(table);
    memset(p, 0, table);                  /* resident before the baseline */
    free(HIDE(malloc(HIDE((size_t)64))));
    size_t before = rss_bytes();

    for (size_t i = 0; i < count; i++) {
        p[i] = HIDE(malloc(HIDE(block_size)));
        CHECK(p[i], "malloc(%zu) #%zu returned NULL", block_size, i);
        /* Touch every page of the block (and every small block). */
        for (size_t off = 0; off < block_size; off += 4096) p[i][off] = (unsigned char)i;
        p[i][block_size - 1] = 1;
    }
    size_t peak = rss_bytes();
    CHECK(peak >= before + TOTAL * 3 / 4,
          "RSS at peak is only %zu MiB above the baseline for %zu MiB of blocks (test broken?)",
          (peak - before) / MiB, TOTAL / MiB);
    for (size_t i = 0; i < count; i++) free(p[i]);

    size_t after;
    const char *how;
    if (trim) {
        malloc_trim(0);
        after = rss_bytes();
        how = "right after malloc_trim(0)";
    } else {
        usleep(200 * 1000);
        free(HIDE(malloc(HIDE((size_t)64))));
        after = rss_bytes();
        how = "200 ms after the frees and one more malloc/free";
    }
    CHECK(after <= before + SLACK,
          "%zu-byte blocks: RSS %zu MiB before, %zu MiB at peak, %zu MiB %s (more than %zu MiB kept)",
          block_size, before / MiB, peak / MiB, after / MiB, how, SLACK / MiB);
    os_free(p, table);
}

static void back_64(void) { block_size = 64; give_back(false); }
static void back_4k(void) { block_size = 4 * KiB; give_back(false); }
static void back_256k(void) { block_size = 256 * KiB; give_back(false); }
static void trim_64(void) { block_size = 64; give_back(true); }
static void trim_4k(void) { block_size = 4 * KiB; give_back(true); }
static void trim_256k(void) { block_size = 256 * KiB; give_back(true); }

static void calloc_fresh(void)
{
    free(HIDE(malloc(HIDE((size_t)64))));
    size_t before = rss_bytes();
    unsigned char *p = HIDE(calloc(1, HIDE(256 * MiB)));
    CHECK(p, "calloc(1, 256 MiB) returned NULL");
    size_t after = rss_bytes();
    CHECK(after <= before + 8 * MiB, "calloc(1, 256 MiB) grew RSS by %zu MiB (it touched the memory)",
          (after - before) / MiB);
    /* It reads as zero all the same. */
    for (size_t off = 0; off < 256 * MiB; off += 4096)
        CHECK(p[off] == 0, "calloc(1, 256 MiB): byte %zu is not zero", off);
    free(p);

    /* The count * size form. */
    before = rss_bytes();
    p = HIDE(calloc(HIDE(256 * KiB), 1024));
    CHECK(p, "calloc(256 Ki, 1024) returned NULL");
    after = rss_bytes();
    CHECK(after <= before + 8 * MiB, "calloc(256 Ki, 1024) grew RSS by %zu MiB", (after - before) / MiB);
    CHECK(p[0] == 0 && p[256 * MiB - 1] == 0, "calloc(256 Ki, 1024) is not zero");
    free(p);
}

/* The THPeligible flag of the mapping holding p (-1 if not found). */
static int thp_eligible(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    CHECK(f, "cannot open /proc/self/smaps");
    char line[512];
    int in = 0, flag = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
            continue;
        }
        if (in && sscanf(line, "THPeligible: %d", &flag) == 1) break;
    }
    fclose(f);
    return flag;
}

/* Whether the kernel's THP mode is `mode` ("[madvise]", "[always]"). */
static bool thp_mode_is(const char *mode)
{
    char text[128] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f) {
        if (!fgets(text, sizeof text, f)) text[0] = 0;
        fclose(f);
    }
    return strstr(text, mode) != NULL;
}

/* 1 if the kernel's THP mode is madvise and smaps tells THPeligible. */
static bool thp_madvise_mode(void)
{
    int here = 0;
    return thp_mode_is("[madvise]") && thp_eligible(&here) >= 0;
}

/* Run this program again with `option`=`value` in the environment (the
 * options are read at start) and argument `arg`; it exits 2 after printing
 * what went wrong. */
static void rerun(const char *option, const char *value, const char *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        setenv(option, value, 1);
        execl("/proc/self/exe", "rss", arg, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "with %s=%s: %s", option, value,
          WIFEXITED(st) && WEXITSTATUS(st) == 2 ? "see the line above" : "the child did not finish");
}

/* A count from the "os" object of Cairn's JSON statistics, -1 if absent. */
static long long os_count(const char *key)
{
    static char json[64 * 1024];
    size_t (*stats_json)(char *, size_t) = (size_t (*)(char *, size_t))dlsym(RTLD_DEFAULT, "cairn_stats_json");
    CHECK(stats_json, "cairn_stats_json is not there (is Cairn preloaded?)");
    CHECK(stats_json(json, sizeof json) < sizeof json, "cairn_stats_json: the document does not fit");
    char want[64];
    snprintf(want, sizeof want, "\"%s\": ", key);
    const char *at = strstr(json, want);
    return at ? strtoll(at + strlen(want), NULL, 10) : -1;
}

/* 160 MiB of 64-byte blocks; the segments past the first 64 MiB ask for
 * huge pages if want_late (else none does); a purge takes it back.
 * Returns NULL or what went wrong. */
static const char *thp_segments(bool madvise_mode, bool want_late)
{
    size_t count = 160 * MiB / 64;
    /* The table is mapped, not malloc'ed: a huge block would have its first
     * touch timed, and a "dear" verdict would keep segments from asking. */
    void **v = mmap(NULL, count * sizeof *v, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (v == MAP_FAILED) return "mmap of the table failed";
    for (size_t i = 0; i < count; i++) {
        v[i] = HIDE(malloc(HIDE((size_t)64)));
        if (!v[i]) return "malloc(64) returned NULL";
        memset(v[i], 2, 64);
    }
    void *late = v[count - 1];
    if (madvise_mode && thp_eligible(late) != want_late)
        return want_late ? "a segment past 64 MiB of heap is not THP-eligible (CAIRN_THP=2)"
                         : "a segment asks for huge pages by default (CAIRN_THP=1)";
    for (size_t i = 0; i < count - 1; i++) free(v[i]);
    malloc_trim(0);
    if (madvise_mode && thp_eligible(late) != 0) return "a purged segment still asks for huge pages";
    if (*(char *)late != 2) return "the block kept alive lost its contents";
    free(late);
    munmap(v, count * sizeof *v);
    return NULL;
}

static void thp(void)
{
    /* The flags are checked where they say something: the kernel's mode is
     * madvise, and smaps has THPeligible (Linux 4.20 and later). */
    bool madvise_mode = thp_madvise_mode();

    char *big = HIDE(malloc(HIDE(8 * MiB)));
    CHECK(big, "malloc(8 MiB) returned NULL");
    CHECK(((uintptr_t)big & (2 * MiB - 1)) == 0, "malloc(8 MiB) = %p: not on a 2 MiB boundary", (void *)big);
    memset(big, 1, 8 * MiB);
    /* Its first huge page's first touch was timed; the mapping keeps asking
     * for huge pages unless that found them dear (then it was un-advised). */
    long long probes = os_count("thp_probes"), dear = os_count("thp_dear");
    CHECK(probes == 1, "first touches of huge pages timed: %lld, expected 1", probes);
    CHECK(dear == 0 || dear == 1, "huge pages found dear: %lld times (of one probe)", dear);
    if (madvise_mode)
        CHECK(thp_eligible(big) == (dear == 0), "an 8 MiB block's mapping is %sTHP-eligible, but the probe found "
              "huge pages %s", dear ? "" : "not ", dear ? "dear" : "cheap");
    free(big);

    const char *why = thp_segments(madvise_mode, false);
    CHECK(!why, "%s", why);

    /* The same program again, with CAIRN_THP=2: now the late segments ask. */
    rerun("CAIRN_THP", "2", "thp-segments");
}

/* Whether the mapping holding p (or, with p NULL, any anonymous mapping of
 * at least 63 MiB: the segment map's .bss) has VmFlags `flag` in smaps: 1 or
 * 0, -1 if no such mapping is listed (qemu-user lists its own). */
static int vm_flag(const void *p, const char *flag)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    CHECK(f, "cannot open /proc/self/smaps");
    char line[512], want[8];
    snprintf(want, sizeof want, " %s", flag);
    int in = 0, found = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = p ? (uintptr_t)p >= lo && (uintptr_t)p < hi : hi - lo >= 63 * MiB && !strchr(line, '/');
            continue;
        }
        if (in && strncmp(line, "VmFlags:", 8) == 0) {
            line[strcspn(line, "\n")] = ' ';
            int has = strstr(line, want) && strstr(line, want)[strlen(want)] == ' ';
            if (p) {
                found = has;
                break;
            }
            if (has || found < 0) found = has;
        }
    }
    fclose(f);
    return found;
}

/* The mappings that say MADV_NOHUGEPAGE ("nh"), as `never` (CAIRN_THP=0)
 * or the default in THP mode `always` wants: returns NULL or what is wrong. */
static const char *thp_declined(bool never)
{
    bool always = thp_mode_is("[always]");      /* huge pages unasked */
    char *small = HIDE(malloc(HIDE((size_t)64)));
    char *mid = HIDE(malloc(HIDE(2 * MiB)));
    char *big = HIDE(malloc(HIDE(8 * MiB)));
    if (!small || !mid || !big) return "malloc returned NULL";
    memset(small, 1, 64);
    int seg = vm_flag(small, "nh"), map = vm_flag(NULL, "nh"), m = vm_flag(mid, "nh");
    if (seg < 0) return NULL;                     /* smaps does not list our mappings */
    if (seg != (never || always))
        return seg ? "a segment says MADV_NOHUGEPAGE (only CAIRN_THP=0 or THP mode always should)"
                   : "a segment does not say MADV_NOHUGEPAGE (CAIRN_THP=0 or THP mode always)";
    if (sizeof(void *) == 8 && map != (never || always))
        return map ? "the segment map says MADV_NOHUGEPAGE (only CAIRN_THP=0 or THP mode always should)"
                   : "the segment map does not say MADV_NOHUGEPAGE (CAIRN_THP=0 or THP mode always)";
    if (m != never)
        return m ? "a 2 MiB block says MADV_NOHUGEPAGE (it should follow the system, but for CAIRN_THP=0)"
                 : "a 2 MiB block does not say MADV_NOHUGEPAGE with CAIRN_THP=0";
    if (never && vm_flag(big, "nh") != 1) return "an 8 MiB block does not say MADV_NOHUGEPAGE with CAIRN_THP=0";
    free(small);
    free(mid);
    free(big);
    return NULL;
}

/* Huge pages where Cairn does not want them are refused, not left to the
 * system: by default in THP mode always (segments and the segment map),
 * and everywhere with CAIRN_THP=0 (this program run again). */
static void thp_decline(void)
{
    const char *why = thp_declined(false);
    CHECK(!why, "%s", why);
    rerun("CAIRN_THP", "0", "thp-never");
}

/* Resident bytes of [p, p + n) (page-aligned p), by mincore. */
static size_t resident(const void *p, size_t n)
{
    size_t ps = 4096, pages = n / ps;
    unsigned char *v = os_alloc(pages);
    CHECK(mincore((void *)p, pages * ps, v) == 0, "mincore: %s", strerror(errno));
    size_t r = 0;
    for (size_t i = 0; i < pages; i++) r += v[i] & 1;
    os_free(v, pages);
    return r * ps;
}

static void huge_reuse(void)
{
    size_t n = 16 * MiB, m = 2 * n - MiB;
    unsigned char *a = HIDE(malloc(n)), *b = HIDE(malloc(n));
    CHECK(a && b, "malloc(16 MiB) returned NULL");
    memset(a, 1, n);
    memset(b, 2, n);
    free(HIDE(a));                        /* (HIDE: the memsets are not dead stores) */
    free(HIDE(b));
    unsigned char *c = HIDE(malloc(m));
    CHECK(c, "malloc(31 MiB) returned NULL");
    size_t r = resident(c, m);
    CHECK(r >= m - 2 * MiB, "malloc(31 MiB) right after two touched 16 MiB blocks were freed: %zu MiB of it resident "
          "(their pages were not reused)", r / MiB);
    uint64_t seed = pattern_seed(c, 1);
    pattern_fill(c, m, seed);
    /* Made of two mappings: realloc must still grow it, contents intact. */
    c = HIDE(realloc(c, 3 * n));
    CHECK(c, "realloc(31 MiB -> 48 MiB) returned NULL");
    long bad = pattern_check(c, m, seed);
    CHECK(bad < 0, "realloc(31 MiB -> 48 MiB) of a reused block: byte %ld changed", bad);
    memset(c + m, 3, 3 * n - m);
    free(c);
}

static void huge_grow(void)
{
    size_t n = 16 * MiB;
    unsigned char *a = HIDE(malloc(n));
    CHECK(a, "malloc(16 MiB) returned NULL");
    memset(a, 1, n);
    free(HIDE(a));
    unsigned char *c = HIDE(malloc(2 * MiB));
    CHECK(c, "malloc(2 MiB) returned NULL");
    memset(c, 4, 2 * MiB);
    uintptr_t was = (uintptr_t)c;
    unsigned char *d = HIDE(realloc(c, 12 * MiB));
    CHECK(d, "realloc(2 MiB -> 12 MiB) returned NULL");
    CHECK(first_not(d, 2 * MiB, 4) < 0, "realloc(2 MiB -> 12 MiB) lost the contents");
    size_t r = resident(d, 12 * MiB);
    CHECK(r >= 11 * MiB, "realloc(2 MiB -> 12 MiB) right after a touched 16 MiB block was freed: %zu MiB resident "
          "(the cached pages were not taken in)", r / MiB);
    CHECK((uintptr_t)d == was, "realloc(2 MiB -> 12 MiB) moved the block (%#lx -> %p) though the rest of its mapping was free",
          (unsigned long)was, (void *)d);
    free(d);
}

/* n touched blocks of `big` bytes are made and blocks first..first+nfreed-1
 * freed; k blocks of `small` bytes made right after must be resident
 * (mincore): they landed on the freed pages.  `lost` says what it means
 * if not. */
static void expect_reuse(size_t big, int n, int first, int nfreed, size_t small, int k, const char *lost)
{
    unsigned char *a[64], *b[8];
    CHECK(n <= 64 && k <= 8, "expect_reuse: too many blocks");
    for (int i = 0; i < n; i++) {
        a[i] = HIDE(malloc(big));
        CHECK(a[i], "malloc(%zu KiB) returned NULL", big / KiB);
        memset(a[i], i + 1, big);
    }
    for (int i = first; i < first + nfreed; i++) free(HIDE(a[i]));
    for (int i = 0; i < k; i++) {
        b[i] = HIDE(malloc(small));
        CHECK(b[i], "malloc(%zu KiB) returned NULL", small / KiB);
    }
    for (int i = 0; i < k; i++) {
        uintptr_t start = ((uintptr_t)b[i] + 4095) & ~(uintptr_t)4095;
        size_t len = ((uintptr_t)b[i] + small - start) & ~(size_t)4095;
        size_t r = resident((void *)start, len);
        CHECK(r == len, "block %d of %zu KiB, made right after %d touched blocks of %zu KiB were freed: only %zu of "
              "its %zu KiB resident (%s)", i, small / KiB, nfreed, big / KiB, r / KiB, len / KiB, lost);
    }
    for (int i = 0; i < k; i++) free(b[i]);
    for (int i = 0; i < n; i++) if (i < first || i >= first + nfreed) free(a[i]);
}

/* Blocks of 4 pages fill segments 15 at a time (63 free pages each),
 * leaving 3 never-used pages at a segment's end: a closer fit for a
 * 3-page block than the 8 resident pages freed here. */
static void pages_reuse(void) { expect_reuse(256 * KiB, 32, 20, 2, 150 * KiB, 2, "it went to never-used pages"); }

/* Two size classes; the fourth 128 KiB block stays in use. */
static void class_reuse(void)
{
    expect_reuse(128 * KiB, 4, 0, 3, 100 * KiB, 3, "the freed blocks' pages stayed with their class");
}

static void aligned_reuse(void)
{
    enum { N = 12, FREED = 6 };
    size_t size = 256 * 1024;                       /* 4 pages of 64 KiB */
    void *a[N], *q;
    for (int i = 0; i < N; i++) {
        CHECK(posix_memalign(&a[i], size, size) == 0, "posix_memalign(256 KiB, 256 KiB) failed");
        memset(a[i], i + 1, size);
    }
    free(HIDE(a[FREED]));
    CHECK(posix_memalign(&q, size, size) == 0, "posix_memalign(256 KiB, 256 KiB) failed");
    CHECK(((uintptr_t)q & (size - 1)) == 0, "%p is not 256 KiB aligned", q);
    size_t r = resident(q, size);
    CHECK(r == size, "a 256 KiB-aligned block made right after a touched one like it was freed: only %zu of its "
          "256 KiB resident (it went to never-used pages)", r / 1024);
    free(q);
    for (int i = 0; i < N; i++) if (i != FREED) free(a[i]);
}

static void *spares_thread(void *arg)
{
    (void)arg;
    enum { N = 16 * 1024 * 1024 / 64 };
    void **p = os_alloc(N * sizeof *p);
    for (int i = 0; i < N; i++) {
        p[i] = HIDE(malloc(HIDE((size_t)64)));
        CHECK(p[i], "malloc(64) returned NULL in a thread");
        memset(p[i], 1, 64);
    }
    for (int i = 0; i < N; i++) free(p[i]);
    os_free(p, N * sizeof *p);
    return NULL;
}

static void spares_back(void)
{
    enum { M = 4000 };
    void **q = os_alloc(M * sizeof *q);
    free(HIDE(malloc(HIDE((size_t)64))));
    size_t before = rss_bytes();
    pthread_t t;
    CHECK(pthread_create(&t, NULL, spares_thread, NULL) == 0, "pthread_create failed");
    CHECK(pthread_join(t, NULL) == 0, "pthread_join failed");
    size_t peak = rss_bytes();
    for (int round = 0; round < 5; round++) {
        usleep(120 * 1000);
        for (int i = 0; i < M; i++) CHECK((q[i] = HIDE(malloc(HIDE((size_t)64)))), "malloc(64) returned NULL");
        for (int i = 0; i < M; i++) free(q[i]);
    }
    os_free(q, M * sizeof *q);
    size_t after = rss_bytes();
    CHECK(after < before + 2 * MiB, "a thread freed 16 MiB of 64-byte blocks and exited; 600 ms of small-block work "
          "later RSS is still %zu KiB above where it started (peak %zu KiB above)", (after - before) / 1024,
          (peak - before) / 1024);
}

/* Pages freed in a segment that keeps seeing frees go back too: six
 * 512 KiB blocks of one segment are freed, then a seventh is allocated and
 * freed there every 20 ms; 400 ms later the first six's pages are not
 * resident (the churn reuses the first block's). */
static void busy_back(void)
{
    enum { N = 21, FREED = 6 };
    size_t size = 512 * KiB;
    unsigned char *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = HIDE(malloc(HIDE(size)));
        CHECK(p[i], "malloc(512 KiB) returned NULL");
        memset(p[i], i + 1, size);
    }
    /* The block after the freed ones holds their segment, and the blocks
     * are in address order there (each segment is made for whole blocks). */
    for (int i = 1; i <= FREED; i++)
        CHECK(p[i] == p[0] + (size_t)i * size, "512 KiB blocks 0 and %d are not neighbours", i);
    for (int i = 0; i < FREED; i++) free(HIDE(p[i]));
    for (int round = 0; round < 20; round++) {
        usleep(20 * 1000);
        void *q = HIDE(malloc(HIDE(size)));
        CHECK(q, "malloc(512 KiB) returned NULL");
        free(q);
    }
    size_t r = resident(p[1], (FREED - 1) * size);
    CHECK(r <= (FREED - 1) * size / 4, "2.5 MiB freed 400 ms ago in a segment where a block was freed every 20 ms "
          "since: %zu KiB of it still resident", r / 1024);
    for (int i = FREED; i < N; i++) free(HIDE(p[i]));
}

static void huge_back(void)
{
    enum { N = 8 };
    unsigned char *p[N];
    free(HIDE(malloc(HIDE((size_t)64))));
    size_t before = rss_bytes();
    for (int i = 0; i < N; i++) {
        p[i] = HIDE(malloc(32 * MiB));
        CHECK(p[i], "malloc(32 MiB) returned NULL");
        memset(p[i], i + 1, 32 * MiB);
    }
    for (int i = 0; i < N; i++) free(HIDE(p[i]));
    usleep(300 * 1000);                      /* past the purge delay (100 ms) */
    /* Small-block work that changes pages: no huge block, no trim. */
    enum { M = 4000 };
    void **q = os_alloc(M * sizeof *q);
    for (int i = 0; i < M; i++) CHECK((q[i] = HIDE(malloc(HIDE((size_t)64)))), "malloc(64) returned NULL");
    for (int i = 0; i < M; i++) free(q[i]);
    os_free(q, M * sizeof *q);
    size_t after = rss_bytes();
    CHECK(after < before + 32 * MiB, "256 MiB of huge blocks freed, 300 ms and some small-block work later: "
          "RSS is %zu MiB above where it started (the cache kept their pages)", (after - before) / MiB);
}

static void huge_yield(void)
{
    enum { BIG = 3, SMALL = 24 * MiB / (4 * KiB) };
    size_t live_n = 8 * MiB;
    /* (made in this order, live may lie just below two: a cut past two's
     * start would unmap the end of live) */
    unsigned char *two = HIDE(malloc(2 * MiB)), *live = HIDE(malloc(live_n)), *big[BIG];
    CHECK(live && two, "malloc(8 MiB / 2 MiB) returned NULL");
    uint64_t seed = pattern_seed(live, 7);
    pattern_fill(live, live_n, seed);
    memset(two, 1, 2 * MiB);
    for (int i = 0; i < BIG; i++) {
        big[i] = HIDE(malloc(16 * MiB));
        CHECK(big[i], "malloc(16 MiB) returned NULL");
        memset(big[i], i + 2, 16 * MiB);
    }
    free(HIDE(two));                         /* the oldest cached mapping */
    usleep(2000);
    for (int i = 0; i < BIG; i++) free(HIDE(big[i]));
    size_t before = rss_bytes();
    void **q = os_alloc(SMALL * sizeof *q);
    for (int i = 0; i < SMALL; i++) {
        q[i] = HIDE(malloc(4 * KiB));
        CHECK(q[i], "malloc(4 KiB) returned NULL");
        memset(q[i], 5, 4 * KiB);
    }
    size_t after = rss_bytes();
    CHECK(after < before + 8 * MiB, "50 MiB of huge blocks freed, then 24 MiB of small blocks made: RSS grew by %zu MiB "
          "(the cache kept its pages while new segments were mapped)", (after - before) / MiB);
    long bad = pattern_check(live, live_n, seed);
    CHECK(bad < 0, "a live 8 MiB block changed at byte %ld while the cache let go of pages", bad);
    for (int i = 0; i < SMALL; i++) CHECK(first_not(q[i], 4 * KiB, 5) < 0, "a 4 KiB block changed");
    /* What the cache kept serves again: whole, mapped, and writable. */
    unsigned char *again[BIG + 1];
    for (int i = 0; i <= BIG; i++) {
        again[i] = HIDE(malloc(16 * MiB));
        CHECK(again[i], "malloc(16 MiB) after the cache let go of pages returned NULL");
        memset(again[i], 6, 16 * MiB);
    }
    for (int i = 0; i <= BIG; i++) free(HIDE(again[i]));
    for (int i = 0; i < SMALL; i++) free(q[i]);
    os_free(q, SMALL * sizeof *q);
    free(live);
}

/* n touched blocks of `size` bytes, every other one freed (a page of that
 * class keeps half its blocks: none goes back to the pool).  The others
 * stay live until the subtest's process ends. */
static void half_freed(size_t size, size_t n)
{
    void **a = os_alloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++) {
        a[i] = HIDE(malloc(size));
        CHECK(a[i], "malloc(%zu) returned NULL", size);
        memset(a[i], 1, size);
    }
    for (size_t i = 0; i < n; i += 2) free(HIDE(a[i]));
    os_free(a, n * sizeof *a);
}

static void lend_reuse(void)
{
    enum { N = 40000 };
    malloc_trim(0);                         /* no freed page waits in the pool */
    half_freed(96, N);
    void **small = os_alloc(N / 2 * sizeof *small);
    memset(small, 0, N / 2 * sizeof *small);
    rss_bytes();                            /* (the first call maps libc's sscanf) */
    size_t before = rss_bytes(), lent = 0;
    for (size_t i = 0; i < N / 2; i++) {
        small[i] = HIDE(malloc(48));
        CHECK(small[i], "malloc(48) returned NULL");
        CHECK(((uintptr_t)small[i] & 15) == 0, "malloc(48) returned %p, not 16-byte aligned", small[i]);
        memset(small[i], 2, 48);
        lent += malloc_usable_size(small[i]) == 96;
    }
    size_t grown = rss_bytes() - before;
    CHECK(lent >= N / 2 * 9 / 10, "of %d blocks of 48 bytes made while pages of 96-byte blocks were half free, only "
          "%zu were 96-byte blocks (new pages were taken instead)", N / 2, lent);
    CHECK(grown < N / 2 * 48 / 2, "%d blocks of 48 bytes made while pages of 96-byte blocks were half free grew RSS "
          "by %zu KiB", N / 2, grown / KiB);
    /* Alignment: a 64-aligned class may only be lent pages of multiples of 64. */
    half_freed(80, 4000);
    for (int i = 0; i < 2000; i++) {
        void *p = HIDE(memalign(64, 64));
        CHECK(p && ((uintptr_t)p & 63) == 0, "memalign(64, 64) returned %p while 80-byte pages had room", p);
        memset(p, 3, 64);
    }
}

/* Fill three pages of `size`-byte blocks, free one block on each of the
 * first two (not the last, which is being allocated from): the next two
 * blocks must come from those two pages. */
static void *room_thread(void *arg)
{
    size_t size = *(const size_t *)arg, per_page = 65536 / size, n = 3 * per_page;
    unsigned char **a = os_alloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++) {
        a[i] = HIDE(malloc(size));
        CHECK(a[i], "malloc(%zu) returned NULL", size);
        CHECK(malloc_usable_size(a[i]) == size, "malloc(%zu) has usable size %zu (test assumes a class of that size)",
              size, malloc_usable_size(a[i]));
        memset(a[i], 1, size);
    }
    uintptr_t pa = (uintptr_t)a[0] >> 16, last = (uintptr_t)a[n - 1] >> 16, pb = 0;
    CHECK(pa != last, "%zu blocks of %zu bytes share one 64 KiB page (test assumes %zu a page)", n, size, per_page);
    size_t ib = 0;
    for (size_t i = 1; i < n && !pb; i++)
        if (((uintptr_t)a[i] >> 16) != pa && ((uintptr_t)a[i] >> 16) != last) pb = (uintptr_t)a[ib = i] >> 16;
    CHECK(pb, "the %zu blocks of %zu bytes are not on three pages", n, size);
    free(a[0]);
    free(a[ib]);
    for (int j = 0; j < 2; j++) {
        unsigned char *p = HIDE(malloc(size));
        CHECK(p, "malloc(%zu) returned NULL", size);
        uintptr_t pg = (uintptr_t)p >> 16;
        CHECK(pg == pa || pg == pb, "with a block of %zu bytes free on each of two full pages, block %d of the next "
              "2 came from another page (%p: a new page was taken)", size, j + 1, (void *)p);
    }
    return NULL;                             /* (the blocks go with the test's process) */
}

/* Each in a thread of its own: a fresh heap, with no pages of the class. */
static void room_reuse(void)
{
    static const size_t sizes[] = { 4096, 2048, 1280 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        pthread_t t;
        t_start(&t, room_thread, (void *)&sizes[i]);
        t_join(t);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "thp-segments") == 0) {      /* run by thp() */
        const char *why = thp_segments(thp_madvise_mode(), true);
        if (why) fprintf(stderr, "rss thp-segments: %s\n", why);
        return why ? 2 : 0;
    }
    if (argc > 1 && strcmp(argv[1], "thp-never") == 0) {         /* run by thp_decline() */
        const char *why = thp_declined(true);
        if (why) fprintf(stderr, "rss thp-never: %s\n", why);
        return why ? 2 : 0;
    }
    t_init("rss");
    unsigned t = 120;
    run_test("calloc_fresh", calloc_fresh, t);
    run_test("huge_reuse", huge_reuse, t);
    run_test("huge_grow", huge_grow, t);
    run_test("pages_reuse", pages_reuse, t);
    run_test("class_reuse", class_reuse, t);
    run_test("aligned_reuse", aligned_reuse, t);
    run_test("lend_reuse", lend_reuse, t);
    run_test("room_reuse", room_reuse, t);
    run_test("spares_back", spares_back, t);
    run_test("huge_back", huge_back, t);
    run_test("huge_yield", huge_yield, t);
    run_test("busy_back", busy_back, t);
    run_test("back_64", back_64, t);
    run_test("back_4k", back_4k, t);
    run_test("back_256k", back_256k, t);
    run_test("trim_64", trim_64, t);
    run_test("trim_4k", trim_4k, t);
    run_test("trim_256k", trim_256k, t);
    run_test("thp", thp, t);
    run_test("thp_decline", thp_decline, t);
    return t_finish();
}
