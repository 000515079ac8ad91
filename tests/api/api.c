/* api.c -- the C allocation API: semantics, alignment and errno.
 *
 * Run under LD_PRELOAD (the libc names must be Cairn's) or linked with
 * libcairn.a (-DCAIRN_STATIC_LINK).
 */
#include "../common.h"

#define ALIGN_MIN 16

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

static bool aligned_to(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

/* Write n bytes of p (all of them when small, one per 4 KiB page and the
 * last byte when large), then read them back. */
static void touch(unsigned char *p, size_t n, const char *what)
{
    if (n == 0) return;
    if (n <= MiB) {
        memset(p, 0x5A, n);
        long bad = first_not(p, n, 0x5A);
        CHECK(bad < 0, "%s: byte %ld of %zu does not hold what was written", what, bad, n);
        return;
    }
    for (size_t i = 0; i < n; i += 4096) p[i] = (unsigned char)(i >> 12);
    p[n - 1] = 0xEE;
    for (size_t i = 0; i < n - 1; i += 4096)
        CHECK(p[i] == (unsigned char)(i >> 12), "%s: byte %zu of %zu lost its value", what, i, n);
    CHECK(p[n - 1] == 0xEE, "%s: last byte lost its value", what);
}

/* The checks every block must pass. */
static void check_block(void *p, size_t n, const char *what)
{
    CHECK(p != NULL, "%s(%zu) returned NULL (errno %d)", what, n, errno);
    CHECK(aligned_to(p, ALIGN_MIN), "%s(%zu) = %p is not %d-byte aligned", what, n, p, ALIGN_MIN);
    size_t u = malloc_usable_size(p);
    CHECK(u >= n, "%s(%zu): malloc_usable_size = %zu, smaller than the request", what, n, u);
}

/* ------------------------------------------------------------------------ */

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static void test_malloc_zero(void)
{
    enum { N = 1000 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = HIDE(malloc(HIDE((size_t)0)));
        check_block(p[i], 0, "malloc");
    }
    void *s[N];
    memcpy(s, p, sizeof s);
    qsort(s, N, sizeof s[0], cmp_ptr);
    for (int i = 1; i < N; i++) CHECK(s[i] != s[i - 1], "malloc(0) returned %p twice while live", s[i]);
    for (int i = 0; i < N; i++) free(p[i]);
}

/* Sizes 1..2048 all, then sampled to 100000: aligned, usable >= n, and the
 * whole usable size of each of a batch of live blocks is writable without
 * disturbing its neighbours. */
static void test_sizes(void)
{
    enum { BATCH = 64 };
    void *p[BATCH];
    size_t use[BATCH];
    rng r = rng_make(1);
    size_t n = 1;
    size_t step_max = t_scale < 100 ? 400 : 100;
    while (n <= 100000) {
        int k;
        for (k = 0; k < BATCH && n <= 100000; k++) {
            p[k] = HIDE(malloc(HIDE(n)));
            check_block(p[k], n, "malloc");
            use[k] = malloc_usable_size(p[k]);
            pattern_fill(p[k], use[k], pattern_seed(p[k], (uint64_t)k));
            n += n < 2048 ? 1 : rng_range(&r, 1, step_max);
        }
        for (int i = 0; i < k; i++) {
            long bad = pattern_check(p[i], use[i], pattern_seed(p[i], (uint64_t)i));
            CHECK(bad < 0, "block %p (usable %zu) byte %ld was overwritten by a neighbour", p[i],
                  use[i], bad);
        }
        for (int i = 0; i < k; i++) free(p[i]);
    }
}

static void test_posix_memalign(void)
{
    size_t bad[] = { 0, 1, 2, 3, 4, 12, 24, 48, 100, 4097, SIZE_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t a = bad[i];
        bool pow2 = a && !(a & (a - 1));
        if (pow2 && a >= sizeof(void *)) continue;
        void *q = (void *)0x1;
        int rc = posix_memalign(&q, HIDE(a), 64);
        CHECK(rc == EINVAL, "posix_memalign(alignment %zu) returned %d, expected EINVAL", a, rc);
    }
    for (size_t a = sizeof(void *); a <= 64 * MiB; a *= 2) {
        size_t sizes[] = { 1, 100, a };
        for (int j = 0; j < 3; j++) {
            void *q = NULL;
            int rc = posix_memalign(&q, HIDE(a), sizes[j]);
            CHECK(rc == 0, "posix_memalign(alignment %zu, %zu) returned %d", a, sizes[j], rc);
            check_block(q, sizes[j], "posix_memalign");
            CHECK(aligned_to(q, a), "posix_memalign(alignment %zu) gave %p", a, q);
            touch(q, sizes[j], "posix_memalign");
            free(q);
        }
    }
}

static void aligned_family(const char *what, void *(*fn)(size_t, size_t))
{
    for (size_t a = 1; a <= 64 * MiB; a *= 2) {
        size_t sizes[] = { 1, 100, 5000, a };
        void *keep[4];
        for (int j = 0; j < 4; j++) {
            size_t n = sizes[j];
            void *q = HIDE(fn(HIDE(a), HIDE(n)));
            char w[64];
            snprintf(w, sizeof w, "%s(alignment %zu)", what, a);
            check_block(q, n, w);
            CHECK(aligned_to(q, a), "%s(%zu, %zu) = %p is not aligned", what, a, n, q);
            touch(q, n, w);
            keep[j] = q;
        }
        for (int j = 0; j < 4; j++) free(keep[j]);
    }
}

static void *call_aligned_alloc(size_t a, size_t n) { return aligned_alloc(a, n); }
static void *call_memalign(size_t a, size_t n) { return memalign(a, n); }

static void test_aligned_alloc(void) { aligned_family("aligned_alloc", call_aligned_alloc); }
static void test_memalign(void) { aligned_family("memalign", call_memalign); }

static void test_valloc(void)
{
    size_t pg = page_size();
    size_t sizes[] = { 0, 1, 100, pg - 1, pg, pg + 1, 3 * pg + 5, 200 * KiB, MiB, 5 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *q = HIDE(valloc(HIDE(n)));
        check_block(q, n, "valloc");
        CHECK(aligned_to(q, pg), "valloc(%zu) = %p is not page-aligned", n, q);
        touch(q, n, "valloc");
        free(q);
    }
}

static void test_pvalloc(void)
{
    size_t pg = page_size();
    size_t sizes[] = { 1, 100, pg - 1, pg, pg + 1, 3 * pg + 5, 200 * KiB, MiB + 1, 5 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        size_t want = (n + pg - 1) / pg * pg;
        void *q = HIDE(pvalloc(HIDE(n)));
        check_block(q, n, "pvalloc");
        CHECK(aligned_to(q, pg), "pvalloc(%zu) = %p is not page-aligned", n, q);
        size_t u = malloc_usable_size(q);
        CHECK(u >= want, "pvalloc(%zu): usable size %zu < %zu (n rounded up to the page)", n, u, want);
        touch(q, want, "pvalloc");
        free(q);
    }
}

static void test_calloc_overflow(void)
{
    size_t half = (size_t)1 << (sizeof(size_t) * 4);
    size_t pairs[][2] = {
        { SIZE_MAX / 2 + 1, 3 }, { 3, SIZE_MAX / 2 + 1 }, { SIZE_MAX, SIZE_MAX },
        { half + 1, half + 1 },  { SIZE_MAX / 16 + 1, 16 }, { 2, SIZE_MAX / 2 + 1 },
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        errno = 0;
        void *q = HIDE(calloc(HIDE(pairs[i][0]), HIDE(pairs[i][1])));
        CHECK(q == NULL, "calloc(%zu, %zu) did not fail (%p)", pairs[i][0], pairs[i][1], q);
        CHECK(errno == ENOMEM, "calloc(%zu, %zu): errno %d, expected ENOMEM", pairs[i][0],
              pairs[i][1], errno);
    }
}

static void test_reallocarray(void)
{
    errno = 0;
    void *q = HIDE(reallocarray(NULL, HIDE(SIZE_MAX / 2 + 1), 3));
    CHECK(q == NULL && errno == ENOMEM, "reallocarray(NULL, SIZE_MAX/2+1, 3) = %p, errno %d", q, errno);

    unsigned char *p = HIDE(reallocarray(NULL, 10, 20));
    check_block(p, 200, "reallocarray(NULL, 10, 20)");
    pattern_fill(p, 200, 77);
    errno = 0;
    q = HIDE(reallocarray(HIDE(p), HIDE(SIZE_MAX / 2 + 1), 3));
    CHECK(q == NULL && errno == ENOMEM, "reallocarray(p, SIZE_MAX/2+1, 3) = %p, errno %d", q, errno);
    CHECK(pattern_check(p, 200, 77) < 0, "a failed reallocarray damaged the block");
    errno = 0;
    q = HIDE(reallocarray(HIDE(p), HIDE((size_t)3), HIDE(SIZE_MAX / 2 + 1)));
    CHECK(q == NULL && errno == ENOMEM, "reallocarray(p, 3, SIZE_MAX/2+1) = %p, errno %d", q, errno);
    p = HIDE(reallocarray(HIDE(p), 1000, 30));
    check_block(p, 30000, "reallocarray(HIDE(p), 1000, 30)");
    CHECK(pattern_check(p, 200, 77) < 0, "reallocarray lost the contents");
    free(p);
}

/* Requests no allocator can satisfy: NULL and ENOMEM from every function. */
static void test_impossible(void)
{
    size_t sizes[] = { SIZE_MAX, (size_t)PTRDIFF_MAX + 1, SIZE_MAX - 100, SIZE_MAX - 4096 * 2 };
    size_t pg = page_size();
    unsigned char *live = HIDE(malloc(100));
    CHECK(live, "malloc(100) failed");
    pattern_fill(live, 100, 5);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = HIDE(sizes[i]);
        void *q;
#define EXPECT_NOMEM(call, name)                                                           \
        do {                                                                              \
            errno = 0;                                                                    \
            q = HIDE(call);                                                               \
            CHECK(q == NULL, "%s with size %zu succeeded (%p)", name, n, q);              \
            CHECK(errno == ENOMEM, "%s with size %zu: errno %d (%s), expected ENOMEM",    \
                  name, n, errno, strerror(errno));                                       \
        } while (0)
        EXPECT_NOMEM(malloc(n), "malloc");
        EXPECT_NOMEM(calloc(1, n), "calloc(1, n)");
        EXPECT_NOMEM(calloc(n, 1), "calloc(n, 1)");
        EXPECT_NOMEM(realloc(NULL, n), "realloc(NULL, n)");
        EXPECT_NOMEM(realloc(HIDE(live), n), "realloc(p, n)");
        CHECK(pattern_check(live, 100, 5) < 0, "failed realloc(p, %zu) damaged p", n);
        EXPECT_NOMEM(memalign(16, n), "memalign(16, n)");
        EXPECT_NOMEM(memalign(HIDE(pg), n), "memalign(page, n)");
        EXPECT_NOMEM(memalign(HIDE(MiB), n), "memalign(1 MiB, n)");
        EXPECT_NOMEM(aligned_alloc(16, n), "aligned_alloc(16, n)");
        EXPECT_NOMEM(aligned_alloc(HIDE(64 * KiB), n), "aligned_alloc(64 KiB, n)");
        EXPECT_NOMEM(valloc(n), "valloc");
        EXPECT_NOMEM(pvalloc(n), "pvalloc");
        EXPECT_NOMEM(reallocarray(NULL, n, 1), "reallocarray(NULL, n, 1)");
#undef EXPECT_NOMEM
        void *o = NULL;
        int rc = posix_memalign(&o, 64, n);
        CHECK(rc == ENOMEM, "posix_memalign(64, %zu) returned %d, expected ENOMEM", n, rc);
        rc = posix_memalign(&o, HIDE(pg), n);
        CHECK(rc == ENOMEM, "posix_memalign(page, %zu) returned %d, expected ENOMEM", n, rc);
    }
    free(live);
}

