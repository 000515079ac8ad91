/* page.c -- slabs: pages of one size class owned by one heap.
 *
 * A heap keeps, per class, the page it allocates from (bins[cls]) and a
 * queue of pages that still have free blocks; pages with none wait in its
 * `full` list until a free brings them back.  A page that empties is kept a
 * short while for reuse, then goes back to the pool.  The current page is
 * pinned (its `used` counts one extra), so freeing its last block is not
 * "empty" and a malloc/free loop stays on it.  A class that would take a
 * new page may instead be lent a page of a bigger class with many free
 * blocks (see lend); the page stays in its own class's queue meanwhile.
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
    size_t bs = cn_classes[pg->cls].size;
    size_t n = CN_EXTEND_BYTES / bs;
    if (n == 0) n = 1;
    if (n > cn_page_capacity(pg) - pg->carved) n = cn_page_capacity(pg) - pg->carved;
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
    pg->tally = 0;
    pg->carved = 0;
    pg->start_mul = c->start_mul;
    pg->start_lim = c->start_lim;
    pg->cls = (uint8_t)cls;
    pg->flags = 0;
    atomic_store_explicit(&pg->owner, h, memory_order_release);
}

static void page_emptied(cn_heap *h, cn_page *pg);

/* Make pg (or the empty page) the one class cls allocates from.  The old
 * page's count of blocks taken moves to the heap's total (only a current
 * page has blocks taken: see CN_TALLY_POP). */
static void set_current(cn_heap *h, unsigned cls, cn_page *pg) {
    cn_page *old = h->bins[cls];
    if (old == pg) return;
    h->bins[cls] = pg;
    if (pg != &cn_page_empty) {
        pg->used++;
        pg->flags |= CN_PF_CURRENT;
    }
    if (old != &cn_page_empty) {
        __atomic_store_n(&h->allocs[old->cls], h->allocs[old->cls] + (old->tally >> CN_TALLY_SHIFT), __ATOMIC_RELAXED);
        old->tally = old->used;
        old->flags &= (uint8_t)~CN_PF_CURRENT;
        if (--old->used == 0) page_emptied(h, old);
    }
}

void cn_heap_unpin_all(cn_heap *h) {
    for (unsigned cls = 0; cls < CN_NCLASS; cls++) set_current(h, cls, &cn_page_empty);
}

/* ---------------------------------------------------------------------------
 * Empty pages kept by their heap.  A heap that frees a whole batch usually
 * allocates as much again soon, so a slab whose last block is freed leaves
 * its class queue for the heap's `kept` lists rather than going back to the
 * pool: taken again, it costs no pool lock and, for the same class, no new
 * free list (its blocks are all on it).  Two generations make the time
 * limit: once per CAIRN_PURGE_DELAY_MS the older list goes back to the pool
 * and the newer one becomes the older, so a page waits one to two delays.
 * A heap keeps at most CN_HEAP_KEEP_PAGES pages.  Past that, up to
 * CN_SPARE_PAGES more single-page slabs wait, whole, as *spares* for any
 * thread: in the orphans heap's kept lists, under the orphan lock, aged the
 * same way.  A thread that needs a page then takes one free list ready
 * instead of making one, and many threads share one reserve instead of
 * each keeping its own.  Exited threads' pages (the orphans) are never kept.
 * ------------------------------------------------------------------------- */
#define KEPT_SCAN 16      /* entries of a kept list looked at for a match */

/* (Relaxed atomic stores: spare_take peeks at the orphans' count unlocked.) */
static void kept_count(cn_heap *h, long delta) {
    __atomic_store_n(&h->kept_pages, (uint32_t)((long)h->kept_pages + delta), __ATOMIC_RELAXED);
}

static void kept_free_list(cn_heap *h, cn_page_list *l) {
    cn_page *pg;
    while ((pg = l->first) != NULL) {
        cn_page_list_remove(l, pg);
        kept_count(h, -(long)pg->npages);
        cn_span_free(pg);
    }
}

