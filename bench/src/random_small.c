/* random_small.c -- single-thread small-block churn.
 *
 * mode=ring (default): a ring of `slots` live blocks; each operation picks a
 *   random slot, frees its block and puts a new block of random size in
 *   [min, max] bytes there.  The sizes come from a precomputed array, the slot
 *   numbers from an inline xorshift generator.
 * mode=pair: each operation is free(malloc(size)) for a fixed size.
 * fake=1: the same loops calling a trivial stand-in for malloc/free, to
 *   measure the loop's own cost (used to net out instruction counts).
 *
 * One operation = one malloc + one free.
 *   random_small ops=50M slots=1000 min=8 max=512 seed=1
 *   random_small mode=pair size=16 ops=1M
 */
#include "common.h"

#define NSIZES 65536

static char fake_buf[1024] __attribute__((aligned(64)));

NOINLINE static void *fake_malloc(size_t n)
{
    ESCAPE(n);
    return fake_buf;
}

NOINLINE static void fake_free(void *p) { ESCAPE(p); }

#define RING_LOOP(MALLOC, FREE, CHK)                                             \
    do {                                                                      \
        for (long long i = 0; i < ops; i++) {                                 \
            size_t k = (size_t)rng_below(&r, slots);                          \
            uint8_t *old = ring[k];                                           \
            if (old) {                                                        \
                if (CHK && old[0] != (uint8_t)sz[k]) bad++;                   \
                FREE(old);                                                    \
            }                                                                 \
            size_t n = sizes[i & (NSIZES - 1)];                               \
            uint8_t *p = MALLOC(n);                                           \
            p[0] = (uint8_t)n;                                                \
            ring[k] = p;                                                      \
            sz[k] = (uint32_t)n;                                              \
        }                                                                     \
    } while (0)

#define PAIR_LOOP(MALLOC, FREE)                                               \
    do {                                                                      \
        for (long long i = 0; i < ops; i++) {                                 \
            void *p = MALLOC(size);                                           \
            ESCAPE(p);                                                        \
            FREE(p);                                                          \
        }                                                                     \
    } while (0)

int main(int argc, char **argv)
{
    report_which(argc, argv);
    const char *mode = arg_str(argc, argv, "mode", "ring");
    long long ops = arg_num(argc, argv, "ops", 50000000);
    size_t slots = (size_t)arg_num(argc, argv, "slots", 1000);
    size_t lo = (size_t)arg_num(argc, argv, "min", 8);
    size_t hi = (size_t)arg_num(argc, argv, "max", 512);
    size_t size = (size_t)arg_num(argc, argv, "size", 16);
    int fake = (int)arg_num(argc, argv, "fake", 0);
    rng_t r;
    rng_seed(&r, (uint64_t)arg_num(argc, argv, "seed", 1));

    if (lo < 1) lo = 1;
    uint16_t *sizes = os_alloc(NSIZES * sizeof *sizes);
    for (size_t i = 0; i < NSIZES; i++) sizes[i] = (uint16_t)rng_range(&r, lo, hi);
    uint8_t **ring = os_alloc(slots * sizeof *ring);
    uint32_t *sz = os_alloc(slots * sizeof *sz);
    long long bad = 0;

    double t0 = now_sec();
    if (strcmp(mode, "pair") == 0) {
        if (fake) PAIR_LOOP(fake_malloc, fake_free);
        else PAIR_LOOP(malloc, free);
    } else if (strcmp(mode, "ring") == 0) {
        if (fake) RING_LOOP(fake_malloc, fake_free, 0);
        else RING_LOOP(malloc, free, 1);
        for (size_t k = 0; k < slots; k++) {
            if (!ring[k] || fake) continue;
            if (ring[k][0] != (uint8_t)sz[k]) bad++;
            free(ring[k]);
        }
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    double t = now_sec() - t0;
    if (bad) {
        fprintf(stderr, "random_small: %lld blocks lost their contents\n", bad);
        return 4;
    }
    report("random_small", "mode=%s ops=%lld time=%.4f ns_per_op=%.2f", mode, ops, t, t * 1e9 / (double)ops);
    return 0;
}
