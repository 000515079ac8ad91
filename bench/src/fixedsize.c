/* fixedsize.c -- fixed-size loops in the style of glibc's bench-malloc-simple
 * and bench-malloc-thread.
 *
 * mode=batch: for each size in 16, 32, ..., 4096 B and each batch length in
 *   25, 100, 400, 1600: repeatedly malloc a batch of blocks of that size
 *   (writing each), then free them in allocation order.  Every (size, batch)
 *   pair gets the same number of mallocs.
 * mode=ws: a working set of `slots` blocks per thread; each operation frees a
 *   random one and mallocs a block of a size drawn from 16, 32, ..., 4096 B.
 * Both run in `threads` threads; total work fixed: `ops` mallocs in all.
 *   fixedsize mode=batch ops=40M
 *   fixedsize mode=ws threads=4 ops=20M slots=1000
 */
#include "common.h"

static const size_t sizes[] = {16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
#define NS (sizeof sizes / sizeof sizes[0])
static const int batches[] = {25, 100, 400, 1600};
#define NB (sizeof batches / sizeof batches[0])

static long long per_thread;
static size_t slots;
static int ws;

static void *worker(void *arg)
{
    rng_t r;
    rng_seed(&r, (uint64_t)(long)arg);
    if (!ws) {
        uint8_t *a[1600];
        long long each = per_thread / (long long)(NS * NB);
        for (size_t s = 0; s < NS; s++)
            for (size_t b = 0; b < NB; b++) {
                size_t n = sizes[s];
                int len = batches[b];
                for (long long done = 0; done < each; done += len) {
                    for (int i = 0; i < len; i++) {
                        a[i] = xmalloc_or_die(n);
                        tag_set(a[i], n, (uint8_t)i);
                    }
                    for (int i = 0; i < len; i++) {
                        tag_check("fixedsize", a[i], n, (uint8_t)i);
                        free(a[i]);
                    }
                }
            }
    } else {
        uint8_t **a = os_alloc(slots * sizeof *a);
        uint8_t *cls = os_alloc(slots);
        for (long long i = 0; i < per_thread; i++) {
            size_t k = (size_t)rng_below(&r, slots);
            if (a[k]) {
                tag_check("fixedsize", a[k], sizes[cls[k]], (uint8_t)k);
                free(a[k]);
            }
            cls[k] = (uint8_t)rng_below(&r, NS);
            a[k] = xmalloc_or_die(sizes[cls[k]]);
            tag_set(a[k], sizes[cls[k]], (uint8_t)k);
        }
        for (size_t k = 0; k < slots; k++)
            if (a[k]) free(a[k]);
        os_free(a, slots * sizeof *a);
        os_free(cls, slots);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    report_which(argc, argv);
    const char *mode = arg_str(argc, argv, "mode", "batch");
    int threads = (int)arg_num(argc, argv, "threads", 1);
    long long ops = arg_num(argc, argv, "ops", 40000000);
    slots = (size_t)arg_num(argc, argv, "slots", 1000);
    ws = strcmp(mode, "ws") == 0;
    if (!ws && strcmp(mode, "batch") != 0) {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    per_thread = ops / threads;
    double t0 = now_sec();
    pthread_t *th = os_alloc((size_t)threads * sizeof *th);
    for (long t = 0; t < threads; t++) th[t] = spawn(worker, (void *)(t + 1));
    for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
    double t = now_sec() - t0;
    report("fixedsize", "mode=%s threads=%d ops=%lld time=%.4f", mode, threads, per_thread * threads, t);
    return 0;
}