/* Turn the generations if a delay has passed since the last turn. */
static void kept_age(cn_heap *h) {
    uint64_t now = cn_os_now_ms();
    if (now - h->kept_turn < (uint64_t)cn_options[CN_OPT_PURGE_DELAY_MS]) return;
    kept_free_list(h, &h->kept_old);
    h->kept_old = h->kept_new;
    h->kept_new.first = h->kept_new.last = NULL;
    h->kept_turn = now;
}

bool cn_heap_release_kept(cn_heap *h) {
    bool any = h->kept_pages != 0;
    kept_free_list(h, &h->kept_old);
    kept_free_list(h, &h->kept_new);
    return any;
}

static _Atomic uint64_t spare_turn;    /* cn_orphans.kept_turn, readable unlocked */

/* Turn the spares' generations (under the orphan lock). */
static void spare_age_locked(void) {
    kept_age(&cn_orphans);
    atomic_store_explicit(&spare_turn, cn_orphans.kept_turn, memory_order_relaxed);
}

/* Put empty page pg (out of every list) among the spares, if there is room. */
static bool spare_put(cn_page *pg) {
    cn_lock_acquire(&cn_orphan_lock);
    bool room = cn_orphans.kept_pages + pg->npages <= CN_SPARE_PAGES;
    if (room) {
        atomic_store_explicit(&pg->owner, &cn_orphans, memory_order_release);
        cn_page_list_push(&cn_orphans.kept_new, pg);
        kept_count(&cn_orphans, pg->npages);
    }
    spare_age_locked();
    cn_lock_release(&cn_orphan_lock);
    return room;
}

/* Spares also age as threads change pages, so they go back to the pool
 * though no thread gives or takes one any more. */
static void spare_age(void) {
    if (!__atomic_load_n(&cn_orphans.kept_pages, __ATOMIC_RELAXED)) return;
    uint64_t now = cn_os_now_ms();
    if (now - atomic_load_explicit(&spare_turn, memory_order_relaxed) < (uint64_t)cn_options[CN_OPT_PURGE_DELAY_MS]) return;
    cn_lock_acquire(&cn_orphan_lock);
    spare_age_locked();
    cn_lock_release(&cn_orphan_lock);
}

bool cn_spares_release(void) {
    cn_lock_acquire(&cn_orphan_lock);
    bool any = cn_heap_release_kept(&cn_orphans);
    cn_lock_release(&cn_orphan_lock);
    return any;
}

/* A page with no block out and not current (nor full: its flags are 0):
 * keep it, or give it back. */
static void page_emptied(cn_heap *h, cn_page *pg) {
    cn_page_list_remove(&h->queue[pg->cls], pg);
    if (h->state != CN_HEAP_LIVE) {
        cn_span_free(pg);
    } else if (h->kept_pages + pg->npages > CN_HEAP_KEEP_PAGES) {
        /* Only single pages are worth sharing: a slab of several holds a
         * few big blocks (a new free list costs little), and in the pool
         * its pages can merge into runs for large blocks. */
        if (pg->npages > 1 || !spare_put(pg)) cn_span_free(pg);
    } else {
        cn_page_list_push(&h->kept_new, pg);
        kept_count(h, pg->npages);
        kept_age(h);
    }
}

/* Take out of h's kept lists a page for class cls: one of that class (its
 * free list is ready), else one of the same length, newest first. */
static cn_page *kept_pick(cn_heap *h, unsigned cls) {
    if (!h->kept_pages) return NULL;
    cn_page_list *lists[2] = { &h->kept_new, &h->kept_old };
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < 2; i++) {
            cn_page *pg = lists[i]->first;
            for (int n = 0; pg && n < KEPT_SCAN; pg = pg->next, n++)
                if (pass == 0 ? pg->cls == cls : pg->npages == cn_classes[cls].npages) {
                    cn_page_list_remove(lists[i], pg);
                    kept_count(h, -(long)pg->npages);
                    return pg;
                }
        }
    return NULL;
}

