/* stats.c -- statistics: malloc_stats, mallinfo2 / mallinfo, malloc_info,
 * mallopt, cairn_stats_json, cairn_print_stats, and CAIRN_STATS at exit.
 *
 * Every figure is computed when asked, from the allocator's own structures;
 * nothing on the malloc / free paths changes for it (the one figure kept per
 * allocation, each heap's per-class count, already existed).  A collection:
 *   1. takes the list of heaps (heap.c) and sorts it by address;
 *   2. walks every span under the pool lock (segment.c): a slab is added to
 *      its owner's class table, large blocks and free spans to the totals;
 *   3. reads the huge blocks (huge.c) and the slow-kind counters (cn_count).
 * Figures read from other threads' structures without their locks (a slab's
 * `used`, a heap's counts) are exact when the program is quiescent and may
 * be off by a few blocks while other threads allocate.  A block freed by
 * another thread counts as in use until its owner takes it back.
 *
 * Nothing here allocates: buffers are on the stack or mapped with
 * cn_os_map, text is formatted with cn_format and written with write(2).
 * malloc_info's FILE * is the one exception the API imposes: the XML is
 * formatted into a mapped buffer and handed to fwrite once.  A stream
 * without a buffer yet gets one from malloc -- that is Cairn itself, called
 * with no Cairn lock held, so it is safe.
 */
#define _GNU_SOURCE
#include "cairn/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------
 * Collected figures
 * ------------------------------------------------------------------------- */
typedef struct cls_stat {
    uint64_t slabs, pages;        /* spans of the class and their pages     */
    uint64_t total, used;         /* blocks: capacity, and handed out       */
} cls_stat;

typedef struct heap_stat {
    const cn_heap *heap;
    size_t nr;                    /* creation order: 0 is the first heap    */
    cls_stat cls[CN_NCLASS];
    uint64_t allocs[CN_NCLASS];   /* blocks of the class handed out (a page
                                     lent to a smaller class counts here; 0
                                     for orphans: a thread counts its pages'
                                     before it exits) */
} heap_stat;

typedef struct stats {
    cn_pool_info pool;
    heap_stat *heaps;             /* sorted by heap address (mapped)        */
    size_t *by_nr;                /* index into heaps of heap number i      */
    size_t nheaps, map_bytes;
    heap_stat orphans;            /* exited threads' pages, and spares      */
    heap_stat unlisted;           /* owners made after the list was taken   */
    cls_stat cls[CN_NCLASS];      /* all heaps together                     */
    uint64_t allocs[CN_NCLASS];   /* blocks handed out, all heaps           */
    uint64_t slab_bytes;          /* pages of slabs                         */
    uint64_t large_count, large_bytes;
    uint64_t free_spans, free_bytes;
    uint64_t huge_count, huge_bytes, huge_peak, huge_cache;
    uint64_t large_allocs, large_frees, huge_allocs, huge_frees;
    uint64_t map_refused;         /* mmap / mremap calls the OS refused     */
    int map_errno;                /* the errno of the last of them          */
    uint64_t thp_segments, thp_blocks; /* asked for transparent huge pages  */
    uint64_t thp_probes, thp_dear;     /* first touches timed; found dear     */
    bool thp_always;                   /* the system's THP mode is "always"   */
    uint64_t reclaimed;                /* idle heaps' full pages given back   */
    uint64_t resident;            /* the process's RSS; 0 if unknown        */
    /* Derived from the above */
    uint64_t used_blocks, used_bytes, free_blocks, free_block_bytes, overhead;
} stats;

static heap_stat *heap_find(stats *s, const cn_heap *h) {
    if (h == &cn_orphans) return &s->orphans;
    size_t lo = 0, hi = s->nheaps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)s->heaps[mid].heap < (uintptr_t)h) lo = mid + 1;
        else hi = mid;
    }
    return lo < s->nheaps && s->heaps[lo].heap == h ? &s->heaps[lo] : &s->unlisted;
}

/* Called for the first page of every span, under the pool lock. */
static void visit_span(void *arg, const cn_page *pg) {
    stats *s = arg;
    uint64_t bytes = (uint64_t)pg->npages * CN_PAGE_SIZE;
    switch (pg->kind) {
    case CN_KIND_SLAB: {
        s->slab_bytes += bytes;
        cn_heap *owner = atomic_load_explicit(&((cn_page *)pg)->owner, memory_order_acquire);
        if (!owner || pg->cls >= CN_NCLASS) break;      /* being set up: no blocks yet */
        unsigned c = pg->cls;
        uint64_t tally = pg->tally, cap = cn_page_capacity(pg), used = (uint16_t)tally & ~CN_USED_FULL;
        /* The heap's current page of a class counts one extra (its pin). */
        if ((pg->flags & CN_PF_CURRENT) && used > 0) used--;
        if (used > cap) used = cap;
        heap_stat *hs = heap_find(s, owner);
        hs->allocs[c] += tally >> CN_TALLY_SHIFT;     /* taken while current */
        cls_stat *cs = &hs->cls[c];
        cs->slabs++;
        cs->pages += pg->npages;
        cs->total += cap;
        cs->used += used;
        break;
    }
    case CN_KIND_LARGE:
        s->large_count++;
        s->large_bytes += bytes;
        break;
    case CN_KIND_FREE:
        s->free_spans++;
        s->free_bytes += bytes;
        break;
    default:                     /* a tail page met during a concurrent shrink */
        break;
    }
}

