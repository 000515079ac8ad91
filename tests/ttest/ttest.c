/* ttest.c -- threads on random slots, in the manner of ptmalloc's t-test1.
 *
 * Every thread owns an array of slots ("bins").  A step picks a random
 * slot; a block there is checked against its pattern (derived from its
 * address and size) and then freed, or reallocated (the kept part checked
 * again); an empty slot, or one just freed, may get a new block: mostly
 * small, sometimes up to 64 KiB, rarely about 1 MiB, from malloc, calloc
 * (checked to be zero) or memalign / posix_memalign / aligned_alloc with a
 * random power-of-two alignment.  Every new block is filled with its
 * pattern.
 *
 *   one_process     N threads in this process
 *   two_processes   two children, each running N threads, at the same time
 *   fork_running    the main thread forks again and again while N threads
 *                   run; each child checks and frees the main thread's blocks,
 *                   works single-threaded, then starts threads of its own,
 *                   and exits 0; the parent's threads carry on and finish
 */
#include "../common.h"

static int nthreads(void) { return t_qemu ? 2 : 4; }

/* ------------------------------------------------------------------------
 * One set of slots and its random steps
 * ---------------------------------------------------------------------- */

typedef struct slot {
    unsigned char *p;
    size_t n;
    size_t align;           /* what the block was asked to be aligned to */
} slot;

typedef struct bins {
    slot *s;
    size_t count;
    rng r;
    const char *who;        /* for messages: "thread 2", "child 5", ... */
} bins;

static uint64_t seed_of(const slot *b) { return pattern_seed(b->p, b->n); }

static void verify(const bins *B, const slot *b, const char *before)
{
    long bad = pattern_check(b->p, b->n, seed_of(b));
    CHECK(bad < 0, "%s: before %s, block %p (%zu bytes, aligned to %zu) changed at byte %ld", B->who, before,
          (void *)b->p, b->n, b->align, bad);
}

/* Mostly small, sometimes up to 64 KiB, rarely about 1 MiB. */
static size_t random_size(rng *r)
{
    unsigned k = (unsigned)(rng_next(r) % 1000);
    if (k < 800) return rng_range(r, 1, 256);
    if (k < 950) return rng_range(r, 257, 4 * KiB);
    if (k < 995) return rng_range(r, 4 * KiB + 1, 64 * KiB);
    if (k < 999) return rng_range(r, 64 * KiB + 1, 256 * KiB);
    return rng_range(r, 768 * KiB, 1280 * KiB);
}

/* A power of two from 1 to 64 KiB, mostly small. */
static size_t random_align(rng *r)
{
    unsigned k = (unsigned)(rng_next(r) % 100);
    unsigned shift = k < 70 ? (unsigned)rng_range(r, 0, 6)        /* 1 - 64 */
                   : k < 97 ? (unsigned)rng_range(r, 7, 12)       /* 128 - 4096 */
                            : (unsigned)rng_range(r, 13, 16);     /* 8 KiB - 64 KiB */
    return (size_t)1 << shift;
}