/* Make empty page pg one of h's pages of class cls. */
static cn_page *page_take(cn_heap *h, cn_page *pg, unsigned cls) {
    if (pg->cls != cls) page_init(h, pg, cls);       /* same length, other class: a new free list */
    else atomic_store_explicit(&pg->owner, h, memory_order_release);
    cn_page_list_push(&h->queue[cls], pg);
    return pg;
}

static cn_page *kept_find(cn_heap *h, unsigned cls) {
    cn_page *pg = kept_pick(h, cls);
    return pg ? page_take(h, pg, cls) : NULL;
}

static cn_page *spare_take(cn_heap *h, unsigned cls) {
    if (!__atomic_load_n(&cn_orphans.kept_pages, __ATOMIC_RELAXED)) return NULL;
    cn_lock_acquire(&cn_orphan_lock);
    cn_page *pg = kept_pick(&cn_orphans, cls);
    cn_lock_release(&cn_orphan_lock);
    return pg ? page_take(h, pg, cls) : NULL;
}

bool cn_heap_release_empty(cn_heap *h) {
    bool any = false;
    for (unsigned cls = 0; cls < CN_NCLASS; cls++) {
        cn_page *pg = h->bins[cls];
        if (pg != &cn_page_empty && pg->used == 1) { set_current(h, cls, &cn_page_empty); any = true; }
    }
    bool kept = cn_heap_release_kept(h);
    return cn_spares_release() || kept || any;
}

static cn_page *make_current(cn_heap *h, unsigned cls, cn_page *pg) {
    set_current(h, cls, pg);
    if (!pg->free) page_extend(pg);
    return pg;
}

static bool page_has_room(const cn_page *pg) { return pg->free || pg->carved < cn_page_capacity(pg); }

/* Has pg at least 1/part of its blocks free? */
static bool page_free_share(const cn_page *pg, uint32_t part) {
    uint32_t cap = cn_page_capacity(pg);
    return (cap - pg->used) * part >= cap;
}

/* Are pg's free blocks worth a page change: an eighth of its blocks, or any
 * block above 1 KiB?  (A page of 4 KiB blocks with one free is a sixteenth
 * free; skipped, it would cost a new page, while the program writes more
 * per block than the change costs.) */
static bool page_worth_taking(const cn_page *pg) {
    return cn_classes[pg->cls].size > 1024 || page_free_share(pg, 8);
}

/* Park a page with no free block (not current) in the heap's full list. */
static void page_park(cn_heap *h, cn_page *pg) {
    cn_page_list_remove(&h->queue[pg->cls], pg);
    cn_lock_acquire(&h->full_lock);
    cn_page_mark_full(pg);
    cn_page_list_push(&h->full, pg);
    cn_lock_release(&h->full_lock);
}

/* A page of a bigger class, to serve class cls instead of a new page while
 * no freed (resident) page waits in the pool: its free blocks are resident,
 * a new page's are not.  Programs move from size to size (a phase of 96-byte
 * nodes, then one of 48-byte ones), and a class's count of blocks wanders
 * (it holds its peak count in pages, the process only the peak total): a
 * bigger class's spare room then serves instead of new pages.  Its blocks
 * are at most CN_LEND_RATIO times the size, and a multiple of the largest
 * power of two that divides it, so that aligned requests stay aligned; the
 * page must have 1/CN_LEND_ROOM of its blocks free and not be current.  It
 * stays in its class's queue, which passes over it while it is lent. */
static cn_page *lend(cn_heap *h, unsigned cls) {
    if (cn_pool_dirty_pages() >= cn_classes[cls].npages) return NULL;
    size_t size = cn_classes[cls].size, align = size & -size;
    for (unsigned c = cls + 1; c < CN_NCLASS && cn_classes[c].size <= CN_LEND_RATIO * size; c++) {
        if (cn_classes[c].size & (align - 1)) continue;
        cn_page *pg = h->queue[c].first;
        for (int n = 0; pg && n < CN_LEND_SCAN; pg = pg->next, n++)
            if (!(pg->flags & CN_PF_CURRENT) && page_free_share(pg, CN_LEND_ROOM)) return pg;
    }
    return NULL;
}

