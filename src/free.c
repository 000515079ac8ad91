/* free.c -- free, and the checks that catch misuse.
 *
 * The fast path (cairn/fastpath.h): the pointer's segment window is ours (segment map), its page
 * is owned by this thread's heap, it is the start of a block (a multiply and
 * a rotate, see cn_block_index), and the block is not already free (its tag
 * word).  Then the block goes on the page's free list.  Anything else --
 * another thread's block, a large or huge block, a bad pointer -- is handled
 * out of line, where bad pointers end in a one-line message and abort.
 */
#include "cairn/fastpath.h"

void cn_free(void *p) { cn_free_fast(p); }

/* C23's sized frees.  The program says the size (and alignment) it
 * allocated the block with; a size larger than the block, or a block not at
 * that alignment, cannot be that, so it is misuse.  (A smaller size is
 * legitimate: realloc may have shrunk the block in place.) */
void cn_free_sized(void *p, size_t n, size_t align, const char *fn) {
    if (p) {
        if (align & (align - 1)) cn_fatal(fn, "invalid alignment", p);
        if (n > cn_usable_size(p, fn)) cn_fatal(fn, "size larger than the block", p);
        if ((uintptr_t)p & (align - 1)) cn_fatal(fn, "block not at that alignment", p);
    }
    cn_free(p);
}

void cn_free_local(cn_heap *h, cn_page *pg, cn_block *b) {
    b->next = (uintptr_t)pg->free ^ pg->key;
    pg->free = b;
    if (cn_used_drop(pg)) cn_page_after_free(h, pg);
}

/* ---------------------------------------------------------------------------
 * Checks
 * ------------------------------------------------------------------------- */

/* The slab page of p and whether p starts a block; aborts if it does not. */
static cn_block *slab_block(cn_page **pgp, uintptr_t a, const char *fn) {
    cn_page *pg = cn_slab_first(*pgp);
    uint32_t off = (uint32_t)(a - cn_page_addr(pg));
    if (cn_block_index(pg, off) >= cn_page_capacity(pg)) cn_fatal(fn, "invalid pointer", (void *)a);
    *pgp = pg;
    return (cn_block *)a;
}

cn_ptr_kind cn_check_live(const void *p, const char *fn, cn_page **pg_out, size_t *usable) {
    uintptr_t a = (uintptr_t)p;
    const char *freed = fn[0] == 'f' ? "double free detected" : "pointer already freed";
    *pg_out = NULL;
    if (cn_in_segment(a)) {
        cn_page *pg = cn_page_of(a);
        switch (pg->kind) {
        case CN_KIND_SLAB:
        case CN_KIND_SLAB_TAIL: {
            cn_block *b = slab_block(&pg, a, fn);
            if (b->tag == CN_FREED_TAG(pg->key)) cn_fatal(fn, freed, p);
            *pg_out = pg;
            *usable = cn_classes[pg->cls].size;
            return CN_PTR_SLAB;
        }
        case CN_KIND_LARGE:
            if (a != cn_page_addr(pg)) break;
            *pg_out = pg;
            *usable = (size_t)pg->npages * CN_PAGE_SIZE;
            return CN_PTR_LARGE;
        case CN_KIND_FREE:
            cn_fatal(fn, freed, p);
        case CN_KIND_NONE:            /* past a short segment: may be a huge block */
            if ((*usable = cn_huge_usable(p)) != 0) return CN_PTR_HUGE;
            break;
        }
        cn_fatal(fn, "invalid pointer", p);
    }
    if ((*usable = cn_huge_usable(p)) != 0) return CN_PTR_HUGE;
    cn_fatal(fn, "invalid pointer", p);
}

/* A live block whose second word happens to equal the page key looks freed.
 * On the caller's own page the free list settles it; elsewhere the lists
 * are other threads' and the tag alone decides (the key is random). */
static bool tag_by_chance(cn_page *pg, cn_block *b) {
    if (atomic_load_explicit(&pg->owner, memory_order_relaxed) != cn_tls_heap) return false;
    uintptr_t key = pg->key;
    size_t n = 0;
    for (cn_block *f = pg->free; f && n <= cn_page_capacity(pg); f = (cn_block *)(f->next ^ key), n++)
        if (f == b) return false;
    return true;
}

static void free_huge(void *p) {
    switch (cn_huge_free(p)) {
    case CN_HUGE_FREED: return;
    case CN_HUGE_ALREADY_FREED: cn_fatal("free", "double free detected", p);
    case CN_HUGE_NOT_OURS: cn_fatal("free", "invalid pointer", p);
    }
}

cn_noinline void cn_free_slow(void *p) {
    if (!p) return;
    if (cn_vg_route()) { cn_vg_free(p); return; }
    uintptr_t a = (uintptr_t)p;
    if (!cn_in_segment(a)) {
        free_huge(p);
        return;
    }
    cn_page *pg = cn_page_of(a);
    cn_block *b;
    switch (pg->kind) {
    case CN_KIND_SLAB:
        /* The fast path's test (one multiply) passes most remote frees;
         * it is exact only for blocks up to about half a page.  (A goto,
         * not a helper called from both cases: gcc then saves one register
         * fewer, 4 instructions of a remote free's 100.) */
        if (cn_likely(cn_block_start(pg, a))) {
            b = p;
            goto slab;
        }
        /* fall through */
    case CN_KIND_SLAB_TAIL:
        b = slab_block(&pg, a, "free");
    slab: {
        uintptr_t key = pg->key;
        if (b->tag == CN_FREED_TAG(key) && !tag_by_chance(pg, b)) cn_fatal("free", "double free detected", p);
        b->tag = CN_FREED_TAG(key);
        cn_heap *h = cn_tls_heap;
        if (cn_unlikely(h == &cn_heap_empty)) h = cn_heap_freeing();
        cn_free_to_owner(h, pg, b);
        return;
    }
    case CN_KIND_LARGE:
        if (a != cn_page_addr(pg)) break;
        cn_count_add(&cn_count.large_frees, 1);
        cn_span_free(pg);
        return;
    case CN_KIND_FREE:
        cn_fatal("free", "double free detected", p);
    case CN_KIND_NONE:
        free_huge(p);
        return;
    }
    cn_fatal("free", "invalid pointer", p);
}
