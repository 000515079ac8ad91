/* fork.c -- fork while other threads are inside malloc/free.
 *
 *   threaded_fork  busy threads in the parent; the child checks and frees
 *                  blocks it inherited, churns, runs threads of its own,
 *                  forks once more, and exits 0
 *   fflush_fork    one thread loops on fflush(NULL) with buffered streams,
 *                  another on malloc/free; main forks many times
 *   fork_exec      fork + exec of /bin/true (under the same LD_PRELOAD)
 *   fork_births    fork while other threads are being born (each makes its
 *                  heap with its first malloc and exits); every child
 *                  mallocs, frees and exits cleanly
 * Every child arms alarm(): a deadlock shows up as SIGALRM, not a hang.
 */
#include "../common.h"

static atomic_int stop;

/* Random malloc/free with pattern checks; returns after `ops` operations or,
 * when ops == 0, when `stop` is set. */
static void churn(uint64_t seed, size_t ops, size_t max)
{
    enum { SLOTS = 256 };
    unsigned char *p[SLOTS] = { 0 };
    size_t n[SLOTS];
    uint64_t s[SLOTS];
    rng r = rng_make(seed);
    for (size_t op = 0; ops ? op < ops : !atomic_load_explicit(&stop, memory_order_relaxed); op++) {
        size_t i = (size_t)(rng_next(&r) % SLOTS);
        if (p[i]) {
            long bad = pattern_check(p[i], n[i], s[i]);
            CHECK(bad < 0, "block %p (%zu bytes) changed at byte %ld", (void *)p[i], n[i], bad);
            free(p[i]);
            p[i] = NULL;
        } else {
            n[i] = rng_size(&r, max);
            p[i] = HIDE(malloc(HIDE(n[i])));
            CHECK(p[i], "malloc(%zu) returned NULL", n[i]);
            s[i] = pattern_seed(p[i], i);
            pattern_fill(p[i], n[i], s[i]);
        }
    }
    for (size_t i = 0; i < SLOTS; i++) free(p[i]);
}

static void *busy(void *arg)
{
    churn((uintptr_t)arg, 0, 256 * KiB);
    return NULL;
}

static void *child_worker(void *arg)
{
    churn((uintptr_t)arg, 1000, 64 * KiB);
    return NULL;
}

/* ------------------------------------------------------------------------ */

typedef struct held {
    unsigned char *p;
    size_t n;
    uint64_t seed;
} held;

#define HELD 300

static void child_of_threaded(held *h, size_t nh, uint64_t seed)
{
    t_enter_child();
    alarm(t_qemu ? 120 : 20);
    /* Blocks inherited from the parent, some made by its other threads. */
    for (size_t i = 0; i < nh; i++) {
        long bad = pattern_check(h[i].p, h[i].n, h[i].seed);
        CHECK(bad < 0, "in the child, inherited block %p changed at byte %ld", (void *)h[i].p, bad);
        free(h[i].p);
    }
    churn(seed, 1000, 256 * KiB);
    /* qemu-user 7.2 itself crashes when a child of a multithreaded process
     * creates a thread (qemu_plugin_vcpu_init_hook assertion); there the
     * child_threads subtest starts threads in a child instead. */
    if (!t_qemu) {
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            t_start(&t[i], child_worker, (void *)(uintptr_t)(seed + 7 + (unsigned)i));
        for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    }
    /* And a grandchild, forked from a process that had threads too. */
    pid_t g = fork();
    CHECK(g >= 0, "fork in the child failed");
    if (g == 0) {
        t_enter_child();
        churn(seed + 99, 1000, 64 * KiB);
        exit(0);
    }
    const char *why = t_reap(g);
    CHECK(!why, "grandchild: %s", why);
    exit(0);
}

/* Blocks the busy threads hand to main, so children inherit them. */
static pthread_mutex_t hand_lock = PTHREAD_MUTEX_INITIALIZER;
static held handed[64];
static size_t nhanded;

static void *busy_handing(void *arg)
{
    rng r = rng_make((uintptr_t)arg);
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        held b;
        b.n = rng_size(&r, 512 * KiB);
        b.p = HIDE(malloc(HIDE(b.n)));
        CHECK(b.p, "malloc(%zu) returned NULL", b.n);
        b.seed = pattern_seed(b.p, 5);
        pattern_fill(b.p, b.n, b.seed);
        pthread_mutex_lock(&hand_lock);
        if (nhanded < 64) {
            handed[nhanded++] = b;
            b.p = NULL;
        }
        pthread_mutex_unlock(&hand_lock);
        free(b.p);
        churn(rng_next(&r), 200, 2 * MiB);
    }
    return NULL;
}

