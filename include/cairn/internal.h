/* cairn/internal.h -- what Cairn's modules share: globals, the pointer
 * arithmetic that finds a block's page, and each module's entry points.
 *
 * Layers (each file uses only the ones above it in this list):
 *   os.c        the operating system: mmap, madvise, futex, time, random
 *   output.c    messages to stderr without allocating; fatal errors
 *   options.c   tunables read once from the environment
 *   segment.c   segments, the segment map and the global page pool
 *   huge.c      blocks mapped on their own
 *   page.c      slabs: carving blocks, per-heap page queues
 *   heap.c      thread heaps: creation, remote frees, idle heaps, thread exit, fork
 *   alloc.c     malloc & co., the fast path first
 *   free.c      free, misuse detection
 *   init.c      lazy process-wide initialisation
 *   stats.c     statistics, mallopt, CAIRN_STATS (reads every module above)
 *   override.c  the libc names
 */
#ifndef CAIRN_INTERNAL_H
#define CAIRN_INTERNAL_H

#include "cairn.h"
#include "cairn/types.h"
#include <stdbool.h>
#include <string.h>

/* Nothing declared here is exported from the shared library. */
#pragma GCC visibility push(hidden)

#define cn_likely(x)   __builtin_expect(!!(x), 1)
#define cn_unlikely(x) __builtin_expect(!!(x), 0)
#define cn_noinline    __attribute__((noinline))
#define cn_cold        __attribute__((cold, noinline))
#define cn_hidden      __attribute__((visibility("hidden")))
#define cn_export      __attribute__((visibility("default")))

/* Bytes from address a up to the next multiple of align (a power of two).
 * Never (a + align - 1) & -align: near the top of a 32-bit address space
 * that sum wraps around to a small address. */
static inline size_t cn_align_gap(uintptr_t a, size_t align) {
    return (size_t)(-a & (align - 1));
}

#define CN_STR_(x) #x
#define CN_STR(x)  CN_STR_(x)
#define CN_VERSION_STRING CN_STR(CAIRN_VERSION_MAJOR) "." CN_STR(CAIRN_VERSION_MINOR) "." CN_STR(CAIRN_VERSION_PATCH)

/* ---------------------------------------------------------------------------
 * os.c
 * ------------------------------------------------------------------------- */
void    *cn_os_map(size_t size);                       /* NULL on failure */
void    *cn_os_map_at(void *hint, size_t size);        /* exactly at hint, or NULL */
void     cn_os_unmap(void *p, size_t size);
void     cn_os_purge(void *p, size_t size);            /* drop contents, keep mapping */
void    *cn_os_grow(void *p, size_t old_size, size_t new_size); /* mremap, may move */
bool     cn_os_move(void *from, size_t size, void *to);  /* mremap onto [to, to+size) */
/* Whether cn_os_move is used: not in 32-bit builds, whose tests run under
 * qemu-i386, which loses track of pages moved onto a mapping (they fault
 * when read).  cn_os_grow then copies instead. */
#define CN_OS_MOVES (UINTPTR_MAX > 0xffffffffu)
void     cn_os_huge_pages(void *p, size_t size, bool on); /* transparent huge pages or not */
/* Whether to ask for huge pages now (false while probes find them dear,
 * but for one call in 16); time the first touch of `page` (2 MiB-aligned,
 * fresh, just given MADV_HUGEPAGE): true if they pay; whether the last
 * probe found them dear. */
bool     cn_os_thp_try(void);
bool     cn_os_thp_probe(void *page);
bool     cn_os_thp_dear(void);
/* Whether a huge page whose first touch took huge_ns pays, against 4 KiB
 * faults of small_ns. */
bool     cn_os_thp_verdict(uint64_t huge_ns, uint64_t small_ns);
/* Whether the system's THP mode is "always": the kernel then backs any
 * 2 MiB-aligned part of an anonymous mapping with a huge page unasked
 * (read once from sysfs). */
bool     cn_os_thp_always(void);
#define CN_THP_SIZE ((size_t)2 << 20)                  /* x86's transparent huge page   */
uint64_t cn_os_random(void);
uint64_t cn_os_now_ms(void);
size_t   cn_os_page_size(void);
void     cn_os_write(int fd, const char *s, size_t n);
void     cn_os_futex_wait(_Atomic int *addr, int val);
void     cn_os_futex_wake(_Atomic int *addr);

