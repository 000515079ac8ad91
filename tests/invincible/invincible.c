/* invincible.c -- the "invincible allocator" battery.
 *
 *   alloc_32      32 bytes: write a string into it, print it, check it, free
 *   double_free   a 32-byte block freed twice is reported: the process dies
 *                 of SIGABRT after printing "cairn: free(): double free
 *                 detected (0x...)" (with another allocator: SIGABRT only)
 *   sizes         32, 64, 128, 192, ... 4096 (steps of 64) and 16 pages:
 *                 each written in full, checked and freed; then all at once
 *   keep_20       20 blocks of 32 bytes kept, checked and freed after the loop
 *   threads_own   10 threads x 100 000 malloc(256) / write / free: no two
 *                 threads ever hold the same address at the same time (a
 *                 lock-free set of live addresses, plus a stamp in each block)
 *   utilisation   under a cap of 64 MiB over what the process uses now,
 *                 random sizes of 1-256 bytes until malloc returns NULL
 *                 (errno ENOMEM): the bytes requested must reach 85 % of the
 *                 64 MiB (the figure goes to stderr).  After freeing all,
 *                 blocks of every size can be had, and a second fill must
 *                 reach 85 % too.
 *
 * The cap is RLIMIT_AS natively.  qemu-user ignores RLIMIT_*, so under qemu
 * the 32-bit address space is filled with PROT_NONE mappings except for one
 * hole of 64 MiB, as tests/limits does; the hole is aligned to its size, made
 * after the allocator has set itself up, and only the blocks inside it count.
 */
#include "../common.h"

static bool expect_cairn(void)
{
    const char *s = getenv("CAIRN_TEST_EXPECT");
    return s && atoi(s) > 0;
}

/* A block of n bytes, 16-byte aligned, filled with the pattern of (p, n). */
static unsigned char *get_filled(size_t n)
{
    errno = 0;
    unsigned char *p = HIDE(malloc(HIDE(n)));
    CHECK(p, "malloc(%zu) returned NULL (errno %d)", n, errno);
    CHECK(((uintptr_t)p & 15) == 0, "malloc(%zu) = %p is not 16-byte aligned", n, (void *)p);
    CHECK(malloc_usable_size(p) >= n, "malloc_usable_size(malloc(%zu)) = %zu", n, malloc_usable_size(p));
    pattern_fill(p, n, pattern_seed(p, n));
    return p;
}

static void check_filled(const unsigned char *p, size_t n, const char *where)
{
    long bad = pattern_check(p, n, pattern_seed(p, n));
    CHECK(bad < 0, "%s: block %p of %zu bytes changed at byte %ld", where, (const void *)p, n, bad);
}

/* ------------------------------------------------------------------------
 * alloc_32, double_free
 * ---------------------------------------------------------------------- */

static void test_alloc_32(void)
{
    char *p = HIDE(malloc(HIDE((size_t)32)));
    CHECK(p, "malloc(32) returned NULL");
    CHECK(((uintptr_t)p & 15) == 0, "malloc(32) = %p is not 16-byte aligned", (void *)p);
    int n = snprintf(p, 32, "invincible %p", (void *)p);
    CHECK(n > 0 && n < 32, "snprintf into the block: %d", n);
    char want[32];
    snprintf(want, sizeof want, "invincible %p", (void *)p);
    CHECK(strcmp(p, want) == 0, "the block reads \"%.31s\", expected \"%s\"", p, want);
    fprintf(stderr, "  alloc_32: the block holds \"%s\"\n", p);
    /* Every one of the 32 bytes, not just the string. */
    memset(p + n + 1, 0x5a, (size_t)(31 - n));
    CHECK(first_not(p + n + 1, (size_t)(31 - n), 0x5a) < 0, "the tail of the block did not keep its bytes");
    CHECK(strcmp(p, want) == 0, "the string changed when the tail was written");
    free(p);
}

#define DOUBLE_FREE "cairn: free(): double free detected (0x"