/* Alignments no allocator can honour, or that are no alignment at all. */
static void test_absurd_alignment(void)
{
    const size_t top = (size_t)1 << (sizeof(size_t) * 8 - 1);   /* 2^63 or 2^31 */
    /* 64 bits: beyond the 47-bit user address space; 32 bits: half of it. */
    size_t impossible[] = { top, sizeof(size_t) == 8 ? top >> 1 : top, sizeof(size_t) == 8 ? top >> 15 : top };
    for (int i = 0; i < 3; i++) {
        size_t a = HIDE(impossible[i]);
        size_t sizes[] = { 0, 1, 4096, SIZE_MAX - a / 2 };
        for (int j = 0; j < 4; j++) {
            size_t n = HIDE(sizes[j]);
            errno = 0;
            void *q = HIDE(aligned_alloc(a, n));
            CHECK(q == NULL && errno == ENOMEM, "aligned_alloc(%#zx, %zu) = %p, errno %d", a, n, q, errno);
            errno = 0;
            q = HIDE(memalign(a, n));
            CHECK(q == NULL && errno == ENOMEM, "memalign(%#zx, %zu) = %p, errno %d", a, n, q, errno);
            void *o = (void *)0x1;
            int rc = posix_memalign(&o, a, n);
            CHECK(rc == ENOMEM && o == (void *)0x1, "posix_memalign(%#zx, %zu) returned %d", a, n, rc);
        }
    }
    /* No power of two: aligned_alloc and posix_memalign refuse (EINVAL);
     * memalign rounds up to the next power of two, as glibc does, and fails
     * with EINVAL when there is none. */
    size_t odd[] = { 0, 3, 24, 4097, 3 * MiB, top + 1, SIZE_MAX };
    const char *expect = getenv("CAIRN_TEST_EXPECT");
    bool cairn = expect && atoi(expect) > 0;
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        size_t a = HIDE(odd[i]);
        errno = 0;
        void *q = HIDE(aligned_alloc(a, 100));
        if (!cairn) free(q);        /* glibc before 2.38 treats it as memalign */
        else CHECK(q == NULL && errno == EINVAL, "aligned_alloc(%zu, 100) = %p, errno %d (expected EINVAL)", a, q, errno);
        void *o = (void *)0x1;
        int rc = posix_memalign(&o, a, 100);
        CHECK(rc == EINVAL && o == (void *)0x1, "posix_memalign(%zu, 100) returned %d (expected EINVAL)", a, rc);
        errno = 0;
        q = HIDE(memalign(a, 100));
        if (a > top) {                /* no power of two is as large: as glibc */
            CHECK(q == NULL && errno == EINVAL, "memalign(%#zx, 100) = %p, errno %d", a, q, errno);
            continue;
        }
        size_t want = 1;
        while (want < a) want <<= 1;
        check_block(q, 100, "memalign(odd alignment)");
        CHECK(aligned_to(q, want), "memalign(%zu, 100) = %p is not aligned to %zu", a, q, want);
        touch(q, 100, "memalign(odd alignment)");
        free(q);
    }
    /* Large but possible (1 GiB on 32 bits, 2^40 on 64): aligned, or a clean ENOMEM. */
    size_t big = sizeof(size_t) == 8 ? (size_t)1 << 40 : (size_t)1 << 30;
    errno = 0;
    void *q = HIDE(aligned_alloc(HIDE(big), 64));
    CHECK(q ? aligned_to(q, big) : errno == ENOMEM, "aligned_alloc(%#zx, 64) = %p, errno %d", big, q, errno);
    if (q) touch(q, 64, "aligned_alloc(huge alignment)");
    free(q);
}