static void test_threaded_fork(void)
{
    int nbusy = t_qemu ? 1 : 2;
    pthread_t t[5];
    for (int i = 0; i < nbusy; i++) t_start(&t[i], busy, (void *)(uintptr_t)(10 + i));
    t_start(&t[nbusy], busy_handing, (void *)(uintptr_t)20);

    held h[HELD];
    size_t nh = 0;
    rng r = rng_make(30);
    size_t forks = t_qemu ? 15 : 40;
    for (size_t f = 0; f < forks; f++) {
        /* Refresh main's own blocks and collect some from the thread. */
        while (nh > HELD / 2) {
            nh--;
            long bad = pattern_check(h[nh].p, h[nh].n, h[nh].seed);
            CHECK(bad < 0, "parent block %p changed at byte %ld", (void *)h[nh].p, bad);
            free(h[nh].p);
        }
        while (nh < HELD - 64) {
            h[nh].n = rng_size(&r, 1 * MiB);
            h[nh].p = HIDE(malloc(HIDE(h[nh].n)));
            CHECK(h[nh].p, "malloc(%zu) returned NULL", h[nh].n);
            h[nh].seed = pattern_seed(h[nh].p, nh);
            pattern_fill(h[nh].p, h[nh].n, h[nh].seed);
            nh++;
        }
        pthread_mutex_lock(&hand_lock);
        while (nhanded > 0 && nh < HELD) h[nh++] = handed[--nhanded];
        pthread_mutex_unlock(&hand_lock);

        pid_t pid = fork();
        CHECK(pid >= 0, "fork failed: %s", strerror(errno));
        if (pid == 0) child_of_threaded(h, nh, 1000 + f);
        const char *why = t_reap(pid);
        CHECK(!why, "fork %zu of %zu: %s", f + 1, forks, why);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i <= nbusy; i++) pthread_join(t[i], NULL);
    for (size_t i = 0; i < nh; i++) free(h[i].p);
    for (size_t i = 0; i < nhanded; i++) free(handed[i].p);
}

/* A parent that never had threads forks; its children start threads that
 * allocate, and free what they inherited. */
static void test_child_threads(void)
{
    held h[HELD];
    rng r = rng_make(60);
    for (size_t i = 0; i < HELD; i++) {
        h[i].n = rng_size(&r, 1 * MiB);
        h[i].p = HIDE(malloc(HIDE(h[i].n)));
        CHECK(h[i].p, "malloc(%zu) returned NULL", h[i].n);
        h[i].seed = pattern_seed(h[i].p, i);
        pattern_fill(h[i].p, h[i].n, h[i].seed);
    }
    size_t forks = t_qemu ? 10 : 30;
    for (size_t f = 0; f < forks; f++) {
        pid_t pid = fork();
        CHECK(pid >= 0, "fork failed: %s", strerror(errno));
        if (pid == 0) {
            t_enter_child();
            alarm(t_qemu ? 120 : 20);
            pthread_t t[3];
            for (int i = 0; i < 3; i++)
                t_start(&t[i], child_worker, (void *)(uintptr_t)(f * 3 + (unsigned)i));
            for (size_t i = 0; i < HELD; i++) {
                long bad = pattern_check(h[i].p, h[i].n, h[i].seed);
                CHECK(bad < 0, "inherited block %p changed at byte %ld", (void *)h[i].p, bad);
                free(h[i].p);
            }
            for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
            churn(f + 77, 1000, 256 * KiB);
            exit(0);
        }
        const char *why = t_reap(pid);
        CHECK(!why, "fork %zu of %zu: %s", f + 1, forks, why);
        /* The parent's blocks are untouched by what the child did. */
        for (size_t i = 0; i < HELD; i++)
            CHECK(pattern_check(h[i].p, h[i].n, h[i].seed) < 0, "parent block %p changed", (void *)h[i].p);
    }
    for (size_t i = 0; i < HELD; i++) free(h[i].p);
}

/* ------------------------------------------------------------------------ */

