/* threads.c -- malloc and free from many threads.
 *
 *   churn        8 threads, each allocating and freeing random sizes
 *   cross_free   blocks allocated in one thread, freed in another (a ring)
 *   many_to_one  one thread allocates, four free what it made, concurrently
 *   exit_live    threads exit with live blocks; main checks and frees them,
 *                while new threads reuse the dead threads' memory
 *   many_threads thousands of short-lived threads; RSS stays bounded
 *   remote_exit  a thread that only frees (fewer blocks than a remote batch)
 *                and exits: the owner gets those blocks back
 *   remote_runs  blocks of five sizes (16 B - 3000 B), freed by another
 *                thread in the order they were made, all come back to
 *                their owner; and, freed while their owner lives and handed
 *                on after it exits, to the thread that freed them (every
 *                page keeps some blocks live, so it stays where it is)
 *   spares       a thread frees 4 MiB of 64-byte blocks and waits: most of
 *                another thread's next 4 MiB of them reuse those blocks
 *                (an idle thread keeps only a few empty pages for itself)
 *   lend         4 threads each free every other one of 8000 patterned
 *                96-byte blocks, then make 4000 of 48 bytes, which are lent
 *                those free blocks (most of them in all, while no freed
 *                page waits in the pool); half of the 48-byte ones are
 *                freed by the next thread (remote frees into lent pages)
 *                while their owner frees the rest and exits; every block
 *                keeps its pattern to the end
 *   huge         threads malloc, realloc (grow, shrink, move), memalign
 *                and free blocks of 128 KiB - 8 MiB side by side: every
 *                block is as big as asked (all of it writable) and keeps
 *                its contents, while the others' mappings come and go
 */
#include "../common.h"

static int nthreads(int n) { return t_qemu && n > 4 ? 4 : n; }

typedef struct block {
    unsigned char *p;
    size_t n;
    uint64_t seed;
} block;

static block sized_block(size_t n, uint64_t index)
{
    block b;
    b.n = n;
    b.p = HIDE(malloc(HIDE(b.n)));
    CHECK(b.p, "malloc(%zu) returned NULL in a thread", b.n);
    CHECK(((uintptr_t)b.p & 15) == 0, "malloc(%zu) = %p is not 16-byte aligned", b.n, (void *)b.p);
    b.seed = pattern_seed(b.p, index);
    pattern_fill(b.p, b.n, b.seed);
    return b;
}

static block make_block(rng *r, size_t max, uint64_t index) { return sized_block(rng_size(r, max), index); }

static void check_free(block b, const char *where)
{
    long bad = pattern_check(b.p, b.n, b.seed);
    CHECK(bad < 0, "%s: block %p (%zu bytes) changed at byte %ld", where, (void *)b.p, b.n, bad);
    free(b.p);
}

/* ------------------------------------------------------------------------
 * churn
 * ---------------------------------------------------------------------- */

static void *churn_thread(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    enum { SLOTS = 1000 };
    block *s = os_alloc(SLOTS * sizeof *s);
    rng r = rng_make(100 + id);
    size_t ops = scaled(200000);
    for (size_t op = 0; op < ops; op++) {
        size_t i = (size_t)(rng_next(&r) % SLOTS);
        if (s[i].p) {
            check_free(s[i], "churn");
            s[i].p = NULL;
        } else {
            s[i] = make_block(&r, 256 * KiB, i + id * SLOTS);
        }
    }
    for (size_t i = 0; i < SLOTS; i++)
        if (s[i].p) check_free(s[i], "churn (end)");
    os_free(s, SLOTS * sizeof *s);
    return NULL;
}

static void test_churn(void)
{
    int n = nthreads(8);
    pthread_t t[8];
    for (int i = 0; i < n; i++) t_start(&t[i], churn_thread, (void *)(uintptr_t)i);
    for (int i = 0; i < n; i++) t_join(t[i]);
}

/* ------------------------------------------------------------------------
 * Queues of blocks between threads
 * ---------------------------------------------------------------------- */