static void test_realloc_null(void)
{
    size_t sizes[] = { 0, 1, 15, 16, 100, 1000, 100000, 300 * KiB, 10 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *q = HIDE(realloc(NULL, HIDE(sizes[i])));
        check_block(q, sizes[i], "realloc(NULL, n)");
        touch(q, sizes[i], "realloc(NULL, n)");
        free(q);
    }
}

/* realloc(p, 0) frees p and returns NULL.  That it frees is seen in the
 * RSS: if it did not, the loop would leak hundreds of MiB. */
static void test_realloc_zero(void)
{
    size_t sizes[] = { 1, 64, 1000, 40 * KiB, 300 * KiB, 8 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = HIDE(malloc(sizes[i]));
        check_block(p, sizes[i], "malloc");
        void *q = HIDE(realloc(HIDE(p), HIDE((size_t)0)));
        CHECK(q == NULL, "realloc(p of %zu, 0) returned %p, expected NULL", sizes[i], q);
    }
    const size_t bs = 32 * KiB;
    size_t iters = scaled(50000);
    for (size_t i = 0; i < 100; i++) {
        void *p = HIDE(malloc(bs));
        memset(p, 1, bs);
        p = HIDE(realloc(HIDE(p), HIDE((size_t)0)));
    }
    size_t before = rss_bytes();
    for (size_t i = 0; i < iters; i++) {
        unsigned char *p = HIDE(malloc(bs));
        CHECK(p, "malloc(%zu) failed at iteration %zu", bs, i);
        memset(p, (int)i, bs);
        void *q = HIDE(realloc(HIDE(p), HIDE((size_t)0)));
        CHECK(q == NULL, "realloc(p, 0) returned %p", q);
    }
    size_t after = rss_bytes();
    size_t leak = iters * bs, limit = leak / 2 < 128 * MiB ? leak / 2 : 128 * MiB;
    CHECK(after < before + limit,
          "RSS grew by %zu KiB over %zu x (malloc(%zu), realloc(p, 0)): blocks are not freed",
          (after - before) / KiB, iters, bs);
}

