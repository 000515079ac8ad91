/* cairn/fastpath.h -- malloc's and free's fast paths, inlined into the
 * exported functions (override.c) so a call costs no extra jump.
 * Everything rare is a call to an out-of-line function. */
#ifndef CAIRN_FASTPATH_H
#define CAIRN_FASTPATH_H

#include "cairn/internal.h"

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

/* Hand out b, the first block of pg's free list (pg: h's page of class cls). */
static inline __attribute__((always_inline)) void *cn_page_pop(cn_heap *h, unsigned cls, cn_page *pg, cn_block *b) {
    pg->free = (cn_block *)(b->next ^ pg->key);
    pg->used++;
    h->allocs[cls]++;                     /* statistics: one add */
    b->tag = 0;                           /* no longer free */
    return b;
}

/* A block from h's current page of class cls, or NULL if it has none. */
static inline __attribute__((always_inline)) void *cn_bin_pop(cn_heap *h, unsigned cls) {
    cn_page *pg = h->bins[cls];
    cn_block *b = pg->free;
    return cn_likely(b != NULL) ? cn_page_pop(h, cls, pg, b) : NULL;
}

/* Pop a block from the calling thread's current page of n's size class. */
static inline __attribute__((always_inline)) void *cn_malloc_fast(size_t n) {
    if (cn_likely(n <= CN_FAST_MAX)) {
        void *p = cn_bin_pop(cn_tls_heap, cn_class_of_small[n]);
        if (cn_likely(p != NULL)) return p;
    }
    return cn_malloc_slow(n, false);
}

/* The page's owner, for the fast path's comparison only.  Another thread
 * may be storing it (adopting an orphan page), but an aligned word cannot
 * tear and only this thread ever stores its own heap there, so a plain read
 * does; it folds into the compare, which the atomic load does not.
 * ThreadSanitizer builds keep the atomic load. */
static inline __attribute__((always_inline)) cn_heap *cn_owner_peek(const cn_page *pg) {
#if CN_TSAN
    return atomic_load_explicit(&pg->owner, memory_order_relaxed);
#else
    return *(cn_heap *const *)&pg->owner;
#endif
}

/* Push p on its page's free list, if this thread owns the page and p is a
 * live block there: its window is ours (segment map), the page's owner is
 * this thread's heap, p starts a block, and the block's tag is not "free". */
static inline __attribute__((always_inline)) void cn_free_fast(void *p) {
    uintptr_t a = (uintptr_t)p;
    if (cn_likely(cn_in_segment(a))) {
        cn_page *pg = cn_page_of(a);
        cn_heap *h = cn_tls_heap;
        if (cn_likely(cn_owner_peek(pg) == h)) {
            cn_block *b = p;
            uintptr_t key = pg->key;
            if (!CN_CHECKS ||
                cn_likely(cn_block_index(pg, (uint32_t)(a & (CN_PAGE_SIZE - 1))) < pg->capacity &&
                          b->tag != CN_FREED_TAG(key))) {
                cn_block *old = pg->free;
                b->tag = CN_FREED_TAG(key);
                b->next = (uintptr_t)old ^ key;
                pg->free = b;
                /* The heap's current page is pinned (used >= 1), so only a
                 * full page getting room or a page emptying leaves here. */
                if (cn_unlikely(--pg->used == 0) | cn_unlikely(old == NULL)) cn_page_after_free(h, pg);
                return;
            }
        }
    }
    cn_free_slow(p);
}

#endif /* CAIRN_FASTPATH_H */
