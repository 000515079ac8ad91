/* tests/stress/stress.c -- a long randomised multi-threaded stress of the
 * allocator.
 *
 * usage: stress [SECONDS [THREADS]]
 *   (or CAIRN_STRESS_SECONDS, CAIRN_STRESS_THREADS; defaults 20 s, 8 threads)
 *
 * THREADS workers run random operations until the time is up:
 *   - malloc, calloc, realloc (also realloc(NULL, n)), posix_memalign,
 *     aligned_alloc and free of random sizes: mostly small (1 B - 1 KiB),
 *     some medium (up to 128 KiB), rarely large (up to 4 MiB, so large and
 *     huge blocks too);
 *   - every block is filled with a pattern derived from a stamp (the
 *     worker's unique id and a serial number) and verified before it is
 *     freed or reallocated; realloc must keep the prefix; calloc memory
 *     must read as zero; every block must have the alignment asked for (16
 *     for malloc, calloc and realloc) and a usable size at least its size;
 *   - cross-thread frees: a worker puts blocks in a shared array of atomic
 *     slots, and sends batches of blocks to other workers' mailboxes (atomic
 *     lists); whoever takes a block verifies it, then frees it or adopts it
 *     (later realloc'ing or freeing it as its own);
 *   - thread churn: a worker lives a random time (mostly well under a
 *     second), then hands its live blocks to the shared slots and mailboxes
 *     (or frees them) and exits; the main thread replaces it.  Blocks and
 *     tickets of exited threads' heaps are thus freed by others later.
 * The main thread meanwhile calls malloc_trim(0) every second and, where
 * the library has it, cairn_stats_json every two seconds (set
 * CAIRN_STRESS_STATS=0 to skip it).  At the end every block left in the
 * slots and mailboxes is verified and freed, the live byte count must come
 * back to zero, and the totals are printed.
 *
 * Output: "PASS <tag>/stress.<name>" (name: CAIRN_STRESS_NAME, default
 * "mixed") and exit 0, or "FAIL <tag>/stress.<name>: reason" and a non-zero
 * exit.  CAIRN_STRESS_SEED fixes the seed (the threads still interleave at
 * random).
 *
 * Built with -DSTRESS_PREFIXED, it calls Cairn's prefixed API (cairn_malloc,
 * cairn_free, ...) instead of the C library's names: the ThreadSanitizer
 * build (tests/tsan/run.sh) needs that, as TSan keeps malloc for itself.
 */
#include "../common.h"

#ifdef STRESS_PREFIXED
#include "cairn.h"
#define S_MALLOC(n)             cairn_malloc(n)
#define S_CALLOC(c, n)          cairn_calloc(c, n)
#define S_REALLOC(p, n)         cairn_realloc(p, n)
#define S_POSIX_MEMALIGN(o, a, n) cairn_posix_memalign(o, a, n)
#define S_ALIGNED_ALLOC(a, n)   cairn_aligned_alloc(a, n)
#define S_FREE(p)               cairn_free(p)
#define S_USABLE(p)             cairn_usable_size(p)
#define S_TRIM(pad)             cairn_trim(pad)
#define S_API                   "cairn_*"
#else
#define S_MALLOC(n)             malloc(n)
#define S_CALLOC(c, n)          calloc(c, n)
#define S_REALLOC(p, n)         realloc(p, n)
#define S_POSIX_MEMALIGN(o, a, n) posix_memalign(o, a, n)
#define S_ALIGNED_ALLOC(a, n)   aligned_alloc(a, n)
#define S_FREE(p)               free(p)
#define S_USABLE(p)             malloc_usable_size(p)
#define S_TRIM(pad)             malloc_trim(pad)
#define S_API                   "libc"
/* Cairn's statistics, when the library in use has them. */
MAYBE_WEAK size_t cairn_stats_json(char *buf, size_t len);
#endif