static void free_twice(void *arg)
{
    (void)arg;
    char *p = HIDE(malloc(HIDE((size_t)32)));
    if (!p) _exit(3);
    memset(p, 7, 32);
    void *again = HIDE(p);
    free(p);
    free(again);
}

static void test_double_free(void)
{
    if (expect_cairn()) {
        const char *why = expect_abort(free_twice, NULL, DOUBLE_FREE);
        CHECK(!why, "%s", why);
        return;
    }
    /* Another allocator: it must abort too, in its own words. */
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork failed: %s", strerror(errno));
    if (pid == 0) {
        t_enter_child();
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) dup2(fd, 2);
        alarm(30);
        free_twice(NULL);
        _exit(0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        CHECK(errno == EINTR, "waitpid: %s", strerror(errno));
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "the double free was not reported: child %s %d",
          WIFEXITED(st) ? "exited with status" : "killed by signal",
          WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* ------------------------------------------------------------------------
 * sizes, keep_20
 * ---------------------------------------------------------------------- */

static size_t size_list(size_t *out)
{
    size_t k = 0;
    out[k++] = 32;
    for (size_t n = 64; n <= 4096; n += 64) out[k++] = n;
    out[k++] = 16 * 4096;
    return k;
}

static void test_sizes(void)
{
    size_t sz[80];
    size_t k = size_list(sz);
    /* One at a time. */
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < k; i++) {
            unsigned char *p = get_filled(sz[i]);
            check_filled(p, sz[i], "one at a time");
            free(p);
        }
    }
    /* All live together: none may overlap another. */
    unsigned char *live[80];
    for (size_t i = 0; i < k; i++) live[i] = get_filled(sz[i]);
    for (size_t i = 0; i < k; i++) check_filled(live[i], sz[i], "all live together");
    for (size_t i = 0; i < k; i++) free(live[k - 1 - i]);
}

static void test_keep_20(void)
{
    enum { N = 20 };
    unsigned char *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = HIDE(malloc(HIDE((size_t)32)));
        CHECK(p[i], "malloc(32) number %d returned NULL", i + 1);
        CHECK(((uintptr_t)p[i] & 15) == 0, "malloc(32) = %p is not 16-byte aligned", (void *)p[i]);
        for (int j = 0; j < i; j++)
            CHECK(p[j] != p[i], "malloc(32) number %d returned %p again (also number %d, still live)",
                  i + 1, (void *)p[i], j + 1);
        memset(p[i], 'A' + i, 32);
    }
    for (int i = 0; i < N; i++) {
        long bad = first_not(p[i], 32, (unsigned char)('A' + i));
        CHECK(bad < 0, "block %d (%p) changed at byte %ld", i + 1, (void *)p[i], bad);
    }
    for (int i = 0; i < N; i++) free(p[i]);
}

/* ------------------------------------------------------------------------
 * threads_own: a lock-free set of the addresses threads hold.
 *
 * Open addressing with linear probing.  A slot, once taken by an address,
 * belongs to that address for ever: it holds p while p is live and p | 1
 * while it is not (blocks are 16-byte aligned, so bit 0 is free).  Every
 * insert of p walks the same probe sequence and stops at the first slot
 * that is empty or p's own, so all inserts of p meet in one slot, and the
 * compare-and-swap there decides: p | 1 -> p (or 0 -> p) succeeds for one
 * thread only, and a thread finding p already there has caught two threads
 * holding the same address.
 * ---------------------------------------------------------------------- */

#define SET_BITS 20
#define SET_SLOTS ((size_t)1 << SET_BITS)
static _Atomic uintptr_t *set;
static atomic_size_t set_keys;      /* distinct addresses seen */

static size_t set_home(uintptr_t p)
{
    return (size_t)((((uint64_t)p >> 4) * 0x9E3779B97F4A7C15ull) >> (64 - SET_BITS));
}