#define QCAP 512
typedef struct queue {
    pthread_mutex_t lock;
    block items[QCAP];
    size_t head, count;
} queue;

static bool q_push(queue *q, block b)
{
    pthread_mutex_lock(&q->lock);
    bool ok = q->count < QCAP;
    if (ok) {
        q->items[(q->head + q->count) % QCAP] = b;
        q->count++;
    }
    pthread_mutex_unlock(&q->lock);
    return ok;
}

static bool q_pop(queue *q, block *b)
{
    pthread_mutex_lock(&q->lock);
    bool ok = q->count > 0;
    if (ok) {
        *b = q->items[q->head];
        q->head = (q->head + 1) % QCAP;
        q->count--;
    }
    pthread_mutex_unlock(&q->lock);
    return ok;
}

/* cross_free: thread i sends to thread i+1 (mod n) and frees what it gets
 * from thread i-1. */
#define RING 6
static queue ring[RING];
static int ring_n;

static void *ring_thread(void *arg)
{
    int id = (int)(uintptr_t)arg;
    queue *in = &ring[id], *out = &ring[(id + 1) % ring_n];
    rng r = rng_make(200 + (uint64_t)id);
    size_t total = scaled(100000), sent = 0, got = 0;
    while (sent < total || got < total) {
        if (sent < total) {
            block b = make_block(&r, 64 * KiB, sent);
            while (!q_push(out, b)) {
                block c;
                if (q_pop(in, &c)) {
                    check_free(c, "cross_free");
                    got++;
                } else {
                    sched_yield();
                }
            }
            sent++;
        }
        block c;
        int k = 0;
        while (k < 2 && q_pop(in, &c)) {
            check_free(c, "cross_free");
            got++;
            k++;
        }
        if (sent == total && k == 0) sched_yield();
    }
    return NULL;
}

static void test_cross_free(void)
{
    ring_n = nthreads(RING);
    pthread_t t[RING];
    for (int i = 0; i < ring_n; i++) pthread_mutex_init(&ring[i].lock, NULL);
    for (int i = 0; i < ring_n; i++) t_start(&t[i], ring_thread, (void *)(uintptr_t)i);
    for (int i = 0; i < ring_n; i++) t_join(t[i]);
}

/* many_to_one: one producer, four consumers freeing its blocks at once. */
#define CONSUMERS 4
static queue mq[CONSUMERS];
static atomic_int producer_done;

static void *producer(void *arg)
{
    (void)arg;
    rng r = rng_make(300);
    size_t total = scaled(200000);
    for (size_t i = 0; i < total; i++) {
        block b = make_block(&r, 4 * KiB, i);
        while (!q_push(&mq[i % CONSUMERS], b)) sched_yield();
    }
    atomic_store(&producer_done, 1);
    return NULL;
}

static void *consumer(void *arg)
{
    queue *q = &mq[(uintptr_t)arg];
    for (;;) {
        block b;
        if (q_pop(q, &b)) {
            check_free(b, "many_to_one");
        } else if (atomic_load(&producer_done)) {
            if (!q_pop(q, &b)) break;
            check_free(b, "many_to_one");
        } else {
            sched_yield();
        }
    }
    return NULL;
}

static void test_many_to_one(void)
{
    pthread_t p, c[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) pthread_mutex_init(&mq[i].lock, NULL);
    for (int i = 0; i < CONSUMERS; i++) t_start(&c[i], consumer, (void *)(uintptr_t)i);
    t_start(&p, producer, NULL);
    t_join(p);
    for (int i = 0; i < CONSUMERS; i++) t_join(c[i]);
}

/* ------------------------------------------------------------------------
 * exit_live
 * ---------------------------------------------------------------------- */

#define EXIT_PER 2000
typedef struct exit_arg {
    uint64_t seed;
    block *out;                 /* EXIT_PER blocks */
} exit_arg;

