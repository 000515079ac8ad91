/* alloc.c -- malloc and its relatives.  The fast path comes first: a table
 * maps the size to a class, the heap's current page of that class pops a
 * block from its free list (cairn/fastpath.h).  Here is everything else. */
#include "cairn/fastpath.h"

#include <errno.h>

cn_class cn_classes[CN_NCLASS];
cn_counters cn_count;
uint8_t  cn_class_of_small[CN_FAST_MAX + 1];

void *cn_malloc(size_t n) { return cn_malloc_fast(n); }

/* ---------------------------------------------------------------------------
 * Size classes
 * ------------------------------------------------------------------------- */
static size_t class_size(unsigned cls) {
    if (cls < 8) return (cls + 1) * 16;
    unsigned g = (cls - 8) / 4, r = (cls - 8) % 4;
    return ((size_t)32 << g) * (5 + r);
}

void cn_classes_init(void) {
    for (unsigned cls = 0; cls < CN_NCLASS; cls++) {
        cn_class *c = &cn_classes[cls];
        size_t size = class_size(cls), np;
        /* The smallest slab with at most 1/8 left over (so at least one
         * block): big classes get slabs of a few blocks, one from 56 KiB
         * up, which go back to the pool for any size once emptied (at least
         * 4 blocks a slab kept freed ones resident for their class alone:
         * mstress 3-11% fatter; bench/README). */
        for (np = 1; np < CN_SEG_PAGES / 2; np++) {
            size_t span = np * CN_PAGE_SIZE;
            if ((span % size) * 8 <= span) break;
        }
        size_t cap = np * CN_PAGE_SIZE / size;
        unsigned shift = (unsigned)__builtin_ctzl(size);
        uint32_t odd = (uint32_t)(size >> shift), inv = odd;      /* Newton: odd^-1 mod 2^32 */
        for (int i = 0; i < 5; i++) inv *= 2 - odd * inv;
        c->size = (uint32_t)size;
        c->npages = (uint16_t)np;
        c->capacity = (uint16_t)(cap > 0xffff ? 0xffff : cap);
        c->div_inv = inv;
        c->div_shift = (uint8_t)shift;
        /* See cn_block_start(): exact while the limit stays below M (blocks
         * up to about half a page); past that only offset 0 passes, and the
         * page's other starts take the slow path's exact test. */
        uint64_t m = ((uint64_t)1 << 32) / size + 1, e = m * size - ((uint64_t)1 << 32);
        size_t starts = (CN_PAGE_SIZE + size - 1) / size;
        if (starts > c->capacity) starts = c->capacity;
        if (size <= CN_PAGE_SIZE && starts * e < m) {
            c->start_mul = (uint32_t)m;
            c->start_lim = (uint32_t)(starts * e);
        } else {
            c->start_mul = (uint32_t)1 << (32 - CN_PAGE_SHIFT);
            c->start_lim = 1;
        }
    }
    for (size_t n = 0; n <= CN_FAST_MAX; n++) cn_class_of_small[n] = (uint8_t)cn_size_class_calc(n);
}

/* ---------------------------------------------------------------------------
 * Slow paths
 * ------------------------------------------------------------------------- */
static void *oom(void) {
    errno = ENOMEM;
    return NULL;
}

/* The current page of class cls is used up: pop from the next one. */
static void *next_page_pop(cn_heap *h, unsigned cls) {
    cn_page *pg = cn_heap_find_page(h, cls);         /* becomes the current page */
    return pg ? cn_page_pop(pg, pg->free) : NULL;
}

static inline void *slab_alloc(cn_heap *h, unsigned cls) {
    void *p = cn_bin_pop(h, cls);
    return cn_likely(p != NULL) ? p : next_page_pop(h, cls);
}

/* A block of whole pages, aligned to `align_pages` pages. */
static void *large_alloc(size_t n, size_t align_pages, bool zero) {
    size_t np = (n + CN_PAGE_SIZE - 1) / CN_PAGE_SIZE;
    bool is_zero;
    cn_page *pg = cn_span_alloc_aligned(np, align_pages, CN_KIND_LARGE, &is_zero);
    if (!pg) return NULL;
    atomic_store_explicit(&pg->owner, NULL, memory_order_relaxed);
    pg->flags = is_zero ? CN_PF_ZERO : 0;
    cn_count_add(&cn_count.large_allocs, 1);
    void *p = (void *)cn_page_addr(pg);
    if (zero && !is_zero) memset(p, 0, n);
    return p;
}

