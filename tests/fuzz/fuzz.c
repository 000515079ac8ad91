/* tests/fuzz/fuzz.c -- libFuzzer harness for Cairn's prefixed API.
 *
 * The input is read as a sequence of operations on 64 slots.  Each operation
 * takes one opcode byte (low 3 bits: the operation; the upper 5 bits plus 1
 * more byte: the slot, after "% 64"), then a size taken from the following
 * bytes (mostly small; now and then up to a few MiB), and for the aligned
 * operations an alignment byte (a power of two from 16 bytes to 64 KiB).
 *
 *   malloc, calloc, realloc, aligned_alloc, posix_memalign, free
 *
 * Every live block is filled with a pattern derived from its slot and a
 * generation counter, and verified (the whole block up to 4 KiB, otherwise
 * its first and last 256 bytes) before it is reallocated or freed.  Usable
 * sizes must be at least the request, alignments must hold, calloc memory
 * must read as zero, and realloc must keep the old contents.  Everything
 * still live is freed at the end of each input.  A failed check calls
 * abort(), which libFuzzer reports as a crash and saves the input.
 *
 * The allocator's sources are compiled into the fuzzer binary, and they
 * define malloc & co. too: the whole process, libFuzzer included, runs on
 * Cairn.  No AddressSanitizer (it would replace malloc).
 *
 * Quick check (about 20000 inputs):   tests/fuzz/run.sh [RUNS]
 * Long campaign, by hand, after tests/fuzz/run.sh has built the binary:
 *     mkdir -p /tmp/cairn-fuzz && cp tests/fuzz/corpus/[0-9]* /tmp/cairn-fuzz/
 *     build/tests/fuzz/fuzz -max_total_time=3600 -jobs=2 -workers=2 \
 *         -rss_limit_mb=4096 -artifact_prefix=/tmp/cairn-fuzz-crash- /tmp/cairn-fuzz
 * (-jobs=2 writes fuzz-0.log and fuzz-1.log in the current directory.)
 * Reproduce a crash:   build/tests/fuzz/fuzz /tmp/cairn-fuzz-crash-XXXX
 * The heap lives on from one input to the next, so a crash that follows
 * heap corruption by an earlier input may not reproduce from its file
 * alone; build with -DFUZZ_TRACE to log every operation on stderr.
 * Build the sources without -fsanitize-coverage=trace-cmp (as run.sh
 * does): see the note in run.sh.
 */
#include <cairn.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef FUZZ_TRACE     /* -DFUZZ_TRACE: log every operation on stderr */
#define TRACE(...) fprintf(stderr, __VA_ARGS__)
#else
#define TRACE(...) ((void)0)
#endif

#define NSLOTS 64
#define FULL_CHECK 4096     /* verify whole blocks up to this size */
#define EDGE 256            /* otherwise the first/last EDGE bytes */
#define MAX_LIVE ((size_t)64 << 20)  /* cap on the sum of live requests */

struct slot {
    unsigned char *p;
    size_t size;            /* requested size */
    uint32_t gen;           /* generation of the pattern written */
};

static struct slot slots[NSLOTS];
static uint32_t generation;
static size_t live_bytes;

static void die(const char *what, int i, size_t size, size_t extra)
{
    fprintf(stderr, "cairn fuzz: %s (slot %d, size %zu, %zu)\n", what, i, size, extra);
    abort();
}

/* The byte at offset off of a block in slot i, generation g. */
static inline unsigned char pattern(int i, uint32_t g, size_t off)
{
    uint32_t x = (uint32_t)off * 2654435761u ^ ((uint32_t)i << 24) ^ (g * 0x9e3779b9u);
    return (unsigned char)(x ^ (x >> 13) ^ (x >> 24));
}

static void fill_range(int i, size_t from, size_t to)
{
    struct slot *s = &slots[i];
    for (size_t k = from; k < to; k++) s->p[k] = pattern(i, s->gen, k);
}

/* Write the pattern wherever verify() will look. */
static void fill(int i)
{
    struct slot *s = &slots[i];
    if (s->size <= FULL_CHECK) {
        fill_range(i, 0, s->size);
    } else {
        fill_range(i, 0, EDGE);
        fill_range(i, s->size - EDGE, s->size);
    }
}