static void *flusher(void *arg)
{
    (void)arg;
    FILE *null = fopen("/dev/null", "w");
    CHECK(null, "fopen(/dev/null) failed");
    CHECK(setvbuf(null, NULL, _IOFBF, 64 * 1024) == 0, "setvbuf failed");
    char *mem = NULL;
    size_t memlen = 0;
    FILE *ms = open_memstream(&mem, &memlen);
    CHECK(ms, "open_memstream failed");
    for (unsigned long i = 0; !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
        fprintf(null, "line %lu of buffered output that waits for a flush\n", i);
        fprintf(ms, "memstream %lu grows its buffer with realloc\n", i);
        fflush(NULL);
        if (i % 500 == 499) {
            /* Start the memstream over, so it keeps reallocating. */
            fclose(ms);
            free(mem);
            mem = NULL;
            ms = open_memstream(&mem, &memlen);
            CHECK(ms, "open_memstream failed");
        }
    }
    fclose(ms);
    free(mem);
    fclose(null);
    return NULL;
}

static void test_fflush_fork(void)
{
    pthread_t t[2];
    t_start(&t[0], flusher, NULL);
    t_start(&t[1], busy, (void *)(uintptr_t)40);
    size_t forks = t_qemu ? 40 : 200;
    for (size_t f = 0; f < forks; f++) {
        pid_t pid = fork();
        CHECK(pid >= 0, "fork failed: %s", strerror(errno));
        if (pid == 0) {
            t_enter_child();
            alarm(t_qemu ? 60 : 10);
            void *p = HIDE(malloc(HIDE((size_t)1000)));
            CHECK(p, "malloc in the child failed");
            free(p);
            FILE *f2 = fopen("/dev/null", "w");
            CHECK(f2, "fopen in the child failed");
            fprintf(f2, "child %zu\n", f);
            fclose(f2);
            churn(f, 300, 128 * KiB);
            exit(0);            /* flushes the inherited streams too */
        }
        const char *why = t_reap(pid);
        CHECK(!why, "fork %zu of %zu: %s", f + 1, forks, why);
    }
    atomic_store(&stop, 1);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
}

/* ------------------------------------------------------------------------ */

static void test_fork_exec(void)
{
    pthread_t t[2];
    t_start(&t[0], busy, (void *)(uintptr_t)50);
    t_start(&t[1], busy, (void *)(uintptr_t)51);
    for (int i = 0; i < 50; i++) {
        pid_t pid = fork();
        CHECK(pid >= 0, "fork failed: %s", strerror(errno));
        if (pid == 0) {
            alarm(10);
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        const char *why = t_reap(pid);
        CHECK(!why, "exec of /bin/true, round %d: %s", i + 1, why);
    }
    atomic_store(&stop, 1);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
}

static atomic_int births_stop;

static void *born(void *arg)
{
    free(HIDE(malloc(HIDE((size_t)(uintptr_t)arg))));
    return NULL;
}

/* Starts short-lived threads until told to stop (two at a time). */
static void *midwife(void *arg)
{
    (void)arg;
    for (uintptr_t i = 0; !atomic_load(&births_stop); i++) {
        pthread_t a, b;
        if (pthread_create(&a, NULL, born, (void *)(16 + i % 512)) != 0) continue;
        if (pthread_create(&b, NULL, born, (void *)(32 + i % 1024)) == 0) pthread_join(b, NULL);
        pthread_join(a, NULL);
    }
    return NULL;
}

static void test_fork_births(void)
{
    pthread_t m;
    atomic_store(&births_stop, 0);
    t_start(&m, midwife, NULL);
    int rounds = t_qemu ? 100 : 2000;
    for (int i = 0; i < rounds; i++) {
        pid_t pid = fork();
        CHECK(pid >= 0, "fork failed: %s", strerror(errno));
        if (pid == 0) {
            alarm(10);
            void *p = malloc(100);
            free(p);
            _exit(p ? 0 : 3);
        }
        const char *why = t_reap(pid);
        CHECK(!why, "child of round %d: %s", i + 1, why);
    }
    atomic_store(&births_stop, 1);
    pthread_join(m, NULL);
}

int main(void)
{
    t_init("fork");
    unsigned t = t_qemu ? 240 : 120;
    run_test("threaded_fork", test_threaded_fork, t);
    run_test("child_threads", test_child_threads, t);
    run_test("fflush_fork", test_fflush_fork, t);
    /* Under qemu-user an exec'd program runs natively: nothing to test. */
    if (!t_qemu) run_test("fork_exec", test_fork_exec, t);
    run_test("fork_births", test_fork_births, t);
    return t_finish();
}
