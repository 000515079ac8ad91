/* common.h -- helpers shared by Cairn's benchmark programs.
 *
 * Every program takes its parameters as key=value arguments (numbers accept
 * the suffixes k/m/g = 10^3/10^6/10^9 and Ki/Mi/Gi = 2^10/2^20/2^30), prints
 * one line starting with "result" made of key=value pairs on stdout, and exits
 * non-zero if it detects corrupted memory.  The argument "which" makes a
 * program print which shared object its malloc comes from, and exit: the
 * harness uses it to check that LD_PRELOAD really took effect.
 */
#ifndef CAIRN_BENCH_COMMON_H
#define CAIRN_BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define UNUSED __attribute__((unused))
#define NOINLINE __attribute__((noinline))
#define CACHELINE 64

/* Keep the compiler from eliding a malloc/free pair or a store. */
#define ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")

static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

static inline double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- random numbers: xorshift64* seeded through splitmix64 ---- */
typedef struct { uint64_t s; } rng_t;

static inline void rng_seed(rng_t *r, uint64_t seed)
{
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    r->s = z ? z : 0x1234567887654321ULL;
}

static inline uint64_t rng_next(rng_t *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n). */
static inline uint64_t rng_below(rng_t *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static inline uint64_t rng_range(rng_t *r, uint64_t lo, uint64_t hi)
{
    return lo + rng_below(r, hi - lo + 1);
}

/* Log-uniform in [lo, hi]: every power-of-two range is equally likely. */
static inline uint64_t rng_logrange(rng_t *r, uint64_t lo, uint64_t hi)
{
    int blo = 63 - __builtin_clzll(lo), bhi = 63 - __builtin_clzll(hi);
    int b = blo + (int)rng_below(r, (uint64_t)(bhi - blo + 1));
    uint64_t a = (uint64_t)1 << b, z = a * 2 - 1;
    if (a < lo) a = lo;
    if (z > hi) z = hi;
    return rng_range(r, a, z);
}

/* ---- arguments ---- */
static inline int arg_present(int argc, char **argv, const char *key)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], key) == 0) return 1;
    return 0;
}

static inline const char *arg_str(int argc, char **argv, const char *key, const char *def)
{
    size_t k = strlen(key);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], key, k) == 0 && argv[i][k] == '=') return argv[i] + k + 1;
    return def;
}

static inline long long parse_num(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s) {
        fprintf(stderr, "bad number: %s\n", s);
        exit(2);
    }
    long long mul = 1;
    if (*end) {
        int bin = end[1] == 'i' || end[1] == 'I';
        switch (end[0]) {
        case 'k': case 'K': mul = bin ? 1LL << 10 : 1000LL; break;
        case 'm': case 'M': mul = bin ? 1LL << 20 : 1000000LL; break;
        case 'g': case 'G': mul = bin ? 1LL << 30 : 1000000000LL; break;
        default: fprintf(stderr, "bad suffix: %s\n", s); exit(2);
        }
    }
    return (long long)(v * (double)mul + 0.5);
}

static inline long long arg_num(int argc, char **argv, const char *key, long long def)
{
    const char *s = arg_str(argc, argv, key, NULL);
    return s ? parse_num(s) : def;
}

/* ---- memory statistics ---- */
static inline long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static inline long cur_rss_kb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Memory for the benchmark's own bookkeeping, outside the allocator under
 * test, so that it does not disturb it (and is easy to account for). */
static inline void *os_alloc(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    return p;
}

static inline void os_free(void *p, size_t n) { munmap(p, n); }

/* ---- checks ---- */
static inline void *xmalloc_or_die(size_t n)
{
    void *p = malloc(n);
    if (!p && n) {
        fprintf(stderr, "malloc(%zu) returned NULL\n", n);
        exit(3);
    }
    return p;
}

/* Mark the first and last byte of a block; check them before freeing. */
static inline void tag_set(void *p, size_t n, uint8_t t)
{
    ((volatile uint8_t *)p)[0] = t;
    ((volatile uint8_t *)p)[n - 1] = (uint8_t)(t ^ 0x5a);
}

static inline void tag_fail(const char *who, void *p, size_t n, uint8_t t)
{
    fprintf(stderr, "%s: corrupted block %p size %zu: head %02x tail %02x, expected %02x %02x\n",
            who, p, n, ((uint8_t *)p)[0], ((uint8_t *)p)[n - 1], t, (uint8_t)(t ^ 0x5a));
    exit(4);
}

static inline void tag_check(const char *who, void *p, size_t n, uint8_t t)
{
    if (((volatile uint8_t *)p)[0] != t || ((volatile uint8_t *)p)[n - 1] != (uint8_t)(t ^ 0x5a))
        tag_fail(who, p, n, t);
}

/* Touch one byte per page so that the block is really resident. */
static inline void touch_pages(void *p, size_t n, uint8_t v)
{
    volatile uint8_t *c = p;
    for (size_t i = 0; i < n; i += 4096) c[i] = v;
    if (n) c[n - 1] = v;
}

/* ---- reporting ---- */
static inline void report_which(int argc, char **argv)
{
    if (!arg_present(argc, argv, "which")) return;
    Dl_info info;
    void *(*volatile fn)(size_t) = malloc;
    if (dladdr((void *)fn, &info) && info.dli_fname)
        printf("malloc_from=%s\n", info.dli_fname);
    else
        printf("malloc_from=unknown\n");
    exit(0);
}

/* printf-style: the caller's key=value pairs, then the peak RSS. */
static inline void report(const char *name, const char *fmt, ...)
{
    va_list ap;
    printf("result bench=%s ", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf(" peak_rss_kb=%ld\n", peak_rss_kb());
    fflush(stdout);
}

static inline pthread_t spawn(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0) {
        perror("pthread_create");
        exit(2);
    }
    return t;
}

#endif
