/* huge.c -- blocks above the huge threshold, each in a mapping of its own.
 *
 * A hash table (open addressing, keyed by the block's address) records every
 * live huge block, so free() can tell a huge block from a pointer that is not
 * ours.  Freed mappings are kept in a small cache for reuse (churn of big
 * buffers would otherwise fault in fresh pages every time); entries older
 * than the purge delay are unmapped.  realloc grows and shrinks with mremap.
 */
#define _GNU_SOURCE
#include "cairn/internal.h"

typedef struct huge_entry {
    uintptr_t ptr;        /* the block as the program sees it (0: empty, 1: deleted) */
    uintptr_t base;       /* the mapping */
    size_t    size;       /* bytes mapped */
} huge_entry;

#define HUGE_CACHE_SLOTS 8
typedef struct cache_entry { uintptr_t base; size_t size; uint64_t time; } cache_entry;

#define FREED_RING 32     /* recently freed huge blocks, to name a double free */

static cn_lock huge_lock = CN_LOCK_INIT;
static struct {
    uintptr_t freed[FREED_RING];
    unsigned freed_next;
    huge_entry *table;
    size_t cap, count, used;          /* used counts deleted slots too */
    size_t pending;                   /* entries out while their block is remapped */
    cache_entry cache[HUGE_CACHE_SLOTS];
    size_t cache_bytes;
} hg;

#define DELETED ((uintptr_t)1)

static size_t hash_of(uintptr_t p, size_t cap) {
    uint64_t h = (uint64_t)p * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 32) & (cap - 1);
}

static huge_entry *table_find(uintptr_t p) {
    if (!hg.cap) return NULL;
    for (size_t i = hash_of(p, hg.cap);; i = (i + 1) & (hg.cap - 1)) {
        huge_entry *e = &hg.table[i];
        if (e->ptr == p) return e;
        if (e->ptr == 0) return NULL;
    }
}

/* Insert v; returns 1 if it took a never-used slot (for the load count). */
static size_t table_put(huge_entry *tab, size_t cap, huge_entry v) {
    size_t i = hash_of(v.ptr, cap);
    while (tab[i].ptr > DELETED) i = (i + 1) & (cap - 1);
    size_t fresh = tab[i].ptr == 0;
    tab[i] = v;
    return fresh;
}

/* Make room for one more entry; false if the table cannot grow. */
static bool table_reserve(void) {
    if ((hg.used + hg.pending + 1) * 2 <= hg.cap) return true;
    size_t cap = hg.cap ? hg.cap * 2 : 256;
    if (hg.count * 4 < hg.cap) cap = hg.cap;           /* mostly tombstones: rehash only */
    huge_entry *tab = cn_os_map(cap * sizeof *tab);
    if (!tab) return false;
    for (size_t i = 0; i < hg.cap; i++)
        if (hg.table[i].ptr > DELETED) table_put(tab, cap, hg.table[i]);
    if (hg.table) cn_os_unmap(hg.table, hg.cap * sizeof *tab);
    hg.table = tab;
    hg.cap = cap;
    hg.used = hg.count;
    return true;
}

static void table_delete(huge_entry *e) {
    e->ptr = DELETED;
    hg.count--;
}

/* The statistics: live huge blocks went from `was` to `now` bytes mapped
 * (size_t differences would wrap on 32-bit: the counter is 64-bit). */
static void count_bytes(size_t now, size_t was) {
    if (now <= was) {
        atomic_fetch_sub_explicit(&cn_count.huge_bytes, was - now, memory_order_relaxed);
        return;
    }
    uint64_t total = atomic_fetch_add_explicit(&cn_count.huge_bytes, now - was, memory_order_relaxed) + (now - was);
    uint64_t peak = atomic_load_explicit(&cn_count.huge_peak, memory_order_relaxed);
    while (total > peak && !atomic_compare_exchange_weak(&cn_count.huge_peak, &peak, total)) {}
}

/* Unmap cached mappings older than the delay (all if `all`); under the lock,
 * returns what to unmap in `out`. */
