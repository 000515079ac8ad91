/* tests/common.h -- helpers shared by Cairn's test programs.
 *
 * A test program is a list of subtests.  run_test() runs each one in a
 * forked child with an alarm() timeout, so a crash or a hang fails that
 * subtest only.  Inside a subtest, CHECK()/FAILF() print
 *     FAIL <tag>/<program>.<subtest>: <reason>
 * and end the child; a subtest that returns prints
 *     PASS <tag>/<program>.<subtest>
 * Results are written with write(2), never through stdio, so they still
 * come out when malloc is failing or broken.
 *
 * Environment (set by tests/run.sh):
 *   CAIRN_TEST_TAG    prefix of every result name ("64", "32", "64s", ...)
 *   CAIRN_TEST_SCALE  percent of the normal iteration counts (default 100)
 *   CAIRN_TEST_QEMU   1 when running under qemu-user
 *   CAIRN_TEST_EXPECT 1 when the Cairn library must be the allocator in use
 *   CAIRN_TEST_ONLY   run only the subtests whose name contains this
 *   CAIRN_TEST_TIMING 1 to print each subtest's duration on stderr
 */
#ifndef CAIRN_TEST_COMMON_H
#define CAIRN_TEST_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

/* Hide a value from the optimiser: it can no longer fold a malloc/free pair,
 * know that calloc memory reads as zero, or warn about a deliberate misuse. */
#define HIDE(x)                                 \
    ({                                          \
        __typeof__(x) hide_v_ = (x);            \
        __asm__ volatile("" : "+r"(hide_v_));   \
        hide_v_;                                \
    })

#define UNUSED __attribute__((unused))

/* Functions glibc does not have: resolved at run time from the preloaded
 * library (weak, so the program links without it), or linked directly when
 * the program is linked with libcairn.a. */
#ifdef CAIRN_STATIC_LINK
#define MAYBE_WEAK
#else
#define MAYBE_WEAK __attribute__((weak))
#endif
/* Whether a MAYBE_WEAK function exists (without -Waddress complaining). */
#define FN_PRESENT(f) (HIDE((uintptr_t)&(f)) != 0)
const char *cairn_version(void);
MAYBE_WEAK void *allocate(unsigned int size);
MAYBE_WEAK void deallocate(void *p);
MAYBE_WEAK void free_sized(void *p, size_t size);
MAYBE_WEAK void free_aligned_sized(void *p, size_t alignment, size_t size);

/* ------------------------------------------------------------------------
 * Reporting
 * ---------------------------------------------------------------------- */

static const char *t_tag = "";
static const char *t_prog = "";
static const char *t_name = "";       /* current subtest (in its child)    */
static int t_scale = 100;
static int t_qemu;
static int t_failures;                /* counted by the parent             */
static int t_nested;                  /* in a child of a subtest's process */

static UNUSED void t_write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

static UNUSED void t_result(int pass, const char *name, const char *fmt, va_list ap)
{
    char line[1024];
    /* A failure in a subtest's own child is told on stderr: the subtest's
     * process reports the child's failure as its one FAIL line. */
    bool nested = !pass && t_nested;
    const char *word = nested ? "(in a child of)" : pass ? "PASS" : "FAIL";
    int n = snprintf(line, sizeof line, "%s %s%s%s.%s", word, t_tag, *t_tag ? "/" : "", t_prog, name);
    if (!pass && fmt && n > 0 && (size_t)n < sizeof line - 2) {
        line[n++] = ':';
        line[n++] = ' ';
        int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        if (m > 0) n += m;
    }
    if (n < 0) n = 0;
    if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
    /* A reason must stay on one line. */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n') line[i] = ' ';
    line[n++] = '\n';
    t_write_all(nested ? 2 : 1, line, (size_t)n);
}

static void t_report(int pass, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), unused));
static void t_report(int pass, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    t_result(pass, name, fmt, ap);
    va_end(ap);
}