#define MAX_THREADS   64
#define LOCAL_SLOTS   1024      /* blocks a worker holds at most          */
#define SHARED_SLOTS  1024      /* the exchange array                     */
#define MAX_BATCH     8         /* blocks sent to a mailbox at once       */
#define MALLOC_ALIGN  16        /* what Cairn (and glibc) give malloc     */

/* A block as its holder knows it. */
typedef struct blk {
    unsigned char *p;           /* NULL: the slot is empty */
    size_t size;
    uint64_t stamp;             /* (worker id << 32) | serial */
    size_t align;
} blk;

/* A block in transit between threads: allocated by the sender with the
 * allocator under test, freed by whoever takes it (more remote frees). */
typedef struct ticket {
    struct ticket *next;        /* mailbox list */
    unsigned char *p;
    size_t size;
    uint64_t stamp;
    size_t align;
    uint64_t check;             /* a hash of the fields above */
} ticket;

typedef struct worker {
    pthread_t th;
    int index;                  /* 0..nthreads-1: its mailbox             */
    uint32_t id;                /* unique: the stamp's high half          */
    bool running;               /* a thread was started and not joined    */
    _Atomic int done;           /* set by the thread when it is about to end */
    uint64_t seed;
    unsigned lifetime_ms;
    /* Filled by the thread, read after pthread_join. */
    uint64_t ops, allocs, frees, reallocs, remote_frees, adopted;
    blk local[LOCAL_SLOTS];
} worker;

static _Atomic(ticket *) shared[SHARED_SLOTS];
static _Atomic(ticket *) mailbox[MAX_THREADS];
static _Atomic int stop;
static _Atomic uint64_t live_bytes, live_blocks, peak_bytes;
static int nthreads = 8;
static size_t thread_budget;    /* a worker's live bytes, at most (about) */
static size_t global_budget;    /* everyone's                             */
static uint64_t t_ops, t_allocs, t_frees, t_reallocs, t_remote, t_adopted, t_threads;

/* ------------------------------------------------------------------------
 * Patterns and checks
 * ---------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ull;
    x ^= x >> 33;
    return x;
}

/* The pattern depends on the stamp only, not on the address: realloc may
 * move the block and its prefix must still match. */
static uint64_t seed_of(uint64_t stamp) { return mix64(stamp ^ 0x5DEECE66Dull) | 1; }

static uint64_t ticket_hash(const ticket *t)
{
    return mix64((uint64_t)(uintptr_t)t->p ^ mix64(t->size) ^ mix64(t->stamp + 1) ^ ((uint64_t)t->align << 40));
}

static void account(int64_t dbytes, int64_t dblocks)
{
    uint64_t now = atomic_fetch_add_explicit(&live_bytes, (uint64_t)dbytes, memory_order_relaxed) + (uint64_t)dbytes;
    if (dblocks) atomic_fetch_add_explicit(&live_blocks, (uint64_t)dblocks, memory_order_relaxed);
    if (dbytes > 0) {
        uint64_t peak = atomic_load_explicit(&peak_bytes, memory_order_relaxed);
        while (now > peak &&
               !atomic_compare_exchange_weak_explicit(&peak_bytes, &peak, now, memory_order_relaxed,
                                                      memory_order_relaxed)) {}
    }
}

/* The block must have its alignment and its pattern (its first `n` bytes). */
static void verify_prefix(const char *when, const blk *b, size_t n)
{
    if ((uintptr_t)b->p % b->align)
        FAILF("%s: block %p of %zu bytes (thread %u, serial %u) is not aligned to %zu", when,
              (void *)b->p, b->size, (unsigned)(b->stamp >> 32), (unsigned)b->stamp, b->align);
    long off = pattern_check(b->p, n, seed_of(b->stamp));
    if (off >= 0)
        FAILF("%s: block %p of %zu bytes (thread %u, serial %u) corrupt at byte %ld of %zu checked",
              when, (void *)b->p, b->size, (unsigned)(b->stamp >> 32), (unsigned)b->stamp, off, n);
}
static void verify(const char *when, const blk *b) { verify_prefix(when, b, b->size); }