static size_t cache_expire(bool all, cache_entry *out) {
    size_t n = 0;
    uint64_t now = cn_os_now_ms();
    for (int i = 0; i < HUGE_CACHE_SLOTS; i++) {
        cache_entry *c = &hg.cache[i];
        if (c->base && (all || now - c->time >= (uint64_t)cn_options[CN_OPT_PURGE_DELAY_MS])) {
            out[n++] = *c;
            hg.cache_bytes -= c->size;
            c->base = 0;
        }
    }
    return n;
}

static void unmap_all(cache_entry *v, size_t n) {
    for (size_t i = 0; i < n; i++) cn_os_unmap((void *)v[i].base, v[i].size);
}

size_t cn_huge_release_cache(void) {
    cache_entry out[HUGE_CACHE_SLOTS];
    cn_lock_acquire(&huge_lock);
    size_t n = cache_expire(true, out);
    cn_lock_release(&huge_lock);
    unmap_all(out, n);
    return n;
}

/* Blocks of CN_THP_BLOCK_MIN or more ask for transparent huge pages, as
 * long as the first touches timed find them worth it (see os.c). */
static bool thp_size(size_t n) { return cn_options[CN_OPT_THP] && n >= CN_THP_BLOCK_MIN; }
static bool thp_wanted(size_t n) { return thp_size(n) && cn_os_thp_try(); }
/* Ask for [p, p + n); the first whole huge page at or past `fresh` (never
 * touched) is touched now, and timed. */
static bool thp_probe(void *p, size_t n, size_t fresh) {
    uintptr_t a = (uintptr_t)p, page = (a + fresh + CN_THP_SIZE - 1) & ~(uintptr_t)(CN_THP_SIZE - 1);
    if (page - a >= n || n - (page - a) < CN_THP_SIZE) return true;
    cn_count_add(&cn_count.thp_probes, 1);
    if (cn_os_thp_probe((void *)page)) return true;
    cn_count_add(&cn_count.thp_dear, 1);
    return false;
}
static void thp_ask(void *p, size_t n, size_t fresh) {
    cn_os_huge_pages(p, n, true);
    cn_count_add(&cn_count.thp_blocks, 1);
    if (!thp_probe(p, n, fresh)) cn_os_huge_pages(p, n, false);
}

/* The cached mapping to reuse for `need` bytes at `alignment` (under the
 * lock; -1 if none): the smallest that holds the block; failing that, for a
 * block needing no more than page alignment, the largest, which mremap then
 * grows.  Either way its resident pages are reused: churn of big buffers
 * would otherwise fault in fresh pages for every block. */
static int cache_pick(size_t need, size_t alignment, size_t ps) {
    int fit = -1, grow = -1;
    for (int i = 0; i < HUGE_CACHE_SLOTS; i++) {
        cache_entry *c = &hg.cache[i];
        if (!c->base) continue;
        size_t skip = cn_align_gap(c->base, alignment);
        if (skip <= c->size && c->size - skip >= need) {
            if (fit < 0 || c->size < hg.cache[fit].size) fit = i;
        } else if (alignment <= ps && (grow < 0 || c->size > hg.cache[grow].size)) {
            grow = i;
        }
    }
    return fit >= 0 ? fit : grow;
}