static void *exit_thread(void *arg)
{
    exit_arg *a = arg;
    rng r = rng_make(a->seed);
    /* Allocate extra and free some, so pages are partly used at exit. */
    for (size_t i = 0; i < EXIT_PER; i++) {
        block extra = make_block(&r, 32 * KiB, 7);
        a->out[i] = make_block(&r, 128 * KiB, i);
        check_free(extra, "exit_live (own)");
    }
    return NULL;            /* exits with EXIT_PER live blocks */
}

static void test_exit_live(void)
{
    int n = nthreads(8);
    size_t rounds = t_qemu ? 3 : 6;
    block *live = os_alloc(rounds * 8 * EXIT_PER * sizeof *live);
    size_t nlive = 0;
    exit_arg args[8];
    for (size_t round = 0; round < rounds; round++) {
        pthread_t t[8];
        for (int i = 0; i < n; i++) {
            args[i].seed = 400 + round * 8 + (uint64_t)i;
            args[i].out = live + nlive + (size_t)i * EXIT_PER;
            t_start(&t[i], exit_thread, &args[i]);
        }
        for (int i = 0; i < n; i++) t_join(t[i]);
        nlive += (size_t)n * EXIT_PER;
        /* Verify everything still live (older rounds' blocks included: new
         * threads may have adopted the pages they sit in), free half. */
        size_t kept = 0;
        for (size_t i = 0; i < nlive; i++) {
            long bad = pattern_check(live[i].p, live[i].n, live[i].seed);
            CHECK(bad < 0, "round %zu: block %p (%zu bytes) left by an exited thread changed at byte %ld",
                  round, (void *)live[i].p, live[i].n, bad);
            if (i % 2) free(live[i].p);
            else live[kept++] = live[i];
        }
        nlive = kept;
    }
    for (size_t i = 0; i < nlive; i++) check_free(live[i], "exit_live (end)");
}

/* ------------------------------------------------------------------------
 * many_threads
 * ---------------------------------------------------------------------- */

#define LEFT 5
typedef struct short_arg {
    uint64_t seed;
    block left[LEFT];
} short_arg;

static void *short_thread(void *arg)
{
    short_arg *a = arg;
    rng r = rng_make(a->seed);
    block b[50];
    for (int i = 0; i < 50; i++) b[i] = make_block(&r, i == 0 ? 300 * KiB : 64 * KiB, (uint64_t)i);
    for (int i = LEFT; i < 50; i++) check_free(b[i], "short-lived thread");
    for (int i = 0; i < LEFT; i++) a->left[i] = b[i];
    return NULL;
}

static void test_many_threads(void)
{
    enum { WAVE = 8 };
    size_t total = t_qemu ? 400 : 2000;
    size_t warm = total / 10, rss_warm = 0;
    short_arg args[WAVE];
    for (size_t done = 0; done < total; done += WAVE) {
        pthread_t t[WAVE];
        for (int i = 0; i < WAVE; i++) {
            args[i].seed = 1000 + done + (size_t)i;
            t_start(&t[i], short_thread, &args[i]);
        }
        for (int i = 0; i < WAVE; i++) t_join(t[i]);
        for (int i = 0; i < WAVE; i++)
            for (int j = 0; j < LEFT; j++) check_free(args[i].left[j], "left by a thread, freed by main");
        if (done < warm && done + WAVE >= warm) rss_warm = rss_bytes();
    }
    /* Give a delayed purge its chance, as a long-running program would. */
    usleep(200 * 1000);
    free(HIDE(malloc(HIDE((size_t)100))));
    size_t rss_end = rss_bytes();
    CHECK(rss_end < rss_warm + 64 * MiB,
          "RSS grew from %zu MiB (after %zu threads) to %zu MiB (after %zu threads)", rss_warm / MiB,
          warm, rss_end / MiB, total);
    if (!t_qemu)
        CHECK(rss_end < 256 * MiB, "RSS is %zu MiB after %zu short-lived threads", rss_end / MiB, total);
}