/* An allocation failed: before failing, tell where the address space went
 * (the mappings of /proc/self/maps, summed, and the largest hole between
 * them below 4 GiB) and what the allocator says of itself. */
static void oom_report(void)
{
    static char buf[1 << 16];
    int fd = open("/proc/self/maps", O_RDONLY);
    if (fd >= 0) {
        uint64_t total = 0, hole = 0, prev_end = 0x10000, count = 0;
        size_t have = 0;
        ssize_t r;
        while ((r = read(fd, buf + have, sizeof buf - 1 - have)) > 0) {
            have += (size_t)r;
            buf[have] = 0;
            char *line = buf, *nl;
            while ((nl = strchr(line, '\n'))) {
                *nl = 0;
                unsigned long long lo, hi;
                if (sscanf(line, "%llx-%llx", &lo, &hi) == 2) {
                    total += hi - lo;
                    count++;
                    if (lo > prev_end && lo - prev_end > hole && hi <= 0x100000000ull) hole = lo - prev_end;
                    prev_end = hi;
                }
                line = nl + 1;
            }
            have = (size_t)(buf + have - line);
            memmove(buf, line, have);
        }
        close(fd);
        fprintf(stderr, "stress: out of memory: %llu mappings, %.1f MiB mapped, largest hole %.1f MiB\n",
                (unsigned long long)count, total / 1048576.0, hole / 1048576.0);
    }
#ifndef STRESS_PREFIXED
    if (!FN_PRESENT(cairn_stats_json)) return;
#endif
    size_t n = cairn_stats_json(buf, sizeof buf);
    if (n > 0 && n < sizeof buf) fprintf(stderr, "stress: %.*s\n", (int)n, buf);
}

/* An allocation returned NULL.  That is right, and no failure of the
 * allocator, when the OS refused it memory: errno must be ENOMEM and the
 * allocator's statistics must count refused mappings ("os" in
 * cairn_stats_json).  The first few are reported with the address-space
 * summary; more than MAX_REFUSED of them fail the run (the environment is
 * then too short of memory for a stress).  Anything else is a failure. */
#define MAX_REFUSED 20
static _Atomic uint64_t t_refused;
static bool os_refused(int err)
{
    if (err != ENOMEM) return false;
#ifndef STRESS_PREFIXED
    if (!FN_PRESENT(cairn_stats_json)) return false;
#endif
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static char buf[1 << 16];
    pthread_mutex_lock(&lock);
    unsigned long long refused = 0;
    int last = 0;
    size_t n = cairn_stats_json(buf, sizeof buf);
    const char *os = n < sizeof buf ? strstr(buf, "\"os\": {\"map_refused\": ") : NULL;
    if (os) sscanf(os, "\"os\": {\"map_refused\": %llu, \"last_errno\": %d", &refused, &last);
    uint64_t k = refused ? atomic_fetch_add(&t_refused, 1) + 1 : 0;
    if (k && k <= 3) {
        fprintf(stderr, "stress: NULL with ENOMEM: the OS refused %llu mappings so far (last errno %d)\n",
                refused, last);
        oom_report();
    }
    pthread_mutex_unlock(&lock);
    if (k > MAX_REFUSED) FAILF("the OS refused memory %llu times (see the log)", (unsigned long long)k);
    return k != 0;
}