static void verify_range(int i, size_t from, size_t to)
{
    struct slot *s = &slots[i];
    for (size_t k = from; k < to; k++)
        if (s->p[k] != pattern(i, s->gen, k)) die("block contents changed", i, s->size, k);
}

static void verify(int i)
{
    struct slot *s = &slots[i];
    if (s->size <= FULL_CHECK) {
        verify_range(i, 0, s->size);
    } else {
        verify_range(i, 0, EDGE);
        verify_range(i, s->size - EDGE, s->size);
    }
}

/* After realloc: the parts of the old pattern (block of old bytes) that lie
 * in the first keep bytes must have survived the move. */
static void verify_kept(int i, size_t old, size_t keep)
{
    if (old <= FULL_CHECK) {
        verify_range(i, 0, keep);
        return;
    }
    verify_range(i, 0, keep < EDGE ? keep : EDGE);
    if (keep > old - EDGE) verify_range(i, old - EDGE, keep);
}

static void check_usable(int i)
{
    struct slot *s = &slots[i];
    size_t u = cairn_usable_size(s->p);
    if (u < s->size) die("usable size below the request", i, s->size, u);
}

/* A new block [p, p+n) must not overlap any other live block. */
static void check_overlap(int i)
{
    uintptr_t a = (uintptr_t)slots[i].p, ae = a + (slots[i].size ? slots[i].size : 1);
    for (int j = 0; j < NSLOTS; j++) {
        if (j == i || !slots[j].p) continue;
        uintptr_t b = (uintptr_t)slots[j].p, be = b + (slots[j].size ? slots[j].size : 1);
        if (a < be && b < ae) {
            fprintf(stderr, "cairn fuzz: slot %d [%p, +%zu) overlaps slot %d [%p, +%zu)\n",
                    i, (void *)slots[i].p, slots[i].size, j, (void *)slots[j].p, slots[j].size);
            abort();
        }
    }
}

static void check_zero(int i, const unsigned char *p, size_t n)
{
    size_t k;
    if (n <= FULL_CHECK) {
        for (k = 0; k < n; k++)
            if (p[k]) die("calloc memory not zero", i, n, k);
    } else {
        for (k = 0; k < EDGE; k++)
            if (p[k]) die("calloc memory not zero", i, n, k);
        for (k = n - EDGE; k < n; k++)
            if (p[k]) die("calloc memory not zero", i, n, k);
        for (k = EDGE; k < n - EDGE; k += 4093)   /* and a sample between */
            if (p[k]) die("calloc memory not zero", i, n, k);
    }
}

static void release(int i)
{
    struct slot *s = &slots[i];
    if (!s->p) return;
    verify(i);
    TRACE("free slot %d %p size %zu\n", i, (void *)s->p, s->size);
    cairn_free(s->p);
    live_bytes -= s->size;
    s->p = NULL;
    s->size = 0;
}

/* Install a new block in (empty) slot i. */
static void install(int i, void *p, size_t size, int zeroed)
{
    struct slot *s = &slots[i];
    s->p = p;
    s->size = size;
    s->gen = ++generation;
    TRACE("new slot %d %p size %zu\n", i, p, size);
    live_bytes += size;
    check_usable(i);
    check_overlap(i);
    if (zeroed) check_zero(i, s->p, size);
    fill(i);
}

/* A cursor over the input. */
struct in {
    const uint8_t *d;
    size_t n, pos;
};

static unsigned byte(struct in *in)
{
    return in->pos < in->n ? in->d[in->pos++] : 0;
}

/* Sizes: mostly small, sometimes medium, rarely up to a few MiB. */
static size_t take_size(struct in *in)
{
    unsigned c = byte(in);
    unsigned lo = byte(in);
    switch (c >> 6) {
    case 0:
    case 1:  return c & 0x7f ? ((c & 0x7f) << 1) + (lo & 1) : lo;  /* 0..255 */
    case 2:  return ((size_t)(c & 0x3f) << 8 | lo) + 1;            /* 1..16 KiB */
    default: {
        unsigned hi = byte(in);
        if ((c & 0x30) == 0x30)                                     /* up to ~4 MiB */
            return ((size_t)(c & 0x0f) << 18 | (size_t)hi << 10 | lo) % ((size_t)4 << 20) + 1;
        return ((size_t)(c & 0x0f) << 16 | (size_t)hi << 8 | lo) + 1; /* up to 1 MiB */
    }
    }
}