static void test_free_null(void)
{
    for (int i = 0; i < 1000; i++) free(HIDE((void *)NULL));
    void *p = HIDE(malloc(10));
    check_block(p, 10, "malloc after free(NULL)");
    free(p);
    CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) = %zu", malloc_usable_size(NULL));
}

/* realloc to any size from the request up to the usable size keeps the
 * block where it is. */
static void test_realloc_in_place(void)
{
    size_t sizes[] = { 1,     8,      16,     17,        100,       1000,      5000,
                       20000, 100000, 200000, 1 * MiB, 3 * MiB, 10 * MiB, 64 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *p = HIDE(malloc(n));
        check_block(p, n, "malloc");
        size_t u = malloc_usable_size(p);
        size_t targets[] = { u, (n + u) / 2, n, n > 1 ? n - 1 : 1, u };
        pattern_fill(p, n > 1 ? n - 1 : 1, 9);
        for (size_t j = 0; j < sizeof targets / sizeof targets[0]; j++) {
            size_t m = targets[j];
            unsigned char *q = HIDE(realloc(HIDE(p), HIDE(m)));
            CHECK(q == p, "malloc(%zu) = %p (usable %zu); realloc to %zu moved it to %p", n, p, u,
                  m, q);
            CHECK(malloc_usable_size(q) >= m, "after realloc to %zu usable size is %zu", m,
                  malloc_usable_size(q));
            CHECK(pattern_check(q, n > 1 ? n - 1 : 1, 9) < 0, "realloc in place lost contents");
        }
        free(p);
    }
}