/* The process's resident set, from /proc/self/statm (second field, pages). */
static uint64_t resident_bytes(void) {
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    const char *p = buf;
    while (*p >= '0' && *p <= '9') p++;
    while (*p == ' ') p++;
    uint64_t pages = 0;
    for (; *p >= '0' && *p <= '9'; p++) pages = pages * 10 + (uint64_t)(*p - '0');
    return pages * cn_os_page_size();
}

static size_t round_to_page(size_t n) {
    size_t ps = cn_os_page_size();
    return (n + ps - 1) & ~(ps - 1);
}

/* The heap list, as heap_stat entries sorted by address (no allocation:
 * one mapping holds the entries, the pointers, and the by-number index). */
static void collect_heaps(stats *s) {
    size_t n = cn_heaps_list(NULL, 0);
    for (int tries = 0; n > 0 && tries < 4; tries++) {
        size_t cap = n + 16;
        size_t bytes = round_to_page(cap * (sizeof(heap_stat) + sizeof(cn_heap *) + sizeof(size_t)));
        char *map = cn_os_map(bytes);
        if (!map) return;
        heap_stat *hs = (heap_stat *)map;
        cn_heap **list = (cn_heap **)(map + cap * sizeof(heap_stat));
        size_t *by_nr = (size_t *)(map + cap * (sizeof(heap_stat) + sizeof(cn_heap *)));
        size_t got = cn_heaps_list(list, cap);
        if (got > cap) {                       /* threads were born meanwhile */
            cn_os_unmap(map, bytes);
            n = got;
            continue;
        }
        /* The list is newest first; number heaps in creation order. */
        for (size_t i = 0; i < got; i++) {
            hs[i].heap = list[i];
            hs[i].nr = got - 1 - i;
            cn_heap_allocs(list[i], hs[i].allocs);
        }
        /* Shell sort by address (qsort may allocate). */
        for (size_t gap = got / 2; gap > 0; gap /= 2)
            for (size_t i = gap; i < got; i++)
                for (size_t j = i; j >= gap && (uintptr_t)hs[j - gap].heap > (uintptr_t)hs[j].heap; j -= gap) {
                    heap_stat t = hs[j];
                    hs[j] = hs[j - gap];
                    hs[j - gap] = t;
                }
        for (size_t i = 0; i < got; i++) by_nr[hs[i].nr] = i;
        s->heaps = hs;
        s->by_nr = by_nr;
        s->nheaps = got;
        s->map_bytes = bytes;
        return;
    }
}

static void add_cls(cls_stat *to, const cls_stat *from) {
    to->slabs += from->slabs;
    to->pages += from->pages;
    to->total += from->total;
    to->used += from->used;
}

static void stats_collect(stats *s) {
    memset(s, 0, sizeof *s);
    cn_init();
    cn_remote_flush();                 /* the caller's frees count (other threads' batches do not yet) */
    s->orphans.heap = &cn_orphans;
    collect_heaps(s);
    cn_pool_walk(&s->pool, visit_span, s);
    for (size_t i = 0; i < s->nheaps; i++) {
        const uint64_t *a = s->heaps[i].allocs;
        for (unsigned c = 0; c < CN_NCLASS; c++) {
            s->allocs[c] += a[c];
            add_cls(&s->cls[c], &s->heaps[i].cls[c]);
        }
    }
    for (unsigned c = 0; c < CN_NCLASS; c++) {
        s->allocs[c] += s->unlisted.allocs[c];
        add_cls(&s->cls[c], &s->orphans.cls[c]);
        add_cls(&s->cls[c], &s->unlisted.cls[c]);
        uint64_t size = cn_classes[c].size;
        s->used_blocks += s->cls[c].used;
        s->used_bytes += s->cls[c].used * size;
        s->free_blocks += s->cls[c].total - s->cls[c].used;
        s->free_block_bytes += (s->cls[c].total - s->cls[c].used) * size;
        s->overhead += s->cls[c].total * size;
    }
    s->overhead = s->slab_bytes - s->overhead;          /* slab bytes that fit no block */
    size_t cache = 0;
    s->huge_count = cn_huge_live(&cache);
    s->huge_cache = cache;
    s->huge_bytes = atomic_load_explicit(&cn_count.huge_bytes, memory_order_relaxed);
    s->huge_peak = atomic_load_explicit(&cn_count.huge_peak, memory_order_relaxed);
    s->huge_allocs = atomic_load_explicit(&cn_count.huge_allocs, memory_order_relaxed);
    s->huge_frees = atomic_load_explicit(&cn_count.huge_frees, memory_order_relaxed);
    s->large_allocs = atomic_load_explicit(&cn_count.large_allocs, memory_order_relaxed);
    s->large_frees = atomic_load_explicit(&cn_count.large_frees, memory_order_relaxed);
    s->map_refused = atomic_load_explicit(&cn_count.map_refused, memory_order_relaxed);
    s->map_errno = atomic_load_explicit(&cn_count.map_errno, memory_order_relaxed);
    s->thp_segments = atomic_load_explicit(&cn_count.thp_segments, memory_order_relaxed);
    s->thp_blocks = atomic_load_explicit(&cn_count.thp_blocks, memory_order_relaxed);
    s->thp_probes = atomic_load_explicit(&cn_count.thp_probes, memory_order_relaxed);
    s->thp_dear = atomic_load_explicit(&cn_count.thp_dear, memory_order_relaxed);
    s->thp_always = cn_os_thp_always();
    s->reclaimed = atomic_load_explicit(&cn_count.reclaimed_pages, memory_order_relaxed);
    s->resident = resident_bytes();
}