static void set_insert(uintptr_t p, int tid)
{
    size_t i = set_home(p);
    for (size_t probes = 0; probes < SET_SLOTS; probes++, i = (i + 1) & (SET_SLOTS - 1)) {
        uintptr_t v = atomic_load(&set[i]);
        for (;;) {
            if (v == p)
                FAILF("thread %d got %p from malloc while another thread holds it", tid, (void *)p);
            if (v != 0 && v != (p | 1)) break;      /* another address's slot */
            if (atomic_compare_exchange_strong(&set[i], &v, p)) {
                if (v == 0) atomic_fetch_add(&set_keys, 1);
                return;
            }
            /* Lost a race: v is what is there now; look again. */
        }
    }
    FAILF("the set of addresses is full (%zu distinct addresses)", SET_SLOTS);
}

static void set_remove(uintptr_t p, int tid)
{
    size_t i = set_home(p);
    for (size_t probes = 0; probes < SET_SLOTS; probes++, i = (i + 1) & (SET_SLOTS - 1)) {
        uintptr_t v = atomic_load(&set[i]);
        if (v == 0) break;
        if (v == (p | 1)) FAILF("thread %d is about to free %p, which someone else already gave up", tid, (void *)p);
        if (v == p) {
            CHECK(atomic_compare_exchange_strong(&set[i], &v, p | 1),
                  "thread %d: %p was given up by another thread at the same time", tid, (void *)p);
            return;
        }
    }
    FAILF("thread %d: %p is not in the set of live addresses", tid, (void *)p);
}

static size_t own_iters;

static void *own_thread(void *arg)
{
    int tid = (int)(uintptr_t)arg;
    for (size_t it = 0; it < own_iters; it++) {
        unsigned char *p = HIDE(malloc(HIDE((size_t)256)));
        CHECK(p, "thread %d: malloc(256) returned NULL at iteration %zu", tid, it);
        CHECK(((uintptr_t)p & 15) == 0, "malloc(256) = %p is not 16-byte aligned", (void *)p);
        set_insert((uintptr_t)p, tid);
        /* The stamp: who holds the block, and since when. */
        uint64_t seed = pattern_seed(p, ((uint64_t)tid << 32) | it);
        pattern_fill(p, 256, seed);
        if (it % 8 == 0) sched_yield();         /* let others in while we hold it */
        long bad = pattern_check(p, 256, seed);
        CHECK(bad < 0, "thread %d, iteration %zu: block %p changed at byte %ld while held", tid, it,
              (void *)p, bad);
        set_remove((uintptr_t)p, tid);
        free(p);
    }
    return NULL;
}

static void test_threads_own(void)
{
    int n = t_qemu ? 4 : 10;
    own_iters = scaled(100000);
    set = os_alloc(SET_SLOTS * sizeof *set);
    pthread_t t[10];
    for (int i = 0; i < n; i++) t_start(&t[i], own_thread, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < n; i++) t_join(t[i]);
    /* Every address must be given up again. */
    for (size_t i = 0; i < SET_SLOTS; i++) {
        uintptr_t v = atomic_load(&set[i]);
        CHECK(v == 0 || (v & 1), "address %p is still marked live after all threads ended", (void *)v);
    }
    os_free((void *)set, SET_SLOTS * sizeof *set);
}

/* ------------------------------------------------------------------------
 * utilisation
 * ---------------------------------------------------------------------- */

#define HEADROOM (64 * MiB)
#define UTIL_MIN 85                 /* percent */
#define UTIL_MAX_BLOCKS (HEADROOM / 32)

static unsigned char **ut_p;
static uint16_t *ut_n;
/* The blocks that count: those in [ut_lo, ut_hi) (under qemu, the hole). */
static uintptr_t ut_lo, ut_hi;

typedef struct tally {
    size_t blocks;          /* all blocks */
    size_t req, usable;     /* bytes in the blocks that count */
    size_t req_all;         /* bytes in all blocks */
} tally;

