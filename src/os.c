/* os.c -- everything Cairn asks of the operating system (Linux).
 * Nothing here allocates; errno is preserved where callers may care. */
#define _GNU_SOURCE
#include "cairn/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The statistics count what the OS refused (and why, the last time). */
static void map_refused(void) {
    atomic_store_explicit(&cn_count.map_errno, errno, memory_order_relaxed);
    atomic_fetch_add_explicit(&cn_count.map_refused, 1, memory_order_relaxed);
}

void *cn_os_map(size_t size) {
    int e = errno;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) map_refused();
    errno = e;
    return p == MAP_FAILED ? NULL : p;
}

void *cn_os_map_at(void *hint, size_t size) {
    int e = errno;
#ifdef MAP_FIXED_NOREPLACE
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE;
#else
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
#endif
    void *p = mmap(hint, size, PROT_READ | PROT_WRITE, flags, -1, 0);
    errno = e;
    if (p == MAP_FAILED) return NULL;
    if (p != hint) { munmap(p, size); return NULL; }   /* an old kernel took it as a hint */
    return p;
}

void cn_os_unmap(void *p, size_t size) {
    int e = errno;
    munmap(p, size);
    errno = e;
}

void cn_os_purge(void *p, size_t size) {
    int e = errno;
    madvise(p, size, MADV_DONTNEED);
    errno = e;
}

/* Move the pages of [from, from+size) to `to`, replacing what was mapped
 * there: page tables move, no data is copied.  Fails (old kernels) when the
 * range spans several mappings. */
bool cn_os_move(void *from, size_t size, void *to) {
    int e = errno;
    void *q = mremap(from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
    errno = e;
    return q == to;
}

/* mremap; a range spanning several mappings (a huge block assembled from
 * cached ones), which mremap cannot resize, goes to fresh space, moved
 * there by mremap or, on a kernel older than 6.17 (which moves one mapping
 * at a time), copied (always without CN_OS_MOVES). */
void *cn_os_grow(void *p, size_t old_size, size_t new_size) {
    int e = errno;
    void *q = mremap(p, old_size, new_size, MREMAP_MAYMOVE);
    if (q == MAP_FAILED && errno == EFAULT && (q = cn_os_map(new_size)) != NULL) {
        if (!CN_OS_MOVES || !cn_os_move(p, old_size, q)) {
            memcpy(q, p, old_size);
            munmap(p, old_size);
        }
    } else if (q == MAP_FAILED) {
        map_refused();
        q = NULL;
    }
    errno = e;
    return q;
}

/* A hint: where the kernel allows it (THP "madvise" or "always"), the range
 * is backed by 2 MiB pages, so touching it for the first time costs one
 * fault per 2 MiB instead of one per 4 KiB.  Off again (on a range being
 * purged), the kernel no longer collapses what is left into huge pages. */
void cn_os_huge_pages(void *p, size_t size, bool on) {
#ifdef MADV_HUGEPAGE
    int e = errno;
    madvise(p, size, on ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    errno = e;
#else
    (void)p; (void)size; (void)on;
#endif
}

/* Are huge pages worth it here?  Measured, not assumed.  A 2 MiB page's
 * first touch zeroes 2 MiB at once: a gain where 4 KiB faults are dear (one
 * fault instead of 512), a loss where the memory behind it is fresh to the
 * host -- a VM whose host takes freed guest memory back (we measured 0.2 ms
 * for a huge page the host still backed, 6 ms for a fresh one, 1 us for a
 * 4 KiB fault).  The first touch of a new huge mapping is timed against a
 * 4 KiB fault (the fastest of 8, timed once); costing more than 1/8 of the
 * 512 small faults it replaces (CN_THP_MARGIN: the first page is the one
 * most likely to be warm), it makes new mappings stop asking, but for one
 * in 16, which measures again. */
static _Atomic uint32_t thp_dear;          /* the last probe found them dear */
static _Atomic uint32_t thp_turn;
static _Atomic uint64_t small_fault_ns;    /* 0: not measured yet */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t small_fault(void) {
    uint64_t v = atomic_load_explicit(&small_fault_ns, memory_order_relaxed);
    if (v) return v;
    size_t ps = cn_os_page_size(), n = 16 * ps;
    char *p = cn_os_map(n);
    if (!p) return 0;
    cn_os_huge_pages(p, n, false);
    uint64_t best = UINT64_MAX;
    for (size_t i = 0; i < 8; i++) {
        uint64_t t = now_ns();
        ((volatile char *)p)[2 * i * ps] = 1;
        t = now_ns() - t;
        if (t < best) best = t;
    }
    cn_os_unmap(p, n);
    best = best ? best : 1;
    atomic_store_explicit(&small_fault_ns, best, memory_order_relaxed);
    return best;
}

bool cn_os_thp_verdict(uint64_t huge_ns, uint64_t small_ns) {
    return huge_ns * CN_THP_MARGIN <= small_ns * (CN_THP_SIZE / 4096);
}

bool cn_os_thp_try(void) {
    if (!atomic_load_explicit(&thp_dear, memory_order_relaxed)) return true;
    return atomic_fetch_add_explicit(&thp_turn, 1, memory_order_relaxed) % 16 == 15;
}

bool cn_os_thp_dear(void) { return atomic_load_explicit(&thp_dear, memory_order_relaxed); }

bool cn_os_thp_probe(void *page) {
    uint64_t small = small_fault();
    uint64_t t = now_ns();
    *(volatile char *)page = 0;              /* fresh memory: it reads 0 anyway */
    t = now_ns() - t;
    bool pays = !small || cn_os_thp_verdict(t, small);
    atomic_store_explicit(&thp_dear, !pays, memory_order_relaxed);
    return pays;
}

bool cn_os_thp_always(void) {
    static _Atomic int mode;                 /* 0: not read yet, 1: other, 2: always */
    int m = atomic_load_explicit(&mode, memory_order_relaxed);
    if (!m) {
        int e = errno;
        char buf[64];
        ssize_t n = -1;
        int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            n = read(fd, buf, sizeof buf - 1);
            close(fd);
        }
        buf[n > 0 ? n : 0] = 0;
        m = strstr(buf, "[always]") ? 2 : 1;
        atomic_store_explicit(&mode, m, memory_order_relaxed);
        errno = e;
    }
    return m == 2;
}

uint64_t cn_os_random(void) {
    static _Atomic uint64_t counter;
    uint64_t r = 0;
    int e = errno;
    if (syscall(SYS_getrandom, &r, sizeof r, 1 /* GRND_NONBLOCK */) != (long)sizeof r) {
        const uint64_t *at = (const uint64_t *)getauxval(AT_RANDOM);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        r = (at ? at[0] : 0) ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)(uintptr_t)&r;
    }
    errno = e;
    r ^= atomic_fetch_add_explicit(&counter, 0x9e3779b97f4a7c15ull, memory_order_relaxed);
    return r;
}

