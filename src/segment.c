/* segment.c -- segments, the segment map, and the global page pool.
 *
 * Free pages of every segment form *spans*, kept in lists by exact length
 * (a bitmap finds the smallest list that fits), so the pages of any size
 * class, and large blocks, flow back into one pool that every class and
 * every thread draws from.
 *
 * Freed pages stay resident ("dirty") until the oldest of their segment's
 * has waited CAIRN_PURGE_DELAY_MS, or until more than CAIRN_PURGE_MAX_DIRTY
 * bytes wait; then they are purged with madvise.  Dirty and clean (purged or never
 * used) pages form separate spans in separate lists, and a request takes a
 * dirty span when one fits: memory already resident serves first, so the
 * pool touches new pages only when the resident ones cannot serve.  A span
 * being freed merges with its dirty neighbours; purging a segment merges
 * its free pages into clean spans.  Segments with dirty pages are kept in a
 * list ordered by when they got their oldest, so the check is O(1).  A segment whose
 * pages are all free is unmapped, except one spare.
 * Everything here runs under cn_pool_lock.
 */
#include "cairn/internal.h"

uint16_t cn_segmap[CN_SEGMAP_BITS];
cn_lock cn_pool_lock = CN_LOCK_INIT;

static struct {
    cn_page *lists[2][CN_SEG_PAGES];               /* free spans: [dirty][length] */
    uintptr_t nonempty[2][CN_SEG_PAGES / CN_WORD_BITS];
    size_t dirty_pages;                            /* free and not purged  */
    size_t used_pages;                             /* handed out of the pool */
    cn_segment *spare;                             /* an empty segment kept */
    uintptr_t hint;                                /* where to map next    */
    cn_segment *segments;                          /* all, linked by meta.free */
    size_t nsegments, peak_segments, purged_bytes;
    size_t mapped_bytes, peak_mapped;  /* segments (short ones count what they map) */
    size_t   short_pages;             /* under pressure: the size that last fit... */
    uint64_t short_until;             /* ...tried first until then (ms)            */
    cn_page *dirty_first, *dirty_last;             /* segments (their meta page)
                                                      with dirty pages, by when
                                                      they got the first of them
                                                      (meta->key), oldest first */
} pool;

/* (Relaxed atomic stores, under the pool lock: lend() in page.c reads the
 * count unlocked.) */