/* A fresh block: aligned, big enough, zero if from calloc; then stamp it. */
static bool take_new(const char *fn, blk *b, unsigned char *p, size_t size, size_t align, bool zero,
                     uint32_t id, uint32_t *serial)
{
    if (!p) {
        int e = errno;
        if (os_refused(e)) return false;
        oom_report();
        FAILF("%s(%zu) returned NULL (errno %d)", fn, size, e);
    }
    if ((uintptr_t)p % align) FAILF("%s(%zu) returned %p, not aligned to %zu", fn, size, (void *)p, align);
    size_t us = S_USABLE(p);
    if (us < size) FAILF("%s(%zu) returned %p whose usable size is only %zu", fn, size, (void *)p, us);
    if (zero) {
        long off = first_not(p, size, 0);
        if (off >= 0)
            FAILF("%s(%zu) returned %p whose byte %ld is %#x, not zero", fn, size, (void *)p, off, p[off]);
    }
    b->p = p;
    b->size = size;
    b->align = align;
    b->stamp = ((uint64_t)id << 32) | (*serial)++;
    pattern_fill(p, size, seed_of(b->stamp));
    return true;
}

static void release(const char *when, blk *b)
{
    verify(when, b);
    S_FREE(b->p);
    account(-(int64_t)b->size, -1);
    b->p = NULL;
}

/* ------------------------------------------------------------------------
 * Random sizes and alignments
 * ---------------------------------------------------------------------- */

static size_t rand_size(rng *r)
{
    unsigned k = (unsigned)(rng_next(r) % 1000);
    if (k < 500) return rng_range(r, 1, 64);
    if (k < 960) return rng_range(r, 1, 1024);
    if (k < 999) return rng_range(r, 1025, 128 * KiB);
    return rng_range(r, 128 * KiB + 1, 4 * MiB);
}

static size_t rand_align(rng *r)
{
    unsigned k = (unsigned)(rng_next(r) % 100);
    if (k < 70) return (size_t)1 << rng_range(r, 3, 7);        /* 8 .. 128       */
    if (k < 95) return (size_t)1 << rng_range(r, 8, 14);       /* 256 .. 16 KiB  */
    return (size_t)1 << rng_range(r, 15, 21);                  /* 32 KiB .. 2 MiB */
}

/* ------------------------------------------------------------------------
 * Tickets, slots and mailboxes
 * ---------------------------------------------------------------------- */

static ticket *ticket_make(const blk *b)
{
    ticket *t = HIDE((ticket *)S_MALLOC(sizeof(ticket)));
    if (!t) FAILF("malloc(%zu) for a ticket returned NULL", sizeof(ticket));
    t->next = NULL;
    t->p = b->p;
    t->size = b->size;
    t->stamp = b->stamp;
    t->align = b->align;
    t->check = ticket_hash(t);
    return t;
}

/* Unpack a ticket taken from another thread (and free the ticket). */
static blk ticket_open(const char *when, ticket *t)
{
    if (t->check != ticket_hash(t))
        FAILF("%s: ticket %p corrupt (block %p, size %zu)", when, (void *)t, (void *)t->p, t->size);
    blk b = { t->p, t->size, t->stamp, t->align };
    S_FREE(t);
    verify(when, &b);
    return b;
}

static void mailbox_push(int to, ticket *first, ticket *last)
{
    ticket *head = atomic_load_explicit(&mailbox[to], memory_order_relaxed);
    do {
        last->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&mailbox[to], &head, first, memory_order_release,
                                                    memory_order_relaxed));
}

/* ------------------------------------------------------------------------
 * A worker
 * ---------------------------------------------------------------------- */

typedef struct wstate {
    worker *w;
    rng r;
    uint32_t serial;
    size_t mine;                /* bytes of the blocks in local[] */
} wstate;

static void local_drop(wstate *s, blk *b)
{
    s->mine -= b->size;
    release("free", b);
    s->w->frees++;
    s->w->ops++;
}

/* A block taken from another thread: free it here, or keep it. */
static void received(wstate *s, blk b)
{
    worker *w = s->w;
    blk *slot = &w->local[rng_next(&s->r) % LOCAL_SLOTS];
    if (rng_next(&s->r) % 2 == 0 || slot->p || s->mine > thread_budget) {
        S_FREE(b.p);
        account(-(int64_t)b.size, -1);
        w->remote_frees++;
        w->frees++;
    } else {
        *slot = b;
        s->mine += b.size;
        w->adopted++;
    }
    w->ops++;
}

