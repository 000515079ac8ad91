/* mstress.c -- random size mixes with varied lifetimes, in the manner of
 * rpmalloc's rptest and mimalloc's mstress.
 *
 * Sizes run from 16 B to 1 MiB, mostly small: 90% in 16-512 B, 8% in
 * 512 B-16 KiB, 1.8% in 16-256 KiB, 0.2% in 256 KiB-1 MiB (log-uniform within
 * each band).  Each thread keeps
 *   - a ring of `short` short-lived blocks; every operation replaces a random
 *     one of them;
 *   - a set of `long` long-lived blocks; one of them is replaced every 64
 *     operations;
 * and with probability 1/16 an operation also swaps a new block into a random
 * slot of an array shared by all threads, freeing the block it takes out
 * (so part of the frees are remote).  Every `round` operations a thread frees
 * half of its short-lived ring at once.  Blocks are written on every page, and
 * checked before being freed.  Total work fixed: `ops` operations in all.
 *   mstress threads=4 ops=4M short=500 long=2000 shared=1024
 */
#include "common.h"
#include <stdatomic.h>

typedef struct {
    uint8_t *p;
    uint32_t n;
} blk_t;

static long long per_thread, round_ops;
static size_t nshort, nlong, nshared;
static _Atomic(uint8_t *) *shared;

static size_t pick_size(rng_t *r)
{
    uint64_t c = rng_below(r, 1000);
    if (c < 900) return (size_t)rng_logrange(r, 16, 512);
    if (c < 980) return (size_t)rng_logrange(r, 513, 16 << 10);
    if (c < 998) return (size_t)rng_logrange(r, (16 << 10) + 1, 256 << 10);
    return (size_t)rng_logrange(r, (256 << 10) + 1, 1 << 20);
}

/* A block records its own size in its first 4 bytes (all sizes >= 16). */
static uint8_t *make(rng_t *r)
{
    size_t n = pick_size(r);
    uint8_t *p = xmalloc_or_die(n);
    touch_pages(p, n, 0x11);
    memcpy(p, &(uint32_t){(uint32_t)n}, 4);
    p[4] = (uint8_t)(n ^ 0xa5);
    p[n - 1] = (uint8_t)(n * 13);
    return p;
}

static void drop(uint8_t *p)
{
    if (!p) return;
    uint32_t n;
    memcpy(&n, p, 4);
    if (n < 16 || n > (1u << 20) || p[4] != (uint8_t)(n ^ 0xa5) || p[n - 1] != (uint8_t)(n * 13)) {
        fprintf(stderr, "mstress: corrupted block %p (size field %u)\n", (void *)p, n);
        exit(4);
    }
    free(p);
}

static void *worker(void *arg)
{
    rng_t r;
    rng_seed(&r, (uint64_t)(long)arg);
    uint8_t **sh = os_alloc(nshort * sizeof *sh), **lg = os_alloc(nlong * sizeof *lg);
    for (size_t i = 0; i < nlong; i++) lg[i] = make(&r);
    for (long long i = 0; i < per_thread; i++) {
        size_t k = (size_t)rng_below(&r, nshort);
        drop(sh[k]);
        sh[k] = make(&r);
        if ((i & 63) == 0) {
            k = (size_t)rng_below(&r, nlong);
            drop(lg[k]);
            lg[k] = make(&r);
        }
        if (rng_below(&r, 16) == 0) {
            k = (size_t)rng_below(&r, nshared);
            drop(atomic_exchange(&shared[k], make(&r)));
        }
        if (i % round_ops == round_ops - 1)
            for (k = 0; k < nshort; k += 2) {
                drop(sh[k]);
                sh[k] = NULL;
            }
    }
    for (size_t i = 0; i < nshort; i++) drop(sh[i]);
    for (size_t i = 0; i < nlong; i++) drop(lg[i]);
    os_free(sh, nshort * sizeof *sh);
    os_free(lg, nlong * sizeof *lg);
    return NULL;
}

int main(int argc, char **argv)
{
    report_which(argc, argv);
    int threads = (int)arg_num(argc, argv, "threads", 1);
    long long ops = arg_num(argc, argv, "ops", 4000000);
    nshort = (size_t)arg_num(argc, argv, "short", 500);
    nlong = (size_t)arg_num(argc, argv, "long", 2000);
    nshared = (size_t)arg_num(argc, argv, "shared", 1024);
    round_ops = arg_num(argc, argv, "round", 10000);
    uint64_t seed = (uint64_t)arg_num(argc, argv, "seed", 1);
    per_thread = ops / threads;
    shared = os_alloc(nshared * sizeof *shared);

    double t0 = now_sec();
    pthread_t *th = os_alloc((size_t)threads * sizeof *th);
    for (long t = 0; t < threads; t++) th[t] = spawn(worker, (void *)(long)(seed * 1000 + (uint64_t)t));
    for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
    for (size_t k = 0; k < nshared; k++) drop(atomic_load(&shared[k]));
    double t = now_sec() - t0;
    report("mstress", "threads=%d ops=%lld time=%.4f", threads, per_thread * threads, t);
    return 0;
}
