/* limits.c -- a heap with a hard cap.
 *
 * The cap is RLIMIT_DATA (or RLIMIT_AS) set to what the process uses now
 * (VmData / VmSize) plus the workload's peak live bytes plus 8 MiB.  The
 * workload allocates ~40 MiB of small blocks, frees them, the same volume
 * of large blocks (1-4 MiB), of medium ones, of a mix, for several rounds:
 * no allocation may fail.  Then the cap is hit on purpose: malloc must
 * return NULL with errno ENOMEM, and after freeing, the program carries on.
 *
 * qemu-user ignores RLIMIT_DATA/RLIMIT_AS, so under qemu the cap is made by
 * filling the 32-bit address space with PROT_NONE mappings and leaving a
 * hole of peak + 8 MiB (subtest limit_addrspace).
 */
#include "../common.h"

#define PEAK (40 * MiB)           /* live bytes (usable sizes) at most */
#define EXTRA (8 * MiB)

typedef struct table {
    void **p;
    size_t n, cap;
} table;

static table tb;

enum kind { SMALL, MEDIUM, LARGE, MIXED };
static const char *kind_name[] = { "small", "medium", "large", "mixed" };

static size_t gen(rng *r, enum kind k)
{
    switch (k) {
    case SMALL: return rng_range(r, 1, 512);
    case MEDIUM: return rng_range(r, 1 * KiB, 128 * KiB);
    case LARGE: return rng_range(r, 1 * MiB, 4 * MiB);
    default: return rng_size(r, 4 * MiB);
    }
}

static void free_all(rng *r, bool shuffled)
{
    if (shuffled)
        for (size_t i = tb.n; i > 1; i--) {
            size_t j = (size_t)(rng_next(r) % i);
            void *t = tb.p[i - 1];
            tb.p[i - 1] = tb.p[j];
            tb.p[j] = t;
        }
    for (size_t i = 0; i < tb.n; i++) free(tb.p[i]);
    tb.n = 0;
}

/* Fill up to PEAK bytes of blocks of one kind.  A block of n bytes is
 * counted as 1.25 n + 16 until it exists (no size class rounds up more),
 * then as its usable size, so the usable total never passes PEAK. */
static void phase(rng *r, enum kind k, int round, bool shuffled)
{
    size_t live = 0;
    for (;;) {
        size_t n = gen(r, k);
        if (live + n + n / 4 + 16 > PEAK) break;
        errno = 0;
        unsigned char *p = HIDE(malloc(HIDE(n)));
        CHECK(p, "round %d, %s blocks: malloc(%zu) failed (errno %d) with %zu bytes live, cap %zu MiB over the start",
              round, kind_name[k], n, errno, live, (PEAK + EXTRA) / MiB);
        CHECK(tb.n < tb.cap, "test table full");
        tb.p[tb.n++] = p;
        live += malloc_usable_size(p);
        p[0] = 1;
        p[n / 2] = 2;
        p[n - 1] = 3;
    }
    free_all(r, shuffled);
}

static void workload(uint64_t seed, int rounds)
{
    rng r = rng_make(seed);
    for (int round = 1; round <= rounds; round++) {
        bool sh = round % 2 == 0;
        phase(&r, SMALL, round, sh);
        phase(&r, LARGE, round, sh);
        phase(&r, MEDIUM, round, sh);
        phase(&r, SMALL, round, !sh);
        phase(&r, LARGE, round, !sh);
    }
}

/* Allocate blocks of n bytes until malloc fails; it must fail (within the
 * table) and say ENOMEM. */
static size_t fill_until_null(size_t n)
{
    size_t got = 0;
    for (;;) {
        CHECK(tb.n < tb.cap, "malloc(%zu) never failed: %zu blocks past the cap", n, got);
        errno = 0;
        unsigned char *p = HIDE(malloc(HIDE(n)));
        if (!p) {
            CHECK(errno == ENOMEM, "at the cap malloc(%zu) returned NULL with errno %d (%s), expected ENOMEM",
                  n, errno, strerror(errno));
            return got;
        }
        p[0] = 1;
        p[n - 1] = 2;
        tb.p[tb.n++] = p;
        got++;
    }
}

