/* cairn/types.h -- Cairn's internal types and every build-time constant.
 *
 * Memory layout in one paragraph: the OS gives us *segments*, 4 MiB windows
 * aligned to 4 MiB.  A segment is cut into 64 *pages* of 64 KiB; page 0
 * holds the segment's metadata: one 64-byte descriptor (cn_page) per page
 * (4 KiB of it: the rest is never touched, so never resident).
 * Runs of free pages (*spans*) live in a global page pool.  A span is used
 * either as a *slab* of equal blocks of one size class, owned by one thread
 * heap, or as one *large* block.  Blocks above the huge threshold are mapped
 * on their own.  From a pointer p: segment = p & ~(4 MiB - 1), descriptor =
 * segment->pages[(p >> 16) & 63] -- address arithmetic, no search.  A map
 * over the address space (one entry per 4 MiB) says whether p's window is ours.
 */
#ifndef CAIRN_TYPES_H
#define CAIRN_TYPES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------
 * Build options (override with -D...)
 * ------------------------------------------------------------------------- */

#define CN_SEG_SHIFT   22                      /* segment = 4 MiB           */
#ifndef CN_PAGE_SHIFT
#define CN_PAGE_SHIFT  16                      /* page    = 64 KiB          */
#endif
#define CN_SEG_SIZE    ((uintptr_t)1 << CN_SEG_SHIFT)
#define CN_PAGE_SIZE   ((size_t)1 << CN_PAGE_SHIFT)
#define CN_SEG_PAGES   (1u << (CN_SEG_SHIFT - CN_PAGE_SHIFT))   /* 64       */
#define CN_ALIGN       16                      /* alignof(max_align_t)     */

/* Size classes: 16..128 in steps of 16, then 4 classes per power of two up
 * to CN_SMALL_MAX.  Sizes up to CN_FAST_MAX are mapped by a table. */
#define CN_SMALL_MAX   ((size_t)128 * 1024)
#define CN_FAST_MAX    4096
#define CN_NCLASS      48

/* Misuse checks on free's fast path (interior pointers, double frees).
 * Build with -DCN_CHECKS=0 only to measure what they cost. */
#ifndef CN_CHECKS
#define CN_CHECKS 1
#endif

/* Valgrind support (valgrind.c): under memcheck, blocks are announced with
 * client requests, so memcheck reports use-after-free, overruns and leaks
 * in programs running on Cairn.  Built in when <valgrind/memcheck.h> is
 * present; -DCN_VALGRIND=0 leaves it out.  Costs nothing off valgrind. */
#ifndef CN_VALGRIND
#if __has_include(<valgrind/memcheck.h>)
#define CN_VALGRIND 1
#else
#define CN_VALGRIND 0
#endif
#endif

/* Address bits covered by the segment map. */
#if UINTPTR_MAX > 0xffffffffu
#define CN_ADDR_BITS   47
#else
#define CN_ADDR_BITS   32
#endif
#define CN_SEGMAP_BITS ((uintptr_t)1 << (CN_ADDR_BITS - CN_SEG_SHIFT))
#define CN_WORD_BITS   (8 * sizeof(uintptr_t))

/* Slab free lists are built CN_EXTEND_BYTES at a time, so untouched parts of
 * a fresh page stay untouched (and unresident). */
#define CN_EXTEND_BYTES 4096

/* ---------------------------------------------------------------------------
 * Blocks, pages, segments
 * ------------------------------------------------------------------------- */

/* A free block: its first word links the free list, encoded as
 * next ^ page->key; its second word is CN_FREED_TAG(page->key) while the
 * block is free (the key is random per page, so a program can't forge it by
 * chance), 0 once handed out.  The tag makes double frees cheap to see. */
typedef struct cn_block {
    uintptr_t next;
    uintptr_t tag;
} cn_block;

#define CN_FREED_TAG(key) (key)

typedef enum cn_kind {
    CN_KIND_FREE = 0,   /* page belongs to a free span in the pool          */
    CN_KIND_META,       /* page 0 of a segment: the descriptors             */
    CN_KIND_SLAB,       /* first page of a slab                              */
    CN_KIND_SLAB_TAIL,  /* later page of a multi-page slab (see back)        */
    CN_KIND_LARGE,      /* first page of a large block                       */
    CN_KIND_LARGE_TAIL, /* later page of a large block                       */
    CN_KIND_NONE,       /* beyond the mapped end of a short segment          */
} cn_kind;

struct cn_heap;

