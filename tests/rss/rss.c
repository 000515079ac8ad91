/* rss.c -- memory goes back to the OS, and calloc does not touch fresh
 * memory.  RSS is read from /proc/self/statm.
 *
 *   back_<size>   ~512 MiB in blocks of <size>, all freed; after 200 ms and
 *                 one more small malloc/free, RSS is within 32 MiB of what
 *                 it was before
 *   trim_<size>   the same, but malloc_trim(0) right after the frees
 *   calloc_fresh  calloc(256 MiB) grows RSS by a few MiB at most
 */
#include "../common.h"

#define TOTAL (512 * MiB)
#define SLACK (32 * MiB)

static size_t block_size;

static void give_back(bool trim)
{
    size_t count = TOTAL / block_size;
    size_t table = count * sizeof(void *);
    unsigned char **p = os_alloc(table);
    memset(p, 0, table);                  /* resident before the baseline */
    free(HIDE(malloc(HIDE((size_t)64))));
    size_t before = rss_bytes();

    for (size_t i = 0; i < count; i++) {
        p[i] = HIDE(malloc(HIDE(block_size)));
        CHECK(p[i], "malloc(%zu) #%zu returned NULL", block_size, i);
        /* Touch every page of the block (and every small block). */
        for (size_t off = 0; off < block_size; off += 4096) p[i][off] = (unsigned char)i;
        p[i][block_size - 1] = 1;
    }
    size_t peak = rss_bytes();
    CHECK(peak >= before + TOTAL * 3 / 4,
          "RSS at peak is only %zu MiB above the baseline for %zu MiB of blocks (test broken?)",
          (peak - before) / MiB, TOTAL / MiB);
    for (size_t i = 0; i < count; i++) free(p[i]);

    size_t after;
    const char *how;
    if (trim) {
        malloc_trim(0);
        after = rss_bytes();
        how = "right after malloc_trim(0)";
    } else {
        usleep(200 * 1000);
        free(HIDE(malloc(HIDE((size_t)64))));
        after = rss_bytes();
        how = "200 ms after the frees and one more malloc/free";
    }
    CHECK(after <= before + SLACK,
          "%zu-byte blocks: RSS %zu MiB before, %zu MiB at peak, %zu MiB %s (more than %zu MiB kept)",
          block_size, before / MiB, peak / MiB, after / MiB, how, SLACK / MiB);
    os_free(p, table);
}

static void back_64(void) { block_size = 64; give_back(false); }
static void back_4k(void) { block_size = 4 * KiB; give_back(false); }
static void back_256k(void) { block_size = 256 * KiB; give_back(false); }
static void trim_64(void) { block_size = 64; give_back(true); }
static void trim_4k(void) { block_size = 4 * KiB; give_back(true); }
static void trim_256k(void) { block_size = 256 * KiB; give_back(true); }

static void calloc_fresh(void)
{
    free(HIDE(malloc(HIDE((size_t)64))));
    size_t before = rss_bytes();
    unsigned char *p = HIDE(calloc(1, HIDE(256 * MiB)));
    CHECK(p, "calloc(1, 256 MiB) returned NULL");
    size_t after = rss_bytes();
    CHECK(after <= before + 8 * MiB, "calloc(1, 256 MiB) grew RSS by %zu MiB (it touched the memory)",
          (after - before) / MiB);
    /* It reads as zero all the same. */
    for (size_t off = 0; off < 256 * MiB; off += 4096)
        CHECK(p[off] == 0, "calloc(1, 256 MiB): byte %zu is not zero", off);
    free(p);

    /* The count * size form. */
    before = rss_bytes();
    p = HIDE(calloc(HIDE(256 * KiB), 1024));
    CHECK(p, "calloc(256 Ki, 1024) returned NULL");
    after = rss_bytes();
    CHECK(after <= before + 8 * MiB, "calloc(256 Ki, 1024) grew RSS by %zu MiB", (after - before) / MiB);
    CHECK(p[0] == 0 && p[256 * MiB - 1] == 0, "calloc(256 Ki, 1024) is not zero");
    free(p);
}

int main(void)
{
    t_init("rss");
    unsigned t = 120;
    run_test("calloc_fresh", calloc_fresh, t);
    run_test("back_64", back_64, t);
    run_test("back_4k", back_4k, t);
    run_test("back_256k", back_256k, t);
    run_test("trim_64", trim_64, t);
    run_test("trim_4k", trim_4k, t);
    run_test("trim_256k", trim_256k, t);
    return t_finish();
}