/* Contents survive growing and shrinking across every kind of block. */
static void test_realloc_contents(void)
{
    size_t steps[] = { 10,      100,  1000, 20000, 300000, 4 * MiB, 64 * MiB, 1 * MiB, 100,
                       5,       70000, 64 * MiB, 3,   130000, 2 * MiB,  17,       40 * MiB, 1 };
    const uint64_t seed = 0xC0FFEE;
    unsigned char *p = NULL;
    size_t n = 0;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        size_t m = steps[i];
        unsigned char *q = HIDE(realloc(HIDE(p), HIDE(m)));
        check_block(q, m, "realloc");
        size_t keep = n < m ? n : m;
        long bad = pattern_check(q, keep, seed);
        CHECK(bad < 0, "realloc %zu -> %zu: byte %ld of the kept %zu changed", n, m, bad, keep);
        pattern_fill(q, m, seed);
        p = q;
        n = m;
    }
    /* A random walk. */
    rng r = rng_make(3);
    size_t walk = scaled(400);
    for (size_t i = 0; i < walk; i++) {
        size_t m = rng_size(&r, 4 * MiB);
        unsigned char *q = HIDE(realloc(HIDE(p), HIDE(m)));
        check_block(q, m, "realloc");
        size_t keep = n < m ? n : m;
        long bad = pattern_check(q, keep, seed);
        CHECK(bad < 0, "realloc %zu -> %zu: byte %ld of the kept %zu changed", n, m, bad, keep);
        if (m > n) pattern_fill(q, m, seed);
        p = q;
        n = m;
    }
    free(p);
}

