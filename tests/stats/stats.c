/* stats.c -- the program tests/stats/run.sh drives: each mode exercises
 * one statistics function and prints what the script checks.
 *
 *   pattern   1000 blocks of 100 B, one large (200000 B) and one huge
 *             (3 MiB, then shrunk to 2 MiB by realloc) block; prints mallinfo2 figures before and after each,
 *             then malloc_stats() on stderr
 *   info      the pattern, then malloc_info(0, stdout); checks EINVAL
 *   json      the pattern, then cairn_stats_json() with no, a small and a
 *             big enough buffer; prints the document
 *   mallopt   mallopt's return values, and M_MMAP_THRESHOLD's effect
 *   threads   4 threads hold blocks while the main thread takes statistics
 *             over and over (and others allocate and free meanwhile)
 *   noalloc   the statistics functions allocate nothing
 *   refused   a 1 GiB malloc under RLIMIT_AS 256 MiB above the mapped
 *             size: NULL and ENOMEM, and the JSON's "os" counts the refusal
 *   exit      the pattern, then exit (for CAIRN_STATS)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

size_t cairn_stats_json(char *buf, size_t len);
void cairn_print_stats(int fd);

#define NBLOCKS 1000
static void *volatile blocks[NBLOCKS];
static void *volatile large_block, *volatile huge_block;

static void pattern(int print) {
    struct mallinfo2 a = mallinfo2();
    for (int i = 0; i < NBLOCKS; i++) {
        blocks[i] = malloc(100);
        memset(blocks[i], 1, 100);
    }
    struct mallinfo2 b = mallinfo2();
    large_block = malloc(200000);
    struct mallinfo2 c = mallinfo2();
    huge_block = malloc(3 << 20);
    huge_block = realloc(huge_block, 2 << 20);  /* shrinks in place: the counters go down */
    struct mallinfo2 d = mallinfo2();
    struct mallinfo m = mallinfo();
    if (print) {
        printf("uord_small %zu\n", b.uordblks - a.uordblks);
        printf("uord_large %zu\n", c.uordblks - b.uordblks);
        printf("hblks %zu %zu\n", c.hblks, d.hblks);
        printf("hblkhd %zu %zu\n", c.hblkhd, d.hblkhd);
        printf("arena %zu fordblks %zu keepcost %zu usmblks %zu\n", d.arena, d.fordblks, d.keepcost, d.usmblks);
        printf("mallinfo_int %d %d\n", m.uordblks == (int)d.uordblks, m.hblks == (int)d.hblks);
        fflush(stdout);
    }
}

static char jbuf[1 << 22];

static int mode_json(void) {
    pattern(0);
    size_t n1 = cairn_stats_json(NULL, 0);
    char small[10];
    memset(small, 'x', sizeof small);
    size_t n2 = cairn_stats_json(small, sizeof small);
    size_t n3 = cairn_stats_json(jbuf, sizeof jbuf);
    /* Nothing allocated between the calls: the same length every time. */
    fprintf(stderr, "lengths %zu %zu %zu small_ok %d\n", n1, n2, n3,
            small[9] == 0 && strlen(small) == 9 && memcmp(small, jbuf, 9) == 0);
    fputs(jbuf, stdout);
    return 0;
}

static int mode_info(void) {
    pattern(0);
    errno = 0;
    int bad = malloc_info(1, stdout);
    fprintf(stderr, "einval %d\n", bad == -1 && errno == EINVAL);
    return malloc_info(0, stdout) == 0 ? 0 : 1;
}

