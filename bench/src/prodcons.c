/* prodcons.c -- every free is a remote free.
 *
 * A producer thread mallocs blocks of random size in [min, max] and passes
 * them through a lock-free single-producer/single-consumer ring to a consumer
 * thread, which checks and frees them.  Time for `blocks` blocks.
 *   prodcons blocks=20M min=16 max=256 ring=4096
 */
#include "common.h"
#include <sched.h>
#include <stdatomic.h>

#define NSIZES 65536

static struct {
    _Alignas(CACHELINE) _Atomic size_t head; /* written by the producer */
    _Alignas(CACHELINE) _Atomic size_t tail; /* written by the consumer */
    _Alignas(CACHELINE) void **slot;
    size_t mask;
} q;

static long long nblocks;
static uint16_t *sizes;

static void backoff(unsigned *spins)
{
    if (++*spins < 64) cpu_relax();
    else {
        sched_yield();
        *spins = 0;
    }
}

static void *producer(void *arg)
{
    (void)arg;
    size_t head = 0, tail_seen = 0, cap = q.mask + 1;
    for (long long i = 0; i <= nblocks; i++) {
        uint8_t *p = NULL;
        if (i < nblocks) {
            size_t n = sizes[i & (NSIZES - 1)];
            p = xmalloc_or_die(n);
            tag_set(p, n, (uint8_t)i);
        }
        unsigned spins = 0;
        while (head - tail_seen >= cap) {
            tail_seen = atomic_load_explicit(&q.tail, memory_order_acquire);
            if (head - tail_seen >= cap) backoff(&spins);
        }
        q.slot[head & q.mask] = p; /* NULL = end */
        head++;
        atomic_store_explicit(&q.head, head, memory_order_release);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    size_t tail = 0, head_seen = 0;
    for (long long i = 0;; i++) {
        unsigned spins = 0;
        while (tail == head_seen) {
            head_seen = atomic_load_explicit(&q.head, memory_order_acquire);
            if (tail == head_seen) backoff(&spins);
        }
        uint8_t *p = q.slot[tail & q.mask];
        tail++;
        atomic_store_explicit(&q.tail, tail, memory_order_release);
        if (!p) break;
        tag_check("prodcons", p, sizes[i & (NSIZES - 1)], (uint8_t)i);
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    report_which(argc, argv);
    nblocks = arg_num(argc, argv, "blocks", 20000000);
    size_t lo = (size_t)arg_num(argc, argv, "min", 16);
    size_t hi = (size_t)arg_num(argc, argv, "max", 256);
    size_t cap = (size_t)arg_num(argc, argv, "ring", 4096);
    rng_t r;
    rng_seed(&r, (uint64_t)arg_num(argc, argv, "seed", 1));
    if (cap & (cap - 1)) {
        fprintf(stderr, "ring must be a power of two\n");
        return 2;
    }
    sizes = os_alloc(NSIZES * sizeof *sizes);
    for (size_t i = 0; i < NSIZES; i++) sizes[i] = (uint16_t)rng_range(&r, lo, hi);
    q.slot = os_alloc(cap * sizeof(void *));
    q.mask = cap - 1;

    double t0 = now_sec();
    pthread_t c = spawn(consumer, NULL), p = spawn(producer, NULL);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    double t = now_sec() - t0;
    report("prodcons", "blocks=%lld time=%.4f ns_per_block=%.2f", nblocks, t, t * 1e9 / (double)nblocks);
    return 0;
}