/* calloc memory reads as zero, also when it reuses dirty blocks. */
static void test_calloc_zero(void)
{
    size_t sizes[] = { 1, 16, 64, 100, 1000, 4096, 5000, 70000, 300000, 3 * MiB, 20 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        size_t reps = n >= MiB ? 10 : scaled(200);
        for (size_t k = 0; k < reps; k++) {
            unsigned char *d = HIDE(malloc(n));
            check_block(d, n, "malloc");
            memset(d, 0xA5, malloc_usable_size(d));
            free(d);
            unsigned char *z = (k & 1) ? HIDE(calloc(1, HIDE(n))) : HIDE(calloc(HIDE(n), 1));
            check_block(z, n, "calloc");
            long bad = first_not(z, n, 0);
            CHECK(bad < 0, "calloc(%zu) after free of a dirty block: byte %ld is not zero", n, bad);
            free(z);
        }
    }
    /* Many dirty blocks freed at once, then as many callocs. */
    enum { N = 300 };
    unsigned char *b[N];
    rng r = rng_make(11);
    size_t rounds = scaled(20);
    for (size_t round = 0; round < rounds; round++) {
        size_t ns[N];
        for (int i = 0; i < N; i++) {
            ns[i] = rng_size(&r, 512 * KiB);
            b[i] = HIDE(malloc(ns[i]));
            check_block(b[i], ns[i], "malloc");
            memset(b[i], 0xFF, malloc_usable_size(b[i]));
        }
        for (int i = 0; i < N; i++) free(b[i]);
        for (int i = 0; i < N; i++) {
            size_t n = ns[(i * 7) % N];
            b[i] = HIDE(calloc(HIDE(n), 1));
            check_block(b[i], n, "calloc");
            long bad = first_not(b[i], n, 0);
            CHECK(bad < 0, "calloc(%zu) of reused memory: byte %ld is not zero", n, bad);
        }
        for (int i = 0; i < N; i++) free(b[i]);
    }
}

