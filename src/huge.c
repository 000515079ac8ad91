/* huge.c -- blocks above the huge threshold, each in a mapping of its own.
 *
 * A hash table (open addressing, keyed by the block's address) records every
 * live huge block, so free() can tell a huge block from a pointer that is not
 * ours.  Freed mappings are kept in a small cache for reuse (churn of big
 * buffers would otherwise fault in fresh pages every time): a new block is
 * cut from one, or assembled from several moved into place by mremap, and
 * realloc grows into one that follows the block; entries older than the
 * purge delay are unmapped.  realloc grows and shrinks with mremap.
 */
#define _GNU_SOURCE
#include "cairn/internal.h"

typedef struct huge_entry {
    uintptr_t ptr;        /* the block as the program sees it (0: empty, 1: deleted) */
    uintptr_t base;       /* the mapping */
    size_t    size;       /* bytes mapped */
} huge_entry;

#define HUGE_CACHE_SLOTS 16
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
    uint64_t peak_now, peak_prev, peak_since;   /* live huge bytes' recent peak */
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

/* The time of the oldest cached mapping (0: none, or not known to be
 * any), read without the lock by cn_huge_expire. */
static _Atomic uint64_t cache_oldest;

/* Unmap cached mappings older than the delay (all if `all`); under the lock,
 * returns what to unmap in `out`. */
static size_t cache_expire(bool all, cache_entry *out) {
    size_t n = 0;
    uint64_t now = cn_os_now_ms(), oldest = 0;
    for (int i = 0; i < HUGE_CACHE_SLOTS; i++) {
        cache_entry *c = &hg.cache[i];
        if (!c->base) continue;
        if (all || now - c->time >= (uint64_t)cn_options[CN_OPT_PURGE_DELAY_MS]) {
            out[n++] = *c;
            hg.cache_bytes -= c->size;
            c->base = 0;
        } else if (!oldest || c->time < oldest) {
            oldest = c->time;
        }
    }
    atomic_store_explicit(&cache_oldest, oldest, memory_order_relaxed);
    return n;
}

/* How many bytes the cache may hold (under the lock), as `freed` more bytes
 * go free at time `now`: CAIRN_HUGE_CACHE, or as much as was live in huge
 * blocks at the peak of the last purge delay or two.  A program churning
 * big buffers then reuses nearly all of its pages (the cache holds at most
 * what the program just had in use, and for the purge delay); one that
 * freed them all is back to the base amount a delay later. */