/* ------------------------------------------------------------------------
 * huge
 *
 * One word per 4 KiB of a block is written (its first and last words too),
 * so every page of every block is touched: a block shorter than asked, or
 * a mapping another block's realloc or free took away, faults or reads
 * back wrong.
 * ---------------------------------------------------------------------- */

typedef struct hblock {
    unsigned char *p;
    size_t n;
    uint64_t tag;
} hblock;

static uint64_t huge_word(uint64_t tag, size_t off) { return (tag ^ off) * 0x9e3779b97f4a7c15ull; }

/* Offsets of the words of an n-byte block: every 4 KiB and the last word. */
#define HUGE_STEP ((size_t)4096)
static void huge_fill(hblock *b, size_t from)
{
    size_t last = b->n - sizeof(uint64_t);
    for (size_t off = from; off + 8 <= last; off += HUGE_STEP) memcpy(b->p + off, &(uint64_t){ huge_word(b->tag, off) }, 8);
    memcpy(b->p + last, &(uint64_t){ huge_word(b->tag, last) }, 8);
}

/* The words huge_fill wrote for b->n bytes, within the first `upto`, are
 * intact. */
static void huge_check(const hblock *b, size_t upto, const char *what)
{
    for (size_t off = 0; off + 8 <= upto && off + 16 <= b->n; off += HUGE_STEP) {
        uint64_t v;
        memcpy(&v, b->p + off, 8);
        CHECK(v == huge_word(b->tag, off), "%s: block %p (%zu bytes) lost its contents at byte %zu", what,
              (void *)b->p, b->n, off);
    }
}

static void huge_usable(const hblock *b, const char *what)
{
    size_t u = malloc_usable_size(b->p);
    CHECK(u >= b->n, "%s(%zu) returned %p whose usable size is only %zu", what, b->n, (void *)b->p, u);
}

static size_t huge_size(rng *r)
{
    /* Log-uniform over 128 KiB - 8 MiB: as many 4 MiB blocks as 256 KiB ones. */
    int shift = (int)rng_range(r, 17, 22);
    return rng_range(r, (size_t)1 << shift, (size_t)2 << shift);
}

static void *huge_thread(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    enum { SLOTS = 6 };
    hblock s[SLOTS] = { { 0 } };
    rng r = rng_make(7000 + id);
    size_t ops = scaled(t_qemu ? 1500 : 6000);
    uint64_t tags = (uint64_t)id << 32;
    for (size_t op = 0; op < ops; op++) {
        hblock *b = &s[rng_next(&r) % SLOTS];
        unsigned what = (unsigned)(rng_next(&r) % 8);
        if (!b->p) {
            b->n = huge_size(&r);
            b->tag = ++tags;
            if (what == 0) {
                size_t align = (size_t)64 * KiB << (rng_next(&r) % 6);    /* 64 KiB - 2 MiB */
                CHECK(posix_memalign((void **)&b->p, align, b->n) == 0, "posix_memalign(%zu, %zu) failed", align, b->n);
                CHECK(((uintptr_t)b->p & (align - 1)) == 0, "posix_memalign(%zu) = %p", align, (void *)b->p);
            } else if (what == 1) {
                b->p = HIDE(calloc(1, b->n));
                CHECK(b->p, "calloc(%zu) returned NULL", b->n);
                CHECK(first_not(b->p, b->n, 0) < 0, "calloc(%zu) = %p is not zeroed", b->n, (void *)b->p);
            } else {
                b->p = HIDE(malloc(b->n));
                CHECK(b->p, "malloc(%zu) returned NULL", b->n);
            }
            huge_usable(b, "malloc");
            huge_fill(b, 0);
            continue;
        }
        huge_check(b, b->n, "before realloc/free");
        if (what < 3) {                                   /* free */
            free(b->p);
            b->p = NULL;
            continue;
        }
        size_t n = what < 6 ? b->n + rng_range(&r, 1, what == 3 ? b->n * 2 : 64 * KiB)   /* grow */
                            : b->n / 4 + rng_range(&r, 0, b->n / 2);                   /* shrink */
        if (n > 16 * MiB) n = 16 * MiB;
        unsigned char *q = HIDE(realloc(b->p, n));
        CHECK(q, "realloc(%zu) returned NULL", n);
        size_t old = b->n;
        b->p = q;
        huge_check(b, n, "realloc");
        b->n = n;
        huge_usable(b, "realloc");
        huge_fill(b, n > old ? old & ~(HUGE_STEP - 1) : 0);
    }
    for (int i = 0; i < SLOTS; i++)
        if (s[i].p) {
            huge_check(&s[i], s[i].n, "at the end");
            free(s[i].p);
        }
    return NULL;
}