uint64_t cn_os_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

size_t cn_os_page_size(void) {
    static size_t ps;          /* threads may race to set it, to the same value */
    size_t n = __atomic_load_n(&ps, __ATOMIC_RELAXED);
    if (!n) {
        long v = sysconf(_SC_PAGESIZE);
        n = v > 0 ? (size_t)v : 4096;
        __atomic_store_n(&ps, n, __ATOMIC_RELAXED);
    }
    return n;
}

void cn_os_write(int fd, const char *s, size_t n) {
    int e = errno;
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR) continue;
            break;
        }
        s += w;
        n -= (size_t)w;
    }
    errno = e;
}

/* A lock's critical sections are a few hundred instructions: wait that
 * long on the CPU before asking the kernel to put us to sleep (0 = free,
 * 1 = held, 2 = held and someone may sleep on it). */
void cn_lock_contended(cn_lock *l) {
    for (int i = 0; i < 200; i++) {
#if defined(__x86_64__) || defined(__i386__)
        __asm__ volatile("pause");
#endif
        int c = 0;
        if (atomic_load_explicit(&l->v, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&l->v, &c, 1, memory_order_acquire, memory_order_relaxed))
            return;
    }
    int c = atomic_exchange_explicit(&l->v, 2, memory_order_acquire);
    while (c != 0) {
        cn_os_futex_wait(&l->v, 2);
        c = atomic_exchange_explicit(&l->v, 2, memory_order_acquire);
    }
}

void cn_os_futex_wait(_Atomic int *addr, int val) {
    int e = errno;
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
    errno = e;
}

void cn_os_futex_wake(_Atomic int *addr) {
    int e = errno;
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    errno = e;
}
