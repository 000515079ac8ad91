/* cachefs.c -- false sharing induced by the allocator, after the Hoard
 * suite's cache-thrash and cache-scratch.
 *
 * mode=thrash (active false sharing): each thread repeatedly mallocs a small
 *   object, writes every byte of it `reps` times, and frees it.  An allocator
 *   that hands concurrently running threads pieces of one cache line makes
 *   their writes fight over that line.
 * mode=scratch (passive false sharing): the main thread mallocs one small
 *   object per thread, back to back, and gives one to each thread, which
 *   frees it at once and then runs the same loop as thrash.  An allocator that
 *   reuses a freed block for the thread that freed it hands the threads
 *   neighbouring pieces of the main thread's cache line.
 * Total work fixed: `iters` objects in all, split over the threads.
 *   cachefs mode=thrash threads=2 iters=2000 reps=20000 size=8
 */
#include "common.h"

static long long per_thread, reps;
static size_t size;
static uint8_t **given;

static void *worker(void *arg)
{
    long t = (long)arg;
    if (given) free(given[t]);
    for (long long i = 0; i < per_thread; i++) {
        volatile uint8_t *p = xmalloc_or_die(size);
        for (long long r = 0; r < reps; r++)
            for (size_t k = 0; k < size; k++) p[k]++;
        free((void *)p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    report_which(argc, argv);
    const char *mode = arg_str(argc, argv, "mode", "thrash");
    int threads = (int)arg_num(argc, argv, "threads", 1);
    long long iters = arg_num(argc, argv, "iters", 2000);
    reps = arg_num(argc, argv, "reps", 20000);
    size = (size_t)arg_num(argc, argv, "size", 8);
    per_thread = iters / threads;
    if (strcmp(mode, "scratch") == 0) {
        given = os_alloc((size_t)threads * sizeof *given);
        for (int t = 0; t < threads; t++) given[t] = xmalloc_or_die(size);
    } else if (strcmp(mode, "thrash") != 0) {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    double t0 = now_sec();
    pthread_t *th = os_alloc((size_t)threads * sizeof *th);
    for (long t = 0; t < threads; t++) th[t] = spawn(worker, (void *)t);
    for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
    double t = now_sec() - t0;
    report("cachefs", "mode=%s threads=%d objects=%lld time=%.4f", mode, threads, per_thread * threads, t);
    return 0;
}