static void do_alloc(wstate *s, blk *b)
{
    worker *w = s->w;
    size_t size = rand_size(&s->r);
    unsigned k = (unsigned)(rng_next(&s->r) % 100);
    unsigned char *p;
    bool got;
    if (k < 50) {
        p = HIDE((unsigned char *)S_MALLOC(size));
        got = take_new("malloc", b, p, size, MALLOC_ALIGN, false, w->id, &s->serial);
    } else if (k < 70) {
        size_t el = (size_t)1 << rng_range(&s->r, 0, 4);      /* 1 .. 16 */
        size_t count = (size + el - 1) / el;
        p = HIDE((unsigned char *)S_CALLOC(count, el));
        got = take_new("calloc", b, p, count * el, MALLOC_ALIGN, true, w->id, &s->serial);
        size = count * el;
    } else if (k < 75) {
        p = HIDE((unsigned char *)S_REALLOC(NULL, size));
        got = take_new("realloc(NULL)", b, p, size, MALLOC_ALIGN, false, w->id, &s->serial);
    } else if (k < 88) {
        size_t a = rand_align(&s->r);
        void *q = NULL;
        int e = S_POSIX_MEMALIGN(&q, a, size);
        if (e && !os_refused(e)) {
            oom_report();
            FAILF("posix_memalign(%zu, %zu) failed: %s", a, size, strerror(e));
        }
        got = !e && take_new("posix_memalign", b, HIDE((unsigned char *)q), size, a, false, w->id, &s->serial);
    } else {
        size_t a = rand_align(&s->r);
        p = HIDE((unsigned char *)S_ALIGNED_ALLOC(a, size));
        got = take_new("aligned_alloc", b, p, size, a, false, w->id, &s->serial);
    }
    if (!got) return;
    account((int64_t)size, 1);
    s->mine += size;
    w->allocs++;
    w->ops++;
}

static void do_realloc(wstate *s, blk *b)
{
    worker *w = s->w;
    size_t n;
    if (rng_next(&s->r) % 2) {
        n = rand_size(&s->r);
    } else {                                   /* grow or shrink by up to 2x */
        n = b->size / 2 + (size_t)(rng_next(&s->r) % (b->size * 3 / 2 + 1));
        if (n == 0) n = 1;
        if (n > 4 * MiB) n = 4 * MiB;
    }
    verify("realloc (before)", b);
    unsigned char *q = HIDE((unsigned char *)S_REALLOC(b->p, n));
    if (!q) {
        int e = errno;
        if (os_refused(e)) return;                 /* the block is still there */
        FAILF("realloc(%p, %zu) returned NULL (errno %d)", (void *)b->p, n, e);
    }
    blk old = *b;
    old.p = q;
    old.align = MALLOC_ALIGN;
    verify_prefix("realloc (kept prefix)", &old, n < b->size ? n : b->size);
    size_t us = S_USABLE(q);
    if (us < n) FAILF("realloc(%zu) returned %p whose usable size is only %zu", n, (void *)q, us);
    account((int64_t)n - (int64_t)b->size, 0);
    s->mine += n;
    s->mine -= b->size;
    b->p = q;
    b->size = n;
    b->align = MALLOC_ALIGN;
    b->stamp = ((uint64_t)w->id << 32) | s->serial++;
    pattern_fill(q, n, seed_of(b->stamp));
    w->reallocs++;
    w->ops++;
}

/* Put local block b in a random shared slot; take what was there. */
static void do_put(wstate *s, blk *b)
{
    verify("put", b);
    ticket *t = ticket_make(b);
    s->mine -= b->size;
    b->p = NULL;
    ticket *old = atomic_exchange_explicit(&shared[rng_next(&s->r) % SHARED_SLOTS], t, memory_order_acq_rel);
    if (old) received(s, ticket_open("taken from a shared slot", old));
    s->w->ops++;
}