/* Fail the current subtest: print the reason and end the child process. */
static void FAILF(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn, unused));
static void FAILF(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    t_result(0, t_name, fmt, ap);
    va_end(ap);
    _exit(1);
}

#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (!(cond)) FAILF(__VA_ARGS__);                   \
    } while (0)

/* Scale an iteration count for slow environments (never below 1). */
static UNUSED size_t scaled(size_t n)
{
    size_t s = n * (size_t)t_scale / 100;
    return s ? s : 1;
}

static UNUSED void t_init(const char *prog)
{
    const char *s;
    t_prog = prog;
    if ((s = getenv("CAIRN_TEST_TAG"))) t_tag = s;
    if ((s = getenv("CAIRN_TEST_SCALE")) && atoi(s) > 0) t_scale = atoi(s);
    if ((s = getenv("CAIRN_TEST_QEMU"))) t_qemu = atoi(s) > 0;
    setvbuf(stdout, NULL, _IONBF, 0);
    /* No core files from the crashes some subtests provoke. */
    struct rlimit r = { 0, 0 };
    setrlimit(RLIMIT_CORE, &r);
    if ((s = getenv("CAIRN_TEST_EXPECT")) && atoi(s) > 0) {
        /* The library under test must really be the allocator in use. */
#ifdef CAIRN_STATIC_LINK
        const char *v = cairn_version();    /* linked in: the check is that this links */
        if (!v) {
#else
        if (!dlsym(RTLD_DEFAULT, "cairn_malloc") && !dlsym(RTLD_DEFAULT, "cairn_version")) {
#endif
            t_report(0, "loaded", "the Cairn library is not loaded (LD_PRELOAD ignored?)");
            t_failures++;
        }
    }
}

static UNUSED double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static UNUSED const char *t_signame(int sig)
{
    const char *s = strsignal(sig);
    return s ? s : "?";
}

/* Threads and children, failing the subtest when the system says no. */
static UNUSED void t_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);
    CHECK(rc == 0, "pthread_create: %s", strerror(rc));
}

static UNUSED void t_join(pthread_t t)
{
    int rc = pthread_join(t, NULL);
    CHECK(rc == 0, "pthread_join: %s", strerror(rc));
}

/* Wait for a child; NULL if it exited 0, else what happened. */
static UNUSED const char *t_reap(pid_t pid)
{
    static char why[128];
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return "waitpid failed";
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return NULL;
    if (WIFEXITED(st))
        snprintf(why, sizeof why, "exited with status %d", WEXITSTATUS(st));
    else if (WTERMSIG(st) == SIGALRM)
        snprintf(why, sizeof why, "hung (deadlock?) and was killed by its alarm");
    else
        snprintf(why, sizeof why, "killed by signal %d (%s)", WTERMSIG(st), t_signame(WTERMSIG(st)));
    return why;
}

/* Run fn in a child process with a timeout; count and report the outcome. */
static UNUSED void run_test(const char *name, void (*fn)(void), unsigned timeout_s)
{
    const char *only = getenv("CAIRN_TEST_ONLY");
    if (only && *only && !strstr(name, only)) return;
    fflush(NULL);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        t_report(0, name, "fork failed: %s", strerror(errno));
        t_failures++;
        return;
    }
    if (pid == 0) {
        t_name = name;
        alarm(timeout_s);
        fn();
        t_report(1, name, NULL);
        _exit(0);
    }
    /* The child's alarm() normally ends a hang; but a stuck qemu-user can
     * hold signals blocked, so the parent also keeps a deadline and kills
     * the child outright (SIGKILL cannot be blocked). */
    int st;
    bool hung = false;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) {
            t_report(0, name, "waitpid: %s", strerror(errno));
            t_failures++;
            return;
        }
        if (!hung && now_s() - t0 > timeout_s + 10.0) {
            hung = true;
            kill(pid, SIGKILL);
        }
        usleep(20 * 1000);
    }
    if (hung) {
        t_failures++;
        t_report(0, name, "hung: no result after %u s, killed (signals blocked?)", timeout_s + 10);
        return;
    }
    if (getenv("CAIRN_TEST_TIMING"))
        fprintf(stderr, "  time %s/%s.%s: %.2f s\n", t_tag, t_prog, name, now_s() - t0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return;
    t_failures++;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 1) return; /* already reported */
    if (WIFEXITED(st))
        t_report(0, name, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
        t_report(0, name, "timed out after %u s (deadlock or far too slow)", timeout_s);
    else if (WIFSIGNALED(st))
        t_report(0, name, "killed by signal %d (%s)", WTERMSIG(st), t_signame(WTERMSIG(st)));
}