static void stats_release(stats *s) {
    if (s->map_bytes) cn_os_unmap(s->heaps, s->map_bytes);
    s->map_bytes = 0;
}

static uint64_t frees_of(const stats *s, unsigned c) {
    return s->allocs[c] > s->cls[c].used ? s->allocs[c] - s->cls[c].used : 0;
}

typedef struct heap_sum { uint64_t slabs, pages, used_blocks, used_bytes, free_blocks, free_bytes, allocs; } heap_sum;

static heap_sum heap_sum_of(const heap_stat *h) {
    heap_sum t = { 0, 0, 0, 0, 0, 0, 0 };
    for (unsigned c = 0; c < CN_NCLASS; c++) {
        const cls_stat *cs = &h->cls[c];
        uint64_t size = cn_classes[c].size;
        t.slabs += cs->slabs;
        t.pages += cs->pages;
        t.used_blocks += cs->used;
        t.used_bytes += cs->used * size;
        t.free_blocks += cs->total - cs->used;
        t.free_bytes += (cs->total - cs->used) * size;
        t.allocs += h->allocs[c];
    }
    return t;
}

static const char *heap_state(const heap_stat *h) {
    switch (h->heap->state) {
    case CN_HEAP_LIVE: return "live";
    case CN_HEAP_DEAD: return "exited";
    case CN_HEAP_ORPHAN: return "orphans";
    default: return "empty";
    }
}

/* Whether a heap is worth showing: it is live or holds pages. */
static bool heap_shown(const heap_stat *h) {
    if (h->heap && h->heap->state == CN_HEAP_LIVE) return true;
    for (unsigned c = 0; c < CN_NCLASS; c++)
        if (h->cls[c].slabs) return true;
    return false;
}

static bool cls_shown(const stats *s, unsigned c) { return s->cls[c].slabs || s->allocs[c]; }

static uint64_t peak_bytes(const stats *s) {
    return (uint64_t)s->pool.peak_mapped + s->huge_peak;
}

/* ---------------------------------------------------------------------------
 * Output: a sink formats into a buffer, which is either flushed to a file
 * descriptor when full, or (fd < 0) filled snprintf-style: `total` counts
 * every byte produced, the buffer keeps what fits, NUL-terminated.
 * ------------------------------------------------------------------------- */
typedef struct sink {
    char *buf;
    size_t cap;
    size_t len;        /* fd mode: bytes waiting in buf */
    size_t total;      /* bytes produced                 */
    int fd;
} sink;

static void sink_init(sink *k, char *buf, size_t cap, int fd) {
    k->buf = buf;
    k->cap = cap;
    k->len = k->total = 0;
    k->fd = fd;
    if (cap) buf[0] = 0;
}

static void sink_flush(sink *k) {
    if (k->fd >= 0 && k->len) cn_os_write(k->fd, k->buf, k->len);
    k->len = 0;
}

static char *sink_at(sink *k) {
    if (k->fd >= 0) return k->buf + k->len;
    return k->total < k->cap ? k->buf + k->total : NULL;
}

static size_t sink_room(sink *k) {
    if (k->fd >= 0) return k->cap - k->len;
    return k->total < k->cap ? k->cap - k->total : 0;
}

static void sink_advance(sink *k, size_t n, size_t room) {
    if (k->fd >= 0) k->len += n < room ? n : room - 1;
    k->total += n;
}

/* Format one piece (pieces are short: a line at most). */
#define OUT(k, ...)                                                         \
    do {                                                                    \
        size_t room_ = sink_room(k);                                        \
        size_t n_ = cn_format(sink_at(k), room_, __VA_ARGS__);              \
        if ((k)->fd >= 0 && n_ >= room_) {                                  \
            sink_flush(k);                                                  \
            room_ = sink_room(k);                                           \
            n_ = cn_format(sink_at(k), room_, __VA_ARGS__);                 \
        }                                                                   \
        sink_advance(k, n_, room_);                                         \
    } while (0)

