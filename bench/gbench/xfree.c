/* hakmem benchmarks: free by another thread.
 *
 * Two threads: thread 0 allocates batches of BATCH blocks and hands each
 * batch to thread 1 through a ring; thread 1 frees them. Every free is
 * remote, and the memory comes back to thread 0 only through whatever
 * path the allocator has for that (remote queues, a shared depot, a
 * central free list).
 */
#include "micro.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define BATCH 64
#define RING 8

/* Both threads run the same number of iterations (Google benchmark
 * gives every thread of a run the same count), so the ring is empty
 * again at the end of each run and needs no reset. */
static struct {
    _Alignas(64) atomic_size_t head; /* written by thread 1 */
    _Alignas(64) atomic_size_t tail; /* written by thread 0 */
    char *slot[RING][BATCH];
} g_ring;

static void produce(gb_state *st, size_t n)
{
    while (gb_keep_running(st)) {
        size_t t = atomic_load_explicit(&g_ring.tail, memory_order_relaxed);
        while (t - atomic_load_explicit(&g_ring.head, memory_order_acquire) == RING)
            sched_yield();
        for (int k = 0; k < BATCH; k++) {
            char *p = malloc(n);
            /* Thread 1 would wait for this batch forever. */
            if (p == NULL) {
                fprintf(stderr, "xfree: malloc(%zu) failed\n", n);
                exit(1);
            }
            p[0] = 1;
            g_ring.slot[t % RING][k] = p;
        }
        atomic_store_explicit(&g_ring.tail, t + 1, memory_order_release);
    }
    gb_set_items_processed(st, gb_iterations(st) * BATCH);
}

static void consume(gb_state *st)
{
    while (gb_keep_running(st)) {
        size_t h = atomic_load_explicit(&g_ring.head, memory_order_relaxed);
        while (atomic_load_explicit(&g_ring.tail, memory_order_acquire) == h)
            sched_yield();
        for (int k = 0; k < BATCH; k++)
            free(g_ring.slot[h % RING][k]);
        atomic_store_explicit(&g_ring.head, h + 1, memory_order_release);
    }
}

static void bm_xfree(gb_state *st)
{
    if (gb_thread_index(st) == 0)
        produce(st, (size_t)gb_range_arg(st, 0));
    else
        consume(st);
}

void micro_register_xfree(void)
{
    static const char *const size_name[] = {"size"};
    gb_bench *b = gb_use_real_time(gb_threads(gb_register("xfree", bm_xfree), 2));
    gb_arg_names(gb_range(gb_range_multiplier(b, 4), 16, 4096), 1, size_name);
}
