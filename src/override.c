/* override.c -- the names programs call: libc's allocation API, glibc's
 * internal aliases, the C23 sized frees, C++'s operators new and delete,
 * the simple allocate/deallocate API and the cairn_ prefixed API.  Each one
 * is a tail call. */
#include "cairn/fastpath.h"
#include "cairn.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

#define CN_PUBLIC cn_export

/* The prefixed API (include/cairn.h) */
CN_PUBLIC void  *cairn_malloc(size_t n)                        { return cn_malloc_fast(n); }
CN_PUBLIC void   cairn_free(void *p)                           { cn_free_fast(p); }
CN_PUBLIC void  *cairn_calloc(size_t c, size_t n)              { return cn_calloc(c, n); }
CN_PUBLIC void  *cairn_realloc(void *p, size_t n)              { return cn_realloc(p, n); }
CN_PUBLIC void  *cairn_reallocarray(void *p, size_t c, size_t n) { return cn_reallocarray(p, c, n); }
CN_PUBLIC int    cairn_posix_memalign(void **o, size_t a, size_t n) { return cn_posix_memalign(o, a, n); }
CN_PUBLIC void  *cairn_aligned_alloc(size_t a, size_t n)       { return cn_aligned_alloc(a, n); }
CN_PUBLIC void  *cairn_memalign(size_t a, size_t n)            { return cn_memalign(a, n); }
CN_PUBLIC void  *cairn_valloc(size_t n)                        { return cn_valloc(n); }
CN_PUBLIC void  *cairn_pvalloc(size_t n)                       { return cn_pvalloc(n); }
CN_PUBLIC size_t cairn_usable_size(const void *p)              { return cn_usable_size(p, "malloc_usable_size"); }
CN_PUBLIC void   cairn_free_sized(void *p, size_t n)           { cn_free_sized(p, n, 1, "cairn_free_sized"); }
CN_PUBLIC void   cairn_free_aligned_sized(void *p, size_t a, size_t n) { cn_free_sized(p, n, a, "cairn_free_aligned_sized"); }
CN_PUBLIC int    cairn_trim(size_t pad)                        { return cn_trim(pad); }
CN_PUBLIC const char *cairn_version(void)                      { return CN_VERSION_STRING; }

/* The simple API */
CN_PUBLIC void  *allocate(unsigned int n)                      { return cn_malloc(n); }
CN_PUBLIC void   deallocate(void *p)                           { cn_free(p); }

/* The C library's names */
CN_PUBLIC void  *malloc(size_t n)                              { return cn_malloc_fast(n); }
CN_PUBLIC void   free(void *p)                                 { cn_free_fast(p); }
CN_PUBLIC void  *calloc(size_t c, size_t n)                    { return cn_calloc(c, n); }
CN_PUBLIC void  *realloc(void *p, size_t n)                    { return cn_realloc(p, n); }
CN_PUBLIC void  *reallocarray(void *p, size_t c, size_t n)     { return cn_reallocarray(p, c, n); }
CN_PUBLIC int    posix_memalign(void **o, size_t a, size_t n)  { return cn_posix_memalign(o, a, n); }
CN_PUBLIC void  *aligned_alloc(size_t a, size_t n)             { return cn_aligned_alloc(a, n); }
CN_PUBLIC void  *memalign(size_t a, size_t n)                  { return cn_memalign(a, n); }
CN_PUBLIC void  *valloc(size_t n)                              { return cn_valloc(n); }
CN_PUBLIC void  *pvalloc(size_t n)                             { return cn_pvalloc(n); }
CN_PUBLIC size_t malloc_usable_size(void *p)                   { return cn_usable_size(p, "malloc_usable_size"); }
CN_PUBLIC int    malloc_trim(size_t pad)                       { return cn_trim(pad); }
CN_PUBLIC void   free_sized(void *p, size_t n)                 { cn_free_sized(p, n, 1, "free_sized"); }
CN_PUBLIC void   free_aligned_sized(void *p, size_t a, size_t n) { cn_free_sized(p, n, a, "free_aligned_sized"); }
CN_PUBLIC void   cfree(void *p)                                { cn_free_fast(p); }

