/* static.c -- linked with libcairn.a: the libc names and the cairn_ API,
 * from several threads at once.
 */
#define CAIRN_STATIC_LINK 1
#include "../common.h"
#include "cairn.h"
#include "cairn/internal.h"     /* white box: the size classes */

static void bad_free(void *arg)
{
    (void)arg;
    char *p = HIDE(malloc(64));
    free(HIDE(p + 16));
}

/* The malloc this program calls is Cairn's. */
static void test_linked(void)
{
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", CAIRN_VERSION_MAJOR, CAIRN_VERSION_MINOR,
             CAIRN_VERSION_PATCH);
    const char *v = cairn_version();
    CHECK(v && strcmp(v, want) == 0, "cairn_version() = \"%s\", expected \"%s\"", v ? v : "(null)", want);
    size_t sizes[] = { 1, 100, 5000, 300 * KiB, 6 * MiB };
    for (int i = 0; i < 5; i++) {
        void *p = HIDE(malloc(HIDE(sizes[i])));
        CHECK(p, "malloc(%zu) failed", sizes[i]);
        CHECK(cairn_usable_size(p) == malloc_usable_size(p),
              "cairn_usable_size %zu != malloc_usable_size %zu", cairn_usable_size(p), malloc_usable_size(p));
        CHECK(cairn_usable_size(p) >= sizes[i], "cairn_usable_size(malloc(%zu)) = %zu", sizes[i],
              cairn_usable_size(p));
        cairn_free(p);                          /* one allocator behind both names */
        p = HIDE(cairn_malloc(HIDE(sizes[i])));
        CHECK(p, "cairn_malloc(%zu) failed", sizes[i]);
        free(p);
    }
    /* Memory from this program's malloc is Cairn's: a misuse is named so. */
    const char *why = expect_abort(bad_free, NULL, "cairn: free(): invalid pointer (0x");
    CHECK(!why, "free() of a bad pointer did not go to Cairn: %s", why);
}

/* The whole cairn_ API, one thread. */
static void api_round(rng *r)
{
    size_t n = rng_size(r, 1 * MiB);
    unsigned char *p = HIDE(cairn_malloc(HIDE(n)));
    CHECK(p && ((uintptr_t)p & 15) == 0, "cairn_malloc(%zu) = %p", n, (void *)p);
    pattern_fill(p, n, 1);
    size_t m = rng_size(r, 1 * MiB);
    unsigned char *q = HIDE(cairn_realloc(HIDE(p), HIDE(m)));
    CHECK(q, "cairn_realloc(%zu -> %zu) failed", n, m);
    CHECK(pattern_check(q, n < m ? n : m, 1) < 0, "cairn_realloc lost contents");
    cairn_free(q);

    unsigned char *z = HIDE(cairn_calloc(HIDE(n), 1));
    CHECK(z && first_not(z, n, 0) < 0, "cairn_calloc(%zu, 1) is not zeroed", n);
    z = HIDE(cairn_reallocarray(HIDE(z), 3, HIDE(n)));
    CHECK(z, "cairn_reallocarray(p, 3, %zu) failed", n);
    CHECK(first_not(z, n, 0) < 0, "cairn_reallocarray lost contents");
    errno = 0;
    void *bad = HIDE(cairn_reallocarray(NULL, HIDE(SIZE_MAX / 2 + 1), 3));
    CHECK(!bad && errno == ENOMEM, "cairn_reallocarray overflow: %p errno %d", bad, errno);
    errno = 0;
    bad = HIDE(cairn_calloc(HIDE(SIZE_MAX / 2 + 1), 3));
    CHECK(!bad && errno == ENOMEM, "cairn_calloc overflow: %p errno %d", bad, errno);
    cairn_free(z);

    size_t a = (size_t)16 << (rng_next(r) % 12);
    void *al = NULL;
    CHECK(cairn_posix_memalign(&al, a, n) == 0 && ((uintptr_t)al & (a - 1)) == 0,
          "cairn_posix_memalign(%zu, %zu) = %p", a, n, al);
    CHECK(cairn_posix_memalign(&bad, 24, n) == EINVAL, "cairn_posix_memalign(24) is not EINVAL");
    cairn_free_aligned_sized(al, a, n);
    al = HIDE(cairn_aligned_alloc(HIDE(a), HIDE(n)));
    CHECK(al && ((uintptr_t)al & (a - 1)) == 0, "cairn_aligned_alloc(%zu, %zu) = %p", a, n, al);
    cairn_free(al);
    al = HIDE(cairn_memalign(HIDE(a), HIDE(n)));
    CHECK(al && ((uintptr_t)al & (a - 1)) == 0, "cairn_memalign(%zu, %zu) = %p", a, n, al);
    cairn_free(al);
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    al = HIDE(cairn_valloc(HIDE(n)));
    CHECK(al && ((uintptr_t)al & (pg - 1)) == 0, "cairn_valloc(%zu) = %p", n, al);
    cairn_free(al);
    al = HIDE(cairn_pvalloc(HIDE(n)));
    CHECK(al && ((uintptr_t)al & (pg - 1)) == 0 && cairn_usable_size(al) >= (n + pg - 1) / pg * pg,
          "cairn_pvalloc(%zu) = %p", n, al);
    cairn_free(al);
    p = HIDE(cairn_malloc(HIDE(n)));
    CHECK(p, "cairn_malloc(%zu) failed", n);
    cairn_free_sized(p, n);
    unsigned u = (unsigned)rng_range(r, 0, 100000);
    p = HIDE(allocate(HIDE(u)));
    CHECK(p && ((uintptr_t)p & 15) == 0 && cairn_usable_size(p) >= u, "allocate(%u) = %p", u, (void *)p);
    memset(p, 7, u);
    deallocate(p);
    CHECK(cairn_usable_size(NULL) == 0, "cairn_usable_size(NULL) != 0");
    cairn_free(NULL);
}