void *cn_huge_alloc(size_t size, size_t alignment, bool zero) {
    size_t ps = cn_os_page_size();
    if (size > SIZE_MAX - 2 * alignment - ps) return NULL;
    size_t need = (size + ps - 1) & ~(ps - 1);
    uintptr_t base = 0, ptr = 0;
    size_t mapped = need, dirty = 0;
    cache_entry old[HUGE_CACHE_SLOTS];
    size_t nold = 0;

    cn_lock_acquire(&huge_lock);
    int pick = cache_pick(need, alignment, ps);
    if (pick >= 0) {
        base = hg.cache[pick].base;
        mapped = hg.cache[pick].size;
        hg.cache_bytes -= mapped;
        hg.cache[pick].base = 0;
    }
    nold = cache_expire(false, old);
    cn_lock_release(&huge_lock);
    unmap_all(old, nold);

    if (base) {
        size_t skip = cn_align_gap(base, alignment);
        ptr = base + skip;
        /* Sizes, not addresses: at the top of a 32-bit address space
         * ptr + need wraps around. */
        if (skip > mapped || mapped - skip < need) {  /* too small: grow it */
            void *q = cn_os_grow((void *)base, mapped, need);
            if (q) {
                dirty = mapped;
                base = ptr = (uintptr_t)q;
                mapped = need;
            } else {
                cn_os_unmap((void *)base, mapped);
                base = 0;
            }
        } else {
            /* Bigger than needed: keep a quarter ahead (realloc grows into
             * it) and, for an aligned block, an alignment's worth (once
             * freed, the mapping then serves the next such block again);
             * give the rest back. */
            size_t keep = ptr - base + need + need / 4 + (alignment > ps ? alignment : 0);
            keep = (keep + ps - 1) & ~(ps - 1);
            if (keep < mapped) {
                cn_os_unmap((void *)(base + keep), mapped - keep);
                mapped = keep;
            }
            dirty = need;
        }
    }
    if (!base) {
        /* A block of 8 MiB or more starts on a 2 MiB boundary, where the
         * kernel can back it with transparent huge pages. */
        bool thp = thp_wanted(need);
        size_t place = thp && alignment < CN_THP_SIZE ? CN_THP_SIZE : alignment;
        size_t extra = place > ps ? place - ps : 0;
        void *p = cn_os_map(need + extra);
        if (!p && place > alignment) {          /* short of address space: no THP */
            place = alignment;
            extra = alignment > ps ? alignment - ps : 0;
            p = cn_os_map(need + extra);
        }
        if (!p && cn_pool_release_cached()) p = cn_os_map(need + extra);
        if (!p) return NULL;
        base = (uintptr_t)p;
        ptr = base + cn_align_gap(base, place);
        if (ptr > base) cn_os_unmap(p, ptr - base);
        if (extra > ptr - base) cn_os_unmap((void *)(ptr + need), extra - (ptr - base));
        base = ptr;
        mapped = need;
        if (thp) thp_ask((void *)ptr, need, 0);
    }
    /* Only what came from the cache may hold old contents. */
    if (zero && dirty) memset((void *)ptr, 0, dirty < size ? dirty : size);

    cn_lock_acquire(&huge_lock);
    bool ok = table_reserve();
    if (ok) {
        hg.used += table_put(hg.table, hg.cap, (huge_entry){ ptr, base, mapped });
        hg.count++;
        for (int i = 0; i < FREED_RING; i++)
            if (hg.freed[i] == ptr) hg.freed[i] = 0;
    }
    cn_lock_release(&huge_lock);
    if (!ok) { cn_os_unmap((void *)base, mapped); return NULL; }
    cn_count_add(&cn_count.huge_allocs, 1);
    count_bytes(mapped, 0);
    return (void *)ptr;
}

size_t cn_huge_usable(const void *p) {
    cn_lock_acquire(&huge_lock);
    huge_entry *e = table_find((uintptr_t)p);
    size_t n = e ? e->base + e->size - e->ptr : 0;
    cn_lock_release(&huge_lock);
    return n;
}

cn_huge_status cn_huge_free(void *p) {
    cache_entry victims[HUGE_CACHE_SLOTS + 1];
    size_t nv = 0;
    cn_lock_acquire(&huge_lock);
    huge_entry *e = table_find((uintptr_t)p);
    if (!e) {
        cn_huge_status st = CN_HUGE_NOT_OURS;
        for (int i = 0; i < FREED_RING; i++)
            if (p && hg.freed[i] == (uintptr_t)p) st = CN_HUGE_ALREADY_FREED;
        cn_lock_release(&huge_lock);
        return st;
    }
    hg.freed[hg.freed_next++ % FREED_RING] = (uintptr_t)p;
    cn_count_add(&cn_count.huge_frees, 1);
    count_bytes(0, e->size);
    cache_entry c = { e->base, e->size, cn_os_now_ms() };
    table_delete(e);
    size_t limit = (size_t)cn_options[CN_OPT_HUGE_CACHE];
    while (c.size <= limit) {                /* keep it, evicting the oldest as needed */
        int slot = -1, oldest = -1;
        for (int i = 0; i < HUGE_CACHE_SLOTS; i++) {
            if (!hg.cache[i].base) slot = i;
            else if (oldest < 0 || hg.cache[i].time < hg.cache[oldest].time) oldest = i;
        }
        if (slot >= 0 && hg.cache_bytes + c.size <= limit) {
            hg.cache[slot] = c;
            hg.cache_bytes += c.size;
            c.base = 0;
            break;
        }
        victims[nv++] = hg.cache[oldest];
        hg.cache_bytes -= hg.cache[oldest].size;
        hg.cache[oldest].base = 0;
    }
    if (c.base) victims[nv++] = c;
    cn_lock_release(&huge_lock);
    unmap_all(victims, nv);
    return CN_HUGE_FREED;
}