void cn_lock_contended(cn_lock *l);      /* os.c: spin a little, then sleep */
static inline void cn_lock_acquire(cn_lock *l) {
    int c = 0;
    if (cn_likely(atomic_compare_exchange_strong_explicit(&l->v, &c, 1, memory_order_acquire,
                                                          memory_order_relaxed)))
        return;
    cn_lock_contended(l);
}
static inline bool cn_lock_try(cn_lock *l) {
    int c = 0;
    return atomic_compare_exchange_strong_explicit(&l->v, &c, 1, memory_order_acquire, memory_order_relaxed);
}
static inline void cn_lock_release(cn_lock *l) {
    if (atomic_exchange_explicit(&l->v, 0, memory_order_release) == 2) cn_os_futex_wake(&l->v);
}
static inline void cn_lock_reset(cn_lock *l) { atomic_store_explicit(&l->v, 0, memory_order_relaxed); }

/* ---------------------------------------------------------------------------
 * output.c
 * ------------------------------------------------------------------------- */
/* Print "cairn: FN(): WHAT (0xP)" on stderr and abort. */
_Noreturn void cn_fatal(const char *fn, const char *what, const void *p) cn_cold;
/* A tiny formatter: %s %d %u %zu %x %p and %%; writes to stderr. */
void cn_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
size_t cn_format(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------------------
 * options.c
 * ------------------------------------------------------------------------- */
typedef enum cn_option_id {
    CN_OPT_PURGE_DELAY_MS,    /* free pages are purged this long after they empty */
    CN_OPT_PURGE_MAX_DIRTY,   /* ...or at once when more than this many bytes wait */
    CN_OPT_HUGE_THRESHOLD,    /* blocks above this are mapped on their own         */
    CN_OPT_HUGE_CACHE,        /* bytes of freed huge mappings kept for reuse       */
    CN_OPT_THP,               /* huge pages: 0 never, 1 huge blocks, 2-3 also segments */
    CN_OPT_STATS,             /* text: "1" or "json:PATH"; the number is its mode  */
    CN_OPT_VERBOSE,
    CN_OPT_VALGRIND,          /* 0 never, 1 under memcheck, 2 under any tool       */
    CN_OPT_COUNT
} cn_option_id;
extern long cn_options[CN_OPT_COUNT];
void cn_options_init(void);
/* The environment variable of an option, and the text of a text option
 * (NULL when unset or not a text option). */
const char *cn_option_name(cn_option_id id);
const char *cn_option_text(cn_option_id id);

/* ---------------------------------------------------------------------------
 * Size classes (alloc.c computes them at init)
 * ------------------------------------------------------------------------- */
typedef struct cn_class {
    uint32_t size;        /* block size                        */
    uint16_t npages;      /* pages per slab                    */
    uint16_t capacity;    /* blocks per slab                   */
    uint32_t div_inv;     /* for cn_block_index()              */
    uint8_t  div_shift;
    uint32_t start_mul;   /* for cn_block_start()              */
    uint32_t start_lim;
} cn_class;
extern cn_class cn_classes[CN_NCLASS];
extern uint8_t  cn_class_of_small[CN_FAST_MAX + 1];   /* by byte: no rounding on the fast path */
void cn_classes_init(void);

/* The class of n bytes: 16-byte steps to 128, then 4 per power of two. */
static inline unsigned cn_size_class_calc(size_t n) {
    if (n <= 128) return n ? (unsigned)((n - 1) / 16) : 0;
    size_t m = n - 1;                               /* n in (2^b, 2^(b+1)] */
    unsigned b = (unsigned)(8 * sizeof(size_t) - 1 - __builtin_clzl(m));
    return 8 + (b - 7) * 4 + (unsigned)(m >> (b - 2)) - 4;
}
static inline unsigned cn_size_class(size_t n) {
    if (cn_likely(n <= CN_FAST_MAX)) return cn_class_of_small[n];
    return cn_size_class_calc(n);
}

/* Built under ThreadSanitizer (which must see every racy access as atomic). */
#if defined(__SANITIZE_THREAD__)
#define CN_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CN_TSAN 1
#endif
#endif
#ifndef CN_TSAN
#define CN_TSAN 0
#endif

/* ---------------------------------------------------------------------------
 * Pointer -> segment -> page
 * ------------------------------------------------------------------------- */
/* Per 4 MiB window of the address space: 0 if none of our segments is
 * there, else where the descriptors of its mapped pages end (npages *
 * sizeof(cn_page)).  So "p is in a mapped page of ours" is one compare of
 * p's descriptor offset, and a pointer in the unmapped rest of a short
 * segment's window -- a huge block may live there -- never makes us read
 * descriptors that another thread may be unmapping. */
extern uint16_t cn_segmap[CN_SEGMAP_BITS];

static inline size_t cn_desc_offset(uintptr_t a) {
    return ((a >> CN_PAGE_SHIFT) & (CN_SEG_PAGES - 1)) * sizeof(cn_page);
}
static inline bool cn_in_segment(uintptr_t a) {
    uintptr_t w = a >> CN_SEG_SHIFT;
#if UINTPTR_MAX > 0xffffffffu
    if (cn_unlikely(w >= CN_SEGMAP_BITS)) return false;
#endif
    return (uint16_t)cn_desc_offset(a) < __atomic_load_n(&cn_segmap[w], __ATOMIC_ACQUIRE);
}
/* a's segment map entry, for free's fast path, one instruction shorter than
 * cn_in_segment: the window index is masked instead of range-checked.  A pointer above the 47-bit user
 * address space (never ours, never a program's on a 4-level page table)
 * may then alias a window of ours; the fast path reads its descriptor at
 * the unaliased address, which is not mapped (a fault, not a wrong free)
 * or is not a page of this thread's, and the slow path's exact check
 * rejects it. */
static inline uint16_t cn_segmap_fast(uintptr_t a) {
    uint16_t *e = &cn_segmap[(a >> CN_SEG_SHIFT) & (CN_SEGMAP_BITS - 1)];
    /* A thread may be mapping or unmapping a segment in a's window (a short
     * segment leaves room for a huge block there), so this load races with
     * segmap_set's store.  An aligned 16-bit load is atomic on x86 and loads
     * are not reordered with later loads, so a plain load, which gcc folds
     * into the compare (one instruction fewer), sees the old or the new
     * entry, as an acquire load would; under ThreadSanitizer it is one. */
#if CN_TSAN
    return __atomic_load_n(e, __ATOMIC_ACQUIRE);
#else
    return *e;
#endif
}
/* The page's owner takes n blocks off its count once they are on the page's
 * free list; returns the new count.  The owner is the count's only writer,
 * and the store is a release: a thread giving back an idle heap's full
 * pages reads the count with acquire (reclaim, heap.c), so when it sees the
 * owner's own free of a page's last block it also sees that block's
 * free-list write, before the page goes to another thread.  (On x86 both
 * are plain moves.) */
static inline int16_t cn_used_sub(cn_page *pg, uint16_t n) {
    uint16_t u = (uint16_t)(pg->used - n);
    __atomic_store_n(&pg->used, u, __ATOMIC_RELEASE);
    return (int16_t)u;
}
static inline cn_segment *cn_segment_of(uintptr_t a) {
    return (cn_segment *)(a & ~(CN_SEG_SIZE - 1));
}
static inline cn_page *cn_page_of(uintptr_t a) {
    return (cn_page *)((uintptr_t)cn_segment_of(a) + cn_desc_offset(a));
}
/* The first page of the slab that pg belongs to (pg itself, or a tail). */
static inline cn_page *cn_slab_first(cn_page *pg) {
    return pg->kind == CN_KIND_SLAB_TAIL ? pg - pg->back : pg;
}
static inline uintptr_t cn_page_addr(const cn_page *pg) {
    uintptr_t seg = (uintptr_t)pg & ~(CN_SEG_SIZE - 1);
    return seg + (((uintptr_t)pg - seg) / sizeof(cn_page)) * CN_PAGE_SIZE;
}
static inline cn_segment *cn_segment_of_page(const cn_page *pg) { return cn_segment_of((uintptr_t)pg); }
/* Blocks that fit in a slab: its class's. */
static inline uint32_t cn_page_capacity(const cn_page *pg) { return cn_classes[pg->cls].capacity; }
static inline size_t cn_page_index(const cn_page *pg) {
    return (size_t)(pg - cn_segment_of_page(pg)->pages);
}

/* The index of the block that starts at byte `off` of a slab, or a value
 * >= capacity if no block starts there.  Blocks are size = odd << shift; an
 * offset is a multiple of it iff rotr(off * odd^-1, shift) <= 2^32/size, and
 * then that is the quotient (Hacker's Delight, 10-17). */
static inline uint32_t cn_block_index(const cn_page *pg, uint32_t off) {
    const cn_class *c = &cn_classes[pg->cls];
    uint32_t x = off * c->div_inv;
    unsigned s = c->div_shift;
    return (x >> s) | (x << ((32 - s) & 31));
}

/* Free's fast test that a, an address in the first page of slab pg, is
 * where one of its blocks starts: one multiply and one compare.  With
 * M = floor(2^32 / size) + 1 and E = M * size - 2^32 (0 < E <= size), the
 * offset q * size + r (below a page, 64 KiB) times M is q * E + r * M mod
 * 2^32: under n * E when r = 0 and q < n, at least M > 2^16 otherwise.  So
 * with n the number of blocks starting in the page, "off * M < n * E" is
 * the test, exact while n * E < M (blocks up to about half a page).  For
 * larger blocks M = 2^16 and the limit is 1: only offset 0 passes, and a
 * page's other block start, if any, goes to the slow path's exact test.
 * (alloc.c computes M and the limit; tests/static checks every offset.) */
static inline bool cn_block_start(const cn_page *pg, uintptr_t a) {
    return (uint32_t)((uint32_t)(a & (CN_PAGE_SIZE - 1)) * pg->start_mul) < pg->start_lim;
}

/* ---------------------------------------------------------------------------
 * segment.c -- the page pool
 * ------------------------------------------------------------------------- */
extern cn_lock cn_pool_lock;
/* A span of n pages, marked as `kind` (SLAB or LARGE) with its tail pages;
 * returns its first descriptor.  *zero tells whether its memory is known to
 * be zero. */
cn_page *cn_span_alloc(size_t npages, cn_kind kind, bool *zero);
/* The same, starting on a multiple of align_pages pages. */
cn_page *cn_span_alloc_aligned(size_t npages, size_t align_pages, cn_kind kind, bool *zero);
/* Give a span (first descriptor, npages set) back to the pool. */
void     cn_span_free(cn_page *first);
/* Shrink a large span in place to npages; the tail goes back to the pool. */
void     cn_span_shrink(cn_page *first, size_t npages);
/* Grow a large span in place if the pages after it are free. */
bool     cn_span_grow(cn_page *first, size_t npages);
/* Purge free pages: those expired, or all of them if `all`.  Returns bytes. */
size_t   cn_pool_purge(bool all);
void     cn_pool_expire(void);   /* purge what waited past the purge delay */
size_t   cn_pool_dirty_pages(void);   /* freed pages not purged (unlocked hint) */
/* Release what caches keep (spare segments) -- used when the OS says no. */
bool     cn_pool_release_cached(void);
/* Pool figures, and a visit of every span (first descriptor) for stats. */
typedef struct cn_pool_info {
    size_t segments, peak_segments;
    size_t mapped;          /* bytes of segments mapped           */
    size_t peak_mapped;     /* the most bytes of segments mapped at once */
    size_t dirty;           /* free pages not yet returned         */
    size_t purged;          /* bytes returned to the OS so far     */
} cn_pool_info;
void     cn_pool_walk(cn_pool_info *info, void (*visit)(void *arg, const cn_page *first), void *arg);

/* ---------------------------------------------------------------------------
 * huge.c
 * ------------------------------------------------------------------------- */
void  *cn_huge_alloc(size_t size, size_t alignment, bool zero);
/* If p is a live huge block: its usable size (else 0). */
size_t cn_huge_usable(const void *p);
/* Free p if it is a huge block. */
typedef enum { CN_HUGE_NOT_OURS, CN_HUGE_FREED, CN_HUGE_ALREADY_FREED } cn_huge_status;
cn_huge_status cn_huge_free(void *p);
void  *cn_huge_realloc(void *p, size_t size);       /* p must be huge; resizes to size */
size_t cn_huge_release_cache(void);
void   cn_huge_cache_yield(size_t bytes);  /* unmap that much of the cache, oldest first */
void   cn_huge_expire(void);   /* unmap cached mappings past the purge delay */
void   cn_huge_fork_prepare(void);
void   cn_huge_fork_parent(void);
void   cn_huge_fork_child(void);

/* ---------------------------------------------------------------------------
 * page.c -- slabs
 * ------------------------------------------------------------------------- */
extern cn_page cn_page_empty;
void  cn_page_list_push(cn_page_list *l, cn_page *pg);      /* at the front */
void  cn_page_list_append(cn_page_list *l, cn_page *pg);    /* at the end   */
void  cn_page_list_remove(cn_page_list *l, cn_page *pg);
/* Find or make a page of class cls with a free block; NULL when out of memory. */
cn_page *cn_heap_find_page(cn_heap *h, unsigned cls);
/* Flag a slab with no free block as full (it then goes in a full list). */
static inline void cn_page_mark_full(cn_page *pg) {
    pg->flags |= CN_PF_FULL;
    pg->used += CN_USED_FULL;
}
/* A local free noticed that the page was full or is now empty. */
void  cn_page_after_free(cn_heap *h, cn_page *pg);
/* Stop allocating from any page (before the heap is abandoned). */
void  cn_heap_unpin_all(cn_heap *h);
/* Give back the empty pages h keeps (when the OS is short of memory). */
bool  cn_heap_release_empty(cn_heap *h);
/* Give back h's kept lists; true if there was any page. */
bool  cn_heap_release_kept(cn_heap *h);
/* Give back the spare empty slabs shared by all threads; true if any. */
bool  cn_spares_release(void);

/* ---------------------------------------------------------------------------
 * heap.c
 * ------------------------------------------------------------------------- */
extern __thread cn_front cn_tls __attribute__((tls_model("initial-exec")));
#define cn_tls_heap (cn_tls.heap)  /* the calling thread's heap */
extern cn_heap cn_heap_empty;
extern cn_heap cn_orphans;          /* pages of exited threads, and spare empty
                                       slabs (its kept lists), under cn_orphan_lock */
extern cn_lock cn_orphan_lock;
/* The calling thread's heap, created on first use (NULL if out of memory). */
cn_heap *cn_heap_get(void);
/* Free block b of slab pg (its first page) for owner, another heap: onto
 * owner's remote list, gathered in runs per slab and batched per owner. */
void   cn_heap_remote_free(cn_heap *owner, cn_page *pg, cn_block *b);
/* Push the calling thread's runs and batch of remote frees now. */
void   cn_remote_flush(void);
/* Look again at an idle heap a look was put off for (see heap.c). */
void   cn_heap_idle_check(void);
/* The heap of a thread that has none yet as it frees a block of another
 * heap's: made now for a thread that only frees (so that its remote frees
 * are batched, and pushed when it exits), unless the thread is exiting
 * (or memory is short: then cn_heap_empty, and each block is pushed alone). */
cn_heap *cn_heap_freeing(void);
/* Take the blocks other threads freed for h and free them locally. */
void   cn_heap_drain(cn_heap *h);
/* Free block b (tag already set) of slab pg (its first page) on whichever
 * heap now owns the page. */
void   cn_free_to_owner(cn_heap *h, cn_page *pg, cn_block *b);
void   cn_heaps_init(void);
/* Local free of block b on page pg owned by h (no checks). */
void   cn_free_local(cn_heap *h, cn_page *pg, cn_block *b);
/* h's allocation counts per class (for statistics). */
void   cn_heap_allocs(const cn_heap *h, uint64_t out[CN_NCLASS]);
/* Take a page of class cls from the exited threads' pages, or NULL. */
cn_page *cn_orphan_adopt(cn_heap *h, unsigned cls);
void   cn_heap_fork_prepare(void);
void   cn_heap_fork_parent(void);
void   cn_heap_fork_child(void);
void   cn_heaps_collect_dead(void);
uint64_t cn_heap_next_key(cn_heap *h);

/* ---------------------------------------------------------------------------
 * alloc.c / free.c
 * ------------------------------------------------------------------------- */
void  *cn_malloc(size_t n);
void  *cn_malloc_slow(size_t n, bool zero);
void  *cn_malloc_refill(size_t n);             /* n <= CN_FAST_MAX, page used up */
void   cn_free_slow(void *p);
void  *cn_calloc(size_t count, size_t size);
void  *cn_realloc(void *p, size_t n);
void  *cn_reallocarray(void *p, size_t count, size_t size);
void  *cn_aligned(size_t alignment, size_t n);   /* alignment: a power of two */
int    cn_posix_memalign(void **out, size_t alignment, size_t n);
void  *cn_aligned_alloc(size_t alignment, size_t n);
void  *cn_memalign(size_t alignment, size_t n);
void  *cn_valloc(size_t n);
void  *cn_pvalloc(size_t n);
size_t cn_usable_size(const void *p, const char *fn);
void   cn_free(void *p);
void   cn_free_sized(void *p, size_t n, size_t align, const char *fn); /* align: 1 if none */
int    cn_trim(size_t pad);
/* Classify p, a live block of ours, for realloc / usable_size, and give
 * its usable size; anything else aborts with fn's name. */
typedef enum { CN_PTR_SLAB, CN_PTR_LARGE, CN_PTR_HUGE } cn_ptr_kind;
cn_ptr_kind cn_check_live(const void *p, const char *fn, cn_page **pg_out, size_t *usable);

/* ---------------------------------------------------------------------------
 * Counters of the slow kinds of block (stats); small blocks are counted per
 * heap and class (cn_heap.allocs) and per page (used).
 * ------------------------------------------------------------------------- */
typedef struct cn_counters {
    _Atomic uint64_t large_allocs, large_frees;
    _Atomic uint64_t huge_allocs, huge_frees;
    _Atomic uint64_t huge_bytes, huge_peak;     /* mapped by live huge blocks */
    _Atomic uint64_t map_refused;               /* mmap calls that failed     */
    _Atomic int      map_errno;                 /* the last one's errno       */
    _Atomic uint64_t thp_segments, thp_blocks;  /* mappings given MADV_HUGEPAGE */
    _Atomic uint64_t thp_probes, thp_dear;      /* first touches timed; found dear */
    _Atomic uint64_t reclaimed_pages;           /* idle heaps' full pages given back */
} cn_counters;
extern cn_counters cn_count;
static inline void cn_count_add(_Atomic uint64_t *c, uint64_t n) {
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ---------------------------------------------------------------------------
 * Statistics (stats.c) and the accessors it uses in heap.c and huge.c
 * ------------------------------------------------------------------------- */
/* heap.c: every heap ever made, newest first, into out[0..max); returns how
 * many there are (may be more than max). */
size_t cn_heaps_list(cn_heap **out, size_t max);
/* huge.c: the number of live huge blocks; *cache_bytes (if not NULL) gets
 * the bytes of freed mappings kept for reuse. */
size_t cn_huge_live(size_t *cache_bytes);
/* stats.c: what CAIRN_STATS asks for (called by options.c at start):
 * CN_STATS_OFF, CN_STATS_TEXT, CN_STATS_JSON, or -1 if the text is invalid. */
enum { CN_STATS_OFF, CN_STATS_TEXT, CN_STATS_JSON };
int cn_stats_configure(const char *value);

/* ---------------------------------------------------------------------------
 * valgrind.c -- memcheck annotations.  While they are on, a thread's
 * cn_tls_heap stays cn_heap_empty outside the allocator, so every call
 * misses the fast paths and reaches a slow path, which hands it to
 * cn_vg_*: those run the allocator with memcheck's error reports paused
 * (cn_vg_enter/leave swap the real heap in and out) and then announce the
 * block.  The check costs nothing to a thread that has a heap.
 * ------------------------------------------------------------------------- */
#if CN_VALGRIND
extern bool cn_vg_on;                /* annotating (set by cn_init) */
extern __thread int cn_vg_depth __attribute__((tls_model("initial-exec")));
#else
#define cn_vg_on false
#endif
void   cn_vg_init(void);
void   cn_vg_enter(void);
void   cn_vg_leave(void);
void  *cn_vg_malloc(size_t n, bool zero);
void   cn_vg_free(void *p);
void  *cn_vg_realloc(void *p, size_t n);
void  *cn_vg_aligned(size_t alignment, size_t n);
size_t cn_vg_usable(const void *p, const char *fn);

/* ---------------------------------------------------------------------------
 * init.c
 * ------------------------------------------------------------------------- */
extern _Atomic int cn_initialized;
void cn_init(void);

/* Whether this call must go to valgrind.c: only a thread without a heap
 * can be annotating, so a thread that has one pays a compare. */
static inline bool cn_vg_route(void) {
#if CN_VALGRIND
    if (cn_likely(cn_tls_heap != &cn_heap_empty)) return false;
    cn_init();
    return cn_unlikely(cn_vg_on) && cn_vg_depth == 0;
#else
    return false;
#endif
}

#pragma GCC visibility pop
#endif /* CAIRN_INTERNAL_H */