static void test_allocate(void)
{
    CHECK(FN_PRESENT(allocate) && FN_PRESENT(deallocate), "allocate/deallocate are not exported by the library");
    unsigned sizes[] = { 0, 1, 24, 100, 4096, 70000, 300000, 5u << 20 };
    void *p[8];
    for (int i = 0; i < 8; i++) {
        p[i] = HIDE(allocate(HIDE(sizes[i])));
        check_block(p[i], sizes[i], "allocate");
        pattern_fill(p[i], sizes[i], (uint64_t)i + 1);
    }
    for (int i = 0; i < 8; i++)
        CHECK(pattern_check(p[i], sizes[i], (uint64_t)i + 1) < 0, "allocate(%u) block damaged",
              sizes[i]);
    for (int i = 0; i < 8; i++) deallocate(p[i]);
    deallocate(NULL);
    /* Same heap as malloc/free. */
    void *a = HIDE(allocate(50));
    free(a);
    void *m = HIDE(malloc(50));
    deallocate(m);
}

static void test_free_sized(void)
{
    CHECK(FN_PRESENT(free_sized) && FN_PRESENT(free_aligned_sized), "free_sized/free_aligned_sized are not exported");
    size_t sizes[] = { 1, 100, 5000, 300000, 9 * MiB };
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            void *p = HIDE(malloc(sizes[i]));
            check_block(p, sizes[i], "malloc");
            free_sized(p, sizes[i]);
            p = HIDE(aligned_alloc(256, sizes[i]));
            check_block(p, sizes[i], "aligned_alloc");
            free_aligned_sized(p, 256, sizes[i]);
        }
    }
    free_sized(NULL, 0);
    free_aligned_sized(NULL, 64, 0);
    /* The sizes the standard allows, which Cairn's check must accept: calloc's
     * product, malloc(0)'s 0, and the new size of a block realloc shrank in
     * place (small, large and huge). */
    void *c = HIDE(calloc(3, 100));
    check_block(c, 300, "calloc");
    free_sized(c, 300);
    void *z = HIDE(malloc(0));
    CHECK(z, "malloc(0) returned NULL");
    free_sized(z, 0);
    size_t from[] = { 5000, 200000, 9 * MiB }, to[] = { 4000, 150000, 8 * MiB };
    for (int i = 0; i < 3; i++) {
        void *p = HIDE(malloc(from[i]));
        void *q = HIDE(realloc(p, to[i]));
        check_block(q, to[i], "realloc (shrink)");
        free_sized(q, to[i]);
    }
}

static void test_malloc_trim(void)
{
    void *p[100];
    for (int i = 0; i < 100; i++) p[i] = HIDE(malloc(HIDE((size_t)i * 1000 + 1)));
    for (int i = 0; i < 100; i++) free(p[i]);
    int rc = malloc_trim(0);
    CHECK(rc == 0 || rc == 1, "malloc_trim(0) returned %d", rc);
    void *q = HIDE(malloc(12345));
    check_block(q, 12345, "malloc after malloc_trim");
    touch(q, 12345, "malloc after malloc_trim");
    free(q);
}

int main(void)
{
    t_init("api");
    unsigned t = t_qemu ? 180 : 60;
    run_test("malloc_zero", test_malloc_zero, t);
    run_test("sizes", test_sizes, t);
    run_test("posix_memalign", test_posix_memalign, t);
    run_test("aligned_alloc", test_aligned_alloc, t);
    run_test("memalign", test_memalign, t);
    run_test("valloc", test_valloc, t);
    run_test("pvalloc", test_pvalloc, t);
    run_test("calloc_overflow", test_calloc_overflow, t);
    run_test("reallocarray", test_reallocarray, t);
    run_test("impossible_sizes", test_impossible, t);
    run_test("absurd_alignment", test_absurd_alignment, t);
    run_test("realloc_null", test_realloc_null, t);
    run_test("realloc_zero", test_realloc_zero, t);
    run_test("free_null", test_free_null, t);
    run_test("realloc_in_place", test_realloc_in_place, t);
    run_test("realloc_contents", test_realloc_contents, t);
    run_test("calloc_zero", test_calloc_zero, t);
    run_test("allocate", test_allocate, t);
    run_test("free_sized", test_free_sized, t);
    run_test("malloc_trim", test_malloc_trim, t);
    return t_finish();
}