/* glibc's internal names, which some programs and libraries call directly */
CN_PUBLIC void  *__libc_malloc(size_t n)                       { return cn_malloc_fast(n); }
CN_PUBLIC void   __libc_free(void *p)                          { cn_free_fast(p); }
CN_PUBLIC void  *__libc_calloc(size_t c, size_t n)             { return cn_calloc(c, n); }
CN_PUBLIC void  *__libc_realloc(void *p, size_t n)             { return cn_realloc(p, n); }
CN_PUBLIC void  *__libc_memalign(size_t a, size_t n)           { return cn_memalign(a, n); }
CN_PUBLIC void  *__libc_valloc(size_t n)                       { return cn_valloc(n); }
CN_PUBLIC void  *__libc_pvalloc(size_t n)                      { return cn_pvalloc(n); }
CN_PUBLIC int    __posix_memalign(void **o, size_t a, size_t n) { return cn_posix_memalign(o, a, n); }

/* ---------------------------------------------------------------------------
 * C++'s operators new and delete, so that a C++ program's allocations go
 * straight to the fast paths instead of through its C++ library's operator
 * new, which calls malloc.  Only success is handled here.  When memory runs
 * out, the C++ library's own operator (the next definition of the same name,
 * found with RTLD_NEXT) takes over: it calls the new_handler and tries again
 * (its malloc is ours), then throws std::bad_alloc, or, for the nothrow
 * forms, returns NULL -- which C code could not do.  The names are the
 * Itanium C++ ABI's; size_t is "m" on 64-bit, "j" on 32-bit.
 * ------------------------------------------------------------------------- */
#if __SIZEOF_SIZE_T__ == 8
#define CN_SZ "m"
#else
#define CN_SZ "j"
#endif
#define CN_CXX(name) __asm__(name) cn_export
#define CN_NOTHROW "RKSt9nothrow_t"
#define CN_ALIGN_T "St11align_val_t"
#define CN_UNUSED  __attribute__((unused))

/* The next definition of C++ operator `name`, looked up once. */
static cn_noinline void *cxx_next(const char *name, void *_Atomic *cache) {
    void *f = atomic_load_explicit(cache, memory_order_acquire);
    if (!f) {
        f = dlsym(RTLD_NEXT, name);
        if (!f) cn_fatal(name, "out of memory, and no C++ library to report it", NULL);
        atomic_store_explicit(cache, f, memory_order_release);
    }
    return f;
}

/* operator new's slow path: malloc's, then, out of memory, the C++
 * library's operator. */
static cn_noinline void *new_slow(const char *name, void *_Atomic *next, size_t n) {
    void *p = cn_malloc(n);
    return p ? p : ((void *(*)(size_t))cxx_next(name, next))(n);
}
static cn_noinline void *new_slow_nothrow(const char *name, void *_Atomic *next, size_t n) {
    void *p = cn_malloc(n);
    return p ? p : ((void *(*)(size_t, const void *))cxx_next(name, next))(n, NULL);
}
static cn_noinline void *new_fail_aligned(const char *name, void *_Atomic *next, size_t n, size_t a) {
    return ((void *(*)(size_t, size_t))cxx_next(name, next))(n, a);
}
static cn_noinline void *new_fail_aligned_nothrow(const char *name, void *_Atomic *next, size_t n, size_t a) {
    return ((void *(*)(size_t, size_t, const void *))cxx_next(name, next))(n, a, NULL);
}

#define CN_NEW(fn, name)                                                       \
    void *fn(size_t n) CN_CXX(name);                                           \
    void *fn(size_t n) {                                                       \
        void *p = cn_malloc_try(n);                                            \
        if (cn_likely(p != NULL)) return p;                                    \
        static void *_Atomic next;                                             \
        return new_slow(name, &next, n);                                       \
    }
#define CN_NEW_NOTHROW(fn, name)                                               \
    void *fn(size_t n, const void *nt CN_UNUSED) CN_CXX(name);                 \
    void *fn(size_t n, const void *nt CN_UNUSED) {                             \
        void *p = cn_malloc_try(n);                                            \
        if (cn_likely(p != NULL)) return p;                                    \
        static void *_Atomic next;                                             \
        return new_slow_nothrow(name, &next, n);                               \
    }