static void hit_the_cap(void)
{
    rng r = rng_make(99);
    size_t big = fill_until_null(1 * MiB);
    CHECK(big >= PEAK / MiB / 2, "only %zu blocks of 1 MiB fitted under the cap", big);
    fill_until_null(64 * KiB);
    fill_until_null(64);
    /* Still alive: other calls fail cleanly too. */
    errno = 0;
    void *q = HIDE(calloc(HIDE(8 * MiB), 1));
    CHECK(!q && errno == ENOMEM, "calloc(8 MiB) at the cap: %p, errno %d", q, errno);
    /* Free every other block (half of each size, so about half the bytes:
     * freeing the last half of the table would free only small blocks),
     * allocate again, free all, and do the whole workload again. */
    size_t kept = 0;
    for (size_t i = 0; i < tb.n; i++) {
        if (i % 2) free(tb.p[i]);
        else tb.p[kept++] = tb.p[i];
    }
    tb.n = kept;
    for (int i = 0; i < 4; i++) {
        void *p = HIDE(malloc(HIDE(100 * KiB)));
        CHECK(p, "after freeing half of the blocks, malloc(100 KiB) failed (errno %d)", errno);
        tb.p[tb.n++] = p;
    }
    free_all(&r, true);
    workload(7, 1);
}

static void setup_table(void)
{
    tb.cap = 2 * 1024 * 1024;
    tb.p = os_alloc(tb.cap * sizeof *tb.p);
    memset(tb.p, 0, tb.cap * sizeof *tb.p);
    /* Let the allocator set itself up (every kind of block) before the
     * usage is measured. */
    size_t warm[] = { 16, 1000, 50000, 300 * KiB, 5 * MiB };
    for (int i = 0; i < 5; i++) free(HIDE(malloc(HIDE(warm[i]))));
}

static void with_rlimit(int resource, const char *field)
{
    setup_table();
    size_t used = proc_status_bytes(field);
    CHECK(used > 0, "cannot read %s from /proc/self/status", field);
    rlim_t cap = (rlim_t)(used + PEAK + EXTRA);
    struct rlimit rl = { cap, cap };
    CHECK(setrlimit(resource, &rl) == 0, "setrlimit: %s", strerror(errno));
    /* The limit must really bite, or the test proves nothing. */
    void *m = mmap(NULL, PEAK + 2 * EXTRA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m == MAP_FAILED, "the system does not enforce the limit (an mmap over it succeeded)");
    workload(1, 3);
    hit_the_cap();
}

static void test_limit_data(void) { with_rlimit(RLIMIT_DATA, "VmData"); }
static void test_limit_as(void) { with_rlimit(RLIMIT_AS, "VmSize"); }

/* Under qemu: fill the address space, leave one hole of PEAK + EXTRA. */
static void test_limit_addrspace(void)
{
    setup_table();
    size_t cap = 256 * 1024, n = 0;
    void **where = os_alloc(cap * sizeof *where);
    size_t *len = os_alloc(cap * sizeof *len);
    size_t chunk[] = { 64 * MiB, 1 * MiB, 64 * KiB, 4 * KiB };
    for (int c = 0; c < 4; c++) {
        for (;;) {
            void *m = mmap(NULL, chunk[c], PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (m == MAP_FAILED) break;
            CHECK(n < cap, "too many mappings to fill the address space");
            where[n] = m;
            len[n++] = chunk[c];
        }
    }
    CHECK(n > 0 && len[0] == 64 * MiB, "could not fill the address space (is this 32-bit?)");
    CHECK(munmap(where[0], PEAK + EXTRA) == 0, "munmap: %s", strerror(errno));
    workload(1, 3);
    hit_the_cap();
}

int main(void)
{
    t_init("limits");
    /* Under qemu a run takes ~32 s, but 2 runs in 20 took 150-216 s with
     * the same system calls (qemu's own address-space bookkeeping, with
     * thousands of mappings): leave room below run.sh's 600 s. */
    unsigned t = t_qemu ? 480 : 120;
    if (t_qemu) {
        run_test("limit_addrspace", test_limit_addrspace, t);
    } else {
        run_test("limit_data", test_limit_data, t);
        run_test("limit_as", test_limit_as, t);
    }
    return t_finish();
}