/* The first queued page of class cls worth a page change, or NULL.  Pages
 * with no free block go to the full list on the way.  A page with only a
 * few free blocks would be used up at once: it goes to the back of the
 * queue to gather more while a fresh page serves (after two such), unless
 * every page is like it.  A page current for a smaller class (lent) goes
 * to the back too, whatever its room. */
static cn_page *queue_take(cn_heap *h, unsigned cls) {
    cn_page *pg;
    int skipped = 0;
    while ((pg = h->queue[cls].first) != NULL) {
        bool lent = pg->flags & CN_PF_CURRENT;
        if (lent && pg == h->queue[cls].last) break;
        if (!lent) {
            if (!page_has_room(pg)) {
                page_park(h, pg);
                continue;
            }
            if (page_worth_taking(pg) || pg == h->queue[cls].last) return pg;
        }
        cn_page_list_remove(&h->queue[cls], pg);
        cn_page_list_append(&h->queue[cls], pg);
        if (++skipped >= 2) break;
    }
    return NULL;
}

/* The current page of class cls is used up: make another current.  In
 * order of cost: its own queue, the heap's kept empty pages (a free list
 * ready), an exited thread's page, a spare, a bigger class's page lent,
 * a new span from the pool. */
cn_page *cn_heap_find_page(cn_heap *h, unsigned cls) {
    cn_page *pg = h->bins[cls];
    if (pg != &cn_page_empty) {
        if (page_has_room(pg)) return make_current(h, cls, pg);
        set_current(h, cls, &cn_page_empty);      /* (its own class's, or lent) */
        page_park(h, pg);
    }
    if (atomic_load_explicit(&h->remote, memory_order_relaxed)) cn_heap_drain(h);
    cn_remote_flush();                 /* (this thread's frees for others wait no longer) */
    cn_heap_idle_check();
    if ((pg = queue_take(h, cls)) != NULL) return make_current(h, cls, pg);
    if (h->kept_pages) kept_age(h);
    spare_age();
    cn_pool_expire();
    cn_huge_expire();
    if ((pg = kept_find(h, cls)) != NULL) return make_current(h, cls, pg);
    if ((pg = cn_orphan_adopt(h, cls)) != NULL) return make_current(h, cls, pg);
    if ((pg = spare_take(h, cls)) != NULL) return make_current(h, cls, pg);
    if ((pg = lend(h, cls)) != NULL) return make_current(h, cls, pg);
    pg = cn_span_alloc(cn_classes[cls].npages, CN_KIND_SLAB, NULL);
    if (!pg) return NULL;
    page_init(h, pg, cls);
    cn_page_list_push(&h->queue[cls], pg);
    return make_current(h, cls, pg);
}

void cn_page_after_free(cn_heap *h, cn_page *pg) {
    /* Under the lock: while the heap's thread was idle, another may have
     * given back this full page the moment its last block was freed (the
     * thread's own free just now: heap.c, reclaim). */
    cn_lock_acquire(&h->full_lock);
    if (atomic_load_explicit(&pg->owner, memory_order_relaxed) != h) {
        cn_lock_release(&h->full_lock);
        return;
    }
    if (pg->flags & CN_PF_FULL) {
        /* Back among the pages with room -- at the end of the queue, so it
         * gathers more free blocks before it is chosen again. */
        cn_page_list_remove(&h->full, pg);
        pg->flags &= (uint8_t)~CN_PF_FULL;
        pg->used -= CN_USED_FULL;
        cn_page_list_append(&h->queue[pg->cls], pg);
    }
    cn_lock_release(&h->full_lock);
    if (pg->used == 0) page_emptied(h, pg);
}