static void do_take(wstate *s)
{
    ticket *t = atomic_exchange_explicit(&shared[rng_next(&s->r) % SHARED_SLOTS], NULL, memory_order_acq_rel);
    if (t) received(s, ticket_open("taken from a shared slot", t));
}

/* Send up to MAX_BATCH local blocks, as one list, to a random mailbox. */
static void do_send(wstate *s)
{
    worker *w = s->w;
    ticket *first = NULL, *last = NULL;
    unsigned n = (unsigned)rng_range(&s->r, 1, MAX_BATCH);
    for (unsigned i = 0; i < n; i++) {
        blk *b = &w->local[rng_next(&s->r) % LOCAL_SLOTS];
        if (!b->p) continue;
        verify("send", b);
        ticket *t = ticket_make(b);
        s->mine -= b->size;
        b->p = NULL;
        t->next = first;
        first = t;
        if (!last) last = t;
        w->ops++;
    }
    if (first) mailbox_push((int)(rng_next(&s->r) % (uint64_t)nthreads), first, last);
}

static void do_receive(wstate *s)
{
    ticket *t = atomic_exchange_explicit(&mailbox[s->w->index], NULL, memory_order_acquire);
    while (t) {
        ticket *next = t->next;
        received(s, ticket_open("received in a mailbox", t));
        t = next;
    }
}

