/* override.c -- the names programs call: libc's allocation API, glibc's
 * internal aliases, the C23 sized frees, the simple allocate/deallocate
 * API and the cairn_ prefixed API.  Each one is a tail call. */
#include "cairn/fastpath.h"
#include "cairn.h"

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
CN_PUBLIC void   cairn_free_sized(void *p, size_t n)           { (void)n; cn_free(p); }
CN_PUBLIC void   cairn_free_aligned_sized(void *p, size_t a, size_t n) { (void)a; (void)n; cn_free(p); }
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
CN_PUBLIC void   free_sized(void *p, size_t n)                 { (void)n; cn_free(p); }
CN_PUBLIC void   free_aligned_sized(void *p, size_t a, size_t n) { (void)a; (void)n; cn_free(p); }
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