/* Call first thing in a process forked inside a subtest. */
static UNUSED void t_enter_child(void) { t_nested = 1; }

static UNUSED int t_finish(void) { return t_failures ? 1 : 0; }

/* ------------------------------------------------------------------------
 * Random numbers (xorshift64*), one state per user
 * ---------------------------------------------------------------------- */

typedef struct rng { uint64_t s; } rng;

static inline UNUSED rng rng_make(uint64_t seed)
{
    rng r = { seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull };
    if (!r.s) r.s = 1;
    return r;
}
static inline uint64_t rng_next(rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}
/* Uniform in [lo, hi]. */
static inline UNUSED size_t rng_range(rng *r, size_t lo, size_t hi)
{
    return lo + (size_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* A size from 1 B to max, mostly small: the mix real programs make. */
static inline UNUSED size_t rng_size(rng *r, size_t max)
{
    unsigned k = (unsigned)(rng_next(r) % 100);
    size_t hi;
    if (k < 70) hi = 256;
    else if (k < 90) hi = 4 * KiB;
    else if (k < 97) hi = 64 * KiB;
    else if (k < 99) hi = 512 * KiB;
    else hi = 2 * MiB;
    if (hi > max) hi = max;
    return rng_range(r, 1, hi);
}

/* ------------------------------------------------------------------------
 * Patterns: fill a block with bytes derived from a seed (use the block's
 * address and index), verify them later.
 * ---------------------------------------------------------------------- */

static inline uint64_t pattern_seed(const void *p, uint64_t index)
{
    uint64_t x = (uint64_t)(uintptr_t)p ^ (index * 0xD6E8FEB86659FD93ull);
    x ^= x >> 32;
    x *= 0xD6E8FEB86659FD93ull;
    x ^= x >> 29;
    return x | 1;
}

static inline uint64_t pattern_word(uint64_t seed, size_t i)
{
    return seed ^ ((uint64_t)i * 0x9E3779B97F4A7C15ull);
}

static UNUSED void pattern_fill(void *p, size_t n, uint64_t seed)
{
    unsigned char *b = p;
    size_t words = n / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w = pattern_word(seed, i);
        memcpy(b + 8 * i, &w, 8);
    }
    uint64_t w = pattern_word(seed, words);
    for (size_t j = 0; j < n % 8; j++) b[8 * words + j] = (unsigned char)(w >> (8 * j));
}

/* Offset of the first byte that differs from the pattern, or -1 if none. */
static UNUSED long pattern_check(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = p;
    size_t words = n / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w = pattern_word(seed, i), v;
        memcpy(&v, b + 8 * i, 8);
        if (v != w) {
            for (size_t j = 0; j < 8; j++)
                if (b[8 * i + j] != (unsigned char)(w >> (8 * j))) return (long)(8 * i + j);
        }
    }
    uint64_t w = pattern_word(seed, words);
    for (size_t j = 0; j < n % 8; j++)
        if (b[8 * words + j] != (unsigned char)(w >> (8 * j))) return (long)(8 * words + j);
    return -1;
}

