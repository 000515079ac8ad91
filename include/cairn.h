/* cairn.h -- public interface of the Cairn memory allocator.
 *
 * Linking with -lcairn (or preloading libcairn.so) replaces the C allocation
 * API (malloc, free, calloc, realloc, ...).  The prefixed functions below are
 * always available and never depend on whether libc's names are overridden.
 */
#ifndef CAIRN_H
#define CAIRN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_VERSION_MAJOR 0
#define CAIRN_VERSION_MINOR 1
#define CAIRN_VERSION_PATCH 0

void  *cairn_malloc(size_t size);
void   cairn_free(void *p);
void  *cairn_calloc(size_t count, size_t size);
void  *cairn_realloc(void *p, size_t size);
void  *cairn_reallocarray(void *p, size_t count, size_t size);
int    cairn_posix_memalign(void **out, size_t alignment, size_t size);
void  *cairn_aligned_alloc(size_t alignment, size_t size);
void  *cairn_memalign(size_t alignment, size_t size);
void  *cairn_valloc(size_t size);
void  *cairn_pvalloc(size_t size);
size_t cairn_usable_size(const void *p);
/* C23's sized frees: a size larger than the block, or a block not at the
 * alignment given, is misuse (a one-line message and abort). */
void   cairn_free_sized(void *p, size_t size);
void   cairn_free_aligned_sized(void *p, size_t alignment, size_t size);
/* Return free memory to the OS now; returns 1 if any memory was released. */
int    cairn_trim(size_t pad);
/* "major.minor.patch" */
const char *cairn_version(void);

/* Statistics (see `man cairn`).  cairn_stats_json writes a JSON document
 * into buf (at most len bytes, NUL-terminated when len > 0) and returns the
 * length of the whole document, as snprintf does: call it with (NULL, 0)
 * to learn the size.  cairn_print_stats writes malloc_stats()'s text report
 * to a file descriptor (malloc_stats() is cairn_print_stats(2)). */
size_t cairn_stats_json(char *buf, size_t len);
void   cairn_print_stats(int fd);

/* The simple API: same as malloc/free. */
void  *allocate(unsigned int size);
void   deallocate(void *p);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_H */
