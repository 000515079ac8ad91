/* init.c -- process-wide initialisation, done lazily by the first
 * allocation (which may come from the dynamic loader, before any
 * constructor), and the fork handlers. */
#include "cairn/internal.h"

#include <pthread.h>

_Atomic int cn_initialized;
static cn_lock init_lock = CN_LOCK_INIT;
static __thread int initializing __attribute__((tls_model("initial-exec")));

static void fork_prepare(void) {
    cn_heap_fork_prepare();
    cn_lock_acquire(&cn_pool_lock);
    cn_huge_fork_prepare();
}
static void fork_parent(void) {
    cn_huge_fork_parent();
    cn_lock_release(&cn_pool_lock);
    cn_heap_fork_parent();
}
static void fork_child(void) {
    cn_huge_fork_child();
    cn_lock_reset(&cn_pool_lock);
    cn_heap_fork_child();
}

void cn_init(void) {
    if (cn_likely(atomic_load_explicit(&cn_initialized, memory_order_acquire))) return;
    if (initializing) return;             /* an allocation made by init itself */
    initializing = 1;
    cn_lock_acquire(&init_lock);
    if (!atomic_load_explicit(&cn_initialized, memory_order_relaxed)) {
        /* Classes and options first: they are all an allocation needs. */
        cn_options_init();
        cn_vg_init();
        cn_classes_init();
        cn_heaps_init();
        pthread_atfork(fork_prepare, fork_parent, fork_child);
        atomic_store_explicit(&cn_initialized, 1, memory_order_release);
    }
    cn_lock_release(&init_lock);
    initializing = 0;
}

__attribute__((constructor)) static void cn_constructor(void) { cn_init(); }
