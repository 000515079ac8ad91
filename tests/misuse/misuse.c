/* misuse.c -- misuse is caught: the process dies of SIGABRT after printing
 * exactly one line on stderr.  Each case runs in its own child process.
 */
#include "../common.h"

#define DOUBLE_FREE "cairn: free(): double free detected (0x"
#define INVALID     "cairn: free(): invalid pointer (0x"
#define REALLOC_FREED "cairn: realloc(): pointer already freed (0x"

static void expect(void (*fn)(void *), void *arg, const char *prefix)
{
    const char *why = expect_abort(fn, arg, prefix);
    CHECK(!why, "%s", why);
}

static void double_free(void *arg)
{
    size_t n = (size_t)(uintptr_t)arg;
    void *p = HIDE(malloc(HIDE(n)));
    if (!p) _exit(3);
    memset(p, 1, n);
    void *again = HIDE(p);
    free(p);
    free(again);
}

/* p is freed, then other blocks of its size come and go, then p again. */
static void double_free_later(void *arg)
{
    (void)arg;
    void *p = HIDE(malloc(64));
    void *q = HIDE(malloc(64));
    if (!p || !q) _exit(3);
    void *again = HIDE(p);
    free(p);
    free(q);
    void *r = HIDE(malloc(200));
    free(r);
    free(again);
}

/* Another thread frees p twice: the first free only gathers it with the
 * thread's other frees for p's owner (heap.c), and the second is caught. */
static void *free_twice(void *p)
{
    void *again = HIDE(p);
    free(p);
    free(again);
    return NULL;
}

static void double_free_remote(void *arg)
{
    size_t n = (size_t)(uintptr_t)arg;
    void *p = HIDE(malloc(HIDE(n)));
    if (!p) _exit(3);
    memset(p, 1, n);
    pthread_t t;
    if (pthread_create(&t, NULL, free_twice, p) != 0) _exit(3);
    pthread_join(t, NULL);
}

static void free_offset(void *arg)
{
    size_t off = (size_t)(uintptr_t)arg;
    char *p = HIDE(malloc(64));
    if (!p) _exit(3);
    free(HIDE(p + off));
}

static void free_stack(void *arg)
{
    (void)arg;
    char buf[256];
    memset(buf, 0, sizeof buf);
    free(HIDE(buf + 64));
}

static void free_foreign_mmap(void *arg)
{
    (void)arg;
    char *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) _exit(3);
    memset(m, 0, 4096);
    free(HIDE(m + 64));
}

static void realloc_freed(void *arg)
{
    (void)arg;
    void *p = HIDE(malloc(64));
    if (!p) _exit(3);
    void *again = HIDE(p);
    free(p);
    void *q = HIDE(realloc(again, 100));
    (void)q;
}

/* C23's sized frees with a size or alignment the block cannot have. */
static void free_sized_larger(void *arg)
{
    (void)arg;
    void *p = HIDE(malloc(64));
    if (!p) _exit(3);
    free_sized(p, 100000);
}

static void free_aligned_sized_misaligned(void *arg)
{
    (void)arg;
    /* Two 64-byte blocks aligned to 64: at most one is also at 4096. */
    char *a = HIDE(aligned_alloc(64, 64)), *b = HIDE(aligned_alloc(64, 64));
    if (!a || !b) _exit(3);
    free_aligned_sized(((uintptr_t)a & 4095) ? a : b, 4096, 64);
}

static void free_aligned_sized_bad_alignment(void *arg)
{
    (void)arg;
    void *p = HIDE(aligned_alloc(64, 64));
    if (!p) _exit(3);
    free_aligned_sized(p, 48, 64);
}

static void test_double_free_small(void) { expect(double_free, (void *)(uintptr_t)64, DOUBLE_FREE); }
static void test_double_free_later(void) { expect(double_free_later, NULL, DOUBLE_FREE); }
static void test_double_free_large(void)
{
    expect(double_free, (void *)(uintptr_t)(300 * KiB), DOUBLE_FREE);
}
static void test_double_free_remote(void)
{
    expect(double_free_remote, (void *)(uintptr_t)16, DOUBLE_FREE);
    expect(double_free_remote, (void *)(uintptr_t)200, DOUBLE_FREE);
}
static void test_interior_16(void) { expect(free_offset, (void *)(uintptr_t)16, INVALID); }
static void test_interior_1(void) { expect(free_offset, (void *)(uintptr_t)1, INVALID); }
static void test_stack(void) { expect(free_stack, NULL, INVALID); }
static void test_foreign_mmap(void) { expect(free_foreign_mmap, NULL, INVALID); }
static void test_realloc_freed(void) { expect(realloc_freed, NULL, REALLOC_FREED); }
static void test_free_sized_larger(void)
{
    expect(free_sized_larger, NULL, "cairn: free_sized(): size larger than the block (0x");
}
static void test_free_aligned_sized_misaligned(void)
{
    expect(free_aligned_sized_misaligned, NULL, "cairn: free_aligned_sized(): block not at that alignment (0x");
}
static void test_free_aligned_sized_bad_alignment(void)
{
    expect(free_aligned_sized_bad_alignment, NULL, "cairn: free_aligned_sized(): invalid alignment (0x");
}

int main(void)
{
    t_init("misuse");
    unsigned t = t_qemu ? 90 : 60;
    run_test("double_free_small", test_double_free_small, t);
    run_test("double_free_small_later", test_double_free_later, t);
    run_test("double_free_large", test_double_free_large, t);
    run_test("double_free_remote", test_double_free_remote, t);
    run_test("free_interior_p+16", test_interior_16, t);
    run_test("free_interior_p+1", test_interior_1, t);
    run_test("free_stack", test_stack, t);
    run_test("free_foreign_mmap", test_foreign_mmap, t);
    run_test("realloc_freed", test_realloc_freed, t);
    if (FN_PRESENT(free_sized) && FN_PRESENT(free_aligned_sized)) {
        run_test("free_sized_larger", test_free_sized_larger, t);
        run_test("free_aligned_sized_misaligned", test_free_aligned_sized_misaligned, t);
        run_test("free_aligned_sized_bad_alignment", test_free_aligned_sized_bad_alignment, t);
    }
    return t_finish();
}