static int mode_mallopt(void) {
    printf("mmap_threshold %d\n", mallopt(M_MMAP_THRESHOLD, 1 << 20));
    struct mallinfo2 a = mallinfo2();
    void *volatile p = malloc(512 * 1024);       /* now below the threshold: not huge */
    struct mallinfo2 b = mallinfo2();
    printf("hblks_unchanged %d\n", a.hblks == b.hblks && b.uordblks - a.uordblks >= 512 * 1024);
    free(p);
    printf("mmap_threshold_negative %d\n", mallopt(M_MMAP_THRESHOLD, -1));
    printf("trim_threshold %d\n", mallopt(M_TRIM_THRESHOLD, 1 << 20));
    printf("top_pad %d\n", mallopt(M_TOP_PAD, 1 << 16));
    printf("arena_max %d\n", mallopt(M_ARENA_MAX, 4));
    printf("arena_test %d\n", mallopt(M_ARENA_TEST, 4));
    printf("mmap_max %d\n", mallopt(M_MMAP_MAX, 0));
    printf("perturb %d\n", mallopt(M_PERTURB, 0));
    printf("mxfast_ok %d\n", mallopt(M_MXFAST, 64));
    printf("mxfast_bad %d\n", mallopt(M_MXFAST, 100000));
    printf("unknown %d\n", mallopt(12345, 1));
    printf("trim_disable %d\n", mallopt(M_TRIM_THRESHOLD, -1));
    return 0;
}

#define NTHREADS 4
static pthread_barrier_t ready, done;
static atomic_int stop;

static void *holder(void *arg) {
    (void)arg;
    void *mine[200];
    for (int i = 0; i < 200; i++) mine[i] = malloc(48);
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&done);
    for (int i = 0; i < 200; i++) free(mine[i]);
    return NULL;
}

static void *churner(void *arg) {
    (void)arg;
    void *v[64] = { 0 };
    unsigned x = 1;
    while (!atomic_load(&stop)) {
        x = x * 1103515245 + 12345;
        int i = (int)(x >> 16) % 64;
        free(v[i]);
        v[i] = malloc(16 + (x >> 8) % 3000);
    }
    for (int i = 0; i < 64; i++) free(v[i]);
    return NULL;
}

