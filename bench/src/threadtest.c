/* threadtest.c -- after the Hoard suite's threadtest.
 *
 * Each of `threads` threads, `iters` times over, allocates a batch of
 * objects/threads objects of `size` bytes (writing each), then frees the
 * batch.  Total work is fixed: iters x objects mallocs and frees.
 *   threadtest threads=4 iters=100 objects=100000 size=64
 */
#include "common.h"

static long long iters, per_thread;
static size_t size;

static void *worker(void *arg)
{
    (void)arg;
    uint8_t **a = os_alloc((size_t)per_thread * sizeof *a);
    for (long long it = 0; it < iters; it++) {
        for (long long i = 0; i < per_thread; i++) {
            a[i] = xmalloc_or_die(size);
            tag_set(a[i], size, (uint8_t)i);
        }
        for (long long i = 0; i < per_thread; i++) {
            tag_check("threadtest", a[i], size, (uint8_t)i);
            free(a[i]);
        }
    }
    os_free(a, (size_t)per_thread * sizeof *a);
    return NULL;
}

int main(int argc, char **argv)
{
    report_which(argc, argv);
    int threads = (int)arg_num(argc, argv, "threads", 1);
    iters = arg_num(argc, argv, "iters", 100);
    long long objects = arg_num(argc, argv, "objects", 100000);
    size = (size_t)arg_num(argc, argv, "size", 64);
    per_thread = objects / threads;

    double t0 = now_sec();
    pthread_t *th = os_alloc((size_t)threads * sizeof *th);
    for (int t = 0; t < threads; t++) th[t] = spawn(worker, NULL);
    for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
    double t = now_sec() - t0;
    report("threadtest", "threads=%d ops=%lld time=%.4f", threads, iters * per_thread * threads, t);
    return 0;
}