static void *alloc_any(cn_heap *h, size_t n, bool zero) {
    void *p = NULL;
    if (n <= CN_SMALL_MAX) {
        p = slab_alloc(h, cn_size_class(n));
        if (p && zero) memset(p, 0, n);
    } else if (n <= (size_t)cn_options[CN_OPT_HUGE_THRESHOLD]) {
        p = large_alloc(n, 1, zero);
    } else if (n <= PTRDIFF_MAX) {
        return cn_huge_alloc(n, CN_ALIGN, zero);
    }
    if (cn_unlikely(!p) && n <= PTRDIFF_MAX) {
        /* Short of memory: a whole slab (or segment) would not fit, so take
         * just the pages this block needs, then just its own mapping. */
        if (n > CN_PAGE_SIZE && n <= CN_SMALL_MAX) p = large_alloc(n, 1, zero);
        if (!p) p = cn_huge_alloc(n, CN_ALIGN, zero);
    }
    return p;
}

/* malloc's fast path found its page used up (n <= CN_FAST_MAX): the next
 * page of the class, with little around it; anything else goes on to
 * cn_malloc_slow. */
cn_noinline void *cn_malloc_refill(size_t n) {
    cn_heap *h = cn_tls_heap;
    void *p = cn_likely(h != &cn_heap_empty) ? next_page_pop(h, cn_class_of_small[n]) : NULL;
    return cn_likely(p != NULL) ? p : cn_malloc_slow(n, false);
}

cn_noinline void *cn_malloc_slow(size_t n, bool zero) {
    /* A size class, for a thread that has a heap: the current page (from
     * 4 KiB, the fast path's table ends), else the next page of the class.
     * A thread without a heap (or under valgrind) goes on. */
    cn_heap *h = cn_tls_heap;
    if (n <= CN_SMALL_MAX && cn_likely(h != &cn_heap_empty)) {
        void *p = slab_alloc(h, cn_size_class(n));
        if (cn_likely(p != NULL)) return zero ? memset(p, 0, n) : p;
    }
    if (cn_vg_route()) return cn_vg_malloc(n, zero);
    h = cn_heap_get();
    if (cn_unlikely(!h)) return oom();
    void *p = alloc_any(h, n, zero);
    /* The OS said no: give back every empty page we keep, and try again. */
    if (cn_unlikely(!p) && n <= PTRDIFF_MAX && cn_heap_release_empty(h)) p = alloc_any(h, n, zero);
    return p ? p : oom();
}

void *cn_calloc(size_t count, size_t size) {
    size_t n;
    if (cn_unlikely(__builtin_mul_overflow(count, size, &n))) return oom();
    if (n <= CN_FAST_MAX) {
        void *p = cn_malloc(n);
        if (p) memset(p, 0, n);
        return p;
    }
    return cn_malloc_slow(n, true);
}

/* ---------------------------------------------------------------------------
 * Aligned allocation: small alignments come from a size class whose blocks
 * are multiples of the alignment (slabs start on a page, so every block is
 * aligned); larger ones from a page span that starts aligned; the largest
 * from their own mapping.  Nothing is wasted beyond the alignment.
 * ------------------------------------------------------------------------- */
void *cn_aligned(size_t alignment, size_t n) {
    if (cn_vg_route()) return cn_vg_aligned(alignment, n);
    if (n == 0) n = 1;                          /* a real block, as malloc(0) */
    if (alignment <= CN_ALIGN) return n <= CN_FAST_MAX ? cn_malloc(n) : cn_malloc_slow(n, false);
    if (n > PTRDIFF_MAX - alignment || alignment > ((size_t)PTRDIFF_MAX >> 1) + 1) return oom();
    cn_heap *h = cn_heap_get();
    if (!h) return oom();
    void *p = NULL;
    if (alignment <= CN_PAGE_SIZE && n <= CN_SMALL_MAX) {
        /* Slabs start on a page, so a class whose size is a multiple of
         * the alignment (a power of two) gives aligned blocks.  Every power
         * of two is a class size: start from the class of the alignment
         * (or of n, if larger); one of the next four is a multiple. */
        for (unsigned cls = cn_size_class(n > alignment ? n : alignment); cls < CN_NCLASS; cls++)
            if ((cn_classes[cls].size & (alignment - 1)) == 0) return (p = slab_alloc(h, cls)) ? p : oom();
    }
    size_t align_pages = alignment <= CN_PAGE_SIZE ? 1 : alignment / CN_PAGE_SIZE;
    size_t np = (n + CN_PAGE_SIZE - 1) / CN_PAGE_SIZE;
    if (n <= (size_t)cn_options[CN_OPT_HUGE_THRESHOLD] && np + align_pages < CN_SEG_PAGES / 2)
        p = large_alloc(n, align_pages, false);
    else
        p = cn_huge_alloc(n, alignment, false);
    return p ? p : oom();
}

