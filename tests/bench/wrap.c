/* wrap.c -- stand-in allocators for the benchmark harness's test: glibc's
 * malloc behind a counter that misbehaves on purpose.
 *   -DCRASH=N  abort() on the Nth call of malloc (a crashing allocator)
 *   -DSLOW=N   spin for N iterations on every 64th call (a slow one)
 * Everything else (memalign, malloc_usable_size, ...) stays glibc's, which
 * shares the heap with __libc_malloc. */
#include <stdlib.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static unsigned long calls;

static void misbehave(void)
{
    unsigned long n = __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
#ifdef CRASH
    if (n >= CRASH) abort();
#endif
#ifdef SLOW
    if (n % 64 == 0)
        for (volatile unsigned long i = 0; i < SLOW; i++) {
        }
#endif
    (void)n;
}

void *malloc(size_t n) { misbehave(); return __libc_malloc(n); }
void *calloc(size_t c, size_t n) { misbehave(); return __libc_calloc(c, n); }
void *realloc(void *p, size_t n) { misbehave(); return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
