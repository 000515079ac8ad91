/* page.c -- slabs: pages of one size class owned by one heap.
 *
 * A heap keeps, per class, the page it allocates from (bins[cls]) and a
 * queue of pages that still have free blocks; pages with none wait in its
 * `full` list until a free brings them back.  A page that empties goes back
 * to the pool.  The current page is pinned (its `used` counts one extra), so
 * freeing its last block is not "empty" and a malloc/free loop stays on it.
 */
#include "cairn/internal.h"

cn_page cn_page_empty;   /* bins point here until a class is first used: free == NULL */

/* A list's `first` is written with relaxed atomic stores (plain moves):
 * cn_orphan_adopt peeks at the orphans' lists without their lock. */
#define SET_FIRST(l, v) __atomic_store_n(&(l)->first, (v), __ATOMIC_RELAXED)

void cn_page_list_push(cn_page_list *l, cn_page *pg) {
    cn_page *first = l->first;
    pg->prev = NULL;
    pg->next = first;
    if (first) first->prev = pg;
    else l->last = pg;
    SET_FIRST(l, pg);
}

void cn_page_list_append(cn_page_list *l, cn_page *pg) {
    pg->next = NULL;
    pg->prev = l->last;
    if (l->last) l->last->next = pg;
    else SET_FIRST(l, pg);
    l->last = pg;
}

void cn_page_list_remove(cn_page_list *l, cn_page *pg) {
    cn_page *next = pg->next, *prev = pg->prev;
    if (prev) prev->next = next;
    else SET_FIRST(l, next);
    if (next) next->prev = prev;
    else l->last = prev;
    pg->next = pg->prev = NULL;
}

/* Put up to CN_EXTEND_BYTES of never-used blocks on the free list. */
static void page_extend(cn_page *pg) {
    size_t bs = pg->block_size;
    size_t n = CN_EXTEND_BYTES / bs;
    if (n == 0) n = 1;
    if (n > (size_t)(pg->capacity - pg->carved)) n = (size_t)(pg->capacity - pg->carved);
    uintptr_t start = cn_page_addr(pg) + (size_t)pg->carved * bs;
    uintptr_t key = pg->key;
    uintptr_t next = (uintptr_t)pg->free;
    for (size_t i = n; i-- > 0;) {
        cn_block *b = (cn_block *)(start + i * bs);
        b->next = next ^ key;
        b->tag = CN_FREED_TAG(key);
        next = (uintptr_t)b;
    }
    pg->free = (cn_block *)start;
    pg->carved = (uint16_t)(pg->carved + n);
}

/* Make a fresh span (already marked SLAB) a slab of class cls owned by h. */
static void page_init(cn_heap *h, cn_page *pg, unsigned cls) {
    const cn_class *c = &cn_classes[cls];
    pg->free = NULL;
    pg->key = (uintptr_t)cn_heap_next_key(h) | 1;
    pg->used = 0;
    pg->carved = 0;
    pg->block_size = c->size;
    pg->capacity = c->capacity;
    pg->div_inv = c->div_inv;
    pg->div_shift = c->div_shift;
    pg->cls = (uint8_t)cls;
    pg->flags = 0;
    atomic_store_explicit(&pg->owner, h, memory_order_release);
}

/* Make pg (or the empty page) the one class cls allocates from. */
static void set_current(cn_heap *h, unsigned cls, cn_page *pg) {
    cn_page *old = h->bins[cls];
    if (old == pg) return;
    h->bins[cls] = pg;
    if (pg != &cn_page_empty) pg->used++;
    if (old != &cn_page_empty && --old->used == 0) cn_page_release(h, old);
}

void cn_heap_unpin_all(cn_heap *h) {
    for (unsigned cls = 0; cls < CN_NCLASS; cls++) set_current(h, cls, &cn_page_empty);
}

bool cn_heap_release_empty(cn_heap *h) {
    bool any = false;
    for (unsigned cls = 0; cls < CN_NCLASS; cls++) {
        cn_page *pg = h->bins[cls];
        if (pg != &cn_page_empty && pg->used == 1) { set_current(h, cls, &cn_page_empty); any = true; }
        for (cn_page *q = h->queue[cls].first, *next; q; q = next) {
            next = q->next;
            if (q->used == 0) { cn_page_release(h, q); any = true; }
        }
    }
    return any;
}

static void page_unkeep(cn_heap *h, cn_page *pg) {
    if (pg->flags & CN_PF_KEPT) {
        pg->flags &= (uint8_t)~CN_PF_KEPT;
        h->empty_kept--;
    }
}

static cn_page *make_current(cn_heap *h, unsigned cls, cn_page *pg) {
    page_unkeep(h, pg);
    set_current(h, cls, pg);
    if (!pg->free) page_extend(pg);
    return pg;
}

static bool page_has_room(const cn_page *pg) { return pg->free || pg->carved < pg->capacity; }

/* Park a page with no free block in the heap's full list. */
static void page_park(cn_heap *h, cn_page *pg) {
    cn_page_list_remove(&h->queue[pg->cls], pg);
    pg->flags |= CN_PF_FULL;
    cn_page_list_push(&h->full, pg);
    if (h->bins[pg->cls] == pg) set_current(h, pg->cls, &cn_page_empty);
}

cn_page *cn_heap_find_page(cn_heap *h, unsigned cls) {
    cn_page *pg = h->bins[cls];
    if (pg != &cn_page_empty) {
        if (page_has_room(pg)) return make_current(h, cls, pg);
        page_park(h, pg);
    }
    if (atomic_load_explicit(&h->remote, memory_order_relaxed)) cn_heap_drain(h);
    while ((pg = h->queue[cls].first) != NULL) {
        if (page_has_room(pg)) return make_current(h, cls, pg);
        page_park(h, pg);
    }
    if ((pg = cn_orphan_adopt(h, cls)) != NULL) return make_current(h, cls, pg);
    pg = cn_span_alloc(cn_classes[cls].npages, CN_KIND_SLAB, NULL);
    if (!pg) return NULL;
    page_init(h, pg, cls);
    cn_page_list_push(&h->queue[cls], pg);
    return make_current(h, cls, pg);
}

void cn_page_release(cn_heap *h, cn_page *pg) {
    page_unkeep(h, pg);
    if (pg->flags & CN_PF_FULL) cn_page_list_remove(&h->full, pg);
    else cn_page_list_remove(&h->queue[pg->cls], pg);
    pg->flags = 0;
    cn_span_free(pg);
}

void cn_page_after_free(cn_heap *h, cn_page *pg) {
    if (pg->flags & CN_PF_FULL) {
        /* Back among the pages with room -- at the end of the queue, so it
         * gathers more free blocks before it is chosen again. */
        cn_page_list_remove(&h->full, pg);
        pg->flags &= (uint8_t)~CN_PF_FULL;
        cn_page_list_append(&h->queue[pg->cls], pg);
    }
    if (pg->used == 0) {
        /* Keep a few empty pages: a heap that frees a page's last block
         * often needs a page again soon, and the pool costs a lock. */
        if (h != &cn_orphans && h->empty_kept < CN_HEAP_KEEP_EMPTY && !(pg->flags & CN_PF_KEPT)) {
            pg->flags |= CN_PF_KEPT;
            h->empty_kept++;
        } else {
            cn_page_release(h, pg);
        }
    }
}