/* ------------------------------------------------------------------------
 * remote_exit
 * ---------------------------------------------------------------------- */

enum { REMOTE_N = 20 };
static void *remote_blocks[REMOTE_N];

static void *free_only_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < REMOTE_N; i++) free(remote_blocks[i]);
    return NULL;
}

static void test_remote_exit(void)
{
    for (int i = 0; i < REMOTE_N; i++) {
        remote_blocks[i] = HIDE(malloc(HIDE((size_t)200)));
        CHECK(remote_blocks[i], "malloc(200) returned NULL");
    }
    uintptr_t want[REMOTE_N];
    for (int i = 0; i < REMOTE_N; i++) want[i] = (uintptr_t)remote_blocks[i];
    pthread_t t;
    t_start(&t, free_only_thread, NULL);
    t_join(t);
    /* Enough mallocs of that size to use up the current page and come back
     * for the freed blocks. */
    enum { M = 3000 };
    void **got = os_alloc(M * sizeof *got);
    int found = 0;
    for (int i = 0; i < M && found < REMOTE_N; i++) {
        got[i] = HIDE(malloc(HIDE((size_t)200)));
        CHECK(got[i], "malloc(200) returned NULL");
        for (int j = 0; j < REMOTE_N; j++) found += (uintptr_t)got[i] == want[j];
    }
    for (int i = 0; i < M && got[i]; i++) free(got[i]);
    os_free(got, M * sizeof *got);
    CHECK(found == REMOTE_N, "%d of the %d blocks freed by an exited thread came back in %d mallocs", found,
          REMOTE_N, M);
}

/* ------------------------------------------------------------------------
 * remote_runs: a thread gathers the blocks it frees for another heap into
 * runs per page (heap.c); each must reach the owner's free lists, or, if the
 * owner exits meanwhile, whoever takes its pages.
 * ---------------------------------------------------------------------- */

enum { RUN_SIZES = 5 };
static size_t run_size[RUN_SIZES] = { 16, 48, 200, 1000, 3000 };
static void **run_blocks;               /* RUN_SIZES per round, interleaved */
static int run_n;                       /* blocks made */
static _Atomic int run_stage;

/* Every eighth round stays live, so that no page empties (an empty page
 * may go back to the pool, and its blocks to anyone). */
static bool run_kept(int i) { return (i / RUN_SIZES) % 8 == 0; }

static void run_free_all(bool kept)
{
    for (int i = 0; i < run_n; i++)
        if (run_kept(i) == kept) free(run_blocks[i]);
}

static void run_make(int rounds)
{
    run_n = 0;
    for (int i = 0; i < rounds; i++)
        for (int s = 0; s < RUN_SIZES; s++) {
            void *p = HIDE(malloc(HIDE(run_size[s])));
            CHECK(p, "malloc(%zu) returned NULL", run_size[s]);
            memset(p, 0x5a, run_size[s]);
            run_blocks[run_n++] = p;
        }
}

/* Malloc each size until every block of that size in run_blocks is handed
 * out again, at most `tries` mallocs a size. */
