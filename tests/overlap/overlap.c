/* overlap.c -- live blocks never overlap.
 *
 * Thousands of blocks of random sizes (1 B .. 2 MiB), each filled with a
 * pattern derived from its address and slot index, are freed, reallocated
 * and replaced at random; every block is verified before it is freed or
 * moved, and all of them at regular intervals.  A block that shares memory
 * with another (or with the allocator's own data) shows up as a changed
 * pattern.
 */
#include "../common.h"

typedef struct slot {
    unsigned char *p;
    size_t n;
    uint64_t seed;
} slot;

static slot *slots;
static size_t nslots;

static void verify(size_t i, const char *when)
{
    slot *s = &slots[i];
    long bad = pattern_check(s->p, s->n, s->seed);
    CHECK(bad < 0, "%s: block %zu at %p (%zu bytes) changed at byte %ld (address %p)", when, i,
          (void *)s->p, s->n, bad, (void *)(s->p + (bad < 0 ? 0 : bad)));
}

static void verify_all(const char *when)
{
    for (size_t i = 0; i < nslots; i++)
        if (slots[i].p) verify(i, when);
}

static void put(size_t i, unsigned char *p, size_t n, const char *how)
{
    CHECK(p != NULL, "%s(%zu) returned NULL (errno %d)", how, n, errno);
    CHECK(((uintptr_t)p & 15) == 0, "%s(%zu) = %p is not 16-byte aligned", how, n, (void *)p);
    CHECK(malloc_usable_size(p) >= n, "%s(%zu): usable size %zu", how, n, malloc_usable_size(p));
    slots[i].p = p;
    slots[i].n = n;
    slots[i].seed = pattern_seed(p, i);
    pattern_fill(p, n, slots[i].seed);
}

/* Sizes 1 B .. 2 MiB, most of them small. */
static void churn(uint64_t seed, size_t count, size_t ops)
{
    nslots = count;
    slots = os_alloc(count * sizeof *slots);
    rng r = rng_make(seed);
    for (size_t op = 0; op < ops; op++) {
        size_t i = (size_t)(rng_next(&r) % nslots);
        slot *s = &slots[i];
        unsigned k = (unsigned)(rng_next(&r) % 16);
        if (!s->p) {
            size_t n = rng_size(&r, 2 * MiB);
            if (k == 0) {
                unsigned char *p = HIDE(calloc(HIDE(n), 1));
                CHECK(p, "calloc(%zu, 1) returned NULL", n);
                long bad = first_not(p, n, 0);
                CHECK(bad < 0, "calloc(%zu) = %p: byte %ld is not zero", n, (void *)p, bad);
                put(i, p, n, "calloc");
            } else if (k == 1) {
                size_t a = (size_t)32 << (rng_next(&r) % 10);     /* 32 B .. 16 KiB */
                unsigned char *p = HIDE(memalign(HIDE(a), HIDE(n)));
                CHECK(((uintptr_t)p & (a - 1)) == 0, "memalign(%zu, %zu) = %p", a, n, (void *)p);
                put(i, p, n, "memalign");
            } else {
                put(i, HIDE(malloc(HIDE(n))), n, "malloc");
            }
        } else if (k < 4) {
            /* realloc: the kept prefix must still hold the old pattern. */
            verify(i, "before realloc");
            size_t n = k == 0 ? s->n + rng_range(&r, 1, 64) : rng_size(&r, 2 * MiB);
            unsigned char *q = HIDE(realloc(HIDE(s->p), HIDE(n)));
            CHECK(q, "realloc(%zu -> %zu) returned NULL", s->n, n);
            size_t keep = s->n < n ? s->n : n;
            long bad = pattern_check(q, keep, s->seed);
            CHECK(bad < 0, "realloc %p (%zu) -> %p (%zu): kept byte %ld changed", (void *)s->p, s->n,
                  (void *)q, n, bad);
            put(i, q, n, "realloc");
        } else {
            verify(i, "before free");
            free(s->p);
            s->p = NULL;
        }
        if (op % 20000 == 19999) verify_all("periodic check");
    }
    verify_all("final check");
    for (size_t i = 0; i < nslots; i++) {
        free(slots[i].p);
        slots[i].p = NULL;
    }
    os_free(slots, count * sizeof *slots);
}

static void test_mixed(void) { churn(1, 4000, scaled(300000)); }

/* Many small blocks only: dense slabs, neighbours everywhere. */
static void test_small(void)
{
    nslots = 20000;
    slots = os_alloc(nslots * sizeof *slots);
    rng r = rng_make(2);
    size_t ops = scaled(1000000);
    for (size_t op = 0; op < ops; op++) {
        size_t i = (size_t)(rng_next(&r) % nslots);
        if (slots[i].p) {
            verify(i, "before free");
            free(slots[i].p);
            slots[i].p = NULL;
        } else {
            size_t n = rng_range(&r, 1, 300);
            put(i, HIDE(malloc(HIDE(n))), n, "malloc");
        }
        if (op % 100000 == 99999) verify_all("periodic check");
    }
    verify_all("final check");
    for (size_t i = 0; i < nslots; i++) free(slots[i].p);
}

/* Big blocks only: large and huge paths, in-place growth and moves. */
static void test_large(void)
{
    nslots = 64;
    slots = os_alloc(nslots * sizeof *slots);
    rng r = rng_make(3);
    size_t ops = scaled(6000);
    for (size_t op = 0; op < ops; op++) {
        size_t i = (size_t)(rng_next(&r) % nslots);
        size_t n = rng_range(&r, 100 * KiB, 6 * MiB);
        if (!slots[i].p) {
            put(i, HIDE(malloc(HIDE(n))), n, "malloc");
        } else if (rng_next(&r) & 1) {
            verify(i, "before realloc");
            unsigned char *q = HIDE(realloc(HIDE(slots[i].p), HIDE(n)));
            CHECK(q, "realloc(%zu) returned NULL", n);
            size_t keep = slots[i].n < n ? slots[i].n : n;
            long bad = pattern_check(q, keep, slots[i].seed);
            CHECK(bad < 0, "realloc %zu -> %zu: kept byte %ld changed", slots[i].n, n, bad);
            put(i, q, n, "realloc");
        } else {
            verify(i, "before free");
            free(slots[i].p);
            slots[i].p = NULL;
        }
    }
    verify_all("final check");
    for (size_t i = 0; i < nslots; i++) free(slots[i].p);
}

int main(void)
{
    t_init("overlap");
    unsigned t = t_qemu ? 240 : 120;
    run_test("mixed", test_mixed, t);
    run_test("small", test_small, t);
    run_test("large", test_large, t);
    return t_finish();
}