/* Random sizes of 1-256 bytes until malloc fails, which must say ENOMEM. */
static tally fill(rng *r)
{
    tally t = { 0, 0, 0, 0 };
    for (;;) {
        CHECK(t.blocks < UTIL_MAX_BLOCKS, "malloc never failed: %zu blocks, %zu bytes under a cap of %zu MiB",
              t.blocks, t.req_all, HEADROOM / MiB);
        size_t n = rng_range(r, 1, 256);
        errno = 0;
        unsigned char *p = HIDE(malloc(HIDE(n)));
        if (!p) {
            CHECK(errno == ENOMEM, "at the cap malloc(%zu) returned NULL with errno %d (%s), expected ENOMEM",
                  n, errno, strerror(errno));
            return t;
        }
        memset(p, (unsigned char)t.blocks, n);
        ut_p[t.blocks] = p;
        ut_n[t.blocks] = (uint16_t)n;
        t.blocks++;
        t.req_all += n;
        if ((uintptr_t)p >= ut_lo && (uintptr_t)p < ut_hi) {
            t.req += n;
            t.usable += malloc_usable_size(p);
        }
    }
}

/* Check every block, then free them all in a random order. */
static void check_free_all(rng *r, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        long bad = first_not(ut_p[i], ut_n[i], (unsigned char)i);
        CHECK(bad < 0, "block %zu (%p, %u bytes) changed at byte %ld", i, (void *)ut_p[i], ut_n[i], bad);
    }
    for (size_t i = k; i > 1; i--) {
        size_t j = (size_t)(rng_next(r) % i);
        unsigned char *t = ut_p[i - 1];
        ut_p[i - 1] = ut_p[j];
        ut_p[j] = t;
    }
    for (size_t i = 0; i < k; i++) free(ut_p[i]);
}

static double percent(size_t bytes) { return 100.0 * (double)bytes / (double)HEADROOM; }

/* Under qemu: fill the address space, leaving one hole of HEADROOM, aligned
 * to its own size.  A cap counts bytes, wherever they are; an unaligned
 * hole would also measure how the allocator copes with scraps of address
 * space its segments cannot be aligned in (much slower under qemu, and not
 * what RLIMIT_AS does).  Returns the hole. */