static void dirty_add(long d) {
    __atomic_store_n(&pool.dirty_pages, (size_t)((long)pool.dirty_pages + d), __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------------------
 * Segment map
 * ------------------------------------------------------------------------- */
static void segmap_set(uintptr_t seg, size_t npages) {
    __atomic_store_n(&cn_segmap[seg >> CN_SEG_SHIFT], (uint16_t)(npages * sizeof(cn_page)), __ATOMIC_RELEASE);
}

/* ---------------------------------------------------------------------------
 * Span lists.  A span's pages are all dirty or all clean; its first page's
 * CN_PF_DIRTY flag says which lists hold it (it must not change while listed).
 * ------------------------------------------------------------------------- */
static bool span_dirty(const cn_page *first) { return first->flags & CN_PF_DIRTY; }

/* The length of the span that starts at `first` (free or in use), so that
 * a segment is walked span by span from page 1.  (At least 1, so a walk always moves on.) */
static size_t span_len(const cn_page *first) { return first->npages ? first->npages : 1; }

static void list_insert(cn_page *first) {
    size_t n = first->npages, d = span_dirty(first);
    first->prev = NULL;
    first->next = pool.lists[d][n];
    if (first->next) first->next->prev = first;
    pool.lists[d][n] = first;
    pool.nonempty[d][n / CN_WORD_BITS] |= (uintptr_t)1 << (n % CN_WORD_BITS);
}

static void list_remove(cn_page *first) {
    size_t n = first->npages, d = span_dirty(first);
    if (first->prev) first->prev->next = first->next;
    else pool.lists[d][n] = first->next;
    if (first->next) first->next->prev = first->prev;
    if (!pool.lists[d][n]) pool.nonempty[d][n / CN_WORD_BITS] &= ~((uintptr_t)1 << (n % CN_WORD_BITS));
}

/* The shortest free span of at least n pages in lists d, or NULL. */
static cn_page *list_find_in(size_t d, size_t n) {
    for (size_t w = n / CN_WORD_BITS; w < CN_SEG_PAGES / CN_WORD_BITS; w++) {
        uintptr_t bits = pool.nonempty[d][w];
        if (w == n / CN_WORD_BITS) bits &= ~(uintptr_t)0 << (n % CN_WORD_BITS);
        if (bits) return pool.lists[d][w * CN_WORD_BITS + (size_t)__builtin_ctzl(bits)];
    }
    return NULL;
}

static cn_page *merge_find(size_t n);

/* Pages to skip at the start of free span s so that it starts on a multiple
 * of `align` pages (address alignment: segments are aligned). */
static size_t align_skip(const cn_page *s, size_t align) {
    return cn_align_gap(cn_page_addr(s), align * CN_PAGE_SIZE) / CN_PAGE_SIZE;
}

/* A span in lists d too short to hold n pages at any position (shorter than
 * n + align - 1) but placed so that it holds them aligned; or NULL.  Looks
 * at a few spans of each length, shortest first. */
static cn_page *list_find_placed(size_t d, size_t n, size_t align) {
    for (size_t len = n; len < n + align - 1 && len < CN_SEG_PAGES; len++) {
        cn_page *s = pool.lists[d][len];
        for (int k = 0; s && k < 8; s = s->next, k++)
            if (align_skip(s, align) + n <= len) return s;
    }
    return NULL;
}

/* The span to cut n pages (aligned to `align` pages) from: the shortest
 * dirty one that holds them, else the shortest clean one, else free
 * neighbours merged (merge_find); or NULL. */
static cn_page *list_find(size_t n, size_t align) {
    size_t want = n + align - 1;          /* holds n aligned pages wherever it is */
    cn_page *s = NULL;
    for (int dirty = 1; !s && dirty >= 0; dirty--) {
        if (align > 1) s = list_find_placed((size_t)dirty, n, align);
        if (!s) s = list_find_in((size_t)dirty, want);
    }
    if (!s) s = merge_find(want);
    return s;
}

static void span_mark(cn_page *first, size_t n, cn_kind kind, cn_kind tail_kind) {
    first->kind = (uint8_t)kind;
    first->npages = (uint16_t)n;
    first->back = 0;
    for (size_t i = 1; i < n; i++) {
        first[i].kind = (uint8_t)tail_kind;
        first[i].back = (uint8_t)i;
        atomic_store_explicit(&first[i].owner, NULL, memory_order_relaxed);
    }
}

/* Describe [first, first+n) as one free span and list it. */
static void span_publish(cn_page *first, size_t n) {
    first->npages = (uint16_t)n;
    first->back = 0;
    first[n - 1].back = (uint8_t)(n - 1);
    list_insert(first);
}

/* ---------------------------------------------------------------------------
 * Segments
 * ------------------------------------------------------------------------- */
static void *map_aligned(size_t size, bool pressed) {
    void *p;
    /* Where the last segment went, the windows below are usually free (not
     * worth trying when memory is short: each try is two system calls). */
    for (int k = 0; k < 8 && !pressed && pool.hint > (uintptr_t)k * CN_SEG_SIZE; k++)
        if ((p = cn_os_map_at((void *)(pool.hint - (uintptr_t)k * CN_SEG_SIZE), size))) return p;
    p = cn_os_map(size);
    if (!p) return NULL;
    uintptr_t a = (uintptr_t)p;
    if ((a & (CN_SEG_SIZE - 1)) == 0) return p;
    cn_os_unmap(p, size);
    /* The space just below or above an unaligned mapping is usually free. */
    uintptr_t down = a & ~(CN_SEG_SIZE - 1), up = down + CN_SEG_SIZE;
    if (down && (p = cn_os_map_at((void *)down, size))) return p;
    if ((p = cn_os_map_at((void *)up, size))) return p;
    /* Over-map and trim: costs a segment of address space for a moment. */
    p = cn_os_map(size + CN_SEG_SIZE);
    if (!p) return NULL;
    a = (uintptr_t)p;
    uintptr_t s = (a + CN_SEG_SIZE - 1) & ~(CN_SEG_SIZE - 1);
    if (s > a) cn_os_unmap(p, s - a);
    if (s + size < a + size + CN_SEG_SIZE) cn_os_unmap((void *)(s + size), a + CN_SEG_SIZE - s);
    return (void *)s;
}

static bool release_cached_locked(void);

/* The segment map is 64 MiB of .bss of which a program touches a page or
 * two; in THP mode "always" each touch would make 2 MiB resident.  (Once,
 * under the pool lock; on 32-bit the map is smaller than a page.) */
static void segmap_no_huge_pages(void) {
    static bool done;
    if (done) return;
    done = true;
    uintptr_t ps = cn_os_page_size();
    uintptr_t a = ((uintptr_t)cn_segmap + ps - 1) & ~(ps - 1);
    uintptr_t e = (uintptr_t)(cn_segmap + CN_SEGMAP_BITS) & ~(ps - 1);
    if (e > a) cn_os_huge_pages((void *)a, e - a, false);
}

/* Map a new segment with at least `min_pages` free pages and list them. */
static bool segment_new(size_t min_pages) {
    /* For a large block, map only as many pages as a whole number of such
     * blocks fills, so a program of big blocks wastes no address space. */
    size_t npages = CN_SEG_PAGES;
    if (min_pages > CN_SEG_PAGES / 16) npages = 1 + min_pages * ((CN_SEG_PAGES - 1) / min_pages);
    /* Short on memory or address space, the last segment was smaller: for
     * a second, start from its size (each failed attempt costs system calls). */
    if (pool.short_pages && pool.short_pages < npages) {
        if (cn_os_now_ms() < pool.short_until) npages = pool.short_pages > min_pages + 1 ? pool.short_pages : min_pages + 1;
        else pool.short_pages = 0;
    }
    size_t want = npages;
    void *p = map_aligned(npages * CN_PAGE_SIZE, false);
    if (!p && release_cached_locked()) p = map_aligned(npages * CN_PAGE_SIZE, true);
    /* Then the largest of halving sizes that still fits, down to just what
     * is needed (a smaller segment spends its descriptor page on fewer
     * blocks). */
    for (size_t half = npages / 2; !p && half > min_pages + 1; half /= 2)
        p = map_aligned((npages = half) * CN_PAGE_SIZE, true);
    if (!p) {
        npages = min_pages + 1;
        p = map_aligned(npages * CN_PAGE_SIZE, true);
        if (!p) return false;
    }
    if (npages < want) {
        pool.short_pages = npages;
        pool.short_until = cn_os_now_ms() + 1000;
    }
    /* A big heap's full segments take huge pages (before the first touch),
     * until their first purge. */
    long thp = cn_options[CN_OPT_THP];
    bool on_thp = npages == CN_SEG_PAGES && (thp >= 3 || (thp == 2 && pool.used_pages * CN_PAGE_SIZE >= CN_THP_HEAP)) &&
                  cn_os_thp_try();
    if (on_thp) {
        cn_os_huge_pages(p, CN_SEG_SIZE, true);
        cn_count_add(&cn_count.thp_segments, 1);
    } else if (thp == 0 || cn_os_thp_always()) {
        /* Where the kernel would use huge pages unasked (THP mode "always"),
         * say no: a segment's first 64 KiB page would make 2 MiB resident. */
        cn_os_huge_pages(p, npages * CN_PAGE_SIZE, false);
        segmap_no_huge_pages();
    }
    uintptr_t a = (uintptr_t)p;
    pool.hint = a > CN_SEG_SIZE ? a - CN_SEG_SIZE : 0;
    cn_segment *seg = p;                      /* fresh memory: every field is 0 (FREE) */
    cn_page *meta = &seg->pages[0];
    if (on_thp) meta->flags = CN_PF_THP;
    meta->kind = CN_KIND_META;
    meta->npages = (uint16_t)npages;
    meta->used = 1;
    for (size_t i = npages; i < CN_SEG_PAGES; i++) seg->pages[i].kind = CN_KIND_NONE;
    span_publish(&seg->pages[1], npages - 1);
    segmap_set(a, npages);
    meta->free = (cn_block *)pool.segments;
    pool.segments = seg;
    if (++pool.nsegments > pool.peak_segments) pool.peak_segments = pool.nsegments;
    pool.mapped_bytes += npages * CN_PAGE_SIZE;
    if (pool.mapped_bytes > pool.peak_mapped) pool.peak_mapped = pool.mapped_bytes;
    return true;
}

/* The dirty-segment list, linked through the meta descriptors.  The time of
 * its first (oldest) segment is also kept where cn_pool_expire can read it
 * without the lock (0: no dirty segment). */
static _Atomic uint64_t dirty_oldest;

static void dirty_first_set(cn_page *meta) {
    pool.dirty_first = meta;
    atomic_store_explicit(&dirty_oldest, meta ? meta->key : 0, memory_order_relaxed);
}

static void dirty_unlink(cn_page *meta) {
    if (!(meta->flags & CN_PF_DIRTY)) return;
    if (meta->prev) meta->prev->next = meta->next; else dirty_first_set(meta->next);
    if (meta->next) meta->next->prev = meta->prev; else pool.dirty_last = meta->prev;
    meta->next = meta->prev = NULL;
    meta->flags &= (uint8_t)~CN_PF_DIRTY;
}

/* A page of the segment of `meta` is freed (dirty) at `now`.  The segment
 * keeps its place and time if it already had dirty pages: its pages go
 * back to the OS once its oldest dirty one has waited the purge delay, even
 * if others keep being freed there (with the time of the last free, a
 * segment of a busy program, which frees spans everywhere, never was). */
static void dirty_touch(cn_page *meta, uint64_t now) {
    if (meta->flags & CN_PF_DIRTY) return;
    dirty_unlink(meta);
    meta->key = now;
    meta->flags |= CN_PF_DIRTY;
    meta->next = NULL;
    meta->prev = pool.dirty_last;
    if (pool.dirty_last) pool.dirty_last->next = meta; else dirty_first_set(meta);
    pool.dirty_last = meta;
}

static void segment_unmap(cn_segment *seg) {
    size_t npages = seg->pages[0].npages;
    for (size_t i = 1; i < npages; i += seg->pages[i].npages) {   /* all free */
        if (span_dirty(&seg->pages[i])) dirty_add(-(long)seg->pages[i].npages);
        list_remove(&seg->pages[i]);
    }
    dirty_unlink(&seg->pages[0]);
    segmap_set((uintptr_t)seg, 0);
    for (cn_segment **pp = &pool.segments; *pp; pp = (cn_segment **)&(*pp)->pages[0].free)
        if (*pp == seg) { *pp = (cn_segment *)seg->pages[0].free; break; }
    pool.nsegments--;
    pool.mapped_bytes -= npages * CN_PAGE_SIZE;
    pool.short_pages = 0;                     /* space again: try full segments */
    if (pool.spare == seg) pool.spare = NULL;
    cn_os_unmap(seg, npages * CN_PAGE_SIZE);
}

static bool release_cached_locked(void) {
    bool any = cn_huge_release_cache() > 0;
    if (pool.spare) { segment_unmap(pool.spare); any = true; }
    return any;
}

bool cn_pool_release_cached(void) {
    cn_lock_acquire(&cn_pool_lock);
    bool any = release_cached_locked();
    cn_lock_release(&cn_pool_lock);
    return any;
}

/* ---------------------------------------------------------------------------
 * Purging
 * ------------------------------------------------------------------------- */
/* The free pages of seg from page i (a free span's first) up to the next
 * page in use, unlisted and listed again as one span -- clean, with its
 * dirty pages (or, with all, every page) purged, or else dirty (clean pages
 * only counted as dirty: no system call).  Returns the page after the run
 * and adds what it purged to *purged. */
static size_t run_merge(cn_segment *seg, size_t i, bool clean, bool all, size_t *purged) {
    cn_page *pg = seg->pages;
    size_t n = pg[0].npages, j = i;
    while (j < n && pg[j].kind == CN_KIND_FREE) {
        size_t len = pg[j].npages;
        bool dirty = span_dirty(&pg[j]);
        list_remove(&pg[j]);
        if (clean && (dirty || all)) cn_os_purge((void *)cn_page_addr(&pg[j]), len * CN_PAGE_SIZE);
        if (clean && dirty) { dirty_add(-(long)len); *purged += len * CN_PAGE_SIZE; }
        if (!clean && !dirty) dirty_add((long)len);
        for (size_t k = j; k < j + len; k++) pg[k].flags = clean ? 0 : CN_PF_DIRTY;
        j += len;
    }
    span_publish(&pg[i], j - i);
    return j;
}

static size_t purge_segment(cn_segment *seg) {
    size_t purged = 0;
    cn_page *pg = seg->pages;
    size_t n = pg[0].npages;
    /* A segment on huge pages (see segment_new) stops asking for them, and
     * this once its never-used free pages go too: a huge page made them
     * resident with the first touch of its range. */
    bool all = pg[0].flags & CN_PF_THP;
    if (all) {
        cn_os_huge_pages(seg, n * CN_PAGE_SIZE, false);
        pg[0].flags &= (uint8_t)~CN_PF_THP;
    }
    for (size_t i = 1; i < n;)
        i = pg[i].kind == CN_KIND_FREE ? run_merge(seg, i, true, all, &purged) : i + span_len(&pg[i]);
    pool.purged_bytes += purged;
    dirty_unlink(&pg[0]);
    return purged;
}

/* No span holds n pages, but free neighbours (a dirty and a clean span) may
 * together: merge the first such run into one dirty span.  Only a segment
 * with dirty pages has such neighbours (purging merges a segment's runs). */
static cn_page *merge_find(size_t n) {
    for (cn_page *meta = pool.dirty_first; meta; meta = meta->next) {
        cn_segment *seg = cn_segment_of_page(meta);
        cn_page *pg = seg->pages;
        size_t end = pg[0].npages;
        for (size_t i = 1; i < end;) {
            if (pg[i].kind != CN_KIND_FREE) { i += span_len(&pg[i]); continue; }
            size_t j = i;
            while (j < end && pg[j].kind == CN_KIND_FREE) j += pg[j].npages;
            if (j - i >= n) {
                size_t none = 0;
                run_merge(seg, i, false, false, &none);
                return &pg[i];
            }
            i = j;
        }
    }
    return NULL;
}

static size_t purge_locked(bool all, uint64_t now) {
    size_t purged = 0;
    uint64_t delay = (uint64_t)cn_options[CN_OPT_PURGE_DELAY_MS];
    /* The budget grows with the heap: a quarter of the pages in use. */
    size_t max_dirty = (size_t)cn_options[CN_OPT_PURGE_MAX_DIRTY] / CN_PAGE_SIZE;
    if (max_dirty < pool.used_pages / 4) max_dirty = pool.used_pages / 4;
    cn_page *meta;
    while ((meta = pool.dirty_first) != NULL) {
        if (!all && pool.dirty_pages <= max_dirty && now - meta->key < delay) break;
        purged += purge_segment(cn_segment_of_page(meta));
    }
    return purged;
}

/* Called as heaps change pages: freed pages are purged after the delay
 * even when no more pages go back to the pool. */
void cn_pool_expire(void) {
    uint64_t t = atomic_load_explicit(&dirty_oldest, memory_order_relaxed);
    if (!t) return;
    uint64_t now = cn_os_now_ms();
    if (now - t < (uint64_t)cn_options[CN_OPT_PURGE_DELAY_MS]) return;
    cn_lock_acquire(&cn_pool_lock);
    purge_locked(false, now);
    cn_lock_release(&cn_pool_lock);
}

size_t cn_pool_dirty_pages(void) { return __atomic_load_n(&pool.dirty_pages, __ATOMIC_RELAXED); }

size_t cn_pool_purge(bool all) {
    cn_lock_acquire(&cn_pool_lock);
    size_t n = purge_locked(all, cn_os_now_ms());
    if (all && pool.spare) segment_unmap(pool.spare);
    cn_lock_release(&cn_pool_lock);
    return n;
}

/* ---------------------------------------------------------------------------
 * Taking and giving spans
 * ------------------------------------------------------------------------- */

/* Cut the first n pages off free span s (already unlisted); list the rest. */
static void span_take(cn_page *s, size_t n, bool *zero) {
    size_t total = s->npages;
    if (total > n) span_publish(s + n, total - n);
    bool z = true;
    for (size_t i = 0; i < n; i++)
        if (s[i].flags & CN_PF_DIRTY) { z = false; s[i].flags = 0; dirty_add(-1); }
    if (zero) *zero = z;
    cn_segment *seg = cn_segment_of_page(s);
    seg->pages[0].used = (uint16_t)(seg->pages[0].used + n);
    pool.used_pages += n;
    if (pool.spare == seg) pool.spare = NULL;
    s->npages = (uint16_t)n;
}

cn_page *cn_span_alloc_aligned(size_t npages, size_t align_pages, cn_kind kind, bool *zero) {
    cn_lock_acquire(&cn_pool_lock);
    size_t mapped = pool.mapped_bytes;
    cn_page *s = list_find(npages, align_pages);
    if (!s && segment_new(npages + align_pages - 1)) s = list_find(npages, align_pages);
    if (s) {
        list_remove(s);
        size_t skip = align_skip(s, align_pages);
        if (skip) {                                  /* give back the pages before it */
            size_t total = s->npages;
            span_publish(s, skip);
            s += skip;
            s->npages = (uint16_t)(total - skip);
        }
        span_take(s, npages, zero);
        /* Mark it taken before anyone can look at its neighbours. */
        span_mark(s, npages, kind, kind == CN_KIND_SLAB ? CN_KIND_SLAB_TAIL : CN_KIND_LARGE_TAIL);
    }
    mapped = pool.mapped_bytes > mapped ? pool.mapped_bytes - mapped : 0;
    cn_lock_release(&cn_pool_lock);
    if (mapped) cn_huge_cache_yield(mapped);     /* freed huge pages first */
    return s;
}

cn_page *cn_span_alloc(size_t npages, cn_kind kind, bool *zero) {
    return cn_span_alloc_aligned(npages, 1, kind, zero);
}

/* Give span first back to the pool (under the lock). */
static void span_free_locked(cn_page *first, uint64_t now) {
    size_t n = first->npages;
    cn_segment *seg = cn_segment_of_page(first);
    size_t idx = cn_page_index(first);
    for (size_t i = 0; i < n; i++) {
        first[i].kind = CN_KIND_FREE;
        atomic_store_explicit(&first[i].owner, NULL, memory_order_relaxed);
        if (!(first[i].flags & CN_PF_DIRTY)) dirty_add(1);
        first[i].flags = CN_PF_DIRTY;
    }
    seg->pages[0].used = (uint16_t)(seg->pages[0].used - n);
    pool.used_pages -= n;
    dirty_touch(&seg->pages[0], now);
    cn_page *s = first;
    size_t total = n;
    cn_page *left = &seg->pages[idx - 1];
    if (idx > 1 && left->kind == CN_KIND_FREE && span_dirty(left)) {
        cn_page *lf = left - left->back;
        list_remove(lf);
        total += lf->npages;
        s = lf;
    }
    size_t end = idx + n;
    if (end < seg->pages[0].npages && seg->pages[end].kind == CN_KIND_FREE && span_dirty(&seg->pages[end])) {
        list_remove(&seg->pages[end]);
        total += seg->pages[end].npages;
    }
    span_publish(s, total);
    if (seg->pages[0].used == 1) {                  /* the whole segment is free */
        if (pool.spare && pool.spare != seg) segment_unmap(pool.spare);
        pool.spare = seg;
    }
    purge_locked(false, now);
}

void cn_span_free(cn_page *first) {
    cn_lock_acquire(&cn_pool_lock);
    span_free_locked(first, cn_os_now_ms());
    cn_lock_release(&cn_pool_lock);
    cn_huge_expire();
}

/* Keep the first npages of a large block's span; its lengths change under
 * the lock (statistics walk the spans). */
void cn_span_shrink(cn_page *first, size_t npages) {
    size_t n = first->npages;
    if (npages >= n) return;
    cn_page *tail = first + npages;
    cn_lock_acquire(&cn_pool_lock);
    first->npages = (uint16_t)npages;
    tail->npages = (uint16_t)(n - npages);
    tail->back = 0;
    span_free_locked(tail, cn_os_now_ms());
    cn_lock_release(&cn_pool_lock);
    cn_huge_expire();
}

bool cn_span_grow(cn_page *first, size_t npages) {
    size_t n = first->npages;
    cn_segment *seg = cn_segment_of_page(first);
    size_t end = cn_page_index(first) + n;
    bool ok = false;
    cn_lock_acquire(&cn_pool_lock);
    cn_page *next = &seg->pages[end];
    if (end < seg->pages[0].npages && next->kind == CN_KIND_FREE && n + next->npages >= npages) {
        list_remove(next);
        span_take(next, npages - n, NULL);
        for (size_t i = n; i < npages; i++) { first[i].kind = CN_KIND_LARGE_TAIL; first[i].back = (uint16_t)i; }
        first->npages = (uint16_t)npages;
        first->flags &= (uint8_t)~CN_PF_ZERO;
        ok = true;
    }
    cn_lock_release(&cn_pool_lock);
    return ok;
}

/* ---------------------------------------------------------------------------
 * Statistics: visit every page descriptor under the pool lock (no page can
 * be released or segment unmapped meanwhile).
 * ------------------------------------------------------------------------- */
void cn_pool_walk(cn_pool_info *info, void (*visit)(void *arg, const cn_page *first), void *arg) {
    cn_lock_acquire(&cn_pool_lock);
    info->segments = pool.nsegments;
    info->peak_segments = pool.peak_segments;
    info->peak_mapped = pool.peak_mapped;
    info->mapped = pool.mapped_bytes;
    info->dirty = pool.dirty_pages * CN_PAGE_SIZE;
    info->purged = pool.purged_bytes;
    for (cn_segment *seg = pool.segments; seg; seg = (cn_segment *)seg->pages[0].free) {
        size_t n = seg->pages[0].npages;
        for (size_t i = 1; i < n; i += span_len(&seg->pages[i]))
            if (visit) visit(arg, &seg->pages[i]);
    }
    cn_lock_release(&cn_pool_lock);
}
