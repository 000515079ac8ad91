/* bigalign.c -- churn of large blocks, and of over-aligned blocks.
 *
 * mode=large: a ring of `slots` live blocks; each operation frees a random
 *   one and mallocs a block of log-uniform size in [min, max] (default
 *   64 KiB-64 MiB), writing one byte on each of its pages.
 * mode=aligned: a ring of `slots` live blocks; each operation frees a random
 *   one and allocates a block of log-uniform size in [min, max] (default
 *   16 B-256 KiB) with an alignment drawn from 64 B, 128 B, ..., 2 MiB,
 *   cycling through posix_memalign, aligned_alloc and memalign.  The
 *   alignment is checked; misaligned blocks are counted and reported as
 *   errors=N (the run goes on, so that the time is still measured).
 *   bigalign mode=large ops=400 slots=8
 *   bigalign mode=aligned ops=2M slots=1000
 */
#include "common.h"
#include <malloc.h>

typedef struct {
    uint8_t *p;
    size_t n;
} blk_t;

int main(int argc, char **argv)
{
    report_which(argc, argv);
    const char *mode = arg_str(argc, argv, "mode", "large");
    int large = strcmp(mode, "large") == 0;
    if (!large && strcmp(mode, "aligned") != 0) {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    long long ops = arg_num(argc, argv, "ops", large ? 400 : 2000000);
    size_t slots = (size_t)arg_num(argc, argv, "slots", large ? 8 : 1000);
    size_t lo = (size_t)arg_num(argc, argv, "min", large ? 64 << 10 : 16);
    size_t hi = (size_t)arg_num(argc, argv, "max", large ? 64LL << 20 : 256 << 10);
    rng_t r;
    rng_seed(&r, (uint64_t)arg_num(argc, argv, "seed", 1));
    blk_t *ring = os_alloc(slots * sizeof *ring);
    long long bytes = 0, misaligned = 0;

    double t0 = now_sec();
    for (long long i = 0; i < ops; i++) {
        size_t k = (size_t)rng_below(&r, slots);
        if (ring[k].p) {
            tag_check("bigalign", ring[k].p, ring[k].n, (uint8_t)k);
            free(ring[k].p);
        }
        size_t n = (size_t)rng_logrange(&r, lo, hi);
        uint8_t *p;
        if (large) {
            p = xmalloc_or_die(n);
            touch_pages(p, n, 1);
        } else {
            size_t align = (size_t)64 << rng_below(&r, 16); /* 64 B .. 2 MiB */
            void *q = NULL;
            switch (i % 3) {
            case 0:
                if (posix_memalign(&q, align, n) != 0) q = NULL;
                break;
            case 1: q = aligned_alloc(align, (n + align - 1) & ~(align - 1)); break;
            default: q = memalign(align, n); break;
            }
            if (!q) {
                fprintf(stderr, "bigalign: aligned allocation of %zu B at %zu failed\n", n, align);
                return 3;
            }
            if ((uintptr_t)q & (align - 1)) {
                static const char *fn[] = {"posix_memalign", "aligned_alloc", "memalign"};
                if (misaligned++ < 3)
                    fprintf(stderr, "bigalign: %s(align %zu, size %zu) returned %p, not aligned\n",
                            fn[i % 3], align, n, q);
            }
            p = q;
        }
        tag_set(p, n, (uint8_t)k);
        ring[k].p = p;
        ring[k].n = n;
        bytes += (long long)n;
    }
    for (size_t k = 0; k < slots; k++)
        if (ring[k].p) {
            tag_check("bigalign", ring[k].p, ring[k].n, (uint8_t)k);
            free(ring[k].p);
        }
    double t = now_sec() - t0;
    /* Misaligned blocks are counted, not fatal: the harness flags the run. */
    report("bigalign", "mode=%s ops=%lld time=%.4f mean_size=%.0f errors=%lld", mode, ops, t,
           (double)bytes / (double)ops, misaligned);
    return 0;
}