static void run_take_back(int tries, const char *how)
{
    void **got = os_alloc((size_t)tries * sizeof *got);
    for (int s = 0; s < RUN_SIZES; s++) {
        int want = 0, found = 0, n = 0;
        for (int i = s; i < run_n; i += RUN_SIZES) want += !run_kept(i);
        while (found < want && n < tries) {
            void *p = HIDE(malloc(HIDE(run_size[s])));
            CHECK(p, "malloc(%zu) returned NULL", run_size[s]);
            got[n++] = p;
            for (int i = s; i < run_n; i += RUN_SIZES) found += run_blocks[i] == p && !run_kept(i);
        }
        for (int i = 0; i < n; i++) free(got[i]);
        CHECK(found == want, "%s: %d of %d blocks of %zu B did not come back in %d mallocs", how, want - found,
              want, run_size[s], tries);
    }
    os_free(got, (size_t)tries * sizeof *got);
}

static void *run_freer(void *arg)
{
    (void)arg;
    run_free_all(false);
    malloc_trim(0);                      /* pushes what this thread holds */
    atomic_store(&run_stage, 1);
    while (atomic_load(&run_stage) != 2) usleep(1000);   /* idle, alive */
    return NULL;
}

/* The owner exits while the freer still holds its blocks. */
static void *run_owner(void *arg)
{
    (void)arg;
    run_make(20);
    atomic_store(&run_stage, 1);
    while (atomic_load(&run_stage) != 2) usleep(1000);
    return NULL;
}

static void test_remote_runs(void)
{
    enum { ROUNDS = 2000 };
    run_blocks = os_alloc(ROUNDS * RUN_SIZES * sizeof *run_blocks);
    /* Owner alive: main makes the blocks, a thread frees them. */
    run_make(ROUNDS);
    atomic_store(&run_stage, 0);
    pthread_t t;
    t_start(&t, run_freer, NULL);
    while (atomic_load(&run_stage) != 1) usleep(1000);
    run_take_back(20000, "freed by another thread");
    atomic_store(&run_stage, 2);
    t_join(t);
    run_free_all(true);
    /* Owner gone: a thread makes 100 blocks; main frees 85 of them (fewer
     * than the runs hold), the thread exits, then main pushes its runs. */
    atomic_store(&run_stage, 0);
    t_start(&t, run_owner, NULL);
    while (atomic_load(&run_stage) != 1) usleep(1000);
    run_free_all(false);
    atomic_store(&run_stage, 2);
    t_join(t);
    malloc_trim(0);
    run_take_back(20000, "freed here while their owner lived, which then exited");
    run_free_all(true);
    os_free(run_blocks, ROUNDS * RUN_SIZES * sizeof *run_blocks);
}

enum { SPARE_N = 65536 };
static uintptr_t *spare_addr;
static _Atomic int spare_stage;

static void *spare_owner(void *arg)
{
    (void)arg;
    void **p = os_alloc(SPARE_N * sizeof *p);
    for (int i = 0; i < SPARE_N; i++) {
        p[i] = HIDE(malloc(HIDE((size_t)64)));
        CHECK(p[i], "malloc(64) returned NULL in a thread");
        spare_addr[i] = (uintptr_t)p[i];
    }
    for (int i = 0; i < SPARE_N; i++) free(p[i]);
    os_free(p, SPARE_N * sizeof *p);
    atomic_store(&spare_stage, 1);
    while (atomic_load(&spare_stage) != 2) usleep(1000);     /* idle, alive */
    return NULL;
}

static int cmp_addr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

static void test_spares(void)
{
    spare_addr = os_alloc(SPARE_N * sizeof *spare_addr);
    pthread_t t;
    t_start(&t, spare_owner, NULL);
    while (atomic_load(&spare_stage) != 1) usleep(1000);
    qsort(spare_addr, SPARE_N, sizeof *spare_addr, cmp_addr);
    void **q = os_alloc(SPARE_N * sizeof *q);
    int hit = 0;
    for (int i = 0; i < SPARE_N; i++) {
        q[i] = HIDE(malloc(HIDE((size_t)64)));
        CHECK(q[i], "malloc(64) returned NULL");
        uintptr_t a = (uintptr_t)q[i];
        hit += bsearch(&a, spare_addr, SPARE_N, sizeof *spare_addr, cmp_addr) != NULL;
    }
    for (int i = 0; i < SPARE_N; i++) free(q[i]);
    os_free(q, SPARE_N * sizeof *q);
    atomic_store(&spare_stage, 2);
    t_join(t);
    CHECK(hit >= SPARE_N / 2, "a thread freed %d blocks of 64 B and idles: only %d of another thread's next %d "
          "came from them (the idle thread keeps the pages)", SPARE_N, hit, SPARE_N);
}

