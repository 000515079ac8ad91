/* heap.c -- thread heaps: creation, frees from other threads, idle heaps,
 * thread exit, and fork.
 *
 * Every thread gets a heap on its first allocation; only that thread touches
 * it, so malloc and free need no lock.  A block freed by another thread is
 * pushed, lock-free, on its owner's `remote` stack (in runs per slab,
 * batched per owner); the owner takes the whole stack with one exchange
 * when it next needs a page, and splices each run onto its slab's free
 * list.  When a thread exits, its pages with live blocks go to the
 * `orphans` heap (under a lock) where any thread can adopt them; empty
 * pages go back to the pool.  The orphans heap's kept
 * lists hold the spare empty slabs live threads share (page.c).  A heap
 * whose thread waits while others free its blocks has its emptied full
 * pages given back by them (Idle heaps, below).  Heap structures are never
 * unmapped, only reused, so a late remote free into an exited thread's
 * heap is still safe.
 */
#include "cairn/internal.h"

#include <pthread.h>

/* A thread's front: until its first malloc makes it a heap, every bin is
 * empty, so the fast path falls through to the slow path, which does. */
__thread cn_front cn_tls __attribute__((tls_model("initial-exec"))) = {
    .heap = &cn_heap_empty,
    .bins = { [0 ... CN_NCLASS - 1] = &cn_page_empty },
};
/* The heap of a thread that has not allocated yet (and, under valgrind,
 * outside the allocator: see valgrind.c). */
cn_heap cn_heap_empty = {
    .bins = cn_heap_empty.own_bins,
    .own_bins = { [0 ... CN_NCLASS - 1] = &cn_page_empty },
};
cn_heap cn_orphans = { .bins = cn_orphans.own_bins };
cn_lock cn_orphan_lock = CN_LOCK_INIT;

static cn_lock heaps_lock = CN_LOCK_INIT;
static cn_heap *all_heaps;        /* every heap made, linked by next_all     */
static cn_heap *dead_heaps;       /* exited threads' heaps, by next_free     */
static char *heap_chunk;          /* heaps are carved from mapped chunks     */
static size_t heap_chunk_left;
static pthread_key_t thread_key;