#define CN_NEW_ALIGNED(fn, name)                                               \
    void *fn(size_t n, size_t a) CN_CXX(name);                                 \
    void *fn(size_t n, size_t a) {                                             \
        void *p = cn_aligned(a, n);                                            \
        if (cn_likely(p != NULL)) return p;                                    \
        static void *_Atomic next;                                             \
        return new_fail_aligned(name, &next, n, a);                            \
    }
#define CN_NEW_ALIGNED_NOTHROW(fn, name)                                       \
    void *fn(size_t n, size_t a, const void *nt CN_UNUSED) CN_CXX(name);       \
    void *fn(size_t n, size_t a, const void *nt CN_UNUSED) {                   \
        void *p = cn_aligned(a, n);                                            \
        if (cn_likely(p != NULL)) return p;                                    \
        static void *_Atomic next;                                             \
        return new_fail_aligned_nothrow(name, &next, n, a);                    \
    }

CN_NEW(cxx_new, "_Znw" CN_SZ)
CN_NEW(cxx_new_array, "_Zna" CN_SZ)
CN_NEW_NOTHROW(cxx_new_nothrow, "_Znw" CN_SZ CN_NOTHROW)
CN_NEW_NOTHROW(cxx_new_array_nothrow, "_Zna" CN_SZ CN_NOTHROW)
CN_NEW_ALIGNED(cxx_new_aligned, "_Znw" CN_SZ CN_ALIGN_T)
CN_NEW_ALIGNED(cxx_new_array_aligned, "_Zna" CN_SZ CN_ALIGN_T)
CN_NEW_ALIGNED_NOTHROW(cxx_new_aligned_nothrow, "_Znw" CN_SZ CN_ALIGN_T CN_NOTHROW)
CN_NEW_ALIGNED_NOTHROW(cxx_new_array_aligned_nothrow, "_Zna" CN_SZ CN_ALIGN_T CN_NOTHROW)

/* Every delete is free: sizes and alignments are known from the block. */
#define CN_DELETE(fn, name, ...)                                               \
    void fn(void *p, ##__VA_ARGS__) CN_CXX(name);                              \
    void fn(void *p, ##__VA_ARGS__) { cn_free_fast(p); }

CN_DELETE(cxx_delete, "_ZdlPv")
CN_DELETE(cxx_delete_array, "_ZdaPv")
CN_DELETE(cxx_delete_nothrow, "_ZdlPv" CN_NOTHROW, const void *nt CN_UNUSED)
CN_DELETE(cxx_delete_array_nothrow, "_ZdaPv" CN_NOTHROW, const void *nt CN_UNUSED)
CN_DELETE(cxx_delete_sized, "_ZdlPv" CN_SZ, size_t n CN_UNUSED)
CN_DELETE(cxx_delete_array_sized, "_ZdaPv" CN_SZ, size_t n CN_UNUSED)
CN_DELETE(cxx_delete_aligned, "_ZdlPv" CN_ALIGN_T, size_t a CN_UNUSED)
CN_DELETE(cxx_delete_array_aligned, "_ZdaPv" CN_ALIGN_T, size_t a CN_UNUSED)
CN_DELETE(cxx_delete_aligned_nothrow, "_ZdlPv" CN_ALIGN_T CN_NOTHROW, size_t a CN_UNUSED, const void *nt CN_UNUSED)
CN_DELETE(cxx_delete_array_aligned_nothrow, "_ZdaPv" CN_ALIGN_T CN_NOTHROW, size_t a CN_UNUSED, const void *nt CN_UNUSED)
CN_DELETE(cxx_delete_sized_aligned, "_ZdlPv" CN_SZ CN_ALIGN_T, size_t n CN_UNUSED, size_t a CN_UNUSED)
CN_DELETE(cxx_delete_array_sized_aligned, "_ZdaPv" CN_SZ CN_ALIGN_T, size_t n CN_UNUSED, size_t a CN_UNUSED)