/* A thread allocates blocks, then idles (alive, no malloc) while another
 * frees them all: its full pages are given back to the pool anyway (by the
 * freeing thread, once the idle heap has left its remote frees undrained
 * for 10 ms), so the other thread's next blocks reuse them; the idle
 * thread's heap works on afterwards. */
enum { IDLE_N = 16384, IDLE_SIZE = 256 };
static uintptr_t *idle_addr;
static void **idle_blocks;
static _Atomic int idle_stage;

static void *idle_owner(void *arg)
{
    (void)arg;
    for (int i = 0; i < IDLE_N; i++) {
        idle_blocks[i] = HIDE(malloc(HIDE((size_t)IDLE_SIZE)));
        CHECK(idle_blocks[i], "malloc(%d) returned NULL in a thread", IDLE_SIZE);
        memset(idle_blocks[i], i & 0xff, IDLE_SIZE);
        idle_addr[i] = (uintptr_t)idle_blocks[i];
    }
    atomic_store(&idle_stage, 1);
    while (atomic_load(&idle_stage) != 2) usleep(1000);     /* idle, alive */
    /* Its heap still works: blocks of the same size, written and checked. */
    for (int i = 0; i < IDLE_N; i++) {
        idle_blocks[i] = HIDE(malloc(HIDE((size_t)IDLE_SIZE)));
        CHECK(idle_blocks[i], "malloc(%d) returned NULL in a thread", IDLE_SIZE);
        memset(idle_blocks[i], 0x5a, IDLE_SIZE);
    }
    for (int i = 0; i < IDLE_N; i++) {
        const unsigned char *b = idle_blocks[i];
        CHECK(b[0] == 0x5a && b[IDLE_SIZE - 1] == 0x5a, "block %d changed under its owner", i);
        free(idle_blocks[i]);
    }
    return NULL;
}

static _Atomic int idle_next;

static void *idle_freer(void *arg)
{
    for (int n = (int)(uintptr_t)arg; n-- > 0;) {
        int i = atomic_fetch_add(&idle_next, 1);
        const unsigned char *b = idle_blocks[i];
        CHECK(b[0] == (i & 0xff) && b[IDLE_SIZE - 1] == (i & 0xff), "block %d was overwritten", i);
        free(idle_blocks[i]);
    }
    return NULL;
}

static void test_idle_owner(void)
{
    idle_addr = os_alloc(IDLE_N * sizeof *idle_addr);
    idle_blocks = os_alloc(IDLE_N * sizeof *idle_blocks);
    pthread_t t, t2;
    t_start(&t, idle_owner, NULL);
    while (atomic_load(&idle_stage) != 1) usleep(1000);
    /* Threads that free and exit (which pushes what they hold): all the
     * blocks but one, then, after a wait, the last one. */
    t_start(&t2, idle_freer, (void *)(uintptr_t)(IDLE_N - 1));
    t_join(t2);
    usleep(30 * 1000);
    t_start(&t2, idle_freer, (void *)(uintptr_t)1);
    t_join(t2);
    qsort(idle_addr, IDLE_N, sizeof *idle_addr, cmp_addr);
    void **q = os_alloc(IDLE_N * sizeof *q);
    int hit = 0;
    for (int i = 0; i < IDLE_N; i++) {
        q[i] = HIDE(malloc(HIDE((size_t)IDLE_SIZE)));
        CHECK(q[i], "malloc(%d) returned NULL", IDLE_SIZE);
        memset(q[i], 0xa5, IDLE_SIZE);
        uintptr_t a = (uintptr_t)q[i];
        hit += bsearch(&a, idle_addr, IDLE_N, sizeof *idle_addr, cmp_addr) != NULL;
    }
    atomic_store(&idle_stage, 2);
    t_join(t);
    for (int i = 0; i < IDLE_N; i++) {
        const unsigned char *b = q[i];
        CHECK(b[0] == 0xa5 && b[IDLE_SIZE - 1] == 0xa5, "block %d changed while the other thread worked", i);
        free(q[i]);
    }
    os_free(q, IDLE_N * sizeof *q);
    CHECK(hit >= IDLE_N / 2, "a thread allocated %d blocks of %d B and idles while this one freed them all: only "
          "%d of this thread's next %d came from their pages (the idle heap keeps them)", IDLE_N, IDLE_SIZE, hit,
          IDLE_N);
}