uint64_t cn_heap_next_key(cn_heap *h) {
    uint64_t x = h->rng;                      /* xorshift64* */
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    h->rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

static void heap_reset(cn_heap *h) {
    for (unsigned i = 0; i < CN_NCLASS; i++) {
        h->bins[i] = &cn_page_empty;
        h->queue[i].first = h->queue[i].last = NULL;
    }
    cn_lock_acquire(&h->full_lock);
    h->full.first = h->full.last = NULL;
    cn_lock_release(&h->full_lock);
    h->kept_new.first = h->kept_new.last = h->kept_old.first = h->kept_old.last = NULL;
    h->kept_pages = 0;
    atomic_store_explicit(&h->reclaim_idle, 0, memory_order_relaxed);
}

/* ---------------------------------------------------------------------------
 * Remote frees
 *
 * A thread gathers the blocks it frees for other heaps into *runs*: blocks
 * of one slab, chained as on the slab's own free list (links ^ pg->key),
 * in a small table indexed by slab (CN_REMOTE_RUNS entries).  A run ends
 * when its slot is wanted by another slab or it reaches CN_REMOTE_BATCH
 * blocks; all end when the thread holds CN_REMOTE_HOLD blocks in runs, or
 * flushes (it changes pages, trims, reads the statistics or exits).  Ended
 * runs wait in a batch per owner, pushed with one compare-and-swap once it
 * holds CN_REMOTE_BATCH blocks.  On the owner's remote stack a run is one
 * node: its first block's third word links the stack, its fourth points at
 * the last block, and the last block's first word holds the count.  The
 * owner splices a run onto its slab's free list whole, touching two blocks
 * instead of every one: each is a cache miss on a line another core wrote,
 * and in a chain they cannot overlap.  Blocks of fewer than four words (16
 * bytes on 64-bit) travel alone, the stack link in their first word.
 * ------------------------------------------------------------------------- */

_Static_assert(CN_REMOTE_RUNS >= 2 && CN_REMOTE_RUNS <= 32 && (CN_REMOTE_RUNS & (CN_REMOTE_RUNS - 1)) == 0,
               "CN_REMOTE_RUNS is a power of two from 2 to 32");

/* Whether pg's blocks have room for a run node's two extra words. */
static inline bool runs_fit(const cn_page *pg) {
    return sizeof(uintptr_t) == 4 || cn_classes[pg->cls].size >= 4 * sizeof(uintptr_t);
}

/* The word of node b that links the remote stack. */
static inline uintptr_t *node_link(cn_block *b, bool run) { return run ? (uintptr_t *)b + 2 : &b->next; }

/* Push the chain of nodes first..last (linked with owner's key) onto
 * owner's list. */
static void chain_push(cn_heap *owner, cn_block *first, cn_block *last, bool last_run) {
    uintptr_t *link = node_link(last, last_run);
    uintptr_t old = atomic_load_explicit(&owner->remote, memory_order_relaxed);
    do {
        *link = old ^ owner->remote_key;
    } while (!atomic_compare_exchange_weak_explicit(&owner->remote, &old, (uintptr_t)first,
                                                    memory_order_release, memory_order_relaxed));
}

static void reclaim_maybe(cn_heap *a);

/* chain_push, of n blocks, counted: an owner that lets many wait may be
 * idle (see reclaim below). */
static void remote_push(cn_heap *owner, cn_block *first, cn_block *last, bool last_run, uint32_t n) {
    chain_push(owner, first, last, last_run);
    uint32_t waiting = atomic_fetch_add_explicit(&owner->pending, n, memory_order_relaxed) + n;
    if (cn_unlikely(waiting >= CN_RECLAIM_MIN)) reclaim_maybe(owner);
}

/* Make run head..tail of n blocks a node: head's fourth word points at the
 * tail, whose first word (the end of the chain) holds the count. */
static inline void run_seal(cn_block *head, cn_block *tail, uint32_t n) {
    ((uintptr_t *)head)[3] = (uintptr_t)tail;
    tail->next = n;
}

typedef struct cn_run { cn_page *pg; cn_block *head, *tail; uint32_t n; } cn_run;

/* The calling thread's remote frees not pushed yet: open runs, and nodes
 * for one owner, newest first.  Every push is a compare-and-swap on a line
 * the owner and the other freeing threads also write, and waits for the
 * thread's earlier stores (each a miss on a block another core wrote); a
 * producer/consumer pair ran 10-20% faster with one push per 32 blocks.  A
 * block waiting here is already marked freed (a second free of it is
 * caught) and its page cannot go away (its use count has not dropped). */
static __thread struct {
    cn_run run[CN_REMOTE_RUNS];
    uint32_t open;                     /* bit i: run[i] holds blocks */
    uint32_t held;                     /* blocks in open runs */
    cn_heap *owner;
    cn_block *first, *last;
    bool last_run;                     /* last is a run node */
    uint32_t n;                        /* blocks in the batch */
    bool off;                          /* the thread is exiting: push at once */
} rf __attribute__((tls_model("initial-exec")));

static void batch_push(void) {
    if (!rf.n) return;
    remote_push(rf.owner, rf.first, rf.last, rf.last_run, rf.n);
    rf.n = 0;
}

/* Add node b (a run of n blocks, or a lone block) to the batch for owner. */
static void batch_add(cn_heap *owner, cn_block *b, bool run, uint32_t n) {
    if (owner != rf.owner) {
        batch_push();
        rf.owner = owner;
    }
    if (rf.n) *node_link(b, run) = (uintptr_t)rf.first ^ owner->remote_key;
    else { rf.last = b; rf.last_run = run; }
    rf.first = b;
    rf.n += n;
    if (rf.n >= CN_REMOTE_BATCH) batch_push();
}

/* Free the n blocks of run head.. one by one, as h, wherever slab pg now
 * belongs (cn_free_to_owner): for a slab that changed hands meanwhile. */
static void run_each(cn_heap *h, cn_page *pg, cn_block *head, uint32_t n) {
    uintptr_t key = pg->key;
    for (cn_block *b = head; n--;) {
        cn_block *next = (cn_block *)(b->next ^ key);
        cn_free_to_owner(h, pg, b);
        b = next;
    }
}

/* End run r: to its slab's owner's batch, or freed here if the slab has
 * changed hands (it was an exited thread's, or this thread adopted it). */
static void run_end(cn_run *r, unsigned i) {
    cn_page *pg = r->pg;
    cn_block *head = r->head, *tail = r->tail;
    uint32_t n = r->n;
    rf.open &= ~(1u << i);
    rf.held -= n;
    r->pg = NULL;
    cn_heap *owner = atomic_load_explicit(&pg->owner, memory_order_acquire);
    if (owner != cn_tls_heap && owner != &cn_orphans) {
        run_seal(head, tail, n);
        batch_add(owner, head, true, n);
        return;
    }
    run_each(cn_tls_heap, pg, head, n);
}

void cn_remote_flush(void) {
    while (rf.open) {
        unsigned i = (unsigned)__builtin_ctz(rf.open);
        run_end(&rf.run[i], i);
    }
    batch_push();
}

cn_heap *cn_heap_freeing(void) {
    cn_heap *h = rf.off ? NULL : cn_heap_get();
    return h ? h : &cn_heap_empty;
}

/* The rare cases of cn_heap_remote_free, out of line so that its common
 * case (one more block on an open run) saves no registers. */
static cn_noinline void remote_free_rare(cn_heap *owner, cn_page *pg, cn_block *b) {
    bool run = runs_fit(pg);
    /* Only a thread with a heap gathers runs and batches: its exit flushes
     * them (free gives a thread that only frees one; see cn_free_slow).
     * Others push the block at once, as a run of one where runs fit. */
    if (CN_REMOTE_BATCH <= 1 || rf.off || cn_tls_heap == &cn_heap_empty) {
        if (run) run_seal(b, b, 1);
        remote_push(owner, b, b, run, 1);
    } else {
        batch_add(owner, b, false, 1);
    }
}

/* Open a run in slot i with block b of pg, ending the slot's run first. */
static cn_noinline void run_open(unsigned i, cn_page *pg, cn_block *b) {
    cn_run *r = &rf.run[i];
    while (r->pg) run_end(r, i);       /* (ending one may open another: see run_end) */
    r->pg = pg;
    r->head = r->tail = b;
    r->n = 1;
    rf.open |= 1u << i;
    if (++rf.held >= CN_REMOTE_HOLD) cn_remote_flush();
}

/* Run r (slot i) is full, or the thread holds CN_REMOTE_HOLD blocks. */
static cn_noinline void run_limit(cn_run *r, unsigned i) {
    if (rf.held >= CN_REMOTE_HOLD) cn_remote_flush();
    else run_end(r, i);
}

void cn_heap_remote_free(cn_heap *owner, cn_page *pg, cn_block *b) {
    if (cn_unlikely(CN_REMOTE_BATCH <= 1 || rf.off || cn_tls_heap == &cn_heap_empty || !runs_fit(pg))) {
        remote_free_rare(owner, pg, b);
        return;
    }
    unsigned i = ((uint32_t)((uintptr_t)pg >> 6) * 0x9e3779b1u) >> (32 - __builtin_ctz(CN_REMOTE_RUNS));
    cn_run *r = &rf.run[i];
    if (cn_unlikely(r->pg != pg)) {
        run_open(i, pg, b);
        return;
    }
    b->next = (uintptr_t)r->head ^ pg->key;
    r->head = b;
    uint32_t n = ++r->n;
    if (cn_unlikely(++rf.held >= CN_REMOTE_HOLD || n >= CN_REMOTE_BATCH)) run_limit(r, i);
}

/* Move an orphan page into h (under the orphan lock). */
static void orphan_take(cn_heap *h, cn_page *pg) {
    bool full = pg->flags & CN_PF_FULL;
    cn_page_list_remove(full ? &cn_orphans.full : &cn_orphans.queue[pg->cls], pg);
    if (full) cn_lock_acquire(&h->full_lock);
    atomic_store_explicit(&pg->owner, h, memory_order_release);
    cn_page_list_push(full ? &h->full : &h->queue[pg->cls], pg);
    if (full) cn_lock_release(&h->full_lock);
}

/* cn_free_to_owner for a page of the orphans: the freeing thread adopts
 * it, so its next frees there are local (a successor inheriting a server's
 * blocks frees them all). */
static cn_noinline void free_to_orphan(cn_heap *h, cn_page *pg, cn_block *b) {
    cn_lock_acquire(&cn_orphan_lock);
    bool still = atomic_load_explicit(&pg->owner, memory_order_relaxed) == &cn_orphans;
    if (still) {
        if (h->state == CN_HEAP_LIVE) orphan_take(h, pg);
        else cn_free_local(&cn_orphans, pg, b);
    }
    cn_lock_release(&cn_orphan_lock);
    if (!still) cn_free_to_owner(h, pg, b);          /* adopted meanwhile: again */
    else if (h->state == CN_HEAP_LIVE) cn_free_local(h, pg, b);
}

/* Free a block whose tag is already set, wherever its page now belongs. */
void cn_free_to_owner(cn_heap *h, cn_page *pg, cn_block *b) {
    cn_heap *owner = atomic_load_explicit(&pg->owner, memory_order_acquire);
    if (owner == h) cn_free_local(h, pg, b);
    else if (cn_likely(owner != &cn_orphans)) cn_heap_remote_free(owner, pg, b);
    else free_to_orphan(h, pg, b);
}

/* Node b of a remote list, read before anything is written to it: its
 * slab, its last block and block count (a lone block is a node of one),
 * and the next node. */
typedef struct remote_node { cn_page *pg; cn_block *tail; uintptr_t next; uint32_t n; bool run; } remote_node;

static inline __attribute__((always_inline)) remote_node node_read(cn_block *b, uintptr_t key) {
    remote_node v = { .pg = cn_slab_first(cn_page_of((uintptr_t)b)), .tail = b, .n = 1 };
    v.run = runs_fit(v.pg);
    if (v.run) {
        uintptr_t *w = (uintptr_t *)b;
        v.tail = (cn_block *)w[3];
        v.n = (uint32_t)v.tail->next;
        v.next = w[2] ^ key;
    } else {
        v.next = b->next ^ key;
    }
    return v;
}

/* Free run head..tail of n blocks of slab pg, which h took off its remote
 * stack: spliced onto the slab's free list if h still owns it, else block
 * by block wherever the slab now belongs. */
static void run_free(cn_heap *h, cn_page *pg, cn_block *head, cn_block *tail, uint32_t n) {
    if (atomic_load_explicit(&pg->owner, memory_order_acquire) == h) {
        tail->next = (uintptr_t)pg->free ^ pg->key;
        pg->free = head;
        if (cn_used_sub(pg, (uint16_t)n) <= 0) cn_page_after_free(h, pg);
        return;
    }
    run_each(h, pg, head, n);
}

void cn_heap_drain(cn_heap *h) {
    uintptr_t list = atomic_exchange_explicit(&h->remote, 0, memory_order_acquire);
    uintptr_t key = h->remote_key;
    atomic_store_explicit(&h->pending, 0, memory_order_relaxed);
    atomic_store_explicit(&h->drained_at, (uint32_t)cn_os_now_ms(), memory_order_relaxed);
    while (list) {
        cn_block *b = (cn_block *)list;
        remote_node v = node_read(b, key);
        list = v.next;
        if (v.run) run_free(h, v.pg, b, v.tail, v.n);
        else cn_free_to_owner(h, v.pg, b);
    }
}

/* ---------------------------------------------------------------------------
 * Idle heaps
 *
 * A thread that allocated blocks and then waits (a main thread that made
 * the first data and joins its workers) does not drain its remote list, so
 * the blocks others free for it, and their pages, stay out of use until it
 * calls malloc again.  A thread pushing frees to a heap whose list holds
 * CN_RECLAIM_MIN blocks, and that has not drained for CN_RECLAIM_MS, takes
 * the list and gives back every full page whose blocks are all on it (at
 * most one look per CN_RECLAIM_MS per heap, backing off to
 * CN_RECLAIM_MS << CN_RECLAIM_BACKOFF after looks that find nothing).
 * That is safe: the owner holds
 * no block of such a page, so its fast paths cannot touch it (malloc uses
 * current pages only, free a block the program holds), and everything
 * else it does with a full page is under full_lock, which it takes only
 * when it changes pages.  The one race, the owner freeing the page's last
 * block itself as the page is taken, ends in cn_page_after_free, which then
 * finds the page no longer its own.  The rest of the list goes back.
 * ------------------------------------------------------------------------- */
#define RECLAIM_BITS 7
#define RECLAIM_SLOTS (1u << RECLAIM_BITS)     /* slabs counted per look */

typedef struct reclaim_slot { cn_page *pg; uint32_t n; } reclaim_slot;

static reclaim_slot *slot_of(reclaim_slot *tab, cn_page *pg) {
    unsigned i = ((uint32_t)((uintptr_t)pg >> 6) * 0x9e3779b1u) >> (32 - RECLAIM_BITS);
    for (unsigned k = 0; k < RECLAIM_SLOTS; k++, i = (i + 1) & (RECLAIM_SLOTS - 1))
        if (tab[i].pg == pg || !tab[i].pg) return &tab[i];
    return NULL;
}

/* Under a's full_lock: take a's remote list, unlist the full pages all of
 * whose blocks are on it into out[] (their owner cleared), and give a back
 * the rest of the list.  Returns how many pages. */
static size_t reclaim(cn_heap *a, cn_page **out) {
    uintptr_t list = atomic_exchange_explicit(&a->remote, 0, memory_order_acquire);
    uintptr_t key = a->remote_key;
    reclaim_slot tab[RECLAIM_SLOTS];
    memset(tab, 0, sizeof tab);
    for (uintptr_t l = list; l;) {
        remote_node v = node_read((cn_block *)l, key);
        reclaim_slot *s = slot_of(tab, v.pg);
        if (s) { s->pg = v.pg; s->n += v.n; }
        l = v.next;
    }
    size_t got = 0;
    for (cn_page *pg = a->full.first, *after; pg && got < RECLAIM_SLOTS; pg = after) {
        after = pg->next;
        reclaim_slot *s = slot_of(tab, pg);
        /* (Acquire: a count the owner just lowered for a block it freed
         * itself comes with that block's free-list write; see cn_used_sub.) */
        uint16_t out_blocks = (uint16_t)(__atomic_load_n(&pg->used, __ATOMIC_ACQUIRE) & ~CN_USED_FULL);
        if (!s || s->pg != pg || s->n != out_blocks) continue;
        cn_page_list_remove(&a->full, pg);
        atomic_store_explicit(&pg->owner, NULL, memory_order_release);
        s->n = UINT32_MAX;                     /* its nodes are dropped */
        out[got++] = pg;
    }
    /* The other nodes, in their order, go back. */
    cn_block *first = NULL, *last = NULL;
    bool last_run = false;
    for (uintptr_t l = list; l;) {
        cn_block *b = (cn_block *)l;
        remote_node v = node_read(b, key);
        l = v.next;
        reclaim_slot *s = slot_of(tab, v.pg);
        if (s && s->pg == v.pg && s->n == UINT32_MAX) continue;
        if (last) *node_link(last, last_run) = (uintptr_t)b ^ key;
        else first = b;
        last = b;
        last_run = v.run;
    }
    if (first) chain_push(a, first, last, last_run);
    return got;
}

/* A heap a look was put off for (looked at a moment ago): the next page
 * change of any thread looks again (cn_heap_idle_check), so the last frees
 * for an idle heap are not left out. */
static _Atomic(cn_heap *) idle_hint;

static cn_noinline void reclaim_maybe(cn_heap *a) {
    uint32_t now = (uint32_t)cn_os_now_ms();
    if (now - atomic_load_explicit(&a->drained_at, memory_order_relaxed) < CN_RECLAIM_MS) return;
    uint32_t last = atomic_load_explicit(&a->reclaim_at, memory_order_relaxed);
    uint32_t idle = atomic_load_explicit(&a->reclaim_idle, memory_order_relaxed);
    if (now - last < (uint32_t)CN_RECLAIM_MS << idle) {
        /* (Read first: freeing threads would fight over the line.) */
        if (atomic_load_explicit(&idle_hint, memory_order_relaxed) != a)
            atomic_store_explicit(&idle_hint, a, memory_order_relaxed);
        return;
    }
    if (!atomic_compare_exchange_strong_explicit(&a->reclaim_at, &last, now, memory_order_relaxed,
                                                 memory_order_relaxed) ||
        !cn_lock_try(&a->full_lock))
        return;
    cn_page *pages[RECLAIM_SLOTS];
    size_t got = a->state == CN_HEAP_LIVE ? reclaim(a, pages) : 0;
    /* A look that finds nothing to give back costs a walk of the list:
     * back off (a heap whose thread is busy, not idle, drains it soon). */
    if (got) idle = 0;
    else if (idle < CN_RECLAIM_BACKOFF) idle++;
    atomic_store_explicit(&a->reclaim_idle, idle, memory_order_relaxed);
    cn_lock_release(&a->full_lock);
    for (size_t i = 0; i < got; i++) cn_span_free(pages[i]);     /* (it resets their flags) */
    if (got) cn_count_add(&cn_count.reclaimed_pages, got);
}

void cn_heap_idle_check(void) {
    cn_heap *a = atomic_load_explicit(&idle_hint, memory_order_relaxed);
    if (cn_likely(!a)) return;
    atomic_store_explicit(&idle_hint, NULL, memory_order_relaxed);
    if (atomic_load_explicit(&a->pending, memory_order_relaxed) >= CN_RECLAIM_MIN) reclaim_maybe(a);
}

/* ---------------------------------------------------------------------------
 * Orphans
 * ------------------------------------------------------------------------- */
cn_page *cn_orphan_adopt(cn_heap *h, unsigned cls) {
    if (!__atomic_load_n(&cn_orphans.queue[cls].first, __ATOMIC_RELAXED)) return NULL;
    cn_lock_acquire(&cn_orphan_lock);
    cn_page *pg = cn_orphans.queue[cls].first;
    if (pg) orphan_take(h, pg);
    cn_lock_release(&cn_orphan_lock);
    return pg;
}

/* Hand every page of h to the orphans (or the pool, if empty). */
static void heap_abandon(cn_heap *h) {
    cn_lock_acquire(&h->full_lock);   /* (a thread giving back its pages finishes first) */
    h->state = CN_HEAP_DEAD;          /* from now on it adopts nothing */
    cn_lock_release(&h->full_lock);
    cn_heap_drain(h);
    cn_heap_unpin_all(h);
    cn_lock_acquire(&cn_orphan_lock);
    for (unsigned cls = 0; cls <= CN_NCLASS; cls++) {
        cn_page_list *l = cls < CN_NCLASS ? &h->queue[cls] : &h->full;
        cn_page *pg;
        while ((pg = l->first) != NULL) {
            cn_page_list_remove(l, pg);
            if (pg->used == 0) { pg->flags = 0; cn_span_free(pg); continue; }
            atomic_store_explicit(&pg->owner, &cn_orphans, memory_order_release);
            if (!(pg->flags & CN_PF_FULL) && !pg->free && pg->carved == cn_page_capacity(pg)) cn_page_mark_full(pg);
            cn_page_list_push(pg->flags & CN_PF_FULL ? &cn_orphans.full : &cn_orphans.queue[pg->cls], pg);
        }
    }
    cn_lock_release(&cn_orphan_lock);
    cn_heap_release_kept(h);
    heap_reset(h);
    cn_heap_drain(h);              /* frees that raced with the hand-over */
}

/* ---------------------------------------------------------------------------
 * Heap lifecycle
 * ------------------------------------------------------------------------- */
/* The thread of h is going (under heaps_lock): h keeps its bins itself
 * from now on, so nothing reads the thread's TLS after it is gone. */
static void heap_leave_front(cn_heap *h) {
    if (h->bins == h->own_bins) return;
    for (unsigned c = 0; c < CN_NCLASS; c++) h->own_bins[c] = h->bins[c];
    h->bins = h->own_bins;
}

/* The counts a thread adds when its pages stop being current (page.c). */
void cn_heap_allocs(const cn_heap *h, uint64_t out[CN_NCLASS]) {
    for (unsigned c = 0; c < CN_NCLASS; c++) out[c] = __atomic_load_n(&h->allocs[c], __ATOMIC_RELAXED);
}

static void thread_exit(void *arg) {
    cn_heap *h = arg;
#if CN_VALGRIND
    if (cn_vg_on && cn_vg_depth == 0) {   /* the heap is out of cn_tls_heap */
        cn_vg_enter();
        thread_exit(arg);
        cn_vg_leave();
        return;
    }
#endif
    if (h != cn_tls_heap) return;
    rf.off = true;                     /* frees from here on (later destructors) push at once */
    cn_remote_flush();
    cn_tls_heap = &cn_heap_empty;
    heap_abandon(h);                   /* leaves the front's bins empty */
    cn_lock_acquire(&heaps_lock);
    heap_leave_front(h);
    h->next_free = dead_heaps;
    dead_heaps = h;
    cn_lock_release(&heaps_lock);
}

static cn_heap *heap_new(void) {
    cn_lock_acquire(&heaps_lock);
    cn_heap *h = dead_heaps;
    if (h) {
        dead_heaps = h->next_free;
    } else {
        size_t sz = (sizeof(cn_heap) + 63) & ~(size_t)63;
        if (heap_chunk_left < sz) {
            size_t chunk = 64 * 1024;
            heap_chunk = cn_os_map(chunk);
            heap_chunk_left = heap_chunk ? chunk : 0;
        }
        if (heap_chunk_left >= sz) {
            h = (cn_heap *)heap_chunk;
            heap_chunk += sz;
            heap_chunk_left -= sz;
            h->remote_key = (uintptr_t)cn_os_random();
            h->rng = cn_os_random() | 1;
            h->next_all = all_heaps;
            all_heaps = h;
        }
    }
    if (h) {
        cn_lock_acquire(&h->full_lock);
        h->state = CN_HEAP_LIVE;
        cn_lock_release(&h->full_lock);
        /* Set under the lock: fork's child and the statistics read them. */
        if (!cn_vg_on) {               /* under valgrind the front stays empty */
            h->bins = cn_tls.bins;
        } else {
            h->bins = h->own_bins;
        }
    }
    cn_lock_release(&heaps_lock);
    return h;
}

cn_heap *cn_heap_get(void) {
    cn_heap *h = cn_tls_heap;
    if (cn_likely(h != &cn_heap_empty)) return h;
    cn_init();
    if ((h = cn_tls_heap) != &cn_heap_empty) return h;    /* init allocated */
    h = heap_new();
    if (!h) return NULL;
    heap_reset(h);
    cn_tls_heap = h;
    cn_heap_drain(h);                  /* a reused heap may hold late remote frees */
    pthread_setspecific(thread_key, h);
    return h;
}

void cn_heaps_init(void) {
    heap_reset(&cn_orphans);
    cn_orphans.state = CN_HEAP_ORPHAN;
    pthread_key_create(&thread_key, thread_exit);
}

/* Drain the remote frees that reached exited threads' heaps. */
void cn_heaps_collect_dead(void) {
    cn_lock_acquire(&heaps_lock);
    for (cn_heap *h = dead_heaps; h; h = h->next_free) cn_heap_drain(h);
    cn_lock_release(&heaps_lock);
}

/* ---------------------------------------------------------------------------
 * fork: hold every lock across it, so the child sees consistent structures.
 * The child's other threads are gone; their heaps stay as they were (their
 * blocks remain valid and can be freed; the pages are not reused).
 * ------------------------------------------------------------------------- */
void cn_heap_fork_prepare(void) {
    cn_lock_acquire(&heaps_lock);
    cn_lock_acquire(&cn_orphan_lock);
    for (cn_heap *h = all_heaps; h; h = h->next_all) cn_lock_acquire(&h->full_lock);
}
void cn_heap_fork_parent(void) {
    for (cn_heap *h = all_heaps; h; h = h->next_all) cn_lock_release(&h->full_lock);
    cn_lock_release(&cn_orphan_lock);
    cn_lock_release(&heaps_lock);
}
void cn_heap_fork_child(void) {
    for (cn_heap *h = all_heaps; h; h = h->next_all) cn_lock_reset(&h->full_lock);
    cn_lock_reset(&cn_orphan_lock);
    cn_lock_reset(&heaps_lock);
    /* The other threads' fronts are copies in the child, and a thread it
     * starts may get one of their TLS blocks: their heaps leave them. */
    for (cn_heap *h = all_heaps; h; h = h->next_all)
        if (h != cn_tls_heap) heap_leave_front(h);
}

/* ---------------------------------------------------------------------------
 * Statistics (stats.c): the list of heaps.  Heaps are never unmapped, so the
 * pointers stay valid after the lock is released.
 * ------------------------------------------------------------------------- */
size_t cn_heaps_list(cn_heap **out, size_t max) {
    size_t n = 0;
    cn_lock_acquire(&heaps_lock);
    for (cn_heap *h = all_heaps; h; h = h->next_all, n++)
        if (n < max) out[n] = h;
    cn_lock_release(&heaps_lock);
    return n;
}