/* The block leaves the table while its mapping changes: once mremap has
 * moved it (or munmap cut its tail) that range is free, and another thread
 * can map a new huge block there, at the same address -- with a stale
 * entry still in the table, the two would share a key, and a look-up could
 * find the wrong size. */
void *cn_huge_realloc(void *p, size_t size) {
    size_t ps = cn_os_page_size();
    if (size > SIZE_MAX - ps) return NULL;
    size_t need = (size + ps - 1) & ~(ps - 1);
    cn_lock_acquire(&huge_lock);
    huge_entry *e = table_find((uintptr_t)p);
    huge_entry cur = *e;
    size_t offset = cur.ptr - cur.base;
    /* (cn_realloc keeps a block that shrinks by less than a quarter without
     * calling here.) */
    if (need + offset == cur.size || !table_reserve()) {
        cn_lock_release(&huge_lock);
        return need + offset == cur.size ? p : NULL;
    }
    table_delete(table_find(cur.ptr));      /* (the reserve may have moved it) */
    hg.pending++;                           /* its slot stays reserved */
    cn_lock_release(&huge_lock);
    huge_entry v = cur;                     /* what goes back: unchanged if mremap fails */
    bool done = true;
    if (need + offset < cur.size) {           /* shrink in place: unmap the tail */
        cn_os_unmap((void *)(cur.base + need + offset), cur.size - need - offset);
        v.size = need + offset;
    } else {
        /* Grow by at least a quarter: a buffer grown in small steps then
         * costs a few system calls, not one per page. */
        size_t grown = cur.size + cur.size / 4;
        size_t want = need + offset < grown ? (grown + ps - 1) & ~(ps - 1) : need + offset;
        void *q = cn_os_grow((void *)cur.base, cur.size, want);
        if (!q && want > need + offset) q = cn_os_grow((void *)cur.base, cur.size, (want = need + offset));
        if (q) {
            if (!thp_size(cur.size)) {
                if (thp_wanted(want)) thp_ask(q, want, cur.size);                 /* grown past the size */
            } else if (cn_os_thp_dear() || !thp_probe(q, want, cur.size)) {     /* measured again */
                cn_os_huge_pages(q, want, false);
            }
            v = (huge_entry){ (uintptr_t)q + offset, (uintptr_t)q, want };
        } else {
            done = false;
        }
    }
    cn_lock_acquire(&huge_lock);
    hg.pending--;
    hg.used += table_put(hg.table, hg.cap, v);
    hg.count++;
    count_bytes(v.size, cur.size);
    cn_lock_release(&huge_lock);
    return done ? (void *)v.ptr : NULL;
}

void cn_huge_fork_prepare(void) { cn_lock_acquire(&huge_lock); }
void cn_huge_fork_parent(void)  { cn_lock_release(&huge_lock); }
void cn_huge_fork_child(void)   { cn_lock_reset(&huge_lock); }

/* Statistics (stats.c): live huge blocks, and what the cache keeps. */
size_t cn_huge_live(size_t *cache_bytes) {
    cn_lock_acquire(&huge_lock);
    size_t n = hg.count;
    if (cache_bytes) *cache_bytes = hg.cache_bytes;
    cn_lock_release(&huge_lock);
    return n;
}