/* One descriptor per 64 KiB page.  Only the fields a kind uses are valid. */
typedef struct cn_page {
    cn_block *free;               /* slab: local free list (owner only)       */
    uintptr_t key;                /* slab: free-list encoding key             */
    _Atomic(struct cn_heap *) owner; /* slab: owning heap; NULL otherwise     */
    struct cn_page *next, *prev;  /* heap queue, or pool free list            */
    uint32_t start_mul;           /* slab: free's block-start test, see        */
    uint32_t start_lim;           /*   cn_block_start() (copies of the class's) */
    union {
        uint64_t tally;           /* slab: used + (blocks taken while current
                                     << CN_TALLY_SHIFT): malloc's one add      */
        uint16_t used;            /* slab: blocks out (incl. remote frees; +1
                                     while current), plus CN_USED_FULL while in
                                     the full list.  meta: pages handed out    */
    };
    uint16_t carved;              /* slab: blocks ever put on the free list   */
    uint16_t npages;              /* first page of a span: its length         */
    uint8_t  back;                /* tail pages: distance to the first page   */
    uint8_t  kind;                /* cn_kind                                  */
    uint8_t  cls;                 /* slab: size class                         */
    uint8_t  flags;               /* CN_PF_*                                  */
} cn_page;

_Static_assert(sizeof(cn_page) <= 64, "a page descriptor fits 64 bytes");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "used is the low half of tally");
_Static_assert(CN_SEG_PAGES <= 256, "back fits a byte");
_Static_assert(sizeof(cn_page) * CN_SEG_PAGES <= CN_PAGE_SIZE, "descriptors fit page 0");
_Static_assert(sizeof(cn_page) * CN_SEG_PAGES <= 0xffff, "the segment map holds a descriptor offset");

#define CN_PF_DIRTY   1   /* free page: may hold data (not purged)          */
#define CN_PF_FULL    2   /* slab: in the heap's full list (used has CN_USED_FULL) */
#define CN_PF_ZERO    4   /* large: memory known to be zero                  */
#define CN_PF_THP     8   /* meta: the segment is backed by huge pages       */
#define CN_PF_CURRENT 16  /* slab: its heap's current page of its class      */

/* Added to a slab's `used` while it waits in a full list: `used` is then
 * negative as a signed number, so free's one test "(int16_t)--used <= 0"
 * catches both a page that empties and a full page getting room.  A slab
 * holds at most 4096 blocks (64 KiB of 16-byte ones), far below it. */
#define CN_USED_FULL  0x8000u

/* malloc counts a block in its page's tally: one more used, one more taken.
 * The taken count (48 bits) goes to the heap's per-class total when the
 * page stops being current (page.c), so statistics cost malloc nothing. */
#define CN_TALLY_SHIFT 16
#define CN_TALLY_POP   (((uint64_t)1 << CN_TALLY_SHIFT) | 1)

/* Segments ask for transparent huge pages (CAIRN_THP=2) once this much of
 * their pages is in use: a big heap then faults in 2 MiB at a time, a small
 * one is not rounded up to 2 MiB. */
#ifndef CN_THP_HEAP
#define CN_THP_HEAP ((size_t)64 << 20)
#endif
/* Huge blocks of this size or more ask for them (CAIRN_THP=1): a block used
 * only in part then wastes at most one 2 MiB page, a quarter of it. */
#ifndef CN_THP_BLOCK_MIN
#define CN_THP_BLOCK_MIN ((size_t)8 << 20)
#endif
/* ...and keep asking only while a timed 2 MiB first touch costs at most
 * 1/CN_THP_MARGIN of the 512 4 KiB faults it replaces (os.c).  The margin
 * covers what the probe cannot see: it times the first huge page a block
 * gets, which the kernel tends to take from memory freed a moment ago, while
 * the block's later pages may be memory the host has taken back.  On our
 * Intel VM such a page cost 6.8 ms, 28x a warm one and 9x its 512 small
 * faults; on our AMD VM huge pages were 66x cheaper than small faults. */
#ifndef CN_THP_MARGIN
#define CN_THP_MARGIN 8
#endif

/* Pages of empty slabs a heap keeps, at most, instead of returning them to
 * the pool (for between one and two CAIRN_PURGE_DELAY_MS; see page.c), and
 * pages of empty slabs kept beyond that as spares for any thread. */
#ifndef CN_HEAP_KEEP_PAGES
#define CN_HEAP_KEEP_PAGES 16
#endif
#ifndef CN_SPARE_PAGES
#define CN_SPARE_PAGES 48
#endif

/* A class that needs a new page while the pool holds no freed page is lent
 * a bigger class's page with free blocks instead (page.c, lend): blocks at
 * most CN_LEND_RATIO times its size, on a page with 1/CN_LEND_ROOM of its
 * blocks free or more, among the first CN_LEND_SCAN of each class's queue.
 * A ratio of 1 turns lending off. */
#ifndef CN_LEND_RATIO
#define CN_LEND_RATIO 2
#endif
#ifndef CN_LEND_ROOM
#define CN_LEND_ROOM 4
#endif
#ifndef CN_LEND_SCAN
#define CN_LEND_SCAN 4
#endif

/* Blocks a thread frees for another heap are chained and pushed onto that
 * heap's remote list together, one atomic exchange per this many (or when
 * the owner changes, and as the thread changes pages, trims, reads the
 * statistics or exits; see heap.c).  1 pushes each block alone. */
