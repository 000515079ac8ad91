/* valgrind.c -- blocks announced to memcheck, so that it reports
 * use-after-free, overruns, reads of uninitialised memory and leaks in a
 * program running on Cairn (memcheck replaces glibc's malloc, but not a
 * preloaded one).
 *
 * How: while annotating, a thread's cn_tls_heap is cn_heap_empty whenever
 * the program runs, so malloc and free always miss their fast paths and
 * reach a slow path, which sends the call here (cn_vg_route).  cn_vg_enter
 * puts the thread's real heap back and pauses memcheck's error reports --
 * the allocator reads and writes its links inside freed blocks, which
 * memcheck considers off limits -- and cn_vg_leave undoes both.  Then the
 * block is announced: MALLOCLIKE (its requested bytes addressable,
 * undefined unless zeroed) or FREELIKE (no longer addressable).  A free
 * that memcheck finds invalid is reported by memcheck, with its stack,
 * and then by Cairn's own checks, which abort as usual.
 *
 * Slow, like memcheck itself; off valgrind nothing here runs. */
#include "cairn/internal.h"

#include <errno.h>
#include <string.h>

#if CN_VALGRIND
#include <valgrind/memcheck.h>

extern char **environ;

bool cn_vg_on;
__thread int cn_vg_depth __attribute__((tls_model("initial-exec")));
static __thread cn_heap *vg_heap __attribute__((tls_model("initial-exec"))) = &cn_heap_empty;

/* Memcheck announces itself in the preload list valgrind gives its client. */
static bool under_memcheck(void) {
    if (!environ) return false;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "LD_PRELOAD=", 11) == 0 && strstr(*e, "vgpreload_memcheck")) return true;
    return false;
}

void cn_vg_init(void) {
    long mode = cn_options[CN_OPT_VALGRIND];
    cn_vg_on = RUNNING_ON_VALGRIND && (mode >= 2 || (mode == 1 && under_memcheck()));
}

void cn_vg_enter(void) {
    if (cn_vg_depth++ > 0) return;
    VALGRIND_DISABLE_ERROR_REPORTING;
    cn_tls_heap = vg_heap;
}

void cn_vg_leave(void) {
    if (--cn_vg_depth > 0) return;
    vg_heap = cn_tls_heap;
    cn_tls_heap = &cn_heap_empty;
    VALGRIND_ENABLE_ERROR_REPORTING;
}

/* Announce a new block of n requested bytes; the rest of its usable size
 * is off limits, so memcheck catches an overrun into it. */
static void *announce(void *p, size_t n, bool zero) {
    if (!p) return NULL;
    size_t usable = cn_usable_size(p, "malloc");
    VALGRIND_MALLOCLIKE_BLOCK(p, n, 0, zero);
    if (usable > n) VALGRIND_MAKE_MEM_NOACCESS((char *)p + n, usable - n);
    return p;
}

void *cn_vg_malloc(size_t n, bool zero) {
    cn_vg_enter();
    void *p = announce(cn_malloc_slow(n, zero), n, zero);
    cn_vg_leave();
    return p;
}

void *cn_vg_aligned(size_t alignment, size_t n) {
    cn_vg_enter();
    void *p = announce(cn_aligned(alignment, n), n, false);
    cn_vg_leave();
    return p;
}

void cn_vg_free(void *p) {
    if (!p) return;
    VALGRIND_FREELIKE_BLOCK(p, 0);
    cn_vg_enter();
    cn_free_slow(p);
    cn_vg_leave();
}

size_t cn_vg_usable(const void *p, const char *fn) {
    cn_vg_enter();
    size_t n = cn_usable_size(p, fn);
    cn_vg_leave();
    return n;
}

/* Always a new block: memcheck keeps the requested size of each block,
 * which an in-place resize would have to know.  The copy reads the old
 * block's whole usable size, which memcheck may consider past its end. */
void *cn_vg_realloc(void *p, size_t n) {
    if (!p) return cn_vg_malloc(n, false);
    if (n == 0) { cn_vg_free(p); return NULL; }
    size_t old = cn_vg_usable(p, "realloc");
    void *q = cn_vg_malloc(n, false);
    if (!q) return NULL;
    VALGRIND_DISABLE_ERROR_REPORTING;
    memcpy(q, p, old < n ? old : n);
    VALGRIND_ENABLE_ERROR_REPORTING;
    cn_vg_free(p);
    return q;
}

#else /* !CN_VALGRIND */
void   cn_vg_init(void) {}
void   cn_vg_enter(void) {}
void   cn_vg_leave(void) {}
void  *cn_vg_malloc(size_t n, bool zero) { return cn_malloc_slow(n, zero); }
void   cn_vg_free(void *p) { cn_free_slow(p); }
void  *cn_vg_realloc(void *p, size_t n) { return cn_realloc(p, n); }
void  *cn_vg_aligned(size_t alignment, size_t n) { return cn_aligned(alignment, n); }
size_t cn_vg_usable(const void *p, const char *fn) { return cn_usable_size(p, fn); }
#endif