static void fresh(bins *B, slot *b)
{
    rng *r = &B->r;
    size_t n = random_size(r);
    unsigned how = (unsigned)(rng_next(r) % 100);
    unsigned char *p;
    size_t align = 16;
    if (how < 75) {
        p = HIDE(malloc(HIDE(n)));
        CHECK(p, "%s: malloc(%zu) returned NULL", B->who, n);
    } else if (how < 85) {
        size_t each = rng_range(r, 1, 16), count = (n + each - 1) / each;
        n = count * each;
        p = HIDE(calloc(HIDE(count), each));
        CHECK(p, "%s: calloc(%zu, %zu) returned NULL", B->who, count, each);
        long nz = first_not(p, n, 0);
        CHECK(nz < 0, "%s: calloc(%zu, %zu) = %p is not zero at byte %ld", B->who, count, each, (void *)p, nz);
    } else {
        align = random_align(r);
        unsigned which = how % 3;
        if (which == 0) {
            p = HIDE(memalign(HIDE(align), n));
            CHECK(p, "%s: memalign(%zu, %zu) returned NULL", B->who, align, n);
        } else if (which == 1) {
            size_t a = align < sizeof(void *) ? sizeof(void *) : align;
            void *q = NULL;
            int rc = posix_memalign(&q, a, n);
            CHECK(rc == 0 && q, "%s: posix_memalign(%zu, %zu) failed: %s", B->who, a, n, strerror(rc));
            p = HIDE(q);
        } else {
            n = (n + align - 1) & ~(align - 1);     /* a multiple, as C11 wants */
            p = HIDE(aligned_alloc(HIDE(align), n));
            CHECK(p, "%s: aligned_alloc(%zu, %zu) returned NULL", B->who, align, n);
        }
        if (align < 16) align = 16;             /* no block is less aligned */
    }
    CHECK(((uintptr_t)p & (align - 1)) == 0, "%s: block %p of %zu bytes is not aligned to %zu", B->who,
          (void *)p, n, align);
    CHECK(malloc_usable_size(p) >= n, "%s: malloc_usable_size(%p) = %zu, below the %zu asked", B->who, (void *)p,
          malloc_usable_size(p), n);
    b->p = p;
    b->n = n;
    b->align = align;
    pattern_fill(p, n, seed_of(b));
}

static void resize(bins *B, slot *b)
{
    size_t n2 = random_size(&B->r);
    uint64_t old_seed = seed_of(b);
    size_t keep = n2 < b->n ? n2 : b->n;
    unsigned char *q = HIDE(realloc(b->p, HIDE(n2)));
    CHECK(q, "%s: realloc(%p, %zu) returned NULL", B->who, (void *)b->p, n2);
    CHECK(((uintptr_t)q & 15) == 0, "%s: realloc(..., %zu) = %p is not 16-byte aligned", B->who, n2, (void *)q);
    long bad = pattern_check(q, keep, old_seed);
    CHECK(bad < 0, "%s: realloc from %zu to %zu bytes (%p -> %p) lost the contents at byte %ld", B->who, b->n, n2,
          (void *)b->p, (void *)q, bad);
    b->p = q;
    b->n = n2;
    b->align = 16;
    pattern_fill(q, n2, seed_of(b));
}

static void bins_init(bins *B, size_t count, uint64_t seed, const char *who)
{
    B->s = os_alloc(count * sizeof *B->s);
    B->count = count;
    B->r = rng_make(seed);
    B->who = who;
}

static void step(bins *B)
{
    slot *b = &B->s[rng_next(&B->r) % B->count];
    if (!b->p) {
        fresh(B, b);
        return;
    }
    unsigned k = (unsigned)(rng_next(&B->r) % 100);
    if (k < 20) {
        verify(B, b, "realloc");
        resize(B, b);
    } else {
        verify(B, b, "free");
        free(b->p);
        b->p = NULL;
        if (k < 70) fresh(B, b);
    }
}

static void bins_finish(bins *B)
{
    for (size_t i = 0; i < B->count; i++) {
        if (!B->s[i].p) continue;
        verify(B, &B->s[i], "the final free");
        free(B->s[i].p);
        B->s[i].p = NULL;
    }
    os_free(B->s, B->count * sizeof *B->s);
}

/* ------------------------------------------------------------------------
 * Threads
 * ---------------------------------------------------------------------- */

#define SLOTS 1000

typedef struct worker {
    pthread_t t;
    uint64_t seed;
    size_t steps;               /* at least this many ... */
    atomic_int *until;          /* ... and on until *until is set (if given) */
    char who[32];
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    bins B;
    bins_init(&B, SLOTS, w->seed, w->who);
    for (size_t i = 0; i < w->steps || (w->until && !atomic_load(w->until)); i++) step(&B);
    bins_finish(&B);
    return NULL;
}

static void run_threads(int n, uint64_t seed, size_t steps, const char *prefix)
{
    worker w[8];
    for (int i = 0; i < n; i++) {
        w[i].seed = seed + (uint64_t)i;
        w[i].steps = steps;
        w[i].until = NULL;
        snprintf(w[i].who, sizeof w[i].who, "%sthread %d", prefix, i + 1);
        t_start(&w[i].t, worker_main, &w[i]);
    }
    for (int i = 0; i < n; i++) t_join(w[i].t);
}