/* Index of the first byte of [p, p+n) that is not `c`, or -1. */
static UNUSED long first_not(const void *p, size_t n, unsigned char c)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != c) return (long)i;
    return -1;
}

/* ------------------------------------------------------------------------
 * Memory of the process
 * ---------------------------------------------------------------------- */

/* Resident set size in bytes (from /proc/self/statm), or 0 on error. */
static UNUSED size_t rss_bytes(void)
{
    char buf[256];
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    unsigned long size, resident;
    if (sscanf(buf, "%lu %lu", &size, &resident) != 2) return 0;
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* A "VmXxx:" field of /proc/self/status in bytes, or 0 on error. */
static UNUSED size_t proc_status_bytes(const char *field)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    size_t flen = strlen(field);
    for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, field, flen) == 0 && l[flen] == ':') {
            unsigned long kb = strtoul(l + flen + 1, NULL, 10);
            return (size_t)kb * 1024;
        }
    }
    return 0;
}


/* Memory for the tests' own bookkeeping, straight from the OS so that it
 * neither disturbs nor depends on the allocator under test. */
static UNUSED void *os_alloc(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) FAILF("mmap(%zu) for test bookkeeping failed: %s", n, strerror(errno));
    return p;
}
static UNUSED void os_free(void *p, size_t n) { munmap(p, n); }

/* ------------------------------------------------------------------------
 * Children expected to die
 * ---------------------------------------------------------------------- */

/* Run fn(arg) in a child with stderr captured.  Succeeds (returns NULL) if
 * the child dies of SIGABRT and its stderr is exactly one line starting with
 * `prefix`; otherwise returns a description of what happened instead (in a
 * static buffer). */
static UNUSED const char *expect_abort(void (*fn)(void *), void *arg, const char *prefix)
{
    static char why[700];
    int fd[2];
    if (pipe(fd) < 0) return "pipe failed";
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return "fork failed";
    if (pid == 0) {
        t_enter_child();
        close(fd[0]);
        dup2(fd[1], 2);
        close(fd[1]);
        alarm(30);
        fn(arg);
        _exit(0);
    }
    close(fd[1]);
    char err[512];
    size_t len = 0;
    for (;;) {
        char tmp[256];
        ssize_t n = read(fd[0], tmp, sizeof tmp);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t i = 0; i < n && len < sizeof err - 1; i++) err[len++] = tmp[i];
    }
    err[len] = 0;
    close(fd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}

    /* qemu-user may add its own note about the guest's fatal signal. */
    if (t_qemu) {
        char *q = strstr(err, "qemu: uncaught target signal");
        if (q) {
            char *e = strchr(q, '\n');
            memmove(q, e ? e + 1 : q + strlen(q), strlen(e ? e + 1 : q + strlen(q)) + 1);
        }
    }
    char shown[200];
    size_t slen = strlen(err) < sizeof shown - 1 ? strlen(err) : sizeof shown - 1;
    memcpy(shown, err, slen);
    shown[slen] = 0;
    for (char *c = shown; *c; c++)
        if (*c == '\n') *c = '|';

    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT) {
        if (WIFEXITED(st))
            snprintf(why, sizeof why, "expected SIGABRT, child exited with status %d; stderr: \"%s\"",
                     WEXITSTATUS(st), shown);
        else
            snprintf(why, sizeof why, "expected SIGABRT, child killed by signal %d (%s); stderr: \"%s\"",
                     WTERMSIG(st), t_signame(WTERMSIG(st)), shown);
        return why;
    }
    size_t plen = strlen(prefix);
    char *nl = strchr(err, '\n');
    if (strncmp(err, prefix, plen) != 0 || !nl || nl[1] != 0) {
        snprintf(why, sizeof why, "aborted, but stderr is \"%s\", expected one line starting \"%s\"",
                 shown, prefix);
        return why;
    }
    return NULL;
}

#endif /* CAIRN_TEST_COMMON_H */
