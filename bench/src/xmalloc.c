/* xmalloc.c -- producer/consumer after Lever & Boreham's xmalloc-test.
 *
 * `threads` producer threads malloc blocks of random size in [min, max],
 * fill batches of `batch` pointers and put the batches on a shared bounded
 * queue; `threads` consumer threads take batches off it, check the blocks and
 * free them.  Every free is done by a thread other than the allocating one.
 * Total work fixed: `blocks` blocks in all.  (threads=N runs 2N threads.)
 *   xmalloc threads=2 blocks=10M batch=64 min=16 max=512
 */
#include "common.h"

typedef struct batch {
    struct batch *next;
    int n;
    uint8_t *p[];
} batch_t;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    batch_t *head, *tail;
    int len, cap, producers_left;
} q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, 0};

static long long per_producer;
static int bsize;
static size_t lo, hi;

static void put(batch_t *b)
{
    pthread_mutex_lock(&q.mu);
    while (q.len >= q.cap) pthread_cond_wait(&q.not_full, &q.mu);
    b->next = NULL;
    if (q.tail) q.tail->next = b;
    else q.head = b;
    q.tail = b;
    q.len++;
    pthread_cond_signal(&q.not_empty);
    pthread_mutex_unlock(&q.mu);
}

static batch_t *take(void)
{
    pthread_mutex_lock(&q.mu);
    while (!q.head && q.producers_left > 0) pthread_cond_wait(&q.not_empty, &q.mu);
    batch_t *b = q.head;
    if (b) {
        q.head = b->next;
        if (!q.head) q.tail = NULL;
        q.len--;
        pthread_cond_signal(&q.not_full);
    }
    pthread_mutex_unlock(&q.mu);
    return b;
}

static uint8_t tag_of(size_t n) { return (uint8_t)(n * 7 + 3); }

static void *producer(void *arg)
{
    rng_t r;
    rng_seed(&r, (uint64_t)(long)arg);
    for (long long done = 0; done < per_producer;) {
        batch_t *b = xmalloc_or_die(sizeof *b + (size_t)bsize * sizeof(uint8_t *));
        b->n = 0;
        for (; b->n < bsize && done < per_producer; b->n++, done++) {
            size_t n = (size_t)rng_range(&r, lo, hi);
            uint8_t *p = xmalloc_or_die(n);
            p[0] = (uint8_t)n;
            p[1] = (uint8_t)(n >> 8);
            p[n - 1] = tag_of(n);
            b->p[b->n] = p;
        }
        put(b);
    }
    pthread_mutex_lock(&q.mu);
    if (--q.producers_left == 0) pthread_cond_broadcast(&q.not_empty);
    pthread_mutex_unlock(&q.mu);
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    batch_t *b;
    while ((b = take())) {
        for (int i = 0; i < b->n; i++) {
            uint8_t *p = b->p[i];
            size_t n = (size_t)p[0] | (size_t)p[1] << 8;
            if (n < lo || n > hi || p[n - 1] != tag_of(n)) {
                fprintf(stderr, "xmalloc: corrupted block %p\n", (void *)p);
                exit(4);
            }
            free(p);
        }
        free(b);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    report_which(argc, argv);
    int threads = (int)arg_num(argc, argv, "threads", 1);
    long long blocks = arg_num(argc, argv, "blocks", 10000000);
    bsize = (int)arg_num(argc, argv, "batch", 64);
    lo = (size_t)arg_num(argc, argv, "min", 16);
    hi = (size_t)arg_num(argc, argv, "max", 512);
    q.cap = (int)arg_num(argc, argv, "queue", 256);
    if (lo < 2 || hi > 65535) {
        fprintf(stderr, "sizes must be in [2, 65535]\n");
        return 2;
    }
    per_producer = blocks / threads;
    q.producers_left = threads;

    double t0 = now_sec();
    pthread_t *th = os_alloc(2 * (size_t)threads * sizeof *th);
    for (long t = 0; t < threads; t++) {
        th[2 * t] = spawn(consumer, NULL);
        th[2 * t + 1] = spawn(producer, (void *)(t + 1));
    }
    for (int t = 0; t < 2 * threads; t++) pthread_join(th[t], NULL);
    double t = now_sec() - t0;
    report("xmalloc", "threads=%d blocks=%lld time=%.4f", threads, per_producer * threads, t);
    return 0;
}