/* Leave: each live block is freed, put in a shared slot, or sent. */
static void hand_over(wstate *s)
{
    worker *w = s->w;
    for (size_t i = 0; i < LOCAL_SLOTS; i++) {
        blk *b = &w->local[i];
        if (!b->p) continue;
        unsigned k = (unsigned)(rng_next(&s->r) % 4);
        if (k == 0) {
            local_drop(s, b);
        } else if (k == 1) {
            verify("hand over", b);
            ticket *t = ticket_make(b);
            s->mine -= b->size;
            b->p = NULL;
            ticket *old = atomic_exchange_explicit(&shared[rng_next(&s->r) % SHARED_SLOTS], t,
                                                   memory_order_acq_rel);
            /* Whatever it displaces goes on in a mailbox, unopened. */
            if (old) mailbox_push((int)(rng_next(&s->r) % (uint64_t)nthreads), old, old);
        } else {
            verify("hand over", b);
            ticket *t = ticket_make(b);
            s->mine -= b->size;
            b->p = NULL;
            mailbox_push((int)(rng_next(&s->r) % (uint64_t)nthreads), t, t);
        }
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    wstate s = { w, rng_make(w->seed), 0, 0 };
    double end = now_s() + w->lifetime_ms / 1000.0;
    for (unsigned iter = 1;; iter++) {
        if ((iter & 255) == 0) {
            if (atomic_load_explicit(&stop, memory_order_relaxed) || now_s() >= end) break;
            do_receive(&s);
        }
        bool over = s.mine > thread_budget ||
                    atomic_load_explicit(&live_bytes, memory_order_relaxed) > global_budget;
        unsigned op = (unsigned)(rng_next(&s.r) % 1000);
        if (op < 25) {
            do_take(&s);
        } else if (op < 45) {
            blk *b = &w->local[rng_next(&s.r) % LOCAL_SLOTS];
            if (b->p) do_put(&s, b);
        } else if (op < 55) {
            do_send(&s);
        } else if (op < 58) {
            do_receive(&s);
        } else {
            blk *b = &w->local[rng_next(&s.r) % LOCAL_SLOTS];
            if (!b->p) {
                if (!over) do_alloc(&s, b);
                continue;
            }
            unsigned k = (unsigned)(rng_next(&s.r) % 10);
            if (k < 5 || over) {
                local_drop(&s, b);
            } else if (k < 8) {
                do_realloc(&s, b);
            } else if (k < 9) {
                verify("verify", b);
            } else {
                local_drop(&s, b);
                do_alloc(&s, b);
            }
        }
    }
    hand_over(&s);
    atomic_store_explicit(&w->done, 1, memory_order_release);
    return NULL;
}

/* ------------------------------------------------------------------------
 * The main thread
 * ---------------------------------------------------------------------- */

static worker *workers;
static uint32_t next_id = 1;
static rng main_rng;

static void start_worker(worker *w)
{
    w->id = next_id++;
    w->seed = rng_next(&main_rng);
    /* Mostly short lives, for churn; now and then a long one. */
    w->lifetime_ms = rng_next(&main_rng) % 10 == 0 ? (unsigned)rng_range(&main_rng, 1000, 5000)
                                                   : (unsigned)rng_range(&main_rng, 20, 600);
    w->ops = w->allocs = w->frees = w->reallocs = w->remote_frees = w->adopted = 0;
    atomic_store_explicit(&w->done, 0, memory_order_relaxed);
    int e = pthread_create(&w->th, NULL, worker_main, w);
    if (e) FAILF("pthread_create: %s", strerror(e));
    w->running = true;
    t_threads++;
}

static void join_worker(worker *w)
{
    int e = pthread_join(w->th, NULL);
    if (e) FAILF("pthread_join: %s", strerror(e));
    w->running = false;
    t_ops += w->ops;
    t_allocs += w->allocs;
    t_frees += w->frees;
    t_reallocs += w->reallocs;
    t_remote += w->remote_frees;
    t_adopted += w->adopted;
    for (size_t i = 0; i < LOCAL_SLOTS; i++)
        if (w->local[i].p) FAILF("worker %u left block %p in its local slots", w->id, (void *)w->local[i].p);
}

/* The main thread's own frees of what is left. */
static void drain_ticket(ticket *t, const char *where)
{
    blk b = ticket_open(where, t);
    S_FREE(b.p);
    account(-(int64_t)b.size, -1);
    t_frees++;
    t_ops++;
}

static void stats_poke(void)
{
#ifndef STRESS_PREFIXED
    if (!FN_PRESENT(cairn_stats_json)) return;
#endif
    static char *buf;
    const size_t len = 1 * MiB;
    if (!buf) buf = os_alloc(len);
    size_t n = cairn_stats_json(buf, len);
    if (n == 0 || buf[0] != '{') FAILF("cairn_stats_json returned %zu bytes starting \"%.20s\"", n, buf);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = ": timed out (deadlock, or far too slow)\n";
    char line[200];
    int n = snprintf(line, sizeof line, "FAIL %s%sstress.%s", t_tag, *t_tag ? "/" : "", t_name);
    if (n > 0 && (size_t)n < sizeof line) t_write_all(1, line, (size_t)n);
    t_write_all(1, msg, sizeof msg - 1);
    _exit(3);
}

static long env_long(const char *name, long dflt)
{
    const char *s = getenv(name);
    return s && *s ? atol(s) : dflt;
}

int main(int argc, char **argv)
{
    t_init("stress");
    t_name = getenv("CAIRN_STRESS_NAME") && *getenv("CAIRN_STRESS_NAME") ? getenv("CAIRN_STRESS_NAME") : "mixed";
    long seconds = argc > 1 ? atol(argv[1]) : env_long("CAIRN_STRESS_SECONDS", 20);
    nthreads = (int)(argc > 2 ? atol(argv[2]) : env_long("CAIRN_STRESS_THREADS", 8));
    if (seconds < 1) seconds = 1;
    if (nthreads < 1) nthreads = 1;
    if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
    bool stats = env_long("CAIRN_STRESS_STATS", 1) != 0;
    const char *seed_env = getenv("CAIRN_STRESS_SEED");
    uint64_t seed = seed_env && *seed_env ? strtoull(seed_env, NULL, 0) : 0;
    if (!seed) seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    main_rng = rng_make(seed);
    /* A 32-bit process (under qemu) has 4 GiB of address space at most. */
    thread_budget = (sizeof(void *) == 4 ? 12 : 32) * MiB;
    global_budget = (sizeof(void *) == 4 ? 256 : 512) * MiB;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)(2 * seconds + 300));

    char line[256];
    int n = snprintf(line, sizeof line, "stress: %d threads, %ld s, %s API, seed %llu\n", nthreads, seconds,
                     S_API, (unsigned long long)seed);
    t_write_all(1, line, (size_t)n);

    workers = os_alloc(sizeof(worker) * (size_t)nthreads);
    for (int i = 0; i < nthreads; i++) workers[i].index = i;

    double t0 = now_s(), end = t0 + (double)seconds, next_trim = t0 + 1, next_stats = t0 + 2;
    for (int i = 0; i < nthreads; i++) start_worker(&workers[i]);
    while (now_s() < end) {
        usleep(5 * 1000);
        for (int i = 0; i < nthreads; i++) {
            worker *w = &workers[i];
            if (!atomic_load_explicit(&w->done, memory_order_acquire)) continue;
            join_worker(w);
            start_worker(w);
        }
        double t = now_s();
        if (t >= next_trim) {
            S_TRIM(0);
            next_trim = t + 1;
        }
        if (stats && t >= next_stats) {
            stats_poke();
            next_stats = t + 2;
        }
    }
    atomic_store_explicit(&stop, 1, memory_order_relaxed);
    for (int i = 0; i < nthreads; i++)
        if (workers[i].running) join_worker(&workers[i]);
    double t1 = now_s();

    /* What the workers left: verify it all, free it all. */
    uint64_t leftover = atomic_load_explicit(&live_blocks, memory_order_relaxed);
    for (size_t i = 0; i < SHARED_SLOTS; i++) {
        ticket *t = atomic_exchange_explicit(&shared[i], NULL, memory_order_acquire);
        if (t) drain_ticket(t, "left in a shared slot");
    }
    for (int i = 0; i < nthreads; i++) {
        ticket *t = atomic_exchange_explicit(&mailbox[i], NULL, memory_order_acquire);
        while (t) {
            ticket *next = t->next;
            drain_ticket(t, "left in a mailbox");
            t = next;
        }
    }
    uint64_t lb = atomic_load_explicit(&live_bytes, memory_order_relaxed);
    uint64_t lk = atomic_load_explicit(&live_blocks, memory_order_relaxed);
    if (lb || lk) FAILF("after freeing everything, %llu blocks (%llu bytes) are unaccounted for",
                        (unsigned long long)lk, (unsigned long long)lb);
    S_TRIM(0);
    if (stats) stats_poke();

    n = snprintf(line, sizeof line,
                 "stress: %.1f s, %llu threads, %llu operations (%llu allocs, %llu frees of which %llu remote, "
                 "%llu reallocs, %llu adopted), %llu blocks left at the end, peak live %.1f MiB\n",
                 t1 - t0, (unsigned long long)t_threads, (unsigned long long)t_ops, (unsigned long long)t_allocs,
                 (unsigned long long)t_frees, (unsigned long long)t_remote, (unsigned long long)t_reallocs,
                 (unsigned long long)t_adopted, (unsigned long long)leftover,
                 (double)atomic_load_explicit(&peak_bytes, memory_order_relaxed) / (double)MiB);
    t_write_all(1, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
    if (atomic_load(&t_refused)) {
        n = snprintf(line, sizeof line, "stress: %llu allocations failed cleanly because the OS refused memory\n",
                     (unsigned long long)atomic_load(&t_refused));
        t_write_all(1, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
    }
    t_report(1, t_name, NULL);
    return t_finish();          /* t_init's check that Cairn is loaded may have failed */
}