static bool is_pow2(size_t x) { return x && !(x & (x - 1)); }

int cn_posix_memalign(void **out, size_t alignment, size_t n) {
    if (!is_pow2(alignment) || alignment < sizeof(void *)) return EINVAL;
    int e = errno;
    void *p = cn_aligned(alignment, n);
    errno = e;
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void *cn_aligned_alloc(size_t alignment, size_t n) {
    if (!is_pow2(alignment)) { errno = EINVAL; return NULL; }
    return cn_aligned(alignment, n);
}

void *cn_memalign(size_t alignment, size_t n) {
    if (!is_pow2(alignment)) {                    /* glibc rounds up to a power of two */
        if (alignment > SIZE_MAX / 2 + 1) { errno = EINVAL; return NULL; }   /* ...or refuses */
        size_t a = 1;
        while (a < alignment) a <<= 1;
        alignment = a;
    }
    return cn_aligned(alignment, n);
}

void *cn_valloc(size_t n) { return cn_aligned(cn_os_page_size(), n); }

void *cn_pvalloc(size_t n) {
    size_t ps = cn_os_page_size();
    if (n > PTRDIFF_MAX) return oom();
    n = n ? (n + ps - 1) & ~(ps - 1) : ps;
    return cn_aligned(ps, n);
}

/* ---------------------------------------------------------------------------
 * Size queries and realloc
 * ------------------------------------------------------------------------- */
size_t cn_usable_size(const void *p, const char *fn) {
    if (!p) return 0;
    if (cn_vg_route()) return cn_vg_usable(p, fn);
    cn_page *pg;
    size_t usable;
    cn_check_live(p, fn, &pg, &usable);
    return usable;
}

void *cn_realloc(void *p, size_t n) {
    if (cn_vg_route()) return cn_vg_realloc(p, n);
    if (!p) return cn_malloc(n);
    if (n == 0) { cn_free(p); return NULL; }
    cn_page *pg;
    size_t usable;
    cn_ptr_kind kind = cn_check_live(p, "realloc", &pg, &usable);
    if (n > PTRDIFF_MAX) return oom();
    size_t huge = (size_t)cn_options[CN_OPT_HUGE_THRESHOLD];
    size_t np = (n + CN_PAGE_SIZE - 1) / CN_PAGE_SIZE;
    if (n <= usable) {                            /* fits: stays in place */
        if (kind == CN_PTR_LARGE && np < pg->npages) cn_span_shrink(pg, np);
        /* A huge block smaller by a quarter or more gives its tail back;
         * by less it stays as it is, with no table look-up: growth maps a
         * quarter ahead, and a buffer grown in small steps would otherwise
         * lose that slack on one step and map it again on the next. */
        if (kind == CN_PTR_HUGE && usable - n >= usable / 4) return cn_huge_realloc(p, n);
        return p;
    }
    if (kind == CN_PTR_HUGE && n > huge) {
        void *q = cn_huge_realloc(p, n);
        return q ? q : oom();
    }
    if (kind == CN_PTR_LARGE && n <= huge && cn_span_grow(pg, np)) return p;
    void *q = n <= CN_FAST_MAX ? cn_malloc(n) : cn_malloc_slow(n, false);
    if (!q) return NULL;
    memcpy(q, p, usable);
    cn_free(p);
    return q;
}

void *cn_reallocarray(void *p, size_t count, size_t size) {
    size_t n;
    if (__builtin_mul_overflow(count, size, &n)) return oom();
    return cn_realloc(p, n);
}

int cn_trim(size_t pad) {
    (void)pad;
    cn_heap *h = cn_tls_heap;
    bool kept = false;
    cn_remote_flush();
    if (h != &cn_heap_empty) {
        cn_heap_drain(h);
        kept = cn_heap_release_kept(h);      /* the caller's empty pages too */
    }
    cn_heaps_collect_dead();
    kept |= cn_spares_release();
    size_t released = cn_pool_purge(true) + kept;
    released += cn_huge_release_cache();
    return released > 0;
}
