/* larson.c -- server simulation after Larson & Krishnan's benchmark.
 *
 * Each of `threads` lineages owns an array of `slots` blocks.  A thread of a
 * lineage repeatedly picks a random slot, frees the block there and puts a new
 * block of random size in [min, max] bytes in its place.  After its share of
 * operations the thread starts a successor thread, hands it the array and
 * exits, so the successor frees blocks its predecessor allocated (and the
 * first generation frees blocks the main thread allocated): frees are
 * cross-thread.  `gens` generations per lineage.  Fixed total work: `ops`
 * replacements split over the lineages; throughput = ops / time.
 *   larson threads=4 ops=20M slots=1000 min=8 max=1000 gens=10
 */
#include "common.h"

typedef struct {
    uint8_t **blk;
    uint32_t *size;
    size_t slots;
    long long ops; /* per generation */
    int gen, gens;
    rng_t rng;
} __attribute__((aligned(64))) lineage_t;   /* a cache line each: no false sharing */

static size_t lo, hi;
static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static int running;

static void *worker(void *arg)
{
    lineage_t *l = arg;
    for (long long i = 0; i < l->ops; i++) {
        size_t k = (size_t)rng_below(&l->rng, l->slots);
        size_t n = (size_t)rng_range(&l->rng, lo, hi);
        uint8_t *old = l->blk[k];
        tag_check("larson", old, l->size[k], (uint8_t)k);
        free(old);
        uint8_t *p = xmalloc_or_die(n);
        tag_set(p, n, (uint8_t)k);
        l->blk[k] = p;
        l->size[k] = (uint32_t)n;
    }
    if (++l->gen < l->gens) {
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_t t;
        if (pthread_create(&t, &at, worker, l) != 0) {
            perror("pthread_create");
            exit(2);
        }
        pthread_attr_destroy(&at);
    } else {
        pthread_mutex_lock(&done_mu);
        if (--running == 0) pthread_cond_signal(&done_cv);
        pthread_mutex_unlock(&done_mu);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    report_which(argc, argv);
    int threads = (int)arg_num(argc, argv, "threads", 1);
    long long ops = arg_num(argc, argv, "ops", 20000000);
    size_t slots = (size_t)arg_num(argc, argv, "slots", 1000);
    int gens = (int)arg_num(argc, argv, "gens", 10);
    lo = (size_t)arg_num(argc, argv, "min", 8);
    hi = (size_t)arg_num(argc, argv, "max", 1000);
    uint64_t seed = (uint64_t)arg_num(argc, argv, "seed", 1);

    lineage_t *ls = os_alloc((size_t)threads * sizeof *ls);
    for (int t = 0; t < threads; t++) {
        lineage_t *l = &ls[t];
        l->slots = slots;
        l->blk = os_alloc(slots * sizeof *l->blk);
        l->size = os_alloc(slots * sizeof *l->size);
        l->ops = ops / threads / gens;
        l->gens = gens;
        rng_seed(&l->rng, seed * 1000 + (uint64_t)t);
        for (size_t k = 0; k < slots; k++) {
            size_t n = (size_t)rng_range(&l->rng, lo, hi);
            l->blk[k] = xmalloc_or_die(n);
            tag_set(l->blk[k], n, (uint8_t)k);
            l->size[k] = (uint32_t)n;
        }
    }
    double t0 = now_sec();
    running = threads;
    for (int t = 0; t < threads; t++) {
        pthread_t th = spawn(worker, &ls[t]);
        pthread_detach(th);
    }
    pthread_mutex_lock(&done_mu);
    while (running > 0) pthread_cond_wait(&done_cv, &done_mu);
    pthread_mutex_unlock(&done_mu);
    double t = now_sec() - t0;
    long long done = (long long)threads * gens * (ops / threads / gens);
    for (int t2 = 0; t2 < threads; t2++)
        for (size_t k = 0; k < slots; k++) {
            tag_check("larson", ls[t2].blk[k], ls[t2].size[k], (uint8_t)k);
            free(ls[t2].blk[k]);
        }
    report("larson", "threads=%d ops=%lld time=%.4f mops_per_s=%.3f", threads, done, t, (double)done / t / 1e6);
    return 0;
}