enum { LEND_THREADS = 4, LEND_BIG = 8000, LEND_SMALL = 4000 };
static block lend_small[LEND_THREADS][LEND_SMALL];
static _Atomic int lend_count, lend_stage;

static void lend_wait(int stage)
{
    atomic_fetch_add(&lend_stage, 1);
    while (atomic_load(&lend_stage) < stage * LEND_THREADS) usleep(100);
}

static void *lend_thread(void *arg)
{
    int id = (int)(uintptr_t)arg, lent = 0;
    block *big = os_alloc(LEND_BIG * sizeof *big), *small = lend_small[id];
    for (int i = 0; i < LEND_BIG; i++) big[i] = sized_block(96, (uint64_t)i);
    for (int i = 0; i < LEND_BIG; i += 2) check_free(big[i], "96-byte block");
    for (int i = 0; i < LEND_SMALL; i++) {
        small[i] = sized_block(48, (uint64_t)i);
        lent += malloc_usable_size(small[i].p) == 96;
    }
    atomic_fetch_add(&lend_count, lent);
    lend_wait(1);
    /* The next thread's odd blocks are this one's to free; its own even ones. */
    block *next = lend_small[(id + 1) % LEND_THREADS];
    for (int i = 0; i < LEND_SMALL; i += 2) check_free(small[i], "48-byte block, freed by its owner");
    for (int i = 1; i < LEND_SMALL; i += 2) check_free(next[i], "48-byte block, freed by another thread");
    for (int i = 1; i < LEND_BIG; i += 2) check_free(big[i], "96-byte block");
    os_free(big, LEND_BIG * sizeof *big);
    return NULL;
}

static void test_lend(void)
{
    malloc_trim(0);                         /* no freed page waits in the pool */
    pthread_t t[LEND_THREADS];
    for (int i = 0; i < LEND_THREADS; i++) t_start(&t[i], lend_thread, (void *)(uintptr_t)i);
    for (int i = 0; i < LEND_THREADS; i++) t_join(t[i]);
    int lent = atomic_load(&lend_count);
    CHECK(lent >= LEND_THREADS * LEND_SMALL / 2, "only %d of %d blocks of 48 bytes, made while each thread's pages "
          "of 96-byte blocks were half free, were lent 96-byte blocks", lent, LEND_THREADS * LEND_SMALL);
}

static void test_huge(void)
{
    int n = nthreads(6);
    pthread_t t[8];
    for (int i = 0; i < n; i++) t_start(&t[i], huge_thread, (void *)(uintptr_t)i);
    for (int i = 0; i < n; i++) t_join(t[i]);
}

int main(void)
{
    t_init("threads");
    unsigned t = t_qemu ? 240 : 120;
    run_test("churn", test_churn, t);
    run_test("cross_free", test_cross_free, t);
    run_test("many_to_one", test_many_to_one, t);
    run_test("exit_live", test_exit_live, t);
    run_test("many_threads", test_many_threads, t);
    run_test("remote_exit", test_remote_exit, t);
    run_test("remote_runs", test_remote_runs, t);
    run_test("spares", test_spares, t);
    run_test("idle_owner", test_idle_owner, t);
    run_test("lend", test_lend, t);
    run_test("huge", test_huge, t);
    return t_finish();
}
