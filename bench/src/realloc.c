/* realloc.c -- growing blocks with realloc.
 *
 * doubling: two buffers, grown alternately by realloc from 16 B to `dmax`
 *   (default 64 MiB), doubling each time and writing one byte per page of the
 *   new half; then freed.  Repeated `dreps` times.
 * steps: four buffers, grown alternately by random steps of 1-64 B (each
 *   step appends that many bytes, as a string builder would) until each holds
 *   `smax` bytes (default 64 MiB); contents are checked at the end.
 * Prints the time of each part; the harness takes the process's wall time.
 *   realloc dmax=64Mi dreps=20 smax=64Mi
 */
#include "common.h"

static void check_fill(const uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i += 997)
        if (p[i] != (uint8_t)(seed + i * 31)) {
            fprintf(stderr, "realloc: contents lost at offset %zu of %zu\n", i, n);
            exit(4);
        }
}

int main(int argc, char **argv)
{
    report_which(argc, argv);
    size_t dmax = (size_t)arg_num(argc, argv, "dmax", 64LL << 20);
    long long dreps = arg_num(argc, argv, "dreps", 20);
    size_t smax = (size_t)arg_num(argc, argv, "smax", 64LL << 20);
    rng_t r;
    rng_seed(&r, (uint64_t)arg_num(argc, argv, "seed", 1));

    double t0 = now_sec();
    for (long long rep = 0; rep < dreps; rep++) {
        uint8_t *b[2] = {NULL, NULL};
        size_t n[2] = {0, 0};
        for (size_t sz = 16; sz <= dmax; sz *= 2)
            for (int j = 0; j < 2; j++) {
                uint8_t *p = realloc(b[j], sz);
                if (!p) {
                    fprintf(stderr, "realloc(%zu) failed\n", sz);
                    return 3;
                }
                if (n[j] && (p[0] != (uint8_t)j || p[n[j] - 1] != (uint8_t)(n[j] + j))) {
                    fprintf(stderr, "realloc: contents lost growing %zu -> %zu\n", n[j], sz);
                    return 4;
                }
                for (size_t i = n[j]; i < sz; i += 4096) p[i] = 0;
                p[0] = (uint8_t)j;
                p[sz - 1] = (uint8_t)(sz + j);
                b[j] = p;
                n[j] = sz;
            }
        free(b[0]);
        free(b[1]);
    }
    double t1 = now_sec();

    uint8_t *s[4] = {NULL, NULL, NULL, NULL};
    size_t len[4] = {0, 0, 0, 0};
    long long calls = 0;
    for (int live = 4; live > 0;) {
        live = 0;
        for (int j = 0; j < 4; j++) {
            if (len[j] >= smax) continue;
            live++;
            size_t step = (size_t)rng_range(&r, 1, 64);
            uint8_t *p = realloc(s[j], len[j] + step);
            if (!p) {
                fprintf(stderr, "realloc(%zu) failed\n", len[j] + step);
                return 3;
            }
            for (size_t i = len[j]; i < len[j] + step; i++) p[i] = (uint8_t)(j + i * 31);
            s[j] = p;
            len[j] += step;
            calls++;
        }
    }
    for (int j = 0; j < 4; j++) {
        check_fill(s[j], len[j], (uint8_t)j);
        free(s[j]);
    }
    double t2 = now_sec();
    report("realloc", "time=%.4f doubling_time=%.4f steps_time=%.4f step_calls=%lld", t2 - t0, t1 - t0, t2 - t1, calls);
    return 0;
}