static uintptr_t make_hole(void)
{
    void *res = mmap(NULL, 2 * HEADROOM, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(res != MAP_FAILED, "mmap of %zu MiB to reserve the hole: %s", 2 * HEADROOM / MiB, strerror(errno));
    uintptr_t hole = ((uintptr_t)res + HEADROOM - 1) & ~(uintptr_t)(HEADROOM - 1);
    size_t chunk[] = { HEADROOM, 1 * MiB, 64 * KiB, 4 * KiB }, n = 0;
    for (int c = 0; c < 4; c++) {
        for (;;) {
            void *m = mmap(NULL, chunk[c], PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (m == MAP_FAILED) break;
            CHECK(++n < 1000000, "the address space does not fill up (is this 32-bit?)");
        }
    }
    CHECK(munmap((void *)hole, HEADROOM) == 0, "munmap: %s", strerror(errno));
    return hole;
}

static void test_utilisation(void)
{
    ut_p = os_alloc(UTIL_MAX_BLOCKS * sizeof *ut_p);
    ut_n = os_alloc(UTIL_MAX_BLOCKS * sizeof *ut_n);
    const char *how;
    size_t vm0 = 0;
    if (!t_qemu) {
        /* Everything the allocator maps from here on counts. */
        vm0 = proc_status_bytes("VmSize");
        CHECK(vm0 > 0, "cannot read VmSize from /proc/self/status");
        rlim_t cap = (rlim_t)(vm0 + HEADROOM);
        struct rlimit rl = { cap, cap };
        CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit(RLIMIT_AS): %s", strerror(errno));
        ut_lo = 0;
        ut_hi = UINTPTR_MAX;
        how = "RLIMIT_AS";
    } else {
        /* The allocator sets itself up first, for every kind of block: its
         * own tables (Cairn's per-thread heaps, its table of huge blocks)
         * would otherwise be mapped in the hole and misalign it.  What it
         * has outside the hole then is a bonus that does not count: only
         * blocks inside the hole do.  Then its caches are emptied, so that
         * no cached block is unmapped later, leaving scraps of address
         * space outside the hole that only slow the test down. */
        size_t warm[] = { 16, 1000, 50000, 5 * MiB };
        for (int i = 0; i < 4; i++) free(HIDE(malloc(HIDE(warm[i]))));
        malloc_trim(0);
        ut_lo = make_hole();
        ut_hi = ut_lo + HEADROOM;
        how = "blocks in a hole in the address space";
    }
    /* The cap must really bite, or the test proves nothing. */
    void *m = mmap(NULL, HEADROOM + 4 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m == MAP_FAILED, "the cap is not enforced (an mmap over it succeeded)");

    rng r = rng_make(2024);
    tally t = fill(&r);
    size_t vm1 = t_qemu ? 0 : proc_status_bytes("VmSize");
    check_free_all(&r, t.blocks);
    fprintf(stderr,
            "  utilisation: %zu blocks of 1-256 bytes; %zu bytes requested (%.1f %%), %zu usable (%.1f %%)"
            " of %zu MiB of headroom (%s)",
            t.blocks, t.req, percent(t.req), t.usable, percent(t.usable), HEADROOM / MiB, how);
    if (t_qemu) fprintf(stderr, "; %zu bytes requested outside it", t.req_all - t.req);
    else fprintf(stderr, "; VmSize %zu -> %zu KiB", vm0 / KiB, vm1 / KiB);
    fprintf(stderr, "\n");
    CHECK(percent(t.req) >= UTIL_MIN,
          "only %.1f %% of the %zu MiB headroom could be allocated (%zu bytes requested, %zu usable, in %zu blocks);"
          " expected %d %%", percent(t.req), HEADROOM / MiB, t.req, t.usable, t.blocks, UTIL_MIN);

    /* Everything is free again: allocations of every kind work ...  Big
     * blocks only with Cairn, which unmaps what is free when the OS says no:
     * glibc keeps its heap, where a few chunks in its per-thread cache stop
     * the rest from merging into big blocks (and where brk cannot grow,
     * its heap is pieces of 1 MiB). */
    size_t again[] = { 1, 256, 4096, 100 * KiB, 256 * KiB, 1 * MiB, 16 * MiB };
    for (int i = 0; i < (expect_cairn() ? 7 : 5); i++) {
        errno = 0;
        unsigned char *p = HIDE(malloc(HIDE(again[i])));
        CHECK(p, "after freeing everything, malloc(%zu) failed (errno %d)", again[i], errno);
        memset(p, 1, again[i]);
        free(p);
    }
    /* ... and the space can be filled as well as the first time. */
    tally t2 = fill(&r);
    check_free_all(&r, t2.blocks);
    fprintf(stderr, "  utilisation, second fill after freeing all: %zu blocks, %zu bytes (%.1f %%)\n", t2.blocks,
            t2.req, percent(t2.req));
    CHECK(percent(t2.req) >= UTIL_MIN,
          "the second fill, after freeing all, reached only %.1f %% of the headroom (the first %.1f %%)",
          percent(t2.req), percent(t.req));
    void *p = HIDE(malloc(HIDE((size_t)1000)));
    CHECK(p, "malloc(1000) failed after the second fill was freed");
    free(p);
}

int main(void)
{
    t_init("invincible");
    unsigned t = t_qemu ? 240 : 60;
    run_test("alloc_32", test_alloc_32, t);
    run_test("double_free", test_double_free, t);
    run_test("sizes", test_sizes, t);
    run_test("keep_20", test_keep_20, t);
    run_test("threads_own", test_threads_own, t);
    run_test("utilisation", test_utilisation, t);
    return t_finish();
}