static size_t cache_limit(size_t freed, uint64_t now) {
    uint64_t live = atomic_load_explicit(&cn_count.huge_bytes, memory_order_relaxed) + freed;
    if (now - hg.peak_since >= (uint64_t)cn_options[CN_OPT_PURGE_DELAY_MS]) {
        hg.peak_prev = hg.peak_now;
        hg.peak_now = 0;
        hg.peak_since = now;
    }
    if (live > hg.peak_now) hg.peak_now = live;
    uint64_t limit = (uint64_t)cn_options[CN_OPT_HUGE_CACHE];
    if (limit) {
        if (hg.peak_now > limit) limit = hg.peak_now;
        if (hg.peak_prev > limit) limit = hg.peak_prev;
    }
    return limit > SIZE_MAX ? SIZE_MAX : (size_t)limit;
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

/* The cached mapping freed longest ago (under the lock), or -1. */
static int cache_oldest_slot(void) {
    int old = -1;
    for (int i = 0; i < HUGE_CACHE_SLOTS; i++)
        if (hg.cache[i].base && (old < 0 || hg.cache[i].time < hg.cache[old].time)) old = i;
    return old;
}

/* The page pool mapped `bytes` of new segments: the cache lets go of as
 * much, oldest mappings first (a mapping bigger than what is left to give
 * loses its end, so that the rest still starts where a block cut from it
 * ends, for realloc to grow into).  What the cache keeps is resident, and
 * a program that freed its big buffers and now builds small objects (a new
 * phase) would otherwise hold both, the cache until the purge delay runs
 * out. */
void cn_huge_cache_yield(size_t bytes) {
    cache_entry out[HUGE_CACHE_SLOTS];
    size_t n = 0, given = 0;
    cn_lock_acquire(&huge_lock);
    while (given < bytes && hg.cache_bytes) {
        cache_entry *c = &hg.cache[cache_oldest_slot()];
        size_t cut = c->size, left = bytes - given;
        if (left < c->size && c->size - left >= (size_t)cn_options[CN_OPT_HUGE_THRESHOLD])
            cut = (left + cn_os_page_size() - 1) & ~(cn_os_page_size() - 1);
        out[n++] = (cache_entry){ c->base + c->size - cut, cut, 0 };
        c->size -= cut;
        hg.cache_bytes -= cut;
        given += cut;
        if (!c->size) c->base = 0;
    }
    cn_lock_release(&huge_lock);
    unmap_all(out, n);
}

/* Called as pages go back to the pool and as heaps change pages: cached
 * mappings expire even when the program makes no more huge blocks. */
void cn_huge_expire(void) {
    uint64_t t = atomic_load_explicit(&cache_oldest, memory_order_relaxed);
    if (!t || cn_os_now_ms() - t < (uint64_t)cn_options[CN_OPT_PURGE_DELAY_MS]) return;
    cache_entry out[HUGE_CACHE_SLOTS];
    cn_lock_acquire(&huge_lock);
    size_t n = cache_expire(false, out);
    cn_lock_release(&huge_lock);
    unmap_all(out, n);
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

/* The smallest cached mapping that holds `need` bytes at `alignment` (under
 * the lock), or -1. */
static int cache_fit(size_t need, size_t alignment) {
    int fit = -1;
    for (int i = 0; i < HUGE_CACHE_SLOTS; i++) {
        cache_entry *c = &hg.cache[i];
        if (!c->base) continue;
        size_t skip = cn_align_gap(c->base, alignment);
        if (skip <= c->size && c->size - skip >= need && (fit < 0 || c->size < hg.cache[fit].size)) fit = i;
    }
    return fit;
}

static int cache_largest(void) {
    int big = -1;
    for (int i = 0; i < HUGE_CACHE_SLOTS; i++)
        if (hg.cache[i].base && (big < 0 || hg.cache[i].size > hg.cache[big].size)) big = i;
    return big;
}

/* Take the first `n` bytes of cached mapping i (under the lock): the rest
 * stays cached, unless too small to serve a huge block alone (then it goes
 * to `drop`, to be unmapped). */
static cache_entry cache_take(int i, size_t n, cache_entry *drop, size_t *ndrop) {
    cache_entry *c = &hg.cache[i], got = { c->base, n, 0 };
    hg.cache_bytes -= c->size;
    if (c->size - n >= (size_t)cn_options[CN_OPT_HUGE_THRESHOLD]) {
        c->base += n;
        c->size -= n;
        hg.cache_bytes += c->size;
    } else {
        if (c->size > n) drop[(*ndrop)++] = (cache_entry){ c->base + n, c->size - n, 0 };
        c->base = 0;
    }
    return got;
}

/* Take cached mappings, largest first, until `n` bytes are gathered or
 * the cache is empty (under the lock); returns the bytes gathered.  Not
 * without CN_OS_MOVES: they are moved into place with cn_os_move. */
static size_t cache_gather(size_t n, cache_entry *got, size_t *ngot, cache_entry *drop, size_t *ndrop) {
    size_t have = 0;
    for (int i; CN_OS_MOVES && have < n && (i = cache_largest()) >= 0; have += got[(*ngot)++].size)
        got[*ngot] = cache_take(i, n - have < hg.cache[i].size ? n - have : hg.cache[i].size, drop, ndrop);
    return have;
}

/* Move the gathered mappings to `to`, one after another, within `room`
 * bytes; unmap what does not fit or cannot move (a mapping spanning
 * several, on an old kernel).  Returns the bytes moved. */
static size_t cache_place(uintptr_t to, size_t room, cache_entry *got, size_t ngot) {
    size_t i = 0, at = 0;
    while (i < ngot && at + got[i].size <= room && cn_os_move((void *)got[i].base, got[i].size, (void *)(to + at)))
        at += got[i++].size;
    unmap_all(got + i, ngot - i);
    return at;
}

/* Where the pages come from.  Churn of big buffers would fault in fresh
 * pages for every block; instead a block reuses the resident pages of freed
 * ones, kept in the cache:
 *   - the smallest cached mapping that holds it, cut to size (the block
 *     takes a quarter more, which realloc grows into, and if aligned an
 *     alignment's worth, so that once freed it serves such a block again);
 *   - failing that, for a block needing no more than page alignment, fresh
 *     address space with cached mappings, largest first, moved into its
 *     front by mremap (page tables move, no data is copied).
 * An assembled block spans several kernel mappings, so realloc may not be
 * able to grow it in place (see cn_os_grow). */
void *cn_huge_alloc(size_t size, size_t alignment, bool zero) {
    size_t ps = cn_os_page_size();
    if (size > SIZE_MAX - 2 * alignment - ps) return NULL;
    size_t need = (size + ps - 1) & ~(ps - 1);
    cache_entry got[HUGE_CACHE_SLOTS], drop[2 * HUGE_CACHE_SLOTS];
    size_t ngot = 0, ndrop = 0, have = 0;

    /* Cached pages given to calloc must be cleared, which makes them all
     * resident: a big zeroed block is better fresh (the kernel's pages
     * become resident only as the program touches them). */
    bool cached = !zero || need <= (size_t)cn_options[CN_OPT_HUGE_CACHE];
    cn_lock_acquire(&huge_lock);
    int fit = cached ? cache_fit(need, alignment) : -1;
    if (fit >= 0) {
        size_t keep = cn_align_gap(hg.cache[fit].base, alignment) + need + need / 4 + (alignment > ps ? alignment : 0);
        keep = (keep + ps - 1) & ~(ps - 1);
        got[ngot++] = cache_take(fit, keep < hg.cache[fit].size ? keep : hg.cache[fit].size, drop, &ndrop);
    } else if (cached && alignment <= ps) {
        have = cache_gather(need, got, &ngot, drop, &ndrop);
    }
    ndrop += cache_expire(false, drop + ndrop);
    cn_lock_release(&huge_lock);
    unmap_all(drop, ndrop);

    uintptr_t base, ptr;
    size_t mapped, dirty = 0;
    if (fit >= 0) {
        base = got[0].base;
        mapped = got[0].size;
        ptr = base + cn_align_gap(base, alignment);
        dirty = need;
    } else {
        /* The fresh part of a block of 8 MiB or more starts on a 2 MiB
         * boundary, where the kernel can back it with transparent huge
         * pages. */
        bool thp = thp_wanted(need - have);
        size_t place = thp && alignment < CN_THP_SIZE ? CN_THP_SIZE : alignment;
        size_t extra = place > ps ? place - ps : 0;
        void *p = cn_os_map(need + extra);
        if (!p && place > alignment) {          /* short of address space: no THP */
            place = alignment;
            extra = alignment > ps ? alignment - ps : 0;
            p = cn_os_map(need + extra);
        }
        if (!p && cn_pool_release_cached()) p = cn_os_map(need + extra);
        if (!p) {
            unmap_all(got, ngot);
            return NULL;
        }
        base = (uintptr_t)p;
        ptr = base + cn_align_gap(base, place);
        if (ptr > base) cn_os_unmap(p, ptr - base);
        if (extra > ptr - base) cn_os_unmap((void *)(ptr + need), extra - (ptr - base));
        base = ptr;
        mapped = need;
        dirty = cache_place(ptr, need, got, ngot);
        if (thp) thp_ask((void *)ptr, need, dirty);
        else if (!cn_options[CN_OPT_THP]) cn_os_huge_pages((void *)ptr, need, false);  /* never: even in THP mode "always" */
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
    size_t limit = cache_limit(c.size, c.time);
    while (c.size <= limit) {                /* keep it, evicting the oldest as needed */
        int slot = -1, oldest = -1;
        for (int i = 0; i < HUGE_CACHE_SLOTS; i++) {
            if (!hg.cache[i].base) slot = i;
            else if (oldest < 0 || hg.cache[i].time < hg.cache[oldest].time) oldest = i;
        }
        if (slot >= 0 && hg.cache_bytes + c.size <= limit) {
            uint64_t t = atomic_load_explicit(&cache_oldest, memory_order_relaxed);
            if (!t) atomic_store_explicit(&cache_oldest, c.time, memory_order_relaxed);
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

/* A cached mapping that starts at `end` (under the lock), or -1. */
static int cache_at(uintptr_t end) {
    for (int i = 0; i < HUGE_CACHE_SLOTS; i++)
        if (hg.cache[i].base == end) return i;
    return -1;
}

/* Resize a huge block.  Growing, it first takes in a cached mapping that
 * starts where it ends (what was cut off the mapping it came from, or
 * what a neighbour left): resident pages, and no system call; then it
 * grows with mremap, by at least a quarter (a buffer grown in small steps
 * then costs a few system calls, not one per page).
 *
 * The block leaves the table while its mapping changes: once mremap has
 * moved it (or munmap cut its tail) that range is free, and another thread
 * can map a new huge block there, at the same address -- with a stale
 * entry still in the table, the two would share a key, and a look-up could
 * find the wrong size. */
void *cn_huge_realloc(void *p, size_t size) {
    size_t ps = cn_os_page_size();
    if (size > SIZE_MAX - ps) return NULL;
    size_t need = (size + ps - 1) & ~(ps - 1);
    cn_lock_acquire(&huge_lock);
    huge_entry cur = *table_find((uintptr_t)p);
    size_t offset = cur.ptr - cur.base;
    need += offset;                         /* from here on, bytes from the mapping's start */
    /* (cn_realloc keeps a block that shrinks by less than a quarter without
     * calling here.) */
    if (need == cur.size || !table_reserve()) {
        cn_lock_release(&huge_lock);
        return need == cur.size ? p : NULL;
    }
    table_delete(table_find(cur.ptr));      /* (the reserve may have moved it) */
    hg.pending++;                           /* its slot stays reserved */
    size_t want = need, have = cur.size;    /* have: the mapping, with what it takes in */
    cache_entry got[HUGE_CACHE_SLOTS], drop[HUGE_CACHE_SLOTS];
    size_t ngot = 0, ndrop = 0;
    if (need > cur.size) {
        size_t grown = (cur.size + cur.size / 4 + ps - 1) & ~(ps - 1);
        if (want < grown) want = grown;
        int next = CN_OS_MOVES ? cache_at(cur.base + cur.size) : -1;
        if (next >= 0) {                    /* all of it, if the rest could serve no block */
            size_t take = want - cur.size, size = hg.cache[next].size;
            if (take >= size || size - take < (size_t)cn_options[CN_OPT_HUGE_THRESHOLD]) take = size;
            have += cache_take(next, take, drop, &ndrop).size;
        }
        /* What mremap will add, cached mappings fill, moved into place. */
        if (have < need) cache_gather(want - have, got, &ngot, drop, &ndrop);
    }
    cn_lock_release(&huge_lock);
    unmap_all(drop, ndrop);
    huge_entry v = { cur.ptr, cur.base, have };
    bool done = true;
    if (need < have) {
        if (have == cur.size) {             /* shrink in place: unmap the tail */
            cn_os_unmap((void *)(cur.base + need), cur.size - need);
            v.size = need;
        }                                   /* (else grown from the cache alone) */
    } else if (need > have) {
        void *q = cn_os_grow((void *)cur.base, have, want);
        if (!q && want > need) q = cn_os_grow((void *)cur.base, have, (want = need));
        if (q) {
            size_t at = have + cache_place((uintptr_t)q + have, want - have, got, ngot);
            if (!thp_size(have)) {
                if (thp_wanted(want)) thp_ask(q, want, at);                   /* grown past the size */
            } else if (cn_os_thp_dear() || !thp_probe(q, want, at)) {       /* measured again */
                cn_os_huge_pages(q, want, false);
            }
            v = (huge_entry){ (uintptr_t)q + offset, (uintptr_t)q, want };
        } else {
            unmap_all(got, ngot);
            done = false;                   /* as it was (with what it took in) */
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
