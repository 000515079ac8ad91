/* phases.c -- memory reuse across program phases.
 *
 * 1. allocate `bytes` (default 2 GiB) in small blocks of 16-256 B;
 * 2. free a scattered 90% of them (each block with probability 0.9);
 * 3. allocate as many bytes as were freed, in blocks of 272-2048 B;
 * then free everything.  Reports RSS after each phase, the peak, and the RSS
 * left at the end.  An allocator that can reuse the space freed in phase 2
 * for the other sizes of phase 3 peaks near `bytes`; one that cannot peaks
 * near twice that.  The pointer arrays (bookkeeping, ~6% of `bytes`, mapped
 * outside the allocator) are included in RSS and reported as book_kb.
 *   phases bytes=2Gi
 */
#include "common.h"

static uint8_t *make(size_t n)
{
    uint8_t *p = xmalloc_or_die(n);
    touch_pages(p, n, 0);
    p[0] = (uint8_t)n;
    p[1] = (uint8_t)(n >> 8);
    p[n - 1] = (uint8_t)(n * 7 + 1);
    return p;
}

static void drop(uint8_t *p)
{
    size_t n = (size_t)p[0] | (size_t)p[1] << 8;
    if (n < 16 || n > 2048 || p[n - 1] != (uint8_t)(n * 7 + 1)) {
        fprintf(stderr, "phases: corrupted block %p\n", (void *)p);
        exit(4);
    }
    free(p);
}

int main(int argc, char **argv)
{
    report_which(argc, argv);
    long long bytes = arg_num(argc, argv, "bytes", 2LL << 30);
    rng_t r;
    rng_seed(&r, (uint64_t)arg_num(argc, argv, "seed", 1));
    long start_kb = cur_rss_kb();

    double t0 = now_sec();
    size_t cap1 = (size_t)(bytes / 16 + 1);
    uint8_t **a = os_alloc(cap1 * sizeof *a);
    size_t n1 = 0;
    for (long long vol = 0; vol < bytes; n1++) {
        size_t n = (size_t)rng_range(&r, 16, 256);
        a[n1] = make(n);
        vol += (long long)n;
    }
    long p1_kb = cur_rss_kb();
    double t1 = now_sec();

    size_t kept = 0;
    long long freed = 0;
    for (size_t i = 0; i < n1; i++) {
        if (rng_below(&r, 10) != 0) {
            freed += (long long)((size_t)a[i][0] | (size_t)a[i][1] << 8);
            drop(a[i]);
        } else {
            a[kept++] = a[i];
        }
    }
    long freed_kb = cur_rss_kb();
    double t2 = now_sec();

    size_t cap3 = (size_t)(freed / 272 + 1);
    uint8_t **b = os_alloc(cap3 * sizeof *b);
    size_t n3 = 0;
    for (long long vol = 0; vol < freed && n3 < cap3; n3++) {
        size_t n = (size_t)rng_range(&r, 272, 2048);
        b[n3] = make(n);
        vol += (long long)n;
    }
    long p3_kb = cur_rss_kb(), peak_kb = peak_rss_kb();
    double t3 = now_sec();

    for (size_t i = 0; i < kept; i++) drop(a[i]);
    for (size_t i = 0; i < n3; i++) drop(b[i]);
    double t4 = now_sec();
    long end_kb = cur_rss_kb();
    long book_kb = (long)((n1 + n3) * sizeof(void *) / 1024);
    report("phases", "bytes=%lld time=%.4f rss_start_kb=%ld rss_phase1_kb=%ld rss_after_free_kb=%ld "
           "rss_phase3_kb=%ld rss_end_kb=%ld book_kb=%ld peak_over_ideal=%.3f "
           "phase1_time=%.3f free_time=%.3f phase3_time=%.3f end_time=%.3f",
           bytes, t4 - t0, start_kb, p1_kb, freed_kb, p3_kb, end_kb, book_kb,
           (double)(peak_kb - start_kb - book_kb) * 1024.0 / (double)bytes,
           t1 - t0, t2 - t1, t3 - t2, t4 - t3);
    return 0;
}