static size_t take_align(struct in *in)
{
    return (size_t)16 << (byte(in) % 13);       /* 16 .. 64 KiB */
}

static void check_align(int i, const void *p, size_t align, size_t size)
{
    if ((uintptr_t)p & (align - 1)) die("misaligned block", i, size, align);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = { data, size, 0 };
    void *p;
    int i;

    while (in.pos < in.n) {
        unsigned op = byte(&in);
        i = (int)(((op >> 3) ^ (byte(&in) << 5)) % NSLOTS);
        struct slot *s = &slots[i];
        TRACE("op %u slot %d (live %p size %zu) at %zu\n", op & 7, i, (void *)s->p, s->size, in.pos);
        switch (op & 7) {
        case 0:
        case 6: {                                           /* malloc */
            size_t n = take_size(&in);
            release(i);
            if (live_bytes + n > MAX_LIVE) break;
            p = cairn_malloc(n);
            if (!p && n == 0) break;             /* allowed for 0 bytes */
            if (!p) die("malloc returned NULL", i, n, 0);
            check_align(i, p, 16, n);
            install(i, p, n, 0);
            break;
        }
        case 1: {                                           /* calloc */
            size_t n = take_size(&in);
            size_t count = 1 + byte(&in) % 8;
            size_t each = n / count;
            release(i);
            if (live_bytes + count * each > MAX_LIVE) break;
            p = cairn_calloc(count, each);
            if (!p && count * each == 0) break;
            if (!p) die("calloc returned NULL", i, count * each, 0);
            check_align(i, p, 16, count * each);
            install(i, p, count * each, 1);
            break;
        }
        case 2: {                                           /* realloc */
            size_t n = take_size(&in);
            if (s->p) {
                if (live_bytes - s->size + n > MAX_LIVE) break;
                verify(i);
                size_t old = s->size;
                if (n == 0) {
                    /* realloc(p, 0) frees or returns a minimal block:
                     * avoid the ambiguity, free explicitly. */
                    release(i);
                    break;
                }
                p = cairn_realloc(s->p, n);
                if (!p) die("realloc returned NULL", i, n, old);
                s->p = p;
                live_bytes = live_bytes - old + n;
                /* What was written of the kept prefix is still there. */
                verify_kept(i, old, old < n ? old : n);
                s->size = n;
                check_align(i, p, 16, n);
                check_usable(i);
                check_overlap(i);
                s->gen = ++generation;
                fill(i);
            } else {
                if (live_bytes + n > MAX_LIVE) break;
                p = cairn_realloc(NULL, n);
                if (!p && n) die("realloc(NULL) returned NULL", i, n, 0);
                if (p) install(i, p, n, 0);
            }
            break;
        }
        case 3: {                                           /* aligned_alloc */
            size_t n = take_size(&in);
            size_t a = take_align(&in);
            release(i);
            if (live_bytes + n > MAX_LIVE) break;
            p = cairn_aligned_alloc(a, n);
            if (!p && n == 0) break;             /* allowed for 0 bytes */
            if (!p) die("aligned_alloc returned NULL", i, n, a);
            check_align(i, p, a, n);
            install(i, p, n, 0);
            break;
        }
        case 4: {                                           /* posix_memalign */
            size_t n = take_size(&in);
            size_t a = take_align(&in);
            release(i);
            if (live_bytes + n > MAX_LIVE) break;
            p = NULL;
            int e = cairn_posix_memalign(&p, a, n);
            if (e || !p) die("posix_memalign failed", i, n, a);
            check_align(i, p, a, n);
            install(i, p, n, 0);
            break;
        }
        default:                                            /* free (5, 7) */
            release(i);
            break;
        }
    }
    for (i = 0; i < NSLOTS; i++) release(i);
    if (live_bytes) die("live byte count off at the end", -1, live_bytes, 0);
    return 0;
}
