/* cairn/fastpath.h -- malloc's and free's fast paths, inlined into the
 * exported functions (override.c) so a call costs no extra jump.
 * Everything rare is a call to an out-of-line function. */
#ifndef CAIRN_FASTPATH_H
#define CAIRN_FASTPATH_H

#include "cairn/internal.h"

/* Hand out b, the first block of pg's free list. */
static inline __attribute__((always_inline)) void *cn_page_pop(cn_page *pg, cn_block *b) {
    pg->tally += CN_TALLY_POP;            /* used and the statistics: one add */
    pg->free = (cn_block *)(b->next ^ pg->key);
    b->tag = 0;                           /* no longer free */
    return b;
}

/* A block from h's current page of class cls, or NULL if it has none. */
static inline __attribute__((always_inline)) void *cn_bin_pop(cn_heap *h, unsigned cls) {
    cn_page *pg = h->bins[cls];
    cn_block *b = pg->free;
    return cn_likely(b != NULL) ? cn_page_pop(pg, b) : NULL;
}

/* Pop a block from the calling thread's current page of n's size class, or
 * NULL where malloc goes on to its slow paths (n past the table, or the
 * page used up): cn_bin_pop(cn_tls_heap, ...), but indexing the thread's
 * front in TLS directly (through h->bins, or a pointer to the front, gcc
 * first adds the thread pointer: two instructions more). */
static inline __attribute__((always_inline)) void *cn_malloc_try(size_t n) {
    if (cn_likely(n <= CN_FAST_MAX)) {
        cn_page *pg = cn_tls.bins[cn_class_of_small[n]];
        cn_block *b = pg->free;
#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
        /* gcc puts b in a scratch register and moves it to the return
         * register at the end; b starting there saves that move. */
        __asm__("" : "+a"(b));
#endif
        if (cn_likely(b != NULL)) return cn_page_pop(pg, b);
    }
    return NULL;
}

/* malloc: the fast path, else the next page of the class (the page was
 * used up), else the slow path. */
static inline __attribute__((always_inline)) void *cn_malloc_fast(size_t n) {
    void *p = cn_malloc_try(n);
    if (cn_likely(p != NULL)) return p;
    return n <= CN_FAST_MAX ? cn_malloc_refill(n) : cn_malloc_slow(n, false);
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

/* --pg->used; true if the page is now empty (0) or waits in a full list
 * (negative: see CN_USED_FULL).  gcc makes a load, subtract, store and test
 * of "(int16_t)--used <= 0"; one subtract in memory and a jle do, since used
 * never goes below CN_USED_FULL (a block counted there is being freed).
 * On x86 that store is a release, as cn_used_sub's is (the "memory"
 * clobber keeps the free-list write before it). */
static inline __attribute__((always_inline)) bool cn_used_drop(cn_page *pg) {
#if (defined(__x86_64__) || defined(__i386__)) && !CN_TSAN
    __asm__ goto("subw $1, %0\n\tjle %l[out]" : : "m"(pg->used) : "memory", "cc" : out);
    return false;
out:
    return true;
#else
    return cn_used_sub(pg, 1) <= 0;
#endif
}

/* Push p on its page's free list, if this thread owns the page and p is a
 * live block there: its window is ours (segment map), the page's owner is
 * this thread's heap, p starts a block, and the block's tag is not "free". */
static inline __attribute__((always_inline)) void cn_free_fast(void *p) {
    uintptr_t a = (uintptr_t)p;
    size_t desc = cn_desc_offset(a);
    if (cn_likely((uint16_t)desc < cn_segmap_fast(a))) {
        cn_page *pg = (cn_page *)((uintptr_t)cn_segment_of(a) + desc);
        cn_heap *h = cn_tls_heap;
        if (cn_likely(cn_owner_peek(pg) == h)) {
            cn_block *b = p;
            uintptr_t key = pg->key;
            if (!CN_CHECKS ||
                cn_likely(cn_block_start(pg, a) &&
                          b->tag != CN_FREED_TAG(key))) {
                b->tag = CN_FREED_TAG(key);
                b->next = (uintptr_t)pg->free ^ key;
                pg->free = b;
                /* The heap's current page is pinned (used >= 1), so only a
                 * page emptying (0) or a full one getting room (negative,
                 * CN_USED_FULL) leaves here. */
                if (cn_used_drop(pg)) cn_page_after_free(h, pg);
                return;
            }
        }
    }
    cn_free_slow(p);
}

#endif /* CAIRN_FASTPATH_H */
