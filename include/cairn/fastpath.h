/* cairn/fastpath.h -- malloc's and free's fast paths, inlined into the
 * exported functions (override.c) so a call costs no extra jump.
 * Everything rare is a call to an out-of-line function. */
#ifndef CAIRN_FASTPATH_H
#define CAIRN_FASTPATH_H

#include "cairn/internal.h"

/* Pop a block from the calling thread's current page of n's size class. */
static inline __attribute__((always_inline)) void *cn_malloc_fast(size_t n) {
    cn_heap *h = cn_tls_heap;
    if (cn_likely(n <= CN_FAST_MAX)) {
        unsigned cls = cn_class_of_small[(n + CN_ALIGN - 1) / CN_ALIGN];
        cn_page *pg = h->bins[cls];
        cn_block *b = pg->free;
        if (cn_likely(b != NULL)) {
            pg->free = (cn_block *)(b->next ^ pg->key);
            pg->used++;
            h->allocs[cls]++;             /* statistics: one add */
            b->tag = 0;                   /* no longer free */
            return b;
        }
    }
    return cn_malloc_slow(n, false);
}

/* Push p on its page's free list, if this thread owns the page and p is a
 * live block there: its window is ours (segment map), the page's owner is
 * this thread's heap, p starts a block, and the block's tag is not "free". */
static inline __attribute__((always_inline)) void cn_free_fast(void *p) {
    uintptr_t a = (uintptr_t)p;
    if (cn_likely(cn_in_segment(a))) {
        cn_page *pg = cn_page_of(a);
        cn_heap *h = cn_tls_heap;
        if (cn_likely(atomic_load_explicit(&pg->owner, memory_order_relaxed) == h)) {
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
                if (cn_unlikely(--pg->used == 0 || old == NULL)) cn_page_after_free(h, pg);
                return;
            }
        }
    }
    cn_free_slow(p);
}

#endif /* CAIRN_FASTPATH_H */