/* Plain malloc/free/realloc with pattern checks, and cairn_ calls. */
static void *worker(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    rng r = rng_make(id + 1);
    enum { SLOTS = 500 };
    unsigned char *p[SLOTS] = { 0 };
    size_t n[SLOTS];
    size_t ops = scaled(100000);
    for (size_t op = 0; op < ops; op++) {
        size_t i = (size_t)(rng_next(&r) % SLOTS);
        if (!p[i]) {
            n[i] = rng_size(&r, 512 * KiB);
            p[i] = (op & 1) ? HIDE(malloc(HIDE(n[i]))) : HIDE(cairn_malloc(HIDE(n[i])));
            CHECK(p[i], "malloc(%zu) failed", n[i]);
            pattern_fill(p[i], n[i], pattern_seed(p[i], i));
        } else if (op % 3 == 0) {
            size_t m = rng_size(&r, 512 * KiB);
            unsigned char *q = (op & 4) ? HIDE(realloc(HIDE(p[i]), HIDE(m)))
                                        : HIDE(cairn_realloc(HIDE(p[i]), HIDE(m)));
            CHECK(q, "realloc(%zu) failed", m);
            size_t keep = n[i] < m ? n[i] : m;
            CHECK(pattern_check(q, keep, pattern_seed(p[i], i)) < 0, "realloc lost contents");
            p[i] = q;
            n[i] = m;
            pattern_fill(q, m, pattern_seed(q, i));
        } else {
            CHECK(pattern_check(p[i], n[i], pattern_seed(p[i], i)) < 0, "block %p changed", (void *)p[i]);
            if (op & 2) free(p[i]);
            else cairn_free(p[i]);
            p[i] = NULL;
        }
        if (op % 1000 == 0) api_round(&r);
    }
    for (int i = 0; i < SLOTS; i++) free(p[i]);
    int rc = cairn_trim(0);
    CHECK(rc == 0 || rc == 1, "cairn_trim(0) returned %d", rc);
    return NULL;
}

static void test_threads(void)
{
    pthread_t t[6];
    int n = t_qemu ? 3 : 6;
    for (int i = 0; i < n; i++) t_start(&t[i], worker, (void *)(uintptr_t)i);
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    rng r = rng_make(42);
    for (int i = 0; i < 50; i++) api_round(&r);
}

/* free's fast test of "a block starts here" (cn_block_start: a multiply
 * and a compare) against the exact answer, for every class and every byte
 * of a slab's first page. */
static void test_block_start(void)
{
    free(HIDE(malloc(16)));                     /* the classes are made at init */
    for (unsigned c = 0; c < CN_NCLASS; c++) {
        const cn_class *k = &cn_classes[c];
        cn_page pg;
        memset(&pg, 0, sizeof pg);
        pg.cls = (uint8_t)c;
        pg.start_mul = k->start_mul;
        pg.start_lim = k->start_lim;
        CHECK(k->size >= 16 && k->capacity >= 1, "class %u: size %u, capacity %u", c, k->size, k->capacity);
        /* used (blocks out, +1 for the pin) stays clear of the full bias */
        CHECK(k->capacity + 1u < CN_USED_FULL, "class %u: capacity %u reaches CN_USED_FULL", c, k->capacity);
        unsigned bad = 0;
        for (uint32_t off = 0; off < CN_PAGE_SIZE; off++) {
            bool want = off % k->size == 0 && off / k->size < k->capacity;
            /* Never yes for a non-start; no for a start only in the classes
             * whose fast test passes offset 0 alone (big blocks). */
            bool first_only = k->start_lim == 1 && k->start_mul == 1u << (32 - CN_PAGE_SHIFT);
            bool fast = cn_block_start(&pg, 0x40000000u + off);
            if (fast != want && (fast || !first_only || off == 0) && bad++ == 0)
                FAILF("class %u (size %u): offset %u is %sa block start, the fast test says otherwise", c,
                      k->size, off, want ? "" : "not ");
            if ((cn_block_index(&pg, off) < k->capacity) != want && bad++ == 0)
                FAILF("class %u (size %u): cn_block_index(%u) is wrong", c, k->size, off);
        }
    }
}

/* The huge-page verdict: a 2 MiB first touch pays when it costs no more
 * than 1/CN_THP_MARGIN of the 512 4 KiB faults it replaces (os.c). */
static void test_thp_verdict(void)
{
    CHECK(!cn_os_thp_verdict(240000, 1000), "a warm 0.24 ms against 512 x 1 us faults (our Intel VM): should not pay");
    CHECK(!cn_os_thp_verdict(6300000, 1000), "6.3 ms against 512 x 1 us faults: should not pay");
    CHECK(cn_os_thp_verdict(117000, 15000), "0.12 ms against 512 x 15 us faults (our AMD VM): should pay");
    CHECK(!cn_os_thp_verdict(6300000, 15000), "6.3 ms against 512 x 15 us faults: should not pay");
    uint64_t even = 512000 / CN_THP_MARGIN;
    CHECK(cn_os_thp_verdict(even, 1000) && !cn_os_thp_verdict(even + 1, 1000),
          "the break-even is 512 / CN_THP_MARGIN faults");
}

int main(void)
{
    t_init("static");
    unsigned t = t_qemu ? 240 : 120;
    run_test("linked", test_linked, t);
    run_test("threads", test_threads, t);
    run_test("block_start", test_block_start, t);
    run_test("thp_verdict", test_thp_verdict, t);
    return t_finish();
}
