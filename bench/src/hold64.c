/* hold64.c -- space overhead of many small live blocks.
 *
 * Allocates `bytes` worth of `size`-byte blocks (default 1 GiB of 64 B =
 * 16M blocks), chaining them into a list through their first word and
 * writing their last byte, so every block is touched.  Reports peak RSS and
 * overhead = (peak RSS - RSS before - live bytes) / live bytes, then frees
 * everything and reports the RSS left.
 *   hold64 bytes=1Gi size=64
 */
#include "common.h"

int main(int argc, char **argv)
{
    report_which(argc, argv);
    size_t size = (size_t)arg_num(argc, argv, "size", 64);
    long long bytes = arg_num(argc, argv, "bytes", 1LL << 30);
    if (size < sizeof(void *)) size = sizeof(void *);
    long long n = bytes / (long long)size;
    long long live = n * (long long)size;

    long before_kb = cur_rss_kb();
    double t0 = now_sec();
    void **head = NULL;
    for (long long i = 0; i < n; i++) {
        void **b = xmalloc_or_die(size);
        b[0] = head;
        ((volatile uint8_t *)b)[size - 1] = (uint8_t)i;
        head = b;
    }
    double t1 = now_sec();
    long peak_kb = peak_rss_kb(), held_kb = cur_rss_kb();
    long long count = 0, bad = 0;
    while (head) {
        void **next = head[0];
        if (((uint8_t *)head)[size - 1] != (uint8_t)(n - 1 - count)) bad++;
        free(head);
        head = next;
        count++;
    }
    double t2 = now_sec();
    long after_kb = cur_rss_kb();
    if (bad || count != n) {
        fprintf(stderr, "hold64: %lld of %lld blocks corrupted, %lld found\n", bad, n, count);
        return 4;
    }
    double overhead = ((double)(peak_kb - before_kb) * 1024.0 - (double)live) / (double)live;
    report("hold64", "blocks=%lld size=%zu live_kb=%lld rss_before_kb=%ld rss_held_kb=%ld "
           "overhead=%.4f rss_after_free_kb=%ld time=%.4f alloc_time=%.4f free_time=%.4f",
           n, size, live / 1024, before_kb, held_kb, overhead, after_kb, t2 - t0, t1 - t0, t2 - t1);
    return 0;
}