static void sink_putc(sink *k, char c) {
    if (k->fd >= 0) {
        if (k->len + 1 >= k->cap) sink_flush(k);
        k->buf[k->len++] = c;
    } else if (k->total + 1 < k->cap) {
        k->buf[k->total] = c;
        k->buf[k->total + 1] = 0;
    }
    k->total++;
}

/* v right-aligned in `width` columns. */
static void put_col(sink *k, uint64_t v, int width) {
    char tmp[24];
    size_t n = cn_format(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    for (; (int)n < width; n++) sink_putc(k, ' ');
    OUT(k, "%s", tmp);
}

/* s as a JSON string. */
static void put_json_string(sink *k, const char *s) {
    sink_putc(k, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { sink_putc(k, '\\'); sink_putc(k, (char)c); }
        else if (c < 0x20) OUT(k, "\\u00%s%x", c < 16 ? "0" : "", (unsigned)c);
        else sink_putc(k, (char)c);
    }
    sink_putc(k, '"');
}

#define ULL(x) ((unsigned long long)(x))

/* ---------------------------------------------------------------------------
 * malloc_stats: a text report
 * ------------------------------------------------------------------------- */
static void render_heap_line(sink *k, const char *label, size_t nr, const char *state, const heap_sum *t) {
    OUT(k, "%s", label);
    if (state) OUT(k, " %zu (%s)", nr, state);
    OUT(k, ": %llu slabs, %llu pages, in use %llu bytes in %llu blocks, free %llu bytes in %llu blocks",
        ULL(t->slabs), ULL(t->pages), ULL(t->used_bytes), ULL(t->used_blocks), ULL(t->free_bytes),
        ULL(t->free_blocks));
    if (state) OUT(k, ", %llu allocation requests", ULL(t->allocs));
    OUT(k, "\n");
}

static void render_text(sink *k, const stats *s) {
    unsigned shown = 0;
    for (unsigned c = 0; c < CN_NCLASS; c++) shown += cls_shown(s, c);
    OUT(k, "cairn %s malloc_stats\n", CN_VERSION_STRING);
    OUT(k, "arena: %zu segments (peak %zu), %zu bytes mapped, process resident %llu bytes\n",
        s->pool.segments, s->pool.peak_segments, s->pool.mapped, ULL(s->resident));
    OUT(k, "size classes (bins): %u, %u in use\n", (unsigned)CN_NCLASS, shown);
    OUT(k, "  bin  block  slabs  pages   blocks     used     free     allocs      frees\n");
    for (unsigned c = 0; c < CN_NCLASS; c++) {
        if (!cls_shown(s, c)) continue;
        const cls_stat *cs = &s->cls[c];
        put_col(k, c, 5);
        put_col(k, cn_classes[c].size, 7);
        put_col(k, cs->slabs, 7);
        put_col(k, cs->pages, 7);
        put_col(k, cs->total, 9);
        put_col(k, cs->used, 9);
        put_col(k, cs->total - cs->used, 9);
        put_col(k, s->allocs[c], 11);
        put_col(k, frees_of(s, c), 11);
        OUT(k, "\n");
    }
    for (size_t i = 0; i < s->nheaps; i++) {
        const heap_stat *h = &s->heaps[s->by_nr[i]];
        if (!heap_shown(h)) continue;
        heap_sum t = heap_sum_of(h);
        render_heap_line(k, "heap", h->nr, heap_state(h), &t);
    }
    heap_sum t = heap_sum_of(&s->orphans);
    if (t.slabs) render_heap_line(k, "pages of no thread (exited threads', spare empty slabs)", 0, NULL, &t);
    t = heap_sum_of(&s->unlisted);
    if (t.slabs) render_heap_line(k, "new heaps", 0, NULL, &t);
    OUT(k, "small blocks: in use %llu bytes in %llu blocks, free %llu bytes in %llu blocks, "
           "slab overhead %llu bytes\n",
        ULL(s->used_bytes), ULL(s->used_blocks), ULL(s->free_block_bytes), ULL(s->free_blocks),
        ULL(s->overhead));
    OUT(k, "large blocks: %llu live, %llu bytes (allocs %llu, frees %llu)\n", ULL(s->large_count),
        ULL(s->large_bytes), ULL(s->large_allocs), ULL(s->large_frees));
    OUT(k, "huge blocks: %llu live, %llu bytes mapped (peak %llu; allocs %llu, frees %llu), "
           "%llu bytes cached\n",
        ULL(s->huge_count), ULL(s->huge_bytes), ULL(s->huge_peak), ULL(s->huge_allocs),
        ULL(s->huge_frees), ULL(s->huge_cache));
    OUT(k, "free pages: %llu bytes in %llu spans (%zu dirty, %llu clean: purged or never used), "
           "descriptors %llu bytes\n",
        ULL(s->free_bytes), ULL(s->free_spans), s->pool.dirty,
        ULL(s->free_bytes > s->pool.dirty ? s->free_bytes - s->pool.dirty : 0),
        ULL((uint64_t)s->pool.segments * CN_PAGE_SIZE));
    OUT(k, "bytes purged (returned to the OS) so far: %zu\n", s->pool.purged);
    OUT(k, "peak: %zu segments = %llu bytes; huge %llu bytes\n", s->pool.peak_segments,
        ULL((uint64_t)s->pool.peak_mapped), ULL(s->huge_peak));
    if (s->thp_segments || s->thp_blocks)
        OUT(k, "transparent huge pages asked for: %llu segments, %llu huge blocks (%llu first touches timed, "
               "%llu found them dear)\n", ULL(s->thp_segments), ULL(s->thp_blocks), ULL(s->thp_probes),
            ULL(s->thp_dear));
    if (s->thp_always)
        OUT(k, "the system's THP mode is always: segments say MADV_NOHUGEPAGE%s\n",
            cn_options[CN_OPT_THP] >= 2 ? " unless CAIRN_THP asks for huge pages" : "");
    if (s->reclaimed)
        OUT(k, "pages given back from idle threads' heaps: %llu\n", ULL(s->reclaimed));
    if (s->map_refused)
        OUT(k, "the OS refused %llu mappings (last errno %d)\n", ULL(s->map_refused), s->map_errno);
    OUT(k, "Total (incl. huge): system bytes = %llu, in use bytes = %llu, max system bytes = %llu\n",
        ULL(s->pool.mapped + s->huge_bytes), ULL(s->used_bytes + s->large_bytes + s->huge_bytes),
        ULL(peak_bytes(s)));
}

/* ---------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------- */
static void render_json_heap(sink *k, const heap_stat *h, const char *state) {
    heap_sum t = heap_sum_of(h);
    if (state) OUT(k, "{\"nr\": %zu, \"state\": \"%s\", ", h->nr, state);
    else OUT(k, "{");
    OUT(k, "\"slabs\": %llu, \"pages\": %llu, \"used_blocks\": %llu, \"used_bytes\": %llu, "
           "\"free_blocks\": %llu, \"free_bytes\": %llu, \"allocs\": %llu,\n     \"classes\": [",
        ULL(t.slabs), ULL(t.pages), ULL(t.used_blocks), ULL(t.used_bytes), ULL(t.free_blocks),
        ULL(t.free_bytes), ULL(t.allocs));
    const char *sep = "";
    for (unsigned c = 0; c < CN_NCLASS; c++) {
        const cls_stat *cs = &h->cls[c];
        uint64_t allocs = h->allocs[c];
        if (!cs->slabs && !allocs) continue;
        OUT(k, "%s\n       {\"class\": %u, \"size\": %u, \"slabs\": %llu, \"blocks\": %llu, \"used\": %llu, "
               "\"allocs\": %llu}",
            sep, c, cn_classes[c].size, ULL(cs->slabs), ULL(cs->total), ULL(cs->used), ULL(allocs));
        sep = ",";
    }
    OUT(k, "]}");
}

static void render_json(sink *k, const stats *s) {
    OUT(k, "{\n  \"version\": \"%s\",\n  \"options\": {", CN_VERSION_STRING);
    for (int i = 0; i < CN_OPT_COUNT; i++) {
        OUT(k, "%s\"%s\": ", i ? ", " : "", cn_option_name((cn_option_id)i));
        const char *text = cn_option_text((cn_option_id)i);
        if (i == CN_OPT_STATS) put_json_string(k, text ? text : "");
        else OUT(k, "%ld", cn_options[i]);
    }
    OUT(k, "},\n  \"page_size\": %zu, \"segment_size\": %zu, \"size_classes\": %u,\n", CN_PAGE_SIZE,
        (size_t)CN_SEG_SIZE, (unsigned)CN_NCLASS);
    OUT(k, "  \"pool\": {\"segments\": %zu, \"peak_segments\": %zu, \"mapped\": %zu, \"resident\": %llu, "
           "\"descriptors\": %llu,\n           \"slabs\": %llu, \"large\": %llu, \"free\": %llu, "
           "\"free_spans\": %llu, \"dirty\": %zu, \"clean\": %llu, \"purged_total\": %zu},\n",
        s->pool.segments, s->pool.peak_segments, s->pool.mapped, ULL(s->resident),
        ULL((uint64_t)s->pool.segments * CN_PAGE_SIZE), ULL(s->slab_bytes), ULL(s->large_bytes),
        ULL(s->free_bytes), ULL(s->free_spans), s->pool.dirty,
        ULL(s->free_bytes > s->pool.dirty ? s->free_bytes - s->pool.dirty : 0), s->pool.purged);
    OUT(k, "  \"classes\": [");
    const char *sep = "";
    for (unsigned c = 0; c < CN_NCLASS; c++) {
        if (!cls_shown(s, c)) continue;
        const cls_stat *cs = &s->cls[c];
        uint64_t size = cn_classes[c].size;
        OUT(k, "%s\n    {\"class\": %u, \"size\": %llu, \"slabs\": %llu, \"pages\": %llu, \"blocks\": %llu, "
               "\"used\": %llu, \"free\": %llu, \"allocs\": %llu, \"frees\": %llu, \"used_bytes\": %llu, "
               "\"free_bytes\": %llu}",
            sep, c, ULL(size), ULL(cs->slabs), ULL(cs->pages), ULL(cs->total), ULL(cs->used),
            ULL(cs->total - cs->used), ULL(s->allocs[c]), ULL(frees_of(s, c)), ULL(cs->used * size),
            ULL((cs->total - cs->used) * size));
        sep = ",";
    }
    OUT(k, "],\n  \"heaps\": [");
    sep = "";
    for (size_t i = 0; i < s->nheaps; i++) {
        const heap_stat *h = &s->heaps[s->by_nr[i]];
        if (!heap_shown(h)) continue;
        OUT(k, "%s\n    ", sep);
        render_json_heap(k, h, heap_state(h));
        sep = ",";
    }
    OUT(k, "],\n  \"orphans\": ");
    render_json_heap(k, &s->orphans, NULL);
    OUT(k, ",\n  \"small\": {\"used_blocks\": %llu, \"used_bytes\": %llu, \"free_blocks\": %llu, "
           "\"free_bytes\": %llu, \"overhead\": %llu},\n",
        ULL(s->used_blocks), ULL(s->used_bytes), ULL(s->free_blocks), ULL(s->free_block_bytes),
        ULL(s->overhead));
    OUT(k, "  \"large\": {\"count\": %llu, \"bytes\": %llu, \"allocs\": %llu, \"frees\": %llu},\n",
        ULL(s->large_count), ULL(s->large_bytes), ULL(s->large_allocs), ULL(s->large_frees));
    OUT(k, "  \"huge\": {\"count\": %llu, \"bytes\": %llu, \"peak\": %llu, \"allocs\": %llu, \"frees\": %llu, "
           "\"cache_bytes\": %llu},\n",
        ULL(s->huge_count), ULL(s->huge_bytes), ULL(s->huge_peak), ULL(s->huge_allocs),
        ULL(s->huge_frees), ULL(s->huge_cache));
    OUT(k, "  \"os\": {\"map_refused\": %llu, \"last_errno\": %d, \"thp_segments\": %llu, \"thp_blocks\": %llu, "
           "\"thp_probes\": %llu, \"thp_dear\": %llu, \"thp_always\": %d, \"reclaimed_pages\": %llu},\n",
        ULL(s->map_refused), s->map_errno, ULL(s->thp_segments), ULL(s->thp_blocks), ULL(s->thp_probes),
        ULL(s->thp_dear), s->thp_always, ULL(s->reclaimed));
    OUT(k, "  \"totals\": {\"mapped\": %llu, \"in_use\": %llu, \"free\": %llu},\n",
        ULL(s->pool.mapped + s->huge_bytes), ULL(s->used_bytes + s->large_bytes + s->huge_bytes),
        ULL(s->free_block_bytes + s->free_bytes));
    OUT(k, "  \"peak\": {\"segments\": %zu, \"segment_bytes\": %llu, \"huge_bytes\": %llu, \"bytes\": %llu}\n}\n",
        s->pool.peak_segments, ULL((uint64_t)s->pool.peak_mapped), ULL(s->huge_peak),
        ULL(peak_bytes(s)));
}

/* ---------------------------------------------------------------------------
 * malloc_info's XML, in glibc's shape: per heap, the free blocks by size
 * class (<sizes>), then totals: "fast" = free blocks in slabs, "rest" = free
 * pages in the pool, "mmap" = huge blocks.
 * ------------------------------------------------------------------------- */
static void render_xml_heap(sink *k, size_t nr, const heap_stat *h) {
    heap_sum t = heap_sum_of(h);
    OUT(k, "<heap nr=\"%zu\">\n<sizes>\n", nr);
    for (unsigned c = 0; c < CN_NCLASS; c++) {
        const cls_stat *cs = &h->cls[c];
        if (cs->total == cs->used) continue;
        unsigned from = c ? cn_classes[c - 1].size + 1 : 1;
        OUT(k, "  <size from=\"%u\" to=\"%u\" total=\"%llu\" count=\"%llu\"/>\n", from, cn_classes[c].size,
            ULL((cs->total - cs->used) * cn_classes[c].size), ULL(cs->total - cs->used));
    }
    uint64_t sys = t.pages * CN_PAGE_SIZE;
    OUT(k, "</sizes>\n<total type=\"fast\" count=\"%llu\" size=\"%llu\"/>\n"
           "<total type=\"rest\" count=\"0\" size=\"0\"/>\n"
           "<system type=\"current\" size=\"%llu\"/>\n<system type=\"max\" size=\"%llu\"/>\n"
           "<aspace type=\"total\" size=\"%llu\"/>\n<aspace type=\"mprotect\" size=\"%llu\"/>\n</heap>\n",
        ULL(t.free_blocks), ULL(t.free_bytes), ULL(sys), ULL(sys), ULL(sys), ULL(sys));
}

static void render_xml(sink *k, const stats *s) {
    OUT(k, "<malloc version=\"1\">\n");
    for (size_t i = 0; i < s->nheaps; i++) {
        const heap_stat *h = &s->heaps[s->by_nr[i]];
        if (heap_shown(h)) render_xml_heap(k, h->nr, h);
    }
    if (heap_sum_of(&s->orphans).slabs) {              /* numbered after every heap */
        OUT(k, "<!-- pages of no thread: exited threads', spare empty slabs -->\n");
        render_xml_heap(k, s->nheaps, &s->orphans);
    }
    uint64_t sys = s->pool.mapped + s->huge_bytes;
    OUT(k, "<total type=\"fast\" count=\"%llu\" size=\"%llu\"/>\n"
           "<total type=\"rest\" count=\"%llu\" size=\"%llu\"/>\n"
           "<total type=\"mmap\" count=\"%llu\" size=\"%llu\"/>\n"
           "<system type=\"current\" size=\"%llu\"/>\n<system type=\"max\" size=\"%llu\"/>\n"
           "<aspace type=\"total\" size=\"%llu\"/>\n<aspace type=\"mprotect\" size=\"%llu\"/>\n</malloc>\n",
        ULL(s->free_blocks), ULL(s->free_block_bytes), ULL(s->free_spans), ULL(s->free_bytes),
        ULL(s->huge_count), ULL(s->huge_bytes), ULL(sys), ULL(peak_bytes(s)), ULL(sys), ULL(sys));
}

/* Render into a mapped buffer of the right size: *map (unmap it with
 * *map_len) holds `return value` bytes.  0 if out of memory. */
static size_t render_mapped(void (*render)(sink *, const stats *), const stats *s, char **map,
                            size_t *map_len) {
    sink k;
    sink_init(&k, NULL, 0, -1);
    render(&k, s);
    size_t n = k.total;
    *map_len = round_to_page(n + 1);
    *map = cn_os_map(*map_len);
    if (!*map) return 0;
    sink_init(&k, *map, *map_len, -1);
    render(&k, s);
    return n;
}

/* ---------------------------------------------------------------------------
 * The API
 * ------------------------------------------------------------------------- */
/* Collect the figures and write them to fd with `render`. */
static void write_stats(int fd, void (*render)(sink *, const stats *)) {
    stats s;
    char buf[4096];
    sink k;
    stats_collect(&s);
    sink_init(&k, buf, sizeof buf, fd);
    render(&k, &s);
    sink_flush(&k);
    stats_release(&s);
}

cn_export void cairn_print_stats(int fd) {
    int e = errno;
    write_stats(fd, render_text);
    errno = e;
}

cn_export size_t cairn_stats_json(char *buf, size_t len) {
    int e = errno;
    stats s;
    sink k;
    stats_collect(&s);
    sink_init(&k, buf, buf ? len : 0, -1);
    render_json(&k, &s);
    stats_release(&s);
    errno = e;
    return k.total;
}

cn_export void malloc_stats(void) { cairn_print_stats(2); }

cn_export int malloc_info(int options, FILE *fp) {
    if (options != 0 || !fp) {
        errno = EINVAL;
        return -1;
    }
    int e = errno;
    stats s;
    char *map;
    size_t map_len;
    stats_collect(&s);
    size_t n = render_mapped(render_xml, &s, &map, &map_len);
    stats_release(&s);
    if (!map) {
        errno = ENOMEM;
        return -1;
    }
    size_t w = fwrite(map, 1, n, fp);
    cn_os_unmap(map, map_len);
    if (w != n) return -1;
    errno = e;
    return 0;
}

/* mallinfo2's fields, as Cairn fills them (see README "Statistics"). */
cn_export struct mallinfo2 mallinfo2(void) {
    int e = errno;
    stats s;
    stats_collect(&s);
    struct mallinfo2 m;
    memset(&m, 0, sizeof m);
    m.arena = s.pool.mapped;                              /* bytes of segments mapped      */
    m.ordblks = s.free_spans;                             /* free spans in the page pool   */
    m.smblks = s.free_blocks;                             /* free blocks in slabs          */
    m.hblks = s.huge_count;                               /* live huge blocks              */
    m.hblkhd = s.huge_bytes;                              /* bytes they map                */
    m.usmblks = peak_bytes(&s);                           /* peak: segments + huge         */
    m.fsmblks = s.free_block_bytes;                       /* bytes of free slab blocks     */
    m.uordblks = s.used_bytes + s.large_bytes;            /* in use in segments            */
    m.fordblks = s.free_block_bytes + s.free_bytes;       /* free in segments              */
    m.keepcost = s.pool.dirty + s.huge_cache;             /* what malloc_trim would return */
    stats_release(&s);
    errno = e;
    return m;
}

static int clamp_int(size_t v) { return v > INT_MAX ? INT_MAX : (int)v; }

cn_export struct mallinfo mallinfo(void) {
    struct mallinfo2 m2 = mallinfo2();
    struct mallinfo m;
    m.arena = clamp_int(m2.arena);
    m.ordblks = clamp_int(m2.ordblks);
    m.smblks = clamp_int(m2.smblks);
    m.hblks = clamp_int(m2.hblks);
    m.hblkhd = clamp_int(m2.hblkhd);
    m.usmblks = clamp_int(m2.usmblks);
    m.fsmblks = clamp_int(m2.fsmblks);
    m.uordblks = clamp_int(m2.uordblks);
    m.fordblks = clamp_int(m2.fordblks);
    m.keepcost = clamp_int(m2.keepcost);
    return m;
}

static void set_option(cn_option_id id, long v) { __atomic_store_n(&cn_options[id], v, __ATOMIC_RELAXED); }

/* glibc's tunables, mapped onto Cairn's options where one matches; the rest
 * are accepted and ignored.  1 on success, 0 for a value glibc rejects too. */
cn_export int mallopt(int param, int value) {
    cn_init();
    switch (param) {
    case M_MMAP_THRESHOLD: {          /* the huge threshold, within its range */
        if (value < 0 || (unsigned long)value > (unsigned long)4 * 1024 * 1024 * sizeof(long)) return 0;
        long v = value;
        if (v < (long)CN_SMALL_MAX) v = (long)CN_SMALL_MAX;
        if (v > (long)(CN_SEG_SIZE / 2)) v = (long)(CN_SEG_SIZE / 2);
        set_option(CN_OPT_HUGE_THRESHOLD, v);
        return 1;
    }
    case M_TRIM_THRESHOLD:            /* dirty bytes purged at once; -1: never by size */
        set_option(CN_OPT_PURGE_MAX_DIRTY, value < 0 ? LONG_MAX : value);
        return 1;
    case M_TOP_PAD:                   /* keep at least this much resident */
        if (value > cn_options[CN_OPT_PURGE_MAX_DIRTY]) set_option(CN_OPT_PURGE_MAX_DIRTY, value);
        return 1;
    case M_MXFAST:                    /* no fastbins; glibc's range check */
        return value >= 0 && (size_t)value <= 80 * sizeof(size_t) / 4;
    case M_MMAP_MAX:
    case M_CHECK_ACTION:
    case M_PERTURB:
    case M_ARENA_TEST:
    case M_ARENA_MAX:
    default:
        return 1;
    }
}

/* ---------------------------------------------------------------------------
 * CAIRN_STATS: "1" (or "text") prints malloc_stats at exit; "json" writes
 * the JSON on stderr, "json:PATH" to PATH (%p in PATH: the process id).
 * ------------------------------------------------------------------------- */
static char stats_path[PATH_MAX];

int cn_stats_configure(const char *v) {
    if (!*v || !strcmp(v, "0")) return CN_STATS_OFF;
    if (!strcmp(v, "1") || !strcmp(v, "text")) return CN_STATS_TEXT;
    if (!strcmp(v, "json")) {
        stats_path[0] = 0;
        return CN_STATS_JSON;
    }
    if (!strncmp(v, "json:", 5) && v[5] && strlen(v + 5) < sizeof stats_path) {
        strcpy(stats_path, v + 5);
        return CN_STATS_JSON;
    }
    return -1;
}

/* stats_path with each %p replaced by the process id. */
static void expand_path(char *out, size_t cap) {
    size_t n = 0;
    for (const char *p = stats_path; *p && n + 1 < cap; p++) {
        if (p[0] == '%' && p[1] == 'p') {
            n += cn_format(out + n, cap - n, "%d", (int)getpid());
            if (n >= cap) n = cap - 1;
            p++;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = 0;
}

/* A destructor, not atexit, which may allocate: runs at exit and when the
 * library is unloaded. */
__attribute__((destructor)) static void stats_at_exit(void) {
    long mode = cn_options[CN_OPT_STATS];
    if (mode == CN_STATS_TEXT) {
        cairn_print_stats(2);
    } else if (mode == CN_STATS_JSON) {
        int e = errno, fd = 2;
        char path[PATH_MAX + 32];
        if (stats_path[0]) {
            expand_path(path, sizeof path);
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (fd < 0) {
                cn_message("cairn: CAIRN_STATS: cannot open %s\n", path);
                errno = e;
                return;
            }
        }
        write_stats(fd, render_json);
        if (fd != 2) close(fd);
        errno = e;
    }
}