static size_t thread_steps(void) { return scaled(300000); }

static void test_one_process(void) { run_threads(nthreads(), 1, thread_steps(), ""); }

static void test_two_processes(void)
{
    pid_t pid[2];
    for (int c = 0; c < 2; c++) {
        fflush(NULL);
        pid[c] = fork();
        CHECK(pid[c] >= 0, "fork failed: %s", strerror(errno));
        if (pid[c] == 0) {
            t_enter_child();
            alarm(t_qemu ? 200 : 50);
            run_threads(nthreads(), 100 + 10 * (uint64_t)c, thread_steps(), c ? "child 2, " : "child 1, ");
            exit(0);
        }
    }
    for (int c = 0; c < 2; c++) {
        const char *why = t_reap(pid[c]);
        CHECK(!why, "copy %d of the test: %s", c + 1, why);
    }
}

/* ------------------------------------------------------------------------
 * fork_running
 * ---------------------------------------------------------------------- */

static void child_after_fork(bins *mine, size_t f)
{
    t_enter_child();
    alarm(t_qemu ? 120 : 20);
    /* The main thread's blocks came along: check them, and free or grow
     * some of them before going on with the rest. */
    char who[32];
    snprintf(who, sizeof who, "child %zu", f + 1);
    mine->who = who;
    mine->r = rng_make(5000 + f);
    for (size_t i = 0; i < mine->count; i++) {
        slot *b = &mine->s[i];
        if (!b->p) continue;
        if (i % 3 == 0) {
            verify(mine, b, "free in the child");
            free(b->p);
            b->p = NULL;
        } else if (i % 3 == 1) {
            verify(mine, b, "realloc in the child");
            resize(mine, b);
        }
    }
    for (size_t i = 0; i < scaled(20000); i++) step(mine);
    /* qemu-user 7.2 itself crashes when a forked child of a multithreaded
     * process creates a thread (a qemu bug, not the allocator's): under
     * qemu the child stays single-threaded and does that work itself. */
    if (!t_qemu) {
        worker w[2];
        for (int i = 0; i < 2; i++) {
            w[i].seed = 7000 + 2 * f + (uint64_t)i;
            w[i].steps = 20000;
            w[i].until = NULL;
            snprintf(w[i].who, sizeof w[i].who, "child %zu thread %d", f + 1, i + 1);
            t_start(&w[i].t, worker_main, &w[i]);
        }
        for (size_t i = 0; i < 5000; i++) step(mine);
        for (int i = 0; i < 2; i++) t_join(w[i].t);
    } else {
        for (size_t i = 0; i < scaled(20000); i++) step(mine);
    }
    bins_finish(mine);
    exit(0);
}

static void test_fork_running(void)
{
    static atomic_int stop;
    int n = nthreads();
    worker w[8];
    for (int i = 0; i < n; i++) {
        w[i].seed = 300 + (uint64_t)i;
        w[i].steps = thread_steps() / 2;
        w[i].until = &stop;
        snprintf(w[i].who, sizeof w[i].who, "parent thread %d", i + 1);
        t_start(&w[i].t, worker_main, &w[i]);
    }
    bins mine;
    bins_init(&mine, SLOTS, 400, "the main thread");
    size_t forks = t_qemu ? 8 : 10;
    for (size_t f = 0; f < forks; f++) {
        for (size_t i = 0; i < scaled(5000); i++) step(&mine);
        fflush(NULL);
        pid_t pid = fork();
        CHECK(pid >= 0, "fork failed: %s", strerror(errno));
        if (pid == 0) child_after_fork(&mine, f);
        const char *why = t_reap(pid);
        CHECK(!why, "child %zu of %zu: %s", f + 1, forks, why);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < n; i++) t_join(w[i].t);
    /* The children's work left the parent's blocks alone. */
    bins_finish(&mine);
}

int main(void)
{
    t_init("ttest");
    unsigned t = t_qemu ? 240 : 60;
    run_test("one_process", test_one_process, t);
    run_test("two_processes", test_two_processes, t);
    run_test("fork_running", test_fork_running, t);
    return t_finish();
}