static int mode_threads(void) {
    pthread_t t[NTHREADS], c[2];
    pthread_barrier_init(&ready, NULL, NTHREADS + 1);
    pthread_barrier_init(&done, NULL, NTHREADS + 1);
    for (int i = 0; i < NTHREADS; i++) pthread_create(&t[i], NULL, holder, NULL);
    pthread_barrier_wait(&ready);
    cairn_stats_json(jbuf, sizeof jbuf);          /* quiescent: the holders wait */
    for (int i = 0; i < 2; i++) pthread_create(&c[i], NULL, churner, NULL);
    for (int i = 0; i < 200; i++) {               /* under churn: must not crash */
        static char scratch[1 << 20];
        cairn_stats_json(scratch, sizeof scratch);
        struct mallinfo2 m = mallinfo2();
        if (m.arena == 0) return 1;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(c[i], NULL);
    pthread_barrier_wait(&done);
    for (int i = 0; i < NTHREADS; i++) pthread_join(t[i], NULL);
    fputs(jbuf, stdout);
    return 0;
}

/* Total allocations ever made, from the JSON document in buf. */
static unsigned long long count_allocs(const char *buf) {
    unsigned long long n = 0;
    const char *classes = strstr(buf, "\"classes\": [");
    const char *heaps = strstr(buf, "\"heaps\":");
    for (const char *p = classes; p && p < heaps && (p = strstr(p, "\"allocs\": ")) && p < heaps; p++)
        n += strtoull(p + 10, NULL, 10);
    const char *p = strstr(buf, "\"large\": {");
    if (p && (p = strstr(p, "\"allocs\": "))) n += strtoull(p + 10, NULL, 10);
    p = strstr(buf, "\"huge\": {");
    if (p && (p = strstr(p, "\"allocs\": "))) n += strtoull(p + 10, NULL, 10);
    return n;
}

static char jbuf2[1 << 22];

static int mode_noalloc(void) {
    pattern(0);
    fflush(stdout);
    fflush(stderr);
    cairn_stats_json(jbuf, sizeof jbuf);
    for (int i = 0; i < 20; i++) {
        cairn_print_stats(-1);                       /* to nowhere: still formats */
        struct mallinfo2 a = mallinfo2();
        struct mallinfo b = mallinfo();
        (void)a;
        (void)b;
        cairn_stats_json(NULL, 0);
        mallopt(M_ARENA_MAX, 2);
    }
    cairn_stats_json(jbuf2, sizeof jbuf2);
    unsigned long long before = count_allocs(jbuf), after = count_allocs(jbuf2);
    printf("allocs %llu %llu\n", before, after);
    return 0;
}

/* The counts are exact: blocks taken by this thread (across page changes),
 * by a thread that exits, and by one still running (whose current page
 * holds its count) all show, and nothing else does. */
static pthread_barrier_t go, hold;
static void *volatile sink;                     /* keeps malloc/free pairs */
static void *exact_exiting(void *arg) {
    (void)arg;
    pthread_barrier_wait(&go);
    for (int i = 0; i < 7000; i++) {
        sink = malloc(32);
        free(sink);
    }
    return NULL;
}
static void *exact_running(void *arg) {
    static void *volatile keep[2500];
    (void)arg;
    pthread_barrier_wait(&go);
    for (int i = 0; i < 2500; i++) keep[i] = (malloc(80));
    pthread_barrier_wait(&hold);            /* counted while still running */
    pthread_barrier_wait(&hold);
    for (int i = 0; i < 2500; i++) free(keep[i]);
    return NULL;
}
static int mode_exact(void) {
    static void *volatile b[5000];
    pthread_t t[2];
    pthread_barrier_init(&go, NULL, 3);
    pthread_barrier_init(&hold, NULL, 2);
    pthread_create(&t[0], NULL, exact_exiting, NULL);
    pthread_create(&t[1], NULL, exact_running, NULL);
    sink = malloc(16);
    free(sink);
    cairn_stats_json(jbuf, sizeof jbuf);
    for (int i = 0; i < 5000; i++) b[i] = (malloc(48));
    for (int i = 0; i < 5000; i++) free(b[i]);
    for (int i = 0; i < 3000; i++) b[i] = (malloc(48));
    for (int i = 0; i < 100; i++) b[3000 + i] = (malloc(6000));
    pthread_barrier_wait(&go);
    pthread_join(t[0], NULL);
    pthread_barrier_wait(&hold);
    cairn_stats_json(jbuf2, sizeof jbuf2);
    pthread_barrier_wait(&hold);
    pthread_join(t[1], NULL);
    for (int i = 0; i < 3100; i++) free(b[i]);
    printf("exact %llu %llu\n", count_allocs(jbuf2) - count_allocs(jbuf), 5000ull + 3000 + 100 + 7000 + 2500);
    return 0;
}

/* The address space capped 256 MiB above what is mapped now: a 1 GiB
 * block must fail, and the statistics must say the OS refused it. */
static int mode_refused(void) {
    free(malloc(64));                                 /* the allocator is up */
    struct rlimit rl = { 0, 0 };
    getrlimit(RLIMIT_AS, &rl);
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f || fscanf(f, "%lu", &pages) != 1) return 3;
    fclose(f);
    rl.rlim_cur = (rlim_t)pages * 4096 + (256u << 20);
    if (setrlimit(RLIMIT_AS, &rl) != 0) return 3;
    errno = 0;
    void *p = malloc((size_t)1 << 30);
    printf("null %d errno %d\n", p == NULL, errno);
    cairn_stats_json(jbuf, sizeof jbuf);
    fputs(jbuf, stderr);
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "pattern";
    if (!strcmp(mode, "pattern")) {
        pattern(1);
        malloc_stats();
        return 0;
    }
    if (!strcmp(mode, "info")) return mode_info();
    if (!strcmp(mode, "json")) return mode_json();
    if (!strcmp(mode, "mallopt")) return mode_mallopt();
    if (!strcmp(mode, "threads")) return mode_threads();
    if (!strcmp(mode, "noalloc")) return mode_noalloc();
    if (!strcmp(mode, "exact")) return mode_exact();
    if (!strcmp(mode, "refused")) return mode_refused();
    if (!strcmp(mode, "exit")) {
        pattern(0);
        return 0;
    }
    fprintf(stderr, "stats: unknown mode %s\n", mode);
    return 2;
}