#ifndef CN_REMOTE_BATCH
#define CN_REMOTE_BATCH 32
#endif
/* Before that, a thread gathers the blocks it frees for other heaps into
 * runs per slab, which their owner splices onto the slab's free list whole
 * (heap.c): this many runs open at once (a power of two from 2 to 32), and
 * at most CN_REMOTE_HOLD blocks in them.  A producer/consumer pair ran
 * 10-40% faster with runs (4-6 blocks long on average) than block by block. */
#ifndef CN_REMOTE_RUNS
#define CN_REMOTE_RUNS 32
#endif
#ifndef CN_REMOTE_HOLD
#define CN_REMOTE_HOLD 128
#endif

/* A heap whose remote list holds CN_RECLAIM_MIN blocks or more and has not
 * been drained for CN_RECLAIM_MS (its thread waits for others, say) has
 * its full pages whose every block is on that list given back by a thread
 * that frees more for it or changes pages, at most once per CN_RECLAIM_MS;
 * after each look that finds nothing, the next waits twice as long, up to
 * CN_RECLAIM_MS << CN_RECLAIM_BACKOFF (heap.c). */
#ifndef CN_RECLAIM_MIN
#define CN_RECLAIM_MIN 256
#endif
#ifndef CN_RECLAIM_MS
#define CN_RECLAIM_MS 4
#endif
#ifndef CN_RECLAIM_BACKOFF
#define CN_RECLAIM_BACKOFF 3
#endif

/* A segment is its array of descriptors.  pages[0] describes page 0 itself
 * (kind META, owner NULL) and keeps the segment's own counts: npages = pages
 * mapped (a segment mapped under memory pressure may be short), used = pages
 * handed out of the pool. */
typedef struct cn_segment { cn_page pages[CN_SEG_PAGES]; } cn_segment;

/* ---------------------------------------------------------------------------
 * Locks: a small futex lock (never allocates).
 * ------------------------------------------------------------------------- */
typedef struct cn_lock { _Atomic int v; } cn_lock;
#define CN_LOCK_INIT { 0 }

/* ---------------------------------------------------------------------------
 * Heaps
 * ------------------------------------------------------------------------- */

typedef struct cn_page_list { cn_page *first, *last; } cn_page_list;

typedef enum cn_heap_state { CN_HEAP_EMPTY, CN_HEAP_LIVE, CN_HEAP_DEAD, CN_HEAP_ORPHAN } cn_heap_state;

/* A thread's heap.  Only its thread touches it, except `remote`, where
 * other threads push the blocks they free for it. */
typedef struct cn_heap {
    cn_page **bins;                  /* page to allocate from, per class:
                                        its thread's front (below), or own_bins */
    uint64_t allocs[CN_NCLASS]       /* blocks allocated, per class, by this
                                        heap's threads; the current pages'
                                        tallies hold the rest (statistics;
                                        read atomically: 8-aligned on i386) */
        __attribute__((aligned(8)));
    cn_page_list queue[CN_NCLASS];   /* pages with free blocks, per class   */
    cn_page_list full;               /* pages with none                     */
    uintptr_t remote_key;            /* encodes the links of `remote`       */
    uint64_t rng;                    /* key generator state                 */
    cn_page_list kept_new, kept_old; /* empty slabs kept, two generations   */
    uint32_t kept_pages;             /* pages in them                       */
    uint64_t kept_turn;              /* when the generations last turned (ms) */
    struct cn_heap *next_all;        /* every heap ever made                */
    struct cn_heap *next_free;       /* dead heaps, for reuse               */
    int state;                       /* cn_heap_state                       */
    cn_page *own_bins[CN_NCLASS];    /* bins of a heap without a front      */
    cn_lock full_lock;               /* guards `full` (and its pages' FULL
                                        state) against a thread giving back
                                        an idle heap's pages (heap.c)       */
    /* Written by other threads: alone on its cache line. */
    _Alignas(64) _Atomic(uintptr_t) remote;   /* blocks freed by others (MPSC stack) */
    _Atomic uint32_t pending;        /* blocks pushed since the last drain  */
    _Atomic uint32_t drained_at;     /* the owner's last drain (ms)         */
    _Atomic uint32_t reclaim_at;     /* the last look at it as idle (ms)    */
    _Atomic uint32_t reclaim_idle;   /* looks in a row that found nothing   */
    char pad_[64 - sizeof(uintptr_t) - 4 * sizeof(uint32_t)];
} cn_heap;

/* What malloc's fast path reads, in the thread's static TLS: one TLS offset
 * reaches the heap and the bins.  A thread's heap points its bins here
 * while the thread lives (heap.c). */
typedef struct cn_front {
    struct cn_heap *heap;            /* cn_heap_empty until the first malloc */
    cn_page *bins[CN_NCLASS];
} cn_front;

#endif /* CAIRN_TYPES_H */
